"""Storefront pages (server-rendered HTML)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from bazaar.catalog import queries
from bazaar.web.api.deps import ReadUowDep

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, uow: ReadUowDep) -> HTMLResponse:
    context = {"products": await queries.count_products(uow=uow), "categories": await queries.root_categories(uow=uow)}
    return TEMPLATES.TemplateResponse(request, "home.html", context)
