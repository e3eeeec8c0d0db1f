"""Typed models of the Amazon Business wire shapes abrecon consumes.

Amazon's API models (Swagger 2.0) are the ground truth for these shapes. The models follow them
with a few deliberate rules:

* **Money is Decimal, never float.** Amazon sends every amount as a decimal *string*
  (``{"currencyCode": "USD", "amount": "-2.99"}``) precisely so that no binary floating point
  ever touches it. :class:`Money` parses that string into a :class:`~decimal.Decimal`, refuses a
  JSON number, ``NaN`` or an infinity with a clear error, and remembers the string it was given, so
  ``"5.990"`` or ``"1E-7"`` (what Java's ``BigDecimal.toString`` prints for small values) is
  written back exactly as received.
* **Nothing Amazon adds is lost.** Every model keeps unknown fields (``extra="allow"``); a raw
  round trip ``model.model_dump(by_alias=True, mode="json")`` gives Amazon's wire format back:
  camelCase names, amounts as the strings received, fields that were absent stay absent.
* **snake_case in Python, camelCase on the wire.** Attributes are snake_case with camelCase
  aliases; both spellings are accepted on input (``populate_by_name``).
* **Date-times are UTC-aware.** Amazon stamps times in UTC (``2021-05-12T20:44:21.791Z``); an
  offset is converted to UTC and a naive value (the Reporting sandbox sends some) is taken as UTC.
* **Lenient where Amazon is inconsistent, strict where abrecon depends on it.** Amazon's own
  sandbox examples break their models in places (an ``orderStatus`` of ``"CANCELLED"`` outside
  the enum, Japanese invoice details without fields the model marks required, an empty
  ``currencyCode``). Such fields are optional or plain strings here, and enums that may grow are
  ``Enum | str`` so that a new value does not stop a sync. Shapes a reconciliation depends on (a
  page's list of transactions, an amount, the identifiers of a line item, a report's status) are
  strict: a response that breaks them raises :class:`~.errors.MalformedResponseError` naming the
  operation and the field (see :func:`parse_response`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel, to_snake

from connectors.amazon_business.errors import MalformedResponseError, redact_url

if TYPE_CHECKING:
    from connectors.amazon_business.transport import Transport

__all__ = [
    "AmazonModel",
    "AssociatedTransactionDetail",
    "Charge",
    "ConsolidatedInvoiceDetails",
    "CreateReportResponse",
    "Customer",
    "DeliveryInformation",
    "ErrorDetail",
    "FeeType",
    "InvoiceDetail",
    "InvoiceDetailsOfOrderLineItem",
    "InvoiceDetailsResponse",
    "InvoiceLevelFeeApportionmentDetail",
    "InvoiceLevelFeeDetail",
    "InvoicePaymentDetailsResponse",
    "InvoicePaymentDetailsResult",
    "InvoiceType",
    "LineItemApportionmentDetail",
    "LineItemLevelFeeApportionmentDetail",
    "LineItemLevelFeeDetail",
    "Money",
    "Order",
    "OrderLineItem",
    "OrdersPage",
    "PageTokenGuard",
    "PartyDetail",
    "PaymentDetails",
    "PaymentStatus",
    "PhysicalAddress",
    "ProcessingStatus",
    "Report",
    "ReportDocument",
    "ReportingAddress",
    "ReportingLineItem",
    "ReportsPage",
    "ResponseModel",
    "ResultType",
    "Seller",
    "SellerCertifyingAgencyDetails",
    "SellerCredentialDetails",
    "Shipment",
    "TaxDetail",
    "Transaction",
    "TransactionDataItem",
    "TransactionLineItem",
    "TransactionType",
    "TransactionsPage",
    "UtcDateTime",
    "call_parsed",
    "follow_pages",
    "format_amazon_datetime",
    "page_query",
    "parse_decimal_string",
    "parse_json_object",
    "parse_response",
    "to_utc",
    "unique_by",
]

# --------------------------------------------------------------------------------------------
# Scalars: decimal strings and UTC date-times
# --------------------------------------------------------------------------------------------

#: A decimal number as text: optional sign, digits with an optional point, optional exponent.
#: ASCII digits only (``Decimal`` itself would accept Arabic-Indic digits, underscores and
#: surrounding blanks, none of which is a well-formed wire amount); no NaN or Infinity.
_DECIMAL_STRING = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_decimal_string(value: object) -> Decimal:
    """The exact :class:`Decimal` of an Amazon amount, or ``ValueError`` saying what is wrong.

    Accepts a decimal string (``"5.99"``, ``"-2.99"``, ``"0"``, ``"1E-7"``), a ``Decimal`` or an
    ``int`` (both exact). A ``float`` is refused even when it looks harmless: ``0.1`` as a binary
    float is not 0.1, and a JSON number where Amazon's model says ``string`` means the response
    is not what the model describes. ``NaN`` and infinities are never money.
    """
    if isinstance(value, bool):
        raise ValueError(f"an amount must be a decimal string such as '5.99', not {value!r}")
    if isinstance(value, float):
        raise ValueError(
            f"an amount must be a decimal string such as '5.99', not the float {value!r} "
            "(binary floating point cannot hold money exactly)"
        )
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"an amount must be a finite number, not {value}")
        return value
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "..."
        if not _DECIMAL_STRING.fullmatch(value):
            raise ValueError(f"an amount must be a decimal string such as '5.99', not {shown!r}")
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
            raise ValueError(f"{shown!r} is not a decimal number") from None
    raise ValueError(
        f"an amount must be a decimal string such as '5.99', not {type(value).__name__}"
    )


def to_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive date-time is taken to be UTC already."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_amazon_datetime(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, the way Amazon writes its time stamps.

    Whole seconds are written without a fraction (``2023-01-01T00:00:00Z``, the form of Amazon's
    examples), anything finer with milliseconds (``2021-05-12T20:44:21.791Z``), the precision
    Amazon's own time stamps carry; microseconds beyond that are dropped.
    """
    utc = to_utc(value)
    spec = "milliseconds" if utc.microsecond // 1000 else "seconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


