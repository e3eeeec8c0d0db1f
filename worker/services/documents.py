"""Invoice and credit-memo PDFs through the Document API: create -> poll -> download.

Amazon allows about one createReport a minute (burst 15) per party, and a report takes a while,
so a step here never waits: it resolves, polls, downloads and creates what it can right now and
says when the next step is due.

Exactly one createReport per document, whatever crashes: before a createReport is sent, a
:class:`ReportRow` in state ``sending`` is committed, and the answer's ``reportId`` is committed
the moment it arrives. A ``sending`` row found later (the worker died in between, or the answer
was lost) is never sent again: it is resolved by listing the party's reports created since
``sent_at`` and claiming the one no other row knows. That is sound because a party's
createReport calls are serialised (one lease per party, one ``sending`` row at a time). When no
such report appears within ``ABRECON_REPORT_RESOLVE_SECONDS``, Amazon never received the request.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from pypdf import PdfReader
from sqlmodel import Session, col, func, select

from connectors.amazon_business.errors import (
    ApiError,
    DocumentUrlExpiredError,
    DownloadError,
    RateLimitWaitError,
    RetryableError,
    ThrottledError,
)
from connectors.amazon_business.models import ProcessingStatus
from worker.services.context import Context
from worker.services.jobs import StepOutcome, record_error, update_progress
from worker.services.leases import acquire_lease, release_lease
from worker.store.engine import session_scope
from worker.store.tables import (
    DocumentRow,
    InvoiceDetailRow,
    ReportRow,
    TransactionLineItemRow,
    TransactionRow,
)
from worker.store.upsert import upsert

REPORT_TYPE = "GET_AB_INVOICE_PDF"
CLOCK_SKEW = timedelta(minutes=5)
POLLS_PER_STEP = 10
STEP_BUDGET_SECONDS = 20.0
MAX_COUNTDOWN = 60.0


class InvalidDocument(ValueError):
    """The downloaded bytes are not the PDF of the invoice asked for."""


def options_key(invoice_number: str, document_type: str) -> str:
    """The canonical createReport ``reportOptions`` of a document, as stored."""
    return json.dumps(
        {"documentType": document_type, "invoiceId": invoice_number},
        sort_keys=True,
        separators=(",", ":"),
    )


def plan_documents(session: Session, ctx: Context, now: datetime) -> int:
    """Add a pending document for every invoice and credit memo known without one."""
    party = ctx.party
    wanted: dict[str, str] = {}
    for number, kind in session.exec(
        select(InvoiceDetailRow.invoice_number, InvoiceDetailRow.invoice_type).where(
            InvoiceDetailRow.party == party
        )
    ).all():
        wanted[number] = "Credits" if kind == "CREDIT_MEMO" else "Invoice"
    for number, kind in session.exec(
        select(TransactionRow.invoice_number, TransactionRow.transaction_type).where(
            TransactionRow.party == party, TransactionRow.invoice_number != ""
        )
    ).all():
        wanted.setdefault(number, "Invoice" if kind == "CHARGE" else "Credits")
    if ctx.settings.pay_by_invoice_documents_only:
        wanted = {n: k for n, k in wanted.items() if n in _pay_by_invoice_numbers(session, party)}
    rows = [
        {
            "party": party,
            "options_key": options_key(number, kind),
            "invoice_number": number,
            "document_type": kind,
            "state": "pending",
            "created_at": now,
        }
        for number, kind in sorted(wanted.items())
    ]
    upsert(session, DocumentRow, rows, key=("party", "options_key"), update=())
    return len(rows)


def _pay_by_invoice_numbers(session: Session, party: str) -> set[str]:
    """Invoice numbers of pay-by-invoice purchases (the only PDFs Amazon offers in NA)."""
    by_invoice = func.lower(TransactionRow.payment_instrument_type).contains("invoice")
    numbers = set(
        session.exec(
            select(TransactionRow.invoice_number).where(TransactionRow.party == party, by_invoice)
        ).all()
    )
    line = TransactionLineItemRow
    detail = InvoiceDetailRow
    numbers |= set(
        session.exec(
            select(detail.invoice_number)
            .join(
                line,
                sa.and_(
                    col(line.party) == col(detail.party),
                    col(line.order_id) == col(detail.order_id),
                    col(line.order_line_item_id) == col(detail.order_line_item_id),
                    col(line.shipment_id) == col(detail.shipment_id),
                ),
            )
            .join(
                TransactionRow,
                sa.and_(
                    col(TransactionRow.party) == col(line.party),
                    col(TransactionRow.transaction_id) == col(line.transaction_id),
                ),
            )
            .where(detail.party == party, by_invoice)
        ).all()
    )
    return numbers


def documents_step(ctx: Context, job_id: int) -> StepOutcome:
    """One pass of the lifecycle for the party; finished when every document is settled."""
    lease = _lease_name(ctx)
    if not acquire_lease(ctx.engine, lease, ctx.clock(), ctx.settings.lease_seconds):
        return StepOutcome(finished=False, countdown=5.0)
    try:
        with session_scope(ctx.engine) as session:
            plan_documents(session, ctx, ctx.clock())
        started = ctx.clock()
        waits = [_resolve_sending(ctx, job_id)]
        waits.append(_poll_requested(ctx, job_id, started))
        waits.append(_create_reports(ctx, job_id, started))
        waits.append(_next_poll_wait(ctx))
        with session_scope(ctx.engine) as session:
            _progress(session, ctx, job_id)
            unsettled = session.exec(
                select(func.count())
                .select_from(DocumentRow)
                .where(
                    DocumentRow.party == ctx.party,
                    col(DocumentRow.state).in_(("pending", "requested")),
                )
            ).one()
        if not unsettled:
            return StepOutcome(finished=True)
        due = [w for w in waits if w is not None]
        countdown = min(due) if due else MAX_COUNTDOWN
        return StepOutcome(finished=False, countdown=max(0.2, min(countdown, MAX_COUNTDOWN)))
    finally:
        release_lease(ctx.engine, lease)


def _lease_name(ctx: Context) -> str:
    """The lease that serialises a party's document work (its createReport calls above all)."""
    return f"documents:{ctx.party}"


