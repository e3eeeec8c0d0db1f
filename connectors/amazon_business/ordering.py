"""Ordering API (2022-10-30): place an order and read its status.

abrecon does not buy anything; this client exists so that every Amazon Business operation has a
typed entry point (and so the sandbox can be exercised end to end). Role: *Amazon Business Order
Placement*. Orders act for a named business user, sent as ``x-amz-user-email`` (``user_email``
or ``ABRECON_USER_EMAIL``).

An order is identified by the caller's own ``externalId``, unique per order, which makes placing
it idempotent from the caller's side: orderDetails reads the outcome back by that id. What the
order contains is expressed as *attributes* (what the customer decides: region, shipping
address, payment method, the product, ``TrialMode``...) and *expectations* (what the customer
expects but does not control: unit price, charges). Both are lists of objects discriminated by
``attributeType`` / ``expectationType``; they are passed through as given.

Money differs from the Reconciliation API here: the Ordering model's ``Money.amount`` is a JSON
*number*, not a decimal string. A :class:`~decimal.Decimal` anywhere in a request is sent as a
number whose JSON text is exactly the Decimal's digits, and refused if it has more significant
digits than a double carries (rather than silently rounding an amount). Amounts in the answers
are JSON numbers too; the transport parses them as floats, so read them for display only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from connectors.amazon_business.models import parse_json_object
from connectors.amazon_business.transport import Transport

#: Amazon's limits on a placeOrder request.
MAX_LINE_ITEMS = 50
MAX_EXTERNAL_ID_LENGTH = 255
MAX_LINE_EXTERNAL_ID_LENGTH = 127

#: The order-level attribute that makes placeOrder a dry run: every step but the order itself.
TRIAL_MODE: dict[str, Any] = {"attributeType": "TrialMode"}


def json_numbers(value: Any) -> Any:
    """``value`` with every Decimal replaced by a JSON number of exactly the same value.

    ``json`` writes a float as the shortest text that reads back as the same double, which is
    the Decimal's own text whenever the double can hold it (up to 15 significant digits); a
    Decimal it cannot hold exactly raises ``ValueError`` instead of being rounded.
    """
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not an amount")
        if value == value.to_integral_value():
            return int(value)
        number = float(value)
        if Decimal(repr(number)) != value:
            raise ValueError(f"the amount {value} cannot be sent exactly as a JSON number")
        return number
    if isinstance(value, Mapping):
        return {key: json_numbers(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_numbers(item) for item in value]
    return value


def line_item(
    external_id: str,
    quantity: int,
    attributes: Iterable[Mapping[str, Any]],
    expectations: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A ``RequestLineItem``; ``attributes`` usually select the product and the buying option."""
    if not 1 <= len(external_id) <= MAX_LINE_EXTERNAL_ID_LENGTH:
        raise ValueError(
            f"a line item's external id has 1 to {MAX_LINE_EXTERNAL_ID_LENGTH} characters"
        )
    if quantity < 1:
        raise ValueError(f"a line item's quantity is at least 1, not {quantity}")
    return {
        "externalId": external_id,
        "quantity": quantity,
        "attributes": [json_numbers(a) for a in attributes],
        "expectations": [json_numbers(e) for e in expectations],
    }


class OrderingClient:
    """The Ordering API over a :class:`Transport` (role: Amazon Business Order Placement)."""

    line_item = staticmethod(line_item)

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def place_order(
        self,
        external_id: str,
        line_items: Sequence[Mapping[str, Any]],
        attributes: Iterable[Mapping[str, Any]],
        expectations: Iterable[Mapping[str, Any]],
        *,
        trial: bool = False,
        user_email: str | None = None,
    ) -> dict[str, Any]:
        """placeOrder: order ``line_items`` (1 to 50, see :func:`line_item`).

        ``trial=True`` adds the ``TrialMode`` attribute: Amazon runs every step without creating
        an order. Returns Amazon's ``PlaceOrderResult`` (accepted and rejected items).
        """
        if not 1 <= len(external_id) <= MAX_EXTERNAL_ID_LENGTH:
            raise ValueError(f"an order's external id has 1 to {MAX_EXTERNAL_ID_LENGTH} characters")
        if not 1 <= len(line_items) <= MAX_LINE_ITEMS:
            raise ValueError(
                f"an order has 1 to {MAX_LINE_ITEMS} line items, not {len(line_items)}"
            )
        items: list[dict[str, Any]] = []
        for item in line_items:
            missing = {"externalId", "quantity", "attributes", "expectations"} - set(item)
            if missing:
                raise ValueError(f"a line item lacks {sorted(missing)}; build it with line_item()")
            items.append(json_numbers(item))
        order_attributes = [json_numbers(a) for a in attributes]
        if trial and TRIAL_MODE not in order_attributes:
            order_attributes.append(dict(TRIAL_MODE))
        body = {
            "externalId": external_id,
            "lineItems": items,
            "attributes": order_attributes,
            "expectations": [json_numbers(e) for e in expectations],
        }
        response = self.transport.call("placeOrder", body=body, user_email=user_email)
        return parse_json_object(
            response.body,
            operation="placeOrder",
            status=response.status,
            request_id=response.request_id,
        )

    def order_details(self, external_id: str, *, user_email: str | None = None) -> dict[str, Any]:
        """orderDetails: the outcome of the order placed with ``external_id``."""
        if not external_id:
            raise ValueError("external_id must not be empty")
        response = self.transport.call(
            "orderDetails", path_params={"externalId": external_id}, user_email=user_email
        )
        return parse_json_object(
            response.body,
            operation="orderDetails",
            status=response.status,
            request_id=response.request_id,
        )