#: A date-time that is always UTC-aware and is written back in Amazon's style.
UtcDateTime = Annotated[
    datetime,
    AfterValidator(to_utc),
    PlainSerializer(format_amazon_datetime, return_type=str, when_used="json"),
]


# --------------------------------------------------------------------------------------------
# Base classes
# --------------------------------------------------------------------------------------------


class AmazonModel(BaseModel):
    """Base of every wire model: camelCase aliases, extra fields kept, the wire text kept.

    ``model_dump(by_alias=True, mode="json")`` reproduces the document Amazon sent:

    * fields that were not in the input are left out, instead of padding the document with
      ``null``s and empty lists Amazon never sent (an explicit ``null`` is kept);
    * a date-time is written back as the text it arrived as (``...:21Z`` stays ``...:21Z``,
      ``...:21.000Z`` stays ``...:21.000Z``) unless the attribute was changed since; a date-time
      set in Python is written in Amazon's style (:func:`format_amazon_datetime`).

    Equality compares field values and extra fields; the remembered wire text and the request id
    are bookkeeping and do not take part.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        validate_assignment=True,
    )

    #: field name -> (text as received, value parsed from it), for date-time fields.
    _wire_text: dict[str, tuple[str, Any]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_wire_text(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        model = handler(data)
        if isinstance(data, dict) and isinstance(model, AmazonModel) and model is not data:
            for name, field in cls.model_fields.items():
                value = model.__dict__.get(name)
                if not isinstance(value, datetime):
                    continue
                raw = data.get(field.alias) if field.alias in data else data.get(name)
                if isinstance(raw, str):
                    model._wire_text[name] = (raw, value)
        return model

    @model_serializer(mode="wrap")
    def _to_wire(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        data = handler(self)
        if not isinstance(data, dict):
            return data
        by_alias = bool(info.by_alias)
        for name, field in type(self).model_fields.items():
            key = field.alias if by_alias and field.alias else name
            if name not in self.model_fields_set:
                data.pop(key, None)
            elif info.mode_is_json() and name in self._wire_text and key in data:
                raw, parsed = self._wire_text[name]
                if self.__dict__.get(name) == parsed:
                    data[key] = raw
        return data

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BaseModel):
            return NotImplemented
        return (
            type(self) is type(other)
            and self.__dict__ == other.__dict__
            and self.__pydantic_extra__ == other.__pydantic_extra__
        )

    # Defining __eq__ leaves mutable models unhashable; frozen ones (Money, OrderLineItem) get
    # pydantic's value hash.


class ResponseModel(AmazonModel):
    """A whole response body; remembers the ``x-amzn-RequestId`` it came with."""

    _request_id: str | None = PrivateAttr(default=None)
    _wire: Any = PrivateAttr(default=None)

    @property
    def request_id(self) -> str | None:
        """Amazon's ``x-amzn-RequestId`` of the response, to quote in a support case."""
        return self._request_id

    @property
    def wire(self) -> Any:
        """The body exactly as Amazon sent it (decoded JSON), when parsed from a response."""
        return self._wire


# --------------------------------------------------------------------------------------------
# Shared shapes
# --------------------------------------------------------------------------------------------


