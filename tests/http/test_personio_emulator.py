"""The Personio client against the Personio emulator: in-process and over real localhost HTTP.

Every injected fault either heals (nothing lost, nothing doubled) or ends in one clear error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import httpx
import pytest

from reconciler.core.model import SourceSnapshot
from reconciler.edges.http import NO_WAIT_RETRY
from reconciler.errors import (
    AuthError,
    RateLimitedError,
    ServerError,
    SourceDataError,
    TransportError,
)
from reconciler.sandbox.company import SampleCompany, build_wire_employee, generate_company
from reconciler.sandbox.personio_emulator import (
    PersonioCredential,
    PersonioEmulator,
    PersonioFaults,
    RecordedRequest,
)
from reconciler.sandbox.transport import EmulatorServer
from reconciler.sources.personio.client import PersonioClient
from reconciler.sources.personio.parse import check_allowed_attributes
from reconciler.sources.personio.profile import PERSONIO

ROOT = "http://personio.test"
BASE = f"{ROOT}/v1"
CLIENT_ID = "sandbox-client"
SECRET = "sandbox-secret-SENTINEL"
N = 250


@pytest.fixture(scope="module")
def company() -> SampleCompany:
    return generate_company(N, seed=5)


@pytest.fixture(scope="module")
def reference(company: SampleCompany) -> SourceSnapshot:
    """What a fault-free run reads."""
    with connect(emulator(company)) as client:
        return client.fetch_employees()


def emulator(
    company: SampleCompany,
    faults: PersonioFaults | None = None,
    allowed: frozenset[str] | None = None,
    **options: object,
) -> PersonioEmulator:
    return PersonioEmulator(
        company.employees,
        company.attributes,
        credentials={CLIENT_ID: PersonioCredential(SECRET, allowed_attributes=allowed)},
        faults=faults,
        **options,  # type: ignore[arg-type]
    )


def connect(
    personio: PersonioEmulator, *, base_url: str = BASE, secret: str = SECRET, **options: object
) -> PersonioClient:
    settings: dict[str, object] = {
        "base_url": base_url,
        "client_id": CLIENT_ID,
        "client_secret": secret,
        "app_id": "acme-lattice-sync",
        "retry": NO_WAIT_RETRY,
        "requests_per_second": 0,
    }
    settings.update(options)
    if base_url == BASE:
        settings["transport"] = personio.transport()
    return PersonioClient(**settings)  # type: ignore[arg-type]


def test_a_clean_run_is_one_auth_and_one_request_per_page(
    company: SampleCompany, reference: SourceSnapshot
) -> None:
    personio = emulator(company)
    with connect(personio) as client:
        snapshot = client.fetch_employees()
        assert client.request_count == 1 + math.ceil(N / 100)
    assert snapshot == reference
    assert len(snapshot.employees) == N
    assert snapshot.problems == ()
    assert sorted(personio.requests, key=lambda r: (r.path, r.offset or 0)) == [
        RecordedRequest("POST", "/v1/auth", 200),
        RecordedRequest("GET", "/v1/company/employees", 200, 0),
        RecordedRequest("GET", "/v1/company/employees", 200, 100),
        RecordedRequest("GET", "/v1/company/employees", 200, 200),
    ]


@pytest.mark.parametrize(
    "faults",
    [
        PersonioFaults(rate_limit_burst=4),
        PersonioFaults(server_errors=4),
        PersonioFaults(error_rate=0.3, seed=3),
        PersonioFaults(resets=3),
        PersonioFaults(timeouts=3),
        PersonioFaults(malformed_json=3),
        PersonioFaults(short_page_once=True),
        PersonioFaults(rate_limit_burst=1, server_errors=1, resets=1, timeouts=1),
    ],
    ids=["429", "5xx", "error-rate", "resets", "timeouts", "malformed", "short-page", "mixed"],
)
def test_every_transient_fault_heals_with_nothing_lost_or_doubled(
    company: SampleCompany, reference: SourceSnapshot, faults: PersonioFaults
) -> None:
    personio = emulator(company, faults)
    with connect(personio) as client:
        snapshot = client.fetch_employees()
        assert client.auth_calls == 1
    assert snapshot == reference
    assert personio.count("/company/employees") > math.ceil(N / 100)


def test_server_errors_alternate_between_500_and_503(company: SampleCompany) -> None:
    personio = emulator(company, PersonioFaults(server_errors=3))
    with connect(personio, max_concurrency=1) as client:
        client.fetch_employees()
    statuses = [r.status for r in personio.requests if r.path.endswith("/employees")]
    assert statuses[:4] == [500, 503, 500, 200]


@pytest.mark.parametrize(
    ("faults", "error_type", "status"),
    [
        (PersonioFaults(rate_limit_burst=50), RateLimitedError, 429),
        (PersonioFaults(error_rate=1.0), ServerError, 503),
        (PersonioFaults(resets=50), TransportError, None),
        (PersonioFaults(malformed_json=50), TransportError, 200),
    ],
)
def test_when_retries_run_out_the_error_is_clear(
    company: SampleCompany, faults: PersonioFaults, error_type: type[Exception], status: int | None
) -> None:
    with connect(emulator(company, faults)) as client, pytest.raises(error_type) as caught:
        client.fetch_employees()
    error = caught.value
    assert (error.system, error.method, error.path, error.status) == (  # type: ignore[attr-defined]
        "personio",
        "GET",
        "/company/employees",
        status,
    )
    assert "gave up after 5 attempts" in str(error)
    assert SECRET not in str(error)


def test_a_total_that_grows_during_the_run_is_refused(company: SampleCompany) -> None:
    personio = emulator(company, PersonioFaults(grow_total_after_first_page=2))
    with connect(personio) as client, pytest.raises(SourceDataError) as caught:
        client.fetch_employees()
    assert f"changed while it was being read (total {N} → {N + 2}); run again" in str(caught.value)
    # The next run sees a stable list and succeeds.
    with connect(personio) as client:
        assert len(client.fetch_employees().employees) == N + 2


def test_a_short_page_is_refetched_once(company: SampleCompany) -> None:
    personio = emulator(company, PersonioFaults(short_page_once=True))
    with connect(personio, max_concurrency=1) as client:
        client.fetch_employees()
        assert client.request_count == 1 + 3 + 1
    offsets = [r.offset for r in personio.requests if r.path.endswith("/employees")]
    assert offsets == [0, 0, 100, 200]


def test_an_expiring_token_is_renewed_without_losing_pages(
    company: SampleCompany, reference: SourceSnapshot
) -> None:
    personio = emulator(company, token_ttl_requests=2)
    with connect(personio, max_concurrency=1) as client:
        assert client.fetch_employees() == reference
        assert client.auth_calls == 2
    assert [r.status for r in personio.requests] == [200, 200, 200, 403, 200, 200]


def test_a_rotated_token_is_adopted_so_no_re_authentication_is_needed(
    company: SampleCompany, reference: SourceSnapshot
) -> None:
    # Rotation invalidates the old token: a client that ignored it would hit 401s.
    personio = emulator(company, rotate_token_every=1, invalidate_rotated_tokens=True)
    with connect(personio, max_concurrency=1) as client:
        assert client.fetch_employees() == reference
        client.fetch_attributes()
        assert client.auth_calls == 1
    assert all(r.status == 200 for r in personio.requests)


def test_rotation_under_concurrency_never_costs_a_second_auth_call() -> None:
    personio = emulator(generate_company(1000), rotate_token_every=2)
    with connect(personio, max_concurrency=4) as client:
        assert len(client.fetch_employees().employees) == 1000
        assert client.auth_calls == 1


def test_a_wrong_secret_is_refused_with_personios_german_message(company: SampleCompany) -> None:
    personio = emulator(company)
    with connect(personio, secret="wrong") as client, pytest.raises(AuthError) as caught:
        client.fetch_employees()
    assert caught.value.detail == "Die Zugangsdaten sind ungültig."
    assert caught.value.fix is not None
    assert "PERSONIO_CLIENT_ID/SECRET" in caught.value.fix
    assert personio.requests == [RecordedRequest("POST", "/v1/auth", 401)]


def test_an_attribute_missing_from_the_allow_list_is_omitted_and_detected(
    company: SampleCompany,
) -> None:
    allowed = frozenset({"id", "first_name", "last_name", "email", "status", "hire_date"})
    personio = emulator(company, allowed=allowed)
    with connect(personio) as client:
        snapshot = client.fetch_employees()
        catalogue = client.fetch_attributes()
    assert snapshot.attribute_keys == allowed
    assert all("employment_type" not in e.attributes for e in snapshot.employees)
    assert {attribute.key for attribute in catalogue} == allowed
    with pytest.raises(SourceDataError, match="did not return the attributes Employment type —"):
        check_allowed_attributes(snapshot, PERSONIO.required)


def test_credentials_in_the_query_string_are_refused_as_deprecated(company: SampleCompany) -> None:
    with httpx.Client(transport=emulator(company).transport(), base_url=ROOT) as raw:
        response = raw.post(f"/v1/auth?client_id={CLIENT_ID}&client_secret={SECRET}")
        body_only = raw.post("/v1/auth", json={"client_id": CLIENT_ID, "client_secret": SECRET})
    assert response.status_code == 403
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == 403
    assert "deprecated" in response.json()["error"]["message"]
    assert body_only.status_code == 200
    assert set(body_only.json()["data"]) == {"token", "expires_in", "scope"}
    assert body_only.json()["data"]["token"].startswith("papi-")


def test_requests_without_a_valid_token_are_refused_personio_style(
    company: SampleCompany,
) -> None:
    with httpx.Client(transport=emulator(company).transport(), base_url=ROOT) as raw:
        missing = raw.get("/v1/company/employees")
        unknown = raw.get("/v1/company/employees", headers={"Authorization": "Bearer not-a-token"})
        nowhere = raw.get("/v1/company/nothing")
    assert [missing.status_code, unknown.status_code, nowhere.status_code] == [401, 403, 404]
    assert missing.json()["error"] == {"code": 401, "message": "Authorization is not provided"}
    assert unknown.json()["error"] == {
        "code": 403,
        "message": "Provided authorization is not valid",
    }
    assert nowhere.json() == {"success": False, "error": {"code": 404, "message": "Not found"}}


def test_the_page_envelope_caps_the_limit_and_counts_records(company: SampleCompany) -> None:
    with httpx.Client(transport=emulator(company).transport(), base_url=ROOT) as raw:
        token = raw.post("/v1/auth", json={"client_id": CLIENT_ID, "client_secret": SECRET}).json()[
            "data"
        ]["token"]
        response = raw.get(
            "/v1/company/employees",
            params={"limit": 500, "offset": 210},
            headers={"Authorization": f"Bearer {token}"},
        )
    body = response.json()
    assert {key: body[key] for key in ("success", "metadata", "offset", "limit")} == {
        "success": True,
        "metadata": {"current_page": 2, "total_pages": 3, "total_elements": N},
        "offset": 210,
        "limit": 100,
    }
    assert [e["attributes"]["id"]["value"] for e in body["data"]] == list(range(211, 251))


def test_state_changes_show_up_in_the_next_run(company: SampleCompany) -> None:
    personio = emulator(company)
    personio.remove_employee(3)
    personio.update_employee("4", "position", "  Chief Tea Officer ")
    personio.update_employee("5", "dynamic_9999999", "new attribute")
    personio.add_employee(
        build_wire_employee({"id": 9001, "email": "new.person@example.com", "status": "active"})
    )
    with connect(personio) as client:
        people = {e.source_id: e for e in client.fetch_employees().employees}
    assert "3" not in people
    assert people["4"].get("position") == "Chief Tea Officer"
    assert people["5"].get("dynamic_9999999") == "new attribute"
    assert people["9001"].text("email") == "new.person@example.com"
    assert len(people) == N


def test_slow_answers_wait_through_the_injected_sleep(company: SampleCompany) -> None:
    slept: list[float] = []
    personio = emulator(company, PersonioFaults(slow_seconds=2.5), sleep=slept.append)
    with connect(personio) as client:
        client.fetch_employees()
    assert slept == [2.5, 2.5, 2.5]


def test_the_emulator_never_records_secrets_or_tokens(company: SampleCompany) -> None:
    personio = emulator(company)
    with connect(personio) as client:
        client.fetch_employees()
    assert SECRET not in repr(personio.requests)


@pytest.fixture
def faulty_server(company: SampleCompany) -> Iterator[tuple[PersonioEmulator, str]]:
    personio = emulator(company, PersonioFaults(resets=2, rate_limit_burst=1, timeouts=1))
    with EmulatorServer(personio) as server:
        yield personio, server.url


@pytest.fixture(scope="module")
def clean_server(company: SampleCompany) -> Iterator[tuple[PersonioEmulator, str]]:
    personio = emulator(company)
    with EmulatorServer(personio) as server:
        yield personio, server.url


def test_over_real_http_the_client_reads_everyone_despite_dropped_connections(
    faulty_server: tuple[PersonioEmulator, str], reference: SourceSnapshot
) -> None:
    personio, url = faulty_server
    with connect(personio, base_url=f"{url}/v1") as client:
        assert client.fetch_employees() == reference
        assert client.auth_calls == 1
        assert client.request_count == 1 + 3 + 4
    assert [r.status for r in personio.requests if r.status != 200] == [0, 0, 0, 429]


def test_over_real_http_a_wrong_secret_is_an_auth_error(
    clean_server: tuple[PersonioEmulator, str],
) -> None:
    personio, url = clean_server
    client = connect(personio, base_url=f"{url}/v1", secret="nope")
    with client, pytest.raises(AuthError) as caught:
        client.fetch_attributes()
    assert caught.value.status == 401
    assert caught.value.detail == "Die Zugangsdaten sind ungültig."


def test_over_real_http_the_emulator_speaks_json_in_utf8(
    clean_server: tuple[PersonioEmulator, str],
) -> None:
    _, url = clean_server
    with httpx.Client(base_url=url) as raw:
        token = raw.post(
            "/v1/auth", content=json.dumps({"client_id": CLIENT_ID, "client_secret": SECRET})
        ).json()["data"]["token"]
        response = raw.get(
            "/v1/company/employees",
            params={"limit": 100, "offset": 0},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.headers["content-type"] == "application/json"
    names = {e["attributes"]["first_name"]["value"] for e in response.json()["data"]}
    assert any(not name.isascii() for name in names)
