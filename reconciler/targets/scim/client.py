"""Lattice SCIM 2.0 clients: a read-only reader (for ``plan``) and a writer only ``apply`` builds.
Imports httpx, the standard library, reconciler.errors, reconciler.edges.http and reconciler.model.

The pure half (``parse_user``, ``build_create_body``, ``build_patch_body``,
``parse_error_detail``) translates between SCIM resources and our model; the classes only
talk HTTP. Field mapping (plan field → SCIM):

    email            userName + emails[{value, primary: true, type: work}]
    first_name       name.givenName          (name.formatted = "given family", on create only)
    last_name        name.familyName
    preferred_name   nickName                (Lattice applies it on create only)
    title            title
    department       enterprise department
    manager          enterprise manager.value (the manager's SCIM id)
    start_date       lattice startDate       (YYYY-MM-DD)
    birth_date       lattice birthDate       (YYYY-MM-DD)
    custom:<Name>    lattice <Name>          (the attribute's display name)
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from reconciler.core.model import CUSTOM_PREFIX, Action, Change, FieldValue, TargetUser
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
from reconciler.errors import AuthError, ConflictError, TransportError

SYSTEM = "lattice"

CORE_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LATTICE_URN = "urn:ietf:params:scim:schemas:extension:lattice:attributes:1.0:User"
LIST_RESPONSE_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"

SCIM_MEDIA_TYPE = "application/scim+json"

#: Retries for production use; tests pass ``reconciler.http.NO_WAIT_RETRY``.
DEFAULT_RETRY = RetryPolicy()

AUTH_FIX = (
    "the SCIM key must be created by a Lattice super admin and SCIM must be enabled "
    "(Admin › Settings › Platform › Integrations › Enable SCIM)"
)

#: Plan field names every parsed user carries (``None`` when unset), so comparisons are simple.
STANDARD_FIELD_NAMES: tuple[str, ...] = (
    "email",
    "first_name",
    "last_name",
    "preferred_name",
    "title",
    "department",
    "manager",
    "start_date",
    "birth_date",
)

#: Keys of the Lattice extension that are standard fields, not custom attributes.
LATTICE_STANDARD_KEYS: Mapping[str, str] = {"startDate": "start_date", "birthDate": "birth_date"}

#: Where each plan field lives: (extension URN or None for core, attribute path segments).
_LOCATIONS: Mapping[str, tuple[str | None, tuple[str, ...]]] = {
    "first_name": (None, ("name", "givenName")),
    "last_name": (None, ("name", "familyName")),
    "preferred_name": (None, ("nickName",)),
    "title": (None, ("title",)),
    "department": (ENTERPRISE_URN, ("department",)),
    "manager": (ENTERPRISE_URN, ("manager",)),
    "start_date": (LATTICE_URN, ("startDate",)),
    "birth_date": (LATTICE_URN, ("birthDate",)),
}

_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ].*)?$")
# Deliberately loose: anything with an @ between non-separator characters is treated as an email.
_EMAIL_LIKE = re.compile(r"[^\s@\"'<>(),;:\[\]]+@[^\s@\"'<>(),;:\[\]]+")
_MAX_DETAIL = 300

logger = logging.getLogger("reconciler.targets.scim.client")

# ---------------------------------------------------------------------------------------------
# Pure: parsing and request bodies
# ---------------------------------------------------------------------------------------------


def parse_user(resource: Mapping[str, object]) -> TargetUser:
    """A SCIM user resource → ``TargetUser`` with normalised ``fields``.

    Raises ``ValueError`` (naming no personal data) when the resource has no ``id`` or no
    ``userName``/email; the caller turns it into an error located at its endpoint.
    """
    target_id = _text(resource.get("id"))
    if target_id is None:
        raise ValueError("a user resource has no id")
    email = _text(resource.get("userName")) or _primary_email(resource.get("emails"))
    if email is None:
        raise ValueError(f"user {target_id} has no userName")
    name = _mapping(resource.get("name"))
    enterprise = _mapping(resource.get(ENTERPRISE_URN))
    lattice = _mapping(resource.get(LATTICE_URN))

    fields: dict[str, FieldValue] = {
        "email": email,
        "first_name": _text(name.get("givenName")),
        "last_name": _text(name.get("familyName")),
        "preferred_name": _text(resource.get("nickName")),
        "title": _text(resource.get("title")),
        "department": _text(enterprise.get("department")),
        "manager": _manager_id(enterprise.get("manager")),
        "start_date": _date(lattice.get("startDate")),
        "birth_date": _date(lattice.get("birthDate")),
    }
    for key, value in lattice.items():
        if key not in LATTICE_STANDARD_KEYS:
            fields[f"{CUSTOM_PREFIX}{key}"] = _value(value)

    active = resource.get("active", True)
    return TargetUser(
        target_id=target_id,
        email=email,
        # SCIM leaves an absent ``active`` undefined; Lattice always sends it, and treating a
        # missing flag as deactivated would make us plan reactivations out of nothing.
        active=active if isinstance(active, bool) else True,
        external_id=_text(resource.get("externalId")),
        fields=fields,
    )


def build_create_body(change: Change, manager_scim_id: str | None) -> dict[str, object]:
    """The ``POST /Users`` body for a ``create`` change.

    Every field with a value is written; ``manager`` is written (as ``manager_scim_id``) only
    when the change has a ``manager`` field and the caller resolved it to a SCIM id.
    """
    if change.action is not Action.CREATE:
        raise ValueError(f"build_create_body needs a create change, not {change.action.value}")
    if change.source_id is None:
        raise ValueError("a create change needs a Personio id (it becomes the externalId)")
    body: dict[str, Any] = {
        "schemas": [CORE_URN],
        "externalId": change.source_id,
        "userName": change.email,
        "active": True,
        "emails": [{"value": change.email, "primary": True, "type": "work"}],
    }
    for field_change in change.fields:
        name = field_change.name
        if name == "email":
            continue  # change.email is the identity written above
        if name == "manager":
            if manager_scim_id is not None:
                _put(body, ENTERPRISE_URN, ("manager",), {"value": manager_scim_id})
            continue
        urn, segments = _locate(name)
        if field_change.after is not None:
            _put(body, urn, segments, field_change.after)
    name_parts = body.get("name", {})
    formatted = " ".join(
        str(part)
        for part in (name_parts.get("givenName"), name_parts.get("familyName"))
        if part is not None
    )
    if formatted:
        name_parts["formatted"] = formatted
    body["schemas"] = _schemas_for(body)
    return body


def build_patch_body(change: Change, manager_scim_id: str | None) -> dict[str, object]:
    """The one ``PATCH /Users/{id}`` body for a link, reactivate, update or deactivate change.

    One ``replace`` op without ``path`` carries everything being set (extension attributes
    nested under their URN); each field set to ``None`` becomes a ``remove`` op with a path.
    For ``manager`` the change holds Personio ids; ``manager_scim_id`` is the resolved new
    manager (``None`` removes it).
    """
    if change.action is Action.CREATE:
        raise ValueError("a create change is sent with build_create_body, not as a PATCH")
    values: dict[str, Any] = {}
    removals: list[str] = []
    if change.action is Action.LINK:
        if change.source_id is None:
            raise ValueError("a link change needs a Personio id (it becomes the externalId)")
        values["externalId"] = change.source_id
    elif change.action is Action.REACTIVATE:
        values["active"] = True
    elif change.action is Action.DEACTIVATE:
        values["active"] = False

    for field_change in change.fields:
        name, after = field_change.name, field_change.after
        if name == "email":
            if after is None:
                raise ValueError("email cannot be removed from a Lattice user")
            values["userName"] = after
            values["emails"] = [{"value": after, "primary": True, "type": "work"}]
            continue
        urn, segments = _locate(name)
        value: object = after
        if name == "manager":
            # the change carries Personio ids; what Lattice needs is the resolved SCIM id
            value = None if manager_scim_id is None else {"value": manager_scim_id}
        if value is not None:
            _put(values, urn, segments, value)
            continue
        path = ".".join(segments)
        removals.append(f"{urn}:{path}" if urn else path)

    operations: list[dict[str, object]] = []
    if values:
        operations.append({"op": "replace", "value": values})
    operations.extend({"op": "remove", "path": path} for path in removals)
    if not operations:
        raise ValueError(f"{change.action.value} change for {change.target_id} changes nothing")
    return {"schemas": [PATCH_OP_URN], "Operations": operations}


def parse_error_detail(response: httpx.Response) -> str | None:
    """The SCIM error ``detail`` of a response, with anything that looks like an email removed.

    Servers echo the offending value (``"ada@example.com is already taken"``); error messages
    end up in logs and CI output, so personal data is cut out here, once, for every caller.
    """
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    detail = body.get("detail")
    if not isinstance(detail, str) or not detail.strip():
        return None
    cleaned = _EMAIL_LIKE.sub("<email>", detail.strip())
    if len(cleaned) > _MAX_DETAIL:
        cleaned = cleaned[: _MAX_DETAIL - 1] + "…"
    return cleaned


def build_filter(attribute: str, value: str) -> str:
    """A SCIM ``eq`` filter with the value quoted as RFC 7644 §3.4.2.2 requires."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{attribute} eq "{escaped}"'


