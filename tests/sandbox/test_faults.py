"""Injected faults: the spec parser, the seeded decision, and each fault's effect on the wire."""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest
import requests

from connectors.sandbox.faults import Fault, FaultKind, FaultSpec
from connectors.sandbox.scenario import Scenario
from connectors.sandbox.server import SandboxServer
from tests.sandbox.conftest import SandboxFactory
from tests.sandbox.test_server import (
    ALL_TIME,
    CONTRACT,
    Client,
    finished_report,
    invoice_report,
    logged_in_client,
    report_document,
)
from tests.support.api_models import validate_response

# ---------------------------------------------------------------------------------------------
# FaultSpec
# ---------------------------------------------------------------------------------------------


def test_parse_the_documented_example() -> None:
    spec = FaultSpec.parse(
        "429=0.05,500=0.02,503=0.02,slow=0.05,drop=0.01,truncate=0.01,slow_seconds=2"
    )
    assert dict(spec.rates) == {
        FaultKind.THROTTLED: 0.05,
        FaultKind.INTERNAL_ERROR: 0.02,
        FaultKind.UNAVAILABLE: 0.02,
        FaultKind.SLOW: 0.05,
        FaultKind.DROP: 0.01,
        FaultKind.TRUNCATE: 0.01,
    }
    assert spec.slow_seconds == 2.0
    assert spec.total_rate == pytest.approx(0.16)
    assert FaultSpec.parse(str(spec)) == spec


