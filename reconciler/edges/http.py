"""Shared HTTP plumbing: client factory, rate limiter, deadlines and the one retry loop.
Imports httpx, the standard library and reconciler.errors; knows nothing of planning.

Every request of every client goes through ``Sender.request``: one attempt counter and one
deadline per logical request, whatever mix of 429, 5xx, transport errors and unreadable bodies
it meets. We keep our own loop rather than stamina or tenacity: the loop's decisions (a body
that is not JSON is retryable, ``Retry-After`` and the 429 floor, a write whose outcome is
unknown is settled by a lookup instead of being re-sent, waits that wake on a stop event and
never pass the run's deadline) are the code; wrapped in a library's callbacks they would read
no shorter and be harder to follow.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import httpx

from reconciler.core.model import DEFAULT_REQUESTS_PER_SECOND as CORE_DEFAULT_RATE
from reconciler.errors import (
    ApiError,
    AuthError,
    ConflictError,
    InvalidValueError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    StoppedError,
    TransportError,
)

Sleep = Callable[[float], None]
Clock = Callable[[], float]

log = logging.getLogger(__name__)

#: Statuses worth another try: rate limiting and transient server trouble.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
OK_STATUSES = frozenset({200, 201, 204})

USER_AGENT = "personio-lattice-reconciler/0.1"

# The HTTP defaults, each named once; the clients import them.
#: Seconds to open a connection.
DEFAULT_CONNECT_TIMEOUT = 10.0
#: Seconds to wait for the next bytes (and to write, and for a pooled connection).
DEFAULT_READ_TIMEOUT = 30.0
#: Seconds one attempt may take in all, body included, however the server drips it out.
DEFAULT_REQUEST_TIMEOUT = 60.0
#: Requests per second towards one system (Personio documents bursts of ~15/s, ~300/min).
DEFAULT_REQUESTS_PER_SECOND = CORE_DEFAULT_RATE
#: Pages fetched at once by one client.
DEFAULT_MAX_CONCURRENCY = 4
#: Connections one client keeps.
DEFAULT_MAX_CONNECTIONS = 8

#: The request extension carrying an attempt's ``Deadline`` to the response hook.
DEADLINE_EXTENSION = "reconciler.deadline"


class Deadline:
    """A point in time on ``clock``: the run's time limit, or one attempt's.

    ``Deadline.after(600)`` ends ten minutes from now; ``remaining()`` never goes below 0.
    """

    __slots__ = ("_at", "_clock", "seconds")

    def __init__(self, at: float, *, seconds: float, clock: Clock = time.monotonic) -> None:
        self._at = at
        self._clock = clock
        #: the length it was created with, for messages
        self.seconds = seconds

    @classmethod
    def after(cls, seconds: float, clock: Clock = time.monotonic) -> Deadline:
        return cls(clock() + seconds, seconds=seconds, clock=clock)

    def remaining(self) -> float:
        return max(0.0, self._at - self._clock())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def __repr__(self) -> str:
        return f"Deadline(remaining={self.remaining():.3f})"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Connect/read timeouts and the total time one attempt may take (body included)."""

    connect: float = DEFAULT_CONNECT_TIMEOUT
    read: float = DEFAULT_READ_TIMEOUT
    total: float = DEFAULT_REQUEST_TIMEOUT

    def for_attempt(self, remaining: float) -> httpx.Timeout:
        """httpx timeouts for one attempt that has ``remaining`` seconds in all."""
        read = max(0.001, min(self.read, self.total, remaining))
        return httpx.Timeout(read, connect=max(0.001, min(self.connect, read)))


DEFAULT_TIMEOUTS = Timeouts()


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


class _DeadlineStream(httpx.SyncByteStream):
    """A response body that ends in ``ReadTimeout`` once its attempt's deadline has passed.

    The read timeout bounds each wait for bytes; this bounds the whole body, so a server that
    drips a byte every few seconds is abandoned too. The clock is checked between chunks.
    """

    def __init__(
        self, inner: httpx.SyncByteStream, deadline: Deadline, request: httpx.Request
    ) -> None:
        self._inner = inner
        self._deadline = deadline
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            if self._deadline.expired:
                raise httpx.ReadTimeout(
                    f"the answer took longer than {self._deadline.seconds:g} s in all",
                    request=self._request,
                )
            yield chunk

    def close(self) -> None:
        self._inner.close()


