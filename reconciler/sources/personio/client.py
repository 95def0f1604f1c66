"""Personio API v1 client: token auth, concurrent paging of employees, and parsing into Employee.
Imports httpx, the standard library, reconciler.errors, reconciler.edges.http and reconciler.model.

Talking HTTP (``PersonioAuth``, ``PersonioClient.fetch_*``) is kept apart from translating
records (``parse_*``, ``compute_*``), which are pure and tested without any HTTP.

Parsing decisions (DESIGN.md §7):

- ``id`` becomes ``Employee.source_id`` as a string (Personio sends ints).
- Dates (``"2014-11-09T00:00:00+01:00"`` or ``"2014-11-09"``) become ``datetime.date`` from the
  literal date part; the offset is ignored on purpose, because converting to UTC would move a
  midnight-CET hire date to the previous day.
- A date that cannot be read makes the whole record a ``Problem`` with code ``invalid_date``
  naming the attribute key. The planner treats the person as blocked (their Lattice user is left
  untouched) rather than syncing a guessed or emptied value; everyone else proceeds.
- Numbers that cannot be read stay as their trimmed text: the mapping already turns a
  non-numeric value into a per-person ``invalid_custom_value`` warning.
- Nested department/office/team become their name, a nested supervisor its id; the empty
  forms ``""``, ``null`` and ``[]`` become ``None``. Tags become a sorted tuple.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import httpx

from reconciler.core.model import AttributeInfo, AttrValue, Employee, Problem, SourceSnapshot
from reconciler.edges.http import (
    ClosingClient,
    RateLimiter,
    RequestCounter,
    RetryPolicy,
    Sender,
    Sleep,
    build_client,
    json_body,
)
from reconciler.errors import (
    ApiError,
    AuthError,
    InvalidValueError,
    SourceDataError,
    TransportError,
)

SYSTEM = "personio"

#: Personio's maximum page size for the employee list.
PAGE_SIZE = 100

AUTH_PATH = "/auth"
EMPLOYEES_PATH = "/company/employees"
ATTRIBUTES_PATH = "/company/employees/attributes"

CREDENTIAL_FIX = (
    "check PERSONIO_CLIENT_ID/SECRET (Personio › Settings › Integrations › API credentials) "
    "and that the credential is active"
)

#: Attributes that are dates whatever ``type`` Personio labels them with.
DATE_KEYS = frozenset({"hire_date", "termination_date", "birthday", "last_working_day"})
#: Attribute types whose text values are plain trimmed text.
_TEXT_KINDS = frozenset({"standard", "list", "link", "multiline", ""})
#: Nested objects that stand for their name.
NAMED_NESTED_KEYS = frozenset({"department", "office", "team", "subcompany", "cost_centers"})

_DATE_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)

#: Frozen, so one shared default is safe.
DEFAULT_RETRY = RetryPolicy()

log = logging.getLogger("reconciler.sources.personio.client")


# ---------------------------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------------------------


class PersonioAuth(httpx.Auth):
    """Bearer-token auth for Personio v1, shared by every thread of one client.

    Authenticates lazily with ``POST {base}/auth`` (credentials in the JSON body, never the
    query string) and reuses the token for the whole run, because Personio allows only about
    60 auth calls a minute. A response carrying ``Authorization: Bearer <new>`` rotates the
    token; a 401 re-authenticates once and resends. Synchronous clients only.
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
        if response.status_code == 401:
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
        return httpx.Request("POST", self.token_url, headers=headers, json=body)

    def _token_from(self, response: httpx.Response) -> str | None:
        status = response.status_code
        if status == 429 or status >= 500:
            return None
        detail = personio_error_message(response, scrub=self.secrets())
        if status in (401, 403) or (200 <= status < 300 and _success_is_false(response)):
            raise AuthError(
                "Personio refused the credential" + (f" ({detail})" if detail else ""),
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
                f"Personio rejected the authentication request ({detail or f'HTTP {status}'})",
                system=SYSTEM,
                method="POST",
                path=AUTH_PATH,
                status=status,
                detail=detail,
            )
        payload = json_body(response, system=SYSTEM, method="POST", path=AUTH_PATH)
        data = payload.get("data") if isinstance(payload, dict) else None
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise TransportError(
                "the authentication answer carries no token",
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


def _access_error(error: AuthError, path: str) -> AuthError:
    """A clearer ``AuthError`` for a refused data request (the token itself was fine)."""
    suffix = f" ({error.detail})" if error.detail else ""
    if error.status == 403:
        message = "Personio denied the credential access" + suffix
        fix = (
            "give the Personio API credential read access to employees "
            "(Settings › Integrations › API credentials)"
        )
    else:
        # A token Personio had just issued was refused again: a third try would not help.
        message = "Personio refused the request even after re-authenticating" + suffix
        fix = "check that the Personio API credential is active and may read employees"
    return AuthError(
        message,
        system=SYSTEM,
        method="GET",
        path=path,
        status=error.status,
        detail=error.detail,
        fix=fix,
    )


def _success_is_false(response: httpx.Response) -> bool:
    try:
        payload = response.json()
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("success") is False


def personio_error_message(response: httpx.Response, *, scrub: Iterable[str] = ()) -> str | None:
    """Personio's own ``error.message`` (often German, code often 0), as plain text.

    Any of ``scrub`` (credential, token) echoed by the server is cut out, and the text is
    bounded so a misbehaving proxy cannot fill an error message with a whole HTML page.
    """
    try:
        payload = response.json()
    except ValueError:
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


# ---------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Page:
    offset: int
    total: int
    records: tuple[Employee | Problem, ...]
    #: every attribute key on the page's raw records, those that became problems included
    attribute_keys: frozenset[str]


class PersonioClient(ClosingClient):
    """Read-only Personio client: one token per run, employee pages fetched concurrently.

    Every failure surfaces as ``ApiError`` (system ``personio``, method, path, status) or
    ``SourceDataError``; none carries the credential, the token or employee data.
    """

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        app_id: str,
        partner_id: str | None = None,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Sleep = time.sleep,
        requests_per_second: float = 5.0,
        burst: int = 15,
        max_concurrency: int = 4,
    ) -> None:
        headers = {"X-Personio-App-ID": app_id}
        if partner_id:
            headers["X-Personio-Partner-ID"] = partner_id
        self.auth = PersonioAuth(base_url, client_id, client_secret)
        self._counter = RequestCounter()
        self.max_concurrency = max(1, max_concurrency)
        self._client = build_client(
            base_url,
            headers=headers,
            auth=self.auth,
            transport=transport,
            max_connections=max(8, self.max_concurrency),
            request_hooks=[self._counter],
        )
        self._sender = Sender(
            self._client,
            SYSTEM,
            retry=retry,
            limiter=RateLimiter(requests_per_second, burst=burst, sleep=sleep),
            sleep=sleep,
            detail_of=lambda response: personio_error_message(response, scrub=self.auth.secrets()),
        )

    @property
    def request_count(self) -> int:
        """Every HTTP request sent so far, auth calls and retries included."""
        return self._counter.count

    @property
    def auth_calls(self) -> int:
        return self.auth.auth_calls

    # -- requests ---------------------------------------------------------------------------

    def _get_json(self, path: str, params: Mapping[str, str | int] | None = None) -> object:
        """GET ``path`` and return its JSON; malformed bodies are retried like 5xx answers."""
        try:
            payload, response = self._sender.get_json(path, params=params)
        except AuthError as exc:
            if exc.path == AUTH_PATH:
                raise
            raise _access_error(exc, path) from exc
        if isinstance(payload, dict) and payload.get("success") is False:
            detail = personio_error_message(response, scrub=self.auth.secrets())
            raise ApiError(
                f"Personio answered success: false ({detail or 'no message'})",
                system=SYSTEM,
                method="GET",
                path=path,
                status=response.status_code,
                detail=detail,
            )
        return payload

    def fetch_attributes(self) -> tuple[AttributeInfo, ...]:
        """The attribute catalogue, as far as the credential may read it."""
        return parse_attribute_catalogue(self._get_json(ATTRIBUTES_PATH))

    def _fetch_page(self, offset: int) -> _Page:
        payload = self._get_json(EMPLOYEES_PATH, {"limit": PAGE_SIZE, "offset": offset})
        total, raw_records = parse_employee_page(payload, offset=offset)
        keys: set[str] = set()
        for raw in raw_records:
            attributes = raw.get("attributes")
            if isinstance(attributes, Mapping):
                keys.update(attributes)
        records = tuple(parse_employee(raw) for raw in raw_records)
        log.debug("employee page at offset %d: %d records (total %d)", offset, len(records), total)
        return _Page(offset=offset, total=total, records=records, attribute_keys=frozenset(keys))

    def _fetch_checked_page(self, offset: int, total: int) -> _Page:
        return self._check_page(self._fetch_page(offset), total)

    def _check_page(self, page: _Page, total: int) -> _Page:
        """``page`` if its size and total agree with the first page; a wrong size is refetched
        once (Personio occasionally serves a page short while the list is being written)."""
        offset = page.offset
        expected = min(PAGE_SIZE, total - offset)
        if page.total == total and len(page.records) != expected:
            log.debug(
                "page at offset %d has %d records, expected %d; refetching",
                offset,
                len(page.records),
                expected,
            )
            page = self._fetch_page(offset)
        where = f"{SYSTEM} GET {EMPLOYEES_PATH} offset={offset}"
        if page.total != total:
            raise SourceDataError(
                f"Personio's employee list changed while it was being read "
                f"(total {total} → {page.total}); run again",
                where=where,
            )
        if len(page.records) != expected:
            raise SourceDataError(
                f"Personio returned {len(page.records)} employees at offset {offset} where "
                f"{expected} were expected, twice in a row; run again",
                where=where,
            )
        return page

    def fetch_employees(self, progress: Callable[[int, int], None] | None = None) -> SourceSnapshot:
        """Every employee: the first page, then the rest concurrently once the total is known.

        ``progress(done_records, total)`` is called from the calling thread after each page.
        """
        first = self._fetch_page(0)
        total = first.total
        pages = [self._check_page(first, total)]
        done = len(pages[0].records)
        if progress is not None:
            progress(done, total)
        offsets = range(PAGE_SIZE, total, PAGE_SIZE)
        if offsets:
            with ThreadPoolExecutor(
                max_workers=self.max_concurrency, thread_name_prefix="personio-page"
            ) as pool:
                futures = [
                    pool.submit(self._fetch_checked_page, offset, total) for offset in offsets
                ]
                try:
                    for future in as_completed(futures):
                        page = future.result()  # re-raises the first failure
                        pages.append(page)
                        done += len(page.records)
                        if progress is not None:
                            progress(done, total)
                finally:
                    # After a failure, do not start pages nobody will look at.
                    for future in futures:
                        future.cancel()
        pages.sort(key=lambda page: page.offset)
        overlap = compute_page_overlap(page.records for page in pages)
        if overlap is not None:
            raise SourceDataError(
                f"Personio returned employee {overlap} on two pages (the list changed while "
                "it was being read); run again",
                where=f"{SYSTEM} GET {EMPLOYEES_PATH}",
            )
        snapshot = compute_snapshot(
            (record for page in pages for record in page.records),
            frozenset().union(*(page.attribute_keys for page in pages)),
        )
        log.debug(
            "fetched %d employees and %d problem records in %d pages",
            len(snapshot.employees),
            len(snapshot.problems),
            len(pages),
        )
        return snapshot


