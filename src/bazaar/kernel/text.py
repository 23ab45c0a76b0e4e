"""Limits on text and JSON that come from outside: one validator for control characters, one for JSON shapes.

Strings refuse NUL and the other control characters (PostgreSQL cannot store NUL at all, and control
characters in names, ids or emails are never meant); tab, line feed and carriage return stay allowed, since
descriptions and reviews have lines. JSON values that users store (product and SKU attributes) are bounded
in depth, keys and size, so a page can always show what was saved.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator

# C0 controls but tab, LF and CR; DEL; C1 controls.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# The same characters written as JSON escapes (\u0000 ...), not preceded by an escaped backslash.
_ESCAPED_CONTROL = re.compile(rb"(?<!\\)(?:\\\\)*\\u00(?:0[0-8bcefBCEF]|1[0-9a-fA-F]|7[fF]|[89][0-9a-fA-F])")
_RAW_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")

JSON_MAX_DEPTH = 4  # {"a": {"b": ...}} is depth 2
JSON_MAX_KEYS = 100  # keys over the whole value
JSON_MAX_BYTES = 16 * 1024  # serialized


def has_control(value: str) -> bool:
    return CONTROL.search(value) is not None


def refuse_control(value: str) -> str:
    """The shared validator: `value`, or ValueError if it holds NUL or another control character."""
    if has_control(value):
        raise ValueError("must not contain NUL or other control characters")
    return value


# A string field that refuses control characters (use it where a schema wants the rule spelled out).
CleanStr = Annotated[str, AfterValidator(refuse_control)]


def body_has_control(body: bytes) -> bool:
    """Whether a JSON or form body carries a control character in any string (escaped or raw)."""
    return _ESCAPED_CONTROL.search(body) is not None or _RAW_CONTROL.search(body) is not None


def check_json_value(value: Any) -> Any:
    """`value` if within JSON_MAX_DEPTH levels, JSON_MAX_KEYS keys and JSON_MAX_BYTES serialized; else ValueError."""
    keys = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > JSON_MAX_DEPTH:
                raise ValueError(f"must not nest deeper than {JSON_MAX_DEPTH} levels")
            if isinstance(item, dict):
                keys += len(item)
                if keys > JSON_MAX_KEYS:
                    raise ValueError(f"must not have more than {JSON_MAX_KEYS} keys")
                for k, v in item.items():
                    refuse_control(str(k))
                    stack.append((v, depth + 1))
            else:
                stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str):
            refuse_control(item)
    if len(orjson.dumps(value)) > JSON_MAX_BYTES:
        raise ValueError(f"must not be larger than {JSON_MAX_BYTES} bytes as JSON")
    return value


# A user-supplied JSON object (attributes) within the bounds above.
BoundedJson = Annotated[dict[str, Any], AfterValidator(check_json_value)]