def _locate(name: str) -> tuple[str | None, tuple[str, ...]]:
    if name.startswith(CUSTOM_PREFIX):
        attribute = name.removeprefix(CUSTOM_PREFIX)
        if not attribute:
            raise ValueError("a custom field needs an attribute name")
        return LATTICE_URN, (attribute,)
    try:
        return _LOCATIONS[name]
    except KeyError:
        raise ValueError(f"unknown Lattice field {name!r}") from None


def _put(target: dict[str, Any], urn: str | None, segments: tuple[str, ...], value: object) -> None:
    container = target if urn is None else target.setdefault(urn, {})
    for segment in segments[:-1]:
        container = container.setdefault(segment, {})
    container[segments[-1]] = value


def _schemas_for(body: Mapping[str, object]) -> list[str]:
    # Only announce extensions that are used: a SCIM service without the Lattice extension
    # would reject a resource claiming it.
    return [CORE_URN] + [urn for urn in (ENTERPRISE_URN, LATTICE_URN) if urn in body]


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    if value is None or isinstance(value, (Mapping, list)):
        return None
    text = str(value).strip()
    return text or None


def _primary_email(value: object) -> str | None:
    if not isinstance(value, list):
        return None
    entries = [entry for entry in value if isinstance(entry, Mapping)]
    entries.sort(key=lambda entry: entry.get("primary") is not True)
    for entry in entries:
        email = _text(entry.get("value"))
        if email is not None:
            return email
    return None


