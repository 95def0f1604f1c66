"""The applier with the real LatticeWriter against the Lattice emulator (in-process, no waiting)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping

import httpx
import pytest

from reconciler.applier import ALREADY_PRESENT, INTERRUPTED_DETAIL, apply_plan
from reconciler.core.model import (
    Action,
    ApplyReport,
    Change,
    ChangeResult,
    FieldChange,
    FieldValue,
    Outcome,
    Plan,
)
from reconciler.edges.http import NO_WAIT_RETRY, RetryPolicy
from reconciler.sandbox.lattice_emulator import LatticeEmulator, LatticeFaults
from reconciler.sandbox.transport import in_process_transport
from reconciler.targets.lattice.profile import LATTICE_URN
from reconciler.targets.scim.client import LatticeWriter
from reconciler.targets.scim.resources import ENTERPRISE_URN

TOKEN = "test-scim-key"
BASE_URL = "https://lattice.example.com/scim/v2"


def seeded(
    target_id: str, email: str, external_id: str | None, *, active: bool = True
) -> dict[str, object]:
    given = email.partition("@")[0].capitalize()
    resource: dict[str, object] = {
        "id": target_id,
        "userName": email,
        "emails": [{"value": email, "primary": True, "type": "work"}],
        "name": {"givenName": given, "familyName": "Example"},
        "title": "Engineer",
        "active": active,
    }
    if external_id is not None:
        resource["externalId"] = external_id
    return resource


def existing_users() -> list[dict[str, object]]:
    return [
        seeded("u_boss", "boss@example.com", "100"),
        seeded("u_unlinked", "linus@example.com", None),
        seeded("u_rehire", "rita@example.com", "400", active=False),
        seeded("u_mover", "max@example.com", "500"),
        seeded("u_leaver", "lea@example.com", "600"),
    ]


#: Personio id → SCIM id, as the composition root builds it (linked users and the plan's links).
EXISTING_IDS = {
    "100": "u_boss",
    "300": "u_unlinked",
    "400": "u_rehire",
    "500": "u_mover",
    "600": "u_leaver",
}


def new_user(source_id: str, first: str, manager: str | None = None, **extra: FieldValue) -> Change:
    fields = [
        FieldChange("first_name", None, first),
        FieldChange("last_name", None, "Example"),
        FieldChange("title", None, "Engineer"),
    ]
    if manager is not None:
        fields.append(FieldChange("manager", None, manager))
    fields.extend(FieldChange(name, None, value) for name, value in extra.items())
    return Change(
        Action.CREATE,
        source_id,
        None,
        f"{first.lower()}@example.com",
        tuple(sorted(fields, key=lambda f: f.name)),
        depends_on=manager if manager is not None and manager not in EXISTING_IDS else None,
    )


GRACE = new_user("200", "Grace")  # a new manager
ADA = new_user("201", "Ada", "100")  # a new hire under an existing manager
ALAN = new_user("202", "Alan", "200")  # a new hire under the new manager
LINK = Change(
    Action.LINK,
    "300",
    "u_unlinked",
    "linus@example.com",
    (FieldChange("title", "Engineer", "Staff Engineer"),),
)
REHIRE = Change(Action.REACTIVATE, "400", "u_rehire", "rita@example.com")
MOVER = Change(
    Action.UPDATE,
    "500",
    "u_mover",
    "max@example.com",
    (FieldChange("custom:Cost Center", None, "CC-7"), FieldChange("manager", "100", "200")),
    depends_on="200",
)
LEAVER = Change(Action.DEACTIVATE, "600", "u_leaver", "lea@example.com")
MIXED = Plan((GRACE, ADA, ALAN, LINK, REHIRE, MOVER, LEAVER), unchanged=1)


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"a test tried to wait {seconds}s")


@pytest.fixture
def emulator() -> LatticeEmulator:
    return LatticeEmulator(
        token=TOKEN, custom_attributes={"Cost Center": "text"}, users=existing_users()
    )


def build_writer(
    emulator: LatticeEmulator,
    retry: RetryPolicy = NO_WAIT_RETRY,
    *,
    sleep: Callable[[float], None] = no_sleep,
    transport: httpx.BaseTransport | None = None,
) -> LatticeWriter:
    return LatticeWriter(
        base_url=BASE_URL,
        token=TOKEN,
        transport=transport or emulator.transport(),
        retry=retry,
        sleep=sleep,
        requests_per_second=0,
    )


@pytest.fixture
def writer(emulator: LatticeEmulator) -> Iterator[LatticeWriter]:
    with build_writer(emulator) as client:
        yield client


def state(emulator: LatticeEmulator) -> dict[str, dict[str, object]]:
    """The stored users by userName, with managers named by email so created ids don't matter."""
    email_of = {target_id: user["userName"] for target_id, user in emulator.users.items()}
    summary: dict[str, dict[str, object]] = {}
    for user in emulator.users.values():
        enterprise = user.get(ENTERPRISE_URN) or {}
        lattice = user.get(LATTICE_URN) or {}
        assert isinstance(enterprise, dict)
        assert isinstance(lattice, dict)
        manager = enterprise.get("manager")
        name = user.get("name")
        assert isinstance(name, dict)
        summary[str(user["userName"])] = {
            "name": f"{name.get('givenName')} {name.get('familyName')}",
            "externalId": user.get("externalId"),
            "active": user["active"],
            "title": user.get("title"),
            "manager": email_of[manager["value"]] if isinstance(manager, dict) else None,
            "custom": dict(lattice),
        }
    return summary


