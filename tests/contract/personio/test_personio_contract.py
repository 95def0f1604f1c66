"""Personio's published examples (README.md in this folder names each source) read by our
parser and auth, and answered in the same shape by our Personio emulator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from reconciler.core.model import Employee
from reconciler.sandbox.scenario import (
    PERSONIO_CLIENT_ID,
    PERSONIO_CLIENT_SECRET,
    build_sandbox,
)
from reconciler.sources.personio.auth import (
    PersonioAuth,
    is_invalid_token,
    personio_error_message,
)
from reconciler.sources.personio.parse import (
    parse_attribute_catalogue,
    parse_employee,
    parse_employee_page,
)

Load = Callable[[str], Any]
Compare = Callable[[Any, Any], list[str]]
BASE = "https://api.personio.de/v1"


def test_the_employees_list_example_parses(fixture_json: Load) -> None:
    total, records = parse_employee_page(fixture_json("personio/employees_list.json"), offset=0)
    assert (total, len(records)) == (2, 1)
    employee = parse_employee(records[0])
    assert isinstance(employee, Employee)
    attributes = employee.attributes
    assert employee.source_id == "1"
    assert attributes["email"] == "alexander.bergmann@example.com"
    assert (attributes["status"], attributes["employment_type"]) == ("active", "external")
    assert attributes["supervisor"] == "2"  # the nested Employee's id
    # "2014-11-09T00:00:00+01:00": the literal date, not moved to UTC (docs/decisions.md)
    assert attributes["hire_date"] == dt.date(2014, 11, 9)
    assert attributes["termination_date"] is None
    assert (attributes["department"], attributes["office"], attributes["team"]) == (
        "Customer Support",
        "Munich",
        "T_X",
    )
    assert attributes["cost_centers"] == ("Cost center 1",)
    assert attributes["dynamic_33400"] == dt.date(2021, 1, 1)  # a custom date attribute
    assert attributes["dynamic_24407"] == "Dr"
    assert attributes["fix_salary"] == 3000


def test_the_birth_date_is_a_custom_attribute_read_by_its_universal_id(fixture_json: Load) -> None:
    """GET /company/employees/{id}: the birthday is dynamic_180883, universal_id date_of_birth."""
    payload = fixture_json("personio/employee_by_id.json")
    employee = parse_employee(payload["data"])
    assert isinstance(employee, Employee)
    assert "birthday" not in employee.attributes
    assert employee.attributes["dynamic_180883"] == dt.date(1983, 8, 18)


def test_the_attribute_catalogue_example_parses(fixture_json: Load) -> None:
    catalogue = parse_attribute_catalogue(fixture_json("personio/attributes.json"))
    assert [(a.key, a.label, a.type, a.universal_id) for a in catalogue] == [
        ("first_name", "First Name", "standard", "first_name"),
        ("last_name", "Last Name", "standard", "last_name"),
        ("dynamic_1", "IBAN", "standard", "iban"),
        ("dynamic_2", "Marital status", "list", None),
        ("dynamic_3", "Language Skills", "tags", None),
    ]


@respx.mock
def test_the_auth_example_token_is_sent_as_the_bearer(fixture_json: Load) -> None:
    answer = fixture_json("personio/auth.json")
    login = respx.post(f"{BASE}/auth").respond(200, json=answer)
    data = respx.get(f"{BASE}/company/employees/attributes").respond(
        200, json=fixture_json("personio/attributes.json")
    )
    auth = PersonioAuth(BASE, "client-id-0001", "client-secret-0001")
    with httpx.Client(auth=auth) as client:
        assert client.get(f"{BASE}/company/employees/attributes").status_code == 200
    assert login.call_count == 1
    assert data.calls.last.request.headers["Authorization"] == f"Bearer {answer['data']['token']}"


@pytest.mark.parametrize(
    ("name", "status", "message", "invalid_token"),
    [
        ("error_401.json", 401, "Authorization is not provided", False),
        ("error_403.json", 403, "Provided authorization is not valid", True),
        ("employee_404.json", 404, "Es ist ein Problem aufgetreten", False),
    ],
)
def test_the_error_examples_map_to_our_messages(
    fixture_json: Load, name: str, status: int, message: str, invalid_token: bool
) -> None:
    payload = fixture_json(f"personio/{name}")
    assert payload["error"]["code"] == status  # error.code echoes the HTTP status
    response = httpx.Response(status, json=payload)
    assert personio_error_message(response) == message
    assert is_invalid_token(response) is invalid_token


@respx.mock
def test_the_403_example_on_a_data_request_re_authenticates_once(fixture_json: Load) -> None:
    token = fixture_json("personio/auth.json")
    login = respx.post(f"{BASE}/auth").respond(200, json=token)
    route = respx.get(f"{BASE}/company/employees/attributes")
    route.side_effect = [
        httpx.Response(403, json=fixture_json("personio/error_403.json")),
        httpx.Response(200, json=fixture_json("personio/attributes.json")),
    ]
    auth = PersonioAuth(BASE, "client-id-0001", "client-secret-0001")
    with httpx.Client(auth=auth) as client:
        assert client.get(f"{BASE}/company/employees/attributes").status_code == 200
    assert (login.call_count, route.call_count) == (2, 2)


# -- our emulator answers in the published shape ---------------------------------------------


@pytest.fixture
def emulator() -> httpx.Client:
    box = build_sandbox(employees=12, drift=False)
    return httpx.Client(base_url=BASE, transport=box.personio.transport())


def _token(client: httpx.Client) -> dict[str, str]:
    body = {"client_id": PERSONIO_CLIENT_ID, "client_secret": PERSONIO_CLIENT_SECRET}
    token = client.post("/auth", json=body).json()["data"]["token"]
    return {"Authorization": f"Bearer {token}"}


def test_the_emulators_auth_answer_has_the_published_shape(
    emulator: httpx.Client, fixture_json: Load, differences: Compare
) -> None:
    body = {"client_id": PERSONIO_CLIENT_ID, "client_secret": PERSONIO_CLIENT_SECRET}
    ours = emulator.post("/auth", json=body).json()
    published = fixture_json("personio/auth.json")
    assert ours.keys() == published.keys()
    assert ours["data"].keys() == published["data"].keys()
    assert differences(published, ours) == []


def test_the_emulators_employee_page_has_the_published_shape(
    emulator: httpx.Client, fixture_json: Load, differences: Compare
) -> None:
    ours = emulator.get("/company/employees", headers=_token(emulator)).json()
    published = fixture_json("personio/employees_list.json")
    assert ours.keys() == published.keys()
    assert ours["metadata"].keys() == published["metadata"].keys()
    assert ours["limit"] == 50  # Personio's default page size (docs/decisions.md)
    theirs = published["data"][0]["attributes"]
    for record in ours["data"]:
        assert record.keys() == published["data"][0].keys()
        for key, entry in record["attributes"].items():
            # every entry carries label, value, type and universal_id, as Personio's do
            assert {"label", "value", "type", "universal_id"} <= entry.keys(), key
        shared = {key: record["attributes"][key] for key in theirs if key in record["attributes"]}
        assert differences({k: theirs[k] for k in shared}, shared) == []
    # nested objects (department, office, supervisor) come as Personio nests them
    nested = [r["attributes"]["supervisor"]["value"] for r in ours["data"]]
    assert any(value is not None for value in nested)


def test_the_emulators_attribute_catalogue_has_the_published_shape(
    emulator: httpx.Client, fixture_json: Load, differences: Compare
) -> None:
    ours = emulator.get("/company/employees/attributes", headers=_token(emulator)).json()
    published = fixture_json("personio/attributes.json")
    assert ours.keys() == published.keys()
    for entry in ours["data"]:
        assert entry.keys() == published["data"][0].keys(), entry["key"]
    assert differences(published, ours) == []


@pytest.mark.parametrize(
    ("headers", "name"),
    [({}, "error_401.json"), ({"Authorization": "Bearer papi-0000000000"}, "error_403.json")],
)
def test_the_emulators_token_errors_are_the_published_ones(
    emulator: httpx.Client, fixture_json: Load, headers: dict[str, str], name: str
) -> None:
    answer = emulator.get("/company/employees", headers=headers)
    published = fixture_json(f"personio/{name}")
    assert (answer.status_code, answer.json()) == (published["error"]["code"], published)
