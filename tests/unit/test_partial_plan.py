"""The partial (fast) plan: exactly the changed people, never more than the full plan would do.
Imports hypothesis, the pure core and the property-test generators of test_plan_properties.

The central property: start from a target reconciled by a full run, change some people in the
source (a window), and the partial plan of the window is a subset of the full plan of the
same data — looked up the way the fast run looks users up.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_plan_properties import apply_to, configs, employees, lattice_side, make_config, plan

from reconciler.core.mapping import compute_desired_users
from reconciler.core.model import (
    Action,
    AttrValue,
    Config,
    Employee,
    Plan,
    Problem,
    SafetySettings,
    SourceSnapshot,
    TargetUser,
    Threshold,
)
from reconciler.core.normalise import fold
from reconciler.core.partial import (
    LEFT_TO_FULL_RUN,
    compute_partial_plan,
    email_lookups,
    old_manager_ids,
    partial_rules,
    plan_lookups,
)
from reconciler.core.safety import compute_violations
from reconciler.sources.personio.profile import PERSONIO
from reconciler.targets.lattice.profile import LATTICE

PROPERTIES = settings(max_examples=150, deadline=None)


def look_up(
    users: Sequence[TargetUser], window: Sequence[Employee], config: Config
) -> list[TargetUser]:
    """The users the fast run finds for ``window``, asked the way ``app.fast_plan`` asks."""
    lookups = plan_lookups(SourceSnapshot(tuple(window)), config, source=PERSONIO)
    by_external = {
        pid: tuple(u for u in users if u.external_id == pid)
        for pid in lookups.source_ids | lookups.references
    }
    found = {u.target_id: u for group in by_external.values() for u in group}
    for email in email_lookups(lookups, by_external):
        found.update({u.target_id: u for u in users if fold(u.email) == email})
    wanted = old_manager_ids(found.values(), lookups)
    found.update({u.target_id: u for u in users if u.target_id in wanted})
    return list(found.values())


def fast(window: Sequence[Employee], users: Sequence[TargetUser], config: Config) -> Plan:
    """The fast run's plan, reading manager chains upwards as ``app.fast_plan`` does."""
    found = {user.target_id: user for user in look_up(users, window, config)}
    while True:
        gaps: set[str] = set()
        result = compute_partial_plan(
            SourceSnapshot(tuple(window)),
            list(found.values()),
            config,
            source=PERSONIO,
            target=LATTICE,
            target_population=sum(1 for user in users if user.active),
            gaps=gaps,
        )
        missing = {
            u.target_id: u for u in users if u.target_id in gaps and u.target_id not in found
        }
        if not missing:
            return result
        found.update(missing)


def without_errors(people: list[Employee], config: Config) -> list[Employee]:
    """``people`` minus those with mapping errors (until none is left): a healthy company."""
    while True:
        errors = compute_desired_users(people, config, source=PERSONIO, target=LATTICE).errors
        bad = {problem.source_id for problem in errors}
        if not bad:
            return people
        people = [person for person in people if person.source_id not in bad]


MUTATIONS: dict[str, list[AttrValue]] = {
    "status": ["active", "inactive", "leave", "onboarding"],
    "position": ["Senior Engineer", "Chief", None],
    "supervisor": [None, "1", "2", "3", "7", "16", "17", "99"],
    "dynamic_3": [None, "1", "4", "16"],
    "email": ["moved@example.com", "p1@example.com", "p16@example.com"],
    "employment_type": ["internal", "external", "intern"],
}


