"""The one table from DomainError to HTTP status, and the error envelope of API.md."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from bazaar.db.availability import database_unavailable
from bazaar.db.uow import is_transient_conflict
from bazaar.kernel import errors as e

log = logging.getLogger("bazaar.web")

STATUS: list[tuple[type[e.DomainError], int]] = [
    (e.BadRequest, 400),
    (e.ValidationFailed, 422),
    (e.NotAuthenticated, 401),
    (e.Forbidden, 403),
    (e.NotFound, 404),
    (e.Conflict, 409),
    (e.PaymentDeclined, 402),
    (e.RateLimited, 429),
    (e.DependencyUnavailable, 503),
]

_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def status_for(exc: e.DomainError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def envelope(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def domain_error_response(exc: e.DomainError) -> JSONResponse:
    """The API's answer to a DomainError (also used by the fast paths that run before the router)."""
    retry = isinstance(exc, (e.RateLimited, e.DependencyUnavailable))
    headers = {"Retry-After": str(exc.retry_after)} if retry else None  # type: ignore[attr-defined]
    return JSONResponse(envelope(exc.code, exc.message, exc.details), status_code=status_for(exc), headers=headers)


DATABASE_DOWN = e.DependencyUnavailable("the database is not reachable; try again shortly", service="database")
# What the driver or the pool raise when the database is gone; database_unavailable() makes the final call.
INFRASTRUCTURE_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, OSError, TimeoutError)


def dependency_down(exc: BaseException) -> e.DependencyUnavailable | None:
    """The DependencyUnavailable that an infrastructure error stands for, or None if it is a bug."""
    if isinstance(exc, e.DependencyUnavailable):
        return exc
    if is_transient_conflict(exc):  # a deadlock or serialization failure outside `UnitOfWork.run`: still not a 500
        return e.DatabaseBusy("the database is busy; try again in a moment")
    if database_unavailable(exc):
        return DATABASE_DOWN
    try:  # asyncpg raises its own classes on the hot paths that bypass SQLAlchemy
        import asyncpg

        if isinstance(exc, (asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError)):
            return DATABASE_DOWN
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        pass
    return None


def _clean(errors: list[Any]) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        out.append(
            {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", "")), "type": err.get("type")}
        )
    return out


NOT_PAGES = ("/api/", "/_sandbox/", "/static/", "/docs", "/redoc", "/openapi.json", "/healthz", "/readyz", "/metrics")


def wants_page(request: Request) -> bool:
    """A person's browser asking for a page (not the API, files or operations): it gets an HTML error page."""
    return not request.url.path.startswith(NOT_PAGES) and "text/html" in request.headers.get("accept", "")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path. Starlette's 405 names only the methods of the first route that
    matched the path, so a GET and a POST of one path declared as two routes would each deny the other. Each method is
    asked of the router's routes through `BaseRoute.matches`, as routing itself does."""
    methods = {"OPTIONS"}
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            methods.add(method)
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(e.DomainError)
    async def domain_error(request: Request, exc: e.DomainError) -> JSONResponse:
        return domain_error_response(exc)

    async def infrastructure_error(request: Request, exc: Exception) -> Response:
        down = dependency_down(exc)
        if down is None:
            raise exc  # a bug: the outer middleware logs it and answers 500
        log.warning("%s %s: %s (%s)", request.method, request.url.path, down.message, type(exc).__name__)
        page_error = getattr(request.app.state, "page_error", None)
        if page_error is not None and wants_page(request):
            response: Response = await page_error(request, 503, "We are having trouble; please try again shortly.")
            response.headers["Retry-After"] = str(down.retry_after)
            return response
        return domain_error_response(down)

    for cls in INFRASTRUCTURE_ERRORS:
        app.add_exception_handler(cls, infrastructure_error)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _clean(list(exc.errors()))
        bad_json = any(err["type"] == "json_invalid" for err in errors)
        message = "the request body is not valid JSON" if bad_json else "the request is not valid"
        return JSONResponse(envelope("validation_error", message, {"errors": errors}), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            allow = ", ".join(allowed_methods(request))
            if request.method == "OPTIONS":  # RFC 9110: what this resource answers to, and nothing else
                return Response(status_code=204, headers={"Allow": allow})
            headers = {**(headers or {}), "Allow": allow}
        page_error = getattr(request.app.state, "page_error", None)
        if page_error is not None and wants_page(request):  # a person's browser gets a page, not JSON
            message = "There is no page at this address." if exc.status_code == 404 else str(exc.detail)
            response: Response = await page_error(request, exc.status_code, message)
            response.headers.update(headers or {})
            return response
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code
        return JSONResponse(envelope(code, message), status_code=exc.status_code, headers=headers)
