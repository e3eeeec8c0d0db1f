"""Document API (2021-09-30): invoice and credit-memo PDFs.

Amazon renders a document asynchronously, the way SP-API renders reports:

1. :meth:`DocumentClient.create_report` asks for report type ``GET_AB_INVOICE_PDF`` with
   ``reportOptions`` naming the document, and gets a ``reportId`` back (HTTP 202).
2. :meth:`DocumentClient.get_report` is polled until the status is final: DONE (with a
   ``reportDocumentId``), CANCELLED (also "there was no data to return") or FATAL.
3. :meth:`DocumentClient.get_report_document` gives a presigned URL that **expires after five
   minutes**, so it is asked for right before downloading and never stored.
4. :meth:`DocumentClient.download` fetches it through the transport's allow-list and size cap,
   gunzipping when ``compressionAlgorithm`` is ``GZIP``. An expired URL raises
   :class:`~.errors.DocumentUrlExpiredError`: call step 3 again.

What names a document depends on the region. In NA only pay-by-invoice orders have invoice PDFs,
named by invoice number: ``{"invoiceId": ..., "documentType": "Invoice" | "Credits"}``
(:func:`invoice_report_options`); the invoice number comes from the Reconciliation API. In the EU
and Japan a document can also be named by its order line item
(:func:`line_item_report_options`); since July 2025 the EU accepts ``orderId`` alone.

createReport and getReportDocument have tight usage plans (about one call a minute, burst 15), so
a worker creates reports at that pace and polls rather than re-creating them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from connectors.amazon_business.models import (
    CreateReportResponse,
    OrderLineItem,
    ProcessingStatus,
    Report,
    ReportDocument,
    ReportsPage,
    call_parsed,
    follow_pages,
    format_amazon_datetime,
    page_query,
    unique_by,
)
from connectors.amazon_business.transport import Transport

#: The only report type Amazon Business supports: an invoice or credit-memo PDF.
INVOICE_PDF_REPORT_TYPE = "GET_AB_INVOICE_PDF"
#: ``documentType`` of an invoice, as in Amazon's createReport examples.
DOCUMENT_TYPE_INVOICE = "Invoice"
#: ``documentType`` of a credit memo (a refund's document), as in Amazon's examples.
DOCUMENT_TYPE_CREDITS = "Credits"

MAX_MARKETPLACES_PER_REPORT = 25
MAX_FILTER_VALUES = 10
MAX_PAGE_SIZE = 100


def invoice_report_options(invoice_number: str, *, credit_memo: bool = False) -> dict[str, str]:
    """``reportOptions`` naming a document by its invoice (or credit-memo) number.

    The form Amazon documents for NA, where it is the only one: ``{"invoiceId": "1111-2222-3333",
    "documentType": "Credits"}``.
    """
    if not invoice_number:
        raise ValueError("invoice_number must not be empty")
    return {
        "invoiceId": invoice_number,
        "documentType": DOCUMENT_TYPE_CREDITS if credit_memo else DOCUMENT_TYPE_INVOICE,
    }


def line_item_report_options(item: OrderLineItem) -> dict[str, str]:
    """``reportOptions`` naming the documents of one shipped order line (EU and Japan)."""
    return {
        "orderId": item.order_id,
        "orderLineItemId": item.order_line_item_id,
        "shipmentId": item.shipment_id,
    }


def _csv(name: str, values: Iterable[str], limit: int) -> str:
    items = [str(v) for v in values]
    if not 1 <= len(items) <= limit:
        raise ValueError(f"{name} takes 1 to {limit} values, not {len(items)}")
    if any(not v or "," in v for v in items):
        raise ValueError(f"{name} values must be non-empty and contain no comma: {items}")
    return ",".join(items)


class DocumentClient:
    """The Document API over a :class:`Transport` (role: Business Purchase Reconciliation).

    ``marketplace_id`` is the default marketplace of new reports; it defaults to the one in the
    transport's configuration.
    """

    invoice_report_options = staticmethod(invoice_report_options)
    line_item_report_options = staticmethod(line_item_report_options)

    def __init__(self, transport: Transport, *, marketplace_id: str | None = None) -> None:
        self.transport = transport
        self.marketplace_id = marketplace_id or transport.config.marketplace_id

    def create_report(
        self,
        report_options: Mapping[str, str],
        *,
        marketplace_ids: Iterable[str] | None = None,
        data_start_time: datetime | None = None,
        data_end_time: datetime | None = None,
    ) -> str:
        """Ask Amazon to render a document; returns the new ``reportId``.

        ``report_options`` names the document (see :func:`invoice_report_options` and
        :func:`line_item_report_options`); Amazon requires it for ``GET_AB_INVOICE_PDF``.
        ``marketplace_ids`` (1 to 25) default to this client's marketplace. The data times are
        optional; "not all report types make use of this".
        """
        if not report_options:
            raise ValueError("report_options is required for GET_AB_INVOICE_PDF")
        options: dict[str, str] = {}
        for key, value in report_options.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError(f"report options map strings to strings, not {key!r}: {value!r}")
            options[key] = value
        marketplaces = list(marketplace_ids) if marketplace_ids is not None else []
        if not marketplaces:
            marketplaces = [self.marketplace_id]
        if len(marketplaces) > MAX_MARKETPLACES_PER_REPORT:
            raise ValueError(
                f"a report takes at most {MAX_MARKETPLACES_PER_REPORT} marketplaces, "
                f"not {len(marketplaces)}"
            )
        body: dict[str, Any] = {
            "reportType": INVOICE_PDF_REPORT_TYPE,
            "marketplaceIds": marketplaces,
            "reportOptions": options,
        }
        if data_start_time is not None:
            body["dataStartTime"] = format_amazon_datetime(data_start_time)
        if data_end_time is not None:
            body["dataEndTime"] = format_amazon_datetime(data_end_time)
        created = call_parsed(self.transport, CreateReportResponse, "createReport", body=body)
        return created.report_id

    def get_report(self, report_id: str) -> Report:
        """The report's current status (and ``report_document_id`` once DONE)."""
        return call_parsed(
            self.transport, Report, "getReport", path_params={"reportId": _id(report_id)}
        )

    def wait_for_report(
        self,
        report_id: str,
        *,
        timeout: float = 300.0,
        poll_interval: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Report:
        """Poll :meth:`get_report` until the status is final, for the CLI's blocking mode.

        Returns the final report (DONE, CANCELLED or FATAL: the caller decides what each means);
        raises ``TimeoutError`` after ``timeout`` seconds. A worker task polls with its own retry
        countdown instead of sleeping here.
        """
        deadline = time.monotonic() + timeout
        while True:
            report = self.get_report(report_id)
            if report.is_terminal:
                return report
            if time.monotonic() + poll_interval > deadline:
                raise TimeoutError(
                    f"report {report_id} is still {report.processing_status.value} "
                    f"after {timeout:.0f} s"
                )
            sleep(poll_interval)

    def get_reports(
        self,
        *,
        report_types: Iterable[str] | None = (INVOICE_PDF_REPORT_TYPE,),
        processing_statuses: Iterable[ProcessingStatus | str] | None = None,
        marketplace_ids: Iterable[str] | None = None,
        page_size: int | None = None,
        created_since: datetime | None = None,
        created_until: datetime | None = None,
        next_token: str | None = None,
    ) -> ReportsPage:
        """One page of reports matching the filters (Amazon's defaults: the last 90 days).

        Amazon requires either ``reportTypes`` or ``nextToken``, and the token must be sent
        **alone** ("combining it with other parameters fails"): when ``next_token`` is given
        every filter is left out, since the token carries the original query. Lists take 1 to
        10 values (statuses any number); ``page_size`` is 1 to 100 (Amazon's default 10).
        """

        def first_page() -> dict[str, str]:
            if report_types is None:
                raise ValueError("getReports needs report_types (or a next_token)")
            query = {"reportTypes": _csv("reportTypes", report_types, MAX_FILTER_VALUES)}
            if processing_statuses is not None:
                statuses = [ProcessingStatus(s).value for s in processing_statuses]
                query["processingStatuses"] = _csv(
                    "processingStatuses", statuses, len(ProcessingStatus)
                )
            if marketplace_ids is not None:
                query["marketplaceIds"] = _csv("marketplaceIds", marketplace_ids, MAX_FILTER_VALUES)
            if page_size is not None:
                if not 1 <= page_size <= MAX_PAGE_SIZE:
                    raise ValueError(f"page_size is 1 to {MAX_PAGE_SIZE}, not {page_size}")
                query["pageSize"] = str(page_size)
            if created_since is not None:
                query["createdSince"] = format_amazon_datetime(created_since)
            if created_until is not None:
                query["createdUntil"] = format_amazon_datetime(created_until)
            return query

        query = page_query("nextToken", next_token, first_page)
        return call_parsed(self.transport, ReportsPage, "getReports", query=query)

    def iter_reports(
        self,
        *,
        report_types: Iterable[str] | None = (INVOICE_PDF_REPORT_TYPE,),
        processing_statuses: Iterable[ProcessingStatus | str] | None = None,
        marketplace_ids: Iterable[str] | None = None,
        page_size: int | None = None,
        created_since: datetime | None = None,
        created_until: datetime | None = None,
    ) -> Iterator[Report]:
        """Every report matching the filters, following ``nextToken`` (each report once).

        A repeating token or page raises :class:`~.errors.MalformedResponseError`. Mind the
        usage plan: getReports allows one call every ten seconds after a burst of ten.
        """
        pages = follow_pages(
            "getReports",
            lambda: self.get_reports(
                report_types=report_types,
                processing_statuses=processing_statuses,
                marketplace_ids=marketplace_ids,
                page_size=page_size,
                created_since=created_since,
                created_until=created_until,
            ),
            lambda token: self.get_reports(next_token=token),
            next_token=lambda page: page.next_token,
            fingerprint=lambda page: tuple(r.report_id for r in page.reports),
        )
        yield from unique_by(
            (report for page in pages for report in page.reports), key=lambda r: r.report_id
        )

    def cancel_report(self, report_id: str) -> None:
        """Cancel a report; Amazon cancels only reports still IN_QUEUE."""
        self.transport.call("cancelReport", path_params={"reportId": _id(report_id)})

    def get_report_document(self, report_document_id: str) -> ReportDocument:
        """Where to download a finished report: a presigned URL valid for five minutes."""
        return call_parsed(
            self.transport,
            ReportDocument,
            "getReportDocument",
            path_params={"reportDocumentId": _id(report_document_id)},
        )

    def download(self, document: ReportDocument) -> bytes:
        """The document's content, gunzipped if Amazon compressed it.

        Raises :class:`~.errors.DocumentUrlExpiredError` when the URL's five minutes are over
        (ask :meth:`get_report_document` again), :class:`~.errors.DisallowedHostError` for a URL
        outside the allow-list and :class:`~.errors.DownloadTooLargeError` past the size cap.
        """
        return self.transport.download(document.url, compression=document.compression_algorithm)


def _id(value: str) -> str:
    if not value:
        raise ValueError("an id must not be empty")
    return value
