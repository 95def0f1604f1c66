"""Lifecycle scenarios end to end (docs/decisions.md, "2026-12-03: hand-overs"; rehires; policies):
a leaver whose address went to a colleague, to two of them, or to a new profile; a hand-over, a
swap, a rehire with a new id (same and different name) and their reports, a manager in a swap, a
user deactivated by hand, another provisioner's user. Each is planned and applied through
``app.plan`` / ``app.execute`` with our real httpx clients against the default Lattice emulator,
its strict mode, and stock scim2-server (in-process over WSGI), and the stored users are then
read back with plain SCIM requests, not with our reader.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from scim2_server.memory import InMemoryStorage
from scim2_server.testserver.application import BearerTokenApplication
from scim2_server.utils import load_default_provider

from reconciler import app
from reconciler.app import PlanRun
from reconciler.config import load_config
from reconciler.core.model import Action, ApplyReport, Config, Outcome, Plan
from reconciler.edges.connections import Connections
from reconciler.sandbox import sample_config_path
from reconciler.sandbox.scenario import LATTICE_TOKEN, Sandbox, build_sandbox
from reconciler.targets.lattice.profile import LATTICE_URN
from reconciler.targets.scim.resources import ENTERPRISE_URN

BASE_CONFIG = load_config(sample_config_path())
SCIM2_BASE = "http://scim.test/v2"
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
BACKENDS = ("default", "strict", "scim2-server")

# The company: build_sandbox(employees=12, seed=1), all invented people at example.com.
# 1 is the CEO; 2..8 head departments and report to 1; 9 left long ago; 10 and 12 report to 4,
# 11 reports to 2. Nobody reports to 10, 11 or 12.
EMPLOYEES, SEED = 12, 1
REHIRE_ID = 900


class RecordingTransport(httpx.BaseTransport):
    """Passes every request on to ``inner`` and remembers its method and path."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        #: method, path, and the external id a create's body carries
        self.requests: list[tuple[str, str, object]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        created = json.loads(request.read()).get("externalId") if request.method == "POST" else None
        self.requests.append((request.method, request.url.path, created))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@dataclass
class World:
    """Personio (an emulator), one Lattice-like SCIM service, our config and connections."""

    backend: str
    box: Sandbox
    config: Config
    base_url: str
    transport: RecordingTransport
    conn: Connections = field(init=False)

    def __post_init__(self) -> None:
        self.conn = dataclasses.replace(
            self.box.connections(), lattice_base_url=self.base_url, lattice_transport=self.transport
        )

    def plan(self) -> PlanRun:
        return app.plan(self.config, self.conn)

    def apply(self) -> tuple[PlanRun, ApplyReport]:
        """One apply of a fresh plan, whatever its safety verdict (as ``--force`` would)."""
        planned = self.plan()
        return planned, app.execute(planned, self.conn)

    def writes(self) -> list[tuple[str, str]]:
        return [(m, path) for m, path, _ in self.transport.requests if m in WRITE_METHODS]

    def written_order(self) -> list[str]:
        """The external id each write was for, in the order the writes were sent."""
        owner = {str(u["id"]): pid for pid, u in self.stored().items()}
        return [
            str(external_id) if method == "POST" else owner[path.rsplit("/", 1)[-1]]
            for method, path, external_id in self.transport.requests
            if method in WRITE_METHODS
        ]

    def stored(self) -> dict[str, dict[str, Any]]:
        """Every stored user that carries an external id, by it, as the service lists it."""
        users: list[dict[str, Any]] = []
        with httpx.Client(
            base_url=self.base_url,
            transport=self.transport.inner,  # reading back is not part of what was sent
            headers={"Authorization": f"Bearer {LATTICE_TOKEN}"},
        ) as http:
            start = 1
            while True:
                page = http.get("/Users", params={"startIndex": start, "count": 100}).json()
                resources = page.get("Resources", [])
                users.extend(resources)
                start += len(resources)
                if not resources or start > page["totalResults"]:
                    break
        return {str(u["externalId"]): u for u in users if u.get("externalId")}


def build_world(backend: str) -> World:
    box = build_sandbox(EMPLOYEES, SEED, drift=False, strict=backend == "strict")
    if backend != "scim2-server":
        return World(
            backend,
            box,
            BASE_CONFIG,
            box.lattice_base_url,
            RecordingTransport(box.lattice_transport()),
        )
    # scim2-server has no Lattice extension: core and enterprise fields only. The first apply
    # creates everyone in scope there, which is where an earlier sync would have left it.
    application = BearerTokenApplication(
        InMemoryStorage(), load_default_provider(), bearer_tokens=[LATTICE_TOKEN]
    )
    fields = tuple(
        dataclasses.replace(f, enabled=f.name in ("title", "department", "manager"))
        for f in BASE_CONFIG.fields
    )
    config = dataclasses.replace(BASE_CONFIG, fields=fields, custom_attributes=())
    world = World(
        backend, box, config, SCIM2_BASE, RecordingTransport(httpx.WSGITransport(app=application))
    )
    _, report = world.apply()
    assert report.ok
    return world


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest) -> World:
    built = build_world(str(request.param))
    # Every scenario starts from a converged pair: nothing to do, nothing wrong.
    start = built.plan().plan
    assert start.changes == ()
    assert start.errors == ()
    built.transport.requests.clear()
    return built


