"""Invoice PDFs out of the store: copies of chosen invoices, and a zip of an invoice-date window.

abrecon stores every PDF it fetched once, under ``<data dir>/documents/`` by content hash, and
keeps a :class:`~worker.store.tables.DocumentRow` per (invoice number, document type) that says
where the file is and what its SHA-256 must be. Nothing here trusts the file system: a stored
file is read in chunks and hashed as it is copied, and a copy whose hash is not the recorded one
is thrown away. A file is found at its recorded ``pdf_path`` or, failing that, at its content
address under this process's data dir (a path recorded relative to another working directory
still resolves).

**Download** (``abrecon documents download``, :func:`download_documents`): the documents of
chosen invoice numbers (the invoice, and the credit memo when one has the number) are copied into
a folder as ``<invoice number>.pdf`` and ``<invoice number>-credit-memo.pdf`` (see
:func:`document_file_name`). A document not stored yet, or whose stored file is missing or
damaged, is fetched through the caller's ``fetch``: ``abrecon`` runs the documents stage of a job
(:func:`worker.services.documents.documents_step`, the same create -> poll -> download lifecycle
as ``abrecon documents fetch``). A damaged file is first moved aside (``<file>.corrupt``) and its
document set back to ``pending``, because the lifecycle keeps an existing file at a content
address rather than writing it again.

**Archive** (``abrecon documents archive``, :func:`plan_archive` and :func:`write_archive`): one
zip of every stored PDF whose invoice date falls in a window of dates, with a ``manifest.csv``.
The same store gives the same zip, byte for byte: entries are sorted by file name (the manifest
first), every entry is dated with its invoice date (the manifest with 1980-01-01, the zip epoch),
has mode 0644 and is deflated. PDFs are streamed into the zip one at a time, so memory does not
grow with their number or size.

**Invoice date** of a document: the earliest ``invoice_date`` of its invoice number among the
invoice details, else the earliest date of a transaction carrying that invoice number; taken in
UTC. A document with neither is in no window.

**Transactions and orders** of a document, for the manifest: the transactions carrying its
invoice number, plus the transactions of the same type (a charge for an invoice, a refund for a
credit memo) that hold a line item the invoice details list under that number; the orders of its
invoice details, plus those of the line items of the transactions carrying its number.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from worker.services.context import Context
from worker.services.documents import plan_documents
from worker.services.exports import ORDER_ID_SEPARATOR, neutralise
from worker.services.jobs import Dispatch, create_job
from worker.services.progress import JobView, ProgressDisplay, watch_job
from worker.store.engine import session_scope
from worker.store.tables import (
    DocumentRow,
    InvoiceDetailRow,
    TransactionLineItemRow,
    TransactionRow,
)

#: Bytes read from a stored PDF at a time.
CHUNK = 1 << 16
#: The zip entry that lists the archived PDFs, and its columns.
MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS: tuple[str, ...] = (
    "invoice_number",
    "document_type",
    "invoice_date",
    "transaction_ids",
    "order_ids",
    "sha256",
    "file_name",
)
#: The date of zip entries without an invoice date (the earliest date a zip can hold).
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
#: Unix mode of every zip entry: a regular file, rw-r--r--.
ZIP_FILE_MODE = 0o100644
#: The ``create_system`` of every zip entry (3: Unix), whatever the platform writing it.
ZIP_UNIX = 3
#: Document states that will not change without a new request.
SETTLED_STATES = ("done", "unavailable")
#: The job kind recorded for a fetch started by a download.
FETCH_JOB_KIND = "download"
#: Invoice numbers per ``IN (...)`` list.
IN_BATCH = 500
#: Longest file-name stem made from an invoice number.
MAX_STEM = 100
#: Document types with a file-name suffix of their own (others get their type, lower case).
TYPE_SUFFIXES = {"Invoice": "", "Credits": "-credit-memo"}

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

#: Why a document was not copied: not fetched yet, Amazon could not produce it, its stored file
#: is gone, its stored file is not the PDF recorded, abrecon requests no PDF for the number.
ProblemKind = Literal["waiting", "unavailable", "missing", "corrupt", "excluded"]
#: ``fetch(document_ids)``: bring the documents through the lifecycle until they settle.
FetchNow = Callable[[Sequence[int]], None]


class UnknownInvoiceError(LookupError):
    """Invoice numbers the store does not know for this account."""

    def __init__(self, numbers: Sequence[str]) -> None:
        self.numbers = tuple(numbers)
        shown = ", ".join(repr(number) for number in self.numbers)
        noun = "invoice" if len(self.numbers) == 1 else "invoices"
        super().__init__(
            f"no {noun} {shown} in the store for this account "
            "(`abrecon documents list` shows what exists)"
        )


# -- file names and stored files ----------------------------------------------------------------


def safe_stem(invoice_number: str) -> str:
    """``invoice_number`` as a file-name stem that is safe on every file system.

    Letters, digits, ``.``, ``_`` and ``-`` are kept; anything else becomes ``_``, and leading
    dots and dashes go. A number changed so gets the first 8 hex digits of its SHA-256 appended,
    so two numbers never share a name (``A/B`` -> ``A_B-<hash>``, which ``A_B`` is not).
    """
    stem = _UNSAFE.sub("_", invoice_number).lstrip(".-")[:MAX_STEM]
    if stem and stem == invoice_number:
        return stem
    digest = hashlib.sha256(invoice_number.encode("utf-8")).hexdigest()[:8]
    return f"{stem or 'invoice'}-{digest}"


def document_file_name(invoice_number: str, document_type: str) -> str:
    """The file name of a document: ``<number>.pdf``, ``<number>-credit-memo.pdf``."""
    suffix = TYPE_SUFFIXES.get(document_type)
    if suffix is None:
        suffix = "-" + (_UNSAFE.sub("_", document_type).strip("._-").lower() or "document")
    return f"{safe_stem(invoice_number)}{suffix}.pdf"


@dataclass(frozen=True)
class StoredDocument:
    """A document row as this module needs it."""

    id: int
    invoice_number: str
    document_type: str
    state: str
    sha256: str
    recorded_path: str
    size: int | None
    reason: str

    @property
    def file_name(self) -> str:
        """The name the document's copy gets (see :func:`document_file_name`)."""
        return document_file_name(self.invoice_number, self.document_type)

    @property
    def label(self) -> str:
        """``INV-1 (Invoice)``."""
        return f"{self.invoice_number} ({self.document_type})"


