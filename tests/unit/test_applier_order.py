"""The applier's pure parts: execution waves and audit records."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from reconciler.applier import audit_record, compute_batches, not_applied_detail
from reconciler.core.model import Action, Change, ChangeResult, FieldChange, Outcome, Plan


def create(source_id: str, manager: str | None = None, *, depends: bool = True) -> Change:
    fields = [FieldChange("first_name", None, f"Person{source_id}")]
    if manager is not None:
        fields.append(FieldChange("manager", None, manager))
    return Change(
        Action.CREATE,
        source_id,
        None,
        f"person{source_id}@example.com",
        tuple(fields),
        depends_on=manager if depends else None,
    )


def change(
    action: Action,
    source_id: str,
    *,
    fields: tuple[FieldChange, ...] = (),
    depends_on: str | None = None,
) -> Change:
    return Change(
        action,
        source_id,
        f"u_{source_id}",
        f"person{source_id}@example.com",
        fields,
        depends_on,
    )


def test_a_chain_of_new_managers_is_created_in_three_waves_before_the_other_kinds() -> None:
    # 1 manages 2 manages 3; 4 is a new hire with an existing manager.
    a, b, c, d = create("1"), create("2", "1"), create("3", "2"), create("4", "90")
    link = change(Action.LINK, "10")
    rehire = change(Action.REACTIVATE, "20")
    update_to_new_manager = change(
        Action.UPDATE, "30", fields=(FieldChange("manager", "90", "3"),), depends_on="3"
    )
    update = change(Action.UPDATE, "31", fields=(FieldChange("title", "Engineer", "Lead"),))
    leaver = change(Action.DEACTIVATE, "40")
    plan = Plan((a, b, c, d, link, rehire, update_to_new_manager, update, leaver), unchanged=0)

    assert compute_batches(plan) == (
        (a, d),
        (b,),
        (c,),
        (link,),
        (rehire,),
        (update_to_new_manager, update),
        (leaver,),
    )


def test_waves_keep_plan_order_whatever_order_the_dependencies_come_in() -> None:
    # The report (in plan id order) precedes the manager in the plan.
    report, manager, peer = create("1", "5"), create("5"), create("7")
    plan = Plan((report, manager, peer), unchanged=3)

    assert compute_batches(plan) == ((manager, peer), (report,))


def test_a_new_manager_orders_the_creates_even_without_depends_on() -> None:
    manager, report = create("1"), create("2", "1", depends=False)
    plan = Plan((manager, report), unchanged=0)

    assert compute_batches(plan) == ((manager,), (report,))


def test_a_plan_without_creates_has_one_wave_per_kind_in_execution_order() -> None:
    leaver = change(Action.DEACTIVATE, "1")
    update = change(Action.UPDATE, "2", fields=(FieldChange("title", "A", "B"),))
    plan = Plan((update, leaver), unchanged=10)

    assert compute_batches(plan) == ((update,), (leaver,))


def test_an_empty_plan_has_no_waves() -> None:
    assert compute_batches(Plan((), unchanged=5)) == ()


def test_creates_that_manage_each_other_in_a_cycle_are_refused() -> None:
    plan = Plan((create("1", "2"), create("2", "1")), unchanged=0)

    with pytest.raises(ValueError, match=r"cycle: 1 → 2 → 1"):
        compute_batches(plan)


def test_someone_managing_themselves_does_not_wait_for_themselves() -> None:
    selfish = create("1", "1")
    plan = Plan((selfish,), unchanged=0)

    assert compute_batches(plan) == ((selfish,),)


def test_an_audit_record_holds_ids_field_names_and_outcome_but_no_values() -> None:
    update = Change(
        Action.UPDATE,
        "1234",
        "u_42",
        "ada@example.com",
        (
            FieldChange("title", "Engineer", "Senior Engineer"),
            FieldChange("birth_date", "1990-01-01", "1990-01-02"),
            FieldChange("custom:Cost Center", "CC-1", "CC-2"),
        ),
    )
    result = ChangeResult(update, Outcome.APPLIED, "u_42", attempts=2)
    at = dt.datetime(2024, 5, 1, 14, 30, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))

    assert audit_record(result, at) == {
        "time": "2024-05-01T12:30:05.123Z",
        "action": "update",
        "personio_id": "1234",
        "lattice_id": "u_42",
        "fields": ["birth_date", "custom:Cost Center", "title"],
        "outcome": "applied",
        "not_applied": [],
        "attempts": 2,
        "detail": None,
    }


def test_an_audit_record_of_a_not_applied_change_names_the_fields_not_their_values() -> None:
    update = Change(
        Action.UPDATE, "1234", "u_42", "ada@example.com", (FieldChange("title", "A", "Chief"),)
    )
    result = ChangeResult(
        update,
        Outcome.NOT_APPLIED,
        "u_42",
        not_applied_detail(("title",)),
        attempts=1,
        not_applied=("title",),
    )

    record = audit_record(result, dt.datetime(2024, 5, 1, tzinfo=dt.UTC))

    assert (record["outcome"], record["not_applied"]) == ("not_applied", ["title"])
    assert "Chief" not in json.dumps(record)


def test_an_audit_record_of_a_failed_create_has_no_lattice_id() -> None:
    new_hire = create("77", "5")
    result = ChangeResult(new_hire, Outcome.FAILED, None, "Unknown attribute 'Shirt'", attempts=1)
    at = dt.datetime(2024, 5, 1, 0, 0, tzinfo=dt.UTC)

    assert audit_record(result, at) == {
        "time": "2024-05-01T00:00:00.000Z",
        "action": "create",
        "personio_id": "77",
        "lattice_id": None,
        "fields": ["first_name", "manager"],
        "outcome": "failed",
        "not_applied": [],
        "attempts": 1,
        "detail": "Unknown attribute 'Shirt'",
    }


def test_an_audit_time_without_a_timezone_is_refused() -> None:
    result = ChangeResult(change(Action.DEACTIVATE, "1"), Outcome.SKIPPED)

    with pytest.raises(ValueError, match="timezone-aware"):
        audit_record(result, dt.datetime(2024, 5, 1, 12, 0))
