"""The address book over HTTP: add, list, change, make default, delete; other buyers' addresses are not found."""

from __future__ import annotations

from typing import Any

from tests.helpers import API, new_user

HOME = {
    "name": "Ada Buyer",
    "line1": "1 Main St",
    "city": "Austin",
    "region": "TX",
    "postal_code": "78701",
    "country": "US",
}
WORK = {
    "name": "Ada Buyer",
    "line1": "9 Office Rd",
    "city": "Boston",
    "region": "MA",
    "postal_code": "02110",
    "country": "US",
}


async def test_address_book_lifecycle(client: Any) -> None:
    _, h = await new_user(client)
    first = await client.post(f"{API}/me/addresses", json={**HOME, "label": "Home"}, headers=h)
    assert first.status_code == 201, first.text
    assert first.json()["default"] is True  # the first address is the default
    second = await client.post(f"{API}/me/addresses", json={**WORK, "label": "Work"}, headers=h)
    assert second.json()["default"] is False
    listed = (await client.get(f"{API}/me/addresses", headers=h)).json()
    assert [a["label"] for a in listed] == ["Home", "Work"]

    made_default = await client.patch(f"{API}/me/addresses/{second.json()['id']}", json={"default": True}, headers=h)
    assert made_default.status_code == 200 and made_default.json()["default"] is True
    listed = (await client.get(f"{API}/me/addresses", headers=h)).json()
    assert [(a["label"], a["default"]) for a in listed] == [("Work", True), ("Home", False)]

    moved = await client.patch(f"{API}/me/addresses/{first.json()['id']}", json={"line1": "2 Main St"}, headers=h)
    assert moved.json()["line1"] == "2 Main St" and moved.json()["label"] == "Home"

    # Deleting the default hands it to the remaining address.
    assert (await client.delete(f"{API}/me/addresses/{second.json()['id']}", headers=h)).status_code == 204
    listed = (await client.get(f"{API}/me/addresses", headers=h)).json()
    assert [(a["label"], a["default"]) for a in listed] == [("Home", True)]


async def test_bad_addresses_change_nothing(client: Any) -> None:
    _, h = await new_user(client)
    bad = await client.post(f"{API}/me/addresses", json={**HOME, "region": "ZZ"}, headers=h)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    made = (await client.post(f"{API}/me/addresses", json=HOME, headers=h)).json()
    patch = await client.patch(f"{API}/me/addresses/{made['id']}", json={"postal_code": "nope!"}, headers=h)
    assert patch.status_code == 422
    assert (await client.get(f"{API}/me/addresses", headers=h)).json()[0]["postal_code"] == "78701"
    assert (await client.get(f"{API}/me/addresses")).status_code == 401


async def test_other_buyers_addresses_are_not_found(client: Any) -> None:
    _, alice = await new_user(client)
    _, bob = await new_user(client)
    made = (await client.post(f"{API}/me/addresses", json=HOME, headers=alice)).json()
    assert (await client.patch(f"{API}/me/addresses/{made['id']}", json={"label": "x"}, headers=bob)).status_code == 404
    assert (await client.delete(f"{API}/me/addresses/{made['id']}", headers=bob)).status_code == 404
    assert (await client.get(f"{API}/me/addresses", headers=bob)).json() == []
