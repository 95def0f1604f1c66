"""The Lattice SCIM clients against scripted HTTP answers (respx): paging, errors, retries, lookups.
Each test scripts exactly what the server says and asserts exactly what the client sent back."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import respx

from reconciler.core.model import Action, Change, FieldChange
from reconciler.edges.http import NO_WAIT_RETRY, Deadline, RetryPolicy
from reconciler.errors import (
    AuthError,
    ConflictError,
    InvalidValueError,
    NotFoundError,
    ServerError,
    StoppedError,
    TransportError,
)
from reconciler.sandbox.lattice_emulator import LatticeEmulator, LatticeFaults
from reconciler.targets.lattice.profile import AUTH_FIX
from reconciler.targets.scim.client import LatticeReader, LatticeWriter, WriteResult
from reconciler.targets.scim.dialect import SchemaAttribute
from reconciler.targets.scim.resources import LIST_RESPONSE_URN

BASE = "https://lattice.example.com/scim/v2"
TOKEN = "scim-secret-token-123"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"

Handler = Callable[[httpx.Request], httpx.Response]


def resource(number: int, external_id: str | None = None) -> dict[str, object]:
    user: dict[str, object] = {
        "id": f"u_{number:06d}",
        "userName": f"person{number}@example.com",
        "active": True,
    }
    if external_id is not None:
        user["externalId"] = external_id
    return user


def list_response(resources: list[dict[str, object]], total: int, start: int) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "schemas": [LIST_RESPONSE_URN],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": len(resources),
            "Resources": resources,
        },
    )


def scim_error(status: int, detail: str, scim_type: str | None = None) -> httpx.Response:
    body: dict[str, object] = {"schemas": [ERROR_URN], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return httpx.Response(status, json=body)


def paged_server(
    users: list[dict[str, object]],
    *,
    total: int | None = None,
    shorten: dict[int, int] | None = None,
) -> tuple[Handler, list[tuple[int, int]]]:
    """A GET /Users handler serving ``users``; ``shorten[start] = n`` drops n from that page."""
    seen: list[tuple[int, int]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["startIndex"])
        count = int(request.url.params["count"])
        seen.append((start, count))
        page = users[start - 1 : start - 1 + count]
        drop = (shorten or {}).get(start, 0)
        if drop:
            page = page[:-drop]
        return list_response(page, len(users) if total is None else total, start)

    return handle, seen


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


def reader(**overrides: object) -> LatticeReader:
    options: dict[str, object] = {
        "base_url": BASE,
        "token": TOKEN,
        "retry": NO_WAIT_RETRY,
        "requests_per_second": 0,
    }
    options.update(overrides)
    return LatticeReader(**options)  # type: ignore[arg-type]


def writer(**overrides: object) -> LatticeWriter:
    options: dict[str, object] = {
        "base_url": BASE,
        "token": TOKEN,
        "retry": NO_WAIT_RETRY,
        "requests_per_second": 0,
    }
    options.update(overrides)
    return LatticeWriter(**options)  # type: ignore[arg-type]


def ada(number: int) -> dict[str, object]:
    """The user ``CREATE`` makes, as the service stores it (so the write verifies)."""
    return {**resource(number, "1234"), "userName": "ada@example.com", "name": {"givenName": "Ada"}}


def retitled() -> dict[str, object]:
    """User 42 after ``UPDATE``, as the service stores it (so the write verifies)."""
    return {**resource(42, "1234"), "title": "B"}


CREATE = Change(
    Action.CREATE,
    "1234",
    None,
    "ada@example.com",
    (FieldChange("first_name", None, "Ada"), FieldChange("email", None, "ada@example.com")),
)
UPDATE = Change(
    Action.UPDATE, "1234", "u_000042", "ada@example.com", (FieldChange("title", "A", "B"),)
)

# ---------------------------------------------------------------------------------------------
# Listing
# ---------------------------------------------------------------------------------------------


def test_listing_fetches_the_first_page_then_the_rest_and_sorts_by_id(
    router: respx.MockRouter,
) -> None:
    users = [resource(n) for n in range(250, 0, -1)]  # served in reverse id order
    handle, seen = paged_server(users)
    router.get("/Users").mock(side_effect=handle)
    progress: list[tuple[int, int]] = []

    with reader() as client:
        result = client.fetch_users(progress=lambda done, total: progress.append((done, total)))
        assert client.request_count == 3

    assert [user.target_id for user in result] == [f"u_{n:06d}" for n in range(1, 251)]
    assert seen[0] == (1, 100)
    assert sorted(seen[1:]) == [(101, 100), (201, 100)]
    assert progress[0] == (100, 250)
    assert progress[-1] == (250, 250)


def test_listing_progress_advances_while_later_pages_are_still_loading(
    router: respx.MockRouter,
) -> None:
    users = [resource(n) for n in range(1, 651)]  # seven pages of 100
    handle, _ = paged_server(users)
    second_page_shown = threading.Event()
    shown_before_last_page: list[bool] = []

    def slow_last_page(request: httpx.Request) -> httpx.Response:
        # The last page answers only once the bar has moved past the first page (or after 5 s,
        # so a listing that reports only at the end fails the test instead of hanging).
        if request.url.params["startIndex"] == "601":
            shown_before_last_page.append(second_page_shown.wait(timeout=5))
        return handle(request)

    router.get("/Users").mock(side_effect=slow_last_page)
    progress: list[tuple[int, int]] = []

    def report(done: int, total: int) -> None:
        progress.append((done, total))
        if done > 100:
            second_page_shown.set()

    with reader() as client:
        client.fetch_users(progress=report)

    done = [count for count, _ in progress]
    # a rising step per page as it arrives, the last page's step after the others
    assert shown_before_last_page == [True]
    assert done == sorted(done)
    assert len(set(done)) == 7
    assert done[0] == 100
    assert done[-1] == 650
    assert {total for _, total in progress} == {650}


def test_a_short_page_is_continued_from_where_it_ended(router: respx.MockRouter) -> None:
    users = [resource(n) for n in range(1, 251)]
    handle, seen = paged_server(users, shorten={101: 1})
    router.get("/Users").mock(side_effect=handle)

    with reader() as client:
        result = client.fetch_users()

    assert len(result) == 250
    assert sorted(seen) == [(1, 100), (101, 100), (200, 1), (201, 100)]


def test_a_short_first_page_moves_every_later_page(router: respx.MockRouter) -> None:
    users = [resource(n) for n in range(1, 201)]
    handle, seen = paged_server(users, shorten={1: 1})
    router.get("/Users").mock(side_effect=handle)

    with reader() as client:
        result = client.fetch_users()

    assert len(result) == 200
    assert sorted(seen) == [(1, 100), (100, 100), (200, 100)]


def test_an_empty_page_stops_even_when_total_results_says_more(router: respx.MockRouter) -> None:
    users = [resource(n) for n in range(1, 151)]
    handle, seen = paged_server(users, total=400)
    router.get("/Users").mock(side_effect=handle)

    with reader() as client, pytest.raises(TransportError, match="totalResults said 400") as caught:
        client.fetch_users()

    # fewer users than totalResults: planning would create the unseen ones, so it is an error
    assert "150 distinct users" in caught.value.message
    # page 101 came back with 50: its missing range is asked for once, empty, and dropped
    assert sorted(seen) == [(1, 100), (101, 100), (151, 50), (201, 100), (301, 100)]


def test_a_user_pushed_onto_the_next_page_is_listed_once_and_the_gap_is_an_error(
    router: respx.MockRouter,
) -> None:
    users = [resource(n) for n in range(1, 201)]
    seen: list[tuple[int, int]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["startIndex"])
        count = int(request.url.params["count"])
        seen.append((start, count))
        if start == 1:
            return list_response(users[:100], 200, start)
        # a user was added at the front after page one: everyone moved down by one
        shifted = [resource(0), *users]
        return list_response(shifted[start - 1 : start - 1 + count], 201, start)

    router.get("/Users").mock(side_effect=handle)
    with reader() as client, pytest.raises(TransportError, match="totalResults said 201"):
        client.fetch_users()

    # nobody is listed twice (200 distinct), but the user added in front was never seen
    assert seen == [(1, 100), (101, 100), (201, 100)]


def test_requests_carry_the_bearer_key_and_ask_for_scim_json(router: respx.MockRouter) -> None:
    route = router.get("/Users").mock(return_value=list_response([], 0, 1))
    with reader() as client:
        assert client.fetch_users() == ()

    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/scim+json, application/json"
    assert dict(request.url.params) == {"startIndex": "1", "count": "100"}


def test_custom_attributes_and_their_types_come_from_the_lattice_schema(
    router: respx.MockRouter,
) -> None:
    router.get("/Schemas/urn:ietf:params:scim:schemas:extension:lattice:attributes:1.0:User").mock(
        return_value=httpx.Response(
            200,
            json={
                "id": "urn:ietf:params:scim:schemas:extension:lattice:attributes:1.0:User",
                "attributes": [
                    {"name": "startDate", "type": "string"},
                    {"name": "birthDate", "type": "string"},
                    {"name": "Gender", "type": "string"},
                    {"name": "sexualOrientation", "type": "string"},
                    {"name": "Cost Center", "type": "string", "multiValued": False},
                    {"name": "Level", "type": "Integer"},
                    {"name": "Probation End", "type": "dateTime"},
                    {"name": "Languages", "type": "string", "multiValued": True},
                    {"name": "Shirt"},
                ],
            },
        )
    )
    with reader() as client:
        assert client.fetch_custom_attributes() == {
            "Cost Center": SchemaAttribute("Cost Center", "string"),
            "Level": SchemaAttribute("Level", "integer"),
            "Probation End": SchemaAttribute("Probation End", "datetime"),
            "Languages": SchemaAttribute("Languages", "string", multi_valued=True),
            "Shirt": SchemaAttribute("Shirt", "string"),
        }


def test_a_body_that_is_not_json_is_fetched_again(router: respx.MockRouter) -> None:
    router.get("/Users").mock(
        side_effect=[httpx.Response(200, text="{broken"), list_response([resource(1)], 1, 1)]
    )
    with reader() as client:
        assert [user.target_id for user in client.fetch_users()] == ["u_000001"]
        assert client.request_count == 2


# ---------------------------------------------------------------------------------------------
# Errors and retries
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_an_auth_error_with_the_fix_and_no_token(
    router: respx.MockRouter, status: int
) -> None:
    router.get("/Users").mock(return_value=scim_error(status, "Unauthorized"))
    with reader() as client, pytest.raises(AuthError) as caught:
        client.check_access()

    error = caught.value
    assert str(error) == f"lattice GET Users → {status}: Unauthorized — {AUTH_FIX}"
    assert TOKEN not in str(error)
    assert TOKEN not in repr(error.args)


@pytest.mark.parametrize(
    ("status", "scim_type", "error_class"),
    [
        (409, "uniqueness", ConflictError),
        (400, "invalidValue", InvalidValueError),
        (404, None, NotFoundError),
    ],
)
def test_a_refused_patch_maps_to_its_error_with_the_scim_detail_sans_email(
    router: respx.MockRouter, status: int, scim_type: str | None, error_class: type[Exception]
) -> None:
    route = router.patch("/Users/u_000042").mock(
        return_value=scim_error(status, "ada@example.com: value refused", scim_type)
    )
    with writer() as client, pytest.raises(error_class) as caught:
        client.patch(UPDATE, None)

    assert str(caught.value) == f"lattice PATCH Users/u_000042 → {status}: <email>: value refused"
    assert route.call_count == 1  # not retried


def test_a_rate_limited_request_waits_as_long_as_retry_after_says(
    router: respx.MockRouter,
) -> None:
    router.get("/Users").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "2"}),
            httpx.Response(429, headers={"Retry-After": "0.5"}),
            list_response([resource(1)], 1, 1),
        ]
    )
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=5, base_delay=10, jitter=False)
    with reader(retry=policy, sleep=sleeps.append) as client:
        users = client.fetch_users()

    assert [user.target_id for user in users] == ["u_000001"]
    # a Retry-After below the 1 s floor after a 429 is raised to it
    assert sleeps == [2.0, 1.0]


def test_server_errors_are_retried_with_backoff_then_reported(router: respx.MockRouter) -> None:
    route = router.get("/Users").mock(return_value=scim_error(503, "down"))
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=3, base_delay=1, jitter=False)
    with reader(retry=policy, sleep=sleeps.append) as client, pytest.raises(ServerError) as caught:
        client.fetch_users()

    assert route.call_count == 3
    assert sleeps == [1.0, 2.0]
    assert str(caught.value) == "lattice GET Users → 503: down (gave up after 3 attempts)"


def test_a_patch_whose_connection_dropped_is_sent_again(router: respx.MockRouter) -> None:
    route = router.patch("/Users/u_000042").mock(
        side_effect=[httpx.RemoteProtocolError("reset"), httpx.Response(204)]
    )
    # a 204 carries no resource: the write is verified by reading the user back, once
    read_back = router.get("/Users/u_000042").mock(
        return_value=httpx.Response(200, json=retitled())
    )
    with writer() as client:
        assert client.patch(UPDATE, None) == WriteResult("u_000042", 2, read_backs=1)
    assert read_back.call_count == 1

    assert route.call_count == 2
    sent = route.calls.last.request
    assert sent.headers["Content-Type"] == "application/scim+json"
    assert json.loads(sent.content) == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"title": "B"}}],
    }


# ---------------------------------------------------------------------------------------------
# Creating: never a blind second POST
# ---------------------------------------------------------------------------------------------


def lookup_server(found: dict[str, dict[str, object]]) -> tuple[Handler, list[str]]:
    """GET /Users?filter=… answering from ``found`` (filter text → resource)."""
    filters: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        expression = request.url.params["filter"]
        filters.append(expression)
        hit = found.get(expression)
        return list_response([hit] if hit else [], 1 if hit else 0, 1)

    return handle, filters


def test_a_create_answers_with_the_new_id(router: respx.MockRouter) -> None:
    post = router.post("/Users").mock(return_value=httpx.Response(201, json=ada(7)))
    with writer() as client:
        assert client.create(CREATE, None) == WriteResult("u_000007", 1)

    assert post.calls.last.request.headers["Content-Type"] == "application/scim+json"


def test_a_reset_create_whose_user_exists_is_not_sent_again(router: respx.MockRouter) -> None:
    post = router.post("/Users").mock(side_effect=httpx.RemoteProtocolError("reset"))
    handle, filters = lookup_server({'externalId eq "1234"': resource(7, external_id="1234")})
    router.get("/Users").mock(side_effect=handle)
    router.get("/Users/u_000007").mock(return_value=httpx.Response(200, json=ada(7)))

    with writer() as client:
        # found, not answered: verified by one read-back
        assert client.create(CREATE, None) == WriteResult("u_000007", 1, read_backs=1)

    assert post.call_count == 1
    assert filters == ['externalId eq "1234"']


def test_a_reset_create_whose_user_is_missing_is_sent_once_more(router: respx.MockRouter) -> None:
    post = router.post("/Users").mock(
        side_effect=[
            httpx.ReadTimeout("timed out"),
            httpx.Response(201, json=ada(8)),
        ]
    )
    handle, filters = lookup_server({})
    router.get("/Users").mock(side_effect=handle)

    with writer() as client:
        assert client.create(CREATE, None) == WriteResult("u_000008", 2)

    assert post.call_count == 2
    assert filters == ['externalId eq "1234"', 'userName eq "ada@example.com"']


def test_a_create_that_never_gets_an_answer_gives_up_after_the_retry_budget(
    router: respx.MockRouter,
) -> None:
    post = router.post("/Users").mock(side_effect=httpx.ConnectError("refused"))
    handle, _ = lookup_server({})
    router.get("/Users").mock(side_effect=handle)

    policy = RetryPolicy(max_attempts=3, base_delay=0, jitter=False)
    with writer(retry=policy) as client, pytest.raises(TransportError) as caught:
        client.create(CREATE, None)

    assert post.call_count == 3
    assert str(caught.value) == (
        "lattice POST Users: no usable answer to POST https://lattice.example.com/scim/v2/Users"
        " (ConnectError) (gave up after 3 attempts)"
        " — check that lattice is reachable, then run again"
    )


def test_a_conflict_on_our_own_external_id_is_already_present(router: respx.MockRouter) -> None:
    router.post("/Users").mock(return_value=scim_error(409, "exists", "uniqueness"))
    handle, _ = lookup_server({'externalId eq "1234"': resource(7, external_id="1234")})
    router.get("/Users").mock(side_effect=handle)

    with writer() as client:
        assert client.create(CREATE, None) == WriteResult("u_000007", 1, already_present=True)


def test_a_conflict_with_someone_else_is_a_conflict_error(router: respx.MockRouter) -> None:
    router.post("/Users").mock(
        return_value=scim_error(409, "userName ada@example.com is taken", "uniqueness")
    )
    handle, _ = lookup_server({})
    router.get("/Users").mock(side_effect=handle)

    with writer() as client, pytest.raises(ConflictError) as caught:
        client.create(CREATE, None)

    assert str(caught.value) == "lattice POST Users → 409: userName <email> is taken"


# ---------------------------------------------------------------------------------------------
# One attempt budget for writes, deadlines and stopping
# ---------------------------------------------------------------------------------------------


def test_a_patch_reports_every_request_that_carried_it(router: respx.MockRouter) -> None:
    patch = router.patch("/Users/u_000042").mock(
        side_effect=[
            scim_error(503, "down"),
            httpx.Response(429),
            httpx.ConnectError("refused"),
            httpx.Response(200, json=retitled()),
        ]
    )
    with writer() as client:
        assert client.patch(UPDATE, None) == WriteResult("u_000042", 4)
    assert patch.call_count == 4


def test_a_create_counts_posts_not_lookups(router: respx.MockRouter) -> None:
    # first POST: reset (outcome unknown) → lookups find nothing → second POST: 201
    post = router.post("/Users").mock(
        side_effect=[httpx.ReadError("reset"), httpx.Response(201, json=ada(7))]
    )
    handle, _ = lookup_server({})
    lookups = router.get("/Users").mock(side_effect=handle)
    with writer() as client:
        assert client.create(CREATE, None) == WriteResult("u_000007", 2)
    assert post.call_count == 2
    assert lookups.call_count == 2  # by externalId, then by userName: not counted


def test_a_conflict_after_retries_reports_the_attempts_it_took(
    router: respx.MockRouter,
) -> None:
    router.post("/Users").mock(
        side_effect=[scim_error(503, "down"), scim_error(409, "taken", "uniqueness")]
    )
    handle, _ = lookup_server({'externalId eq "1234"': resource(9, "1234")})
    router.get("/Users").mock(side_effect=handle)
    with writer() as client:
        assert client.create(CREATE, None) == WriteResult("u_000009", 2, already_present=True)


def test_one_list_page_costs_at_most_five_requests(router: respx.MockRouter) -> None:
    broken = httpx.Response(
        200, content=b'{"Resources": [', headers={"Content-Type": "application/scim+json"}
    )
    users = router.get("/Users").mock(
        side_effect=[broken, httpx.Response(429), scim_error(503, "down"), broken, broken]
    )
    with reader() as client, pytest.raises(TransportError) as caught:
        client.fetch_users()
    assert users.call_count == 5
    assert caught.value.attempts == 5


def test_a_web_page_instead_of_scim_says_to_check_the_base_url(router: respx.MockRouter) -> None:
    router.get("/Users").mock(return_value=httpx.Response(200, html="<html>Login</html>"))
    with reader() as client, pytest.raises(TransportError) as caught:
        client.check_access()
    assert str(caught.value) == (
        "lattice GET Users → 200: the answer is a web page, not the API — this is not the "
        "SCIM API: check lattice.base_url (…/scim/v2)"
    )


def test_when_the_runs_time_is_up_the_writer_sends_nothing(router: respx.MockRouter) -> None:
    patch = router.patch("/Users/u_000042").mock(return_value=httpx.Response(200))
    with writer(deadline=Deadline.after(0.0)) as client, pytest.raises(TransportError) as caught:
        client.patch(UPDATE, None)
    assert caught.value.message == (
        f"the run's time limit was reached during lattice PATCH {BASE}/Users/u_000042"
    )
    assert patch.call_count == 0


def test_a_set_stop_event_keeps_the_writer_from_starting(router: respx.MockRouter) -> None:
    post = router.post("/Users").mock(return_value=httpx.Response(201, json=resource(1)))
    stop = threading.Event()
    stop.set()
    with writer(stop=stop) as client, pytest.raises(StoppedError):
        client.create(CREATE, None)
    assert post.call_count == 0


def test_setting_stop_ends_a_slow_listing_within_about_one_page() -> None:
    slow = 0.15
    lattice = LatticeEmulator(
        token=TOKEN,
        users=[
            {"userName": f"person{n}@example.com", "externalId": str(n)} for n in range(1, 4001)
        ],
        faults=LatticeFaults(slow_seconds=slow),
    )
    stop = threading.Event()
    stopped_at: list[float] = []

    def set_stop() -> None:
        stopped_at.append(time.monotonic())
        stop.set()

    client = reader(transport=lattice.transport(), stop=stop, max_concurrency=4)
    # all 40 pages take about 10 × 0.15 s; stop while the first concurrent ones are in flight
    threading.Timer(3 * slow, set_stop).start()
    with client, pytest.raises(StoppedError) as caught:
        client.fetch_users()
    waited = time.monotonic() - stopped_at[0]
    pages = sum(1 for r in lattice.requests if r.method == "GET")
    assert str(caught.value) == "lattice GET Users: stopped before reading Lattice's users finished"
    assert waited < 2 * slow + 0.2  # the pages in flight finish; no other starts
    assert pages < 12  # of 40


def test_users_are_read_whatever_the_case_of_their_attribute_names(
    router: respx.MockRouter,
) -> None:
    # RFC 7643 §2.1: attribute names are case-insensitive.
    urn = "urn:ietf:params:scim:schemas:extension:lattice:attributes:1.0:User"
    users: list[dict[str, object]] = [
        {"id": "u_1", "username": "ada@example.com", "ACTIVE": False},
        {
            "Id": "u_2",
            "Emails": [{"Value": "grace@example.com", "Primary": True}],
            "ExternalId": "7",
            urn.upper(): {"Cost center": "CC-1", "STARTDATE": "2021-03-01"},
        },
    ]
    router.get("/Users").mock(return_value=list_response(users, 2, 1))

    with reader() as client:
        first, second = client.fetch_users()

    assert (first.email, first.active) == ("ada@example.com", False)
    assert (second.email, second.external_id, second.active) == ("grace@example.com", "7", True)
    assert second.fields["custom:Cost center"] == "CC-1"
    assert second.fields["start_date"] == "2021-03-01"
