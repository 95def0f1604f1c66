"""Parsing Personio's wire format into Employee / Problem, and the allowed-attributes check.
Pure functions only: no HTTP.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.model import (
    AttributeInfo,
    Employee,
    Problem,
    SourceSnapshot,
)
from reconciler.core.normalise import id_sort_key
from reconciler.errors import SourceDataError
from reconciler.sources.personio.parse import (
    check_allowed_attributes,
    compute_missing_attributes,
    compute_page_overlap,
    compute_snapshot,
    parse_attribute_catalogue,
    parse_employee,
    parse_employee_page,
    parse_tags,
)
from reconciler.sources.personio.profile import PERSONIO


def attr(label: str, value: object, kind: str = "standard") -> dict[str, object]:
    return {"label": label, "value": value, "type": kind, "universal_id": None}


def wire(source_id: object = 1234, **attributes: dict[str, object]) -> dict[str, object]:
    return {
        "type": "Employee",
        "attributes": {"id": attr("Employee ID", source_id, "integer"), **attributes},
    }


def parsed(**attributes: dict[str, object]) -> Employee:
    result = parse_employee(wire(**attributes))
    assert isinstance(result, Employee), result
    return result


def test_a_full_employee_is_parsed_attribute_by_attribute() -> None:
    raw = wire(
        first_name=attr("First name", "  Ada "),
        last_name=attr("Last name", "Lovelace"),
        preferred_name=attr("Preferred name", ""),
        email=attr("Email", "ada.lovelace@example.com"),
        status=attr("Status", "active"),
        employment_type=attr("Employment type", "internal"),
        position=attr("Position", "Engineer"),
        hire_date=attr("Hire date", "2014-11-09T00:00:00+01:00", "date"),
        termination_date=attr("Termination date", None, "date"),
        birthday=attr("Birthday", "1990-05-01T00:00:00+02:00", "date"),
        department=attr(
            "Department", {"type": "Department", "attributes": {"id": 7, "name": "Engineering"}}
        ),
        office=attr("Office", {"type": "Office", "attributes": {"id": 3, "name": "Berlin"}}),
        supervisor=attr(
            "Supervisor",
            {
                "type": "Employee",
                "attributes": {
                    "id": {"label": "ID", "value": 77},
                    "email": {"label": "Email", "value": "boss@example.com"},
                },
            },
        ),
        dynamic_1234567=attr("Cost center", "CC-100", "list"),
        dynamic_3456789=attr("Level", 4, "integer"),
        dynamic_4567890=attr("Probation end", "2015-05-09T00:00:00+02:00", "date"),
        dynamic_6789012=attr("Skills", '["Python", "Go"]', "tags"),
        dynamic_9999999=attr("Rate", "3.5", "decimal"),
    )
    assert parse_employee(raw) == Employee(
        source_id="1234",
        attributes={
            "id": "1234",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "preferred_name": None,
            "email": "ada.lovelace@example.com",
            "status": "active",
            "employment_type": "internal",
            "position": "Engineer",
            "hire_date": dt.date(2014, 11, 9),
            "termination_date": None,
            "birthday": dt.date(1990, 5, 1),
            "department": "Engineering",
            "office": "Berlin",
            "supervisor": "77",
            "dynamic_1234567": "CC-100",
            "dynamic_3456789": 4,
            "dynamic_4567890": dt.date(2015, 5, 9),
            "dynamic_6789012": ("Go", "Python"),
            "dynamic_9999999": 3.5,
        },
    )


@pytest.mark.parametrize(
    ("value", "expected"), [(1234, "1234"), ("1234", "1234"), (" 42 ", "42"), (5.0, "5")]
)
def test_the_id_becomes_a_string_however_it_arrives(value: object, expected: str) -> None:
    assert parse_employee(wire(value)) == Employee(expected, {"id": expected})


@pytest.mark.parametrize(
    "value",
    [
        "2014-11-09T00:00:00+01:00",
        "2014-11-09T23:30:00-05:00",  # the literal date, not converted to UTC
        "2014-11-09T00:00:00Z",
        "2014-11-09",
        " 2014-11-09 ",
        "2014-11-09 00:00",
    ],
)
def test_a_date_keeps_its_literal_date_part(value: str) -> None:
    employee = parsed(hire_date=attr("Hire date", value, "date"))
    assert employee.get("hire_date") == dt.date(2014, 11, 9)


def test_known_date_attributes_are_dates_even_when_typed_standard() -> None:
    employee = parsed(birthday=attr("Birthday", "1990-05-01T00:00:00+02:00", "standard"))
    assert employee.get("birthday") == dt.date(1990, 5, 1)


@pytest.mark.parametrize("value", ["", "  ", None, []])
def test_an_empty_date_is_none(value: object) -> None:
    assert parsed(termination_date=attr("Termination date", value, "date")).attributes == {
        "id": "1234",
        "termination_date": None,
    }


@pytest.mark.parametrize("value", ["09.11.2014", "2014-02-30", "soon", 20141109, {"y": 2014}])
def test_an_unreadable_date_turns_the_record_into_a_problem_naming_the_attribute(
    value: object,
) -> None:
    raw = wire(
        email=attr("Email", "ada.lovelace@example.com"),
        first_name=attr("First name", "Ada"),
        dynamic_4567890=attr("Probation end", value, "date"),
    )
    assert parse_employee(raw) == Problem(
        source_id="1234",
        code="invalid_date",
        message="employee 1234: dynamic_4567890 is not a date (expected YYYY-MM-DD); "
        "the employee is left untouched until it is fixed in Personio",
        email="ada.lovelace@example.com",
    )


def test_several_unreadable_dates_are_named_together_and_no_value_is_shown() -> None:
    problem = parse_employee(
        wire(
            hire_date=attr("Hire date", "2014-13-01", "date"),
            birthday=attr("Birthday", "1st of May 1990", "date"),
        )
    )
    assert isinstance(problem, Problem)
    assert problem.message.startswith("employee 1234: birthday, hire_date are not dates")
    assert "May" not in problem.message
    assert "2014-13" not in problem.message


@pytest.mark.parametrize("empty", ["", None, [], {}])
@pytest.mark.parametrize("key", ["department", "office", "team", "supervisor"])
def test_every_form_of_an_empty_nested_object_is_none(key: str, empty: object) -> None:
    assert parsed(**{key: attr(key, empty)}).get(key) is None


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("team", {"type": "Team", "attributes": {"id": 9, "name": " Platform "}}, "Platform"),
        ("department", {"type": "Department", "attributes": {"id": 12}}, None),  # no name
        ("department", "Engineering", "Engineering"),
        (
            "cost_centers",
            [
                {"type": "CostCenter", "attributes": {"id": 2, "name": "Ops", "percentage": 50}},
                {"type": "CostCenter", "attributes": {"id": 1, "name": "Dev", "percentage": 50}},
            ],
            ("Dev", "Ops"),
        ),
        ("supervisor", {"type": "Employee", "attributes": {"id": {"value": "0815"}}}, "0815"),
        ("supervisor", {"type": "Employee", "attributes": {"id": 12}}, "12"),
        ("supervisor", {"type": "Employee", "attributes": {}}, None),
    ],
)
def test_nested_objects_become_their_name_and_a_supervisor_its_id(
    key: str, value: object, expected: object
) -> None:
    assert parsed(**{key: attr(key, value)}).get(key) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["Python", " Go ", "Python"], ("Go", "Python")),
        ('["Python", "Go"]', ("Go", "Python")),
        ("Python, Go,", ("Go", "Python")),
        ("Python", ("Python",)),
        ('["Python", "Go"', ("Go", "Python")),  # broken JSON: the items are salvaged
        ("", None),
        ("[]", None),
        ([], None),
        (None, None),
    ],
)
def test_tags_become_a_sorted_tuple_however_they_arrive(value: object, expected: object) -> None:
    assert parse_tags(value) == expected
    assert parsed(dynamic_6789012=attr("Skills", value, "tags")).get("dynamic_6789012") == expected


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("integer", 4, 4),
        ("integer", "4", 4),
        ("integer", 4.0, 4),
        ("integer", "4.0", 4),
        ("integer", " ", None),
        ("decimal", "3.5", 3.5),
        ("decimal", "3,5", 3.5),
        ("decimal", 3, 3.0),
        ("decimal", None, None),
        ("integer", "four", "four"),  # kept as text: the mapping warns for number mappings
        ("decimal", "nan", "nan"),
    ],
)
def test_numbers_are_parsed_by_type_from_numbers_and_text(
    kind: str, value: object, expected: object
) -> None:
    result = parsed(dynamic_3456789=attr("Level", value, kind)).get("dynamic_3456789")
    assert result == expected
    assert type(result) is type(expected)


def test_text_is_trimmed_and_empty_text_is_none() -> None:
    employee = parsed(
        position=attr("Position", "  Engineer\n"),
        preferred_name=attr("Preferred name", "   "),
        dynamic_7890123=attr("Notes", "line one\nline two  ", "multiline"),
    )
    assert employee.attributes == {
        "id": "1234",
        "position": "Engineer",
        "preferred_name": None,
        "dynamic_7890123": "line one\nline two",
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"type": "Employee"},
            Problem(None, "unparsable_record", "an employee record has no attribute map"),
        ),
        (
            {"type": "Employee", "attributes": ["id", 1]},
            Problem(None, "unparsable_record", "an employee record has no attribute map"),
        ),
        (
            {"type": "Employee", "attributes": {"email": attr("Email", " ada@example.com ")}},
            Problem(None, "unparsable_record", "an employee record has no id", "ada@example.com"),
        ),
        (
            wire(1234, email=attr("Email", "ada@example.com"), position="Engineer"),  # type: ignore[arg-type]
            Problem(
                "1234",
                "unparsable_record",
                "employee 1234: attribute position is not a Personio attribute object",
                "ada@example.com",
            ),
        ),
        (
            wire(12.5, email=attr("Email", "ada@example.com")),
            Problem(None, "unparsable_record", "an employee record has no id", "ada@example.com"),
        ),
        (wire(None), Problem(None, "unparsable_record", "an employee record has no id")),
        (wire(True), Problem(None, "unparsable_record", "an employee record has no id")),
    ],
)
def test_a_record_without_id_or_attribute_map_is_an_unparsable_problem_keeping_its_email(
    raw: dict[str, object], expected: Problem
) -> None:
    assert parse_employee(raw) == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=8,
)
attribute_keys = st.sampled_from(
    ["id", "email", "hire_date", "department", "supervisor", "dynamic_1", "team", "birthday"]
)
attribute_types = st.sampled_from(["standard", "date", "integer", "decimal", "tags", "list", None])


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        attribute_keys,
        st.fixed_dictionaries({"value": json_values, "type": attribute_types}) | json_values,
    )
)
def test_any_json_record_parses_or_becomes_a_problem_and_never_raises(
    attributes: dict[str, object],
) -> None:
    result = parse_employee({"type": "Employee", "attributes": attributes})
    assert isinstance(result, Employee | Problem)


def test_snapshot_sorts_ids_numerically_and_collects_every_attribute_key() -> None:
    records: list[Employee | Problem] = [
        Employee("10", {"id": "10", "email": "a@example.com"}),
        Problem("9", "invalid_date", "employee 9: hire_date is not a date"),
        Employee("9a", {"id": "9a"}),
        Employee("2", {"id": "2", "status": "active"}),
        Problem(None, "unparsable_record", "an employee record has no id"),
    ]
    snapshot = compute_snapshot(records, {"employment_type"})
    assert snapshot == SourceSnapshot(
        employees=(
            Employee("2", {"id": "2", "status": "active"}),
            Employee("10", {"id": "10", "email": "a@example.com"}),
            Employee("9a", {"id": "9a"}),
        ),
        problems=(
            Problem(None, "unparsable_record", "an employee record has no id"),
            Problem("9", "invalid_date", "employee 9: hire_date is not a date"),
        ),
        attribute_keys=frozenset({"id", "email", "status", "employment_type"}),
    )


def test_numeric_ids_sort_before_other_ids_in_numeric_order() -> None:
    ids = ["100", "abc", "9", "010", "11"]
    assert sorted(ids, key=id_sort_key) == ["9", "010", "11", "100", "abc"]


def test_two_records_with_one_id_are_both_kept_for_the_mapping_to_report() -> None:
    first = Employee("7", {"id": "7", "email": "a@example.com"})
    second = Employee("7", {"id": "7", "email": "b@example.com"})
    assert compute_snapshot([first, second]).employees == (first, second)


def test_an_id_on_two_pages_is_reported_as_a_paging_overlap() -> None:
    page_one: list[Employee | Problem] = [
        Employee("1"),
        Employee("12"),
        Problem("30", "invalid_date", "…"),
    ]
    assert compute_page_overlap([page_one, [Employee("30"), Employee("12")]]) == "12"
    assert compute_page_overlap([page_one, [Problem("30", "invalid_date", "…")]]) == "30"


def test_the_same_id_twice_on_one_page_is_no_paging_overlap() -> None:
    assert compute_page_overlap([[Employee("7"), Employee("7")], [Employee("8")]]) is None
    assert compute_page_overlap([[Problem(None, "unparsable_record", "…")]] * 2) is None


def test_a_page_envelope_yields_its_total_and_records() -> None:
    payload = {
        "success": True,
        "metadata": {"current_page": 0, "total_pages": 3, "total_elements": 250},
        "offset": 0,
        "limit": 100,
        "data": [wire(1), "junk"],
    }
    assert parse_employee_page(payload, offset=0) == (250, [wire(1), {"attributes": None}])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "is not a JSON object"),
        ({"data": []}, "no usable metadata.total_elements"),
        ({"metadata": {"total_elements": -1}, "data": []}, "no usable metadata.total_elements"),
        ({"metadata": {"total_elements": True}, "data": []}, "no usable metadata.total_elements"),
        ({"metadata": {"total_elements": 3}, "data": {}}, "no 'data' list"),
    ],
)
def test_a_malformed_page_envelope_is_a_source_data_error(payload: object, message: str) -> None:
    with pytest.raises(SourceDataError, match=message) as caught:
        parse_employee_page(payload, offset=200)
    assert caught.value.where == "personio GET /company/employees offset=200"


def test_the_attribute_catalogue_is_parsed_in_personio_order() -> None:
    payload = {
        "success": True,
        "data": [
            {"key": "first_name", "label": "First name", "type": "standard", "universal_id": "x"},
            {"key": "dynamic_1234567", "label": "Cost center", "type": "list"},
            {"key": "dynamic_42", "label": "", "type": None},
        ],
    }
    assert parse_attribute_catalogue(payload) == (
        AttributeInfo("first_name", "First name", "standard", "x"),
        AttributeInfo("dynamic_1234567", "Cost center", "list"),
        AttributeInfo("dynamic_42", "dynamic_42", "standard"),
    )


@pytest.mark.parametrize(
    "payload", [{"success": True}, {"data": [{"label": "No key"}]}, {"data": ["first_name"]}, None]
)
def test_a_malformed_attribute_catalogue_is_a_source_data_error(payload: object) -> None:
    with pytest.raises(SourceDataError):
        parse_attribute_catalogue(payload)


def snapshot_with_keys(*keys: str) -> SourceSnapshot:
    return SourceSnapshot(
        employees=(Employee("1", dict.fromkeys(keys)),), attribute_keys=frozenset(keys)
    )


def test_missing_attributes_are_named_by_label_in_the_order_needed() -> None:
    snapshot = snapshot_with_keys("id", "first_name", "last_name", "status")
    needed = {**PERSONIO.required, "dynamic_1234567": "Cost center"}
    assert compute_missing_attributes(snapshot, needed) == (
        "Email",
        "Employment type",
        "Cost center",
    )


def test_nothing_is_missing_when_every_needed_attribute_was_returned() -> None:
    snapshot = snapshot_with_keys(*PERSONIO.required)
    assert compute_missing_attributes(snapshot, PERSONIO.required) == ()
    check_allowed_attributes(snapshot, PERSONIO.required)


def test_an_empty_snapshot_proves_nothing_about_allowed_attributes() -> None:
    empty = SourceSnapshot(employees=())
    assert compute_missing_attributes(empty, PERSONIO.required) == ()
    check_allowed_attributes(empty, PERSONIO.required)


def test_missing_ids_are_detected_even_when_every_record_became_a_problem() -> None:
    snapshot = compute_snapshot(
        [parse_employee({"attributes": {"email": attr("Email", "a@example.com")}})],
        {"email"},
    )
    assert compute_missing_attributes(snapshot, {"id": "Employee ID", "email": "Email"}) == (
        "Employee ID",
    )


def test_the_allowed_attributes_error_says_which_allowances_to_add_and_where() -> None:
    snapshot = snapshot_with_keys("id", "first_name", "last_name", "status")
    needed = {"employment_type": "Employment type", "email": "Email", "status": "Status"}
    with pytest.raises(SourceDataError) as caught:
        check_allowed_attributes(snapshot, needed)
    assert str(caught.value) == (
        "personio GET /company/employees: Personio did not return the attributes "
        "Employment type, Email — add them to the allowed attributes of the Personio API "
        "credential (Settings › Integrations › API credentials)"
    )


def test_tags_json_inside_a_string_round_trips_from_a_list() -> None:
    skills = ["Kubernetes", "Coaching", "Go"]
    assert parse_tags(json.dumps(skills)) == parse_tags(skills) == ("Coaching", "Go", "Kubernetes")
