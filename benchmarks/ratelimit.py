"""Four processes share one party's usage-plan bucket against a sandbox that enforces the plan.

Each process sends the same operation as fast as the shared Redis bucket lets it, for a fixed
time. The sandbox answers 429 whenever Amazon would. Printed: requests sent, the sustained rate
achieved (requests after the initial burst, per second) as a share of the plan's rate, and the
sandbox's count of 429s. Goal: share >= 0.95 with zero 429s.

    .venv/bin/python benchmarks/ratelimit.py                       # Amazon's 2/s, burst 10
    .venv/bin/python benchmarks/ratelimit.py --rate 20 --burst 10  # a faster plan
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import redis
from pydantic import SecretStr

from connectors.amazon_business.client import AmazonBusinessClient
from connectors.amazon_business.errors import RateLimitWaitError
from connectors.amazon_business.operations import UsagePlan
from connectors.amazon_business.transport import ConnectionConfig
from connectors.sandbox.generator import generate_scenario
from connectors.sandbox.server import SandboxConfig, SandboxServer


def _worker(config: ConnectionConfig, redis_url: str, start: float, until: float, out: Any) -> None:
    client = AmazonBusinessClient.from_config(config, redis=redis.Redis.from_url(redis_url))
    window = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC))
    sent = waits = 0
    client.transport.auth.access_token()  # the token is fetched once, before the clock starts
    time.sleep(max(0.0, start - time.time()))
    while time.time() < until:
        try:
            client.reconciliation.get_transactions_page(*window)
            sent += 1
        except RateLimitWaitError as exc:  # the shared bucket is booked further ahead
            waits += 1
            time.sleep(min(exc.retry_after, max(0.0, until - time.time())))
    out.put((sent, waits))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=2.0, help="plan rate (requests/s)")
    parser.add_argument("--burst", type=int, default=10, help="plan burst")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()

    plan = UsagePlan(args.rate, args.burst)
    scenario, _, _ = generate_scenario(orders=5, seed=1)
    sandbox_config = SandboxConfig(usage_plans={"getTransactions": plan})
    with SandboxServer(scenario, sandbox_config) as sandbox:
        config = ConnectionConfig(
            api_base_url=sandbox.url,
            lwa_token_url=f"{sandbox.url}/auth/o2/token",
            client_id="bench",
            client_secret=SecretStr("bench-secret"),
            refresh_token=SecretStr(f"Atzr|bench-{uuid.uuid4().hex}"),
            party=f"bench-{uuid.uuid4().hex}",
            usage_plans={"getTransactions": plan},
            max_inline_wait=2.0,
        )
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        start = time.time() + 3.0
        until = start + args.seconds
        procs = [
            ctx.Process(target=_worker, args=(config, args.redis_url, start, until, queue))
            for _ in range(args.processes)
        ]
        for p in procs:
            p.start()
        results = [queue.get(timeout=args.seconds + 60) for _ in procs]
        for p in procs:
            p.join(10)
        entries = sandbox.request_log("getTransactions")
    begin = datetime.fromtimestamp(start, UTC)
    end = datetime.fromtimestamp(until, UTC)
    inside = [e for e in entries if begin <= e.time <= end]
    ok = sum(1 for e in inside if e.status == 200)
    late = sum(1 for e in entries if e.time > end)
    throttled = sum(1 for e in entries if e.status == 429)
    sent = sum(r[0] for r in results)
    client_burst = max(1, args.burst - 1)
    sustained = (ok - client_burst) / args.seconds
    print(
        f"plan: {args.rate}/s burst {args.burst}; {args.processes} processes for {args.seconds} s"
    )
    print(f"answered 200 inside the window: {ok}; after it: {late}; clients counted {sent}")
    print(f"429s from the sandbox: {throttled}")
    print(f"allowed by the plan in that time: {args.burst + args.rate * args.seconds:.0f}")
    print(f"sustained rate after the burst: {sustained:.3f}/s = {sustained / args.rate:.3f} x plan")
    return 0 if throttled == 0 and sustained / args.rate >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
