"""Product Search, Ordering and User Management clients against the sandbox."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from connectors.amazon_business.client import AmazonBusinessClient
from connectors.amazon_business.errors import BadRequestError, NotFoundError
from connectors.amazon_business.ordering import TRIAL_MODE, json_numbers, line_item
from connectors.amazon_business.product_search import build_query
from connectors.sandbox.server import SandboxServer

from .conftest import USER_EMAIL, Party, client_for

US = ("US", "en_US")


@pytest.fixture()
def product(client: AmazonBusinessClient) -> dict[str, Any]:
    found = client.product_search.search_products(*US, facets=["OFFERS"])
    assert found["products"], found
    first: dict[str, Any] = found["products"][0]
    return first


# -- Product Search -------------------------------------------------------------------------


def test_search_products_sends_the_query_and_the_user(
    client: AmazonBusinessClient, sandbox: SandboxServer, product: dict[str, Any]
) -> None:
    word = product["title"].split()[0]
    found = client.product_search.search_products(
        *US,
        keywords=word,
        page_size=5,
        page_number=0,
        facets=["OFFERS", "IMAGES"],
        prime_eligible="true",
    )
    assert found["matchingProductCount"] >= 1
    assert any(p["asin"] == product["asin"] for p in found["products"])
    query = sandbox.request_log("searchProductsRequest")[-1].query
    assert query == {
        "productRegion": "US",
        "locale": "en_US",
        "keywords": word,
        "pageSize": "5",
        "pageNumber": "0",
        "facets": "OFFERS,IMAGES",
        "primeEligible": "true",
    }


def test_product_offers_and_batches(
    client: AmazonBusinessClient, sandbox: SandboxServer, product: dict[str, Any]
) -> None:
    asin = product["asin"]
    details = client.product_search.get_product(asin, *US, facets=["OFFERS"], quantity=2)
    assert details["asin"] == asin and details["includedDataTypes"]["OFFERS"]
    offers = client.product_search.search_offers(asin, *US, page_size=10)
    offer_id = offers["offers"][0]["offerId"]
    batch = client.product_search.get_products_by_asins(
        [asin, "B000000000"], *US, facets=["OFFERS"], inclusions_for_offers=["price"]
    )
    assert batch["notFoundAsins"] == ["B000000000"]
    by_offer = client.product_search.get_offers_by_offer_ids(
        [offer_id], *US, ["price", "merchant"], group_tag="finance"
    )
    assert by_offer["offers"][0]["offerId"] == offer_id

    entries = {e.operation: e for e in sandbox.request_log()}
    assert entries["productsRequest"].path.endswith(f"/products/{asin}")
    assert entries["getProductsByAsins"].body == {
        "productIds": [asin, "B000000000"],
        "productRegion": "US",
        "locale": "en_US",
        "facets": ["OFFERS"],
    }
    assert entries["getProductsByAsins"].query == {"inclusionsForOffers": "price"}
    assert entries["getOffersByOfferIds"].query == {
        "inclusionsForOffers": "price,merchant",
        "groupTag": "finance",
    }
    with pytest.raises(NotFoundError):
        client.product_search.get_product("B000000000", *US)


def test_product_search_limits(client: AmazonBusinessClient, sandbox: SandboxServer) -> None:
    with pytest.raises(ValueError, match="1 to 30"):
        client.product_search.get_products_by_asins([f"B{i:09d}" for i in range(31)], *US)
    with pytest.raises(ValueError, match="1 to 30"):
        client.product_search.get_offers_by_offer_ids([], *US, ["price"])
    with pytest.raises(ValueError, match="inclusion"):
        client.product_search.get_offers_by_offer_ids(["o"], *US, [])
    assert sandbox.request_log() == []
    assert build_query({"eligible_for_free_shipping": True, "min_price": 0, "x_y": None}) == {
        "eligibleForFreeShipping": "true",
        "minPrice": "0",
    }


def test_the_user_email_comes_from_the_call_or_the_configuration(
    sandbox: SandboxServer, party: Party, redis_client: Any
) -> None:
    client = client_for(sandbox, party, redis_client, user_email=None)
    with pytest.raises(ValueError, match="ABRECON_USER_EMAIL"):
        client.product_search.search_products(*US)
    found = client.product_search.search_products(*US, user_email="other@example.com")
    assert "products" in found


# -- Ordering -------------------------------------------------------------------------------


def order_line(product: dict[str, Any], expected: Decimal | None = None) -> dict[str, Any]:
    expectations = []
    if expected is not None:
        expectations.append(
            {
                "expectationType": "ExpectedUnitPrice",
                "amount": {"currencyCode": "USD", "amount": expected},
            }
        )
    return line_item(
        "1",
        2,
        [
            {
                "attributeType": "SelectedProductReference",
                "productReference": {
                    "productReferenceType": "ProductIdentifier",
                    "id": product["asin"],
                },
            }
        ],
        expectations,
    )


def test_a_trial_order_places_nothing(
    client: AmazonBusinessClient, sandbox: SandboxServer, product: dict[str, Any]
) -> None:
    result = client.ordering.place_order(
        "trial-1",
        [order_line(product)],
        [{"attributeType": "Region", "region": "US"}],
        [],
        trial=True,
    )
    assert result["lineItems"][0]["acceptedItems"]
    kinds = [a["acceptanceArtifactType"] for a in result["acceptanceArtifacts"]]
    assert "OrderIdentifier" not in kinds
    assert TRIAL_MODE in sandbox.request_log("placeOrder")[0].body["attributes"]
    with pytest.raises(NotFoundError):
        client.ordering.order_details("trial-1")


def test_an_order_is_read_back_by_its_external_id(
    client: AmazonBusinessClient, sandbox: SandboxServer, product: dict[str, Any]
) -> None:
    price = Decimal(str(product["includedDataTypes"]["OFFERS"][0]["price"]["value"]["amount"]))
    placed = client.ordering.place_order(
        "po-4711",
        [order_line(product, expected=price)],
        [{"attributeType": "Region", "region": "US"}],
        [],
        user_email=USER_EMAIL,
    )
    assert any(
        a["acceptanceArtifactType"] == "OrderIdentifier" for a in placed["acceptanceArtifacts"]
    )
    assert client.ordering.order_details("po-4711") == placed
    sent = sandbox.request_log("placeOrder")[0].body
    assert sent["lineItems"][0]["expectations"][0]["amount"]["amount"] == price  # exact digits

    cheap = client.ordering.place_order(
        "po-4712", [order_line(product, expected=Decimal("0.01"))], [], []
    )
    rejected = cheap["lineItems"][0]["rejectedItems"][0]["artifacts"][0]
    assert rejected["rejectionArtifactType"] == "BrokenUnitPriceExpectation"


def test_order_input_is_checked(client: AmazonBusinessClient, sandbox: SandboxServer) -> None:
    with pytest.raises(ValueError, match="1 to 50"):
        client.ordering.place_order("x", [], [], [])
    with pytest.raises(ValueError, match="1 to 255"):
        client.ordering.place_order("", [{}], [], [])
    with pytest.raises(ValueError, match="lacks"):
        client.ordering.place_order("x", [{"externalId": "1"}], [], [])
    with pytest.raises(ValueError, match="quantity"):
        line_item("1", 0, [])
    with pytest.raises(ValueError, match="exactly"):
        json_numbers({"amount": Decimal("12345678901234567.89")})
    assert json.dumps(json_numbers([Decimal("19.99"), Decimal("100")])) == "[19.99, 100]"
    assert sandbox.request_log() == []


# -- User Management ------------------------------------------------------------------------


def test_create_a_business_user(client: AmazonBusinessClient, sandbox: SandboxServer) -> None:
    created = client.user_management.create_business_user_account(
        "new.user@example.com",
        "New",
        "User",
        "finance-team",
        "Finance",
        "US",
        group_id_type="GroupTag",
        notification_types_to_suppress=["EMAIL"],
    )
    assert created == {}
    entry = sandbox.request_log("createBusinessUserAccount")[0]
    assert entry.status == 201
    assert entry.body == {
        "accountHolder": {
            "email": "new.user@example.com",
            "givenName": "New",
            "familyName": "User",
        },
        "groupId": {"idType": "GroupTag", "id": "finance-team"},
        "role": "Finance",
        "region": "US",
        "notificationTypesToSuppress": ["EMAIL"],
    }
    with pytest.raises(BadRequestError, match="already exists"):
        client.user_management.create_business_user_account(
            "new.user@example.com", "New", "User", "finance-team", "Finance", "US"
        )
    with pytest.raises(ValueError, match="role"):
        client.user_management.create_business_user_account(
            "a@example.com", "A", "B", "g", "Buyer", "US"
        )
    with pytest.raises(ValueError, match="region"):
        client.user_management.create_business_user_account(
            "a@example.com", "A", "B", "g", "Finance", "MX"
        )
