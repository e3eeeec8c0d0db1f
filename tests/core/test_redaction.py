"""Secrets never reach a log line, whichever logger writes it."""

from __future__ import annotations

import logging

import pytest

from connectors.amazon_business.errors import redact_url
from connectors.amazon_business.redaction import install_log_redaction, redact, register_secret


def test_redact_masks_tokens_and_signatures() -> None:
    text = (
        "token Atza|IwEBIA-xyz refresh=Atzr|abc123 "
        "GET /doc?X-Amz-Date=1&X-Amz-Signature=deadbeef&X-Amz-Credential=AKIA/x "
        '{"access_token": "opaque-value", "client_secret": "s3"} client_secret=abc&x=1'
    )
    out = redact(text)
    for secret in ("IwEBIA-xyz", "abc123", "deadbeef", "AKIA/x", "opaque-value", '"s3"', "=abc&"):
        assert secret not in out
    assert "X-Amz-Date=1" in out


def test_registered_secret_masked_in_any_logger(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    register_secret("plain-client-secret-42")
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("urllib3.connectionpool").debug(
            "%s sent %s", "client", "plain-client-secret-42"
        )
        logging.getLogger("anything").info("token Atza|live-token-value in a message")
    assert "plain-client-secret-42" not in caplog.text
    assert "live-token-value" not in caplog.text
    assert "<redacted>" in caplog.text


def test_redact_url_drops_query() -> None:
    url = "https://bucket.s3.amazonaws.com/doc/1.pdf?X-Amz-Signature=abc&X-Amz-Expires=300"
    assert redact_url(url) == "https://bucket.s3.amazonaws.com/doc/1.pdf?<redacted>"
    assert redact_url("https://user:pw@host/p") == "https://host/p"