# ---------------------------------------------------------------------------------------------
# Pure parsing
# ---------------------------------------------------------------------------------------------


def compute_id_sort_key(source_id: str) -> tuple[int, int, str]:
    """Numeric-aware order: ``"9" < "10" < "abc"``."""
    if source_id.isascii() and source_id.isdigit():
        return (0, len(source_id.lstrip("0")), source_id)
    return (1, 0, source_id)


def compute_snapshot(
    records: Iterable[Employee | Problem], attribute_keys: Iterable[str] = ()
) -> SourceSnapshot:
    """Employees and problems sorted by Personio id (numeric-aware).

    ``attribute_keys`` adds keys seen on raw records that became problems; the keys of every
    parsed employee are included anyway. Two records with one id are both kept: that is a
    data problem the mapping reports per person (paging overlaps are caught before this).
    """
    employees: list[Employee] = []
    problems: list[Problem] = []
    keys: set[str] = set(attribute_keys)
    for record in records:
        if isinstance(record, Employee):
            employees.append(record)
            keys.update(record.attributes)
        else:
            problems.append(record)
    employees.sort(key=lambda employee: compute_id_sort_key(employee.source_id))
    problems.sort(
        # Records without an id first, then by id like the employees.
        key=lambda problem: (
            problem.source_id is not None,
            compute_id_sort_key(problem.source_id or ""),
            problem.code,
            problem.message,
        )
    )
    return SourceSnapshot(
        employees=tuple(employees), problems=tuple(problems), attribute_keys=frozenset(keys)
    )


