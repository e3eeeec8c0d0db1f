"""Alembic's environment for abrecon's schema; alembic runs it, the application never imports it.

abrecon ships no ``alembic.ini``: :func:`worker.store.migrate.alembic_config` builds the config in
code. The normal path hands over an open connection in ``config.attributes["connection"]``: the
caller (:func:`worker.store.migrate.upgrade`) already holds the schema lock and the transaction,
so everything alembic does here runs inside them. Without a connection the URL in
``sqlalchemy.url`` is used (a developer's autogenerate, or offline ``--sql`` output).

Autogenerate is tuned so that a generated revision runs on SQLite *and* PostgreSQL:

* ``render_as_batch=True`` always, whichever database it was generated against: SQLite can only
  change most of a table by copying it, and batch operations do that there while emitting plain
  ``ALTER TABLE`` on PostgreSQL.
* abrecon's own column types render as ``worker.store.types.ExactDecimal()`` /
  ``UtcDateTime()`` with their import, so a revision gets exact money and UTC time on both
  databases; SQLModel's ``AutoString`` renders as plain ``sa.String`` so revisions do not
  depend on SQLModel internals.
* tables in the database that the metadata does not know (e.g. a Celery result backend sharing
  the database) are left alone instead of being proposed for dropping.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import worker.store.tables  # noqa: F401  (defines the tables on SQLModel.metadata)
from worker.store.engine import make_engine
from worker.store.types import ExactDecimal, UtcDateTime

config = context.config
target_metadata = SQLModel.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render abrecon's column types portably (``False``: alembic's default rendering)."""
    if type_ != "type":
        return False
    if isinstance(obj, ExactDecimal | UtcDateTime):
        autogen_context.imports.add("import worker.store.types")
        return f"worker.store.types.{type(obj).__name__}()"
    if isinstance(obj, AutoString):
        return "sa.String()" if obj.length is None else f"sa.String(length={obj.length})"
    return False


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Leave alone what exists only in the database: another component's tables are not ours."""
    return not (type_ == "table" and reflected and compare_to is None)


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=True,
        render_item=render_item,
        include_object=include_object,
        compare_type=True,
        **kwargs,
    )


def run_offline() -> None:
    """Write the SQL to standard output instead of running it (``alembic upgrade --sql``)."""
    _configure(
        url=config.get_main_option("sqlalchemy.url"),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run on the caller's connection, or on a connection of our own to ``sqlalchemy.url``."""
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url: use worker.store.migrate")
    engine = make_engine(url)
    try:
        with engine.connect() as own:
            _run_on(own)
            own.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
