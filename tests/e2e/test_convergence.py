"""Convergence (hypothesis): from any messy Personio/Lattice pair, apply once and the next plan is
empty; with Lattice faults, a few applies converge and never duplicate a user. In-process emulators,
default and strict; stock scim2-server for a rename, a retitle and a cleared attribute.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections import Counter
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from scim2_server.memory import InMemoryStorage
from scim2_server.testserver.application import BearerTokenApplication
from scim2_server.utils import load_default_provider

from reconciler import app
from reconciler.applier import ALREADY_PRESENT, audit_record
from reconciler.config import load_config
from reconciler.core.model import Config, Outcome, Plan
from reconciler.sandbox import sample_config_path
from reconciler.sandbox.company import generate_company
from reconciler.sandbox.lattice_emulator import LatticeEmulator, LatticeFaults
from reconciler.sandbox.personio_emulator import PersonioCredential, PersonioEmulator
from reconciler.sandbox.scenario import (
    LATTICE_CUSTOM_ATTRIBUTES,
    LATTICE_TOKEN,
    PERSONIO_CLIENT_ID,
    PERSONIO_CLIENT_SECRET,
    Sandbox,
    build_sandbox,
    seed_lattice,
)
from reconciler.targets.lattice.profile import LATTICE_URN
from reconciler.targets.scim.resources import ENTERPRISE_URN

BASE_CONFIG = load_config(sample_config_path())
MAX_APPLIES = 5

#: What can have happened to a Lattice user since the last sync.
LATTICE_EDITS = (
    "delete",
    "deactivate",
    "retitle",
    "move department",
    "change cost center",
    "change level",
    "unlink",
    "shout username",
    "drop manager",
    "change email",
)
#: What can have happened to a Personio employee since the last sync.
PERSONIO_EDITS = (
    ("status", "inactive"),
    ("status", "leave"),
    ("status", "onboarding"),
    ("status", "active"),
    ("employment_type", "external"),
    ("employment_type", "internal"),
    ("position", "Renamed Role"),
    ("email", "renamed-in-personio"),  # a new address of their own
    # employee 1's first address: a duplicate, or a hand-over once employee 1 is renamed
    ("email", "someone else's"),
    ("remove", ""),  # deleted from Personio altogether
)


class Scenario:
    """Both emulators, the config, and the story of how they got here (shown on failure)."""

    def __init__(self, box: Sandbox, config: Config, story: list[str]) -> None:
        self.box = box
        self.config = config
        self.story = story

    def __repr__(self) -> str:
        return f"Scenario({'; '.join(self.story)})"


def edit_lattice_user(resource: dict[str, Any], edit: str) -> dict[str, Any] | None:
    """``resource`` after ``edit``; ``None`` when the user was deleted."""
    if edit == "delete":
        return None
    if edit == "deactivate":
        resource["active"] = False
    elif edit == "retitle":
        resource["title"] = "Chief Vibes Officer"
    elif edit == "move department":
        resource.setdefault(ENTERPRISE_URN, {})["department"] = "Skunkworks"
    elif edit == "change cost center":
        resource.setdefault(LATTICE_URN, {})["Cost Center"] = "CC-000"
    elif edit == "change level":
        resource.setdefault(LATTICE_URN, {})["Level"] = 99
    elif edit == "unlink":
        resource.pop("externalId", None)
    elif edit == "shout username":
        resource["userName"] = str(resource["userName"]).upper()
    elif edit == "drop manager":
        resource.get(ENTERPRISE_URN, {}).pop("manager", None)
    elif edit == "change email":
        email = f"renamed-in-lattice-{resource['id']}@example.com"
        resource["userName"] = email
        resource["emails"] = [{"value": email, "primary": True, "type": "work"}]
    return resource


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """A sample company in Personio and what an earlier sync left in Lattice, then both drifted."""
    n = draw(st.integers(5, 80), label="employees")
    seed = draw(st.integers(0, 10_000), label="seed")
    company = generate_company(n, seed)
    story = [f"generate_company({n}, {seed})"]

    seeded = LatticeEmulator(token=LATTICE_TOKEN, custom_attributes=LATTICE_CUSTOM_ATTRIBUTES)
    drift = draw(st.booleans(), label="drift")
    seed_lattice(seeded, company, drift=drift)
    story.append(f"seed_lattice(drift={drift})")
    resources: list[dict[str, Any] | None] = [copy.deepcopy(user) for user in seeded.users.values()]
    edits = draw(
        st.lists(st.tuples(st.integers(0, len(resources) - 1), st.sampled_from(LATTICE_EDITS))),
        label="lattice edits",
    )
    for index, edit in edits:
        resource = resources[index]
        if resource is not None:
            resources[index] = edit_lattice_user(resource, edit)
            story.append(f"lattice {resource['id']}: {edit}")
    unmanaged = draw(st.integers(0, 3), label="unmanaged users")
    for number in range(unmanaged):
        email = f"service-account-{number}@example.com"
        resources.append(
            {
                "userName": email,
                "emails": [{"value": email, "primary": True, "type": "work"}],
                "name": {"givenName": "Service", "familyName": f"Account {number}"},
                "active": True,
            }
        )
    story.append(f"{unmanaged} unmanaged users")
    # The strict mode is Lattice as its documentation reads at its most pessimistic.
    strict = draw(st.booleans(), label="strict")
    story.append(f"strict={strict}")
    lattice = LatticeEmulator(
        token=LATTICE_TOKEN,
        custom_attributes=LATTICE_CUSTOM_ATTRIBUTES,
        users=[resource for resource in resources if resource is not None],
        strict=strict,
    )

    personio = PersonioEmulator(
        company.employees,
        company.attributes,
        credentials={PERSONIO_CLIENT_ID: PersonioCredential(client_secret=PERSONIO_CLIENT_SECRET)},
    )
    changes = draw(
        st.lists(st.tuples(st.integers(1, n), st.sampled_from(PERSONIO_EDITS))),
        label="personio edits",
    )
    removed: set[int] = set()
    first_address = personio.employee(1)["attributes"]["email"]["value"]
    for source_id, (key, value) in changes:
        if source_id in removed:
            continue
        story.append(f"personio {source_id}: {key} {value}")
        if key == "remove":
            personio.remove_employee(source_id)
            removed.add(source_id)
        elif value == "renamed-in-personio":
            # Employee 1's old address may then go to someone else: a hand-over.
            personio.update_employee(source_id, key, f"renamed-{source_id}@example.com")
        elif value == "someone else's" and source_id != 1:
            personio.update_employee(source_id, key, first_address)
        elif value not in ("someone else's", "renamed-in-personio"):
            personio.update_employee(source_id, key, value)

    sync = dataclasses.replace(
        BASE_CONFIG.sync,
        unmanaged_users=draw(st.sampled_from(["ignore", "deactivate"]), label="unmanaged"),
        employee_types=draw(
            st.sampled_from([("internal", "external"), ("internal",)]), label="types"
        ),
    )
    story.append(f"sync: {sync.unmanaged_users} unmanaged, types {sync.employee_types}")
    config = dataclasses.replace(BASE_CONFIG, sync=sync)
    return Scenario(Sandbox(company, personio, lattice), config, story)


def problems(plan: Plan) -> Counter[tuple[str | None, str, str]]:
    return Counter((p.source_id, p.code, p.message) for p in plan.errors)


def duplicates(lattice: LatticeEmulator) -> dict[str, list[str]]:
    """Keys (externalId, case-folded userName) that more than one stored user carries."""
    owners: dict[str, list[str]] = {}
    for user in lattice.users.values():
        external_id = user.get("externalId")
        if isinstance(external_id, str):
            owners.setdefault(f"externalId {external_id}", []).append(str(user["id"]))
        owners.setdefault(f"userName {str(user['userName']).casefold()}", []).append(
            str(user["id"])
        )
    return {key: ids for key, ids in owners.items() if len(ids) > 1}


def bucket(count: int) -> str:
    """A coarse label for hypothesis's statistics: was the case trivial or substantial?"""
    return "0" if count == 0 else "1-9" if count < 10 else "10+"


