"""Mapping: Personio employees + config → desired Lattice users (scope, rules, normalisation)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from reconciler.core.mapping import (
    MappingResult,
    canonical_custom_fields,
    compute_desired_users,
    is_in_scope,
    needed_attributes,
    normalise_value,
    resolve_sources,
)
from reconciler.core.model import (
    OPT_IN_FIELDS,
    STANDARD_FIELDS,
    AttributeInfo,
    AttrValue,
    Config,
    CustomAttribute,
    CustomType,
    DesiredUser,
    Employee,
    FieldSetting,
    FieldValue,
    LatticeSettings,
    PersonioSettings,
    Problem,
    SecretRef,
    SyncSettings,
    TargetUser,
)
from reconciler.core.normalise import id_sort_key
from reconciler.errors import ConfigError, ConfigProblem
from reconciler.sources.personio.profile import PERSONIO
from reconciler.targets.lattice.profile import LATTICE


def make_config(
    *,
    disabled: tuple[str, ...] = (),
    opt_in: tuple[str, ...] = (),
    sources: dict[str, str] | None = None,
    custom: tuple[CustomAttribute, ...] = (),
) -> Config:
    sources = sources or {}
    return Config(
        personio=PersonioSettings(
            "https://api.personio.de/v1", SecretRef("PID"), SecretRef("PSECRET"), "test-app"
        ),
        lattice=LatticeSettings("https://api.latticehq.com/scim/v2", SecretRef("LTOKEN")),
        fields=tuple(
            FieldSetting(
                name,
                name not in disabled and (name not in OPT_IN_FIELDS or name in opt_in),
                sources.get(name, source),
            )
            for name, source in PERSONIO.default_sources.items()
        ),
        custom_attributes=custom,
    )


def employee(source_id: str, **attributes: AttrValue) -> Employee:
    base: dict[str, AttrValue] = {
        "id": source_id,
        "email": f"person{source_id}@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "status": "active",
        "employment_type": "internal",
    }
    base.update(attributes)
    return Employee(source_id, base)


def names_only(**extra: FieldValue) -> dict[str, FieldValue]:
    """The fields of a desired user built by ``employee`` with every standard field unset."""
    fields: dict[str, FieldValue] = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "preferred_name": None,
        "title": None,
        "start_date": None,
        "department": None,
        "manager": None,
        "birth_date": None,
    }
    fields.update(extra)
    return fields


CATALOGUE = (
    AttributeInfo("first_name", "First name", "standard"),
    AttributeInfo("position", "Position", "standard"),
    AttributeInfo("hire_date", "Hire date", "date"),
    AttributeInfo("department", "Department", "standard"),
    AttributeInfo("supervisor", "Supervisor", "standard"),
    AttributeInfo("birthday", "Birthday", "date"),
    AttributeInfo("preferred_name", "Preferred name", "standard"),
    AttributeInfo("dynamic_1234567", "Cost center", "list"),
    AttributeInfo("dynamic_2345678", "T-shirt size", "list"),
)


# ---------------------------------------------------------------------------------------------
# resolve_sources / needed_attributes
# ---------------------------------------------------------------------------------------------


def test_labels_resolve_to_keys_case_insensitively_and_keys_stay() -> None:
    config = make_config(
        sources={"title": "  POSITION ", "department": "department"},
        custom=(
            CustomAttribute("cost CENTER", "Cost Center"),
            CustomAttribute("dynamic_2345678", "Shirt"),
        ),
    )

    resolved = resolve_sources(config, CATALOGUE, PERSONIO)

    assert resolved.field("title").source == "position"
    assert resolved.field("department").source == "department"
    assert resolved.custom_attributes == (
        CustomAttribute("dynamic_1234567", "Cost Center"),
        CustomAttribute("dynamic_2345678", "Shirt"),
    )


def test_an_exact_key_wins_over_a_label_that_happens_to_match_it() -> None:
    catalogue = (
        AttributeInfo("dynamic_1", "position", "standard"),
        AttributeInfo("position", "Job title", "standard"),
    )
    resolved = resolve_sources(
        make_config(disabled=("start_date",)), (*CATALOGUE, *catalogue), PERSONIO
    )

    assert resolved.field("title").source == "position"


def test_unknown_sources_are_all_reported_with_their_paths() -> None:
    config = make_config(
        sources={"title": "Job Title"},
        custom=(
            CustomAttribute("dynamic_1234567", "Cost Center"),
            CustomAttribute("Cost centre", "Cost Center 2"),
            CustomAttribute("Shoe size", "Shoe"),
        ),
    )

    with pytest.raises(ConfigError) as caught:
        resolve_sources(config, CATALOGUE, PERSONIO)

    hint = "check the spelling, or allow the attribute on the Personio API credential"
    assert caught.value.problems == (
        ConfigProblem("fields.title.source", f"Personio has no attribute 'Job Title' — {hint}"),
        ConfigProblem(
            "custom_attributes[1].personio", f"Personio has no attribute 'Cost centre' — {hint}"
        ),
        ConfigProblem(
            "custom_attributes[2].personio", f"Personio has no attribute 'Shoe size' — {hint}"
        ),
    )
    assert caught.value.source == "config"


def test_opt_in_fields_resolve_their_default_sources_by_label_when_switched_on() -> None:
    catalogue = (
        *CATALOGUE,
        AttributeInfo("gender", "Geschlecht", "standard", "gender"),
        AttributeInfo("dynamic_7000001", "ETHNICITY", "list"),
        AttributeInfo("dynamic_7000002", "Sexual Orientation", "list"),
    )
    config = make_config(opt_in=("gender", "ethnicity", "sexual_orientation"))

    resolved = resolve_sources(config, catalogue, PERSONIO)

    assert [(s.name, s.enabled, s.source) for s in resolved.fields[6:]] == [
        ("gender", True, "gender"),
        ("ethnicity", True, "dynamic_7000001"),
        ("sexual_orientation", True, "dynamic_7000002"),
    ]
    person = employee("12", gender="Female", dynamic_7000001=" Asian ", dynamic_7000002=None)
    result = compute_desired_users([person], resolved, source=PERSONIO, target=LATTICE)
    assert {k: result.desired[0].fields[k] for k in ("gender", "ethnicity")} == {
        "gender": "Female",
        "ethnicity": "Asian",
    }
    assert result.desired[0].fields["sexual_orientation"] is None


def test_opt_in_fields_left_off_are_neither_resolved_nor_mapped() -> None:
    config = make_config()  # no catalogue entry for any of them: not checked while off

    resolved = resolve_sources(config, CATALOGUE, PERSONIO)
    result = compute_desired_users(
        [employee("12", gender="Female")], resolved, source=PERSONIO, target=LATTICE
    )

    assert "gender" not in result.desired[0].fields


def test_a_disabled_field_is_not_checked_against_the_catalogue() -> None:
    config = make_config(disabled=("title",), sources={"title": "Nonexistent"})

    resolved = resolve_sources(config, CATALOGUE, PERSONIO)

    assert resolved.field("title") == FieldSetting("title", False, "Nonexistent")


def test_needed_attributes_lists_required_enabled_and_custom_sources() -> None:
    config = make_config(
        disabled=("birth_date", "preferred_name"),
        sources={"department": "dynamic_9"},
        custom=(
            CustomAttribute("dynamic_1234567", "Cost Center"),
            CustomAttribute("email", "Work mail"),
        ),
    )

    assert needed_attributes(config, PERSONIO) == {
        "id": "Employee ID",
        "email": "Email",
        "first_name": "First name",
        "last_name": "Last name",
        "status": "Status",
        "employment_type": "Employment type",
        "position": "Position",
        "hire_date": "Hire date",
        "dynamic_9": "dynamic_9 (source of department)",
        "supervisor": "Supervisor",
        "dynamic_1234567": "dynamic_1234567 (custom attribute 'Cost Center')",
    }


# ---------------------------------------------------------------------------------------------
# Scope
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("employment_type", "status", "expected"),
    [
        ("internal", "active", True),
        ("internal", "leave", True),
        (" Internal ", "ACTIVE", True),
        ("internal", "onboarding", False),
        ("internal", "inactive", False),
        ("external", "active", False),
        (None, "active", False),
        ("internal", None, False),
    ],
)
def test_scope_is_employment_type_and_status(
    employment_type: str | None, status: str | None, expected: bool
) -> None:
    sync = SyncSettings(employee_types=("internal",), statuses=("active", "leave"))
    person = employee("1", employment_type=employment_type, status=status)

    assert is_in_scope(person, sync, PERSONIO) is expected


# ---------------------------------------------------------------------------------------------
# compute_desired_users
# ---------------------------------------------------------------------------------------------


def test_an_employee_maps_every_enabled_field_normalised() -> None:
    person = employee(
        "12",
        email="  Ada.Lovelace@Example.COM ",
        first_name=" Ada ",
        last_name="Lovelace",
        preferred_name="",
        position="  Engineer ",
        hire_date=dt.date(2020, 1, 15),
        department="Research",
        supervisor="7",
        birthday=dt.date(1961, 7, 4),
    )
    boss = employee("7")

    result = compute_desired_users([person, boss], make_config(), source=PERSONIO, target=LATTICE)

    assert result == MappingResult(
        desired=(
            DesiredUser("7", "person7@example.com", "internal", names_only()),
            DesiredUser(
                "12",
                "ada.lovelace@example.com",
                "internal",
                {
                    "first_name": "Ada",
                    "last_name": "Lovelace",
                    "preferred_name": None,
                    "title": "Engineer",
                    "start_date": "2020-01-15",
                    "department": "Research",
                    "manager": "7",
                    "birth_date": "1961-07-04",
                },
            ),
        ),
    )


def test_contractor_gets_no_title_and_no_manager() -> None:
    contractor = employee("5", employment_type="external", position="Consultant", supervisor="1")

    result = compute_desired_users(
        [contractor, employee("1")], make_config(), source=PERSONIO, target=LATTICE
    )

    fields = dict(names_only())
    del fields["title"], fields["manager"]
    assert result.desired[1] == DesiredUser("5", "person5@example.com", "external", fields)


def test_disabled_fields_are_absent_so_they_are_never_compared() -> None:
    config = make_config(disabled=("birth_date", "title", "manager", "preferred_name"))

    result = compute_desired_users(
        [employee("1", birthday=dt.date(1961, 7, 4))], config, source=PERSONIO, target=LATTICE
    )

    assert result.desired == (
        DesiredUser(
            "1",
            "person1@example.com",
            "internal",
            {"first_name": "Ada", "last_name": "Lovelace", "start_date": None, "department": None},
        ),
    )


def test_a_field_can_be_fed_from_another_attribute() -> None:
    config = make_config(sources={"title": "dynamic_42"})

    result = compute_desired_users(
        [employee("1", dynamic_42=" Staff ", position="x")], config, source=PERSONIO, target=LATTICE
    )

    assert result.desired[0].fields["title"] == "Staff"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("  text ", "text"),
        ("   ", None),
        (True, "true"),
        (False, "false"),
        (7, 7),
        (7.0, 7),
        (7.25, 7.25),
        (dt.date(2021, 3, 4), "2021-03-04"),
        (dt.datetime(2021, 3, 4, 23, 59), "2021-03-04"),
        (("b", " a", "c "), "a, b, c"),
        ((" ", ""), None),
    ],
)
def test_values_are_normalised_the_way_lattice_compares_them(
    value: AttrValue, expected: object
) -> None:
    assert normalise_value(value) == expected


def test_a_supervisor_id_of_any_type_becomes_a_string() -> None:
    result = compute_desired_users(
        [employee("2", supervisor=1), employee("1")], make_config(), source=PERSONIO, target=LATTICE
    )

    assert result.desired[1].fields["manager"] == "1"


def test_missing_or_invalid_email_is_an_error_and_blocks_the_person() -> None:
    people = [
        employee("1", email=None),
        employee("2", email="not an email"),
        employee("3", email=42),
        employee("4"),
    ]

    result = compute_desired_users(people, make_config(), source=PERSONIO, target=LATTICE)

    assert result == MappingResult(
        desired=(DesiredUser("4", "person4@example.com", "internal", names_only()),),
        errors=(
            Problem(
                "1",
                "invalid_email",
                "employee 1 has no email — fix it in Personio; left untouched",
            ),
            Problem(
                "2",
                "invalid_email",
                "employee 2 has an email that is not a valid address — fix it in Personio; "
                "left untouched",
            ),
            Problem(
                "3",
                "invalid_email",
                "employee 3 has an email that is not a valid address — fix it in Personio; "
                "left untouched",
            ),
        ),
        blocked_ids=frozenset({"1", "2", "3"}),
    )


def test_two_employees_with_one_email_are_both_blocked() -> None:
    people = [
        employee("10", email="Same@example.com"),
        employee("9", email=" same@example.com"),
        employee("11", email="same@example.com", status="inactive"),
        employee("12"),
    ]

    result = compute_desired_users(people, make_config(), source=PERSONIO, target=LATTICE)

    assert result == MappingResult(
        desired=(DesiredUser("12", "person12@example.com", "internal", names_only()),),
        errors=(
            Problem(
                "9",
                "duplicate_email",
                "employee 9 has the same email as employee 10 — fix it in Personio; "
                "both left untouched",
                email="same@example.com",
            ),
            Problem(
                "10",
                "duplicate_email",
                "employee 10 has the same email as employee 9 — fix it in Personio; "
                "both left untouched",
                email="same@example.com",
            ),
        ),
        out_of_scope_ids=frozenset({"11"}),
        blocked_ids=frozenset({"9", "10"}),
        blocked_emails=frozenset({"same@example.com"}),
    )
    assert "same@example.com" not in " ".join(p.message for p in result.errors)


def test_one_personio_id_returned_twice_blocks_it() -> None:
    people = [employee("3"), employee("3", email="other@example.com"), employee("4")]

    result = compute_desired_users(people, make_config(), source=PERSONIO, target=LATTICE)

    assert result == MappingResult(
        desired=(DesiredUser("4", "person4@example.com", "internal", names_only()),),
        errors=(
            Problem(
                "3",
                "duplicate_personio_id",
                "Personio returned employee 3 2 times — left untouched",
            ),
        ),
        blocked_ids=frozenset({"3"}),
        blocked_emails=frozenset({"person3@example.com", "other@example.com"}),
    )


def test_a_blank_status_or_employment_type_is_an_error_not_a_leaver() -> None:
    people = [
        employee("1", status=" "),
        employee("2", employment_type=None),
        employee("3", status=None, employment_type="", email=None),
        employee("4"),
    ]

    result = compute_desired_users(people, make_config(), source=PERSONIO, target=LATTICE)

    assert result == MappingResult(
        desired=(DesiredUser("4", "person4@example.com", "internal", names_only()),),
        errors=(
            Problem(
                "1",
                "missing_scope",
                "employee 1 has no status — fix it in Personio; left untouched",
            ),
            Problem(
                "2",
                "missing_scope",
                "employee 2 has no employment type — fix it in Personio; left untouched",
            ),
            Problem(
                "3",
                "missing_scope",
                "employee 3 has no status and employment type — fix it in Personio; left untouched",
            ),
        ),
        blocked_ids=frozenset({"1", "2", "3"}),
        blocked_emails=frozenset({"person1@example.com", "person2@example.com"}),
    )


def test_out_of_scope_employees_produce_no_desired_user_and_no_errors() -> None:
    people = [employee("1", status="inactive", email=None), employee("2", status="leave")]

    result = compute_desired_users(people, make_config(), source=PERSONIO, target=LATTICE)

    assert result == MappingResult(
        desired=(DesiredUser("2", "person2@example.com", "internal", names_only()),),
        out_of_scope_ids=frozenset({"1"}),
    )


def custom_config(kind: CustomType, sensitive: bool = False) -> Config:
    return make_config(
        disabled=tuple(STANDARD_FIELDS),
        custom=(CustomAttribute("dynamic_1", "Thing", kind, sensitive),),
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  CC-100 ", "CC-100"),
        ("", None),
        (None, None),
        (("b", "a"), "a, b"),
        (dt.date(2024, 2, 29), "2024-02-29"),
        (3, "3"),
        (3.0, "3"),
        (2.5, "2.5"),
        (True, "true"),
    ],
)
def test_custom_text_values_become_strings(value: AttrValue, expected: str | None) -> None:
    result = compute_desired_users(
        [employee("1", dynamic_1=value)], custom_config("text"), source=PERSONIO, target=LATTICE
    )

    assert dict(result.desired[0].fields) == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "custom:Thing": expected,
    }
    assert result.warnings == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [(4, 4), (4.0, 4), (4.5, 4.5), (" 12 ", 12), ("3.25", 3.25), ("  ", None), (None, None)],
)
def test_custom_number_values_become_numbers(value: AttrValue, expected: float | None) -> None:
    result = compute_desired_users(
        [employee("1", dynamic_1=value)], custom_config("number"), source=PERSONIO, target=LATTICE
    )

    assert result.desired[0].fields["custom:Thing"] == expected
    assert result.warnings == ()


@pytest.mark.parametrize(
    "value", ["twelve", True, dt.date(2020, 1, 1), ("1", "2"), float("nan"), "inf"]
)
def test_a_non_numeric_custom_number_warns_and_leaves_the_attribute_alone(
    value: AttrValue,
) -> None:
    result = compute_desired_users(
        [employee("8", dynamic_1=value)], custom_config("number"), source=PERSONIO, target=LATTICE
    )

    assert result == MappingResult(
        desired=(
            DesiredUser(
                "8",
                "person8@example.com",
                "internal",
                {"first_name": "Ada", "last_name": "Lovelace"},
            ),
        ),
        warnings=(
            Problem(
                "8",
                "invalid_custom_value",
                "employee 8: custom attribute 'Thing' (dynamic_1) is not a valid number — "
                "left unchanged",
            ),
        ),
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.date(2024, 2, 29), "2024-02-29"),
        ("2014-11-09T00:00:00+01:00", "2014-11-09"),
        (" 2014-11-09 ", "2014-11-09"),
        ("", None),
        (None, None),
    ],
)
def test_custom_dates_become_iso_text(value: AttrValue, expected: str | None) -> None:
    result = compute_desired_users(
        [employee("1", dynamic_1=value)], custom_config("date"), source=PERSONIO, target=LATTICE
    )

    assert result.desired[0].fields["custom:Thing"] == expected
    assert result.warnings == ()


@pytest.mark.parametrize("value", ["next tuesday", 20240101])
def test_a_custom_date_that_is_not_a_date_warns(value: AttrValue) -> None:
    result = compute_desired_users(
        [employee("1", dynamic_1=value)], custom_config("date"), source=PERSONIO, target=LATTICE
    )

    assert "custom:Thing" not in result.desired[0].fields
    assert result.warnings == (
        Problem(
            "1",
            "invalid_custom_value",
            "employee 1: custom attribute 'Thing' (dynamic_1) is not a valid date — left unchanged",
        ),
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (("Python", "Go"), ("Go", "Python")),
        (("Go", " Go ", "Python", ""), ("Go", "Python")),
        (("Cafe\u0301",), ("Café",)),
        (" Go ", ("Go",)),
        ((), None),
        ("  ", None),
        (None, None),
    ],
)
def test_custom_multi_select_values_become_their_sorted_distinct_choices(
    value: AttrValue, expected: FieldValue
) -> None:
    result = compute_desired_users(
        [employee("1", dynamic_1=value)],
        custom_config("multi_select"),
        source=PERSONIO,
        target=LATTICE,
    )

    assert result.desired[0].fields["custom:Thing"] == expected
    assert result.warnings == ()


@pytest.mark.parametrize("value", [3, 2.5, True, dt.date(2020, 1, 1)])
def test_a_custom_multi_select_that_is_not_a_list_or_text_warns(value: AttrValue) -> None:
    result = compute_desired_users(
        [employee("1", dynamic_1=value)],
        custom_config("multi_select"),
        source=PERSONIO,
        target=LATTICE,
    )

    assert "custom:Thing" not in result.desired[0].fields
    assert [(p.source_id, p.code) for p in result.warnings] == [("1", "invalid_custom_value")]


def target_with(value: FieldValue, name: str = "custom:Thing") -> TargetUser:
    return TargetUser("u1", "person1@example.com", True, "1", {"first_name": "Ada", name: value})


@pytest.mark.parametrize(
    ("kind", "held", "expected"),
    [
        ("multi_select", ("Python", "Go", "Go"), ("Go", "Python")),
        ("multi_select", "Go", ("Go",)),
        ("multi_select", (" ",), None),
        ("text", ("Go", "Python"), "Go, Python"),
        ("date", "2026-05-01T00:00:00Z", "2026-05-01"),
        ("date", "not a date at all", "not a date at all"),
        ("number", 3, 3),
    ],
)
def test_target_values_are_read_in_their_attribute_types_form(
    kind: CustomType, held: FieldValue, expected: FieldValue
) -> None:
    (user,) = canonical_custom_fields([target_with(held, "custom:thing")], custom_config(kind))

    assert user.fields == {"first_name": "Ada", "custom:Thing": expected}


def test_target_users_already_in_canonical_form_are_returned_as_they_are() -> None:
    user = target_with(("Go", "Python"))

    assert canonical_custom_fields([user], custom_config("multi_select"))[0] is user


def test_a_custom_user_attribute_holds_the_referenced_employees_email() -> None:
    people = [
        employee("1", dynamic_1="2"),
        employee("2", email="Buddy@Example.com"),
        employee("3", dynamic_1=2),
        employee("4", dynamic_1=None),
    ]

    result = compute_desired_users(people, custom_config("user"), source=PERSONIO, target=LATTICE)

    assert [d.fields["custom:Thing"] for d in result.desired] == [
        "buddy@example.com",
        None,
        "buddy@example.com",
        None,
    ]
    assert result.warnings == ()


def test_a_custom_user_reference_to_someone_unknown_or_out_of_scope_warns_and_is_empty() -> None:
    people = [
        employee("1", dynamic_1="99"),
        employee("2", dynamic_1="3"),
        employee("3", status="inactive"),
    ]

    result = compute_desired_users(people, custom_config("user"), source=PERSONIO, target=LATTICE)

    assert [d.fields["custom:Thing"] for d in result.desired] == [None, None]
    message = (
        "custom attribute 'Thing' (dynamic_1) refers to an employee who is unknown, out of "
        "scope or has errors — left empty"
    )
    assert result.warnings == (
        Problem("1", "custom_user_not_found", f"employee 1: {message}"),
        Problem("2", "custom_user_not_found", f"employee 2: {message}"),
    )


def test_mapping_does_not_depend_on_the_order_of_employees() -> None:
    people = [
        employee(str(n), supervisor=str(n // 2), email=f"p{n % 7}@example.com")
        for n in range(1, 30)
    ]
    config = make_config()
    expected = compute_desired_users(people, config, source=PERSONIO, target=LATTICE)

    for seed in range(5):
        shuffled = people[:]
        random.Random(seed).shuffle(shuffled)
        assert compute_desired_users(shuffled, config, source=PERSONIO, target=LATTICE) == expected


def test_personio_ids_sort_numerically_then_as_text_then_missing_last() -> None:
    ids: list[str | None] = [None, "b", "10", "9", "a", "010"]

    assert sorted(ids, key=id_sort_key) == ["9", "010", "10", "a", "b", None]
