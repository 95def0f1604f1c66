"""Hand-overs, swaps and references that follow identity (docs/decisions.md, "2026-12-03:
hand-overs"): an address a colleague gives up in this plan is taken after their change; a swap
is one explained problem per person; references to people with problems are never written."""

from __future__ import annotations

import dataclasses

import pytest

from reconciler.applier import compute_batches
from reconciler.core.model import Action, CustomAttribute, Plan
from tests.unit.test_planner import employee, make_config, plan_for, user


def actions(plan: Plan) -> list[tuple[str, str | None, tuple[str, ...]]]:
    return [(c.action.value, c.source_id, c.waits_for) for c in plan.changes]


def test_an_address_handed_between_active_colleagues_waits_for_the_rename() -> None:
    # 1 gets a new address; their old one goes to 2, who had their own.
    plan = plan_for(
        [employee("1", email="new1@example.com"), employee("2", email="p1@example.com")],
        [user("u1", "1"), user("u2", "2")],
    )

    assert actions(plan) == [("update", "1", ()), ("update", "2", ("1",))]
    assert plan.errors == ()
    waves = [[c.source_id for c in wave] for wave in compute_batches(plan)]
    assert waves == [["1"], ["2"]]


def test_a_new_hire_taking_a_renamed_colleagues_address_is_created_after_the_rename() -> None:
    plan = plan_for(
        [employee("1", email="new1@example.com"), employee("7", email="p1@example.com")],
        [user("u1", "1")],
    )

    assert actions(plan) == [("create", "7", ("1",)), ("update", "1", ())]
    waves = [[(c.action.value, c.source_id) for c in wave] for wave in compute_batches(plan)]
    assert waves == [[("update", "1")], [("create", "7")]]


def test_a_chain_of_hand_overs_settles_in_order() -> None:
    # 3 takes 2's address, 2 takes 1's, 1 takes a new one.
    plan = plan_for(
        [
            employee("1", email="new1@example.com"),
            employee("2", email="p1@example.com"),
            employee("3", email="p2@example.com"),
        ],
        [user("u1", "1"), user("u2", "2"), user("u3", "3")],
    )

    assert plan.errors == ()
    waves = [[c.source_id for c in wave] for wave in compute_batches(plan)]
    assert waves == [["1"], ["2"], ["3"]]


def test_a_swap_is_one_explained_problem_per_person_and_nobody_is_touched() -> None:
    plan = plan_for(
        [
            employee("1", email="p2@example.com", position="Lead"),
            employee("2", email="p1@example.com"),
        ],
        [user("u1", "1"), user("u2", "2")],
    )

    assert plan.changes == ()
    assert [(e.source_id, e.code) for e in plan.errors] == [
        ("1", "email_swap"),
        ("2", "email_swap"),
    ]
    first = plan.errors[0].message
    assert "employee 1 and employee 2 swapped addresses" in first
    assert "temporary address" in first
    assert "@" not in first  # ids, never addresses, in messages


def test_someone_wanting_an_address_held_in_a_swap_is_refused_plainly() -> None:
    plan = plan_for(
        [
            employee("1", email="p2@example.com"),
            employee("2", email="p1@example.com"),
            employee("3", email="p1@example.com"),
        ],
        [user("u1", "1"), user("u2", "2"), user("u3", "3")],
    )
    # 2 and 3 both want p1 in Personio: a duplicate, blocked before matching; 1 then wants
    # an address whose holder keeps it.
    assert plan.changes == ()
    codes = {(e.source_id, e.code) for e in plan.errors}
    assert ("1", "email_id_conflict") in codes


def test_a_holder_who_keeps_the_address_refuses_the_taker_as_before() -> None:
    # 9 is unknown to Personio: its user is deactivated but keeps the address.
    plan = plan_for([employee("2", email="p9@example.com")], [user("u2", "2"), user("u9", "9")])

    assert [e.code for e in plan.errors] == ["email_id_conflict"]
    assert not any(c.source_id == "2" for c in plan.changes)