PROPERTIES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROPERTIES
@given(scenario=scenarios())
def test_one_apply_leaves_nothing_to_do_but_the_per_person_errors(scenario: Scenario) -> None:
    conn = scenario.box.connections()

    first = app.plan(scenario.config, conn)
    report = app.execute(first, conn)  # whatever the safety verdict, as with --force
    second = app.plan(scenario.config, conn)

    event(f"first plan: {bucket(len(first.plan.changes))} changes")
    failed = [
        (r.change.source_id, r.detail) for r in report.results if r.outcome is not Outcome.APPLIED
    ]
    assert failed == []
    assert second.plan.changes == ()
    assert problems(second.plan) == problems(first.plan)
    assert duplicates(scenario.box.lattice) == {}


@PROPERTIES
@given(
    scenario=scenarios(),
    faults=st.builds(
        LatticeFaults,
        rate_limit=st.integers(0, 6),
        retry_after=st.just(0.0),
        error_rate=st.floats(0.0, 0.4),
        resets_before=st.integers(0, 3),
        resets_after=st.integers(0, 6),
        # Reads are left alone: a plan that cannot even read is a failed run, not a test of
        # convergence; writes get every fault.
        writes_only=st.just(True),
        seed=st.integers(0, 1000),
    ),
)
def test_applies_under_lattice_faults_converge_without_duplicating_anyone(
    scenario: Scenario, faults: LatticeFaults
) -> None:
    conn = scenario.box.connections()
    lattice = scenario.box.lattice
    lattice.faults = faults

    plans = [app.plan(scenario.config, conn)]
    while not plans[-1].plan.is_empty and len(plans) <= MAX_APPLIES:
        app.execute(plans[-1], conn)
        assert duplicates(lattice) == {}
        plans.append(app.plan(scenario.config, conn))

    faulted = sum(1 for r in lattice.requests if r.status is None or r.status >= 429)
    event(f"{len(plans) - 1} applies")
    event(f"faulted writes: {bucket(faulted)}")
    assert plans[-1].plan.changes == ()
    assert problems(plans[-1].plan) == problems(plans[0].plan)