def compute_page_overlap(pages: Iterable[Sequence[Employee | Problem]]) -> str | None:
    """The first Personio id that appears on more than one page, else ``None``.

    Offset paging over a list that changes mid-read shifts records from one page to the
    next; counting such a record twice (or missing its neighbour) would be silently wrong.
    """
    seen: set[str] = set()
    for records in pages:
        ids = {record.source_id for record in records if record.source_id is not None}
        overlap = ids & seen
        if overlap:
            return min(overlap, key=compute_id_sort_key)
        seen |= ids
    return None


def parse_employee_page(payload: object, *, offset: int) -> tuple[int, list[Mapping[str, object]]]:
    """``(metadata.total_elements, raw employee objects)`` from one page envelope."""
    where = f"{SYSTEM} GET {EMPLOYEES_PATH} offset={offset}"
    if not isinstance(payload, dict):
        raise SourceDataError("Personio's employee page is not a JSON object", where=where)
    metadata = payload.get("metadata")
    total = metadata.get("total_elements") if isinstance(metadata, dict) else None
    if isinstance(total, str) and total.isascii() and total.isdigit():
        total = int(total)
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise SourceDataError(
            "Personio's employee page has no usable metadata.total_elements", where=where
        )
    data = payload.get("data")
    if not isinstance(data, list):
        raise SourceDataError("Personio's employee page has no 'data' list", where=where)
    # A non-object entry stays in the list so it is counted and reported, not lost.
    return total, [item if isinstance(item, dict) else {"attributes": None} for item in data]