def address(world: World, pid: int) -> str:
    value = world.box.personio.employee(pid)["attributes"]["email"]["value"]
    assert isinstance(value, str)
    return value


def summary(plan: Plan) -> list[tuple[str, str | None, tuple[str, ...]]]:
    return [(c.action.value, c.source_id, c.waits_for) for c in plan.changes]


def codes(problems: tuple[Any, ...], code: str | None = None) -> list[tuple[str | None, str]]:
    return sorted((p.source_id or "", p.code) for p in problems if code is None or p.code == code)


def user_name(user: dict[str, Any]) -> str:
    return str(user["userName"]).casefold()


def manager_of(user: dict[str, Any]) -> str | None:
    manager = user.get(ENTERPRISE_URN, {}).get("manager")
    return None if manager is None else str(manager["value"])


def assert_all_applied(report: ApplyReport) -> None:
    failed = [
        (r.change.source_id, r.detail) for r in report.results if r.outcome is not Outcome.APPLIED
    ]
    assert failed == []
    assert report.ok


# ---------------------------------------------------------------------------------------------
# A leaver whose address was handed to a colleague
# ---------------------------------------------------------------------------------------------


def test_a_leaver_whose_address_went_to_a_colleague_is_deactivated_in_the_first_run(
    world: World,
) -> None:
    # 11 leaves and keeps the address in Personio; 12 is given it as well.
    world.box.personio.update_employee(11, "status", "inactive")
    world.box.personio.update_employee(12, "email", address(world, 11))
    before = world.stored()

    first, report = world.apply()
    second = world.plan()
    after = world.stored()

    assert summary(first.plan) == [("deactivate", "11", ())]
    assert first.plan.changes[0].reason == "left (status: inactive)"
    assert first.plan.changes[0].target_id == before["11"]["id"]
    [error] = first.plan.errors
    assert (error.source_id, error.code) == ("12", "email_held_by_leaver")
    assert "employee 11" in error.message
    assert before["11"]["id"] in error.message
    assert "@" not in error.message  # ids, never addresses
    assert_all_applied(report)
    assert after["11"]["active"] is False
    assert user_name(after["12"]) == user_name(before["12"])  # 12 is not given the address
    # The second run has nothing left to write; 12's error stays until someone fixes Personio.
    assert second.plan.changes == ()
    assert codes(second.plan.errors) == [("12", "email_held_by_leaver")]


# ---------------------------------------------------------------------------------------------
# A hand-over between active people
# ---------------------------------------------------------------------------------------------


