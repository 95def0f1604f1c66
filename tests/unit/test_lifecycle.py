"""Lifecycle rules of the pure planner: a leaver is deactivated in the first run that sees them
leave, whatever else is wrong with them or their address; every deactivation and reactivation
says why (issue #14, #15)."""

from __future__ import annotations

import datetime as dt

from reconciler.app import existing_target_ids
from reconciler.core.model import Action, AttrValue, Employee, Plan
from reconciler.core.plan_document import compute_checksum, plan_document
from tests.unit.test_planner import employee, make_config, plan_for, user


def actions(plan: Plan) -> list[tuple[str, str | None, str | None]]:
    return [(c.action.value, c.source_id, c.target_id) for c in plan.changes]


def test_a_leaver_whose_address_was_handed_to_a_colleague_is_deactivated() -> None:
    # 628 left and keeps the address in Personio; 629 now has it too.
    plan = plan_for(
        [
            employee("628", status="inactive"),
            employee("629", email="p628@example.com"),
        ],
        [user("u628", "628"), user("u629", "629")],
    )

    assert actions(plan) == [("deactivate", "628", "u628")]
    deactivation = plan.changes[0]
    assert deactivation.reason == "left (status: inactive)"
    [error] = plan.errors
    assert (error.source_id, error.code) == ("629", "email_held_by_leaver")
    assert "u628" in error.message
    assert "employee 628" in error.message


def test_a_leaver_whose_address_is_reused_by_someone_new_is_deactivated() -> None:
    # 700 is new in Personio with the leaver's address: it is claimed, not created, and the
    # leaver's user still goes.
    plan = plan_for(
        [employee("628", status="inactive"), employee("700", email="p628@example.com")],
        [user("u628", "628")],
    )

    assert ("deactivate", "628", "u628") in actions(plan)
    assert not any(c.action is Action.CREATE for c in plan.changes)
    assert [e.code for e in plan.errors] == ["rehire_unclear"]


def test_a_leaver_in_an_ambiguity_is_deactivated() -> None:
    # 5 is linked to u5 but their email belongs to the leaver's user u9: an ambiguity that
    # holds back 5's update, never 9's deactivation.
    plan = plan_for(
        [
            employee("5", email="p9@example.com", position="Lead"),
            employee("9", employment_type="external", status="inactive"),
        ],
        [user("u5", "5"), user("u9", "9")],
    )

    assert actions(plan) == [("deactivate", "9", "u9")]
    assert plan.changes[0].reason == "left (status: inactive)"
    assert [e.code for e in plan.errors] == ["email_held_by_leaver"]


def test_an_ambiguity_between_active_people_still_holds_both_users() -> None:
    plan = plan_for(
        [employee("5", email="p6@example.com"), employee("6", email="p6@example.com")],
        [user("u5", "5"), user("u6", "6")],
    )
    assert not any(c.action is Action.DEACTIVATE for c in plan.changes)


def test_deactivations_say_why() -> None:
    config_users = [user("u1", "1"), user("u2", "2"), user("u3", "3")]
    plan = plan_for(
        [employee("1", status="inactive"), employee("2", employment_type="external")],
        config_users,
        config=None,
    )
    reasons = {c.source_id: c.reason for c in plan.changes if c.action is Action.DEACTIVATE}
    # The default scope includes external, so 2 stays; 3 is not in Personio at all.
    assert reasons == {"1": "left (status: inactive)", "3": "unknown to Personio"}


def test_out_of_scope_by_employment_type_is_named() -> None:
    from tests.unit.test_planner import make_config

    config = make_config()
    import dataclasses

    config = dataclasses.replace(
        config, sync=dataclasses.replace(config.sync, employee_types=("internal",))
    )
    plan = plan_for([employee("2", employment_type="external")], [user("u2", "2")], config)
    assert [(c.action, c.reason) for c in plan.changes] == [
        (Action.DEACTIVATE, "out of scope (employment type: external)")
    ]


