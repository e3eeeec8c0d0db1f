"""Amazon's role model: which operations an application may call.

"A role is a mechanism used by Amazon Business APIs to determine whether an application has
access to an operation or resource. As a developer, you must request and qualify for a role."
(https://developer-docs.amazon.com/amazon-business/docs/amazon-business-roles)

The roles an application was granted are configuration (``ABRECON_ROLES``). Every operation in
:mod:`connectors.amazon_business.operations` names the role it needs, and the transport checks
it before anything is sent: a call that Amazon would answer with 403 fails here at once, with
an error that says which role to request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from connectors.amazon_business.regions import Region


class Role(StrEnum):
    """The roles of Amazon's table, by their official names."""

    BUSINESS_PRODUCT_CATALOG = "Business Product Catalog"
    AMAZON_BUSINESS_ANALYTICS = "Amazon Business Analytics"
    BUSINESS_PURCHASE_RECONCILIATION = "Business Purchase Reconciliation"
    USER_MANAGEMENT = "User Management"
    AMAZON_BUSINESS_ORDER_PLACEMENT = "Amazon Business Order Placement"


ALL_REGIONS: tuple[Region, ...] = (Region.NA, Region.EU, Region.FE)

HOW_TO_REQUEST = (
    "request it for your application in the Amazon Business Solution Provider Portal "
    "(Developer profile -> Roles; see "
    "https://developer-docs.amazon.com/amazon-business/docs/amazon-business-roles), "
    "then add it to ABRECON_ROLES"
)


@dataclass(frozen=True, slots=True)
class RoleInfo:
    """One row of Amazon's role table plus what it lets abrecon do."""

    role: Role
    apis: tuple[str, ...]
    regions: tuple[Region, ...]
    enables: str
    without: str


ROLE_TABLE: dict[Role, RoleInfo] = {
    Role.BUSINESS_PRODUCT_CATALOG: RoleInfo(
        Role.BUSINESS_PRODUCT_CATALOG,
        ("Product Search",),
        ALL_REGIONS,
        "product look-ups (titles, offers) by ASIN",
        "no product look-ups; reconciliation is unaffected",
    ),
    Role.AMAZON_BUSINESS_ANALYTICS: RoleInfo(
        Role.AMAZON_BUSINESS_ANALYTICS,
        ("Reporting",),
        ALL_REGIONS,
        "order enrichment: order status, approver, buyer group, shipments and charges",
        "no order enrichment; matching uses transactions and invoices only",
    ),
    Role.BUSINESS_PURCHASE_RECONCILIATION: RoleInfo(
        Role.BUSINESS_PURCHASE_RECONCILIATION,
        ("Reconciliation", "Document"),
        ALL_REGIONS,
        "transaction sync, invoice details, invoice and credit-memo PDFs, matching, exports",
        "no reconciliation at all: nothing can be synced, matched or exported",
    ),
    Role.USER_MANAGEMENT: RoleInfo(
        Role.USER_MANAGEMENT,
        ("User Management",),
        ALL_REGIONS,
        "creating business user accounts",
        "no user provisioning; reconciliation is unaffected",
    ),
    Role.AMAZON_BUSINESS_ORDER_PLACEMENT: RoleInfo(
        Role.AMAZON_BUSINESS_ORDER_PLACEMENT,
        ("Ordering",),
        ALL_REGIONS,
        "placing orders and reading their status",
        "no ordering; reconciliation is unaffected",
    ),
}

_ALIASES: dict[str, Role] = {}
for _role in Role:
    _ALIASES[_role.value.casefold()] = _role
    _ALIASES[_role.name.casefold()] = _role
    _ALIASES[_role.value.replace(" ", "").casefold()] = _role


def parse_role(text: str) -> Role:
    """The role named by ``text``: its official name (any case), or its enum name.

    Raises ``ValueError`` naming the accepted names when ``text`` names no role.
    """
    key = text.strip().casefold()
    role = _ALIASES.get(key) or _ALIASES.get(key.replace(" ", "").replace("_", ""))
    if role is None:
        names = ", ".join(f"'{r.value}'" for r in Role)
        raise ValueError(f"unknown role {text.strip()!r}; the roles are {names}")
    return role


def parse_roles(text: str | Iterable[str]) -> frozenset[Role]:
    """A set of roles from a comma-separated string or an iterable of names."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    return frozenset(parse_role(p) for p in parts if p.strip())
