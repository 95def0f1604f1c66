"""What one SCIM 2.0 service adds to RFC 7643, as frozen data: where each plan field lives.
Imports the standard library and the core model (for ``CUSTOM_PREFIX``).

``reconciler.targets.scim.resources`` parses and builds resources for any service described
by a ``ScimDialect``; a vendor's dialect lives with its profile (``LATTICE_SCIM`` in
``reconciler/targets/lattice/profile.py``). A second SCIM app is a second instance, no code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.core.model import CUSTOM_PREFIX

CORE_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_RESPONSE_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"

#: Where an attribute lives: (extension URN, or ``None`` for the core schema; path segments).
Location = tuple[str | None, tuple[str, ...]]

#: Plan fields that are not located by a dialect: ``email`` is always ``userName`` + ``emails``.
_FIXED_FIELDS = frozenset({"email"})


@dataclass(frozen=True, slots=True)
class ScimDialect:
    """One SCIM service's layout of our plan fields.

    - ``locations``: plan field → where it lives; a field without a location cannot be
      read or written on this service (parsing leaves it out, building refuses it).
    - ``extension_urn``: the extension whose other attributes are custom attributes
      (``custom:<name>``); ``None`` when the service has none.
    - ``standard_extension_keys``: keys of that extension that hold standard fields (key →
      plan field), so they are not reported as custom attributes. Each must be where that
      field is located (``(extension_urn, (key, …))``); a located key left out here is
      treated as standard all the same.
    - ``auth_fix``: what to tell the user when the service refuses the credentials.
    - ``formatted_is_given_family``: the service builds ``name.formatted`` as
      ``"<givenName> <familyName>"``, so a missing part may be recovered from it when that
      is unambiguous (see ``resources.parse_user``).
    """

    name: str  # "Lattice": used in messages only
    system: str  # "lattice": where errors happened, as ``ApiError.system``
    locations: Mapping[str, Location]
    auth_fix: str
    extension_urn: str | None = None
    standard_extension_keys: Mapping[str, str] = field(default_factory=dict)
    formatted_is_given_family: bool = False
    #: extension URNs a resource may carry, in the order ``schemas`` lists them
    schema_extensions: tuple[str, ...] = field(init=False, compare=False, repr=False)
    #: ``standard_extension_keys`` casefolded (attribute names are case-insensitive)
    folded_standard_keys: frozenset[str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name, (urn, segments) in self.locations.items():
            if name in _FIXED_FIELDS or name.startswith(CUSTOM_PREFIX):
                raise ValueError(f"{self.name}: {name!r} cannot be given a location")
            if not segments or not all(segments):
                raise ValueError(f"{self.name}: the location of {name!r} has an empty path")
            if urn == CORE_URN:
                raise ValueError(f"{self.name}: core attributes are located with urn None")
        if self.standard_extension_keys and self.extension_urn is None:
            raise ValueError(f"{self.name}: standard extension keys need an extension_urn")
        for key, plan_field in self.standard_extension_keys.items():
            urn, segments = self.locations.get(plan_field, (None, ()))
            if urn != self.extension_urn or segments[:1] != (key,):
                raise ValueError(
                    f"{self.name}: extension key {key!r} is not where {plan_field!r} is located"
                )
        located = self.locations.values()
        urns: list[str] = []
        for urn, _ in located:
            if urn is not None and urn not in urns:
                urns.append(urn)
        if self.extension_urn is not None and self.extension_urn not in urns:
            urns.append(self.extension_urn)
        object.__setattr__(self, "schema_extensions", tuple(urns))
        object.__setattr__(
            self,
            "folded_standard_keys",
            frozenset(key.casefold() for key in self.standard_extension_keys)
            | {segments[0].casefold() for urn, segments in located if urn == self.extension_urn},
        )

    def is_standard_extension_key(self, key: str) -> bool:
        """Whether ``key`` of the extension is a standard field (compared case-insensitively)."""
        return key.casefold() in self.folded_standard_keys


@dataclass(frozen=True, slots=True)
class SchemaAttribute:
    """One attribute of a SCIM schema as ``/Schemas`` describes it (RFC 7643 §7).

    ``type`` is the SCIM data type, lower case: ``string``, ``boolean``, ``decimal``,
    ``integer``, ``datetime``, ``binary``, ``reference`` or ``complex`` (§2.3).
    """

    name: str
    type: str
    multi_valued: bool = False


#: Where RFC 7643 puts the plan fields it has: core User (§4.1) and enterprise User (§4.3).
RFC7643_LOCATIONS: Mapping[str, Location] = {
    "first_name": (None, ("name", "givenName")),
    "last_name": (None, ("name", "familyName")),
    "preferred_name": (None, ("nickName",)),
    "title": (None, ("title",)),
    "department": (ENTERPRISE_URN, ("department",)),
    "manager": (ENTERPRISE_URN, ("manager",)),
}

#: A plain RFC 7643 service: core and enterprise User only, no custom attributes, no dates.
RFC7643_DIALECT = ScimDialect(
    name="SCIM",
    system="scim",
    locations=RFC7643_LOCATIONS,
    auth_fix="check that the bearer token is valid and may read and write users",
)
