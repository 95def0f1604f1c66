"""Pure planning: desired users + actual Lattice users → an ordered, checksummed Plan.
Imports only the standard library, reconciler.core.model, reconciler.errors and reconciler.mapping.

Matching, lifecycle and manager rules: docs/architecture.md §5.1; document and checksum §5.2.
Nothing here does I/O: the same inputs, in any order, give a byte-identical plan.
"""

from __future__ import annotations

import gc
import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from operator import attrgetter

from reconciler.core.mapping import (
    MappingResult,
    canonical_custom_fields,
    compute_desired_users,
    normalise_value,
    scope_of,
    unique_problems,
)
from reconciler.core.model import (
    FULL_NAME_FIELD,
    NAME_PARTS,
    Action,
    Change,
    Config,
    DesiredUser,
    Employee,
    FieldChange,
    FieldValue,
    Plan,
    Problem,
    SourceSnapshot,
    SyncSettings,
    TargetUser,
)
from reconciler.core.normalise import fold, id_sort_key
from reconciler.core.people import plan_people
from reconciler.core.plan_document import compute_checksum
from reconciler.core.profiles import SourceProfile, TargetProfile


@dataclass(frozen=True, slots=True)
class _Words:
    """The systems' names, for messages (the only place the planner mentions them)."""

    source: str
    target: str


class _Pending:
    """Stands in for the SCIM id of a manager created by this same plan: equal to nothing."""


_PENDING = _Pending()


def compute_plan(
    snapshot: SourceSnapshot,
    actual: Sequence[TargetUser],
    config: Config,
    *,
    source: SourceProfile,
    target: TargetProfile,
) -> Plan:
    """The changes that make the target match the source (``config`` resolved, see mapping)."""
    # Planning allocates a few objects per person and frees almost none until the end, so
    # the cyclic garbage collector would walk the whole growing heap again and again for
    # nothing (about 8 % of the time at 100,000 people). Nothing here creates reference
    # cycles worth collecting early; the caller's setting is restored on the way out.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _compute_plan(snapshot, actual, config, source=source, target=target)
    finally:
        if was_enabled:
            gc.enable()


def _compute_plan(
    snapshot: SourceSnapshot,
    actual: Sequence[TargetUser],
    config: Config,
    *,
    source: SourceProfile,
    target: TargetProfile,
) -> Plan:
    mapping = compute_desired_users(snapshot.employees, config, source=source, target=target)
    words = _Words(source.name, target.name)
    errors: list[Problem] = [*mapping.errors, *snapshot.problems]
    warnings: list[Problem] = list(mapping.warnings)
    # Records Personio sent but we could not parse are people too: never touch their users.
    blocked_ids = set(mapping.blocked_ids)
    blocked_ids.update(p.source_id for p in snapshot.problems if p.source_id)
    blocked_emails = set(mapping.blocked_emails)
    blocked_emails.update(fold(p.email) for p in snapshot.problems if p.email)

    desired = [d for d in mapping.desired if d.source_id not in blocked_ids]
    users = sorted(canonical_custom_fields(actual, config), key=attrgetter("target_id"))
    desired = _limit_choices(desired, users, config, target, warnings)
    foreign = _foreign_policy(
        desired,
        users,
        snapshot.employees,
        blocked_emails,
        sync=config.sync,
        source=source,
        words=words,
        warnings=warnings,
    )
    desired, users = foreign.desired, foreign.users

    leavers = leaver_reasons(snapshot.employees, mapping.out_of_scope_ids, config.sync, source)
    users, relinked = _relink_rehires(
        desired, users, snapshot.employees, leavers, config, words=words
    )
    matched_as = tuple(
        sorted(
            (user.external_id, user.target_id)
            for user in users
            if user.external_id
            and (user.target_id in relinked or user.target_id in foreign.adopted)
        )
    )
    matching = _match(desired, users, config.sync.protected, words, leavers=leavers)
    errors += matching.errors
    blocked_ids |= matching.refused

    user_fields = _user_fields(config)
    resolvable, create_ids, managed, desired_fields = _resolve(
        desired,
        matching,
        mapping,
        blocked_ids=blocked_ids,
        words=words,
        warnings=warnings,
        user_fields=user_fields,
    )
    managed = _hold_reactivations(managed, matching, config.sync, words, warnings)
    _became_contractors(
        managed,
        matching,
        snapshot.employees,
        config,
        source=source,
        target=target,
        words=words,
        warnings=warnings,
    )

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
    # A record Personio sent without a readable id or email may be anyone's: deactivating
    # users of ids "absent" from the answer could then deactivate that very person.
    unidentified = sum(1 for p in snapshot.problems if not p.source_id and not p.email)
    known_ids = {employee.source_id for employee in snapshot.employees}
    deactivations = _deactivations(
        users, matching, blocked_ids, blocked_emails, config.sync, leavers=leavers, words=words
    )
    for change in deactivations:
        if change.target_id in foreign.left:
            continue  # another provisioner's user: sync.foreign_users leaves it alone
        if unidentified and change.source_id and change.source_id not in known_ids:
            warnings.append(_held_problem(change, unidentified, words))
        else:
            changes.append(change)
    changes.sort(key=lambda c: (c.action.order, id_sort_key(c.source_id), c.email))
    changes = _mark_adopted(changes, foreign.adopted)
    changes = _mark_relinked(changes, relinked)
    creates = _mark_contractor_creates(
        _create_changes(matching.creates, desired_fields, create_ids),
        matching.creates,
        contractor_reason(source, target, config),
        source,
    )

    creates, changes = _wait_for_others(
        creates,
        changes,
        matching.takes,
        user_fields,
        words=words,
        errors=errors,
        warnings=warnings,
    )
    plan = Plan(
        changes=(*creates, *changes),
        unchanged=unchanged,
        warnings=unique_problems(warnings),
        errors=unique_problems(errors),
        sensitive_fields=config.sensitive_fields,
        source_employees=len(snapshot.employees) + len(snapshot.problems),
        target_users=sum(1 for user in users if user.active),
        people=plan_people((*creates, *changes), mapping.desired, users),
        matched_as=matched_as,
    )
    return replace(plan, checksum=compute_checksum(plan))


def _user_fields(config: Config) -> dict[str, str]:
    """Field name → display name of every custom attribute of type ``user``."""
    return {
        attr.field_name: attr.lattice for attr in config.custom_attributes if attr.type == "user"
    }


