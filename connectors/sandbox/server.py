"""A local Amazon Business: every operation abrecon knows, at Amazon's paths, over real HTTP.

The sandbox answers the operations of :data:`connectors.amazon_business.operations.OPERATIONS`
from a :class:`~connectors.sandbox.scenario.Scenario` (transactions, invoice details, orders and
invoice documents), plus Login with Amazon's token endpoint, so that the connectors, the worker
and the CLI run end to end without Amazon. Wire shapes follow Amazon's own Swagger models (the
contract tests validate every answer against them); behaviour follows Amazon's documentation
(reference/amazon-business-api.md), including the parts a client gets wrong most easily:

* **Login with Amazon** (``POST /auth/o2/token``, form-encoded ``grant_type=refresh_token``)
  issues ``Atza|...`` access tokens that expire after ``token_ttl_seconds``. The *party* (Amazon
  applies usage plans per application x consented customer) is derived from the client id and a
  hash of the refresh token.
* **Every API call** is checked in Amazon's order: access token (401), role (403), injected
  fault, usage plan (429, a token bucket per party and operation), then the request itself
  (400/404/415). Every answer carries ``x-amzn-RequestId``; successful ones also carry
  ``x-amzn-RateLimit-Limit`` with the rate of the plan applied.
* **Paging**: ``getTransactions`` and ``getOrdersByOrderDate`` return an opaque, URL-safe
  ``nextPageToken`` that encodes the window and the offset; the next request may carry the token
  alone (Amazon's rule) or repeat the window. ``getReports`` pages with ``nextToken``, which must
  come alone.
* **Reports** move ``IN_QUEUE`` -> ``IN_PROGRESS`` -> terminal over
  ``report_processing_seconds``; a report whose document does not exist ends ``CANCELLED``
  ("automatic cancellation if there is no data"), a seeded share ends ``FATAL`` or
  ``CANCELLED``. Document URLs are presigned, expire after ``document_url_ttl_seconds`` and
  answer with S3's XML errors.

Documented choices where Amazon's documentation is silent or contradicts its model:

* ``getInvoiceDetailsByOrderLineItems`` leaves unknown line items out of the answer (as in the
  model's own sandbox example, which asks for two and gets one).
* ``OrdersOutput.nextPageToken`` is *required* by the Reporting model although the description
  says the last page has none; the sandbox sends ``""`` on the last page. Clients must treat an
  absent, null or empty token alike as "no more pages".
* Error codes follow each API's model: the Document API answers 400 with
  ``{"code": "400", "message": "Invalid input", "details": ...}`` (its sandbox examples), Product
  Search uses its enum (``UNAUTHORIZED``, ``REQUEST_RATE_LIMIT_EXCEEDED``, ``SERVICE_ERROR``,
  ``PRODUCT_NOT_FOUND``...), and its ``getProductsByAsins``/``getOffersByOfferIds`` 400 bodies
  are a bare JSON array because the model declares them so. All other APIs use ``{"errors":
  [...]}`` with ``INVALID_REQUEST_PARAMETER``, ``Unauthorized``, ``QuotaExceeded``...
* Reports, placed orders and business users are visible only to the party that created them.
* ``createReport`` needs ``reportOptions`` with either ``invoiceId`` plus ``documentType``
  (``Invoice`` or ``Credits``, the only values Amazon's examples confirm) or ``orderId``
  (optionally ``orderLineItemId``/``shipmentId``); anything else is a 400, not a silent CANCEL.
* ``getBatchInvoicePaymentDetails``: known invoice numbers (documents and invoice details of the
  scenario) answer SUCCESS with ``dueDate`` = invoice date + 30 days and a status derived from
  the seed and the number: ``Closed``/``Past Due`` when the due date is before the scenario's
  latest feed date, ``Issued``/``Payment Processing`` otherwise; unknown ones answer ERROR
  (``INVOICE_NOT_FOUND``).
* ``placeOrder`` is idempotent per ``externalId`` (placing it again answers the stored result;
  ``TrialMode`` orders are not stored), products are the scenario's ASINs, and an
  ``ExpectedUnitPrice`` below the price rejects the line (``BrokenUnitPriceExpectation``).
* Injected 429/500/503 faults answer before the request is processed (nothing happens);
  ``drop`` and ``truncate`` hit after it was processed (a report *was* created, the answer is
  lost), which is what makes idempotency matter. Injected 429/500/503 answers consume no
  usage-plan token. On document downloads, 429 and 503 faults answer S3's ``503 SlowDown``.
* Presigned URLs carry ``X-Amz-Credential/Date/Expires/Signature``; every
  ``getReportDocument`` issues a new URL, ``X-Amz-Expires`` is the TTL rounded up to whole
  seconds (expiry itself is exact). Gzipped documents are served as
  ``application/octet-stream`` without ``Content-Encoding``: the client must gunzip.
* Unknown query parameters are ignored; a JSON body needs ``Content-Type: application/json``
  (else 415).

Nothing secret is ever logged: the request log and the Python log hold no access token, refresh
token, client secret or URL signature.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import hashlib
import hmac
import json
import logging
import math
import random
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit
from xml.sax.saxutils import escape as xml_escape

from connectors.amazon_business.operations import OPERATIONS, Operation, UsagePlan
from connectors.amazon_business.regions import REGIONS
from connectors.amazon_business.roles import Role
from connectors.sandbox.faults import Fault, FaultKind, FaultSpec
from connectors.sandbox.pdf import DOCUMENT_TYPES, InvoiceDocument, render_invoice_pdf
from connectors.sandbox.scenario import Scenario

__all__ = [
    "CONTROL_PREFIX",
    "DOCUMENTS_PATH",
    "DOWNLOAD_OPERATION",
    "LWA_OPERATION",
    "LWA_TOKEN_PATH",
    "REPORT_TYPE",
    "RequestLogEntry",
    "SandboxConfig",
    "SandboxServer",
]

log = logging.getLogger(__name__)

#: Login with Amazon's token endpoint, at the same path as ``https://api.amazon.com``.
LWA_TOKEN_PATH = "/auth/o2/token"
#: Prefix of the sandbox's own endpoints (never faulted, never throttled, never logged, except
#: document downloads).
CONTROL_PREFIX = "/_sandbox/"
#: Where presigned document URLs point.
DOCUMENTS_PATH = "/_sandbox/documents/"
#: Operation names used in the request log for the two non-API endpoints.
LWA_OPERATION = "lwaToken"
DOWNLOAD_OPERATION = "downloadDocument"
#: The one report type of the Amazon Business Document API.
REPORT_TYPE = "GET_AB_INVOICE_PDF"

_MAX_BODY_BYTES = 5 * 1024 * 1024
_MAX_LINE_ITEMS = 25
_MAX_INVOICE_IDS = 25
_MAX_PRODUCT_IDS = 30
_PRODUCT_PAGE_SIZE = 24
_PAYMENT_TERMS = timedelta(days=30)
_REPORT_STATUSES = ("CANCELLED", "DONE", "FATAL", "IN_PROGRESS", "IN_QUEUE")
_PRODUCT_REGIONS = ("DE", "FR", "UK", "IT", "ES", "IN", "US", "CA", "MX", "JP", "AU")
_USER_REGIONS = ("DE", "FR", "UK", "IT", "ES", "US", "CA", "JP")
_USER_ROLES = ("Requisitioner", "PunchoutUser", "Administrator", "Finance", "Tech")
_KNOWN_MARKETPLACES = frozenset(
    mid for info in REGIONS.values() for mid in info.marketplaces.values()
)
_LOCALE = re.compile(r"^[a-zA-Z_-]+$")

# Generic error codes; :func:`_render_error` maps them to each API's own vocabulary.
INVALID = "INVALID_REQUEST_PARAMETER"
UNAUTHORIZED = "Unauthorized"
QUOTA_EXCEEDED = "QuotaExceeded"
INTERNAL_FAILURE = "InternalFailure"
UNAVAILABLE = "ServiceUnavailable"
NOT_FOUND = "NotFound"
UNSUPPORTED_MEDIA_TYPE = "UnsupportedMediaType"

_MESSAGES = {
    QUOTA_EXCEEDED: "You exceeded your quota for the requested resource.",
    INTERNAL_FAILURE: "We encountered an internal error. Please try again.",
    UNAVAILABLE: "Service temporarily unavailable. Please try again.",
}
_PRODUCT_SEARCH_CODES = {
    UNAUTHORIZED: "UNAUTHORIZED",
    QUOTA_EXCEEDED: "REQUEST_RATE_LIMIT_EXCEEDED",
    INTERNAL_FAILURE: "SERVICE_ERROR",
    UNAVAILABLE: "SERVICE_ERROR",
    NOT_FOUND: "PRODUCT_NOT_FOUND",
    UNSUPPORTED_MEDIA_TYPE: INVALID,
}
#: (operation, status) whose error body the model declares as a bare array of errors.
_BARE_ERROR_LISTS = frozenset({("getProductsByAsins", 400), ("getOffersByOfferIds", 400)})


# ---------------------------------------------------------------------------------------------
# Configuration and the request log
# ---------------------------------------------------------------------------------------------


@dataclass
class SandboxConfig:
    """How the sandbox behaves; every switch a test needs to provoke one kind of answer.

    ``granted_roles=None`` grants every role; ``usage_plans`` overrides Amazon's plans per
    operation (see :data:`OPERATIONS`); ``lwa_*=None`` accepts any credentials. Fields may be
    changed on a running server (each request reads them afresh).
    """

    granted_roles: frozenset[Role] | None = None
    enforce_auth: bool = True
    enforce_usage_plans: bool = True
    usage_plans: dict[str, UsagePlan] = field(default_factory=dict)
    report_processing_seconds: float = 2.0
    fatal_rate: float = 0.0
    cancelled_rate: float = 0.0
    document_url_ttl_seconds: float = 300.0
    gzip_documents: bool = False
    faults: FaultSpec | None = None
    seed: int = 0
    transactions_page_size: int = 100
    orders_page_size: int = 100
    token_ttl_seconds: int = 3600
    lwa_client_id: str | None = None
    lwa_client_secret: str | None = None
    lwa_refresh_token: str | None = None

    def __post_init__(self) -> None:
        if self.granted_roles is not None:
            self.granted_roles = frozenset(Role(r) for r in self.granted_roles)
        for name, plan in self.usage_plans.items():
            if name not in OPERATIONS:
                raise ValueError(f"usage_plans: {name!r} is not an Amazon Business operation")
            if not isinstance(plan, UsagePlan):
                raise ValueError(f"usage_plans[{name!r}] must be a UsagePlan, not {plan!r}")
        for name in ("fatal_rate", "cancelled_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        if self.fatal_rate + self.cancelled_rate > 1.0:
            raise ValueError("fatal_rate + cancelled_rate must not exceed 1")
        if self.report_processing_seconds < 0:
            raise ValueError("report_processing_seconds must be >= 0")
        if self.document_url_ttl_seconds <= 0:
            raise ValueError("document_url_ttl_seconds must be > 0")
        for name in ("transactions_page_size", "orders_page_size", "token_ttl_seconds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.faults is not None and not isinstance(self.faults, FaultSpec):
            raise ValueError(f"faults must be a FaultSpec, not {self.faults!r}")

    def plan_for(self, operation: str) -> UsagePlan:
        """The usage plan applied to ``operation``: the override, else Amazon's."""
        return self.usage_plans.get(operation) or OPERATIONS[operation].plan

    @classmethod
    def field_names(cls) -> frozenset[str]:
        """The names :func:`~connectors.sandbox.serve.serve` accepts as overrides."""
        return frozenset(f.name for f in fields(cls))