def test_an_address_handed_between_active_colleagues_converges_in_one_apply(world: World) -> None:
    # 11 gets a new address; their old one goes to 12, who had their own.
    handed = address(world, 11)
    world.box.personio.update_employee(11, "email", "renamed-11@example.com")
    world.box.personio.update_employee(12, "email", handed)
    before = world.stored()

    first, report = world.apply()
    second = world.plan()
    after = world.stored()

    expected = [("update", "11", ()), ("update", "12", ("11",))]
    if world.config.custom_attributes:
        # 1's and 10's Buddy is 12: written as 12's new address, once 12 holds it.
        expected[:0] = [("update", "1", ("12",)), ("update", "10", ("12",))]
    assert summary(first.plan) == expected
    assert first.plan.errors == ()
    assert_all_applied(report)
    order = world.written_order()
    # The rename is sent before the take: the applier's waves follow waits_for.
    assert order.index("11") < order.index("12")
    assert second.plan.changes == ()
    assert second.plan.errors == ()
    assert user_name(after["11"]) == "renamed-11@example.com"
    assert user_name(after["12"]) == handed.casefold()
    assert after["12"]["id"] == before["12"]["id"]  # taken over by the same user, not recreated
    assert len(after) == len(before)
    if world.config.custom_attributes:
        assert after["1"][LATTICE_URN]["Buddy"] == handed  # 12's address now: still 12
        assert order.index("12") < order.index("1")


def test_a_chain_of_hand_overs_settles_in_one_apply(world: World) -> None:
    # 11 takes a new address, 12 takes 11's, 10 takes 12's.
    eleven, twelve = address(world, 11), address(world, 12)
    world.box.personio.update_employee(11, "email", "renamed-11@example.com")
    world.box.personio.update_employee(12, "email", eleven)
    world.box.personio.update_employee(10, "email", twelve)

    first, report = world.apply()
    second = world.plan()
    after = world.stored()

    waits = {c.source_id: c.waits_for for c in first.plan.changes}
    assert {pid: waits[pid] for pid in ("10", "11", "12")} == {
        "10": ("12",),
        "11": (),
        "12": ("11",),
    }
    assert first.plan.errors == ()
    assert_all_applied(report)
    order = world.written_order()
    assert order.index("11") < order.index("12") < order.index("10")
    assert second.plan.changes == ()
    assert second.plan.errors == ()
    assert [user_name(after[pid]) for pid in ("10", "11", "12")] == [
        twelve.casefold(),
        "renamed-11@example.com",
        eleven.casefold(),
    ]


def test_a_new_hire_taking_a_renamed_colleagues_address_is_created_in_the_same_apply(
    world: World,
) -> None:
    handed = address(world, 11)
    world.box.personio.update_employee(11, "email", "renamed-11@example.com")
    hire = copy.deepcopy(world.box.personio.employee(12))
    attributes = hire["attributes"]
    for key, value in (
        ("id", 13),
        ("first_name", "Wren"),
        ("last_name", "Testwood"),
        ("email", handed),
        ("position", "Account Executive"),
    ):
        attributes[key]["value"] = value
    world.box.personio.add_employee(hire)
    before = world.stored()

    first, report = world.apply()
    second = world.plan()
    after = world.stored()

    assert summary(first.plan) == [("create", "13", ("11",)), ("update", "11", ())]
    assert_all_applied(report)
    order = world.written_order()
    assert order.index("11") < order.index("13")
    assert second.plan.changes == ()
    assert second.plan.errors == ()
    assert user_name(after["13"]) == handed.casefold()
    assert user_name(after["11"]) == "renamed-11@example.com"
    assert after["11"]["id"] == before["11"]["id"]


# ---------------------------------------------------------------------------------------------
# A swap
# ---------------------------------------------------------------------------------------------