def outcomes(report: ApplyReport) -> list[tuple[str, str | None, str, str | None]]:
    return [
        (r.change.action.value, r.change.source_id, r.outcome.value, r.detail)
        for r in report.results
    ]


def write_count(emulator: LatticeEmulator) -> int:
    return sum(1 for request in emulator.requests if request.method in ("POST", "PATCH"))


def user(
    given: str,
    external_id: str | None,
    title: str,
    manager: str | None = None,
    *,
    active: bool = True,
    custom: Mapping[str, object] | None = None,
) -> dict[str, object]:
    return {
        "name": f"{given} Example",
        "externalId": external_id,
        "active": active,
        "title": title,
        "manager": manager,
        "custom": dict(custom or {}),
    }


EXPECTED_AFTER_MIXED = {
    "boss@example.com": user("Boss", "100", "Engineer"),
    "linus@example.com": user("Linus", "300", "Staff Engineer"),
    "rita@example.com": user("Rita", "400", "Engineer"),
    "max@example.com": user(
        "Max", "500", "Engineer", "grace@example.com", custom={"Cost Center": "CC-7"}
    ),
    "lea@example.com": user("Lea", "600", "Engineer", active=False),
    "grace@example.com": user("Grace", "200", "Engineer"),
    "ada@example.com": user("Ada", "201", "Engineer", "boss@example.com"),
    "alan@example.com": user("Alan", "202", "Engineer", "grace@example.com"),
}


def test_a_mixed_plan_is_applied_with_one_write_per_change(
    emulator: LatticeEmulator, writer: LatticeWriter
) -> None:
    seen: list[ChangeResult] = []

    report = apply_plan(MIXED, writer, target_ids=EXISTING_IDS, on_result=seen.append)

    assert outcomes(report) == [
        (c.action.value, c.source_id, "applied", None) for c in MIXED.changes
    ]
    assert report.ok
    assert state(emulator) == EXPECTED_AFTER_MIXED
    # managers went into the create requests: no second pass of PATCHes
    assert write_count(emulator) == len(MIXED.changes)
    assert [r.attempts for r in report.results] == [1] * len(MIXED.changes)
    created = {r.change.source_id: r.target_id for r in report.results[:3]}
    assert {pid: emulator.users[str(sid)]["externalId"] for pid, sid in created.items()} == {
        "200": "200",
        "201": "201",
        "202": "202",
    }
    assert [r.target_id for r in report.results[3:]] == [
        "u_unlinked",
        "u_rehire",
        "u_mover",
        "u_leaver",
    ]
    assert sorted(seen, key=report.results.index) == list(report.results)


