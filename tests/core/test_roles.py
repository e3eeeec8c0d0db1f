"""Amazon's role table and the gate in front of every operation."""

from __future__ import annotations

import pytest

from connectors.amazon_business.operations import OPERATIONS, operations_of_role
from connectors.amazon_business.roles import ROLE_TABLE, Role, parse_role, parse_roles


def test_table_has_the_five_roles_with_their_operations() -> None:
    assert set(ROLE_TABLE) == set(Role)
    names = {r: {op.name for op in operations_of_role(r)} for r in Role}
    assert names[Role.BUSINESS_PURCHASE_RECONCILIATION] == {
        "getTransactions",
        "getInvoiceDetailsByOrderLineItems",
        "getBatchInvoicePaymentDetails",
        "getReports",
        "createReport",
        "getReport",
        "cancelReport",
        "getReportDocument",
    }
    assert names[Role.AMAZON_BUSINESS_ANALYTICS] == {"getOrdersByOrderDate", "getOrdersByOrderId"}
    assert names[Role.AMAZON_BUSINESS_ORDER_PLACEMENT] == {"placeOrder", "orderDetails"}
    assert names[Role.USER_MANAGEMENT] == {"createBusinessUserAccount"}
    assert names[Role.BUSINESS_PRODUCT_CATALOG] == {
        "searchProductsRequest",
        "productsRequest",
        "searchOffersRequest",
        "getProductsByAsins",
        "getOffersByOfferIds",
    }
    assert all(op.role in ROLE_TABLE for op in OPERATIONS.values())


def test_parse_roles_accepts_official_names_in_any_case() -> None:
    assert parse_role("business purchase reconciliation") is Role.BUSINESS_PURCHASE_RECONCILIATION
    assert parse_role("AMAZON_BUSINESS_ANALYTICS") is Role.AMAZON_BUSINESS_ANALYTICS
    assert parse_roles("User Management, ,Business Product Catalog") == {
        Role.USER_MANAGEMENT,
        Role.BUSINESS_PRODUCT_CATALOG,
    }
    with pytest.raises(ValueError, match="unknown role 'Accounting'"):
        parse_role("Accounting")