def _enforce_deadline(response: httpx.Response) -> None:
    """Response hook: bound the body by the deadline its request carries (if any)."""
    deadline = response.request.extensions.get(DEADLINE_EXTENSION)
    if isinstance(deadline, Deadline) and isinstance(response.stream, httpx.SyncByteStream):
        response.stream = _DeadlineStream(response.stream, deadline, response.request)


def build_client(
    base_url: str,
    *,
    headers: Mapping[str, str] | None = None,
    auth: httpx.Auth | None = None,
    transport: httpx.BaseTransport | None = None,
    timeout: float = DEFAULT_READ_TIMEOUT,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    request_hooks: Sequence[Callable[[httpx.Request], None]] = (),
) -> httpx.Client:
    """The one way clients are built: same timeouts, limits and User-Agent everywhere.

    ``transport`` is the test seam: an emulator's in-process transport, respx, or the network.
    ``request_hooks`` see every request sent (e.g. a ``RequestCounter``). ``Sender`` sets each
    attempt's own timeouts; ``timeout`` only covers requests sent without one.
    """
    all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    all_headers.update(headers or {})
    return httpx.Client(
        base_url=base_url.rstrip("/") + "/",
        headers=all_headers,
        auth=auth,
        transport=transport,
        timeout=httpx.Timeout(timeout, connect=min(timeout, DEFAULT_CONNECT_TIMEOUT)),
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        follow_redirects=False,
        event_hooks={"request": list(request_hooks), "response": [_enforce_deadline]},
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

    def acquire(self, stop: threading.Event | None = None) -> None:
        """Wait for a slot; with ``stop``, the wait is ``stop.wait`` and ends when it is set."""
        if self.rate <= 0:
            return
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            if stop is not None:
                stop.wait(wait)
            else:
                self._sleep(wait)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts, waiting and elapsed time.

    ``max_elapsed`` bounds one logical request, attempts and waits together.
    ``min_rate_limit_delay`` is the least wait after a 429 that names no ``Retry-After``
    (Personio: "wait at least 1 s after a 429").
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total_delay: float = 120.0
    jitter: bool = True
    min_rate_limit_delay: float = 1.0
    max_elapsed: float = 300.0

    def delay(
        self,
        attempt: int,
        retry_after: float | None,
        rng: random.Random,
        *,
        rate_limited: bool = False,
    ) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1).

        ``Retry-After`` wins (capped at ``max_delay``); otherwise backoff. After a 429 the
        wait is at least ``min_rate_limit_delay`` either way: a ``Retry-After: 0`` would
        otherwise re-send at once into the same limit (docs/decisions.md).
        """
        if retry_after is not None:
            wait = min(max(retry_after, 0.0), self.max_delay)
        else:
            ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
            wait = rng.uniform(ceiling / 2, ceiling) if self.jitter else ceiling
        return max(wait, self.min_rate_limit_delay) if rate_limited else wait


#: Retries for production use; frozen, so one shared default is safe.
DEFAULT_RETRY = RetryPolicy()

#: A policy for tests and the in-process sandbox: same logic, no real waiting.
NO_WAIT_RETRY = RetryPolicy(
    base_delay=0.0, max_delay=0.0, max_total_delay=0.0, jitter=False, min_rate_limit_delay=0.0
)


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


#: An ``X-RateLimit-Reset`` above this is a Unix time, below it a number of seconds.
_EPOCH_THRESHOLD = 1_000_000_000


def parse_rate_limit_reset(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds until an ``X-RateLimit-Reset`` / ``RateLimit-Reset`` header says the limit
    resets, for a 429 without ``Retry-After``; ``None`` when absent or junk.

    Services write it either as seconds from now or as a Unix time; a value too large to be
    a wait is read as the latter.
    """
    for name in ("X-RateLimit-Reset", "RateLimit-Reset", "X-Rate-Limit-Reset"):
        value = headers.get(name)
        if not value:
            continue
        try:
            number = float(value.strip())
        except ValueError:
            continue
        if not math.isfinite(number):
            continue
        if number > _EPOCH_THRESHOLD:
            number -= time.time() if now is None else now
        return max(0.0, number)
    return None


ErrorDetail = Callable[[httpx.Response], str | None]
#: Names a request that is not the one asked for (e.g. "the login request"), else ``None``.
RequestLabel = Callable[[httpx.Request], str | None]
#: Called when a request that must not be re-sent blindly got no usable answer; returns the
#: id of what the request turned out to have created, or ``None`` when it did not land.
Settle = Callable[[ApiError], str | None]