@st.composite
def reconciled_then_changed(
    draw: st.DrawFn,
) -> tuple[list[Employee], list[Employee], list[TargetUser], Config]:
    """(everyone now, the window, the target as a full run left it, config)."""
    config = draw(configs)
    base = without_errors(draw(employees()), config)
    # A protected person's Lattice user is never reconciled, so outside the window it would be
    # known as it is (documented in docs/github.md, "Fast runs"); the window may still have them.
    base = [
        person
        for person in base
        if fold(str(person.attributes.get("email"))) not in config.sync.protected
    ]
    # No duplicate external ids, no protected users: a target the full run reconciles fully.
    users = [
        u
        for u in draw(lattice_side(base))
        if not u.target_id.startswith("d") and fold(u.email) not in config.sync.protected
    ]
    users = apply_to(users, plan(base, users, config))
    assume(not plan(base, users, config).errors)

    changed: dict[str, Employee] = {}
    for person in base:
        if draw(st.integers(0, 2)) == 0:
            attributes = dict(person.attributes)
            for key in draw(st.sets(st.sampled_from(sorted(MUTATIONS)), min_size=1, max_size=3)):
                attributes[key] = draw(st.sampled_from(MUTATIONS[key]))
            changed[person.source_id] = Employee(person.source_id, attributes)
    for pid in draw(st.sets(st.sampled_from(["16", "17", "18"]))):
        changed[pid] = Employee(
            pid,
            {
                "id": pid,
                "email": f"p{pid}@example.com",
                "status": "onboarding",
                "employment_type": "internal",
                "first_name": "New",
                "last_name": "Hire",
                "supervisor": draw(st.sampled_from([None, "1", "16", "17"])),
            },
        )
    everyone = [changed.get(person.source_id, person) for person in base]
    everyone += [
        person for pid, person in changed.items() if pid not in {p.source_id for p in base}
    ]
    return everyone, list(changed.values()), users, config


@PROPERTIES
@given(reconciled_then_changed())
def test_a_partial_plan_is_a_subset_of_the_full_plan(
    scenario: tuple[list[Employee], list[Employee], list[TargetUser], Config],
) -> None:
    everyone, window, users, config = scenario
    full = plan(everyone, users, config)
    partial = fast(window, users, config)

    assert set(partial.changes) <= set(full.changes)
    assert partial.errors == ()
    window_ids = {person.source_id for person in window}
    assert {c.source_id for c in partial.changes} <= window_ids
    # Nobody outside the window is ever deactivated by a partial plan.
    assert all(c.source_id in window_ids for c in partial.changes if c.action is Action.DEACTIVATE)


@PROPERTIES
@given(reconciled_then_changed())
def test_after_applying_a_partial_plan_it_has_nothing_left_to_do(
    scenario: tuple[list[Employee], list[Employee], list[TargetUser], Config],
) -> None:
    _, window, users, config = scenario
    after = apply_to(users, fast(window, users, config))
    assert fast(window, after, config).changes == ()


@PROPERTIES
@given(reconciled_then_changed())
def test_every_change_the_full_plan_has_for_an_undecided_window_person_is_left_with_a_warning(
    scenario: tuple[list[Employee], list[Employee], list[TargetUser], Config],
) -> None:
    everyone, window, users, config = scenario
    full = plan(everyone, users, config)
    partial = fast(window, users, config)
    window_ids = {person.source_id for person in window}
    missing = {c.source_id for c in set(full.changes) - set(partial.changes)} & window_ids
    left = {w.source_id for w in partial.warnings if w.code == LEFT_TO_FULL_RUN}
    # A window person's change that the partial plan does not make is always explained.
    assert missing <= left


def test_an_empty_window_plans_nothing_and_breaks_no_rule() -> None:
    config = make_config("ignore", frozenset())
    result = compute_partial_plan(
        SourceSnapshot(()), [], config, source=PERSONIO, target=LATTICE, target_population=500
    )
    assert result.changes == ()
    assert compute_violations(result, config.safety, partial_rules()) == ()