def test_parse_empty_and_spacing() -> None:
    assert not FaultSpec.parse("")
    assert not FaultSpec.parse("none")
    spec = FaultSpec.parse(" drop = 0.5 , SLOW=0.1,")
    assert dict(spec.rates) == {FaultKind.DROP: 0.5, FaultKind.SLOW: 0.1}


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("429=0.1,teapot=0.2", "'teapot=0.2'"),
        ("500=lots", "'500=lots'"),
        ("503=1.5", "'503=1.5'"),
        ("drop=-0.1", "'drop=-0.1'"),
        ("slow", "'slow'"),
        ("slow=0.1,slow=0.2", "'slow=0.2'"),
        ("slow_seconds=-1", "'slow_seconds=-1'"),
        ("429=nan", "'429=nan'"),
    ],
)
def test_parse_errors_name_the_bad_item(text: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        FaultSpec.parse(text)


def test_rates_must_not_add_up_to_more_than_one() -> None:
    with pytest.raises(ValueError, match="at most 1"):
        FaultSpec.parse("429=0.6,500=0.6")


def test_pick_is_seeded_and_follows_the_rates() -> None:
    spec = FaultSpec.parse("429=0.2,drop=0.1,slow=0.1,slow_seconds=0.5")
    first = [spec.pick(random.Random(42)) for _ in range(1)]
    rng_a, rng_b = random.Random(42), random.Random(42)
    sequence_a = [spec.pick(rng_a) for _ in range(200)]
    sequence_b = [spec.pick(rng_b) for _ in range(200)]
    assert sequence_a == sequence_b
    assert sequence_a[0] == first[0]

    rng = random.Random(1)
    counts = Counter(
        fault.kind if fault else None for fault in (spec.pick(rng) for _ in range(20_000))
    )
    assert counts[FaultKind.THROTTLED] / 20_000 == pytest.approx(0.2, abs=0.02)
    assert counts[FaultKind.DROP] / 20_000 == pytest.approx(0.1, abs=0.02)
    assert counts[None] / 20_000 == pytest.approx(0.6, abs=0.02)
    assert Fault(FaultKind.SLOW, 0.5) in sequence_a
    assert FaultSpec().pick(random.Random(0)) is None


# ---------------------------------------------------------------------------------------------
# Effects on the wire
# ---------------------------------------------------------------------------------------------


def faulty_client(make_sandbox: SandboxFactory, spec: str) -> tuple[Client, SandboxServer]:
    return logged_in_client(make_sandbox, faults=FaultSpec.parse(spec), enforce_usage_plans=False)


def get_transactions(client: Client, timeout: float) -> requests.Response:
    """getTransactions sent past :meth:`Client.call`, so that a faulty answer is not checked."""
    return client.session.get(
        client.url("getTransactions"),
        params=ALL_TIME,
        headers={"x-amz-access-token": client.token or ""},
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("spec", "status", "code"),
    [
        ("429=1", 429, "QuotaExceeded"),
        ("500=1", 500, "InternalFailure"),
        ("503=1", 503, "ServiceUnavailable"),
    ],
)
def test_error_faults(make_sandbox: SandboxFactory, spec: str, status: int, code: str) -> None:
    client, _ = faulty_client(make_sandbox, spec)
    response = get_transactions(client, timeout=10)
    assert response.status_code == status
    assert response.json()["errors"][0]["code"] == code
    assert response.headers["x-amzn-RequestId"]
    if CONTRACT and status != 503:  # getTransactions declares no 503; the others are checked
        validate_response("getTransactions", status, response.json())


def test_slow_fault_answers_late_but_normally(make_sandbox: SandboxFactory) -> None:
    client, _ = faulty_client(make_sandbox, "slow=1,slow_seconds=0.3")
    started = time.monotonic()
    response = client.call("getTransactions", params=ALL_TIME)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(requests.Timeout):
        get_transactions(client, timeout=0.1)


@pytest.mark.parametrize(
    ("fault", "errors", "logged_status"),
    [
        # drop closes the connection without an answer
        ("drop", (requests.ConnectionError,), 0),
        # truncate sends part of the body
        ("truncate", (requests.exceptions.ChunkedEncodingError, requests.ConnectionError), 200),
    ],
)
def test_broken_connection_faults(
    make_sandbox: SandboxFactory,
    fault: str,
    errors: tuple[type[Exception], ...],
    logged_status: int,
) -> None:
    client, sandbox = faulty_client(make_sandbox, f"{fault}=1")
    with pytest.raises(errors):
        get_transactions(client, timeout=5)
    entry = sandbox.request_log("getTransactions")[-1]
    assert (entry.status, entry.fault) == (logged_status, fault)


def test_faults_spare_login_and_control_endpoints(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox(faults=FaultSpec.parse("drop=1"))
    client = Client(sandbox.url).login()  # would fail if the token endpoint were faulted
    for path in ("/_sandbox/health", "/_sandbox/requests"):
        assert requests.get(f"{sandbox.url}{path}", timeout=5).status_code == 200
    assert requests.post(f"{sandbox.url}/_sandbox/reset-log", timeout=5).status_code == 200
    assert client.token


def test_faults_hit_document_downloads(make_sandbox: SandboxFactory, scenario: Scenario) -> None:
    client, sandbox = logged_in_client(
        make_sandbox, enforce_usage_plans=False, report_processing_seconds=0.05
    )
    report = finished_report(client, invoice_report(scenario))
    url = report_document(client, report)["url"]
    sandbox.config.faults = FaultSpec.parse("truncate=1")
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        requests.get(url, timeout=5)
    sandbox.config.faults = FaultSpec.parse("503=1")
    throttled = requests.get(url, timeout=5)
    assert throttled.status_code == 503
    assert "<Code>SlowDown</Code>" in throttled.text
    sandbox.config.faults = None
    assert requests.get(url, timeout=5).content.startswith(b"%PDF-")


def test_same_seed_same_faults(make_sandbox: SandboxFactory) -> None:
    def statuses(seed: int) -> list[int]:
        client, _ = logged_in_client(
            make_sandbox,
            faults=FaultSpec.parse("429=0.3,500=0.3"),
            seed=seed,
            enforce_usage_plans=False,
        )
        return [get_transactions(client, timeout=5).status_code for _ in range(20)]

    first = statuses(11)
    assert first == statuses(11)
    assert {200, 429, 500} <= set(first)