@dataclass(frozen=True)
class RequestLogEntry:
    """One request as the sandbox saw it, including rejected ones.

    ``operation`` is Amazon's operationId, :data:`LWA_OPERATION`, :data:`DOWNLOAD_OPERATION` or
    ``"unknown"``; ``body`` is the parsed JSON body (``None`` without one; for the token
    endpoint only ``grant_type`` and ``client_id``); ``status`` is the status sent, ``0`` when
    the connection was dropped; ``fault`` names an injected fault. No secret is ever recorded.
    """

    time: datetime
    operation: str
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    party: str | None
    request_id: str
    fault: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The entry as served by ``GET /_sandbox/requests``."""
        return {
            "time": _iso(self.time),
            "operation": self.operation,
            "method": self.method,
            "path": self.path,
            "query": dict(self.query),
            "body": self.body,
            "status": self.status,
            "party": self.party,
            "requestId": self.request_id,
            "fault": self.fault,
        }


# ---------------------------------------------------------------------------------------------
# Small helpers: JSON with Decimal, dates, tokens, hashing
# ---------------------------------------------------------------------------------------------


def _json_text(value: Any) -> str:
    """JSON text of ``value``; :class:`Decimal` becomes a JSON number written exactly."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} cannot be written as JSON")
        return str(value)
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(k))}:{_json_text(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json_text(v) for v in value) + "]"
    if isinstance(value, datetime):
        return json.dumps(_iso(value))
    if isinstance(value, date):
        return json.dumps(value.isoformat())
    return json.dumps(value, ensure_ascii=False)


def _iso(moment: datetime) -> str:
    """``2024-05-01T12:00:00.000Z``: UTC with milliseconds, as Amazon writes date-times."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _parse_wire_datetime(text: str) -> datetime | None:
    """A date-time from the scenario's wire JSON, or ``None`` when it is not one."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _unit_hash(*parts: object) -> float:
    """A deterministic number in ``[0, 1)`` from ``parts``."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:7], "big") / float(1 << 56)


def _digest_id(*parts: object) -> str:
    """A deterministic UUID-shaped id from ``parts``."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16]))


def party_id(client_id: str, refresh_token: str) -> str:
    """The party (application x consented customer) of an LWA grant, without the secret."""
    digest = hashlib.sha256(refresh_token.encode()).hexdigest()[:12]
    return f"{client_id or 'client'}#{digest}"


class _TokenCodec:
    """Opaque, URL-safe, tamper-evident page tokens (base64url JSON plus an HMAC tag)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _tag(self, kind: str, data: str) -> str:
        return hmac.new(self._key, f"{kind}:{data}".encode(), hashlib.sha256).hexdigest()[:20]

    def encode(self, kind: str, payload: Mapping[str, Any]) -> str:
        raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        data = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return f"{data}.{self._tag(kind, data)}"

    def decode(self, kind: str, token: str) -> dict[str, Any] | None:
        data, _, tag = token.partition(".")
        if not data or not hmac.compare_digest(tag, self._tag(kind, data)):
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
        except (binascii.Error, ValueError):
            return None
        return payload if isinstance(payload, dict) else None


class _TokenBucket:
    """Amazon's usage plan: ``rate`` tokens per second into a bucket of ``burst``."""

    def __init__(self, plan: UsagePlan, now: float) -> None:
        self.plan = plan
        self.tokens = float(plan.burst)
        self.stamp = now

    def take(self, now: float) -> bool:
        elapsed = max(0.0, now - self.stamp)
        self.tokens = min(float(self.plan.burst), self.tokens + elapsed * self.plan.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


# ---------------------------------------------------------------------------------------------
# Requests, answers and failures
# ---------------------------------------------------------------------------------------------


@dataclass
class _Request:
    method: str
    path: str
    raw_query: str
    headers: Message
    body: bytes
    host: str | None

    @property
    def query(self) -> dict[str, str]:
        """Query parameters; a repeated parameter's values are joined with commas."""
        collected: dict[str, list[str]] = {}
        for key, value in parse_qsl(self.raw_query, keep_blank_values=True):
            collected.setdefault(key, []).append(value)
        return {k: ",".join(v) for k, v in collected.items()}

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return None if value is None else str(value)


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    fault: Fault | None = None

    @property
    def dropped(self) -> bool:
        return self.fault is not None and self.fault.kind is FaultKind.DROP

    @property
    def truncated(self) -> bool:
        return self.fault is not None and self.fault.kind is FaultKind.TRUNCATE


class ApiFailure(Exception):
    """An operation's error answer, rendered in the API's own error format."""

    def __init__(
        self, status: int, code: str, message: str | None = None, details: str | None = None
    ) -> None:
        self.status = status
        self.code = code
        self.message = message or _MESSAGES.get(code, code)
        self.details = details
        super().__init__(f"{status} {code}: {self.message}")


def _bad(message: str, details: str | None = None) -> ApiFailure:
    return ApiFailure(400, INVALID, message, details)


def _render_error(operation: Operation | None, failure: ApiFailure) -> Any:
    """The JSON error body of ``failure`` in the vocabulary of ``operation``'s API."""
    api = operation.api if operation else ""
    code, message, details = failure.code, failure.message, failure.details
    if api == "Product Search":
        code = _PRODUCT_SEARCH_CODES.get(code, code)
    elif api == "Document" and failure.status == 400:
        code, message, details = "400", "Invalid input", failure.message
        if failure.details:
            details = f"{failure.message} {failure.details}"
    error: dict[str, str] = {"code": code, "message": message}
    if details:
        error["details"] = details
    if operation is not None and (operation.name, failure.status) in _BARE_ERROR_LISTS:
        return [error]
    return {"errors": [error]}


@dataclass
class _Call:
    """One API request after routing and authentication, as the operation handlers see it."""

    request: _Request
    operation: Operation
    path_params: dict[str, str]
    query: dict[str, str]
    party: str
    base_url: str
    _json: Any = None
    _parsed: bool = False

    def json_body(self) -> Any:
        if not self._parsed:
            self._json = _parse_json_body(self.request.body)
            self._parsed = True
        if self._json is None:
            raise _bad("Missing required request body.")
        return self._json

    def json_object(self) -> dict[str, Any]:
        body = self.json_body()
        if not isinstance(body, dict):
            raise _bad("The request body must be a JSON object.")
        return body


def _parse_json_body(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad("The request body is not valid JSON.", str(exc)) from None


def _json_body_for_log(raw: bytes) -> Any:
    try:
        return _parse_json_body(raw)
    except ApiFailure:
        return None


@dataclass
class _Reply:
    status: int
    body: Any


# ---------------------------------------------------------------------------------------------
# Parameter parsing shared by the handlers
# ---------------------------------------------------------------------------------------------


def _parse_datetime(value: str) -> datetime:
    """An ISO 8601 date-time from a request; naive means UTC. 400 with Amazon's message."""
    text = value.strip()
    moment: datetime | None = None
    if "T" in text or "t" in text:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
    if moment is None:
        raise _bad(f"Input date [{value}] is not in the expected ISO8601 format.")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _require(query: Mapping[str, str], *names: str) -> None:
    missing = [n for n in names if not query.get(n)]
    if missing:
        raise _bad(f"Missing required request parameters: [{', '.join(missing)}].")


def _parse_bool(query: Mapping[str, str], name: str, default: bool) -> bool:
    value = query.get(name)
    if value is None:
        return default
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _bad(f"Invalid value [{value}] for {name}; expected true or false.")


def _parse_int(
    query: Mapping[str, str], name: str, default: int, low: int, high: int | None
) -> int:
    value = query.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise _bad(f"Invalid value [{value}] for {name}; expected an integer.") from None
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise _bad(f"Invalid value [{value}] for {name}; it must be {bound}.")
    return number


def _csv(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def _string_list(value: Any, name: str, low: int, high: int, max_len: int = 255) -> list[str]:
    if not isinstance(value, list):
        raise _bad(f"{name} must be an array.")
    if not low <= len(value) <= high:
        raise _bad(f"{name} has {len(value)} elements; it must have between {low} and {high}.")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not 1 <= len(item) <= max_len:
            raise _bad(f"{name}[{index}] must be a string of 1 to {max_len} characters.")
    return list(value)


def _money(amount: Decimal, currency: str) -> dict[str, Any]:
    """Money as Product Search and Ordering write it: ``amount`` is a JSON number."""
    return {"amount": amount, "currencyCode": currency}


def _s3_error(status: int, code: str, message: str, request_id: str, **extra: str) -> _Response:
    """An S3-style XML error, as the presigned document URLs of Amazon answer."""
    parts = [f"<Code>{xml_escape(code)}</Code>", f"<Message>{xml_escape(message)}</Message>"]
    parts += [f"<{k}>{xml_escape(v)}</{k}>" for k, v in extra.items()]
    parts += [f"<RequestId>{xml_escape(request_id)}</RequestId>"]
    body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>"
    return _Response(status, body.encode(), "application/xml")


# ---------------------------------------------------------------------------------------------
# Domain state: reports, products, placed orders
# ---------------------------------------------------------------------------------------------


@dataclass
class _Report:
    """A ``GET_AB_INVOICE_PDF`` report and the fate decided for it when it was created."""

    report_id: str
    party: str
    marketplace_ids: list[str]
    options: dict[str, str]
    data_start: str | None
    data_end: str | None
    created: datetime
    created_mono: float
    outcome: str
    document_id: str | None
    document: InvoiceDocument | None
    cancelled: bool = False

    def status(self, now: float, processing_seconds: float) -> str:
        if self.cancelled:
            return "CANCELLED"
        elapsed = now - self.created_mono
        if elapsed < processing_seconds / 2:
            return "IN_QUEUE"
        if elapsed < processing_seconds:
            return "IN_PROGRESS"
        return self.outcome

    def to_json(self, now: float, processing_seconds: float) -> dict[str, Any]:
        status = self.status(now, processing_seconds)
        body: dict[str, Any] = {
            "reportId": self.report_id,
            "reportType": REPORT_TYPE,
            "marketplaceIds": list(self.marketplace_ids),
            "createdTime": _iso(self.created),
            "processingStatus": status,
        }
        if self.data_start:
            body["dataStartTime"] = self.data_start
        if self.data_end:
            body["dataEndTime"] = self.data_end
        if status != "IN_QUEUE" and not self.cancelled:
            started = self.created + timedelta(seconds=processing_seconds / 2)
            body["processingStartTime"] = _iso(started)
        if status in ("DONE", "FATAL") or (status == "CANCELLED" and not self.cancelled):
            body["processingEndTime"] = _iso(self.created + timedelta(seconds=processing_seconds))
        if status == "DONE" and self.document_id:
            body["reportDocumentId"] = self.document_id
        return body


@dataclass(frozen=True)
class _Product:
    """A product of the sandbox catalogue, built from the scenario's ASINs and titles."""

    asin: str
    title: str
    unspsc: str
    category: str
    price: Decimal
    currency: str
    merchant: str

    @property
    def offer_id(self) -> str:
        raw = f"sandbox-offer:{self.asin}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _catalogue(scenario: Scenario) -> dict[str, _Product]:
    """The products named by the scenario's orders and transactions, by ASIN."""
    products: dict[str, _Product] = {}

    def add(
        item: Mapping[str, Any], title_key: str, price_keys: Iterable[str], merchant: str
    ) -> None:
        asin = item.get("asin")
        if not isinstance(asin, str) or not asin or asin in products:
            return
        price, currency = Decimal("0.00"), "USD"
        for key in price_keys:
            money = item.get(key)
            if isinstance(money, Mapping) and _decimal(money.get("amount")) is not None:
                price = abs(_decimal(money.get("amount")) or Decimal("0"))
                currency = str(money.get("currencyCode") or "USD")
                break
        products[asin] = _Product(
            asin=asin,
            title=str(item.get(title_key) or asin),
            unspsc=str(item.get("unspsc") or ""),
            category=str(item.get("productCategory") or "Business Supplies"),
            price=price,
            currency=currency,
            merchant=merchant or "Amazon.com Services LLC",
        )

    for order in scenario.orders.values():
        for line in order.get("lineItems") or []:
            seller = line.get("seller") if isinstance(line.get("seller"), Mapping) else {}
            add(
                line,
                "title",
                ("purchasedPricePerUnit", "listedPricePerUnit"),
                str((seller or {}).get("sellerName") or ""),
            )
    for transaction in scenario.transactions:
        for line in transaction.get("transactionLineItems") or []:
            add(
                line,
                "productTitle",
                ("unitPrice", "principalAmount"),
                str(line.get("merchantLegalName") or ""),
            )
    return dict(sorted(products.items()))


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


_Handler = Callable[["SandboxServer", _Call], _Reply]
_HANDLERS: dict[str, _Handler] = {}


def _operation(name: str) -> Callable[[_Handler], _Handler]:
    def register(handler: _Handler) -> _Handler:
        if name not in OPERATIONS:
            raise KeyError(f"{name} is not in OPERATIONS")
        _HANDLERS[name] = handler
        return handler

    return register


def _compile_routes() -> list[tuple[Operation, re.Pattern[str]]]:
    routes = []
    for op in OPERATIONS.values():
        pattern = re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(op.path))
        routes.append((op, re.compile(f"^{pattern}/?$")))
    return routes


class SandboxServer:
    """Amazon Business on ``127.0.0.1``: start it, point the connectors at :attr:`url`.

    ::

        with SandboxServer(scenario, SandboxConfig(report_processing_seconds=0.2)) as sandbox:
            token = requests.post(f"{sandbox.url}/auth/o2/token", data={...}).json()
            ...
            assert sandbox.request_log()[-1].operation == "getTransactions"

    The HTTP server is the standard library's :class:`ThreadingHTTPServer` (HTTP/1.1,
    keep-alive, exact ``Content-Length``) in a daemon thread; all state is guarded by one lock.
    """

    _routes: ClassVar[list[tuple[Operation, re.Pattern[str]]]] = _compile_routes()

    def __init__(
        self,
        scenario: Scenario,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.scenario = scenario
        self.config = config or SandboxConfig()
        self.host = host
        self.port = port
        self._lock = threading.RLock()
        self._httpd: _SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None
        self._rng = random.Random(self.config.seed)
        self._secret = secrets.token_bytes(32)
        self._tokens = _TokenCodec(self._secret)
        self._access_tokens: dict[str, tuple[str, float]] = {}
        self._buckets: dict[tuple[str, str], _TokenBucket] = {}
        self._log: list[RequestLogEntry] = []
        self._reports: dict[str, _Report] = {}
        self._documents: dict[str, _Report] = {}
        self._report_counter = 0
        self._issued_urls: dict[str, float] = {}
        self._pdf_cache: dict[str, bytes] = {}
        self._placed_orders: dict[tuple[str, str], dict[str, Any]] = {}
        self._users: dict[tuple[str, str], dict[str, Any]] = {}
        self._products = _catalogue(scenario)
        self._offers = {p.offer_id: p for p in self._products.values()}
        self._invoice_dates = self._index_invoice_dates(scenario)
        self._as_of = self._scenario_as_of(scenario)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> str:
        """Bind, serve in a daemon thread and return the base URL (``http://host:port``)."""
        if self._httpd is not None:
            return self.url
        httpd = _SandboxHTTPServer((self.host, self.port), _RequestHandler, self)
        self._httpd = httpd
        host, port = httpd.server_address[:2]
        shown = str(host)
        if ":" in shown:
            shown = f"[{shown}]"
        self.port = int(port)
        self._url = f"http://{shown}:{self.port}"
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"abrecon-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        log.info("sandbox listening on %s", self._url)
        return self._url

    def stop(self) -> None:
        """Stop serving and close every open connection (keep-alive ones included)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL; only valid after :meth:`start`."""
        if self._url is None:
            raise RuntimeError("the sandbox is not started")
        return self._url

    def request_log(self, operation: str | None = None) -> list[RequestLogEntry]:
        """A copy of the request log, optionally only the entries of one operation."""
        with self._lock:
            return [e for e in self._log if operation is None or e.operation == operation]

    def reset_log(self) -> int:
        """Empty the request log; returns how many entries were dropped."""
        with self._lock:
            count = len(self._log)
            self._log.clear()
            return count

    # -- dispatch -------------------------------------------------------------------------------

    def handle(self, request: _Request) -> _Response:
        """Answer one HTTP request (called by the request handler threads)."""
        request_id = str(uuid.uuid4())
        path = request.path
        try:
            if path == LWA_TOKEN_PATH:
                response = self._lwa(request, request_id)
            elif path.startswith(DOCUMENTS_PATH):
                response = self._download(request, request_id)
            elif path.startswith(CONTROL_PREFIX):
                response = self._control(request)
            else:
                response = self._api(request, request_id)
        except Exception:  # the sandbox must answer even when it has a bug
            log.exception("sandbox failure on %s %s", request.method, path)
            failure = ApiFailure(500, INTERNAL_FAILURE)
            response = _Response(500, _json_text(_render_error(None, failure)).encode())
        response.headers.append(("x-amzn-RequestId", request_id))
        log.debug("%s %s -> %s", request.method, path, response.status)
        return response

    def _record(
        self,
        request: _Request,
        operation: str,
        status: int,
        party: str | None,
        request_id: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        fault: Fault | None = None,
    ) -> None:
        entry = RequestLogEntry(
            time=datetime.now(UTC),
            operation=operation,
            method=request.method,
            path=request.path,
            query=request.query if query is None else query,
            body=body,
            status=0 if fault is not None and fault.kind is FaultKind.DROP else status,
            party=party,
            request_id=request_id,
            fault=fault.kind.value if fault else None,
        )
        with self._lock:
            self._log.append(entry)

    def _pick_fault(self) -> Fault | None:
        spec = self.config.faults
        if not spec:
            return None
        with self._lock:
            return spec.pick(self._rng)

    def _route(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        for op, pattern in self._routes:
            if op.method != method:
                continue
            match = pattern.match(path)
            if match:
                return op, {k: unquote(v) for k, v in match.groupdict().items()}
        return None

    def _api(self, request: _Request, request_id: str) -> _Response:
        body_for_log = _json_body_for_log(request.body)
        routed = self._route(request.method, request.path)
        if routed is None:
            failure = ApiFailure(
                404, NOT_FOUND, f"No operation at {request.method} {request.path}."
            )
            self._record(request, "unknown", 404, None, request_id, body=body_for_log)
            return self._error(None, failure)
        op, path_params = routed
        party: str | None = None
        fault: Fault | None = None

        def finish(response: _Response) -> _Response:
            response.fault = fault if fault and fault.kind in _TRANSPORT_FAULTS else None
            self._record(
                request,
                op.name,
                response.status,
                party,
                request_id,
                body=body_for_log,
                fault=fault,
            )
            return response

        try:
            party = self._authenticate(request)
            self._authorize(op)
            fault = self._pick_fault()
            if fault is not None and fault.kind.status is not None:
                code = {429: QUOTA_EXCEEDED, 500: INTERNAL_FAILURE, 503: UNAVAILABLE}
                raise ApiFailure(fault.kind.status, code[fault.kind.status])
            if fault is not None and fault.kind is FaultKind.SLOW:
                time.sleep(fault.seconds)
            self._throttle(party, op)
            self._check_headers(request, op)
            call = _Call(request, op, path_params, request.query, party, self._base_url(request))
            reply = _HANDLERS[op.name](self, call)
        except ApiFailure as failure:
            return finish(self._error(op, failure))
        except Exception:  # a sandbox bug: answer like Amazon's 500 and keep the log complete
            log.exception("sandbox failure in %s", op.name)
            return finish(self._error(op, ApiFailure(500, INTERNAL_FAILURE)))
        headers = [("x-amzn-RateLimit-Limit", str(float(self.config.plan_for(op.name).rate)))]
        if reply.body is None:
            return finish(_Response(reply.status, b"", "application/json", headers))
        return finish(
            _Response(reply.status, _json_text(reply.body).encode(), "application/json", headers)
        )

    def _error(self, op: Operation | None, failure: ApiFailure) -> _Response:
        body = _json_text(_render_error(op, failure)).encode()
        return _Response(failure.status, body, "application/json")

    def _base_url(self, request: _Request) -> str:
        if request.host:
            return f"http://{request.host}"
        return self.url

    # -- the checks every API call passes -------------------------------------------------------

    def _authenticate(self, request: _Request) -> str:
        token = request.header("x-amz-access-token")
        now = time.monotonic()
        with self._lock:
            issued = self._access_tokens.get(token) if token else None
        if issued is not None and (now < issued[1] or not self.config.enforce_auth):
            return issued[0]
        if not self.config.enforce_auth:
            return "anonymous"
        if not token:
            raise ApiFailure(401, UNAUTHORIZED, "Access token is missing in the request header.")
        if issued is None:
            raise ApiFailure(
                401, UNAUTHORIZED, "The access token you provided is revoked, malformed or invalid."
            )
        raise ApiFailure(401, UNAUTHORIZED, "The access token you provided has expired.")

    def _authorize(self, op: Operation) -> None:
        granted = self.config.granted_roles
        if granted is not None and op.role not in granted:
            raise ApiFailure(
                403,
                UNAUTHORIZED,
                "Access to requested resource is denied.",
                f"The application was not granted the role '{op.role.value}' that "
                f"{op.name} requires.",
            )

    def _throttle(self, party: str, op: Operation) -> None:
        if not self.config.enforce_usage_plans:
            return
        plan = self.config.plan_for(op.name)
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get((party, op.name))
            if bucket is None or bucket.plan != plan:
                bucket = self._buckets[(party, op.name)] = _TokenBucket(plan, now)
            allowed = bucket.take(now)
        if not allowed:
            raise ApiFailure(429, QUOTA_EXCEEDED)

    def _check_headers(self, request: _Request, op: Operation) -> None:
        if op.needs_user_email and not (request.header("x-amz-user-email") or "").strip():
            raise _bad("Missing required header [x-amz-user-email].")
        if request.body.strip():
            ctype = (request.header("Content-Type") or "").split(";")[0].strip().lower()
            if ctype != "application/json":
                raise ApiFailure(
                    415,
                    UNSUPPORTED_MEDIA_TYPE,
                    f"Unsupported Content-Type [{ctype or 'none'}]; use application/json.",
                )

    # -- Login with Amazon ----------------------------------------------------------------------

    def _lwa(self, request: _Request, request_id: str) -> _Response:
        params: dict[str, str] = {}
        ctype = (request.header("Content-Type") or "").split(";")[0].strip().lower()
        try:
            if ctype == "application/json":
                loaded = json.loads(request.body.decode("utf-8") or "{}")
                if isinstance(loaded, dict):
                    params = {str(k): str(v) for k, v in loaded.items() if v is not None}
            else:
                params = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            params = {}
        client_id = params.get("client_id", "")
        refresh = params.get("refresh_token", "")
        logged = {k: params[k] for k in ("grant_type", "client_id") if k in params}

        def answer(status: int, body: dict[str, Any], party: str | None = None) -> _Response:
            self._record(request, LWA_OPERATION, status, party, request_id, query={}, body=logged)
            headers = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
            return _Response(status, _json_text(body).encode(), "application/json", headers)

        def refuse(status: int, error: str, description: str) -> _Response:
            return answer(status, {"error": error, "error_description": description})

        if request.method != "POST":
            return refuse(405, "invalid_request", "The token endpoint accepts only POST.")
        for name in ("grant_type", "refresh_token", "client_id", "client_secret"):
            if not params.get(name):
                return refuse(
                    400,
                    "invalid_request",
                    f"The request is missing a required parameter : {name}",
                )
        if params["grant_type"] != "refresh_token":
            return refuse(
                400,
                "unsupported_grant_type",
                f"The authorization grant type {params['grant_type']} is not supported",
            )
        cfg = self.config
        if (cfg.lwa_client_id is not None and not _same(client_id, cfg.lwa_client_id)) or (
            cfg.lwa_client_secret is not None
            and not _same(params["client_secret"], cfg.lwa_client_secret)
        ):
            return refuse(401, "invalid_client", "Client authentication failed")
        if cfg.lwa_refresh_token is not None and not _same(refresh, cfg.lwa_refresh_token):
            return refuse(
                400, "invalid_grant", "The request has an invalid grant parameter : refresh_token"
            )
        party = party_id(client_id, refresh)
        access_token = "Atza|" + secrets.token_urlsafe(48)
        with self._lock:
            now = time.monotonic()
            self._access_tokens = {
                k: v for k, v in self._access_tokens.items() if v[1] > now - 3600
            }
            self._access_tokens[access_token] = (party, now + cfg.token_ttl_seconds)
        return answer(
            200,
            {
                "access_token": access_token,
                "refresh_token": refresh,
                "token_type": "bearer",
                "expires_in": cfg.token_ttl_seconds,
            },
            party,
        )

    # -- control endpoints ----------------------------------------------------------------------

    def _control(self, request: _Request) -> _Response:
        path = request.path.rstrip("/")
        if request.method == "GET" and path == "/_sandbox/health":
            body: Any = {
                "status": "ok",
                "operations": sorted(OPERATIONS),
                "scenario": {
                    "transactions": len(self.scenario.transactions),
                    "orders": len(self.scenario.orders),
                    "documents": len(self.scenario.documents),
                    "invoiceDetails": len(self.scenario.invoice_details),
                },
                "faults": str(self.config.faults) if self.config.faults else None,
            }
        elif request.method == "GET" and path == "/_sandbox/requests":
            wanted = request.query.get("operation") or None
            body = {"requests": [e.to_json() for e in self.request_log(wanted)]}
        elif request.method == "POST" and path == "/_sandbox/reset-log":
            body = {"cleared": self.reset_log()}
        else:
            failure = ApiFailure(404, NOT_FOUND, f"No sandbox endpoint {request.method} {path}.")
            return self._error(None, failure)
        return _Response(200, _json_text(body).encode())

    # -- presigned document downloads -----------------------------------------------------------

    def _sign(self, document_id: str, credential: str, amz_date: str, expires: str) -> str:
        canonical = f"GET\n{DOCUMENTS_PATH}{document_id}\n{credential}\n{amz_date}\n{expires}"
        return hmac.new(self._secret, canonical.encode(), hashlib.sha256).hexdigest()

    def _presigned_url(self, base_url: str, document_id: str) -> str:
        """An S3-style presigned URL; every call gives a new URL (a fresh credential id)."""
        ttl = self.config.document_url_ttl_seconds
        now = datetime.now(UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        credential = (
            f"ASIASANDBOX{secrets.token_hex(6).upper()}/{now:%Y%m%d}/us-east-1/s3/aws4_request"
        )
        expires = str(max(1, math.ceil(ttl)))
        signature = self._sign(document_id, credential, amz_date, expires)
        with self._lock:
            self._issued_urls[signature] = time.monotonic() + ttl
        query = urlencode(
            {
                "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                "X-Amz-Credential": credential,
                "X-Amz-Date": amz_date,
                "X-Amz-Expires": expires,
                "X-Amz-SignedHeaders": "host",
                "X-Amz-Signature": signature,
            }
        )
        return f"{base_url}{DOCUMENTS_PATH}{quote(document_id)}?{query}"

    def _download(self, request: _Request, request_id: str) -> _Response:
        query = request.query
        logged_query = {
            k: ("<redacted>" if k == "X-Amz-Signature" else v) for k, v in query.items()
        }
        document_id = unquote(request.path[len(DOCUMENTS_PATH) :])
        fault = self._pick_fault()
        response = self._download_answer(request, request_id, document_id, query, fault)
        if fault is not None and fault.kind in _TRANSPORT_FAULTS:
            response.fault = fault
        self._record(
            request,
            DOWNLOAD_OPERATION,
            response.status,
            None,
            request_id,
            query=logged_query,
            fault=fault,
        )
        response.headers.append(("x-amz-request-id", request_id.replace("-", "")[:16].upper()))
        return response

    def _download_answer(
        self,
        request: _Request,
        request_id: str,
        document_id: str,
        query: Mapping[str, str],
        fault: Fault | None,
    ) -> _Response:
        if fault is not None and fault.kind.status is not None:
            if fault.kind is FaultKind.INTERNAL_ERROR:
                return _s3_error(
                    500,
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                    request_id,
                )
            return _s3_error(503, "SlowDown", "Please reduce your request rate.", request_id)
        if fault is not None and fault.kind is FaultKind.SLOW:
            time.sleep(fault.seconds)
        if request.method != "GET":
            return _s3_error(
                405,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
                request_id,
            )
        credential = query.get("X-Amz-Credential", "")
        amz_date = query.get("X-Amz-Date", "")
        expires = query.get("X-Amz-Expires", "")
        signature = query.get("X-Amz-Signature", "")
        if not (credential and amz_date and expires and signature) or not hmac.compare_digest(
            signature, self._sign(document_id, credential, amz_date, expires)
        ):
            return _s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
                request_id,
            )
        with self._lock:
            deadline = self._issued_urls.get(signature)
        if deadline is not None:
            expired = time.monotonic() >= deadline
        else:  # issued by an earlier run with the same secret: judge by the URL alone
            try:
                issued = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
                expired = datetime.now(UTC) >= issued + timedelta(seconds=int(expires))
            except ValueError:
                expired = True
        if expired:
            return _s3_error(
                403,
                "AccessDenied",
                "Request has expired",
                request_id,
                **{"X-Amz-Expires": expires, "ServerTime": _iso(datetime.now(UTC))},
            )
        with self._lock:
            report = self._documents.get(document_id)
        if report is None or report.document is None:
            return _s3_error(
                404, "NoSuchKey", "The specified key does not exist.", request_id, Key=document_id
            )
        content = self._pdf_bytes(document_id, report.document)
        if self.config.gzip_documents:
            return _Response(200, gzip.compress(content, mtime=0), "application/octet-stream")
        return _Response(200, content, "application/pdf")

    def _pdf_bytes(self, document_id: str, document: InvoiceDocument) -> bytes:
        with self._lock:
            cached = self._pdf_cache.get(document_id)
        if cached is None:
            cached = render_invoice_pdf(document)
            with self._lock:
                self._pdf_cache[document_id] = cached
        return cached

    # -- scenario indexes -----------------------------------------------------------------------

    @staticmethod
    def _index_invoice_dates(scenario: Scenario) -> dict[str, datetime]:
        dates: dict[str, datetime] = {}
        for number, document in scenario.documents.items():
            dates[number] = datetime.combine(document.invoice_date, datetime.min.time(), UTC)
        for entry in scenario.invoice_details.values():
            for detail in entry.get("invoiceDetails") or []:
                number = detail.get("invoiceNumber")
                when = _parse_wire_datetime(str(detail.get("invoiceDate") or ""))
                if isinstance(number, str) and when is not None:
                    dates.setdefault(number, when)
        return dates

    @staticmethod
    def _scenario_as_of(scenario: Scenario) -> datetime:
        """The scenario's "today": its latest feed date (payment statuses are relative to it)."""
        moments = [
            moment
            for t in scenario.transactions
            if (moment := _parse_wire_datetime(str(t.get("feedDate") or ""))) is not None
        ]
        return max(moments) if moments else datetime.now(UTC)

    def _payment_details(self, invoice_id: str) -> dict[str, str] | None:
        invoice_date = self._invoice_dates.get(invoice_id)
        if invoice_date is None:
            return None
        due = invoice_date + _PAYMENT_TERMS
        share = _unit_hash(self.config.seed, "payment", invoice_id)
        if due < self._as_of:
            status = "Closed" if share < 0.8 else "Past Due"
        else:
            status = "Issued" if share < 0.7 else "Payment Processing"
        return {"status": status, "dueDate": _iso(due)}


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


_TRANSPORT_FAULTS = frozenset({FaultKind.DROP, FaultKind.TRUNCATE})


# ---------------------------------------------------------------------------------------------
# Reconciliation API
# ---------------------------------------------------------------------------------------------


def _window_from_token(
    server: SandboxServer, kind: str, call: _Call, start_name: str, end_name: str
) -> tuple[datetime, datetime, int, dict[str, Any]]:
    """The window and offset of a paged request: from ``nextPageToken`` or from the dates."""
    query = call.query
    token = query.get("nextPageToken") or ""
    if token:
        state = server._tokens.decode(kind, token)
        if state is None:
            raise _bad(f"Invalid nextPageToken [{token[:40]}].")
        start = _parse_datetime(str(state["s"]))
        end = _parse_datetime(str(state["e"]))
        for name, expected in ((start_name, start), (end_name, end)):
            if query.get(name) and _parse_datetime(query[name]) != expected:
                raise _bad(
                    f"{name} [{query[name]}] does not match the window of the nextPageToken."
                )
        return start, end, int(state["o"]), state
    _require(query, start_name, end_name)
    start = _parse_datetime(query[start_name])
    end = _parse_datetime(query[end_name])
    if start > end:
        raise _bad(f"{start_name} [{query[start_name]}] is after {end_name} [{query[end_name]}].")
    return start, end, 0, {}


@_operation("getTransactions")
def _get_transactions(server: SandboxServer, call: _Call) -> _Reply:
    start, end, offset, _ = _window_from_token(
        server, "transactions", call, "feedStartDate", "feedEndDate"
    )
    size = server.config.transactions_page_size
    found = server.scenario.transactions_in_feed_window(start, end)
    body: dict[str, Any] = {"transactions": found[offset : offset + size]}
    if offset + size < len(found):
        body["nextPageToken"] = server._tokens.encode(
            "transactions", {"s": start.isoformat(), "e": end.isoformat(), "o": offset + size}
        )
    return _Reply(200, body)


@_operation("getInvoiceDetailsByOrderLineItems")
def _get_invoice_details(server: SandboxServer, call: _Call) -> _Reply:
    body = call.json_object()
    items = body.get("orderLineItems")
    if items is None:
        raise _bad("Missing required request parameters.", "orderLineItems is required.")
    if not isinstance(items, list) or not 1 <= len(items) <= _MAX_LINE_ITEMS:
        count = len(items) if isinstance(items, list) else "no"
        raise _bad(
            f"orderLineItems has {count} elements; it must have between 1 and {_MAX_LINE_ITEMS}."
        )
    answer: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _bad(f"orderLineItems[{index}] must be an object.")
        values = []
        for name in ("orderId", "orderLineItemId", "shipmentId"):
            value = item.get(name)
            if not isinstance(value, str) or not value:
                raise _bad(f"orderLineItems[{index}].{name} is required.")
            values.append(value)
        key = (values[0], values[1], values[2])
        if key in seen:
            continue
        seen.add(key)
        details = server.scenario.invoice_details.get(key)
        if details is not None:
            answer.append(details)
    return _Reply(200, {"invoiceDetailsByOrderLineItems": answer})


@_operation("getBatchInvoicePaymentDetails")
def _get_payment_details(server: SandboxServer, call: _Call) -> _Reply:
    body = call.json_object()
    if "invoiceIds" not in body:
        raise _bad("The request contains invalid parameters.", "invoiceIds is required.")
    ids = body["invoiceIds"]
    if isinstance(ids, list) and not ids:
        raise _bad(
            "The request contains invalid parameters.",
            "The invoiceIds array must contain at least one invoice ID.",
        )
    invoice_ids = _string_list(ids, "invoiceIds", 1, _MAX_INVOICE_IDS)
    results: list[dict[str, Any]] = []
    for invoice_id in invoice_ids:
        details = server._payment_details(invoice_id)
        if details is None:
            results.append(
                {
                    "invoiceId": invoice_id,
                    "resultType": "ERROR",
                    "error": {
                        "code": "INVOICE_NOT_FOUND",
                        "message": f"Invoice [{invoice_id}] was not found.",
                    },
                }
            )
        else:
            results.append(
                {"invoiceId": invoice_id, "resultType": "SUCCESS", "paymentDetails": details}
            )
    return _Reply(200, {"invoicePaymentDetailsResults": results})


# ---------------------------------------------------------------------------------------------
# Document API
# ---------------------------------------------------------------------------------------------


def _visible_report(server: SandboxServer, call: _Call, report_id: str) -> _Report:
    with server._lock:
        report = server._reports.get(report_id)
    if report is None or report.party != call.party:
        raise ApiFailure(404, NOT_FOUND, f"Report [{report_id}] was not found.")
    return report


@_operation("createReport")
def _create_report(server: SandboxServer, call: _Call) -> _Reply:
    body = call.json_object()
    report_type = body.get("reportType")
    if not isinstance(report_type, str) or not report_type:
        raise _bad("reportType is required.")
    if report_type != REPORT_TYPE:
        raise _bad(f"Invalid reportType [{report_type}]; the supported value is {REPORT_TYPE}.")
    if "marketplaceIds" not in body:
        raise _bad("marketplaceIds is required.")
    marketplaces = _string_list(body["marketplaceIds"], "marketplaceIds", 1, 25)
    unknown = [m for m in marketplaces if m not in _KNOWN_MARKETPLACES]
    if unknown:
        raise _bad(f"Invalid marketplaceIds {unknown}.")
    options = body.get("reportOptions")
    if options is None:
        raise _bad(f"reportOptions is required for {REPORT_TYPE}.")
    if not isinstance(options, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in options.items()
    ):
        raise _bad("reportOptions must be an object of string values.")
    if options.get("invoiceId"):
        if options.get("documentType") not in DOCUMENT_TYPES:
            raise _bad(
                f"Invalid documentType [{options.get('documentType')}] for invoiceId; "
                f"expected one of {', '.join(DOCUMENT_TYPES)}."
            )
    elif not options.get("orderId"):
        raise _bad("reportOptions needs either invoiceId and documentType, or orderId.")
    data_times: dict[str, str | None] = {}
    for name in ("dataStartTime", "dataEndTime"):
        value = body.get(name)
        if value is not None:
            if not isinstance(value, str):
                raise _bad(f"{name} must be a date-time string.")
            _parse_datetime(value)
        data_times[name] = value
    document = server.scenario.document_for(dict(options))
    cfg = server.config
    with server._lock:
        server._report_counter += 1
        report_id = str(50_000_000_000 + server._report_counter)
        share = _unit_hash(cfg.seed, "report", report_id)
        if document is None:
            outcome = "CANCELLED"
        elif share < cfg.fatal_rate:
            outcome = "FATAL"
        elif share < cfg.fatal_rate + cfg.cancelled_rate:
            outcome = "CANCELLED"
        else:
            outcome = "DONE"
        document_id = None
        if outcome == "DONE":
            document_id = "amzn1.spdoc.1.4.na." + _digest_id(cfg.seed, "document", report_id)
        report = _Report(
            report_id=report_id,
            party=call.party,
            marketplace_ids=marketplaces,
            options=dict(options),
            data_start=data_times["dataStartTime"],
            data_end=data_times["dataEndTime"],
            created=datetime.now(UTC),
            created_mono=time.monotonic(),
            outcome=outcome,
            document_id=document_id,
            document=document if outcome == "DONE" else None,
        )
        server._reports[report_id] = report
        if document_id is not None:
            server._documents[document_id] = report
    return _Reply(202, {"reportId": report_id})


@_operation("getReport")
def _get_report(server: SandboxServer, call: _Call) -> _Reply:
    report = _visible_report(server, call, call.path_params["reportId"])
    seconds = server.config.report_processing_seconds
    return _Reply(200, report.to_json(time.monotonic(), seconds))


@_operation("cancelReport")
def _cancel_report(server: SandboxServer, call: _Call) -> _Reply:
    report = _visible_report(server, call, call.path_params["reportId"])
    with server._lock:
        status = report.status(time.monotonic(), server.config.report_processing_seconds)
        if status != "IN_QUEUE":
            raise _bad(
                f"Report [{report.report_id}] is {status}; only IN_QUEUE reports can be cancelled."
            )
        report.cancelled = True
    return _Reply(200, None)


@_operation("getReports")
def _get_reports(server: SandboxServer, call: _Call) -> _Reply:
    query = call.query
    now = datetime.now(UTC)
    if "nextToken" in query:
        others = sorted(set(query) - {"nextToken"})
        if others:
            raise _bad(
                "nextToken must be the only parameter when it is given; "
                f"the request also has {', '.join(others)}."
            )
        state = server._tokens.decode("reports", query["nextToken"])
        if state is None:
            raise _bad(f"Invalid nextToken [{query['nextToken'][:40]}].")
    else:
        types = _csv(query.get("reportTypes"))
        if not types:
            raise _bad("Either reportTypes or nextToken is required.")
        if len(types) > 10:
            raise _bad("reportTypes may have at most 10 elements.")
        statuses = _csv(query.get("processingStatuses"))
        if statuses is not None and (
            not statuses or any(s not in _REPORT_STATUSES for s in statuses)
        ):
            raise _bad("Invalid input in processing status")
        marketplaces = _csv(query.get("marketplaceIds"))
        if marketplaces is not None and not 1 <= len(marketplaces) <= 10:
            raise _bad("marketplaceIds must have between 1 and 10 elements.")
        size = _parse_int(query, "pageSize", 10, 1, 100)
        since = (
            _parse_datetime(query["createdSince"])
            if query.get("createdSince")
            else now - timedelta(days=90)
        )
        until = _parse_datetime(query["createdUntil"]) if query.get("createdUntil") else now
        state = {
            "t": types,
            "st": statuses,
            "m": marketplaces,
            "n": size,
            "s": _iso(since),
            "u": _iso(until),
            "o": 0,
        }
    mono = time.monotonic()
    seconds = server.config.report_processing_seconds
    since_at = _parse_datetime(str(state["s"]))
    until_at = _parse_datetime(str(state["u"]))
    with server._lock:
        candidates = [r for r in server._reports.values() if r.party == call.party]
    selected = []
    for report in sorted(candidates, key=lambda r: (r.created, r.report_id), reverse=True):
        if REPORT_TYPE not in state["t"]:
            break
        if state["st"] is not None and report.status(mono, seconds) not in state["st"]:
            continue
        if state["m"] is not None and not set(state["m"]) & set(report.marketplace_ids):
            continue
        # Compare at the wire's precision (milliseconds): ``until`` defaults to "now" and went
        # through the page token as text, so a report made in the same millisecond must count.
        if not since_at <= _parse_datetime(_iso(report.created)) <= until_at:
            continue
        selected.append(report)
    offset, size = int(state["o"]), int(state["n"])
    body: dict[str, Any] = {
        "reports": [r.to_json(mono, seconds) for r in selected[offset : offset + size]]
    }
    if offset + size < len(selected):
        body["nextToken"] = server._tokens.encode("reports", {**state, "o": offset + size})
    return _Reply(200, body)


@_operation("getReportDocument")
def _get_report_document(server: SandboxServer, call: _Call) -> _Reply:
    document_id = call.path_params["reportDocumentId"]
    with server._lock:
        report = server._documents.get(document_id)
    seconds = server.config.report_processing_seconds
    if (
        report is None
        or report.party != call.party
        or report.status(time.monotonic(), seconds) != "DONE"
    ):
        raise ApiFailure(404, NOT_FOUND, f"Report document [{document_id}] was not found.")
    body: dict[str, Any] = {
        "reportDocumentId": document_id,
        "url": server._presigned_url(call.base_url, document_id),
    }
    if server.config.gzip_documents:
        body["compressionAlgorithm"] = "GZIP"
    return _Reply(200, body)


# ---------------------------------------------------------------------------------------------
# Reporting API
# ---------------------------------------------------------------------------------------------

_INCLUDES = (
    ("includeLineItems", "lineItems"),
    ("includeShipments", "shipments"),
    ("includeCharges", "charges"),
)


def _shape_order(order: Mapping[str, Any], flags: Mapping[str, bool]) -> dict[str, Any]:
    """The order without the parts whose include flag is false."""
    dropped = {key for flag, key in _INCLUDES if not flags[flag]}
    return {k: v for k, v in order.items() if k not in dropped}


def _include_flags(query: Mapping[str, str], defaults: Mapping[str, bool]) -> dict[str, bool]:
    return {flag: _parse_bool(query, flag, defaults.get(flag, False)) for flag, _ in _INCLUDES}


@_operation("getOrdersByOrderDate")
def _get_orders_by_date(server: SandboxServer, call: _Call) -> _Reply:
    start, end, offset, state = _window_from_token(server, "orders", call, "startDate", "endDate")
    flags = _include_flags(call.query, state.get("f") or {})
    size = server.config.orders_page_size
    found = server.scenario.orders_in_date_window(start, end)
    page = [_shape_order(o, flags) for o in found[offset : offset + size]]
    token = ""
    if offset + size < len(found):
        token = server._tokens.encode(
            "orders",
            {"s": start.isoformat(), "e": end.isoformat(), "o": offset + size, "f": flags},
        )
    return _Reply(200, {"orders": page, "nextPageToken": token, "size": len(page)})


@_operation("getOrdersByOrderId")
def _get_order_by_id(server: SandboxServer, call: _Call) -> _Reply:
    order_id = call.path_params["orderId"]
    flags = _include_flags(call.query, {})
    order = server.scenario.orders.get(order_id)
    if order is None:
        raise ApiFailure(404, NOT_FOUND, f"Order [{order_id}] was not found.")
    return _Reply(200, {"orders": [_shape_order(order, flags)], "nextPageToken": "", "size": 1})


# ---------------------------------------------------------------------------------------------
# Product Search API
# ---------------------------------------------------------------------------------------------


def _price(amount: Decimal, currency: str) -> dict[str, Any]:
    return {
        "value": _money(amount, currency),
        "formattedPrice": f"{currency} {amount}",
        "priceType": "BUSINESS",
    }


def _offer_json(product: _Product) -> dict[str, Any]:
    money = _money(product.price, product.currency)
    return {
        "offerId": product.offer_id,
        "availability": "IN_STOCK",
        "buyingGuidance": "NONE",
        "buyingGuidanceV2": {"buyingGuidance": [{"type": "NONE", "title": "NONE"}]},
        "buyingRestrictions": [],
        "fulfillmentType": "AMAZON_FULFILLMENT",
        "merchant": {
            "merchantId": "SANDBOX" + _digest_id("merchant", product.merchant)[:8].upper(),
            "name": product.merchant,
            "meanFeedbackRating": 4.8,
            "totalFeedbackCount": 1000,
        },
        "fulfiller": {"name": "Amazon", "fulfillmentType": "AMAZON_FULFILLMENT"},
        "price": _price(product.price, product.currency),
        "listPrice": _price(product.price, product.currency),
        "shippingOptions": [],
        "badges": [],
        "quantityInStock": 100,
        "productCondition": "NEW",
        "productConditionNote": "",
        "condition": {"conditionValue": "NEW", "conditionNote": "", "subCondition": "NEW"},
        "quantityLimits": {"maxQuantity": 9999, "minQuantity": 1},
        "quantityPrice": {"quantityPriceTiers": []},
        "taxExclusivePrice": {
            "taxExclusiveAmount": money,
            "displayString": "excl. tax",
            "formattedPrice": f"{product.currency} {product.price}",
            "label": "Price excl. tax",
        },
        "deliveryInformation": "Usually ships within 2 to 3 days.",
    }


def _product_json(product: _Product, facets: Iterable[str]) -> dict[str, Any]:
    included: dict[str, list[dict[str, Any]]] = {}
    if "OFFERS" in facets:
        included["OFFERS"] = [_offer_json(product)]
    if "IMAGES" in facets:
        included["IMAGES"] = []
    taxonomies = (
        [{"taxonomyCode": product.unspsc, "title": product.category, "type": "UNSPSC"}]
        if product.unspsc
        else []
    )
    return {
        "asin": product.asin,
        "asinType": "STANDARD",
        "signedProductId": _digest_id("signed-product", product.asin),
        "legalInformation": [],
        "includedDataTypes": included,
        "features": [],
        "editorialReviews": [],
        "taxonomies": taxonomies,
        "packageTypeNames": [],
        "title": product.title,
        "url": f"https://www.amazon.com/dp/{product.asin}",
        "format": "",
        "bookInformation": {},
        "byLine": [],
        "mediaInformation": {},
        "productDescription": product.title,
        "productOverview": {},
        "productDetails": {},
        "customerReviewsSummary": {"numberOfRatings": 0, "starRating": 0.0},
        "productVariations": {"dimensions": [], "variations": []},
        "upcValues": [],
        "eanValues": [],
        "modelNumber": "",
        "manufacturerName": product.merchant,
        "bundleQuantity": 1,
        "isCustomQuoteEligible": False,
        "badges": [],
        "isBundledAsin": False,
    }


def _check_region_and_locale(region: Any, locale: Any) -> None:
    if not region:
        raise _bad("Missing required request parameters: [productRegion].")
    if region not in _PRODUCT_REGIONS:
        raise _bad(f"Invalid productRegion [{region}].")
    if not locale:
        raise _bad("Missing required request parameters: [locale].")
    if not isinstance(locale, str) or not _LOCALE.match(locale):
        raise _bad(f"Invalid locale [{locale}].")


def _facets(query: Mapping[str, str]) -> list[str]:
    facets = _csv(query.get("facets")) or []
    bad = [f for f in facets if f not in ("OFFERS", "IMAGES")]
    if bad:
        raise _bad(f"Invalid facets {bad}.")
    return facets


def _product(server: SandboxServer, asin: str) -> _Product:
    product = server._products.get(asin)
    if product is None:
        raise ApiFailure(404, "PRODUCT_NOT_FOUND", f"Product [{asin}] was not found.")
    return product


@_operation("searchProductsRequest")
def _search_products(server: SandboxServer, call: _Call) -> _Reply:
    query = call.query
    _check_region_and_locale(query.get("productRegion"), query.get("locale"))
    facets = _facets(query)
    page_number = _parse_int(query, "pageNumber", 0, 0, None)
    page_size = _parse_int(query, "pageSize", _PRODUCT_PAGE_SIZE, 1, _PRODUCT_PAGE_SIZE)
    words = (query.get("keywords") or "").lower().split()
    matches = [
        p
        for p in server._products.values()
        if all(w in f"{p.title} {p.asin}".lower() for w in words)
    ]
    pages = max(1, math.ceil(len(matches) / page_size))
    if page_number >= pages:
        raise ApiFailure(404, "PAGE_NOT_FOUND", f"Page [{page_number}] does not exist.")
    chosen = matches[page_number * page_size : (page_number + 1) * page_size]
    return _Reply(
        200,
        {
            "matchingProductCount": len(matches),
            "numberOfPages": pages,
            "legalInformation": [],
            "products": [_product_json(p, facets) for p in chosen],
            "refinements": {
                "categories": [],
                "subCategories": [],
                "availabilityOptions": [],
                "deliveryDayOptions": [],
                "eligibleForFreeShippingOptions": [],
                "primeEligible": [],
            },
            "searchRefinements": [],
        },
    )


@_operation("productsRequest")
def _products_request(server: SandboxServer, call: _Call) -> _Reply:
    _check_region_and_locale(call.query.get("productRegion"), call.query.get("locale"))
    facets = _facets(call.query)
    product = _product(server, call.path_params["productId"])
    return _Reply(200, _product_json(product, facets))


@_operation("searchOffersRequest")
def _search_offers(server: SandboxServer, call: _Call) -> _Reply:
    _check_region_and_locale(call.query.get("productRegion"), call.query.get("locale"))
    product = _product(server, call.path_params["productId"])
    offer = _offer_json(product)
    return _Reply(
        200,
        {
            "offerCount": 1,
            "numberOfPages": 1,
            "featuredOffer": offer,
            "offers": [offer],
            "filterGroups": [],
        },
    )


@_operation("getProductsByAsins")
def _products_by_asins(server: SandboxServer, call: _Call) -> _Reply:
    body = call.json_object()
    _check_region_and_locale(body.get("productRegion"), body.get("locale"))
    asins = _string_list(body.get("productIds"), "productIds", 1, _MAX_PRODUCT_IDS)
    facets = body.get("facets") or []
    found = [server._products[a] for a in asins if a in server._products]
    missing = [a for a in asins if a not in server._products]
    return _Reply(
        200,
        {
            "matchingProductCount": len(found),
            "products": [_product_json(p, facets) for p in found],
            "notFoundAsins": missing,
        },
    )


@_operation("getOffersByOfferIds")
def _offers_by_ids(server: SandboxServer, call: _Call) -> _Reply:
    if not call.query.get("inclusionsForOffers"):
        raise _bad("Missing required request parameters: [inclusionsForOffers].")
    body = call.json_object()
    _check_region_and_locale(body.get("productRegion"), body.get("locale"))
    wanted = body.get("offersByOfferIdsRequest")
    if not isinstance(wanted, list) or not 1 <= len(wanted) <= _MAX_PRODUCT_IDS:
        raise _bad(f"offersByOfferIdsRequest must have between 1 and {_MAX_PRODUCT_IDS} elements.")
    offers, missing = [], []
    for index, item in enumerate(wanted):
        offer_id = item.get("offerId") if isinstance(item, dict) else None
        if not isinstance(offer_id, str) or not offer_id:
            raise _bad(f"offersByOfferIdsRequest[{index}].offerId is required.")
        product = server._offers.get(offer_id)
        if product is None:
            missing.append(offer_id)
        else:
            offers.append(_offer_json(product))
    return _Reply(200, {"offers": offers, "notFoundOfferIds": missing})


# ---------------------------------------------------------------------------------------------
# Ordering API
# ---------------------------------------------------------------------------------------------


def _typed_list(value: Any, name: str, type_key: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _bad(f"{name} is required and must be an array.")
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get(type_key), str):
            raise _bad(f"{name}[{index}] must be an object with a {type_key}.")
    return value


def _ordered_asin(attributes: list[dict[str, Any]]) -> str | None:
    for attribute in attributes:
        if attribute["attributeType"] == "SelectedProductReference":
            reference = attribute.get("productReference")
            if isinstance(reference, dict) and isinstance(reference.get("id"), str):
                return str(reference["id"])
    return None


def _expected_unit_price(expectations: list[dict[str, Any]]) -> Decimal | None:
    for expectation in expectations:
        if expectation["expectationType"] == "ExpectedUnitPrice":
            amount = expectation.get("amount")
            if isinstance(amount, dict):
                return _decimal(amount.get("amount"))
    return None


@_operation("placeOrder")
def _place_order(server: SandboxServer, call: _Call) -> _Reply:
    body = call.json_object()
    external_id = body.get("externalId")
    if not isinstance(external_id, str) or not 1 <= len(external_id) <= 255:
        raise _bad("externalId is required and must have 1 to 255 characters.")
    attributes = _typed_list(body.get("attributes"), "attributes", "attributeType")
    _typed_list(body.get("expectations"), "expectations", "expectationType")
    lines = body.get("lineItems")
    if not isinstance(lines, list) or not lines:
        raise _bad("lineItems is required and must not be empty.")
    with server._lock:
        placed = server._placed_orders.get((call.party, external_id))
    if placed is not None:
        return _Reply(200, placed)
    trial = any(a["attributeType"] == "TrialMode" for a in attributes)
    result_lines: list[dict[str, Any]] = []
    subtotal, currency = Decimal("0"), "USD"
    for index, line in enumerate(lines):
        if not isinstance(line, dict):
            raise _bad(f"lineItems[{index}] must be an object.")
        line_id = line.get("externalId")
        quantity = line.get("quantity")
        if not isinstance(line_id, str) or not 1 <= len(line_id) <= 127:
            raise _bad(f"lineItems[{index}].externalId must have 1 to 127 characters.")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise _bad(f"lineItems[{index}].quantity must be an integer >= 1.")
        line_attributes = _typed_list(
            line.get("attributes"), f"lineItems[{index}].attributes", "attributeType"
        )
        expectations = _typed_list(
            line.get("expectations"), f"lineItems[{index}].expectations", "expectationType"
        )
        asin = _ordered_asin(line_attributes)
        product = server._products.get(asin) if asin else None
        accepted: list[dict[str, Any]] = []
        rejected: list[dict[str, Any]] = []
        expected = _expected_unit_price(expectations)
        if product is None:
            rejected.append(
                {
                    "quantity": quantity,
                    "artifacts": [
                        {"rejectionArtifactType": "RejectionCode", "code": "PRODUCT_NOT_AVAILABLE"},
                        {
                            "rejectionArtifactType": "RejectionMessage",
                            "message": f"Product [{asin}] is not available.",
                        },
                    ],
                }
            )
        elif expected is not None and product.price > expected:
            rejected.append(
                {
                    "quantity": quantity,
                    "artifacts": [
                        {
                            "rejectionArtifactType": "BrokenUnitPriceExpectation",
                            "boundary": _money(expected, product.currency),
                            "actualAmount": _money(product.price, product.currency),
                        }
                    ],
                }
            )
        else:
            accepted.append(
                {
                    "acceptedItemType": "SingleAcceptedItem",
                    "quantity": quantity,
                    "artifacts": [
                        {
                            "acceptanceArtifactType": "UnitPrice",
                            "amount": _money(product.price, product.currency),
                        }
                    ],
                }
            )
            subtotal += product.price * quantity
            currency = product.currency
        result_lines.append(
            {"externalId": line_id, "acceptedItems": accepted, "rejectedItems": rejected}
        )
    artifacts: list[dict[str, Any]] = []
    if any(line["acceptedItems"] for line in result_lines):
        if not trial:
            digits = f"{int(_unit_hash(call.party, external_id) * 10**17):017d}"
            artifacts.append(
                {
                    "acceptanceArtifactType": "OrderIdentifier",
                    "identifier": f"{digits[:3]}-{digits[3:10]}-{digits[10:17]}",
                }
            )
        artifacts.append(
            {
                "acceptanceArtifactType": "Charge",
                "category": "SUBTOTAL",
                "type": "PRINCIPAL",
                "amount": _money(subtotal, currency),
            }
        )
    result = {"lineItems": result_lines, "acceptanceArtifacts": artifacts, "rejectionArtifacts": []}
    if not trial:
        with server._lock:
            server._placed_orders[(call.party, external_id)] = result
    return _Reply(200, result)


@_operation("orderDetails")
def _order_details(server: SandboxServer, call: _Call) -> _Reply:
    external_id = call.path_params["externalId"]
    with server._lock:
        placed = server._placed_orders.get((call.party, external_id))
    if placed is None:
        raise ApiFailure(404, NOT_FOUND, f"No order with externalId [{external_id}].")
    return _Reply(200, placed)


# ---------------------------------------------------------------------------------------------
# User Management API
# ---------------------------------------------------------------------------------------------


@_operation("createBusinessUserAccount")
def _create_user(server: SandboxServer, call: _Call) -> _Reply:
    body = call.json_object()
    holder = body.get("accountHolder")
    if not isinstance(holder, dict):
        raise _bad("accountHolder is required.")
    for name in ("email", "givenName", "familyName"):
        if not isinstance(holder.get(name), str) or not holder[name]:
            raise _bad(f"accountHolder.{name} is required.")
    if "@" not in holder["email"]:
        raise _bad(f"Invalid email [{holder['email']}].")
    group = body.get("groupId")
    if (
        not isinstance(group, dict)
        or group.get("idType") not in ("GroupId", "GroupTag")
        or not (isinstance(group.get("id"), str) and group["id"])
    ):
        raise _bad("groupId needs an idType of GroupId or GroupTag and an id.")
    if body.get("role") not in _USER_ROLES:
        raise _bad(f"Invalid role [{body.get('role')}]; expected one of {', '.join(_USER_ROLES)}.")
    if body.get("region") not in _USER_REGIONS:
        raise _bad(f"Invalid region [{body.get('region')}].")
    key = (call.party, holder["email"].lower())
    with server._lock:
        if key in server._users:
            raise _bad(f"A business user with email [{holder['email']}] already exists.")
        server._users[key] = body
    return _Reply(201, {})


_MISSING_HANDLERS = sorted(set(OPERATIONS) - set(_HANDLERS))
if _MISSING_HANDLERS:  # pragma: no cover - a new operation was added to the table
    raise RuntimeError(f"the sandbox has no handler for {_MISSING_HANDLERS}")


# ---------------------------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------------------------


class _SandboxHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its sandbox and can close its open connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        sandbox: SandboxServer,
    ) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    """Reads one request, lets the sandbox answer it, writes the answer (or a fault)."""

    protocol_version = "HTTP/1.1"
    server_version = "abrecon-sandbox"
    sys_version = ""
    timeout = 60
    # One write per answer (headers and body together) and no Nagle delay: otherwise a
    # keep-alive client waits for a delayed ACK on every response.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server: _SandboxHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the stdlib would print request lines, signatures included, to stderr."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(1024)
                try:
                    size = int(size_line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    return None
                if size == 0:
                    while self.rfile.readline(1024).strip():
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length_text = self.headers.get("Content-Length") or "0"
        try:
            length = int(length_text)
        except ValueError:
            return None
        if length < 0 or length > _MAX_BODY_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._write(
                _Response(
                    400,
                    b'{"errors":[{"code":"INVALID_REQUEST_PARAMETER",'
                    b'"message":"Bad request body framing."}]}',
                )
            )
            return
        split = urlsplit(self.path)
        request = _Request(
            method=self.command,
            path=split.path or "/",
            raw_query=split.query,
            headers=self.headers,
            body=body,
            host=self.headers.get("Host"),
        )
        self._write(self.server.sandbox.handle(request))

    def _write(self, response: _Response) -> None:
        if response.dropped:
            self.close_connection = True
            return
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.truncated:
            self.wfile.write(response.body[: len(response.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(response.body)
