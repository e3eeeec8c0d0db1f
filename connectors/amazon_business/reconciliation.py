"""Reconciliation API (2021-01-08): transactions, invoice numbers and invoice payment status.

This is the core of a reconciliation: the Reconciliation API lists every purchase and refund per
payment method and legal entity (:meth:`ReconciliationClient.iter_transactions`), and gives the
invoice or credit-memo numbers of each shipped order line
(:meth:`ReconciliationClient.get_invoice_details`), which the Document API then renders as PDFs.

Amazon's rules this client follows, and why:

* **Date windows.** getTransactions filters on the *feed date*, when a transaction became
  queryable, which may lag the transaction by days. Amazon documents neither a page size nor a
  longest range (its own example spans 16 months), so a long range is asked for in consecutive
  windows (30 days by default) to keep each query and its page chain short; a window that fails
  can be retried alone.
* **Next pages carry only the token.** "To get the next page of results, include
  nextPageToken as the only parameter" (Amazon's model): the token encodes the query, and
  repeating the dates is not what Amazon documents, even though the model also marks the dates
  required. The first page of a window sends ``feedStartDate`` and ``feedEndDate``, every later
  page ``nextPageToken`` alone.
* **Duplicates and loops.** Amazon's sibling APIs have served repeating tokens and repeated
  pages; a repeat raises :class:`~.errors.MalformedResponseError` rather than looping, and
  transactions are de-duplicated by ``transactionId`` (the idempotency key).
* **Batches of 25.** getInvoiceDetailsByOrderLineItems and getBatchInvoicePaymentDetails take at
  most 25 items per call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from connectors.amazon_business.models import (
    InvoiceDetailsOfOrderLineItem,
    InvoiceDetailsResponse,
    InvoicePaymentDetailsResponse,
    InvoicePaymentDetailsResult,
    OrderLineItem,
    Transaction,
    TransactionsPage,
    call_parsed,
    follow_pages,
    format_amazon_datetime,
    page_query,
    to_utc,
    unique_by,
)
from connectors.amazon_business.transport import Transport

log = logging.getLogger(__name__)

#: Amazon's limit: "The maximum number of order line items in each call is 25".
MAX_LINE_ITEMS_PER_CALL = 25
#: Amazon's limit on ``invoiceIds`` in getBatchInvoicePaymentDetails (``maxItems: 25``).
MAX_INVOICE_IDS_PER_CALL = 25
#: Amazon's limit on the length of one invoice id (``maxLength: 255``).
MAX_INVOICE_ID_LENGTH = 255
#: The default length of one getTransactions query window.
DEFAULT_WINDOW = timedelta(days=30)

_MILLISECOND = timedelta(milliseconds=1)


def _floor_to_millisecond(value: datetime) -> datetime:
    """``value`` in UTC without its sub-millisecond part (Amazon's precision)."""
    utc = to_utc(value)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def split_windows(
    start: datetime, end: datetime, window: timedelta = DEFAULT_WINDOW
) -> list[tuple[datetime, datetime]]:
    """The range ``[start, end)`` cut into consecutive windows of at most ``window``.

    The windows are half-open and share their boundaries: each window ends exactly where the next
    begins, ``[s0, s1), [s1, s2), ..., [sn-1, end)``. There is no gap, so a transaction stamped
    between two windows cannot be missed whatever Amazon does at the edges. Amazon does not say
    whether ``feedEndDate`` is inclusive; if it is, a transaction stamped exactly on a boundary
    comes back in both neighbouring windows, and :meth:`ReconciliationClient.iter_transactions`
    drops the second copy by ``transactionId``. Overlapping the windows instead would fetch more
    twice, and leaving a gap (``[s0, s1 - 1 ms]``) would risk missing data if the end is
    exclusive.

    Times are taken in UTC (naive as UTC) and floored to whole milliseconds, the precision of
    Amazon's time stamps, so that the boundaries sent are exactly the boundaries computed.
    """
    if window < _MILLISECOND:
        raise ValueError(f"the window must be at least one millisecond, not {window}")
    lo, hi = _floor_to_millisecond(start), _floor_to_millisecond(end)
    if lo >= hi:
        raise ValueError(f"the range must end after it starts: {lo} .. {hi}")
    windows: list[tuple[datetime, datetime]] = []
    cursor = lo
    while cursor < hi:
        upper = min(hi, _floor_to_millisecond(cursor + window))
        windows.append((cursor, upper))
        cursor = upper
    return windows


def _window_query(start: datetime, end: datetime) -> dict[str, str]:
    lo, hi = _floor_to_millisecond(start), _floor_to_millisecond(end)
    if lo >= hi:
        raise ValueError(f"feed_end must be after feed_start: {lo} .. {hi}")
    return {"feedStartDate": format_amazon_datetime(lo), "feedEndDate": format_amazon_datetime(hi)}


class ReconciliationClient:
    """The Reconciliation API over a :class:`Transport` (role: Business Purchase Reconciliation)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    # -- transactions ------------------------------------------------------------------------

    def get_transactions_page(
        self,
        feed_start: datetime,
        feed_end: datetime,
        next_page_token: str | None = None,
    ) -> TransactionsPage:
        """One page of transactions whose feed date lies in ``[feed_start, feed_end)``.

        The first page (no ``next_page_token``) sends ``feedStartDate`` and ``feedEndDate`` as
        ISO 8601 UTC with a ``Z`` (naive times are taken as UTC; sub-millisecond parts are
        dropped). A later page sends ``nextPageToken`` as the only parameter, as Amazon documents;
        the dates are then ignored, since the token carries the query. A Celery task can store the
        token between runs and resume with it (Amazon's sibling APIs expire tokens after minutes,
        so a lost token means re-reading the window, not an error).
        """
        query = page_query(
            "nextPageToken", next_page_token, lambda: _window_query(feed_start, feed_end)
        )
        return call_parsed(self.transport, TransactionsPage, "getTransactions", query=query)

    def iter_transaction_pages(
        self,
        feed_start: datetime,
        feed_end: datetime,
        *,
        window: timedelta = DEFAULT_WINDOW,
    ) -> Iterator[TransactionsPage]:
        """Every page of ``[feed_start, feed_end)``, window by window (see :func:`split_windows`).

        Within a window the pages follow ``nextPageToken`` until Amazon sends none (an empty
        token counts as none). A token or a non-empty page that repeats raises
        :class:`~.errors.MalformedResponseError`. The pages are as Amazon sent them: a
        transaction stamped exactly on a window boundary may appear in two windows; use
        :meth:`iter_transactions` for a de-duplicated stream.
        """
        for start, end in split_windows(feed_start, feed_end, window):
            fetch = partial(self.get_transactions_page, start, end)
            pages = 0
            for page in follow_pages(
                "getTransactions",
                fetch,
                fetch,
                next_token=lambda page: page.next_page_token,
                fingerprint=_transaction_fingerprint,
            ):
                pages += 1
                yield page
            log.debug("getTransactions %s .. %s: %d page(s)", start, end, pages)

    def iter_transactions(
        self,
        feed_start: datetime,
        feed_end: datetime,
        *,
        window: timedelta = DEFAULT_WINDOW,
    ) -> Iterator[Transaction]:
        """Every transaction of ``[feed_start, feed_end)`` once, in Amazon's order.

        De-duplicated by ``transactionId`` across pages and windows. Amazon's model makes even
        ``transactionId`` optional; a transaction without one cannot be de-duplicated and is
        passed through.
        """
        pages = self.iter_transaction_pages(feed_start, feed_end, window=window)
        yield from unique_by(
            (transaction for page in pages for transaction in page.transactions),
            key=lambda transaction: transaction.transaction_id,
        )

    # -- invoices ----------------------------------------------------------------------------

    def get_invoice_details(
        self, line_items: Iterable[OrderLineItem]
    ) -> Iterator[InvoiceDetailsOfOrderLineItem]:
        """The invoices and credit memos of each distinct line item, 25 line items per call.

        ``line_items`` is consumed lazily and de-duplicated (a transaction and its refund name the
        same line); each batch is sent when full, and its results are yielded before the next
        batch is read. A line item Amazon knows no invoice for yet comes back with an empty
        ``invoice_details`` list or not at all.
        """
        seen: set[tuple[str, str, str]] = set()
        batch: list[OrderLineItem] = []
        for item in line_items:
            if not isinstance(item, OrderLineItem):
                raise TypeError(f"expected an OrderLineItem, not {type(item).__name__}")
            if item.key in seen:
                continue
            seen.add(item.key)
            batch.append(item)
            if len(batch) == MAX_LINE_ITEMS_PER_CALL:
                yield from self._invoice_details_batch(batch)
                batch = []
        if batch:
            yield from self._invoice_details_batch(batch)

    def _invoice_details_batch(
        self, batch: list[OrderLineItem]
    ) -> list[InvoiceDetailsOfOrderLineItem]:
        body: dict[str, Any] = {
            "orderLineItems": [
                {
                    "orderId": item.order_id,
                    "orderLineItemId": item.order_line_item_id,
                    "shipmentId": item.shipment_id,
                }
                for item in batch
            ]
        }
        parsed = call_parsed(
            self.transport, InvoiceDetailsResponse, "getInvoiceDetailsByOrderLineItems", body=body
        )
        return parsed.invoice_details_by_order_line_items

    def get_batch_invoice_payment_details(
        self, invoice_ids: Iterable[str]
    ) -> list[InvoicePaymentDetailsResult]:
        """The payment status and due date of pay-by-invoice invoices, 25 ids per call.

        Ids are de-duplicated in order; no call is made for an empty list (Amazon requires at
        least one id). Each result is SUCCESS with ``payment_details`` or ERROR with an ``error``.
        """
        unique: list[str] = []
        seen: set[str] = set()
        for invoice_id in invoice_ids:
            if not isinstance(invoice_id, str) or not 1 <= len(invoice_id) <= MAX_INVOICE_ID_LENGTH:
                raise ValueError(
                    f"an invoice id is a string of 1 to {MAX_INVOICE_ID_LENGTH} characters, "
                    f"not {invoice_id!r}"
                )
            if invoice_id not in seen:
                seen.add(invoice_id)
                unique.append(invoice_id)
        results: list[InvoicePaymentDetailsResult] = []
        for offset in range(0, len(unique), MAX_INVOICE_IDS_PER_CALL):
            batch = unique[offset : offset + MAX_INVOICE_IDS_PER_CALL]
            parsed = call_parsed(
                self.transport,
                InvoicePaymentDetailsResponse,
                "getBatchInvoicePaymentDetails",
                body={"invoiceIds": batch},
            )
            results.extend(parsed.invoice_payment_details_results)
        return results


def _transaction_fingerprint(page: TransactionsPage) -> tuple[str, ...]:
    """The page's transaction ids in order; empty (no check) when any id is missing."""
    ids = tuple(t.transaction_id for t in page.transactions if t.transaction_id)
    return ids if len(ids) == len(page.transactions) else ()
