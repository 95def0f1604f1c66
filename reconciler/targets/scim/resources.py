"""Pure SCIM 2.0 translation for any service a ``ScimDialect`` describes: parsing user
resources, building create and PATCH bodies, reading error details. No HTTP.
Imports httpx (responses only), the standard library, the core model, the HTTP edge's retry
policy and the SCIM dialect.

Field mapping (plan field → SCIM); the dialect says where each located field lives:

    email            userName + emails[{value, primary: true, type: work}]     (always)
    first_name       e.g. name.givenName    (name.formatted = "given family" is written with it)
    last_name        e.g. name.familyName
    manager          e.g. enterprise manager.value (the manager's SCIM id)
    start_date, …    dates as YYYY-MM-DD, wherever the dialect puts them
    custom:<Name>    <Name> in the dialect's extension (the attribute's display name); a
                     multi_select's choices as a JSON list of strings

Attribute names are read case-insensitively (RFC 7643 §2.1); bodies are written with the
canonical spelling.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import httpx

from reconciler.core.model import (
    CUSTOM_PREFIX,
    FULL_NAME_FIELD,
    NAME_PARTS,
    Action,
    Change,
    FieldChange,
    FieldValue,
    TargetUser,
)
from reconciler.core.normalise import nfc
from reconciler.targets.scim.dialect import (
    CORE_URN,
    ENTERPRISE_URN,
    ERROR_URN,
    LIST_RESPONSE_URN,
    PATCH_OP_URN,
    RFC7643_DIALECT,
    Location,
    ScimDialect,
)

__all__ = [
    "CORE_URN",
    "ENTERPRISE_URN",
    "ERROR_URN",
    "LIST_RESPONSE_URN",
    "PATCH_OP_URN",
    "RFC7643_DIALECT",
    "SCIM_MEDIA_TYPE",
    "STANDARD_FIELD_NAMES",
    "ScimDialect",
    "build_create_body",
    "build_filter",
    "build_patch_body",
    "parse_error_detail",
    "parse_user",
]

SCIM_MEDIA_TYPE = "application/scim+json"

#: Retries for production use; tests pass ``reconciler.http.NO_WAIT_RETRY``.

#: Plan field names a parsed user may carry; each one the dialect locates is always present
#: (``None`` when unset), so comparisons are simple.
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
    "gender",
    "ethnicity",
    "sexual_orientation",
)

_FORMATTED: Location = (None, ("name", "formatted"))
#: Plan fields holding dates: their values are cut to YYYY-MM-DD when read.
_DATE_FIELDS = frozenset({"start_date", "birth_date"})

_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ].*)?$")
# Deliberately loose: anything with an @ between non-separator characters is treated as an email.
_EMAIL_LIKE = re.compile(r"[^\s@\"'<>(),;:\[\]]+@[^\s@\"'<>(),;:\[\]]+")
_MAX_DETAIL = 300

logger = logging.getLogger("reconciler.targets.scim.client")

# ---------------------------------------------------------------------------------------------
# Pure: parsing and request bodies
# ---------------------------------------------------------------------------------------------


def parse_user(resource: Mapping[str, object], dialect: ScimDialect) -> TargetUser:
    """A SCIM user resource → ``TargetUser`` with normalised ``fields`` (text in NFC).

    ``fields`` holds ``email``, every field ``dialect`` locates (``None`` when unset), each
    attribute of the dialect's extension that is not a standard field as ``custom:<key>``,
    and ``FULL_NAME_FIELD`` when ``name.formatted`` is all that is known of a name part.
    Raises ``ValueError`` (naming no personal data) when the resource has no ``id`` or no
    ``userName``/email; the caller turns it into an error located at its endpoint.
    """
    top = _Caseless(resource)
    target_id = _text(top.get("id"))
    if target_id is None:
        raise ValueError("a user resource has no id")
    email = _text(top.get("userName")) or _primary_email(top.get("emails"))
    if email is None:
        raise ValueError(f"user {target_id} has no userName")

    sections: dict[Location, _Caseless] = {}
    fields: dict[str, FieldValue] = {"email": email}
    for name, location in dialect.locations.items():
        value = _read(top, sections, location)
        if name == "manager":
            fields[name] = _manager_id(value)
        elif name in _DATE_FIELDS:
            fields[name] = _date(value)
        else:
            fields[name] = _text(value)
    located_name = "first_name" in fields or "last_name" in fields
    if located_name and (fields.get("first_name") is None or fields.get("last_name") is None):
        formatted = _text(_read(top, sections, _FORMATTED))
        _recover_name_parts(fields, formatted, dialect)
    if dialect.extension_urn is not None:
        extension = top.get(dialect.extension_urn)
        if isinstance(extension, Mapping):
            standard = dialect.folded_standard_keys
            for key, value in extension.items():
                if isinstance(key, str) and key.casefold() not in standard:
                    fields[f"{CUSTOM_PREFIX}{key}"] = _value(value)

    for name, value in fields.items():
        if type(value) is str and not value.isascii():
            # compared as the source's values are: NFC (docs/decisions.md)
            fields[name] = nfc(value)
    active = top.get("active")
    return TargetUser(
        target_id=target_id,
        email=email,
        # SCIM leaves an absent ``active`` undefined; Lattice always sends it, and treating a
        # missing flag as deactivated would make us plan reactivations out of nothing.
        active=active if isinstance(active, bool) else True,
        external_id=_text(top.get("externalId")),
        fields=fields,
    )


def _read(top: _Caseless, sections: dict[Location, _Caseless], location: Location) -> object:
    """The value at ``location``; ``sections`` caches the objects on the way (``name``, …)."""
    urn, segments = location
    parent = (urn, segments[:-1])
    section = sections.get(parent)
    if section is None:
        section = top if urn is None else _Caseless(top.get(urn))
        for segment in segments[:-1]:
            section = _Caseless(section.get(segment))
        sections[parent] = section
    return section.get(segments[-1])


def _recover_name_parts(
    fields: dict[str, FieldValue], formatted: str | None, dialect: ScimDialect
) -> None:
    """Fill a null name part from ``name.formatted`` when that is unambiguous, else keep it.

    Some services (Lattice among them) return ``givenName``/``familyName`` as null and keep
    only the full name. With ``dialect.formatted_is_given_family`` the full name is
    "<given> <family>", so a missing part is recovered when the other part is known and the
    full name starts (ends) with it, or when both are missing and the full name is exactly
    two words. Anything else ("Mary Ann Smith" with no parts) is ambiguous: the parts stay
    ``None`` and the full name is exposed as ``FULL_NAME_FIELD`` for the comparison.
    """
    given, family = fields.get("first_name"), fields.get("last_name")
    if formatted is None or (given is not None and family is not None):
        return
    words = formatted.split()
    if dialect.formatted_is_given_family:
        if given is None and family is None:
            if len(words) == 2:
                fields["first_name"], fields["last_name"] = words
                return
        elif given is not None:
            known = str(given).split()
            if words[: len(known)] == known:
                fields["last_name"] = " ".join(words[len(known) :]) or None
                return
        else:
            known = str(family).split()
            if len(words) >= len(known) and words[len(words) - len(known) :] == known:
                fields["first_name"] = " ".join(words[: len(words) - len(known)]) or None
                return
    fields[FULL_NAME_FIELD] = formatted


def build_create_body(
    change: Change, manager_target_id: str | None, dialect: ScimDialect
) -> dict[str, object]:
    """The ``POST /Users`` body for a ``create`` change.

    Every field with a value is written where ``dialect`` locates it; ``manager`` is written
    (as ``manager_target_id``) only when the change has a ``manager`` field and the caller
    resolved it to a SCIM id. ``name.formatted`` is "given family" when either part is set.
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
        urn, segments = _locate(name, dialect)
        if name == "manager":
            if manager_target_id is not None:
                _put(body, urn, segments, {"value": manager_target_id})
            continue
        if field_change.after is not None:
            _put(body, urn, segments, field_change.after)
    formatted = _formatted(change.field("first_name"), change.field("last_name"))
    if formatted:
        _put(body, *_FORMATTED, formatted)
    body["schemas"] = _schemas_for(body, dialect)
    return body


