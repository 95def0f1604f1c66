"""A stateful Personio API v1 emulator: auth, paged employees, the attribute catalogue, faults.
Imports httpx, the standard library and reconciler.sandbox (transport, company); no client code.

It is a request handler (``httpx.Request -> httpx.Response``), served in-process through
``in_process_transport`` or over real HTTP by ``EmulatorServer``. It models the Personio quirks
of docs/decisions.md ("Personio: what the source adapter relies on"): credentials only in the
JSON body (query-string credentials: 403), ``papi-`` tokens with ``expires_in``/``scope``,
401 for a missing and 403 "Provided authorization is not valid" for an invalid token, token
reuse, expiry and rotation, attributes the credential may not read omitted entirely, record
offsets with ``limit`` 50 by default and capped at 100,
Personio-style error bodies (German where Personio is), and injected faults.

Each employee keeps the time it was last updated (``updated_at``): seeding sets it to
``seeded_at``, every edit through ``update_employee`` / ``add_employee`` bumps it to the
emulator's clock. ``GET /company/employees?updated_since=<ISO 8601>`` answers as Personio's
reference says (https://developer.personio.de/reference/get_company-employees): every employee
updated *after* that time, all in one answer, ``limit``, ``offset`` and ``email`` ignored. A
time without an offset is read as UTC (Personio does not say which zone it means). Edits that
Personio makes by itself (a status that flips at the termination date) may not count as an
update there: ``update_employee(..., touch=False)`` models that.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import httpx

from reconciler.sandbox.company import build_wire_employee
from reconciler.sandbox.transport import SimulatedReset, SimulatedTimeout, in_process_transport

MAX_LIMIT = 100
#: Records per page when a request names no ``limit`` (Personio's documented default).
DEFAULT_LIMIT = 50
BASE_PATH = "/v1"
#: How long an issued token lives and what it may do, as the auth answer says.
TOKEN_EXPIRES_IN = 86400
TOKEN_SCOPE = "employees:read"  # noqa: S105 (a scope, no secret)
#: Personio's documented answers to a missing (401) and an invalid (403) token.
NOT_PROVIDED_MESSAGE = "Authorization is not provided"
NOT_VALID_MESSAGE = "Provided authorization is not valid"

WRONG_CREDENTIAL_MESSAGE = "Die Zugangsdaten sind ungültig."
QUERY_CREDENTIALS_MESSAGE = (
    "Passing credentials as query parameters is deprecated and no longer supported; "
    "send client_id and client_secret in the JSON request body."
)


@dataclass
class PersonioCredential:
    """One API credential: its secret and the attributes it may read (``None`` = all)."""

    client_secret: str
    allowed_attributes: frozenset[str] | None = None


@dataclass
class PersonioFaults:
    """Faults to inject on ``GET /company/employees`` (never on auth or the catalogue).

    Counters count down as they fire; shares are drawn from ``random.Random(seed)``, so a run
    is repeatable.
    """

    rate_limit_burst: int = 0  # the next N employee requests get 429 (no Retry-After, as Personio)
    server_errors: int = 0  # the next N employee requests get 500 / 503 alternating
    error_rate: float = 0.0  # share of employee requests answered 503
    resets: int = 0  # the next N employee requests drop the connection (SimulatedReset)
    timeouts: int = 0  # the next N employee requests never answer (SimulatedTimeout)
    malformed_json: int = 0  # the next N employee requests answer 200 with a truncated body
    slow_seconds: float = 0.0  # sleep before answering
    grow_total_after_first_page: int = 0  # add N employees once the first page is served
    short_page_once: bool = False  # one non-last page comes back one record short
    seed: int = 0


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the emulator saw it (no headers, no bodies: they carry secrets)."""

    method: str
    path: str
    status: int  # 0 when the connection was dropped or timed out
    offset: int | None = None


@dataclass
class _Token:
    client_id: str
    uses: int = 0


