"""Invoice PDFs out of the store: downloads and archives over a real store and real PDFs.

The store is the SQLite file or PostgreSQL database of ``database_url``; every PDF is rendered
by the sandbox's PDF writer and stored by the documents service's own ``store_pdf``, the way a
finished download leaves it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session, select

from connectors.sandbox.pdf import InvoiceDocument, InvoiceLine, render_invoice_pdf
from worker.services.context import Context, build_context
from worker.services.documents import options_key, store_pdf
from worker.services.pdf_files import (
    MANIFEST_COLUMNS,
    MANIFEST_NAME,
    DamagedArchiveError,
    UnknownInvoiceError,
    document_file_name,
    download_documents,
    fetch_job,
    plan_archive,
    safe_stem,
    wait_for_documents,
    write_archive,
)
from worker.settings import load_settings
from worker.store.engine import session_scope
from worker.store.tables import (
    DocumentRow,
    InvoiceDetailRow,
    JobRow,
    TransactionLineItemRow,
    TransactionRow,
)


@pytest.fixture()
def ctx(database_url: str, tmp_path: Path) -> Iterator[Context]:
    """A context of a party of the test's own (PostgreSQL tests of the module share a db)."""
    settings = load_settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        lwa_client_id="pdf-files-test",
        lwa_refresh_token=f"Atzr|{uuid.uuid4().hex}",
        document_scope="all",
    )
    context = build_context(settings)
    yield context


@dataclass(frozen=True)
class Stored:
    """A document put in the store by :func:`add_document`."""

    number: str
    kind: str
    pdf: bytes
    path: Path

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.pdf).hexdigest()


def add_document(
    ctx: Context,
    number: str,
    *,
    kind: str = "Invoice",
    invoice_date: date | None = date(2025, 2, 10),
    transaction_date: datetime | None = None,
    transaction_id: str = "",
    carries_number: bool = True,
    order_id: str = "111-0000000-0000001",
    state: str = "done",
    reason: str = "",
) -> Stored:
    """An invoice (or credit memo) with its details, its transaction and, when done, its PDF."""
    pdf = render_invoice_pdf(
        InvoiceDocument(
            invoice_number=number,
            invoice_date=invoice_date or date(2025, 1, 1),
            document_type=kind,
            order_id=order_id,
            seller="Example Supplies LLC",
            buyer="Acme Corp",
            currency="USD",
            lines=(InvoiceLine("Printer paper", 2, Decimal("10.00"), Decimal("20.00")),),
            total=Decimal("20.00"),
        )
    )
    digest = hashlib.sha256(pdf).hexdigest()
    path = store_pdf(ctx.documents_dir, digest, pdf) if state == "done" else Path()
    credit = kind == "Credits"
    transaction_id = transaction_id or f"T-{number}"
    with session_scope(ctx.engine) as session:
        session.add(
            DocumentRow(
                party=ctx.party,
                options_key=options_key(number, kind),
                invoice_number=number,
                document_type=kind,
                state=state,
                last_error=reason,
                pdf_sha256=digest if state == "done" else "",
                pdf_path=str(path) if state == "done" else "",
                pdf_bytes=len(pdf) if state == "done" else None,
                pdf_pages=1 if state == "done" else None,
            )
        )
        if invoice_date is not None:
            session.add(
                InvoiceDetailRow(
                    party=ctx.party,
                    order_id=order_id,
                    order_line_item_id=f"L-{order_id}",
                    shipment_id="S-1",
                    invoice_number=number,
                    invoice_type="CREDIT_MEMO" if credit else "STANDARD",
                    invoice_date=datetime.combine(invoice_date, datetime.min.time(), UTC).replace(
                        hour=17
                    ),
                )
            )
        session.add(
            TransactionRow(
                party=ctx.party,
                transaction_id=transaction_id,
                transaction_type="REFUND" if credit else "CHARGE",
                transaction_date=transaction_date or datetime(2025, 2, 11, 9, 30, tzinfo=UTC),
                amount=Decimal("-20.00") if credit else Decimal("20.00"),
                currency="USD",
                invoice_number=number if carries_number else "",
            )
        )
        session.add(
            TransactionLineItemRow(
                party=ctx.party,
                transaction_id=transaction_id,
                order_id=order_id,
                order_line_item_id=f"L-{order_id}",
                shipment_id="S-1",
            )
        )
    return Stored(number, kind, pdf, path)