def _manager_id(value: object) -> str | None:
    # RFC 7643 makes manager a complex attribute; a few providers send the bare id.
    if isinstance(value, Mapping):
        return _text(value.get("value"))
    return _text(value)


def _date(value: object) -> str | None:
    text = _text(value)
    if text is None:
        return None
    match = _DATE.match(text)
    return match.group(1) if match else text


def _value(value: object) -> FieldValue:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        # a relationship attribute may arrive as {"value": "<email>", ...}
        return _value(value.get("value"))
    if isinstance(value, list):
        parts = [text for text in (_text(item) for item in value) if text is not None]
        return ", ".join(parts) or None
    return _text(value)


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
    ) -> None:
        self.retry = retry
        self.sleep = sleep
        self.rng = random.Random()
        self.counter = RequestCounter()
        self._client = build_client(
            base_url,
            headers={"Accept": f"{SCIM_MEDIA_TYPE}, application/json"},
            auth=_BearerAuth(token),
            transport=transport,
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
        )

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: object | None = None,
        retry_transport_errors: bool = True,
    ) -> tuple[httpx.Response, int]:
        try:
            return self._sender.send(
                method,
                path,
                params=params,
                json=json,
                retry_transport_errors=retry_transport_errors,
            )
        except AuthError as exc:
            exc.fix = AUTH_FIX
            raise

    def get_json(self, path: str, params: Mapping[str, str | int] | None = None) -> dict[str, Any]:
        """GET a JSON object; a body that is not JSON is fetched again (a GET is safe to repeat)."""
        try:
            body, response = self._sender.get_json(path, params=params)
        except AuthError as exc:
            exc.fix = AUTH_FIX
            raise
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
        self, method: str, path: str, body: object, *, retry_transport_errors: bool
    ) -> tuple[httpx.Response, int]:
        return self.send(method, path, json=body, retry_transport_errors=retry_transport_errors)