@dataclass(frozen=True, slots=True)
class Reply:
    """What one logical request came to.

    ``response``/``payload`` are the answer (``payload`` only when JSON was expected);
    ``settled`` is set instead when a lookup proved that an unanswered write had landed.
    ``attempts`` counts the requests the loop sent (auth requests not included).
    """

    response: httpx.Response | None
    payload: object
    attempts: int
    settled: str | None = None


@dataclass
class Sender:
    """Sends requests for one system with rate limiting, retries, deadlines and error mapping.

    ``detail_of`` extracts the server's own error text (Personio ``error.message``, SCIM
    ``detail``) for error messages; it must not return personal data the server echoed.
    ``deadline`` is the run's time limit, ``stop`` ends waits and keeps new requests from
    starting; with ``stop`` given, waits are ``stop.wait`` (``sleep`` is the seam for tests
    without one). ``label_of`` names requests an auth flow sent (e.g. the login).
    """

    client: httpx.Client
    system: str
    retry: RetryPolicy = DEFAULT_RETRY
    limiter: RateLimiter | None = None
    sleep: Sleep = time.sleep
    detail_of: ErrorDetail | None = None
    rng: random.Random = field(default_factory=random.Random)
    timeouts: Timeouts = DEFAULT_TIMEOUTS
    deadline: Deadline | None = None
    stop: threading.Event | None = None
    clock: Clock = time.monotonic
    label_of: RequestLabel | None = None
    #: what to check when the answer is a web page instead of the API
    not_api_fix: str = "check the base_url"

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: object | None = None,
        retry_transport_errors: bool = True,
        ok_statuses: frozenset[int] = OK_STATUSES,
    ) -> tuple[httpx.Response, int]:
        """Send one logical request; returns the response and the number of attempts made."""
        reply = self.request(
            method,
            path,
            params=params,
            json=json,
            retry_transport_errors=retry_transport_errors,
            ok_statuses=ok_statuses,
        )
        assert reply.response is not None  # only a ``settle`` callback ends without one
        return reply.response, reply.attempts

    def get_json(
        self, path: str, *, params: Mapping[str, str | int] | None = None
    ) -> tuple[object, httpx.Response]:
        """GET ``path`` and decode its JSON body, with the response it came in.

        A body that is not JSON is one more retryable outcome of the same loop.
        """
        reply = self.request("GET", path, params=params, expect_json=True)
        assert reply.response is not None
        return reply.payload, reply.response

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: object | None = None,
        retry_transport_errors: bool = True,
        ok_statuses: frozenset[int] = OK_STATUSES,
        expect_json: bool = False,
        settle: Settle | None = None,
    ) -> Reply:
        """Send one logical request: the one retry loop every client uses.

        Retries 429/5xx always; transport errors and bodies that are not JSON (when
        ``expect_json``) only when ``retry_transport_errors`` — a POST whose outcome is unknown
        must not be re-sent blindly: ``settle`` is asked whether it landed, and only when it
        says no is the request sent again (within the same attempt budget). At most
        ``retry.max_attempts`` requests go out; no attempt runs and no wait sleeps past the
        request's ``retry.max_elapsed`` or the run's ``deadline``. Raises ``ApiError`` with
        ``attempts`` set, or ``StoppedError``.
        """
        url = self._url(path)
        budget = Deadline.after(self.retry.max_elapsed, self.clock)
        attempt = 0
        waited = 0.0
        while True:
            self._check_stop(method, url)
            if self.limiter is not None:
                self.limiter.acquire(self.stop)
                self._check_stop(method, url)
            remaining = self._remaining(budget)
            if remaining <= 0.0:
                raise self._out_of_time(method, path, url, attempt, budget, run=self._run_over())
            attempt += 1
            rate_limited = False
            retry_after: float | None = None
            unknown_outcome = False
            try:
                response = self.client.request(
                    method,
                    path,
                    params=params,
                    json=json,
                    timeout=self.timeouts.for_attempt(remaining),
                    extensions={
                        DEADLINE_EXTENSION: Deadline.after(
                            min(self.timeouts.total, remaining), self.clock
                        )
                    },
                )
            except httpx.HTTPError as exc:
                error: ApiError = self._transport_error(exc, method, path, url)
                unknown_outcome = True
            except TransportError as exc:
                # raised inside an auth flow (a login answer that is not JSON): retryable
                error = exc
                unknown_outcome = True
            except ApiError as exc:
                # an auth flow's refusal (a credential the login was refused for): final
                raise self._final(exc, attempt) from None
            else:
                status = response.status_code
                if status in ok_statuses:
                    if not expect_json:
                        return Reply(response, None, attempt)
                    if _is_html(response):
                        raise self._final(
                            not_json_error(
                                response,
                                system=self.system,
                                method=method,
                                path=path,
                                fix=self.not_api_fix,
                            ),
                            attempt,
                        )
                    try:
                        payload = decode_json(response)
                    except ValueError as exc:
                        error = not_json_error(
                            response,
                            system=self.system,
                            method=method,
                            path=path,
                            too_deep=isinstance(exc, JsonTooDeepError),
                        )
                        if isinstance(exc, JsonTooDeepError):
                            raise self._final(error, attempt) from None  # not transient
                        log.debug("malformed answer from %s %s (attempt %d)", method, url, attempt)
                        unknown_outcome = True
                    else:
                        return Reply(response, payload, attempt)
                else:
                    error = self.error_for(method, path, response)
                    if status not in RETRYABLE_STATUSES:
                        raise self._final(error, attempt)
                    rate_limited = status == 429
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    if retry_after is None and rate_limited:
                        retry_after = parse_rate_limit_reset(response.headers)
            if self._run_over():
                raise self._out_of_time(method, path, url, attempt, budget, run=True)
            if unknown_outcome and not retry_transport_errors:
                if settle is None:
                    raise self._final(error, attempt)
                settled = settle(error)
                if settled is not None:
                    return Reply(None, None, attempt, settled)
            delay = self.retry.delay(attempt, retry_after, self.rng, rate_limited=rate_limited)
            if attempt >= self.retry.max_attempts or waited + delay > self.retry.max_total_delay:
                raise self._gave_up(error, attempt)
            if delay >= self._remaining(budget):
                # Sleeping would pass the deadline: give up now rather than later.
                if self._run_over(after=delay):
                    raise self._out_of_time(method, path, url, attempt, budget, run=True)
                raise self._gave_up(error, attempt)
            waited += delay
            self._wait(delay)

    # -- the loop's parts -------------------------------------------------------------------

    def _url(self, path: str) -> str:
        """The full URL of ``path`` without a query string, for messages."""
        url = httpx.URL(path)
        if not url.is_absolute_url:
            # as httpx merges it: the path goes under the base URL's path, never replaces it
            base = str(self.client.base_url.copy_with(query=None, fragment=None))
            url = httpx.URL(base.rstrip("/") + "/" + path.lstrip("/"))
        return str(url.copy_with(query=None, fragment=None))

    def _remaining(self, budget: Deadline) -> float:
        remaining = budget.remaining()
        if self.deadline is not None:
            remaining = min(remaining, self.deadline.remaining())
        return remaining

    def _check_stop(self, method: str, url: str) -> None:
        if self.stop is not None and self.stop.is_set():
            raise StoppedError(f"stopped before {method} {url} finished", where=self.system)

    def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.stop is not None:
            self.stop.wait(seconds)
        else:
            self.sleep(seconds)

    def _final(self, error: ApiError, attempts: int) -> ApiError:
        error.attempts = attempts
        return error

    def _gave_up(self, error: ApiError, attempts: int) -> ApiError:
        noun = "attempt" if attempts == 1 else "attempts"
        error.message = f"{error.message} (gave up after {attempts} {noun})"
        return self._final(error, attempts)

    def _run_over(self, after: float = 0.0) -> bool:
        """Whether the run's deadline has passed (or will have, ``after`` seconds from now)."""
        return self.deadline is not None and self.deadline.remaining() <= after

    def _out_of_time(
        self, method: str, path: str, url: str, attempts: int, budget: Deadline, *, run: bool
    ) -> ApiError:
        if run:
            message = f"the run's time limit was reached during {self.system} {method} {url}"
            fix = "run again later, or allow the run more time"
        else:
            message = (
                f"{self.system} {method} {url} did not succeed within "
                f"{budget.seconds:g} s ({attempts} attempts)"
            )
            fix = f"check that {self.system} is reachable and answering, then run again"
        return self._final(
            TransportError(
                message, system=self.system, method=method, path=_plain_path(path), fix=fix
            ),
            attempts,
        )

    def _label(self, request: httpx.Request | None) -> str | None:
        if request is None or self.label_of is None:
            return None
        return self.label_of(request)

    def _transport_error(
        self, exc: httpx.HTTPError, method: str, path: str, url: str
    ) -> TransportError:
        """No answer: the message names the request that failed (an auth flow's login, say)."""
        failed = _request_of(exc)
        sent_method, sent_url = method, url
        if failed is not None:
            sent_method = failed.method
            # never credentials in a message: no query string, no user info
            sent_url = str(failed.url.copy_with(query=None, fragment=None, userinfo=b""))
        label = self._label(failed)
        what = f"{label} ({sent_method} {sent_url})" if label else f"{sent_method} {sent_url}"
        return TransportError(
            f"no usable answer to {what} ({type(exc).__name__})",
            system=self.system,
            method=method,
            path=_plain_path(path),
            fix=f"check that {self.system} is reachable, then run again",
        )

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
        label = self._label(_request_of(response))
        if label:
            message = f"{label} failed: {message}"
        return cls(
            message,
            system=self.system,
            method=method,
            path=_plain_path(path),
            status=status,
            detail=detail,
        )


