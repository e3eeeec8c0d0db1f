"""Schema migrations: bring a database to the schema of :mod:`worker.store.tables`.

Commands and workers call :func:`ensure_schema` before they first use a database. It is cheap
when the database is already at head (one read of ``alembic_version``, once per process and URL)
and safe when several processes start at once: the upgrade itself runs under a lock, and whoever
gets the lock second finds the schema at head and does nothing.

* PostgreSQL: a session-level ``pg_advisory_lock`` is held for the whole upgrade, which runs in
  one transaction (PostgreSQL has transactional DDL, so a failed upgrade leaves nothing behind).
  A session lock rather than a transaction lock, so that a future revision that must leave the
  transaction (``CREATE INDEX CONCURRENTLY`` in an ``autocommit_block``) stays serialised.
* SQLite: the upgrade runs in one ``BEGIN IMMEDIATE`` transaction, which takes the database file's
  write lock up front; a second process waits for it (the engine's busy timeout). pysqlite's own
  transaction handling is switched off on this private engine because it would otherwise run DDL
  outside any transaction and let two processes interleave their ``CREATE TABLE`` statements.
  A new file is switched to WAL mode first, with retries (see :func:`_sqlite_wal`): two processes
  opening a new file at once could otherwise fail in the engine's connect hook.

abrecon ships no ``alembic.ini``; :func:`alembic_config` builds the alembic config in code with
``script_location`` pointing into this package, so the migrations work from an installed wheel.
A developer adds a revision with alembic's own command, against an up-to-date database::

    from alembic import command
    from worker.store.migrate import alembic_config, upgrade
    upgrade("sqlite:////tmp/dev.db")
    command.revision(alembic_config("sqlite:////tmp/dev.db"), "what changed", autogenerate=True,
                     rev_id="0002")

and then reviews the revision by hand (and runs ``ruff format`` on it).
"""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection, Engine

from worker.store.engine import make_engine, normalise_url

__all__ = [
    "LOCK_KEY",
    "MIGRATIONS",
    "SchemaError",
    "alembic_config",
    "current_revision",
    "ensure_schema",
    "head_revision",
    "upgrade",
]

#: The alembic script directory (``env.py``, ``versions/``), shipped as package data.
MIGRATIONS = Path(__file__).resolve().with_name("migrations")
#: The PostgreSQL advisory-lock key that serialises schema upgrades (the bytes of "abrecon!").
LOCK_KEY = int.from_bytes(b"abrecon!", "big")

_ensured: set[str] = set()
_ensure_lock = threading.Lock()


class SchemaError(RuntimeError):
    """The database's schema cannot be brought to what this version of abrecon expects."""


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An alembic config for abrecon's migrations, built in code (there is no ``alembic.ini``).

    Pass ``connection`` to run on it (inside the caller's transaction and lock), or ``url`` for
    alembic to connect by itself (autogenerate, offline SQL).
    """
    config = Config()
    # ConfigParser interpolates "%": double it so paths and URL-encoded passwords survive.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str | None:
    """The newest revision this version of abrecon ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at (``None``: never migrated)."""
    engine = _open(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision``, holding the schema lock throughout.

    Running it again, or in several processes at once, is harmless: alembic starts from the
    revision it finds once it has the lock.
    """
    engine = _migration_engine(url)
    try:
        with engine.connect() as connection, _schema_lock(connection), connection.begin():
            command.upgrade(alembic_config(url, connection), revision)
    finally:
        engine.dispose()


def ensure_schema(url: str) -> None:
    """Make sure the database at ``url`` is at head; the upgrade runs at most once per process.

    Raises :class:`SchemaError` when the database is at a revision this version does not know
    (a newer abrecon migrated it): running old code on a newer schema would corrupt data.
    """
    key = normalise_url(url)
    if key in _ensured:
        return
    with _ensure_lock:
        if key in _ensured:
            return
        current = current_revision(url)
        if current != head_revision():
            _check_known(url, current)
            upgrade(url)
        _ensured.add(key)


def _open(url: str) -> Engine:
    """An engine for ``url``; a SQLite file is switched to WAL first, see :func:`_sqlite_wal`."""
    _refuse_in_memory(url)
    parsed = sa.engine.make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        _sqlite_wal(Path(parsed.database))
    return make_engine(url)


def _sqlite_wal(path: Path, patience: float = 30.0) -> None:
    """Put a SQLite file in WAL mode, waiting while another process does the same.

    The engine's connect hook runs ``PRAGMA journal_mode=WAL`` on every connection. On a new file
    that needs an exclusive lock, and when two processes start on a new file at once SQLite may
    answer "database is locked" at once, without waiting for its busy timeout (waiting could
    deadlock). Once the file is in WAL mode (which the file keeps) the pragma needs no lock, so
    switching here, retrying while the other process holds the lock, makes the hook safe.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + patience
    while True:
        connection = sqlite3.connect(path, timeout=patience)
        try:
            if connection.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal":
                return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        finally:
            connection.close()
        if time.monotonic() > deadline:
            return  # the engine's own hook will report what is wrong
        time.sleep(0.02)


def _refuse_in_memory(url: str) -> None:
    # An in-memory SQLite database lives and dies with one connection: migrating it on an engine
    # of our own would migrate a database nobody else ever sees.
    parsed = sa.engine.make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ValueError("cannot migrate an in-memory SQLite database: use a file")


def _check_known(url: str, revision: str | None) -> None:
    if revision is None:
        return
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        shown = sa.engine.make_url(normalise_url(url)).render_as_string(hide_password=True)
        raise SchemaError(
            f"{shown} is at schema revision {revision!r}, which this abrecon does not know: "
            "a newer version migrated it; upgrade abrecon"
        )


def _migration_engine(url: str) -> Engine:
    """A private engine for one upgrade: on SQLite, every transaction is ``BEGIN IMMEDIATE``."""
    engine = _open(url)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_manual_transactions)
        sa.event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_manual_transactions(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite must not issue BEGIN itself (and it does not before DDL): the "begin" listener does.
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def _schema_lock(connection: Connection) -> Iterator[None]:
    """Hold PostgreSQL's schema advisory lock (SQLite: the write lock of BEGIN IMMEDIATE)."""
    if connection.dialect.name != "postgresql":
        yield
        return
    connection.execute(sa.select(sa.func.pg_advisory_lock(LOCK_KEY)))
    connection.commit()
    try:
        yield
    finally:
        if not connection.invalidated:
            if connection.in_transaction():
                connection.rollback()
            connection.execute(sa.select(sa.func.pg_advisory_unlock(LOCK_KEY)))
            connection.commit()
