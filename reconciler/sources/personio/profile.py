"""Personio's vocabulary for the core: statuses, employment types, identity attribute keys,
the default source of each standard field and the labels Personio shows for them.
Imports only the core's model and profile types. Cited in docs/decisions.md.
"""

from __future__ import annotations

from reconciler.core.model import OPT_IN_FIELDS, STANDARD_FIELDS, FieldSetting
from reconciler.core.profiles import SourceProfile

#: Personio's API v1; the only host a Personio credential is sent to by default.
DEFAULT_BASE_URL = "https://api.personio.de/v1"

#: The hosts a Personio credential may be sent to without RECONCILE_ALLOW_ENDPOINTS (https only;
#: see docs/security.md).
ALLOWED_HOSTS: tuple[str, ...] = ("api.personio.de",)

#: Allowed values in their canonical order; ``Config`` lists them in this order whatever the
#: file says, so two files that mean the same thing load into equal values.
STATUSES: tuple[str, ...] = ("active", "onboarding", "leave", "inactive")
EMPLOYMENT_TYPES: tuple[str, ...] = ("internal", "external")

PERSONIO = SourceProfile(
    name="Personio",
    statuses=STATUSES,
    employment_types=EMPLOYMENT_TYPES,
    contractor_type="external",
    email_key="email",
    status_key="status",
    employment_type_key="employment_type",
    manager_key="supervisor",
    required={
        "id": "Employee ID",
        "email": "Email",
        "first_name": "First name",
        "last_name": "Last name",
        "status": "Status",
        "employment_type": "Employment type",
    },
    default_sources={
        "preferred_name": "preferred_name",
        "title": "position",
        "start_date": "hire_date",
        "department": "department",
        "manager": "supervisor",
        "birth_date": "birthday",
        # Personio's gender is a standard attribute; ethnicity and sexual orientation are
        # custom ones where a company keeps them, found by these labels (case-insensitively).
        "gender": "gender",
        "ethnicity": "Ethnicity",
        "sexual_orientation": "Sexual orientation",
    },
    labels={
        "preferred_name": "Preferred name",
        "position": "Position",
        "hire_date": "Hire date",
        "department": "Department",
        "supervisor": "Supervisor",
        "birthday": "Birthday",
        "gender": "Gender",
    },
    # In Personio's published examples the birth date is a custom attribute (dynamic_<n>)
    # whose universal_id is date_of_birth (docs/decisions.md, 2026-12-02: universal ids).
    universal_ids={"birthday": "date_of_birth"},
    # Personio's employee ids are integers (parse.py writes them in decimal); an Okta id
    # (00u…) or an Entra object id (a GUID) in externalId is another provisioner's.
    id_pattern=r"[0-9]+",
)


def default_fields() -> tuple[FieldSetting, ...]:
    """Every standard field fed from its default Personio attribute; on unless it is opt-in."""
    return tuple(
        FieldSetting(name, name not in OPT_IN_FIELDS, PERSONIO.default_sources[name])
        for name in STANDARD_FIELDS
    )
