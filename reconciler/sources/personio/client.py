"""Personio API v1 client: the HTTP side only — concurrent paging of employees and the catalogue.
Imports httpx, the standard library, reconciler.errors, the HTTP edge, the core model and the
Personio login (auth.py) and wire format (parse.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import httpx

from reconciler.core.model import AttributeInfo, Employee, Problem, SourceSnapshot
from reconciler.edges.http import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_REQUESTS_PER_SECOND,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUTS,
    ClosingClient,
    Deadline,
    RateLimiter,
    RequestCounter,
    RetryPolicy,
    Sender,
    Sleep,
    Timeouts,
    build_client,
)
from reconciler.errors import ApiError, AuthError, SourceDataError, StoppedError
from reconciler.sources.personio.auth import (
    BASE_URL_FIX,
    INVALID_TOKEN_TEXT,
    PersonioAuth,
    personio_error_message,
)
from reconciler.sources.personio.parse import (
    ATTRIBUTES_PATH,
    AUTH_PATH,
    EMPLOYEES_PATH,
    SYSTEM,
    compute_page_overlap,
    compute_snapshot,
    parse_attribute_catalogue,
    parse_employee,
    parse_employee_page,
)

#: Personio's maximum page size for the employee list.
PAGE_SIZE = 100
#: Requests Personio lets through at once before its per-second spacing applies.
DEFAULT_BURST = 15

log = logging.getLogger("reconciler.sources.personio.client")


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
    ``deadline`` bounds the whole run (every request, the login included); once ``stop`` is
    set no new request starts and the fetch raises ``StoppedError``.
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
        requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND,
        burst: int = DEFAULT_BURST,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        deadline: Deadline | None = None,
        stop: threading.Event | None = None,
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
            timeout=timeouts.read,
            max_connections=max(DEFAULT_MAX_CONNECTIONS, self.max_concurrency),
            request_hooks=[self._counter],
        )
        self._sender = Sender(
            self._client,
            SYSTEM,
            retry=retry,
            limiter=RateLimiter(requests_per_second, burst=burst, sleep=sleep),
            sleep=sleep,
            detail_of=lambda response: personio_error_message(response, scrub=self.auth.secrets()),
            timeouts=timeouts,
            deadline=deadline,
            stop=stop,
            label_of=self.auth.label,
            not_api_fix=BASE_URL_FIX,
        )
        self._stop = stop
        self._types: dict[str, str] | None = None

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
        try:
            catalogue = parse_attribute_catalogue(self._get_json(ATTRIBUTES_PATH))
            # Records may leave out an attribute's type; the catalogue's stands in for it.
            self._types = {info.key: info.type for info in catalogue}
            return catalogue
        except StoppedError as exc:
            raise StoppedError(
                "stopped before reading Personio's attribute list finished",
                where=f"{SYSTEM} GET {ATTRIBUTES_PATH}",
            ) from exc

    def _fetch_page(self, offset: int) -> _Page:
        payload = self._get_json(EMPLOYEES_PATH, {"limit": PAGE_SIZE, "offset": offset})
        total, raw_records = parse_employee_page(payload, offset=offset)
        keys: set[str] = set()
        for raw in raw_records:
            attributes = raw.get("attributes")
            if isinstance(attributes, Mapping):
                keys.update(attributes)
        records = tuple(parse_employee(raw, self._types) for raw in raw_records)
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
        Once ``stop`` is set, pages in flight finish, no other starts, and ``StoppedError``
        is raised.
        """
        try:
            return self._fetch_employees(progress)
        except StoppedError as exc:
            raise StoppedError(
                "stopped before reading Personio's employees finished",
                where=f"{SYSTEM} GET {EMPLOYEES_PATH}",
            ) from exc

    def _fetch_employees(self, progress: Callable[[int, int], None] | None) -> SourceSnapshot:
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

    def fetch_updated_employees(self, since: dt.datetime) -> SourceSnapshot:
        """The employees Personio says were updated after ``since``: one request.

        Personio's reference says ``updated_since`` returns every match in one answer and
        ignores ``limit``/``offset``; its changelog once announced pagination for it instead.
        Both are handled: should the answer's ``total_elements`` exceed what it carried, the
        rest is read page by page. The time is sent in UTC without an offset (the documented
        format, ``2022-12-24T08:15:30``); a naive ``since`` is taken as UTC.
        """
        moment = since if since.tzinfo is not None else since.replace(tzinfo=dt.UTC)
        stamp = moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        try:
            return self._fetch_updated(stamp)
        except StoppedError as exc:
            raise StoppedError(
                "stopped before reading Personio's updated employees finished",
                where=f"{SYSTEM} GET {EMPLOYEES_PATH}",
            ) from exc

    def _fetch_updated(self, stamp: str) -> SourceSnapshot:
        pages: list[list[Employee | Problem]] = []
        keys: set[str] = set()
        offset = 0
        total = 0
        while True:
            params: dict[str, str | int] = {"updated_since": stamp}
            if offset:
                params.update({"limit": PAGE_SIZE, "offset": offset})
            payload = self._get_json(EMPLOYEES_PATH, params)
            total, raw_records = parse_employee_page(payload, offset=offset)
            for raw in raw_records:
                attributes = raw.get("attributes")
                if isinstance(attributes, Mapping):
                    keys.update(attributes)
            pages.append([parse_employee(raw, self._types) for raw in raw_records])
            offset += len(raw_records)
            if not raw_records or offset >= total:
                break
        overlap = compute_page_overlap(pages)
        if overlap is not None:
            raise SourceDataError(
                f"Personio returned employee {overlap} twice in its list of updated employees "
                "(the list changed while it was being read); run again",
                where=f"{SYSTEM} GET {EMPLOYEES_PATH}",
            )
        records = [record for page in pages for record in page]
        log.debug("%d employees updated since %s (total %d)", len(records), stamp, total)
        return compute_snapshot(records, frozenset(keys))


def _access_error(error: AuthError, path: str) -> AuthError:
    """A clearer ``AuthError`` for a refused data request (the token itself was fine)."""
    suffix = f" ({error.detail})" if error.detail else ""
    invalid_token = INVALID_TOKEN_TEXT in (error.detail or "").lower()
    if error.status == 403 and not invalid_token:
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
