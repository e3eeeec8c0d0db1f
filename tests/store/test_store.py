"""The durable store on SQLite and PostgreSQL: migrations, upserts, exact money, UTC time, JSON.

Every test that takes ``database_url`` (or ``engine``) runs on both databases. PostgreSQL tests
of this module share one database, so each test writes under its own ``party``.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, col, func, select

from worker.store import tables
from worker.store.engine import make_engine, session_scope
from worker.store.migrate import (
    SchemaError,
    alembic_config,
    current_revision,
    ensure_schema,
    head_revision,
    upgrade,
)
from worker.store.tables import (
    JobRow,
    JobStageRow,
    LeaseRow,
    OrderRow,
    TransactionLineItemRow,
    TransactionRow,
)
from worker.store.types import ExactDecimal, UtcDateTime
from worker.store.upsert import CHUNK, upsert

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


# --- migrations -------------------------------------------------------------------------------


def _model_tables() -> list[sa.Table]:
    """The tables worker.store.tables defines (other modules may add tables to the metadata)."""
    return [
        model.__table__
        for model in vars(tables).values()
        if isinstance(model, type)
        and issubclass(model, SQLModel)
        and model.__module__ == tables.__name__
        and hasattr(model, "__table__")
    ]


def _expected_schema() -> dict[str, dict[str, Any]]:
    schema: dict[str, dict[str, Any]] = {}
    for table in _model_tables():
        schema[table.name] = {
            "columns": [(column.name, column.nullable) for column in table.columns],
            "primary_key": [column.name for column in table.primary_key.columns],
            "unique": sorted(
                tuple(column.name for column in constraint.columns)
                for constraint in table.constraints
                if isinstance(constraint, sa.UniqueConstraint)
            ),
            "indexes": sorted(
                (str(index.name), tuple(column.name for column in index.columns), index.unique)
                for index in table.indexes
            ),
            "foreign_keys": sorted(
                (key.parent.name, key.column.table.name, key.column.name)
                for key in table.foreign_keys
            ),
        }
    return schema


def _migrated_schema(engine: Engine) -> dict[str, dict[str, Any]]:
    inspector = sa.inspect(engine)
    schema: dict[str, dict[str, Any]] = {}
    for name in inspector.get_table_names():
        if name == "alembic_version":
            continue
        schema[name] = {
            "columns": [
                (column["name"], column["nullable"]) for column in inspector.get_columns(name)
            ],
            "primary_key": inspector.get_pk_constraint(name)["constrained_columns"],
            "unique": sorted(
                tuple(constraint["column_names"])
                for constraint in inspector.get_unique_constraints(name)
            ),
            "indexes": sorted(
                (str(index["name"]), tuple(index["column_names"]), bool(index["unique"]))
                for index in inspector.get_indexes(name)
                if not index.get("duplicates_constraint")  # PostgreSQL: a UNIQUE's own index
            ),
            "foreign_keys": sorted(
                (column, key["referred_table"], referred)
                for key in inspector.get_foreign_keys(name)
                for column, referred in zip(
                    key["constrained_columns"], key["referred_columns"], strict=True
                )
            ),
        }
    return schema


def test_migrations_create_exactly_the_tables_of_tables_py(
    database_url: str, engine: Engine
) -> None:
    assert current_revision(database_url) == head_revision() is not None
    expected = _expected_schema()
    migrated = _migrated_schema(engine)
    assert sorted(migrated) == sorted(expected)
    for name, shape in expected.items():
        assert migrated[name] == shape, name
    # Alembic's own comparison also looks at column types: nothing left to generate.
    metadata = sa.MetaData()
    for table in _model_tables():
        table.to_metadata(metadata)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_money_and_time_columns_keep_their_database_types(engine: Engine) -> None:
    inspector = sa.inspect(engine)
    postgresql = engine.dialect.name == "postgresql"
    checked = 0
    for table in _model_tables():
        reflected = {column["name"]: column["type"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            kind = reflected[column.name]
            if isinstance(column.type, ExactDecimal):
                if postgresql:
                    assert isinstance(kind, sa.Numeric)
                    assert (kind.precision, kind.scale) == (38, 12), column
                else:
                    assert isinstance(kind, sa.String) and kind.length == 64, column
                checked += 1
            elif isinstance(column.type, UtcDateTime):
                assert isinstance(kind, sa.DateTime), column
                assert kind.timezone or not postgresql, column
                checked += 1
    assert checked > 10


def test_upgrade_again_is_a_no_op(database_url: str, engine: Engine, party: str) -> None:
    with session_scope(engine) as session:
        session.add(LeaseRow(name=party, holder="me", expires_at=NOW))
    before = _migrated_schema(engine)
    upgrade(database_url)
    upgrade(database_url, "head")
    ensure_schema(database_url)
    assert current_revision(database_url) == head_revision()
    assert _migrated_schema(engine) == before
    with session_scope(engine) as session:
        lease = session.get(LeaseRow, party)
        assert lease is not None and lease.holder == "me"


def test_a_new_database_upgrades_downgrades_and_upgrades_again(empty_database_url: str) -> None:
    url = empty_database_url
    assert current_revision(url) is None
    upgrade(url)
    assert current_revision(url) == head_revision()
    command.downgrade(alembic_config(url), "base")
    assert current_revision(url) is None
    engine = make_engine(url)
    try:
        assert _migrated_schema(engine) == {}
        upgrade(url)
        assert sorted(_migrated_schema(engine)) == sorted(_expected_schema())
    finally:
        engine.dispose()


CHILD = """
import sys
from worker.store.migrate import ensure_schema
print("ready", flush=True)
sys.stdin.readline()
ensure_schema(sys.argv[1])
print("done", flush=True)
"""


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_two_processes_migrating_at_once_both_succeed(
    empty_database_url: str, children: list[subprocess.Popen[str]]
) -> None:
    """Both start from an empty database; the lock lets one migrate and the other find head."""
    for _ in range(2):
        children.append(
            subprocess.Popen(
                [sys.executable, "-c", CHILD, empty_database_url],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
        )
    # Wait until both have imported everything, then release them together.
    for child in children:
        assert child.stdout is not None and child.stdout.readline() == "ready\n", child
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        assert out == "done\n"
    assert current_revision(empty_database_url) == head_revision()
    engine = make_engine(empty_database_url)
    try:
        assert _migrated_schema(engine) == _expected_schema()
    finally:
        engine.dispose()


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
def test_ensure_schema_refuses_a_revision_it_does_not_know(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = 'f00d'"))
    finally:
        engine.dispose()
    with pytest.raises(SchemaError, match="'f00d'"):
        ensure_schema(empty_database_url)


def test_ensure_schema_runs_once_per_process_and_url(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fixture already ensured this URL: a second call must not even read the database."""

    def unreachable(url: str) -> str | None:
        raise AssertionError(f"ensure_schema read {url} again")

    monkeypatch.setattr("worker.store.migrate.current_revision", unreachable)
    ensure_schema(database_url)


