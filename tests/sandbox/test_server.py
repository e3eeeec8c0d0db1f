"""The sandbox over real HTTP: contract, paging, reports, documents, enforcement, request log.

Every request the tests send as valid is checked against Amazon's model
(:func:`~tests.support.api_models.validate_request`) and every answer is validated against the
model (:func:`~tests.support.api_models.validate_response`) whenever the models are available,
so these tests keep the sandbox's wire format honest. Servers are cheap (one per test, port 0)
and processing times are kept in tenths of a second so the file runs in a few seconds.
"""

from __future__ import annotations

import gzip
import http.client
import json
import threading
import time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import pytest
import requests

from connectors.amazon_business.operations import OPERATIONS, UsagePlan
from connectors.amazon_business.roles import Role
from connectors.sandbox.scenario import Scenario
from connectors.sandbox.serve import build_config, serve
from connectors.sandbox.server import (
    DOWNLOAD_OPERATION,
    LWA_OPERATION,
    SandboxConfig,
    SandboxServer,
)
from tests.sandbox.conftest import SandboxFactory
from tests.support.api_models import (
    API_MODELS_DIR,
    require_api_models,
    validate_request,
    validate_response,
)

CONTRACT = API_MODELS_DIR.is_dir()
CLIENT_ID = "amzn1.application-oa2-client.sandbox-tests"
CLIENT_SECRET = "sandbox-client-secret-value"
REFRESH_TOKEN = "Atzr|sandbox-refresh-token-value"
EMAIL = "buyer@northwind.example"
ALL_TIME = {"feedStartDate": "2020-01-01T00:00:00Z", "feedEndDate": "2030-01-01T00:00:00Z"}
ALL_ORDERS = {"startDate": "2020-01-01T00:00:00Z", "endDate": "2030-01-01T00:00:00Z"}
MARKETPLACE = "ATVPDKIKX0DER"


# ---------------------------------------------------------------------------------------------
# A small contract-checking client (the fixtures are in conftest.py)
# ---------------------------------------------------------------------------------------------


def body_of(response: requests.Response) -> Any:
    return response.json() if response.content else None


class Client:
    """A tiny Amazon Business client that checks each exchange against Amazon's model."""

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str = CLIENT_ID,
        refresh_token: str = REFRESH_TOKEN,
        client_secret: str = CLIENT_SECRET,
    ) -> None:
        self.base_url = base_url
        self.client_id = client_id
        self.refresh_token = refresh_token
        self.client_secret = client_secret
        self.session = requests.Session()
        self.token: str | None = None

    def token_response(self, **form: str) -> requests.Response:
        data = {
            "grant_type": "refresh_token",
            "refresh_token": self.refresh_token,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            **form,
        }
        return self.session.post(f"{self.base_url}/auth/o2/token", data=data, timeout=10)

    def login(self) -> Client:
        response = self.token_response()
        assert response.status_code == 200, response.text
        self.token = response.json()["access_token"]
        return self

    def url(self, operation: str, path: dict[str, str] | None = None) -> str:
        template = OPERATIONS[operation].path
        values = {k: quote(v, safe="") for k, v in (path or {}).items()}
        return self.base_url + template.format(**values)

    def call(
        self,
        operation: str,
        *,
        path: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        authenticated: bool = True,
        valid: bool = True,
    ) -> requests.Response:
        """Send ``operation``; ``valid=False`` skips the request-side contract check."""
        op = OPERATIONS[operation]
        sent = {"accept": "application/json"}
        if authenticated and self.token:
            sent["x-amz-access-token"] = self.token
        if op.needs_user_email:
            sent["x-amz-user-email"] = EMAIL
        sent.update(headers or {})
        if CONTRACT and valid:
            validate_request(
                operation, query=params or {}, path_params=path or {}, body=body, headers=sent
            )
        response = self.session.request(
            op.method,
            self.url(operation, path),
            params=params,
            data=None if body is None else json.dumps(body),
            headers={**sent, **({"Content-Type": "application/json"} if body is not None else {})},
            timeout=10,
        )
        assert response.headers.get("x-amzn-RequestId"), "every answer carries x-amzn-RequestId"
        if CONTRACT:
            validate_response(operation, response.status_code, body_of(response))
        return response


def logged_in_client(make_sandbox: SandboxFactory, **config: Any) -> tuple[Client, SandboxServer]:
    """A sandbox started with ``config``, and a client of it holding an access token."""
    sandbox = make_sandbox(**config)
    return Client(sandbox.url).login(), sandbox


def first_key(scenario: Scenario) -> dict[str, str]:
    order_id, line_id, shipment_id = next(iter(scenario.invoice_details))
    return {"orderId": order_id, "orderLineItemId": line_id, "shipmentId": shipment_id}


def an_invoice(scenario: Scenario, document_type: str = "Invoice") -> str:
    return next(n for n, d in scenario.documents.items() if d.document_type == document_type)


def invoice_report(scenario: Scenario, invoice: str | None = None) -> dict[str, Any]:
    number = invoice or an_invoice(scenario)
    return {
        "reportType": "GET_AB_INVOICE_PDF",
        "marketplaceIds": [MARKETPLACE],
        "reportOptions": {
            "invoiceId": number,
            "documentType": scenario.documents[number].document_type
            if number in scenario.documents
            else "Invoice",
        },
    }