def test_thresholds_are_measured_against_the_whole_target_population() -> None:
    config = dataclasses.replace(
        make_config("ignore", frozenset()),
        safety=SafetySettings(max_deactivations=Threshold(count=2)),
    )
    rng = random.Random(1)
    leavers = [
        Employee(
            str(n),
            {
                "id": str(n),
                "email": f"p{n}@example.com",
                "status": "inactive",
                "employment_type": "internal",
                "position": rng.choice(["A", "B"]),
            },
        )
        for n in range(1, 6)
    ]
    users = [TargetUser(f"s{n}", f"p{n}@example.com", True, str(n), {}) for n in range(1, 6)]
    result = compute_partial_plan(
        SourceSnapshot(tuple(leavers)),
        users,
        config,
        source=PERSONIO,
        target=LATTICE,
        target_population=1000,
    )
    assert result.count(Action.DEACTIVATE) == 5
    assert result.target_users == 1000
    rules = [v.rule for v in compute_violations(result, config.safety, partial_rules())]
    assert rules == ["max_deactivations.count"]


def test_a_person_whose_email_belongs_to_another_linked_user_is_left_to_the_full_run() -> None:
    config = make_config("ignore", frozenset())
    person = Employee(
        "5",
        {
            "id": "5",
            "email": "p9@example.com",
            "status": "active",
            "employment_type": "internal",
        },
    )
    users = [
        TargetUser("s5", "p5@example.com", True, "5", {}),
        TargetUser("s9", "p9@example.com", True, "9", {}),
    ]
    result = compute_partial_plan(
        SourceSnapshot((person,)),
        users,
        config,
        source=PERSONIO,
        target=LATTICE,
        target_population=2,
    )
    assert result.changes == ()
    assert [(w.source_id, w.code) for w in result.warnings] == [("5", LEFT_TO_FULL_RUN)]
    assert "p9@" not in result.warnings[0].message


def employee(pid: str, **attributes: AttrValue) -> Employee:
    base: dict[str, AttrValue] = {
        "id": pid,
        "email": f"p{pid}@example.com",
        "status": "active",
        "employment_type": "internal",
        "first_name": "Ada",
        "last_name": "Example",
    }
    base.update(attributes)
    return Employee(pid, base)


def partial(window: Sequence[Employee], users: Sequence[TargetUser]) -> Plan:
    return compute_partial_plan(
        SourceSnapshot(tuple(window)),
        users,
        make_config("ignore", frozenset()),
        source=PERSONIO,
        target=LATTICE,
        target_population=100,
    )


def test_a_manager_outside_the_window_resolves_through_their_linked_active_user() -> None:
    result = partial(
        [employee("5", supervisor="9")],
        [
            TargetUser("s5", "p5@example.com", True, "5", {"manager": None}),
            TargetUser("s9", "p9@example.com", True, "9", {}),
        ],
    )
    (change,) = result.changes
    assert (change.action, change.target_id) == (Action.UPDATE, "s5")
    manager = change.field("manager")
    assert manager is not None
    assert (manager.before, manager.after) == (None, "9")


def test_a_manager_outside_the_window_without_one_active_linked_user_is_left() -> None:
    for users in (
        [],  # not linked (or not in Lattice at all)
        [TargetUser("s9", "p9@example.com", False, "9", {})],  # deactivated: left, probably
        [
            TargetUser("s9", "p9@example.com", True, "9", {}),
            TargetUser("t9", "q9@example.com", True, "9", {}),
        ],  # a duplicate external id
    ):
        result = partial([employee("5", supervisor="9")], users)
        assert result.changes == ()
        assert [(w.source_id, w.code) for w in result.warnings] == [("5", LEFT_TO_FULL_RUN)]


def test_a_report_waits_when_the_create_of_their_new_manager_is_left_to_the_full_run() -> None:
    # 20's manager 9 changed before the window and has no Lattice user linked: 20 is left;
    # 21 reports to 20, whose create is therefore not in this plan.
    result = partial([employee("20", supervisor="9"), employee("21", supervisor="20")], [])
    assert result.changes == ()
    assert {w.source_id for w in result.warnings if w.code == LEFT_TO_FULL_RUN} == {"20", "21"}