def _stored(row: DocumentRow) -> StoredDocument:
    assert row.id is not None
    return StoredDocument(
        id=row.id,
        invoice_number=row.invoice_number,
        document_type=row.document_type,
        state=row.state,
        sha256=row.pdf_sha256,
        recorded_path=row.pdf_path,
        size=row.pdf_bytes,
        reason=row.last_error,
    )


def content_path(documents_dir: Path, sha256: str) -> Path:
    """Where the lifecycle stores the PDF with this SHA-256 (see ``documents.store_pdf``)."""
    return documents_dir / sha256[:2] / f"{sha256}.pdf"


def stored_file(document: StoredDocument, documents_dir: Path) -> Path | None:
    """The stored file of ``document``: at its recorded path, else at its content address."""
    candidates: list[Path] = []
    if document.recorded_path:
        candidates.append(Path(document.recorded_path))
    if document.sha256:
        candidates.append(content_path(documents_dir, document.sha256))
    return next((path for path in candidates if path.is_file()), None)


def _pump(source: IO[bytes], sink: IO[bytes]) -> tuple[str, int]:
    """Copy ``source`` to ``sink`` in chunks; the SHA-256 and size of what went through."""
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        sink.write(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# -- download -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CopiedFile:
    """A document copied out of the store."""

    document: StoredDocument
    path: Path
    size: int


@dataclass(frozen=True)
class NotCopied:
    """A document (or an invoice number without one) that could not be copied, and why."""

    invoice_number: str
    document_type: str
    kind: ProblemKind
    detail: str
    document_id: int | None = None
    #: the damaged stored file, for ``missing`` (where it should be) and ``corrupt``
    source: Path | None = None

    @property
    def label(self) -> str:
        """``INV-1 (Invoice)``, or the number alone when it has no document."""
        if self.document_type:
            return f"{self.invoice_number} ({self.document_type})"
        return self.invoice_number


@dataclass
class DownloadResult:
    """What a download copied and what it could not."""

    copied: list[CopiedFile] = field(default_factory=list)
    not_copied: list[NotCopied] = field(default_factory=list)
    #: document ids handed to ``fetch``
    fetched: list[int] = field(default_factory=list)


def _unique(numbers: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(n.strip() for n in numbers if n.strip()))


def _batches(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), IN_BATCH):
        yield items[start : start + IN_BATCH]