def _request_of(source: httpx.Response | httpx.HTTPError) -> httpx.Request | None:
    """The request a response or an httpx error belongs to, when httpx knows it."""
    try:
        return source.request
    except RuntimeError:
        return None


def _plain_path(path: str) -> str:
    """The path without a query string (we never put secrets there, but be sure)."""
    return path.split("?", 1)[0]


def _is_html(response: httpx.Response) -> bool:
    """A web page (a proxy's login page, say), by its content type or, when that is missing
    or wrong, by a body that starts with ``<``: no JSON document does."""
    content_type = response.headers.get("Content-Type", "")
    if content_type.split(";", 1)[0].strip().lower() in ("text/html", "application/xhtml+xml"):
        return True
    try:
        content = response.content
    except httpx.ResponseNotRead:
        return False
    return content[:512].lstrip().startswith(b"<")


def not_json_error(
    response: httpx.Response,
    *,
    system: str,
    method: str,
    path: str,
    fix: str = "check the base_url",
    too_deep: bool = False,
) -> TransportError:
    """The error for an answer that is not JSON: a web page (a proxy's, a login portal's) is
    not the API; anything else is usually a truncated answer. ``too_deep``: JSON nested past
    ``MAX_JSON_DEPTH``, which no real answer is."""
    if too_deep:
        return TransportError(
            f"the answer nests deeper than {MAX_JSON_DEPTH} levels, which no API answer does",
            system=system,
            method=method,
            path=_plain_path(path),
            status=response.status_code,
            fix=fix,
        )
    if _is_html(response):
        return TransportError(
            "the answer is a web page, not the API",
            system=system,
            method=method,
            path=_plain_path(path),
            status=response.status_code,
            fix=fix,
        )
    return TransportError(
        "the answer is not valid JSON",
        system=system,
        method=method,
        path=_plain_path(path),
        status=response.status_code,
        fix="this is usually transient; run again",
    )


