"""The one table from DomainError to HTTP status, and the error envelope of API.md."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    headers = None
    if isinstance(exc, e.RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    elif isinstance(exc, e.DependencyUnavailable):
        headers = {"Retry-After": str(exc.details.get("retry_after", 1))}
    return JSONResponse(envelope(exc.code, exc.message, exc.details), status_code=status_for(exc), headers=headers)


def _clean(errors: list[Any]) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        out.append(
            {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", "")), "type": err.get("type")}
        )
    return out


NOT_PAGES = ("/api/", "/_sandbox/", "/static/", "/docs", "/redoc", "/openapi.json", "/healthz", "/readyz", "/metrics")


def _is_page(request: Request) -> bool:
    return not request.url.path.startswith(NOT_PAGES) and "text/html" in request.headers.get("accept", "")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(e.DomainError)
    async def domain_error(request: Request, exc: e.DomainError) -> JSONResponse:
        return domain_error_response(exc)

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> Response:
        # A deadlock or serialization failure that reached here ran outside `UnitOfWork.run`: still not a 500.
        if is_transient_conflict(exc):
            log.warning("transaction broken up by the database outside a retrying unit of work: %s", request.url.path)
            return domain_error_response(e.DatabaseBusy("the database is busy; try again in a moment", retry_after=1))
        raise exc

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _clean(list(exc.errors()))
        bad_json = any(err["type"] == "json_invalid" for err in errors)
        message = "the request body is not valid JSON" if bad_json else "the request is not valid"
        return JSONResponse(envelope("validation_error", message, {"errors": errors}), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        page_error = getattr(request.app.state, "page_error", None)
        if page_error is not None and _is_page(request):  # a person's browser gets a page, not JSON
            message = "There is no page at this address." if exc.status_code == 404 else str(exc.detail)
            response: Response = await page_error(request, exc.status_code, message)
            return response
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code
        return JSONResponse(envelope(code, message), status_code=exc.status_code, headers=getattr(exc, "headers", None))