def _known_numbers(session: Session, party: str, numbers: Sequence[str]) -> set[str]:
    """Those of ``numbers`` that an invoice detail or a transaction of the party carries."""
    known: set[str] = set()
    for batch in _batches(numbers):
        known |= set(
            session.exec(
                select(InvoiceDetailRow.invoice_number).where(
                    InvoiceDetailRow.party == party,
                    col(InvoiceDetailRow.invoice_number).in_(batch),
                )
            ).all()
        )
        known |= set(
            session.exec(
                select(TransactionRow.invoice_number).where(
                    TransactionRow.party == party, col(TransactionRow.invoice_number).in_(batch)
                )
            ).all()
        )
    return known


def _documents_of(session: Session, party: str, numbers: Sequence[str]) -> list[StoredDocument]:
    found: list[StoredDocument] = []
    for batch in _batches(numbers):
        found.extend(
            _stored(row)
            for row in session.exec(
                select(DocumentRow).where(
                    DocumentRow.party == party, col(DocumentRow.invoice_number).in_(batch)
                )
            ).all()
        )
    order = {number: i for i, number in enumerate(numbers)}
    return sorted(found, key=lambda d: (order[d.invoice_number], d.document_type, d.id))


def resolve_invoices(
    ctx: Context, numbers: Sequence[str], *, plan: bool
) -> tuple[list[StoredDocument], list[str]]:
    """The documents of ``numbers``, and the numbers the store knows but has no document for.

    A number is known when a document, an invoice detail or a transaction carries it; unknown
    numbers raise :class:`UnknownInvoiceError` (all of them in one message). With ``plan``, the
    documents abrecon wants but has not planned yet are added first (``plan_documents``, as the
    documents stage does), so only numbers it requests no PDF for are left without one.
    """
    wanted = _unique(numbers)
    with Session(ctx.engine) as session:
        documents = _documents_of(session, ctx.party, wanted)
        bare = [n for n in wanted if n not in {d.invoice_number for d in documents}]
        known = _known_numbers(session, ctx.party, bare) if bare else set()
    unknown = [n for n in bare if n not in known]
    if unknown:
        raise UnknownInvoiceError(unknown)
    if bare and plan:
        with session_scope(ctx.engine) as session:
            plan_documents(session, ctx, ctx.clock())
        with Session(ctx.engine) as session:
            documents = _documents_of(session, ctx.party, wanted)
        bare = [n for n in wanted if n not in {d.invoice_number for d in documents}]
    return documents, bare