def test_a_swap_refuses_both_and_writes_nothing_run_after_run(world: World) -> None:
    ten, twelve = address(world, 10), address(world, 12)
    world.box.personio.update_employee(10, "email", twelve)
    world.box.personio.update_employee(12, "email", ten)
    world.box.personio.update_employee(10, "position", "Sales Lead")  # held back with the swap
    before = world.stored()

    first, report = world.apply()
    second, again = world.apply()

    for planned in (first, second):
        assert planned.plan.changes == ()
        assert codes(planned.plan.errors) == [("10", "email_swap"), ("12", "email_swap")]
        assert not any(w.code == "email_swap" for w in planned.plan.warnings)  # errors only
    assert "employee 10 and employee 12 swapped addresses" in first.plan.errors[0].message
    assert [e.message for e in second.plan.errors] == [e.message for e in first.plan.errors]
    assert report.results == ()
    assert again.results == ()
    assert world.writes() == []
    assert world.stored() == before


def test_a_three_way_swap_refuses_all_three_and_writes_nothing(world: World) -> None:
    ten, eleven, twelve = address(world, 10), address(world, 11), address(world, 12)
    world.box.personio.update_employee(10, "email", eleven)
    world.box.personio.update_employee(11, "email", twelve)
    world.box.personio.update_employee(12, "email", ten)
    before = world.stored()

    first, report = world.apply()
    second = world.plan()

    assert first.plan.changes == ()
    assert codes(first.plan.errors) == [
        ("10", "email_swap"),
        ("11", "email_swap"),
        ("12", "email_swap"),
    ]
    assert report.results == ()
    assert world.writes() == []
    assert world.stored() == before
    assert codes(second.plan.errors) == codes(first.plan.errors)


# ---------------------------------------------------------------------------------------------
# Rehires with a new Personio id
# ---------------------------------------------------------------------------------------------


def leave_and_come_back(world: World, **changed: object) -> str:
    """11 leaves (applied: their user is deactivated), then is rehired under a new Personio id
    with the same address and ``changed`` attributes; returns their Lattice user's id."""
    world.box.personio.update_employee(11, "status", "inactive")
    left, report = world.apply()
    assert summary(left.plan) == [("deactivate", "11", ())]
    assert_all_applied(report)
    old_user = world.stored()["11"]
    assert old_user["active"] is False
    rehired = copy.deepcopy(world.box.personio.employee(11))
    attributes = rehired["attributes"]
    attributes["id"]["value"] = REHIRE_ID
    attributes["status"]["value"] = "active"
    attributes["termination_date"]["value"] = None
    for key, value in changed.items():
        attributes[key]["value"] = value
    world.box.personio.add_employee(rehired)
    world.transport.requests.clear()
    return str(old_user["id"])


def test_a_rehire_with_a_new_id_reactivates_their_old_user_and_stays_matched(
    world: World,
) -> None:
    old_user = leave_and_come_back(world, position="Engineering Manager")

    first, report = world.apply()
    second = world.plan()
    third = world.plan()
    after = world.stored()

    [change] = first.plan.changes
    assert (change.action, change.source_id, change.target_id) == (
        Action.REACTIVATE,
        str(REHIRE_ID),
        old_user,
    )
    assert change.reason is not None
    assert change.reason.startswith(f"relink: employee {REHIRE_ID} is employee 11 rehired")
    if world.config.is_managed("birth_date"):
        assert "and birth date" in change.reason
    assert ("title", "Engineering Manager") in [(f.name, f.after) for f in change.fields]
    assert first.plan.errors == ()
    assert_all_applied(report)
    # Matched to the new id on every run although Lattice keeps the old external id.
    for later in (second, third):
        assert later.plan.changes == ()
        assert later.plan.errors == ()
    assert after["11"]["id"] == old_user
    assert after["11"]["active"] is True
    assert after["11"]["title"] == "Engineering Manager"
    assert str(REHIRE_ID) not in after  # no second user for the same person
    assert [method for method, _ in world.writes()] == ["PATCH"]


