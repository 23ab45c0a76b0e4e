"""Product images over HTTP: upload, variants served with immutable caching, shown on the product page, in search,
the cart and orders; what is not an image is refused and changes nothing."""

from __future__ import annotations

import io
from typing import Any

import httpx
from PIL import Image

from bazaar.bootstrap import Container
from tests.catalog_builder import api_offer, api_product, index_now, make_categories
from tests.helpers import API, new_seller, new_user


def photo(colour: str = "red", size: tuple[int, int] = (1600, 1200), fmt: str = "JPEG", exif: bool = True) -> bytes:
    image = Image.new("RGB", size, colour)
    buffer = io.BytesIO()
    if exif:
        data = Image.Exif()
        data[0x010F] = "SpyCam"  # Make
        data[0x8825] = {2: (51.0, 30.0, 0.0)}  # GPS latitude: what must never leak
        image.save(buffer, format=fmt, exif=data.tobytes())
    else:
        image.save(buffer, format=fmt)
    return buffer.getvalue()


async def upload(
    client: httpx.AsyncClient, headers: dict[str, str], product_id: str, data: bytes, name: str = "photo.jpg"
) -> httpx.Response:
    return await client.post(
        f"{API}/sellers/me/products/{product_id}/images",
        files={"file": (name, data, "image/jpeg")},
        headers=headers,
    )


async def seller_product(client: httpx.AsyncClient, container: Container) -> tuple[dict[str, str], dict[str, Any]]:
    cats = await make_categories(container)
    _, headers = await new_seller(client)
    product = await api_product(client, headers, title="Trail Kettle", brand="Acme", category_id=cats["Kitchen"])
    return headers, product


async def test_an_upload_shows_on_the_product_page_in_search_and_in_the_cart(
    client: httpx.AsyncClient, container: Container
) -> None:
    headers, product = await seller_product(client, container)
    offer = await api_offer(client, headers, sku_id=product["skus"][0]["id"], price=2500)
    r = await upload(client, headers, product["id"], photo())
    assert r.status_code == 201, r.text
    image = r.json()
    assert image["position"] == 0 and set(image["urls"]) == {"thumb", "medium", "large"}

    served = await client.get(image["urls"]["large"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/webp"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    large = Image.open(io.BytesIO(served.content))
    assert large.format == "WEBP" and max(large.size) == 1200
    assert not large.getexif() and b"SpyCam" not in served.content  # EXIF (camera, GPS) stripped
    thumb = Image.open(io.BytesIO((await client.get(image["urls"]["thumb"])).content))
    assert max(thumb.size) == 200
    again = await client.get(image["urls"]["large"], headers={"If-None-Match": served.headers["etag"]})
    assert again.status_code == 304

    await index_now(container)  # delivers the catalog event: the page cache is dropped, search re-indexed
    page = (await client.get(f"{API}/products/{product['id']}")).json()
    assert [i["id"] for i in page["images"]] == [image["id"]]
    found = (await client.get(f"{API}/search", params={"q": "kettle"})).json()
    assert found["items"][0]["image"]["medium"] == image["urls"]["medium"]

    _, buyer = await new_user(client)
    cart = (await client.post(f"{API}/cart/items", json={"offer_id": offer["id"], "quantity": 1}, headers=buyer)).json()
    assert cart["items"][0]["image"] == image["urls"]["thumb"]
    html = (await client.get(f"/p/{product['id']}")).text
    assert image["urls"]["medium"] in html


async def test_a_text_file_renamed_jpg_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, container: Container
) -> None:
    headers, product = await seller_product(client, container)
    r = await upload(client, headers, product["id"], b"just some words, not a picture\n" * 20, name="cat.jpg")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_image"
    truncated = photo()[:2000]
    r = await upload(client, headers, product["id"], truncated)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_image"
    assert (await client.get(f"{API}/products/{product['id']}/images")).json() == []


async def test_order_limits_reorder_and_delete(client: httpx.AsyncClient, container: Container) -> None:
    headers, product = await seller_product(client, container)
    _, stranger = await new_seller(client, display_name="Someone Else")
    assert (await upload(client, stranger, product["id"], photo())).status_code == 404
    colours = ["red", "green", "blue"]
    ids = []
    for colour in colours:
        r = await upload(client, headers, product["id"], photo(colour, (300, 200), fmt="PNG", exif=False), "a.png")
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    moved = await client.patch(
        f"{API}/sellers/me/products/{product['id']}/images/{ids[2]}", json={"position": 0}, headers=headers
    )
    assert moved.status_code == 200 and [i["id"] for i in moved.json()] == [ids[2], ids[0], ids[1]]
    gone = await client.delete(f"{API}/sellers/me/products/{product['id']}/images/{ids[0]}", headers=headers)
    assert gone.status_code == 204
    listed = (await client.get(f"{API}/products/{product['id']}/images")).json()
    assert [(i["id"], i["position"]) for i in listed] == [(ids[2], 0), (ids[1], 1)]
    removed_file = moved.json()[1]["urls"]["large"]
    assert (await client.get(removed_file)).status_code == 404  # its files went with it
    for n in range(10):
        r = await upload(client, headers, product["id"], photo(f"#{n:02d}{n:02d}{n:02d}", (64, 64), exif=False))
        assert r.status_code == 201 if n < 10 else 409
    r = await upload(client, headers, product["id"], photo("white", (64, 64), exif=False))
    assert r.status_code == 409 and r.json()["error"]["code"] == "too_many_images"


async def test_a_seller_uploads_from_the_seller_center(client: httpx.AsyncClient, container: Container) -> None:
    from tests.e2e.test_storefront import csrf

    headers, product = await seller_product(client, container)
    url = f"/seller/products/{product['id']}/images"
    assert "No pictures yet." in (await client.get(url, headers=headers)).text
    token = await csrf(client)
    files = {"file": ("kettle.png", photo("orange", (400, 400), fmt="PNG", exif=False), "image/png")}
    r = await client.post(url, data={"csrf_token": token}, files=files, headers=headers)
    assert r.status_code == 303, r.text
    page = (await client.get(url, headers=headers)).text
    assert "Main picture" in page and "/media/" in page
    bad = await client.post(
        url, data={"csrf_token": token}, files={"file": ("x.jpg", b"hello", "image/jpeg")}, headers=headers
    )
    assert bad.status_code == 303 and len((await client.get(f"{API}/products/{product['id']}/images")).json()) == 1
