"""Media use cases: a seller adds, reorders and removes a product's images; the catalog keeps the copy pages show."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, or_, select

from bazaar.catalog import service as catalog
from bazaar.catalog.errors import ProductNotFound
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.ports import MediaStore
from bazaar.media import imaging
from bazaar.media.errors import ImageNotFound, TooManyImages
from bazaar.media.models import ProductImage
from bazaar.media.schemas import MAX_IMAGES_PER_PRODUCT, ImageUrls, ProductImageRead, media_url

CONTENT_TYPE = "image/webp"


def image_read(row: ProductImage) -> ProductImageRead:
    return ProductImageRead(
        id=row.id,
        position=row.position,
        urls=ImageUrls(
            thumb=media_url(row.thumb_key), medium=media_url(row.medium_key), large=media_url(row.large_key)
        ),
        width=row.width,
        height=row.height,
    )


async def _owned(uow: UnitOfWork, seller_id: str, product_id: str) -> None:
    if await catalog.product_owner(uow=uow, product_id=product_id) != seller_id:
        raise ProductNotFound("you can change the images of the products you created", product_id=product_id)


async def _images(uow: UnitOfWork, product_id: str) -> list[ProductImage]:
    query = select(ProductImage).where(ProductImage.product_id == product_id)
    return list((await uow.session.execute(query.order_by(ProductImage.position, ProductImage.created_at))).scalars())


async def _publish(uow: UnitOfWork, product_id: str, rows: list[ProductImage]) -> list[ProductImageRead]:
    """Number the images 0..n-1 in their order and hand the catalog its copy (pages and search follow)."""
    for position, row in enumerate(rows):
        row.position = position
    images = [image_read(row) for row in rows]
    await catalog.set_product_images(uow=uow, product_id=product_id, images=images)
    return images


async def add_image(
    *, uow: UnitOfWork, store: MediaStore, seller_id: str, product_id: str, data: bytes
) -> ProductImageRead:
    """Decode the upload (422 if it is not an image), store three WebP variants and append it to the product."""
    await _owned(uow, seller_id, product_id)
    if len(await _images(uow, product_id)) >= MAX_IMAGES_PER_PRODUCT:
        raise TooManyImages(max_images=MAX_IMAGES_PER_PRODUCT)
    variants = await asyncio.to_thread(imaging.process_upload, data)  # CPU work, off the event loop
    for variant in variants:  # content-addressed: a retry or a shared picture writes the same files
        await store.put(variant.key, variant.data, CONTENT_TYPE)
    thumb, medium, large = variants
    row = ProductImage(
        product_id=product_id,
        seller_id=seller_id,
        position=MAX_IMAGES_PER_PRODUCT,
        thumb_key=thumb.key,
        medium_key=medium.key,
        large_key=large.key,
        width=large.width,
        height=large.height,
    )
    uow.session.add(row)
    await uow.flush()
    rows = await _images(uow, product_id)
    if len(rows) > MAX_IMAGES_PER_PRODUCT:  # another upload won the last place
        raise TooManyImages(max_images=MAX_IMAGES_PER_PRODUCT)
    await _publish(uow, product_id, rows)
    result = image_read(row)
    await uow.commit()
    return result


async def move_image(
    *, uow: UnitOfWork, seller_id: str, product_id: str, image_id: str, position: int
) -> list[ProductImageRead]:
    """Put an image at `position` (0 is the main picture); the others keep their order around it."""
    await _owned(uow, seller_id, product_id)
    rows = await _images(uow, product_id)
    moving = next((r for r in rows if r.id == image_id), None)
    if moving is None:
        raise ImageNotFound(image_id=image_id)
    rows.remove(moving)
    rows.insert(min(position, len(rows)), moving)
    images = await _publish(uow, product_id, rows)
    await uow.commit()
    return images


async def delete_image(*, uow: UnitOfWork, store: MediaStore, seller_id: str, product_id: str, image_id: str) -> None:
    """Remove an image; its files go too unless another image (the same picture elsewhere) still uses them."""
    await _owned(uow, seller_id, product_id)
    rows = await _images(uow, product_id)
    gone = next((r for r in rows if r.id == image_id), None)
    if gone is None:
        raise ImageNotFound(image_id=image_id)
    rows.remove(gone)
    await uow.session.delete(gone)
    await uow.flush()
    await _publish(uow, product_id, rows)
    keys = {gone.thumb_key, gone.medium_key, gone.large_key}
    still_used = await uow.session.execute(
        select(func.count()).where(
            or_(ProductImage.thumb_key.in_(keys), ProductImage.medium_key.in_(keys), ProductImage.large_key.in_(keys))
        )
    )
    unused = keys if still_used.scalar_one() == 0 else set()

    async def remove_files() -> None:
        for key in unused:
            await store.delete(key)

    uow.after_commit(remove_files)
    await uow.commit()


async def list_images(*, uow: UnitOfWork, product_id: str) -> list[ProductImageRead]:
    return [image_read(row) for row in await _images(uow, product_id)]
