"""Run the sandbox as a long-lived local Amazon Business for other processes (the CLI's entry).

``serve`` loads a scenario file (or generates a 200-order scenario from the seed), starts a
:class:`~connectors.sandbox.server.SandboxServer` and blocks until Ctrl-C. It prints the base
URL and the two settings that point abrecon at it::

    ABRECON_API_ENDPOINT=http://127.0.0.1:8000
    ABRECON_LWA_ENDPOINT=http://127.0.0.1:8000/auth/o2/token

Other processes can inspect what the sandbox saw through its control endpoints
(``GET /_sandbox/requests``, ``POST /_sandbox/reset-log``, ``GET /_sandbox/health``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from connectors.amazon_business.roles import parse_roles
from connectors.sandbox.faults import FaultSpec
from connectors.sandbox.scenario import Scenario, load_scenario
from connectors.sandbox.server import LWA_TOKEN_PATH, SandboxConfig, SandboxServer

__all__ = ["DEFAULT_GENERATED_ORDERS", "build_config", "serve"]

#: Orders in the scenario generated when no scenario file is given.
DEFAULT_GENERATED_ORDERS = 200


def build_config(faults: str | FaultSpec | None, seed: int, **overrides: Any) -> SandboxConfig:
    """A :class:`SandboxConfig` from CLI-style values.

    ``faults`` may be a spec string (``"429=0.05,drop=0.01"``); ``granted_roles`` may be a
    comma-separated string or an iterable of role names. Unknown override names raise
    :class:`TypeError` listing the accepted ones; bad values raise :class:`ValueError`.
    """
    unknown = sorted(set(overrides) - SandboxConfig.field_names())
    if unknown or "faults" in overrides or "seed" in overrides:
        accepted = ", ".join(sorted(SandboxConfig.field_names() - {"faults", "seed"}))
        raise TypeError(
            f"unknown sandbox setting(s) {', '.join(unknown) or 'faults/seed'}; "
            f"the settings are {accepted}"
        )
    roles = overrides.get("granted_roles")
    if isinstance(roles, str | Iterable):
        overrides["granted_roles"] = parse_roles(roles)
    spec = FaultSpec.parse(faults) if isinstance(faults, str) else faults
    return SandboxConfig(faults=spec or None, seed=seed, **overrides)


def _display_url(server: SandboxServer, host: str) -> str:
    """The URL to give other processes: a wildcard bind is reached on the loopback address."""
    if host in ("", "0.0.0.0"):
        return f"http://127.0.0.1:{server.port}"
    if host == "::":
        return f"http://[::1]:{server.port}"
    return server.url


def serve(
    scenario_path: Path | None,
    host: str = "127.0.0.1",
    port: int = 8000,
    faults: str | None = None,
    seed: int = 0,
    *,
    stop_event: threading.Event | None = None,
    **overrides: Any,
) -> None:
    """Serve the sandbox on ``host:port`` until Ctrl-C (or until ``stop_event`` is set).

    Without ``scenario_path`` a scenario of :data:`DEFAULT_GENERATED_ORDERS` orders is
    generated from ``seed``. ``overrides`` are :class:`SandboxConfig` fields (for example
    ``report_processing_seconds=5`` or ``granted_roles="Business Purchase Reconciliation"``).
    """
    config = build_config(faults, seed, **overrides)
    scenario: Scenario
    if scenario_path is not None:
        scenario = load_scenario(Path(scenario_path))
        origin = str(scenario_path)
    else:
        from connectors.sandbox.generator import generate_scenario

        scenario = generate_scenario(orders=DEFAULT_GENERATED_ORDERS, seed=seed)[0]
        origin = f"generated: {DEFAULT_GENERATED_ORDERS} orders, seed {seed}"
    server = SandboxServer(scenario, config, host=host, port=port)
    server.start()
    url = _display_url(server, host)
    stop = stop_event or threading.Event()
    try:
        print(
            f"abrecon sandbox listening on {url} ({origin}; {len(scenario.transactions)} "
            f"transactions, {len(scenario.orders)} orders, {len(scenario.documents)} documents; "
            f"faults: {config.faults or 'none'})",
            flush=True,
        )
        print("Point abrecon at it with:", flush=True)
        print(f"ABRECON_API_ENDPOINT={url}", flush=True)
        print(f"ABRECON_LWA_ENDPOINT={url}{LWA_TOKEN_PATH}", flush=True)
        print(
            f"Request log: {url}/_sandbox/requests  (Ctrl-C to stop)",
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        print("\nstopping the sandbox", flush=True)
    finally:
        server.stop()
