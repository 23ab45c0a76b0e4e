"""The yardstick for bench/product_page.py: a bare Starlette app answering the same product-page bytes.

BARE_PAGES names a JSON file {product_id: page_json_text}; the app serves those bytes as they are.
"""

from __future__ import annotations

import json
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

with open(os.environ["BARE_PAGES"], encoding="utf-8") as fh:
    PAGES = {key: value.encode() for key, value in json.load(fh).items()}


async def product(request: Request) -> Response:
    body = PAGES.get(request.path_params["product_id"])
    if body is None:
        return Response(b'{"error": "not found"}', status_code=404, media_type="application/json")
    return Response(body, media_type="application/json")


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


app = Starlette(routes=[Route("/api/v1/products/{product_id}", product), Route("/healthz", healthz)])
