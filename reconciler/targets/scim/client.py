"""SCIM 2.0 clients: a read-only reader (for ``plan``) and a writer only ``apply`` builds.
Imports httpx, the standard library, reconciler.errors, the HTTP edge and the SCIM resources.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any
from urllib.parse import quote

import httpx

from reconciler.core.model import (
    Change,
    TargetUser,
    WriteResult,
)
from reconciler.core.verify import unstored_fields
from reconciler.edges.http import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_REQUESTS_PER_SECOND,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUTS,
    ClosingClient,
    Deadline,
    RateLimiter,
    Reply,
    RequestCounter,
    RetryPolicy,
    Sender,
    Settle,
    Sleep,
    Timeouts,
    build_client,
    decode_json,
)
from reconciler.errors import ApiError, AuthError, ConflictError, StoppedError, TransportError
from reconciler.targets.lattice.profile import LATTICE_SCIM, SYSTEM
from reconciler.targets.scim.dialect import SchemaAttribute, ScimDialect
from reconciler.targets.scim.resources import (
    SCIM_MEDIA_TYPE,
    _mapping,
    _text,
    build_create_body,
    build_filter,
    build_patch_body,
    logger,
    parse_error_detail,
    parse_user,
)

#: Users asked for per page (``count``); Lattice serves at most 100.
DEFAULT_PAGE_SIZE = 100
#: What to check when the SCIM address answers with a web page.
BASE_URL_FIX = "this is not the SCIM API: check lattice.base_url (…/scim/v2)"

# ---------------------------------------------------------------------------------------------
# HTTP plumbing shared by the reader and the writer (each builds its own)
# ---------------------------------------------------------------------------------------------


class _BearerAuth(httpx.Auth):
    """``Authorization: Bearer <key>``; kept out of ``repr`` so it never reaches a log."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "_BearerAuth(<redacted>)"


def _scim_content_type(request: httpx.Request) -> None:
    # Sender sends bodies with ``json=``, which says application/json; SCIM asks for its own.
    if request.content:
        request.headers["Content-Type"] = SCIM_MEDIA_TYPE