def _resolve_sending(ctx: Context, job_id: int) -> float | None:
    """Settle a createReport whose answer was never stored; the wait before trying again."""
    now = ctx.clock()
    with Session(ctx.engine) as session:
        sending = session.exec(
            select(ReportRow)
            .where(ReportRow.party == ctx.party, ReportRow.state == "sending")
            .order_by(col(ReportRow.id))
        ).all()
        if not sending:
            return None
        claimed = set(
            session.exec(
                select(ReportRow.report_id).where(
                    ReportRow.party == ctx.party, col(ReportRow.report_id).is_not(None)
                )
            ).all()
        )
    earliest = min(r.sent_at for r in sending if r.sent_at) - CLOCK_SKEW
    candidates = sorted(
        (
            r
            for r in ctx.client.documents.iter_reports(created_since=earliest)
            if r.report_type == REPORT_TYPE and r.report_id not in claimed
        ),
        key=lambda r: (r.created_time, r.report_id),
    )
    for row in sending:
        assert row.id is not None and row.sent_at is not None
        if candidates:
            report = candidates.pop(0)
            with session_scope(ctx.engine) as session:
                stored = session.get(ReportRow, row.id)
                assert stored is not None
                stored.report_id = report.report_id
                stored.state = "requested"
                stored.next_poll_at = now
                session.add(stored)
            record_error(
                ctx.engine,
                job_id,
                "documents",
                f"createReport answer was lost; found report {report.report_id}",
                now,
            )
        elif (now - row.sent_at).total_seconds() > ctx.settings.report_resolve_seconds:
            with session_scope(ctx.engine) as session:
                stored = session.get(ReportRow, row.id)
                document = session.get(DocumentRow, row.document_id)
                assert stored is not None and document is not None
                stored.state = "unsent"
                stored.reason = "Amazon never received this createReport"
                document.state = "pending"
                session.add(stored)
                session.add(document)
        else:
            return 10.0
    return 0.0


def _poll_requested(ctx: Context, job_id: int, started: datetime) -> float | None:
    """Check reports that are due; download the finished ones. The wait to the next poll."""
    with Session(ctx.engine) as session:
        rows = session.exec(
            select(ReportRow)
            .where(ReportRow.party == ctx.party, ReportRow.state == "requested")
            .order_by(col(ReportRow.next_poll_at), col(ReportRow.id))
        ).all()
    next_due: float | None = None
    polled = 0
    for row in rows:
        now = ctx.clock()
        assert row.id is not None and row.report_id is not None
        if row.next_poll_at and row.next_poll_at > now:
            wait = (row.next_poll_at - now).total_seconds()
            next_due = wait if next_due is None else min(next_due, wait)
            continue
        if polled >= POLLS_PER_STEP or (now - started).total_seconds() > STEP_BUDGET_SECONDS:
            return 0.0
        polled += 1
        try:
            report = ctx.client.documents.get_report(row.report_id)
        except RateLimitWaitError as exc:
            return exc.retry_after
        status = report.processing_status
        if status is ProcessingStatus.DONE and report.report_document_id:
            _download(ctx, job_id, row, report.report_document_id)
        elif status in (ProcessingStatus.CANCELLED, ProcessingStatus.FATAL):
            _report_failed(ctx, job_id, row, status.value)
        else:
            delay = min(30.0, 1.0 * (1.5 ** min(row.polls, 10)))
            with session_scope(ctx.engine) as session:
                stored = session.get(ReportRow, row.id)
                assert stored is not None
                stored.processing_status = status.value
                stored.polls += 1
                stored.next_poll_at = now + timedelta(seconds=delay)
                session.add(stored)
            next_due = delay if next_due is None else min(next_due, delay)
    return next_due