def parse_attribute_catalogue(payload: object) -> tuple[AttributeInfo, ...]:
    """``GET /company/employees/attributes`` → ``AttributeInfo``s, in Personio's order."""
    where = f"{SYSTEM} GET {ATTRIBUTES_PATH}"
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise SourceDataError("Personio's attribute list has no 'data' list", where=where)
    attributes: list[AttributeInfo] = []
    for index, entry in enumerate(data):
        key = _text(entry.get("key")) if isinstance(entry, dict) else None
        if key is None:
            raise SourceDataError(f"attribute #{index} of the list has no key", where=where)
        label = _text(entry.get("label")) or key
        kind = _text(entry.get("type")) or "standard"
        attributes.append(AttributeInfo(key=key, label=label, type=kind))
    return tuple(attributes)


def parse_employee(raw: Mapping[str, object]) -> Employee | Problem:
    """One wire-format employee → ``Employee``, or a ``Problem`` that names no personal value."""
    attributes = raw.get("attributes")
    if not isinstance(attributes, Mapping):
        return Problem(None, "unparsable_record", "an employee record has no attribute map")
    id_entry = attributes.get("id")
    source_id = _id_text(id_entry.get("value") if isinstance(id_entry, Mapping) else None)
    # Carried on problems so the planner can still recognise the person by email and leave
    # their Lattice user alone instead of treating them as gone.
    email_entry = attributes.get("email")
    email = _text(email_entry.get("value")) if isinstance(email_entry, Mapping) else None
    if source_id is None:
        return Problem(None, "unparsable_record", "an employee record has no id", email=email)
    parsed: dict[str, AttrValue] = {"id": source_id}
    bad_dates: list[str] = []
    for key, entry in attributes.items():
        if key == "id":
            continue
        if type(entry) is not dict and not isinstance(entry, Mapping):
            return Problem(
                source_id,
                "unparsable_record",
                f"employee {source_id}: attribute {key} is not a Personio attribute object",
                email=email,
            )
        kind = entry.get("type")
        value = entry.get("value")
        if type(value) is str and kind in _TEXT_KINDS and key not in DATE_KEYS:
            # The common case, kept short: 100,000 employees × ~20 attributes pass here.
            parsed[key] = value.strip() or None
        elif kind == "date" or key in DATE_KEYS:
            try:
                parsed[key] = parse_date(value)
            except ValueError:
                bad_dates.append(key)
        else:
            parsed[key] = parse_value(key, kind if isinstance(kind, str) else "", value)
    if bad_dates:
        verb = "is not a date" if len(bad_dates) == 1 else "are not dates"
        return Problem(
            source_id,
            "invalid_date",
            f"employee {source_id}: {', '.join(sorted(bad_dates))} {verb} (expected "
            "YYYY-MM-DD); the employee is left untouched until it is fixed in Personio",
            email=email,
        )
    return Employee(source_id=source_id, attributes=parsed)


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _id_text(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _text(value)


def _is_empty(value: object) -> bool:
    """Personio's three spellings of "no nested object" (and an empty object)."""
    return value is None or (isinstance(value, str | list | dict) and not value)


def parse_date(value: object) -> dt.date | None:
    """``"2014-11-09T00:00:00+01:00"`` or ``"2014-11-09"`` → the date part; empty → ``None``.

    Raises ``ValueError`` for anything else (the caller names the attribute, not the value).
    """
    if _is_empty(value):
        return None
    if not isinstance(value, str):
        raise ValueError("not a date")
    text = value.strip()
    return _date_from_text(text) if text else None


@functools.lru_cache(maxsize=65536)
def _date_from_text(text: str) -> dt.date:
    # Cached: a company has far fewer distinct dates than employees × date attributes.
    match = _DATE_RE.fullmatch(text)
    if match is None:
        raise ValueError("not a date")
    return dt.date.fromisoformat(match.group(1))  # ValueError for e.g. 2014-02-30


def parse_value(key: str, kind: str, value: object) -> AttrValue:
    """One non-date attribute value, parsed by its key, Personio ``type`` and shape."""
    if key == "supervisor":
        return _nested_id(value)
    if isinstance(value, dict) or key in NAMED_NESTED_KEYS:
        return _nested_name(value)
    if kind == "tags":
        return parse_tags(value)
    if kind in ("integer", "decimal"):
        return parse_number(value, integer=kind == "integer")
    return _plain(value)


def _plain(value: object) -> AttrValue:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, list):
        return _sorted_texts(_nested_name(item) for item in value)
    return None