def test_people_absent_from_the_window_are_never_deactivated() -> None:
    result = partial(
        [employee("5", status="inactive")],
        [
            TargetUser("s5", "p5@example.com", True, "5", {}),
            TargetUser("s6", "p6@example.com", True, "6", {}),  # absent: not the window's
            TargetUser("x1", "admin@example.com", True, None, {}),  # unlinked
        ],
    )
    assert [(c.action, c.target_id) for c in result.changes] == [(Action.DEACTIVATE, "s5")]


def test_a_new_manager_whose_chain_leads_back_is_left_and_a_gap_is_reported() -> None:
    users = [
        TargetUser("s6", "p6@example.com", True, "6", {"manager": None}),
        TargetUser("s8", "p8@example.com", True, "8", {"manager": "s7"}),
        TargetUser("s7", "p7@example.com", True, "7", {"manager": "s6"}),
    ]
    gaps: set[str] = set()
    cycle = compute_partial_plan(
        SourceSnapshot((employee("6", supervisor="8"),)),
        users,
        make_config("ignore", frozenset()),
        source=PERSONIO,
        target=LATTICE,
        target_population=3,
        gaps=gaps,
    )
    assert cycle.changes == ()
    assert [w.code for w in cycle.warnings] == [LEFT_TO_FULL_RUN]
    assert "cycle" in cycle.warnings[0].message
    assert gaps == set()

    # The same chain with s7 not read yet: a gap to read, and no change until it is.
    incomplete = compute_partial_plan(
        SourceSnapshot((employee("6", supervisor="8"),)),
        users[:2],
        make_config("ignore", frozenset()),
        source=PERSONIO,
        target=LATTICE,
        target_population=3,
        gaps=gaps,
    )
    assert incomplete.changes == ()
    assert gaps == {"s7"}


def test_a_record_without_a_readable_id_is_mentioned_and_changes_nothing() -> None:
    result = compute_partial_plan(
        SourceSnapshot(
            (employee("5", status="inactive"),),
            (Problem(None, "unparsable_record", "an employee record has no attribute map"),),
        ),
        [TargetUser("s5", "p5@example.com", True, "5", {})],
        make_config("ignore", frozenset()),
        source=PERSONIO,
        target=LATTICE,
        target_population=100,
    )
    # The leaver in the same window is still deactivated, as a full run would.
    assert [c.action for c in result.changes] == [Action.DEACTIVATE]
    assert [(w.source_id, w.code) for w in result.warnings] == [(None, LEFT_TO_FULL_RUN)]


def test_a_fast_plan_names_the_people_its_manager_changes_point_at() -> None:
    # 5 is in the window and moves from manager 7 (inside) to 9 (outside, known by their
    # linked user): the plan carries all three, so renderings show people, not bare ids.
    result = partial(
        [employee("5", supervisor="9"), employee("7", first_name="Cy")],
        [
            TargetUser("s5", "p5@example.com", True, "5", {"manager": "s7"}),
            TargetUser("s7", "p7@example.com", True, "7", {}),
            TargetUser("s9", "p9@example.com", True, "9", {"first_name": "Bo"}),
        ],
    )
    (change,) = [c for c in result.changes if c.source_id == "5"]
    manager = change.field("manager")
    assert manager is not None
    assert (manager.before, manager.after) == ("7", "9")
    people = {person.source_id: person for person in result.people}
    assert {pid: (p.target_id, p.email) for pid, p in people.items()} == {
        "5": ("s5", "p5@example.com"),
        "7": ("s7", "p7@example.com"),
        "9": ("s9", "p9@example.com"),
    }
    assert (people["7"].name, people["9"].name) == ("Cy Example", "Bo")


@PROPERTIES
@given(reconciled_then_changed())
def test_every_new_manager_of_a_fast_plan_is_a_person_it_carries(
    scenario: tuple[list[Employee], list[Employee], list[TargetUser], Config],
) -> None:
    _, window, users, config = scenario
    result = fast(window, users, config)
    carried = {person.source_id for person in result.people}
    assert {c.source_id for c in result.changes} <= carried
    managers = {
        field.after
        for change in result.changes
        for field in change.fields
        if field.name == "manager" and field.after is not None
    }
    assert managers <= carried