def _wait_for_others(
    creates: Sequence[Change],
    changes: Sequence[Change],
    takes: Mapping[str, str],
    user_fields: Mapping[str, str],
    *,
    words: _Words,
    errors: list[Problem],
    warnings: list[Problem],
) -> tuple[list[Change], list[Change]]:
    """Order the changes that need another person's change first (``Change.waits_for``).

    A hand-over: the person taking an address waits for the colleague whose change frees it;
    if that change is not in the plan after all (held back by a policy, say), the taker is
    refused with an error instead. A ``user`` attribute naming someone whose address changes
    in this plan waits for that change, so the target resolves the new address to them. Waits
    that would ring are broken by ``_break_waiting_rings``; a ``user`` attribute whose wait is
    dropped from a ring that holds a hand-over is left for the next run (``reference_held``).
    """
    everything = [*creates, *changes]
    if not takes and not user_fields:
        return list(creates), list(changes)
    new_address: dict[str, str] = {}  # Personio id → the address their change writes
    for change in everything:
        email = change.field("email")
        writes = change.action is not Action.CREATE or change.source_id in takes
        if writes and change.source_id is not None and email is not None and email.after:
            new_address[change.source_id] = fold(str(email.after))
    refused: set[str] = set()
    progress = True
    while progress:
        progress = False
        for pid, holder in takes.items():
            if pid in refused or (holder in new_address and holder not in refused):
                continue
            refused.add(pid)
            progress = True
            errors.append(
                Problem(
                    pid,
                    "email_handover_blocked",
                    f"employee {pid}'s email is still held by the {words.target} user of "
                    f"employee {holder}, whose change that gives them another address is not "
                    "in this plan — see employee "
                    f"{holder}'s problems; employee {pid} is left untouched until then",
                )
            )
    named = {address: pid for pid, address in new_address.items() if pid not in refused}
    waits: dict[str, set[str]] = {pid: {holder} for pid, holder in takes.items()}
    for change in everything:
        who = change.source_id
        if who is None or who in refused:
            continue
        for field_change in change.fields:
            if field_change.name in user_fields and isinstance(field_change.after, str):
                other = named.get(fold(field_change.after))
                if other is not None and other != who:
                    waits.setdefault(who, set()).add(other)
    managers = {
        c.source_id: c.depends_on
        for c in everything
        if c.source_id is not None and c.source_id not in refused and c.depends_on is not None
    }
    held, held_managers = _break_waiting_rings(waits, takes, managers)
    named_in = {pid: {new_address[other] for other in others} for pid, others in held.items()}

    def waiting(change: Change) -> Change:
        pid = change.source_id or ""
        if change.action is Action.DEACTIVATE:
            return change
        if pid in named_in:
            # Everyone in a ring changes their address, so the change keeps that field.
            change = _without_references(change, user_fields, named_in[pid])
            for other in sorted(held[pid], key=id_sort_key):
                warnings.append(
                    Problem(
                        pid,
                        "reference_held",
                        f"employee {pid}: a custom attribute names employee {other}, whose "
                        f"address change waits for employee {pid}'s own change — left as it "
                        f"is in {words.target} until the next run, so it cannot name the "
                        "person who holds that address now",
                    )
                )
        if pid in held_managers:
            change = replace(
                change,
                fields=tuple(fc for fc in change.fields if fc.name != "manager"),
                depends_on=None,
            )
            warnings.append(
                Problem(
                    pid,
                    "reference_held",
                    f"employee {pid}: manager {held_managers[pid]} is created in this plan "
                    f"only after employee {pid}'s own change (a hand-over) — "
                    + ("left empty" if change.action is Action.CREATE else "left as it is")
                    + f" in {words.target} until the next run",
                )
            )
        found = waits.get(pid)
        if not found:
            return change
        return replace(change, waits_for=tuple(sorted(found, key=id_sort_key)))

    kept = [c for c in creates if c.source_id not in refused]
    return [waiting(c) for c in kept], [
        waiting(c) for c in changes if c.source_id not in refused or c.action is Action.DEACTIVATE
    ]


def _without_references(
    change: Change, user_fields: Mapping[str, str], addresses: set[str]
) -> Change:
    """``change`` without the ``user`` attributes it writes as one of ``addresses``."""
    kept = tuple(
        fc
        for fc in change.fields
        if not (
            fc.name in user_fields and isinstance(fc.after, str) and fold(fc.after) in addresses
        )
    )
    return replace(change, fields=kept)


def _break_waiting_rings(
    waits: dict[str, set[str]], takes: Mapping[str, str], managers: dict[str, str]
) -> tuple[dict[str, set[str]], dict[str, str]]:
    """Drop waits until none ring, together with ``managers`` (person → their manager
    created in this plan, whose create the applier runs first); returns, per person, the
    people whose reference waits were dropped from a ring that holds a hand-over, and the
    managers whose write is held for the next run.

    A ring always holds a wait on a named person or a manager's create: hand-overs alone
    never ring (swaps are refused while matching). The smallest id's such edge in the ring is
    dropped. In a ring of renamed people whose ``user`` attributes name each other, the
    dropped reference is still written in this run and names an address nobody holds yet, so
    the target resolves it to nobody until the next run writes it again. In a ring that holds
    a hand-over, the address it names is still someone else's while the ring is being
    applied, so the reference is held for the next run instead; a manager whose create waits
    for a hand-over is likewise written by the next run (docs/decisions.md, hand-overs).
    """
    held: dict[str, set[str]] = {}
    held_managers: dict[str, str] = {}
    while True:
        graph = {pid: set(found) for pid, found in waits.items()}
        for pid, manager in managers.items():
            graph.setdefault(pid, set()).add(manager)
        ring = _find_ring(graph)
        if ring is None:
            return held, held_managers
        edges = list(zip(ring, [*ring[1:], ring[0]], strict=True))
        droppable = [(a, b) for a, b in edges if takes.get(a) != b]
        pid, other = min(droppable or edges, key=lambda edge: id_sort_key(edge[0]))
        if managers.get(pid) == other:
            del managers[pid]
            held_managers[pid] = other
        if other in waits.get(pid, ()):
            waits[pid].discard(other)
            if len(droppable) < len(edges):  # the ring holds a hand-over
                held.setdefault(pid, set()).add(other)