def test_an_email_handed_to_a_colleague_who_had_their_own_converges_in_one_apply() -> None:
    company = generate_company(5, 0)
    lattice = LatticeEmulator(token=LATTICE_TOKEN, custom_attributes=LATTICE_CUSTOM_ATTRIBUTES)
    seed_lattice(lattice, company, drift=False)
    personio = PersonioEmulator(
        company.employees,
        company.attributes,
        credentials={PERSONIO_CLIENT_ID: PersonioCredential(client_secret=PERSONIO_CLIENT_SECRET)},
    )
    # Employee 1 gets a new address; their old one goes to employee 2 (a shared mailbox, say).
    old_address = personio.employee(1)["attributes"]["email"]["value"]
    personio.update_employee(1, "email", "renamed-1@example.com")
    personio.update_employee(2, "email", old_address)
    box = Sandbox(company, personio, lattice)
    conn = box.connections()

    first = app.plan(BASE_CONFIG, conn)
    report = app.execute(first, conn)
    second = app.plan(BASE_CONFIG, conn)

    assert report.ok
    assert [(c.action.value, c.source_id) for c in second.plan.changes] == []


# ---------------------------------------------------------------------------------------------
# A rename, a retitle and a cleared custom attribute: the default emulator, the strict mode
# (Lattice as its documentation reads at its most pessimistic) and stock scim2-server
# ---------------------------------------------------------------------------------------------


def rename_retitle_and_clear(personio: PersonioEmulator) -> None:
    """Employee 2 gets a three-word name, 3 a new title, 5 loses their cost center."""
    personio.update_employee(2, "first_name", "Mary Ann")
    personio.update_employee(2, "last_name", "Jones")
    personio.update_employee(3, "position", "Chief Vibes Officer")
    personio.update_employee(5, "dynamic_1234567", None)


def stored_by_external_id(lattice: LatticeEmulator, source_id: str) -> dict[str, Any]:
    (user,) = [u for u in lattice.users.values() if u.get("externalId") == source_id]
    return user