def test_a_rehire_whose_name_differs_is_refused_and_the_old_user_stays_deactivated(
    world: World,
) -> None:
    old_user = leave_and_come_back(world, first_name="Someone")

    first, report = world.apply()
    second = world.plan()
    after = world.stored()

    assert first.plan.changes == ()
    [error] = first.plan.errors
    assert (error.source_id, error.code) == (str(REHIRE_ID), "rehire_unclear")
    assert "names (or birth dates) differ" in error.message
    assert report.results == ()
    assert world.writes() == []
    assert after["11"]["id"] == old_user
    assert after["11"]["active"] is False
    assert str(REHIRE_ID) not in after
    assert second.plan.changes == ()
    assert codes(second.plan.errors) == [(str(REHIRE_ID), "rehire_unclear")]


def test_a_rehire_seen_in_the_same_run_as_the_leave_keeps_their_user_active(
    world: World,
) -> None:
    # The old user was never deactivated: 11 leaves and 900 (them again) arrives at once.
    old_user = world.stored()["11"]["id"]
    rehired = copy.deepcopy(world.box.personio.employee(11))
    rehired["attributes"]["id"]["value"] = REHIRE_ID
    world.box.personio.add_employee(rehired)
    world.box.personio.update_employee(11, "status", "inactive")

    first, report = world.apply()
    second = world.plan()
    after = world.stored()

    # No deactivation of the user the rehire is matched to, and nothing else to do.
    assert first.plan.changes == ()
    assert first.plan.errors == ()
    assert report.results == ()
    assert world.writes() == []
    assert after["11"]["id"] == old_user
    assert after["11"]["active"] is True
    assert str(REHIRE_ID) not in after
    assert second.plan.changes == ()


# ---------------------------------------------------------------------------------------------
# References to someone with a matching problem
# ---------------------------------------------------------------------------------------------


def supervisor(pid: int) -> dict[str, object]:
    return {"type": "Employee", "attributes": {"id": {"label": "Employee ID", "value": pid}}}


def test_a_manager_in_a_swap_is_never_written_as_anyones_manager(world: World) -> None:
    # 4 and 5 swap addresses; 11 moves from 2 to 4 and gets a new title.
    four, five = address(world, 4), address(world, 5)
    world.box.personio.update_employee(4, "email", five)
    world.box.personio.update_employee(5, "email", four)
    world.box.personio.update_employee(11, "supervisor", supervisor(4))
    world.box.personio.update_employee(11, "position", "Staff Engineer")
    before = world.stored()

    first, report = world.apply()
    second = world.plan()
    after = world.stored()

    assert summary(first.plan) == [("update", "11", ())]
    assert [f.name for f in first.plan.changes[0].fields] == ["title"]
    assert codes(first.plan.errors) == [("4", "email_swap"), ("5", "email_swap")]
    held = {
        p.source_id
        for p in first.plan.warnings
        if p.code == "reference_held" and "manager 4 has a problem" in p.message
    }
    # 10 and 12 already report to 4: their manager is left as it is too, with the same warning.
    assert held == {"10", "11", "12"}
    assert_all_applied(report)
    assert manager_of(after["11"]) == before["2"]["id"] == manager_of(before["11"])
    assert after["11"]["title"] == "Staff Engineer"
    for pid in ("10", "12"):
        assert manager_of(after[pid]) == manager_of(before[pid]) == before["4"]["id"]
    assert second.plan.changes == ()
    assert codes(second.plan.errors) == codes(first.plan.errors)


