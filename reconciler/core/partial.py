"""Pure partial planning: the people changed since a time + their target users → a Plan for them.
Imports only the standard library and the core (model, mapping, planner, normalise, people,
safety).

A fast run reads only the employees the source says were updated in a window and looks their
target users (and the people their records point at) up one by one. Its plan uses the full
planner's matching, mapping, manager and checksum rules, with three differences (see
docs/github.md, "Fast runs"):

- nobody is deactivated for being absent: only people in the window whose record says they
  left or are out of scope are deactivated;
- managers and ``user`` custom attributes pointing outside the window resolve through the one
  active target user linked to that source id (looked up by external id, never by email);
- a person the window alone cannot decide — an error, an ambiguous match, a reference with no
  single active linked user, a create this plan cannot make first — gets a
  ``left_to_full_run`` warning and no change: the nightly full run decides.

The safety thresholds on changes are measured against the whole active target population,
which the caller counts (``target_population``); the rules about the source population
(``min_source_employees``, ``max_errors``) are left to the full run (``PARTIAL_RULES``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from operator import attrgetter

from reconciler.core.mapping import (
    canonical_custom_fields,
    compute_desired_users,
    is_in_scope,
    normalise_value,
    unique_problems,
)
from reconciler.core.model import (
    Action,
    Change,
    Config,
    Employee,
    Plan,
    Problem,
    SourceSnapshot,
    TargetUser,
)
from reconciler.core.normalise import fold, id_sort_key, normalise_email
from reconciler.core.people import plan_people
from reconciler.core.plan_document import compute_checksum
from reconciler.core.planner import (
    _create_changes,
    _hold_reactivations,
    _limit_choices,
    _mark_contractor_creates,
    _match,
    _resolve,
    _updates,
    _user_fields,
    _wait_for_others,
    _Words,
    contractor_reason,
    leaver_reasons,
)
from reconciler.core.profiles import SourceProfile, TargetProfile
from reconciler.core.safety import RULES, SafetyRule

#: The warning code of a person a partial plan leaves to the full run.
LEFT_TO_FULL_RUN = "left_to_full_run"
#: Safety rules about the whole source population: only a full read can check them.
FULL_RUN_ONLY_RULES = frozenset({"min_source_employees", "max_errors"})


def partial_rules(rules: Iterable[SafetyRule] | None = None) -> tuple[SafetyRule, ...]:
    """The safety rules a partial plan is checked against: all but ``FULL_RUN_ONLY_RULES``.

    An empty window is normal (nobody changed), and a partial plan carries no errors (people
    with errors are left to the full run), so neither rule has anything to measure.
    """
    return tuple(
        rule for rule in (RULES if rules is None else rules) if rule.name not in FULL_RUN_ONLY_RULES
    )


@dataclass(frozen=True, slots=True)
class Lookups:
    """What the target must be asked about one window (see ``plan_lookups``)."""

    #: every source id in the window: look up by external id
    source_ids: frozenset[str]
    #: source id → folded email of each window person with a usable email
    emails: Mapping[str, str]
    #: source ids outside the window that the window's records point at (managers, ``user``
    #: custom attributes): look up by external id
    references: frozenset[str]
    #: the window people in scope (only their users' fields are compared)
    in_scope: frozenset[str] = frozenset()


def plan_lookups(snapshot: SourceSnapshot, config: Config, *, source: SourceProfile) -> Lookups:
    """The external ids and emails a partial plan of ``snapshot`` needs target users for."""
    ids = frozenset(employee.source_id for employee in snapshot.employees)
    emails: dict[str, str] = {}
    references: set[str] = set()
    in_scope: set[str] = set()
    for employee in snapshot.employees:
        email = normalise_email(employee.attributes.get(source.email_key))
        if email is not None:
            emails[employee.source_id] = email
        if is_in_scope(employee, config.sync, source):  # leavers point nowhere that matters
            in_scope.add(employee.source_id)
            references.update(_references(employee, config))
    return Lookups(ids, emails, frozenset(references - ids), frozenset(in_scope))


def email_lookups(lookups: Lookups, by_external_id: Mapping[str, Sequence[TargetUser]]) -> set[str]:
    """The window emails to look up by user name: those of people without a linked user, or
    whose linked user has another email (the email may belong to someone else's user).

    A linked user with the same email is the only user with it (user names are unique in
    the target), so asking again would tell nothing new.
    """
    wanted: set[str] = set()
    for source_id, email in lookups.emails.items():
        users = by_external_id.get(source_id, ())
        if len(users) != 1 or fold(users[0].email) != email:
            wanted.add(email)
    return wanted


def old_manager_ids(found: Iterable[TargetUser], lookups: Lookups) -> set[str]:
    """Target ids of the current managers of the users of window people in scope (linked to
    them, or holding their email) that were not found yet, so a changed manager's "before"
    names the source id, as in a full plan."""
    users = list(found)
    have = {user.target_id for user in users}
    emails = {lookups.emails[pid] for pid in lookups.in_scope if pid in lookups.emails}
    return {
        str(manager)
        for user in users
        if (user.external_id in lookups.in_scope or fold(user.email) in emails)
        and (manager := user.fields.get("manager")) is not None
        and str(manager) not in have
    }


def compute_partial_plan(
    snapshot: SourceSnapshot,
    found: Sequence[TargetUser],
    config: Config,
    *,
    source: SourceProfile,
    target: TargetProfile,
    target_population: int,
    gaps: set[str] | None = None,
) -> Plan:
    """The changes that make the target match the source for the people in ``snapshot``.

    ``snapshot`` holds only the people updated in the window; ``found`` every target user
    carrying one of ``plan_lookups``' source ids or references as external id, or one of its
    emails as user name (``email_lookups`` says which are needed), and any others known
    (e.g. current managers, ``old_manager_ids``). ``target_population`` is the number of
    active target users, what the change thresholds are measured against.

    Every change of this plan is one the full planner would make on the same data, as long
    as the people outside the window were reconciled by an earlier run.

    A new manager is written only once the chain of managers above them is known not to lead
    back to the person (a reporting cycle the full run would refuse); ``gaps``, when given,
    receives the target ids where such a chain left ``found`` — look them up and plan again.
    """
    words = _Words(source.name, target.name)
    users = sorted(
        {user.target_id: user for user in canonical_custom_fields(found, config)}.values(),
        key=attrgetter("target_id"),
    )
    window = frozenset(employee.source_id for employee in snapshot.employees)
    linked: dict[str, list[TargetUser]] = {}
    for user in users:
        if user.external_id:
            linked.setdefault(user.external_id, []).append(user)
    # The one active user linked to each outside person: what they are known by — unless a
    # window person now has that email too (the full run would block both as duplicates).
    window_emails = {
        email
        for employee in snapshot.employees
        if (email := normalise_email(employee.attributes.get(source.email_key))) is not None
    }
    known = {
        pid: candidates[0]
        for pid, candidates in linked.items()
        if pid not in window
        and len(candidates) == 1
        and candidates[0].active
        and fold(candidates[0].email) not in window_emails
    }
    known_emails = {pid: fold(user.email) for pid, user in known.items()}
    mapping = compute_desired_users(
        snapshot.employees, config, source=source, target=target, known_emails=known_emails
    )
    left: dict[str, list[str]] = {}  # source id → why it is left to the full run

    def leave(pid: str | None, why: str) -> None:
        if pid is not None:
            left.setdefault(pid, []).append(why)

    for problem in (*mapping.errors, *snapshot.problems):
        leave(problem.source_id, problem.message)
    warnings: list[Problem] = list(mapping.warnings)
    blocked_ids = set(mapping.blocked_ids)
    blocked_ids.update(p.source_id for p in snapshot.problems if p.source_id)
    blocked_emails = set(mapping.blocked_emails)
    blocked_emails.update(fold(p.email) for p in snapshot.problems if p.email)

    employees = {employee.source_id: employee for employee in snapshot.employees}
    desired = [d for d in mapping.desired if d.source_id not in blocked_ids]
    for person in desired:
        for reference in _references(employees[person.source_id], config, person.fields):
            if reference not in window and reference not in known:
                leave(
                    person.source_id,
                    f"employee {person.source_id} points at employee {reference}, who changed "
                    f"before this window and has no single active {words.target} user linked",
                )
    desired = _limit_choices(desired, users, config, target, warnings)

    leavers = leaver_reasons(snapshot.employees, mapping.out_of_scope_ids, config.sync, source)
    matching = _match(desired, users, config.sync.protected, words, leavers=leavers)
    for problem in matching.errors:
        leave(problem.source_id, problem.message)
    blocked_ids |= matching.refused
    # A reference to someone this run cannot decide is undecided too: the full run may leave it
    # empty (that person has errors) where this run would keep it. Repeated for chains.
    undecided = set(left) | blocked_ids
    while True:
        newly = {
            person.source_id
            for person in desired
            if person.source_id not in undecided
            and _references(employees[person.source_id], config, person.fields) & undecided
        }
        if not newly:
            break
        for pid in sorted(newly):
            leave(pid, f"employee {pid} points at an employee who is left to the full run")
        undecided |= newly

    resolvable, create_ids, managed, desired_fields = _resolve(
        desired,
        matching,
        mapping,
        blocked_ids=blocked_ids,
        words=words,
        warnings=warnings,
        known={pid: user.target_id for pid, user in known.items()},
    )
    # sync.reactivate: never holds in a fast run too (the full plan's own hook).
    managed = _hold_reactivations(managed, matching, config.sync, words, warnings)
    edges: dict[str, str | None] = {}
    for person in [*managed, *matching.creates]:
        manager = desired_fields[person.source_id].get("manager")
        edges[person.source_id] = None if manager is None else str(manager)
    by_target = {user.target_id: user for user in users}
    for person in managed:
        pid = person.source_id
        manager = desired_fields[pid].get("manager")
        if manager is None or str(manager) not in resolvable:
            continue
        if resolvable[str(manager)] == matching.matched[pid].fields.get("manager"):
            continue  # unchanged: the target's own chain is as it was
        verdict = _chain(
            pid,
            str(manager),
            edges=edges,
            known=known,
            by_target=by_target,
            window=window,
            gaps=gaps,
        )
        if verdict is not None:
            leave(pid, f"employee {pid}'s new manager {manager} {verdict}")
    changes, unchanged = _updates(
        managed,
        desired_fields,
        matching,
        users=users,
        resolvable=resolvable,
        create_only=target.create_only_fields,
        words=words,
        warnings=warnings,
    )
    # Only people in the window who are out of scope now: absence means nothing here. The same
    # leaver rule as the full plan: nothing else wrong around a leaver holds their deactivation.
    matched = {user.target_id for user in matching.matched.values()}
    for user in users:
        if (
            user.active
            and user.external_id in leavers
            and user.external_id not in blocked_ids
            and user.target_id not in matched
            and fold(user.email) not in config.sync.protected
        ):
            changes.append(
                Change(
                    Action.DEACTIVATE,
                    user.external_id,
                    user.target_id,
                    user.email,
                    reason=leavers[user.external_id],
                )
            )
    creates = _mark_contractor_creates(
        _create_changes(matching.creates, desired_fields, create_ids),
        matching.creates,
        contractor_reason(source, target, config),
        source,
    )

    kept = _drop_left([*creates, *changes], left, words)
    # People left to the full run are neither changed nor "unchanged" here.
    changed = {change.source_id for change in changes}
    unchanged -= sum(1 for p in managed if p.source_id in left and p.source_id not in changed)
    kept_creates = [change for change in kept if change.action is Action.CREATE]
    others = [change for change in kept if change.action is not Action.CREATE]
    others.sort(key=lambda c: (c.action.order, id_sort_key(c.source_id), c.email))
    # Hand-overs and renamed people named by ``user`` attributes: the same order as in full.
    held: list[Problem] = []
    kept_creates, others = _wait_for_others(
        kept_creates,
        others,
        matching.takes,
        _user_fields(config),
        words=words,
        errors=held,
        warnings=warnings,
    )
    for problem in held:
        leave(problem.source_id, problem.message)
    warnings = [w for w in warnings if w.source_id not in left]
    warnings += [
        Problem(
            pid,
            LEFT_TO_FULL_RUN,
            f"employee {pid} is left to the full run: " + "; ".join(sorted(set(reasons))),
        )
        for pid, reasons in left.items()
    ]
    # Records without a readable id are nobody's to leave, but must not go unmentioned.
    warnings += [
        Problem(None, LEFT_TO_FULL_RUN, f"{problem.message} — left to the full run")
        for problem in snapshot.problems
        if problem.source_id is None
    ]
    plan = Plan(
        changes=(*kept_creates, *others),
        unchanged=unchanged,
        warnings=unique_problems(warnings),
        errors=(),
        sensitive_fields=config.sensitive_fields,
        source_employees=len(snapshot.employees) + len(snapshot.problems),
        target_users=target_population,
        # Whom the changes name, as in a full plan: the window's desired records, else the
        # target users looked up (managers outside the window are known by their linked user).
        people=plan_people((*kept_creates, *others), mapping.desired, users),
    )
    return replace(plan, checksum=compute_checksum(plan))


def _chain(
    pid: str,
    manager: str,
    *,
    edges: Mapping[str, str | None],
    known: Mapping[str, TargetUser],
    by_target: Mapping[str, TargetUser],
    window: frozenset[str],
    gaps: set[str] | None,
) -> str | None:
    """Why ``pid`` cannot report to ``manager`` yet, or ``None`` when the chain above the
    manager ends without coming back to ``pid``. Window people follow their new managers,
    everyone else their manager in the target."""
    node: str | None = manager
    seen: set[str] = set()
    while node is not None:
        if node == pid:
            return "reports to them (a reporting cycle)"
        if node in seen:
            return "is in a reporting cycle above them"
        seen.add(node)
        if node in edges:
            node = edges[node]
            continue
        if node in window:
            return None  # in the window but not managed here (out of scope): no edge
        user = known.get(node)
        if user is None:
            return f"has a manager chain through employee {node}, who is not known"
        above = user.fields.get("manager")
        if above is None:
            return None
        above_user = by_target.get(str(above))
        if above_user is None:
            if gaps is not None:
                gaps.add(str(above))
            return "has a manager chain that was not read to its end"
        if not above_user.external_id:
            return "has a manager chain through a user linked to nobody"
        node = above_user.external_id
    return None


def _drop_left(changes: list[Change], left: dict[str, list[str]], words: _Words) -> list[Change]:
    """``changes`` without those of people left to the full run, nor those that wait for a
    create that was dropped (their manager would not exist); those people are left too."""
    dropped: set[str | None] = {c.source_id for c in changes if c.source_id in left}
    while True:
        waiting = {
            change.source_id
            for change in changes
            if (change.depends_on in dropped or any(w in dropped for w in change.waits_for))
            and change.source_id not in dropped
        }
        if not waiting:
            break
        for change in changes:
            pid = change.source_id
            if pid is None or pid not in waiting:
                continue
            why = (
                f"their manager's {words.target} user is not created by this plan"
                if change.depends_on in dropped
                else "a change they wait for (a colleague's new address) is left to the full run"
            )
            if why not in left.get(pid, []):
                left.setdefault(pid, []).append(why)
        dropped |= waiting
    return [change for change in changes if change.source_id not in dropped]


def _references(
    employee: Employee, config: Config, fields: Mapping[str, object] | None = None
) -> set[str]:
    """Source ids the employee's record points at: the manager and ``user`` custom attributes.

    With ``fields`` (the desired user's), only references that reach the target count: a
    manager the target does not manage for this person (a contractor) points nowhere.
    """
    found: set[str] = set()
    if config.is_managed("manager") and (fields is None or "manager" in fields):
        value = normalise_value(employee.attributes.get(config.field("manager").source))
        if value is not None:
            found.add(str(value))
    for attr in config.custom_attributes:
        if attr.type != "user" or (fields is not None and attr.field_name not in fields):
            continue
        value = normalise_value(employee.attributes.get(attr.personio))
        if value is not None:
            found.add(str(value))
    return found
