"""Product Search API (2020-08-26): the Amazon Business catalog as a given business user sees it.

abrecon uses it only to describe what was bought (titles, categories, offers by ASIN); it is not
needed to reconcile. Every operation acts for a named business user (prices, offers and buying
restrictions depend on the user's group), hence the ``x-amz-user-email`` header: pass
``user_email`` or configure ``ABRECON_USER_EMAIL``. Role: *Business Product Catalog*.

Each method maps one operation; the required parameters are positional, the optional ones are
keywords named as Amazon names them, in snake_case. List parameters are sent comma-separated
(``collectionFormat: csv`` in Amazon's model). The answers are returned as parsed JSON objects:
abrecon consumes only a few of their many fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic.alias_generators import to_camel

from connectors.amazon_business.models import parse_json_object
from connectors.amazon_business.transport import Transport

#: Amazon's limit on ASINs in getProductsByAsins and on offer ids in getOffersByOfferIds.
MAX_IDS_PER_CALL = 30


def query_value(value: object) -> str:
    """A query-string value as Amazon expects it: csv lists, lower-case booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Iterable):
        return ",".join(query_value(v) for v in value)
    raise TypeError(f"cannot send {type(value).__name__} as a query parameter")


def _given(params: Mapping[str, object]) -> dict[str, Any]:
    """snake_case keyword arguments under their camelCase names, leaving out the ``None`` ones."""
    return {to_camel(name): value for name, value in params.items() if value is not None}


def build_query(params: Mapping[str, object]) -> dict[str, str]:
    """snake_case keyword arguments as a camelCase query, leaving out the ``None`` ones."""
    return {name: query_value(value) for name, value in _given(params).items()}


def _ids(name: str, values: Iterable[str]) -> list[str]:
    items = list(values)
    if not 1 <= len(items) <= MAX_IDS_PER_CALL:
        raise ValueError(f"{name} takes 1 to {MAX_IDS_PER_CALL} ids, not {len(items)}")
    return items