class Money(AmazonModel):
    """An amount in a currency: ``{"currencyCode": "USD", "amount": "5.99"}``.

    ``amount`` is an exact :class:`Decimal` parsed from Amazon's decimal string; the string itself
    is kept and written back unchanged, so ``"5.990"`` stays ``"5.990"``. Two amounts are equal
    when their currency and numeric value are (``"5.99"`` equals ``"5.990"``). Money is immutable
    and hashable.

    ``currency_code`` is ISO 4217 by Amazon's description, but it is not checked: Amazon's own
    examples carry an empty ``currencyCode`` on some Japanese invoice lines.
    """

    model_config = ConfigDict(frozen=True)

    currency_code: str
    amount: Decimal

    _wire_amount: str | None = PrivateAttr(default=None)

    @field_validator("amount", mode="before")
    @classmethod
    def _parse_amount(cls, value: object) -> Decimal:
        return parse_decimal_string(value)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_wire_amount(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        model = handler(data)
        if isinstance(model, Money) and isinstance(data, dict):
            raw = data.get("amount")
            if isinstance(raw, str):
                model._wire_amount = raw
        return model

    @field_serializer("amount", when_used="json")
    def _amount_to_wire(self, amount: Decimal) -> str:
        if self._wire_amount is not None:
            return self._wire_amount
        return format(amount, "f")

    @classmethod
    def of(cls, amount: str | Decimal | int, currency_code: str) -> Money:
        """``Money.of("5.99", "USD")``: a shorthand for tests and domain code."""
        return cls(currency_code=currency_code, amount=parse_decimal_string(amount))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return (self.currency_code, self.amount) == (other.currency_code, other.amount)

    def __hash__(self) -> int:
        return hash((self.currency_code, self.amount))

    def __str__(self) -> str:
        return f"{self._amount_to_wire(self.amount)} {self.currency_code}".strip()


class Customer(AmazonModel):
    """A business customer: the buyer an order was placed for, or the payer of an instrument."""

    id: str
    name: str | None = None
    email: str | None = None


class ErrorDetail(AmazonModel):
    """Amazon's ``Error`` object, as embedded in a result (not an HTTP error)."""

    code: str
    message: str
    details: str | None = None


# --------------------------------------------------------------------------------------------
# Reconciliation API 2021-01-08
# --------------------------------------------------------------------------------------------


class TransactionType(StrEnum):
    """The kind of a transaction, with the sign convention Amazon's model documents.

    CHARGE is a positive amount, REFUND a negative one and OVERREFUND an additional refund.
    (Whether refunds really arrive negative is unconfirmed; reference §11.4.)
    """

    CHARGE = "CHARGE"
    REFUND = "REFUND"
    OVERREFUND = "OVERREFUND"


class OrderLineItem(AmazonModel):
    """The key of one shipped line of an order: ``(orderId, orderLineItemId, shipmentId)``.

    Amazon invoices per shipment, so an order line shipped in two parcels has two of these and
    possibly two invoices. This is what getInvoiceDetailsByOrderLineItems takes. Frozen and
    hashable, so a set of them de-duplicates.
    """

    model_config = ConfigDict(frozen=True)

    order_id: str
    order_line_item_id: str
    shipment_id: str

    @property
    def key(self) -> tuple[str, str, str]:
        """``(order_id, order_line_item_id, shipment_id)``: the identity, ignoring extras."""
        return (self.order_id, self.order_line_item_id, self.shipment_id)


class TransactionLineItem(AmazonModel):
    """One order line of a transaction, with its share of the money.

    ``total_amount`` is the principal plus or minus the additional charges and credits
    (shipping, gift wrap, regulatory fee, discount, tax). ``business_order_info`` carries the
    buyer's own accounting fields (``{"GL code": "535-office", "Cost center": ""}``).
    """

    refund_reason: str | None = None
    total_amount: Money | None = None
    principal_amount: Money | None = None
    shipping_charge: Money | None = None
    regulatory_fee: Money | None = None
    gift_wrapping_charge: Money | None = None
    discount: Money | None = None
    tax: Money | None = None
    unit_price: Money | None = None
    tax_rate: str | None = None
    order_id: str | None = None
    unspsc: str | None = None
    order_line_item_id: str | None = None
    purchase_order_number: str | None = None
    purchase_order_line_item_id: str | None = None
    asin: str | None = None
    product_title: str | None = None
    item_quantity: int | None = None
    shipment_id: str | None = None
    shipment_date: UtcDateTime | None = None
    merchant_legal_name: str | None = None
    budget_id: str | None = None
    business_order_info: dict[str, str | None] | None = None

    @property
    def order_line_item(self) -> OrderLineItem | None:
        """The key to ask for this line's invoices, or ``None`` when a part of it is missing."""
        if self.order_id and self.order_line_item_id and self.shipment_id:
            return OrderLineItem(
                order_id=self.order_id,
                order_line_item_id=self.order_line_item_id,
                shipment_id=self.shipment_id,
            )
        return None


class AssociatedTransactionDetail(AmazonModel):
    """Another transaction of the same payment, when one payment is split across instruments."""

    associated_transaction_id: str


class Transaction(AmazonModel):
    """One purchase or refund on one payment instrument, as the Reconciliation API reports it.

    ``transaction_date`` is when it happened; ``feed_date`` is when it became queryable with
    getTransactions (it can lag by days, which is why a sync re-reads an overlap). ``amount`` is the
    settled amount or, before settlement, the authorized one. Every field is optional in Amazon's
    model, ``transaction_id`` included; abrecon uses ``transaction_id`` as the idempotency key.
    """

    marketplace_id: str | None = None
    transaction_date: UtcDateTime | None = None
    feed_date: UtcDateTime | None = None
    transaction_type: TransactionType | str | None = Field(None, union_mode="left_to_right")
    transaction_id: str | None = None
    charge_identifier: str | None = None
    ship_tax_rate: str | None = None
    gift_wrap_tax_rate: str | None = None
    legal_entity_name: str | None = None
    purchasing_customer_group_name: str | None = None
    invoice_number: str | None = None
    amount: Money | None = None
    payment_instrument_type: str | None = None
    payment_instrument_last4_digits: str | None = None
    buyer: Customer | None = None
    payer: Customer | None = None
    associated_transaction_details: list[AssociatedTransactionDetail] = Field(default_factory=list)
    transaction_line_items: list[TransactionLineItem] = Field(default_factory=list)

    def order_line_items(self) -> list[OrderLineItem]:
        """The distinct complete ``(order, line, shipment)`` keys of this transaction's lines."""
        seen: dict[tuple[str, str, str], OrderLineItem] = {}
        for line in self.transaction_line_items:
            item = line.order_line_item
            if item is not None:
                seen.setdefault(item.key, item)
        return list(seen.values())


class TransactionsPage(ResponseModel):
    """One page of getTransactions (Amazon's ``TransactionsResponse``).

    ``next_page_token`` is present while more pages follow; the next page is asked for with the
    token as the only parameter.
    """

    transactions: list[Transaction]
    next_page_token: str | None = None

    def wire_transactions(self) -> list[dict[str, Any]] | None:
        """Each transaction as Amazon sent it, in order (None when not parsed from a response).

        Keeping these spares serialising the models back to the wire format for storage.
        """
        body = self._wire
        if not isinstance(body, dict):
            return None
        items = body.get("transactions")
        if not isinstance(items, list) or len(items) != len(self.transactions):
            return None
        return items if all(isinstance(item, dict) for item in items) else None


class InvoiceType(StrEnum):
    """A standard invoice or a credit memo (a refund's document)."""

    STANDARD = "STANDARD"
    CREDIT_MEMO = "CREDIT_MEMO"


class FeeType(StrEnum):
    """The kind of a fee on a Japanese invoice."""

    SHIPPING = "SHIPPING"
    GIFTWRAPPING = "GIFTWRAPPING"
    OTHER = "OTHER"


class ConsolidatedInvoiceDetails(AmazonModel):
    """The consolidated (periodic) invoice a line's invoice was rolled into.

    ``invoice_number`` is ``"Pending"`` until the consolidated document exists.
    """

    invoice_number: str


class PartyDetail(AmazonModel):
    """An invoice issuer or seller on a Japanese qualified invoice (name, registration number)."""

    name: str | None = None
    registration_number: str | None = None


class PhysicalAddress(AmazonModel):
    """A postal address; every field optional, since Amazon's examples omit required ones."""

    address_type: str | None = None
    full_name: str | None = None
    phone_number: str | None = None
    company_name: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    address_line3: str | None = None
    city: str | None = None
    state_or_region: str | None = None
    postal_code: str | None = None
    country_code: str | None = None


class TaxDetail(AmazonModel):
    """Tax at one rate on a Japanese invoice: totals including and excluding it, and the tax."""

    rate: str | None = None
    inclusive_total: Money | None = None
    exclusive_total: Money | None = None
    amount: Money | None = None


class LineItemApportionmentDetail(AmazonModel):
    """How an invoice line is split over order line items."""

    order_line_item_id: str | None = None
    line_number: int | None = None
    units: int | None = None
    unit_price: Money | None = None
    tax_amount: Money | None = None


class LineItemLevelFeeApportionmentDetail(AmazonModel):
    """How a line-level fee is split over order line items."""

    associated_order_line_item_id: str | None = None
    units: int | None = None
    unit_tax_exclusive_fee: Money | None = None
    unit_tax_amount: Money | None = None


class LineItemLevelFeeDetail(AmazonModel):
    """A fee (shipping, gift wrap, other) on one invoice line."""

    fee_type: FeeType | str | None = Field(None, union_mode="left_to_right")
    tax: TaxDetail | None = None
    discount: Money | None = None
    apportionment: list[LineItemLevelFeeApportionmentDetail] = Field(default_factory=list)


class TransactionDataItem(AmazonModel):
    """A line of a Japanese invoice: product, unit prices with and without tax, total."""

    tax_rate: str | None = None
    unit: int | None = None
    asin: str | None = None
    title: str | None = None
    unit_tax_inclusive_price: Money | None = None
    unit_tax_exclusive_price: Money | None = None
    unit_tax_amount: Money | None = None
    total_amount: Money | None = None
    discount: Money | None = None
    apportionment: list[LineItemApportionmentDetail] = Field(default_factory=list)
    fees: list[LineItemLevelFeeDetail] = Field(default_factory=list)


class InvoiceLevelFeeApportionmentDetail(AmazonModel):
    """How an invoice-level fee is split: the fee without tax and its tax."""

    tax_exclusive_fee: Money | None = None
    tax_amount: Money | None = None


class InvoiceLevelFeeDetail(AmazonModel):
    """A fee charged on the whole invoice (Japan)."""

    fee_type: FeeType | str | None = Field(None, union_mode="left_to_right")
    tax: TaxDetail | None = None
    discount: Money | None = None
    apportionment: list[InvoiceLevelFeeApportionmentDetail] = Field(default_factory=list)


class InvoiceDetail(AmazonModel):
    """One invoice or credit memo covering an order line item.

    ``invoice_number`` is what createReport's ``invoiceId`` takes to fetch the PDF. In NA and EU
    only the number, date, type and consolidation are filled; the rest is the Japanese
    qualified-invoice detail (issuer and seller registration numbers, tax per rate, lines, fees).
    ``invoice_total`` is a decimal string as on the wire; :attr:`invoice_total_amount` parses it.
    """

    invoice_number: str
    invoice_date: UtcDateTime
    consolidated_invoice_details: ConsolidatedInvoiceDetails | None = None
    invoice_type: InvoiceType | str | None = Field(None, union_mode="left_to_right")
    associated_invoice_number: str | None = None
    associated_invoice_date: UtcDateTime | None = None
    invoice_issuer: PartyDetail | None = None
    bill_to_address: PhysicalAddress | None = None
    seller_information: PartyDetail | None = None
    order_date: UtcDateTime | None = None
    currency_code: str | None = None
    invoice_total: str | None = None
    tax: list[TaxDetail] = Field(default_factory=list)
    transaction_data_items: list[TransactionDataItem] = Field(default_factory=list)
    fees: list[InvoiceLevelFeeDetail] = Field(default_factory=list)

    @field_validator("invoice_total")
    @classmethod
    def _check_invoice_total(cls, value: str | None) -> str | None:
        if value is not None:
            parse_decimal_string(value)
        return value

    @property
    def invoice_total_amount(self) -> Decimal | None:
        """``invoice_total`` as an exact Decimal (``None`` when absent)."""
        return None if self.invoice_total is None else Decimal(self.invoice_total)

    @property
    def is_credit_memo(self) -> bool:
        return self.invoice_type == InvoiceType.CREDIT_MEMO


class InvoiceDetailsOfOrderLineItem(AmazonModel):
    """The invoices (and credit memos) Amazon issued for one order line item."""

    order_line_item: OrderLineItem
    invoice_details: list[InvoiceDetail]


class InvoiceDetailsResponse(ResponseModel):
    """The body of getInvoiceDetailsByOrderLineItems."""

    invoice_details_by_order_line_items: list[InvoiceDetailsOfOrderLineItem]


class ResultType(StrEnum):
    """Whether a batch result carries payment details or an error."""

    SUCCESS = "SUCCESS"
    ERROR = "ERROR"


class PaymentStatus(StrEnum):
    """The payment status of a pay-by-invoice invoice, per Amazon's model description."""

    CLOSED = "Closed"
    PAST_DUE = "Past Due"
    ISSUED = "Issued"
    PAYMENT_PROCESSING = "Payment Processing"


class PaymentDetails(AmazonModel):
    """Where a pay-by-invoice invoice stands: its status and when it is due."""

    status: PaymentStatus | str = Field(union_mode="left_to_right")
    due_date: UtcDateTime | None = None


class InvoicePaymentDetailsResult(AmazonModel):
    """One invoice's answer in getBatchInvoicePaymentDetails.

    Discriminated by ``result_type``: SUCCESS carries ``payment_details``, ERROR an ``error``.
    (Amazon's own sandbox example sends SUCCESS without payment details, so neither is enforced.)
    """

    invoice_id: str
    result_type: ResultType | str = Field(union_mode="left_to_right")
    payment_details: PaymentDetails | None = None
    error: ErrorDetail | None = None

    @property
    def ok(self) -> bool:
        return self.result_type == ResultType.SUCCESS


class InvoicePaymentDetailsResponse(ResponseModel):
    """The body of getBatchInvoicePaymentDetails."""

    invoice_payment_details_results: list[InvoicePaymentDetailsResult]


# --------------------------------------------------------------------------------------------
# Document API 2021-09-30
# --------------------------------------------------------------------------------------------


class ProcessingStatus(StrEnum):
    """Where a report (an invoice PDF being rendered) is in its lifecycle.

    IN_QUEUE and IN_PROGRESS are transient; DONE, CANCELLED and FATAL are final. CANCELLED means
    an explicit cancel before processing started *or* that there was no data to return (users
    also report it after too many requests for one report type), so it is not a failure by
    itself. Kept strict: a poll loop must not spin on a status it does not understand.
    """

    IN_QUEUE = "IN_QUEUE"
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"
    CANCELLED = "CANCELLED"
    FATAL = "FATAL"

    @property
    def is_terminal(self) -> bool:
        return self in (ProcessingStatus.DONE, ProcessingStatus.CANCELLED, ProcessingStatus.FATAL)


class Report(ResponseModel):
    """A report request and its status; ``report_document_id`` is set once it is DONE.

    ``report_id`` is unique only together with the business entity; Amazon keeps reports for at
    most 90 days.
    """

    report_id: str
    report_type: str
    created_time: UtcDateTime
    processing_status: ProcessingStatus
    marketplace_ids: list[str] | None = None
    data_start_time: UtcDateTime | None = None
    data_end_time: UtcDateTime | None = None
    processing_start_time: UtcDateTime | None = None
    processing_end_time: UtcDateTime | None = None
    report_document_id: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.processing_status.is_terminal


class ReportsPage(ResponseModel):
    """One page of getReports; the next is asked for with ``next_token`` alone."""

    reports: list[Report]
    next_token: str | None = None


class CreateReportResponse(ResponseModel):
    """The body of createReport (HTTP 202): the id of the report being made."""

    report_id: str


class ReportDocument(ResponseModel):
    """Where to download a finished report: a presigned URL valid for five minutes.

    The URL's query string is its signature, a short-lived credential: ``repr`` and ``str`` show
    the URL without it. Ask getReportDocument again for a fresh URL rather than storing one.
    ``compression_algorithm`` is ``"GZIP"`` when the content is gzip-compressed.
    """

    report_document_id: str
    url: str
    compression_algorithm: str | None = None

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield (name, redact_url(value) if name == "url" and isinstance(value, str) else value)


# --------------------------------------------------------------------------------------------
# Reporting API 2021-01-08 (kept permissive: Amazon's examples break this model in places)
# --------------------------------------------------------------------------------------------


class ReportingAddress(AmazonModel):
    """A shipping or seller address in the Reporting API."""

    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country_code: str | None = None


class Seller(AmazonModel):
    """The seller of an order line."""

    seller_name: str | None = None
    seller_primary_address: ReportingAddress | None = None
    seller_city: str | None = None
    seller_state: str | None = None
    seller_postal_code: str | None = None


class SellerCertifyingAgencyDetails(AmazonModel):
    """An agency that certified a seller credential, and until when."""

    certifying_agency_name: str | None = None
    certificate_expiration_date: UtcDateTime | None = None


class SellerCredentialDetails(AmazonModel):
    """A seller credential (e.g. a diversity certificate)."""

    certificate_type: str | None = None
    certifying_agencies_details: list[SellerCertifyingAgencyDetails] = Field(default_factory=list)


class ReportingLineItem(AmazonModel):
    """An order line in the Reporting API, with prices, seller and links to transactions.

    ``transaction_ids`` links the line to Reconciliation transactions.
    """

    product_category: str | None = None
    asin: str | None = None
    title: str | None = None
    unspsc: str | None = None
    product_condition: str | None = None
    listed_price_per_unit: Money | None = None
    purchased_price_per_unit: Money | None = None
    item_quantity: int | None = None
    item_sub_total: Money | None = None
    item_shipping_and_handling: Money | None = None
    item_promotion: Money | None = None
    item_tax: Money | None = None
    item_net_total: Money | None = None
    purchase_order_line_item: str | None = None
    tax_exemption_applied: bool | None = None
    tax_exemption_type: str | None = None
    tax_exempt_opt_out: bool | None = None
    discount_program: str | None = None
    discount_type: str | None = None
    discount_amount: Money | None = None
    discount_ratio: str | None = None
    seller: Seller | None = None
    seller_credentials: list[str] = Field(default_factory=list)
    seller_credential_details: list[SellerCredentialDetails] = Field(default_factory=list)
    brand_code: str | None = None
    brand_name: str | None = None
    manufacturer_name: str | None = None
    transaction_ids: list[str] = Field(default_factory=list)
    carrier_tracking_numbers: list[str] = Field(default_factory=list)


class DeliveryInformation(AmazonModel):
    """When a shipment is expected and whether it was delivered."""

    expected_delivery_date: UtcDateTime | None = None
    delivery_status: str | None = None


class Shipment(AmazonModel):
    """A shipment of an order, with its share of the money."""

    shipment_date: UtcDateTime | None = None
    shipment_status: str | None = None
    carrier_tracking: str | None = None
    delivery_information: DeliveryInformation | None = None
    shipment_quantity: int | None = None
    shipment_sub_total: Money | None = None
    shipment_shipping_and_handling: Money | None = None
    shipment_promotion: Money | None = None
    shipment_tax: Money | None = None
    shipment_net_total: Money | None = None
    carrier_name: str | None = None
    shipping_address: ReportingAddress | None = None


class Charge(AmazonModel):
    """A charge to a payment instrument for an order; ``transaction_id`` links to Reconciliation."""

    transaction_date: UtcDateTime | None = None
    transaction_id: str | None = None
    amount: Money | None = None
    payment_instrument_type: str | None = None
    payment_instrument_last4_digits: str | None = None


class Order(AmazonModel):
    """An order as the Reporting API (order history) reports it.

    It enriches reconciliation with what transactions lack: order status, the approver, the buyer
    group and PO number, and (on request) lines, shipments and charges. ``order_status`` is a plain
    string: Amazon's model lists ``"Cancelled"`` while its example sends ``"CANCELLED"``.
    """

    order_id: str
    order_date: UtcDateTime | None = None
    purchase_order_number: str | None = None
    order_quantity: int | None = None
    order_status: str | None = None
    last_order_approver_name: str | None = None
    buying_customer: Customer | None = None
    buyer_group_name: str | None = None
    business_order_info: dict[str, str | None] | None = None
    order_sub_total: Money | None = None
    order_shipping_and_handling: Money | None = None
    order_promotion: Money | None = None
    order_tax: Money | None = None
    order_net_total: Money | None = None
    line_items: list[ReportingLineItem] = Field(default_factory=list)
    shipments: list[Shipment] = Field(default_factory=list)
    charges: list[Charge] = Field(default_factory=list)


class OrdersPage(ResponseModel):
    """One page of getOrdersByOrderDate or the answer of getOrdersByOrderId (``OrdersOutput``).

    Pages hold up to 100 orders; ``next_page_token`` is present while more follow.
    """

    orders: list[Order]
    next_page_token: str | None = None
    size: int | None = None


# --------------------------------------------------------------------------------------------
# Parsing with errors that name the operation and the field
# --------------------------------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


#: Parts of a pydantic error location that name a union member or a validator, not a field:
#: ``str-enum[TransactionType]``, ``function-after[...]``, or a bare type tag such as ``str``.
_TAG = re.compile(r"[a-z][a-z-]*\[.*\]")
_TYPE_TAGS = frozenset({"str", "int", "bool", "float", "none", "list", "dict", "decimal"})


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _TAG.fullmatch(part) or part in _TYPE_TAGS:
            continue
        else:
            path += f".{part}" if path else part
    return path or "<body>"


def _problems(exc: ValidationError) -> list[dict[str, str]]:
    """One ``{"field", "problem"}`` per offending field, the union members' complaints joined."""
    by_field: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False, include_input=False):
        message = err["msg"].removeprefix("Value error, ")
        messages = by_field.setdefault(_field_path(tuple(err["loc"])), [])
        if message not in messages:
            messages.append(message)
    return [{"field": field, "problem": "; ".join(msgs)} for field, msgs in by_field.items()]