class PersonioEmulator:
    """Personio v1 behind one handler. Thread-safe: one lock around all state."""

    def __init__(
        self,
        employees: Sequence[Mapping[str, object]],
        attributes: Sequence[Mapping[str, object]],
        *,
        credentials: Mapping[str, PersonioCredential],
        token_ttl_requests: int | None = None,
        rotate_token_every: int | None = None,
        invalidate_rotated_tokens: bool = False,
        faults: PersonioFaults | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], dt.datetime] | None = None,
        seeded_at: dt.datetime | None = None,
    ) -> None:
        """``credentials`` maps client ids to credentials. ``token_ttl_requests``: a token
        answers that many requests, then 401. ``rotate_token_every``: every Nth authenticated
        answer carries ``Authorization: Bearer <new>``; the old token stays valid unless
        ``invalidate_rotated_tokens``."""
        # Own the state: copy each employee's attribute map (nested values are shared, and
        # only ever replaced, never mutated).
        self._employees: list[dict[str, Any]] = [_copy_employee(raw) for raw in employees]
        self._clock = clock or _utc_now
        seeded = seeded_at or self._clock() - dt.timedelta(days=30)
        #: Personio id → when the employee was last updated (aware, UTC)
        self._updated: dict[str, dt.datetime] = {
            _employee_id(raw): seeded for raw in self._employees
        }
        self._attributes = [dict(attribute) for attribute in attributes]
        self.credentials = dict(credentials)
        self.token_ttl_requests = token_ttl_requests
        self.rotate_token_every = rotate_token_every
        self.invalidate_rotated_tokens = invalidate_rotated_tokens
        # A copy: the counters count down, and a test's PersonioFaults must stay reusable.
        self.faults = dataclasses.replace(faults) if faults is not None else PersonioFaults()
        self.requests: list[RecordedRequest] = []
        self._sleep = sleep
        self._lock = threading.RLock()
        self._rng = random.Random(self.faults.seed)
        self._tokens: dict[str, _Token] = {}
        self._token_counter = 0
        self._answered = 0
        self._first_page_served = False
        self._short_page_done = False
        self._server_error_flip = False
        self._token_rng = random.Random(self.faults.seed + 1)

    # -- test helpers ---------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return in_process_transport(self)

    def count(self, path_suffix: str = "", *, method: str | None = None) -> int:
        """Requests whose path ends with ``path_suffix`` (and of ``method``, when given)."""
        with self._lock:
            return sum(
                1
                for request in self.requests
                if request.path.endswith(path_suffix)
                and (method is None or request.method == method)
            )

    @property
    def total(self) -> int:
        with self._lock:
            return len(self._employees)

    def add_employee(self, employee: Mapping[str, object]) -> None:
        """Append a wire-format employee (see ``company.build_wire_employee``)."""
        with self._lock:
            copied = _copy_employee(employee)
            self._employees.append(copied)
            self._updated[_employee_id(copied)] = self._clock()

    def remove_employee(self, source_id: str | int) -> None:
        with self._lock:
            index = self._index_of(source_id)
            del self._employees[index]
            self._updated.pop(str(source_id), None)

    def update_employee(
        self, source_id: str | int, key: str, value: object, *, touch: bool = True
    ) -> None:
        """Set one attribute's wire value (creating the attribute entry when absent).

        ``touch`` bumps the employee's update time; ``False`` models a change Personio makes
        without counting it as an update (``updated_since`` then does not return it).
        """
        with self._lock:
            attributes = self._employees[self._index_of(source_id)]["attributes"]
            entry = dict(attributes.get(key) or self._entry_template(key))
            entry["value"] = value
            attributes[key] = entry
            if touch:
                self._updated[str(source_id)] = self._clock()

    def updated_at(self, source_id: str | int) -> dt.datetime:
        """When the employee was last updated (aware, UTC)."""
        with self._lock:
            return self._updated[str(source_id)]

    def employee(self, source_id: str | int) -> dict[str, Any]:
        """The stored wire-format employee (a copy)."""
        with self._lock:
            return _copy_employee(self._employees[self._index_of(source_id)])

    def _index_of(self, source_id: str | int) -> int:
        wanted = str(source_id)
        for index, raw in enumerate(self._employees):
            if str(raw["attributes"].get("id", {}).get("value")) == wanted:
                return index
        raise KeyError(f"no employee {wanted}")

    def _entry_template(self, key: str) -> dict[str, object]:
        for attribute in self._attributes:
            if attribute.get("key") == key:
                return {
                    "label": attribute.get("label", key),
                    "value": None,
                    "type": attribute.get("type", "standard"),
                    "universal_id": attribute.get("universal_id"),
                }
        return {"label": key, "value": None, "type": "standard", "universal_id": None}

    # -- the handler ------------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if not path.startswith(BASE_PATH + "/"):
            return self._record(request, _error(404, "Not found"))
        route = path[len(BASE_PATH) :]
        method = request.method
        if route == "/auth":
            if method != "POST":
                return self._record(request, _error(405, "Method not allowed"))
            with self._lock:
                return self._record(request, self._auth(request))
        if route == "/company/employees/attributes":
            if method != "GET":
                return self._record(request, _error(405, "Method not allowed"))
            with self._lock:
                return self._record(request, self._authorized(request, self._attribute_list))
        if route == "/company/employees":
            if method != "GET":
                return self._record(request, _error(405, "Method not allowed"))
            return self._employees_route(request)
        return self._record(request, _error(404, "Not found"))

    def _record(
        self, request: httpx.Request, response: httpx.Response, *, offset: int | None = None
    ) -> httpx.Response:
        with self._lock:
            self.requests.append(
                RecordedRequest(request.method, request.url.path, response.status_code, offset)
            )
        return response

    def _auth(self, request: httpx.Request) -> httpx.Response:
        query = parse_qs(request.url.query.decode("ascii", "replace"))
        if "client_id" in query or "client_secret" in query:
            # Refused with 403 once query-string credentials are removed (docs/decisions.md).
            return _error(403, QUERY_CREDENTIALS_MESSAGE)
        try:
            body = json.loads(request.content or b"null")
        except ValueError:
            return _error(400, "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return _error(400, "client_id and client_secret are required.")
        client_id, secret = body.get("client_id"), body.get("client_secret")
        if not isinstance(client_id, str) or not isinstance(secret, str):
            return _error(400, "client_id and client_secret are required.")
        credential = self.credentials.get(client_id)
        if credential is None or credential.client_secret != secret:
            return _error(401, WRONG_CREDENTIAL_MESSAGE)
        data = {
            "token": self._issue(client_id),
            "expires_in": TOKEN_EXPIRES_IN,
            "scope": TOKEN_SCOPE,
        }
        return httpx.Response(200, json={"success": True, "data": data})

    def _issue(self, client_id: str) -> str:
        self._token_counter += 1
        token = f"papi-{self._token_counter:05d}{self._token_rng.getrandbits(64):016x}"
        self._tokens[token] = _Token(client_id)
        return token

    def _authorized(
        self,
        request: httpx.Request,
        answer: Callable[[httpx.Request, PersonioCredential], httpx.Response],
    ) -> httpx.Response:
        """Check the bearer token, count its use, answer, and rotate it now and then."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        state = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if state is None:
            if scheme.lower() != "bearer" or not token.strip():
                return _error(401, NOT_PROVIDED_MESSAGE)
            return _error(403, NOT_VALID_MESSAGE)
        if self.token_ttl_requests is not None and state.uses >= self.token_ttl_requests:
            del self._tokens[token.strip()]
            return _error(403, NOT_VALID_MESSAGE)
        state.uses += 1
        credential = self.credentials.get(state.client_id)
        if credential is None:  # the credential was revoked after the token was issued
            return _error(401, WRONG_CREDENTIAL_MESSAGE)
        response = answer(request, credential)
        self._answered += 1
        if (
            response.status_code == 200
            and self.rotate_token_every
            and self._answered % self.rotate_token_every == 0
        ):
            rotated = self._issue(state.client_id)
            if self.invalidate_rotated_tokens:
                self._tokens.pop(token.strip(), None)
            response.headers["Authorization"] = f"Bearer {rotated}"
        return response

    def _attribute_list(
        self, request: httpx.Request, credential: PersonioCredential
    ) -> httpx.Response:
        allowed = credential.allowed_attributes
        data = [
            attribute
            for attribute in self._attributes
            if allowed is None or attribute.get("key") in allowed
        ]
        return httpx.Response(200, json={"success": True, "data": data})

    def _employees_route(self, request: httpx.Request) -> httpx.Response:
        offset = _int_param(request, "offset", 0)
        if self.faults.slow_seconds > 0:
            self._sleep(self.faults.slow_seconds)  # outside the lock: slow, not serialised
        with self._lock:
            faults = self.faults
            if faults.timeouts > 0:
                faults.timeouts -= 1
                self.requests.append(RecordedRequest(request.method, request.url.path, 0, offset))
                raise SimulatedTimeout
            if faults.resets > 0:
                faults.resets -= 1
                self.requests.append(RecordedRequest(request.method, request.url.path, 0, offset))
                raise SimulatedReset
            fault = self._status_fault()
            response = fault if fault is not None else self._authorized(request, self._page)
            return self._record(request, response, offset=offset)

    def _status_fault(self) -> httpx.Response | None:
        faults = self.faults
        if faults.rate_limit_burst > 0:
            faults.rate_limit_burst -= 1
            return _error(429, "Too Many Requests")
        if faults.server_errors > 0:
            faults.server_errors -= 1
            self._server_error_flip = not self._server_error_flip
            if self._server_error_flip:
                return _error(500, "Interner Serverfehler")
            return _error(503, "Service Unavailable")
        if faults.error_rate > 0 and self._rng.random() < faults.error_rate:
            return _error(503, "Service Unavailable")
        return None

    def _page(self, request: httpx.Request, credential: PersonioCredential) -> httpx.Response:
        raw_since = request.url.params.get("updated_since")
        if raw_since is not None:
            return self._updated_since(raw_since, credential)
        limit = _int_param(request, "limit", DEFAULT_LIMIT)
        offset = _int_param(request, "offset", 0)
        if limit is None or offset is None or limit < 1 or offset < 0:
            return _error(400, "limit and offset must be non-negative integers (limit ≥ 1).")
        limit = min(limit, MAX_LIMIT)
        total = len(self._employees)
        records = self._employees[offset : offset + limit]
        faults = self.faults
        is_last = offset + limit >= total
        if faults.short_page_once and not self._short_page_done and records and not is_last:
            self._short_page_done = True
            records = records[:-1]
        allowed = credential.allowed_attributes
        data = records if allowed is None else [_only(raw, allowed) for raw in records]
        body = {
            "success": True,
            "metadata": {
                "current_page": offset // limit,
                "total_pages": math.ceil(total / limit),
                "total_elements": total,
            },
            "offset": offset,
            "limit": limit,
            "data": data,
        }
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        if faults.malformed_json > 0:
            faults.malformed_json -= 1
            content = content[: len(content) // 2]
        if offset == 0 and not self._first_page_served:
            self._first_page_served = True
            for _ in range(faults.grow_total_after_first_page):
                hire = self._new_hire()
                self._employees.append(hire)
                self._updated[_employee_id(hire)] = self._clock()
        return httpx.Response(200, content=content, headers={"Content-Type": "application/json"})

    def _updated_since(self, raw: str, credential: PersonioCredential) -> httpx.Response:
        """Every employee updated after ``raw``, in one answer (limit/offset/email ignored)."""
        try:
            since = dt.datetime.fromisoformat(raw.strip())
        except ValueError:
            return _error(400, "updated_since must be an ISO 8601 date and time.")
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)
        records = [
            raw_employee
            for raw_employee in self._employees
            if self._updated.get(_employee_id(raw_employee), since) > since
        ]
        allowed = credential.allowed_attributes
        data = records if allowed is None else [_only(record, allowed) for record in records]
        body = {
            "success": True,
            "metadata": {
                "current_page": 0,
                "total_pages": 1,
                "total_elements": len(data),
            },
            "offset": 0,
            "limit": len(data),
            "data": data,
        }
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return httpx.Response(200, content=content, headers={"Content-Type": "application/json"})

    def _new_hire(self) -> dict[str, Any]:
        ids = [_numeric_id(raw) for raw in self._employees]
        source_id = max(ids, default=0) + 1
        return build_wire_employee(
            {
                "id": source_id,
                "first_name": "New",
                "last_name": f"Hire {source_id}",
                "preferred_name": "",
                "email": f"new.hire{source_id}@example.com",
                "status": "onboarding",
                "employment_type": "internal",
                "position": "",
            }
        )


def _copy_employee(raw: Mapping[str, object]) -> dict[str, Any]:
    attributes = raw.get("attributes")
    copied = dict(attributes) if isinstance(attributes, Mapping) else attributes
    return {**raw, "attributes": copied}


def _only(raw: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    """The employee without the attributes the credential may not read (omitted, not null)."""
    attributes = raw["attributes"]
    return {**raw, "attributes": {k: v for k, v in attributes.items() if k in allowed}}


def _employee_id(raw: Mapping[str, Any]) -> str:
    attributes = raw.get("attributes")
    entry = attributes.get("id") if isinstance(attributes, Mapping) else None
    return str(entry.get("value")) if isinstance(entry, Mapping) else ""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _numeric_id(raw: Mapping[str, Any]) -> int:
    value = raw.get("attributes", {}).get("id", {}).get("value")
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _int_param(request: httpx.Request, name: str, default: int) -> int | None:
    raw = request.url.params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        return None


def _error(status: int, message: str) -> httpx.Response:
    """Personio's error body, ``{"success": false, "error": {"code": <status>, "message": …}}``:
    in its published examples ``error.code`` echoes the HTTP status."""
    body = {"success": False, "error": {"code": status, "message": message}}
    return httpx.Response(status, json=body)