class _ReadChannel:
    """One client + Sender for GETs: counting, auth fix, JSON bodies that may arrive broken."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        transport: httpx.BaseTransport | None,
        retry: RetryPolicy,
        sleep: Sleep,
        requests_per_second: float,
        max_connections: int,
        timeouts: Timeouts,
        deadline: Deadline | None,
        stop: threading.Event | None,
        dialect: ScimDialect,
    ) -> None:
        self.dialect = dialect
        self.rng = random.Random()
        self.counter = RequestCounter()
        self._client = build_client(
            base_url,
            headers={"Accept": f"{SCIM_MEDIA_TYPE}, application/json"},
            auth=_BearerAuth(token),
            transport=transport,
            timeout=timeouts.read,
            max_connections=max(1, max_connections),
            request_hooks=[_scim_content_type, self.counter],
        )
        self._sender = Sender(
            self._client,
            SYSTEM,
            retry=retry,
            limiter=RateLimiter(requests_per_second, sleep=sleep),
            sleep=sleep,
            detail_of=parse_error_detail,
            rng=self.rng,
            timeouts=timeouts,
            deadline=deadline,
            stop=stop,
            not_api_fix=BASE_URL_FIX,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: object | None = None,
        retry_transport_errors: bool = True,
        expect_json: bool = False,
        settle: Settle | None = None,
    ) -> Reply:
        """One logical request through the shared retry loop; a refused key gets the fix."""
        try:
            return self._sender.request(
                method,
                path,
                params=params,
                json=json,
                retry_transport_errors=retry_transport_errors,
                expect_json=expect_json,
                settle=settle,
            )
        except AuthError as exc:
            exc.fix = self.dialect.auth_fix
            raise

    def get_json(self, path: str, params: Mapping[str, str | int] | None = None) -> dict[str, Any]:
        """GET a JSON object; a body that is not JSON is retried inside the same loop."""
        reply = self.request("GET", path, params=params, expect_json=True)
        body, response = reply.payload, reply.response
        assert response is not None  # no settle: the loop ends with an answer or raises
        if not isinstance(body, dict):
            raise TransportError(
                "the answer is not a JSON object",
                system=SYSTEM,
                method="GET",
                path=path,
                status=response.status_code,
            )
        return body

    def close(self) -> None:
        self._client.close()


class _WriteChannel(_ReadChannel):
    """A read channel that may also send bodies; only ``LatticeWriter`` builds one."""

    def write(
        self,
        method: str,
        path: str,
        body: object,
        *,
        retry_transport_errors: bool,
        expect_json: bool = False,
        settle: Settle | None = None,
    ) -> Reply:
        return self.request(
            method,
            path,
            json=body,
            retry_transport_errors=retry_transport_errors,
            expect_json=expect_json,
            settle=settle,
        )


def _parse_users(resources: Iterable[object], path: str, dialect: ScimDialect) -> list[TargetUser]:
    users = []
    for resource in resources:
        if not isinstance(resource, Mapping):
            raise TransportError(
                "a list entry is not a SCIM resource", system=SYSTEM, method="GET", path=path
            )
        try:
            users.append(parse_user(resource, dialect))
        except ValueError as exc:
            raise TransportError(str(exc), system=SYSTEM, method="GET", path=path) from exc
    return users


#: More users than any Lattice tenant has: a larger totalResults is a broken or hostile answer,
#: and believing it would plan billions of page requests.
MAX_USERS = 1_000_000


def _list_page(
    body: Mapping[str, object], path: str, dialect: ScimDialect
) -> tuple[int, list[TargetUser]]:
    """``(totalResults, users)`` of a SCIM ListResponse."""
    total = body.get("totalResults")
    resources = body.get("Resources", [])
    if not isinstance(total, int) or isinstance(total, bool) or not isinstance(resources, list):
        raise TransportError(
            "the answer is not a SCIM ListResponse",
            system=SYSTEM,
            method="GET",
            path=path,
            fix="check that lattice.base_url points at the SCIM service (…/scim/v2)",
        )
    if total < 0 or total > MAX_USERS:
        raise TransportError(
            f"the SCIM ListResponse claims totalResults {total:,}, outside 0…{MAX_USERS:,} — the "
            "answer cannot be trusted",
            system=SYSTEM,
            method="GET",
            path=path,
            fix="check lattice.base_url and run again",
        )
    return total, _parse_users(resources, path, dialect)


def _find_user(channel: _ReadChannel, attribute: str, value: str) -> TargetUser | None:
    body = channel.get_json("Users", {"filter": build_filter(attribute, value)})
    _, users = _list_page(body, "Users", channel.dialect)
    return users[0] if users else None


# ---------------------------------------------------------------------------------------------
# Reader and writer
# ---------------------------------------------------------------------------------------------


class LatticeReader(ClosingClient):
    """Reads Lattice users over SCIM. It has no write methods: a dry run cannot write.

    ``deadline`` bounds the whole run; once ``stop`` is set no new request starts, pages in
    flight finish and ``fetch_users`` raises ``StoppedError``.
    """

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Sleep = time.sleep,
        requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        page_size: int = DEFAULT_PAGE_SIZE,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        deadline: Deadline | None = None,
        stop: threading.Event | None = None,
        dialect: ScimDialect = LATTICE_SCIM,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._channel = _ReadChannel(
            base_url=base_url,
            token=token,
            transport=transport,
            retry=retry,
            sleep=sleep,
            requests_per_second=requests_per_second,
            max_connections=max_concurrency,
            timeouts=timeouts,
            deadline=deadline,
            stop=stop,
            dialect=dialect,
        )
        self._max_concurrency = max(1, max_concurrency)
        self._page_size = page_size

    @property
    def request_count(self) -> int:
        return self._channel.counter.count

    def fetch_users(
        self, progress: Callable[[int, int], None] | None = None
    ) -> tuple[TargetUser, ...]:
        """Every Lattice user, deactivated ones included, sorted by SCIM id.

        The first page tells ``totalResults``; the rest are fetched concurrently. A page that
        comes back short is continued from where it ended; an empty page ends its range; a
        ``totalResults`` that grew while listing (a user added meanwhile pushes the others
        down) is followed. ``progress(users_so_far, total)`` is called after each page.
        """
        try:
            return self._fetch_users(progress)
        except StoppedError as exc:
            raise StoppedError(
                "stopped before reading Lattice's users finished", where=f"{SYSTEM} GET Users"
            ) from exc

    def _fetch_users(self, progress: Callable[[int, int], None] | None) -> tuple[TargetUser, ...]:
        first = self._channel.get_json("Users", {"startIndex": 1, "count": self._page_size})
        total, users = _list_page(first, "Users", self._channel.dialect)
        found = {user.target_id: user for user in users}
        if progress is not None:
            progress(len(found), total)
        pending: list[tuple[int, int]] = []
        if users:
            # Continue from where the first page actually ended, not from where it should have.
            pending = self._ranges(1 + len(users), total)
        with ThreadPoolExecutor(max_workers=self._max_concurrency) as pool:
            while pending:
                pages = self._fetch_ranges(pool, pending, len(found), total, progress)
                pending = []
                grown = max(page_total for _, _, page_total, _ in pages)
                for start, count, _, page in pages:
                    for user in page:
                        # a user seen on two pages (the list shifted) is counted once
                        found.setdefault(user.target_id, user)
                    got = len(page)
                    # short but not empty, and totalResults says there is more: ask for the rest
                    if got and got < count and start + got <= total:
                        pending.append((start + got, count - got))
                if progress is not None:
                    progress(len(found), max(total, grown))
                if grown > total:
                    pending.extend(self._ranges(total + 1, grown))
                    total = grown
        if len(found) < total:
            # Planning from a partial listing would create the users we did not see.
            raise TransportError(
                f"the listing ended after {len(found):,} distinct users but totalResults "
                f"said {total:,}; planning from it would create the missing ones",
                system=SYSTEM,
                method="GET",
                path="Users",
                fix="run again; if it persists, the SCIM service does not page consistently",
            )
        if len(found) > total:
            logger.info("Lattice listed %d distinct users; totalResults said %d", len(found), total)
        return tuple(sorted(found.values(), key=lambda user: user.target_id))

    def _fetch_ranges(
        self,
        pool: ThreadPoolExecutor,
        ranges: list[tuple[int, int]],
        found: int,
        total: int,
        progress: Callable[[int, int], None] | None,
    ) -> list[tuple[int, int, int, list[TargetUser]]]:
        """Fetch ``ranges`` concurrently; the pages in range order, whatever order they came in.

        ``progress`` advances as each page arrives (by the users it holds, capped at ``total``),
        so a long listing's bar moves page by page rather than jumping at the end.
        """
        futures = {pool.submit(self._fetch_range, page): index for index, page in enumerate(ranges)}
        pages: dict[int, tuple[int, int, int, list[TargetUser]]] = {}
        for future in as_completed(futures):
            pages[futures[future]] = result = future.result()
            found += len(result[3])
            if progress is not None:
                progress(min(found, total), total)
        return [pages[index] for index in range(len(ranges))]

    def _ranges(self, first: int, last: int) -> list[tuple[int, int]]:
        """``(startIndex, count)`` pages covering positions ``first..last`` (1-based)."""
        return [(start, self._page_size) for start in range(first, last + 1, self._page_size)]

    def _fetch_range(self, page: tuple[int, int]) -> tuple[int, int, int, list[TargetUser]]:
        start, count = page
        body = self._channel.get_json("Users", {"startIndex": start, "count": count})
        total, users = _list_page(body, "Users", self._channel.dialect)
        logger.debug("Lattice page startIndex=%d count=%d → %d users", start, count, len(users))
        return start, count, total, users

    def fetch_custom_attributes(self) -> dict[str, SchemaAttribute]:
        """The custom attributes the service knows, by name, with their SCIM types (from its
        extension schema, RFC 7643 §7); standard attributes of the extension are left out."""
        dialect = self._channel.dialect
        if dialect.extension_urn is None:
            return {}  # no extension, no custom attributes
        path = f"Schemas/{dialect.extension_urn}"
        body = self._channel.get_json(path)
        attributes = body.get("attributes")
        if not isinstance(attributes, list):
            raise TransportError(
                "the answer is not a SCIM schema", system=SYSTEM, method="GET", path=path
            )
        found: dict[str, SchemaAttribute] = {}
        for attribute in attributes:
            if not isinstance(attribute, dict):
                continue
            name = _text(attribute.get("name"))
            if name is None or dialect.is_standard_extension_key(name):
                continue
            kind = _text(attribute.get("type"))
            found[name] = SchemaAttribute(
                name,
                # RFC 7643 §2.3: type names are case-insensitive; "string" when unstated.
                (kind or "string").casefold(),
                attribute.get("multiValued") is True,
            )
        return found

    # -- individual look-ups (the fast run) ---------------------------------------------------

    def find_by_external_ids(self, ids: Iterable[str]) -> dict[str, tuple[TargetUser, ...]]:
        """Every user carrying each external id (``filter=externalId eq "…"``, one request per
        id, sequential). More than one user for an id is a duplicate the planner refuses, so
        all of them are returned; an id nobody carries maps to ``()``."""
        return {value: self._find_all("externalId", value) for value in sorted(set(ids))}

    def find_by_user_names(self, emails: Iterable[str]) -> dict[str, tuple[TargetUser, ...]]:
        """Every user whose ``userName`` is each (trimmed, case-folded) email."""
        wanted = sorted({email.strip().casefold() for email in emails if email.strip()})
        return {email: self._find_all("userName", email) for email in wanted}

    def find_by_ids(self, target_ids: Iterable[str]) -> dict[str, TargetUser]:
        """The users with these SCIM ids (``GET /Users/{id}``); ids that are gone are left out."""
        found: dict[str, TargetUser] = {}
        for target_id in sorted(set(target_ids)):
            path = f"Users/{quote(target_id, safe='')}"
            try:
                body = self._channel.get_json(path)
            except ApiError as exc:
                if exc.status == 404:
                    continue
                raise
            user = _parse_users([body], path, self._channel.dialect)[0]
            found[user.target_id] = user
        return found

    def count_active_users(self) -> tuple[int, bool]:
        """``(count, exact)``: the active users by ``filter=active eq true&count=0`` (RFC 7644
        §3.4.2: ``count=0`` asks for ``totalResults`` only; ``active`` is a filterable
        boolean). A server that refuses the filter (400) is asked for all users instead —
        ``exact`` is then ``False`` and the count includes deactivated users."""
        try:
            body = self._channel.get_json("Users", {"filter": "active eq true", "count": 0})
        except ApiError as exc:
            if exc.status != 400:
                raise
            logger.info("the SCIM server refused 'active eq true'; counting every user")
            body = self._channel.get_json("Users", {"count": 0})
            total, _ = _list_page(body, "Users", self._channel.dialect)
            return total, False
        total, _ = _list_page(body, "Users", self._channel.dialect)
        return total, True

    def _find_all(self, attribute: str, value: str) -> tuple[TargetUser, ...]:
        body = self._channel.get_json("Users", {"filter": build_filter(attribute, value)})
        total, users = _list_page(body, "Users", self._channel.dialect)
        if total > len(users):
            logger.info("a %s filter matched %d users; %d listed", attribute, total, len(users))
        return tuple(sorted(users, key=lambda user: user.target_id))

    def check_access(self) -> None:
        """One cheap request that proves the key works; raises ``AuthError`` with the fix, and
        ``TransportError`` when the answer is not a SCIM ListResponse (a wrong base URL)."""
        body = self._channel.get_json("Users", {"count": 1})
        _list_page(body, "Users", self._channel.dialect)

    def close(self) -> None:
        self._channel.close()


class LatticeWriter(ClosingClient):
    """Creates and patches Lattice users over SCIM. Built only by ``apply``.

    ``deadline`` and ``stop`` as for ``LatticeReader``: once ``stop`` is set, no new write
    starts (``StoppedError``).

    Every write is verified (docs/decisions.md, "2026-12-03: apply verifies its own writes"):
    the resource the answer carries (RFC 7644 §3.5.2: a 200 returns the entire resource) is
    compared with what was sent (``core.verify.unstored_fields``); a 204, an answer without
    a usable resource, or a difference is settled by one ``GET /Users/{id}``. What the target
    still does not hold is ``WriteResult.not_stored``. ``unverified_fields`` are not compared
    (the target profile's create-only fields: ignored on update by design).
    """

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Sleep = time.sleep,
        requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        page_size: int = DEFAULT_PAGE_SIZE,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        deadline: Deadline | None = None,
        stop: threading.Event | None = None,
        dialect: ScimDialect = LATTICE_SCIM,
        unverified_fields: frozenset[str] = frozenset(),
    ) -> None:
        # page_size is accepted so both clients are built from the same settings.
        del page_size
        self._unverified = unverified_fields
        self._channel = _WriteChannel(
            base_url=base_url,
            token=token,
            transport=transport,
            retry=retry,
            sleep=sleep,
            requests_per_second=requests_per_second,
            max_connections=max_concurrency,
            timeouts=timeouts,
            deadline=deadline,
            stop=stop,
            dialect=dialect,
        )

    @property
    def request_count(self) -> int:
        return self._channel.counter.count

    def create(self, change: Change, manager_target_id: str | None) -> WriteResult:
        """``POST /Users``, never re-sent blindly.

        When the outcome is unknown (timeout, reset, unreadable answer) the user is looked up
        by externalId, then userName; only when it is not there is the POST sent again, inside
        the same retry loop and attempt budget. A 409 for a user that already carries our
        externalId is not an error but not a creation either: ``already_present`` (idempotent).

        ``WriteResult.attempts`` counts the POSTs sent, i.e. the requests that carried the
        write; the lookups carry nothing and are not counted (``request_count`` has them).
        """
        body = build_create_body(change, manager_target_id, self._channel.dialect)
        source_id = change.source_id
        assert source_id is not None  # build_create_body refuses a change without one
        found: list[TargetUser] = []  # the user a lookup found: verified without a read-back

        def settle(error: ApiError) -> str | None:
            logger.warning(
                "POST Users for Personio %s: outcome unknown (%s); looking the user up",
                source_id,
                error.message,
            )
            existing = self._find_created(source_id, change.email)
            if existing is None:
                return None
            found.append(existing)
            return existing.target_id

        try:
            reply = self._channel.write(
                "POST",
                "Users",
                body,
                retry_transport_errors=False,
                expect_json=True,
                settle=settle,
            )
        except ConflictError as exc:
            existing = _find_user(self._channel, "externalId", source_id)
            if existing is not None and existing.external_id == source_id:
                logger.info(
                    "Lattice user %s already exists for Personio %s; recorded as already present",
                    existing.target_id,
                    source_id,
                )
                return WriteResult(existing.target_id, exc.attempts, already_present=True)
            raise
        if reply.settled is not None:
            logger.info(
                "found Lattice user %s for Personio %s after %d attempts",
                reply.settled,
                source_id,
                reply.attempts,
            )
            return self._verified(
                change, manager_target_id, reply.settled, reply.attempts, None, found=found
            )
        target_id = _text(_mapping(reply.payload).get("id"))
        answered = reply.payload
        if target_id is None:
            # Created, but the answer does not say as whom: find the user instead.
            status = reply.response.status_code if reply.response is not None else None
            error = TransportError(
                "the answer carries no user id",
                system=SYSTEM,
                method="POST",
                path="Users",
                status=status,
                attempts=reply.attempts,
            )
            target_id = settle(error)
            if target_id is None:
                raise error
            answered = None
        logger.info("created Lattice user %s for Personio %s", target_id, source_id)
        return self._verified(
            change, manager_target_id, target_id, reply.attempts, answered, found=found
        )

    def _find_created(self, source_id: str, email: str) -> TargetUser | None:
        by_key = _find_user(self._channel, "externalId", source_id)
        if by_key is not None:
            return by_key
        by_email = _find_user(self._channel, "userName", email)
        # A user with this email but someone else's key is not ours: re-POSTing gets the
        # 409 that reports the real conflict.
        if by_email is not None and by_email.external_id in (None, source_id):
            return by_email
        return None

    def patch(self, change: Change, manager_target_id: str | None) -> WriteResult:
        """Exactly one ``PATCH /Users/{id}`` for a link, reactivate, update or deactivate.

        PATCH sets values, so repeating it is harmless: transport errors are retried.
        """
        if change.target_id is None:
            raise ValueError(f"a {change.action.value} change needs the Lattice user's id")
        body = build_patch_body(change, manager_target_id, self._channel.dialect)
        path = f"Users/{quote(change.target_id, safe='')}"
        reply = self._channel.write("PATCH", path, body, retry_transport_errors=True)
        logger.info(
            "%s Lattice user %s (Personio %s)",
            change.action.value,
            change.target_id,
            change.source_id,
        )
        return self._verified(
            change, manager_target_id, change.target_id, reply.attempts, _answer_body(reply)
        )

    def _verified(
        self,
        change: Change,
        manager_target_id: str | None,
        target_id: str,
        attempts: int,
        answered: object,
        *,
        found: list[TargetUser] | None = None,
    ) -> WriteResult:
        """The write's result with what the target did not store (docs/decisions.md).

        ``answered`` is the resource the write's answer carried (``None`` when it carried
        none), else the user a lookup ``found`` after an unanswered create. It is compared
        first; without one, or when it differs, the user is read back
        once (``GET /Users/{id}``), and that answer decides: an answer to a write may be
        partial, the stored user is what the next plan reads.
        """
        dialect = self._channel.dialect

        def unstored(user: TargetUser) -> tuple[str, ...]:
            return unstored_fields(
                change, user, manager_target_id=manager_target_id, unverified=self._unverified
            )

        stored = _resource_user(answered, target_id, dialect)
        if stored is None and found:
            stored = next((user for user in found if user.target_id == target_id), None)
        if stored is not None and not unstored(stored):
            return WriteResult(target_id, attempts)
        path = f"Users/{quote(target_id, safe='')}"
        try:
            user = _parse_users([self._channel.get_json(path)], path, dialect)[0]
        except ApiError as error:
            # The write stands (a create's user exists); only its verification is unknown.
            where = f"{error.where}: " if error.where else ""
            logger.warning("reading Lattice user %s back failed: %s", target_id, error.message)
            return WriteResult(
                target_id, attempts, read_backs=1, unverified=f"{where}{error.message}"
            )
        missing = unstored(user)
        if missing:
            logger.warning(
                "%s Lattice user %s (Personio %s): answered as done, but not stored: %s",
                change.action.value,
                target_id,
                change.source_id,
                ", ".join(missing),
            )
        return WriteResult(target_id, attempts, not_stored=missing, read_backs=1)

    def close(self) -> None:
        self._channel.close()


def _answer_body(reply: Reply) -> object:
    """The JSON body of a write's answer, or ``None`` (a 204, an empty or non-JSON body)."""
    response = reply.response
    if response is None or response.status_code == 204 or not response.content:
        return None
    try:
        return decode_json(response)
    except ValueError:
        return None


def _resource_user(body: object, target_id: str, dialect: ScimDialect) -> TargetUser | None:
    """``body`` as the user ``target_id``, or ``None`` when it is no such user resource."""
    if not isinstance(body, Mapping):
        return None
    try:
        user = parse_user(body, dialect)
    except ValueError:
        return None
    return user if user.target_id == target_id else None