class ProductSearchClient:
    """The Product Search API over a :class:`Transport` (role: Business Product Catalog)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def _get(self, operation: str, arguments: Mapping[str, Any], *path: str) -> dict[str, Any]:
        """A GET of the calling method's ``arguments`` (its ``locals()``, taken first thing).

        ``user_email`` goes into the header, the parameters named in ``path`` into the URL and
        every other one but ``self`` into the query.
        """
        params = dict(arguments)
        del params["self"]
        user_email = params.pop("user_email")
        path_params = {to_camel(name): params.pop(name) for name in path}
        return self._send(
            operation,
            query=build_query(params),
            path_params=path_params or None,
            user_email=user_email,
        )

    def _send(
        self,
        operation: str,
        *,
        query: dict[str, str],
        user_email: str | None,
        path_params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        response = self.transport.call(
            operation, path_params=path_params, query=query, body=body, user_email=user_email
        )
        return parse_json_object(
            response.body,
            operation=operation,
            status=response.status,
            request_id=response.request_id,
        )

    def search_products(
        self,
        product_region: str,
        locale: str,
        *,
        keywords: str | None = None,
        user_email: str | None = None,
        shipping_region: str | None = None,
        shipping_postal_code: str | None = None,
        facets: Iterable[str] | None = None,
        page_number: int | None = None,
        page_size: int | None = None,
        group_tag: str | None = None,
        category: str | None = None,
        sub_category: str | None = None,
        availability: str | None = None,
        delivery_day: str | None = None,
        eligible_for_free_shipping: str | None = None,
        prime_eligible: str | None = None,
        upc: str | None = None,
        isbn: str | None = None,
        sku: str | None = None,
        ean: str | None = None,
        part_number: str | None = None,
        oem_part_number: str | None = None,
        search_refinements: Iterable[str] | None = None,
        product_filters: Iterable[str] | None = None,
        inclusions_for_products: Iterable[str] | None = None,
        inclusions_for_offers: Iterable[str] | None = None,
        sort_key: str | None = None,
        min_price: int | None = None,
        max_price: int | None = None,
    ) -> dict[str, Any]:
        """searchProductsRequest: search the catalog by keywords or a product identifier.

        ``product_region`` is the store (``"US"``, ``"DE"``, ...) and ``locale`` an IETF tag
        (``"en_US"``). Pages are zero-based; ``page_size`` is at most 24 without a privilege.
        """
        return self._get("searchProductsRequest", locals())

    def get_product(
        self,
        product_id: str,
        product_region: str,
        locale: str,
        *,
        user_email: str | None = None,
        shipping_region: str | None = None,
        shipping_postal_code: str | None = None,
        quantity: int | None = None,
        facets: Iterable[str] | None = None,
        inclusions_for_products: Iterable[str] | None = None,
        inclusions_for_offers: Iterable[str] | None = None,
        group_tag: str | None = None,
    ) -> dict[str, Any]:
        """productsRequest: one product by ASIN, with offers and images if ``facets`` ask."""
        return self._get("productsRequest", locals(), "product_id")

    def search_offers(
        self,
        product_id: str,
        product_region: str,
        locale: str,
        *,
        user_email: str | None = None,
        shipping_region: str | None = None,
        shipping_postal_code: str | None = None,
        page_number: int | None = None,
        page_size: int | None = None,
        group_tag: str | None = None,
        filter_ids: Iterable[str] | None = None,
        quantity: int | None = None,
        inclusions_for_offers: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """searchOffersRequest: the offers for one ASIN, page by page."""
        return self._get("searchOffersRequest", locals(), "product_id")

    def get_products_by_asins(
        self,
        product_ids: Iterable[str],
        product_region: str,
        locale: str,
        *,
        user_email: str | None = None,
        shipping_region: str | None = None,
        shipping_postal_code: str | None = None,
        quantity: int | None = None,
        facets: Iterable[str] | None = None,
        inclusions_for_products: Iterable[str] | None = None,
        inclusions_for_offers: Iterable[str] | None = None,
        group_tag: str | None = None,
    ) -> dict[str, Any]:
        """getProductsByAsins: up to 30 products in one call."""
        body = {
            "productIds": _ids("product_ids", product_ids),
            "productRegion": product_region,
            "locale": locale,
            **_given(
                {
                    "shipping_region": shipping_region,
                    "shipping_postal_code": shipping_postal_code,
                    "quantity": quantity,
                    "facets": None if facets is None else list(facets),
                }
            ),
        }
        query = build_query(
            {
                "inclusions_for_products": inclusions_for_products,
                "inclusions_for_offers": inclusions_for_offers,
                "group_tag": group_tag,
            }
        )
        return self._send("getProductsByAsins", query=query, body=body, user_email=user_email)

    def get_offers_by_offer_ids(
        self,
        offer_ids: Iterable[str],
        product_region: str,
        locale: str,
        inclusions_for_offers: Iterable[str],
        *,
        user_email: str | None = None,
        shipping_region: str | None = None,
        shipping_postal_code: str | None = None,
        group_tag: str | None = None,
    ) -> dict[str, Any]:
        """getOffersByOfferIds: up to 30 offers by id; ``inclusions_for_offers`` is required."""
        inclusions = list(inclusions_for_offers)
        if not inclusions:
            raise ValueError("getOffersByOfferIds requires at least one inclusion for offers")
        body = {
            "offersByOfferIdsRequest": [
                {"offerId": offer_id} for offer_id in _ids("offer_ids", offer_ids)
            ],
            "productRegion": product_region,
            "locale": locale,
            **_given(
                {"shipping_region": shipping_region, "shipping_postal_code": shipping_postal_code}
            ),
        }
        query = build_query({"inclusions_for_offers": inclusions, "group_tag": group_tag})
        return self._send("getOffersByOfferIds", query=query, body=body, user_email=user_email)
