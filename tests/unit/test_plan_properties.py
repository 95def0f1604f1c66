"""Properties of planning (hypothesis): deterministic under permutation, empty for identical
sides, and converged after one apply (a second plan has nothing left to do)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from collections.abc import Sequence
from pathlib import Path

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.mapping import compute_desired_users
from reconciler.core.model import (
    Action,
    AttrValue,
    Change,
    Config,
    CustomAttribute,
    Employee,
    FieldValue,
    LatticeSettings,
    PersonioSettings,
    Plan,
    SecretRef,
    SourceSnapshot,
    SyncSettings,
    TargetUser,
)
from reconciler.core.plan_document import plan_document, seal_plan
from reconciler.core.planner import compute_plan
from reconciler.sources.personio.profile import PERSONIO, default_fields
from reconciler.targets.lattice.profile import LATTICE

#: Plans are published sealed with a key (``seal_plan``); the schema describes sealed documents.
KEY = b"test plan key"

SCHEMA = jsonschema.Draft202012Validator(
    json.loads(
        (Path(__file__).parents[2] / "schemas" / "plan.schema.json").read_text(encoding="utf-8")
    )
)
PIDS = [str(n) for n in range(1, 16)]
CUSTOM = (
    CustomAttribute("dynamic_1", "Cost Center", "text"),
    CustomAttribute("dynamic_2", "Level", "number"),
    CustomAttribute("dynamic_3", "Buddy", "user"),
    CustomAttribute("dynamic_4", "Probation end", "date", sensitive=True),
)
PROPERTIES = settings(max_examples=100, deadline=None)


def make_config(unmanaged: str, protected: frozenset[str]) -> Config:
    return Config(
        personio=PersonioSettings(
            "https://api.personio.de/v1", SecretRef("PID"), SecretRef("PSECRET"), "test-app"
        ),
        lattice=LatticeSettings("https://api.latticehq.com/scim/v2", SecretRef("LTOKEN")),
        fields=default_fields(),
        sync=SyncSettings(unmanaged_users=unmanaged, protected=protected),  # type: ignore[arg-type]
        custom_attributes=CUSTOM,
    )


configs = st.builds(
    make_config,
    st.sampled_from(["ignore", "deactivate"]),
    st.frozensets(st.sampled_from(["p1@example.com", "p2@example.com", "extra0@example.com"])),
)


EMPLOYEE_VALUES: dict[str, list[AttrValue]] = {
    "first_name": ["Ada", " Bo ", "", None],
    "last_name": ["Example", "Sample"],
    "preferred_name": ["Ace", None],
    "position": ["Engineer", " Lead ", None],
    "hire_date": [dt.date(2020, 1, 2), None],
    "department": ["R&D", "Sales", None],
    "birthday": [dt.date(1961, 7, 4), None],
    "dynamic_1": ["CC-1", "CC-2", ("b", "a"), None],
    "dynamic_2": [1, 2.5, "3", "many", None],
    "dynamic_4": [dt.date(2024, 6, 30), "soon", None],
}


@st.composite
def employees(draw: st.DrawFn) -> list[Employee]:
    ids = draw(st.lists(st.sampled_from(PIDS), unique=True, max_size=12))
    people = []
    for pid in ids:
        # What decides matching, scope and managers is drawn one by one (so it shrinks well);
        # plain values come from one seeded draw (so generation stays fast).
        rng = random.Random(draw(st.integers(0, 2**16)))
        attributes: dict[str, AttrValue] = {
            "id": pid,
            "email": draw(
                st.sampled_from(
                    [f"p{pid}@example.com"] * 6
                    + [f" P{pid}@Example.com", "dup@example.com", "not-an-email", None]
                )
            ),
            "status": draw(
                st.sampled_from(["active", "active", "onboarding", "leave", "inactive"])
            ),
            "employment_type": draw(st.sampled_from(["internal", "internal", "external"])),
            "supervisor": draw(st.none() | st.sampled_from(PIDS)),
            "dynamic_3": draw(st.none() | st.sampled_from(PIDS)),
        }
        for key, choices in EMPLOYEE_VALUES.items():
            attributes[key] = rng.choice(choices)
        people.append(Employee(pid, attributes))
    return people


FIELD_VALUES: dict[str, list[FieldValue]] = {
    "first_name": ["Ada", "Bo", None],
    "last_name": ["Example", "Sample"],
    "preferred_name": ["Ace", "Other", None],
    "title": ["Engineer", "Lead", "By hand", None],
    "start_date": ["2020-01-02", None],
    "department": ["R&D", "Sales", None],
    "birth_date": ["1961-07-04", None],
    "custom:Cost Center": ["CC-1", "a, b", "CC-9", None],
    "custom:Level": [1, 2.5, 3, None],
    "custom:Buddy": ["p1@example.com", "p2@example.com", None],
    "custom:Probation end": ["2024-06-30", None],
}


@st.composite
def lattice_side(draw: st.DrawFn, people: Sequence[Employee]) -> list[TargetUser]:
    """Lattice in some state of disagreement with ``people``: missing, stale, unlinked,
    deactivated users, users of people who left, unmanaged users, duplicate external ids."""
    users: list[TargetUser] = []
    emails: set[str] = set()

    def fields() -> dict[str, FieldValue]:
        rng = random.Random(draw(st.integers(0, 2**16)))
        values = {name: rng.choice(choices) for name, choices in FIELD_VALUES.items()}
        values["manager"] = draw(st.sampled_from([None, "s-unknown", *(f"s{p}" for p in PIDS)]))
        return values

    def add(target_id: str, email: str, active: bool, external_id: str | None) -> None:
        if email.casefold() in emails:
            return  # Lattice keeps userName unique
        emails.add(email.casefold())
        users.append(TargetUser(target_id, email, active, external_id, fields()))

    for person in people:
        pid = person.source_id
        state = draw(st.sampled_from(["none", "linked", "inactive", "unlinked", "stale"]))
        if state in ("linked", "inactive"):
            add(f"s{pid}", f"p{pid}@example.com", state == "linked", pid)
        elif state == "unlinked":
            add(f"s{pid}", f"p{pid}@example.com", draw(st.booleans()), None)
        elif state == "stale":
            add(f"s{pid}", f"old{pid}@example.com", draw(st.booleans()), pid)
        if state != "none" and draw(st.integers(0, 9)) == 0:
            add(f"d{pid}", f"dupe{pid}@example.com", True, pid)
    for k in range(draw(st.integers(0, 3))):
        add(f"x{k}", f"extra{k}@example.com", draw(st.booleans()), None)
    for k in range(draw(st.integers(0, 2))):
        add(f"g{k}", f"ghost{k}@example.com", draw(st.booleans()), f"9{k}")
    return users


def apply_to(users: Sequence[TargetUser], plan: Plan) -> list[TargetUser]:
    """What Lattice holds after every change of ``plan`` succeeded (one request each)."""
    state = {user.target_id: user for user in users}
    # As the applier does: users linked by this plan are known before anything is written.
    linked = {c.source_id: c.target_id for c in plan.changes if c.action is Action.LINK}

    def scim_of(source_id: FieldValue) -> str | None:
        if source_id is None:
            return None
        if source_id in linked:
            return linked[str(source_id)]
        return next(u.target_id for u in state.values() if u.external_id == source_id)

    def written(user: TargetUser, change: Change) -> TargetUser:
        values = dict(user.fields)
        email = user.email
        for field in change.fields:
            if field.name == "email":
                email = str(field.after)
            elif field.name == "manager":
                values["manager"] = scim_of(field.after)
            elif field.name == "preferred_name" and change.action is not Action.CREATE:
                continue  # Lattice ignores nickName on PATCH
            else:
                values[field.name] = field.after
        return dataclasses.replace(user, email=email, fields=values)

    for change in plan.changes:
        if change.action is Action.CREATE:
            new = TargetUser(f"n{change.source_id}", change.email, True, change.source_id)
            state[new.target_id] = written(new, change)
            continue
        assert change.target_id is not None
        user = state[change.target_id]
        if change.action is Action.LINK:
            user = dataclasses.replace(user, external_id=change.source_id)
        elif change.action is Action.REACTIVATE:
            user = dataclasses.replace(user, active=True)
        elif change.action is Action.DEACTIVATE:
            user = dataclasses.replace(user, active=False)
        state[user.target_id] = written(user, change)
    return list(state.values())


def plan(people: Sequence[Employee], users: Sequence[TargetUser], config: Config) -> Plan:
    return compute_plan(
        SourceSnapshot(tuple(people)), users, config, source=PERSONIO, target=LATTICE
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Employee], list[TargetUser], Config]:
    people = draw(employees())
    return people, draw(lattice_side(people)), draw(configs)


@PROPERTIES
@given(scenarios(), st.randoms(use_true_random=False))
def test_planning_is_deterministic_under_permutation_of_inputs(
    scenario: tuple[list[Employee], list[TargetUser], Config], rng: random.Random
) -> None:
    people, users, config = scenario
    first = plan(people, users, config)

    rng.shuffle(people)
    rng.shuffle(users)
    second = plan(people, users, config)

    assert second.checksum == first.checksum
    assert json.dumps(plan_document(second)) == json.dumps(plan_document(first))


@PROPERTIES
@given(employees(), configs)
def test_the_plan_of_identical_sides_is_empty(people: list[Employee], config: Config) -> None:
    desired = compute_desired_users(people, config, source=PERSONIO, target=LATTICE).desired
    in_lattice = {person.source_id for person in desired}
    users = []
    for person in desired:
        values = dict(person.fields)
        manager = values.get("manager")
        values["manager"] = f"s{manager}" if manager in in_lattice else None
        users.append(
            TargetUser(f"s{person.source_id}", person.email, True, person.source_id, values)
        )

    result = plan(people, users, config)

    assert result.changes == ()
    assert result.unchanged == sum(1 for d in desired if d.email not in config.sync.protected)
    assert (
        result.errors
        == compute_desired_users(people, config, source=PERSONIO, target=LATTICE).errors
    )


@PROPERTIES
@given(scenarios())
def test_a_second_plan_after_applying_the_first_has_nothing_to_do(
    scenario: tuple[list[Employee], list[TargetUser], Config],
) -> None:
    people, users, config = scenario
    first = plan(people, users, config)
    SCHEMA.validate(plan_document(seal_plan(first, KEY)))

    second = plan(people, apply_to(users, first), config)

    assert second.changes == ()
    assert second.errors == first.errors
