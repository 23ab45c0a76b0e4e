"""Schema migrations with Alembic, driven from code (`bazaar migrate`, `serve`, tests)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config

from bazaar.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", settings.resolved_database_url.replace("%", "%%"))
    if settings.is_sqlite:
        Path(settings.resolved_database_url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    return cfg


def _in_thread(fn: object, *args: object) -> None:
    """Alembic's env starts its own event loop; from inside a running loop, do it in a thread."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn(*args)  # type: ignore[operator]
        except BaseException as exc:  # re-raised in the caller
            errors.append(exc)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        target()
    else:
        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
    if errors:
        raise errors[0]


def upgrade(settings: Settings, revision: str = "head") -> None:
    _in_thread(command.upgrade, alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str = "base") -> None:
    _in_thread(command.downgrade, alembic_config(settings), revision)