def parse_number(value: object, *, integer: bool) -> AttrValue:
    """An ``integer``/``decimal`` value, also from text ("3.5", "3,5"); unreadable text is kept
    as text so the mapping can report it."""
    if value is None or isinstance(value, bool):
        return None
    number: int | float
    if isinstance(value, int | float):
        number = value
    else:
        text = _text(value)
        if text is None:
            return None
        try:
            number = int(text)
        except ValueError:
            try:
                # German decimal comma, the way Personio shows decimals in the UI
                number = float(text.replace(",", ".") if "." not in text else text)
            except ValueError:
                return text
        if not math.isfinite(number):
            return text
    if integer and float(number).is_integer():
        return int(number)
    return float(number) if not integer else number


def _nested_name(value: object) -> AttrValue:
    """``{"type": "Department", "attributes": {"id", "name"}}`` → its name; no name → ``None``
    (an id is no department name, and Lattice would show it as one)."""
    if _is_empty(value):
        return None
    if isinstance(value, list):
        return _sorted_texts(_nested_name(item) for item in value)
    if not isinstance(value, dict):
        return _plain(value)
    inner = value.get("attributes", value)
    if not isinstance(inner, dict):
        return None
    found = inner.get("name", inner.get("value"))
    if isinstance(found, dict):  # {"label": ..., "value": ...} inside a nested object
        found = found.get("value")
    return _text(found)