def copy_document(document: StoredDocument, documents_dir: Path, out_dir: Path) -> CopiedFile:
    """Copy a stored document into ``out_dir`` under its file name, verified and atomically.

    The bytes are hashed as they are copied; the copy replaces ``<out_dir>/<file name>`` only
    when the hash is the recorded one. Raises :class:`DamagedFileError` otherwise (or when the
    stored file is gone), leaving any earlier copy as it was.
    """
    source = stored_file(document, documents_dir)
    if source is None:
        raise DamagedFileError(_missing(document, documents_dir))
    target = out_dir / document.file_name
    handle, temp = tempfile.mkstemp(dir=out_dir, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as sink, source.open("rb") as stream:
            digest, size = _pump(stream, sink)
            sink.flush()
            os.fsync(sink.fileno())
        if digest != document.sha256:
            raise DamagedFileError(_corrupt(document, source, digest))
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return CopiedFile(document, target, size)


class DamagedFileError(Exception):
    """A stored file is gone, or is not the PDF its document recorded."""

    def __init__(self, problem: NotCopied) -> None:
        self.problem = problem
        super().__init__(f"{problem.label}: {problem.detail}")


def _missing(document: StoredDocument, documents_dir: Path) -> NotCopied:
    where = document.recorded_path or str(content_path(documents_dir, document.sha256))
    return NotCopied(
        document.invoice_number,
        document.document_type,
        "missing",
        f"the stored file {where} is gone",
        document.id,
        Path(where),
    )


def _corrupt(document: StoredDocument, source: Path, digest: str) -> NotCopied:
    return NotCopied(
        document.invoice_number,
        document.document_type,
        "corrupt",
        f"the stored file {source} is damaged (SHA-256 {digest[:12]}..., "
        f"recorded {document.sha256[:12]}...)",
        document.id,
        source,
    )


def _not_stored(document: StoredDocument) -> NotCopied:
    if document.state == "unavailable":
        return NotCopied(
            document.invoice_number,
            document.document_type,
            "unavailable",
            f"Amazon could not produce it: {document.reason or 'no reason recorded'}",
            document.id,
        )
    return NotCopied(
        document.invoice_number,
        document.document_type,
        "waiting",
        f"not fetched yet (state {document.state})",
        document.id,
    )


def copy_documents(
    documents: Iterable[StoredDocument], documents_dir: Path, out_dir: Path
) -> DownloadResult:
    """Copy every stored document of ``documents``; the others are said why not."""
    result = DownloadResult()
    for document in documents:
        if document.state != "done":
            result.not_copied.append(_not_stored(document))
            continue
        try:
            result.copied.append(copy_document(document, documents_dir, out_dir))
        except DamagedFileError as exc:
            result.not_copied.append(exc.problem)
    return result


def prepare_refetch(ctx: Context, problems: Iterable[NotCopied]) -> list[int]:
    """Make the fetchable documents of ``problems`` ready for the lifecycle; their ids.

    A waiting document is left as it is. A missing or damaged stored file sets its document back
    to ``pending`` (stored figures cleared, the reason in ``last_error``), and a damaged file is
    moved aside to ``<file>.corrupt`` first: the lifecycle keeps a file that already sits at the
    content address, so it would never replace the damaged one. A document whose file is whole
    again, or that is no longer ``done``, is left as it is.
    """
    ids: list[int] = []
    for problem in problems:
        if problem.document_id is None or problem.kind not in ("waiting", "missing", "corrupt"):
            continue
        ids.append(problem.document_id)
        if problem.kind == "waiting":
            continue
        with session_scope(ctx.engine) as session:
            row = session.get(DocumentRow, problem.document_id)
            if row is None or row.state != "done":
                continue
            source = problem.source
            if source is not None and source.is_file():
                if file_sha256(source) == row.pdf_sha256:
                    continue  # whole again meanwhile: nothing to fetch
                os.replace(source, source.with_name(source.name + ".corrupt"))
            row.state = "pending"
            row.not_before = None
            row.pdf_path = ""
            row.pdf_bytes = None
            row.pdf_pages = None
            row.downloaded_at = None
            row.last_error = f"fetched again: {problem.detail}"[:2000]
            session.add(row)
    return ids


def reload_documents(engine: Engine, ids: Sequence[int]) -> list[StoredDocument]:
    """The documents ``ids`` as stored now, in that order."""
    with Session(engine) as session:
        rows = session.exec(select(DocumentRow).where(col(DocumentRow.id).in_(ids))).all()
    by_id = {row.id: _stored(row) for row in rows}
    return [by_id[i] for i in ids if i in by_id]


def download_documents(
    ctx: Context,
    numbers: Sequence[str],
    out_dir: Path,
    *,
    fetch: FetchNow | None = None,
    notify: Callable[[str], None] | None = None,
) -> DownloadResult:
    """Copy the documents of invoice ``numbers`` into ``out_dir`` (made when missing).

    Unknown numbers raise :class:`UnknownInvoiceError` before anything is written. With
    ``fetch``, the documents not stored yet and those whose stored file is missing or damaged
    are fetched (see :func:`prepare_refetch`) and copied once ``fetch`` returns; without it they
    are only reported. ``notify`` hears what is about to happen, a line at a time.
    """
    tell = notify or (lambda _line: None)
    documents, bare = resolve_invoices(ctx, numbers, plan=fetch is not None)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = copy_documents(documents, ctx.documents_dir, out_dir)
    for number in bare:
        if fetch is None:
            detail = "not fetched yet (no document planned for it)"
            result.not_copied.append(NotCopied(number, "", "waiting", detail))
        else:
            detail = (
                "abrecon requests no PDF for it (ABRECON_DOCUMENT_SCOPE="
                f"{ctx.settings.document_scope}; in NA Amazon offers the PDFs of pay-by-invoice "
                "purchases only)"
            )
            result.not_copied.append(NotCopied(number, "", "excluded", detail))
    if fetch is None:
        return result
    fetchable = [p for p in result.not_copied if p.kind in ("waiting", "missing", "corrupt")]
    for problem in fetchable:
        if problem.kind != "waiting":
            tell(f"{problem.label}: {problem.detail}; fetching it again")
    ids = prepare_refetch(ctx, fetchable)
    if not ids:
        return result
    fetch(ids)
    again = copy_documents(reload_documents(ctx.engine, ids), ctx.documents_dir, out_dir)
    done = set(ids)
    result.not_copied = [p for p in result.not_copied if p.document_id not in done]
    result.not_copied.extend(again.not_copied)
    result.copied.extend(again.copied)
    result.fetched = ids
    return result


def fetch_job(ctx: Context) -> tuple[int, Dispatch]:
    """A job with the documents stage alone, to fetch documents now; it and its first step.

    The stage works through every pending document of the account (it cannot be narrowed to
    some), so whoever waits for particular documents stops waiting when those settle (see
    :func:`wait_for_documents`) and leaves the job to finish the rest. Its window is the moment
    it was made: a documents job does not use its window.
    """
    now = ctx.clock().replace(microsecond=0)
    return create_job(
        ctx, now, now + timedelta(seconds=1), kind=FETCH_JOB_KIND, stages=("documents",)
    )


def unsettled(engine: Engine, ids: Sequence[int]) -> int:
    """How many of the documents ``ids`` are still pending or requested."""
    with Session(engine) as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(DocumentRow)
                .where(
                    col(DocumentRow.id).in_(ids),
                    col(DocumentRow.state).not_in(SETTLED_STATES),
                )
            ).one()
        )


