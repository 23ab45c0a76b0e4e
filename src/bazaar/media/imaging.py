"""Decoding an upload and re-encoding it into WebP variants (Pillow). Every byte served is one we encoded:
metadata (EXIF with its GPS position, ICC profiles, comments) never passes through."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from bazaar.media.errors import ImageTooLarge, InvalidImage

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 10 MB file may still decompress into gigabytes: refuse past 40 megapixels
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
# Longest side of each variant; a smaller original is never scaled up.
VARIANTS: dict[str, int] = {"thumb": 200, "medium": 600, "large": 1200}
WEBP_QUALITY = 82


@dataclass(frozen=True)
class Variant:
    name: str
    key: str  # "<sha256 of the bytes>.webp": the URL changes whenever the content does
    data: bytes
    width: int
    height: int


def content_key(data: bytes, extension: str = "webp") -> str:
    return f"{hashlib.sha256(data).hexdigest()}.{extension}"


def decode(data: bytes) -> Image.Image:
    """The upload as pixels, upright, or InvalidImage / ImageTooLarge; never trusts the file name or type."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageTooLarge(max_bytes=MAX_UPLOAD_BYTES, size=len(data))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
            if image.width * image.height > MAX_PIXELS:
                raise ImageTooLarge(max_pixels=MAX_PIXELS, pixels=image.width * image.height)
            image.load()  # the whole decode happens here: a truncated or corrupt file fails now
    except ImageTooLarge:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImage(reason=str(exc)[:200]) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidImage(reason=str(exc)[:200]) from exc
    upright = ImageOps.exif_transpose(image)  # honour the camera's rotation before dropping the EXIF
    mode = "RGBA" if upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info else "RGB"
    return upright.convert(mode)


def variants(
    image: Image.Image, *, method: int = 4, resample: Image.Resampling = Image.Resampling.LANCZOS
) -> list[Variant]:
    """thumb, medium and large WebP encodings; `method` trades encoding time for size (0 fastest, 6 smallest)."""
    out: list[Variant] = []
    for name, longest in sorted(VARIANTS.items(), key=lambda item: item[1]):
        copy = image.copy()
        copy.thumbnail((longest, longest), resample)
        if out and (copy.width, copy.height) == (out[-1].width, out[-1].height):  # small original: same pixels
            out.append(Variant(name, out[-1].key, out[-1].data, copy.width, copy.height))
            continue
        buffer = io.BytesIO()
        copy.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=method)  # no exif= / icc_profile=: stripped
        data = buffer.getvalue()
        out.append(Variant(name, content_key(data), data, copy.width, copy.height))
    return out


def process_upload(data: bytes) -> list[Variant]:
    """CPU work for one upload (run it off the event loop)."""
    return variants(decode(data))
