"""Reporting API (2021-01-08, "order history"): orders with lines, shipments and charges.

Reconciliation transactions say what was paid; the Reporting API says what was ordered: order
status, the approver, buyer group and PO number, and on request the order's lines (with
``transactionIds`` linking back to transactions), shipments and charges. It needs the separate
role *Amazon Business Analytics*; without it abrecon reconciles from transactions and invoices
alone.

getOrdersByOrderDate filters on the **order date** and pages by 100 orders. As with
getTransactions, a next page is asked for with ``nextPageToken`` as the only parameter (Amazon:
"This token needs to be encoded"; the transport URL-encodes every query value), so the
``include*`` flags are sent with the first page only and carried by the token.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from connectors.amazon_business.errors import MalformedResponseError, NotFoundError
from connectors.amazon_business.models import (
    Order,
    OrdersPage,
    call_parsed,
    follow_pages,
    format_amazon_datetime,
    page_query,
    parse_response,
    to_utc,
    unique_by,
)
from connectors.amazon_business.transport import Transport


def _include_flags(
    include_line_items: bool, include_shipments: bool, include_charges: bool
) -> dict[str, str]:
    """The ``include*`` query flags that are on (Amazon's default for each is false)."""
    flags = {
        "includeLineItems": include_line_items,
        "includeShipments": include_shipments,
        "includeCharges": include_charges,
    }
    return {name: "true" for name, on in flags.items() if on}


def _date_query(start: datetime, end: datetime) -> dict[str, str]:
    if to_utc(start) >= to_utc(end):
        raise ValueError(f"end must be after start: {start} .. {end}")
    return {"startDate": format_amazon_datetime(start), "endDate": format_amazon_datetime(end)}


class ReportingClient:
    """The Reporting API over a :class:`Transport` (role: Amazon Business Analytics)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def get_orders_page(
        self,
        start: datetime,
        end: datetime,
        *,
        include_line_items: bool = False,
        include_shipments: bool = False,
        include_charges: bool = False,
        next_page_token: str | None = None,
    ) -> OrdersPage:
        """One page (up to 100) of orders placed in ``[start, end]`` (times in UTC).

        With ``next_page_token`` only the token is sent, as Amazon requires; the dates and flags
        are then ignored.
        """
        query = page_query(
            "nextPageToken",
            next_page_token,
            lambda: {
                **_date_query(start, end),
                **_include_flags(include_line_items, include_shipments, include_charges),
            },
        )
        return call_parsed(self.transport, OrdersPage, "getOrdersByOrderDate", query=query)

    def iter_orders(
        self,
        start: datetime,
        end: datetime,
        *,
        include_line_items: bool = False,
        include_shipments: bool = False,
        include_charges: bool = False,
    ) -> Iterator[Order]:
        """Every order placed in ``[start, end]``, once each, following ``nextPageToken``.

        Orders are de-duplicated by ``orderId`` (Amazon's sibling APIs have served the same
        orders under different tokens); a repeating token or page raises
        :class:`~.errors.MalformedResponseError`.
        """
        pages = follow_pages(
            "getOrdersByOrderDate",
            lambda: self.get_orders_page(
                start,
                end,
                include_line_items=include_line_items,
                include_shipments=include_shipments,
                include_charges=include_charges,
            ),
            lambda token: self.get_orders_page(start, end, next_page_token=token),
            next_token=lambda page: page.next_page_token,
            fingerprint=lambda page: tuple(o.order_id for o in page.orders),
        )
        yield from unique_by(
            (order for page in pages for order in page.orders), key=lambda order: order.order_id
        )

    def get_order(
        self,
        order_id: str,
        *,
        include_line_items: bool = False,
        include_shipments: bool = False,
        include_charges: bool = False,
    ) -> Order:
        """One order by its id (getOrdersByOrderId).

        Amazon answers with a list (``OrdersOutput``); the order with the asked-for id is
        returned. An empty list raises :class:`~.errors.NotFoundError`; a list of other orders
        raises :class:`~.errors.MalformedResponseError` rather than enrich the wrong order
        (Amazon's static sandbox does answer with a different order id).
        """
        if not order_id:
            raise ValueError("order_id must not be empty")
        response = self.transport.call(
            "getOrdersByOrderId",
            path_params={"orderId": order_id},
            query=_include_flags(include_line_items, include_shipments, include_charges),
        )
        page = parse_response(
            OrdersPage,
            response.body,
            operation="getOrdersByOrderId",
            status=response.status,
            request_id=response.request_id,
        )
        for order in page.orders:
            if order.order_id == order_id:
                return order
        if page.orders:
            raise MalformedResponseError(
                f"asked for order {order_id!r}, got {[o.order_id for o in page.orders][:5]}",
                operation="getOrdersByOrderId",
                status=response.status,
                request_id=response.request_id,
            )
        raise NotFoundError(
            f"the answer holds no order {order_id!r}",
            operation="getOrdersByOrderId",
            status=response.status,
            request_id=response.request_id,
        )
