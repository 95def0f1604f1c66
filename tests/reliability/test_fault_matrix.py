"""Faults on both sides, then re-runs until the plan is empty: nothing lost, nothing duplicated.

Every case runs plan + apply through the composition root (``app.plan`` and
``app.execute``) against seeded, faulty emulators, and repeats the way the nightly job would.
Each run either completes or fails with one clear line naming system, method and path; after
the last run the emulated Lattice equals what a fault-free run of the same scenario leaves.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from reliability_world import (
    Convergence,
    LatticeState,
    Recipe,
    Servers,
    SlowFirst,
    StatusBurst,
    World,
    build_recipe,
    compute_duplicates,
    compute_expected_state,
    compute_lattice_state,
    compute_state_diff,
    converge,
    describe_unclear_error,
    load_example_config,
    over_http,
    set_wire_value,
    wire_id,
    wire_value,
)

from reconciler import app
from reconciler.core.model import Action, Config, Outcome, Plan
from reconciler.errors import (
    ApiError,
    RateLimitedError,
    ReconcilerError,
    ServerError,
    SourceDataError,
    TransportError,
)
from reconciler.sandbox.company import generate_company
from reconciler.sandbox.lattice_emulator import LatticeFaults
from reconciler.sandbox.personio_emulator import PersonioFaults
from reconciler.sandbox.scenario import LATTICE_TOKEN, PERSONIO_CLIENT_SECRET
from reconciler.sandbox.transport import Handler

SECRETS = (PERSONIO_CLIENT_SECRET, LATTICE_TOKEN)

RecipeName = Literal["small", "paged"]


@functools.cache
def recipe(name: RecipeName) -> Recipe:
    """``small``: the sandbox's 60 people (one page each side); ``paged``: 250 people, so
    both sides page (Personio 100 a page, Lattice 100 a page)."""
    if name == "small":
        return build_recipe(60, 7)
    return build_recipe(250, 11)


@functools.cache
def config_for(name: RecipeName) -> Config:
    """The example config, for either recipe."""
    del name  # both recipes use the example config as it is
    return load_example_config()


@functools.cache
def expected(name: RecipeName) -> tuple[LatticeState, Plan]:
    return compute_expected_state(config_for(name), recipe(name))


def plan_keys(plan: Plan) -> set[tuple[Action, str | None]]:
    return {(change.action, change.source_id) for change in plan.changes}


# ---------------------------------------------------------------------------------------------
# The matrix
# ---------------------------------------------------------------------------------------------

First = Literal["completes", "read_fails", "some_writes_fail", "completes_or_some_writes_fail"]
Front = Callable[[Handler], StatusBurst]


@dataclass(frozen=True)
class Case:
    """One fault; the faults are built fresh per run (their counters count down)."""

    recipe: RecipeName
    first: First
    personio_faults: Callable[[], PersonioFaults] | None = None
    lattice_faults: Callable[[], LatticeFaults] | None = None
    personio_front: Front | None = None
    lattice_front: Front | None = None
    world_options: Mapping[str, Any] = field(default_factory=dict)
    #: the error type of a failed read (``read_fails``)
    error: type[ReconcilerError] | None = None
    #: faults that never end are switched off after the first run, as an operator would
    heal: bool = False
    #: (system, status, at least) that must appear in the request log: the fault did fire
    evidence: tuple[tuple[str, int | None, int], ...] = ()


def _front(status: int, count: int, suffix: str, methods: frozenset[str]) -> Front:
    return lambda inner: StatusBurst(
        inner, status=status, count=count, path_suffix=suffix, methods=methods
    )


GET = frozenset({"GET"})
WRITES = frozenset({"POST", "PATCH"})

CASES: dict[str, Case] = {
    # ---- Personio ---------------------------------------------------------------------------
    "personio-429-burst": Case(
        "small",
        "completes",
        personio_faults=lambda: PersonioFaults(rate_limit_burst=3),
        evidence=(("personio", 429, 3),),
    ),
    "personio-429-longer-than-the-retries": Case(
        "small",
        "read_fails",
        personio_faults=lambda: PersonioFaults(rate_limit_burst=6),
        error=RateLimitedError,
        evidence=(("personio", 429, 6),),
    ),
    "personio-500-and-503": Case(
        "small",
        "completes",
        personio_faults=lambda: PersonioFaults(server_errors=4),
        evidence=(("personio", 500, 2), ("personio", 503, 2)),
    ),
    "personio-502-html-from-a-gateway": Case(
        "small",
        "completes",
        personio_front=_front(502, 3, "/company/employees", GET),
        evidence=(("personio-front", 502, 3),),
    ),
    "personio-timeouts": Case(
        "small",
        "completes",
        personio_faults=lambda: PersonioFaults(timeouts=3),
        evidence=(("personio", 0, 3),),
    ),
    "personio-connection-resets": Case(
        "small",
        "completes",
        personio_faults=lambda: PersonioFaults(resets=3),
        evidence=(("personio", 0, 3),),
    ),
    "personio-malformed-json": Case(
        "small",
        "completes",
        personio_faults=lambda: PersonioFaults(malformed_json=2),
    ),
    "personio-malformed-json-every-attempt": Case(
        "small",
        "read_fails",
        personio_faults=lambda: PersonioFaults(malformed_json=5),
        error=TransportError,
    ),
    "personio-token-expires-mid-run": Case(
        "paged",
        "completes",
        world_options={"token_ttl_requests": 2},
        evidence=(("personio", 403, 1),),
    ),
    "personio-token-rotated-and-old-one-revoked": Case(
        "paged",
        "completes",
        world_options={"rotate_token_every": 1, "invalidate_rotated_tokens": True},
    ),
    "personio-short-page": Case(
        "paged",
        "completes",
        personio_faults=lambda: PersonioFaults(short_page_once=True),
    ),
    "personio-retries-exhausted": Case(
        "small",
        "read_fails",
        personio_faults=lambda: PersonioFaults(error_rate=1.0),
        error=ServerError,
        heal=True,
        evidence=(("personio", 503, 5),),
    ),
    # ---- Lattice reads ----------------------------------------------------------------------
    "lattice-429-with-retry-after": Case(
        "small",
        "completes",
        lattice_faults=lambda: LatticeFaults(rate_limit=3, retry_after=2.0),
        evidence=(("lattice", 429, 3),),
    ),
    "lattice-429-without-retry-after": Case(
        "small",
        "completes",
        lattice_faults=lambda: LatticeFaults(rate_limit=3, retry_after=None),
        evidence=(("lattice", 429, 3),),
    ),
    "lattice-500-and-503-on-reads": Case(
        "small",
        "completes",
        lattice_faults=lambda: LatticeFaults(server_errors=4),
        evidence=(("lattice", 500, 2), ("lattice", 503, 2)),
    ),
    "lattice-502-html-on-reads": Case(
        "small",
        "completes",
        lattice_front=_front(502, 3, "/Users", GET),
        evidence=(("lattice-front", 502, 3),),
    ),
    "lattice-timeouts-on-reads": Case(
        "small",
        "completes",
        lattice_faults=lambda: LatticeFaults(timeouts=3),
        evidence=(("lattice", None, 3),),
    ),
    "lattice-malformed-json-on-reads": Case(
        "small",
        "completes",
        lattice_faults=lambda: LatticeFaults(malformed_json=2),
    ),
    "lattice-short-page": Case(
        "paged",
        "completes",
        lattice_faults=lambda: LatticeFaults(short_page_once=True),
    ),
    "lattice-retries-exhausted-on-reads": Case(
        "small",
        "read_fails",
        lattice_faults=lambda: LatticeFaults(error_rate=1.0),
        error=ServerError,
        heal=True,
        evidence=(("lattice", 503, 5),),
    ),
    # ---- Lattice writes ---------------------------------------------------------------------
    "lattice-429-on-writes": Case(
        "small",
        "completes",
        lattice_faults=lambda: LatticeFaults(rate_limit=3, retry_after=1.0, writes_only=True),
        evidence=(("lattice", 429, 3),),
    ),
    "lattice-429-on-writes-longer-than-the-retries": Case(
        "small",
        "some_writes_fail",
        lattice_faults=lambda: LatticeFaults(rate_limit=8, retry_after=None, writes_only=True),
        evidence=(("lattice", 429, 8),),
    ),
    "lattice-500-and-503-on-writes": Case(
        "small",
        "completes",
        lattice_faults=lambda: LatticeFaults(server_errors=4, writes_only=True),
        evidence=(("lattice", 500, 2), ("lattice", 503, 2)),
    ),
    "lattice-502-html-on-writes": Case(
        "small",
        "completes",
        lattice_front=_front(502, 3, "", WRITES),
        evidence=(("lattice-front", 502, 3),),
    ),
    "lattice-timeouts-on-writes": Case(
        "small",
        "completes",
        lattice_faults=lambda: LatticeFaults(timeouts=3, writes_only=True),
        evidence=(("lattice", None, 3),),
    ),
    "lattice-reset-before-the-write-arrived": Case(
        "small",
        "completes",
        lattice_faults=lambda: LatticeFaults(resets_before=3, writes_only=True),
        evidence=(("lattice", None, 3),),
    ),
    "lattice-reset-after-the-write-was-done": Case(
        "small",
        "completes",
        lattice_faults=lambda: LatticeFaults(resets_after=3, writes_only=True),
        evidence=(("lattice", None, 3),),
    ),
    "lattice-every-write-answer-lost": Case(
        "small",
        "some_writes_fail",
        lattice_faults=lambda: LatticeFaults(resets_after=40, writes_only=True),
        evidence=(("lattice", None, 11),),
    ),
    "lattice-malformed-json-on-writes": Case(
        "small",
        "completes",
        lattice_faults=lambda: LatticeFaults(malformed_json=3, writes_only=True),
    ),
    "lattice-retries-exhausted-on-writes": Case(
        "small",
        "some_writes_fail",
        lattice_faults=lambda: LatticeFaults(error_rate=1.0, writes_only=True),
        heal=True,
        evidence=(("lattice", 503, 5),),
    ),
    "lattice-half-of-the-writes-fail": Case(
        "small",
        "completes_or_some_writes_fail",
        lattice_faults=lambda: LatticeFaults(error_rate=0.5, writes_only=True, seed=3),
        evidence=(("lattice", 503, 3),),
    ),
    "lattice-faults-of-every-kind-at-once": Case(
        "paged",
        "completes_or_some_writes_fail",
        # Four faults in a row on Personio's first page: one request has 5 attempts in all,
        # whatever mix of faults it meets (five in a row is a failed read, see above).
        personio_faults=lambda: PersonioFaults(
            rate_limit_burst=1, server_errors=1, resets=1, malformed_json=1
        ),
        lattice_faults=lambda: LatticeFaults(
            rate_limit=1, server_errors=1, resets_before=1, resets_after=2, timeouts=1, seed=5
        ),
    ),
}


def _count(world: World, fronts: Mapping[str, StatusBurst], system: str, status: int | None) -> int:
    if system == "personio":
        return sum(1 for r in world.personio.requests if r.status == status)
    if system == "lattice":
        return sum(1 for r in world.lattice.requests if r.status == status)
    front = fronts[system.removesuffix("-front")]
    return front.fired if front.status == status else 0


@dataclass
class CaseRun:
    world: World
    result: Convergence
    writes_after_first_run: int
    fronts: dict[str, StatusBurst]


def run_case(case: Case) -> CaseRun:
    options: dict[str, Any] = dict(case.world_options)
    if case.personio_faults is not None:
        options["personio_faults"] = case.personio_faults()
    if case.lattice_faults is not None:
        options["lattice_faults"] = case.lattice_faults()
    world = recipe(case.recipe).build(**options)
    fronts: dict[str, StatusBurst] = {}
    if case.personio_front is not None:
        fronts["personio"] = case.personio_front(world.personio)
    if case.lattice_front is not None:
        fronts["lattice"] = case.lattice_front(world.lattice)
    conn = world.connections(personio=fronts.get("personio"), lattice=fronts.get("lattice"))
    writes: list[int] = []

    def after_round(round_number: int) -> None:
        writes.append(world.lattice.writes())
        if case.heal and round_number == 0:
            world.personio.faults = PersonioFaults()
            world.lattice.faults = LatticeFaults()

    result = converge(config_for(case.recipe), conn, after_round=after_round)
    return CaseRun(world, result, writes[0] if writes else 0, fronts)


@pytest.mark.parametrize("name", list(CASES))
def test_a_fault_ends_in_exactly_the_state_of_a_fault_free_run(name: str) -> None:
    case = CASES[name]
    outcome = run_case(case)
    world, result = outcome.world, outcome.result
    expected_state, clean_plan = expected(case.recipe)

    # The fault really happened.
    for system, status, at_least in case.evidence:
        seen = _count(world, outcome.fronts, system, status)
        assert seen >= at_least, f"{system} {status}: {seen} < {at_least}"

    # Every error is one clear line naming system, method and path, without a secret.
    for error in result.errors:
        assert describe_unclear_error(error, SECRETS) is None
    for detail in result.failed_details():
        assert all(secret not in detail for secret in SECRETS)

    # The first run ended the way this fault should end it.
    if case.first == "read_fails":
        assert len(result.errors) == 1
        assert type(result.errors[0]) is case.error
        assert outcome.writes_after_first_run == 0  # a failed read writes nothing
    else:
        assert result.errors == []
        first_report = result.reports[0]
        if case.first == "completes":
            assert first_report.ok, result.failed_details()
            assert result.rounds == 2
        elif case.first == "some_writes_fail":
            assert not first_report.ok
            assert first_report.count(Outcome.FAILED) > 0

    # Reading under faults sees exactly what a clean read sees: the same plan, byte for byte.
    assert result.first_plan.checksum == clean_plan.checksum
    # Later runs only finish what the first plan started; they never invent changes.
    for plan in result.plans[1:]:
        assert plan_keys(plan) <= plan_keys(clean_plan)

    # Nothing lost, nothing duplicated.
    assert compute_duplicates(world.lattice) == {}
    assert compute_state_diff(compute_lattice_state(world.lattice), expected_state) == {}


# ---------------------------------------------------------------------------------------------
# Cases with their own story
# ---------------------------------------------------------------------------------------------


def test_a_personio_total_that_changes_between_pages_writes_nothing_until_a_rerun() -> None:
    name: RecipeName = "paged"
    world = recipe(name).build(personio_faults=PersonioFaults(grow_total_after_first_page=1))
    conn = world.connections()
    config = config_for(name)

    with pytest.raises(SourceDataError) as raised:
        app.plan(config, conn)
    assert world.lattice.writes() == 0
    # Pages after the first are read concurrently: whichever notices first reports.
    assert re.fullmatch(
        r"personio GET /company/employees offset=[12]00: Personio's employee list changed while "
        r"it was being read \(total 250 → 251\); run again",
        str(raised.value),
    )

    result = converge(config, conn)
    assert result.errors == []
    new_hire = world.personio.employee(251)
    grown = dataclasses.replace(recipe(name), employees=(*recipe(name).employees, new_hire))
    expected_state, clean_plan = compute_expected_state(config, grown)
    assert result.first_plan.checksum == clean_plan.checksum
    assert [c.source_id for c in clean_plan.changes if c.action is Action.CREATE][-1] == "251"
    assert compute_duplicates(world.lattice) == {}
    assert compute_state_diff(compute_lattice_state(world.lattice), expected_state) == {}


def _unlinked_twin(base: Recipe, source_id: str, external_id: str | None) -> dict[str, object]:
    """A Lattice user with the email of ``source_id`` (someone the first plan creates), made
    by hand in Lattice: other name, no title, and ``external_id`` (or none)."""
    raw = next(e for e in base.employees if wire_id(e) == source_id)
    email = wire_value(raw, "email")
    resource: dict[str, object] = {
        "userName": str(email).upper(),
        "name": {"givenName": "Hand", "familyName": "Made"},
        "emails": [{"value": email, "primary": True, "type": "work"}],
        "active": True,
    }
    if external_id is not None:
        resource["externalId"] = external_id
    return resource


def _last_create(plan: Plan) -> str:
    creates = [c.source_id for c in plan.changes if c.action is Action.CREATE]
    assert creates
    last = creates[-1]
    assert last is not None
    return last


@pytest.mark.parametrize("when", ["before the plan", "between plan and apply"])
def test_an_unlinked_lattice_user_with_the_same_email_is_linked_not_duplicated(when: str) -> None:
    config = config_for("small")
    base = recipe("small")
    target = _last_create(expected("small")[1])
    twin = _unlinked_twin(base, target, None)
    with_twin = dataclasses.replace(base, extra_users=(twin,))
    expected_state, clean_plan = compute_expected_state(config, with_twin)
    # Seeded before planning, the plan adopts the user instead of creating one.
    link = next(c for c in clean_plan.changes if c.source_id == target)
    assert link.action is Action.LINK
    assert {f.name for f in link.fields} >= {"first_name", "last_name", "title"}

    world = (with_twin if when == "before the plan" else base).build()
    conn = world.connections()

    def create_twin_meanwhile(round_number: int, run: app.PlanRun) -> None:
        if when == "between plan and apply" and round_number == 0:
            world.lattice.seed_user(twin)

    result = converge(config, conn, before_apply=create_twin_meanwhile)
    if when == "between plan and apply":
        # The create meets Lattice's 409; it fails alone, clearly, and the next run links.
        failed = [r for r in result.reports[0].results if r.outcome is Outcome.FAILED]
        assert [(r.change.action, r.change.source_id) for r in failed] == [(Action.CREATE, target)]
        assert failed[0].detail == "lattice POST Users → 409: userName is already in use"
        assert [c.action for c in result.plans[1].changes if c.source_id == target] == [Action.LINK]
    assert compute_duplicates(world.lattice) == {}
    assert compute_state_diff(compute_lattice_state(world.lattice), expected_state) == {}


@pytest.mark.parametrize("when", ["before the plan", "between plan and apply"])
def test_a_lattice_user_with_the_same_email_but_another_external_id_is_left_untouched(
    when: str,
) -> None:
    config = config_for("small")
    base = recipe("small")
    target = _last_create(expected("small")[1])
    stranger = _unlinked_twin(base, target, "900001")
    with_stranger = dataclasses.replace(base, extra_users=(stranger,))
    expected_state, clean_plan = compute_expected_state(config, with_stranger)
    assert [c for c in clean_plan.changes if c.source_id == target] == []
    assert [(e.source_id, e.code) for e in clean_plan.errors if e.source_id == target] == [
        (target, "email_claimed")
    ]
    assert expected_state["externalId:900001"]["givenName"] == "Hand"  # untouched
    assert expected_state["externalId:900001"]["active"] is True

    world = (with_stranger if when == "before the plan" else base).build()

    def create_stranger_meanwhile(round_number: int, run: app.PlanRun) -> None:
        if when == "between plan and apply" and round_number == 0:
            world.lattice.seed_user(stranger)

    result = converge(config, world.connections(), before_apply=create_stranger_meanwhile)
    if when == "between plan and apply":
        failed = [r for r in result.reports[0].results if r.outcome is Outcome.FAILED]
        assert [(r.change.source_id, r.detail) for r in failed] == [
            (target, "lattice POST Users → 409: userName is already in use")
        ]
    assert compute_duplicates(world.lattice) == {}
    assert compute_state_diff(compute_lattice_state(world.lattice), expected_state) == {}


def test_retries_exhausted_on_personio_name_the_endpoint_and_write_nothing() -> None:
    world = recipe("small").build(personio_faults=PersonioFaults(error_rate=1.0))
    with pytest.raises(ApiError) as raised:
        app.plan(config_for("small"), world.connections())
    assert str(raised.value) == (
        "personio GET /company/employees → 503: Service Unavailable (gave up after 5 attempts)"
    )
    assert world.lattice.writes() == 0  # Lattice is read alongside, never written


def test_retries_exhausted_on_lattice_reads_name_the_endpoint_and_write_nothing() -> None:
    world = recipe("small").build(lattice_faults=LatticeFaults(error_rate=1.0))
    with pytest.raises(ApiError) as raised:
        app.plan(config_for("small"), world.connections())
    assert str(raised.value) == (
        "lattice GET Users → 503: service unavailable (injected) (gave up after 5 attempts)"
    )
    assert world.lattice.writes() == 0


def test_a_write_that_exhausts_its_retries_names_the_endpoint_in_the_report() -> None:
    world = recipe("small").build(lattice_faults=LatticeFaults(error_rate=1.0, writes_only=True))
    conn = world.connections()
    run = app.plan(config_for("small"), conn)
    report = app.execute(run, conn)
    failed = [r for r in report.results if r.outcome is Outcome.FAILED]
    assert failed
    for result in failed:
        method = "POST" if result.change.action is Action.CREATE else "PATCH"
        assert result.detail is not None
        assert f"lattice {method} Users" in result.detail
        assert "503" in result.detail


def test_a_new_value_for_an_attribute_already_at_200_choices_does_not_block_the_create() -> None:
    config = dataclasses.replace(
        load_example_config(),
        custom_attributes=tuple(
            a for a in load_example_config().custom_attributes if a.lattice == "Cost Center"
        ),
    )
    company = generate_company(201, 3, quirks=False)
    records = copy.deepcopy(list(company.employees))
    for number, record in enumerate(records):
        set_wire_value(record, "status", "active")
        set_wire_value(record, "dynamic_1234567", f"CC-{1000 + number}")
    newcomer = wire_id(records[-1])
    set_wire_value(records[-1], "dynamic_1234567", "CC-0999")  # sorts before all the others
    # Lattice holds the first 200 people with their 200 distinct cost centres.
    history = dataclasses.replace(company, employees=tuple(records[:-1]))
    world = Recipe(history=history, employees=tuple(records), drift=False).build()

    result = converge(config, world.connections(), max_runs=3)

    assert all(report.ok for report in result.reports), result.failed_details()
    assert [(p.source_id, p.code) for p in result.first_plan.warnings] == [
        (newcomer, "too_many_choices")
    ]


# ---------------------------------------------------------------------------------------------
# Over real sockets
# ---------------------------------------------------------------------------------------------


def test_resets_and_rate_limits_over_real_sockets_lose_and_duplicate_nothing(
    servers: Servers,
) -> None:
    world = recipe("small").build(
        personio_faults=PersonioFaults(resets=2, rate_limit_burst=1),
        lattice_faults=LatticeFaults(
            resets_before=2, resets_after=2, rate_limit=1, retry_after=0.0, writes_only=True
        ),
    )
    servers.plug(world)
    conn = over_http(world, servers.personio_url, servers.lattice_url)
    result = converge(config_for("small"), conn)

    assert result.errors == []
    assert result.reports[0].ok, result.failed_details()
    assert sum(1 for r in world.personio.requests if r.status == 0) == 2
    assert sum(1 for r in world.lattice.requests if r.status is None) == 4
    expected_state, clean_plan = expected("small")
    assert result.first_plan.checksum == clean_plan.checksum
    assert compute_duplicates(world.lattice) == {}
    assert compute_state_diff(compute_lattice_state(world.lattice), expected_state) == {}


def test_timeouts_over_real_sockets_lose_and_duplicate_nothing(servers: Servers) -> None:
    """Real read timeouts: the clients do not expose their 30 s timeout, so the transport
    shortens it to 0.2 s and the servers answer the first requests 0.6 s late — a read of
    each side before the work, and one create after the user was stored."""
    world = recipe("small").build()
    personio = SlowFirst(
        world.personio, count=1, seconds=0.6, method="GET", path_pattern=r"/company/employees$"
    )
    lattice_read = SlowFirst(
        world.lattice, count=1, seconds=0.6, method="GET", path_pattern=r"/Users$"
    )
    lattice = SlowFirst(
        lattice_read,
        count=1,
        seconds=0.6,
        method="POST",
        path_pattern=r"/Users$",
        after_work=True,
    )
    servers.personio_board.target = personio
    servers.lattice_board.target = lattice
    conn = over_http(world, servers.personio_url, servers.lattice_url, timeout=0.2)
    result = converge(config_for("small"), conn)

    assert (personio.delayed, lattice_read.delayed, lattice.delayed) == (1, 1, 1)
    assert result.errors == []
    assert result.reports[0].ok, result.failed_details()
    posts = [r for r in world.lattice.requests if r.method == "POST"]
    expected_state, clean_plan = expected("small")
    creates = sum(1 for c in clean_plan.changes if c.action is Action.CREATE)
    assert len(posts) == creates  # the late create was found, not posted again
    assert result.first_plan.checksum == clean_plan.checksum
    assert compute_duplicates(world.lattice) == {}
    assert compute_state_diff(compute_lattice_state(world.lattice), expected_state) == {}
