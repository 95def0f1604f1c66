"""A small stateful emulator of Lattice's SCIM 2.0 service: users, quirks and injectable faults.
Imports httpx, the standard library and reconciler.sandbox.transport; knows nothing of our clients.

Written by hand rather than adapted from a SCIM library because what matters here are Lattice's
own behaviours, which no generic server has: ``nickName`` ignored on PATCH, custom attributes
keyed by display name that must already exist, at most 200 choices per multiple-choice
attribute, and faults (429, 5xx, resets before or after the work, short pages) on demand.

Routes, under ``/scim/v2``: ``GET|POST /Users`` (paging, ``filter`` with ``eq`` on userName,
emails, emails.value, externalId; ``active eq true|false``), ``GET|PATCH /Users/{id}``,
``GET /Schemas`` and ``/Schemas/<urn>``, ``GET /ResourceTypes[/User]``,
``GET /ServiceProviderConfig``. Every error is a SCIM error body.

``strict=True`` models the pessimistic reading of Lattice's documentation (docs/decisions.md,
"Lattice: the strict emulator"): name parts come back null with the full name only in
``name.formatted``, kept exactly as last sent; ``externalId`` cannot change once set; a PATCH
``path`` that is not a valid RFC 7643 attribute name ("…:User:Cost Center") is refused with
400 ``invalidPath``; ``password`` and core attributes Lattice does not have are refused.
"""

from __future__ import annotations

import copy
import datetime as dt
import hmac
import json
import random
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx

from reconciler.sandbox.transport import SimulatedReset, SimulatedTimeout, in_process_transport

BASE_PATH = "/scim/v2"
CORE_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LATTICE_URN = "urn:ietf:params:scim:schemas:extension:lattice:attributes:1.0:User"
SCHEMA_URN = "urn:ietf:params:scim:schemas:core:2.0:Schema"
LIST_RESPONSE_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
SERVICE_PROVIDER_CONFIG_URN = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"

#: Lattice caps a multiple-choice attribute at this many distinct values (a multi-select at
#: this many distinct options, whichever sets of them users hold).
MAX_CHOICES = 200
#: ``date``: YYYY-MM-DD, no choice limit; ``multi_select``: a list of distinct strings
#: (docs/decisions.md, 2026-12-03: dates and tags as the Lattice types made for them).
CUSTOM_TYPES = frozenset({"text", "number", "date", "multi_select", "user"})
_CHOICE_TYPES = frozenset({"text", "multi_select"})
_DATE_KEYS = ("startDate", "birthDate")
#: Standard text attributes of the Lattice extension (docs/decisions.md, 2026-12-03): stored
#: and listed in ``/Schemas`` as such, never as custom attributes.
_TEXT_KEYS = ("gender", "ethnicity", "sexualOrientation")
_STANDARD_KEYS = frozenset(key.casefold() for key in (*_DATE_KEYS, *_TEXT_KEYS))
_WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FILTER = re.compile(
    r'^\s*(userName|emails\.value|emails|externalId)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE
)
_ACTIVE_FILTER = re.compile(r"^\s*active\s+eq\s+(true|false)\s*$", re.IGNORECASE)
_MEDIA_TYPE = "application/scim+json"
_DISCOVERY_ROUTES = frozenset(
    {"/Schemas", "/ResourceTypes", "/ResourceTypes/User", "/ServiceProviderConfig"}
)
RESOURCE_TYPE_URN = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
#: RFC 7643 §2.1: ATTRNAME = ALPHA *(nameChar); a PATCH path segment must be one.
_ATTRNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
#: The top-level attributes the strict mode accepts (core User as Lattice documents it, plus
#: the two extensions); anything else, ``password`` included, is refused.
STRICT_CORE_ATTRIBUTES = frozenset(
    {
        "schemas",
        "id",
        "externalId",
        "meta",
        "userName",
        "name",
        "displayName",
        "nickName",
        "title",
        "active",
        "emails",
        ENTERPRISE_URN.casefold(),
        LATTICE_URN.casefold(),
        CORE_URN.casefold(),
    }
)
_STRICT_FOLDED = frozenset(name.casefold() for name in STRICT_CORE_ATTRIBUTES)


