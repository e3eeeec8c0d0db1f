"""Expiring named leases in the database: one holder at a time, taken over when it expires."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from worker.store.tables import LeaseRow

_TOKEN = uuid.uuid4().hex[:8]


def holder() -> str:
    """Who holds a lease, in lease rows and logs: this host, process and thread.

    Computed at each call, not at import: Celery's prefork children import nothing after the
    fork, so a name fixed at import would be shared by every child of a worker (and by every
    thread of a threads pool), and each would think it holds the others' leases.
    """
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{_TOKEN}"


def acquire_lease(engine: Engine, name: str, now: datetime, ttl: float) -> bool:
    """Take or renew lease ``name`` for ``ttl`` seconds; false when someone else holds it."""
    table = LeaseRow.__table__  # type: ignore[attr-defined]
    expires = now + timedelta(seconds=ttl)
    me = holder()
    with engine.begin() as conn:
        updated = conn.execute(
            sa.update(table)
            .where(table.c.name == name)
            .where(sa.or_(table.c.holder == me, table.c.expires_at < now))
            .values(holder=me, expires_at=expires)
        ).rowcount
        if updated:
            return True
        try:
            with conn.begin_nested():
                conn.execute(sa.insert(table).values(name=name, holder=me, expires_at=expires))
        except sa.exc.IntegrityError:
            return False
        return True


def release_lease(engine: Engine, name: str) -> None:
    """Give lease ``name`` back if this process and thread hold it."""
    table = LeaseRow.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(sa.delete(table).where(table.c.name == name, table.c.holder == holder()))
