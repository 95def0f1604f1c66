"""A targeted plan (``--only PERSON``): the full plan's changes and problems for named people.
Imports only the standard library and reconciler.core (model, normalise).

A person is named by Personio id or by email (compared case-folded). The full plan is
computed first, so every decision (matching, managers, scope) is the one a full run makes;
selecting only drops the other people's changes. The population figures stay the full
ones, so percentage thresholds mean what they mean in a full run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from reconciler.core.model import Action, Employee, Plan, TargetUser
from reconciler.core.normalise import fold


@dataclass(frozen=True, slots=True)
class Selection:
    """Who ``--only`` names: Personio ids, Lattice ids of users without one, and the names
    that matched nobody."""

    source_ids: frozenset[str]
    target_ids: frozenset[str]
    unknown: tuple[str, ...] = ()


def resolve_people(
    people: Sequence[str],
    employees: Iterable[Employee],
    actual: Iterable[TargetUser],
    *,
    email_key: str,
) -> Selection:
    """Resolve each name (a Personio id, or an email of a Personio employee or Lattice user)."""
    by_email: dict[str, set[str]] = {}
    ids: set[str] = set()
    for employee in employees:
        ids.add(employee.source_id)
        email = employee.get(email_key)
        if isinstance(email, str) and email.strip():
            by_email.setdefault(fold(email), set()).add(employee.source_id)
    users = list(actual)
    source_ids: set[str] = set()
    target_ids: set[str] = set()
    unknown: list[str] = []
    for person in people:
        name = person.strip()
        found = False
        if name in ids or any(user.external_id == name for user in users):
            source_ids.add(name)
            found = True
        if "@" in name:
            matches = by_email.get(fold(name), set())
            source_ids |= matches
            found = found or bool(matches)
            for user in users:
                if fold(user.email) == fold(name):
                    found = True
                    if user.external_id:
                        source_ids.add(user.external_id)
                    else:
                        target_ids.add(user.target_id)
        if not found:
            unknown.append(name)
    return Selection(frozenset(source_ids), frozenset(target_ids), tuple(unknown))


def select_people(plan: Plan, selection: Selection) -> Plan:
    """The plan's changes, errors and warnings of the selected people only, in plan order.

    ``unchanged`` counts the selected people without a change. Population figures are kept.
    The checksum is left to the caller (``seal_plan``): this is a different plan.
    """

    def chosen(source_id: str | None, target_id: str | None) -> bool:
        if source_id:
            return source_id in selection.source_ids
        return target_id is not None and target_id in selection.target_ids

    changes = tuple(c for c in plan.changes if chosen(c.source_id, c.target_id))
    people = len(selection.source_ids) + len(selection.target_ids)
    return replace(
        plan,
        changes=changes,
        unchanged=max(0, people - len(changes)),
        warnings=tuple(p for p in plan.warnings if chosen(p.source_id, None)),
        errors=tuple(p for p in plan.errors if chosen(p.source_id, None)),
        checksum="",
        attribution=None,
    )


def missing_dependencies(plan: Plan) -> tuple[tuple[str, str], ...]:
    """(person, other) pairs where a selected change waits for a change of someone the
    selection leaves out — their manager's create, or the colleague whose rename frees an
    address (``Change.waits_for``): applying it alone would fail."""
    created = {c.source_id for c in plan.changes if c.action is Action.CREATE and c.source_id}
    changed = {c.source_id for c in plan.changes if c.source_id}
    missing = [
        (change.source_id or "", change.depends_on)
        for change in plan.changes
        if change.depends_on is not None and change.depends_on not in created
    ]
    missing += [
        (change.source_id or "", other)
        for change in plan.changes
        for other in change.waits_for
        if other not in changed
    ]
    return tuple(dict.fromkeys(missing))