@dataclass
class LatticeFaults:
    """Faults to inject. Counters are "the next N (eligible) requests" and count down.

    A fault that ends a request (timeout, reset before, 429, 5xx) is drawn in that order; a
    ``short_page_once`` list page, a malformed body or a reset *after* the work happen on
    otherwise normal answers. ``error_rate`` draws from ``random.Random(seed)``, so a run
    with the same requests fails the same ones.
    """

    rate_limit: int = 0
    retry_after: float | None = 1.0
    server_errors: int = 0
    error_rate: float = 0.0
    resets_before: int = 0
    resets_after: int = 0
    timeouts: int = 0
    slow_seconds: float = 0.0
    short_page_once: bool = False
    malformed_json: int = 0
    writes_only: bool = False
    seed: int = 0


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the emulator saw it; ``status`` is ``None`` when the connection dropped."""

    method: str
    path: str  # without the query string: filters carry emails
    status: int | None


class _ScimError(Exception):
    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type


@dataclass
class _Draw:
    """What the faults decided for one request."""

    drop: type[Exception] | None = None
    response: httpx.Response | None = None
    reset_after: bool = False
    malformed: bool = False


class LatticeEmulator:
    """Lattice's SCIM service as an httpx handler: ``emulator(request) -> response``.

    Serve it in-process with ``transport()`` or over HTTP with ``EmulatorServer(emulator)``;
    the client's base URL is then ``<server url>/scim/v2``. Thread-safe.
    """

    def __init__(
        self,
        *,
        token: str,
        custom_attributes: Mapping[str, str] | None = None,
        users: Sequence[Mapping[str, object]] = (),
        faults: LatticeFaults | None = None,
        max_page_size: int = 100,
        strict: bool = False,
        ignore_on_patch: frozenset[str] = frozenset(),
    ) -> None:
        """``ignore_on_patch``: attribute names (``"title"``, a custom attribute's display
        name, compared case-insensitively) a PATCH silently leaves as they were while
        answering 200 — a target that accepts a write and does not keep it (docs/decisions.md,
        "2026-12-03: apply verifies its own writes"). Creates are unaffected."""
        attributes = dict(custom_attributes or {})
        for name, kind in attributes.items():
            if kind not in CUSTOM_TYPES:
                known = ", ".join(sorted(CUSTOM_TYPES))
                raise ValueError(f"custom attribute {name!r}: type must be one of {known}")
            if name.casefold() in _STANDARD_KEYS:
                raise ValueError(f"{name!r} is a standard Lattice attribute, not a custom one")
        self._token = token
        self.strict = strict
        self.ignore_on_patch = frozenset(name.casefold() for name in ignore_on_patch)
        self.custom_attributes: dict[str, str] = attributes
        self.faults = faults or LatticeFaults()
        self.max_page_size = max(1, max_page_size)
        #: the stored resources by id, in creation order (read them; write through requests)
        self.users: dict[str, dict[str, object]] = {}
        self.requests: list[RecordedRequest] = []
        self._listing: list[str] | None = None  # user ids in listing order, kept between pages
        self._lock = threading.RLock()
        self._rng = random.Random(self.faults.seed)
        self._next_number = 1
        self._by_user_name: dict[str, set[str]] = {}
        self._by_external_id: dict[str, set[str]] = {}
        self._choices: dict[str, set[str]] = {
            name: set() for name, kind in attributes.items() if kind in _CHOICE_TYPES
        }
        self._server_error_flip = False
        for user in users:
            self.seed_user(user)

    # -- public helpers --------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        """An in-process transport: same wire format, no socket."""
        return in_process_transport(self)

    def seed_user(self, resource: Mapping[str, object]) -> str:
        """Store a user as given (no validation, no request logged); returns its id.

        A missing ``id`` is assigned like a created user's; ``active`` defaults to true.
        """
        with self._lock:
            stored: dict[str, Any] = copy.deepcopy(dict(resource))
            user_id = str(stored.get("id") or self._new_id())
            if user_id in self.users:
                raise ValueError(f"user {user_id} already exists")
            stored["id"] = user_id
            stored.setdefault("schemas", [CORE_URN])
            stored.setdefault("active", True)
            stored["meta"] = self._new_meta()
            self._store(user_id, stored)
            return user_id

    def reads(self) -> int:
        with self._lock:
            return sum(1 for request in self.requests if request.method == "GET")

    def writes(self) -> int:
        with self._lock:
            return sum(1 for request in self.requests if request.method in _WRITE_METHODS)

    def find_by_user_name(self, user_name: str) -> list[dict[str, object]]:
        """Stored users whose userName matches case-insensitively (for tests)."""
        with self._lock:
            ids = sorted(self._by_user_name.get(user_name.strip().casefold(), set()))
            return [self.users[user_id] for user_id in ids]

    # -- the handler -----------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        method = request.method.upper()
        path = request.url.path
        is_write = method in _WRITE_METHODS
        with self._lock:
            draw = self._draw_faults(is_write)
        if self.faults.slow_seconds > 0 and (is_write or not self.faults.writes_only):
            # outside the lock: a slow answer must not stall every other request
            time.sleep(self.faults.slow_seconds)
        if draw.drop is not None:
            self._record(method, path, None)
            raise draw.drop("fault injected by the Lattice emulator")
        if draw.response is not None:
            self._record(method, path, draw.response.status_code)
            return draw.response
        with self._lock:
            try:
                response = self._serve(method, path, request)
            except _ScimError as error:
                response = _error_response(error)
        if draw.reset_after:
            self._record(method, path, None)
            raise SimulatedReset("the work was done, then the connection dropped")
        if draw.malformed:
            response = httpx.Response(
                response.status_code,
                content=b'{"schemas": ["urn:ietf:params:scim:api:mess',
                headers={"Content-Type": _MEDIA_TYPE},
            )
        self._record(method, path, response.status_code)
        return response

    def _record(self, method: str, path: str, status: int | None) -> None:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, status))

    def _draw_faults(self, is_write: bool) -> _Draw:
        faults = self.faults
        draw = _Draw()
        if faults.writes_only and not is_write:
            return draw
        if faults.timeouts > 0:
            faults.timeouts -= 1
            draw.drop = SimulatedTimeout
            return draw
        if is_write and faults.resets_before > 0:
            faults.resets_before -= 1
            draw.drop = SimulatedReset
            return draw
        if faults.rate_limit > 0:
            faults.rate_limit -= 1
            headers = {}
            if faults.retry_after is not None:
                headers["Retry-After"] = f"{faults.retry_after:g}"
            draw.response = _error_response(
                _ScimError(429, "too many requests", None), headers=headers
            )
            return draw
        if faults.server_errors > 0:
            faults.server_errors -= 1
            self._server_error_flip = not self._server_error_flip
            status = 500 if self._server_error_flip else 503
            draw.response = _error_response(_ScimError(status, "internal error (injected)"))
            return draw
        if faults.error_rate > 0 and self._rng.random() < faults.error_rate:
            draw.response = _error_response(_ScimError(503, "service unavailable (injected)"))
            return draw
        if faults.malformed_json > 0:
            faults.malformed_json -= 1
            draw.malformed = True
        if is_write and faults.resets_after > 0:
            faults.resets_after -= 1
            draw.reset_after = True
        return draw

    def _serve(self, method: str, path: str, request: httpx.Request) -> httpx.Response:
        expected = f"Bearer {self._token}".encode()
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise _ScimError(401, "the bearer token is missing or not valid")
        if not path.startswith(BASE_PATH + "/"):
            raise _ScimError(404, "no such endpoint")
        route = path[len(BASE_PATH) :]
        if method != "GET" and (route in _DISCOVERY_ROUTES or route.startswith("/Schemas/")):
            # RFC 7644 §4: the discovery endpoints are read-only; a known resource asked with
            # a method it lacks is 405, not 404 (scim2-tester checks it, docs/conformance.md).
            raise _ScimError(405, f"{method} is not supported here")
        if route == "/Users":
            if method == "GET":
                return self._list(request)
            if method == "POST":
                return self._create(request)
        elif route.startswith("/Users/"):
            user_id = unquote(route.removeprefix("/Users/"))
            if method == "GET":
                return _json_response(200, self._render(self._get(user_id), request))
            if method == "PATCH":
                return self._patch(user_id, request)
        elif route.startswith("/Schemas/") and method == "GET":
            return self._schema(unquote(route.removeprefix("/Schemas/")), request)
        elif route == "/Schemas" and method == "GET":
            return self._schemas(request)
        elif route in ("/ResourceTypes", "/ResourceTypes/User") and method == "GET":
            user_type = _resource_type(request)
            if route == "/ResourceTypes/User":
                return _json_response(200, user_type)
            return _json_response(200, _list_body([user_type], 1, 1))
        elif route == "/ServiceProviderConfig" and method == "GET":
            return _json_response(200, self._service_provider_config(request))
        else:
            raise _ScimError(404, "no such endpoint")
        raise _ScimError(405, f"{method} is not supported here")

    # -- Users -----------------------------------------------------------------------------

    def _list(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        start = _int_param(params.get("startIndex"), 1)
        count = _int_param(params.get("count"), self.max_page_size)
        start = max(1, start)
        count = min(max(0, count), self.max_page_size)
        raw_filter = params.get("filter")
        if raw_filter is None:
            # The id list is kept between pages: copying every user for each page made a full
            # listing quadratic in the number of users.
            if self._listing is None:
                self._listing = list(self.users)
            total = len(self._listing)
            page = [self.users[user_id] for user_id in self._listing[start - 1 : start - 1 + count]]
        else:
            candidates = self._filter(raw_filter)
            total = len(candidates)
            page = candidates[start - 1 : start - 1 + count]
        faults = self.faults
        if (
            faults.short_page_once
            and not faults.writes_only
            and start - 1 + count < total
            and len(page) == count
            and count > 1
        ):
            # Lattice has been seen to return one fewer than asked mid-list: model exactly that.
            faults.short_page_once = False
            page = page[:-1]
        return _json_response(
            200,
            {
                "schemas": [LIST_RESPONSE_URN],
                "totalResults": total,
                "startIndex": start,
                "itemsPerPage": len(page),
                "Resources": [self._render(user, request) for user in page],
            },
        )

    def _filter(self, expression: str) -> list[dict[str, object]]:
        active = _ACTIVE_FILTER.match(expression)
        if active is not None:
            wanted_active = active.group(1).lower() == "true"
            return [user for user in self.users.values() if user.get("active") is wanted_active]
        match = _FILTER.match(expression)
        if match is None:
            raise _ScimError(
                400,
                "only 'eq' filters on userName, emails, emails.value, externalId or active "
                "are supported",
                "invalidFilter",
            )
        attribute = match.group(1).casefold()
        value = re.sub(r"\\(.)", r"\1", match.group(2))
        if attribute == "username":
            ids = self._by_user_name.get(value.strip().casefold(), set())
        elif attribute == "externalid":
            ids = self._by_external_id.get(value, set())
        else:
            wanted = value.strip().casefold()
            ids = {
                user_id
                for user_id, user in self.users.items()
                if wanted in _email_values(user.get("emails"))
            }
        return [self.users[user_id] for user_id in self.users if user_id in ids]

    def _get(self, user_id: str) -> dict[str, object]:
        user = self.users.get(user_id)
        if user is None:
            raise _ScimError(404, f"user {user_id} not found")
        return user

    def _create(self, request: httpx.Request) -> httpx.Response:
        body = _json_object(request)
        resource: dict[str, Any] = {
            key: copy.deepcopy(value) for key, value in body.items() if key not in ("id", "meta")
        }
        resource.setdefault("schemas", [CORE_URN])
        resource.setdefault("active", True)
        if self.strict:
            _refuse_unknown_attributes(resource)
        _drop_nulls(resource)
        name = resource.get("name")
        if isinstance(name, dict) and not name.get("formatted"):
            _set_formatted(name)
        self._validate(resource, own_id=None)
        user_id = self._new_id()
        resource["id"] = user_id
        resource["meta"] = self._new_meta()
        self._store(user_id, resource)
        rendered = self._render(resource, request)
        location = _location(request, user_id)
        return _json_response(201, rendered, headers={"Location": location})

    def _patch(self, user_id: str, request: httpx.Request) -> httpx.Response:
        current = self._get(user_id)
        body = _json_object(request)
        schemas = body.get("schemas")
        if not isinstance(schemas, list) or PATCH_OP_URN not in schemas:
            raise _ScimError(400, "a PATCH body must be a PatchOp message", "invalidSyntax")
        operations = body.get("Operations")
        if not isinstance(operations, list) or not operations:
            raise _ScimError(400, "a PatchOp message needs at least one operation", "invalidSyntax")
        draft: dict[str, Any] = copy.deepcopy(current)
        name_before = _name_parts(draft)
        for operation in operations:
            if not isinstance(operation, dict):
                raise _ScimError(400, "an operation must be an object", "invalidSyntax")
            _apply_operation(draft, operation, strict=self.strict)
        _restore_ignored(draft, current, self.ignore_on_patch)
        if self.strict:
            _refuse_unknown_attributes(draft)
            locked = current.get("externalId")
            if locked is not None and draft.get("externalId") != locked:
                raise _ScimError(400, "externalId is set on first sync and locked", "mutability")
        _drop_nulls(draft)
        name = draft.get("name")
        # Strict: Lattice keeps name.formatted as it was last sent, whatever the parts do.
        if isinstance(name, dict) and _name_parts(draft) != name_before and not self.strict:
            _set_formatted(name)
        self._validate(draft, own_id=user_id, before=current)
        meta = dict(_as_dict(current.get("meta")))
        meta["lastModified"] = _now()
        meta["version"] = f'W/"{_version(meta) + 1}"'
        draft["meta"] = meta
        self._unindex(user_id, current)
        self._store(user_id, draft)
        return _json_response(200, self._render(draft, request))

    # -- validation and storage ------------------------------------------------------------

    def _validate(
        self,
        resource: Mapping[str, Any],
        *,
        own_id: str | None,
        before: Mapping[str, Any] | None = None,
    ) -> None:
        """Check a resource about to be stored; on PATCH (``before`` given) only what changed,
        so a user seeded with odd data can still be patched elsewhere."""
        before = before or {}
        user_name = resource.get("userName")
        if user_name != before.get("userName"):
            if not isinstance(user_name, str) or not _EMAIL.match(user_name.strip()):
                raise _ScimError(400, "userName must be a valid email address", "invalidValue")
            if self._by_user_name.get(user_name.strip().casefold(), set()) - {own_id}:
                raise _ScimError(409, "userName is already in use", "uniqueness")
        external_id = resource.get("externalId")
        if external_id is not None and external_id != before.get("externalId"):
            if not isinstance(external_id, str):
                raise _ScimError(400, "externalId must be a string", "invalidValue")
            if self._by_external_id.get(external_id, set()) - {own_id}:
                raise _ScimError(409, f"externalId {external_id} is already in use", "uniqueness")
        if not isinstance(resource.get("active", True), bool):
            raise _ScimError(400, "active must be true or false", "invalidValue")
        for key in ("name", ENTERPRISE_URN, LATTICE_URN):
            if key in resource and not isinstance(resource[key], dict):
                raise _ScimError(400, f"{key} must be an object", "invalidValue")
        emails = resource.get("emails", [])
        if not isinstance(emails, list) or not all(isinstance(e, dict) for e in emails):
            raise _ScimError(400, "emails must be a list of objects", "invalidValue")
        manager = _as_dict(resource.get(ENTERPRISE_URN)).get("manager")
        if manager is not None and manager != _as_dict(before.get(ENTERPRISE_URN)).get("manager"):
            manager_id = manager.get("value") if isinstance(manager, dict) else None
            if not isinstance(manager_id, str) or manager_id not in self.users:
                raise _ScimError(400, f"manager {manager_id} is not a user", "invalidValue")
            if manager_id == own_id:
                raise _ScimError(400, "a user cannot be their own manager", "invalidValue")
        old_values = _as_dict(before.get(LATTICE_URN))
        for key, value in _as_dict(resource.get(LATTICE_URN)).items():
            if key not in old_values or old_values[key] != value:
                self._validate_lattice_value(key, value)

    def _validate_lattice_value(self, key: str, value: object) -> None:
        if key in _DATE_KEYS:
            if not isinstance(value, str) or not _DATE.match(value):
                raise _ScimError(400, f"{key} must be a date (YYYY-MM-DD)", "invalidValue")
            return
        if key in _TEXT_KEYS:
            if not isinstance(value, str):
                raise _ScimError(400, f"{key} must be a string", "invalidValue")
            return
        kind = self.custom_attributes.get(key)
        if kind is None:
            raise _ScimError(
                400,
                f"unknown custom attribute '{key}': create it in Lattice first",
                "invalidValue",
            )
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _ScimError(400, f"custom attribute '{key}' needs a number", "invalidValue")
        elif kind == "user":
            if not isinstance(value, str) or not _EMAIL.match(value.strip()):
                raise _ScimError(
                    400, f"custom attribute '{key}' needs a user's email", "invalidValue"
                )
        elif kind == "date":
            if not isinstance(value, str) or not _is_date(value):
                raise _ScimError(
                    400, f"custom attribute '{key}' needs a date (YYYY-MM-DD)", "invalidValue"
                )
        elif kind == "multi_select":
            if (
                not isinstance(value, list)
                or not all(isinstance(item, str) and item.strip() for item in value)
                or len(set(value)) != len(value)
            ):
                raise _ScimError(
                    400,
                    f"custom attribute '{key}' needs a list of distinct, non-empty texts",
                    "invalidValue",
                )
            choices = self._choices.setdefault(key, set())
            if len(choices | set(value)) > MAX_CHOICES:
                raise _ScimError(
                    400,
                    f"custom attribute '{key}' would have more than {MAX_CHOICES} options",
                    "invalidValue",
                )
        else:
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise _ScimError(400, f"custom attribute '{key}' needs a text", "invalidValue")
            choices = self._choices.setdefault(key, set())
            if str(value) not in choices and len(choices) >= MAX_CHOICES:
                raise _ScimError(
                    400,
                    f"custom attribute '{key}' already has {MAX_CHOICES} choices",
                    "invalidValue",
                )

    def _store(self, user_id: str, resource: dict[str, Any]) -> None:
        if user_id not in self.users:
            self._listing = None  # a new user: the listing order changes
        self.users[user_id] = resource
        user_name = resource.get("userName")
        if isinstance(user_name, str):
            self._by_user_name.setdefault(user_name.strip().casefold(), set()).add(user_id)
        external_id = resource.get("externalId")
        if isinstance(external_id, str):
            self._by_external_id.setdefault(external_id, set()).add(user_id)
        for key, value in _as_dict(resource.get(LATTICE_URN)).items():
            if self.custom_attributes.get(key) in _CHOICE_TYPES and value is not None:
                # An attribute created after the emulator started (a test's "create it in
                # Lattice") is tracked from its first value on.
                choices = self._choices.setdefault(key, set())
                if isinstance(value, (list, tuple)):
                    choices.update(str(item) for item in value)
                else:
                    choices.add(str(value))

    def _unindex(self, user_id: str, resource: Mapping[str, object]) -> None:
        user_name = resource.get("userName")
        if isinstance(user_name, str):
            self._by_user_name.get(user_name.strip().casefold(), set()).discard(user_id)
        external_id = resource.get("externalId")
        if isinstance(external_id, str):
            self._by_external_id.get(external_id, set()).discard(user_id)

    def _new_id(self) -> str:
        while f"u_{self._next_number:06d}" in self.users:
            self._next_number += 1
        user_id = f"u_{self._next_number:06d}"
        self._next_number += 1
        return user_id

    @staticmethod
    def _new_meta() -> dict[str, object]:
        now = _now()
        return {"resourceType": "User", "created": now, "lastModified": now, "version": 'W/"1"'}

    def _render(self, user: Mapping[str, object], request: httpx.Request) -> dict[str, object]:
        # Shallow: the response is serialised right away, under the lock.
        meta = dict(_as_dict(user.get("meta")))
        meta["location"] = _location(request, str(user.get("id")))
        rendered = {**user, "meta": meta}
        if self.strict and isinstance(user.get("name"), dict):
            # Lattice's own example user: the parts null, the name only in "formatted".
            formatted = _as_dict(user.get("name")).get("formatted")
            rendered["name"] = {"givenName": None, "familyName": None, "formatted": formatted}
        return rendered

    # -- discovery -------------------------------------------------------------------------

    def _schemas(self, request: httpx.Request) -> httpx.Response:
        schemas = [
            _core_schema(request),
            _enterprise_schema(request),
            self._lattice_schema(request),
        ]
        return _json_response(200, _list_body(schemas, len(schemas), 1))

    def _schema(self, urn: str, request: httpx.Request) -> httpx.Response:
        if urn == CORE_URN:
            return _json_response(200, _core_schema(request))
        if urn == ENTERPRISE_URN:
            return _json_response(200, _enterprise_schema(request))
        if urn != LATTICE_URN:
            raise _ScimError(404, "no such schema")
        return _json_response(200, self._lattice_schema(request))

    def _lattice_schema(self, request: httpx.Request) -> dict[str, object]:
        types = {
            "text": "string",
            "number": "decimal",
            "date": "string",  # SCIM has dateTime only; Lattice sends YYYY-MM-DD
            "multi_select": "string",
            "user": "string",
        }
        attributes = [_schema_attribute(key, "string", "a date, YYYY-MM-DD") for key in _DATE_KEYS]
        attributes += [_schema_attribute(key, "string", "standard attribute") for key in _TEXT_KEYS]
        attributes += [
            _schema_attribute(
                name,
                types[kind],
                f"custom attribute ({kind})",
                multi=kind == "multi_select",
            )
            for name, kind in sorted(self.custom_attributes.items())
        ]
        return _schema_body(
            request, LATTICE_URN, "LatticeUser", "Lattice user attributes", attributes
        )

    def _service_provider_config(self, request: httpx.Request) -> dict[str, object]:
        return {
            "schemas": [SERVICE_PROVIDER_CONFIG_URN],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": f"{_base(request)}/ServiceProviderConfig",
            },
            "patch": {"supported": True},
            "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": True, "maxResults": self.max_page_size},
            "changePassword": {"supported": False},
            "sort": {"supported": False},
            "etag": {"supported": False},
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "OAuth Bearer Token",
                    "description": "a SCIM key created by a Lattice super admin",
                }
            ],
        }


# ---------------------------------------------------------------------------------------------
# PATCH operations (RFC 7644 §3.5.2), with Lattice's quirks
# ---------------------------------------------------------------------------------------------


def _apply_operation(
    draft: dict[str, Any], operation: Mapping[str, object], *, strict: bool = False
) -> None:
    kind = str(operation.get("op", "")).casefold()
    if kind not in ("add", "replace", "remove"):
        raise _ScimError(400, "op must be add, replace or remove", "invalidSyntax")
    path = operation.get("path")
    value = operation.get("value")
    if path is None:
        if kind == "remove":
            raise _ScimError(400, "remove needs a path", "noTarget")
        if not isinstance(value, dict):
            raise _ScimError(400, "an operation without path needs an object value", "invalidValue")
        for key, item in value.items():
            if key == CORE_URN and isinstance(item, dict):
                for core_key, core_item in item.items():
                    _set_attribute(draft, None, (core_key,), core_item, kind)
            elif key != "schemas":
                _set_attribute(draft, None, (key,), item, kind)
        return
    if not isinstance(path, str) or not path.strip() or "[" in path:
        raise _ScimError(400, "this path is not supported", "invalidPath")
    urn, segments = _parse_path(path.strip())
    if strict and not all(_ATTRNAME.match(segment) for segment in segments):
        # RFC 7643 §2.1: "Cost Center" is no attribute name, so no path (docs/decisions.md)
        raise _ScimError(400, "the path is not a valid attribute path", "invalidPath")
    if kind == "remove":
        _remove_attribute(draft, urn, segments)
    else:
        _set_attribute(draft, urn, segments, value, kind)


def _parse_path(path: str) -> tuple[str | None, tuple[str, ...]]:
    for urn in (ENTERPRISE_URN, LATTICE_URN, CORE_URN):
        if path == urn:
            return urn, ()
        if path.startswith(urn + ":"):
            rest = path[len(urn) + 1 :]
            # Lattice custom attribute names are display names ("Cost Center", "Dept. code"):
            # never split them on dots.
            segments = (rest,) if urn == LATTICE_URN else tuple(rest.split("."))
            return (None if urn == CORE_URN else urn), segments
    return None, tuple(path.split("."))


def _set_attribute(
    draft: dict[str, Any], urn: str | None, segments: tuple[str, ...], value: object, kind: str
) -> None:
    if urn is None and segments and segments[0] in (ENTERPRISE_URN, LATTICE_URN):
        urn, segments = segments[0], segments[1:]
    if urn is None and segments[0] == "nickName":
        return  # Lattice applies a preferred name on create only
    if urn is None and segments[0] in ("id", "meta"):
        raise _ScimError(400, f"{segments[0]} is read-only", "mutability")
    container: dict[str, Any] = draft
    if urn is not None:
        container = draft.setdefault(urn, {})
        if not isinstance(container, dict):
            raise _ScimError(400, f"{urn} must be an object", "invalidValue")
        if not segments:
            if not isinstance(value, dict):
                raise _ScimError(400, f"{urn} must be an object", "invalidValue")
            _merge(container, value)
            return
    for segment in segments[:-1]:
        child = container.setdefault(segment, {})
        if not isinstance(child, dict):
            raise _ScimError(400, f"{segment} is not a complex attribute", "invalidPath")
        container = child
    last = segments[-1]
    if kind == "add" and isinstance(container.get(last), list) and isinstance(value, list):
        container[last] = container[last] + [item for item in value if item not in container[last]]
    elif isinstance(value, dict) and isinstance(container.get(last), dict):
        _merge(container[last], value)  # replacing a complex attribute keeps unnamed sub-attributes
    else:
        container[last] = copy.deepcopy(value)


def _merge(target: dict[str, Any], values: Mapping[str, object]) -> None:
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _remove_attribute(draft: dict[str, Any], urn: str | None, segments: tuple[str, ...]) -> None:
    if urn is None and segments[0] == "nickName":
        return  # ignored on PATCH, like every other nickName change
    if urn is None and segments[0] in ("userName", "id", "meta"):
        raise _ScimError(400, f"{segments[0]} cannot be removed", "mutability")
    container: object = draft if urn is None else draft.get(urn)
    if urn is not None and not segments:
        draft.pop(urn, None)
        return
    for segment in segments[:-1]:
        container = container.get(segment) if isinstance(container, dict) else None
    if isinstance(container, dict):
        container.pop(segments[-1], None)


def _restore_ignored(
    draft: dict[str, Any], current: Mapping[str, object], ignored: frozenset[str]
) -> None:
    """Put back every attribute named in ``ignored`` (top level or in an extension) as it was
    before the PATCH: the write is answered as done, but not kept."""
    if not ignored:
        return
    sections: list[tuple[dict[str, Any], Mapping[str, object]]] = [(draft, current)]
    for urn in (ENTERPRISE_URN, LATTICE_URN):
        if isinstance(draft.get(urn), dict):
            sections.append((draft[urn], _as_dict(current.get(urn))))
    for section, before in sections:
        for key in [key for key in section if key.casefold() in ignored]:
            del section[key]
        for key, value in before.items():
            if key.casefold() in ignored:
                section[key] = copy.deepcopy(value)


def _drop_nulls(resource: dict[str, Any]) -> None:
    """``null`` means "not set": drop such keys, in extensions and complex attributes too."""
    for key in [key for key, value in resource.items() if value is None]:
        del resource[key]
    for value in resource.values():
        if isinstance(value, dict):
            _drop_nulls(value)


# ---------------------------------------------------------------------------------------------
# Small pure pieces
# ---------------------------------------------------------------------------------------------


def _refuse_unknown_attributes(resource: Mapping[str, object]) -> None:
    for key in resource:
        if key.casefold() == "password":
            raise _ScimError(400, "password cannot be set over SCIM", "invalidValue")
        if key.casefold() not in _STRICT_FOLDED:
            raise _ScimError(400, f"unknown attribute {key!r}", "invalidValue")


def _is_date(value: str) -> bool:
    """Whether ``value`` is a calendar date written YYYY-MM-DD."""
    if not _DATE.match(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _base(request: httpx.Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc.decode()}{BASE_PATH}"


def _list_body(resources: list[dict[str, object]], total: int, start: int) -> dict[str, object]:
    return {
        "schemas": [LIST_RESPONSE_URN],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


def _schema_body(
    request: httpx.Request,
    urn: str,
    name: str,
    description: str,
    attributes: list[dict[str, object]],
) -> dict[str, object]:
    return {
        "schemas": [SCHEMA_URN],
        "id": urn,
        "name": name,
        "description": description,
        "attributes": attributes,
        "meta": {"resourceType": "Schema", "location": f"{_base(request)}/Schemas/{urn}"},
    }


def _attribute(
    name: str,
    kind: str = "string",
    *,
    required: bool = False,
    multi: bool = False,
    uniqueness: str = "none",
    mutability: str = "readWrite",
    sub: list[dict[str, object]] | None = None,
) -> dict[str, object]:
    attribute: dict[str, object] = {
        "name": name,
        "type": kind,
        "multiValued": multi,
        "description": name,
        "required": required,
        "caseExact": False,
        "mutability": mutability,
        "returned": "default",
        "uniqueness": uniqueness,
    }
    if sub is not None:
        attribute["subAttributes"] = sub
    return attribute


def _core_schema(request: httpx.Request) -> dict[str, object]:
    """The core User attributes Lattice has (no password, no phone numbers, no groups)."""
    name = [_attribute(part) for part in ("formatted", "givenName", "familyName")]
    emails = [_attribute("value"), _attribute("type"), _attribute("primary", "boolean")]
    attributes = [
        _attribute("userName", required=True, uniqueness="server"),
        _attribute("name", "complex", sub=name),
        _attribute("displayName"),
        _attribute("nickName"),
        _attribute("title"),
        _attribute("active", "boolean"),
        _attribute("emails", "complex", multi=True, sub=emails),
    ]
    return _schema_body(request, CORE_URN, "User", "User Account", attributes)


def _enterprise_schema(request: httpx.Request) -> dict[str, object]:
    # RFC 7643 §4.3: manager.$ref refers to a User (referenceTypes), which a client needs to
    # know to fill it with a user rather than any URI.
    reference = {**_attribute("$ref", "reference"), "referenceTypes": ["User"]}
    manager = [_attribute("value"), reference, _attribute("displayName")]
    attributes = [
        _attribute("department"),
        _attribute("manager", "complex", sub=manager),
    ]
    return _schema_body(request, ENTERPRISE_URN, "EnterpriseUser", "Enterprise User", attributes)


def _resource_type(request: httpx.Request) -> dict[str, object]:
    return {
        "schemas": [RESOURCE_TYPE_URN],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "User Account",
        "schema": CORE_URN,
        "schemaExtensions": [
            {"schema": ENTERPRISE_URN, "required": False},
            {"schema": LATTICE_URN, "required": False},
        ],
        "meta": {
            "resourceType": "ResourceType",
            "location": f"{_base(request)}/ResourceTypes/User",
        },
    }


def _name_parts(resource: Mapping[str, object]) -> tuple[object, object]:
    name = _as_dict(resource.get("name"))
    return name.get("givenName"), name.get("familyName")


def _set_formatted(name: dict[str, Any]) -> None:
    parts = [str(part) for part in (name.get("givenName"), name.get("familyName")) if part]
    if parts:
        name["formatted"] = " ".join(parts)
    else:
        name.pop("formatted", None)


def _email_values(emails: object) -> set[str]:
    if not isinstance(emails, list):
        return set()
    return {
        str(entry.get("value", "")).strip().casefold()
        for entry in emails
        if isinstance(entry, dict)
    }


def _as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int_param(raw: str | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise _ScimError(400, "startIndex and count must be integers", "invalidValue") from None


def _json_object(request: httpx.Request) -> dict[str, Any]:
    try:
        body = json.loads(request.content or b"null")
    except ValueError:
        raise _ScimError(400, "the body is not valid JSON", "invalidSyntax") from None
    if not isinstance(body, dict):
        raise _ScimError(400, "the body must be a JSON object", "invalidSyntax")
    return body


def _version(meta: Mapping[str, object]) -> int:
    digits = re.sub(r"\D", "", str(meta.get("version", "")))
    return int(digits) if digits else 1


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _location(request: httpx.Request, user_id: str) -> str:
    return f"{request.url.scheme}://{request.url.netloc.decode()}{BASE_PATH}/Users/{user_id}"


def _schema_attribute(
    name: str, kind: str, description: str, *, multi: bool = False
) -> dict[str, object]:
    return {
        "name": name,
        "type": kind,
        "multiValued": multi,
        "description": description,
        "required": False,
        "caseExact": False,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    }


def _json_response(
    status: int, body: object, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"Content-Type": _MEDIA_TYPE, **(headers or {})},
    )


def _error_response(error: _ScimError, headers: Mapping[str, str] | None = None) -> httpx.Response:
    body: dict[str, object] = {
        "schemas": [ERROR_URN],
        "status": str(error.status),
        "detail": error.detail,
    }
    if error.scim_type is not None:
        body["scimType"] = error.scim_type
    all_headers = dict(headers or {})
    if error.status == 401:
        all_headers["WWW-Authenticate"] = 'Bearer realm="Lattice SCIM"'
    return _json_response(error.status, body, all_headers)
