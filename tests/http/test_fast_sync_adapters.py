"""The fast run's adapters: Personio's ``updated_since`` (emulator and client), the SCIM look-ups
(respx, our Lattice emulator and scim2-server) and the ``--updated-since`` parser."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest
import respx
from scim2_server.memory import InMemoryStorage
from scim2_server.testserver.application import BearerTokenApplication
from scim2_server.utils import load_default_provider

from reconciler.app import parse_since
from reconciler.edges.http import NO_WAIT_RETRY
from reconciler.errors import ApiError
from reconciler.sandbox.company import generate_company
from reconciler.sandbox.lattice_emulator import LatticeEmulator
from reconciler.sandbox.personio_emulator import PersonioCredential, PersonioEmulator
from reconciler.sources.personio.client import PersonioClient
from reconciler.targets.scim.client import LatticeReader
from reconciler.targets.scim.resources import LIST_RESPONSE_URN

PERSONIO = "http://personio.test/v1"
LATTICE = "https://lattice.example.com/scim/v2"
NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


def personio_emulator(clock: Clock, employees: int = 30) -> PersonioEmulator:
    company = generate_company(employees, seed=3)
    return PersonioEmulator(
        company.employees,
        company.attributes,
        credentials={"id": PersonioCredential("secret")},
        clock=clock,
    )


def personio_client(emulator: PersonioEmulator | None = None, **options: object) -> PersonioClient:
    settings: dict[str, object] = {
        "base_url": PERSONIO,
        "client_id": "id",
        "client_secret": "secret",
        "app_id": "test-app",
        "retry": NO_WAIT_RETRY,
        "requests_per_second": 0,
    }
    if emulator is not None:
        settings["transport"] = emulator.transport()
    settings.update(options)
    return PersonioClient(**settings)  # type: ignore[arg-type]


def login(emulator: PersonioEmulator) -> str:
    answer = emulator(
        httpx.Request(
            "POST", f"{PERSONIO}/auth", json={"client_id": "id", "client_secret": "secret"}
        )
    )
    token = json.loads(answer.content)["data"]["token"]
    assert isinstance(token, str)
    return token


# ---------------------------------------------------------------------------------------------
# Personio: the emulator keeps update times, the client reads them in one request
# ---------------------------------------------------------------------------------------------


def test_updated_since_returns_exactly_the_employees_edited_after_the_time_in_one_answer() -> None:
    clock = Clock()
    emulator = personio_emulator(clock)
    clock.now = NOW + dt.timedelta(minutes=10)
    emulator.update_employee(4, "position", "Chief Tea Officer")
    clock.now = NOW + dt.timedelta(minutes=20)
    emulator.update_employee("7", "status", "inactive")
    emulator.update_employee("9", "status", "inactive", touch=False)

    with personio_client(emulator) as client:
        window = client.fetch_updated_employees(NOW + dt.timedelta(minutes=5))
        later = client.fetch_updated_employees(NOW + dt.timedelta(minutes=10))  # strictly after
        nothing = client.fetch_updated_employees(NOW + dt.timedelta(hours=1))
        assert client.request_count == 1 + 3  # one login, one request per window

    assert [e.source_id for e in window.employees] == ["4", "7"]
    assert window.employees[0].get("position") == "Chief Tea Officer"
    assert [e.source_id for e in later.employees] == ["7"]
    assert nothing.employees == ()
    assert emulator.updated_at(4) == NOW + dt.timedelta(minutes=10)
    assert emulator.updated_at(9) == NOW - dt.timedelta(days=30)  # seeded, never touched


def test_updated_since_ignores_limit_offset_and_email_as_personio_documents() -> None:
    clock = Clock()
    emulator = personio_emulator(clock, employees=150)
    clock.now = NOW + dt.timedelta(minutes=1)
    for pid in range(1, 121):
        emulator.update_employee(pid, "position", "Renamed")
    token = login(emulator)
    answer = emulator(
        httpx.Request(
            "GET",
            f"{PERSONIO}/company/employees",
            params={
                "updated_since": "2026-03-02T12:00:00",
                "limit": 10,
                "offset": 50,
                "email": "nobody@example.com",
            },
            headers={"Authorization": f"Bearer {token}"},
        )
    )
    body = json.loads(answer.content)
    assert answer.status_code == 200
    assert len(body["data"]) == 120
    assert body["metadata"]["total_elements"] == 120


def test_an_unreadable_updated_since_is_a_400_like_personio() -> None:
    emulator = personio_emulator(Clock())
    token = login(emulator)
    answer = emulator(
        httpx.Request(
            "GET",
            f"{PERSONIO}/company/employees",
            params={"updated_since": "yesterday"},
            headers={"Authorization": f"Bearer {token}"},
        )
    )
    assert answer.status_code == 400
    assert json.loads(answer.content)["success"] is False


def test_the_client_sends_the_documented_format_in_utc() -> None:
    with respx.mock(base_url=PERSONIO) as router:
        router.post("/auth").respond(json={"success": True, "data": {"token": "t"}})
        route = router.get("/company/employees").respond(
            json={"success": True, "metadata": {"total_elements": 0}, "data": []}
        )
        with personio_client() as client:
            client.fetch_updated_employees(
                dt.datetime(2026, 3, 2, 13, 30, 15, tzinfo=dt.timezone(dt.timedelta(hours=1)))
            )
    assert dict(route.calls.last.request.url.params) == {"updated_since": "2026-03-02T12:30:15"}


def test_a_paginated_updated_since_answer_is_read_to_the_end() -> None:
    """Personio's changelog once announced pagination for updated_since: follow it if so."""

    def record(pid: int) -> dict[str, object]:
        return {"type": "Employee", "attributes": {"id": {"label": "ID", "value": pid}}}

    with respx.mock(base_url=PERSONIO) as router:
        router.post("/auth").respond(json={"success": True, "data": {"token": "t"}})
        route = router.get("/company/employees")
        route.side_effect = [
            httpx.Response(
                200,
                json={
                    "success": True,
                    "metadata": {"total_elements": 3},
                    "data": [record(1), record(2)],
                },
            ),
            httpx.Response(
                200, json={"success": True, "metadata": {"total_elements": 3}, "data": [record(3)]}
            ),
        ]
        with personio_client() as client:
            snapshot = client.fetch_updated_employees(NOW)
    assert [p.source_id for p in (*snapshot.employees, *snapshot.problems)] == ["1", "2", "3"]
    assert route.calls[1].request.url.params["offset"] == "2"