def test_a_hand_over_whose_release_is_held_back_is_an_error_not_a_write() -> None:
    # 1's user is deactivated and sync.reactivate: never holds 1 back, so 1 keeps the address.
    plan = plan_for(
        [employee("1", email="new1@example.com"), employee("2", email="p1@example.com")],
        [user("u1", "1", active=False), user("u2", "2")],
        make_config(reactivate="never"),
    )

    assert plan.changes == ()
    assert [(e.source_id, e.code) for e in plan.errors] == [("2", "email_handover_blocked")]


def test_a_manager_with_a_matching_problem_is_left_as_it_is() -> None:
    # 6 swapped with 7: 5's manager 6 has a problem, so u5's manager stays; a new report gets none.
    plan = plan_for(
        [
            employee("5", supervisor="6"),
            employee("6", email="p7@example.com"),
            employee("7", email="p6@example.com"),
            employee("8", supervisor="6"),
        ],
        [user("u5", "5", manager="u4"), user("u6", "6"), user("u7", "7")],
    )

    assert [(c.action, c.source_id) for c in plan.changes] == [(Action.CREATE, "8")]
    assert plan.changes[0].field("manager") is None
    held = sorted((w.source_id, w.code) for w in plan.warnings if w.code == "reference_held")
    assert held == [("5", "reference_held"), ("8", "reference_held")]


BUDDY = CustomAttribute("dynamic_9", "Buddy", "user")


def test_a_user_attribute_naming_someone_with_a_problem_is_never_written() -> None:
    # 5's buddy is 6, who swapped addresses with 7: writing p6's address would name 7's user.
    config = make_config(custom=(BUDDY,))
    plan = plan_for(
        [
            employee("5", dynamic_9="6"),
            employee("6", email="p7@example.com"),
            employee("7", email="p6@example.com"),
        ],
        [user("u5", "5"), user("u6", "6"), user("u7", "7")],
        config,
    )

    assert plan.changes == ()
    [held] = [w for w in plan.warnings if w.code == "reference_held"]
    assert held.source_id == "5"
    assert "'Buddy'" in held.message
    assert "employee 6" in held.message


def test_a_user_attribute_naming_a_renamed_person_waits_for_their_rename() -> None:
    config = make_config(custom=(BUDDY,))
    plan = plan_for(
        [employee("5", dynamic_9="6"), employee("6", email="new6@example.com")],
        [user("u5", "5", custom_Buddy="p6@example.com"), user("u6", "6")],
        config,
    )

    assert actions(plan) == [("update", "5", ("6",)), ("update", "6", ())]
    waves = [[c.source_id for c in wave] for wave in compute_batches(plan)]
    assert waves == [["6"], ["5"]]


def test_two_renamed_buddies_naming_each_other_do_not_wait_in_a_ring() -> None:
    config = make_config(custom=(BUDDY,))
    plan = plan_for(
        [
            employee("5", email="new5@example.com", dynamic_9="6"),
            employee("6", email="new6@example.com", dynamic_9="5"),
        ],
        [
            user("u5", "5", custom_Buddy="p6@example.com"),
            user("u6", "6", custom_Buddy="p5@example.com"),
        ],
        config,
    )

    waits = {c.source_id: c.waits_for for c in plan.changes}
    assert waits in ({"5": (), "6": ("5",)}, {"5": ("6",), "6": ()})
    assert len(compute_batches(plan)) == 2


def test_waits_that_ring_are_a_planner_bug_the_applier_refuses() -> None:
    plan = plan_for(
        [employee("1", email="new1@example.com"), employee("2", email="p1@example.com")],
        [user("u1", "1"), user("u2", "2")],
    )
    ring = dataclasses.replace(
        plan,
        changes=tuple(
            dataclasses.replace(c, waits_for=("2" if c.source_id == "1" else "1",))
            for c in plan.changes
        ),
    )
    with pytest.raises(ValueError, match=r"cycle: "):
        compute_batches(ring)


BUDDY_OF = CustomAttribute("dynamic_9", "Buddy", "user")


