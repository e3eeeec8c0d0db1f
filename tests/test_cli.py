"""The ``abrecon`` command as a user runs it: a real process, real output."""

from __future__ import annotations

import csv
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ABRECON = [sys.executable, "-m", "worker.cli"]


def _run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ABRECON_")}
    base["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return subprocess.run(
        [*ABRECON, *args],
        env={**base, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_roles_shows_granted_and_missing(tmp_path: Path) -> None:
    result = _run(
        "roles",
        cwd=tmp_path,
        env={
            "ABRECON_ROLES": "Business Purchase Reconciliation,Amazon Business Analytics",
        },
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Business Purchase Reconciliation  [granted]" in out
    assert "Amazon Business Analytics  [granted]" in out
    assert "User Management  [missing]" in out
    assert "getTransactions" in out and "createReport" in out
    assert "no order enrichment" not in out  # Analytics is granted
    none = _run("roles", cwd=tmp_path, env={"ABRECON_ROLES": "User Management"}).stdout
    assert "no reconciliation at all" in none
    assert "no order enrichment" in none


def test_a_bad_setting_is_one_clear_line(tmp_path: Path) -> None:
    result = _run("roles", cwd=tmp_path, env={"ABRECON_REGION": "MOON"})
    assert result.returncode == 1
    assert "ABRECON_REGION" in result.stderr
    assert "Traceback" not in result.stderr


def test_generate_writes_scenario_ledger_and_truth(tmp_path: Path) -> None:
    result = _run(
        "sandbox",
        "generate",
        "--orders",
        "15",
        "--seed",
        "4",
        "--out",
        str(tmp_path / "gen"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    with (tmp_path / "gen" / "ledger.csv").open(newline="") as handle:
        header = next(csv.reader(handle))
    assert header == [
        "entry_id",
        "posted_date",
        "amount",
        "currency",
        "description",
        "reference",
        "card_last4",
    ]
    assert (tmp_path / "gen" / "scenario.json").stat().st_size > 1000
    assert (tmp_path / "gen" / "truth.csv").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sandbox_serve_answers_a_client_configured_by_environment(tmp_path: Path) -> None:
    port = _free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("ABRECON_")}
    base["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    server = subprocess.Popen(
        [
            *ABRECON,
            "sandbox",
            "serve",
            "--port",
            str(port),
            "--seed",
            "3",
            "--roles",
            "Business Purchase Reconciliation",
        ],
        env=base,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if requests.get(f"{url}/_sandbox/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        script = (
            "from datetime import UTC, datetime\n"
            "from connectors.amazon_business.client import AmazonBusinessClient\n"
            "from connectors.amazon_business.roles import Role\n"
            "from worker.settings import load_settings\n"
            "c = AmazonBusinessClient.from_config(load_settings().connection_config(),"
            " blocking=True)\n"
            "n = sum(1 for _ in c.reconciliation.iter_transactions("
            "datetime(2025,1,1,tzinfo=UTC), datetime(2025,5,1,tzinfo=UTC)))\n"
            "print('transactions', n)\n"
        )
        env = {
            **base,
            "ABRECON_API_ENDPOINT": url,
            "ABRECON_LWA_ENDPOINT": f"{url}/auth/o2/token",
            "ABRECON_LWA_CLIENT_ID": "id",
            "ABRECON_LWA_CLIENT_SECRET": "secret",
            "ABRECON_LWA_REFRESH_TOKEN": "Atzr|token",
        }
        result = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert int(result.stdout.split()[-1]) > 100
    finally:
        server.terminate()
        server.wait(10)


def test_demo_runs_a_job_on_the_embedded_defaults(tmp_path: Path) -> None:
    started = time.monotonic()
    result = _run("demo", "--orders", "20", cwd=tmp_path, timeout=180)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout
    assert "generous usage plans for the demo" in out
    assert "broker: in memory; worker: embedded in this process" in out
    assert "job 1: transactions -> invoice details -> invoice PDFs" in out
    assert "summary" in out and re.search(r"^  job 1 done in ", out, re.M), out
    assert re.search(r"^    transactions +done +\d+ transactions in \d+ pages", out, re.M), out
    assert re.search(r"^    invoice PDFs +done +(\d+)/\1 settled, \1 stored", out, re.M), out
    stored = re.search(r"^  invoice PDFs: +(\d+) stored in (\S+)$", out, re.M)
    assert stored, out
    demo = tmp_path / "abrecon-data" / "demo"
    pdfs = list((demo / "documents").rglob("*.pdf"))
    assert len(pdfs) == int(stored.group(1)) > 0
    assert all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
    assert (demo / "abrecon.db").exists() and (demo / "ledger.csv").exists()
    # The whole job: matching, the journal in three formats and the reimbursements.
    assert re.search(r"^  matched: +\d+ of \d+ transactions", out, re.M), out
    journal = re.search(r"^  journal entries: +(\d+) balanced entries \((\d+) lines\)", out, re.M)
    assert journal and int(journal.group(1)) > 0, out
    exports = demo / "exports"
    for name in ("journal-1.csv", "journal-1.beancount", "journal-1.journal"):
        assert (exports / name).stat().st_size > 0
    rows = (exports / "journal-1.csv").read_text().splitlines()
    assert len(rows) == int(journal.group(2)) + 1
    assert re.search(r"^  reimbursements: +\d+ records for \d+ employees", out, re.M), out
    assert (exports / "reimbursements-1.json").exists()
    assert elapsed < 60, f"the demo took {elapsed:.0f} s"
    # Its job is stored like any other, in the demo's own store.
    shown = _run("jobs", "show", "1", cwd=tmp_path, env={"ABRECON_DATA_DIR": str(demo)})
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("job 1 (demo): done")
    # Run again, it finds its work done: the same figures, no PDF fetched twice.
    again = _run("demo", "--orders", "20", cwd=tmp_path, timeout=180)
    assert again.returncode == 0, again.stderr
    assert f"invoice PDFs:     {stored.group(1)} stored" in again.stdout
    assert "0 balanced entries (0 lines) in journal-2.csv" in again.stdout
    assert f"{journal.group(1)} written by earlier runs" in again.stdout
    assert len(list((demo / "documents").rglob("*.pdf"))) == len(pdfs)