def _parse_users(resources: Iterable[object], path: str) -> list[TargetUser]:
    users = []
    for resource in resources:
        if not isinstance(resource, Mapping):
            raise TransportError(
                "a list entry is not a SCIM resource", system=SYSTEM, method="GET", path=path
            )
        try:
            users.append(parse_user(resource))
        except ValueError as exc:
            raise TransportError(str(exc), system=SYSTEM, method="GET", path=path) from exc
    return users


def _list_page(body: Mapping[str, object], path: str) -> tuple[int, list[TargetUser]]:
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
    return total, _parse_users(resources, path)


def _find_user(channel: _ReadChannel, attribute: str, value: str) -> TargetUser | None:
    body = channel.get_json("Users", {"filter": build_filter(attribute, value)})
    _, users = _list_page(body, "Users")
    return users[0] if users else None


# ---------------------------------------------------------------------------------------------
# Reader and writer
# ---------------------------------------------------------------------------------------------


class LatticeReader(ClosingClient):
    """Reads Lattice users over SCIM. It has no write methods: a dry run cannot write."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Sleep = time.sleep,
        requests_per_second: float = 5.0,
        max_concurrency: int = 4,
        page_size: int = 100,
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
        first = self._channel.get_json("Users", {"startIndex": 1, "count": self._page_size})
        total, users = _list_page(first, "Users")
        found = {user.target_id: user for user in users}
        if progress is not None:
            progress(len(found), total)
        pending: list[tuple[int, int]] = []
        if users:
            # Continue from where the first page actually ended, not from where it should have.
            pending = self._ranges(1 + len(users), total)
        with ThreadPoolExecutor(max_workers=self._max_concurrency) as pool:
            while pending:
                pages = list(pool.map(self._fetch_range, pending))
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
        if len(found) != total:
            logger.info("Lattice listed %d distinct users; totalResults said %d", len(found), total)
        return tuple(sorted(found.values(), key=lambda user: user.target_id))

    def _ranges(self, first: int, last: int) -> list[tuple[int, int]]:
        """``(startIndex, count)`` pages covering positions ``first..last`` (1-based)."""
        return [(start, self._page_size) for start in range(first, last + 1, self._page_size)]

    def _fetch_range(self, page: tuple[int, int]) -> tuple[int, int, int, list[TargetUser]]:
        start, count = page
        body = self._channel.get_json("Users", {"startIndex": start, "count": count})
        total, users = _list_page(body, "Users")
        logger.debug("Lattice page startIndex=%d count=%d → %d users", start, count, len(users))
        return start, count, total, users

    def fetch_custom_attribute_names(self) -> frozenset[str]:
        """Names of the custom attributes Lattice knows (from its SCIM extension schema)."""
        path = f"Schemas/{LATTICE_URN}"
        body = self._channel.get_json(path)
        attributes = body.get("attributes")
        if not isinstance(attributes, list):
            raise TransportError(
                "the answer is not a SCIM schema", system=SYSTEM, method="GET", path=path
            )
        names = (
            _text(attribute.get("name")) for attribute in attributes if isinstance(attribute, dict)
        )
        return frozenset(
            name for name in names if name is not None and name not in LATTICE_STANDARD_KEYS
        )

    def check_access(self) -> None:
        """One cheap request that proves the key works; raises ``AuthError`` with the fix."""
        self._channel.get_json("Users", {"count": 1})

    def close(self) -> None:
        self._channel.close()


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The user a write landed on, and how many requests carrying the write were sent."""

    target_id: str
    attempts: int


