"""Bad data from Amazon is reported on the job, and nothing stored before is lost or half-written.

Every case runs a whole job through the Celery worker on Redis against the sandbox over HTTP:

* a transaction whose amount is ``"12,3x"`` on the second page of the second 30-day window:
  the page is refused whole (no transaction of it stored), retried, then its window given up
  with the offending field named; the other windows are stored exactly, and the incremental
  sync's high-water mark does not move past the window that was given up;
* a page whose body is cut short: retried and stored exactly when a later answer is whole;
  when every answer is cut short the stage fails with the reason after a bounded number of
  attempts, instead of retrying forever, and everything stored before stays;
* an invoice "PDF" that is an HTML error page, and a gzipped document that inflates beyond
  ``ABRECON_DOWNLOAD_MAX_BYTES`` (a gzip bomb): both are refused with the reason, no file is
  written for them, every other PDF is stored, and neither is requested again.

The sandbox's pages are three transactions long, so a window spans several pages.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connectors.amazon_business.reconciliation import split_windows
from connectors.sandbox.faults import FaultKind
from connectors.sandbox.generator import generate_scenario
from connectors.sandbox.scenario import Scenario
from connectors.sandbox.server import _Request
from tests.pipeline.conftest import Configure, SandboxFactory
from tests.pipeline.support import (
    WINDOW_END,
    WINDOW_START,
    assert_matches_scenario,
    assert_one_report_per_document,
    describe,
    error_reasons,
    pipeline_settings,
    running_worker,
    stages,
    start_job,
    wait_for_job,
)
from worker.services import sync
from worker.settings import Settings
from worker.store.tables import DocumentRow, HighWaterMarkRow, SyncCursorRow

PAGE = 3
WINDOWS = list(split_windows(WINDOW_START, WINDOW_END, timedelta(days=30)))
BAD_WINDOW = WINDOWS[1]


def fresh_scenario() -> Scenario:
    """12 orders: 3, 7, 6 and 3 transactions in the four windows (pages of 3)."""
    scenario = generate_scenario(12, 7)[0]
    assert len(in_window(scenario, BAD_WINDOW)) == 7
    return scenario


def in_window(scenario: Scenario, window: tuple[datetime, datetime]) -> list[dict[str, Any]]:
    return scenario.transactions_in_feed_window(*window)


def synced(scenario: Scenario, windows: int, pages_of_next: int = 0) -> list[dict[str, Any]]:
    """The transactions of the first ``windows`` windows and of the first ``pages_of_next``
    pages of the window after them."""
    chosen = [t for window in WINDOWS[:windows] for t in in_window(scenario, window)]
    if pages_of_next:
        chosen += in_window(scenario, WINDOWS[windows])[: pages_of_next * PAGE]
    return list({t["transactionId"]: t for t in chosen}.values())


def page_of(request: _Request) -> tuple[datetime, int]:
    """The window start and offset a getTransactions request asks for (the sandbox's token is
    base64url JSON before its signature)."""
    token = request.query.get("nextPageToken")
    if not token:
        return datetime.fromisoformat(request.query["feedStartDate"].replace("Z", "+00:00")), 0
    data = token.partition(".")[0]
    state = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    return datetime.fromisoformat(state["s"]), int(state["o"])


def high_water_mark(engine: Engine, party: str) -> datetime | None:
    with Session(engine) as session:
        mark = session.exec(select(HighWaterMarkRow).where(HighWaterMarkRow.party == party)).first()
        return mark.covered_until if mark else None


SettingsFor = Callable[..., Settings]


@pytest.fixture
def settings_for(database_url: str, tmp_path: Path, refresh_token: str, broker: str) -> SettingsFor:
    """``settings_for(sandbox_url, **overrides)``: the test's settings for a sandbox."""

    def make(url: str, **overrides: Any) -> Settings:
        return pipeline_settings(
            url, database_url, tmp_path / "data", refresh_token, broker, **overrides
        )

    return make


@pytest.mark.timeout(90)
def test_a_malformed_transaction_gives_up_its_window_and_keeps_the_rest(
    make_sandbox: SandboxFactory,
    configure: Configure,
    settings_for: SettingsFor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sync, "MAX_PAGE_FAILURES", 2)
    scenario = fresh_scenario()
    bad = in_window(scenario, BAD_WINDOW)[PAGE + 1]  # the 2nd transaction of the 2nd page
    served = Scenario.from_json(scenario.to_json())
    next(t for t in served.transactions if t["transactionId"] == bad["transactionId"])["amount"][
        "amount"
    ] = "12,3x"
    sandbox = make_sandbox(served, transactions_page_size=PAGE)
    app, ctx = configure(settings_for(sandbox.url))

    with running_worker(app):
        job_id = start_job(app, ctx)
        job = wait_for_job(ctx.engine, job_id, timeout=60)

    assert job.status == "done", describe(ctx.engine, job_id)
    reasons = error_reasons(ctx.engine, job_id, "sync")
    assert len(reasons) == 2, reasons
    for reason in reasons:
        assert reason.startswith("transactions 2025-01-31 00:00 .. 2025-03-02 00:00: "), reason
        assert "getTransactions: HTTP 200" in reason
        assert "does not match Amazon's model: transactions[1].amount.amount" in reason
    assert reasons[0].endswith("(attempt 1, will retry)")
    assert reasons[1].endswith("(window given up)")
    with Session(ctx.engine) as session:
        cursors = session.exec(select(SyncCursorRow).where(SyncCursorRow.job_id == job_id)).all()
    given_up = [c for c in cursors if c.error]
    assert [(c.window_start, c.pages) for c in given_up] == [(BAD_WINDOW[0], 1)]
    assert given_up[0].error.startswith("gave up after 2 failures: getTransactions")
    # Nothing of the refused page, everything of every other page, exactly.
    expected = [t for t in scenario.transactions if t not in in_window(scenario, BAD_WINDOW)]
    expected += in_window(scenario, BAD_WINDOW)[:PAGE]
    assert_matches_scenario(ctx.engine, ctx.party, scenario, transactions=expected)
    assert_one_report_per_document(sandbox, ctx.engine, ctx.party)
    # The next incremental sync must read the given-up window again.
    assert high_water_mark(ctx.engine, ctx.party) == BAD_WINDOW[0]


