"""``abrecon ledger``, ``match``, ``matches`` and the match exports as a user runs them."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

ABRECON = [sys.executable, "-m", "worker.cli"]
HEADER = "entry_id,posted_date,amount,currency,description,reference,card_last4\n"


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABRECON_")}
    env.update(
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),
        ABRECON_DATA_DIR=str(tmp_path / "data"),
        ABRECON_LWA_REFRESH_TOKEN="Atzr|cli",
    )
    return subprocess.run(
        [*ABRECON, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def test_import_match_and_export(tmp_path: Path) -> None:
    books = tmp_path / "books.csv"
    books.write_text(
        HEADER + "L1,2025-01-02,10.00,USD,Paper,111-2,1234\n"
        'L2,2025-01-03,=HYPERLINK("x"),USD,Bad,,\n'
    )
    bad = _run(tmp_path, "ledger", "import", str(books))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "line 3" in bad.stderr and "nothing was imported" in bad.stderr
    books.write_text(
        HEADER + "L1,2025-01-02,10.00,USD,Paper,111-2,1234\n"
        "L2,2025-01-03,-5.50,USD,=cmd|' /C calc'!A0,,\n"
    )
    first = _run(tmp_path, "ledger", "import", str(books))
    assert first.returncode == 0, first.stderr
    assert "2 rows; 2 new, 0 changed, 0 unchanged" in first.stdout
    again = _run(tmp_path, "ledger", "import", str(books))
    assert "2 rows; 0 new, 0 changed, 2 unchanged" in again.stdout
    listed = _run(tmp_path, "ledger", "list")
    assert "L1" in listed.stdout and "unmatched" in listed.stdout
    matched = _run(tmp_path, "match", "--dry-run")
    assert matched.returncode == 0, matched.stderr
    assert "unmatched: 0 transactions, 2 ledger lines" in matched.stdout
    assert "dry run: nothing stored" in matched.stdout
    review = _run(tmp_path, "matches", "review")
    assert "0 matches to review" in review.stdout
    out = tmp_path / "exceptions.csv"
    exported = _run(tmp_path, "export", "exceptions", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:2] == ["side", "id"] and len(rows) == 3
    assert all(not cell.startswith(("=", "+", "@")) for row in rows[1:] for cell in row)
    unknown = _run(tmp_path, "matches", "confirm", "999")
    assert unknown.returncode == 1 and "no match '999'" in unknown.stderr
