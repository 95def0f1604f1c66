"""Planner: matching, lifecycle, diffs, managers, ordering, the document and its checksum."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import random
from pathlib import Path

import jsonschema
import pytest

from reconciler.core.model import (
    STANDARD_FIELDS,
    Action,
    AttrValue,
    Change,
    Config,
    CustomAttribute,
    Employee,
    FieldChange,
    FieldSetting,
    FieldValue,
    LatticeSettings,
    PersonioSettings,
    Plan,
    Problem,
    SecretRef,
    SourceSnapshot,
    SyncSettings,
    TargetUser,
)
from reconciler.core.plan_document import compute_checksum, plan_document, seal_plan
from reconciler.core.planner import compute_plan
from reconciler.sources.personio.profile import PERSONIO
from reconciler.targets.lattice.profile import LATTICE

#: Plans are published sealed with a key (``seal_plan``); the schema describes sealed documents.
KEY = b"test plan key"

SCHEMA = jsonschema.Draft202012Validator(
    json.loads(
        (Path(__file__).parents[2] / "schemas" / "plan.schema.json").read_text(encoding="utf-8")
    )
)
ENABLED = ("title", "manager")


def make_config(
    *,
    enabled: tuple[str, ...] = ENABLED,
    custom: tuple[CustomAttribute, ...] = (),
    **sync: object,
) -> Config:
    return Config(
        personio=PersonioSettings(
            "https://api.personio.de/v1", SecretRef("PID"), SecretRef("PSECRET"), "test-app"
        ),
        lattice=LatticeSettings("https://api.latticehq.com/scim/v2", SecretRef("LTOKEN")),
        sync=SyncSettings(**sync),  # type: ignore[arg-type]
        fields=tuple(
            FieldSetting(name, name in enabled, source)
            for name, source in PERSONIO.default_sources.items()
        ),
        custom_attributes=custom,
    )


def employee(source_id: str, **attributes: AttrValue) -> Employee:
    base: dict[str, AttrValue] = {
        "id": source_id,
        "email": f"p{source_id}@example.com",
        "first_name": f"First{source_id}",
        "last_name": "Example",
        "status": "active",
        "employment_type": "internal",
        "position": "Engineer",
    }
    base.update(attributes)
    return Employee(source_id, base)


def user(
    target_id: str,
    source_id: str | None,
    *,
    email: str | None = None,
    active: bool = True,
    **fields: FieldValue,
) -> TargetUser:
    """A Lattice user that exactly represents ``employee(source_id)`` unless told otherwise."""
    number = source_id or target_id
    values: dict[str, FieldValue] = {
        "first_name": f"First{number}",
        "last_name": "Example",
        "preferred_name": None,
        "title": "Engineer",
        "start_date": None,
        "department": None,
        "manager": None,
        "birth_date": None,
    }
    values.update({name.replace("custom_", "custom:"): value for name, value in fields.items()})
    return TargetUser(target_id, email or f"p{number}@example.com", active, source_id, values)


def plan_for(
    employees: list[Employee],
    users: list[TargetUser],
    config: Config | None = None,
    problems: tuple[Problem, ...] = (),
) -> Plan:
    plan = compute_plan(
        SourceSnapshot(tuple(employees), problems),
        users,
        config or make_config(),
        source=PERSONIO,
        target=LATTICE,
    )
    SCHEMA.validate(plan_document(seal_plan(plan, KEY)))
    SCHEMA.validate(plan_document(seal_plan(plan, KEY), redact=False))
    return plan


def fc(name: str, before: FieldValue, after: FieldValue) -> FieldChange:
    return FieldChange(name, before, after)


def created(source_id: str, *extra: FieldChange, depends_on: str | None = None) -> Change:
    """The create of ``employee(source_id)`` under the default config, plus ``extra``."""
    fields = {
        "email": fc("email", None, f"p{source_id}@example.com"),
        "first_name": fc("first_name", None, f"First{source_id}"),
        "last_name": fc("last_name", None, "Example"),
        "title": fc("title", None, "Engineer"),
    }
    fields.update({field.name: field for field in extra})
    ordered = tuple(
        sorted((f for f in fields.values() if f.after is not None), key=lambda f: f.name)
    )
    return Change(Action.CREATE, source_id, None, f"p{source_id}@example.com", ordered, depends_on)


# ---------------------------------------------------------------------------------------------
# The basic lifecycle
# ---------------------------------------------------------------------------------------------


def test_identical_sides_give_an_empty_plan() -> None:
    employees = [employee("1"), employee("2", supervisor="1"), employee("3", supervisor="1")]
    users = [user("u1", "1"), user("u2", "2", manager="u1"), user("u3", "3", manager="u1")]

    plan = plan_for(employees, users)

    assert plan.changes == ()
    assert plan.unchanged == 3
    assert plan.warnings == plan.errors == ()
    assert plan.is_empty


def test_a_mixed_plan_creates_updates_and_deactivates() -> None:
    employees = [
        employee("1"),
        employee("2", position="Senior Engineer"),
        employee("3", status="inactive"),
        employee("4"),
    ]
    users = [user("u1", "1"), user("u2", "2"), user("u3", "3"), user("u9", "9")]

    plan = plan_for(employees, users)

    document = plan_document(plan)
    assert document == {
        "format_version": 2,
        "summary": {
            "create": 1,
            "link": 0,
            "reactivate": 0,
            "update": 1,
            "deactivate": 2,
            "unchanged": 1,
        },
        "changes": [
            {
                "action": "create",
                "personio_id": "4",
                "lattice_id": None,
                "email": "p4@example.com",
                "fields": {
                    "email": {"from": None, "to": "p4@example.com"},
                    "first_name": {"from": None, "to": "First4"},
                    "last_name": {"from": None, "to": "Example"},
                    "title": {"from": None, "to": "Engineer"},
                },
            },
            {
                "action": "update",
                "personio_id": "2",
                "lattice_id": "u2",
                "email": "p2@example.com",
                "fields": {"title": {"from": "Engineer", "to": "Senior Engineer"}},
            },
            {
                "action": "deactivate",
                "personio_id": "3",
                "lattice_id": "u3",
                "email": "p3@example.com",
                "fields": {},
                "reason": "left (status: inactive)",
            },
            {
                "action": "deactivate",
                "personio_id": "9",
                "lattice_id": "u9",
                "email": "p9@example.com",
                "fields": {},
                "reason": "unknown to Personio",
            },
        ],
        "warnings": [],
        "errors": [],
        "checksum": plan.checksum,
    }
    assert plan.source_employees == 4
    assert plan.target_users == 4


def test_an_unlinked_user_is_linked_by_case_insensitive_email_and_gets_its_diffs() -> None:
    employees = [employee("1", position="Lead")]
    users = [user("u7", None, email="  P1@Example.COM ", first_name="First1")]

    plan = plan_for(employees, users)

    assert plan.changes == (
        Change(
            Action.LINK,
            "1",
            "u7",
            "p1@example.com",
            (fc("title", "Engineer", "Lead"),),
        ),
    )
    assert plan.unchanged == 0


def test_a_link_without_differences_is_still_a_link() -> None:
    plan = plan_for(
        [employee("1")], [user("u7", None, email="p1@example.com", first_name="First1")]
    )

    assert plan.changes == (Change(Action.LINK, "1", "u7", "p1@example.com"),)


def test_an_email_that_differs_only_in_case_is_not_a_change() -> None:
    plan = plan_for([employee("1")], [user("u1", "1", email="P1@EXAMPLE.com")])

    assert plan.changes == ()
    assert plan.unchanged == 1


def test_an_email_changed_in_personio_updates_the_linked_user() -> None:
    plan = plan_for([employee("1", email="new@example.com")], [user("u1", "1")])

    assert plan.changes == (
        Change(
            Action.UPDATE,
            "1",
            "u1",
            "new@example.com",
            (fc("email", "p1@example.com", "new@example.com"),),
        ),
    )


def test_a_rehire_is_reactivated_with_its_field_changes_in_one_change() -> None:
    plan = plan_for([employee("1", position="Lead")], [user("u1", "1", active=False)])

    assert plan.changes == (
        Change(Action.REACTIVATE, "1", "u1", "p1@example.com", (fc("title", "Engineer", "Lead"),)),
    )
    assert plan.target_users == 0


def test_a_deactivated_user_without_differences_is_reactivated() -> None:
    plan = plan_for([employee("1")], [user("u1", "1", active=False)])

    assert plan.changes == (Change(Action.REACTIVATE, "1", "u1", "p1@example.com"),)


def test_an_unlinked_deactivated_user_is_linked_then_reactivated() -> None:
    plan = plan_for(
        [employee("1", position="Lead")],
        [user("u5", None, email="p1@example.com", active=False, first_name="First1")],
    )

    assert plan.changes == (
        Change(Action.LINK, "1", "u5", "p1@example.com", (fc("title", "Engineer", "Lead"),)),
        Change(Action.REACTIVATE, "1", "u5", "p1@example.com"),
    )


def test_only_active_users_of_people_who_left_are_deactivated() -> None:
    employees = [employee("1", status="inactive"), employee("2", status="inactive")]
    users = [user("u1", "1"), user("u2", "2", active=False), user("u3", "3", active=False)]

    plan = plan_for(employees, users)

    assert plan.changes == (Change(Action.DEACTIVATE, "1", "u1", "p1@example.com"),)
    assert plan.unchanged == 0


def test_unmanaged_users_are_ignored_by_default() -> None:
    plan = plan_for([employee("1")], [user("u1", "1"), user("admin", None, email="it@example.com")])

    assert plan.changes == ()
    assert plan.unchanged == 1
    assert plan.target_users == 2


def test_unmanaged_users_are_deactivated_when_configured() -> None:
    users = [
        user("u1", "1"),
        user("admin", None, email="it@example.com"),
        user("old", None, email="old@example.com", active=False),
        user("root", None, email="Root@example.com"),
    ]
    config = make_config(unmanaged_users="deactivate", protected=frozenset({"root@example.com"}))

    plan = plan_for([employee("1")], users, config)

    assert plan.changes == (Change(Action.DEACTIVATE, None, "admin", "it@example.com"),)


def test_protected_users_are_never_created_changed_or_deactivated() -> None:
    employees = [
        employee("1", position="Changed"),
        employee("2"),
        employee("3", status="inactive"),
        employee("4", position="Changed"),
        employee("5"),
    ]
    users = [
        user("u1", "1"),
        user("u3", "3", email="ceo@example.com"),
        user("u4", None, email="p4@example.com"),
        user("u5", "5", active=False),
    ]
    protected = frozenset(
        {"p1@example.com", "p2@example.com", "ceo@example.com", "p4@example.com", "p5@example.com"}
    )

    plan = plan_for(employees, users, make_config(protected=protected))

    assert plan.changes == ()
    assert plan.unchanged == 0


# ---------------------------------------------------------------------------------------------
# Ambiguity is refused per person
# ---------------------------------------------------------------------------------------------


def test_two_lattice_users_with_one_external_id_are_an_error_and_left_alone() -> None:
    employees = [employee("1", position="Lead"), employee("2", position="Lead")]
    users = [user("u1", "1"), user("u1b", "1", email="dup@example.com"), user("u2", "2")]

    plan = plan_for(employees, users)

    assert plan.changes == (
        Change(Action.UPDATE, "2", "u2", "p2@example.com", (fc("title", "Engineer", "Lead"),)),
    )
    assert plan.errors == (
        Problem(
            "1",
            "duplicate_external_id",
            "Lattice users u1, u1b all carry external id 1 — remove it from all but one in "
            "Lattice; left untouched",
            email="p1@example.com",
        ),
    )


def test_an_email_belonging_to_another_lattice_user_than_the_id_match_is_an_error() -> None:
    employees = [employee("1", email="shared@example.com"), employee("2")]
    users = [
        user("u1", "1"),
        user("u8", "8", email="shared@example.com"),
        user("u2", "2", title="Old"),
    ]

    plan = plan_for(employees, users)

    # u8 is linked to an id that left, but it holds the disputed email: it is left alone too.
    assert plan.changes == (
        Change(Action.UPDATE, "2", "u2", "p2@example.com", (fc("title", "Old", "Engineer"),)),
    )
    assert plan.errors == (
        Problem(
            "1",
            "email_id_conflict",
            "employee 1 is linked to Lattice user u1, but their email belongs to Lattice user "
            "u8 — merge or rename one of them in Lattice; left untouched",
            email="shared@example.com",
        ),
    )


def test_an_email_claimed_by_a_user_linked_to_someone_else_is_an_error() -> None:
    employees = [employee("2", email="p1@example.com")]
    users = [user("u1", "1")]

    plan = plan_for(employees, users)

    assert plan.changes == ()
    assert plan.errors == (
        Problem(
            "2",
            "email_claimed",
            "employee 2's email belongs to Lattice user u1, which is linked to employee 1 — fix "
            "the external id in Lattice or the email in Personio; left untouched",
            email="p1@example.com",
        ),
    )


def test_people_with_mapping_errors_keep_their_lattice_users_untouched() -> None:
    employees = [
        employee("1", email=None),
        employee("2", email="same@example.com"),
        employee("3", email="same@example.com"),
        employee("4"),
    ]
    users = [
        user("u1", "1"),
        user("u2", None, email="same@example.com"),
        user("u4", "4"),
    ]

    plan = plan_for(employees, users, make_config(unmanaged_users="deactivate"))

    assert plan.changes == ()
    assert [(e.source_id, e.code) for e in plan.errors] == [
        ("1", "invalid_email"),
        ("2", "duplicate_email"),
        ("3", "duplicate_email"),
    ]
    assert plan.unchanged == 1


def test_unparsable_records_are_errors_and_their_users_are_not_deactivated() -> None:
    problems = (
        Problem("7", "unparsable_record", "employee 7: attributes is not an object"),
        Problem(None, "unparsable_record", "a record without an id", email="Lost@example.com "),
    )
    users = [user("u1", "1"), user("u7", "7"), user("lost", None, email="lost@example.com")]

    plan = plan_for([employee("1")], users, make_config(unmanaged_users="deactivate"), problems)

    assert plan.changes == ()
    assert plan.errors == (problems[0], problems[1])
    assert plan.source_employees == 3
    assert plan_document(plan)["errors"] == [
        {
            "personio_id": "7",
            "code": "unparsable_record",
            "message": "employee 7: attributes is not an object",
        },
        {"personio_id": None, "code": "unparsable_record", "message": "a record without an id"},
    ]


def test_a_record_without_a_readable_id_holds_deactivations_of_people_not_in_the_answer() -> None:
    problems = (Problem(None, "unparsable_record", "a record without an id"),)
    employees = [employee("1"), employee("2", status="inactive")]
    users = [
        user("u1", "1"),
        user("u2", "2"),
        user("u8", "8"),
        user("x", None, email="x@example.com"),
    ]

    plan = plan_for(employees, users, make_config(unmanaged_users="deactivate"), problems)

    # 8 may be the unreadable record; 2 is known to have left, x is known to be unmanaged.
    assert plan.changes == (
        Change(Action.DEACTIVATE, "2", "u2", "p2@example.com"),
        Change(Action.DEACTIVATE, None, "x", "x@example.com"),
    )
    assert plan.warnings == (
        Problem(
            "8",
            "deactivation_held",
            "Lattice user u8 is linked to employee 8, who is not in Personio's answer; not "
            "deactivated because Personio sent 1 record without a readable id — fix the records "
            "in Personio",
        ),
    )
    two = (*problems, Problem(None, "unparsable_record", "another"))
    assert "sent 2 records without" in plan_for(employees, users, None, two).warnings[0].message


# ---------------------------------------------------------------------------------------------
# Fields
# ---------------------------------------------------------------------------------------------


def test_a_contractors_title_set_by_hand_in_lattice_is_left_alone() -> None:
    contractor = employee("5", employment_type="external", position="Consultant", supervisor="1")
    users = [user("u1", "1"), user("u5", "5", title="Set by hand", manager="u1")]

    plan = plan_for([employee("1"), contractor], users)

    assert plan.changes == ()
    assert plan.unchanged == 2


def test_only_managed_fields_are_compared() -> None:
    users = [user("u1", "1", department="Set in Lattice", custom_Shirt="XL")]

    plan = plan_for([employee("1", department="Research")], users)

    assert plan.changes == ()


def test_a_field_missing_in_lattice_equals_an_empty_desired_value() -> None:
    lattice = TargetUser(
        "u1", "p1@example.com", True, "1", {"first_name": "First1", "last_name": "Example"}
    )

    plan = plan_for([employee("1", position=None)], [lattice])

    assert plan.changes == ()
    assert plan.unchanged == 1


def test_preferred_name_differences_are_warnings_not_updates() -> None:
    config = make_config(enabled=("preferred_name", "title"))
    employees = [employee("1", preferred_name="Ada"), employee("2", preferred_name="Bo")]
    users = [user("u1", "1", preferred_name="Countess", title="Old")]

    plan = plan_for(employees, users, config)

    assert plan.changes == (
        created("2", fc("preferred_name", None, "Bo")),
        Change(Action.UPDATE, "1", "u1", "p1@example.com", (fc("title", "Old", "Engineer"),)),
    )
    assert plan.warnings == (
        Problem(
            "1",
            "preferred_name_drift",
            "employee 1: the preferred name in Lattice differs from Personio; Lattice sets it "
            "only when a user is created — change it in Lattice by hand",
        ),
    )


def test_a_create_writes_every_set_field_and_the_email() -> None:
    config = make_config(
        enabled=tuple(STANDARD_FIELDS),
        custom=(
            CustomAttribute("dynamic_1", "Cost Center"),
            CustomAttribute("dynamic_2", "Level", "number"),
        ),
    )
    person = employee(
        "1",
        preferred_name="Ada",
        hire_date=dt.date(2020, 1, 2),
        department="Research",
        birthday=dt.date(1961, 7, 4),
        gender=" Female ",
        dynamic_1="CC-100",
        dynamic_2=None,
    )

    plan = plan_for([person], [], config)

    assert plan.changes == (
        created(
            "1",
            fc("birth_date", None, "1961-07-04"),
            fc("custom:Cost Center", None, "CC-100"),
            fc("department", None, "Research"),
            fc("gender", None, "Female"),
            fc("preferred_name", None, "Ada"),
            fc("start_date", None, "2020-01-02"),
        ),
    )
    # gender and its kind are special-category data: never printed, like the birth date
    assert plan.sensitive_fields == frozenset(
        {"birth_date", "gender", "ethnicity", "sexual_orientation"}
    )


def test_numbers_equal_in_value_are_not_a_change() -> None:
    config = make_config(custom=(CustomAttribute("dynamic_2", "Level", "number"),))

    plan = plan_for([employee("1", dynamic_2="3.0")], [user("u1", "1", custom_Level=3)], config)

    assert plan.changes == ()


def test_new_choices_fill_the_room_left_by_the_200_lattice_already_has() -> None:
    config = make_config(custom=(CustomAttribute("dynamic_1", "Code"),))
    employees = [employee(str(n), dynamic_1=f"C{n:03d}") for n in range(1, 203)]
    employees[0] = employee("1", dynamic_1="A-new")
    users = [user(f"u{n}", str(n), custom_Code=f"C{n:03d}") for n in range(1, 199)]
    users.append(user("u999", "999", active=False, custom_Code="C999"))

    plan = plan_for(employees, users, config)

    # Lattice has 199 choices (C001…C198, C999), all kept; the one free slot goes to the
    # first new value in order ("A-new"); C199…C202 do not fit.
    assert plan.changes == (
        created("199"),
        created("200"),
        created("201"),
        created("202"),
        Change(Action.UPDATE, "1", "u1", "p1@example.com", (fc("custom:Code", "C001", "A-new"),)),
    )
    message = (
        "custom attribute 'Code' would need more than 200 distinct values in Lattice and this "
        "new value is not among those that fit — left unchanged"
    )
    assert plan.warnings == tuple(
        Problem(pid, "too_many_choices", f"employee {pid}: {message}")
        for pid in ("199", "200", "201", "202")
    )
    assert plan.unchanged == 197


def test_dates_and_numbers_are_not_multiple_choice_in_lattice_so_201_values_all_go() -> None:
    config = make_config(
        custom=(
            CustomAttribute("dynamic_1", "Probation end", "date"),
            CustomAttribute("dynamic_2", "Level", "number"),
        )
    )
    start = dt.date(2024, 1, 1)
    employees = [
        employee(str(n), dynamic_1=start + dt.timedelta(days=n), dynamic_2=n) for n in range(1, 202)
    ]

    plan = plan_for(employees, [], config)

    assert plan.warnings == ()
    assert len(plan.changes) == 201
    assert plan.changes[-1] == created(
        "201", fc("custom:Level", None, 201), fc("custom:Probation end", None, "2024-07-20")
    )


def _skill_sets(count: int) -> list[tuple[str, ...]]:
    """``count`` different sets of two or three of 20 skills (more sets than 200, 20 options)."""
    skills = [f"Skill {n:02d}" for n in range(20)]
    sets = [*itertools.combinations(skills, 2), *itertools.combinations(skills, 3)]
    assert len(sets) >= count
    return sets[:count]


def test_a_multi_select_counts_its_options_not_the_sets_people_hold() -> None:
    as_text = make_config(custom=(CustomAttribute("dynamic_1", "Skills", "text"),))
    as_multi = make_config(custom=(CustomAttribute("dynamic_1", "Skills", "multi_select"),))
    employees = [
        employee(str(n), dynamic_1=tags) for n, tags in enumerate(_skill_sets(230), start=1)
    ]

    text_plan = plan_for(employees, [], as_text)
    multi_plan = plan_for(employees, [], as_multi)

    # 230 distinct joined texts cannot all be choices; 20 options can.
    assert {p.code for p in text_plan.warnings} == {"too_many_choices"}
    assert len(text_plan.warnings) == 30
    assert multi_plan.warnings == ()
    assert multi_plan.changes[0].field("custom:Skills") == fc(
        "custom:Skills", None, ("Skill 00", "Skill 01")
    )


def test_a_multi_select_past_200_options_keeps_those_that_fit_and_warns_about_the_rest() -> None:
    config = make_config(custom=(CustomAttribute("dynamic_1", "Tags", "multi_select"),))
    # Lattice already holds options O000…O198 (199 of them); two people bring new ones.
    users = [user(f"u{n}", str(n), custom_Tags=(f"O{n:03d}",)) for n in range(199)]
    employees = [employee(str(n), dynamic_1=(f"O{n:03d}",)) for n in range(199)]
    employees.append(employee("199", dynamic_1=("O000", "A-new")))  # fits: the one free slot
    employees.append(employee("200", dynamic_1=("O001", "Z-new")))  # does not fit

    plan = plan_for(employees, users, config)

    assert [(c.source_id, c.field("custom:Tags")) for c in plan.changes] == [
        ("199", fc("custom:Tags", None, ("A-new", "O000"))),
        ("200", None),
    ]
    assert [(p.source_id, p.code) for p in plan.warnings] == [("200", "too_many_choices")]


@pytest.mark.parametrize(
    "held",
    [("Python", "Go"), ("Go", "Python"), ("Go", "Python", "Go"), (" Go", "Python ")],
    ids=["other-order", "same-order", "repeated", "padded"],
)
def test_a_multi_select_is_compared_as_a_sorted_set(held: tuple[str, ...]) -> None:
    config = make_config(custom=(CustomAttribute("dynamic_1", "Skills", "multi_select"),))

    plan = plan_for(
        [employee("1", dynamic_1=("Python", "Go", "Python"))],
        [user("u1", "1", custom_Skills=held)],
        config,
    )

    assert plan.changes == ()
    assert plan.unchanged == 1


def test_a_multi_select_change_and_a_single_text_read_from_lattice() -> None:
    config = make_config(custom=(CustomAttribute("dynamic_1", "Skills", "multi_select"),))
    employees = [employee("1", dynamic_1=("Go", "SQL")), employee("2", dynamic_1=("Go",))]
    users = [user("u1", "1", custom_Skills=("Go",)), user("u2", "2", custom_Skills="Go")]

    plan = plan_for(employees, users, config)

    # A single text held by Lattice is one choice: the same as ("Go",).
    assert plan.changes == (
        Change(
            Action.UPDATE,
            "1",
            "u1",
            "p1@example.com",
            (fc("custom:Skills", ("Go",), ("Go", "SQL")),),
        ),
    )


def test_a_date_attribute_read_with_a_time_is_compared_as_its_date() -> None:
    config = make_config(custom=(CustomAttribute("dynamic_1", "Probation end", "date"),))
    employees = [employee("1", dynamic_1=dt.date(2026, 5, 1))]
    users = [user("u1", "1", **{"custom_Probation end": "2026-05-01T00:00:00Z"})]

    plan = plan_for(employees, users, config)

    assert plan.changes == ()


# ---------------------------------------------------------------------------------------------
# Managers
# ---------------------------------------------------------------------------------------------


def test_a_new_manager_is_shown_as_personio_ids_and_compared_as_scim_ids() -> None:
    employees = [employee("1"), employee("2"), employee("3", supervisor="2")]
    users = [user("u1", "1"), user("u2", "2"), user("u3", "3", manager="u1")]

    plan = plan_for(employees, users)

    assert plan.changes == (
        Change(Action.UPDATE, "3", "u3", "p3@example.com", (fc("manager", "1", "2"),)),
    )


def test_a_manager_lattice_knows_only_by_scim_id_is_shown_as_that_id() -> None:
    users = [user("u1", "1", manager="u-admin"), user("u-admin", None, email="it@example.com")]

    plan = plan_for([employee("1")], users)

    assert plan.changes == (
        Change(Action.UPDATE, "1", "u1", "p1@example.com", (fc("manager", "u-admin", None),)),
    )


def test_a_manager_linked_in_this_plan_is_pointed_at_by_its_scim_id() -> None:
    employees = [employee("1"), employee("2", supervisor="1")]
    users = [
        user("u1", None, email="p1@example.com", first_name="First1"),
        user("u2", "2", manager="u1"),
    ]

    plan = plan_for(employees, users)

    assert plan.changes == (Change(Action.LINK, "1", "u1", "p1@example.com"),)
    assert plan.unchanged == 1


def test_managers_out_of_scope_unknown_or_with_errors_become_no_manager_with_a_warning() -> None:
    employees = [
        employee("1", status="inactive"),
        employee("2", supervisor="1"),
        employee("3", supervisor="99"),
        employee("4", email=None),
        employee("5", supervisor="4"),
        employee("6", email="boss@example.com"),
        employee("7", supervisor="6"),
    ]
    users = [
        user("u2", "2", manager="u1"),
        user("u3", "3"),
        user("u5", "5", manager="u4"),
        user("u6", None, email="boss@example.com"),
        user("u7", "7", manager="u6"),
    ]
    config = make_config(protected=frozenset({"boss@example.com"}))

    plan = plan_for(employees, users, config)

    assert plan.changes == (
        Change(Action.UPDATE, "2", "u2", "p2@example.com", (fc("manager", "u1", None),)),
        Change(Action.UPDATE, "7", "u7", "p7@example.com", (fc("manager", "u6", None),)),
    )
    assert plan.warnings == (
        Problem(
            "2",
            "manager_out_of_scope",
            "employee 2: manager 1 is out of scope (status or employment type) — no manager set",
        ),
        Problem(
            "3", "manager_not_found", "employee 3: manager 99 is not in Personio — no manager set"
        ),
        Problem(
            "5",
            "reference_held",
            "employee 5: manager 4 has a problem in this plan — manager left as it is until "
            "it is solved",
        ),
        Problem(
            "7",
            "manager_not_found",
            "employee 7: manager 6 has no Lattice user that can be linked — no manager set",
        ),
    )


def test_a_reporting_cycle_is_reported_and_its_managers_left_alone() -> None:
    employees = [
        employee("1", supervisor="3"),
        employee("2", supervisor="1"),
        employee("3", supervisor="2"),
        employee("4", supervisor="1"),
        employee("5", supervisor="5"),
    ]
    users = [user("u1", "1"), user("u2", "2", manager="u9"), user("u3", "3"), user("u4", "4")]

    plan = plan_for(employees, users)

    assert plan.changes == (
        created("5"),
        Change(Action.UPDATE, "4", "u4", "p4@example.com", (fc("manager", None, "1"),)),
    )
    assert plan.warnings == (
        Problem(
            "1",
            "manager_cycle",
            "employee 1 is in a reporting cycle (1 → 3 → 2 → 1) — manager left as it is in Lattice",
        ),
        Problem(
            "2",
            "manager_cycle",
            "employee 2 is in a reporting cycle (2 → 1 → 3 → 2) — manager left as it is in Lattice",
        ),
        Problem(
            "3",
            "manager_cycle",
            "employee 3 is in a reporting cycle (3 → 2 → 1 → 3) — manager left as it is in Lattice",
        ),
        Problem(
            "5",
            "manager_cycle",
            "employee 5 is in a reporting cycle (5 → 5) — manager left as it is in Lattice",
        ),
    )


def test_creates_run_managers_first_and_reports_depend_on_them() -> None:
    employees = [
        employee("1", supervisor="20"),
        employee("3", supervisor="1"),
        employee("2", supervisor="1"),
        employee("20"),
        employee("5", supervisor="9"),
        employee("9"),
        employee("7", supervisor="2"),
    ]
    users = [user("u9", "9"), user("u7", "7", manager="u9")]

    plan = plan_for(employees, users)

    assert plan.changes == (
        created("5", fc("manager", None, "9")),
        created("20"),
        created("1", fc("manager", None, "20"), depends_on="20"),
        created("2", fc("manager", None, "1"), depends_on="1"),
        created("3", fc("manager", None, "1"), depends_on="1"),
        Change(
            Action.UPDATE, "7", "u7", "p7@example.com", (fc("manager", "9", "2"),), depends_on="2"
        ),
    )


# ---------------------------------------------------------------------------------------------
# Determinism, the document and the checksum
# ---------------------------------------------------------------------------------------------


def sample() -> tuple[list[Employee], list[TargetUser], Config]:
    config = make_config(
        enabled=tuple(STANDARD_FIELDS),
        custom=(CustomAttribute("dynamic_1", "Cost Center", sensitive=True),),
        unmanaged_users="deactivate",
    )
    employees = [
        employee(
            str(n),
            supervisor=str(n // 3) if n > 2 else None,
            birthday=dt.date(1961, 7, 4),
            dynamic_1=f"CC-{n % 4}",
            email="dup@example.com" if n in (8, 9) else f"p{n}@example.com",
            status="inactive" if n % 11 == 0 else "active",
        )
        for n in range(1, 40)
    ]
    users = [user(f"u{n}", str(n), title="Old" if n % 5 else "Engineer") for n in range(1, 50, 2)]
    users += [user("x1", None, email="p4@example.com"), user("x2", None, email="x2@example.com")]
    return employees, users, config


def test_planning_does_not_depend_on_the_order_of_inputs() -> None:
    employees, users, config = sample()
    expected = render(
        compute_plan(
            SourceSnapshot(tuple(employees)), users, config, source=PERSONIO, target=LATTICE
        )
    )

    for seed in range(5):
        rng = random.Random(seed)
        rng.shuffle(employees)
        rng.shuffle(users)
        plan = compute_plan(
            SourceSnapshot(tuple(employees)), users, config, source=PERSONIO, target=LATTICE
        )
        assert render(plan) == expected


def render(plan: Plan) -> str:
    return json.dumps(plan_document(plan, redact=False), sort_keys=True)


def test_sensitive_values_are_redacted_in_the_document_but_not_in_the_checksum() -> None:
    employees, users, config = sample()
    plan = compute_plan(
        SourceSnapshot(tuple(employees)), users, config, source=PERSONIO, target=LATTICE
    )

    redacted = json.dumps(plan_document(plan), ensure_ascii=False)
    full = json.dumps(plan_document(plan, redact=False), ensure_ascii=False)

    assert "1961-07-04" not in redacted
    assert "CC-1" not in redacted
    assert '"birth_date": {"from": null, "to": "(redacted)"}' in redacted
    assert "1961-07-04" in full
    SCHEMA.validate(plan_document(seal_plan(plan, KEY)))
    # A different birthdate is a different plan, though its redacted document looks the same.
    changed = [
        dataclasses.replace(e, attributes={**e.attributes, "birthday": dt.date(1961, 7, 5)})
        for e in employees
    ]
    other = compute_plan(
        SourceSnapshot(tuple(changed)), users, config, source=PERSONIO, target=LATTICE
    )
    assert other.checksum != plan.checksum
    assert json.dumps(plan_document(dataclasses.replace(other, checksum=plan.checksum))) == (
        json.dumps(plan_document(plan))
    )


def test_a_redacted_value_that_is_cleared_stays_null() -> None:
    config = make_config(enabled=("birth_date",))
    users = [user("u1", "1", birth_date="1961-07-04")]

    plan = plan_for([employee("1")], users, config)

    assert plan_document(plan)["changes"] == [
        {
            "action": "update",
            "personio_id": "1",
            "lattice_id": "u1",
            "email": "p1@example.com",
            "fields": {"birth_date": {"from": "(redacted)", "to": None}},
        }
    ]


def test_the_checksum_is_sha256_of_the_changes_and_the_problem_codes_and_ids() -> None:
    employees, users, config = sample()
    plan = compute_plan(
        SourceSnapshot(tuple(employees)), users, config, source=PERSONIO, target=LATTICE
    )
    assert plan.errors  # the sample exercises both problem lists
    assert plan.warnings

    document = plan_document(plan, redact=False)
    changes = document["changes"]
    assert isinstance(changes, list)
    # Reasons are shown, not checksummed (wording, like problem messages).
    assert any("reason" in change for change in changes)
    body = {
        "format_version": document["format_version"],
        "changes": [{k: v for k, v in c.items() if k != "reason"} for c in changes],
        "warnings": problem_keys(document["warnings"]),
        "errors": problem_keys(document["errors"]),
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert plan.checksum == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    assert compute_checksum(plan) == plan.checksum
    # Population figures are not part of what is reviewed.
    assert compute_checksum(dataclasses.replace(plan, target_users=1, source_employees=1)) == (
        plan.checksum
    )


def problem_keys(problems: object) -> list[list[str]]:
    assert isinstance(problems, list)
    return sorted([problem["personio_id"] or "", problem["code"]] for problem in problems)


def test_a_plan_built_by_hand_still_gets_a_checksum_in_its_document() -> None:
    plan = Plan(changes=(Change(Action.DEACTIVATE, "1", "u1", "p1@example.com"),), unchanged=0)

    document = plan_document(plan)

    assert document["checksum"] == compute_checksum(plan)
    SCHEMA.validate(plan_document(seal_plan(plan, KEY)))


@pytest.mark.parametrize(
    "document",
    [
        {"format_version": 1},
        {"checksum": "md5:abc"},
        {
            "changes": [
                {
                    "action": "create",
                    "personio_id": "1",
                    "lattice_id": "u1",
                    "email": "x",
                    "fields": {},
                }
            ]
        },
        {
            "changes": [
                {
                    "action": "update",
                    "personio_id": "1",
                    "lattice_id": None,
                    "email": "x",
                    "fields": {},
                }
            ]
        },
        {
            "changes": [
                {
                    "action": "deactivate",
                    "personio_id": "1",
                    "lattice_id": "u1",
                    "email": "x",
                    "fields": {"title": {"from": "a", "to": None}},
                }
            ]
        },
        {"warnings": [{"personio_id": "1", "code": "X", "message": "m"}]},
        {
            "summary": {
                "create": -1,
                "link": 0,
                "reactivate": 0,
                "update": 0,
                "deactivate": 0,
                "unchanged": 0,
            }
        },
    ],
)
def test_the_schema_rejects_malformed_documents(document: dict[str, object]) -> None:
    valid = plan_document(seal_plan(Plan(changes=(), unchanged=0), KEY))
    SCHEMA.validate(valid)

    with pytest.raises(jsonschema.ValidationError):
        SCHEMA.validate({**valid, **document})


def test_the_plan_schema_is_a_valid_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA.schema)
    assert SCHEMA.schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_a_custom_attribute_read_in_another_case_is_the_mapped_one() -> None:
    # RFC 7643 §2.1: attribute names are case-insensitive; Lattice answers "cost center"
    config = make_config(custom=(CustomAttribute("dynamic_1", "Cost Center"),))
    same = user("u1", "1", **{"custom:cost center": "CC-100"})
    other = user("u2", "2", **{"custom:COST CENTER": "CC-old"})

    plan = plan_for(
        [employee("1", dynamic_1="CC-100"), employee("2", dynamic_1="CC-200")],
        [same, other],
        config,
    )

    assert plan.changes == (
        Change(
            Action.UPDATE,
            "2",
            "u2",
            "p2@example.com",
            (fc("custom:Cost Center", "CC-old", "CC-200"),),
        ),
    )