def _nested_id(value: object) -> str | None:
    """A nested supervisor ``{"type": "Employee", "attributes": {"id": {"value": 12}}}`` → "12"."""
    if _is_empty(value):
        return None
    if not isinstance(value, dict):
        return _id_text(value)
    inner = value.get("attributes", value)
    found = inner.get("id") if isinstance(inner, dict) else None
    if isinstance(found, dict):
        found = found.get("value")
    return _id_text(found)


def parse_tags(value: object) -> tuple[str, ...] | None:
    """A list, a JSON list inside a string, or a comma-separated string → sorted tuple."""
    if _is_empty(value):
        return None
    if isinstance(value, list):
        return _sorted_texts(_nested_name(item) for item in value)
    text = _text(value) if isinstance(value, str) else _id_text(value)
    if text is None:
        return None
    if text.startswith("["):
        try:
            decoded = json.loads(text)
        except ValueError:
            decoded = None
        if isinstance(decoded, list):
            return _sorted_texts(_nested_name(item) for item in decoded)
        # Broken JSON: salvage the items rather than turning the whole list into one tag.
        return _sorted_texts(part.strip().strip("\"'") for part in text.strip("[]").split(","))
    return _sorted_texts(text.split(","))


def _sorted_texts(values: Iterable[AttrValue]) -> tuple[str, ...] | None:
    texts = {str(value).strip() for value in values if value is not None}
    texts.discard("")
    return tuple(sorted(texts)) or None


# ---------------------------------------------------------------------------------------------
# Allowed-attribute check
# ---------------------------------------------------------------------------------------------


def compute_missing_attributes(
    snapshot: SourceSnapshot, needed: Mapping[str, str]
) -> tuple[str, ...]:
    """Labels of ``needed`` (key → label) that Personio returned on no employee.

    Personio omits attributes a credential may not read, so an attribute absent from every
    record means a missing allowance. An empty snapshot proves nothing: ``()``.
    """
    if not snapshot.employees and not snapshot.problems:
        return ()
    return tuple(label for key, label in needed.items() if key not in snapshot.attribute_keys)


def check_allowed_attributes(snapshot: SourceSnapshot, needed: Mapping[str, str]) -> None:
    """Raise ``SourceDataError`` naming every needed attribute Personio did not return."""
    missing = compute_missing_attributes(snapshot, needed)
    if missing:
        raise SourceDataError(
            f"Personio did not return the attributes {', '.join(missing)} — add them to the "
            "allowed attributes of the Personio API credential "
            "(Settings › Integrations › API credentials)",
            where=f"{SYSTEM} GET {EMPLOYEES_PATH}",
        )
