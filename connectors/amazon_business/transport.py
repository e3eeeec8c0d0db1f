"""The HTTP transport every Amazon Business client goes through.

One call of :meth:`Transport.call` does, in order: check that the operation's role was granted
(else :class:`RoleNotGrantedError`, nothing sent); reserve a token in the shared usage-plan bucket;
attach an LWA access token and the headers the API needs; send with connect and read timeouts;
refresh the token and try once more after a 401; lower the bucket's rate when
``x-amzn-RateLimit-Limit`` reports a smaller plan; and turn an error status into a typed error
that carries status, Amazon's code and message, and ``x-amzn-RequestId``.

Connection errors (nothing reached Amazon) are retried by urllib3. Throttling, 5xx, dropped
connections and truncated bodies surface as :class:`RetryableError` with a suggested wait, so a
Celery task retries with a countdown instead of sleeping. With ``blocking=True`` (the CLI) the
transport itself waits and retries them, up to ``blocking_max_wait`` seconds in all.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import logging
import os
import random
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from connectors.amazon_business.auth import LwaAuth
from connectors.amazon_business.errors import (
    DisallowedHostError,
    DocumentUrlExpiredError,
    DownloadError,
    DownloadTooLargeError,
    MalformedResponseError,
    RateLimitWaitError,
    RetryableError,
    RoleNotGrantedError,
    TransportError,
    redact_url,
    status_error,
)
from connectors.amazon_business.operations import Operation, UsagePlan, operation
from connectors.amazon_business.ratelimit import RateLimiter
from connectors.amazon_business.redaction import install_log_redaction
from connectors.amazon_business.regions import Region
from connectors.amazon_business.roles import HOW_TO_REQUEST, Role

log = logging.getLogger(__name__)
install_log_redaction()

USER_AGENT = "abrecon/0.1 (Language=Python; +https://github.com/abrecon/abrecon)"
DEFAULT_DOWNLOAD_HOSTS: tuple[str, ...] = ("*.amazonaws.com", "*.amazon.com")


@dataclass(frozen=True)
class ConnectionConfig:
    """What the connectors need to reach Amazon; built from the settings by the worker."""

    region: Region = Region.NA
    api_base_url: str = "https://na.business-api.amazon.com"
    lwa_token_url: str = "https://api.amazon.com/auth/o2/token"
    client_id: str = ""
    client_secret: SecretStr = field(default_factory=lambda: SecretStr(""))
    refresh_token: SecretStr = field(default_factory=lambda: SecretStr(""))
    roles: frozenset[Role] = frozenset({Role.BUSINESS_PURCHASE_RECONCILIATION})
    marketplace_id: str = "ATVPDKIKX0DER"
    user_email: str | None = None
    party: str = "default"
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    connection_retries: int = 3
    usage_plans: Mapping[str, UsagePlan] = field(default_factory=dict)
    rate_limiting: bool = True
    download_max_bytes: int = 50 * 1024 * 1024
    download_hosts: tuple[str, ...] = ()
    #: Longest wait for a rate-limit token a task sleeps through before asking for a retry.
    max_inline_wait: float = 2.0
    #: Longest total wait the blocking mode (the CLI) spends on waits and retries of one call.
    blocking_max_wait: float = 300.0

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)

    def allowed_download_hosts(self) -> tuple[str, ...]:
        """Amazon's document hosts, the configured extras, and the API endpoint's own host."""
        own = urlsplit(self.api_base_url).hostname or ""
        return (*DEFAULT_DOWNLOAD_HOSTS, *self.download_hosts, own)


_sessions: dict[tuple[int, int], requests.Session] = {}
_sessions_lock = threading.Lock()


def shared_session(connection_retries: int = 3) -> requests.Session:
    """The process's requests Session (one per process, made anew after a fork).

    urllib3 retries connection errors (the request never reached the server) for every
    method, and read errors only for GET and DELETE: a POST such as createReport is never sent
    twice behind the caller's back.
    """
    key = (os.getpid(), connection_retries)
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            retry = Retry(
                total=connection_retries,
                connect=connection_retries,
                read=connection_retries,
                status=0,
                other=0,
                allowed_methods=frozenset({"GET", "DELETE", "HEAD"}),
                backoff_factor=0.3,
                backoff_jitter=0.3,
                raise_on_status=False,
            )
            session = requests.Session()
            adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=16)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            session.headers["User-Agent"] = USER_AGENT
            _sessions[key] = session
        return session


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """A successful answer: status, parsed JSON body and the headers worth keeping."""

    status: int
    body: Any
    request_id: str | None
    rate_limit: float | None


def _request_id(headers: Mapping[str, str]) -> str | None:
    # requests' headers are case-insensitive; Amazon spells it two ways.
    return headers.get("x-amzn-RequestId") or headers.get("x-amzn-requestid")


def _rate_limit(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("x-amzn-RateLimit-Limit")
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Retry-After")
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


def _amazon_error(body: Any) -> tuple[str | None, str | None, Any]:
    """Amazon's ``ErrorList``: the first error's code, message and details."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            return (
                str(first.get("code")) if first.get("code") is not None else None,
                str(first.get("message")) if first.get("message") is not None else None,
                first.get("details"),
            )
    return None, None, None


