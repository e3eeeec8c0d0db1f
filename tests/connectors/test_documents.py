"""Document client against the sandbox: the report lifecycle, downloads, expiry and caps."""

from __future__ import annotations

import gzip
import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pypdf import PdfReader

from connectors.amazon_business.client import AmazonBusinessClient
from connectors.amazon_business.documents import (
    DocumentClient,
    invoice_report_options,
    line_item_report_options,
)
from connectors.amazon_business.errors import (
    BadRequestError,
    DisallowedHostError,
    DocumentUrlExpiredError,
    DownloadError,
    DownloadTooLargeError,
    NotFoundError,
)
from connectors.amazon_business.models import (
    OrderLineItem,
    ProcessingStatus,
    Report,
    ReportDocument,
)
from connectors.amazon_business.transport import gunzip_capped
from connectors.sandbox.scenario import Scenario
from connectors.sandbox.server import SandboxServer

from .conftest import Party, SandboxClientFactory, SandboxFactory, client_for


def a_document(scenario: Scenario, credit: bool = False) -> tuple[str, Any]:
    wanted = "Credits" if credit else "Invoice"
    for number, document in sorted(scenario.documents.items()):
        if document.document_type == wanted:
            return number, document
    raise AssertionError(f"the scenario has no {wanted}")


def poll(documents: DocumentClient, report_id: str) -> Report:
    """Wait for a final status, counting the naps to prove the report was polled."""
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        time.sleep(seconds)

    report = documents.wait_for_report(report_id, timeout=10, poll_interval=0.05, sleep=nap)
    assert all(n == 0.05 for n in naps)
    return report


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


# -- lifecycle ------------------------------------------------------------------------------


@pytest.mark.parametrize("credit", [False, True])
def test_report_lifecycle_to_a_pdf(
    client: AmazonBusinessClient, scenario: Scenario, sandbox: SandboxServer, credit: bool
) -> None:
    number, document = a_document(scenario, credit=credit)
    documents = client.documents
    report_id = documents.create_report(invoice_report_options(number, credit_memo=credit))
    created = sandbox.request_log("createReport")[0]
    assert created.status == 202
    assert created.body == {
        "reportType": "GET_AB_INVOICE_PDF",
        "marketplaceIds": ["ATVPDKIKX0DER"],
        "reportOptions": {"invoiceId": number, "documentType": "Credits" if credit else "Invoice"},
    }

    first = documents.get_report(report_id)
    assert first.processing_status in (ProcessingStatus.IN_QUEUE, ProcessingStatus.IN_PROGRESS)
    report = poll(documents, report_id)
    assert report.processing_status is ProcessingStatus.DONE
    assert report.report_document_id and report.report_type == "GET_AB_INVOICE_PDF"
    assert report.created_time.tzinfo is not None

    located = documents.get_report_document(report.report_document_id)
    assert located.compression_algorithm is None
    assert "X-Amz-Signature" not in repr(located)
    content = documents.download(located)
    assert content.startswith(b"%PDF")
    text = pdf_text(content)
    assert number in text and document.order_id in text


def test_a_report_by_order_line_item(client: AmazonBusinessClient, scenario: Scenario) -> None:
    line = scenario.transactions[0]["transactionLineItems"][0]
    item = OrderLineItem.model_validate(line)
    options = line_item_report_options(item)
    assert options == {
        "orderId": line["orderId"],
        "orderLineItemId": line["orderLineItemId"],
        "shipmentId": line["shipmentId"],
    }
    report_id = client.documents.create_report(
        options,
        marketplace_ids=["ATVPDKIKX0DER"],
        data_start_time=datetime(2025, 1, 1),
        data_end_time=datetime(2025, 2, 1, tzinfo=UTC),
    )
    report = poll(client.documents, report_id)
    assert report.processing_status is ProcessingStatus.DONE
    assert report.data_start_time == datetime(2025, 1, 1, tzinfo=UTC)
    assert report.marketplace_ids == ["ATVPDKIKX0DER"]
    content = client.documents.download(
        client.documents.get_report_document(str(report.report_document_id))
    )
    assert line["orderId"] in pdf_text(content)


def test_a_report_without_data_ends_cancelled(client: AmazonBusinessClient) -> None:
    report_id = client.documents.create_report(invoice_report_options("0000-0000-0000"))
    report = poll(client.documents, report_id)
    assert report.processing_status is ProcessingStatus.CANCELLED
    assert report.report_document_id is None


def test_create_report_checks_its_input(
    client: AmazonBusinessClient, sandbox: SandboxServer
) -> None:
    with pytest.raises(ValueError, match="required"):
        client.documents.create_report({})
    with pytest.raises(ValueError, match="strings"):
        client.documents.create_report({"invoiceId": 5})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="at most 25"):
        client.documents.create_report({"orderId": "o"}, marketplace_ids=["A"] * 26)
    with pytest.raises(ValueError, match="empty"):
        invoice_report_options("")
    assert sandbox.request_log() == []


def test_cancel_a_queued_report(sandbox_client: SandboxClientFactory, scenario: Scenario) -> None:
    client, sandbox = sandbox_client(report_processing_seconds=60)
    documents = client.documents
    number, _ = a_document(scenario)
    report_id = documents.create_report(invoice_report_options(number))
    documents.cancel_report(report_id)
    assert sandbox.request_log("cancelReport")[0].status == 200
    assert documents.get_report(report_id).processing_status is ProcessingStatus.CANCELLED
    with pytest.raises(TimeoutError, match="IN_QUEUE"):
        documents.wait_for_report(
            documents.create_report(invoice_report_options(number)),
            timeout=0.1,
            poll_interval=0.05,
            sleep=time.sleep,
        )


