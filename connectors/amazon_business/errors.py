"""The typed errors of the Amazon Business connectors.

Every error carries what a person or a task needs to act on it: the HTTP status, Amazon's error
code and message, and the ``x-amzn-RequestId`` to quote in a support case. Errors that a later
attempt may cure (throttling, 5xx, a dropped connection) are :class:`RetryableError` and carry a
suggested wait in seconds, so a Celery task can ``retry(countdown=...)`` instead of sleeping.

No error text ever contains an access token, a client secret, a refresh token or a presigned
URL's signature: URLs are shown without their query string (:func:`redact_url`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """``url`` without its query and fragment, where presigned signatures live."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    redacted = urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, "", ""))
    return redacted + ("?<redacted>" if parts.query else "")


class AmazonBusinessError(Exception):
    """Base of every error the connectors raise."""


class ConfigurationError(AmazonBusinessError):
    """The connectors were set up wrongly (missing credentials, bad endpoint)."""


class RoleNotGrantedError(AmazonBusinessError):
    """The operation needs a role the application was not granted; nothing was sent."""

    def __init__(self, operation: str, role: str, how_to_request: str) -> None:
        self.operation = operation
        self.role = role
        super().__init__(
            f"{operation} needs the Amazon Business role '{role}', which this application "
            f"was not granted; {how_to_request}"
        )


class AuthError(AmazonBusinessError):
    """Login with Amazon refused or failed to issue an access token."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        self.status = status
        self.code = code
        super().__init__(message)


class ApiError(AmazonBusinessError):
    """Amazon answered an operation with an error status."""

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        details: Any = None,
    ) -> None:
        self.operation = operation
        self.status = status
        self.code = code
        self.amazon_message = message
        self.request_id = request_id
        self.details = details
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f"{self.operation}: " if self.operation else ""
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        code = f" {self.code}" if self.code else ""
        rid = f" (x-amzn-RequestId {self.request_id})" if self.request_id else ""
        # The Document API says only "Invalid input" and puts the reason in details.
        details = f" [{self.details}]" if isinstance(self.details, str) and self.details else ""
        return f"{where}{status}{code}: {self.amazon_message}{details}{rid}"


class BadRequestError(ApiError):
    """400: a parameter is missing or invalid."""


class UnauthorizedError(ApiError):
    """401: the access token is missing, invalid or expired."""


class ForbiddenError(ApiError):
    """403: access denied (a role not granted, an expired token, a bad signature)."""


class NotFoundError(ApiError):
    """404: no such resource."""


class RequestTooLargeError(ApiError):
    """413: the request body is too large."""


class UnsupportedMediaTypeError(ApiError):
    """415: the request's Content-Type was not accepted."""


class MalformedResponseError(ApiError):
    """A 2xx answer whose body is not what Amazon's model describes."""


class RetryableError(ApiError):
    """An error a later attempt may cure; ``retry_after`` is the suggested wait in seconds."""

    def __init__(self, message: str, *, retry_after: float = 1.0, **kwargs: Any) -> None:
        self.retry_after = max(0.0, float(retry_after))
        super().__init__(message, **kwargs)


class ThrottledError(RetryableError):
    """429: the usage plan's bucket was empty."""


class ServerError(RetryableError):
    """500/502: Amazon failed internally."""


class ServiceUnavailableError(RetryableError):
    """503: overload or maintenance."""


class GatewayTimeoutError(RetryableError):
    """504: a gateway timed out."""


class TransportError(RetryableError):
    """No complete answer: connection refused or dropped, timeout, truncated body."""


class RateLimitWaitError(RetryableError):
    """The shared token bucket has no token now; ``retry_after`` says when one will be there."""


class DownloadError(AmazonBusinessError):
    """A report document could not be downloaded safely."""


class DocumentUrlExpiredError(DownloadError):
    """The presigned URL has expired: ask getReportDocument for a new one."""


class DownloadTooLargeError(DownloadError):
    """The document (after decompression) exceeds the configured size cap."""


class DisallowedHostError(DownloadError):
    """The document URL points at a host outside the download allow-list."""


STATUS_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    413: RequestTooLargeError,
    415: UnsupportedMediaTypeError,
    429: ThrottledError,
    500: ServerError,
    502: ServerError,
    503: ServiceUnavailableError,
    504: GatewayTimeoutError,
}


def error_class_for_status(status: int) -> type[ApiError]:
    """The error class for an HTTP status (unknown 5xx are server errors)."""
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    return ServerError if status >= 500 else ApiError


def status_error(
    status: int,
    message: str,
    *,
    operation: str | None = None,
    code: str | None = None,
    request_id: str | None = None,
    details: Any = None,
    retry_after: float = 2.0,
) -> ApiError:
    """The typed error for an answer with ``status`` (``retry_after`` used if retryable)."""
    cls = error_class_for_status(status)
    common: dict[str, Any] = dict(
        operation=operation, status=status, code=code, request_id=request_id, details=details
    )
    if issubclass(cls, RetryableError):
        return cls(message, retry_after=retry_after, **common)
    return cls(message, **common)