def test_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(ValueError, match="in-memory"):
        ensure_schema("sqlite://")
    with pytest.raises(ValueError, match="in-memory"):
        upgrade("sqlite:///:memory:")


# --- upserts ----------------------------------------------------------------------------------

TRANSACTION_KEY = ("party", "transaction_id")


def _transaction(party: str, number: int, amount: str, **extra: Any) -> dict[str, Any]:
    return {
        "party": party,
        "transaction_id": f"T-{number}",
        "transaction_type": "CHARGE",
        "amount": Decimal(amount),
        "currency": "EUR",
        "feed_date": NOW + timedelta(hours=number),
        "raw": {"transactionId": f"T-{number}", "amount": amount},
        **extra,
    }


def _transactions(engine: Engine, party: str) -> dict[str, TransactionRow]:
    with session_scope(engine) as session:
        rows = session.exec(select(TransactionRow).where(TransactionRow.party == party)).all()
        return {row.transaction_id: row for row in rows}


def test_upsert_inserts_then_updates_by_natural_key(engine: Engine, party: str) -> None:
    with session_scope(engine) as session:
        rows = [_transaction(party, n, f"{n}.10") for n in range(3)]
        assert upsert(session, TransactionRow, rows, key=TRANSACTION_KEY) == 3
    first = _transactions(engine, party)
    assert {key: row.amount for key, row in first.items()} == {
        "T-0": Decimal("0.10"),
        "T-1": Decimal("1.10"),
        "T-2": Decimal("2.10"),
    }

    with session_scope(engine) as session:
        rows = [_transaction(party, n, f"-{n}.25", buyer_name="Ada") for n in range(4)]
        assert upsert(session, TransactionRow, rows, key=TRANSACTION_KEY) == 4
    second = _transactions(engine, party)
    assert sorted(second) == ["T-0", "T-1", "T-2", "T-3"]  # one new row, no duplicates
    for key, row in first.items():
        assert second[key].id == row.id  # updated in place
    assert {row.amount for row in second.values()} == {Decimal(f"-{n}.25") for n in range(4)}
    assert {row.buyer_name for row in second.values()} == {"Ada"}
    assert second["T-1"].raw == {"transactionId": "T-1", "amount": "-1.25"}


