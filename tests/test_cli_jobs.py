"""Jobs from the command line, as a user runs them: real processes, a real sandbox, real output.

A sandbox is served in a subprocess (``abrecon sandbox serve``) from a small generated scenario,
and ``abrecon`` runs against it on the embedded default (no broker: a worker inside the command,
SQLite under the test's data dir). One test runs the job through a real Celery worker on a Redis
of its own instead (other processes on this machine use the shared Redis's databases).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import PostgresServer

REPO = Path(__file__).resolve().parents[1]
ABRECON = [sys.executable, "-m", "worker.cli"]
#: Text that a spreadsheet would run as a formula, planted in the scenario's buyer fields.
FORMULAS = ('=HYPERLINK("http://evil.example","click")', "@SUM(A1:A9)", "+1-555-0100", "-2+3")


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABRECON_")}
    env["PYTHONPATH"] = str(REPO)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until(check: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (requests.ConnectionError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} did not come up in {timeout} s")


@dataclass(frozen=True)
class Sandbox:
    """A sandbox served by ``abrecon sandbox serve`` and the scenario it serves."""

    url: str
    scenario: dict[str, Any]

    @property
    def transactions(self) -> list[dict[str, Any]]:
        return list(self.scenario["transactions"])

    def window_end(self) -> str:
        """A --end DATE (a bare date: the whole day) past the scenario's last feed date."""
        last = max(t["feedDate"] for t in self.transactions)
        return str(datetime.fromisoformat(last).date() + timedelta(days=1))

    def env(self, data_dir: Path, **extra: str) -> dict[str, str]:
        """abrecon's environment for this sandbox: embedded defaults, no client-side limits."""
        return {
            **_base_env(),
            "ABRECON_API_ENDPOINT": self.url,
            "ABRECON_LWA_ENDPOINT": f"{self.url}/auth/o2/token",
            "ABRECON_LWA_CLIENT_ID": "id",
            "ABRECON_LWA_CLIENT_SECRET": "secret",
            "ABRECON_LWA_REFRESH_TOKEN": "Atzr|cli-jobs",
            "ABRECON_RATE_LIMITING": "false",
            "ABRECON_DOCUMENT_SCOPE": "all",
            "ABRECON_DATA_DIR": str(data_dir),
            **extra,
        }


