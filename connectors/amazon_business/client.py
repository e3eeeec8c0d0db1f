"""One entry point to every Amazon Business API abrecon talks to.

:class:`AmazonBusinessClient` bundles a client per API over a single :class:`Transport`, so they
share one access-token cache, one set of usage-plan buckets and one connection pool::

    client = AmazonBusinessClient.from_config(config, redis=redis)
    for transaction in client.reconciliation.iter_transactions(start, end):
        ...

Each call still checks its own role: a client for an API whose role was not granted exists, but
its calls raise :class:`~.errors.RoleNotGrantedError` without sending anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.amazon_business.documents import DocumentClient
from connectors.amazon_business.factory import build_transport
from connectors.amazon_business.ordering import OrderingClient
from connectors.amazon_business.product_search import ProductSearchClient
from connectors.amazon_business.reconciliation import ReconciliationClient
from connectors.amazon_business.reporting import ReportingClient
from connectors.amazon_business.transport import ConnectionConfig, Transport
from connectors.amazon_business.user_management import UserManagementClient

if TYPE_CHECKING:
    from redis import Redis


class AmazonBusinessClient:
    """The API clients of one Amazon Business connection (one party, one region)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.reconciliation = ReconciliationClient(transport)
        self.documents = DocumentClient(transport)
        self.reporting = ReportingClient(transport)
        self.product_search = ProductSearchClient(transport)
        self.ordering = OrderingClient(transport)
        self.user_management = UserManagementClient(transport)

    @classmethod
    def from_config(
        cls,
        config: ConnectionConfig,
        *,
        redis: Redis | None = None,
        blocking: bool = False,
    ) -> AmazonBusinessClient:
        """A client for ``config``; token cache and buckets in ``redis`` when given.

        ``blocking=True`` (the CLI) lets the transport wait out throttling and retry; a worker
        task leaves it off and retries with the :class:`~.errors.RetryableError`'s countdown.
        """
        return cls(build_transport(config, redis=redis, blocking=blocking))

    def __repr__(self) -> str:
        return f"AmazonBusinessClient({self.transport!r})"
