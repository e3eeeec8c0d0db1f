"""What a unit of work needs: settings, the database engine and an Amazon Business client."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import redis
from sqlalchemy.engine import Engine

from connectors.amazon_business.client import AmazonBusinessClient
from worker.settings import Settings, get_settings
from worker.store.engine import get_engine
from worker.store.migrate import ensure_schema


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    """Everything a service function touches, made once per process."""

    settings: Settings
    engine: Engine
    client: AmazonBusinessClient
    redis: redis.Redis | None = None
    clock: Callable[[], datetime] = field(default=utcnow)

    @property
    def party(self) -> str:
        return self.settings.party

    @property
    def documents_dir(self) -> Path:
        return self.settings.data_dir / "documents"


_contexts: dict[tuple[int, int], Context] = {}
_lock = threading.Lock()
_override: Settings | None = None


def use_settings(settings: Settings | None) -> None:
    """Make ``settings`` the process's settings for tasks and services (None: environment)."""
    global _override
    with _lock:
        _override = settings
        _contexts.clear()


def build_context(settings: Settings) -> Context:
    """A context for ``settings``: schema applied, shared Redis state when configured."""
    url = settings.effective_database_url
    ensure_schema(url)
    engine = get_engine(url)
    shared = redis.Redis.from_url(settings.redis_url) if settings.redis_url else None
    client = AmazonBusinessClient.from_config(settings.connection_config(), redis=shared)
    return Context(settings=settings, engine=engine, client=client, redis=shared)


def get_context(settings: Settings | None = None) -> Context:
    """The process's context (a forked child builds its own)."""
    settings = settings or _override or get_settings()
    key = (os.getpid(), id(settings))
    with _lock:
        context = _contexts.get(key)
        if context is None:
            context = _contexts[key] = build_context(settings)
        return context


def reset_contexts() -> None:
    """Forget every context (tests that change settings between runs)."""
    with _lock:
        _contexts.clear()
