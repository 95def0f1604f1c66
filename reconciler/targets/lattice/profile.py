"""Lattice as the core sees it (create-only fields, the multiple-choice limit, the fields its
own Personio sync leaves alone for contractors) and as SCIM sees it (its extension schema).
Imports the core's profile type and the SCIM dialect type. Sources are in docs/decisions.md.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.core.profiles import TargetProfile
from reconciler.targets.scim.dialect import RFC7643_LOCATIONS, ScimDialect

#: Lattice's SCIM service, and its EU twin.
DEFAULT_BASE_URL = "https://api.latticehq.com/scim/v2"
EMEA_BASE_URL = "https://api.emea.latticehq.com/scim/v2"

#: The hosts the SCIM key may be sent to without RECONCILE_ALLOW_ENDPOINTS (https only; see
#: docs/security.md).
ALLOWED_HOSTS: tuple[str, ...] = ("api.latticehq.com", "api.emea.latticehq.com")

LATTICE = TargetProfile(
    name="Lattice",
    # Lattice applies nickName only when a user is created.
    create_only_fields=frozenset({"preferred_name"}),
    # Multiple-choice custom attributes hold at most 200 distinct values (options, for a
    # multi-select); date attributes are Lattice's Date type, not multiple choice
    # (docs/decisions.md, 2026-12-03: dates and tags as the Lattice types made for them).
    choice_limit=200,
    choice_limited_types=frozenset({"text", "multi_select"}),
    # Lattice's own sync sets no job title and no manager for contractors.
    contractor_unmanaged_fields=frozenset({"title", "manager"}),
)

#: ``ApiError.system`` for Lattice requests.
SYSTEM = "lattice"

#: Lattice's own extension: start and birth dates, gender, ethnicity and sexual orientation,
#: and every custom attribute by display name.
LATTICE_URN = "urn:ietf:params:scim:schemas:extension:lattice:attributes:1.0:User"

#: Keys of the Lattice extension that are standard fields, not custom attributes.
LATTICE_STANDARD_KEYS: Mapping[str, str] = {
    "startDate": "start_date",
    "birthDate": "birth_date",
    # Standard attributes of the extension, not custom ones (docs/decisions.md, 2026-12-03).
    "gender": "gender",
    "ethnicity": "ethnicity",
    "sexualOrientation": "sexual_orientation",
}

#: Where the key is made: Admin › Settings › Integrations › SCIM (docs/decisions.md, 2026-12-03).
AUTH_FIX = (
    "the SCIM key must be created by a Lattice super admin, with SCIM enabled "
    "(Admin › Settings › Integrations › SCIM)"
)

#: How Lattice's SCIM service lays out our plan fields: RFC 7643 core and enterprise User,
#: plus the Lattice extension for dates and custom attributes. Lattice shows ``name.formatted``
#: as the full name, built as "givenName familyName", and may return the parts as null.
LATTICE_SCIM = ScimDialect(
    name="Lattice",
    system=SYSTEM,
    locations={
        **RFC7643_LOCATIONS,
        "start_date": (LATTICE_URN, ("startDate",)),
        "birth_date": (LATTICE_URN, ("birthDate",)),
        "gender": (LATTICE_URN, ("gender",)),
        "ethnicity": (LATTICE_URN, ("ethnicity",)),
        "sexual_orientation": (LATTICE_URN, ("sexualOrientation",)),
    },
    auth_fix=AUTH_FIX,
    extension_urn=LATTICE_URN,
    standard_extension_keys=LATTICE_STANDARD_KEYS,
    formatted_is_given_family=True,
)
