"""Keeping secrets out of log lines.

Access tokens (``Atza|...``), refresh tokens (``Atzr|...``), client secrets and the signature of a
presigned document URL must never reach a log, whichever library writes the line: urllib3 logs
every request line at DEBUG, query string included. A log-record factory installed once per
process masks them in every record before any handler sees it; known secret values (the
configured client secret and refresh token) are registered with :func:`register_secret` and
masked wherever they occur.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

MASK = "<redacted>"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(Atz[ar]\|)[^\s\"'&,;]+"), r"\1" + MASK),
    (
        re.compile(
            r"((?:X-Amz-(?:Signature|Credential|Security-Token)|Signature|"
            r"client_secret|refresh_token|access_token)=)[^&\s\"']+",
            re.IGNORECASE,
        ),
        r"\1" + MASK,
    ),
    (
        re.compile(r"(\"(?:access_token|refresh_token|client_secret)\"\s*:\s*\")[^\"]*"),
        r"\1" + MASK,
    ),
)

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def register_secret(value: str) -> None:
    """Mask ``value`` wherever it appears in a log record (ignored when short or empty)."""
    if len(value) >= 6:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with every known secret and secret-looking token masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    for secret in tuple(_secrets):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def install_log_redaction() -> None:
    """Wrap the process's log-record factory so every record is redacted (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            try:
                message = record.getMessage()
            except Exception:  # a malformed record: leave it to logging's own error path
                return record
            cleaned = redact(message)
            if cleaned != message or record.args:
                record.msg = cleaned
                record.args = None
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
