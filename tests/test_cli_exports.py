"""The journal and reimbursement exports and ``abrecon reimbursements``, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.amazon_business.models import Transaction
from connectors.sandbox.generator import write_scenario
from connectors.sandbox.scenario import load_scenario
from worker.services.context import get_context, use_settings
from worker.services.sync import store_transactions
from worker.settings import load_settings
from worker.store.engine import session_scope

ABRECON = [sys.executable, "-m", "worker.cli"]
TOKEN = "Atzr|cli-exports"


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    """A store with a generated scenario's transactions, and the CLI environment reading it."""
    paths = write_scenario(tmp_path / "gen", 40, 17)
    cards = json.loads(paths["company"].read_text())["company_cards"]
    settings = load_settings(data_dir=tmp_path / "data", lwa_refresh_token=TOKEN)
    use_settings(settings)
    try:
        ctx = get_context()
        txns = [
            Transaction.model_validate(t) for t in load_scenario(paths["scenario"]).transactions
        ]
        with session_scope(ctx.engine) as session:
            store_transactions(session, ctx, txns, ctx.clock())
    finally:
        use_settings(None)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ABRECON_")}
    environ.update(
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),
        ABRECON_DATA_DIR=str(tmp_path / "data"),
        ABRECON_LWA_REFRESH_TOKEN=TOKEN,
        ABRECON_COMPANY_CARDS=",".join(cards),
    )
    return environ


def _run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ABRECON, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_export_journal_in_formats_and_since_last(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "journal.beancount"
    done = _run(env, tmp_path, "export", "journal", "--format", "beancount", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "journal entries" in done.stdout and out.exists()
    check = subprocess.run(
        [str(Path(sys.executable).parent / "bean-check"), str(out)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    iif = tmp_path / "journal.iif"
    first = _run(
        env, tmp_path, "export", "journal", "--format", "iif", "--out", str(iif), "--since-last"
    )
    assert first.returncode == 0, first.stderr
    again = _run(
        env, tmp_path, "export", "journal", "--format", "iif", "--out", str(iif), "--since-last"
    )
    assert (
        "wrote 0 journal entries" in again.stdout
        and "exported before were left out" in again.stdout
    )


def test_datev_without_account_numbers_is_one_clear_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "EXTF_Buchungsstapel.csv"
    done = _run(env, tmp_path, "export", "journal", "--format", "datev", "--out", str(out))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "account_codes" in done.stderr and not out.exists()
    rules = tmp_path / "rules.toml"
    rules.write_text(
        'default_expense = "4980"\ncompany_card = "1800"\naccounts_payable = "1600"\n'
        'employee_payable = "1700"\n[formats]\ndatev_account_length = 4\n'
    )
    env = {**env, "ABRECON_POSTING_RULES": str(rules)}
    done = _run(
        env,
        tmp_path,
        "export",
        "journal",
        "--format",
        "datev",
        "--out",
        str(out),
        "--start",
        "2025-01-01",
        "--end",
        "2025-12-31",
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(b'"EXTF";700;21;"Buchungsstapel"')


def test_bad_rules_file_and_bad_dates_are_clear_errors(env: dict[str, str], tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('default_expnse = "X"\n')
    bad = _run(
        {**env, "ABRECON_POSTING_RULES": str(rules)},
        tmp_path,
        "export",
        "journal",
        "--format",
        "csv",
        "--out",
        str(tmp_path / "j.csv"),
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "default_expnse is not a posting rule" in bad.stderr
    dates = _run(
        env,
        tmp_path,
        "export",
        "journal",
        "--format",
        "csv",
        "--out",
        str(tmp_path / "j.csv"),
        "--start",
        "2025-13-01",
    )
    assert dates.returncode == 1 and "--start '2025-13-01' is not a date" in dates.stderr


def test_reimbursements_export_list_and_paid(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "reimbursements.csv"
    done = _run(env, tmp_path, "export", "reimbursements", "--out", str(out))
    assert done.returncode == 0, done.stderr
    header = out.read_text().splitlines()[0]
    assert header.startswith("reimbursement_id,employee_id,employee_name,employee_email")
    listed = _run(env, tmp_path, "reimbursements", "list")
    assert listed.returncode == 0 and "exported" in listed.stdout
    first = listed.stdout.split()[0]
    paid = _run(env, tmp_path, "reimbursements", "paid", first)
    assert paid.returncode == 0 and f"{first} marked paid" in paid.stdout
    assert "paid" in _run(env, tmp_path, "reimbursements", "list").stdout
    unknown = _run(env, tmp_path, "reimbursements", "paid", "RB-none")
    assert unknown.returncode == 1 and "no reimbursement" in unknown.stderr
    assert "Traceback" not in unknown.stderr
