"""Migrations go up and down cleanly on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from bazaar.db.migrate import downgrade, upgrade
from bazaar.db.registry import metadata


async def _tables(settings) -> set[str]:  # type: ignore[no-untyped-def]
    from bazaar.db.engine import create_database

    db = create_database(settings)
    try:
        async with db.engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
async def test_upgrade_downgrade_upgrade(settings_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = settings_factory()
    if settings.is_sqlite:
        (tmp_path / "data" / "bazaar.sqlite3").unlink()
    else:
        downgrade(settings, "base")
    upgrade(settings)
    tables = await _tables(settings)
    assert {t.name for t in metadata.sorted_tables} <= tables
    downgrade(settings, "base")
    assert not ({t.name for t in metadata.sorted_tables} & await _tables(settings))
    upgrade(settings)
    assert {t.name for t in metadata.sorted_tables} <= await _tables(settings)
