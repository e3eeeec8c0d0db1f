"""Fixtures of the sandbox tests: a generated scenario and sandboxes serving it on port 0."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from connectors.sandbox.generator import generate_scenario
from connectors.sandbox.scenario import Scenario
from connectors.sandbox.server import SandboxConfig, SandboxServer

SandboxFactory = Callable[..., SandboxServer]


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate_scenario(orders=30, seed=7)[0]


@pytest.fixture
def make_sandbox(scenario: Scenario) -> Iterator[SandboxFactory]:
    """Start sandboxes with config overrides; all are stopped after the test."""
    with ExitStack() as started:

        def make(**overrides: Any) -> SandboxServer:
            overrides.setdefault("report_processing_seconds", 0.3)
            return started.enter_context(SandboxServer(scenario, SandboxConfig(**overrides)))

        yield make
