"""Image endpoints: sellers upload, reorder and delete product images; /media/<key> serves the files."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, File, Request, Response, UploadFile

from bazaar.kernel.ports import MediaStore
from bazaar.media import service
from bazaar.media.errors import ImageTooLarge, InvalidImage
from bazaar.media.imaging import MAX_UPLOAD_BYTES
from bazaar.media.schemas import ImageMove, ProductImageRead
from bazaar.web.api.deps import ContainerDep, CurrentSeller, ReadUowDep, UowDep

router = APIRouter(tags=["media"])
files = APIRouter(include_in_schema=False)
IMMUTABLE = "public, max-age=31536000, immutable"


def _store(container: ContainerDep) -> MediaStore:
    assert container.media is not None  # build_container sets it
    return container.media


@router.post("/sellers/me/products/{product_id}/images", status_code=201, response_model=ProductImageRead)
async def upload_image(
    product_id: str, seller: CurrentSeller, uow: UowDep, container: ContainerDep, file: UploadFile = File(...)
) -> ProductImageRead:
    assert seller.seller_id is not None
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageTooLarge(max_bytes=MAX_UPLOAD_BYTES)
    if not data:
        raise InvalidImage("the file is empty")
    return await service.add_image(
        uow=uow, store=_store(container), seller_id=seller.seller_id, product_id=product_id, data=data
    )


@router.patch("/sellers/me/products/{product_id}/images/{image_id}", response_model=list[ProductImageRead])
async def move_image(
    product_id: str, image_id: str, body: ImageMove, seller: CurrentSeller, uow: UowDep
) -> list[ProductImageRead]:
    assert seller.seller_id is not None
    return await service.move_image(
        uow=uow, seller_id=seller.seller_id, product_id=product_id, image_id=image_id, position=body.position
    )


@router.delete("/sellers/me/products/{product_id}/images/{image_id}", status_code=204)
async def delete_image(
    product_id: str, image_id: str, seller: CurrentSeller, uow: UowDep, container: ContainerDep
) -> Response:
    assert seller.seller_id is not None
    await service.delete_image(
        uow=uow, store=_store(container), seller_id=seller.seller_id, product_id=product_id, image_id=image_id
    )
    return Response(status_code=204)


@router.get("/products/{product_id}/images", response_model=list[ProductImageRead])
async def product_images(product_id: str, uow: ReadUowDep) -> list[ProductImageRead]:
    return await service.list_images(uow=uow, product_id=product_id)


@files.get("/media/{key}")
async def media_file(key: str, request: Request, container: ContainerDep) -> Response:
    """A variant by its content address: the bytes behind a key never change, so caches may keep it for a year."""
    etag = f'"{key.split(".")[0][:32]}"'
    headers = {"Cache-Control": IMMUTABLE, "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    data = await _store(container).get(key)
    if data is None or not key.endswith(".webp"):
        return Response(b"not found", status_code=404, media_type="text/plain", headers={"Cache-Control": "no-store"})
    if hashlib.sha256(data).hexdigest() != key[:64]:  # never serve a corrupted file as if it were the real one
        return Response(b"corrupted", status_code=503, media_type="text/plain", headers={"Cache-Control": "no-store"})
    return Response(data, media_type="image/webp", headers=headers)