def test_a_reactivation_says_why_and_the_reason_is_shown_but_not_checksummed() -> None:
    plan = plan_for([employee("1")], [user("u1", "1", active=False)])
    [change] = plan.changes
    assert change.action is Action.REACTIVATE
    assert change.reason is not None
    assert "deactivated in Lattice" in change.reason
    document = plan_document(plan)
    assert document["changes"][0]["reason"] == change.reason  # type: ignore[index]
    reworded = Plan(
        changes=(change.__class__(**{**_fields(change), "reason": "other words"}),),
        unchanged=plan.unchanged,
    )
    assert compute_checksum(reworded) == compute_checksum(
        Plan(changes=plan.changes, unchanged=plan.unchanged)
    )


def _fields(change: object) -> dict[str, object]:
    import dataclasses

    return {f.name: getattr(change, f.name) for f in dataclasses.fields(change)}


# ---------------------------------------------------------------------------------------------
# Rehires with a new Personio id
# ---------------------------------------------------------------------------------------------


def rehire(**new: AttrValue) -> list[Employee]:
    """Employee 628 left; Personio made a new profile 900 for them, with their address."""
    attributes: dict[str, AttrValue] = {"email": "p628@example.com", "first_name": "First628"}
    attributes.update(new)
    return [employee("628", status="inactive"), employee("900", **attributes)]


def test_a_rehire_with_a_new_id_reactivates_their_old_user_with_a_relink_reason() -> None:
    plan = plan_for(rehire(position="Lead"), [user("u628", "628", active=False)])

    assert actions(plan) == [("reactivate", "900", "u628")]
    change = plan.changes[0]
    assert change.reason is not None
    assert change.reason.startswith("relink: employee 900 is employee 628 rehired")
    assert "Lattice keeps external id 628" in change.reason
    assert [(f.name, f.after) for f in change.fields] == [("title", "Lead")]
    assert plan.errors == ()


def test_a_relinked_user_stays_matched_and_an_unchanged_rehire_plans_nothing() -> None:
    # After the first apply: u628 is active, still carries 628, and matches 900's record.
    plan = plan_for(rehire(), [user("u628", "628", first_name="First628")])

    assert plan.changes == ()
    assert plan.errors == ()


def test_a_rehire_whose_name_differs_is_an_error_and_the_old_user_is_still_deactivated() -> None:
    plan = plan_for(rehire(first_name="Someone"), [user("u628", "628")])

    assert actions(plan) == [("deactivate", "628", "u628")]
    [error] = plan.errors
    assert (error.source_id, error.code) == ("900", "rehire_unclear")
    assert "names (or birth dates) differ" in error.message


def test_a_rehire_is_relinked_only_when_the_mapped_birth_dates_agree() -> None:
    config = make_config(enabled=("title", "manager", "birth_date"))
    people = rehire(birthday=dt.date(1990, 1, 2))
    people[0] = employee("628", status="inactive", birthday=dt.date(1990, 1, 2))
    same = plan_for(people, [user("u628", "628", active=False)], config)
    people[0] = employee("628", status="inactive", birthday=dt.date(1991, 1, 2))
    other = plan_for(people, [user("u628", "628")], config)

    assert [c.action.value for c in same.changes] == ["reactivate"]
    assert "and birth date" in (same.changes[0].reason or "")
    assert [e.code for e in other.errors] == ["rehire_unclear"]


def test_a_report_of_a_relinked_rehire_is_given_their_old_user_as_manager() -> None:
    # u628 was relinked to 900 in an earlier run; 7 now reports to 900. Lattice still says
    # u628 is 628, so apply must learn from the plan that 900 is u628.
    employees = [*rehire(), employee("7", supervisor="900")]
    users = [user("u628", "628", first_name="First628"), user("u7", "7")]
    plan = plan_for(employees, users)

    [change] = plan.changes
    assert (change.source_id, [(f.name, f.after) for f in change.fields]) == (
        "7",
        [("manager", "900")],
    )
    assert plan.matched_as == (("900", "u628"),)
    assert existing_target_ids(tuple(users), plan)["900"] == "u628"

    written = [users[0], user("u7", "7", manager="u628")]
    assert plan_for(employees, written).changes == ()