def test_a_new_manager_and_their_reports_are_created_in_one_run(
    emulator: LatticeEmulator, writer: LatticeWriter
) -> None:
    # 200 manages 210 manages 220: three create waves.
    chain = Plan(
        (GRACE, new_user("210", "Hedy", "200"), new_user("220", "Joan", "210")), unchanged=0
    )

    report = apply_plan(chain, writer, target_ids=EXISTING_IDS)

    assert outcomes(report) == [("create", pid, "applied", None) for pid in ("200", "210", "220")]
    assert [request.method for request in emulator.requests] == ["POST", "POST", "POST"]
    after = state(emulator)
    assert (after["hedy@example.com"]["manager"], after["joan@example.com"]["manager"]) == (
        "grace@example.com",
        "hedy@example.com",
    )


def test_a_failed_create_skips_its_reports_and_everything_else_is_applied(
    emulator: LatticeEmulator, writer: LatticeWriter
) -> None:
    # Lattice has no "Shirt" attribute: the new manager's create is refused with a 400.
    bad_grace = new_user("200", "Grace", **{"custom:Shirt": "M"})
    plan = Plan((bad_grace, ADA, ALAN, LINK, REHIRE, MOVER, LEAVER), unchanged=1)

    report = apply_plan(plan, writer, target_ids=EXISTING_IDS)

    skipped = "skipped: the create of 200 (its manager) failed"
    assert outcomes(report) == [
        (
            "create",
            "200",
            "failed",
            "lattice POST Users → 400: "
            "unknown custom attribute 'Shirt': create it in Lattice first",
        ),
        ("create", "201", "applied", None),
        ("create", "202", "skipped", skipped),
        ("link", "300", "applied", None),
        ("reactivate", "400", "applied", None),
        ("update", "500", "skipped", skipped),
        ("deactivate", "600", "applied", None),
    ]
    assert (
        report.count(Outcome.APPLIED),
        report.count(Outcome.FAILED),
        report.count(Outcome.SKIPPED),
    ) == (4, 1, 2)
    assert not report.ok
    assert sorted(state(emulator)) == sorted(
        set(EXPECTED_AFTER_MIXED) - {"grace@example.com", "alan@example.com"}
    )
    assert state(emulator)["max@example.com"] == user("Max", "500", "Engineer")  # untouched
    assert write_count(emulator) == 5  # the refused POST plus four applied changes


def test_a_manager_without_a_lattice_user_fails_the_change_instead_of_dropping_the_manager(
    emulator: LatticeEmulator, writer: LatticeWriter
) -> None:
    orphan = Change(
        Action.UPDATE, "500", "u_mover", "max@example.com", (FieldChange("manager", "100", "999"),)
    )

    report = apply_plan(Plan((orphan, LEAVER), unchanged=0), writer, target_ids=EXISTING_IDS)

    assert outcomes(report) == [
        ("update", "500", "failed", "manager 999 has no Lattice user"),
        ("deactivate", "600", "applied", None),
    ]
    assert [(r.method, r.path) for r in emulator.requests] == [("PATCH", "/scim/v2/Users/u_leaver")]


def test_a_create_whose_email_is_taken_fails_without_naming_the_email(
    emulator: LatticeEmulator, writer: LatticeWriter
) -> None:
    # Someone else (Personio 100) already has this email.
    clash = Change(
        Action.CREATE, "777", None, "boss@example.com", (FieldChange("first_name", None, "Bo"),)
    )

    report = apply_plan(Plan((clash,), unchanged=0), writer, target_ids=EXISTING_IDS)

    assert outcomes(report) == [
        ("create", "777", "failed", "lattice POST Users → 409: userName is already in use")
    ]
    assert len(emulator.users) == 5


