"""Running the real ``bean-check`` and ``hledger`` on written files (skipped if not installed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BEAN_CHECK = Path(sys.executable).with_name("bean-check")
HLEDGER = shutil.which("hledger")


def bean_check(path: Path) -> None:
    """Fail the test with bean-check's messages unless ``path`` is a valid beancount ledger."""
    if not BEAN_CHECK.exists():
        pytest.skip("bean-check is not installed (pip install 'beancount>=3' in the venv)")
    done = subprocess.run(
        [str(BEAN_CHECK), str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr + "\n" + path.read_text()


def hledger(path: Path, *command: str) -> str:
    """hledger's output for ``command`` on ``path``; fails the test if hledger fails."""
    if HLEDGER is None:
        pytest.skip("hledger is not installed (apt-get install hledger)")
    done = subprocess.run(
        [HLEDGER, "-f", str(path), *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr + "\n" + path.read_text()
    return done.stdout