def _next_poll_wait(ctx: Context) -> float | None:
    """Seconds until the earliest report in flight is due for a poll."""
    with Session(ctx.engine) as session:
        due = session.exec(
            select(func.min(ReportRow.next_poll_at)).where(
                ReportRow.party == ctx.party, ReportRow.state == "requested"
            )
        ).one()
    return None if due is None else max(0.0, (due - ctx.clock()).total_seconds())


def _download(ctx: Context, job_id: int, row: ReportRow, report_document_id: str) -> None:
    now = ctx.clock()
    with Session(ctx.engine) as session:
        document = session.get(DocumentRow, row.document_id)
    assert document is not None and row.id is not None
    try:
        reference = ctx.client.documents.get_report_document(report_document_id)
        pdf = ctx.client.documents.download(reference)
        pages = check_pdf(pdf, document.invoice_number)
    except DocumentUrlExpiredError:
        return  # the next poll asks getReportDocument for a fresh URL
    except RetryableError:
        raise
    except (DownloadError, InvalidDocument, ApiError) as exc:
        reason = f"document {document.invoice_number}: {exc}"
        with session_scope(ctx.engine) as session:
            stored_report = session.get(ReportRow, row.id)
            stored_doc = session.get(DocumentRow, row.document_id)
            assert stored_report is not None and stored_doc is not None
            stored_report.state = "invalid"
            stored_report.reason = str(exc)[:2000]
            stored_report.finished_at = now
            stored_doc.state = "unavailable"
            stored_doc.last_error = reason[:2000]
            session.add(stored_report)
            session.add(stored_doc)
        record_error(ctx.engine, job_id, "documents", reason, now)
        return
    digest = hashlib.sha256(pdf).hexdigest()
    path = store_pdf(ctx.documents_dir, digest, pdf)
    with session_scope(ctx.engine) as session:
        stored_report = session.get(ReportRow, row.id)
        stored_doc = session.get(DocumentRow, row.document_id)
        assert stored_report is not None and stored_doc is not None
        stored_report.state = "DONE"
        stored_report.processing_status = "DONE"
        stored_report.report_document_id = report_document_id
        stored_report.finished_at = now
        stored_doc.state = "done"
        stored_doc.pdf_sha256 = digest
        stored_doc.pdf_path = str(path)
        stored_doc.pdf_bytes = len(pdf)
        stored_doc.pdf_pages = pages
        stored_doc.downloaded_at = now
        stored_doc.last_error = ""
        session.add(stored_report)
        session.add(stored_doc)


def _report_failed(ctx: Context, job_id: int, row: ReportRow, status: str) -> None:
    """CANCELLED (no data, or cancelled) or FATAL: try again later, a bounded number of times."""
    now = ctx.clock()
    limit = ctx.settings.document_max_attempts
    with session_scope(ctx.engine) as session:
        stored_report = session.get(ReportRow, row.id)
        document = session.get(DocumentRow, row.document_id)
        assert stored_report is not None and document is not None
        stored_report.state = status
        stored_report.processing_status = status
        stored_report.finished_at = now
        stored_report.reason = (
            "Amazon cancelled the report (no data to return, or cancelled)"
            if status == "CANCELLED"
            else "Amazon aborted the report (FATAL)"
        )
        document.attempts += 1
        if document.attempts >= limit:
            document.state = "unavailable"
            document.last_error = (
                f"{document.attempts} report(s) ended without a document; last: {status}"
            )
        else:
            document.state = "pending"
            document.not_before = now + timedelta(minutes=2**document.attempts)
            document.last_error = f"report {stored_report.report_id} ended {status}; will retry"
        reason = f"document {document.invoice_number}: {document.last_error}"
        session.add(stored_report)
        session.add(document)
    record_error(ctx.engine, job_id, "documents", reason, now)