def wait_for_documents(
    engine: Engine,
    job_id: int,
    ids: Sequence[int],
    *,
    poll_seconds: float = 0.5,
    display: ProgressDisplay | None = None,
    on_stall: Callable[[JobView, float], None] | None = None,
    stall_seconds: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> JobView:
    """Poll the store until the documents ``ids`` settle (done or unavailable) or the job ends.

    Draws the job's bars on ``display``; ``on_stall`` is called once per stall, as in
    :func:`worker.services.progress.watch_job`. Returns the job as it stands at the end.
    """
    return watch_job(
        engine,
        job_id,
        poll_seconds=poll_seconds,
        display=display,
        on_stall=on_stall,
        stall_seconds=stall_seconds,
        sleep=sleep,
        waiting_for=lambda: unsettled(engine, ids),
    )


# -- archive ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveItem:
    """A document of the window, with what the manifest says about it."""

    document: StoredDocument
    invoice_date: date
    transaction_ids: tuple[str, ...] = ()
    order_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ArchivePlan:
    """What an archive of ``[start, end]`` holds, and what it lacks."""

    start: date
    end: date
    #: stored documents of the window, by file name: the zip's PDFs
    stored: tuple[ArchiveItem, ...]
    #: documents of the window not downloaded (waiting, or unavailable), by file name
    missing: tuple[ArchiveItem, ...]
    #: documents of the account without any invoice date (in no window)
    undated: int


@dataclass(frozen=True)
class ArchiveResult:
    """A written archive."""

    path: Path
    files: int
    size: int


class DamagedArchiveError(Exception):
    """Stored files of the window are gone or damaged: no archive was written."""

    def __init__(self, problems: Sequence[NotCopied]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            f"{len(self.problems)} stored PDFs of the window are missing or damaged: "
            + "; ".join(f"{p.label}: {p.detail}" for p in self.problems)
        )


def _as_utc_date(moment: datetime) -> date:
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)).date()


