"""One person's story (core.explain), computed from the same inputs as the plan."""

from __future__ import annotations

import datetime as dt

from reconciler.core.explain import Explanation, explain_person
from reconciler.core.model import (
    Config,
    Employee,
    FieldSetting,
    LatticeSettings,
    PersonioSettings,
    SecretRef,
    SourceSnapshot,
    TargetUser,
)
from reconciler.core.plan_document import REDACTED
from reconciler.core.planner import compute_plan
from reconciler.sources.personio.profile import PERSONIO
from reconciler.targets.lattice.profile import LATTICE


def _employee(sid: str, email: str, **extra: object) -> Employee:
    attributes: dict[str, object] = {
        "email": email,
        "first_name": "Ada",
        "last_name": "Example",
        "status": "active",
        "employment_type": "internal",
        "position": "Engineer",
        "birthday": dt.date(1990, 5, 17),
    }
    attributes.update(extra)
    return Employee(sid, attributes)  # type: ignore[arg-type]


def _config() -> Config:
    return Config(
        personio=PersonioSettings(
            "https://api.personio.de/v1", SecretRef("PID"), SecretRef("PSECRET"), "test-app"
        ),
        lattice=LatticeSettings("https://api.latticehq.com/scim/v2", SecretRef("LTOKEN")),
        fields=tuple(
            FieldSetting(name, name in {"title", "birth_date"}, source)
            for name, source in PERSONIO.default_sources.items()
        ),
    )


def _story(employees: list[Employee], users: list[TargetUser], query: str) -> Explanation | None:
    config = _config()
    snapshot = SourceSnapshot(tuple(employees))
    plan = compute_plan(snapshot, users, config, source=PERSONIO, target=LATTICE)
    return explain_person(
        query, snapshot, tuple(users), config, plan, source=PERSONIO, target=LATTICE
    )


def test_a_new_person_is_created_and_the_birthdate_is_redacted() -> None:
    story = _story([_employee("1", "ada@example.com")], [], "ADA@example.com")
    assert story is not None
    assert story.source_id == "1"
    assert story.in_scope
    assert story.change is not None
    assert story.change.action.value == "create"
    birth = next(f for f in story.fields if f.name == "birth_date")
    assert birth.source_value == REDACTED
    assert birth.desired == REDACTED
    assert "no Lattice user" in story.matching[0]


def test_an_email_match_is_an_adoption() -> None:
    user = TargetUser("u9", "ada@example.com", True, None, {"first_name": "Ada"})
    story = _story([_employee("1", "ada@example.com")], [user], "1")
    assert story is not None
    assert story.target_id == "u9"
    assert any(line.startswith("by email") for line in story.matching)
    assert story.change is not None
    assert story.change.action.value == "link"


def test_an_out_of_scope_contractor_status() -> None:
    story = _story([_employee("1", "ada@example.com", status="inactive")], [], "1")
    assert story is not None
    assert not story.in_scope
    assert "sync.statuses" in story.scope_rule
    assert story.change is None


def test_nobody_is_none() -> None:
    assert _story([_employee("1", "ada@example.com")], [], "2") is None
