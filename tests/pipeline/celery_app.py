"""The Celery app the subprocess workers of the pipeline tests run (``celery -A`` this module).

It is :data:`worker.app.app` itself, configured from the ``ABRECON_*`` environment like any
worker, with one timing changed: a createReport whose outcome is unknown and that no listed
report matches counts as never received after ``ABRECON_TEST_RESOLVE_AFTER_SECONDS`` (default
3 s) rather than two minutes. The sandbox lists a report the moment it creates it, so the shorter
wait reaches the same verdict; a worker killed between committing a createReport and sending it
then recovers in seconds.
"""

from __future__ import annotations

import os

from worker.app import app
from worker.services import documents

documents.RESOLVE_AFTER_SECONDS = float(os.environ.get("ABRECON_TEST_RESOLVE_AFTER_SECONDS", "3"))

__all__ = ["app"]