def test_upsert_keys_include_the_party(engine: Engine, party: str) -> None:
    other = party + "-other"
    with session_scope(engine) as session:
        upsert(session, TransactionRow, [_transaction(party, 1, "1")], key=TRANSACTION_KEY)
        upsert(session, TransactionRow, [_transaction(other, 1, "2")], key=TRANSACTION_KEY)
    assert _transactions(engine, party)["T-1"].amount == Decimal("1")
    assert _transactions(engine, other)["T-1"].amount == Decimal("2")


def test_upsert_updates_only_the_named_columns(engine: Engine, party: str) -> None:
    with session_scope(engine) as session:
        upsert(
            session,
            TransactionRow,
            [_transaction(party, 1, "5", buyer_name="Ada")],
            TRANSACTION_KEY,
        )
    with session_scope(engine) as session:
        row = _transaction(party, 1, "6", buyer_name="Bob")
        upsert(session, TransactionRow, [row], TRANSACTION_KEY, update=("amount",))
    stored = _transactions(engine, party)["T-1"]
    assert (stored.amount, stored.buyer_name) == (Decimal("6"), "Ada")


def test_upsert_with_no_update_columns_leaves_rows_untouched(engine: Engine, party: str) -> None:
    with session_scope(engine) as session:
        upsert(session, TransactionRow, [_transaction(party, 1, "1.00")], TRANSACTION_KEY)
    before = _transactions(engine, party)["T-1"]
    with session_scope(engine) as session:
        rows = [_transaction(party, 1, "99", buyer_name="X"), _transaction(party, 2, "2")]
        assert upsert(session, TransactionRow, rows, TRANSACTION_KEY, update=()) == 2
    after = _transactions(engine, party)
    assert sorted(after) == ["T-1", "T-2"]
    assert after["T-1"].model_dump() == before.model_dump()
    with session_scope(engine) as session:
        assert upsert(session, TransactionRow, [], TRANSACTION_KEY) == 0


def test_upsert_with_a_composite_key_across_chunks(engine: Engine, party: str) -> None:
    key = ("party", "transaction_id", "order_id", "order_line_item_id", "shipment_id")
    count = CHUNK * 2 + 7

    def lines(quantity: int) -> list[dict[str, Any]]:
        return [
            {
                "party": party,
                "transaction_id": f"T-{n // 10}",
                "order_id": f"O-{n % 10}",
                "order_line_item_id": "L-1",
                "shipment_id": "",  # a missing id is the empty string, never NULL
                "quantity": quantity,
                "total_amount": Decimal("0.01") * n,
            }
            for n in range(count)
        ]

    with session_scope(engine) as session:
        assert upsert(session, TransactionLineItemRow, lines(1), key) == count
    with session_scope(engine) as session:
        assert upsert(session, TransactionLineItemRow, lines(2), key) == count
    with session_scope(engine) as session:
        stored = session.exec(
            select(TransactionLineItemRow.quantity, func.count())
            .where(TransactionLineItemRow.party == party)
            .group_by(col(TransactionLineItemRow.quantity))
        ).all()
    assert [tuple(row) for row in stored] == [(2, count)]


# --- money --------------------------------------------------------------------------------------


@st.composite
def money(draw: st.DrawFn) -> Decimal:
    """Any amount with up to 26 integer digits and up to 12 decimal places."""
    places = draw(st.integers(min_value=0, max_value=12))
    bound = 10 ** (26 + places) - 1
    digits = draw(st.integers(min_value=-bound, max_value=bound))
    return Decimal(f"{digits}E-{places}")  # from text: exact whatever the context's precision


EDGES = [
    Decimal("99999999999999999999999999.999999999999"),
    Decimal("-99999999999999999999999999.999999999999"),
    Decimal("0.000000000001"),
    Decimal("-0.000000000001"),
    Decimal("0.1") + Decimal("0.2"),
    Decimal("100.00"),
    Decimal("-0"),
]


def _round_trip(engine: Engine, amounts: list[Decimal]) -> list[Decimal | None]:
    party = f"money-{uuid.uuid4().hex[:12]}"
    with session_scope(engine) as session:
        for n, amount in enumerate(amounts):
            session.add(OrderRow(party=party, order_id=f"{n:04}", net_total=amount))
    with session_scope(engine) as session:
        rows = session.exec(
            select(OrderRow).where(OrderRow.party == party).order_by(col(OrderRow.order_id))
        ).all()
        return [row.net_total for row in rows]


