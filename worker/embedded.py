"""A Celery worker inside the ``abrecon`` process, for running without a broker.

With no broker configured, the app uses Celery's in-memory transport and this worker consumes
from it in a thread of the same process: the same tasks, the same countdowns and retries as on
Redis, with nothing to install. A job started this way lives as long as the process does; its
state is in the database, so a later run (or a real worker) can finish it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from celery import Celery
from celery.contrib.testing.worker import start_worker


@contextmanager
def embedded_worker(app: Celery, *, concurrency: int = 1) -> Iterator[None]:
    """Run a worker for ``app`` in this process while the block runs."""
    with start_worker(
        app,
        pool="threads" if concurrency > 1 else "solo",
        concurrency=concurrency,
        perform_ping_check=False,
        loglevel=logging.WARNING,
        shutdown_timeout=30.0,
    ):
        yield
