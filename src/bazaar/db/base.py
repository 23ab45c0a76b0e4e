"""Declarative Base, naming convention and column helpers shared by every context's models."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, MetaData, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bazaar.kernel.clock import aware, utcnow
from bazaar.kernel.ids import new_id

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops the zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else aware(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else aware(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def id_column() -> Mapped[str]:
    return mapped_column(String(32), primary_key=True, default=new_id)


def created_column() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, nullable=False)


def updated_column() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)


# Execution option of a statement that reads across partitions on purpose (docs/SCALING.md, "Orders partitioned
# by buyer"): a sweep, an aggregate or an operator's browse, which on separate servers runs on each of them.
# Every other statement on a table of an order carries the order's buyer; tests/integration/test_order_partition_key.py
# holds every statement of an order's life to that.
CROSS_PARTITION = {"cross_partition": True}
