"""What every storefront page shares: templates, the page context, CSRF, secure cookies, headers and error pages."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, unquote, urlencode

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.datastructures import FormData

from bazaar.accounts.schemas import Principal
from bazaar.cart import service as carts
from bazaar.kernel import errors as e
from bazaar.kernel.ids import new_secret
from bazaar.web.api.deps import ContainerDep, OptionalUser
from bazaar.web.errors import dependency_down, status_for
from bazaar.web.storefront import TEMPLATE_DIR


def whole_number(value: object, *, digits: int = 12) -> int | None:
    """A whole number typed into a form or a query ("12"), or None: only ASCII digits count ("²" and "١" are
    digits to Python but not numbers a person typed), and at most `digits` of them (5,000 digits is not a page)."""
    text = str(value if value is not None else "").strip()
    if not text or len(text) > digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def utc_moment(value: str) -> datetime:
    """A moment typed into a form ("2030-05-01T10:00" from a datetime-local input) as an aware datetime: without
    an offset it is UTC, as the forms say; ValueError if it is not a date and time."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


log = logging.getLogger("bazaar.web")
TEMPLATES = Jinja2Templates(directory=str(TEMPLATE_DIR))
SESSION_COOKIE = "bazaar_session"
CART_COOKIE = "bazaar_cart"
CSRF_COOKIE = "bazaar_csrf"
CSRF_FIELD = "csrf_token"
NOTICE_COOKIE = "bazaar_notice"  # a one-time message for the page a redirect lands on
COOKIE_SECONDS = 30 * 24 * 3600
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def money(value: Any) -> str:
    """Minor units (a MoneyModel, a dict or an int) as a price a person reads: $1,234.56."""
    if value is None:
        return ""
    amount = value if isinstance(value, int) else (value["amount"] if isinstance(value, dict) else value.amount)
    return f"${amount // 100:,}.{amount % 100:02d}"


def sentence(text: object) -> str:
    """Services word their messages as clauses ("the card was declined"); a page shows them as sentences."""
    value = str(text or "")
    return value[:1].upper() + value[1:]


TEMPLATES.env.filters["money"] = money
TEMPLATES.env.filters["sentence"] = sentence


def stars(rating: object) -> str:
    """★★★★☆ for 4.2: whole stars, rounded to the nearest."""
    try:
        full = max(0, min(5, round(float(rating))))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        full = 0
    return "★" * full + "☆" * (5 - full)


TEMPLATES.env.filters["stars"] = stars
TEMPLATES.env.globals["urlencode"] = urlencode


class CsrfRejected(e.Forbidden):
    """This form has expired or did not come from this site; reload the page and try again."""

    code = "csrf_failed"


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int = COOKIE_SECONDS) -> None:
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="lax", secure=is_secure(request), path="/"
    )


def csrf_token(request: Request) -> str:
    token = getattr(request.state, "csrf", None) or request.cookies.get(CSRF_COOKIE)
    if not token:
        token = new_secret()
        request.state.csrf_new = True
    request.state.csrf = token
    return str(token)


def finish(request: Request, response: Response) -> Response:
    """Security headers on every page, and the CSRF cookie for a visitor who has none yet."""
    response.headers.update(SECURITY_HEADERS)
    if getattr(request.state, "csrf_new", False):
        set_cookie(request, response, CSRF_COOKIE, request.state.csrf, max_age=COOKIE_SECONDS)
    return response


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token matches this browser's cookie (double submit); else 403."""
    form = await request.form()
    sent = str(form.get(CSRF_FIELD) or request.headers.get("x-csrf-token") or "")
    expected = request.cookies.get(CSRF_COOKIE) or ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRejected()
    return form


Form = Annotated[FormData, Depends(checked_form)]


