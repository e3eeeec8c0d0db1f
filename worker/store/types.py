"""Column types that keep money exact and time in UTC on SQLite and PostgreSQL alike.

SQLite has no decimal type: SQLAlchemy's ``Numeric`` goes through a float there and loses digits.
:class:`ExactDecimal` stores the canonical decimal text on SQLite and ``NUMERIC`` on PostgreSQL,
and always gives back a :class:`~decimal.Decimal` equal to what was stored. :class:`UtcDateTime`
refuses naive date-times on the way in and returns UTC-aware ones on the way out (SQLite drops
the offset).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

#: Decimal places kept; more are refused so that every database stores the same value.
SCALE = 12


class ExactDecimal(TypeDecorator[Decimal]):
    """A Decimal column: ``NUMERIC(38, 12)`` on PostgreSQL, decimal text elsewhere."""

    impl = sa.String(64)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.Numeric(38, SCALE, asdecimal=True))
        return dialect.type_descriptor(sa.String(64))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money must be a Decimal, never a float")
        number = Decimal(value)
        if not number.is_finite():
            raise ValueError(f"not a finite amount: {value!r}")
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -SCALE:
            # PostgreSQL's NUMERIC(38, 12) would round it; refuse rather than differ by database.
            raise ValueError(f"{value!r} has more than {SCALE} decimal places")
        return number if dialect.name == "postgresql" else format(number, "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            return Decimal(value)  # SQLite: the exact text that was stored
        # PostgreSQL pads to the column's scale; strip the padding (the value is unchanged).
        return _trim(value)


def _trim(number: Decimal) -> Decimal:
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0")
        if text.endswith("."):
            text = text[:-1]
    return Decimal(text)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, not {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetime: abrecon stores UTC-aware times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]