def _row(ctx: Context, number: str) -> DocumentRow:
    with Session(ctx.engine) as session:
        return session.exec(
            select(DocumentRow).where(
                DocumentRow.party == ctx.party, DocumentRow.invoice_number == number
            )
        ).one()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


# -- file names ---------------------------------------------------------------------------------


def test_file_names_are_safe_deterministic_and_distinct() -> None:
    assert document_file_name("EXPT-UZJD-7HPG", "Invoice") == "EXPT-UZJD-7HPG.pdf"
    assert document_file_name("EXPT-UZJD-7HPG", "Credits") == "EXPT-UZJD-7HPG-credit-memo.pdf"
    changed = safe_stem("A/B")
    assert changed.startswith("A_B-") and changed == safe_stem("A/B")
    assert changed != safe_stem("A_B") == "A_B"
    for hostile in ("../../etc/passwd", ".hidden", "-rf", "a b:c*?", ""):
        stem = safe_stem(hostile)
        assert stem and "/" not in stem and not stem.startswith((".", "-")), stem


# -- download -----------------------------------------------------------------------------------


def test_download_copies_the_stored_bytes_under_their_names(ctx: Context, tmp_path: Path) -> None:
    invoice = add_document(ctx, "INV-100")
    memo = add_document(ctx, "CM-200", kind="Credits", order_id="111-0000000-0000002")
    out = tmp_path / "out" / "nested"

    result = download_documents(ctx, ["INV-100", "CM-200", "INV-100"], out)

    assert result.not_copied == [] and result.fetched == []
    assert sorted(p.name for p in out.iterdir()) == ["CM-200-credit-memo.pdf", "INV-100.pdf"]
    assert (out / "INV-100.pdf").read_bytes() == invoice.pdf
    assert (out / "CM-200-credit-memo.pdf").read_bytes() == memo.pdf
    assert [c.size for c in result.copied] == [len(invoice.pdf), len(memo.pdf)]
    # Again: the same files, replaced whole.
    download_documents(ctx, ["INV-100"], out)
    assert (out / "INV-100.pdf").read_bytes() == invoice.pdf
    assert _leftovers(out) == []


def test_an_unknown_invoice_number_is_named_and_nothing_is_written(
    ctx: Context, tmp_path: Path
) -> None:
    add_document(ctx, "INV-100")
    out = tmp_path / "out"
    with pytest.raises(UnknownInvoiceError) as caught:
        download_documents(ctx, ["INV-100", "NOPE-1", "NOPE-2"], out)
    message = str(caught.value)
    assert "NOPE-1" in message and "NOPE-2" in message and "INV-100" not in message
    assert "`abrecon documents list` shows what exists" in message
    assert caught.value.numbers == ("NOPE-1", "NOPE-2")
    assert not out.exists()


def test_a_path_recorded_elsewhere_falls_back_to_the_content_address(
    ctx: Context, tmp_path: Path
) -> None:
    stored = add_document(ctx, "INV-100")
    with session_scope(ctx.engine) as session:
        row = session.exec(select(DocumentRow).where(DocumentRow.party == ctx.party)).one()
        row.pdf_path = "abrecon-data/elsewhere/documents/xx/gone.pdf"  # another cwd's relative path
        session.add(row)
    result = download_documents(ctx, ["INV-100"], tmp_path / "out")
    assert result.not_copied == []
    assert (tmp_path / "out" / "INV-100.pdf").read_bytes() == stored.pdf


