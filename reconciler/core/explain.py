"""One person's whole story (``reconcile explain PERSON``), from the inputs of a full plan.
Imports only the standard library and reconciler.core (model, mapping, normalise, profiles).

Read-only and pure: the same snapshot, Lattice users, resolved config and plan that ``plan``
computes give the explanation — scope and the rule that decided it, how the person was matched
(by id, by email, or why not), each managed field from the source attribute to the Lattice
value, the person's warnings and errors, and the change ``apply`` would send. The planner's
decisions are read from the plan, never re-derived, so the story cannot disagree with it.
Sensitive values are ``REDACTED`` here already, so no renderer can show them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from reconciler.core.mapping import (
    canonical_custom_fields,
    compute_desired_users,
    normalise_value,
    scope_verdict,
)
from reconciler.core.model import (
    IDENTITY_FIELDS,
    AttrValue,
    Change,
    Config,
    DesiredUser,
    Employee,
    FieldValue,
    Plan,
    Problem,
    SourceSnapshot,
    TargetUser,
)
from reconciler.core.normalise import fold
from reconciler.core.plan_document import redact_value
from reconciler.core.profiles import SourceProfile, TargetProfile


@dataclass(frozen=True, slots=True)
class FieldStory:
    """One managed field: source attribute → its value → desired → target value → change."""

    name: str
    attribute: str  # the source attribute key ("" when the field has none)
    source_value: FieldValue
    desired: FieldValue
    target_value: FieldValue
    #: "none", "set", "change", or why the field is left alone ("not managed: contractor")
    outcome: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """Everything ``explain`` says about one person. Sensitive values are ``REDACTED``."""

    query: str
    source_id: str | None
    email: str | None
    in_source: bool
    employment_type: str | None
    status: str | None
    in_scope: bool
    scope_rule: str
    contractor: bool
    #: how the person was matched, one line each (by id, by email, ambiguity)
    matching: tuple[str, ...]
    target_id: str | None
    target_active: bool | None
    #: other people the query or the match could mean (source ids, target ids)
    candidates: tuple[str, ...]
    fields: tuple[FieldStory, ...]
    errors: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    change: Change | None
    sensitive_fields: frozenset[str]


def explain_person(
    query: str,
    snapshot: SourceSnapshot,
    actual: tuple[TargetUser, ...],
    config: Config,
    plan: Plan,
    *,
    source: SourceProfile,
    target: TargetProfile,
) -> Explanation | None:
    """The story of the person ``query`` names (a source id, or an email); ``None`` when
    nobody in the source or the target has it. An email several source employees share
    explains the first by id and names the others as candidates."""
    name = query.strip()
    employees = [e for e in snapshot.employees if e.source_id == name]
    if not employees and "@" in name:
        employees = sorted(
            (e for e in snapshot.employees if fold(_text(e.get(source.email_key))) == fold(name)),
            key=lambda e: (len(e.source_id), e.source_id),
        )
    users = list(canonical_custom_fields(actual, config))
    if not employees:
        user = next(
            (u for u in users if u.external_id == name or ("@" in name and _same(u.email, name))),
            None,
        )
        if user is None:
            return None
        return _target_only(
            name=name, user=user, users=users, config=config, plan=plan, source=source
        )
    employee = employees[0]
    sid = employee.source_id
    email = _text(employee.get(source.email_key)) or None
    candidates = [f"{source.name} {e.source_id}" for e in employees[1:]]

    employment_type = _lower(employee.get(source.employment_type_key))
    status = _lower(employee.get(source.status_key))
    in_scope = scope_verdict(employment_type, status, config.sync) == "in"
    rule = _scope_rule(employment_type, status, config)
    contractor = employment_type == source.contractor_type

    errors = tuple(p for p in plan.errors if p.source_id == sid)
    warnings = tuple(p for p in plan.warnings if p.source_id == sid)
    change = next((c for c in plan.changes if c.source_id == sid), None)

    by_id = [u for u in users if u.external_id == sid]
    by_email = [u for u in users if email and _same(u.email, email)]
    matching: list[str] = []
    chosen_by_policy: TargetUser | None = None
    shared = [
        e.source_id
        for e in snapshot.employees
        if e.source_id != sid and email and _same(_text(e.get(source.email_key)), email)
    ]
    if shared:
        matching.append(
            f"ambiguous: {source.name} employees {', '.join(shared)} have the same email; "
            "none of them is matched by email"
        )
        candidates += [
            f"{source.name} {other}"
            for other in shared
            if f"{source.name} {other}" not in candidates
        ]
    if len(by_id) > 1:
        matching.append(
            f"ambiguous: {target.name} users {', '.join(u.target_id for u in by_id)} all carry "
            f"external id {sid}"
        )
    elif by_id:
        matching.append(f"by id: {target.name} user {by_id[0].target_id} has external id {sid}")
    for user in by_email:
        if user in by_id:
            continue
        if user.external_id and not source.is_source_id(user.external_id):
            # Another provisioner's user: the planner's sync.foreign_users rule.
            adopted = config.sync.foreign_users == "adopt" and not by_id and not shared
            matching.append(
                f"by email: {target.name} user {user.target_id} has this email and was created "
                f"by another provisioner (external id {user.external_id}): "
                + (
                    "adopted, matched by email every run (sync.foreign_users: adopt)"
                    if adopted
                    else f"left alone (sync.foreign_users: {config.sync.foreign_users})"
                )
            )
            if adopted and chosen_by_policy is None:
                chosen_by_policy = user
            candidates.append(f"{target.name} {user.target_id}")
            continue
        if user.external_id and user.external_id != sid:
            matching.append(
                f"by email: {target.name} user {user.target_id} has this email but is linked "
                f"to {source.name} employee {user.external_id}"
            )
        else:
            matching.append(
                f"by email: {target.name} user {user.target_id} has this email and no "
                "external id (adopted by a link)"
            )
        candidates.append(f"{target.name} {user.target_id}")
    if not by_id and not by_email and not shared:
        matching.append(f"no {target.name} user has this id or email")
    if change is not None and change.reason is not None and change.reason.startswith("relink:"):
        matching.append(change.reason.split("; ")[0])  # a rehire matched to their old user
    chosen = by_id[0] if len(by_id) == 1 else None
    if chosen is None and change is not None and change.target_id:
        chosen = next((u for u in users if u.target_id == change.target_id), None)
    if chosen is None and len(by_email) == 1 and not by_email[0].external_id:
        chosen = by_email[0]
    if chosen is None:
        chosen = chosen_by_policy

    desired = _desired(employee, config, source, target) if in_scope else None
    stories = _fields(
        employee, desired, chosen, users, config, change, contractor, source, target, bool(errors)
    )
    return Explanation(
        query=name,
        source_id=sid,
        email=email,
        in_source=True,
        employment_type=employment_type,
        status=status,
        in_scope=in_scope,
        scope_rule=rule,
        contractor=contractor,
        matching=tuple(matching),
        target_id=chosen.target_id if chosen else None,
        target_active=chosen.active if chosen else None,
        candidates=tuple(candidates),
        fields=stories,
        errors=errors,
        warnings=warnings,
        change=change,
        sensitive_fields=config.sensitive_fields,
    )


def _target_only(
    *,
    name: str,
    user: TargetUser,
    users: list[TargetUser],
    config: Config,
    plan: Plan,
    source: SourceProfile,
) -> Explanation:
    change = next((c for c in plan.changes if c.target_id == user.target_id), None)
    policy = config.sync.unmanaged_users
    if user.external_id and not source.is_source_id(user.external_id):
        rule = (
            f"not in {source.name}: created by another provisioner (external id "
            f"{user.external_id} is not a {source.name} id); "
            + (
                "left alone (sync.foreign_users: leave)"
                if config.sync.foreign_users == "leave"
                else f"adopted only by the one {source.name} employee with its email "
                "(sync.foreign_users: adopt)"
            )
        )
    elif user.external_id:
        rule = (
            f"not in {source.name}: external id {user.external_id} is unknown to {source.name} "
            "(deactivated when active)"
        )
    else:
        rule = f"not in {source.name}: an unmanaged user (sync.unmanaged_users: {policy})"
    if fold(user.email) in config.sync.protected:
        rule += "; protected (sync.protected): never changed"
    others = [u.target_id for u in users if u is not user and _same(u.email, user.email)]
    return Explanation(
        query=name,
        source_id=user.external_id,
        email=user.email,
        in_source=False,
        employment_type=None,
        status=None,
        in_scope=False,
        scope_rule=rule,
        contractor=False,
        matching=(f"only in the target: user {user.target_id}",),
        target_id=user.target_id,
        target_active=user.active,
        candidates=tuple(others),
        fields=(),
        errors=tuple(
            p for p in plan.errors if user.external_id and p.source_id == user.external_id
        ),
        warnings=tuple(
            p for p in plan.warnings if user.external_id and p.source_id == user.external_id
        ),
        change=change,
        sensitive_fields=config.sensitive_fields,
    )


def _scope_rule(employment_type: str | None, status: str | None, config: Config) -> str:
    types = ", ".join(config.sync.employee_types)
    statuses = ", ".join(config.sync.statuses)
    verdict = scope_verdict(employment_type, status, config.sync)
    if verdict == "missing":
        return "undecidable: the employment type or status is missing (left untouched)"
    if verdict == "status":
        return f"out of scope: status {status!r} is not in sync.statuses [{statuses}] (left)"
    if verdict == "employment_type":
        return (
            f"out of scope: employment type {employment_type!r} is not in "
            f"sync.employee_types [{types}]"
        )
    return (
        f"in scope: employment type {employment_type!r} ∈ sync.employee_types [{types}] and "
        f"status {status!r} ∈ sync.statuses [{statuses}]"
    )


def _desired(
    employee: Employee, config: Config, source: SourceProfile, target: TargetProfile
) -> DesiredUser | None:
    mapping = compute_desired_users([employee], config, source=source, target=target)
    return mapping.desired[0] if mapping.desired else None


def _fields(  # noqa: PLR0917 - one field table needs all of them
    employee: Employee,
    desired: DesiredUser | None,
    user: TargetUser | None,
    users: list[TargetUser],
    config: Config,
    change: Change | None,
    contractor: bool,
    source: SourceProfile,
    target: TargetProfile,
    blocked: bool,
) -> tuple[FieldStory, ...]:
    hidden = config.sensitive_fields
    managed: list[tuple[str, str]] = [("email", source.email_key)]
    managed += [(name, name) for name in IDENTITY_FIELDS if name != "email"]
    managed += [(s.name, s.source) for s in config.fields if s.enabled]
    managed += [(attr.field_name, attr.personio) for attr in config.custom_attributes]
    managers = {u.target_id: u.external_id for u in users if u.external_id}
    stories: list[FieldStory] = []
    for name, key in managed:
        sensitive = name in hidden
        raw = normalise_value(employee.get(key))
        if name == "email":
            wanted: FieldValue = desired.email if desired else None
            have: FieldValue = user.email if user else None
        else:
            wanted = desired.fields.get(name) if desired else None
            have = user.fields.get(name) if user else None
        field = change.field(name) if change else None
        if name == "manager" and have is not None:
            # Lattice holds the manager's SCIM id; the plan speaks source ids.
            have = managers.get(str(have), have)
        if field is not None:
            wanted = field.after  # after manager resolution: what apply would write
        if contractor and name in target.contractor_unmanaged_fields:
            outcome = f"not managed: {source.contractor_type} employees (contractors)"
            wanted = None
        elif name in target.create_only_fields and user is not None:
            outcome = "create only: a difference is a warning, never written"
        elif blocked:
            outcome = "none: left untouched (see the errors)"
        elif desired is None:
            outcome = "none: not in scope or held back"
        elif field is not None:
            outcome = "set" if change is not None and change.action.value == "create" else "change"
        elif desired is not None and name != "email" and name not in desired.fields:
            outcome = "left unchanged: the value was rejected (see the warnings)"
        else:
            outcome = "none"
        stories.append(
            FieldStory(
                name=name,
                attribute=key,
                source_value=_hide(raw, sensitive),
                desired=_hide(wanted, sensitive),
                target_value=_hide(have, sensitive),
                outcome=outcome,
            )
        )
    return tuple(stories)


def _hide(value: FieldValue, sensitive: bool) -> FieldValue:
    return redact_value(value) if sensitive else value


def _text(value: AttrValue) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value.strip() if isinstance(value, str) else ""


def _lower(value: AttrValue) -> str | None:
    return value.strip().lower() if isinstance(value, str) and value.strip() else None


def _same(left: str, right: str) -> bool:
    return bool(left.strip()) and fold(left) == fold(right)
