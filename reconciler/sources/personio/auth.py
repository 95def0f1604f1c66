"""Personio API v1 login: the bearer token one run shares, and Personio's own error messages.
Imports httpx, the standard library, reconciler.errors, the HTTP edge and Personio's constants.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator, Iterable

import httpx

from reconciler.edges.http import json_body
from reconciler.errors import ApiError, AuthError, InvalidValueError, TransportError
from reconciler.sources.personio.parse import AUTH_PATH, SYSTEM

CREDENTIAL_FIX = (
    "check PERSONIO_CLIENT_ID/SECRET (Personio › Settings › Integrations › API credentials) "
    "and that the credential is active"
)
#: What to check when Personio's address answers with a web page.
BASE_URL_FIX = "this is not the API: check personio.base_url (e.g. https://api.personio.de/v1)"

#: How Personio answers a token it does not (or no longer) accept: 403, not 401.
INVALID_TOKEN_TEXT = "provided authorization is not valid"  # noqa: S105 (a message, no secret)

#: What error messages call the token request.
LOGIN = "the login request"

log = logging.getLogger("reconciler.sources.personio.auth")


class PersonioAuth(httpx.Auth):
    """Bearer-token auth for Personio v1, shared by every thread of one client.

    Authenticates lazily with ``POST {base}/auth`` (credentials in the JSON body, never the
    query string) and reuses the token for the whole run, because Personio allows only about
    60 auth calls a minute. A response carrying ``Authorization: Bearer <new>`` rotates the
    token; a 401, or the 403 "Provided authorization is not valid" Personio answers an invalid
    token with, re-authenticates once and resends. The login request carries the original
    request's timeouts and deadline. Synchronous clients only.
    """

    requires_response_body = True

    def __init__(self, base_url: str, client_id: str, client_secret: str) -> None:
        self.token_url = base_url.rstrip("/") + AUTH_PATH
        self._client_id = client_id
        self._client_secret = client_secret
        self._token: str | None = None
        # Held while one thread authenticates so the others wait for its token instead of
        # authenticating too (single flight).
        self._lock = threading.Lock()
        self.auth_calls = 0

    def __repr__(self) -> str:
        return f"PersonioAuth(token_url={self.token_url!r})"

    def secrets(self) -> tuple[str, ...]:
        """Every value that must never appear in an error or a log line.

        Values shorter than 8 characters are left out: cutting a test id like "a" out of a
        server message would garble it, and real credentials are far longer.
        """
        values = (self._client_id, self._client_secret, self._token)
        return tuple(value for value in values if value and len(value) >= 8)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        with self._lock:
            token = self._token
        if token is None:
            token = yield from self._refresh(request, stale=None)
            if token is None:
                return  # the auth response was retryable; the caller retries the request
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if _token_refused(response):
            token = yield from self._refresh(request, stale=token)
            if token is None:
                return
            request.headers["Authorization"] = f"Bearer {token}"
            response = yield request
        self._adopt_rotated(response, used=token)

    def _refresh(
        self, request: httpx.Request, *, stale: str | None
    ) -> Generator[httpx.Request, httpx.Response, str | None]:
        """A fresh token, or ``None`` when the auth response is worth retrying (429/5xx).

        In that case the auth response ends the flow and the caller's ``Sender`` retries the
        whole request with its backoff. The lock is released even when sending fails, because
        httpx closes the flow generator in a ``finally``.
        """
        with self._lock:
            if self._token is not None and self._token != stale:
                return self._token  # another thread already re-authenticated or rotated
            self.auth_calls += 1
            log.debug("authenticating (auth call %d)", self.auth_calls)
            response = yield self._build_auth_request(request)
            token = self._token_from(response)
            if token is not None:
                self._token = token
            return token

    def _build_auth_request(self, original: httpx.Request) -> httpx.Request:
        dropped = {"authorization", "content-length", "content-type", "host", "transfer-encoding"}
        headers = {k: v for k, v in original.headers.items() if k.lower() not in dropped}
        body = {"client_id": self._client_id, "client_secret": self._client_secret}
        # The original's extensions carry the client's timeouts and the attempt's deadline;
        # a request built by hand would otherwise wait forever.
        return httpx.Request(
            "POST",
            self.token_url,
            headers=headers,
            json=body,
            extensions=dict(original.extensions),
        )

    def label(self, request: httpx.Request) -> str | None:
        """``"the login request"`` for the token request, ``None`` for any other."""
        plain = request.url.copy_with(query=None, fragment=None)
        return LOGIN if plain == httpx.URL(self.token_url) else None

    def _token_from(self, response: httpx.Response) -> str | None:
        status = response.status_code
        if status == 429 or status >= 500:
            return None
        detail = personio_error_message(response, scrub=self.secrets())
        if status in (401, 403) or (200 <= status < 300 and _success_is_false(response)):
            raise AuthError(
                "Personio refused the credential at login" + (f" ({detail})" if detail else ""),
                system=SYSTEM,
                method="POST",
                path=AUTH_PATH,
                status=status,
                detail=detail,
                fix=CREDENTIAL_FIX,
            )
        if not 200 <= status < 300:
            cls = InvalidValueError if status in (400, 422) else ApiError
            raise cls(
                f"Personio rejected {LOGIN} ({detail or f'HTTP {status}'})",
                system=SYSTEM,
                method="POST",
                path=AUTH_PATH,
                status=status,
                detail=detail,
            )
        try:
            payload = json_body(
                response, system=SYSTEM, method="POST", path=AUTH_PATH, not_api_fix=BASE_URL_FIX
            )
        except TransportError as exc:
            exc.message = f"the answer to {LOGIN} is unusable: {exc.message}"
            raise
        data = payload.get("data") if isinstance(payload, dict) else None
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise TransportError(
                f"the answer to {LOGIN} carries no token",
                system=SYSTEM,
                method="POST",
                path=AUTH_PATH,
                status=status,
                fix="this is usually transient; run again",
            )
        return token

    def _adopt_rotated(self, response: httpx.Response, *, used: str) -> None:
        header = response.headers.get("Authorization", "")
        scheme, _, rotated = header.partition(" ")
        rotated = rotated.strip()
        if scheme.lower() != "bearer" or not rotated or rotated == used:
            return
        with self._lock:
            # Only adopt over the token this request used: a concurrent re-authentication
            # may already have installed a newer one.
            if self._token == used:
                self._token = rotated
                log.debug("adopted a rotated Personio token")


def _token_refused(response: httpx.Response) -> bool:
    """A 401, or Personio's 403 for a token it does not accept (not a missing permission)."""
    if response.status_code == 401:
        return True
    return response.status_code == 403 and is_invalid_token(response)


def is_invalid_token(response: httpx.Response) -> bool:
    """Personio's "Provided authorization is not valid" (its answer to a bad token)."""
    message = personio_error_message(response) or ""
    return INVALID_TOKEN_TEXT in message.lower()


def _success_is_false(response: httpx.Response) -> bool:
    try:
        payload = response.json()
    except (ValueError, RecursionError):
        return False
    return isinstance(payload, dict) and payload.get("success") is False


def personio_error_message(response: httpx.Response, *, scrub: Iterable[str] = ()) -> str | None:
    """Personio's own ``error.message`` (often German, code often 0), as plain text.

    Any of ``scrub`` (credential, token) echoed by the server is cut out, and the text is
    bounded so a misbehaving proxy cannot fill an error message with a whole HTML page.
    """
    try:
        payload = response.json()
    except (ValueError, RecursionError):
        return None
    if not isinstance(payload, dict):
        return None
    error = payload.get("error")
    message: object = error.get("message") if isinstance(error, dict) else error
    if message is None:
        message = payload.get("message")
    if not isinstance(message, str) or not message.strip():
        return None
    text = " ".join(message.split())
    for secret in scrub:
        text = text.replace(secret, "…")
    return text[:200]
