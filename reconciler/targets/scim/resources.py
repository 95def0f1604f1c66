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
import re
from collections.abc import Mapping
from typing import Any

import httpx

from reconciler.core.model import (
    CUSTOM_PREFIX,
    Action,
    Change,
    FieldValue,
    TargetUser,
)
from reconciler.edges.http import RetryPolicy

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


def build_create_body(change: Change, manager_target_id: str | None) -> dict[str, object]:
    """The ``POST /Users`` body for a ``create`` change.

    Every field with a value is written; ``manager`` is written (as ``manager_target_id``) only
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
            if manager_target_id is not None:
                _put(body, ENTERPRISE_URN, ("manager",), {"value": manager_target_id})
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


def build_patch_body(change: Change, manager_target_id: str | None) -> dict[str, object]:
    """The one ``PATCH /Users/{id}`` body for a link, reactivate, update or deactivate change.

    One ``replace`` op without ``path`` carries everything being set (extension attributes
    nested under their URN); each field set to ``None`` becomes a ``remove`` op with a path.
    For ``manager`` the change holds Personio ids; ``manager_target_id`` is the resolved new
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
            value = None if manager_target_id is None else {"value": manager_target_id}
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
