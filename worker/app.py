"""The Celery application.

Workers start with ``celery -A worker.app worker`` (or ``abrecon worker``), the scheduler with
``celery -A worker.app beat``. The broker is Redis (``ABRECON_BROKER_URL``, else
``ABRECON_REDIS_URL``); without one, ``memory://`` serves a worker embedded in the ``abrecon``
process.

Delivery is at-least-once and every task is idempotent: messages are acknowledged after the task
ran (``task_acks_late``), one at a time per process (prefetch 1), requeued if the worker process
dies, and every countdown and time limit stays well below Redis's visibility timeout, past which
Redis would deliver a message again.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.schedules import crontab
from celery.signals import worker_process_init

from worker.settings import Settings, get_settings

VISIBILITY_TIMEOUT = 3600
SOFT_TIME_LIMIT = 240
TIME_LIMIT = 300


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery's settings for abrecon (see the module docstring for why each is so)."""
    broker = settings.effective_broker_url or "memory://"
    transport: dict[str, Any] = {"visibility_timeout": VISIBILITY_TIMEOUT}
    if broker.startswith("memory://"):
        transport["polling_interval"] = 0.05  # in-process queue: poll often, it costs nothing
    return {
        "broker_url": broker,
        "result_backend": None,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_soft_time_limit": SOFT_TIME_LIMIT,
        "task_time_limit": TIME_LIMIT,
        "worker_soft_shutdown_timeout": 30,
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "task_serializer": "json",
        "accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        "worker_hijack_root_logger": False,
        "beat_schedule": {
            "sweep": {
                "task": "abrecon.sweep",
                "schedule": settings.sweep_interval_seconds,
            },
            "daily-sync": {
                "task": "abrecon.incremental_sync",
                "schedule": crontab(hour=3, minute=17),
            },
        },
    }


def create_app(settings: Settings | None = None) -> Celery:
    """A Celery app configured from ``settings`` with abrecon's tasks registered."""
    celery = Celery("abrecon")
    celery.conf.update(celery_config(settings or get_settings()))
    from worker.tasks import register

    register(celery)
    return celery


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """A forked pool process must not reuse its parent's database or HTTP connections."""
    from worker.services.context import reset_contexts
    from worker.store.engine import dispose_engines

    dispose_engines()
    reset_contexts()


app = create_app()