def invoice_dates(session: Session, party: str) -> dict[str, date]:
    """The invoice date of every invoice number of the party (see the module docstring)."""
    dates: dict[str, date] = {}
    for number, moment in session.exec(
        select(TransactionRow.invoice_number, func.min(TransactionRow.transaction_date))
        .where(TransactionRow.party == party, TransactionRow.invoice_number != "")
        .group_by(col(TransactionRow.invoice_number))
    ).all():
        if moment is not None:
            dates[number] = _as_utc_date(moment)
    for number, moment in session.exec(
        select(InvoiceDetailRow.invoice_number, func.min(InvoiceDetailRow.invoice_date))
        .where(InvoiceDetailRow.party == party)
        .group_by(col(InvoiceDetailRow.invoice_number))
    ).all():
        if moment is not None:
            dates[number] = _as_utc_date(moment)
    return dates


def _links(
    session: Session, party: str, items: Sequence[ArchiveItem]
) -> dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]]:
    """The transactions and orders of each (invoice number, document type) of ``items``."""
    numbers = sorted({i.document.invoice_number for i in items})
    direct: dict[str, set[str]] = {}
    by_line: dict[tuple[str, bool], set[str]] = {}
    orders: dict[str, set[str]] = {}
    line = TransactionLineItemRow
    detail = InvoiceDetailRow
    for batch in _batches(numbers):
        for number, transaction_id in session.exec(
            select(TransactionRow.invoice_number, TransactionRow.transaction_id).where(
                TransactionRow.party == party, col(TransactionRow.invoice_number).in_(batch)
            )
        ).all():
            direct.setdefault(number, set()).add(transaction_id)
        for number, order_id in session.exec(
            select(detail.invoice_number, detail.order_id).where(
                detail.party == party, col(detail.invoice_number).in_(batch)
            )
        ).all():
            if order_id:
                orders.setdefault(number, set()).add(order_id)
        for number, transaction_id, kind in session.exec(
            select(detail.invoice_number, line.transaction_id, TransactionRow.transaction_type)
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
            .where(detail.party == party, col(detail.invoice_number).in_(batch))
        ).all():
            by_line.setdefault((number, kind == "CHARGE"), set()).add(transaction_id)
    carried = sorted({t for ids in direct.values() for t in ids})
    line_orders: dict[str, set[str]] = {}
    for batch in _batches(carried):
        for transaction_id, order_id in session.exec(
            select(line.transaction_id, line.order_id).where(
                line.party == party, col(line.transaction_id).in_(batch)
            )
        ).all():
            if order_id:
                line_orders.setdefault(transaction_id, set()).add(order_id)
    links: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for item in items:
        number, kind = item.document.invoice_number, item.document.document_type
        transactions = set(direct.get(number, ())) | by_line.get((number, kind == "Invoice"), set())
        order_ids = set(orders.get(number, ()))
        for transaction_id in direct.get(number, ()):
            order_ids |= line_orders.get(transaction_id, set())
        links[(number, kind)] = (tuple(sorted(transactions)), tuple(sorted(order_ids)))
    return links