def test_connections_reset_after_creates_leave_no_duplicates(emulator: LatticeEmulator) -> None:
    # The first writes are done by Lattice, then the connection drops before the answer.
    emulator.faults = LatticeFaults(resets_after=3, writes_only=True)
    with build_writer(emulator) as writer:
        report = apply_plan(MIXED, writer, target_ids=EXISTING_IDS)

    assert outcomes(report) == [
        (c.action.value, c.source_id, "applied", None) for c in MIXED.changes
    ]
    assert state(emulator) == EXPECTED_AFTER_MIXED
    assert len(emulator.users) == len(EXPECTED_AFTER_MIXED)
    # the three resets hit the three creates (they go first); each was found, not re-sent
    posts = [(r.method, r.status) for r in emulator.requests if r.method == "POST"]
    assert posts == [("POST", None)] * 3
    assert [r.attempts for r in report.results] == [1] * len(MIXED.changes)


def test_rate_limits_and_server_errors_are_retried_and_everything_is_applied(
    emulator: LatticeEmulator,
) -> None:
    emulator.faults = LatticeFaults(rate_limit=2, retry_after=1.5, server_errors=3)
    waits: list[float] = []
    # the first request meets all five faults, so allow more than five attempts
    retry = RetryPolicy(
        max_attempts=8, base_delay=0.0, max_delay=5.0, max_total_delay=60.0, jitter=False
    )
    with build_writer(emulator, retry, sleep=waits.append) as writer:
        report = apply_plan(MIXED, writer, target_ids=EXISTING_IDS, concurrency=1)

    assert outcomes(report) == [
        (c.action.value, c.source_id, "applied", None) for c in MIXED.changes
    ]
    assert state(emulator) == EXPECTED_AFTER_MIXED
    assert waits == [1.5, 1.5]  # Retry-After honoured; 5xx backoff is zero with this policy
    assert sum(r.attempts for r in report.results) == len(MIXED.changes) + 5
    assert write_count(emulator) == len(MIXED.changes) + 5


def test_a_server_that_keeps_failing_fails_the_change_after_every_retry(
    emulator: LatticeEmulator, writer: LatticeWriter
) -> None:
    emulator.faults = LatticeFaults(server_errors=NO_WAIT_RETRY.max_attempts)

    report = apply_plan(Plan((ADA, LEAVER), unchanged=0), writer, target_ids=EXISTING_IDS)

    # the create goes first and meets every fault; the deactivation after it goes through
    assert outcomes(report) == [
        (
            "create",
            "201",
            "failed",
            "lattice POST Users → 500: internal error (injected) (gave up after 5 attempts)",
        ),
        ("deactivate", "600", "applied", None),
    ]
    # The report records the requests really sent for the failed create, not "1".
    assert [r.attempts for r in report.results] == [NO_WAIT_RETRY.max_attempts, 1]
    assert "ada@example.com" not in state(emulator)
    assert state(emulator)["lea@example.com"]["active"] is False


def test_a_stop_part_way_finishes_what_is_in_flight_and_starts_nothing_else(
    emulator: LatticeEmulator, writer: LatticeWriter
) -> None:
    stop = threading.Event()

    def interrupt_after_first(result: ChangeResult) -> None:
        stop.set()

    report = apply_plan(
        MIXED,
        writer,
        target_ids=EXISTING_IDS,
        concurrency=1,
        on_result=interrupt_after_first,
        stop=stop,
    )

    assert outcomes(report) == [("create", "200", "applied", None)] + [
        (c.action.value, c.source_id, "skipped", INTERRUPTED_DETAIL) for c in MIXED.changes[1:]
    ]
    assert report.interrupted
    assert not report.ok
    assert [r.method for r in emulator.requests] == ["POST"]


def test_a_stop_before_the_start_sends_nothing(
    emulator: LatticeEmulator, writer: LatticeWriter
) -> None:
    stop = threading.Event()
    stop.set()

    report = apply_plan(MIXED, writer, target_ids=EXISTING_IDS, stop=stop)

    assert {r.detail for r in report.results} == {INTERRUPTED_DETAIL}
    assert len(report.results) == len(MIXED.changes)
    assert report.interrupted
    assert emulator.requests == []