class Page:
    """The request, who is looking and their cart's size: what the layout needs on every page."""

    def __init__(self, request: Request, principal: Principal | None, container: Any) -> None:
        self.request = request
        self.principal = principal
        self.container = container

    @property
    def owner(self) -> carts.CartOwner:
        if self.principal is not None:
            return carts.CartOwner(user_id=self.principal.user_id)
        return carts.CartOwner(cart_id=self.request.cookies.get(CART_COOKIE) or None)

    async def cart_count(self) -> int:
        owner = self.owner
        if owner.user_id is None and owner.cart_id is None:
            return 0
        async with self.container.read_uow() as uow:
            cart = await carts.get_cart(uow=uow, store=self.container.carts, cache=self.container.cache, owner=owner)
        return sum(item.quantity for item in cart.items)

    async def render(self, template: str, status_code: int = 200, **context: Any) -> Response:
        context.setdefault("cart_count", await self.cart_count())
        notice = unquote(self.request.cookies.get(NOTICE_COOKIE, ""))[:300] or None
        context.update(user=self.principal, csrf=csrf_token(self.request), path=self.request.url.path, notice=notice)
        response = TEMPLATES.TemplateResponse(self.request, template, context, status_code=status_code)
        if notice:
            response.delete_cookie(NOTICE_COOKIE, path="/")
        return finish(self.request, response)

    def redirect(self, url: str, *, notice: str | None = None) -> Response:
        """303 to `url`; the notice travels in a cookie, so no one can put words on our pages with a link."""
        response = RedirectResponse(url, status_code=303)
        if notice:
            set_cookie(self.request, response, NOTICE_COOKIE, quote(notice[:300]), max_age=60)
        return finish(self.request, response)

    def require_user(self) -> Principal:
        if self.principal is None:
            raise e.NotAuthenticated("log in to see this page")
        return self.principal

    def require_seller(self) -> str:
        principal = self.require_user()
        if principal.seller_id is None:
            raise e.Forbidden("this page is for sellers")
        return principal.seller_id


async def page_context(request: Request, principal: OptionalUser, container: ContainerDep) -> Page:
    return Page(request, principal, container)


PageDep = Annotated[Page, Depends(page_context)]


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Pydantic's complaints keyed by the form field they concern (the last part of the location)."""
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if not isinstance(p, int)]
        key = loc[-1] if loc else "form"
        out.setdefault(key, str(err.get("msg", "is not valid")).removeprefix("Value error, "))
    return out


async def error_page(request: Request, status: int, message: str) -> Response:
    if status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return finish(request, RedirectResponse(f"/login?next={quote(target)}", status_code=303))
    title = {403: "Not allowed", 404: "Not found", 500: "Something went wrong"}.get(status, "That did not work")
    context = {
        "title": title,
        "message": message,
        "status": status,
        "user": None,
        "cart_count": 0,
        "csrf": csrf_token(request),
        "path": request.url.path,
    }
    try:
        response: Response = TEMPLATES.TemplateResponse(request, "error.html", context, status_code=status)
    except Exception:  # the error page itself failed: answer plain HTML rather than nothing
        log.exception("error page failed", extra={"path": request.url.path})
        response = HTMLResponse(f"<!doctype html><title>{title}</title><h1>{title}</h1>", status_code=status)
    return finish(request, response)


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


async def _unavailable_page(request: Request, down: e.DependencyUnavailable) -> Response:
    response = await error_page(request, 503, "We cannot reach part of the shop right now. Please try again shortly.")
    response.headers["Retry-After"] = str(down.retry_after)
    return response


class PageRoute(APIRoute):
    """A page route: domain errors and bad query strings answer an HTML page, never the API's JSON envelope."""

    def get_route_handler(self) -> Handler:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await inner(request)
            except e.DomainError as exc:
                if isinstance(exc, e.DependencyUnavailable):
                    return await _unavailable_page(request, exc)
                return await error_page(request, status_for(exc), exc.message)
            except RequestValidationError:
                return await error_page(request, 400, "The address of this page is not valid.")
            except Exception as exc:
                down = dependency_down(exc)  # the database went away: worth a retry, not a bug
                if down is not None:
                    log.warning("page %s: %s (%s)", request.url.path, down.message, type(exc).__name__)
                    return await _unavailable_page(request, down)
                log.exception("page failed", extra={"path": request.url.path})
                return await error_page(request, 500, "Please try again in a moment.")

        return handler