def parse_response(
    model: type[M],
    body: Any,
    *,
    operation: str,
    status: int | None = 200,
    request_id: str | None = None,
) -> M:
    """``body`` as ``model``, or :class:`MalformedResponseError` naming operation and field.

    The error lists each offending field by its wire path (``transactions[3].amount.amount``)
    with what is wrong; it never repeats the offending value wholesale, which could be a
    presigned URL. ``details`` holds the list of ``{"field", "problem"}``.
    """
    try:
        parsed = model.model_validate(body)
    except ValidationError as exc:
        problems = _problems(exc)
        first = problems[0]
        extra = len(problems) - 1
        more = f" (and {extra} more problem{'s' if extra > 1 else ''})" if extra else ""
        raise MalformedResponseError(
            f"the answer does not match Amazon's model: {first['field']}: {first['problem']}{more}",
            operation=operation,
            status=status,
            request_id=request_id,
            details=problems,
        ) from None
    if isinstance(parsed, ResponseModel):
        parsed._request_id = request_id
        parsed._wire = body
    return parsed


def parse_json_object(
    body: Any, *, operation: str, status: int | None = 200, request_id: str | None = None
) -> dict[str, Any]:
    """``body`` if it is a JSON object (an empty body counts as ``{}``), else malformed."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise MalformedResponseError(
            f"the answer should be a JSON object, not {type(body).__name__}",
            operation=operation,
            status=status,
            request_id=request_id,
        )
    return body


def call_parsed(transport: Transport, model: type[M], operation: str, **request: Any) -> M:
    """Send ``operation`` and parse its answer as ``model`` (see :func:`parse_response`).

    ``request`` is passed on to :meth:`~.transport.Transport.call` (``path_params``, ``query``,
    ``body``); the answer's status and ``x-amzn-RequestId`` go into any error.
    """
    response = transport.call(operation, **request)
    return parse_response(
        model,
        response.body,
        operation=operation,
        status=response.status,
        request_id=response.request_id,
    )


# --------------------------------------------------------------------------------------------
# Pagination: a next page is asked for with its token alone
# --------------------------------------------------------------------------------------------


class PageTokenGuard:
    """Stops a pagination loop that Amazon's answers would make endless.

    Amazon's sibling APIs have returned a ``nextToken`` that repeats, or the same page again under
    a new token, until Amazon fixed them (reference §12). Following such tokens blindly loops
    forever, fetching the same data; this guard raises :class:`MalformedResponseError` instead.
    One guard covers one paginated query (one date window).
    """

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self._tokens: set[str] = set()
        self._pages: set[tuple[str, ...]] = set()

    def check(
        self,
        next_token: str | None,
        *,
        fingerprint: tuple[str, ...] = (),
        request_id: str | None = None,
    ) -> None:
        """Record a page; raise if its next token or (non-empty) content was seen before.

        ``fingerprint`` identifies the page's content, e.g. the ids of its items in order.
        """
        if fingerprint:
            if fingerprint in self._pages:
                raise MalformedResponseError(
                    f"a page repeats an earlier page's {len(fingerprint)} items under a "
                    "different token; stopping instead of looping",
                    operation=self.operation,
                    status=200,
                    request_id=request_id,
                )
            self._pages.add(fingerprint)
        if next_token:
            if next_token in self._tokens:
                raise MalformedResponseError(
                    "the next page token repeats an earlier one; stopping instead of looping",
                    operation=self.operation,
                    status=200,
                    request_id=request_id,
                )
            self._tokens.add(next_token)


P = TypeVar("P", bound=ResponseModel)
T = TypeVar("T")


def page_query(
    token_name: str, token: str | None, first_page: Callable[[], dict[str, str]]
) -> dict[str, str]:
    """The query of one page: ``{token_name: token}`` alone, or ``first_page()`` without a token.

    Amazon wants a next-page token sent as the only parameter (it carries the original query),
    so the first page's parameters are built, and checked, only when there is no token.
    """
    if token is None:
        return first_page()
    if not token:
        raise ValueError(f"{to_snake(token_name)} must not be empty")
    return {token_name: token}


def follow_pages(
    operation: str,
    first: Callable[[], P],
    after: Callable[[str], P],
    *,
    next_token: Callable[[P], str | None],
    fingerprint: Callable[[P], tuple[str, ...]],
) -> Iterator[P]:
    """Every page of one query: ``first()``, then ``after(token)`` while a page has a token.

    An empty token counts as none. A repeating token or page (see :class:`PageTokenGuard`) raises
    :class:`MalformedResponseError` once the pages before it have been yielded.
    """
    guard = PageTokenGuard(operation)
    page = first()
    while True:
        yield page
        token = next_token(page)
        guard.check(token, fingerprint=fingerprint(page), request_id=page.request_id)
        if not token:
            return
        page = after(token)


def unique_by(items: Iterable[T], key: Callable[[T], Hashable | None]) -> Iterator[T]:
    """``items`` in order, each key once; an item whose key is ``None`` is always passed on."""
    seen: set[Hashable] = set()
    for item in items:
        value = key(item)
        if value is not None:
            if value in seen:
                continue
            seen.add(value)
        yield item