def test_applying_the_same_plan_twice_adopts_the_created_users_instead_of_duplicating_them(
    emulator: LatticeEmulator, writer: LatticeWriter
) -> None:
    first = apply_plan(MIXED, writer, target_ids=EXISTING_IDS)
    requests_before = len(emulator.requests)

    second = apply_plan(MIXED, writer, target_ids=EXISTING_IDS)

    # Each create gets a 409, the writer finds the user by externalId: applied, but recorded
    # as already present, never as created by this run.
    assert outcomes(second) == [
        (action, source_id, outcome, ALREADY_PRESENT if action == "create" else detail)
        for action, source_id, outcome, detail in outcomes(first)
    ]
    assert [r.target_id for r in second.results] == [r.target_id for r in first.results]
    assert state(emulator) == EXPECTED_AFTER_MIXED
    assert len(emulator.users) == len(EXPECTED_AFTER_MIXED)
    again = [
        (r.method, r.status) for r in emulator.requests[requests_before:] if r.method == "POST"
    ]
    assert again == [("POST", 409)] * 3


def test_a_bug_in_a_change_propagates_instead_of_being_reported_as_a_failure(
    emulator: LatticeEmulator, writer: LatticeWriter
) -> None:
    # An update without a Lattice id cannot come out of the planner: the writer refuses it.
    broken = Change(
        Action.UPDATE, "500", None, "max@example.com", (FieldChange("title", "A", "B"),)
    )

    with pytest.raises(ValueError, match="needs the Lattice user's id"):
        apply_plan(Plan((broken,), unchanged=0), writer, target_ids=EXISTING_IDS)


def test_the_apply_log_names_ids_and_never_an_email(
    emulator: LatticeEmulator, writer: LatticeWriter, caplog: pytest.LogCaptureFixture
) -> None:
    bad_grace = new_user("200", "Grace", **{"custom:Shirt": "M"})
    plan = Plan((bad_grace, ADA, ALAN, LINK, REHIRE, MOVER, LEAVER), unchanged=1)

    with caplog.at_level(logging.DEBUG, logger="reconciler"):
        apply_plan(plan, writer, target_ids=EXISTING_IDS)

    applier_lines = [r.getMessage() for r in caplog.records if r.name == "reconciler.applier"]
    assert (
        "create 200 (new): failed — lattice POST Users → 400: "
        "unknown custom attribute 'Shirt': create it in Lattice first" in applier_lines
    )
    assert [
        line for line in (r.getMessage() for r in caplog.records) if "@" in line or "Grace" in line
    ] == []


def test_concurrency_below_one_is_refused(writer: LatticeWriter) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        apply_plan(MIXED, writer, target_ids=EXISTING_IDS, concurrency=0)


def test_changes_of_one_wave_run_concurrently_but_never_more_than_allowed(
    emulator: LatticeEmulator,
) -> None:
    # Two PATCHes must be in flight together to pass the barrier; a third never may be.
    barrier = threading.Barrier(2, timeout=5)
    lock = threading.Lock()
    in_flight = [0]
    peak = [0]

    def meeting_point(request: httpx.Request) -> httpx.Response:
        if request.method != "PATCH":
            return emulator(request)
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        try:
            barrier.wait()
            return emulator(request)
        finally:
            with lock:
                in_flight[0] -= 1

    updates = tuple(
        Change(Action.UPDATE, pid, sid, f"p{pid}@example.com", (FieldChange("title", "A", "B"),))
        for pid, sid in sorted(EXISTING_IDS.items())
        if pid != "300"
    )
    with build_writer(emulator, transport=in_process_transport(meeting_point)) as writer:
        report = apply_plan(
            Plan(updates, unchanged=0), writer, target_ids=EXISTING_IDS, concurrency=2
        )

    assert [r.outcome for r in report.results] == [Outcome.APPLIED] * 4
    assert peak[0] == 2