def plan_archive(ctx: Context, start: date, end: date) -> ArchivePlan:
    """The documents whose invoice date is in ``[start, end]`` (both days included)."""
    if end < start:
        raise ValueError(f"the window must not end before it starts: {start} .. {end}")
    with Session(ctx.engine) as session:
        dates = invoice_dates(session, ctx.party)
        rows = session.exec(select(DocumentRow).where(DocumentRow.party == ctx.party)).all()
        documents = [_stored(row) for row in rows]
        undated = sum(1 for d in documents if d.invoice_number not in dates)
        in_window = [
            ArchiveItem(d, dates[d.invoice_number])
            for d in documents
            if d.invoice_number in dates and start <= dates[d.invoice_number] <= end
        ]
        stored = [i for i in in_window if i.document.state == "done"]
        links = _links(session, ctx.party, stored)
    stored = [
        ArchiveItem(i.document, i.invoice_date, *links[(d.invoice_number, d.document_type)])
        for i in stored
        for d in (i.document,)
    ]
    missing = [i for i in in_window if i.document.state != "done"]

    def by_name(item: ArchiveItem) -> tuple[str, int]:
        return item.document.file_name, item.document.id

    return ArchivePlan(
        start=start,
        end=end,
        stored=tuple(sorted(stored, key=by_name)),
        missing=tuple(sorted(missing, key=by_name)),
        undated=undated,
    )


def manifest_row(item: ArchiveItem) -> list[str]:
    """The manifest line of an archived document."""
    document = item.document
    return [
        neutralise(document.invoice_number),
        neutralise(document.document_type),
        item.invoice_date.isoformat(),
        neutralise(ORDER_ID_SEPARATOR.join(item.transaction_ids)),
        neutralise(ORDER_ID_SEPARATOR.join(item.order_ids)),
        document.sha256,
        neutralise(document.file_name),
    ]


def _zip_info(name: str, day: date | None) -> zipfile.ZipInfo:
    """A zip entry header that depends on nothing but ``name`` and ``day``."""
    stamp = ZIP_EPOCH if day is None or day.year < 1980 else (day.year, day.month, day.day, 0, 0, 0)
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = ZIP_UNIX
    info.external_attr = ZIP_FILE_MODE << 16
    return info


def write_archive(
    ctx: Context,
    plan: ArchivePlan,
    out: Path,
    *,
    on_file: Callable[[ArchiveItem], object] | None = None,
) -> ArchiveResult:
    """Write the zip of ``plan`` to ``out``, atomically; ``on_file`` hears each PDF added.

    The zip is built in a temporary file beside ``out`` (its folder is made when missing) and
    renamed over it once complete, so a reader finds the old file or the new one. Each PDF is
    hashed as it streams in; when a stored file is gone or is not the recorded PDF, the rest
    is still checked, then nothing is written and :class:`DamagedArchiveError` names them all.
    """
    folder = out.parent
    folder.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=folder, prefix=f".{out.name}.", suffix=".part")
    damaged: list[NotCopied] = []
    try:
        with os.fdopen(handle, "w+b") as stream:
            with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                with (
                    archive.open(_zip_info(MANIFEST_NAME, None), "w") as entry,
                    io.TextIOWrapper(entry, encoding="utf-8", newline="") as text,
                ):
                    writer = csv.writer(text)
                    writer.writerow(MANIFEST_COLUMNS)
                    writer.writerows(manifest_row(item) for item in plan.stored)
                for item in plan.stored:
                    problem = _add_pdf(archive, item, ctx.documents_dir)
                    if problem is not None:
                        damaged.append(problem)
                    if on_file is not None:
                        on_file(item)
            stream.flush()
            os.fsync(stream.fileno())
        if damaged:
            raise DamagedArchiveError(damaged)
        os.replace(temp, out)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return ArchiveResult(out, len(plan.stored), out.stat().st_size)


def _add_pdf(archive: zipfile.ZipFile, item: ArchiveItem, documents_dir: Path) -> NotCopied | None:
    """Stream one stored PDF into ``archive``; what is wrong with its stored file, if anything."""
    document = item.document
    source = stored_file(document, documents_dir)
    if source is None:
        return _missing(document, documents_dir)
    info = _zip_info(document.file_name, item.invoice_date)
    large = source.stat().st_size * 1.05 > zipfile.ZIP64_LIMIT
    with source.open("rb") as stream, archive.open(info, "w", force_zip64=large) as entry:
        digest, _ = _pump(stream, entry)
    if digest != document.sha256:
        return _corrupt(document, source, digest)
    return None