# ---------------------------------------------------------------------------------------------
# A hand-over and a ``user`` attribute that wait on each other: a ring the planner breaks
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["default", "strict"])  # scim2-server: no custom attributes
def test_a_hand_over_to_the_holders_own_buddy_converges(backend: str) -> None:
    world = build_world(backend)
    # In the sample company 10's Buddy is 12 (dynamic_5678901).
    assert world.box.personio.employee(10)["attributes"]["dynamic_5678901"]["value"] == "12"
    handed = address(world, 10)
    world.box.personio.update_employee(10, "email", "renamed-10@example.com")
    world.box.personio.update_employee(12, "email", handed)

    # 12 waits for 10's rename; 10's Buddy (12's new address, 10's own until the rename)
    # is held for one run rather than written where it could name 10.
    planned, report = world.apply()
    assert_all_applied(report)
    [held] = [w for w in planned.plan.warnings if w.code == "reference_held"]
    assert held.source_id == "10"
    assert user_name(world.stored()["12"]) == handed.casefold()  # the hand-over: this run
    planned, report = world.apply()  # the held Buddy
    assert_all_applied(report)
    final = world.plan()
    after = world.stored()

    assert final.plan.changes == ()
    assert final.plan.errors == ()
    assert user_name(after["10"]) == "renamed-10@example.com"
    assert user_name(after["12"]) == handed.casefold()
    assert after["10"][LATTICE_URN]["Buddy"] == handed  # 12's address: 12's user


# ---------------------------------------------------------------------------------------------
# More leavers: an address reused by a new profile, an ambiguity
# ---------------------------------------------------------------------------------------------


def new_profile(world: World, pid: int, email: str, first_name: str) -> None:
    """A new Personio profile ``pid``: a copy of 12's record with another name and address."""
    raw = copy.deepcopy(world.box.personio.employee(12))
    attributes = raw["attributes"]
    attributes["id"]["value"] = pid
    attributes["first_name"]["value"] = first_name
    attributes["last_name"]["value"] = "Newcomer"
    attributes["email"]["value"] = email
    world.box.personio.add_employee(raw)


def test_a_leaver_whose_address_a_new_profile_reuses_is_deactivated_and_nobody_created(
    world: World,
) -> None:
    # 11 leaves; a new profile (another name) is given 11's address: not 11 rehired.
    world.box.personio.update_employee(11, "status", "inactive")
    new_profile(world, 901, address(world, 11), "Other")
    before = world.stored()

    first, report = world.apply()
    second = world.plan()
    after = world.stored()

    assert summary(first.plan) == [("deactivate", "11", ())]
    assert codes(first.plan.errors) == [("901", "rehire_unclear")]
    assert_all_applied(report)
    assert after["11"]["active"] is False
    assert after["11"]["id"] == before["11"]["id"]
    assert "901" not in after
    assert second.plan.changes == ()
    assert codes(second.plan.errors) == [("901", "rehire_unclear")]


def test_a_leaver_whose_address_two_colleagues_claim_is_deactivated(world: World) -> None:
    # 11 leaves, and both 10 and 12 are given 11's address: an ambiguity around a leaver.
    handed = address(world, 11)
    world.box.personio.update_employee(11, "status", "inactive")
    world.box.personio.update_employee(10, "email", handed)
    world.box.personio.update_employee(12, "email", handed)
    before = world.stored()

    first, report = world.apply()
    second = world.plan()
    after = world.stored()

    assert ("deactivate", "11", ()) in summary(first.plan)
    assert {pid for pid, _ in codes(first.plan.errors)} == {"10", "12"}
    assert_all_applied(report)
    assert after["11"]["active"] is False
    for pid in ("10", "12"):  # neither is given the address, nor anything else
        assert user_name(after[pid]) == user_name(before[pid])
    assert second.plan.changes == ()


# ---------------------------------------------------------------------------------------------
# A rehire's reports, a user deactivated by hand, another provisioner's user
# ---------------------------------------------------------------------------------------------


def scim(world: World) -> httpx.Client:
    """Plain SCIM requests to the service, as someone editing Lattice by hand would send."""
    return httpx.Client(
        base_url=world.base_url,
        transport=world.transport.inner,
        headers={"Authorization": f"Bearer {LATTICE_TOKEN}"},
    )


