"""Every Amazon Business operation abrecon knows: its path, its role and its usage plan.

Usage plans are Amazon's token buckets (rate in requests per second refilled into a bucket of
``burst`` tokens), applied per party (application x customer) and operation. The defaults below
come from Amazon's API references (reference/amazon-business-api.md §8); where Amazon documents
none, the source says what was assumed. They are overridable per operation
(``ABRECON_USAGE_PLANS``) and are lowered at run time when a response's
``x-amzn-RateLimit-Limit`` reports a smaller plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.amazon_business.roles import Role


@dataclass(frozen=True, slots=True)
class UsagePlan:
    """A token bucket: ``rate`` tokens per second into a bucket holding ``burst``."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"a usage plan needs rate > 0 and burst >= 1, not {self}")


@dataclass(frozen=True, slots=True)
class Operation:
    """One API operation as Amazon's model declares it.

    ``path`` is a template with ``{name}`` placeholders for path parameters;
    ``needs_user_email`` marks the APIs that act for a named business user
    (Product Search, Ordering) and therefore send ``x-amz-user-email``.
    """

    name: str
    api: str
    method: str
    path: str
    role: Role
    plan: UsagePlan
    plan_source: str
    needs_user_email: bool = False


_R = Role.BUSINESS_PURCHASE_RECONCILIATION
_A = Role.AMAZON_BUSINESS_ANALYTICS
_C = Role.BUSINESS_PRODUCT_CATALOG
_O = Role.AMAZON_BUSINESS_ORDER_PLACEMENT
_U = Role.USER_MANAGEMENT

_RECON = "/reconciliation/2021-01-08"
_DOCS = "/reports/2021-09-30"
_PRODUCTS = "/products/2020-08-26"
_CATALOG_PLAN = UsagePlan(0.5, 10)
_CATALOG_SOURCE = "Product Search model"

OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        # Reconciliation API 2021-01-08
        Operation(
            "getTransactions",
            "Reconciliation",
            "GET",
            f"{_RECON}/transactions",
            _R,
            UsagePlan(2.0, 10),
            "Reconciliation model (older docs: 0.5/10)",
        ),
        Operation(
            "getInvoiceDetailsByOrderLineItems",
            "Reconciliation",
            "POST",
            f"{_RECON}/invoices",
            _R,
            UsagePlan(2.0, 10),
            "Reconciliation model",
        ),
        Operation(
            "getBatchInvoicePaymentDetails",
            "Reconciliation",
            "POST",
            f"{_RECON}/invoices/batch/paymentDetails",
            _R,
            UsagePlan(2.0, 10),
            "Reconciliation model",
        ),
        # Document API 2021-09-30
        Operation(
            "getReports",
            "Document",
            "GET",
            f"{_DOCS}/reports",
            _R,
            UsagePlan(0.1, 10),
            "document-api-v1-reference",
        ),
        Operation(
            "createReport",
            "Document",
            "POST",
            f"{_DOCS}/reports",
            _R,
            UsagePlan(0.0167, 15),
            "reference/createreport",
        ),
        Operation(
            "getReport",
            "Document",
            "GET",
            f"{_DOCS}/reports/{{reportId}}",
            _R,
            UsagePlan(2.0, 15),
            "not documented for AB; SP-API Reports analogue",
        ),
        Operation(
            "cancelReport",
            "Document",
            "DELETE",
            f"{_DOCS}/reports/{{reportId}}",
            _R,
            UsagePlan(0.0222, 10),
            "not documented for AB; SP-API Reports analogue",
        ),
        Operation(
            "getReportDocument",
            "Document",
            "GET",
            f"{_DOCS}/documents/{{reportDocumentId}}",
            _R,
            UsagePlan(0.0167, 15),
            "reference/getreportdocument",
        ),
        # Reporting API 2021-01-08
        Operation(
            "getOrdersByOrderDate",
            "Reporting",
            "GET",
            "/reports/2021-01-08/orders",
            _A,
            UsagePlan(0.5, 10),
            "Reporting model",
        ),
        Operation(
            "getOrdersByOrderId",
            "Reporting",
            "GET",
            "/reports/2021-01-08/orders/{orderId}",
            _A,
            UsagePlan(0.5, 10),
            "Reporting model",
        ),
        # Product Search API 2020-08-26
        Operation(
            "searchProductsRequest",
            "Product Search",
            "GET",
            f"{_PRODUCTS}/products",
            _C,
            _CATALOG_PLAN,
            _CATALOG_SOURCE,
            needs_user_email=True,
        ),
        Operation(
            "productsRequest",
            "Product Search",
            "GET",
            f"{_PRODUCTS}/products/{{productId}}",
            _C,
            _CATALOG_PLAN,
            _CATALOG_SOURCE,
            needs_user_email=True,
        ),
        Operation(
            "searchOffersRequest",
            "Product Search",
            "GET",
            f"{_PRODUCTS}/products/{{productId}}/offers",
            _C,
            _CATALOG_PLAN,
            _CATALOG_SOURCE,
            needs_user_email=True,
        ),
        Operation(
            "getProductsByAsins",
            "Product Search",
            "POST",
            f"{_PRODUCTS}/products/getProductsByAsins",
            _C,
            _CATALOG_PLAN,
            _CATALOG_SOURCE,
            needs_user_email=True,
        ),
        Operation(
            "getOffersByOfferIds",
            "Product Search",
            "POST",
            f"{_PRODUCTS}/offers/getOffersByOfferIds",
            _C,
            _CATALOG_PLAN,
            _CATALOG_SOURCE,
            needs_user_email=True,
        ),
        # Ordering API 2022-10-30
        Operation(
            "placeOrder",
            "Ordering",
            "POST",
            "/ordering/2022-10-30/orders",
            _O,
            UsagePlan(0.5, 10),
            "ordering-api-v1-reference",
            needs_user_email=True,
        ),
        Operation(
            "orderDetails",
            "Ordering",
            "GET",
            "/ordering/2022-10-30/orders/{externalId}",
            _O,
            UsagePlan(0.5, 10),
            "Ordering model",
            needs_user_email=True,
        ),
        # User Management API 2021-08-30
        Operation(
            "createBusinessUserAccount",
            "User Management",
            "POST",
            "/businessAccounts/2021-08-30/businessUserAccount",
            _U,
            UsagePlan(1.0, 5),
            "User Management model",
        ),
    )
}


def operation(name: str) -> Operation:
    """The operation called ``name`` (Amazon's operationId)."""
    try:
        return OPERATIONS[name]
    except KeyError:
        raise KeyError(f"unknown Amazon Business operation {name!r}") from None


def operations_of_role(role: Role) -> list[Operation]:
    """The operations a role grants, in table order."""
    return [op for op in OPERATIONS.values() if op.role is role]