# ---------------------------------------------------------------------------------------------
# SCIM look-ups and the active count
# ---------------------------------------------------------------------------------------------


def lattice_reader(transport: httpx.BaseTransport, base_url: str = LATTICE) -> LatticeReader:
    return LatticeReader(
        base_url=base_url,
        token="token",
        transport=transport,
        retry=NO_WAIT_RETRY,
        requests_per_second=0,
    )


def seeded_emulator() -> LatticeEmulator:
    lattice = LatticeEmulator(token="token")
    for number, (external_id, active) in enumerate(
        [("1", True), ("2", False), ("3", True), ("3", True), (None, True)]
    ):
        resource: dict[str, object] = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": f"person{number}@example.com",
            "active": active,
        }
        if external_id is not None:
            resource["externalId"] = external_id
        lattice.seed_user(resource)
    return lattice


def test_look_ups_by_external_id_user_name_and_id_against_the_emulator() -> None:
    lattice = seeded_emulator()
    with lattice_reader(lattice.transport()) as reader:
        by_external = reader.find_by_external_ids(["1", "3", "404"])
        by_name = reader.find_by_user_names([" Person4@Example.com ", "gone@example.com"])
        some_id = by_external["1"][0].target_id
        by_id = reader.find_by_ids([some_id, "u_missing"])
        count, exact = reader.count_active_users()
        requests = reader.request_count

    assert [u.external_id for u in by_external["1"]] == ["1"]
    assert len(by_external["3"]) == 2  # a duplicate: both returned, the planner refuses
    assert by_external["404"] == ()
    assert [u.email for u in by_name["person4@example.com"]] == ["person4@example.com"]
    assert by_name["gone@example.com"] == ()
    assert list(by_id) == [some_id]
    assert (count, exact) == (4, True)
    assert requests == 3 + 2 + 2 + 1


def test_the_active_count_against_scim2_server() -> None:
    app = BearerTokenApplication(InMemoryStorage(), load_default_provider(), bearer_tokens=["t"])
    transport = httpx.WSGITransport(app=app)
    with httpx.Client(transport=transport, base_url="http://scim.test/v2") as http:
        for number, active in enumerate([True, True, False]):
            http.post(
                "/Users",
                json={
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": f"p{number}@example.com",
                    "externalId": str(number),
                    "active": active,
                },
                headers={"Authorization": "Bearer t", "Content-Type": "application/scim+json"},
            )
    reader = LatticeReader(
        base_url="http://scim.test/v2",
        token="t",
        transport=transport,
        retry=NO_WAIT_RETRY,
        requests_per_second=0,
    )
    with reader:
        assert reader.count_active_users() == (2, True)
        assert [u.email for u in reader.find_by_external_ids(["1"])["1"]] == ["p1@example.com"]


def test_a_server_refusing_the_active_filter_is_counted_in_full_and_says_so() -> None:
    with respx.mock(base_url=LATTICE) as router:
        route = router.get("/Users")
        route.side_effect = [
            httpx.Response(
                400,
                json={
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                    "status": "400",
                    "scimType": "invalidFilter",
                    "detail": "unsupported filter",
                },
            ),
            httpx.Response(
                200,
                json={"schemas": [LIST_RESPONSE_URN], "totalResults": 7, "Resources": []},
            ),
        ]
        with lattice_reader(httpx.HTTPTransport()) as reader:
            assert reader.count_active_users() == (7, False)
    assert route.calls[0].request.url.params["filter"] == "active eq true"
    assert "filter" not in route.calls[1].request.url.params


def test_other_failures_of_the_count_are_raised() -> None:
    with respx.mock(base_url=LATTICE) as router:
        router.get("/Users").respond(403, json={"detail": "no"})
        with lattice_reader(httpx.HTTPTransport()) as reader, pytest.raises(ApiError):
            reader.count_active_users()


# ---------------------------------------------------------------------------------------------
# --updated-since
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", NOW - dt.timedelta(minutes=90)),
        ("2h", NOW - dt.timedelta(hours=2)),
        (" 1D ", NOW - dt.timedelta(days=1)),
        ("2026-03-02T08:00:00Z", dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC)),
        ("2026-03-02T08:00:00", dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC)),
        ("2026-03-02T09:00:00+01:00", dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC)),
    ],
)
def test_windows_are_durations_or_iso_times(text: str, expected: dt.datetime) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "90", "-5m", "0m", "2026-03-03T00:00:00Z"])
def test_unreadable_windows_are_one_line(text: str) -> None:
    with pytest.raises(ValueError, match=r"^'.*'(:| is)") as caught:
        parse_since(text, NOW)
    assert "\n" not in str(caught.value)
