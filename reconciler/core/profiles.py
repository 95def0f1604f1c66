"""What the core must know about a source and a target, as frozen data: no behaviour, no I/O.
Imports only the standard library.

The mapping and the planner take these instead of naming a vendor: Personio's vocabulary lives
in ``reconciler/sources/personio/profile.py``, Lattice's limits in
``reconciler/targets/lattice/profile.py``. A second source or target is a second instance.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SourceProfile:
    """The vocabulary of one HR system.

    ``keys`` names the source attributes that carry identity and scope (``email``,
    ``status``, ``employment_type``, ``manager``); ``default_sources`` the attribute each
    standard target field is fed from unless the config says otherwise; ``required`` every
    attribute a run cannot do without, with the label its UI shows (for messages).
    """

    name: str  # "Personio": used in messages only
    statuses: tuple[str, ...]
    employment_types: tuple[str, ...]
    #: the employment type of contractors (some fields are not managed for them)
    contractor_type: str
    email_key: str
    status_key: str
    employment_type_key: str
    manager_key: str
    required: Mapping[str, str] = field(default_factory=dict)
    default_sources: Mapping[str, str] = field(default_factory=dict)
    #: label of each default source attribute, for messages and the starter config
    labels: Mapping[str, str] = field(default_factory=dict)
    #: attribute names a config may use → the source's universal id for them, when the two
    #: differ (Personio: ``birthday`` → ``date_of_birth``); see ``mapping.resolve_sources``
    universal_ids: Mapping[str, str] = field(default_factory=dict)
    #: the form every source id has (a regular expression matched against the whole id); a
    #: target user whose external id has another form was linked by another provisioner.
    #: ``None``: the form is unknown, so no user counts as another provisioner's.
    id_pattern: str | None = None

    def label(self, key: str) -> str:
        return self.labels.get(key) or self.required.get(key) or key

    def is_source_id(self, value: str) -> bool:
        """Whether ``value`` has the form of this source's ids (always, if that is unknown)."""
        return self.id_pattern is None or re.fullmatch(self.id_pattern, value) is not None


@dataclass(frozen=True, slots=True)
class TargetProfile:
    """What one target accepts and how it behaves, as far as planning is concerned.

    - ``create_only_fields``: set on create only; a later difference is a warning, never an
      update (the target would ignore it and every run would plan it again).
    - ``choice_limit`` / ``choice_limited_types``: custom attribute types the target stores
      as multiple choice, and how many distinct values it accepts per attribute.
    - ``contractor_unmanaged_fields``: fields left as they are for contractors.
    """

    name: str  # "Lattice": used in messages only
    create_only_fields: frozenset[str] = frozenset()
    choice_limit: int | None = None
    choice_limited_types: frozenset[str] = frozenset()
    contractor_unmanaged_fields: frozenset[str] = frozenset()