def _create_reports(ctx: Context, job_id: int, started: datetime) -> float | None:
    """Send createReport for pending documents while the usage plan allows it now."""
    while True:
        now = ctx.clock()
        if (now - started).total_seconds() > STEP_BUDGET_SECONDS:
            return 0.0
        # A step may outlast its lease (slow answers, a short ABRECON_LEASE_SECONDS), and then
        # another worker's step takes the lease over: renew it before each request and stop
        # if it is gone, or two steps would pick the same pending document and request it twice.
        if not acquire_lease(ctx.engine, _lease_name(ctx), now, ctx.settings.lease_seconds):
            return 5.0
        with session_scope(ctx.engine) as session:
            if (
                session.exec(
                    select(ReportRow.id).where(
                        ReportRow.party == ctx.party, ReportRow.state == "sending"
                    )
                ).first()
                is not None
            ):
                return 10.0  # an unresolved request: nothing new until it is settled
            document = session.exec(
                select(DocumentRow)
                .where(
                    DocumentRow.party == ctx.party,
                    DocumentRow.state == "pending",
                    sa.or_(
                        col(DocumentRow.not_before).is_(None),
                        col(DocumentRow.not_before) <= now,
                    ),
                )
                .order_by(col(DocumentRow.id))
            ).first()
            if document is None:
                waiting = session.exec(
                    select(func.min(DocumentRow.not_before)).where(
                        DocumentRow.party == ctx.party, DocumentRow.state == "pending"
                    )
                ).one()
                return (waiting - now).total_seconds() if waiting else None
            assert document.id is not None
            report = ReportRow(
                party=ctx.party, document_id=document.id, state="sending", sent_at=now
            )
            document.state = "requested"
            session.add(report)
            session.add(document)
            session.flush()
            report_row_id, document_id = report.id, document.id
            options = json.loads(document.options_key)
        try:
            report_id = ctx.client.documents.create_report(options)
        except (RateLimitWaitError, ThrottledError) as exc:
            _unsend(ctx, report_row_id, document_id)  # certain: Amazon did not take it
            return exc.retry_after
        except RetryableError:
            return 10.0  # outcome unknown: left 'sending' and resolved by listing reports
        except ApiError as exc:
            _rejected(ctx, job_id, report_row_id, document_id, exc)
            continue
        with session_scope(ctx.engine) as session:
            stored = session.get(ReportRow, report_row_id)
            assert stored is not None
            stored.report_id = report_id
            stored.state = "requested"
            stored.next_poll_at = ctx.clock() + timedelta(seconds=1)
            session.add(stored)


def _unsend(ctx: Context, report_row_id: int | None, document_id: int | None) -> None:
    with session_scope(ctx.engine) as session:
        session.execute(sa.delete(ReportRow).where(col(ReportRow.id) == report_row_id))
        document = session.get(DocumentRow, document_id)
        assert document is not None
        document.state = "pending"
        session.add(document)


def _rejected(
    ctx: Context, job_id: int, report_row_id: int | None, document_id: int | None, exc: ApiError
) -> None:
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        report = session.get(ReportRow, report_row_id)
        document = session.get(DocumentRow, document_id)
        assert report is not None and document is not None
        report.state = "rejected"
        report.reason = str(exc)[:2000]
        report.finished_at = now
        document.state = "unavailable"
        document.last_error = f"Amazon refused the request: {exc}"[:2000]
        session.add(report)
        session.add(document)
        invoice = document.invoice_number
    record_error(ctx.engine, job_id, "documents", f"document {invoice}: {exc}", now)


def _progress(session: Session, ctx: Context, job_id: int) -> None:
    counts = dict(
        session.exec(
            select(DocumentRow.state, func.count())
            .where(DocumentRow.party == ctx.party)
            .group_by(DocumentRow.state)
        ).all()
    )
    total = sum(counts.values())
    settled = counts.get("done", 0) + counts.get("unavailable", 0)
    row_counts = {"done": counts.get("done", 0), "unavailable": counts.get("unavailable", 0)}
    update_progress(session, job_id, "documents", done=settled, total=total)
    from worker.services.jobs import _stage

    stage = _stage(session, job_id, "documents")
    stage.counts = {**(stage.counts or {}), **row_counts}
    session.add(stage)


def check_pdf(data: bytes, invoice_number: str) -> int:
    """The page count of ``data`` if it is the PDF of ``invoice_number``; else InvalidDocument."""
    if not data.startswith(b"%PDF-"):
        raise InvalidDocument("the document is not a PDF")
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = len(reader.pages)
        text = "".join((page.extract_text() or "") for page in reader.pages)
    except Exception as exc:  # pypdf raises many kinds on a damaged file
        raise InvalidDocument(f"the PDF cannot be read ({type(exc).__name__})") from None
    if pages < 1:
        raise InvalidDocument("the PDF has no pages")
    if invoice_number not in text:
        raise InvalidDocument(f"the PDF does not show invoice number {invoice_number}")
    return pages


def store_pdf(folder: Path, digest: str, data: bytes) -> Path:
    """Write ``data`` under its content hash, atomically; an existing copy is kept."""
    path = folder / digest[:2] / f"{digest}.pdf"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)
    return path