@pytest.mark.timeout(90)
def test_a_page_cut_short_is_retried_and_reported(
    make_sandbox: SandboxFactory, configure: Configure, settings_for: SettingsFor
) -> None:
    scenario = fresh_scenario()
    cut: list[int] = []

    def cut_twice(operation: str, request: _Request) -> FaultKind | None:
        if operation == "getTransactions" and page_of(request) == (BAD_WINDOW[0], PAGE):
            cut.append(1)
            return FaultKind.TRUNCATE if len(cut) <= 2 else None
        return None

    sandbox = make_sandbox(scenario, rule=cut_twice, transactions_page_size=PAGE)
    app, ctx = configure(settings_for(sandbox.url))

    with running_worker(app):
        job_id = start_job(app, ctx)
        job = wait_for_job(ctx.engine, job_id, timeout=60)

    assert job.status == "done", describe(ctx.engine, job_id)
    assert len(cut) == 3
    reasons = error_reasons(ctx.engine, job_id, "sync")
    assert reasons == [
        "getTransactions: no response: no complete answer (the body was cut short) "
        f"(transient failure {n} in a row; next attempt in {wait} s)"
        for n, wait in ((1, "2.0"), (2, "3.0"))
    ]
    assert "transient_errors" not in (stages(ctx.engine, job_id)["sync"].counts or {})
    assert_matches_scenario(ctx.engine, ctx.party, scenario)
    assert high_water_mark(ctx.engine, ctx.party) == WINDOWS[-1][1]


@pytest.mark.timeout(90)
def test_a_page_always_cut_short_fails_the_stage_and_keeps_what_was_stored(
    make_sandbox: SandboxFactory,
    configure: Configure,
    settings_for: SettingsFor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from worker import tasks

    monkeypatch.setattr(tasks, "MAX_TRANSIENT", 3)
    scenario = fresh_scenario()

    def always_cut(operation: str, request: _Request) -> FaultKind | None:
        if operation == "getTransactions" and page_of(request) == (BAD_WINDOW[0], PAGE):
            return FaultKind.TRUNCATE
        return None

    sandbox = make_sandbox(scenario, rule=always_cut, transactions_page_size=PAGE)
    app, ctx = configure(settings_for(sandbox.url))

    with running_worker(app):
        job_id = start_job(app, ctx)
        job = wait_for_job(ctx.engine, job_id, timeout=60)

    assert job.status == "failed", describe(ctx.engine, job_id)
    assert job.error == "stages failed: sync"
    by_name = stages(ctx.engine, job_id)
    assert by_name["sync"].status == "failed"
    assert [by_name[s].status for s in ("invoice_details", "orders", "documents")] == ["done"] * 3
    reasons = error_reasons(ctx.engine, job_id, "sync")
    assert len(reasons) == 3
    assert all("no complete answer (the body was cut short)" in r for r in reasons)
    assert reasons[-1].endswith("(gave up after 3 transient failures in a row)")
    # What came before the broken page is stored, exactly, and taken through every stage.
    assert_matches_scenario(ctx.engine, ctx.party, scenario, transactions=synced(scenario, 1, 1))
    assert_one_report_per_document(sandbox, ctx.engine, ctx.party)
    assert high_water_mark(ctx.engine, ctx.party) == BAD_WINDOW[0]


@pytest.mark.timeout(90)
def test_a_document_that_is_not_a_pdf_or_a_gzip_bomb_is_refused(
    make_sandbox: SandboxFactory, configure: Configure, settings_for: SettingsFor
) -> None:
    scenario = fresh_scenario()
    cap = 1_000_000
    not_pdf, bomb = sorted(scenario.documents)[:2]
    sandbox = make_sandbox(scenario, gzip_documents=True)
    sandbox.content[not_pdf] = b"<html><body><h1>Access Denied</h1></body></html>"
    sandbox.content[bomb] = b"%PDF-1.4\n" + bytes(5 * cap)
    assert len(gzip.compress(sandbox.content[bomb])) < cap // 50
    app, ctx = configure(settings_for(sandbox.url, download_max_bytes=cap))

    with running_worker(app):
        job_id = start_job(app, ctx)
        job = wait_for_job(ctx.engine, job_id, timeout=60)

    assert job.status == "done", describe(ctx.engine, job_id)
    reasons = error_reasons(ctx.engine, job_id, "documents")
    assert f"document {not_pdf}: the document is not a PDF" in reasons
    assert f"document {bomb}: the document inflates beyond the cap of {cap} bytes" in reasons
    with Session(ctx.engine) as session:
        refused = {
            d.invoice_number: d.last_error
            for d in session.exec(
                select(DocumentRow).where(
                    DocumentRow.party == ctx.party, DocumentRow.state == "unavailable"
                )
            ).all()
        }
    assert refused == {
        not_pdf: f"document {not_pdf}: the document is not a PDF",
        bomb: f"document {bomb}: the document inflates beyond the cap of {cap} bytes",
    }
    assert_matches_scenario(ctx.engine, ctx.party, scenario, unavailable={not_pdf, bomb})
    assert_one_report_per_document(sandbox, ctx.engine, ctx.party)
    assert (stages(ctx.engine, job_id)["documents"].counts or {})["unavailable"] == 2
