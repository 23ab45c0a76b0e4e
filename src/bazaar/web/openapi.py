"""The OpenAPI document, made to tell the truth about what the app does beyond what FastAPI infers.

FastAPI documents each route's success answer and its 422; it does not know about the error table in
web/errors.py, the web layer's guards, who must log in, or that /metrics is text. Here, once per app:
- security schemes: `bearerAuth` (the token from login) and `cartId` (`X-Cart-Id`); operations that need a
  login say so, operations that take one optionally say that too;
- every API operation documents the errors it can answer, in the contract's envelope (`Error`): 400, 404,
  409, 413 (bodies), 422, 429, 503 everywhere; 401 and 403 where a login is involved; 402 for checkout;
- string parameters and body fields without a pattern refuse control characters (`kernel.text`), as the
  web layer does; /metrics is `text/plain`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from bazaar.web.api import deps

NO_CONTROL = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "snake_case, stable"},
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": True},
            },
        }
    },
}
ERRORS = {
    "400": "Malformed request (for example a missing or too long Idempotency-Key)",
    "402": "Payment declined",
    "401": "Not logged in, or the token expired or was revoked",
    "403": "Not allowed (role, suspension, CSRF token missing with the session cookie)",
    "404": "Not found (also for other users' private resources)",
    "409": "Conflict with the current state (stock, limits, idempotency)",
    "413": "Request body too large",
    "422": "Invalid input",
    "429": "Rate limited; see Retry-After",
    "503": "A dependency is down; see Retry-After",
}
_LOGIN = {deps.current_principal, deps.current_seller, deps.current_admin}


def _auth(route: APIRoute) -> str | None:
    """'required' when the route needs a login, 'optional' when it reads one if sent, else None."""
    seen: set[str] = set()
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        call = dependant.call
        if call in _LOGIN:
            seen.add("required")
        elif call is deps.optional_principal:
            seen.add("optional")
        stack.extend(dependant.dependencies)
    return "required" if "required" in seen else ("optional" if seen else None)


def _clean_strings(node: Any) -> None:
    """Give every free-text string schema the no-control-characters pattern the web layer enforces."""
    if isinstance(node, dict):
        if node.get("type") == "string" and not ({"pattern", "enum", "format", "const"} & node.keys()):
            node["pattern"] = NO_CONTROL
        if node.get("type") == "object" and "additionalProperties" in node and "propertyNames" not in node:
            node["propertyNames"] = {"pattern": NO_CONTROL}  # a map's keys are text the edge checks too
        for value in node.values():
            _clean_strings(value)
    elif isinstance(node, list):
        for value in node:
            _clean_strings(value)


def describe(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components["securitySchemes"] = {
        "bearerAuth": {"type": "http", "scheme": "bearer", "description": "the token from POST /api/v1/auth/login"},
        "cartId": {"type": "apiKey", "in": "header", "name": "X-Cart-Id", "description": "an anonymous cart"},
    }
    auth = {
        (method.lower(), route.path): _auth(route)
        for route in app.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            _document(path, method, operation, auth.get((method, path)))
    _clean_strings(schema)
    app.openapi_schema = schema
    return schema


def _document(path: str, method: str, operation: dict[str, Any], auth: str | None) -> None:
    responses = operation.setdefault("responses", {})
    if path == "/metrics":
        responses["200"] = {
            "description": "Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
        return
    if not path.startswith("/api/"):
        return
    # 401/403 everywhere: a rejected or revoked token, a role, a suspension or a missing CSRF token can meet
    # any route (a route that reads a login only if sent still refuses a bad one).
    wanted = ["400", "401", "403", "404", "409", "422", "429", "503"]
    if method in ("post", "put", "patch", "delete"):
        wanted.append("413")
    if auth is not None:
        operation["security"] = [{"bearerAuth": []}] if auth == "required" else [{"bearerAuth": []}, {}]
    if path.startswith("/api/v1/cart"):
        operation["security"] = [{"bearerAuth": []}, {"cartId": []}, {}]
    if path == "/api/v1/checkout" and method == "post":
        wanted.append("402")
        _require_header(operation, "Idempotency-Key")  # API.md: required; the service answers 400 without it
    for status in wanted:
        responses.setdefault(
            status,
            {
                "description": ERRORS[status],
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        )


def _require_header(operation: dict[str, Any], name: str) -> None:
    """Document a header as required that the route reads as optional, so that its service can answer a missing one
    with the contract's own error rather than FastAPI's validation error."""
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "header" and parameter["name"] == name:
            schema = parameter["schema"]
            string = next(branch for branch in schema.pop("anyOf", [schema]) if branch.get("type") != "null")
            parameter["schema"] = {**string, **schema}
            parameter["required"] = True