def test_a_corrupt_stored_file_is_detected_and_not_copied(ctx: Context, tmp_path: Path) -> None:
    stored = add_document(ctx, "INV-100")
    stored.path.write_bytes(stored.pdf[:-40] + b"%%EOF garbage\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "INV-100.pdf").write_bytes(b"an earlier copy")

    result = download_documents(ctx, ["INV-100"], out)  # no fetch: only reported

    assert result.copied == []
    [problem] = result.not_copied
    assert problem.kind == "corrupt" and problem.invoice_number == "INV-100"
    assert str(stored.path) in problem.detail and stored.sha256[:12] in problem.detail
    assert (out / "INV-100.pdf").read_bytes() == b"an earlier copy"  # left as it was
    assert _leftovers(out) == []
    assert _row(ctx, "INV-100").state == "done"  # reporting changes nothing


def test_a_missing_stored_file_is_reported(ctx: Context, tmp_path: Path) -> None:
    stored = add_document(ctx, "INV-100")
    stored.path.unlink()
    result = download_documents(ctx, ["INV-100"], tmp_path / "out")
    [problem] = result.not_copied
    assert problem.kind == "missing" and "is gone" in problem.detail


def test_documents_not_stored_are_reported_with_their_state(ctx: Context, tmp_path: Path) -> None:
    add_document(ctx, "INV-1", state="pending")
    add_document(ctx, "INV-2", state="unavailable", reason="Amazon refused the request: 400")
    result = download_documents(ctx, ["INV-1", "INV-2"], tmp_path / "out")
    kinds = {p.invoice_number: (p.kind, p.detail) for p in result.not_copied}
    assert kinds["INV-1"][0] == "waiting" and "pending" in kinds["INV-1"][1]
    assert kinds["INV-2"] == (
        "unavailable",
        "Amazon could not produce it: Amazon refused the request: 400",
    )


def test_a_damaged_file_is_moved_aside_and_its_document_fetched_again(
    ctx: Context, tmp_path: Path
) -> None:
    """The fetch stands in for the documents stage: it stores the PDF as a download does."""
    good = add_document(ctx, "INV-100")
    waiting = add_document(ctx, "INV-200", state="pending", order_id="111-0000000-0000002")
    bad = good.pdf.replace(b"INV-100", b"INV-999")
    good.path.write_bytes(bad)
    asked: list[list[int]] = []
    told: list[str] = []

    def fetch(ids: Sequence[int]) -> None:
        asked.append(list(ids))
        for number, pdf in (("INV-100", good.pdf), ("INV-200", waiting.pdf)):
            row = _row(ctx, number)
            assert row.state == "pending" and row.pdf_path == ""
            digest = hashlib.sha256(pdf).hexdigest()
            path = store_pdf(ctx.documents_dir, digest, pdf)
            with session_scope(ctx.engine) as session:
                row.state, row.pdf_sha256, row.pdf_path = "done", digest, str(path)
                session.add(row)

    out = tmp_path / "out"
    result = download_documents(ctx, ["INV-100", "INV-200"], out, fetch=fetch, notify=told.append)

    assert asked == [[_row(ctx, "INV-100").id, _row(ctx, "INV-200").id]]
    assert result.not_copied == []
    assert (out / "INV-100.pdf").read_bytes() == good.pdf
    assert (out / "INV-200.pdf").read_bytes() == waiting.pdf
    aside = good.path.with_name(good.path.name + ".corrupt")
    assert aside.read_bytes() == bad and good.path.read_bytes() == good.pdf
    assert len(told) == 1 and "INV-100 (Invoice)" in told[0] and "fetching it again" in told[0]


def test_documents_a_fetch_leaves_waiting_are_reported(ctx: Context, tmp_path: Path) -> None:
    add_document(ctx, "INV-1", state="requested")
    result = download_documents(ctx, ["INV-1"], tmp_path / "out", fetch=lambda ids: None)
    [problem] = result.not_copied
    assert problem.kind == "waiting" and result.fetched == [_row(ctx, "INV-1").id]


def test_a_known_number_without_a_document_is_planned_before_the_fetch(
    ctx: Context, tmp_path: Path
) -> None:
    add_document(ctx, "INV-1")
    with session_scope(ctx.engine) as session:
        session.add(
            TransactionRow(
                party=ctx.party,
                transaction_id="T-NEW",
                transaction_type="CHARGE",
                invoice_number="INV-NEW",
                payment_instrument_type="PAY_BY_INVOICE",
            )
        )
    reported = download_documents(ctx, ["INV-NEW"], tmp_path / "a")
    assert [(p.kind, p.document_id) for p in reported.not_copied] == [("waiting", None)]
    asked: list[Sequence[int]] = []
    download_documents(ctx, ["INV-NEW"], tmp_path / "b", fetch=asked.append)
    planned = _row(ctx, "INV-NEW")
    assert planned.state == "pending" and planned.document_type == "Invoice"
    assert asked == [[planned.id]]


def test_waiting_for_documents_ends_when_they_settle(ctx: Context) -> None:
    add_document(ctx, "INV-1", state="pending")
    add_document(ctx, "INV-2", state="pending", order_id="111-0000000-0000002")
    job_id, _ = fetch_job(ctx)
    ids = [_row(ctx, "INV-1").id or 0]
    naps: list[float] = []

    def sleep(seconds: float) -> None:  # the documents stage settles INV-1 meanwhile
        naps.append(seconds)
        with session_scope(ctx.engine) as session:
            row = session.get(DocumentRow, ids[0])
            assert row is not None
            row.state = "unavailable" if len(naps) == 3 else "requested"
            session.add(row)

    job = wait_for_documents(ctx.engine, job_id, ids, poll_seconds=0.01, sleep=sleep)
    assert len(naps) == 3 and job.id == job_id and not job.finished
    assert _row(ctx, "INV-2").state == "pending"  # left to the job
    with Session(ctx.engine) as session:
        recorded = session.get(JobRow, job_id)
        assert recorded is not None and recorded.kind == "download"


# -- archive ------------------------------------------------------------------------------------


@pytest.fixture()
def window_store(ctx: Context) -> dict[str, Stored]:
    """Documents around February 2025, one without invoice details, one not downloaded."""
    return {
        "before": add_document(ctx, "INV-JAN", invoice_date=date(2025, 1, 31), order_id="O-1"),
        "first": add_document(ctx, "INV-FEB1", invoice_date=date(2025, 2, 1), order_id="O-2"),
        "memo": add_document(
            ctx, "CM-FEB", kind="Credits", invoice_date=date(2025, 2, 14), order_id="O-2"
        ),
        "last": add_document(ctx, "INV-FEB28", invoice_date=date(2025, 2, 28), order_id="O-3"),
        "after": add_document(ctx, "INV-MAR", invoice_date=date(2025, 3, 1), order_id="O-4"),
        # no invoice details: the date of the transaction carrying the number counts
        "by_txn": add_document(
            ctx,
            "INV-TXN",
            invoice_date=None,
            transaction_date=datetime(2025, 2, 20, 23, 59, tzinfo=UTC),
            order_id="O-5",
        ),
        "waiting": add_document(
            ctx, "INV-WAIT", invoice_date=date(2025, 2, 10), order_id="O-6", state="pending"
        ),
    }


def _read_zip(path: Path) -> tuple[list[zipfile.ZipInfo], dict[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        infos = archive.infolist()
        return infos, {info.filename: archive.read(info) for info in infos}


def test_archive_holds_the_window_with_its_manifest(
    ctx: Context, window_store: dict[str, Stored], tmp_path: Path
) -> None:
    plan = plan_archive(ctx, date(2025, 2, 1), date(2025, 2, 28))
    out = tmp_path / "zips" / "february.zip"
    seen: list[str] = []

    result = write_archive(
        ctx, plan, out, on_file=lambda item: seen.append(item.document.file_name)
    )

    infos, contents = _read_zip(out)
    names = [info.filename for info in infos]
    pdfs = ["CM-FEB-credit-memo.pdf", "INV-FEB1.pdf", "INV-FEB28.pdf", "INV-TXN.pdf"]
    assert names == [MANIFEST_NAME, *pdfs] and seen == pdfs
    assert result.files == 4 and result.size == out.stat().st_size
    for key, name in (
        ("memo", pdfs[0]),
        ("first", pdfs[1]),
        ("last", pdfs[2]),
        ("by_txn", pdfs[3]),
    ):
        assert contents[name] == window_store[key].pdf, name
    assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in infos)
    assert all(info.external_attr >> 16 == 0o100644 for info in infos)
    dated = {info.filename: info.date_time for info in infos}
    assert dated[MANIFEST_NAME] == (1980, 1, 1, 0, 0, 0)
    assert dated["INV-FEB1.pdf"] == (2025, 2, 1, 0, 0, 0)
    assert dated["INV-TXN.pdf"] == (2025, 2, 20, 0, 0, 0)

    rows = list(csv.reader(io.StringIO(contents[MANIFEST_NAME].decode("utf-8"))))
    assert tuple(rows[0]) == MANIFEST_COLUMNS
    manifest = {row[6]: dict(zip(MANIFEST_COLUMNS, row, strict=True)) for row in rows[1:]}
    assert list(manifest) == pdfs
    assert manifest["INV-FEB1.pdf"] == {
        "invoice_number": "INV-FEB1",
        "document_type": "Invoice",
        "invoice_date": "2025-02-01",
        "transaction_ids": "T-INV-FEB1",
        "order_ids": "O-2",
        "sha256": window_store["first"].sha256,
        "file_name": "INV-FEB1.pdf",
    }
    # The credit memo shares order O-2 with INV-FEB1: only the refund is its transaction.
    assert manifest["CM-FEB-credit-memo.pdf"]["transaction_ids"] == "T-CM-FEB"
    assert manifest["CM-FEB-credit-memo.pdf"]["document_type"] == "Credits"
    assert manifest["INV-TXN.pdf"]["invoice_date"] == "2025-02-20"
    assert manifest["INV-TXN.pdf"]["order_ids"] == "O-5"  # from the line items of T-INV-TXN
    assert [i.document.invoice_number for i in plan.missing] == ["INV-WAIT"]
    assert plan.undated == 0
    assert _leftovers(out.parent) == []


def test_transactions_linked_by_line_item_only_are_listed(ctx: Context, tmp_path: Path) -> None:
    add_document(ctx, "INV-LINE", transaction_id="T-CHARGE", carries_number=False, order_id="O-9")
    plan = plan_archive(ctx, date(2025, 2, 1), date(2025, 2, 28))
    [item] = plan.stored
    assert item.transaction_ids == ("T-CHARGE",) and item.order_ids == ("O-9",)


def test_the_same_store_gives_the_same_zip_bytes(
    ctx: Context, window_store: dict[str, Stored], tmp_path: Path
) -> None:
    first, second = tmp_path / "one.zip", tmp_path / "two.zip"
    write_archive(ctx, plan_archive(ctx, date(2025, 1, 1), date(2025, 12, 31)), first)
    for stored in window_store.values():  # stored files touched: their mtime must not matter
        if stored.kind and stored.path.is_file():
            os.utime(stored.path, (1_900_000_000, 1_900_000_000))
    write_archive(ctx, plan_archive(ctx, date(2025, 1, 1), date(2025, 12, 31)), second)
    assert first.read_bytes() == second.read_bytes()
    assert len(_read_zip(first)[0]) == 7  # manifest + six stored PDFs


def test_an_empty_window_gives_a_zip_with_only_the_manifest(
    ctx: Context, window_store: dict[str, Stored], tmp_path: Path
) -> None:
    plan = plan_archive(ctx, date(2024, 6, 1), date(2024, 6, 30))
    assert plan.stored == () and plan.missing == ()
    out = tmp_path / "empty.zip"
    result = write_archive(ctx, plan, out)
    infos, contents = _read_zip(out)
    assert [i.filename for i in infos] == [MANIFEST_NAME] and result.files == 0
    assert contents[MANIFEST_NAME].decode("utf-8").splitlines() == [",".join(MANIFEST_COLUMNS)]


def test_a_damaged_stored_file_writes_no_archive(
    ctx: Context, window_store: dict[str, Stored], tmp_path: Path
) -> None:
    window_store["first"].path.write_bytes(b"%PDF-1.4 not the invoice")
    window_store["last"].path.unlink()
    out = tmp_path / "february.zip"
    out.write_bytes(b"the previous archive")
    plan = plan_archive(ctx, date(2025, 2, 1), date(2025, 2, 28))
    with pytest.raises(DamagedArchiveError) as caught:
        write_archive(ctx, plan, out)
    kinds = {p.invoice_number: p.kind for p in caught.value.problems}
    assert kinds == {"INV-FEB1": "corrupt", "INV-FEB28": "missing"}
    assert out.read_bytes() == b"the previous archive"
    assert _leftovers(tmp_path) == []


def test_a_window_ending_before_it_starts_is_refused(ctx: Context) -> None:
    with pytest.raises(ValueError, match="must not end before it starts"):
        plan_archive(ctx, date(2025, 3, 1), date(2025, 2, 1))