def json_body(
    response: httpx.Response,
    *,
    system: str,
    method: str,
    path: str,
    not_api_fix: str = "check the base_url",
) -> object:
    """The response body as JSON, or a ``TransportError`` naming the endpoint."""
    if _is_html(response):
        raise not_json_error(response, system=system, method=method, path=path, fix=not_api_fix)
    try:
        return decode_json(response)
    except ValueError as exc:
        raise not_json_error(
            response,
            system=system,
            method=method,
            path=path,
            too_deep=isinstance(exc, JsonTooDeepError),
        ) from exc


#: No API answer we read nests deeper than a handful of levels; past this it is hostile or
#: broken, and walking it could exhaust the stack.
MAX_JSON_DEPTH = 64


class JsonTooDeepError(ValueError):
    """An answer nested deeper than ``MAX_JSON_DEPTH`` levels."""


def decode_json(response: httpx.Response) -> object:
    """The body as JSON; ``ValueError`` when it is not JSON, ``JsonTooDeepError`` when it nests
    deeper than ``MAX_JSON_DEPTH`` (a RecursionError never escapes)."""
    try:
        payload: object = response.json()
    except RecursionError:
        raise JsonTooDeepError from None
    # Iterative, so checking the depth cannot exhaust the stack either.
    stack: list[tuple[object, int]] = [(payload, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise JsonTooDeepError
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
    return payload
