"""Matching over the store: written once, idempotent, decisions respected, exported."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from connectors.amazon_business.models import Transaction
from connectors.sandbox.generator import write_scenario
from connectors.sandbox.scenario import load_scenario
from worker.services.context import Context, get_context, use_settings
from worker.services.exports import write_csv_atomically
from worker.services.ledger import import_ledger
from worker.services.matching import (
    MATCH_COLUMNS,
    decide,
    link,
    match_link_rows,
    run_matching,
)
from worker.services.sync import store_transactions
from worker.settings import load_settings
from worker.store.engine import session_scope
from worker.store.tables import MatchRow


@pytest.fixture()
def ctx(database_url: str, tmp_path: Path) -> Iterator[Context]:
    settings = load_settings(
        database_url=database_url, data_dir=tmp_path, lwa_refresh_token=f"Atzr|{tmp_path.name}"
    )
    use_settings(settings)
    context = get_context()
    paths = write_scenario(tmp_path / "gen", 60, 5)
    scenario = load_scenario(paths["scenario"])
    with session_scope(context.engine) as session:
        store_transactions(
            session,
            context,
            [Transaction.model_validate(t) for t in scenario.transactions],
            context.clock(),
        )
    import_ledger(context, paths["ledger"])
    yield context
    use_settings(None)


def _statuses(ctx: Context) -> dict[str, str]:
    with Session(ctx.engine) as session:
        return {
            row.match_key: row.status
            for row in session.exec(select(MatchRow).where(MatchRow.party == ctx.party))
        }


def test_matching_is_stored_and_idempotent(ctx: Context, tmp_path: Path) -> None:
    first = run_matching(ctx)
    assert first.written == len(first.result.matches) > 0
    stored = _statuses(ctx)
    again = run_matching(ctx)
    assert again.removed == 0 and _statuses(ctx) == stored
    out = tmp_path / "matches.csv"
    count = write_csv_atomically(out, MATCH_COLUMNS, match_link_rows(ctx))
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(MATCH_COLUMNS) and len(rows) == count + 1
    assert {row[5] for row in rows[1:]} <= {"auto", "review"}


def test_decisions_survive_rematching(ctx: Context) -> None:
    run_matching(ctx)
    keys = sorted(_statuses(ctx))
    confirmed, rejected = keys[0], keys[1]
    decide(ctx, confirmed, "confirmed")
    decide(ctx, rejected, "rejected")
    run_matching(ctx)
    statuses = _statuses(ctx)
    assert statuses[confirmed] == "confirmed"
    assert statuses[rejected] == "rejected"  # and never proposed again under another status
    assert list(statuses.values()).count("rejected") == 1


def test_a_manual_link_is_kept(ctx: Context) -> None:
    result = run_matching(ctx, dry_run=True).result
    assert result.unmatched_transactions and result.unmatched_entries
    txn = result.unmatched_transactions[0].id
    entry = result.unmatched_entries[0].id
    row = link(ctx, txn, [entry])
    assert row.status == "manual"
    run_matching(ctx)
    assert _statuses(ctx)[row.match_key] == "manual"
    with pytest.raises(ValueError, match="already belong"):
        link(ctx, txn, [entry])
