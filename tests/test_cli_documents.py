"""``abrecon documents download`` and ``documents archive`` as a user runs them.

The store is a real one: ``abrecon demo`` runs once for the module (a generated scenario served
by an in-process sandbox, PDFs fetched through the Document API lifecycle into a SQLite store),
and each test works on a copy of its folder. Re-fetching a damaged PDF talks to a real sandbox
(``abrecon sandbox serve``) serving the demo's scenario.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ABRECON = [sys.executable, "-m", "worker.cli"]
ROOT = Path(__file__).resolve().parents[1]
#: The demo the module's store comes from, and the settings that make its party.
ORDERS, SEED = 6, 7
DEMO_ENV = {
    "ABRECON_LWA_CLIENT_ID": "abrecon-demo",
    "ABRECON_LWA_CLIENT_SECRET": "demo-secret",
    "ABRECON_LWA_REFRESH_TOKEN": f"Atzr|demo-{SEED}-{ORDERS}",
    "ABRECON_DOCUMENT_SCOPE": "all",
}


def _base_env() -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ABRECON_")}
    base["PYTHONPATH"] = str(ROOT)
    return base


def _run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ABRECON, *args],
        env={**_base_env(), **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass(frozen=True)
class Document:
    invoice_number: str
    document_type: str
    state: str
    sha256: str

    @property
    def stored(self) -> str:
        return f"{self.sha256[:2]}/{self.sha256}.pdf"


@dataclass(frozen=True)
class Store:
    """A copy of the demo's folder: SQLite store, PDFs, scenario."""

    cwd: Path
    data_dir: Path

    @property
    def env(self) -> dict[str, str]:
        return {**DEMO_ENV, "ABRECON_DATA_DIR": str(self.data_dir)}

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        return _run(*args, cwd=self.cwd, env={**self.env, **(env or {})}, timeout=timeout)

    def sql(self, query: str, *params: object) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.data_dir / "abrecon.db") as db:
            rows = db.execute(query, params).fetchall()
        db.close()
        return rows

    def documents(self) -> list[Document]:
        return [
            Document(*map(str, row))
            for row in self.sql(
                "SELECT invoice_number, document_type, state, pdf_sha256 FROM documents "
                "ORDER BY invoice_number, document_type"
            )
        ]

    def pdf(self, document: Document) -> Path:
        return self.data_dir / "documents" / document.stored


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of one ``abrecon demo`` run: every PDF fetched and stored."""
    cwd = tmp_path_factory.mktemp("demo")
    result = _run("demo", "--orders", str(ORDERS), "--seed", str(SEED), cwd=cwd, timeout=240)
    assert result.returncode == 0, result.stderr
    return cwd / "abrecon-data" / "demo"


@pytest.fixture()
def store(demo_dir: Path, tmp_path: Path) -> Store:
    data_dir = tmp_path / "store"
    shutil.copytree(demo_dir, data_dir)
    made = Store(tmp_path, data_dir)
    documents = made.documents()
    assert documents and all(d.state == "done" for d in documents)
    assert {d.document_type for d in documents} == {"Invoice", "Credits"}
    return made


def _one(store: Store, document_type: str) -> Document:
    return next(d for d in store.documents() if d.document_type == document_type)


# -- download -----------------------------------------------------------------------------------


def test_download_copies_the_stored_pdfs(store: Store) -> None:
    invoice, memo = _one(store, "Invoice"), _one(store, "Credits")
    out = store.cwd / "out" / "pdfs"
    result = store.run(
        "documents",
        "download",
        "--invoice",
        invoice.invoice_number,
        "--invoice",
        memo.invoice_number,
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [f"{invoice.invoice_number}.pdf", f"{memo.invoice_number}-credit-memo.pdf"]
    )
    copied = out / f"{invoice.invoice_number}.pdf"
    assert copied.read_bytes() == store.pdf(invoice).read_bytes()
    assert hashlib.sha256(copied.read_bytes()).hexdigest() == invoice.sha256
    memo_copy = out / f"{memo.invoice_number}-credit-memo.pdf"
    assert memo_copy.read_bytes() == store.pdf(memo).read_bytes()
    assert f"{invoice.invoice_number} (Invoice) -> {copied}" in result.stdout
    assert "job" not in result.stdout  # nothing was fetched


def test_an_unknown_invoice_is_a_clear_error(store: Store) -> None:
    invoice = _one(store, "Invoice")
    out = store.cwd / "out"
    result = store.run(
        "documents",
        "download",
        "--invoice",
        invoice.invoice_number,
        "--invoice",
        "NO-SUCH-INVOICE",
        "--out",
        str(out),
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "NO-SUCH-INVOICE" in result.stderr
    assert "`abrecon documents list` shows what exists" in result.stderr
    assert not out.exists()  # nothing copied when a number is unknown


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def sandbox(store: Store) -> Iterator[dict[str, str]]:
    """A sandbox serving the demo's scenario; the settings that point abrecon at it."""
    port = _free_port()
    log = (store.cwd / "sandbox.log").open("w")
    server = subprocess.Popen(
        [
            *ABRECON,
            "sandbox",
            "serve",
            "--scenario",
            str(store.data_dir / "scenario.json"),
            "--seed",
            str(SEED),
            "--port",
            str(port),
            "--processing-seconds",
            "0.3",
            "--no-usage-plans",
        ],
        env=_base_env(),
        cwd=store.cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if requests.get(f"{url}/_sandbox/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            pytest.fail("the sandbox did not start: " + (store.cwd / "sandbox.log").read_text())
        _use_up_report_ids(url, len(store.sql("SELECT id FROM reports")))
        yield {"ABRECON_API_ENDPOINT": url, "ABRECON_LWA_ENDPOINT": f"{url}/auth/o2/token"}
    finally:
        server.terminate()
        server.wait(10)
        log.close()


def _use_up_report_ids(url: str, count: int) -> None:
    """Make the fresh sandbox hand out report ids the store has not seen yet.

    A sandbox numbers its reports from the same first id every time it starts, where Amazon's
    ids are unique; the store copied from the demo holds the demo sandbox's first ids already.
    Another account asks for reports of an invoice that does not exist (Amazon cancels them).
    """
    from connectors.amazon_business.client import AmazonBusinessClient
    from worker.settings import load_settings

    settings = load_settings(
        api_endpoint=url,
        lwa_endpoint=f"{url}/auth/o2/token",
        lwa_client_id="another-app",
        lwa_client_secret="secret",
        lwa_refresh_token="Atzr|another-account",
        rate_limiting=False,
    )
    client = AmazonBusinessClient.from_config(settings.connection_config(), blocking=True)
    for _ in range(count):
        client.documents.create_report({"documentType": "Invoice", "invoiceId": "NONE"})


def test_a_corrupt_stored_pdf_is_detected_and_fetched_again(
    store: Store, sandbox: dict[str, str]
) -> None:
    invoice = _one(store, "Invoice")
    original = store.pdf(invoice).read_bytes()
    store.pdf(invoice).write_bytes(original[: len(original) // 2])
    out = store.cwd / "out"
    args = ("documents", "download", "--invoice", invoice.invoice_number, "--out", str(out))

    reported = store.run(*args, "--no-fetch")
    assert reported.returncode == 1 and "Traceback" not in reported.stderr
    assert f"not copied: {invoice.invoice_number} (Invoice): the stored file" in reported.stderr
    assert "is damaged" in reported.stderr and "without --no-fetch" in reported.stderr
    assert not (out / f"{invoice.invoice_number}.pdf").exists()

    fetched = store.run(*args, env=sandbox)
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    assert "fetching it again" in fetched.stdout
    assert "through the Document API" in fetched.stdout
    assert (out / f"{invoice.invoice_number}.pdf").read_bytes() == original
    assert store.pdf(invoice).read_bytes() == original  # the store is whole again
    aside = store.pdf(invoice).with_name(store.pdf(invoice).name + ".corrupt")
    assert aside.read_bytes() == original[: len(original) // 2]
    [(state, reports)] = store.sql(
        "SELECT d.state, COUNT(r.id) FROM documents d JOIN reports r ON r.document_id = d.id "
        "WHERE d.invoice_number = ? GROUP BY d.id",
        invoice.invoice_number,
    )
    assert state == "done" and reports == 2  # one more createReport, through the lifecycle


# -- archive ------------------------------------------------------------------------------------


def _invoice_dates(store: Store) -> dict[str, str]:
    return {
        str(number): str(day)[:10]
        for number, day in store.sql(
            "SELECT invoice_number, MIN(invoice_date) FROM invoice_details GROUP BY invoice_number"
        )
    }


def test_archive_is_complete_filtered_and_deterministic(store: Store) -> None:
    documents = store.documents()
    dates = _invoice_dates(store)
    first, second = store.cwd / "a.zip", store.cwd / "b.zip"
    window = ("--start", "2025-01-01", "--end", "2025-12-31")
    made = store.run("documents", "archive", *window, "--out", str(first))
    assert made.returncode == 0, made.stderr
    assert f"wrote {len(documents)} PDFs and manifest.csv to {first}" in made.stdout
    again = store.run("documents", "archive", *window, "--out", str(second))
    assert again.returncode == 0, again.stderr
    assert first.read_bytes() == second.read_bytes()

    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
        contents = {name: archive.read(name) for name in names if name != "manifest.csv"}
    assert names[0] == "manifest.csv" and names[1:] == sorted(names[1:])
    assert len(manifest) == len(documents) == len(contents)
    for row in manifest:
        data = contents[row["file_name"]]
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
        assert row["invoice_date"] == dates[row["invoice_number"]]
        assert row["transaction_ids"] and row["order_ids"]
    for document in documents:
        name = document.invoice_number + (
            "-credit-memo.pdf" if document.document_type == "Credits" else ".pdf"
        )
        assert contents[name] == store.pdf(document).read_bytes()

    # A window of one invoice's day holds that invoice only.
    number, day = sorted(dates.items(), key=lambda kv: kv[1])[0]
    one = store.cwd / "one" / "day.zip"
    only = store.run("documents", "archive", "--start", day, "--end", day, "--out", str(one))
    assert only.returncode == 0, only.stderr
    with zipfile.ZipFile(one) as archive:
        in_day = [n for n in archive.namelist() if n != "manifest.csv"]
    expected = [n for n, d in dates.items() if d == day]
    assert len(in_day) == len(expected) and any(name.startswith(number) for name in in_day)


def test_archive_lists_documents_not_downloaded(store: Store) -> None:
    waiting = _one(store, "Invoice")
    store.sql(
        "UPDATE documents SET state = 'pending' WHERE invoice_number = ?", waiting.invoice_number
    )
    out = store.cwd / "window.zip"
    result = store.run(
        "documents", "archive", "--start", "2025-01-01", "--end", "2025-12-31", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert "missing: 1 documents of the window are not in the zip:" in result.stdout
    assert (
        waiting.invoice_number in result.stdout and "not downloaded yet (pending)" in result.stdout
    )
    assert "`abrecon documents fetch --start DATE --end DATE`" in result.stdout
    with zipfile.ZipFile(out) as archive:
        assert f"{waiting.invoice_number}.pdf" not in archive.namelist()


def test_an_empty_window_gives_a_manifest_only_zip(store: Store) -> None:
    out = store.cwd / "empty.zip"
    result = store.run(
        "documents", "archive", "--start", "2019-01-01", "--end", "2019-01-31", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert "no documents with an invoice date in 2019-01-01 .. 2019-01-31" in result.stdout
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == ["manifest.csv"]


def test_archive_refuses_bad_dates_and_damaged_files(store: Store) -> None:
    out = store.cwd / "x.zip"
    bad = store.run(
        "documents", "archive", "--start", "2025-13-01", "--end", "2025-12-31", "--out", str(out)
    )
    assert bad.returncode == 1 and "--start '2025-13-01' is not a date" in bad.stderr
    backwards = store.run(
        "documents", "archive", "--start", "2025-03-01", "--end", "2025-02-01", "--out", str(out)
    )
    assert backwards.returncode == 1 and "is before --start" in backwards.stderr
    damaged = _one(store, "Credits")
    store.pdf(damaged).write_bytes(b"%PDF-1.4 something else")
    broken = store.run(
        "documents", "archive", "--start", "2025-01-01", "--end", "2025-12-31", "--out", str(out)
    )
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    assert f"damaged: {damaged.invoice_number} (Credits)" in broken.stderr
    assert "not written" in broken.stderr and "abrecon documents download" in broken.stderr
    assert not out.exists()
    assert [p.name for p in store.cwd.iterdir() if p.name.endswith(".part")] == []
