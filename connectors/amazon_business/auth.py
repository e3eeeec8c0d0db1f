"""Login with Amazon: access tokens for the Amazon Business APIs.

A consented customer gives the application a long-lived refresh token (one per regional
marketplace). Each API call carries a short-lived access token (``expires_in`` is 3600 s) obtained
by the refresh-token grant: a form-encoded POST of ``grant_type=refresh_token``, the refresh
token, the client id and the client secret to the LWA token endpoint.

Tokens are cached in Redis under ``abrecon:lwa:{region}:{sha256(refresh token)}`` with a TTL well
below ``expires_in``, so every worker process shares one token; when the cache is empty exactly
one process refreshes it (single-flight under a Redis lock) while the others wait and then read
the new token. After a 401 the transport calls :meth:`LwaAuth.invalidate` with the token that was
refused and asks again. Without Redis the same happens in process memory.

Neither the secret, the refresh token nor an access token is ever logged or put in an error.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

import requests
from pydantic import SecretStr
from redis.exceptions import LockError

from connectors.amazon_business.errors import AuthError, ConfigurationError

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)

#: Seconds before ``expires_in`` at which a cached token is considered stale.
EXPIRY_MARGIN_SECONDS = 300


def cache_ttl(expires_in: int) -> int:
    """How long to keep a token Amazon says lives ``expires_in`` seconds (always below it)."""
    if expires_in > 2 * EXPIRY_MARGIN_SECONDS:
        return expires_in - EXPIRY_MARGIN_SECONDS
    return max(1, int(expires_in * 0.8))


class TokenCache(Protocol):
    """Where access tokens are kept between calls (and between processes, with Redis)."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, token: str, ttl: int) -> None: ...

    def delete_if(self, key: str, token: str) -> None:
        """Delete the cached token only if it is still ``token`` (another refresh may have won)."""
        ...

    def lock(self, key: str) -> AbstractContextManager[Any]: ...


class LocalTokenCache:
    """An in-process cache with expiry and a per-key lock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str) -> str | None:
        entry = self._tokens.get(key)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def set(self, key: str, token: str, ttl: int) -> None:
        self._tokens[key] = (token, self._clock() + ttl)

    def delete_if(self, key: str, token: str) -> None:
        with self._guard:
            entry = self._tokens.get(key)
            if entry is not None and entry[0] == token:
                del self._tokens[key]

    def lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


_DELETE_IF_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisTokenCache:
    """Tokens in Redis, shared by every process; refreshes serialised by a Redis lock."""

    def __init__(self, redis: Redis, lock_timeout: float = 30.0, wait_timeout: float = 20.0):
        self._redis = redis
        self._lock_timeout = lock_timeout
        self._wait_timeout = wait_timeout
        self._delete_if = redis.register_script(_DELETE_IF_LUA)

    def get(self, key: str) -> str | None:
        value = self._redis.get(key)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    def set(self, key: str, token: str, ttl: int) -> None:
        self._redis.set(key, token, ex=ttl)

    def delete_if(self, key: str, token: str) -> None:
        self._delete_if(keys=[key], args=[token])

    def lock(self, key: str) -> AbstractContextManager[Any]:
        lock: AbstractContextManager[Any] = self._redis.lock(
            f"{key}:lock", timeout=self._lock_timeout, blocking_timeout=self._wait_timeout
        )
        return lock


class LwaAuth:
    """Issues access tokens for one (region, client, refresh token), cached and single-flight."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        refresh_token: SecretStr,
        region: str,
        cache: TokenCache,
        session: requests.Session,
        timeout: tuple[float, float] = (5.0, 30.0),
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._cache = cache
        self._session = session
        self._timeout = timeout
        digest = hashlib.sha256(refresh_token.get_secret_value().encode()).hexdigest()
        self._key = f"abrecon:lwa:{region}:{digest}"
        self.refresh_count = 0

    def __repr__(self) -> str:
        return f"LwaAuth(token_url={self._token_url!r}, client_id={self._client_id!r})"

    def access_token(self) -> str:
        """A valid access token: the cached one, or a fresh one from Login with Amazon."""
        token = self._cache.get(self._key)
        if token is not None:
            return token
        try:
            with self._cache.lock(self._key):
                token = self._cache.get(self._key)  # another process may have refreshed it
                if token is not None:
                    return token
                token, ttl = self._refresh()
                self._cache.set(self._key, token, ttl)
                return token
        except LockError:
            token = self._cache.get(self._key)
            if token is None:
                raise AuthError(
                    "timed out waiting for another process to refresh the token"
                ) from None
            return token

    def invalidate(self, token: str) -> None:
        """Drop ``token`` from the cache after Amazon refused it (a 401)."""
        self._cache.delete_if(self._key, token)

    def _refresh(self) -> tuple[str, int]:
        if not (self._client_id and self._client_secret.get_secret_value()):
            raise ConfigurationError(
                "Login with Amazon needs ABRECON_LWA_CLIENT_ID and ABRECON_LWA_CLIENT_SECRET"
            )
        if not self._refresh_token.get_secret_value():
            raise ConfigurationError("Login with Amazon needs ABRECON_LWA_REFRESH_TOKEN")
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self._refresh_token.get_secret_value(),
            "client_id": self._client_id,
            "client_secret": self._client_secret.get_secret_value(),
        }
        log.debug("requesting an LWA access token from %s", self._token_url)
        try:
            response = self._session.post(self._token_url, data=form, timeout=self._timeout)
        except requests.RequestException as exc:
            raise AuthError(f"Login with Amazon unreachable: {type(exc).__name__}") from None
        payload: dict[str, Any] = {}
        try:
            parsed = response.json()
            if isinstance(parsed, dict):
                payload = parsed
        except ValueError:
            pass
        if response.status_code != 200:
            code = str(payload.get("error") or response.status_code)
            description = str(payload.get("error_description") or response.reason)
            raise AuthError(
                f"Login with Amazon refused the refresh token: HTTP {response.status_code} "
                f"{code}: {description}",
                status=response.status_code,
                code=code,
            )
        token = payload.get("access_token")
        expires_in = payload.get("expires_in", 3600)
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise AuthError("Login with Amazon answered without a usable access_token")
        self.refresh_count += 1
        log.debug("obtained an LWA access token valid for %s s", expires_in)
        return token, cache_ttl(expires_in)
