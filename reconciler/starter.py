"""Render a starter config from Personio's attribute catalogue (for ``reconcile init``).
Pure: imports only the standard library and reconciler.core.model; the caller fetches the catalogue.

The ``sync`` and ``safety`` sections are written from the model's defaults (``SyncSettings()``,
``SafetySettings()``), so a new setting appears in the starter with its default as it is added.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import fields

from reconciler.core.model import (
    DEFAULT_REQUESTS_PER_SECOND,
    AttributeInfo,
    CustomType,
    SafetySettings,
    SyncSettings,
    Threshold,
)
from reconciler.targets.lattice.profile import DEFAULT_BASE_URL as LATTICE_BASE_URL
from reconciler.targets.lattice.profile import EMEA_BASE_URL

#: Personio attribute types → the Lattice custom attribute type we suggest.
_SUGGESTED_TYPE: dict[str, CustomType] = {
    "integer": "number",
    "decimal": "number",
    "date": "date",
    "tags": "multi_select",
}


#: A comment beside each setting the starter writes; a setting without one is written bare.
_SYNC_COMMENTS: Mapping[str, str] = {
    "employee_types": "internal, external, or both",
    "statuses": "everyone else counts as having left",
    "unmanaged_users": "ignore | deactivate",
    "protected": "emails never created, changed or deactivated",
    "foreign_users": "Okta/Entra-made users: leave | adopt",
    "reactivate": "deactivated by hand: always | never",
}
_SAFETY_COMMENTS: Mapping[str, str] = {
    "max_deactivations": "count and/or percent of active Lattice users",
    "max_reactivations": "leavers come back one or two at a time",
    "max_creates": "'create everyone' means the wrong Lattice",
    "max_links": "adopting Lattice users never synced before",
    "max_updates": "field changes of users already linked",
    "max_errors": "percent of the employees Personio returned",
    "min_population": "limits apply from this many users/employees",
    "min_source_employees": "an empty answer is an error, not 'everyone left'",
}
_COMMENT_COLUMN = 46

#: Scalars YAML reads back as the same string without quotes.
_PLAIN = re.compile(r"[a-z][a-z0-9_]*")
_YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n"})


def _quote(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return text if _PLAIN.fullmatch(text) and text not in _YAML_WORDS else _quote(text)


def _value(value: object) -> str | None:
    """A setting's value as YAML flow text; ``None`` for a threshold without any limit (the
    schema has no way to write one, and leaving the key out means the same)."""
    if isinstance(value, Threshold):
        limits = {"count": value.count, "percent": value.percent}
        written = [f"{key}: {_scalar(limit)}" for key, limit in limits.items() if limit is not None]
        return "{" + ", ".join(written) + "}" if written else None
    if isinstance(value, frozenset):
        return "[" + ", ".join(_scalar(item) for item in sorted(value, key=str)) + "]"
    if isinstance(value, tuple):
        return "[" + ", ".join(_scalar(item) for item in value) + "]"
    return _scalar(value)


def _section(
    name: str, defaults: SyncSettings | SafetySettings, comments: Mapping[str, str]
) -> list[str]:
    """``name:`` and one line per field of the settings dataclass ``defaults``, in field order."""
    lines = [f"{name}:"]
    for setting in fields(defaults):
        text = _value(getattr(defaults, setting.name))
        comment = comments.get(setting.name)
        if text is None:
            lines.append(f"  # {setting.name}: no limit by default")
            continue
        line = f"  {setting.name}: {text}"
        if comment:
            line = f"{line.ljust(_COMMENT_COLUMN - 1)} # {comment}"
        lines.append(line)
    return lines


def render_starter_config(
    catalogue: Sequence[AttributeInfo],
    *,
    personio_base_url: str,
    app_id: str,
    sync: SyncSettings | None = None,
    safety: SafetySettings | None = None,
) -> str:
    """A complete config that validates as written; custom attributes listed, commented out.

    ``sync`` and ``safety`` default to the model's defaults; every field is written.
    """
    custom = sorted(
        (info for info in catalogue if info.key.startswith("dynamic_")),
        key=lambda info: (info.label.casefold(), info.key),
    )
    lines = [
        "# yaml-language-server: $schema=../schemas/integration.schema.json",
        "# Starter config written by 'reconcile init'. Review it, then run 'reconcile validate'.",
        "version: 1",
        "personio:",
        f"  base_url: {_quote(personio_base_url)}",
        "  client_id: env:PERSONIO_CLIENT_ID          # a reference, never the secret itself",
        "  client_secret: env:PERSONIO_CLIENT_SECRET",
        f"  app_id: {_quote(app_id)}",
        "lattice:",
        f"  base_url: {LATTICE_BASE_URL}   # EU: {EMEA_BASE_URL}",
        "  token: env:LATTICE_SCIM_TOKEN               # created by a Lattice super admin",
        f"  max_requests_per_second: {DEFAULT_REQUESTS_PER_SECOND:g}",
        *_section("sync", sync or SyncSettings(), _SYNC_COMMENTS),
        "fields:",
        "  preferred_name: true",
        "  title: true",
        "  start_date: true",
        "  department: true",
        "  manager: true",
        "  birth_date: true",
        "  # special-category data: off unless you choose to sync it (true, or {source: ...})",
        "  gender: false",
        "  ethnicity: false",
        "  sexual_orientation: false",
    ]
    if custom:
        lines.append("custom_attributes: []")
        lines.append(
            "# Personio's custom attributes: uncomment the ones to sync (and drop the '[]' above)."
        )
        lines.append("# Each Lattice attribute must already exist in Lattice.")
        lines.append("# custom_attributes:")
        for info in custom:
            suggested = _SUGGESTED_TYPE.get(info.type, "text")
            lines.append(
                f"#   - personio: {info.key}    # {info.label!s} (Personio type: {info.type})"
            )
            lines.append(f"#     lattice: {_quote(info.label)}")
            lines.append(f"#     type: {suggested}")
    else:
        lines.append("custom_attributes: []   # Personio lists no custom attributes")
    lines += [
        "# Plans beyond these limits are shown, then refused unless 'apply --force'.",
        *_section("safety", safety or SafetySettings(), _SAFETY_COMMENTS),
    ]
    return "\n".join(lines) + "\n"