def build_patch_body(
    change: Change,
    manager_target_id: str | None,
    dialect: ScimDialect,
    *,
    current: Mapping[str, FieldValue] | None = None,
) -> dict[str, object]:
    """The one ``PATCH /Users/{id}`` body for a link, reactivate, update or deactivate change.

    One ``replace`` op without ``path`` carries everything being set (extension attributes
    nested under their URN); each field set to ``None`` becomes a ``remove`` op with a path,
    unless its name is no valid SCIM path (a custom attribute's display name with a space or
    a dot): that one is a ``null`` in the replace, as RFC 7644 §3.5.2 allows.
    For ``manager`` the change holds Personio ids; ``manager_target_id`` is the resolved new
    manager (``None`` removes it).

    When a name part changes, ``name.formatted`` is rewritten as "given family" so a rename
    does not leave the full name old. A part the change does not touch is taken from
    ``current`` (the user's parsed ``fields``); when it is not known there either, the full
    name cannot be computed and is left as it is (logged, without the name).
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
                raise ValueError(f"email cannot be removed from a {dialect.name} user")
            values["userName"] = after
            values["emails"] = [{"value": after, "primary": True, "type": "work"}]
            continue
        urn, segments = _locate(name, dialect)
        value: object = after
        if name == "manager":
            # the change carries Personio ids; what the service needs is the resolved SCIM id
            value = None if manager_target_id is None else {"value": manager_target_id}
        if value is not None or not is_attribute_path(segments):
            # A name that is no valid SCIM path ("Cost Center") is cleared by a null in the
            # path-less replace (RFC 7644 §3.5.2: null is unassigned; docs/decisions.md).
            _put(values, urn, segments, value)
            continue
        removals.append(_path(urn, segments))

    if any(change.field(part) is not None for part in NAME_PARTS):
        parts = [_name_part(change, part, current) for part in NAME_PARTS]
        if any(part is _UNKNOWN for part in parts):
            logger.warning(
                "%s user %s: a name part changes but the other is unknown; "
                "name.formatted is left as it is",
                dialect.name,
                change.target_id,
            )
        else:
            formatted = " ".join(str(part) for part in parts if part is not None)
            if formatted:
                _put(values, *_FORMATTED, formatted)
            else:
                removals.append(_path(*_FORMATTED))

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
    except (ValueError, RecursionError):
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


class _Unknown:
    """A name part neither the change nor the current fields tell."""


_UNKNOWN = _Unknown()


def _name_part(
    change: Change, name: str, current: Mapping[str, FieldValue] | None
) -> FieldValue | _Unknown:
    field_change = change.field(name)
    if field_change is not None:
        return field_change.after
    # A part parsed as None next to an exposed full name is unknown, not absent.
    if current is None or FULL_NAME_FIELD in current:
        return _UNKNOWN
    return current.get(name)


def _formatted(*changes: FieldChange | None) -> str:
    return " ".join(
        str(change.after) for change in changes if change is not None and change.after is not None
    )


def _locate(name: str, dialect: ScimDialect) -> Location:
    if name.startswith(CUSTOM_PREFIX):
        attribute = name.removeprefix(CUSTOM_PREFIX)
        if not attribute:
            raise ValueError("a custom field needs an attribute name")
        if dialect.extension_urn is None:
            raise ValueError(f"{dialect.name} has no custom attributes (field {name!r})")
        return dialect.extension_urn, (attribute,)
    try:
        return dialect.locations[name]
    except KeyError:
        raise ValueError(f"unknown {dialect.name} field {name!r}") from None


#: RFC 7643 §2.1: ATTRNAME = ALPHA *(nameChar); nameChar = "-" / "_" / DIGIT / ALPHA.
_ATTRNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def is_attribute_path(segments: tuple[str, ...]) -> bool:
    """Whether every segment is a valid RFC 7643 attribute name, so ``segments`` can be a
    PATCH ``path``; a display name such as "Cost Center" or "Dept. code" cannot."""
    return all(_ATTRNAME.match(segment) for segment in segments)


def _path(urn: str | None, segments: tuple[str, ...]) -> str:
    # Extension attribute names may contain dots ("Dept. code"): never split them again.
    path = ".".join(segments)
    return f"{urn}:{path}" if urn else path


def _put(target: dict[str, Any], urn: str | None, segments: tuple[str, ...], value: object) -> None:
    container = target if urn is None else target.setdefault(urn, {})
    for segment in segments[:-1]:
        container = container.setdefault(segment, {})
    container[segments[-1]] = value


def _schemas_for(body: Mapping[str, object], dialect: ScimDialect) -> list[str]:
    # Only announce extensions that are used: a SCIM service without an extension would
    # reject a resource claiming it.
    return [CORE_URN] + [urn for urn in dialect.schema_extensions if urn in body]


_MISSING = object()
_EMPTY: Mapping[Any, object] = {}


class _Caseless:
    """Read access to a JSON object by attribute name, case-insensitively (RFC 7643 §2.1).

    The exact spelling wins; otherwise the first key in sorted order that matches when
    casefolded, so the result never depends on the order of keys in the JSON.
    """

    __slots__ = ("_mapping",)

    def __init__(self, value: object) -> None:
        # ``type(...) is dict`` first: JSON gives dicts, and the ABC check is slow
        self._mapping: Mapping[Any, object] = (
            value if type(value) is dict or isinstance(value, Mapping) else _EMPTY
        )

    def get(self, key: str) -> object:
        mapping = self._mapping
        value = mapping.get(key, _MISSING)
        if value is not _MISSING:
            return value
        folded = key.casefold()
        match: str | None = None
        for candidate in mapping:
            if (
                type(candidate) is str
                and candidate.casefold() == folded
                and (match is None or candidate < match)
            ):
                match = candidate
        return None if match is None else mapping[match]


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    if type(value) is str:
        return value.strip() or None
    if value is None or isinstance(value, (Mapping, list)):
        return None
    text = str(value).strip()
    return text or None


def _primary_email(value: object) -> str | None:
    if not isinstance(value, list):
        return None
    entries = [_Caseless(entry) for entry in value if isinstance(entry, Mapping)]
    entries.sort(key=lambda entry: entry.get("primary") is not True)
    for entry in entries:
        email = _text(entry.get("value"))
        if email is not None:
            return email
    return None


def _manager_id(value: object) -> str | None:
    # RFC 7643 makes manager a complex attribute; a few providers send the bare id.
    if isinstance(value, Mapping):
        return _text(_Caseless(value).get("value"))
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
        return _value(_Caseless(value).get("value"))
    if isinstance(value, list):
        # A multi-valued attribute (a multi-select's choices), in the order sent; the core
        # compares it as the config's type says (``canonical_custom_fields``).
        items = (
            _text(_Caseless(item).get("value")) if isinstance(item, Mapping) else _text(item)
            for item in value
        )
        return tuple(nfc(text) for text in items if text is not None) or None
    return _text(value)
