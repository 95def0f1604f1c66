"""The Personio client against respx: request shapes, auth, paging, retries and error mapping."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import respx

from reconciler.core.model import AttributeInfo, Employee, SourceSnapshot
from reconciler.edges.http import DEADLINE_EXTENSION, NO_WAIT_RETRY, Deadline, Timeouts
from reconciler.errors import (
    ApiError,
    AuthError,
    InvalidValueError,
    RateLimitedError,
    ServerError,
    SourceDataError,
    StoppedError,
    TransportError,
)
from reconciler.sandbox.company import generate_company
from reconciler.sandbox.personio_emulator import (
    PersonioCredential,
    PersonioEmulator,
    PersonioFaults,
)
from reconciler.sources.personio.client import PersonioClient

BASE = "https://api.personio.test/v1"
CLIENT_ID = "papi-client-0001"
SECRET = "papi-secret-SENTINEL-42"
TOKEN = "token-SENTINEL-1"


def employee_json(source_id: int) -> dict[str, object]:
    def attr(label: str, value: object, kind: str = "standard") -> dict[str, object]:
        return {"label": label, "value": value, "type": kind, "universal_id": None}

    return {
        "type": "Employee",
        "attributes": {
            "id": attr("Employee ID", source_id, "integer"),
            "first_name": attr("First name", f"Person{source_id}"),
            "email": attr("Email", f"person{source_id}@example.com"),
            "status": attr("Status", "active"),
        },
    }


def parsed_employee(source_id: int) -> Employee:
    return Employee(
        str(source_id),
        {
            "id": str(source_id),
            "first_name": f"Person{source_id}",
            "email": f"person{source_id}@example.com",
            "status": "active",
        },
    )


def page(
    ids: range | list[int], total: int, offset: int, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = {
        "success": True,
        "metadata": {
            "current_page": offset // 100,
            "total_pages": -(-total // 100),
            "total_elements": total,
        },
        "offset": offset,
        "limit": 100,
        "data": [employee_json(i) for i in ids],
    }
    return httpx.Response(200, json=body, headers=headers)


def company_pages(total: int) -> Callable[[httpx.Request], httpx.Response]:
    """A side effect serving ids 1..total, 100 per page, by record offset."""

    def serve(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        assert request.url.params["limit"] == "100"
        return page(range(offset + 1, min(offset + 100, total) + 1), total, offset)

    return serve


def auth_ok(*tokens: str) -> list[httpx.Response]:
    return [httpx.Response(200, json={"success": True, "data": {"token": t}}) for t in tokens]


def personio_error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"success": False, "error": {"code": 0, "message": message}})


def make_client(**overrides: object) -> PersonioClient:
    options: dict[str, object] = {
        "base_url": BASE,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "app_id": "acme-lattice-sync",
        "retry": NO_WAIT_RETRY,
        "requests_per_second": 0,
    }
    options.update(overrides)
    return PersonioClient(**options)  # type: ignore[arg-type]


@pytest.fixture
def personio() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.post("/auth").mock(side_effect=auth_ok(TOKEN, "token-SENTINEL-2"))
        yield router


def assert_no_secrets(text: str) -> None:
    for secret in (SECRET, TOKEN, "token-SENTINEL-2", CLIENT_ID):
        assert secret not in text


def test_auth_sends_the_credential_as_a_json_body_and_the_app_headers(
    personio: respx.MockRouter,
) -> None:
    employees = personio.get("/company/employees").mock(side_effect=company_pages(2))
    with make_client(partner_id="acme-partner") as client:
        client.fetch_employees()
    auth_request = personio.routes[0].calls.last.request
    assert auth_request.url == f"{BASE}/auth"  # nothing in the query string
    assert json.loads(auth_request.content) == {"client_id": CLIENT_ID, "client_secret": SECRET}
    assert auth_request.headers["Content-Type"] == "application/json"
    assert auth_request.headers["X-Personio-App-ID"] == "acme-lattice-sync"
    assert "Authorization" not in auth_request.headers
    request = employees.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["X-Personio-App-ID"] == "acme-lattice-sync"
    assert request.headers["X-Personio-Partner-ID"] == "acme-partner"
    assert request.headers["Accept"] == "application/json"


def test_no_partner_header_is_sent_when_none_is_configured(personio: respx.MockRouter) -> None:
    employees = personio.get("/company/employees").mock(side_effect=company_pages(2))
    with make_client() as client:
        client.fetch_employees()
    assert "X-Personio-Partner-ID" not in employees.calls.last.request.headers


def test_employees_are_read_a_hundred_at_a_time_by_record_offset(
    personio: respx.MockRouter,
) -> None:
    employees = personio.get("/company/employees").mock(side_effect=company_pages(250))
    with make_client() as client:
        snapshot = client.fetch_employees()
        assert client.request_count == 1 + 3
    assert sorted(
        (call.request.url.params["offset"], call.request.url.params["limit"])
        for call in employees.calls
    ) == [("0", "100"), ("100", "100"), ("200", "100")]
    assert snapshot == SourceSnapshot(
        employees=tuple(parsed_employee(i) for i in range(1, 251)),
        attribute_keys=frozenset({"id", "first_name", "email", "status"}),
    )


def test_the_remaining_pages_are_fetched_concurrently(personio: respx.MockRouter) -> None:
    # Each later page waits until all three are in flight: fetched one by one, the barrier
    # would break and the run would fail.
    barrier = threading.Barrier(3, timeout=10)
    serve = company_pages(400)

    def concurrent(request: httpx.Request) -> httpx.Response:
        if request.url.params["offset"] != "0":
            barrier.wait()
        return serve(request)

    personio.get("/company/employees").mock(side_effect=concurrent)
    with make_client(max_concurrency=3) as client:
        snapshot = client.fetch_employees()
    assert [e.source_id for e in snapshot.employees] == [str(i) for i in range(1, 401)]


def test_one_token_serves_a_whole_run(personio: respx.MockRouter) -> None:
    personio.get("/company/employees").mock(side_effect=company_pages(1000))
    personio.get("/company/employees/attributes").mock(
        return_value=httpx.Response(
            200, json={"success": True, "data": [{"key": "id", "label": "ID", "type": "integer"}]}
        )
    )
    with make_client(max_concurrency=4) as client:
        client.fetch_employees()
        client.fetch_attributes()
        assert (client.auth_calls, client.request_count) == (1, 1 + 10 + 1)
    assert personio.routes[0].call_count == 1


def test_a_rotated_token_is_adopted_for_the_following_requests(
    personio: respx.MockRouter,
) -> None:
    serve = company_pages(300)

    def rotate_on_first_page(request: httpx.Request) -> httpx.Response:
        response = serve(request)
        if request.url.params["offset"] == "0":
            response.headers["Authorization"] = "Bearer token-SENTINEL-rotated"
        return response

    employees = personio.get("/company/employees").mock(side_effect=rotate_on_first_page)
    with make_client() as client:
        client.fetch_employees()
        assert client.auth_calls == 1
    used = {
        call.request.url.params["offset"]: call.request.headers["Authorization"]
        for call in employees.calls
    }
    assert used == {
        "0": f"Bearer {TOKEN}",
        "100": "Bearer token-SENTINEL-rotated",
        "200": "Bearer token-SENTINEL-rotated",
    }


def test_a_401_re_authenticates_once_and_resends(personio: respx.MockRouter) -> None:
    employees = personio.get("/company/employees").mock(
        side_effect=[personio_error(401, "Token expired"), page([1], 1, 0)]
    )
    with make_client() as client:
        snapshot = client.fetch_employees()
        assert (client.auth_calls, client.request_count) == (2, 4)
    assert snapshot.employees == (parsed_employee(1),)
    assert [call.request.headers["Authorization"] for call in employees.calls] == [
        f"Bearer {TOKEN}",
        "Bearer token-SENTINEL-2",
    ]


def test_a_401_after_re_authenticating_is_an_auth_error(personio: respx.MockRouter) -> None:
    personio.get("/company/employees").mock(return_value=personio_error(401, "Unauthorized"))
    with make_client() as client, pytest.raises(AuthError) as caught:
        client.fetch_employees()
    error = caught.value
    assert (error.system, error.method, error.path, error.status) == (
        "personio",
        "GET",
        "/company/employees",
        401,
    )
    assert str(error) == (
        "personio GET /company/employees → 401: Personio refused the request even after "
        "re-authenticating (Unauthorized) — check that the Personio API credential is active "
        "and may read employees"
    )
    assert personio.routes[0].call_count == 2


@pytest.mark.parametrize(
    "refusal",
    [
        personio_error(401, "Die Zugangsdaten sind ungültig."),
        httpx.Response(
            200,
            json={
                "success": False,
                "error": {"code": 0, "message": "Die Zugangsdaten sind ungültig."},
            },
        ),
    ],
)
def test_a_refused_credential_is_an_auth_error_that_says_what_to_check(
    personio: respx.MockRouter, refusal: httpx.Response
) -> None:
    personio.routes[0].mock(side_effect=None, return_value=refusal)
    employees = personio.get("/company/employees").mock(side_effect=company_pages(1))
    with make_client() as client, pytest.raises(AuthError) as caught:
        client.fetch_employees()
    assert str(caught.value) == (
        f"personio POST /auth → {refusal.status_code}: Personio refused the credential at "
        "login (Die Zugangsdaten sind ungültig.) — check PERSONIO_CLIENT_ID/SECRET (Personio › "
        "Settings › Integrations › API credentials) and that the credential is active"
    )
    assert caught.value.detail == "Die Zugangsdaten sind ungültig."
    assert caught.value.attempts == 1
    assert personio.routes[0].call_count == 1  # a refused credential is not retried
    assert employees.call_count == 0


def test_an_auth_server_error_is_retried(personio: respx.MockRouter) -> None:
    personio.routes[0].mock(side_effect=[personio_error(503, "Wartung"), *auth_ok(TOKEN)])
    personio.get("/company/employees").mock(side_effect=company_pages(5))
    with make_client() as client:
        assert len(client.fetch_employees().employees) == 5
        assert client.auth_calls == 2


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_rate_limits_and_server_errors_are_retried(personio: respx.MockRouter, status: int) -> None:
    serve = company_pages(150)
    failures = iter([status, status])

    def flaky(request: httpx.Request) -> httpx.Response:
        failure = next(failures, None)
        return personio_error(failure, "Zu viele Anfragen") if failure else serve(request)

    personio.get("/company/employees").mock(side_effect=flaky)
    with make_client(max_concurrency=1) as client:
        snapshot = client.fetch_employees()
        assert client.request_count == 1 + 2 + 2
    assert [e.source_id for e in snapshot.employees] == [str(i) for i in range(1, 151)]


def test_a_dropped_connection_is_retried(personio: respx.MockRouter) -> None:
    serve = company_pages(3)
    calls = iter([httpx.ConnectError("reset"), httpx.ReadTimeout("slow")])

    def flaky(request: httpx.Request) -> httpx.Response:
        failure = next(calls, None)
        if failure is not None:
            raise failure
        return serve(request)

    personio.get("/company/employees").mock(side_effect=flaky)
    with make_client() as client:
        assert len(client.fetch_employees().employees) == 3
        assert client.request_count == 1 + 3


@pytest.mark.parametrize(
    ("status", "error_type", "message"),
    [
        (429, RateLimitedError, "rate limited (Zu viele Anfragen) (gave up after 5 attempts)"),
        (500, ServerError, "Zu viele Anfragen (gave up after 5 attempts)"),
        (503, ServerError, "Zu viele Anfragen (gave up after 5 attempts)"),
    ],
)
def test_when_retries_run_out_the_error_names_system_method_path_and_status(
    personio: respx.MockRouter, status: int, error_type: type[ApiError], message: str
) -> None:
    personio.get("/company/employees").mock(
        return_value=personio_error(status, "Zu viele Anfragen")
    )
    with make_client() as client, pytest.raises(error_type) as caught:
        client.fetch_employees()
    error = caught.value
    assert type(error) is error_type
    assert (error.system, error.method, error.path, error.status) == (
        "personio",
        "GET",
        "/company/employees",
        status,
    )
    assert str(error) == f"personio GET /company/employees → {status}: {message}"
    assert_no_secrets(str(error))
    assert personio.routes[1].call_count == NO_WAIT_RETRY.max_attempts


def test_a_truncated_json_body_is_retried(personio: respx.MockRouter) -> None:
    serve = company_pages(2)
    truncated = iter([httpx.Response(200, content=b'{"success": true, "data": [')])
    personio.get("/company/employees").mock(
        side_effect=lambda request: next(truncated, None) or serve(request)
    )
    with make_client() as client:
        assert len(client.fetch_employees().employees) == 2
        assert client.request_count == 1 + 2


def test_a_body_that_is_never_json_is_a_transport_error(personio: respx.MockRouter) -> None:
    personio.get("/company/employees").mock(
        return_value=httpx.Response(200, content=b'{"success": true, "data": [')
    )
    with make_client() as client, pytest.raises(TransportError) as caught:
        client.fetch_employees()
    assert str(caught.value) == (
        "personio GET /company/employees → 200: the answer is not valid JSON (gave up after 5 "
        "attempts) — this is usually transient; run again"
    )


def test_a_page_without_a_content_type_is_not_the_api_and_not_retried(
    personio: respx.MockRouter,
) -> None:
    route = personio.get("/company/employees").mock(
        return_value=httpx.Response(200, content=b"<html>Gateway</html>")
    )
    with make_client() as client, pytest.raises(TransportError) as caught:
        client.fetch_employees()
    assert route.call_count == 1
    assert str(caught.value) == (
        "personio GET /company/employees → 200: the answer is a web page, not the API — this is "
        "not the API: check personio.base_url (e.g. https://api.personio.de/v1)"
    )


def test_success_false_is_an_api_error_carrying_personios_message(
    personio: respx.MockRouter,
) -> None:
    personio.get("/company/employees").mock(
        return_value=httpx.Response(
            200,
            json={"success": False, "error": {"code": 0, "message": "Ein Fehler ist aufgetreten"}},
        )
    )
    with make_client() as client, pytest.raises(ApiError) as caught:
        client.fetch_employees()
    assert type(caught.value) is ApiError
    assert str(caught.value) == (
        "personio GET /company/employees → 200: Personio answered success: false "
        "(Ein Fehler ist aufgetreten)"
    )
    assert caught.value.detail == "Ein Fehler ist aufgetreten"


def test_a_server_message_that_echoes_the_token_or_secret_is_scrubbed(
    personio: respx.MockRouter,
) -> None:
    personio.get("/company/employees").mock(
        return_value=personio_error(400, f"bad token {TOKEN} for {CLIENT_ID}:{SECRET}")
    )
    with make_client() as client, pytest.raises(InvalidValueError) as caught:
        client.fetch_employees()
    assert str(caught.value) == "personio GET /company/employees → 400: bad token … for …:…"
    assert_no_secrets(repr(caught.value.__dict__))


def test_a_total_that_changes_while_paging_is_a_source_data_error(
    personio: respx.MockRouter,
) -> None:
    def growing(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        total = 120 if offset == 0 else 121
        return page(range(offset + 1, min(offset + 100, total) + 1), total, offset)

    personio.get("/company/employees").mock(side_effect=growing)
    with make_client() as client, pytest.raises(SourceDataError) as caught:
        client.fetch_employees()
    assert str(caught.value) == (
        "personio GET /company/employees offset=100: Personio's employee list changed while it "
        "was being read (total 120 → 121); run again"
    )


def test_a_short_page_is_fetched_again_once(personio: respx.MockRouter) -> None:
    serve = company_pages(250)
    short_once = iter([page(range(101, 200), 250, 100)])  # 99 records instead of 100

    def short(request: httpx.Request) -> httpx.Response:
        if request.url.params["offset"] == "100":
            return next(short_once, None) or serve(request)
        return serve(request)

    employees = personio.get("/company/employees").mock(side_effect=short)
    with make_client() as client:
        snapshot = client.fetch_employees()
    assert [e.source_id for e in snapshot.employees] == [str(i) for i in range(1, 251)]
    assert [call.request.url.params["offset"] for call in employees.calls].count("100") == 2


def test_a_page_short_twice_is_a_source_data_error(personio: respx.MockRouter) -> None:
    serve = company_pages(250)

    def short(request: httpx.Request) -> httpx.Response:
        if request.url.params["offset"] == "100":
            return page(range(101, 200), 250, 100)
        return serve(request)

    personio.get("/company/employees").mock(side_effect=short)
    with make_client() as client, pytest.raises(SourceDataError) as caught:
        client.fetch_employees()
    assert str(caught.value) == (
        "personio GET /company/employees offset=100: Personio returned 99 employees at offset "
        "100 where 100 were expected, twice in a row; run again"
    )


def test_an_employee_on_two_pages_is_refused_not_double_counted(
    personio: respx.MockRouter,
) -> None:
    def overlapping(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        first = offset + 1 if offset == 0 else offset  # page 2 starts with page 1's last
        return page(range(first, first + 100), 200, offset)

    personio.get("/company/employees").mock(side_effect=overlapping)
    with make_client() as client, pytest.raises(SourceDataError) as caught:
        client.fetch_employees()
    assert str(caught.value) == (
        "personio GET /company/employees: Personio returned employee 100 on two pages (the "
        "list changed while it was being read); run again"
    )


def test_two_records_with_one_id_on_one_page_both_reach_the_mapping(
    personio: respx.MockRouter,
) -> None:
    personio.get("/company/employees").mock(return_value=page([1, 2, 2], 3, 0))
    with make_client() as client:
        snapshot = client.fetch_employees()
    assert snapshot.employees == (parsed_employee(1), parsed_employee(2), parsed_employee(2))


def test_progress_reports_records_done_against_the_total(personio: respx.MockRouter) -> None:
    personio.get("/company/employees").mock(side_effect=company_pages(250))
    seen: list[tuple[int, int]] = []
    with make_client(max_concurrency=1) as client:
        client.fetch_employees(progress=lambda done, total: seen.append((done, total)))
    assert seen == [(100, 250), (200, 250), (250, 250)]


def test_an_empty_company_takes_one_page_request(personio: respx.MockRouter) -> None:
    personio.get("/company/employees").mock(side_effect=company_pages(0))
    seen: list[tuple[int, int]] = []
    with make_client() as client:
        assert client.fetch_employees(progress=lambda *args: seen.append(args)) == SourceSnapshot(
            employees=()
        )
        assert client.request_count == 2
    assert seen == [(0, 0)]


def test_the_attribute_catalogue_is_fetched_and_parsed(personio: respx.MockRouter) -> None:
    personio.get("/company/employees/attributes").mock(
        return_value=httpx.Response(
            200,
            json={
                "success": True,
                "data": [
                    {"key": "email", "label": "Email", "type": "standard", "universal_id": "email"},
                    {"key": "dynamic_1234567", "label": "Cost center", "type": "list"},
                ],
            },
        )
    )
    with make_client() as client:
        assert client.fetch_attributes() == (
            AttributeInfo("email", "Email", "standard", "email"),
            AttributeInfo("dynamic_1234567", "Cost center", "list"),
        )


def test_logs_carry_offsets_and_counts_but_no_personal_data_or_secrets(
    personio: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    personio.get("/company/employees").mock(side_effect=company_pages(150))
    caplog.set_level(logging.DEBUG, logger="reconciler")
    with make_client() as client:
        client.fetch_employees()
    text = caplog.text
    assert "offset 100" in text
    assert "@example.com" not in text
    assert "Person1" not in text
    assert_no_secrets(text)


def test_a_token_expiring_under_concurrent_pages_is_renewed_once(
    personio: respx.MockRouter,
) -> None:
    serve = company_pages(800)

    def expire_after_first_page(request: httpx.Request) -> httpx.Response:
        first_token = request.headers["Authorization"] == f"Bearer {TOKEN}"
        if first_token and request.url.params["offset"] != "0":
            return personio_error(401, "Token abgelaufen")
        return serve(request)

    personio.get("/company/employees").mock(side_effect=expire_after_first_page)
    with make_client(max_concurrency=4) as client:
        assert len(client.fetch_employees().employees) == 800
        assert client.auth_calls == 2


def test_a_403_says_the_credential_lacks_access_to_employees(
    personio: respx.MockRouter,
) -> None:
    personio.get("/company/employees").mock(return_value=personio_error(403, "Forbidden"))
    with make_client() as client, pytest.raises(AuthError) as caught:
        client.fetch_employees()
    assert str(caught.value) == (
        "personio GET /company/employees → 403: Personio denied the credential access "
        "(Forbidden) — give the Personio API credential read access to employees "
        "(Settings › Integrations › API credentials)"
    )
    assert personio.routes[0].call_count == 1


def test_a_malformed_auth_request_is_an_invalid_value_error(personio: respx.MockRouter) -> None:
    personio.routes[0].mock(side_effect=None, return_value=personio_error(400, "Ungültig"))
    with make_client() as client, pytest.raises(InvalidValueError) as caught:
        client.fetch_attributes()
    assert str(caught.value) == (
        "personio POST /auth → 400: Personio rejected the login request (Ungültig)"
    )


# ---------------------------------------------------------------------------------------------
# One attempt budget, deadlines, stopping, and answers that are not the API
# ---------------------------------------------------------------------------------------------


def test_one_page_costs_at_most_five_requests_whatever_mix_of_failures(
    personio: respx.MockRouter,
) -> None:
    broken = httpx.Response(
        200, content=b'{"success": tr', headers={"Content-Type": "application/json"}
    )
    employees = personio.get("/company/employees").mock(
        side_effect=[
            personio_error(503, "Wartung"),
            broken,
            personio_error(429, "Zu viele Anfragen"),
            broken,
            personio_error(503, "Wartung"),
            page([1], 1, 0),  # a sixth request would succeed: it is never sent
        ]
    )
    with make_client() as client, pytest.raises(ServerError) as caught:
        client.fetch_employees()
    assert employees.call_count == 5
    assert caught.value.attempts == 5


def test_the_403_personio_gives_an_invalid_token_re_authenticates_once(
    personio: respx.MockRouter,
) -> None:
    employees = personio.get("/company/employees").mock(
        side_effect=[personio_error(403, "Provided authorization is not valid"), page([1], 1, 0)]
    )
    with make_client() as client:
        snapshot = client.fetch_employees()
        assert client.auth_calls == 2
    assert snapshot.employees == (parsed_employee(1),)
    assert [call.request.headers["Authorization"] for call in employees.calls] == [
        f"Bearer {TOKEN}",
        "Bearer token-SENTINEL-2",
    ]


def test_an_invalid_token_after_re_authenticating_fails_clearly(
    personio: respx.MockRouter,
) -> None:
    employees = personio.get("/company/employees").mock(
        return_value=personio_error(403, "Provided authorization is not valid")
    )
    with make_client() as client, pytest.raises(AuthError) as caught:
        client.fetch_employees()
    assert str(caught.value) == (
        "personio GET /company/employees → 403: Personio refused the request even after "
        "re-authenticating (Provided authorization is not valid) — check that the Personio API "
        "credential is active and may read employees"
    )
    assert personio.routes[0].call_count == 2
    assert employees.call_count == 2


def test_a_proxys_web_page_is_reported_as_not_the_api(personio: respx.MockRouter) -> None:
    employees = personio.get("/company/employees").mock(
        return_value=httpx.Response(200, html="<html><body>Corporate sign-in</body></html>")
    )
    with make_client() as client, pytest.raises(TransportError) as caught:
        client.fetch_employees()
    assert str(caught.value) == (
        "personio GET /company/employees → 200: the answer is a web page, not the API — this "
        "is not the API: check personio.base_url (e.g. https://api.personio.de/v1)"
    )
    assert "usually transient" not in str(caught.value)
    assert employees.call_count == 1


def test_the_login_request_carries_the_clients_timeouts(personio: respx.MockRouter) -> None:
    personio.get("/company/employees").mock(side_effect=company_pages(1))
    with make_client(timeouts=Timeouts(connect=2.0, read=3.0, total=5.0)) as client:
        client.fetch_employees()
    login = personio.routes[0].calls[0].request
    assert login.extensions["timeout"] == {"connect": 2.0, "read": 3.0, "write": 3.0, "pool": 3.0}
    assert isinstance(login.extensions[DEADLINE_EXTENSION], Deadline)


def test_a_login_that_times_out_says_it_was_the_login(personio: respx.MockRouter) -> None:
    personio.routes[0].mock(side_effect=httpx.ReadTimeout("slow"))
    with make_client() as client, pytest.raises(TransportError) as caught:
        client.fetch_attributes()
    assert caught.value.message == (
        f"no usable answer to the login request (POST {BASE}/auth) (ReadTimeout) "
        "(gave up after 5 attempts)"
    )
    assert caught.value.attempts == 5
    assert_no_secrets(str(caught.value))


def test_a_login_answer_that_is_not_json_is_retried_in_the_same_budget(
    personio: respx.MockRouter,
) -> None:
    broken = httpx.Response(
        200, content=b'{"data": {"tok', headers={"Content-Type": "application/json"}
    )
    personio.routes[0].mock(side_effect=[broken, broken, *auth_ok(TOKEN)])
    personio.get("/company/employees").mock(side_effect=company_pages(1))
    with make_client() as client:
        assert len(client.fetch_employees().employees) == 1
        assert client.request_count == 4  # three logins, one page


def test_when_the_runs_time_is_up_no_request_is_sent(personio: respx.MockRouter) -> None:
    employees = personio.get("/company/employees").mock(side_effect=company_pages(1))
    with (
        make_client(deadline=Deadline.after(0.0)) as client,
        pytest.raises(TransportError) as caught,
    ):
        client.fetch_employees()
    assert caught.value.message == (
        f"the run's time limit was reached during personio GET {BASE}/company/employees"
    )
    assert employees.call_count == 0
    assert personio.routes[0].call_count == 0


def test_setting_stop_ends_a_slow_fetch_within_about_one_page() -> None:
    company = generate_company(4000, seed=3, quirks=False)
    slow = 0.15
    emulator = PersonioEmulator(
        company.employees,
        company.attributes,
        credentials={CLIENT_ID: PersonioCredential(SECRET)},
        faults=PersonioFaults(slow_seconds=slow),
    )
    stop = threading.Event()
    stopped_at: list[float] = []

    def progress(done: int, total: int) -> None:
        assert total == 4000
        if done >= 300 and not stop.is_set():  # pages are in flight now
            stopped_at.append(time.monotonic())
            stop.set()

    client = make_client(transport=emulator.transport(), stop=stop, max_concurrency=4)
    with client, pytest.raises(StoppedError) as caught:
        client.fetch_employees(progress=progress)
    waited = time.monotonic() - stopped_at[0]
    pages = sum(1 for r in emulator.requests if r.path.endswith("/company/employees"))
    assert str(caught.value) == (
        "personio GET /company/employees: stopped before reading Personio's employees finished"
    )
    assert waited < 2 * slow + 0.2  # the pages in flight finish; no other starts
    assert pages < 12  # of 40