def suggested_wait(status: int, plan: UsagePlan, retry_after: float | None) -> float:
    """How long to wait before trying again after ``status``.

    A Retry-After header wins; a 429 waits for one token of the plan to refill; a 5xx waits a
    couple of seconds.
    """
    if retry_after is not None:
        return retry_after
    if status == 429:
        return max(1.0, 1.0 / plan.rate)
    return 2.0


def backoff_wait(attempt: int, suggested: float, cap: float = 60.0) -> float:
    """The blocking mode's wait before attempt ``attempt`` (1-based): growing, with jitter."""
    grown = suggested * (1.5 ** (attempt - 1))
    return float(min(cap, grown) * (1.0 + random.uniform(0.0, 0.25)))


class Transport:
    """Sends Amazon Business operations; see the module docstring for what one call does."""

    def __init__(
        self,
        config: ConnectionConfig,
        *,
        auth: LwaAuth,
        limiter: RateLimiter,
        session: requests.Session | None = None,
        blocking: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.auth = auth
        self.limiter = limiter
        self.session = session or shared_session(config.connection_retries)
        self.blocking = blocking
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"Transport(api={self.config.api_base_url!r}, blocking={self.blocking})"

    def check_role(self, op: Operation) -> None:
        """Raise :class:`RoleNotGrantedError` when ``op``'s role was not granted."""
        if op.role not in self.config.roles:
            raise RoleNotGrantedError(op.name, op.role.value, HOW_TO_REQUEST)

    def call(
        self,
        operation_name: str,
        *,
        path_params: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        user_email: str | None = None,
    ) -> ApiResponse:
        """Send one operation and return its answer, or raise a typed error."""
        op = operation(operation_name)
        self.check_role(op)
        if not self.blocking:
            return self._send(op, path_params, query, body, user_email, self.config.max_inline_wait)
        deadline = time.monotonic() + self.config.blocking_max_wait
        attempt = 0
        while True:
            attempt += 1
            remaining = max(0.0, deadline - time.monotonic())
            try:
                return self._send(op, path_params, query, body, user_email, remaining)
            except RetryableError as exc:
                wait = (
                    exc.retry_after
                    if isinstance(exc, RateLimitWaitError)
                    else backoff_wait(attempt, exc.retry_after)
                )
                if time.monotonic() + wait > deadline:
                    raise
                log.info("%s: %s; retrying in %.1f s", op.name, type(exc).__name__, wait)
                self._sleep(wait)

    def _url(self, op: Operation, path_params: Mapping[str, str] | None) -> str:
        path = op.path
        for name, value in (path_params or {}).items():
            path = path.replace("{" + name + "}", quote(str(value), safe=""))
        if "{" in path:
            raise ValueError(f"{op.name}: missing path parameter in {op.path}")
        return self.config.api_base_url + path

    def _acquire(self, op: Operation, max_wait: float) -> None:
        reservation = self.limiter.reserve(op.name, max_wait)
        if not reservation.granted:
            raise RateLimitWaitError(
                "the shared usage-plan bucket is empty",
                operation=op.name,
                retry_after=reservation.wait,
            )
        if reservation.wait > 0:
            self._sleep(reservation.wait)

    def _send(
        self,
        op: Operation,
        path_params: Mapping[str, str] | None,
        query: Mapping[str, str] | None,
        body: Any,
        user_email: str | None,
        max_wait: float,
    ) -> ApiResponse:
        url = self._url(op, path_params)
        headers = {"accept": "application/json"}
        if op.needs_user_email:
            email = user_email or self.config.user_email
            if not email:
                raise ValueError(f"{op.name} acts for a business user: set ABRECON_USER_EMAIL")
            headers["x-amz-user-email"] = email
        data = None
        if body is not None:
            headers["content-type"] = "application/json"
            data = json.dumps(body, separators=(",", ":"))
        self._acquire(op, max_wait)
        for attempt in (1, 2):
            token = self.auth.access_token()
            headers["x-amz-access-token"] = token
            started = time.monotonic()
            try:
                response = self.session.request(
                    op.method,
                    url,
                    params=query,
                    data=data,
                    headers=headers,
                    timeout=self.config.timeout,
                )
                raw = response.content  # reads the whole body: a truncated one raises here
            except requests.RequestException as exc:
                raise TransportError(
                    f"no complete answer ({describe_transport_failure(exc)})",
                    operation=op.name,
                    retry_after=2.0,
                ) from None
            request_id = _request_id(response.headers)
            log.debug(
                "%s %s -> %s in %.0f ms (x-amzn-RequestId %s)",
                op.method,
                op.path,
                response.status_code,
                (time.monotonic() - started) * 1000,
                request_id,
            )
            if response.status_code == 401 and attempt == 1:
                self.auth.invalidate(token)
                continue
            return self._parse(op, response, raw, request_id)
        raise AssertionError("unreachable")  # pragma: no cover

    def _parse(
        self, op: Operation, response: requests.Response, raw: bytes, request_id: str | None
    ) -> ApiResponse:
        status = response.status_code
        parsed: Any = None
        body_ok = True
        if raw.strip():
            try:
                parsed = json.loads(raw, parse_float=Decimal)
            except ValueError:
                body_ok = False
        rate = _rate_limit(response.headers)
        if rate is not None:
            self.limiter.report_limit(op.name, rate)
        if 200 <= status < 300:
            if not body_ok:
                raise MalformedResponseError(
                    "the answer is not JSON",
                    operation=op.name,
                    status=status,
                    request_id=request_id,
                )
            return ApiResponse(status, parsed, request_id, rate)
        code, message, details = _amazon_error(parsed)
        raise status_error(
            status,
            message or response.reason or "error",
            operation=op.name,
            code=code,
            request_id=request_id,
            details=details,
            retry_after=suggested_wait(
                status,
                self.config.usage_plans.get(op.name, op.plan),
                _retry_after(response.headers),
            ),
        )

    def download(self, url: str, *, compression: str | None = None) -> bytes:
        """Fetch a report document from its presigned URL, within the size cap.

        The URL must point at an allowed host; the body is gunzipped when ``compression`` is
        ``"GZIP"``. An expired URL raises :class:`DocumentUrlExpiredError`: ask
        getReportDocument for a new one.
        """
        parts = urlsplit(url)
        host = parts.hostname or ""
        if not any(
            fnmatch.fnmatch(host, pattern) for pattern in self.config.allowed_download_hosts()
        ):
            raise DisallowedHostError(f"document host {host!r} is not in the download allow-list")
        if (
            parts.scheme != "https"
            and not _is_local(host)
            and host != urlsplit(self.config.api_base_url).hostname
        ):
            raise DisallowedHostError(f"document URL {redact_url(url)} is not https")
        cap = self.config.download_max_bytes
        try:
            with self.session.get(url, timeout=self.config.timeout, stream=True) as response:
                if response.status_code != 200:
                    text = response.text[:2000]
                    if response.status_code == 403 and "expired" in text.lower():
                        raise DocumentUrlExpiredError(
                            f"the document URL {redact_url(url)} has expired"
                        )
                    raise status_error(
                        response.status_code,
                        f"document download failed: {text[:200]!r}",
                        operation="download",
                        request_id=_request_id(response.headers),
                    )
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > cap:
                    raise DownloadTooLargeError(
                        f"the document is {declared} bytes; the cap is {cap}"
                    )
                raw = bytearray()
                for chunk in response.iter_content(64 * 1024):
                    raw.extend(chunk)
                    if len(raw) > cap:
                        raise DownloadTooLargeError(f"the document exceeds the cap of {cap} bytes")
        except requests.RequestException as exc:
            raise TransportError(
                f"document download broke off ({describe_transport_failure(exc)})",
                operation="download",
                retry_after=2.0,
            ) from None
        if compression is None:
            return bytes(raw)
        if compression.upper() != "GZIP":
            raise DownloadError(f"unknown compressionAlgorithm {compression!r}")
        return gunzip_capped(bytes(raw), cap)


def describe_transport_failure(exc: requests.RequestException) -> str:
    """What went wrong on the wire, in words that never quote the URL (it may be presigned)."""
    text = str(exc).lower()
    if isinstance(exc, requests.Timeout) or "timed out" in text:
        return "timed out"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError) or "incompleteread" in text:
        return "the body was cut short"
    if "remotedisconnected" in text or "connection aborted" in text or "reset" in text:
        return "the connection was dropped"
    if "refused" in text:
        return "connection refused"
    return type(exc).__name__


def gunzip_capped(data: bytes, cap: int) -> bytes:
    """Decompress gzip ``data``, refusing more than ``cap`` bytes of output (a gzip bomb)."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    try:
        chunk = decompressor.decompress(data, cap + 1)
        out.extend(chunk)
        if len(out) > cap or decompressor.unconsumed_tail:
            raise DownloadTooLargeError(f"the document inflates beyond the cap of {cap} bytes")
        out.extend(decompressor.flush())
    except zlib.error as exc:
        raise DownloadError(f"the document is not valid gzip: {exc}") from None
    if not decompressor.eof:
        raise DownloadError("the gzip document is truncated")
    if len(out) > cap:
        raise DownloadTooLargeError(f"the document inflates beyond the cap of {cap} bytes")
    return bytes(out)


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