def test_a_hand_over_to_a_buddy_holds_the_buddy_for_a_run_instead_of_a_ring() -> None:
    # 1 gets a new address and 2 takes 1's old one; 1's Buddy is 2, so 1's Buddy becomes
    # 2's new address, which is 1's own until 1 is renamed: writing it in 1's rename could
    # name 1 itself. The rename goes first, the take after it, the Buddy on the next run.
    plan = plan_for(
        [
            employee("1", email="new1@example.com", dynamic_9="2"),
            employee("2", email="p1@example.com"),
        ],
        [user("u1", "1", custom_Buddy="p2@example.com"), user("u2", "2")],
        make_config(custom=(BUDDY_OF,)),
    )

    assert actions(plan) == [("update", "1", ()), ("update", "2", ("1",))]
    [rename] = [c for c in plan.changes if c.source_id == "1"]
    assert [f.name for f in rename.fields] == ["email"]
    [held] = [w for w in plan.warnings if w.code == "reference_held"]
    assert held.source_id == "1"
    assert "employee 2" in held.message
    assert "next run" in held.message
    waves = [[c.source_id for c in wave] for wave in compute_batches(plan)]
    assert waves == [["1"], ["2"]]


def test_once_the_hand_over_is_done_the_held_buddy_is_written() -> None:
    plan = plan_for(
        [
            employee("1", email="new1@example.com", dynamic_9="2"),
            employee("2", email="p1@example.com"),
        ],
        [
            user("u1", "1", email="new1@example.com", custom_Buddy="p2@example.com"),
            user("u2", "2", email="p1@example.com"),
        ],
        make_config(custom=(BUDDY_OF,)),
    )

    assert actions(plan) == [("update", "1", ())]
    [change] = plan.changes
    assert [(f.name, f.after) for f in change.fields] == [("custom:Buddy", "p1@example.com")]
    assert [w for w in plan.warnings if w.code == "reference_held"] == []


def test_a_renamed_persons_buddy_who_is_a_new_hire_taking_their_address_is_held() -> None:
    # A new hire 7 takes renamed 1's address and 1's Buddy is 7: 7 waits for 1's rename,
    # and 1's Buddy (7's address, 1's own until the rename) waits for the next run.
    plan = plan_for(
        [
            employee("1", email="new1@example.com", dynamic_9="7"),
            employee("7", email="p1@example.com"),
        ],
        [user("u1", "1")],
        make_config(custom=(BUDDY_OF,)),
    )

    assert actions(plan) == [("create", "7", ("1",)), ("update", "1", ())]
    [rename] = [c for c in plan.changes if c.source_id == "1"]
    assert [f.name for f in rename.fields] == ["email"]
    waves = [[c.source_id for c in wave] for wave in compute_batches(plan)]
    assert waves == [["1"], ["7"]]


def test_a_new_hire_taking_the_address_of_the_person_they_will_manage_is_created_first() -> None:
    # 1 is renamed, new hire 7 takes 1's old address and becomes 1's manager: 7's create
    # waits for 1's rename, so 1's manager is written by the next run, once 7 exists.
    employees = [
        employee("1", email="new1@example.com", supervisor="7"),
        employee("7", email="p1@example.com"),
    ]
    plan = plan_for(employees, [user("u1", "1")])

    assert actions(plan) == [("create", "7", ("1",)), ("update", "1", ())]
    [rename] = [c for c in plan.changes if c.source_id == "1"]
    assert ([f.name for f in rename.fields], rename.depends_on) == (["email"], None)
    [held] = [w for w in plan.warnings if w.code == "reference_held"]
    assert held.source_id == "1"
    assert "manager 7" in held.message
    waves = [[c.source_id for c in wave] for wave in compute_batches(plan)]
    assert waves == [["1"], ["7"]]

    after = [user("u1", "1", email="new1@example.com"), user("u7", "7", email="p1@example.com")]
    [change] = plan_for(employees, after).changes
    assert [(f.name, f.after) for f in change.fields] == [("manager", "7")]
