"""Lifecycle (hypothesis): from a reconciled small company, any sequence of HR events (hires,
leavers, rehires under the old or a new id, address hand-overs and swaps, manager changes,
contractor conversions), each followed by one plan and one apply, keeps Lattice sound: no
leaver stays active, no reference names another person's user, nothing is left to do, no key
is duplicated (docs/decisions.md, "2026-12-03: hand-overs"). In-process emulators.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st

from reconciler import app
from reconciler.config import load_config
from reconciler.core.model import Action, Plan
from reconciler.sandbox import sample_config_path
from reconciler.sandbox.company import generate_company
from reconciler.sandbox.lattice_emulator import LatticeEmulator
from reconciler.sandbox.personio_emulator import PersonioCredential, PersonioEmulator
from reconciler.sandbox.scenario import (
    LATTICE_CUSTOM_ATTRIBUTES,
    LATTICE_TOKEN,
    PERSONIO_CLIENT_ID,
    PERSONIO_CLIENT_SECRET,
    Sandbox,
    seed_lattice,
)
from reconciler.targets.lattice.profile import LATTICE_URN
from reconciler.targets.scim.resources import ENTERPRISE_URN
from tests.e2e.test_convergence import duplicates

BASE_CONFIG = load_config(sample_config_path())
#: The sample config's contractor type (sync.employee_types: [internal, external]).
CONTRACTOR = "external"
#: The Personio key behind the sample config's `user`-type custom attribute "Buddy".
BUDDY_KEY = "dynamic_5678901"
BUDDY = "Buddy"

EVENTS = (
    "hire",
    "leave",
    "rehire same id",
    "rehire new id",
    "rehire new id, other name",
    "hand-over",
    "swap",
    "manager change",
    "contractor",
)


class World:
    """Both emulators and what happened to them (shown on failure)."""

    def __init__(self, box: Sandbox, next_id: int, ids: list[str]) -> None:
        self.box = box
        self.next_id = next_id
        self.ids = ids
        self.story: list[str] = []
        #: New profiles holding a leaver's address under another name (``rehire_unclear``).
        self.unclear: set[str] = set()
        #: New profiles of a leaver with the same name and address → the leaver's id.
        self.rehired: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"World({'; '.join(self.story)})"

    def attr(self, source_id: str, key: str) -> Any:
        entry = self.box.personio.employee(source_id)["attributes"].get(key) or {}
        return entry.get("value")

    def email(self, source_id: str) -> str:
        return str(self.attr(source_id, "email"))

    def active(self) -> list[str]:
        statuses = BASE_CONFIG.sync.statuses
        return [i for i in self.ids if self.attr(i, "status") in statuses]

    def leavers(self) -> list[str]:
        return [i for i in self.ids if self.attr(i, "status") == "inactive"]


def supervisor_value(personio: PersonioEmulator, manager_id: str) -> dict[str, Any]:
    """The nested employee object Personio answers as ``supervisor``."""
    attributes = personio.employee(manager_id)["attributes"]
    return {
        "type": "Employee",
        "attributes": {
            key: {"label": attributes[key]["label"], "value": attributes[key]["value"]}
            for key in ("id", "first_name", "last_name", "email")
        },
    }


def apply_event(world: World, kind: str, a: int, b: int) -> str:
    """Apply one HR event to Personio; the label for statistics (``skipped`` when impossible)."""
    personio = world.box.personio
    active = world.active()
    leavers = world.leavers()
    if kind == "hire" and active:
        new_id = str(world.next_id)
        world.next_id += 1
        raw = copy.deepcopy(personio.employee(active[a % len(active)]))
        attributes = raw["attributes"]
        attributes["id"]["value"] = int(new_id)
        attributes["first_name"]["value"] = f"Hire{new_id}"
        attributes["last_name"]["value"] = "Newcomer"
        attributes["email"]["value"] = f"hire-{new_id}@example.com"
        attributes["status"]["value"] = "active"
        attributes["supervisor"]["value"] = supervisor_value(personio, active[b % len(active)])
        attributes[BUDDY_KEY]["value"] = active[b % len(active)]
        personio.add_employee(raw)
        world.ids.append(new_id)
        world.story.append(f"hire {new_id}")
        return kind
    if kind == "leave" and active:
        who = active[a % len(active)]
        personio.update_employee(who, "status", "inactive")
        world.story.append(f"{who} leaves")
        return kind
    if kind == "rehire same id" and leavers:
        who = leavers[a % len(leavers)]
        personio.update_employee(who, "status", "active")
        world.story.append(f"{who} rehired")
        return kind
    if kind in ("rehire new id", "rehire new id, other name") and leavers:
        old = leavers[a % len(leavers)]
        new_id = str(world.next_id)
        world.next_id += 1
        raw = copy.deepcopy(personio.employee(old))
        raw["attributes"]["id"]["value"] = int(new_id)
        raw["attributes"]["status"]["value"] = "active"
        if kind == "rehire new id":
            world.rehired[new_id] = old
            world.story.append(f"{old} rehired as {new_id}")
        else:
            raw["attributes"]["first_name"]["value"] = f"Other{new_id}"
            world.unclear.add(new_id)
            world.story.append(f"{new_id} takes leaver {old}'s address under another name")
        personio.add_employee(raw)
        world.ids.append(new_id)
        return kind
    if kind == "hand-over" and len(active) >= 2:
        giver = active[a % len(active)]
        # The giver's own Buddy may be the taker: a ring of waits the planner breaks
        # (test_a_hand_over_to_the_givers_buddy_is_written_by_the_next_run).
        takers = [p for p in active if p != giver]
        if not takers:
            world.story.append(f"({kind}: nothing to do)")
            return "skipped"
        taker = takers[b % len(takers)]
        old = world.email(giver)
        personio.update_employee(giver, "email", f"renamed-{giver}-{world.next_id}@example.com")
        world.next_id += 1
        personio.update_employee(taker, "email", old)
        world.story.append(f"{giver} hands their address to {taker}")
        return kind
    if kind == "swap" and len(active) >= 2:
        one = active[a % len(active)]
        other = active[b % len(active)]
        if one == other:
            other = active[(a + 1) % len(active)]
        first, second = world.email(one), world.email(other)
        personio.update_employee(one, "email", second)
        personio.update_employee(other, "email", first)
        world.story.append(f"{one} and {other} swap addresses")
        return kind
    if kind == "manager change" and len(active) >= 2:
        report = active[a % len(active)]
        manager = active[b % len(active)]
        if report == manager:
            manager = active[(a + 1) % len(active)]
        personio.update_employee(report, "supervisor", supervisor_value(personio, manager))
        world.story.append(f"{report} now reports to {manager}")
        return kind
    if kind == "contractor" and active:
        who = active[a % len(active)]
        personio.update_employee(who, "employment_type", CONTRACTOR)
        world.story.append(f"{who} becomes a contractor")
        return kind
    world.story.append(f"({kind}: nothing to do)")
    return "skipped"


def make_world(n: int, seed: int) -> World:
    """A reconciled company of ``n`` people: Lattice seeded without drift."""
    company = generate_company(n, seed)
    lattice = LatticeEmulator(token=LATTICE_TOKEN, custom_attributes=LATTICE_CUSTOM_ATTRIBUTES)
    seed_lattice(lattice, company, drift=False)
    personio = PersonioEmulator(
        company.employees,
        company.attributes,
        credentials={PERSONIO_CLIENT_ID: PersonioCredential(client_secret=PERSONIO_CLIENT_SECRET)},
    )
    ids = [str(raw["attributes"]["id"]["value"]) for raw in company.employees]  # type: ignore[index]
    box = Sandbox(company, personio, lattice)
    world = World(box, next_id=max(int(i) for i in ids) + 100, ids=ids)
    world.story.append(f"generate_company({n}, {seed})")
    return world


@st.composite
def worlds(draw: st.DrawFn) -> World:
    n = draw(st.integers(5, 8), label="employees")
    seed = draw(st.integers(0, 10_000), label="seed")
    return make_world(n, seed)


# -- the invariants ----------------------------------------------------------------------------


def users_by_external_id(lattice: LatticeEmulator) -> dict[str, dict[str, Any]]:
    return {
        str(u["externalId"]): u
        for u in lattice.users.values()
        if isinstance(u.get("externalId"), str)
    }


def user_of(world: World, source_id: str) -> dict[str, Any] | None:
    """The Lattice user that stands for ``source_id``: linked by externalId, or the relinked
    user of a rehire with a new id (Lattice keeps the old externalId; matched by address)."""
    lattice = world.box.lattice
    linked = users_by_external_id(lattice).get(source_id)
    if linked is not None:
        return linked
    email = world.email(source_id).casefold()
    for user in lattice.users.values():
        if str(user["userName"]).casefold() == email and user.get("active"):
            return user
    return None


def same_name(world: World, one: str, other: str) -> bool:
    return all(
        str(world.attr(one, key)).casefold() == str(world.attr(other, key)).casefold()
        for key in ("first_name", "last_name")
    )


def in_scope(world: World, source_id: str) -> bool:
    return (
        world.attr(source_id, "status") in BASE_CONFIG.sync.statuses
        and world.attr(source_id, "employment_type") in BASE_CONFIG.sync.employee_types
    )


#: The warnings that explain a manager left as it is (or unmanaged) in Lattice.
MANAGER_WARNINGS = frozenset(
    {
        "reference_held",
        "manager_cycle",
        "manager_not_found",
        "manager_out_of_scope",
        "became_contractor",
    }
)
#: The warnings that explain a ``user`` attribute left as it is in Lattice.
REFERENCE_WARNINGS = frozenset({"reference_held"})


def explained(plan: Plan, source_id: str, warnings: frozenset[str] = frozenset()) -> bool:
    """The plan refuses ``source_id``'s change (an error about them), or warns about them with
    one of ``warnings``."""
    return any(p.source_id == source_id for p in plan.errors) or any(
        p.source_id == source_id and p.code in warnings for p in plan.warnings
    )


def supervisor_id(world: World, source_id: str) -> str | None:
    value = world.attr(source_id, "supervisor")
    if not isinstance(value, dict):
        return None
    return str(value["attributes"]["id"]["value"])


def check_invariants(world: World, second: Plan) -> None:
    lattice = world.box.lattice
    ids = set(world.ids)
    active_people = [i for i in world.ids if world.attr(i, "status") != "inactive"]

    # (a) no leaver's user is active, unless it is a relinked rehire's
    for user in lattice.users.values():
        external_id = user.get("externalId")
        if not user.get("active") or external_id not in ids:
            continue
        if world.attr(external_id, "status") != "inactive":
            continue
        relinked = [
            p
            for p in active_people
            if world.email(p).casefold() == str(user["userName"]).casefold()
            and same_name(world, p, external_id)
        ]
        assert relinked, f"leaver {external_id}'s user {user['id']} is active"

    # (b) references point at the referenced person's user, or the plan explains why not
    for person in world.ids:
        if not in_scope(world, person):
            continue
        mine = user_of(world, person)
        if mine is None:
            assert explained(second, person), f"{person} has no user and no explanation"
            continue
        target = (mine.get(ENTERPRISE_URN) or {}).get("manager", {}).get("value")
        if target:
            manager = supervisor_id(world, person)
            manager_user = user_of(world, manager) if manager in ids else None
            assert (manager_user is not None and manager_user["id"] == target) or explained(
                second, person, MANAGER_WARNINGS
            ), f"{person}'s manager in Lattice is {target}, Personio says {manager}"
        buddy_email = (mine.get(LATTICE_URN) or {}).get(BUDDY)
        if buddy_email:
            buddy = str(world.attr(person, BUDDY_KEY) or "")
            assert (
                buddy in ids and world.email(buddy).casefold() == str(buddy_email).casefold()
            ) or explained(second, person, REFERENCE_WARNINGS), (
                f"{person}'s buddy in Lattice is not {buddy}"
            )

    # a rehire with a new id (same name and address, alone in Personio with it) gets the
    # leaver's user back, relinked every run, unless the plan refuses them
    linked = users_by_external_id(lattice)
    for person, leaver in world.rehired.items():
        email = world.email(person).casefold()
        old_user = linked.get(leaver)
        alone = [p for p in active_people if world.email(p).casefold() == email] == [person]
        if (
            old_user is not None
            and alone
            and in_scope(world, person)
            and person not in linked
            and world.attr(leaver, "status") == "inactive"
            and same_name(world, person, leaver)
            and str(old_user["userName"]).casefold() == email
        ):
            assert old_user.get("active") or explained(second, person), (
                f"{person}, rehired as {leaver}, did not get their user back"
            )

    # a new profile holding a leaver's address under another name (alone in Personio with that
    # address) is refused with rehire_unclear, never relinked
    for person in world.unclear:
        email = world.email(person).casefold()
        holder = next(
            (u for u in lattice.users.values() if str(u["userName"]).casefold() == email), None
        )
        leaver = str(holder.get("externalId")) if holder is not None else ""
        alone = [p for p in active_people if world.email(p).casefold() == email] == [person]
        if (
            holder is not None
            and alone
            and in_scope(world, person)
            and person not in linked  # without a user of their own
            and leaver in ids
            and world.attr(leaver, "status") == "inactive"
        ):
            assert not holder.get("active"), f"{person} was relinked to leaver {leaver}'s user"
            assert any(
                p.source_id == person and p.code == "rehire_unclear" for p in second.errors
            ), f"{person} holds leaver {leaver}'s address under another name: no rehire_unclear"

    # (c) nothing left to do; every remaining error is about one person
    assert second.changes == (), f"left to do after one apply: {second.changes}"
    assert all(p.source_id is not None for p in second.errors)

    # (d) no key held twice
    assert duplicates(lattice) == {}


def prerequisites(plan: Plan) -> dict[str, set[str]]:
    """Person → the people whose changes the applier runs first (``Change.waits_for``; and the
    create, in this plan, of their ``depends_on`` or new manager)."""
    created = {c.source_id for c in plan.changes if c.action is Action.CREATE and c.source_id}
    found: dict[str, set[str]] = {}
    for change in plan.changes:
        if change.source_id is None:
            continue
        before = found.setdefault(change.source_id, set())
        before.update(p for p in change.waits_for if p != change.source_id)
        manager = change.field("manager")
        for dependency in (change.depends_on, manager.after if manager else None):
            if dependency is not None and str(dependency) in created:
                before.add(str(dependency))
        before.discard(change.source_id)
    return found


def waits_ring(plan: Plan) -> list[str] | None:
    """People whose changes wait for each other in a ring, which the applier refuses whole
    (the planner must break every ring: test_a_hand_over_to_the_givers_buddy_is_written_by_the_
    next_run, test_a_hand_over_to_the_givers_new_manager_is_written_by_the_next_run). Swaps are
    refused while matching, so such a ring would mix takes with a ``user`` attribute wait (a
    taker T waits for the giver G, and G's Buddy, naming T, waits for T's new address) or with
    a manager's create (G's new manager is the new hire H who takes G's address); or be longer,
    through a chain of hand-overs. The ring's people, or ``None``."""
    waits = prerequisites(plan)
    done: set[str] = set()

    def walk(path: list[str]) -> list[str] | None:
        for step in sorted(waits.get(path[-1], set()) & waits.keys()):
            if step in path:
                return path[path.index(step) :]
            if step not in done:
                found = walk([*path, step])
                if found is not None:
                    return found
        done.add(path[-1])
        return None

    for start in sorted(waits):
        ring = walk([start]) if start not in done else None
        if ring is not None:
            return ring
    return None