def _find_ring(waits: Mapping[str, set[str]]) -> list[str] | None:
    """One cycle of the wait graph (each person → the people they wait for), as the people
    along it, or ``None``. Depth-first, in id order, so the same plan finds the same ring."""
    done: set[str] = set()
    for start in sorted(waits, key=id_sort_key):
        if start in done:
            continue
        path = [start]
        on_path = {start}
        stack = [iter(sorted(waits.get(start, ()), key=id_sort_key))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
            elif nxt in on_path:
                return path[path.index(nxt) :]
            elif nxt not in done:
                path.append(nxt)
                on_path.add(nxt)
                stack.append(iter(sorted(waits.get(nxt, ()), key=id_sort_key)))
    return None


#: Leading every change to a user relinked to a rehire (``_relink_rehires``).
RELINK_REASON = (
    "relink: employee {new} is employee {old} rehired with a new {source} profile (same "
    "address and name{birth}); {target} keeps external id {old}, so the match is made again "
    "on every run"
)


def _relink_rehires(
    desired: Sequence[DesiredUser],
    users: list[TargetUser],
    employees: Sequence[Employee],
    leavers: Mapping[str, str],
    config: Config,
    *,
    words: _Words,
) -> tuple[list[TargetUser], dict[str, str]]:
    """Rehires with a new source id: a user linked to someone who left, holding the address of
    an in-scope person without a user of their own, whose name (and birth date, when mapped)
    is the leaver's, is that person's user — matched as if it carried their id, every run,
    because the target keeps an external id once set (docs/decisions.md, rehires). Anything
    less certain is left to matching, which refuses it. Returns the users and, for each
    relinked user's target id, the reason its changes carry."""
    left = {pid for pid, why in leavers.items() if why.startswith("left")}
    if not left:
        return users, {}
    by_external = {user.external_id: user for user in users if user.external_id}
    holders: dict[str, list[TargetUser]] = {}
    for user in users:
        holders.setdefault(fold(user.email), []).append(user)
    records = {employee.source_id: employee for employee in employees}
    birth = config.field("birth_date").source if config.is_managed("birth_date") else None
    relinked: dict[str, str] = {}
    new_ids: dict[str, str] = {}  # target id → the rehire's source id
    for person in desired:
        pid = person.source_id
        held = holders.get(person.email, [])
        if pid in by_external or len(held) != 1:
            continue
        user = held[0]
        old = user.external_id
        if old is None or old not in left or old == pid or user.target_id in new_ids:
            continue
        if not _same_person(records.get(old), records.get(pid), birth):
            continue
        new_ids[user.target_id] = pid
        relinked[user.target_id] = RELINK_REASON.format(
            new=pid,
            old=old,
            source=words.source,
            target=words.target,
            birth=" and birth date" if birth else "",
        )
    if not new_ids:
        return users, {}
    return [
        replace(user, external_id=new_ids[user.target_id]) if user.target_id in new_ids else user
        for user in users
    ], relinked


def _same_person(old: Employee | None, new: Employee | None, birth_key: str | None) -> bool:
    """Whether two records name the same person: equal first and last names (case and
    spacing aside) and, with ``birth_key``, equal birth dates, both known."""
    if old is None or new is None:
        return False
    for key in ("first_name", "last_name"):
        before, after = old.text(key), new.text(key)
        if (
            before is None
            or after is None
            or fold(" ".join(before.split())) != fold(" ".join(after.split()))
        ):
            return False
    if birth_key is None:
        return True
    born = normalise_value(old.get(birth_key))
    return born is not None and born == normalise_value(new.get(birth_key))


def _mark_relinked(changes: Sequence[Change], relinked: Mapping[str, str]) -> list[Change]:
    """Every change to a relinked user leads its reason with the relink."""
    if not relinked:
        return list(changes)
    return [
        replace(change, reason=_lead(relinked[change.target_id], change.reason))
        if change.target_id is not None and change.target_id in relinked
        else change
        for change in changes
    ]


def _lead(first: str, reason: str | None) -> str:
    return first if reason is None else f"{first}; {reason}"


#: ``_resolve``'s answer: resolvable ids, the ids this plan creates, the managed people, and
#: every person's fields with the manager made safe.
_Resolved = tuple[
    dict[str, "str | _Pending"], set[str], list[DesiredUser], dict[str, Mapping[str, FieldValue]]
]


def _resolve(
    desired: Sequence[DesiredUser],
    matching: _Matching,
    mapping: MappingResult,
    *,
    blocked_ids: set[str],
    words: _Words,
    warnings: list[Problem],
    known: Mapping[str, str] | None = None,
    user_fields: Mapping[str, str] | None = None,
) -> _Resolved:
    """Source id → target id of everyone whose user exists once this plan's links are written
    (exactly what the applier can resolve), or _PENDING for those this plan creates; ``known``
    adds target users found outside the plan (a fast run's look-ups). Then the managed people
    and every person's fields with the manager resolved through those ids, never by email."""
    unwritten_links = matching.linked & matching.protected
    resolvable: dict[str, str | _Pending] = dict(known or {})
    resolvable.update(
        {
            pid: user.target_id
            for pid, user in matching.matched.items()
            if pid not in unwritten_links
        }
    )
    create_ids = {person.source_id for person in matching.creates}
    resolvable.update(dict.fromkeys(create_ids, _PENDING))
    managed = [
        person
        for person in desired
        if person.source_id in matching.matched and person.source_id not in matching.protected
    ]
    desired_fields = _resolve_managers(
        [*managed, *matching.creates],
        resolvable,
        _ManagerContext(
            out_of_scope=mapping.out_of_scope_ids,
            blocked=frozenset(blocked_ids),
            in_scope=frozenset(person.source_id for person in mapping.desired),
            creating=frozenset(create_ids),
        ),
        words,
        warnings,
    )
    _hold_user_references(
        desired_fields,
        mapping,
        blocked_ids=blocked_ids,
        create_ids=create_ids,
        user_fields=user_fields or {},
        words=words,
        warnings=warnings,
    )
    return resolvable, create_ids, managed, desired_fields


def _hold_user_references(
    desired_fields: dict[str, Mapping[str, FieldValue]],
    mapping: MappingResult,
    *,
    blocked_ids: set[str],
    create_ids: set[str],
    user_fields: Mapping[str, str],
    words: _Words,
    warnings: list[Problem],
) -> None:
    """A ``user`` attribute (written as the person's address, which the target resolves) that
    names someone with a problem in this plan — whose address may be on another person's
    user — is left as it is (empty on a create), with a ``reference_held`` warning."""
    if not user_fields or not blocked_ids:
        return
    owner = {person.email: person.source_id for person in mapping.desired}
    for pid, fields in list(desired_fields.items()):
        held = [
            name
            for name in user_fields
            if isinstance(fields.get(name), str)
            and owner.get(fold(str(fields[name]))) in blocked_ids
        ]
        if not held:
            continue
        for name in held:
            named = owner[fold(str(fields[name]))]
            warnings.append(
                Problem(
                    pid,
                    "reference_held",
                    f"employee {pid}: custom attribute {user_fields[name]!r} names employee "
                    f"{named}, who has a problem in this plan — "
                    + ("left empty" if pid in create_ids else "left as it is")
                    + f" in {words.target} until it is solved",
                )
            )
        if pid in create_ids:
            desired_fields[pid] = {k: (None if k in held else v) for k, v in fields.items()}
        else:
            desired_fields[pid] = {k: v for k, v in fields.items() if k not in held}


# ---------------------------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Matching:
    """Who is whose. Dicts and sets of ids rather than an object per person: every container
    that outlives a loop makes each garbage-collector pass longer (most of the cost at 100k).
    """

    matched: dict[str, TargetUser] = field(default_factory=dict)  # Personio id → their user
    linked: set[str] = field(default_factory=set)  # matched by email: the plan links them
    protected: set[str] = field(default_factory=set)  # matched, but never to be touched
    creates: list[DesiredUser] = field(default_factory=list)
    untouched: set[str] = field(default_factory=set)  # SCIM ids involved in an ambiguity
    refused: set[str] = field(default_factory=set)  # Personio ids with a matching error
    errors: list[Problem] = field(default_factory=list)
    #: Personio id → the colleague whose change in this plan frees the address they take
    takes: dict[str, str] = field(default_factory=dict)

    def refuse(self, pid: str, problem: Problem, target_ids: Iterable[str]) -> None:
        """A matching error for employee ``pid``: recorded, the person refused, and the
        ``target_ids`` users left untouched."""
        self.errors.append(problem)
        self.refused.add(pid)
        self.untouched.update(target_ids)


def _match(
    desired: Sequence[DesiredUser],
    users: Sequence[TargetUser],
    protected: frozenset[str],
    words: _Words,
    *,
    leavers: Mapping[str, str] | None = None,
) -> _Matching:
    """Match by source id = external id; by email only to adopt users never linked.

    Ambiguity is refused per person (an error; their users are left untouched). ``leavers``
    (source id → why they are out of scope) names the people whose users are deactivated
    whatever else is wrong: an address of theirs that someone else now has is explained as
    held by a leaver, and their user is not held back with the one who wants it.
    """
    leavers = leavers or {}
    by_external: dict[str, TargetUser] = {}
    shared_external: dict[str, list[TargetUser]] = {}  # external id → every user with it
    by_email: dict[str, TargetUser] = {}
    # id() of every user whose own email is protected: folded here once, where every email
    # is folded anyway, rather than once per matched person below.
    protected_users: set[int] = set()
    for user in users:
        external_id = user.external_id
        if external_id:
            first = by_external.setdefault(external_id, user)
            if first is not user:
                shared_external.setdefault(external_id, [first]).append(user)
        email = user.email.strip().casefold()
        by_email.setdefault(email, user)
        if email in protected:
            protected_users.add(id(user))

    result = _Matching()
    deferred: list[_Taker] = []
    for person in desired:
        pid = person.source_id
        id_user = by_external.get(pid)
        email_user = by_email.get(person.email)
        if pid in shared_external:
            candidates = shared_external[pid]
            ids = ", ".join(user.target_id for user in candidates)
            result.refuse(
                pid,
                Problem(
                    pid,
                    "duplicate_external_id",
                    f"{words.target} users {ids} all carry external id {pid} — remove it "
                    f"from all but one in {words.target}; left untouched",
                    email=person.email,
                ),
                (user.target_id for user in candidates),
            )
            continue
        if id_user is not None:
            user = id_user
            if email_user is not None and email_user is not user:
                holder = email_user.external_id
                if holder is not None and holder in leavers:
                    result.refuse(
                        pid,
                        Problem(
                            pid,
                            "email_held_by_leaver",
                            f"employee {pid}'s email is still held by {words.target} user "
                            f"{email_user.target_id} of employee {holder}, who left "
                            f"({leavers[holder]}) and is deactivated by this plan; "
                            f"{words.target} keeps a deactivated user's email — change that "
                            f"user's email in {words.target} (or employee {holder}'s in "
                            f"{words.source}), then the next run updates employee {pid}; "
                            "left untouched until then",
                            email=person.email,
                        ),
                        (user.target_id,),
                    )
                    continue
                if holder is not None and holder != pid:
                    # Perhaps a hand-over: the holder's own change may free the address.
                    deferred.append(_Taker(person, email_user, user))
                    continue
                result.refuse(
                    pid,
                    Problem(
                        pid,
                        "email_id_conflict",
                        f"employee {pid} is linked to {words.target} user {user.target_id}, but "
                        f"their email belongs to {words.target} user {email_user.target_id} — "
                        f"merge or rename one of them in {words.target}; left untouched",
                        email=person.email,
                    ),
                    (user.target_id, email_user.target_id),
                )
                continue
        elif email_user is None:
            if person.email not in protected:
                result.creates.append(person)
            continue
        elif not email_user.external_id:
            user = email_user
            result.linked.add(pid)
        elif email_user.external_id not in leavers and email_user.external_id != pid:
            deferred.append(_Taker(person, email_user, None))
            continue
        elif email_user.external_id in leavers:
            holder = email_user.external_id
            result.refuse(
                pid,
                Problem(
                    pid,
                    "rehire_unclear",
                    f"employee {pid}'s email belongs to {words.target} user "
                    f"{email_user.target_id} of employee {holder} ({leavers[holder]}); "
                    f"if employee {pid} is employee {holder} rehired with a new "
                    f"{words.source} profile, their names (or birth dates) differ, so the "
                    f"user is not relinked — make them equal in {words.source}; if they are "
                    f"two people, change that user's email in {words.target}; left untouched",
                    email=person.email,
                ),
                (email_user.target_id,),
            )
            continue
        else:
            result.refuse(
                pid,
                Problem(
                    pid,
                    "email_claimed",
                    f"employee {pid}'s email belongs to {words.target} user "
                    f"{email_user.target_id}, "
                    f"which is linked to employee {email_user.external_id} — fix the "
                    f"external id in {words.target} or the email in {words.source}; "
                    "left untouched",
                    email=person.email,
                ),
                (email_user.target_id,),
            )
            continue
        _accept(result, person, user, protected, protected_users)
    if deferred:
        _settle_takers(
            result, deferred, desired, words, protected=protected, protected_users=protected_users
        )
    return result


def _accept(
    result: _Matching,
    person: DesiredUser,
    user: TargetUser,
    protected: frozenset[str],
    protected_users: set[int],
) -> None:
    if protected and (person.email in protected or id(user) in protected_users):
        result.protected.add(person.source_id)
    result.matched[person.source_id] = user


@dataclass(frozen=True, slots=True)
class _Taker:
    """A person who wants an address another person's user holds: ``holder`` is that user,
    ``own`` the person's own user (``None``: they are to be created)."""

    person: DesiredUser
    holder: TargetUser
    own: TargetUser | None


def _settle_takers(
    result: _Matching,
    takers: list[_Taker],
    desired: Sequence[DesiredUser],
    words: _Words,
    *,
    protected: frozenset[str],
    protected_users: set[int],
) -> None:
    """Hand-overs: a person may take an address held by a colleague's user when this same plan
    changes the colleague's address (they are matched, managed, and want another address);
    their change then waits for the colleague's (``Change.waits_for``). Chains settle in turn;
    people who want each other's addresses in a ring are a swap, refused as one explained
    problem each; anyone else is refused as before (docs/decisions.md, hand-overs)."""
    wanted = {person.source_id: person.email for person in desired}
    pending = {taker.person.source_id: taker for taker in takers}
    progress = True
    while progress:
        progress = False
        for pid in sorted(pending, key=id_sort_key):
            taker = pending[pid]
            holder = taker.holder.external_id or ""
            if holder in pending:
                continue  # settles (or not) with the holder
            frees = (
                result.matched.get(holder) is taker.holder
                and holder not in result.protected
                and wanted.get(holder, fold(taker.holder.email)) != fold(taker.holder.email)
            )
            del pending[pid]
            progress = True
            if frees:
                result.takes[pid] = holder
                if taker.own is not None:
                    _accept(result, taker.person, taker.own, protected, protected_users)
                elif taker.person.email not in protected:
                    result.creates.append(taker.person)
            else:
                _refuse_taker(result, taker, words, active=holder in wanted)
    edges = {pid: taker.holder.external_id or "" for pid, taker in pending.items()}
    in_ring: set[str] = set()
    for cycle in _cycles(edges):
        ring = sorted(cycle, key=id_sort_key)
        in_ring.update(ring)
        for pid in ring:
            _refuse_swap(result, pending[pid], ring, words)
    for pid in sorted(pending.keys() - in_ring, key=id_sort_key):
        _refuse_taker(result, pending[pid], words, active=True)  # an address a swap holds


def _refuse_taker(result: _Matching, taker: _Taker, words: _Words, *, active: bool) -> None:
    """The matching error of someone whose address another person's user holds; ``active``:
    that person is in scope and keeps the address (or cannot give it up) in this plan."""
    person, holder = taker.person, taker.holder
    pid, other = person.source_id, holder.external_id
    keeps = f" (employee {other} keeps it in this plan)" if active else ""
    if taker.own is None:
        problem = Problem(
            pid,
            "email_claimed",
            f"employee {pid}'s email belongs to {words.target} user {holder.target_id}, "
            f"which is linked to employee {other}{keeps} — fix the external id in "
            f"{words.target} or the email in {words.source}; left untouched",
            email=person.email,
        )
        result.refuse(pid, problem, (holder.target_id,))
        return
    problem = Problem(
        pid,
        "email_id_conflict",
        f"employee {pid} is linked to {words.target} user {taker.own.target_id}, but their "
        f"email belongs to {words.target} user {holder.target_id}{keeps} — merge or rename one "
        f"of them in {words.target}; left untouched",
        email=person.email,
    )
    result.refuse(pid, problem, (taker.own.target_id, holder.target_id))


def _refuse_swap(result: _Matching, taker: _Taker, ring: Sequence[str], words: _Words) -> None:
    pid = taker.person.source_id
    others = [other for other in ring if other != pid]
    names = _join([f"employee {other}" for other in others])
    problem = Problem(
        pid,
        "email_swap",
        f"employee {pid} and {names} swapped addresses in {words.source}; {words.target} holds "
        f"each address on the other's user and cannot hold one address twice, even for a "
        f"moment — in {words.target}, change user {taker.holder.target_id}'s email to a "
        "temporary address, then the next run gives everyone their new address; left "
        "untouched until then",
        email=taker.person.email,
    )
    targets = [taker.holder.target_id] + ([taker.own.target_id] if taker.own else [])
    result.refuse(pid, problem, targets)


def leaver_reasons(
    employees: Iterable[Employee],
    out_of_scope: frozenset[str],
    sync: SyncSettings,
    source: SourceProfile,
) -> dict[str, str]:
    """Source id → why that employee is out of scope: ``left (status: inactive)`` or
    ``out of scope (employment type: external)``. Only for records that were read and parsed:
    a record with problems says nothing about whether its person left."""
    reasons: dict[str, str] = {}
    for employee in employees:
        pid = employee.source_id
        if pid not in out_of_scope:
            continue
        status = (employee.text(source.status_key) or "").lower()
        kind = (employee.text(source.employment_type_key) or "").lower()
        if scope_of(employee, sync, source) == "status":
            reasons[pid] = f"left (status: {status})"
        else:
            reasons[pid] = f"out of scope (employment type: {kind})"
    return reasons


#: Why a user is deactivated when no employee claims it.
UNKNOWN_REASON = "unknown to {source}"
UNMANAGED_REASON = "never linked (sync.unmanaged_users: deactivate)"


def _deactivations(
    users: Sequence[TargetUser],
    matching: _Matching,
    blocked_ids: set[str],
    blocked_emails: set[str],
    sync: SyncSettings,
    *,
    leavers: Mapping[str, str],
    words: _Words,
) -> list[Change]:
    """Active users of people who left or are out of scope, and, when configured, active users
    that were never linked to anyone; each with its reason.

    A leaver's user is deactivated whatever else is wrong around it (an ambiguity, an address
    another employee now has): matching problems hold back updates, never that. Users of people
    with errors, of unreadable records and protected users are left alone.
    """
    matched = {user.target_id for user in matching.matched.values()}
    deactivate_unlinked = sync.unmanaged_users == "deactivate"
    changes: list[Change] = []
    for user in users:
        if not user.active or user.target_id in matched:
            continue
        email = fold(user.email)
        if email in sync.protected:
            continue
        external_id = user.external_id
        if external_id and external_id in leavers and external_id not in blocked_ids:
            reason = leavers[external_id]
        elif user.target_id in matching.untouched or email in blocked_emails:
            continue
        elif external_id:
            if external_id in blocked_ids:
                continue
            reason = UNKNOWN_REASON.format(source=words.source)
        elif not deactivate_unlinked:
            continue
        else:
            reason = UNMANAGED_REASON
        changes.append(
            Change(
                Action.DEACTIVATE, external_id or None, user.target_id, user.email, reason=reason
            )
        )
    return changes


def _held_problem(change: Change, unidentified: int, words: _Words) -> Problem:
    records = "1 record" if unidentified == 1 else f"{unidentified} records"
    return Problem(
        change.source_id,
        "deactivation_held",
        f"{words.target} user {change.target_id} is linked to employee {change.source_id}, who "
        f"is not in {words.source}'s answer; not deactivated because {words.source} sent "
        f"{records} without a readable id — fix the records in {words.source}",
    )


# ---------------------------------------------------------------------------------------------
# Custom attribute choices
# ---------------------------------------------------------------------------------------------


_FIELDS = attrgetter("fields")


def _distinct_values(
    all_fields: Iterable[Mapping[str, FieldValue]], names: Sequence[str]
) -> list[set[FieldValue]]:
    """For each of ``names``, the set of values the fields hold for it (``None`` if absent)."""
    seen: list[set[FieldValue]] = [set() for _ in names]
    adders = [(name, values.add) for name, values in zip(names, seen, strict=True)]
    for fields in all_fields:
        get = fields.get
        for name, add in adders:
            add(get(name))
    return seen


def _options(values: set[FieldValue]) -> set[FieldValue]:
    """The single options within a multi-select's distinct values (each a tuple of them)."""
    options: set[FieldValue] = set()
    for value in values:
        if isinstance(value, tuple):
            options.update(value)
        elif value is not None:
            options.add(value)
    return options


def _limit_choices(
    desired: list[DesiredUser],
    users: Sequence[TargetUser],
    config: Config,
    target: TargetProfile,
    warnings: list[Problem],
) -> list[DesiredUser]:
    """Keep every multiple-choice attribute within the target's limit of distinct values
    (for a ``multi_select``: of distinct options, whichever sets of them people hold).

    The target refuses the value past its ``choice_limit``, so planning it would fail at apply
    time on every run. Values the target already holds are always kept; new values fill the
    remaining room in sorted order; people with other new values keep whatever the target has
    (the key is dropped, so it is not compared) and get a warning.
    """
    limit = target.choice_limit
    if limit is None:
        return desired
    dropped: dict[str, set[str]] = {}  # source id → field names to drop
    limited = [
        attr for attr in config.custom_attributes if attr.type in target.choice_limited_types
    ]
    if not limited:
        return desired
    names = [attr.field_name for attr in limited]
    # Every attribute's distinct values in one pass per side: each person's fields are
    # visited once, not once per attribute (at 100,000 people that is memory-bound).
    held = _distinct_values(map(_FIELDS, users), names)
    wanted = _distinct_values(map(_FIELDS, desired), names)
    for attr, held_values, wanted_values in zip(limited, held, wanted, strict=True):
        name = attr.field_name
        multi = attr.type == "multi_select"
        # A multi-select's choices are its single options, not the sets people hold.
        existing = _options(held_values) if multi else held_values
        values = _options(wanted_values) if multi else wanted_values
        # Choices Lattice already has stay usable; new ones only while there is room.
        existing.discard(None)
        new = values - existing
        new.discard(None)
        if len(existing) + len(new) <= limit:
            continue
        room = max(0, limit - len(existing))
        if room >= len(new):
            # Every new value fits (often there are none: the tenant already holds more
            # distinct values than the limit, e.g. dates): nobody to drop, no per-person loop.
            continue
        allowed = existing | set(sorted(new, key=str)[:room])
        for person in desired:
            value = person.fields.get(name)
            if value is None:
                continue
            if allowed.issuperset(value) if isinstance(value, tuple) else value in allowed:
                continue
            dropped.setdefault(person.source_id, set()).add(name)
            warnings.append(
                Problem(
                    person.source_id,
                    "too_many_choices",
                    f"employee {person.source_id}: custom attribute {attr.lattice!r} would "
                    f"need more than {limit} distinct values in {target.name} and this new "
                    "value is not among those that fit — left unchanged",
                )
            )
    if not dropped:
        return desired
    return [
        replace(
            person,
            fields={k: v for k, v in person.fields.items() if k not in dropped[person.source_id]},
        )
        if person.source_id in dropped
        else person
        for person in desired
    ]


# ---------------------------------------------------------------------------------------------
# Managers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ManagerContext:
    """What is known about Personio ids that cannot be pointed at (to explain why)."""

    out_of_scope: frozenset[str]
    blocked: frozenset[str]
    in_scope: frozenset[str]
    creating: frozenset[str] = frozenset()  # people this plan creates


def _resolve_managers(
    people: Sequence[DesiredUser],
    resolvable: Mapping[str, object],
    context: _ManagerContext,
    words: _Words,
    warnings: list[Problem],
) -> dict[str, Mapping[str, FieldValue]]:
    """Each person's fields with the manager made safe to write.

    A manager Lattice cannot point at becomes ``None`` (no manager, with a warning); people in
    a reporting cycle lose the ``manager`` key altogether, so nothing is written that loops.
    """
    fields: dict[str, Mapping[str, FieldValue]] = {p.source_id: p.fields for p in people}
    edges: dict[str, str] = {}
    for person in people:
        pid = person.source_id
        manager = person.fields.get("manager")
        if manager is None:
            continue
        if manager in resolvable:
            edges[pid] = str(manager)
            continue
        if manager in context.out_of_scope:
            code, why = "manager_out_of_scope", "is out of scope (status or employment type)"
        elif manager in context.blocked:
            # Their user may be someone else's (a matching problem): never point at it.
            if pid in context.creating:
                why = "has a problem in this plan — no manager set until it is solved"
            else:
                why = "has a problem in this plan — manager left as it is until it is solved"
                fields[pid] = {k: v for k, v in person.fields.items() if k != "manager"}
            warnings.append(
                Problem(pid, "reference_held", f"employee {pid}: manager {manager} {why}")
            )
            if pid in context.creating:
                fields[pid] = {**person.fields, "manager": None}
            continue
        elif manager in context.in_scope:
            # e.g. a protected person without a linked Lattice user: nothing to point at.
            code, why = "manager_not_found", f"has no {words.target} user that can be linked"
        else:
            code, why = "manager_not_found", f"is not in {words.source}"
        warnings.append(
            Problem(pid, code, f"employee {pid}: manager {manager} {why} — no manager set")
        )
        fields[pid] = {**person.fields, "manager": None}

    for cycle in _cycles(edges):
        for index, pid in enumerate(cycle):
            loop = [*cycle[index:], *cycle[:index], pid]
            warnings.append(
                Problem(
                    pid,
                    "manager_cycle",
                    f"employee {pid} is in a reporting cycle ({' → '.join(loop)}) — "
                    f"manager left as it is in {words.target}",
                )
            )
            fields[pid] = {k: v for k, v in fields[pid].items() if k != "manager"}
    return fields


def _cycles(edges: Mapping[str, str]) -> list[list[str]]:
    """Every cycle of a graph where each node has at most one outgoing edge (its manager).

    One walk per unvisited node, marking nodes with the walk's number: meeting a node of the
    current walk closes a cycle; meeting an older walk's node means no new cycle.
    """
    walk_of: dict[str, int] = {}
    cycles: list[list[str]] = []
    for walk, start in enumerate(edges):
        node: str | None = start
        while node is not None and node not in walk_of:
            walk_of[node] = walk
            node = edges.get(node)
        if node is None or walk_of[node] != walk:
            continue
        cycle = [node]
        after = edges[node]
        while after != node:
            cycle.append(after)
            after = edges[after]
        cycles.append(cycle)
    return cycles


# ---------------------------------------------------------------------------------------------
# Diffs and changes
# ---------------------------------------------------------------------------------------------


def _updates(
    managed: Sequence[DesiredUser],
    desired_fields: Mapping[str, Mapping[str, FieldValue]],
    matching: _Matching,
    *,
    users: Sequence[TargetUser],
    resolvable: Mapping[str, str | _Pending],
    create_only: frozenset[str],
    words: _Words,
    warnings: list[Problem],
) -> tuple[list[Change], int]:
    """Links, reactivations and updates of matched users, and how many need nothing."""
    # The manager's "before" is shown as a source id wherever the target tells us one.
    target_to_source = {user.target_id: user.external_id for user in users if user.external_id}
    target_to_source.update(
        {matching.matched[pid].target_id: pid for pid in matching.linked - matching.protected}
    )
    changes: list[Change] = []
    unchanged = 0
    matched, linked = matching.matched, matching.linked
    for person in managed:
        pid = person.source_id
        user = matched[pid]
        fields = desired_fields[pid]
        if user.active and user.email == person.email and pid not in linked:
            # The common case, an active linked user with nothing to change, checked here with
            # C-level calls only. Unlike ``_diff``'s items() test it counts a field the user
            # lacks as ``None`` (as ``_diff``'s per-field loop does): most people have some
            # empty custom attribute that the target simply leaves out.
            manager = fields.get("manager")
            wanted = fields if manager is None else {**fields, "manager": resolvable[str(manager)]}
            if list(map(user.fields.get, wanted)) == list(wanted.values()):
                unchanged += 1
                continue
        diffs, depends_on = _diff(
            person,
            user,
            fields,
            resolvable=resolvable,
            target_to_source=target_to_source,
            create_only=create_only,
            words=words,
            warnings=warnings,
        )
        is_link = pid in matching.linked
        if not user.active:
            why = f"active in {words.source}, deactivated in {words.target}" + (
                "" if is_link else " (rehired, or deactivated by hand)"
            )
            if is_link:
                # A link and a reactivation are two requests: externalId, then active.
                changes.append(_change(Action.LINK, person, user, diffs, depends_on))
                changes.append(
                    replace(_change(Action.REACTIVATE, person, user, (), None), reason=why)
                )
            else:
                change = _change(Action.REACTIVATE, person, user, diffs, depends_on)
                changes.append(replace(change, reason=why))
        elif is_link:
            changes.append(_change(Action.LINK, person, user, diffs, depends_on))
        elif diffs:
            changes.append(_change(Action.UPDATE, person, user, diffs, depends_on))
        else:
            unchanged += 1
    return changes, unchanged


def _diff(
    person: DesiredUser,
    user: TargetUser,
    fields: Mapping[str, FieldValue],
    *,
    resolvable: Mapping[str, str | _Pending],
    target_to_source: Mapping[str, str],
    create_only: frozenset[str],
    words: _Words,
    warnings: list[Problem],
) -> tuple[tuple[FieldChange, ...], str | None]:
    """Field changes for an existing user, and the create this change must wait for."""
    pid = person.source_id
    manager = fields.get("manager")
    # The target holds the manager's target id; compare in its terms.
    wanted: Mapping[str, object] = fields
    if manager is not None:
        wanted = {**fields, "manager": resolvable[str(manager)]}
    email = person.email
    same_email = user.email == email or fold(user.email) == email
    # The common case (nothing changed) costs one C-level comparison, no per-field work.
    if same_email and wanted.items() <= user.fields.items():
        return (), None

    diffs: list[FieldChange] = []
    if not same_email:
        diffs.append(FieldChange("email", user.email, email))
    depends_on: str | None = None
    same_full_name = _same_full_name(fields, user.fields)
    for name, want in wanted.items():
        have = user.fields.get(name)
        if want == have or (same_full_name and name in NAME_PARTS):
            continue
        if name in create_only:
            # The target applies it only on create: planning an update would never converge.
            label = name.replace("_", " ")
            warnings.append(
                Problem(
                    pid,
                    f"{name}_drift",
                    f"employee {pid}: the {label} in {words.target} differs from "
                    f"{words.source}; {words.target} sets it only when a user is created — "
                    f"change it in {words.target} by hand",
                )
            )
            continue
        if name == "manager":
            before = target_to_source.get(str(have), have) if have is not None else None
            diffs.append(FieldChange(name, before, manager))
            if isinstance(want, _Pending):
                depends_on = str(manager)
            continue
        diffs.append(FieldChange(name, have, fields[name]))
    _carry_name_parts(diffs, fields, user.fields)
    diffs.sort(key=lambda change: change.name)
    return tuple(diffs), depends_on


def _same_full_name(fields: Mapping[str, FieldValue], have: Mapping[str, FieldValue]) -> bool:
    """Whether the target's full name, known only as a whole (its parts are null), is the
    desired parts joined by a space: then the name is unchanged (docs/decisions.md)."""
    full = have.get(FULL_NAME_FIELD)
    if full is None:
        return False
    parts = [str(fields[part]) for part in NAME_PARTS if fields.get(part) is not None]
    return " ".join(" ".join(parts).split()) == " ".join(str(full).split())


def _carry_name_parts(
    diffs: list[FieldChange],
    fields: Mapping[str, FieldValue],
    have: Mapping[str, FieldValue],
) -> None:
    """When one name part changes, carry the other one too (``before == after``), so the writer
    can rebuild the full name from the change alone (docs/decisions.md)."""
    changed = {change.name for change in diffs}
    if not changed & set(NAME_PARTS):
        return
    for part in NAME_PARTS:
        if part not in changed and part in fields:
            diffs.append(FieldChange(part, have.get(part), fields[part]))


def _change(
    action: Action,
    person: DesiredUser,
    user: TargetUser,
    diffs: tuple[FieldChange, ...],
    depends_on: str | None,
) -> Change:
    return Change(action, person.source_id, user.target_id, person.email, diffs, depends_on)


def _create_changes(
    creates: Sequence[DesiredUser],
    desired_fields: Mapping[str, Mapping[str, FieldValue]],
    create_ids: set[str],
) -> list[Change]:
    """Creates in manager-before-report order (ties by Personio id), so one pass sets managers."""
    changes: dict[str, Change] = {}
    reports: dict[str, list[str]] = {}
    for person in creates:
        pid = person.source_id
        fields = desired_fields[pid]
        values = [FieldChange(k, None, v) for k, v in fields.items() if v is not None]
        values.append(FieldChange("email", None, person.email))
        values.sort(key=lambda change: change.name)
        manager = fields.get("manager")
        depends_on = str(manager) if manager is not None and manager in create_ids else None
        if depends_on is not None:
            reports.setdefault(depends_on, []).append(pid)
        changes[pid] = Change(Action.CREATE, pid, None, person.email, tuple(values), depends_on)

    ready = [
        (id_sort_key(pid), pid) for pid, change in changes.items() if change.depends_on is None
    ]
    heapq.heapify(ready)
    ordered: list[Change] = []
    while ready:
        _, pid = heapq.heappop(ready)
        ordered.append(changes[pid])
        for report in reports.get(pid, ()):
            heapq.heappush(ready, (id_sort_key(report), report))
    return ordered


# ---------------------------------------------------------------------------------------------
# Policies: users of another provisioner, reactivations, contractors (docs/decisions.md,
# "2026-12-02: policies for other provisioners, reactivations, errors and contractors")
# ---------------------------------------------------------------------------------------------

#: Added to the reason of every change to a user adopted from another provisioner.
ADOPTED_REASON = "adopted from another provisioner (matched by email; sync.foreign_users: adopt)"
#: The code of the one summary warning about other provisioners' users.
FOREIGN_USERS = "foreign_users"


def foreign_target_ids(users: Iterable[TargetUser], source: SourceProfile) -> frozenset[str]:
    """Target ids of the users another provisioner created: an external id is set, but it does
    not have the form of a source id (``SourceProfile.id_pattern``), e.g. an Okta id."""
    return frozenset(
        user.target_id
        for user in users
        if user.external_id and not source.is_source_id(user.external_id)
    )


@dataclass(frozen=True, slots=True)
class _Foreign:
    """What the ``sync.foreign_users`` policy made of other provisioners' users."""

    desired: list[DesiredUser]  # the people to match (without those a foreign user holds)
    users: list[TargetUser]  # the users to match, adopted ones carrying their person's id
    adopted: frozenset[str]  # target ids of adopted users
    left: frozenset[str]  # target ids of users left alone: never changed or deactivated


def _foreign_policy(
    desired: list[DesiredUser],
    users: list[TargetUser],
    employees: Sequence[Employee],
    blocked_emails: set[str],
    *,
    sync: SyncSettings,
    source: SourceProfile,
    words: _Words,
    warnings: list[Problem],
) -> _Foreign:
    """Apply ``sync.foreign_users`` to the users another provisioner created.

    ``leave``: they are never changed or deactivated; an in-scope person whose email one of them
    holds is not created (the address is taken) but warned about. ``adopt``: a user whose email
    is exactly one parsed employee's (in scope or not) is matched to that employee as if it
    carried their id, every run: the target keeps an external id once set, so it is not
    rewritten (docs/decisions.md). Then the person is managed like anyone else, including the
    deactivation when they leave. Either way one summary warning counts them.
    """
    foreign = foreign_target_ids(users, source)
    if not foreign:
        return _Foreign(desired, users, frozenset(), frozenset())
    own_ids = {user.external_id for user in users if user.target_id not in foreign}
    holders: dict[str, list[TargetUser]] = {}
    for user in users:
        if user.target_id in foreign:
            holders.setdefault(fold(user.email), []).append(user)
    adopted: dict[str, str] = {}  # target id → source id
    if sync.foreign_users == "adopt":
        owners: dict[str, list[str]] = {}
        for employee in employees:
            email = employee.text(source.email_key)
            if email is not None:
                owners.setdefault(fold(email), []).append(employee.source_id)
        for email, found in holders.items():
            pids = owners.get(email, [])
            # Only the one user and the one employee of an address, never someone else's.
            unique = len(found) == 1 and len(pids) == 1 and email not in blocked_emails
            if unique and pids[0] not in own_ids:
                adopted[found[0].target_id] = pids[0]
        users = [
            replace(user, external_id=adopted[user.target_id])
            if user.target_id in adopted
            else user
            for user in users
        ]
    else:
        kept: list[DesiredUser] = []
        for person in desired:
            held = holders.get(person.email)
            if held is None or person.source_id in own_ids:
                kept.append(person)
                continue
            ids = ", ".join(user.target_id for user in held)
            warnings.append(
                Problem(
                    person.source_id,
                    "email_held_by_foreign_user",
                    f"employee {person.source_id}'s email belongs to {words.target} user {ids}, "
                    f"created by another provisioner (its external id is not a {words.source} "
                    "id); left alone (sync.foreign_users: leave) — set sync.foreign_users: "
                    "adopt to manage it",
                    email=person.email,
                )
            )
        desired = kept
    left = foreign - adopted.keys()
    warnings.append(_foreign_summary(len(adopted), len(left), sync, words))
    return _Foreign(desired, users, frozenset(adopted), frozenset(left))


def _foreign_summary(adopted: int, left: int, sync: SyncSettings, words: _Words) -> Problem:
    def users(count: int) -> str:
        return f"{count} {words.target} user{'' if count == 1 else 's'}"

    why = f"their external id is not a {words.source} employee id"
    if sync.foreign_users == "leave":
        message = (
            f"{users(left)} created by another provisioner left alone "
            f"(sync.foreign_users: leave): {why}; set sync.foreign_users: adopt to manage those "
            f"whose email is a {words.source} employee's"
        )
    else:
        message = (
            f"{users(adopted)} created by another provisioner adopted by email and "
            f"{left} left alone (sync.foreign_users: adopt): {why}; those left alone have "
            f"no {words.source} employee's email"
        )
    return Problem(None, FOREIGN_USERS, message)


def _mark_adopted(changes: Sequence[Change], adopted: frozenset[str]) -> list[Change]:
    """Every change to an adopted user says so in its reason (not part of the checksum)."""
    if not adopted:
        return list(changes)
    return [
        replace(
            change,
            reason=ADOPTED_REASON
            if change.reason is None
            else f"{change.reason}; {ADOPTED_REASON}",
        )
        if change.target_id in adopted
        else change
        for change in changes
    ]


def _hold_reactivations(
    managed: Sequence[DesiredUser],
    matching: _Matching,
    sync: SyncSettings,
    words: _Words,
    warnings: list[Problem],
) -> list[DesiredUser]:
    """``sync.reactivate: never``: the managed people whose matched user is deactivated are
    left out (no reactivation, no other change), each with a ``reactivation_skipped`` warning."""
    if sync.reactivate == "always":
        return list(managed)
    kept: list[DesiredUser] = []
    for person in managed:
        user = matching.matched[person.source_id]
        if user.active:
            kept.append(person)
            continue
        pid = person.source_id
        warnings.append(
            Problem(
                pid,
                "reactivation_skipped",
                f"employee {pid} is active in {words.source}, but {words.target} user "
                f"{user.target_id} is deactivated; left deactivated and unchanged "
                f"(sync.reactivate: never) — reactivate it in {words.target} by hand if they "
                "should have access",
            )
        )
    return kept


def contractor_reason(source: SourceProfile, target: TargetProfile, config: Config) -> str:
    """Why a contractor's create carries fewer fields: what the target leaves alone for them."""
    fields = _unmanaged_for_contractors(target, config)
    not_managed = f"{_join(fields)} not managed" if fields else "all fields managed"
    return f"contractor (employment type: {source.contractor_type}): {not_managed}"


def _unmanaged_for_contractors(target: TargetProfile, config: Config) -> list[str]:
    """The configured fields the target leaves alone for contractors, sorted."""
    return sorted(name for name in target.contractor_unmanaged_fields if config.is_managed(name))


def _join(names: Sequence[str]) -> str:
    return " and ".join(names) if len(names) <= 2 else ", ".join(names[:-1]) + f" and {names[-1]}"


def _mark_contractor_creates(
    creates: Sequence[Change],
    people: Sequence[DesiredUser],
    reason: str,
    source: SourceProfile,
) -> list[Change]:
    """Creates of contractors say so (a reason, not part of the checksum)."""
    contractors = {p.source_id for p in people if p.employment_type == source.contractor_type}
    return [
        replace(change, reason=reason) if change.source_id in contractors else change
        for change in creates
    ]


def _became_contractors(
    managed: Sequence[DesiredUser],
    matching: _Matching,
    employees: Sequence[Employee],
    config: Config,
    *,
    source: SourceProfile,
    target: TargetProfile,
    words: _Words,
    warnings: list[Problem],
) -> None:
    """A ``became_contractor`` warning for each contractor whose active user still holds, in a
    field the target leaves alone for contractors, the value an employee would get from the
    source: what a sync wrote while they were an employee, and will no longer keep up to date.

    One read cannot see the conversion itself, so this holds as long as those values stay
    equal (docs/decisions.md).
    """
    fields = _unmanaged_for_contractors(target, config)
    contractors = [p for p in managed if p.employment_type == source.contractor_type]
    if not fields or not contractors:
        return
    by_id = {employee.source_id: employee for employee in employees}
    target_of = {pid: user.target_id for pid, user in matching.matched.items()}
    for person in contractors:
        pid = person.source_id
        user = matching.matched[pid]
        employee = by_id.get(pid)
        if not user.active or employee is None:
            continue
        held: list[str] = []
        for name in fields:
            have = user.fields.get(name)
            if have is None:
                continue
            key = config.field(name).source
            wanted: FieldValue
            if name == "manager":
                manager = employee.text(key)
                wanted = None if manager is None else target_of.get(manager)
            else:
                wanted = normalise_value(employee.get(key))
            if wanted == have:
                held.append(name)
        if held:
            warnings.append(
                Problem(
                    pid,
                    "became_contractor",
                    f"employee {pid} is a contractor (employment type: "
                    f"{source.contractor_type}): {_join(held)} stop being managed — "
                    f"{words.target} keeps the values synced while they were an employee; "
                    f"change them in {words.target} by hand",
                )
            )
