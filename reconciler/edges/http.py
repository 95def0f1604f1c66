"""Shared HTTP plumbing for both clients: client factory, rate limiter, retry policy, error mapping.
Imports httpx, the standard library and reconciler.errors; knows nothing of planning.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import httpx

from reconciler.errors import (
    ApiError,
    AuthError,
    ConflictError,
    InvalidValueError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
)

Sleep = Callable[[float], None]
Clock = Callable[[], float]

log = logging.getLogger(__name__)

#: Statuses worth another try: rate limiting and transient server trouble.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

USER_AGENT = "personio-lattice-reconciler/0.1"

#: Requests per second towards each system unless the config says otherwise (both vendors
#: document budgets well above this; see docs/decisions.md).
DEFAULT_RATE = 5.0


class RequestCounter:
    """Counts every request a client sends — auth flows and retries included; thread-safe.

    ``build_client`` installs it as an httpx request hook, which sees what a wrapper around
    ``send`` would miss (the requests an ``httpx.Auth`` flow makes).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def __call__(self, request: httpx.Request) -> None:
        with self._lock:
            self._count += 1

    @property
    def count(self) -> int:
        with self._lock:
            return self._count


class ClosingClient:
    """A client that owns an ``httpx.Client``: ``close()`` and use as a context manager."""

    _client: httpx.Client

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def build_client(
    base_url: str,
    *,
    headers: Mapping[str, str] | None = None,
    auth: httpx.Auth | None = None,
    transport: httpx.BaseTransport | None = None,
    timeout: float = 30.0,
    max_connections: int = 8,
    request_hooks: Sequence[Callable[[httpx.Request], None]] = (),
) -> httpx.Client:
    """The one way clients are built: same timeouts, limits and User-Agent everywhere.

    ``transport`` is the test seam: an emulator's in-process transport, respx, or the network.
    ``request_hooks`` see every request sent (e.g. a ``RequestCounter``).
    """
    all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    all_headers.update(headers or {})
    return httpx.Client(
        base_url=base_url.rstrip("/") + "/",
        headers=all_headers,
        auth=auth,
        transport=transport,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        follow_redirects=False,
        event_hooks={"request": list(request_hooks), "response": []},
    )


class RateLimiter:
    """Spaces requests at most ``rate`` per second across threads, allowing a small burst.

    A token bucket: ``burst`` requests may go at once, then one every ``1/rate`` seconds.
    ``rate <= 0`` disables limiting.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._updated = clock()

    def acquire(self) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and in total waiting time."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total_delay: float = 120.0
    jitter: bool = True

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return rng.uniform(ceiling / 2, ceiling) if self.jitter else ceiling


#: A policy for tests and the in-process sandbox: same logic, no real waiting.
NO_WAIT_RETRY = RetryPolicy(base_delay=0.0, max_delay=0.0, max_total_delay=0.0, jitter=False)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; ``None`` when absent or junk."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


ErrorDetail = Callable[[httpx.Response], str | None]


@dataclass
class Sender:
    """Sends requests for one system with rate limiting, retries and error mapping.

    ``detail_of`` extracts the server's own error text (Personio ``error.message``, SCIM
    ``detail``) for error messages; it must not return personal data the server echoed.
    """

    client: httpx.Client
    system: str
    retry: RetryPolicy = RetryPolicy()
    limiter: RateLimiter | None = None
    sleep: Sleep = time.sleep
    detail_of: ErrorDetail | None = None
    rng: random.Random = field(default_factory=random.Random)

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: object | None = None,
        retry_transport_errors: bool = True,
        ok_statuses: frozenset[int] = frozenset({200, 201, 204}),
    ) -> tuple[httpx.Response, int]:
        """Send one logical request; returns the response and the number of attempts made.

        Retries 429/5xx always and transport errors only when ``retry_transport_errors``
        (a POST whose outcome is unknown must not be re-sent blindly). Raises ``ApiError``.
        """
        attempt = 0
        waited = 0.0
        while True:
            attempt += 1
            if self.limiter is not None:
                self.limiter.acquire()
            try:
                response = self.client.request(method, path, params=params, json=json)
            except httpx.HTTPError as exc:
                error: ApiError = TransportError(
                    f"no usable answer ({type(exc).__name__})",
                    system=self.system,
                    method=method,
                    path=_plain_path(path),
                    fix=f"check that {self.system} is reachable, then run again",
                )
                if not retry_transport_errors:
                    raise error from exc
                retry_after = None
            else:
                if response.status_code in ok_statuses:
                    return response, attempt
                error = self.error_for(method, path, response)
                if response.status_code not in RETRYABLE_STATUSES:
                    raise error
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            delay = self.retry.delay(attempt, retry_after, self.rng)
            if attempt >= self.retry.max_attempts or waited + delay > self.retry.max_total_delay:
                error.message = f"{error.message} (gave up after {attempt} attempts)"
                raise error
            waited += delay
            if delay > 0:
                self.sleep(delay)

    def get_json(
        self, path: str, *, params: Mapping[str, str | int] | None = None
    ) -> tuple[object, httpx.Response]:
        """GET ``path`` and decode its JSON body, with the response it came in.

        A body that is not JSON is fetched again under the same retry policy (a GET is safe to
        repeat); when every attempt fails, a ``TransportError`` says so.
        """
        attempt = 0
        while True:
            attempt += 1
            response, _ = self.send("GET", path, params=params)
            try:
                return json_body(response, system=self.system, method="GET", path=path), response
            except TransportError as exc:
                if attempt >= self.retry.max_attempts:
                    exc.message = f"{exc.message} (gave up after {attempt} attempts)"
                    raise
                log.debug("malformed answer from GET %s (attempt %d); retrying", path, attempt)
                delay = self.retry.delay(attempt, None, self.rng)
                if delay > 0:
                    self.sleep(delay)

    def error_for(self, method: str, path: str, response: httpx.Response) -> ApiError:
        """Map an unsuccessful response to the matching ``ApiError`` subclass."""
        status = response.status_code
        detail = self.detail_of(response) if self.detail_of is not None else None
        message = detail or f"HTTP {status}"
        cls: type[ApiError]
        if status in (401, 403):
            cls = AuthError
        elif status == 404:
            cls = NotFoundError
        elif status == 409:
            cls = ConflictError
        elif status in (400, 422):
            cls = InvalidValueError
        elif status == 429:
            cls, message = RateLimitedError, f"rate limited ({message})"
        elif status >= 500:
            cls = ServerError
        else:
            cls = ApiError
        return cls(
            message,
            system=self.system,
            method=method,
            path=_plain_path(path),
            status=status,
            detail=detail,
        )


def _plain_path(path: str) -> str:
    """The path without a query string (we never put secrets there, but be sure)."""
    return path.split("?", 1)[0]


def json_body(response: httpx.Response, *, system: str, method: str, path: str) -> object:
    """The response body as JSON, or a ``TransportError`` naming the endpoint."""
    try:
        return response.json()
    except ValueError as exc:
        raise TransportError(
            "the answer is not valid JSON",
            system=system,
            method=method,
            path=_plain_path(path),
            status=response.status_code,
            fix="this is usually transient; run again",
        ) from exc