class LatticeWriter(ClosingClient):
    """Creates and patches Lattice users over SCIM. Built only by ``apply``."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Sleep = time.sleep,
        requests_per_second: float = 5.0,
        max_concurrency: int = 4,
        page_size: int = 100,
    ) -> None:
        # page_size is accepted so both clients are built from the same settings.
        del page_size
        self._channel = _WriteChannel(
            base_url=base_url,
            token=token,
            transport=transport,
            retry=retry,
            sleep=sleep,
            requests_per_second=requests_per_second,
            max_connections=max_concurrency,
        )

    @property
    def request_count(self) -> int:
        return self._channel.counter.count

    def create(self, change: Change, manager_scim_id: str | None) -> WriteResult:
        """``POST /Users``, never re-sent blindly.

        When the outcome is unknown (timeout, reset, unreadable answer) the user is looked up
        by externalId, then userName; only when it is not there is the POST sent again. A 409
        for a user that already carries our externalId counts as created (idempotent).
        """
        body = build_create_body(change, manager_scim_id)
        source_id = change.source_id
        assert source_id is not None  # build_create_body refuses a change without one
        channel = self._channel
        attempts = 0
        while True:
            try:
                response, sent = channel.write("POST", "Users", body, retry_transport_errors=False)
                attempts += sent
                target_id = _text(
                    _mapping(json_body(response, system=SYSTEM, method="POST", path="Users")).get(
                        "id"
                    )
                )
                if target_id is None:
                    raise TransportError(
                        "the answer carries no user id",
                        system=SYSTEM,
                        method="POST",
                        path="Users",
                        status=response.status_code,
                    )
            except ConflictError:
                attempts += 1
                existing = _find_user(channel, "externalId", source_id)
                if existing is not None and existing.external_id == source_id:
                    logger.info(
                        "Lattice user %s already exists for Personio %s; treating as created",
                        existing.target_id,
                        source_id,
                    )
                    return WriteResult(existing.target_id, attempts)
                raise
            except TransportError as exc:
                attempts += 1 if exc.status is None else 0
                logger.warning(
                    "POST Users for Personio %s: outcome unknown (%s); looking the user up",
                    source_id,
                    exc.message,
                )
                existing = self._find_created(source_id, change.email)
                if existing is not None:
                    logger.info(
                        "found Lattice user %s for Personio %s after %d attempts",
                        existing.target_id,
                        source_id,
                        attempts,
                    )
                    return WriteResult(existing.target_id, attempts)
                if attempts >= channel.retry.max_attempts:
                    exc.message = f"{exc.message} (gave up after {attempts} attempts)"
                    raise
                delay = channel.retry.delay(attempts, None, channel.rng)
                if delay > 0:
                    channel.sleep(delay)
                continue
            logger.info("created Lattice user %s for Personio %s", target_id, source_id)
            return WriteResult(target_id, attempts)

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

    def patch(self, change: Change, manager_scim_id: str | None) -> WriteResult:
        """Exactly one ``PATCH /Users/{id}`` for a link, reactivate, update or deactivate.

        PATCH sets values, so repeating it is harmless: transport errors are retried.
        """
        if change.target_id is None:
            raise ValueError(f"a {change.action.value} change needs the Lattice user's id")
        body = build_patch_body(change, manager_scim_id)
        path = f"Users/{quote(change.target_id, safe='')}"
        _, attempts = self._channel.write("PATCH", path, body, retry_transport_errors=True)
        logger.info(
            "%s Lattice user %s (Personio %s)",
            change.action.value,
            change.target_id,
            change.source_id,
        )
        return WriteResult(change.target_id, attempts)

    def close(self) -> None:
        self._channel.close()