def test_cancelling_a_finished_report_is_refused(
    client: AmazonBusinessClient, scenario: Scenario
) -> None:
    number, _ = a_document(scenario)
    report_id = client.documents.create_report(invoice_report_options(number))
    poll(client.documents, report_id)
    with pytest.raises(BadRequestError) as caught:
        client.documents.cancel_report(report_id)
    assert "IN_QUEUE" in str(caught.value.details)  # the Document API's reason is in details
    with pytest.raises(NotFoundError):
        client.documents.get_report("no-such-report")


# -- listing reports ------------------------------------------------------------------------


def test_iter_reports_follows_next_token_alone(
    client: AmazonBusinessClient, scenario: Scenario, sandbox: SandboxServer
) -> None:
    numbers = sorted(scenario.documents)[:5]
    created = {client.documents.create_report(invoice_report_options(n)) for n in numbers}
    since = datetime.now(UTC) - timedelta(hours=1)

    listed = list(client.documents.iter_reports(page_size=2, created_since=since))
    assert {r.report_id for r in listed} == created
    assert len(listed) == 5  # each once

    queries = [e.query for e in sandbox.request_log("getReports")]
    assert len(queries) == 3
    assert queries[0]["reportTypes"] == "GET_AB_INVOICE_PDF"
    assert queries[0]["pageSize"] == "2"
    assert queries[0]["createdSince"].endswith("Z")
    assert all(list(q) == ["nextToken"] for q in queries[1:])


def test_get_reports_filters(
    client: AmazonBusinessClient, scenario: Scenario, sandbox: SandboxServer
) -> None:
    number, _ = a_document(scenario)
    report_id = client.documents.create_report(invoice_report_options(number))
    poll(client.documents, report_id)
    done = client.documents.get_reports(
        processing_statuses=[ProcessingStatus.DONE, "FATAL"],
        marketplace_ids=["ATVPDKIKX0DER"],
        created_until=datetime.now(UTC) + timedelta(minutes=1),
    )
    assert [r.report_id for r in done.reports] == [report_id]
    assert done.next_token is None
    queued = client.documents.get_reports(processing_statuses=["IN_QUEUE"])
    assert queued.reports == []
    query = sandbox.request_log("getReports")[0].query
    assert query["processingStatuses"] == "DONE,FATAL"
    assert query["marketplaceIds"] == "ATVPDKIKX0DER"
    with pytest.raises(ValueError, match="page_size"):
        client.documents.get_reports(page_size=101)
    with pytest.raises(ValueError, match="1 to 10"):
        client.documents.get_reports(report_types=[f"T{i}" for i in range(11)])
    with pytest.raises(ValueError):
        client.documents.get_reports(processing_statuses=["PAUSED"])


# -- downloads ------------------------------------------------------------------------------


def finished_document(client: AmazonBusinessClient, scenario: Scenario) -> ReportDocument:
    number, _ = a_document(scenario)
    report = poll(client.documents, client.documents.create_report(invoice_report_options(number)))
    assert report.report_document_id is not None
    return client.documents.get_report_document(report.report_document_id)


def test_gzip_documents_are_gunzipped(
    sandbox_client: SandboxClientFactory, scenario: Scenario
) -> None:
    client, _ = sandbox_client(report_processing_seconds=0.1, gzip_documents=True)
    document = finished_document(client, scenario)
    assert document.compression_algorithm == "GZIP"
    content = client.documents.download(document)
    assert content.startswith(b"%PDF") and len(PdfReader(io.BytesIO(content)).pages) >= 1


def test_an_expired_url_raises_and_a_new_one_works(
    sandbox_client: SandboxClientFactory, scenario: Scenario
) -> None:
    client, _ = sandbox_client(report_processing_seconds=0.1, document_url_ttl_seconds=0.3)
    document = finished_document(client, scenario)
    time.sleep(0.5)
    with pytest.raises(DocumentUrlExpiredError) as caught:
        client.documents.download(document)
    assert "X-Amz-Signature" not in str(caught.value)
    fresh = client.documents.get_report_document(document.report_document_id)
    assert fresh.url != document.url
    assert client.documents.download(fresh).startswith(b"%PDF")


def test_a_document_beyond_the_cap_is_refused(
    make_sandbox: SandboxFactory, scenario: Scenario, party: Party, redis_client: Any
) -> None:
    sandbox = make_sandbox(scenario, report_processing_seconds=0.1, gzip_documents=True)
    client = client_for(sandbox, party, redis_client, download_max_bytes=600)
    document = finished_document(client, scenario)
    with pytest.raises(DownloadTooLargeError):
        client.documents.download(document)


def test_a_gzip_bomb_is_stopped_at_the_cap() -> None:
    cap = 1024 * 1024
    bomb = gzip.compress(b"\0" * (50 * cap))
    assert len(bomb) < cap // 10
    with pytest.raises(DownloadTooLargeError, match="cap"):
        gunzip_capped(bomb, cap)
    assert gunzip_capped(gzip.compress(b"%PDF-1.4 fine"), cap) == b"%PDF-1.4 fine"
    with pytest.raises(DownloadError, match="not valid gzip"):
        gunzip_capped(b"%PDF-1.4 not gzip", cap)
    with pytest.raises(DownloadError, match="truncated"):
        gunzip_capped(gzip.compress(b"x" * 1000)[:-12], cap)


def test_a_disallowed_host_is_never_contacted(
    client: AmazonBusinessClient, sandbox: SandboxServer
) -> None:
    document = ReportDocument(
        report_document_id="d1",
        url="https://attacker.example.net/doc.pdf?X-Amz-Signature=abc",
    )
    with pytest.raises(DisallowedHostError, match=r"attacker\.example\.net"):
        client.documents.download(document)
    assert sandbox.request_log() == []
