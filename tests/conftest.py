"""Fixtures shared by every test package: a migrated abrecon database, on SQLite and PostgreSQL.

``database_url`` runs a test twice, once per database abrecon supports, each time with the URL of
a database whose schema :func:`worker.store.migrate.ensure_schema` has brought to head:

* ``sqlite``: a file in the test's ``tmp_path``, private to the test. It is a copy of a template
  migrated once per session, so a test pays for a file copy, not for running the migrations.
* ``postgresql``: a database created for the test *module* (``abrecon_test_<random>``) and
  dropped with ``WITH (FORCE)`` after the module's last test. Tests of one module share it, so
  they must not assume empty tables: give each test its own party (or other natural keys).

``empty_database_url`` is the same pair of databases, never migrated and private to the test
(to test a first start, say).

Narrow a test to one database with ``@pytest.mark.parametrize("database_url", ["sqlite"],
indirect=True)``; deselect PostgreSQL with ``-m "not postgresql"``. The PostgreSQL tests are
skipped, with the reason, only when no server answers at 127.0.0.1:5432 (or at
``ABRECON_TEST_POSTGRES_URL``, which must name a role allowed to create databases). Engines the
process cached for a URL (``worker.store.engine.get_engine``) are disposed of at teardown.

The database packages are imported inside the fixtures so that test packages that need no
database do not import them.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

#: Where the test PostgreSQL server is (a maintenance database the admin role can connect to).
POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
POSTGRES_DATABASE = "test"
#: Prefix of the databases the fixtures create (and drop).
TEST_DATABASE_PREFIX = "abrecon_test_"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgresql: the test runs against a PostgreSQL database (deselect with -m)"
    )


@dataclass(frozen=True)
class PostgresServer:
    """The test PostgreSQL server, reached as a role that may create databases."""

    admin_url: URL

    def conninfo(self) -> str:
        """The admin URL as libpq takes it (for ``psycopg.connect``)."""
        return self.admin_url.set(drivername="postgresql").render_as_string(hide_password=False)

    def create_database(self) -> str:
        """Create an empty database with a random name; return its SQLAlchemy URL."""
        import psycopg
        from psycopg import sql

        name = f"{TEST_DATABASE_PREFIX}{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.conninfo(), autocommit=True, connect_timeout=5) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        """Drop a database :meth:`create_database` made, ending any session still in it."""
        import psycopg
        import sqlalchemy as sa
        from psycopg import sql

        name = sa.engine.make_url(url).database
        assert name and name.startswith(TEST_DATABASE_PREFIX), name
        with psycopg.connect(self.conninfo(), autocommit=True, connect_timeout=5) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _admin_candidates() -> list[URL]:
    import sqlalchemy as sa

    configured = os.environ.get("ABRECON_TEST_POSTGRES_URL")
    if configured:
        url = sa.engine.make_url(configured)
        return [url.set(drivername="postgresql+psycopg")]
    return [
        sa.engine.URL.create(
            "postgresql+psycopg",
            username=user,
            host=POSTGRES_HOST,
            port=POSTGRES_PORT,
            database=POSTGRES_DATABASE,
        )
        for user in dict.fromkeys(["postgres", getpass.getuser()])
    ]


def _answers(url: URL) -> str | None:
    """Why the server at ``url`` does not answer (``None``: it does)."""
    host = url.host or "localhost"
    if host.startswith("/"):
        return None  # a Unix socket: let psycopg tell
    try:
        with socket.create_connection((host, url.port or 5432), timeout=2):
            return None
    except OSError as error:
        return f"PostgreSQL does not answer at {host}:{url.port or 5432} ({error})"


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """The PostgreSQL server and an admin role; skips when no server answers."""
    import psycopg

    candidates = _admin_candidates()
    silent = _answers(candidates[0])
    if silent is not None:
        pytest.skip(silent)
    problems: list[str] = []
    for url in candidates:
        server = PostgresServer(url)
        try:
            with psycopg.connect(server.conninfo(), connect_timeout=5) as connection:
                row = connection.execute(
                    "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
                ).fetchone()
        except psycopg.OperationalError as error:
            problems.append(f"{url.username}: {str(error).strip()}")
            continue
        if row and row[0]:
            return server
        problems.append(f"{url.username}: may not create databases")
    pytest.fail("PostgreSQL answers, but no usable admin role: " + "; ".join(problems))


def _dispose_cached_engine(url: str) -> None:
    from worker.store.engine import get_engine

    get_engine(url).dispose()


@pytest.fixture(scope="module")
def postgres_database_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh PostgreSQL database at head for the test module, dropped afterwards."""
    from worker.store.migrate import ensure_schema

    url = postgres_server.create_database()
    try:
        ensure_schema(url)
        yield url
    finally:
        _dispose_cached_engine(url)
        postgres_server.drop_database(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at head, migrated once per session; tests get copies of it."""
    from worker.store.migrate import ensure_schema

    path = tmp_path_factory.mktemp("sqlite-template") / "abrecon.db"
    ensure_schema(f"sqlite:///{path}")
    # ensure_schema closed its connections, so SQLite checkpointed the WAL into the file.
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database at head: a private SQLite file, or the module's PostgreSQL database."""
    from worker.store.migrate import ensure_schema

    if request.param == "postgresql":
        yield request.getfixturevalue("postgres_database_url")
        return
    template: Path = request.getfixturevalue("sqlite_template")
    path = tmp_path / "abrecon.db"
    shutil.copyfile(template, path)
    url = f"sqlite:///{path}"
    ensure_schema(url)  # at head already: one read of alembic_version
    yield url
    _dispose_cached_engine(url)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    ]
)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database the test alone uses, with no tables at all (never migrated)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
        yield url
        _dispose_cached_engine(url)
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database()
    try:
        yield url
    finally:
        _dispose_cached_engine(url)
        server.drop_database(url)