def wait_for_report(client: Client, report_id: str, timeout: float = 3.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        report: dict[str, Any] = client.call("getReport", path={"reportId": report_id}).json()
        if report["processingStatus"] in ("DONE", "FATAL", "CANCELLED"):
            return report
        assert time.monotonic() < deadline, f"report {report_id} never finished: {report}"
        time.sleep(0.05)


def finished_report(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    """createReport with ``body``, then the report once its status is final."""
    return wait_for_report(client, client.call("createReport", body=body).json()["reportId"])


def report_document(client: Client, report: dict[str, Any]) -> dict[str, Any]:
    """getReportDocument of a finished report: its presigned URL and compression."""
    path = {"reportDocumentId": report["reportDocumentId"]}
    document: dict[str, Any] = client.call("getReportDocument", path=path).json()
    return document


def an_asin(scenario: Scenario) -> str:
    return str(scenario.transactions[0]["transactionLineItems"][0]["asin"])


def place_order_body(asin: str, external_id: str, *, trial: bool = False) -> dict[str, Any]:
    attributes: list[dict[str, Any]] = [{"attributeType": "Region", "region": "US"}]
    if trial:
        attributes.append({"attributeType": "TrialMode"})
    return {
        "externalId": external_id,
        "attributes": attributes,
        "expectations": [],
        "lineItems": [
            {
                "externalId": "line-1",
                "quantity": 2,
                "attributes": [
                    {
                        "attributeType": "SelectedProductReference",
                        "productReference": {
                            "productReferenceType": "ProductIdentifier",
                            "id": asin,
                        },
                    }
                ],
                "expectations": [
                    {
                        "expectationType": "ExpectedUnitPrice",
                        "amount": {"currencyCode": "USD", "amount": 100000},
                    }
                ],
            }
        ],
    }


# ---------------------------------------------------------------------------------------------
# Contract: every operation, success and errors, validates against Amazon's model
# ---------------------------------------------------------------------------------------------


def test_every_operation_answers_as_the_model_declares(
    make_sandbox: SandboxFactory, scenario: Scenario
) -> None:
    require_api_models()
    client, _ = logged_in_client(
        make_sandbox, enforce_usage_plans=False, report_processing_seconds=0.2
    )
    asin = an_asin(scenario)
    order_id = next(iter(scenario.orders))
    statuses: dict[str, int] = {}

    def call(operation: str, **kwargs: Any) -> requests.Response:
        response = client.call(operation, **kwargs)
        statuses[operation] = response.status_code
        return response

    call("getTransactions", params=ALL_TIME)
    call("getInvoiceDetailsByOrderLineItems", body={"orderLineItems": [first_key(scenario)]})
    call("getBatchInvoicePaymentDetails", body={"invoiceIds": [an_invoice(scenario), "NOPE"]})
    report_id = call("createReport", body=invoice_report(scenario)).json()["reportId"]
    call("getReport", path={"reportId": report_id})
    call("getReports", params={"reportTypes": "GET_AB_INVOICE_PDF", "pageSize": "5"})
    queued = client.call("createReport", body=invoice_report(scenario)).json()["reportId"]
    call("cancelReport", path={"reportId": queued})
    document_id = wait_for_report(client, report_id)["reportDocumentId"]
    call("getReportDocument", path={"reportDocumentId": document_id})
    call(
        "getOrdersByOrderDate",
        params={
            **ALL_ORDERS,
            "includeLineItems": "true",
            "includeShipments": "true",
            "includeCharges": "true",
        },
    )
    call("getOrdersByOrderId", path={"orderId": order_id}, params={"includeLineItems": "true"})
    word = scenario.transactions[0]["transactionLineItems"][0]["productTitle"].split()[0]
    call(
        "searchProductsRequest",
        params={"productRegion": "US", "locale": "en_US", "keywords": word, "facets": "OFFERS"},
    )
    call(
        "productsRequest",
        path={"productId": asin},
        params={"productRegion": "US", "locale": "en_US"},
    )
    offers = call(
        "searchOffersRequest",
        path={"productId": asin},
        params={"productRegion": "US", "locale": "en_US"},
    ).json()
    call(
        "getProductsByAsins",
        body={
            "productIds": [asin, "B000NOTREAL"],
            "productRegion": "US",
            "locale": "en_US",
            "facets": ["OFFERS"],
        },
    )
    call(
        "getOffersByOfferIds",
        params={"inclusionsForOffers": "price,merchant"},
        body={
            "offersByOfferIdsRequest": [
                {"offerId": offers["offers"][0]["offerId"]},
                {"offerId": "missing"},
            ],
            "productRegion": "US",
            "locale": "en_US",
        },
    )
    call("placeOrder", body=place_order_body(asin, "po-contract-1"))
    call("orderDetails", path={"externalId": "po-contract-1"})
    call(
        "createBusinessUserAccount",
        body={
            "accountHolder": {
                "email": "new.user@northwind.example",
                "givenName": "New",
                "familyName": "User",
            },
            "groupId": {"idType": "GroupTag", "id": "finance"},
            "role": "Finance",
            "region": "US",
        },
    )
    assert set(statuses) == set(OPERATIONS), "the test must cover every operation"
    assert all(200 <= s < 300 for s in statuses.values()), statuses
    assert statuses["createReport"] == 202
    assert statuses["createBusinessUserAccount"] == 201


#: One request per operation that the sandbox must refuse (400 or 404) in the API's format.
BAD_REQUESTS: dict[str, tuple[int, dict[str, Any]]] = {
    "getTransactions": (400, {"params": {"feedStartDate": "yesterday", "feedEndDate": "x"}}),
    "getInvoiceDetailsByOrderLineItems": (400, {"body": {"orderLineItems": []}}),
    "getBatchInvoicePaymentDetails": (400, {"body": {"invoiceIds": []}}),
    "createReport": (
        400,
        {"body": {"reportType": "GET_MERCHANT_LISTINGS_ALL_DATA", "marketplaceIds": [MARKETPLACE]}},
    ),
    "getReport": (404, {"path": {"reportId": "404404"}}),
    "getReports": (
        400,
        {"params": {"reportTypes": "GET_AB_INVOICE_PDF", "processingStatuses": "BAD_VALUE"}},
    ),
    "cancelReport": (404, {"path": {"reportId": "404404"}}),
    "getReportDocument": (404, {"path": {"reportDocumentId": "amzn1.spdoc.missing"}}),
    "getOrdersByOrderDate": (400, {"params": {"startDate": "2024-01-01T00:00:00Z"}}),
    "getOrdersByOrderId": (404, {"path": {"orderId": "000-0000000-0000000"}}),
    "searchProductsRequest": (400, {"params": {"productRegion": "XX", "locale": "en_US"}}),
    "productsRequest": (
        404,
        {
            "path": {"productId": "B000NOTREAL"},
            "params": {"productRegion": "US", "locale": "en_US"},
        },
    ),
    "searchOffersRequest": (
        404,
        {
            "path": {"productId": "B000NOTREAL"},
            "params": {"productRegion": "US", "locale": "en_US"},
        },
    ),
    "getProductsByAsins": (
        400,
        {"body": {"productIds": [], "productRegion": "US", "locale": "en_US"}},
    ),
    "getOffersByOfferIds": (
        400,
        {
            "body": {
                "offersByOfferIdsRequest": [{"offerId": "x"}],
                "productRegion": "US",
                "locale": "en_US",
            }
        },
    ),
    "placeOrder": (400, {"body": {"externalId": "", "lineItems": []}}),
    "orderDetails": (404, {"path": {"externalId": "never-placed"}}),
    "createBusinessUserAccount": (400, {"body": {"accountHolder": {"email": "x@y.example"}}}),
}


def test_bad_requests_cover_every_operation() -> None:
    assert set(BAD_REQUESTS) == set(OPERATIONS)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_errors_of_every_operation_match_the_model(
    make_sandbox: SandboxFactory, operation: str
) -> None:
    """400/404, 401, 403 and 429 of each operation, in the error format its model declares."""
    require_api_models()
    status, request = BAD_REQUESTS[operation]
    client, _ = logged_in_client(make_sandbox, usage_plans={operation: UsagePlan(0.001, 1)})

    refused = client.call(operation, valid=False, **request)
    assert refused.status_code == status, refused.text
    throttled = client.call(operation, valid=False, **request)
    assert throttled.status_code == 429
    assert "x-amzn-RateLimit-Limit" not in throttled.headers

    unauthenticated = client.call(operation, valid=False, authenticated=False, **request)
    assert unauthenticated.status_code == 401

    forbidden_sandbox = make_sandbox(granted_roles=frozenset())
    forbidden = Client(forbidden_sandbox.url).login().call(operation, valid=False, **request)
    assert forbidden.status_code == 403
    text = json.dumps(forbidden.json())
    assert "Access to requested resource is denied." in text
    assert OPERATIONS[operation].role.value in text


# ---------------------------------------------------------------------------------------------
# Login with Amazon and authentication
# ---------------------------------------------------------------------------------------------


def test_lwa_issues_tokens_and_refuses_wrong_credentials(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox(
        lwa_client_id=CLIENT_ID, lwa_client_secret=CLIENT_SECRET, lwa_refresh_token=REFRESH_TOKEN
    )
    client = Client(sandbox.url)
    ok = client.token_response()
    assert ok.status_code == 200
    token = ok.json()
    assert token["access_token"].startswith("Atza|")
    assert token["token_type"] == "bearer"
    assert token["expires_in"] == 3600
    assert token["refresh_token"] == REFRESH_TOKEN

    bad_secret = client.token_response(client_secret="wrong")
    assert bad_secret.status_code == 401
    assert bad_secret.json()["error"] == "invalid_client"
    bad_grant = client.token_response(refresh_token="Atzr|revoked")
    assert bad_grant.status_code == 400
    assert bad_grant.json() == {
        "error": "invalid_grant",
        "error_description": "The request has an invalid grant parameter : refresh_token",
    }
    wrong_type = client.token_response(grant_type="client_credentials")
    assert wrong_type.status_code == 400
    assert wrong_type.json()["error"] == "unsupported_grant_type"
    missing = client.session.post(f"{sandbox.url}/auth/o2/token", data={"grant_type": "x"})
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"


def test_tokens_are_checked_and_expire(make_sandbox: SandboxFactory) -> None:
    client, _ = logged_in_client(make_sandbox, token_ttl_seconds=1)
    assert client.call("getTransactions", params=ALL_TIME).status_code == 200

    for token, message in (
        (None, "missing"),
        ("Atza|forged", "revoked, malformed or invalid"),
    ):
        headers = {"x-amz-access-token": token} if token else {}
        refused = client.call(
            "getTransactions", params=ALL_TIME, headers=headers, authenticated=False
        )
        assert refused.status_code == 401
        error = refused.json()["errors"][0]
        assert error["code"] == "Unauthorized"
        assert message in error["message"]

    time.sleep(1.05)
    expired = client.call("getTransactions", params=ALL_TIME)
    assert expired.status_code == 401
    assert "expired" in expired.json()["errors"][0]["message"]
    assert client.login().call("getTransactions", params=ALL_TIME).status_code == 200


def test_auth_enforcement_can_be_switched_off(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox(enforce_auth=False)
    response = Client(sandbox.url).call("getTransactions", params=ALL_TIME)
    assert response.status_code == 200
    assert sandbox.request_log()[-1].party == "anonymous"


def test_roles_are_enforced_per_operation_and_switchable(make_sandbox: SandboxFactory) -> None:
    client, sandbox = logged_in_client(
        make_sandbox, granted_roles=frozenset({Role.BUSINESS_PURCHASE_RECONCILIATION})
    )
    assert client.call("getTransactions", params=ALL_TIME).status_code == 200
    refused = client.call("getOrdersByOrderDate", params=ALL_ORDERS)
    assert refused.status_code == 403
    error = refused.json()["errors"][0]
    assert error == {
        "code": "Unauthorized",
        "message": "Access to requested resource is denied.",
        "details": error["details"],
    }
    assert "Amazon Business Analytics" in error["details"]

    sandbox.config.granted_roles = None
    assert client.call("getOrdersByOrderDate", params=ALL_ORDERS).status_code == 200


# ---------------------------------------------------------------------------------------------
# Usage plans
# ---------------------------------------------------------------------------------------------


def test_usage_plan_token_bucket_per_party_and_operation(make_sandbox: SandboxFactory) -> None:
    client, sandbox = logged_in_client(
        make_sandbox, usage_plans={"getTransactions": UsagePlan(5.0, 2)}
    )
    first = client.call("getTransactions", params=ALL_TIME)
    assert first.status_code == 200
    assert first.headers["x-amzn-RateLimit-Limit"] == "5.0"
    assert client.call("getTransactions", params=ALL_TIME).status_code == 200
    throttled = client.call("getTransactions", params=ALL_TIME)
    assert throttled.status_code == 429
    assert throttled.json() == {
        "errors": [
            {
                "code": "QuotaExceeded",
                "message": "You exceeded your quota for the requested resource.",
            }
        ]
    }
    # another operation and another party have their own buckets
    assert client.call("getOrdersByOrderDate", params=ALL_ORDERS).status_code == 200
    other = Client(sandbox.url, refresh_token="Atzr|another-customer").login()
    assert other.call("getTransactions", params=ALL_TIME).status_code == 200
    # the bucket refills at the plan's rate
    time.sleep(0.25)
    assert client.call("getTransactions", params=ALL_TIME).status_code == 200

    sandbox.config.enforce_usage_plans = False
    statuses = {client.call("getTransactions", params=ALL_TIME).status_code for _ in range(5)}
    assert statuses == {200}


def test_default_plans_are_amazons(make_sandbox: SandboxFactory, scenario: Scenario) -> None:
    client, _ = logged_in_client(make_sandbox)
    response = client.call("createReport", body=invoice_report(scenario))
    assert response.headers["x-amzn-RateLimit-Limit"] == str(OPERATIONS["createReport"].plan.rate)


# ---------------------------------------------------------------------------------------------
# Request validation
# ---------------------------------------------------------------------------------------------


def test_request_validation_messages(make_sandbox: SandboxFactory) -> None:
    client, _ = logged_in_client(make_sandbox)
    bad_date = client.call(
        "getTransactions",
        params={"feedStartDate": "incorrectFormatDate", "feedEndDate": "2020-08-01T00:00:00"},
        valid=False,
    )
    assert bad_date.status_code == 400
    message = "Input date [incorrectFormatDate] is not in the expected ISO8601 format."
    assert bad_date.json() == {
        "errors": [{"code": "INVALID_REQUEST_PARAMETER", "message": message}]
    }
    missing = client.call(
        "getTransactions", params={"feedEndDate": "2020-08-01T00:00:00Z"}, valid=False
    )
    assert missing.status_code == 400
    assert "feedStartDate" in missing.json()["errors"][0]["message"]
    reversed_window = client.call(
        "getTransactions",
        params={"feedStartDate": "2021-01-01T00:00:00Z", "feedEndDate": "2020-01-01T00:00:00Z"},
    )
    assert reversed_window.status_code == 400


def test_user_email_is_required_for_product_search_and_ordering(
    make_sandbox: SandboxFactory, scenario: Scenario
) -> None:
    client, _ = logged_in_client(make_sandbox)
    refused = client.call(
        "productsRequest",
        path={"productId": an_asin(scenario)},
        params={"productRegion": "US", "locale": "en_US"},
        headers={"x-amz-user-email": ""},
        valid=False,
    )
    assert refused.status_code == 400
    assert "x-amz-user-email" in refused.json()["errors"][0]["message"]
    refused_order = client.call(
        "orderDetails", path={"externalId": "x"}, headers={"x-amz-user-email": ""}, valid=False
    )
    assert refused_order.status_code == 400


def test_unknown_paths_and_bad_content_types(make_sandbox: SandboxFactory) -> None:
    client, sandbox = logged_in_client(make_sandbox)
    missing = client.session.get(f"{sandbox.url}/reconciliation/2021-01-08/nothing")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "NotFound"
    assert missing.headers["x-amzn-RequestId"]
    wrong_type = client.session.post(
        client.url("getInvoiceDetailsByOrderLineItems"),
        data="orderLineItems=1",
        headers={
            "x-amz-access-token": client.token or "",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert wrong_type.status_code == 415
    broken = client.session.post(
        client.url("getInvoiceDetailsByOrderLineItems"),
        data="{not json",
        headers={"x-amz-access-token": client.token or "", "Content-Type": "application/json"},
    )
    assert broken.status_code == 400


def test_keep_alive_serves_several_requests_on_one_connection(
    make_sandbox: SandboxFactory,
) -> None:
    sandbox = make_sandbox(enforce_auth=False)
    parts = urlsplit(sandbox.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        for _ in range(3):
            connection.request("GET", "/_sandbox/health")
            answer = connection.getresponse()
            body = answer.read()
            assert answer.status == 200
            assert int(answer.headers["Content-Length"]) == len(body)
            assert answer.version == 11
            assert not answer.will_close
    finally:
        connection.close()


# ---------------------------------------------------------------------------------------------
# Reconciliation API
# ---------------------------------------------------------------------------------------------


def test_transactions_page_with_the_token_alone_or_with_the_dates(
    make_sandbox: SandboxFactory, scenario: Scenario
) -> None:
    client, _ = logged_in_client(make_sandbox, transactions_page_size=7, enforce_usage_plans=False)
    expected = [t["transactionId"] for t in scenario.transactions]
    for repeat_dates in (False, True):
        seen: list[str] = []
        page = client.call("getTransactions", params=ALL_TIME).json()
        seen += [t["transactionId"] for t in page["transactions"]]
        while "nextPageToken" in page:
            token = page["nextPageToken"]
            assert quote(token, safe="") == token, "tokens are URL-safe"
            params = {"nextPageToken": token, **(ALL_TIME if repeat_dates else {})}
            page = client.call("getTransactions", params=params).json()
            assert len(page["transactions"]) <= 7
            seen += [t["transactionId"] for t in page["transactions"]]
        assert seen == expected

    first = client.call("getTransactions", params=ALL_TIME).json()
    other_window = client.call(
        "getTransactions",
        params={
            "nextPageToken": first["nextPageToken"],
            "feedStartDate": "2024-06-01T00:00:00Z",
            "feedEndDate": ALL_TIME["feedEndDate"],
        },
    )
    assert other_window.status_code == 400
    tampered = client.call("getTransactions", params={"nextPageToken": "eyJvIjo3fQ.forged"})
    assert tampered.status_code == 400


def test_transactions_are_filtered_by_feed_date(
    make_sandbox: SandboxFactory, scenario: Scenario
) -> None:
    client, _ = logged_in_client(make_sandbox)
    middle = scenario.transactions[len(scenario.transactions) // 2]["feedDate"]
    answer = client.call(
        "getTransactions", params={"feedStartDate": middle, "feedEndDate": "2030-01-01T00:00:00Z"}
    ).json()
    assert answer["transactions"]
    assert all(t["feedDate"] >= middle for t in answer["transactions"])
    assert "nextPageToken" not in answer
    empty = client.call(
        "getTransactions",
        params={"feedStartDate": "2001-01-01T00:00:00Z", "feedEndDate": "2001-02-01T00:00:00Z"},
    ).json()
    assert empty == {"transactions": []}


def test_invoice_details_limits_and_unknown_items(
    make_sandbox: SandboxFactory, scenario: Scenario
) -> None:
    client, _ = logged_in_client(make_sandbox, enforce_usage_plans=False)
    known = first_key(scenario)
    unknown = {"orderId": "000-0000000-0000000", "orderLineItemId": "1", "shipmentId": "X"}
    answer = client.call(
        "getInvoiceDetailsByOrderLineItems", body={"orderLineItems": [known, unknown, known]}
    ).json()["invoiceDetailsByOrderLineItems"]
    assert [a["orderLineItem"] for a in answer] == [known], "unknown items are left out"
    assert answer[0]["invoiceDetails"][0]["invoiceNumber"]

    too_many = client.call(
        "getInvoiceDetailsByOrderLineItems", body={"orderLineItems": [known] * 26}
    )
    assert too_many.status_code == 400
    assert "25" in too_many.json()["errors"][0]["message"]
    incomplete = client.call(
        "getInvoiceDetailsByOrderLineItems",
        body={"orderLineItems": [{"orderId": "1", "orderLineItemId": "2"}]},
        valid=False,
    )
    assert incomplete.status_code == 400
    assert "shipmentId" in incomplete.json()["errors"][0]["message"]


def test_payment_details_success_and_error_results(
    make_sandbox: SandboxFactory, scenario: Scenario
) -> None:
    client, _ = logged_in_client(make_sandbox, enforce_usage_plans=False)
    numbers = sorted(scenario.documents)[:24]
    answer = client.call(
        "getBatchInvoicePaymentDetails", body={"invoiceIds": [*numbers, "UNKNOWN-1"]}
    ).json()["invoicePaymentDetailsResults"]
    assert [r["invoiceId"] for r in answer] == [*numbers, "UNKNOWN-1"]
    for result in answer[:-1]:
        assert result["resultType"] == "SUCCESS"
        assert result["paymentDetails"]["status"] in (
            "Closed",
            "Past Due",
            "Issued",
            "Payment Processing",
        )
    assert answer[-1]["resultType"] == "ERROR"
    assert answer[-1]["error"]["code"]
    again = client.call("getBatchInvoicePaymentDetails", body={"invoiceIds": numbers}).json()
    assert again["invoicePaymentDetailsResults"] == answer[:-1], "statuses are deterministic"
    too_many = client.call(
        "getBatchInvoicePaymentDetails", body={"invoiceIds": ["A"] * 26}, valid=False
    )
    assert too_many.status_code == 400


# ---------------------------------------------------------------------------------------------
# Document API
# ---------------------------------------------------------------------------------------------


def test_report_lifecycle_and_document_download(
    make_sandbox: SandboxFactory, scenario: Scenario
) -> None:
    client, _ = logged_in_client(
        make_sandbox, enforce_usage_plans=False, report_processing_seconds=0.4
    )
    number = an_invoice(scenario)
    created = client.call("createReport", body=invoice_report(scenario, number))
    assert created.status_code == 202
    report_id = created.json()["reportId"]

    seen: list[str] = []
    deadline = time.monotonic() + 3
    while not seen or seen[-1] not in ("DONE", "FATAL", "CANCELLED"):
        report = client.call("getReport", path={"reportId": report_id}).json()
        if not seen or seen[-1] != report["processingStatus"]:
            seen.append(report["processingStatus"])
        assert time.monotonic() < deadline
        time.sleep(0.03)
    assert seen == ["IN_QUEUE", "IN_PROGRESS", "DONE"]
    assert report["processingStartTime"] <= report["processingEndTime"]
    assert report["createdTime"] <= report["processingStartTime"]

    document = report_document(client, report)
    assert "compressionAlgorithm" not in document
    query = dict(parse_qsl(urlsplit(document["url"]).query))
    assert query["X-Amz-Expires"] == "300"
    assert {"X-Amz-Date", "X-Amz-Signature"} <= set(query)
    download = requests.get(document["url"], timeout=10)
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.content.startswith(b"%PDF-")
    assert number.encode() in download.content


def test_reports_without_data_fatal_and_cancelled(
    make_sandbox: SandboxFactory, scenario: Scenario
) -> None:
    client, sandbox = logged_in_client(
        make_sandbox, enforce_usage_plans=False, report_processing_seconds=0.1
    )
    no_data = invoice_report(scenario, "NOT-AN-INVOICE")
    report = finished_report(client, no_data)
    assert report["processingStatus"] == "CANCELLED"
    assert "reportDocumentId" not in report

    sandbox.config.fatal_rate = 1.0
    fatal = finished_report(client, invoice_report(scenario))
    assert fatal["processingStatus"] == "FATAL"
    assert "reportDocumentId" not in fatal
    sandbox.config.fatal_rate, sandbox.config.cancelled_rate = 0.0, 1.0
    cancelled = finished_report(client, invoice_report(scenario))
    assert cancelled["processingStatus"] == "CANCELLED"


def test_cancel_only_in_queue(make_sandbox: SandboxFactory, scenario: Scenario) -> None:
    client, _ = logged_in_client(
        make_sandbox, enforce_usage_plans=False, report_processing_seconds=0.2
    )
    queued = client.call("createReport", body=invoice_report(scenario)).json()["reportId"]
    cancel = client.call("cancelReport", path={"reportId": queued})
    assert cancel.status_code == 200
    assert cancel.content == b""
    time.sleep(0.25)
    report = client.call("getReport", path={"reportId": queued}).json()
    assert report["processingStatus"] == "CANCELLED"
    assert "processingStartTime" not in report
    done = client.call("createReport", body=invoice_report(scenario)).json()["reportId"]
    wait_for_report(client, done)
    refused = client.call("cancelReport", path={"reportId": done})
    assert refused.status_code == 400
    error = refused.json()["errors"][0]
    assert error["code"] == "400"
    assert "IN_QUEUE" in error["details"]


def test_create_report_validation(make_sandbox: SandboxFactory, scenario: Scenario) -> None:
    client, _ = logged_in_client(make_sandbox, enforce_usage_plans=False)
    good = invoice_report(scenario)
    cases: list[tuple[dict[str, Any], str]] = [
        ({**good, "reportType": "GET_FLAT_FILE_ORDERS"}, "GET_AB_INVOICE_PDF"),
        ({k: v for k, v in good.items() if k != "marketplaceIds"}, "marketplaceIds"),
        ({k: v for k, v in good.items() if k != "reportOptions"}, "reportOptions"),
        ({**good, "reportOptions": {"documentType": "Invoice"}}, "orderId"),
        ({**good, "reportOptions": {"invoiceId": "X", "documentType": "Receipt"}}, "documentType"),
    ]
    for body, mentioned in cases:
        refused = client.call("createReport", body=body, valid=False)
        assert refused.status_code == 400, body
        error = refused.json()["errors"][0]
        assert (error["code"], error["message"]) == ("400", "Invalid input")
        assert mentioned in error["details"]


def test_get_reports_filters_and_pages(make_sandbox: SandboxFactory, scenario: Scenario) -> None:
    client, sandbox = logged_in_client(
        make_sandbox, enforce_usage_plans=False, report_processing_seconds=0.1
    )
    ids = [
        client.call("createReport", body=invoice_report(scenario)).json()["reportId"]
        for _ in range(5)
    ]
    wait_for_report(client, ids[-1])
    listed: list[str] = []
    page = client.call(
        "getReports", params={"reportTypes": "GET_AB_INVOICE_PDF", "pageSize": "2"}
    ).json()
    listed += [r["reportId"] for r in page["reports"]]
    while "nextToken" in page:
        page = client.call("getReports", params={"nextToken": page["nextToken"]}).json()
        listed += [r["reportId"] for r in page["reports"]]
    assert listed == list(reversed(ids)), "newest first, every report once"

    first = client.call(
        "getReports", params={"reportTypes": "GET_AB_INVOICE_PDF", "pageSize": "2"}
    ).json()
    mixed = client.call(
        "getReports", params={"nextToken": first["nextToken"], "pageSize": "2"}, valid=False
    )
    assert mixed.status_code == 400
    assert "nextToken" in mixed.json()["errors"][0]["details"]
    queued = client.call(
        "getReports",
        params={"reportTypes": "GET_AB_INVOICE_PDF", "processingStatuses": "IN_QUEUE"},
    ).json()
    assert queued["reports"] == []
    neither = client.call("getReports", params={"pageSize": "2"}, valid=False)
    assert neither.status_code == 400

    # reports belong to the party that created them
    stranger = Client(sandbox.url, refresh_token="Atzr|another-customer").login()
    assert stranger.call("getReport", path={"reportId": ids[0]}).status_code == 404


def test_document_urls_expire_and_are_signed(
    make_sandbox: SandboxFactory, scenario: Scenario
) -> None:
    client, _ = logged_in_client(
        make_sandbox,
        enforce_usage_plans=False,
        report_processing_seconds=0.05,
        document_url_ttl_seconds=0.4,
    )
    report = finished_report(client, invoice_report(scenario))
    path = {"reportDocumentId": report["reportDocumentId"]}
    url = client.call("getReportDocument", path=path).json()["url"]
    assert requests.get(url, timeout=10).status_code == 200

    parts = urlsplit(url)
    forged_query = parts.query.replace("X-Amz-Expires=1", "X-Amz-Expires=9")
    forged = requests.get(urlunsplit(parts._replace(query=forged_query)), timeout=10)
    assert forged.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in forged.text
    unsigned = requests.get(urlunsplit(parts._replace(query="")), timeout=10)
    assert unsigned.status_code == 403

    time.sleep(0.45)
    expired = requests.get(url, timeout=10)
    assert expired.status_code == 403
    assert expired.headers["Content-Type"] == "application/xml"
    assert "<Code>AccessDenied</Code>" in expired.text
    assert "<Message>Request has expired</Message>" in expired.text

    fresh = client.call("getReportDocument", path=path).json()["url"]
    assert fresh != url, "every getReportDocument hands out a new URL"
    assert requests.get(fresh, timeout=10).status_code == 200


def test_gzip_documents(make_sandbox: SandboxFactory, scenario: Scenario) -> None:
    client, _ = logged_in_client(
        make_sandbox, enforce_usage_plans=False, report_processing_seconds=0.05, gzip_documents=True
    )
    report = finished_report(client, invoice_report(scenario))
    document = report_document(client, report)
    assert document["compressionAlgorithm"] == "GZIP"
    download = requests.get(document["url"], timeout=10)
    assert download.status_code == 200
    assert "Content-Encoding" not in download.headers, "the client must gunzip itself"
    assert gzip.decompress(download.content).startswith(b"%PDF-")


def test_reports_by_order_line_item(make_sandbox: SandboxFactory, scenario: Scenario) -> None:
    client, _ = logged_in_client(
        make_sandbox, enforce_usage_plans=False, report_processing_seconds=0.05
    )
    body = {
        "reportType": "GET_AB_INVOICE_PDF",
        "marketplaceIds": [MARKETPLACE],
        "reportOptions": first_key(scenario),
    }
    report = finished_report(client, body)
    assert report["processingStatus"] == "DONE"


# ---------------------------------------------------------------------------------------------
# Reporting API
# ---------------------------------------------------------------------------------------------


def test_orders_paging_and_include_flags(make_sandbox: SandboxFactory, scenario: Scenario) -> None:
    client, _ = logged_in_client(make_sandbox, enforce_usage_plans=False, orders_page_size=7)
    params = {**ALL_ORDERS, "includeLineItems": "true"}
    page = client.call("getOrdersByOrderDate", params=params).json()
    orders = list(page["orders"])
    assert page["size"] == len(page["orders"]) == 7
    while page["nextPageToken"]:
        page = client.call(
            "getOrdersByOrderDate", params={"nextPageToken": page["nextPageToken"]}
        ).json()
        assert page["size"] == len(page["orders"])
        orders += page["orders"]
    assert page["nextPageToken"] == "", "the last page has an empty token (the model needs one)"
    assert [o["orderId"] for o in orders] == list(scenario.orders)
    assert all("lineItems" in o and "shipments" not in o and "charges" not in o for o in orders)

    bare = client.call("getOrdersByOrderDate", params=ALL_ORDERS).json()["orders"]
    assert not any({"lineItems", "shipments", "charges"} & set(o) for o in bare)

    order_id = next(iter(scenario.orders))
    full = client.call(
        "getOrdersByOrderId",
        path={"orderId": order_id},
        params={"includeLineItems": "true", "includeShipments": "true", "includeCharges": "true"},
    ).json()
    assert full["size"] == 1
    assert full["orders"][0] == scenario.orders[order_id]
    bad_flag = client.call(
        "getOrdersByOrderId",
        path={"orderId": order_id},
        params={"includeCharges": "yes"},
        valid=False,
    )
    assert bad_flag.status_code == 400


# ---------------------------------------------------------------------------------------------
# Product Search, Ordering, User Management
# ---------------------------------------------------------------------------------------------


def test_product_search_uses_the_scenarios_products(
    make_sandbox: SandboxFactory, scenario: Scenario
) -> None:
    client, _ = logged_in_client(make_sandbox, enforce_usage_plans=False)
    line = scenario.transactions[0]["transactionLineItems"][0]
    product = client.call(
        "productsRequest",
        path={"productId": line["asin"]},
        params={"productRegion": "US", "locale": "en_US", "facets": "OFFERS"},
    ).json()
    assert product["title"] == line["productTitle"]
    offer = product["includedDataTypes"]["OFFERS"][0]
    assert Decimal(str(offer["price"]["value"]["amount"])) == Decimal(line["unitPrice"]["amount"])
    found = client.call(
        "searchProductsRequest",
        params={"productRegion": "US", "locale": "en_US", "keywords": line["asin"]},
    ).json()
    assert [p["asin"] for p in found["products"]] == [line["asin"]]


def test_place_order_and_order_details(make_sandbox: SandboxFactory, scenario: Scenario) -> None:
    client, _ = logged_in_client(make_sandbox, enforce_usage_plans=False)
    asin = an_asin(scenario)
    trial = client.call("placeOrder", body=place_order_body(asin, "po-trial", trial=True)).json()
    assert trial["lineItems"][0]["acceptedItems"][0]["quantity"] == 2
    assert not any(
        a["acceptanceArtifactType"] == "OrderIdentifier" for a in trial["acceptanceArtifacts"]
    )
    assert client.call("orderDetails", path={"externalId": "po-trial"}).status_code == 404

    placed = client.call("placeOrder", body=place_order_body(asin, "po-42")).json()
    identifiers = [
        a["identifier"]
        for a in placed["acceptanceArtifacts"]
        if a["acceptanceArtifactType"] == "OrderIdentifier"
    ]
    assert len(identifiers) == 1
    details = client.call("orderDetails", path={"externalId": "po-42"}).json()
    assert details == placed
    again = client.call("placeOrder", body=place_order_body(asin, "po-42")).json()
    assert again == placed, "placing the same externalId again answers the same order"

    unknown = client.call("placeOrder", body=place_order_body("B000NOTREAL", "po-43")).json()
    assert unknown["lineItems"][0]["rejectedItems"]
    assert unknown["acceptanceArtifacts"] == []


def test_create_business_user(make_sandbox: SandboxFactory) -> None:
    client, _ = logged_in_client(make_sandbox, enforce_usage_plans=False)
    body = {
        "accountHolder": {
            "email": "ana@northwind.example",
            "givenName": "Ana",
            "familyName": "Silva",
        },
        "groupId": {"idType": "GroupId", "id": "G-1"},
        "role": "Requisitioner",
        "region": "US",
    }
    created = client.call("createBusinessUserAccount", body=body)
    assert created.status_code == 201
    assert created.json() == {}
    duplicate = client.call("createBusinessUserAccount", body=body)
    assert duplicate.status_code == 400


# ---------------------------------------------------------------------------------------------
# The request log and the control endpoints
# ---------------------------------------------------------------------------------------------


def test_request_log_over_http_without_secrets(
    make_sandbox: SandboxFactory, scenario: Scenario
) -> None:
    client, sandbox = logged_in_client(
        make_sandbox, enforce_usage_plans=False, report_processing_seconds=0.05
    )
    client.call("getTransactions", params=ALL_TIME)
    client.call("getOrdersByOrderDate", params={"startDate": "bad"}, valid=False)
    client.call("getTransactions", params=ALL_TIME, authenticated=False)
    report = finished_report(client, invoice_report(scenario))
    url = report_document(client, report)["url"]
    requests.get(url, timeout=10)

    log = requests.get(f"{sandbox.url}/_sandbox/requests", timeout=10).json()["requests"]
    operations = [entry["operation"] for entry in log]
    assert operations[0] == LWA_OPERATION
    assert operations[1:4] == ["getTransactions", "getOrdersByOrderDate", "getTransactions"]
    assert operations[-1] == DOWNLOAD_OPERATION
    assert [entry["status"] for entry in log[1:4]] == [200, 400, 401]
    assert log[1]["query"] == ALL_TIME
    assert log[1]["party"] and log[1]["party"].startswith(CLIENT_ID)
    assert log[3]["party"] is None
    create = next(entry for entry in log if entry["operation"] == "createReport")
    assert create["body"]["reportType"] == "GET_AB_INVOICE_PDF"
    assert create["status"] == 202

    text = json.dumps(log)
    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    for secret in (client.token, REFRESH_TOKEN, CLIENT_SECRET, signature):
        assert secret and secret not in text

    only = requests.get(
        f"{sandbox.url}/_sandbox/requests", params={"operation": "getTransactions"}, timeout=10
    ).json()["requests"]
    assert [e["status"] for e in only] == [200, 401]
    assert [e.operation for e in sandbox.request_log("getTransactions")] == ["getTransactions"] * 2

    cleared = requests.post(f"{sandbox.url}/_sandbox/reset-log", timeout=10).json()
    assert cleared == {"cleared": len(log)}
    assert requests.get(f"{sandbox.url}/_sandbox/requests", timeout=10).json() == {"requests": []}
    health = requests.get(f"{sandbox.url}/_sandbox/health", timeout=10).json()
    assert health["status"] == "ok"
    assert health["scenario"]["transactions"] == len(scenario.transactions)
    assert sandbox.request_log() == [], "control endpoints are not logged"


def test_server_lifecycle(scenario: Scenario) -> None:
    server = SandboxServer(scenario, SandboxConfig(enforce_auth=False))
    with pytest.raises(RuntimeError):
        _ = server.url
    with server as running:
        url = running.url
        assert url.startswith("http://127.0.0.1:")
        assert requests.get(f"{url}/_sandbox/health", timeout=5).status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/_sandbox/health", timeout=2)


def test_serve_prints_the_settings_and_stops(
    tmp_path: Any, scenario: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario.to_json()), encoding="utf-8")
    stop = threading.Event()
    thread = threading.Thread(
        target=serve,
        args=(path, "127.0.0.1", 0, "drop=0.5", 3),
        kwargs={"stop_event": stop, "granted_roles": "Business Purchase Reconciliation"},
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + 5
    output = ""
    while "ABRECON_LWA_ENDPOINT=" not in output:
        assert time.monotonic() < deadline, output
        time.sleep(0.02)
        output += capsys.readouterr().out
    lines = dict(line.split("=", 1) for line in output.splitlines() if line.startswith("ABRECON_"))
    base = lines["ABRECON_API_ENDPOINT"]
    assert lines["ABRECON_LWA_ENDPOINT"] == f"{base}/auth/o2/token"
    assert "drop=0.5" in output
    health = requests.get(f"{base}/_sandbox/health", timeout=5).json()
    assert health["faults"] == "drop=0.5"
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_serve_rejects_unknown_settings() -> None:
    with pytest.raises(TypeError, match="report_processing_seconds"):
        build_config(None, 0, report_seconds=1)
    with pytest.raises(ValueError, match="teapot"):
        build_config("teapot=1", 0)
    config = build_config("429=0.1", 5, granted_roles="Amazon Business Analytics")
    assert config.granted_roles == frozenset({Role.AMAZON_BUSINESS_ANALYTICS})
    assert config.seed == 5
