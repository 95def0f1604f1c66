"""Lattice as the core sees it: create-only fields, the multiple-choice limit and the fields its
own Personio sync leaves alone for contractors. Imports only the core's profile type.
The sources for each of these are in docs/decisions.md.
"""

from __future__ import annotations

from reconciler.core.profiles import TargetProfile

LATTICE = TargetProfile(
    name="Lattice",
    # Lattice applies nickName only when a user is created.
    create_only_fields=frozenset({"preferred_name"}),
    # Multiple-choice custom attributes hold at most 200 distinct values; text and date
    # attributes are multiple choice in Lattice.
    choice_limit=200,
    choice_limited_types=frozenset({"text", "date"}),
    # Lattice's own sync sets no job title and no manager for contractors.
    contractor_unmanaged_fields=frozenset({"title", "manager"}),
)
