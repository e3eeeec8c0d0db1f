"""Expiring named leases in the database: one holder at a time, taken over when it expires."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from worker.store.tables import LeaseRow

#: Who this process is, in lease rows and logs.
HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire_lease(engine: Engine, name: str, now: datetime, ttl: float) -> bool:
    """Take or renew lease ``name`` for ``ttl`` seconds; false when someone else holds it."""
    table = LeaseRow.__table__  # type: ignore[attr-defined]
    expires = now + timedelta(seconds=ttl)
    with engine.begin() as conn:
        updated = conn.execute(
            sa.update(table)
            .where(table.c.name == name)
            .where(sa.or_(table.c.holder == HOLDER, table.c.expires_at < now))
            .values(holder=HOLDER, expires_at=expires)
        ).rowcount
        if updated:
            return True
        try:
            with conn.begin_nested():
                conn.execute(sa.insert(table).values(name=name, holder=HOLDER, expires_at=expires))
        except sa.exc.IntegrityError:
            return False
        return True


def release_lease(engine: Engine, name: str) -> None:
    """Give lease ``name`` back if this process holds it."""
    table = LeaseRow.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(sa.delete(table).where(table.c.name == name, table.c.holder == HOLDER))
