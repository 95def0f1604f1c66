"""The seeded sample company: deterministic, realistically shaped, and carrying its quirks."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from reconciler.core.model import Employee
from reconciler.sandbox.company import (
    CUSTOM_ATTRIBUTES,
    DEPARTMENTS,
    ONBOARDING_START,
    SampleCompany,
    generate_company,
    sandbox_company,
)
from reconciler.sources.personio.parse import compute_snapshot, parse_employee


def employees_of(company: SampleCompany) -> dict[str, Employee]:
    snapshot = compute_snapshot(parse_employee(raw) for raw in company.employees)
    assert snapshot.problems == ()
    return {employee.source_id: employee for employee in snapshot.employees}


def wire_value(company: SampleCompany, source_id: str, key: str) -> object:
    for raw in company.employees:
        attributes = raw["attributes"]
        assert isinstance(attributes, dict)
        if str(attributes["id"]["value"]) == source_id:
            return attributes[key]["value"]
    raise KeyError(source_id)


def ids_noted(company: SampleCompany, text: str) -> list[str]:
    """Ids whose note has a part starting with ``text`` (notes join their parts with "; ")."""
    return [
        source_id
        for source_id, note in company.notes.items()
        if any(part.startswith(text) for part in note.split("; "))
    ]


@pytest.fixture(scope="module")
def company() -> SampleCompany:
    return generate_company(400, seed=11)


@pytest.fixture(scope="module")
def people(company: SampleCompany) -> dict[str, Employee]:
    return employees_of(company)


def test_the_same_seed_gives_the_same_company() -> None:
    assert generate_company(120, seed=3) == generate_company(120, seed=3)


def test_another_seed_gives_another_company() -> None:
    assert generate_company(120, seed=3).employees != generate_company(120, seed=4).employees


def test_the_sandbox_company_is_sixty_people_from_seed_seven() -> None:
    company = sandbox_company()
    assert company == generate_company(60, seed=7)
    assert len(company.employees) == 60


def test_the_catalogue_has_the_real_standard_labels_and_exactly_the_custom_attributes(
    company: SampleCompany,
) -> None:
    catalogue = {entry["key"]: (entry["label"], entry["type"]) for entry in company.attributes}
    assert catalogue == {
        "id": ("Employee ID", "integer"),
        "first_name": ("First name", "standard"),
        "last_name": ("Last name", "standard"),
        "preferred_name": ("Preferred name", "standard"),
        "email": ("Email", "standard"),
        "status": ("Status", "standard"),
        "employment_type": ("Employment type", "standard"),
        "position": ("Position", "standard"),
        "hire_date": ("Hire date", "date"),
        "termination_date": ("Termination date", "date"),
        "department": ("Department", "standard"),
        "office": ("Office", "standard"),
        "supervisor": ("Supervisor", "standard"),
        "dynamic_180883": ("Birthday", "date"),
        "dynamic_1234567": ("Cost center", "list"),
        "dynamic_2345678": ("T-shirt size", "list"),
        "dynamic_3456789": ("Level", "integer"),
        "dynamic_4567890": ("Probation end", "date"),
        "dynamic_5678901": ("Buddy", "standard"),
        "dynamic_6789012": ("Skills", "tags"),
        "dynamic_7890123": ("Salary band", "list"),
    }
    assert tuple((key, *catalogue[key]) for key, _, _ in CUSTOM_ATTRIBUTES) == CUSTOM_ATTRIBUTES


def test_every_employee_carries_every_catalogue_attribute_in_wire_format(
    company: SampleCompany,
) -> None:
    keys = [entry["key"] for entry in company.attributes]
    for raw in company.employees:
        assert raw["type"] == "Employee"
        attributes = raw["attributes"]
        assert isinstance(attributes, dict)
        assert list(attributes) == keys
        assert all(
            set(entry) == {"label", "value", "type", "universal_id"}
            for entry in attributes.values()
        )


def test_the_org_chart_is_one_ceo_with_department_heads_and_teams_of_three_to_nine(
    people: dict[str, Employee], company: SampleCompany
) -> None:
    without_manager = [e for e in people.values() if e.text("supervisor") is None]
    ceo = people["1"]
    assert ceo.get("position") == "Chief Executive Officer"
    assert ceo.text("supervisor") is None
    heads = [e for e in people.values() if e.text("supervisor") == "1"]
    assert {e.get("position") for e in heads} == {
        f"Head of {department}" for department in DEPARTMENTS[1:]
    }
    assert len({e.get("department") for e in people.values()} - {None}) == 8
    # Everyone without a manager is the CEO or a contractor (or the people whose department
    # was blanked by a quirk still have managers).
    assert {e.text("employment_type") for e in without_manager if e.source_id != "1"} <= {
        "external"
    }
    reports = Counter(e.text("supervisor") for e in people.values() if e.text("supervisor"))
    leaver = ids_noted(company, "leaver")[0]
    for manager, count in reports.items():
        assert manager in people
        limit = 10 if manager == leaver else 9  # the leaver quirk adds one report
        assert count <= limit


def test_the_manager_tree_has_no_cycles(people: dict[str, Employee]) -> None:
    for employee in people.values():
        seen = {employee.source_id}
        current = employee.text("supervisor")
        while current is not None:
            assert current not in seen
            seen.add(current)
            current = people[current].text("supervisor")


def test_emails_are_invented_unique_and_at_example_com_apart_from_the_quirk(
    people: dict[str, Employee], company: SampleCompany
) -> None:
    emails = Counter((e.text("email") or "").casefold() for e in people.values())
    assert all(email.endswith("@example.com") for email in emails)
    assert [email for email, count in emails.items() if count > 1] == [
        people[ids_noted(company, "duplicate email")[0]].text("email")
    ]


def test_names_include_accented_and_non_latin_ones_with_ascii_emails(
    people: dict[str, Employee],
) -> None:
    names = {e.text("first_name") or "" for e in people.values()}
    names |= {e.text("last_name") or "" for e in people.values()}
    assert any(not name.isascii() for name in names)
    assert any(any("\u0400" <= char <= "\u04ff" for char in name) for name in names)
    assert all((e.text("email") or "").isascii() for e in people.values())


@pytest.fixture(scope="module")
def large() -> SampleCompany:
    return generate_company(10_000)


def test_statuses_and_employment_types_have_a_realistic_mix(large: SampleCompany) -> None:
    people = employees_of(large)
    statuses = Counter(e.text("status") for e in people.values())
    types = Counter(e.text("employment_type") for e in people.values())
    assert set(statuses) == {"active", "onboarding", "leave", "inactive"}
    assert statuses["active"] > 8_000
    assert 700 <= types["external"] <= 1_300  # about 10 % contractors
    inactive = [e for e in people.values() if e.text("status") == "inactive"]
    assert all(isinstance(e.get("termination_date"), dt.date) for e in inactive)
    onboarding = [e for e in people.values() if e.text("status") == "onboarding"]
    assert all(e.get("hire_date") >= ONBOARDING_START for e in onboarding)  # type: ignore[operator]


def test_ten_thousand_employees_are_generated_with_unique_ids(large: SampleCompany) -> None:
    ids = {raw["attributes"]["id"]["value"] for raw in large.employees}  # type: ignore[index]
    assert ids == set(range(1, 10_001))


def test_custom_attributes_hold_the_documented_kinds_of_value(people: dict[str, Employee]) -> None:
    for employee in people.values():
        assert employee.get("dynamic_1234567") in {f"CC-{n}00" for n in range(1, 10)}
        assert employee.get("dynamic_2345678") in {"XS", "S", "M", "L", "XL", "XXL"}
        level = employee.get("dynamic_3456789")
        assert isinstance(level, int)
        assert 1 <= level <= 8
        probation = employee.get("dynamic_4567890")
        assert probation is None or isinstance(probation, dt.date)
        buddy = employee.get("dynamic_5678901")
        assert buddy is None or (buddy in people and buddy != employee.source_id)
        skills = employee.get("dynamic_6789012")
        assert skills is None or (isinstance(skills, tuple) and list(skills) == sorted(skills))
        band = employee.text("dynamic_7890123") or ""
        assert band in {f"B{n}" for n in range(1, 10)}


def test_skills_arrive_both_as_lists_and_as_json_inside_a_string(company: SampleCompany) -> None:
    kinds = {type(raw["attributes"]["dynamic_6789012"]["value"]) for raw in company.employees}  # type: ignore[index]
    assert kinds == {list, str}


def test_the_quirks_are_planted_and_noted(
    people: dict[str, Employee], company: SampleCompany
) -> None:
    in_scope = {"active", "onboarding", "leave"}

    first, second = ids_noted(company, "duplicate email")
    assert people[first].text("email") != people[second].text("email")
    assert (people[first].text("email") or "").casefold() == (
        people[second].text("email") or ""
    ).casefold()
    assert wire_value(company, second, "email") != (people[second].text("email") or "")  # spaces
    assert people[first].text("status") == people[second].text("status") == "active"

    (orphan,) = ids_noted(company, "manager out of scope")
    (leaver,) = ids_noted(company, "leaver")
    assert people[orphan].text("status") in in_scope
    assert people[orphan].text("supervisor") == leaver
    assert people[leaver].text("status") == "inactive"
    assert isinstance(people[leaver].get("termination_date"), dt.date)

    (rehire,) = ids_noted(company, "rehire")
    assert people[rehire].text("status") == "active"
    assert people[rehire].get("termination_date") < people[rehire].get("hire_date")  # type: ignore[operator]

    (onboarding,) = ids_noted(company, "onboarding")
    assert people[onboarding].text("status") == "onboarding"
    assert people[onboarding].get("hire_date") >= ONBOARDING_START  # type: ignore[operator]

    (on_leave,) = ids_noted(company, "on leave")
    assert people[on_leave].text("status") == "leave"

    (contractor,) = ids_noted(company, "contractor")
    assert people[contractor].text("employment_type") == "external"
    assert people[contractor].get("position")
    assert people[contractor].text("supervisor") in people

    preferred = ids_noted(company, "preferred name")
    assert len(preferred) == 3
    assert all(people[p].get("preferred_name") for p in preferred)

    empty_forms = {
        repr(wire_value(company, p, "department")) for p in ids_noted(company, "empty department")
    }
    assert empty_forms == {"''", "None", "[]"}
    assert all(people[p].get("department") is None for p in ids_noted(company, "empty department"))

    (plain,) = ids_noted(company, "hire date without time or offset")
    assert wire_value(company, plain, "hire_date") == people[plain].text("hire_date")


def test_without_quirks_the_company_is_clean() -> None:
    company = generate_company(400, seed=11, quirks=False)
    people = employees_of(company)
    assert company.notes == {}
    emails = [(e.text("email") or "").casefold() for e in people.values()]
    assert len(set(emails)) == len(emails)
    in_scope = {"active", "onboarding", "leave"}
    for employee in people.values():
        if employee.text("status") in in_scope and employee.text("supervisor") is not None:
            assert people[employee.text("supervisor")].text("status") in in_scope
        if employee.text("employment_type") == "external":
            assert employee.get("position") is None
            assert employee.text("supervisor") is None
        assert employee.get("department") is not None


def test_small_companies_are_generated_without_quirks() -> None:
    assert generate_company(39).notes == {}
    assert len(generate_company(1).employees) == 1
    assert generate_company(0).employees == ()
