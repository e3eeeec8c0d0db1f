"""Ledger import into the store: all or nothing, idempotent, changes kept as history."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from connectors.ledger.model import LedgerError
from connectors.sandbox.generator import write_scenario
from worker.services.context import Context, get_context, use_settings
from worker.services.ledger import import_ledger
from worker.settings import load_settings
from worker.store.tables import LedgerEntryHistoryRow, LedgerEntryRow, LedgerImportRow

HEADER = "entry_id,posted_date,amount,currency,description,reference,card_last4\n"


@pytest.fixture()
def ctx(database_url: str, tmp_path: Path) -> Iterator[Context]:
    settings = load_settings(
        database_url=database_url, data_dir=tmp_path, lwa_refresh_token=f"Atzr|{tmp_path.name}"
    )
    use_settings(settings)
    yield get_context()
    use_settings(None)


def _count(ctx: Context, table: type) -> int:
    with Session(ctx.engine) as session:
        return int(
            session.exec(
                select(func.count()).select_from(table).where(table.party == ctx.party)
            ).one()
        )


def test_generated_ledger_imports_once(ctx: Context, tmp_path: Path) -> None:
    paths = write_scenario(tmp_path / "gen", 20, 3)
    first = import_ledger(ctx, paths["ledger"])
    assert first.inserted == first.rows > 0 and first.updated == 0
    again = import_ledger(ctx, paths["ledger"])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, first.rows)
    assert _count(ctx, LedgerEntryRow) == first.rows
    assert _count(ctx, LedgerImportRow) == 2


def test_a_changed_row_updates_and_keeps_history(ctx: Context, tmp_path: Path) -> None:
    path = tmp_path / "books.csv"
    path.write_text(
        HEADER + "L1,2025-01-02,10.00,USD,Paper,111-2,1234\nL2,2025-01-03,-5.50,USD,Refund,,\n"
    )
    import_ledger(ctx, path)
    path.write_text(
        HEADER + "L1,2025-01-02,12.00,USD,Paper corrected,111-2,1234\n"
        "L2,2025-01-03,-5.50,USD,Refund,,\n"
    )
    summary = import_ledger(ctx, path)
    assert (summary.inserted, summary.updated, summary.unchanged) == (0, 1, 1)
    with Session(ctx.engine) as session:
        entry = session.exec(
            select(LedgerEntryRow).where(
                LedgerEntryRow.party == ctx.party, LedgerEntryRow.entry_id == "L1"
            )
        ).one()
        history = session.exec(
            select(LedgerEntryHistoryRow).where(LedgerEntryHistoryRow.party == ctx.party)
        ).all()
    assert entry.amount == Decimal("12.00") and entry.description == "Paper corrected"
    assert len(history) == 1 and history[0].previous is not None
    previous = dict(history[0].previous)
    assert Decimal(previous.pop("amount")) == Decimal("10.00")
    assert previous == {
        "posted_date": "2025-01-02",
        "currency": "USD",
        "description": "Paper",
        "reference": "111-2",
        "card_last4": "1234",
    }


def test_a_bad_row_imports_nothing(ctx: Context, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "L1,2025-01-02,10.00,USD,Paper,,\nL2,2025-01-03,12,3x,USD,,\n")
    with pytest.raises(LedgerError) as caught:
        import_ledger(ctx, path)
    assert "bad.csv line 3" in str(caught.value)
    assert _count(ctx, LedgerEntryRow) == 0
    assert _count(ctx, LedgerImportRow) == 0