def _serve(folder: Path, seed: int, *extra: str) -> Iterator[Sandbox]:
    generated = subprocess.run(
        [*ABRECON, "sandbox", "generate", "--orders", "8", "--seed", str(seed), "--out", "gen"],
        env=_base_env(),
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert generated.returncode == 0, generated.stderr
    path = folder / "gen" / "scenario.json"
    scenario = json.loads(path.read_text())
    for transaction, formula in zip(scenario["transactions"], FORMULAS, strict=False):
        transaction.setdefault("buyer", {})["name"] = formula
    path.write_text(json.dumps(scenario))
    port = _free_port()
    server = subprocess.Popen(
        [
            *ABRECON,
            "sandbox",
            "serve",
            "--scenario",
            str(path),
            "--port",
            str(port),
            "--no-usage-plans",
            "--processing-seconds",
            "0.2",
            *extra,
        ],
        env=_base_env(),
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until(lambda: requests.get(f"{url}/_sandbox/health", timeout=1).ok, "the sandbox")
        yield Sandbox(url, scenario)
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox whose reports all end DONE."""
    yield from _serve(tmp_path_factory.mktemp("sandbox"), 5)


@pytest.fixture(scope="module")
def fatal_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox whose reports all end FATAL (no PDF ever)."""
    yield from _serve(tmp_path_factory.mktemp("fatal-sandbox"), 6, "--fatal-rate", "1.0")


def _run(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ABRECON, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@dataclass(frozen=True)
class Ran:
    """A finished ``abrecon run --wait`` and where it left its data."""

    result: subprocess.CompletedProcess[str]
    env: dict[str, str]
    cwd: Path
    data_dir: Path


@pytest.fixture(scope="module")
def ran(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Ran:
    """One job run end to end on the embedded default; the listing tests read what it stored."""
    cwd = tmp_path_factory.mktemp("run")
    data_dir = cwd / "data"
    env = sandbox.env(data_dir)
    result = _run(
        "run", "--start", "2025-01-01", "--end", sandbox.window_end(), "--wait", env=env, cwd=cwd
    )
    return Ran(result, env, cwd, data_dir)


def _clean(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout, result.stdout


# -- run -----------------------------------------------------------------------------------------


def test_run_waits_on_an_embedded_worker_and_ends_with_a_summary(
    ran: Ran, sandbox: Sandbox
) -> None:
    result = ran.result
    assert result.returncode == 0, result.stderr
    _clean(result)
    out = result.stdout
    assert "no broker configured" in out and "embedded" in out
    assert "job 1: transactions -> invoice details -> orders -> invoice PDFs" in out
    assert re.search(r"^job 1 done in .+ \(window 2025-01-01 \.\. ", out, re.M), out
    count = len(sandbox.transactions)
    assert re.search(rf"^  transactions +done +{count} transactions in \d+ pages", out, re.M), out
    assert re.search(r"^  invoice details +done +(\d+)/\1 line items", out, re.M), out
    assert re.search(r"^  orders +skipped +the Amazon Business Analytics role", out, re.M), out
    assert re.search(
        r"^  invoice PDFs +done +(\d+)/\1 settled, \1 stored, 0 unavailable", out, re.M
    )
    # The bars (stderr): a counter for the sync, bars with totals for the other stages.
    bars = result.stderr
    assert re.search(rf"transactions: {count}txn", bars), bars
    assert re.search(r"invoice details: 100%\|", bars), bars
    assert re.search(r"invoice PDFs: 100%\|", bars), bars


def test_jobs_list_shows_each_job_with_its_stages(ran: Ran) -> None:
    result = _run("jobs", "list", env=ran.env, cwd=ran.cwd)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["ID", "KIND", "WINDOW", "STATUS", "CREATED", "DURATION", "STAGES"]
    assert len(rows) == 1
    assert re.match(r"1 +run +2025-01-01 \.\. \d{4}-\d\d-\d\d +done +\d{4}-\d\d-\d\d ", rows[0])
    assert rows[0].endswith(
        "sync=done details=done orders=skipped pdfs=done match=done export=done"
    ), rows[0]
    none = _run("jobs", "list", "--status", "failed", env=ran.env, cwd=ran.cwd)
    assert none.returncode == 0 and "no jobs yet" in none.stdout


def test_jobs_show_gives_stages_counts_timings_and_reasons(ran: Ran, sandbox: Sandbox) -> None:
    result = _run("jobs", "show", "1", env=ran.env, cwd=ran.cwd)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("job 1 (run): done\n")
    assert "window:    2025-01-01 .. " in out and "end excluded" in out
    count = len(sandbox.transactions)
    assert f"  transactions: done, {count}/?" in out
    assert "counts:    pages=" in out and f"transactions={count}" in out
    assert re.search(r"  invoice details: done, (\d+)/\1\n", out), out
    assert "  orders: skipped\n" in out
    assert "the Amazon Business Analytics role is not granted: no order enrichment" in out
    assert re.search(r"  invoice PDFs: done, (\d+)/\1\n", out), out
    assert "no ledger imported (abrecon ledger import FILE): nothing to match" in out
    assert "entries_csv=" in out  # the export stage wrote the journal
    assert len(re.findall(r"    ran:       \d{4}-.+ \.\. \d{4}-.+ \(.+ s\)", out)) == 5, out


def test_documents_list_shows_the_stored_pdfs(ran: Ran) -> None:
    result = _run("documents", "list", env=ran.env, cwd=ran.cwd)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["INVOICE", "TYPE", "STATE", "PAGES", "BYTES", "PATH"]
    rows = [line.split() for line in lines[1:] if line and not line.startswith(("unavail", " "))]
    rows = [r for r in rows if len(r) == 6]
    assert rows, result.stdout
    for _number, kind, state, pages, size, path in rows:
        assert kind in ("Invoice", "Credits") and state == "done"
        assert int(pages) >= 1
        pdf = Path(path)
        assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size == int(size)
        assert ran.data_dir in pdf.parents
    assert lines[-1].startswith(f"{len(rows)} documents: {len(rows)} stored (")
    assert lines[-1].endswith("0 unavailable, 0 waiting")


def test_export_transactions_writes_one_row_per_transaction(ran: Ran, sandbox: Sandbox) -> None:
    out = ran.cwd / "exports" / "transactions.csv"
    out.parent.mkdir()
    result = _run("export", "transactions", "--out", str(out), env=ran.env, cwd=ran.cwd)
    assert result.returncode == 0, result.stderr
    count = len(sandbox.transactions)
    assert result.stdout.strip() == f"wrote {count} transactions to {out}"
    assert [p.name for p in out.parent.iterdir()] == ["transactions.csv"]  # no temp file left
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
        handle.seek(0)
        header = next(csv.reader(handle))
    assert header[0] == "transaction_id"
    assert header == [
        "transaction_id",
        "transaction_date",
        "transaction_type",
        "amount",
        "currency",
        "payment_instrument_type",
        "payment_instrument_last4",
        "buyer_name",
        "buyer_email",
        "order_ids",
        "invoice_number",
    ]
    assert len(rows) == count
    by_id = {t["transactionId"]: t for t in sandbox.transactions}
    assert {r["transaction_id"] for r in rows} == set(by_id)
    for row in rows:
        wire = by_id[row["transaction_id"]]
        assert row["amount"] == wire["amount"]["amount"]  # the exact decimal text
        assert Decimal(row["amount"]) == Decimal(wire["amount"]["amount"])
        assert row["currency"] == wire["amount"]["currencyCode"]
        assert row["transaction_type"] == wire["transactionType"]
        assert row["invoice_number"] == wire.get("invoiceNumber", "")
        orders = {li["orderId"] for li in wire.get("transactionLineItems", []) if li.get("orderId")}
        assert set(filter(None, row["order_ids"].split(";"))) == orders
        moment = datetime.fromisoformat(row["transaction_date"])
        assert moment == datetime.fromisoformat(wire["transactionDate"]).astimezone(UTC)
    dates = [r["transaction_date"] for r in rows]
    assert dates == sorted(dates)
    # Formula-like text is neutralised; a refund's amount stays a plain negative number.
    names = {r["transaction_id"]: r["buyer_name"] for r in rows}
    for transaction, formula in zip(sandbox.transactions, FORMULAS, strict=False):
        assert names[transaction["transactionId"]] == "'" + formula
    assert not any(r["buyer_name"].startswith(("=", "+", "-", "@")) for r in rows)
    refunds = [r for r in rows if r["transaction_type"] != "CHARGE"]
    assert refunds and all(r["amount"].startswith("-") for r in refunds)
    # Exporting again replaces the file whole.
    again = _run("export", "transactions", "--out", str(out), env=ran.env, cwd=ran.cwd)
    assert again.returncode == 0 and len(out.read_text().splitlines()) == count + 1


def test_export_into_a_missing_folder_is_one_clear_line(ran: Ran) -> None:
    result = _run(
        "export",
        "transactions",
        "--out",
        str(ran.cwd / "nowhere" / "t.csv"),
        env=ran.env,
        cwd=ran.cwd,
    )
    assert result.returncode == 1
    _clean(result)
    assert "cannot write" in result.stderr and "nowhere" in result.stderr


# -- single stages, unavailable documents --------------------------------------------------------


def test_sync_then_documents_fetch_records_unavailable_documents(
    fatal_sandbox: Sandbox, tmp_path: Path
) -> None:
    env = fatal_sandbox.env(tmp_path / "data", ABRECON_DOCUMENT_MAX_ATTEMPTS="1")
    end = fatal_sandbox.window_end()
    synced = _run("sync", "--start", "2025-01-01", "--end", end, env=env, cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr
    _clean(synced)
    assert "job 1: transactions over feed dates" in synced.stdout
    assert "no broker configured" in synced.stdout  # and so it waited, without --wait
    count = len(fatal_sandbox.transactions)
    assert re.search(rf"^  transactions +done +{count} transactions", synced.stdout, re.M)

    fetched = _run(
        "documents", "fetch", "--start", "2025-01-01", "--end", end, env=env, cwd=tmp_path
    )
    assert fetched.returncode == 0, fetched.stderr
    _clean(fetched)
    assert "job 2: invoice details -> invoice PDFs" in fetched.stdout
    assert re.search(
        r"^  invoice PDFs +done +(\d+)/\1 settled, 0 stored, \1 unavailable", fetched.stdout, re.M
    ), fetched.stdout
    assert "errors: " in fetched.stdout and "abrecon jobs show 2" in fetched.stdout

    listed = _run("documents", "list", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].startswith("unavailable (")
    reasons = [line for line in lines[1:] if line.startswith("  ")]
    assert reasons and all("ended without a document; last: FATAL" in r for r in reasons)
    assert lines[-1].endswith(f"0 stored (0 bytes), {len(reasons)} unavailable, 0 waiting")

    shown = _run("jobs", "show", "2", env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert f"    errors ({len(reasons)}):" in shown.stdout
    assert "ended without a document; last: FATAL" in shown.stdout

    listing = _run("jobs", "list", env=env, cwd=tmp_path).stdout.splitlines()
    assert [line.split()[:2] for line in listing[1:]] == [["2", "documents"], ["1", "sync"]]
    assert listing[1].endswith("details=done pdfs=done") and listing[2].endswith("sync=done")


@pytest.mark.postgresql
def test_the_store_can_be_postgresql(
    sandbox: Sandbox, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    url = postgres_server.create_database()
    try:
        env = sandbox.env(tmp_path / "data", ABRECON_DATABASE_URL=url)
        upgraded = _run("db", "upgrade", env=env, cwd=tmp_path)
        assert upgraded.returncode == 0, upgraded.stderr
        assert "upgraded from an empty database to " in upgraded.stdout
        assert "postgresql+psycopg://" in upgraded.stdout
        end = sandbox.window_end()
        synced = _run("sync", "--start", "2025-01-01", "--end", end, env=env, cwd=tmp_path)
        assert synced.returncode == 0, synced.stderr
        out = tmp_path / "pg.csv"
        exported = _run("export", "transactions", "--out", str(out), env=env, cwd=tmp_path)
        assert exported.returncode == 0, exported.stderr
        with out.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        wire = {t["transactionId"]: t["amount"]["amount"] for t in sandbox.transactions}
        # NUMERIC gives back 154.3 for 154.30: the export still writes the currency's places.
        assert {r["transaction_id"]: r["amount"] for r in rows} == wire
    finally:
        postgres_server.drop_database(url)


# -- a real worker on a broker -------------------------------------------------------------------


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[str]:
    """A Redis server of the test's own (the shared one's databases are in use elsewhere)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def answers() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")

    try:
        _wait_until(answers, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


def test_run_with_a_broker_is_enqueued_for_a_worker(
    sandbox: Sandbox, private_redis: str, tmp_path: Path
) -> None:
    env = sandbox.env(tmp_path / "data", ABRECON_BROKER_URL=private_redis)
    no_wait = _run(
        "run", "--start", "2025-01-01", "--end", sandbox.window_end(), env=env, cwd=tmp_path
    )
    assert no_wait.returncode == 0, no_wait.stderr
    assert f"job 1 enqueued for the workers on {private_redis}" in no_wait.stdout
    assert "abrecon jobs show 1" in no_wait.stdout and "embedded" not in no_wait.stdout
    listing = _run("jobs", "list", env=env, cwd=tmp_path).stdout
    assert re.search(r"^1 +run .+ running ", listing, re.M), listing  # no worker yet

    worker = subprocess.Popen(
        [*ABRECON, "worker", "--concurrency", "1"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        waited = _run(
            "run",
            "--start",
            "2025-01-01",
            "--end",
            sandbox.window_end(),
            "--wait",
            env=env,
            cwd=tmp_path,
        )
        assert waited.returncode == 0, waited.stderr
        _clean(waited)
        assert "job 2 enqueued for the workers" in waited.stdout
        assert re.search(r"^job 2 done in ", waited.stdout, re.M), waited.stdout
        # Job 1 waited in Redis for a worker; it has one now.
        _wait_until(
            lambda: _run("jobs", "show", "1", env=env, cwd=tmp_path).stdout.startswith(
                "job 1 (run): done\n"
            ),
            "job 1's end",
            timeout=60,
        )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert "starting: celery -A worker.app worker --pool=prefork" in output, output
    assert "--concurrency 1" in output
    statuses = _run("jobs", "list", env=env, cwd=tmp_path).stdout.splitlines()[1:]
    assert [line.split()[5] for line in statuses] == ["done", "done"]


def test_a_job_the_broker_refused_is_kept_and_resumed_embedded(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    nobody = f"redis://:secret@127.0.0.1:{_free_port()}/0"
    env = sandbox.env(tmp_path / "data")
    end = sandbox.window_end()
    refused = _run(
        "sync",
        "--start",
        "2025-01-01",
        "--end",
        end,
        env={**env, "ABRECON_BROKER_URL": nobody},
        cwd=tmp_path,
    )
    assert refused.returncode == 1
    _clean(refused)
    assert "job 1: transactions over feed dates" in refused.stdout
    error = refused.stderr.strip()
    assert error.startswith("Error: job 1 is recorded, but the broker redis://:***@127.0.0.1:")
    assert "secret" not in error and "abrecon jobs resume 1" in error
    listing = _run("jobs", "list", env=env, cwd=tmp_path).stdout
    assert re.search(r"^1 +sync .+ running .+ sync=running$", listing, re.M), listing

    resumed = _run("jobs", "resume", "1", env=env, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    _clean(resumed)
    assert "job 1: resuming at sync" in resumed.stdout and "embedded" in resumed.stdout
    count = len(sandbox.transactions)
    assert re.search(rf"^  transactions +done +{count} transactions", resumed.stdout, re.M)
    again = _run("jobs", "resume", "1", env=env, cwd=tmp_path)
    assert again.returncode == 1 and "job 1 has ended (done)" in again.stderr


# -- expected failures: one line, exit 1 ---------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("run", "--start", "2025-13-01", "--end", "2025-02-01"),
            "--start '2025-13-01' is not a date",
        ),
        (("run", "--start", "2025-01-01", "--end", "soon"), "--end 'soon' is not a date"),
        (("sync", "--start", "2025-03-01", "--end", "2025-02-01"), "must be after --start"),
        (("run", "--start", "2999-01-01", "--end", "2999-02-01"), "is in the future"),
        (("jobs", "show", "999"), "no job 999"),
        (("jobs", "show", "abc"), "'abc' is not a job id"),
        (("jobs", "resume", "999"), "no job 999"),
        (("worker",), "no broker configured"),
        (("beat",), "no broker configured"),
    ],
)
def test_expected_failures_are_one_clear_line(
    args: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    env = {
        **_base_env(),
        "ABRECON_DATA_DIR": str(tmp_path / "data"),
        "ABRECON_LWA_CLIENT_ID": "id",
        "ABRECON_LWA_CLIENT_SECRET": "secret",
        "ABRECON_LWA_REFRESH_TOKEN": "Atzr|x",
    }
    result = _run(*args, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 1, (result.stdout, result.stderr)
    _clean(result)
    errors = result.stderr.strip().splitlines()
    assert errors == [errors[0]] and errors[0].startswith("Error: "), result.stderr
    assert message in errors[0]


def test_a_missing_role_or_credential_is_refused_before_a_job_is_made(tmp_path: Path) -> None:
    env = {**_base_env(), "ABRECON_DATA_DIR": str(tmp_path / "data")}
    no_login = _run("run", "--start", "2025-01-01", "--end", "2025-01-31", env=env, cwd=tmp_path)
    assert no_login.returncode == 1
    _clean(no_login)
    assert "ABRECON_LWA_CLIENT_ID" in no_login.stderr
    role = {
        **env,
        "ABRECON_ROLES": "User Management",
        "ABRECON_LWA_CLIENT_ID": "id",
        "ABRECON_LWA_CLIENT_SECRET": "secret",
        "ABRECON_LWA_REFRESH_TOKEN": "Atzr|x",
    }
    refused = _run("sync", "--start", "2025-01-01", "--end", "2025-01-31", env=role, cwd=tmp_path)
    assert refused.returncode == 1
    _clean(refused)
    assert "getTransactions needs the Amazon Business role 'Business Purchase Reconciliation'" in (
        refused.stderr
    )
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "no jobs yet" in _run("jobs", "list", env=role, cwd=tmp_path).stdout


def test_db_upgrade_applies_the_migrations_once(tmp_path: Path) -> None:
    env = {**_base_env(), "ABRECON_DATA_DIR": str(tmp_path / "data")}
    first = _run("db", "upgrade", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    _clean(first)
    assert "upgraded from an empty database to " in first.stdout
    assert (tmp_path / "data" / "abrecon.db").exists()
    second = _run("db", "upgrade", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "already at revision " in second.stdout
    revision = first.stdout.strip().rsplit(" ", 1)[-1]
    assert second.stdout.strip().endswith(revision)


# -- in-process units ----------------------------------------------------------------------------


def test_dates_are_utc_and_a_bare_end_date_includes_its_day() -> None:
    import click

    from worker.cli import parse_date

    assert parse_date("2025-01-31", "--start") == datetime(2025, 1, 31, tzinfo=UTC)
    assert parse_date("2025-01-31", "--end", end=True) == datetime(2025, 2, 1, tzinfo=UTC)
    assert parse_date("2025-01-31T12:30:00Z", "--end", end=True) == datetime(
        2025, 1, 31, 12, 30, tzinfo=UTC
    )
    assert parse_date("2025-01-31T12:30:00", "--start") == datetime(2025, 1, 31, 12, 30, tzinfo=UTC)
    assert parse_date("2025-01-31T14:30:00+02:00", "--start") == datetime(
        2025, 1, 31, 12, 30, tzinfo=UTC
    )
    with pytest.raises(click.ClickException, match="--start '31/01/2025' is not a date"):
        parse_date("31/01/2025", "--start")


def test_cells_are_neutralised_but_amounts_are_not() -> None:
    from worker.services.exports import decimal_text, neutralise

    for cell in ("=1+1", "+1", "-1", "@A1", "\t=1", "\r=1"):
        assert neutralise(cell) == "'" + cell
    for cell in ("Priya", "113-1234567-1234567", "", "'quoted"):
        assert neutralise(cell) == cell
    assert decimal_text(Decimal("1E+2"), "USD") == "100.00"
    assert decimal_text(Decimal("1E+2"), "JPY") == "100"
    assert decimal_text(Decimal("-12.5"), "EUR") == "-12.50"  # PostgreSQL gives back -12.5
    assert decimal_text(Decimal("-12.50"), "USD") == "-12.50"
    assert decimal_text(Decimal("0.123456789"), "USD") == "0.123456789"  # never rounded
    assert decimal_text(Decimal("1.5"), "KWD") == "1.500"
    assert decimal_text(None) == ""


def test_worker_and_beat_get_sensible_defaults_unless_told_otherwise() -> None:
    from worker.cli import celery_beat_argv, celery_worker_argv, usable_cores
    from worker.settings import load_settings

    settings = load_settings(broker_url="redis://127.0.0.1:6379/0", log_level="WARNING")
    argv = celery_worker_argv(settings, [])
    assert argv[1:6] == ["-m", "celery", "-A", "worker.app", "worker"]
    assert "--pool=prefork" in argv and f"--concurrency={usable_cores()}" in argv
    assert "--loglevel=WARNING" in argv
    told = celery_worker_argv(settings, ["-c", "3", "--pool=solo", "-linfo", "-Q", "celery"])
    assert not any(a.startswith(("--concurrency=", "--pool=prefork", "--loglevel=")) for a in told)
    assert told[-6:] == ["-c", "3", "--pool=solo", "-linfo", "-Q", "celery"]
    beat = celery_beat_argv(settings, [])
    assert beat[5] == "beat" and any(a.startswith("--schedule=") for a in beat)
    assert not any(a.startswith("--schedule=") for a in celery_beat_argv(settings, ["-s", "x"]))


# -- docker compose ------------------------------------------------------------------------------


def test_docker_compose_wires_every_service() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read docker-compose.yml")
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"redis", "postgres", "sandbox", "migrate", "worker", "beat", "flower"}
    for name, service in services.items():
        if name != "migrate":  # a one-shot job: its exit status is its health
            assert service["healthcheck"]["test"], f"{name} has no health check"
    for name in ("sandbox", "migrate", "worker", "beat", "flower"):
        assert services[name]["image"] == "abrecon:local" and services[name]["build"] == "."
    database = "postgresql+psycopg://abrecon:abrecon@postgres:5432/abrecon"
    for name in ("migrate", "worker", "beat", "flower"):
        env = services[name]["environment"]
        assert env["ABRECON_BROKER_URL"] == "redis://redis:6379/0", name
        assert env["ABRECON_REDIS_URL"] == "redis://redis:6379/1", name
        assert env["ABRECON_DATABASE_URL"] == database, name
        assert env["ABRECON_API_ENDPOINT"] == "http://sandbox:8000", name
        assert env["ABRECON_LWA_ENDPOINT"] == "http://sandbox:8000/auth/o2/token", name
    assert services["migrate"]["command"] == ["abrecon", "db", "upgrade"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("worker", "beat"):
        depends = services[name]["depends_on"]
        for needed in ("redis", "postgres", "sandbox"):
            assert depends[needed]["condition"] == "service_healthy", (name, needed)
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert "abrecon-data:/home/abrecon/data" in services[name]["volumes"], name
    assert services["flower"]["depends_on"]["redis"]["condition"] == "service_healthy"
    # Scalable (`--scale worker=4`): no fixed container name, no published port.
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["command"] == ["abrecon", "worker"]
    assert services["beat"]["command"] == ["abrecon", "beat"]
    assert services["beat"]["deploy"]["replicas"] == 1
    assert services["flower"]["command"][:4] == ["celery", "-A", "worker.app", "flower"]
    assert services["flower"]["ports"] == ["127.0.0.1:5555:5555"]
    assert set(compose["volumes"]) >= {"pgdata", "abrecon-data"}
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "flower" in dockerfile and "/home/abrecon/data" in dockerfile
