"""Demo pictures: a product shot drawn for each seeded product (Pillow), so `make run` shows a shop with pictures.

Each picture is drawn from the product's id (colours, shape, angle) and its words (brand, noun), then goes
through the same WebP variants as an upload and into the same media store; rows are written in bulk.
"""

from __future__ import annotations

import asyncio
import colorsys
import hashlib
import time
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw, ImageFont, ImageOps
from sqlalchemy import bindparam, insert, select, update

from bazaar.catalog.models import Category, Product
from bazaar.db.engine import Database
from bazaar.kernel.ids import new_id
from bazaar.kernel.ports import MediaStore
from bazaar.media.imaging import Variant, variants
from bazaar.media.models import ProductImage
from bazaar.media.schemas import media_url

SIZE = 480
BATCH = 200
_FONTS: dict[int, Any] = {}


def _font(size: int) -> Any:
    if size not in _FONTS:
        _FONTS[size] = ImageFont.load_default(size=size)
    return _FONTS[size]


def _palette(digest: bytes) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]:
    hue = digest[0] / 255

    light = tuple(int(c * 255) for c in colorsys.hsv_to_rgb(hue, 0.10, 0.98))
    mid = tuple(int(c * 255) for c in colorsys.hsv_to_rgb(hue, 0.55, 0.85))
    dark = tuple(int(c * 255) for c in colorsys.hsv_to_rgb((hue + 0.08) % 1, 0.75, 0.45))
    return light, mid, dark  # type: ignore[return-value]


def draw_picture(product_id: str, brand: str, noun: str) -> Image.Image:
    """A studio-style shot: a soft backdrop, the product's silhouette with its shadow, the brand on it."""
    digest = hashlib.sha256(product_id.encode()).digest()
    light, mid, dark = _palette(digest)
    gradient = Image.linear_gradient("L").resize((SIZE, SIZE), Image.Resampling.NEAREST)
    backdrop = ImageOps.colorize(gradient, (255, 255, 255), light)
    draw = ImageDraw.Draw(backdrop)
    shape = digest[1] % 4
    w = 200 + digest[2] % 96
    h = 200 + digest[3] % 120
    left, top = (SIZE - w) // 2, (SIZE - h) // 2 - 20
    draw.ellipse((left - 10, top + h - 10, left + w + 10, top + h + 40), fill=tuple(max(0, c - 40) for c in light))
    box = (left, top, left + w, top + h)
    if shape == 0:
        draw.rounded_rectangle(box, radius=40, fill=mid, outline=dark, width=6)
    elif shape == 1:
        draw.ellipse(box, fill=mid, outline=dark, width=6)
    elif shape == 2:  # a bottle or a tall pack: body and cap
        draw.rounded_rectangle((left + w // 4, top + h // 5, left + 3 * w // 4, top + h), radius=30, fill=mid)
        draw.rectangle((left + w // 2 - 30, top, left + w // 2 + 30, top + h // 5), fill=dark)
    else:  # a box seen from above and the side
        draw.polygon([(left, top + 60), (left + w - 60, top + 60), (left + w, top), (left + 60, top)], fill=dark)
        draw.rectangle((left, top + 60, left + w - 60, top + h), fill=mid)
        draw.polygon(
            [(left + w - 60, top + 60), (left + w, top), (left + w, top + h - 60), (left + w - 60, top + h)], fill=dark
        )
    draw.rounded_rectangle(
        (left + 24, top + h // 2 - 34, left + w - 84, top + h // 2 + 34), radius=12, fill=(255, 255, 255)
    )
    label = brand[:14]
    draw.text((left + (w - 60) // 2, top + h // 2), label, font=_font(26), fill=dark, anchor="mm")
    draw.text((SIZE // 2, SIZE - 32), noun[:32], font=_font(22), fill=(90, 90, 90), anchor="mm")
    return backdrop


@dataclass(frozen=True)
class Drawn:
    product_id: str
    variants: list[Variant]


def _draw_batch(rows: list[tuple[str, str, str]]) -> list[Drawn]:
    fast = Image.Resampling.BILINEAR
    return [Drawn(pid, variants(draw_picture(pid, brand, noun), method=0, resample=fast)) for pid, brand, noun in rows]


async def draw_missing_pictures(db: Database, store: MediaStore, *, limit: int) -> tuple[int, float]:
    """Draw and store a picture for up to `limit` products that have none; answers (pictures, seconds)."""
    started = time.perf_counter()
    done = 0
    while done < limit:
        async with db.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(Product.id, Product.brand, Product.title, Category.name)
                    .join(Category, Category.id == Product.category_id)
                    .where(Product.images.is_(None))
                    .order_by(Product.id)
                    .limit(min(BATCH, limit - done))
                )
            ).all()
        if not rows:
            break
        todo = [(r.id, r.brand, r.title.split()[-1] if r.title else r.name) for r in rows]
        drawn = await asyncio.to_thread(_draw_batch, todo)
        for item in drawn:
            for variant in {v.key: v for v in item.variants}.values():
                await store.put(variant.key, variant.data, "image/webp")
        await _write_rows(db, drawn)
        done += len(drawn)
    return done, time.perf_counter() - started


async def _write_rows(db: Database, drawn: list[Drawn]) -> None:
    images: list[dict[str, Any]] = []
    products: list[dict[str, Any]] = []
    for item in drawn:
        thumb, medium, large = item.variants
        image_id = new_id()
        images.append(
            {
                "id": image_id,
                "product_id": item.product_id,
                "seller_id": None,
                "position": 0,
                "thumb_key": thumb.key,
                "medium_key": medium.key,
                "large_key": large.key,
                "width": large.width,
                "height": large.height,
            }
        )
        urls = {"thumb": media_url(thumb.key), "medium": media_url(medium.key), "large": media_url(large.key)}
        copy = [{"id": image_id, "position": 0, "urls": urls, "width": large.width, "height": large.height}]
        products.append({"pid": item.product_id, "images": copy, "image_url": urls["medium"]})
    async with db.engine.begin() as conn:
        await conn.execute(insert(ProductImage), images)
        await conn.execute(
            update(Product)
            .where(Product.id == bindparam("pid"))
            .values(images=bindparam("images"), image_url=bindparam("image_url")),
            products,
        )
