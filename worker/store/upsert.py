"""Idempotent writes: INSERT ... ON CONFLICT (natural key) DO UPDATE, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel

#: Rows per statement (SQLite allows 32766 bound parameters per statement).
CHUNK = 500


def upsert(
    session: Session,
    table: type[SQLModel],
    rows: Iterable[Mapping[str, Any]],
    key: Sequence[str],
    update: Sequence[str] | None = None,
) -> int:
    """Insert ``rows`` into ``table``; where the natural ``key`` exists, update ``update``.

    ``update=None`` updates every given column except the key; ``update=()`` leaves an existing
    row untouched (insert-if-absent). Returns the number of rows sent.
    """
    batch = [dict(row) for row in rows]
    if not batch:
        return 0
    target = sa.inspect(table).local_table
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    if dialect not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"upsert is not implemented for {dialect}")
    columns = update if update is not None else [c for c in batch[0] if c not in key]
    statement = insert(target)
    if columns:
        statement = statement.on_conflict_do_update(
            index_elements=list(key),
            set_={name: statement.excluded[name] for name in columns},
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(key))
    names = batch[0].keys()
    if all(row.keys() == names for row in batch):
        # Rows of one shape: one statement executed for many parameter sets, compiled once and
        # then cached by SQLAlchemy. A multi-row VALUES statement is compiled afresh on every
        # call, which cost several times the database's own work per page of transactions.
        for start in range(0, len(batch), CHUNK):
            session.execute(statement, batch[start : start + CHUNK])
        return len(batch)
    for start in range(0, len(batch), CHUNK):  # rows of mixed shapes: absent columns default
        session.execute(statement.values(batch[start : start + CHUNK]))
    return len(batch)
