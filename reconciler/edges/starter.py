"""Render a starter config from Personio's attribute catalogue (for ``reconcile init``).
Pure: imports only the standard library and reconciler.core.model; the caller fetches the catalogue.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from reconciler.core.model import AttributeInfo, CustomType

#: Personio attribute types → the Lattice custom attribute type we suggest.
_SUGGESTED_TYPE: dict[str, CustomType] = {
    "integer": "number",
    "decimal": "number",
    "date": "date",
}


def _quote(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def render_starter_config(
    catalogue: Sequence[AttributeInfo], *, personio_base_url: str, app_id: str
) -> str:
    """A complete config that validates as written; custom attributes listed, commented out."""
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
        "  base_url: https://api.latticehq.com/scim/v2   # EU: https://api.emea.latticehq.com/scim/v2",
        "  token: env:LATTICE_SCIM_TOKEN               # created by a Lattice super admin",
        "  max_requests_per_second: 5",
        "sync:",
        "  employee_types: [internal, external]        # internal, external, or both",
        "  statuses: [active, onboarding, leave]       # everyone else counts as having left",
        "  unmanaged_users: ignore                     # ignore | deactivate",
        "  protected: []              # emails that are never created, changed or deactivated",
        "fields:",
        "  preferred_name: true",
        "  title: true",
        "  start_date: true",
        "  department: true",
        "  manager: true",
        "  birth_date: true",
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
        "safety:",
        "  max_deactivations: {count: 10, percent: 5}",
        "  max_updates: {percent: 30}",
        "  min_population: 10",
        "  min_source_employees: 1",
    ]
    return "\n".join(lines) + "\n"
