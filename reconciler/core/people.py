"""Who a plan names: the people its changes concern and whom their values point at.
Imports only the standard library, reconciler.core.model and reconciler.core.normalise.

A ``manager`` value is a Personio id (or, for a ``before`` the planner could not trace back, a
Lattice id) and a ``user`` custom attribute holds an email: a reviewer recognises neither. The
planner hands ``plan_people`` what it read, and the plan carries the answer (``Plan.people``)
for the renderings; the checksum never covers it (docs/decisions.md, 2026-12-02).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from reconciler.core.model import (
    FULL_NAME_FIELD,
    Change,
    DesiredUser,
    FieldValue,
    Person,
    TargetUser,
)
from reconciler.core.normalise import fold, id_sort_key

_EMAILISH = re.compile(r"[^@\s]+@[^@\s]+")


def plan_people(
    changes: Iterable[Change], desired: Sequence[DesiredUser], users: Sequence[TargetUser]
) -> tuple[Person, ...]:
    """Every person ``changes`` concern or name in a ``manager`` or email value, sorted by
    Personio id then Lattice id. Desired records win over what Lattice holds."""
    by_source = {person.source_id: person for person in desired}
    by_external: dict[str, TargetUser] = {}
    by_target: dict[str, TargetUser] = {}
    for user in users:
        by_target[user.target_id] = user
        if user.external_id:
            by_external.setdefault(user.external_id, user)
    emails: dict[str, DesiredUser | TargetUser] = {}
    found: dict[tuple[str | None, str | None], Person] = {}

    def add_source(source_id: str) -> bool:
        person, user = by_source.get(source_id), by_external.get(source_id)
        if person is None and user is None:
            return False
        _add(found, _person(person, user, source_id))
        return True

    def add_target(target_id: str) -> None:
        user = by_target.get(target_id)
        if user is not None:
            source_id = user.external_id
            _add(found, _person(by_source.get(source_id or ""), user, source_id))

    def add_email(email: str) -> None:
        if not emails:
            emails.update({fold(user.email): user for user in users})
            emails.update({fold(person.email): person for person in desired})
        holder = emails.get(fold(email))
        if isinstance(holder, DesiredUser):
            add_source(holder.source_id)
        elif holder is not None:
            add_target(holder.target_id)

    for change in changes:
        if not (change.source_id and add_source(change.source_id)) and change.target_id:
            add_target(change.target_id)
        for field in change.fields:
            for value in (field.before, field.after):
                if not isinstance(value, str):
                    continue
                if field.name == "manager":
                    if not add_source(value):
                        add_target(value)
                elif field.name != "email" and _EMAILISH.fullmatch(value):
                    add_email(value)
    return tuple(
        sorted(
            found.values(),
            key=lambda p: (id_sort_key(p.source_id), p.target_id or "", p.email),
        )
    )


def _add(found: dict[tuple[str | None, str | None], Person], person: Person) -> None:
    found.setdefault((person.source_id, person.target_id), person)


def _person(desired: DesiredUser | None, user: TargetUser | None, source_id: str | None) -> Person:
    user_fields: Mapping[str, FieldValue] = user.fields if user is not None else {}
    fields: Mapping[str, FieldValue] = desired.fields if desired is not None else user_fields
    department = fields.get("department", user_fields.get("department"))
    return Person(
        source_id=source_id,
        target_id=user.target_id if user is not None else None,
        email=desired.email if desired is not None else (user.email if user else ""),
        name=_name(fields) or _name(user_fields),
        department=None if department is None else str(department),
    )


def _name(fields: Mapping[str, FieldValue]) -> str | None:
    first = fields.get("preferred_name") or fields.get("first_name")
    parts = [str(part) for part in (first, fields.get("last_name")) if part is not None]
    name = " ".join(" ".join(parts).split()) or str(fields.get(FULL_NAME_FIELD) or "")
    return name or None
