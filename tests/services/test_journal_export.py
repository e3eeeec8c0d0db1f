"""Journal and reimbursement exports over the store: balanced, linked, recorded, not repeated."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session, select

from connectors.amazon_business.models import Transaction
from connectors.sandbox.generator import write_scenario
from connectors.sandbox.scenario import load_scenario
from worker.accounting.rules import PostingRules
from worker.services.context import Context, get_context, use_settings
from worker.services.journal import export_journal
from worker.services.ledger import import_ledger
from worker.services.matching import run_matching
from worker.services.reimbursements import export_reimbursements, list_reimbursements, mark_paid
from worker.services.sync import store_transactions
from worker.settings import load_settings
from worker.store.engine import session_scope
from worker.store.tables import ExportBatchRow, MatchRow

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@dataclass
class Store:
    ctx: Context
    transactions: list[Transaction]
    company_cards: frozenset[str]


@pytest.fixture()
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    paths = write_scenario(tmp_path / "gen", 80, 11)
    cards = frozenset(json.loads(paths["company"].read_text())["company_cards"])
    settings = load_settings(
        database_url=database_url,
        data_dir=tmp_path,
        lwa_refresh_token=f"Atzr|{tmp_path.name}",
        company_cards=cards,
    )
    use_settings(settings)
    ctx = get_context()
    txns = [Transaction.model_validate(t) for t in load_scenario(paths["scenario"]).transactions]
    with session_scope(ctx.engine) as session:
        store_transactions(session, ctx, txns, ctx.clock())
    import_ledger(ctx, paths["ledger"])
    run_matching(ctx)
    yield Store(ctx, txns, cards)
    use_settings(None)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_every_transaction_becomes_one_balanced_entry(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "journal.csv"
    done = export_journal(store.ctx.engine, store.ctx.settings, "csv", out, clock=NOW)
    assert done.problems.count == 0
    rows = read_csv(out)
    entries: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        entries[row["entry_id"]] += Decimal(row["debit"] or 0) - Decimal(row["credit"] or 0)
    assert set(entries) == {f"AB-{t.transaction_id}" for t in store.transactions}
    assert all(balance == 0 for balance in entries.values())
    assert done.result.entries == len(store.transactions) and done.result.lines == len(rows)
    by_txn = {row["transaction_id"]: row["invoice_number"] for row in rows}
    for txn in store.transactions:
        if txn.invoice_number:
            assert txn.invoice_number in by_txn[txn.transaction_id or ""]
    payable = {row["account"] for row in rows if row["account"].startswith("Liabilities:")}
    assert any(a.startswith("Liabilities:CreditCard:") for a in payable)
    assert "Liabilities:AccountsPayable:Amazon" in payable
    assert any(a.startswith("Liabilities:EmployeePayable:") for a in payable)
    with Session(store.ctx.engine) as session:
        batch = session.exec(
            select(ExportBatchRow).where(ExportBatchRow.party == store.ctx.party)
        ).one()
    assert (batch.kind, batch.format, batch.entries) == ("journal", "csv", len(entries))


def test_tolerance_differences_are_posted_to_rounding(store: Store, tmp_path: Path) -> None:
    # The books record three charges a cent off, as card statements sometimes do.
    ledger = tmp_path / "gen" / "ledger.csv"
    rows = read_csv(ledger)
    for row in [r for r in rows if r["card_last4"] and Decimal(r["amount"]) > 10][:3]:
        row["amount"] = str(Decimal(row["amount"]) + Decimal("0.01"))
    with ledger.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    import_ledger(store.ctx, ledger)
    run_matching(store.ctx)
    with Session(store.ctx.engine) as session:
        differences = [
            m.difference
            for m in session.exec(select(MatchRow).where(MatchRow.party == store.ctx.party))
            if m.difference
        ]
    out = tmp_path / "journal.csv"
    export_journal(store.ctx.engine, store.ctx.settings, "csv", out, clock=NOW)
    rounding = [r for r in read_csv(out) if r["account"] == "Expenses:Rounding"]
    assert differences, "the scenario has tolerance matches"
    assert len(rounding) == len(differences)
    posted = sum(
        (Decimal(r["debit"] or 0) - Decimal(r["credit"] or 0) for r in rounding), Decimal(0)
    )
    assert posted == sum(differences, Decimal(0))


def test_same_data_gives_the_same_bytes_and_since_last_writes_only_news(
    store: Store, tmp_path: Path
) -> None:
    engine, settings = store.ctx.engine, store.ctx.settings
    for fmt in ("csv", "beancount"):
        a, b = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
        export_journal(engine, settings, fmt, a, clock=NOW)
        export_journal(engine, settings, fmt, b, clock=NOW)
        assert a.read_bytes() == b.read_bytes()
    first = export_journal(engine, settings, "qbo", tmp_path / "q1.csv", since_last=True)
    assert first.result.entries == len(store.transactions) and first.skipped == 0
    again = export_journal(engine, settings, "qbo", tmp_path / "q2.csv", since_last=True)
    assert again.result.entries == 0 and again.skipped == len(store.transactions)
    assert len(read_csv(tmp_path / "q2.csv")) == 0
    # A new transaction arrives: only it is exported next time.
    new = store.transactions[0].model_copy(update={"transaction_id": "NEW-1"})
    with session_scope(engine) as session:
        store_transactions(session, store.ctx, [new], store.ctx.clock())
    third = export_journal(engine, settings, "qbo", tmp_path / "q3.csv", since_last=True)
    assert third.result.entries == 1
    assert {r["Journal No."] for r in read_csv(tmp_path / "q3.csv")} == {"AB-NEW-1"}
    with Session(engine) as session:
        batches = session.exec(
            select(ExportBatchRow).where(
                ExportBatchRow.format == "qbo", ExportBatchRow.party == store.ctx.party
            )
        ).all()
    assert [b.entries for b in batches] == [len(store.transactions), 0, 1]


def test_window_limits_the_entries(store: Store, tmp_path: Path) -> None:
    dates = sorted(t.transaction_date.date() for t in store.transactions if t.transaction_date)
    middle = dates[len(dates) // 2]
    out = tmp_path / "window.csv"
    export_journal(store.ctx.engine, store.ctx.settings, "csv", out, start=middle, end=middle)
    assert {r["date"] for r in read_csv(out)} == {middle.isoformat()}


def test_failed_export_records_nothing(store: Store, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        export_journal(store.ctx.engine, store.ctx.settings, "csv", tmp_path / "no" / "j.csv")
    with Session(store.ctx.engine) as session:
        assert (
            session.exec(
                select(ExportBatchRow).where(ExportBatchRow.party == store.ctx.party)
            ).all()
            == []
        )


def test_entries_per_match_join_the_transactions_one_ledger_line_recorded(
    store: Store, tmp_path: Path
) -> None:
    out = tmp_path / "grouped.csv"
    done = export_journal(
        store.ctx.engine,
        store.ctx.settings,
        "csv",
        out,
        rules=PostingRules(group_by="match"),
    )
    rows = read_csv(out)
    entries: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        entries[row["entry_id"]] += Decimal(row["debit"] or 0) - Decimal(row["credit"] or 0)
    assert all(v == 0 for v in entries.values())
    assert any(e.startswith("AB-M-") for e in entries)
    assert done.result.entries < len(store.transactions)


def test_reimbursements_total_the_personal_card_purchases(store: Store, tmp_path: Path) -> None:
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for t in store.transactions:
        last4 = t.payment_instrument_last4_digits
        if last4 and last4 not in store.company_cards and t.amount is not None:
            expected[t.payer.id if t.payer else ""] += t.amount.amount
    assert expected, "the scenario has personal-card purchases"
    out = tmp_path / "reimbursements.json"
    done = export_reimbursements(store.ctx.engine, store.ctx.settings, "json", out, clock=NOW)
    document = json.loads(out.read_text())
    got: dict[str, Decimal] = defaultdict(Decimal)
    for record in document["reimbursements"]:
        assert record["status"] == "exported"
        total = sum((Decimal(t["amount"]) for t in record["transactions"]), Decimal(0))
        for t in record["transactions"]:
            lines = t["journal_lines"]
            assert any(x["account"].startswith("Liabilities:EmployeePayable:") for x in lines)
            debits = sum((Decimal(x["debit"] or 0) for x in lines), Decimal(0))
            assert debits == sum((Decimal(x["credit"] or 0) for x in lines), Decimal(0)) > 0
        assert Decimal(record["total"]) == total
        got[record["employee"]["id"]] += total
    assert got == expected
    rows = list_reimbursements(store.ctx.engine, store.ctx.party)
    assert len(rows) == len(done.records) and {r.status for r in rows} == {"exported"}
    paid = mark_paid(store.ctx.engine, store.ctx.party, rows[0].reimbursement_id, NOW)
    assert paid.status == "paid" and paid.paid_total == rows[0].total
    csv_out = tmp_path / "reimbursements.csv"
    export_reimbursements(store.ctx.engine, store.ctx.settings, "csv", csv_out, clock=NOW)
    statuses = {r["reimbursement_id"]: r["status"] for r in read_csv(csv_out)}
    assert statuses[rows[0].reimbursement_id] == "paid"
    with pytest.raises(LookupError, match="no reimbursement"):
        mark_paid(store.ctx.engine, store.ctx.party, "RB-nope", NOW)


def test_datev_since_last_with_nothing_new_writes_no_file(store: Store, tmp_path: Path) -> None:
    from worker.accounting.journal import EmptyExport

    rules = PostingRules(
        default_expense="4980",
        company_card="1800",
        accounts_payable="1600",
        employee_payable="1700",
    )
    engine, settings = store.ctx.engine, store.ctx.settings
    first = tmp_path / "EXTF_1.csv"
    done = export_journal(engine, settings, "datev", first, since_last=True, rules=rules)
    assert done.result.entries == len(store.transactions) and first.exists()
    second = tmp_path / "EXTF_2.csv"
    with pytest.raises(EmptyExport):
        export_journal(engine, settings, "datev", second, since_last=True, rules=rules)
    assert not second.exists()
    with Session(engine) as session:
        batches = session.exec(
            select(ExportBatchRow).where(
                ExportBatchRow.party == store.ctx.party, ExportBatchRow.format == "datev"
            )
        ).all()
    assert [b.entries for b in batches] == [len(store.transactions)]
