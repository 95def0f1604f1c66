"""Did the target store what a write intended? The pure comparison behind apply's verification.
Imports only the standard library and the core (model, normalise).

``apply`` compares each write's answer (or one read-back) with the change it sent: a field the
target did not store is reported ``not_applied`` instead of ``applied``, so a write the target
keeps refusing keeps the run red (docs/decisions.md, "2026-12-03: apply verifies its own
writes"). The comparison reads the stored user exactly as the planner reads it — the same
parsed, normalised ``TargetUser`` — so "not stored" here means "the next plan would plan this
write again".
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.core.model import (
    CUSTOM_PREFIX,
    FULL_NAME_FIELD,
    NAME_PARTS,
    Action,
    Change,
    FieldValue,
    TargetUser,
)
from reconciler.core.normalise import fold

#: Names reported for what a lifecycle change sets besides its fields.
ACTIVE = "active"
EXTERNAL_ID = "externalId"


def unstored_fields(
    change: Change,
    stored: TargetUser,
    *,
    manager_target_id: str | None,
    unverified: frozenset[str] = frozenset(),
) -> tuple[str, ...]:
    """The names of what ``change`` set that ``stored`` (the user as the target holds it
    after the write) does not hold, in the change's field order; ``()`` when all of it took.

    - fields are compared normalised, as the planner compares them: emails case-folded,
      custom attributes by name case-insensitively (RFC 7643 §2.1), a name whose parts the
      target returns as null through ``name.formatted`` ("given family");
    - ``manager`` is compared with ``manager_target_id``, the target id the writer sent;
    - a link must leave ``externalId`` as the person's source id, a reactivation
      ``active`` true, a deactivation ``active`` false;
    - fields in ``unverified`` (the target profile's create-only fields, which the target
      ignores on update by design) are not compared.
    """
    missing: list[str] = []
    if change.action is Action.LINK and stored.external_id != change.source_id:
        missing.append(EXTERNAL_ID)
    if change.action is Action.REACTIVATE and not stored.active:
        missing.append(ACTIVE)
    if change.action is Action.DEACTIVATE and stored.active:
        missing.append(ACTIVE)
    names_taken = _names_taken(change, stored.fields)
    for field in change.fields:
        name, want = field.name, field.after
        if name in unverified:
            continue
        if name == "email":
            taken = want is not None and fold(stored.email) == fold(str(want))
        elif name in NAME_PARTS:
            taken = names_taken[name]
        elif name == "manager":
            taken = stored.fields.get("manager") == manager_target_id
        elif name.startswith(CUSTOM_PREFIX):
            taken = _custom(stored.fields, name) == want
        else:
            taken = stored.fields.get(name) == want
        if not taken:
            missing.append(name)
    return tuple(missing)


def _custom(fields: Mapping[str, FieldValue], name: str) -> FieldValue:
    """A custom attribute's stored value, its name matched exactly, else case-insensitively
    (the first spelling in sorted order, as ``mapping.canonical_custom_fields`` resolves it)."""
    if name in fields:
        return fields[name]
    folded = name.casefold()
    for key in sorted(fields):
        if key.startswith(CUSTOM_PREFIX) and key.casefold() == folded:
            return fields[key]
    return None


def _names_taken(change: Change, have: Mapping[str, FieldValue]) -> dict[str, bool]:
    """For each name part the change sets: whether the target holds it.

    When the target knows the name only as a whole (``FULL_NAME_FIELD``: its parts null and
    not recoverable), the parts count as taken when the full name is the intended parts
    joined by a space — the planner's ``_same_full_name`` rule (docs/decisions.md).
    """
    wanted = {field.name: field.after for field in change.fields if field.name in NAME_PARTS}
    full = have.get(FULL_NAME_FIELD)
    if full is not None and wanted:
        parts = [wanted[part] if part in wanted else have.get(part) for part in NAME_PARTS]
        joined = " ".join(str(part) for part in parts if part is not None)
        if " ".join(joined.split()) == " ".join(str(full).split()):
            return dict.fromkeys(wanted, True)
    return {part: have.get(part) == want for part, want in wanted.items()}