@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
def test_a_rename_a_retitle_and_a_cleared_custom_attribute_converge(strict: bool) -> None:
    box = build_sandbox(employees=8, seed=1, drift=False, strict=strict)
    conn = box.connections()
    assert app.plan(BASE_CONFIG, conn).plan.changes == ()
    rename_retitle_and_clear(box.personio)

    first = app.plan(BASE_CONFIG, conn)
    report = app.execute(first, conn)
    second = app.plan(BASE_CONFIG, conn)
    third = app.plan(BASE_CONFIG, conn)

    assert sorted(c.source_id or "" for c in first.plan.changes) == ["2", "3", "5"]
    assert [r.outcome for r in report.results] == [Outcome.APPLIED] * 3
    assert second.plan.changes == ()
    assert third.plan.changes == ()
    renamed = stored_by_external_id(box.lattice, "2")
    assert renamed["name"]["formatted"] == "Mary Ann Jones"  # the full name followed the rename
    assert "Cost Center" not in stored_by_external_id(box.lattice, "5").get(LATTICE_URN, {})
    if strict:
        # the strict mode refuses a remove whose path has a space: none was sent
        assert all(r.status in (200, 201) for r in box.lattice.requests if r.method == "PATCH")


def test_a_rename_and_a_retitle_converge_against_scim2_server() -> None:
    """scim2-server has no Lattice extension: core and enterprise fields only."""
    box = build_sandbox(employees=8, seed=1, drift=False)
    application = BearerTokenApplication(
        InMemoryStorage(), load_default_provider(), bearer_tokens=[LATTICE_TOKEN]
    )
    transport = httpx.WSGITransport(app=application)
    fields = tuple(
        dataclasses.replace(f, enabled=f.name in ("title", "department", "manager"))
        for f in BASE_CONFIG.fields
    )
    config = dataclasses.replace(BASE_CONFIG, fields=fields, custom_attributes=())
    conn = dataclasses.replace(
        box.connections(), lattice_base_url="http://scim.test/v2", lattice_transport=transport
    )
    # the first apply creates everyone in scim2-server
    app.execute(app.plan(config, conn), conn)
    assert app.plan(config, conn).plan.changes == ()
    rename_retitle_and_clear(box.personio)

    first = app.plan(config, conn)
    report = app.execute(first, conn)
    second = app.plan(config, conn)

    assert sorted(c.source_id or "" for c in first.plan.changes) == ["2", "3"]
    assert [r.outcome for r in report.results] == [Outcome.APPLIED] * 2
    assert second.plan.changes == ()
    with httpx.Client(
        base_url="http://scim.test/v2",
        transport=transport,
        headers={"Authorization": f"Bearer {LATTICE_TOKEN}"},
    ) as http:
        found = http.get("/Users", params={"filter": 'externalId eq "2"'}).json()
    assert found["Resources"][0]["name"]["formatted"] == "Mary Ann Jones"


def test_a_second_apply_of_the_same_creates_records_them_as_already_present() -> None:
    """Two applies racing on one plan: scim2-server answers the second's creates with 409; its
    report and audit log say "already present", never that it created them."""
    box = build_sandbox(employees=8, seed=1, drift=False)
    application = BearerTokenApplication(
        InMemoryStorage(), load_default_provider(), bearer_tokens=[LATTICE_TOKEN]
    )
    fields = tuple(
        dataclasses.replace(f, enabled=f.name in ("title", "department"))
        for f in BASE_CONFIG.fields
    )
    config = dataclasses.replace(BASE_CONFIG, fields=fields, custom_attributes=())
    conn = dataclasses.replace(
        box.connections(),
        lattice_base_url="http://scim.test/v2",
        lattice_transport=httpx.WSGITransport(app=application),
    )
    planned = app.plan(config, conn)
    first = app.execute(planned, conn)
    second = app.execute(planned, conn)

    created = [r for r in first.results if r.change.action.value == "create"]
    again = [r for r in second.results if r.change.action.value == "create"]
    assert created
    assert all(r.detail is None for r in created)
    assert [r.target_id for r in again] == [r.target_id for r in created]
    assert {r.detail for r in again} == {ALREADY_PRESENT}
    assert {audit_record(r, dt.datetime.now(dt.UTC))["detail"] for r in again} == {ALREADY_PRESENT}