def test_a_report_of_a_relinked_rehire_gets_the_old_user_as_manager(world: World) -> None:
    old_user = leave_and_come_back(world)
    relinked, report = world.apply()
    assert_all_applied(report)
    assert summary(relinked.plan) == [("reactivate", str(REHIRE_ID), ())]
    # 12 now reports to the rehire, whose user still carries the old external id 11.
    world.box.personio.update_employee(12, "supervisor", supervisor(REHIRE_ID))

    first, report = world.apply()
    second = world.plan()

    assert [(c.source_id, [f.name for f in c.fields]) for c in first.plan.changes] == [
        ("12", ["manager"])
    ]
    assert_all_applied(report)
    assert manager_of(world.stored()["12"]) == old_user
    assert second.plan.changes == ()


@pytest.mark.parametrize("reactivate", ["always", "never"])
def test_a_user_deactivated_by_hand_is_reactivated_unless_the_config_says_never(
    world: World, reactivate: str
) -> None:
    target = world.stored()["10"]["id"]
    with scim(world) as http:
        answer = http.patch(
            f"/Users/{target}",
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "value": {"active": False}}],
            },
        )
    assert answer.status_code in (200, 204), answer.text
    sync = dataclasses.replace(world.config.sync, reactivate=reactivate)
    world.config = dataclasses.replace(world.config, sync=sync)

    first, report = world.apply()
    second = world.plan()
    after = world.stored()

    assert_all_applied(report)
    if reactivate == "always":
        [change] = first.plan.changes
        assert (change.action, change.source_id) == (Action.REACTIVATE, "10")
        assert change.reason == (
            "active in Personio, deactivated in Lattice (rehired, or deactivated by hand)"
        )
        assert after["10"]["active"] is True
    else:
        assert first.plan.changes == ()
        assert ("10", "reactivation_skipped") in codes(first.plan.warnings)
        assert after["10"]["active"] is False
        assert ("10", "reactivation_skipped") in codes(second.plan.warnings)
    assert second.plan.changes == ()


OKTA_ID = "00u1a2b3c4OKTA"


@pytest.mark.parametrize("policy", ["leave", "adopt"])
def test_another_provisioners_user_is_left_alone_or_adopted_by_email(
    world: World, policy: str
) -> None:
    # A new hire, 901, already has a user that another provisioner (Okta) created.
    email = "ngozi.newcomer@example.com"
    new_profile(world, 901, email, "Ngozi")
    with scim(world) as http:
        answer = http.post(
            "/Users",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": email,
                "externalId": OKTA_ID,
                "name": {"givenName": "Ngozi", "familyName": "Newcomer"},
                "emails": [{"value": email, "primary": True, "type": "work"}],
                "title": "Set by Okta",
                "active": True,
            },
        )
    assert answer.status_code == 201, answer.text
    foreign = str(answer.json()["id"])
    sync = dataclasses.replace(world.config.sync, foreign_users=policy)
    world.config = dataclasses.replace(world.config, sync=sync)
    world.transport.requests.clear()

    first, report = world.apply()
    second = world.plan()
    after = world.stored()

    assert_all_applied(report)
    assert not [c for c in first.plan.changes if c.action is Action.CREATE]
    assert after[OKTA_ID]["id"] == foreign  # Lattice keeps the other provisioner's id
    assert "901" not in after  # never a second user for the same address
    if policy == "leave":
        assert first.plan.changes == ()
        assert world.writes() == []
        assert ("901", "email_held_by_foreign_user") in codes(first.plan.warnings)
        assert after[OKTA_ID]["title"] == "Set by Okta"
    else:
        [change] = first.plan.changes
        assert (change.source_id, change.target_id) == ("901", foreign)
        assert change.reason is not None
        assert change.reason.startswith("adopted")
        assert (
            after[OKTA_ID]["title"]
            == world.box.personio.employee(12)["attributes"]["position"]["value"]
        )
    assert second.plan.changes == ()