# -- verification: a write answered as done that the target did not keep ----------------------


def test_the_mixed_plan_is_verified_from_the_answers_without_reading_back(
    emulator: LatticeEmulator, writer: LatticeWriter
) -> None:
    report = apply_plan(MIXED, writer, target_ids=EXISTING_IDS)

    assert report.ok
    assert [r.not_applied for r in report.results] == [()] * len(MIXED.changes)
    # every answer carried the resource: no GET was needed to verify it
    assert emulator.reads() == 0
    assert writer.request_count == len(MIXED.changes)


def test_a_title_the_target_ignores_on_patch_is_not_applied_and_the_rest_is(
    emulator: LatticeEmulator, writer: LatticeWriter
) -> None:
    emulator.ignore_on_patch = frozenset({"title"})
    plan = Plan((GRACE, LINK, MOVER), unchanged=0)

    report = apply_plan(plan, writer, target_ids=EXISTING_IDS)

    assert outcomes(report)[0] == ("create", "200", "applied", None)  # creates keep the title
    link = report.results[1]
    assert link.outcome is Outcome.NOT_APPLIED
    assert link.not_applied == ("title",)
    assert link.target_id == "u_unlinked"
    assert link.detail is not None
    assert "title" in link.detail
    assert "Staff" not in link.detail
    assert report.results[2].outcome is Outcome.APPLIED  # the mover's fields were kept
    assert not report.ok
    assert emulator.users["u_unlinked"]["title"] == "Engineer"
    assert emulator.users["u_unlinked"]["externalId"] == "300"  # the rest of that write took
    # one read-back confirmed the difference the PATCH answer showed; nothing was re-sent
    assert emulator.reads() == 1
    assert write_count(emulator) == 3


def test_a_patch_answered_204_is_read_back_once(emulator: LatticeEmulator) -> None:
    def no_content(request: httpx.Request) -> httpx.Response:
        response = emulator(request)
        if request.method == "PATCH" and response.status_code == 200:
            return httpx.Response(204)
        return response

    plan = Plan((LINK, LEAVER), unchanged=0)
    with build_writer(emulator, transport=in_process_transport(no_content)) as client:
        report = apply_plan(plan, client, target_ids=EXISTING_IDS, concurrency=1)
        assert client.request_count == 4  # two PATCHes, two read-backs

    assert report.ok
    assert [r.method for r in emulator.requests] == ["PATCH", "GET", "PATCH", "GET"]
    emulator.ignore_on_patch = frozenset({"active"})
    again = Change(Action.REACTIVATE, "600", "u_leaver", "lea@example.com")
    with build_writer(emulator, transport=in_process_transport(no_content)) as client:
        ignored = apply_plan(Plan((again,), unchanged=0), client, target_ids=EXISTING_IDS)
    assert ignored.results[0].outcome is Outcome.NOT_APPLIED
    assert ignored.results[0].not_applied == ("active",)


def test_a_read_back_that_fails_fails_the_change_but_keeps_a_created_manager(
    emulator: LatticeEmulator,
) -> None:
    def no_content_then_broken(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(404, json={"detail": "gone"})
        response = emulator(request)
        if request.method == "POST" and response.status_code == 201:
            return httpx.Response(201, json={"id": response.json()["id"]})
        return response

    plan = Plan((GRACE, ALAN), unchanged=0)
    with build_writer(emulator, transport=in_process_transport(no_content_then_broken)) as client:
        report = apply_plan(plan, client, target_ids=EXISTING_IDS)

    grace, alan = report.results
    assert grace.outcome is Outcome.FAILED
    assert grace.detail is not None
    assert "reading it back" in grace.detail
    assert grace.target_id is not None
    # the manager exists, so her report is still created under her
    assert alan.outcome is Outcome.FAILED
    assert alan.target_id is not None
    assert len(emulator.find_by_user_name("alan@example.com")) == 1
