"""Email templates: each kind has a text and an HTML template (Jinja2), both extending a shared layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATE_DIR = Path(__file__).parent / "templates"
_env = Environment(
    loader=FileSystemLoader(str(TEMPLATE_DIR)),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,  # a template asking for what the composer did not give fails the test, not silently
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def render(kind: str, context: dict[str, Any]) -> tuple[str, str]:
    """(text, html) of one email."""
    text = _env.get_template(f"{kind}.txt").render(**context)
    html = _env.get_template(f"{kind}.html").render(**context)
    return text, html


def has_templates(kind: str) -> bool:
    return (TEMPLATE_DIR / f"{kind}.txt").is_file() and (TEMPLATE_DIR / f"{kind}.html").is_file()