def test_money_edges_round_trip_exactly(engine: Engine) -> None:
    back = _round_trip(engine, EDGES)
    assert back == EDGES
    assert all(isinstance(amount, Decimal) for amount in back)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(amounts=st.lists(money(), min_size=1, max_size=25))
def test_money_round_trips_exactly(engine: Engine, amounts: list[Decimal]) -> None:
    assert _round_trip(engine, amounts) == amounts


def test_money_refuses_floats(engine: Engine, party: str) -> None:
    with pytest.raises(TypeError):
        ExactDecimal().process_bind_param(0.1, engine.dialect)
    with pytest.raises(sa.exc.StatementError) as error, session_scope(engine) as session:
        session.add(OrderRow(party=party, order_id="float", net_total=0.1))  # type: ignore[arg-type]
        session.flush()
    assert isinstance(error.value.orig, TypeError)
    with pytest.raises(sa.exc.StatementError) as error, session_scope(engine) as session:
        row = _transaction(party, 1, "0") | {"amount": 1.5}
        upsert(session, TransactionRow, [row], TRANSACTION_KEY)
    assert isinstance(error.value.orig, TypeError)
    assert _transactions(engine, party) == {}


def test_money_refuses_non_finite_amounts(engine: Engine, party: str) -> None:
    for bad in (Decimal("NaN"), Decimal("Infinity")):
        with pytest.raises(sa.exc.StatementError) as error, session_scope(engine) as session:
            session.add(OrderRow(party=party, order_id="nan", net_total=bad))
        assert isinstance(error.value.orig, ValueError)


# --- time ---------------------------------------------------------------------------------------


def test_utc_datetime_refuses_naive_datetimes(engine: Engine, party: str) -> None:
    with pytest.raises(sa.exc.StatementError) as error, session_scope(engine) as session:
        session.add(LeaseRow(name=party, holder="me", expires_at=datetime(2024, 1, 1)))
    assert isinstance(error.value.orig, ValueError)
    with session_scope(engine) as session:
        assert session.get(LeaseRow, party) is None


def test_utc_datetime_returns_aware_utc(engine: Engine, party: str) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    local = datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=india)
    with session_scope(engine) as session:
        session.add(LeaseRow(name=party, holder="me", expires_at=local))
        session.add(LeaseRow(name=party + "-later", holder="me", expires_at=local + timedelta(1)))
    with session_scope(engine) as session:
        stored = session.get(LeaseRow, party)
        assert stored is not None
        # Comparisons happen in UTC on both databases: only the later lease is after `local`.
        later = session.exec(
            select(LeaseRow.name).where(
                col(LeaseRow.name).startswith(party),
                LeaseRow.expires_at > local.astimezone(UTC) + timedelta(seconds=1),
            )
        ).all()
    assert stored.expires_at == local
    assert stored.expires_at.tzinfo == UTC
    assert stored.expires_at == datetime(2024, 2, 29, 18, 29, 59, 123456, tzinfo=UTC)
    assert list(later) == [party + "-later"]


# --- JSON ---------------------------------------------------------------------------------------

NESTED: dict[str, Any] = {
    "transactionId": "T-1",
    "lineItems": [
        {"orderId": "O-1", "amounts": {"total": "12.34", "tax": None}, "tags": ["a", "b"]},
        {"orderId": "O-2", "amounts": {}, "tags": []},
    ],
    "flags": {"refund": False, "split": True},
    "count": 2**53 + 1,
    "ratio": 0.5,
    "note": 'Grüße, 東京 "quoted" \\ back',
}


def test_json_columns_keep_nested_data(engine: Engine, party: str) -> None:
    errors = [{"page": 3, "error": {"code": "Throttled", "retry": [1, 2, 4]}}]
    with session_scope(engine) as session:
        upsert(session, TransactionRow, [_transaction(party, 1, "1", raw=NESTED)], TRANSACTION_KEY)
        job = JobRow(party=party, window_start=NOW, window_end=NOW + timedelta(days=1))
        session.add(job)
        session.flush()
        assert job.id is not None
        session.add(
            JobStageRow(job_id=job.id, name="sync", counts={"pages": {"done": 3}}, errors=errors)
        )
        job_id = job.id
    with session_scope(engine) as session:
        stage = session.exec(select(JobStageRow).where(JobStageRow.job_id == job_id)).one()
    assert _transactions(engine, party)["T-1"].raw == NESTED
    assert stage.counts == {"pages": {"done": 3}}
    assert stage.errors == errors
