"""Seller picture pages: upload a product's images, choose the main one, delete one."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from bazaar.catalog.page_cache import ProductPages
from bazaar.catalog.schemas import ProductPage
from bazaar.kernel.errors import DomainError
from bazaar.media import service as media
from bazaar.media.imaging import MAX_UPLOAD_BYTES
from bazaar.media.schemas import MAX_IMAGES_PER_PRODUCT
from bazaar.web.storefront.pages.common import Form, PageDep, PageRoute

router = APIRouter(prefix="/seller/products", route_class=PageRoute, include_in_schema=False)


@router.get("/{product_id}/images")
async def pictures(product_id: str, page: PageDep) -> Response:
    page.require_seller()
    pages: ProductPages = page.container.extras["product_pages"]
    product = ProductPage.model_validate_json((await pages.get(product_id)).body)
    async with page.container.read_uow() as uow:
        images = await media.list_images(uow=uow, product_id=product_id)
    return await page.render("seller/pictures.html", product=product, images=images, limit=MAX_IMAGES_PER_PRODUCT)


@router.post("/{product_id}/images")
async def upload(product_id: str, page: PageDep, form: Form) -> Response:
    seller_id = page.require_seller()
    back = f"/seller/products/{product_id}/images"
    file = form.get("file")
    if not isinstance(file, UploadFile):
        return page.redirect(back, notice="Choose a picture to upload.")
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    try:
        async with page.container.uow() as uow:
            await media.add_image(
                uow=uow, store=page.container.media, seller_id=seller_id, product_id=product_id, data=data
            )
    except DomainError as exc:
        return page.redirect(back, notice=f"{file.filename or 'That file'}: {exc.message}")
    return page.redirect(back, notice="The picture is added.")


@router.post("/{product_id}/images/{image_id}")
async def change(product_id: str, image_id: str, page: PageDep, form: Form) -> Response:
    seller_id = page.require_seller()
    back = f"/seller/products/{product_id}/images"
    try:
        async with page.container.uow() as uow:
            if form.get("action") == "delete":
                await media.delete_image(
                    uow=uow, store=page.container.media, seller_id=seller_id, product_id=product_id, image_id=image_id
                )
                notice = "The picture is deleted."
            else:
                await media.move_image(
                    uow=uow, seller_id=seller_id, product_id=product_id, image_id=image_id, position=0
                )
                notice = "That picture is the main one now."
    except DomainError as exc:
        return page.redirect(back, notice=exc.message)
    return page.redirect(back, notice=notice)