def manager_without_user(world: World, plan: Plan) -> str | None:
    """A change that sets a manager whose Lattice user carries another externalId (a rehire
    relinked under a new Personio id) and who is not created in this plan either: apply must
    resolve it through the plan's match (test_a_report_of_a_rehire_with_a_new_id_gets_that_
    manager). The manager's Personio id, or ``None``."""
    linked = users_by_external_id(world.box.lattice)
    created = {c.source_id for c in plan.changes if c.action is Action.CREATE}
    for change in plan.changes:
        manager = change.field("manager")
        if manager is None or manager.after is None:
            continue
        wanted = str(manager.after)
        if wanted not in linked and wanted not in created:
            return wanted
    return None


def held_for_next_run(plan: Plan) -> set[str]:
    """People whose reference (a manager or ``user`` attribute) the plan holds back for the
    next run because it sits in a ring of waits with a hand-over."""
    return {
        p.source_id
        for p in plan.warnings
        if p.code == "reference_held" and p.source_id and "until the next run" in p.message
    }


PROPERTIES = settings(
    max_examples=25,
    deadline=None,
    # no explain phase: its line tracing makes a failing example's report take minutes
    phases=[p for p in Phase if p is not Phase.explain],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROPERTIES
@given(
    world=worlds(),
    events=st.lists(
        st.tuples(st.sampled_from(EVENTS), st.integers(0, 20), st.integers(0, 20)),
        min_size=3,
        max_size=10,
    ),
)
def test_any_sequence_of_hr_events_keeps_lattice_sound_after_each_apply(
    world: World, events: list[tuple[str, int, int]]
) -> None:
    conn = world.box.connections()
    assert app.plan(BASE_CONFIG, conn).plan.changes == ()  # reconciled to begin with
    for kind, a, b in events:
        event(apply_event(world, kind, a, b))
        note(repr(world))
        first = app.plan(BASE_CONFIG, conn)
        # The applier refuses a plan whose changes wait for each other in a ring: the planner
        # must have broken every ring (docs/decisions.md, hand-overs).
        assert waits_ring(first.plan) is None, f"waits ring: {waits_ring(first.plan)}"
        app.execute(first, conn)  # whatever the safety verdict, as with --force
        second = app.plan(BASE_CONFIG, conn)
        # A reference held back by a ring is written by the next run, and only that.
        held = held_for_next_run(first.plan)
        if second.plan.changes:
            left = {c.source_id for c in second.plan.changes}
            assert left <= held, f"left to do after one apply: {second.plan.changes}"
            event("a reference held for the next run")
            app.execute(second, conn)
            second = app.plan(BASE_CONFIG, conn)
        check_invariants(world, second.plan)


def test_a_hand_over_to_the_givers_buddy_is_written_by_the_next_run() -> None:
    """generate_company(5, 0); G is someone whose Buddy T is another active person. G gets a
    new address, T is given G's old one. T's take waits for G's rename, and G's Buddy (T's new
    address, G's own until the rename) would wait for T: a ring. One apply renames G and gives
    T the address; G's Buddy is held (reference_held) and written by the next apply."""
    world = make_world(5, 0)
    conn = world.box.connections()
    assert app.plan(BASE_CONFIG, conn).plan.changes == ()
    giver, taker = next(
        (g, str(world.attr(g, BUDDY_KEY)))
        for g in world.active()
        if str(world.attr(g, BUDDY_KEY) or "") in world.active()
        and str(world.attr(g, BUDDY_KEY)) != g
    )
    old = world.email(giver)
    world.box.personio.update_employee(giver, "email", "renamed-giver@example.com")
    world.box.personio.update_employee(taker, "email", old)
    first = app.plan(BASE_CONFIG, conn)
    assert waits_ring(first.plan) is None
    assert held_for_next_run(first.plan) == {giver}
    app.execute(first, conn)
    assert users_by_external_id(world.box.lattice)[taker]["userName"] == old
    second = app.plan(BASE_CONFIG, conn)
    assert [(c.source_id, [f.name for f in c.fields]) for c in second.plan.changes] == [
        (giver, ["custom:Buddy"])
    ]
    app.execute(second, conn)
    assert app.plan(BASE_CONFIG, conn).plan.changes == ()
    assert users_by_external_id(world.box.lattice)[giver][LATTICE_URN][BUDDY] == old


def test_a_report_of_a_rehire_with_a_new_id_gets_that_manager() -> None:
    """Minimal example: generate_company(5, 0); L leaves (apply), comes back as a new Personio
    profile N with the same name, address and birth date (apply: L's user is reactivated and
    relinked to N); then R is made to report to N. Lattice still says L's user is L, so apply
    learns from the plan (``Plan.matched_as``) that N is that user: one apply sets R's manager
    to L's old user, and the next plan is empty."""
    world = make_world(5, 0)
    conn = world.box.connections()
    personio = world.box.personio
    leaver, report = world.active()[-1], world.active()[1]  # 5 and 2, both reporting to 1
    personio.update_employee(leaver, "status", "inactive")
    app.execute(app.plan(BASE_CONFIG, conn), conn)
    rehire = copy.deepcopy(personio.employee(leaver))
    rehire["attributes"]["id"]["value"] = 900
    rehire["attributes"]["status"]["value"] = "active"
    personio.add_employee(rehire)
    world.ids.append("900")
    app.execute(app.plan(BASE_CONFIG, conn), conn)
    old_user = users_by_external_id(world.box.lattice)[leaver]
    assert old_user["active"]
    assert app.plan(BASE_CONFIG, conn).plan.changes == ()
    personio.update_employee(report, "supervisor", supervisor_value(personio, "900"))
    first = app.plan(BASE_CONFIG, conn)
    assert manager_without_user(world, first.plan) == "900"
    app.execute(first, conn)
    assert app.plan(BASE_CONFIG, conn).plan.changes == ()
    reports_user = users_by_external_id(world.box.lattice)[report]
    assert reports_user[ENTERPRISE_URN]["manager"]["value"] == old_user["id"]


def test_a_hand_over_to_the_givers_new_manager_is_written_by_the_next_run() -> None:
    """generate_company(5, 0); G = employee 2 (reports to 1) gets a new address and a new
    manager H, a new hire given G's old address. H's create waits for G's rename, and G's new
    manager needs H's create: a ring. One apply renames G and creates H with the address; G's
    manager is held (reference_held) and set to H by the next apply."""
    world = make_world(5, 0)
    conn = world.box.connections()
    personio = world.box.personio
    giver = world.active()[1]
    old = world.email(giver)
    hire = copy.deepcopy(personio.employee(world.active()[2]))
    hire["attributes"]["id"]["value"] = 900
    hire["attributes"]["first_name"]["value"] = "Hire900"
    hire["attributes"]["last_name"]["value"] = "Newcomer"
    hire["attributes"]["email"]["value"] = old
    personio.add_employee(hire)
    world.ids.append("900")
    personio.update_employee(giver, "email", "renamed-giver@example.com")
    personio.update_employee(giver, "supervisor", supervisor_value(personio, "900"))
    first = app.plan(BASE_CONFIG, conn)
    assert waits_ring(first.plan) is None
    assert held_for_next_run(first.plan) == {giver}
    app.execute(first, conn)
    linked = users_by_external_id(world.box.lattice)
    assert linked["900"]["userName"] == old
    second = app.plan(BASE_CONFIG, conn)
    assert [(c.source_id, [f.name for f in c.fields]) for c in second.plan.changes] == [
        (giver, ["manager"])
    ]
    app.execute(second, conn)
    assert app.plan(BASE_CONFIG, conn).plan.changes == ()
    linked = users_by_external_id(world.box.lattice)
    assert linked[giver][ENTERPRISE_URN]["manager"]["value"] == linked["900"]["id"]
