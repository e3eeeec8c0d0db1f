"""Ingest throughput: a sync-only job through Celery workers into PostgreSQL, vs plain requests.

A sandbox process serves N transactions (usage plans off, ``--page-size`` per page). Two runs
read the same feed-date windows, page by page:

* baseline: plain ``requests`` fetching every page sequentially (the first page of a window with
  its dates, the next ones with ``nextPageToken`` alone) and parsing the JSON, nothing else;
* abrecon: a sync-only job processed by ``--workers`` ``celery -A worker.app worker
  --concurrency=1`` processes on a dedicated, flushed Redis database, storing into a fresh
  PostgreSQL database; timed from enqueue to the job's ``done`` (the jobs table is polled).

The abrecon time includes each worker's first task building its context (schema check, engine,
LWA token), about a second. The sync stage runs one page per task, window after window, so a
job's pages are processed one at a time whatever ``--workers`` says: the workers take turns.

The stored transaction count must equal the scenario's. Printed: transactions, pages, baseline
and abrecon seconds and transactions per second, and the ratio abrecon / baseline.
Goal: ratio <= 1.5.

    .venv/bin/python benchmarks/ingest.py                           # 100,000 transactions
    .venv/bin/python benchmarks/ingest.py --transactions 20000 --workers 2 --page-size 100

The scenario is a generated one (``--base-orders`` orders) cloned with fresh transaction, order,
shipment, invoice and charge ids and feed dates shifted by a second per copy, until it holds N
transactions; generating N transactions directly is superlinear (16,000 orders take ~15 s).
``--scenario-cache FILE`` pickles the built scenario for later runs.

The sandbox's ``transactions_in_feed_window`` scans and parses every transaction's feed date on
every request (O(N) per page); in this benchmark's sandbox process it is replaced by a bisection
over the (already sorted) feed dates with the same inclusive ``[start, end]`` semantics, so that
the sandbox's lookup does not dominate both runs and hide the client's cost.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import copy
import math
import multiprocessing
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

CLIENT_ID = "amzn1.application-oa2-client.bench"
CLIENT_SECRET = "bench-secret"
REFRESH_TOKEN = "Atzr|bench-refresh"
RECON_TRANSACTIONS = "/reconciliation/2021-01-08/transactions"
ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# The scenario
# ---------------------------------------------------------------------------------------------


def _variant(value: str, copy_no: int) -> str:
    """``value`` with its last two characters replaced by the copy number (every copy, copy 0
    included, so that a copy can never reproduce another original's id)."""
    return value[:-2] + f"{copy_no:02d}" if value else value


def build_scenario(transactions: int, seed: int, base_orders: int) -> Any:
    """A validated scenario of exactly ``transactions`` transactions."""
    from connectors.sandbox.generator import generate_scenario
    from connectors.sandbox.scenario import Scenario, format_datetime, parse_datetime

    base, _, _ = generate_scenario(base_orders, seed)
    source = base.to_json()["transactions"]
    copies = math.ceil(transactions / len(source))
    if copies > 100:
        raise SystemExit(f"--base-orders {base_orders} is too small for {transactions}")
    out: list[dict[str, Any]] = []
    for copy_no in range(copies):
        shift = timedelta(seconds=copy_no)
        for raw in source[: transactions - len(out)]:
            txn = copy.deepcopy(raw)
            for name in ("transactionId", "invoiceNumber", "chargeIdentifier"):
                if txn.get(name):
                    txn[name] = _variant(txn[name], copy_no)
            for name in ("feedDate", "transactionDate"):
                if txn.get(name):
                    txn[name] = format_datetime(parse_datetime(txn[name]) + shift)
            for item in txn.get("transactionLineItems") or []:
                for name in ("orderId", "shipmentId"):
                    if item.get(name):
                        item[name] = _variant(item[name], copy_no)
            out.append(txn)
    scenario = Scenario.from_json({"transactions": out})
    assert len(scenario.transactions) == transactions
    return scenario


def load_or_build(transactions: int, seed: int, base_orders: int, cache: Path | None) -> Any:
    if cache is not None and cache.exists():
        with cache.open("rb") as fh:
            cached = pickle.load(fh)
        if cached["key"] == (transactions, seed, base_orders):
            return cached["scenario"]
    scenario = build_scenario(transactions, seed, base_orders)
    if cache is not None:
        with cache.open("wb") as fh:
            pickle.dump({"key": (transactions, seed, base_orders), "scenario": scenario}, fh, 5)
    return scenario


def _index_feed_window(scenario: Any) -> None:
    """Serve ``transactions_in_feed_window`` by bisection (see the module docstring)."""
    from connectors.sandbox.scenario import _as_utc, parse_datetime

    feed = [parse_datetime(t["feedDate"]) for t in scenario.transactions]
    assert feed == sorted(feed), "the scenario's transactions are not in feed-date order"
    txns: list[dict[str, Any]] = scenario.transactions

    def in_window(start: datetime, end: datetime) -> list[dict[str, Any]]:
        low, high = _as_utc(start), _as_utc(end)
        return txns[bisect.bisect_left(feed, low) : bisect.bisect_right(feed, high)]

    scenario.transactions_in_feed_window = in_window


# ---------------------------------------------------------------------------------------------
# The sandbox, in its own process
# ---------------------------------------------------------------------------------------------


def _sandbox_main(conn: Any, args: dict[str, Any]) -> None:
    from connectors.sandbox.scenario import parse_datetime
    from connectors.sandbox.server import SandboxConfig, SandboxServer

    started = time.perf_counter()
    cache = Path(args["cache"]) if args["cache"] else None
    scenario = load_or_build(args["transactions"], args["seed"], args["base_orders"], cache)
    built = time.perf_counter() - started
    _index_feed_window(scenario)
    config = SandboxConfig(
        enforce_usage_plans=False,
        transactions_page_size=args["page_size"],
        lwa_client_id=CLIENT_ID,
        lwa_client_secret=CLIENT_SECRET,
        lwa_refresh_token=REFRESH_TOKEN,
    )
    server = SandboxServer(scenario, config)
    # Server-side time per getTransactions request (to tell the sandbox's share of a page).
    busy = {"seconds": 0.0, "count": 0}
    lock = threading.Lock()
    handle = server.handle

    def timed_handle(request: Any) -> Any:
        t0 = time.perf_counter()
        response = handle(request)
        if request.path == RECON_TRANSACTIONS:
            with lock:
                busy["seconds"] += time.perf_counter() - t0
                busy["count"] += 1
        return response

    server.handle = timed_handle  # type: ignore[method-assign]
    server.start()
    conn.send(
        {
            "url": server.url,
            "transactions": len(scenario.transactions),
            "first_feed": parse_datetime(scenario.transactions[0]["feedDate"]),
            "last_feed": parse_datetime(scenario.transactions[-1]["feedDate"]),
            "build_seconds": built,
        }
    )
    try:
        while True:
            command = conn.recv()
            if command == "stop":
                break
            if command == "stats":
                with lock:
                    conn.send(dict(busy))
                    busy.update(seconds=0.0, count=0)
            elif command == "log":
                conn.send([(e.operation, e.status) for e in server.request_log()])
                server.reset_log()
    finally:
        server.stop()


class Sandbox:
    def __init__(self, **args: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_sandbox_main, args=(child, args), daemon=True)

    def start(self) -> dict[str, Any]:
        self.process.start()
        info: dict[str, Any] = self.conn.recv()
        return info

    def ask(self, command: str) -> Any:
        self.conn.send(command)
        return self.conn.recv()

    def stop(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self.conn.send("stop")
            self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


# ---------------------------------------------------------------------------------------------
# Baseline: plain requests
# ---------------------------------------------------------------------------------------------


def baseline(url: str, windows: list[tuple[datetime, datetime]]) -> tuple[float, int, int]:
    """Fetch every page of ``windows`` sequentially; returns (seconds, pages, transactions)."""
    import requests

    from connectors.amazon_business.models import format_amazon_datetime

    session = requests.Session()
    token = session.post(
        f"{url}/auth/o2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": REFRESH_TOKEN,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
        timeout=30,
    )
    token.raise_for_status()
    session.headers["x-amz-access-token"] = token.json()["access_token"]
    pages = transactions = 0
    started = time.perf_counter()
    for start, end in windows:
        params: dict[str, str] = {
            "feedStartDate": format_amazon_datetime(start),
            "feedEndDate": format_amazon_datetime(end),
        }
        while True:
            response = session.get(url + RECON_TRANSACTIONS, params=params, timeout=60)
            response.raise_for_status()
            body = response.json()
            pages += 1
            transactions += len(body.get("transactions") or [])
            token_ = body.get("nextPageToken")
            if not token_:
                break
            params = {"nextPageToken": token_}
    seconds = time.perf_counter() - started
    session.close()
    return seconds, pages, transactions


# ---------------------------------------------------------------------------------------------
# abrecon: Celery workers into PostgreSQL
# ---------------------------------------------------------------------------------------------


def _admin(url: str, statement: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def _start_workers(count: int, pool: str, env: dict[str, str], logs: Path) -> list[Any]:
    celery = str(Path(sys.executable).with_name("celery"))
    workers = []
    for number in range(1, count + 1):
        log = (logs / f"worker{number}.log").open("wb")
        command = [
            celery, "-A", "worker.app", "worker", "--concurrency=1", f"--pool={pool}",
            "-n", f"ingest-bench{number}@%h", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "--loglevel=WARNING",
        ]  # fmt: skip
        workers.append(
            subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    return workers


def _stop_workers(workers: list[Any]) -> None:
    for proc in workers:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for proc in workers:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker's own process group only
            proc.wait(5)


def _wait_ready(app: Any, count: int, workers: list[Any], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [p.pid for p in workers if p.poll() is not None]
        if dead:
            raise SystemExit(f"celery worker(s) {dead} exited at start; see their logs")
        replies = app.control.ping(timeout=0.5) or []
        if len(replies) >= count:
            return
    raise SystemExit(f"only some of {count} celery workers answered a ping in {timeout:.0f} s")


def run_abrecon(
    start: datetime, end: datetime, count: int, pool: str, logs: Path
) -> tuple[float, dict[str, Any]]:
    """Enqueue a sync-only job, wait for it; returns (seconds, stored figures)."""
    import sqlalchemy as sa

    from worker.app import create_app
    from worker.services.context import get_context, use_settings
    from worker.services.jobs import create_job
    from worker.settings import load_settings
    from worker.tasks import enqueue

    settings = load_settings()
    use_settings(settings)
    ctx = get_context()  # applies the schema before any worker starts
    app = create_app(settings)
    workers = _start_workers(count, pool, dict(os.environ), logs)
    try:
        _wait_ready(app, count, workers)
        job_id, first = create_job(ctx, start, end, stages=("sync",))
        status_sql = sa.text("SELECT status FROM jobs WHERE id = :id")
        started = time.perf_counter()
        enqueue(app, first)
        with ctx.engine.connect() as conn:
            while True:
                status = conn.execute(status_sql, {"id": job_id}).scalar_one()
                conn.rollback()
                if status != "running":
                    break
                if any(p.poll() is not None for p in workers):
                    raise SystemExit("a celery worker died during the run; see its log")
                time.sleep(0.02)
        seconds = time.perf_counter() - started
        with ctx.engine.connect() as conn:
            figures = {
                "status": status,
                "transactions": conn.execute(
                    sa.text("SELECT count(*) FROM transactions")
                ).scalar_one(),
                "line_items": conn.execute(
                    sa.text("SELECT count(*) FROM transaction_line_items")
                ).scalar_one(),
                "pages": conn.execute(
                    sa.text("SELECT coalesce(sum(pages), 0) FROM sync_cursors WHERE job_id = :id"),
                    {"id": job_id},
                ).scalar_one(),
                "windows": conn.execute(
                    sa.text("SELECT count(*) FROM sync_cursors WHERE job_id = :id"), {"id": job_id}
                ).scalar_one(),
                "errors": conn.execute(
                    sa.text("SELECT errors FROM job_stages WHERE job_id = :id"), {"id": job_id}
                ).scalar_one(),
            }
        return seconds, figures
    finally:
        _stop_workers(workers)
        app.close()


# ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=100, help="sandbox transactions per page")
    parser.add_argument("--workers", type=int, default=2, help="celery worker processes")
    parser.add_argument("--pool", default="prefork", help="celery pool (prefork, solo)")
    parser.add_argument("--window-days", type=int, default=30, help="ABRECON_SYNC_WINDOW_DAYS")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--base-orders", type=int, default=4000, help="orders generated, then cloned"
    )
    parser.add_argument("--scenario-cache", type=Path, default=None, help="pickle file to reuse")
    parser.add_argument(
        "--baseline-runs", type=int, default=2, help="best of (one before, rest after)"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7", help="flushed!")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the workers' log folder")
    args = parser.parse_args()

    import redis
    import sqlalchemy as sa

    from connectors.amazon_business.reconciliation import split_windows

    print(f"building the sandbox scenario ({args.transactions} transactions) ...", flush=True)
    sandbox = Sandbox(
        transactions=args.transactions,
        seed=args.seed,
        base_orders=args.base_orders,
        page_size=args.page_size,
        cache=str(args.scenario_cache) if args.scenario_cache else None,
    )
    database = f"abrecon_ingest_bench_{os.getpid()}"
    admin_url = args.postgres_url
    db_url = sa.engine.make_url(admin_url).set(database=database).render_as_string(False)
    work = Path(tempfile.mkdtemp(prefix="abrecon-ingest-"))
    created_db = False
    try:
        info = sandbox.start()
        print(
            f"sandbox: {info['url']}, {info['transactions']} transactions, feed dates "
            f"{info['first_feed']:%Y-%m-%d} .. {info['last_feed']:%Y-%m-%d} "
            f"(built in {info['build_seconds']:.1f} s)",
            flush=True,
        )
        start = info["first_feed"].replace(hour=0, minute=0, second=0, microsecond=0)
        end = info["last_feed"] + timedelta(seconds=1)
        windows = split_windows(start, end, timedelta(days=args.window_days))

        # Baseline (first run, before any worker exists).
        runs = [baseline(info["url"], windows)]
        base_sandbox = sandbox.ask("stats")
        sandbox.ask("log")

        # abrecon
        redis.Redis.from_url(args.redis_url).flushdb()
        _admin(admin_url, f'CREATE DATABASE "{database}"')
        created_db = True
        os.environ.update(
            ABRECON_API_ENDPOINT=info["url"],
            ABRECON_LWA_ENDPOINT=info["url"] + "/auth/o2/token",
            ABRECON_LWA_CLIENT_ID=CLIENT_ID,
            ABRECON_LWA_CLIENT_SECRET=CLIENT_SECRET,
            ABRECON_LWA_REFRESH_TOKEN=REFRESH_TOKEN,
            ABRECON_ROLES="Business Purchase Reconciliation,Amazon Business Analytics",
            ABRECON_DATABASE_URL=db_url,
            ABRECON_BROKER_URL=args.redis_url,
            ABRECON_REDIS_URL=args.redis_url,
            ABRECON_RATE_LIMITING="false",
            ABRECON_SYNC_WINDOW_DAYS=str(args.window_days),
            ABRECON_DATA_DIR=str(work / "data"),
            ABRECON_LOG_LEVEL="WARNING",
        )
        print(
            f"abrecon: {args.workers} worker(s), pool {args.pool}, database {database}", flush=True
        )
        abrecon_s, figures = run_abrecon(start, end, args.workers, args.pool, work)
        abrecon_sandbox = sandbox.ask("stats")
        log = sandbox.ask("log")
        requested = sum(1 for op, _ in log if op == "getTransactions")
        refused = sum(1 for op, status in log if op == "getTransactions" and status != 200)

        # Baseline again, after the run (best of the runs counts).
        for _ in range(args.baseline_runs - 1):
            runs.append(baseline(info["url"], windows))
        base_s, pages, fetched = min(runs)
    finally:
        sandbox.stop()
        from worker.store.engine import dispose_engines

        dispose_engines()
        if created_db:
            _admin(admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        redis.Redis.from_url(args.redis_url).flushdb()
        if not args.keep_logs:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"worker logs kept in {work}")

    expected = info["transactions"]
    ok = (
        figures["status"] == "done"
        and figures["transactions"] == expected
        and fetched == expected
        and figures["pages"] == pages
    )
    ratio = abrecon_s / base_s
    per_page = 1000.0 / pages
    runs_text = ", ".join(f"{run[0]:.2f}" for run in runs)
    verdict = "met" if ratio <= 1.5 else "NOT met"
    print()
    print(f"transactions          {expected}")
    print(f"pages                 {pages} ({len(windows)} windows, page size {args.page_size})")
    print(
        f"baseline (requests)   {base_s:8.2f} s  {expected / base_s:9.0f} tx/s  "
        f"{base_s * per_page:6.2f} ms/page  (runs: {runs_text} s)"
    )
    print(
        f"abrecon ({args.workers} workers)   {abrecon_s:8.2f} s  {expected / abrecon_s:9.0f} tx/s  "
        f"{abrecon_s * per_page:6.2f} ms/page"
    )
    print(f"ratio                 {ratio:.2f}  (goal <= 1.5: {verdict})")
    if base_sandbox["count"] and abrecon_sandbox["count"]:
        base_ms = base_sandbox["seconds"] / base_sandbox["count"] * 1000
        abrecon_ms = abrecon_sandbox["seconds"] / abrecon_sandbox["count"] * 1000
        print(f"sandbox time/page     baseline {base_ms:.2f} ms, abrecon {abrecon_ms:.2f} ms")
    print(
        f"stored                {figures['transactions']} transactions, "
        f"{figures['line_items']} line items, {figures['pages']} pages in {figures['windows']} "
        f"windows; job {figures['status']}; getTransactions requests {requested} "
        f"({refused} refused)"
    )
    if figures["errors"]:
        print(f"stage errors          {figures['errors'][:3]}")
    if not ok:
        print("VERIFICATION FAILED: counts differ (see above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
