"""The durable store: what abrecon knows, keyed by Amazon's natural keys.

Every table carries ``party``: the (application, customer) pair the data belongs to, as
:attr:`worker.settings.Settings.party` names it. Natural keys carry UNIQUE constraints and every
write is an upsert, so any task may run twice without creating a second row. Key columns never
hold NULL (a missing id is the empty string), because SQL treats NULLs as distinct in a UNIQUE
constraint. Money is :class:`~worker.store.types.ExactDecimal`, time
:class:`~worker.store.types.UtcDateTime`. The full wire object Amazon sent is kept in ``raw``, so
nothing Amazon adds is lost.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from worker.store.types import ExactDecimal, UtcDateTime

PARTY = 40
ID = 128


def _money(nullable: bool = True) -> Any:
    return Field(default=None, sa_type=ExactDecimal, nullable=nullable)


def _time(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UtcDateTime, nullable=nullable, index=index)


def _json() -> Any:
    return Field(default=None, sa_type=sa.JSON, nullable=True)


class TransactionRow(SQLModel, table=True):
    """One Amazon payment transaction (a charge, refund or over-refund on one instrument)."""

    __tablename__ = "transactions"
    __table_args__ = (sa.UniqueConstraint("party", "transaction_id"),)

    id: int | None = Field(default=None, primary_key=True)
    party: str = Field(max_length=PARTY, index=True)
    transaction_id: str = Field(max_length=ID)
    transaction_type: str = Field(max_length=32)
    transaction_date: datetime | None = _time(index=True)
    feed_date: datetime | None = _time(index=True)
    amount: Decimal | None = _money()
    currency: str = Field(default="", max_length=3)
    payment_instrument_type: str = Field(default="", max_length=64)
    payment_instrument_last4: str = Field(default="", max_length=8)
    buyer_id: str = Field(default="", max_length=ID)
    buyer_name: str = Field(default="", max_length=256)
    buyer_email: str = Field(default="", max_length=256)
    invoice_number: str = Field(default="", max_length=ID)
    charge_identifier: str = Field(default="", max_length=ID)
    marketplace_id: str = Field(default="", max_length=32)
    raw: dict[str, Any] | None = _json()
    updated_at: datetime | None = _time()


class TransactionLineItemRow(SQLModel, table=True):
    """One line of a transaction: an order line item of one shipment, with its amounts."""

    __tablename__ = "transaction_line_items"
    __table_args__ = (
        sa.UniqueConstraint(
            "party", "transaction_id", "order_id", "order_line_item_id", "shipment_id"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    party: str = Field(max_length=PARTY)
    transaction_id: str = Field(max_length=ID, index=True)
    position: int = 0
    order_id: str = Field(default="", max_length=ID, index=True)
    order_line_item_id: str = Field(default="", max_length=ID)
    shipment_id: str = Field(default="", max_length=ID)
    purchase_order_number: str = Field(default="", max_length=ID)
    asin: str = Field(default="", max_length=32)
    product_title: str = Field(default="", max_length=1024)
    quantity: int | None = None
    total_amount: Decimal | None = _money()
    currency: str = Field(default="", max_length=3)
    raw: dict[str, Any] | None = _json()


class OrderLineItemRow(SQLModel, table=True):
    """A distinct (order, line item, shipment): the unit invoice details are asked for."""

    __tablename__ = "order_line_items"
    __table_args__ = (
        sa.UniqueConstraint("party", "order_id", "order_line_item_id", "shipment_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    party: str = Field(max_length=PARTY)
    order_id: str = Field(max_length=ID)
    order_line_item_id: str = Field(max_length=ID)
    shipment_id: str = Field(max_length=ID)
    #: pending: not asked yet; done: Amazon answered (with or without invoices);
    #: failed: Amazon's answer for its batch was unusable (``error`` says why)
    details_state: str = Field(default="pending", max_length=16, index=True)
    details_fetched_at: datetime | None = _time()
    error: str = Field(default="", max_length=2000)


class InvoiceDetailRow(SQLModel, table=True):
    """An invoice or credit memo Amazon issued for an order line item."""

    __tablename__ = "invoice_details"
    __table_args__ = (
        sa.UniqueConstraint(
            "party", "order_id", "order_line_item_id", "shipment_id", "invoice_number"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    party: str = Field(max_length=PARTY)
    order_id: str = Field(max_length=ID, index=True)
    order_line_item_id: str = Field(max_length=ID)
    shipment_id: str = Field(max_length=ID)
    invoice_number: str = Field(max_length=ID, index=True)
    invoice_type: str = Field(default="STANDARD", max_length=32)
    invoice_date: datetime | None = _time()
    consolidated_invoice_number: str = Field(default="", max_length=ID)
    raw: dict[str, Any] | None = _json()


class OrderRow(SQLModel, table=True):
    """An order from the Reporting API (needs the Amazon Business Analytics role)."""

    __tablename__ = "orders"
    __table_args__ = (sa.UniqueConstraint("party", "order_id"),)

    id: int | None = Field(default=None, primary_key=True)
    party: str = Field(max_length=PARTY)
    order_id: str = Field(max_length=ID)
    #: pending: seen on a transaction, not fetched yet; done: fetched; missing: Amazon has none
    fetch_state: str = Field(default="pending", max_length=16, index=True)
    order_date: datetime | None = _time()
    order_status: str = Field(default="", max_length=64)
    purchase_order_number: str = Field(default="", max_length=ID)
    buyer_group_name: str = Field(default="", max_length=256)
    net_total: Decimal | None = _money()
    currency: str = Field(default="", max_length=3)
    raw: dict[str, Any] | None = _json()
    fetched_at: datetime | None = _time()
    error: str = Field(default="", max_length=2000)


class DocumentRow(SQLModel, table=True):
    """An invoice or credit-memo PDF abrecon wants, and where it stands.

    ``state``: pending (to request), requested (a report is in flight), done (PDF stored),
    unavailable (Amazon could not produce it after the allowed attempts; ``last_error`` says why).
    ``options_key`` is the canonical JSON of the createReport ``reportOptions``: one document per
    distinct request, per party.
    """

    __tablename__ = "documents"
    __table_args__ = (sa.UniqueConstraint("party", "options_key"),)

    id: int | None = Field(default=None, primary_key=True)
    party: str = Field(max_length=PARTY, index=True)
    options_key: str = Field(max_length=512)
    invoice_number: str = Field(max_length=ID, index=True)
    document_type: str = Field(default="Invoice", max_length=16)
    state: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    not_before: datetime | None = _time()
    last_error: str = Field(default="", max_length=2000)
    pdf_sha256: str = Field(default="", max_length=64)
    pdf_path: str = Field(default="", max_length=1024)
    pdf_bytes: int | None = None
    pdf_pages: int | None = None
    downloaded_at: datetime | None = _time()
    created_at: datetime | None = _time()


class ReportRow(SQLModel, table=True):
    """One createReport call, recorded *before* it is sent.

    ``state``: sending (recorded, outcome unknown until Amazon's answer is stored), requested
    (Amazon gave ``report_id``), then the terminal ``processing_status`` Amazon reported, or
    ``unsent`` when it is certain Amazon never received the request. A ``sending`` row left by a
    crash is resolved by listing Amazon's reports (createReport calls of a party are serialised,
    so an unclaimed report created after ``sent_at`` is this one).
    """

    __tablename__ = "reports"
    __table_args__ = (sa.UniqueConstraint("party", "report_id"),)

    id: int | None = Field(default=None, primary_key=True)
    party: str = Field(max_length=PARTY, index=True)
    document_id: int = Field(foreign_key="documents.id", index=True)
    report_id: str | None = Field(default=None, max_length=ID)
    state: str = Field(default="sending", max_length=16, index=True)
    processing_status: str = Field(default="", max_length=16)
    report_document_id: str = Field(default="", max_length=ID)
    sent_at: datetime | None = _time()
    next_poll_at: datetime | None = _time()
    polls: int = 0
    finished_at: datetime | None = _time()
    reason: str = Field(default="", max_length=2000)


class JobRow(SQLModel, table=True):
    """A reconciliation job: a feed-date window taken through its stages."""

    __tablename__ = "jobs"

    id: int | None = Field(default=None, primary_key=True)
    party: str = Field(max_length=PARTY, index=True)
    kind: str = Field(default="run", max_length=16)
    window_start: datetime = Field(sa_type=UtcDateTime)
    window_end: datetime = Field(sa_type=UtcDateTime)
    status: str = Field(default="running", max_length=16, index=True)
    created_at: datetime | None = _time()
    finished_at: datetime | None = _time()
    error: str = Field(default="", max_length=4000)


class JobStageRow(SQLModel, table=True):
    """One stage of a job, with its counts, errors and timings.

    ``seq`` is the stage's task generation: a task message carries the ``seq`` it was sent
    with and claims the stage by advancing it, so a duplicate or stale message does nothing.
    ``due_at`` is when the next task should have run: the sweep re-enqueues running stages
    that are overdue (a lost message, a flushed Redis).
    """

    __tablename__ = "job_stages"
    __table_args__ = (sa.UniqueConstraint("job_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="jobs.id", index=True)
    name: str = Field(max_length=32)
    position: int = 0
    status: str = Field(default="pending", max_length=16, index=True)
    seq: int = 0
    due_at: datetime | None = _time(index=True)
    started_at: datetime | None = _time()
    finished_at: datetime | None = _time()
    total: int | None = None
    done: int = 0
    counts: dict[str, Any] | None = _json()
    errors: list[dict[str, Any]] | None = _json()


class SyncCursorRow(SQLModel, table=True):
    """Where the transaction sync of one window of a job stands: the page token to resume."""

    __tablename__ = "sync_cursors"
    __table_args__ = (sa.UniqueConstraint("job_id", "window_start"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="jobs.id", index=True)
    party: str = Field(max_length=PARTY)
    window_start: datetime = Field(sa_type=UtcDateTime)
    window_end: datetime = Field(sa_type=UtcDateTime)
    next_page_token: str | None = Field(default=None, max_length=4096)
    pages: int = 0
    transactions: int = 0
    done: bool = False
    #: consecutive failures of the current page; past the limit the window is given up
    failures: int = 0
    error: str = Field(default="", max_length=2000)


class HighWaterMarkRow(SQLModel, table=True):
    """The newest feed date a party's incremental sync has covered."""

    __tablename__ = "high_water_marks"
    __table_args__ = (sa.UniqueConstraint("party", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    party: str = Field(max_length=PARTY)
    name: str = Field(default="transactions", max_length=32)
    covered_until: datetime = Field(sa_type=UtcDateTime)


class LeaseRow(SQLModel, table=True):
    """A named, expiring lease held by one worker (e.g. a party's createReport slot)."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=128)
    holder: str = Field(max_length=128)
    expires_at: datetime = Field(sa_type=UtcDateTime)


class LedgerImportRow(SQLModel, table=True):
    """One import of a ledger file: what it held and what it changed."""

    __tablename__ = "ledger_imports"

    id: int | None = Field(default=None, primary_key=True)
    party: str = Field(max_length=PARTY, index=True)
    file_name: str = Field(max_length=1024)
    sha256: str = Field(max_length=64)
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    imported_at: datetime | None = _time()


class LedgerEntryRow(SQLModel, table=True):
    """A line of the company's books (a card statement line, an AP posting...)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (sa.UniqueConstraint("party", "entry_id"),)

    id: int | None = Field(default=None, primary_key=True)
    party: str = Field(max_length=PARTY, index=True)
    entry_id: str = Field(max_length=ID)
    posted_date: date = Field(sa_type=sa.Date)
    amount: Decimal = Field(sa_type=ExactDecimal)
    currency: str = Field(max_length=3)
    description: str = Field(default="", max_length=2000)
    reference: str = Field(default="", max_length=512)
    card_last4: str = Field(default="", max_length=8)
    content_hash: str = Field(max_length=64)
    import_id: int | None = Field(default=None, foreign_key="ledger_imports.id")
    source_line: int | None = None
    updated_at: datetime | None = _time()


class LedgerEntryHistoryRow(SQLModel, table=True):
    """A previous version of a ledger entry that a later import changed."""

    __tablename__ = "ledger_entry_history"

    id: int | None = Field(default=None, primary_key=True)
    party: str = Field(max_length=PARTY, index=True)
    entry_id: str = Field(max_length=ID, index=True)
    import_id: int | None = Field(default=None, foreign_key="ledger_imports.id")
    previous: dict[str, Any] | None = _json()
    changed_at: datetime | None = _time()


class MatchRow(SQLModel, table=True):
    """A match between Amazon transactions and ledger lines.

    ``status``: auto (score at or above the auto threshold), review (needs a person),
    confirmed (a person agreed), manual (a person linked it), rejected (a person refused it; its
    pairs are never proposed again). ``match_key`` is derived from the members, so matching the
    same data again finds the same rows.
    """

    __tablename__ = "matches"
    __table_args__ = (sa.UniqueConstraint("party", "match_key"),)

    id: int | None = Field(default=None, primary_key=True)
    party: str = Field(max_length=PARTY, index=True)
    match_key: str = Field(max_length=64)
    rule: str = Field(max_length=64)
    score: float = 0.0
    status: str = Field(default="review", max_length=16, index=True)
    explanation: str = Field(default="", max_length=2000)
    difference: Decimal | None = _money()
    currency: str = Field(default="", max_length=3)
    created_at: datetime | None = _time()
    decided_at: datetime | None = _time()


class MatchLinkRow(SQLModel, table=True):
    """One (transaction, ledger line) pair of a match."""

    __tablename__ = "match_links"
    __table_args__ = (sa.UniqueConstraint("match_id", "transaction_id", "ledger_entry_id"),)

    id: int | None = Field(default=None, primary_key=True)
    match_id: int = Field(foreign_key="matches.id", index=True)
    party: str = Field(max_length=PARTY, index=True)
    transaction_id: str = Field(max_length=ID, index=True)
    ledger_entry_id: str = Field(max_length=ID, index=True)


class ExportBatchRow(SQLModel, table=True):
    """One export: what was written where, so that the next ``--since-last`` writes only news.

    ``kind`` is journal or reimbursements; ``format`` the file format; ``entries`` the journal
    entries (or reimbursement records) it held and ``sha256`` the digest of its file(s).
    """

    __tablename__ = "export_batches"

    id: int | None = Field(default=None, primary_key=True)
    party: str = Field(max_length=PARTY, index=True)
    kind: str = Field(max_length=32)
    format: str = Field(max_length=32)
    path: str = Field(max_length=1024)
    files: int = 1
    since_last: bool = False
    window_start: date | None = Field(default=None, sa_type=sa.Date, nullable=True)
    window_end: date | None = Field(default=None, sa_type=sa.Date, nullable=True)
    entries: int = 0
    lines: int = 0
    sha256: str = Field(default="", max_length=64)
    created_at: datetime | None = _time()


class ExportedEntryRow(SQLModel, table=True):
    """A journal entry (or reimbursement) written by an export in one format: the first batch."""

    __tablename__ = "exported_entries"
    __table_args__ = (sa.UniqueConstraint("party", "kind", "format", "entry_id"),)

    id: int | None = Field(default=None, primary_key=True)
    party: str = Field(max_length=PARTY)
    kind: str = Field(max_length=32)
    format: str = Field(max_length=32)
    entry_id: str = Field(max_length=ID)
    batch_id: int = Field(foreign_key="export_batches.id", index=True)


class ReimbursementRow(SQLModel, table=True):
    """An employee's reimbursement for one period and currency, and where it stands.

    ``status``: open (owed, not exported yet), exported (written to a reimbursement export),
    paid (a person marked it paid with ``abrecon reimbursements paid``). ``total`` and
    ``transactions`` are refreshed whenever reimbursements are computed; a paid one keeps the
    total it was paid at in ``paid_total``, so a late refund shows as a difference.
    """

    __tablename__ = "reimbursements"
    __table_args__ = (sa.UniqueConstraint("party", "reimbursement_id"),)

    id: int | None = Field(default=None, primary_key=True)
    party: str = Field(max_length=PARTY, index=True)
    reimbursement_id: str = Field(max_length=ID)
    employee_id: str = Field(default="", max_length=ID)
    employee_name: str = Field(default="", max_length=256)
    employee_email: str = Field(default="", max_length=256)
    period_start: date = Field(sa_type=sa.Date)
    period_end: date = Field(sa_type=sa.Date)
    currency: str = Field(max_length=3)
    total: Decimal = Field(sa_type=ExactDecimal)
    transactions: int = 0
    status: str = Field(default="open", max_length=16, index=True)
    exported_at: datetime | None = _time()
    paid_at: datetime | None = _time()
    paid_total: Decimal | None = _money()
    updated_at: datetime | None = _time()
