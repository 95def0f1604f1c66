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


def test_a_user_only_in_lattice_with_an_unknown_external_id() -> None:
    user = TargetUser("u7", "gone@example.com", True, "99")
    story = _story([_employee("1", "ada@example.com")], [user], "gone@example.com")
    assert story is not None
    assert not story.in_source
    assert story.source_id == "99"
    assert "external id 99 is unknown to Personio" in story.scope_rule
    assert story.matching == ("only in the target: user u7",)
    assert story.change is not None
    assert story.change.action.value == "deactivate"


def test_an_unmanaged_user_names_the_policy_and_a_protected_one_says_so() -> None:
    users = [
        TargetUser("u5", "admin@example.com", True),
        TargetUser("u6", "ADMIN@example.com", True),
    ]
    config = _config()
    config = Config(
        personio=config.personio,
        lattice=config.lattice,
        fields=config.fields,
        sync=type(config.sync)(
            employee_types=config.sync.employee_types,
            statuses=config.sync.statuses,
            protected=frozenset({"admin@example.com"}),
        ),
    )
    snapshot = SourceSnapshot((_employee("1", "ada@example.com"),))
    plan = compute_plan(snapshot, users, config, source=PERSONIO, target=LATTICE)
    story = explain_person(
        "admin@example.com", snapshot, tuple(users), config, plan, source=PERSONIO, target=LATTICE
    )
    assert story is not None
    assert "an unmanaged user (sync.unmanaged_users:" in story.scope_rule
    assert story.scope_rule.endswith("; protected (sync.protected): never changed")
    assert story.candidates == ("u6",)


def test_an_email_two_employees_share_is_ambiguous_and_names_the_other() -> None:
    employees = [_employee("12", "ada@example.com"), _employee("3", "ada@example.com")]
    story = _story(employees, [], "ada@example.com")
    assert story is not None
    # the shorter (then smaller) id is explained, the other is a candidate
    assert story.source_id == "3"
    assert story.matching[0].startswith("ambiguous: Personio employees 12 have the same email")
    assert story.candidates == ("Personio 12",)


def test_two_lattice_users_with_one_external_id_are_ambiguous() -> None:
    users = [
        TargetUser("u1", "ada@example.com", True, "1"),
        TargetUser("u2", "ada.two@example.com", True, "1"),
    ]
    story = _story([_employee("1", "ada@example.com")], users, "1")
    assert story is not None
    assert "ambiguous: Lattice users u1, u2 all carry external id 1" in story.matching
    assert story.errors
    assert {f.outcome for f in story.fields} == {"none: left untouched (see the errors)"}


def test_an_address_held_by_another_linked_user_is_named() -> None:
    users = [TargetUser("u4", "ada@example.com", True, "2")]
    employees = [_employee("1", "ada@example.com"), _employee("2", "ben@example.com")]
    story = _story(employees, users, "1")
    assert story is not None
    assert any("is linked to Personio employee 2" in line for line in story.matching)
    assert "Lattice u4" in story.candidates


def test_a_missing_status_is_undecidable() -> None:
    story = _story([_employee("1", "ada@example.com", status="")], [], "1")
    assert story is not None
    assert not story.in_scope
    assert story.scope_rule.startswith("undecidable:")


def test_an_out_of_scope_employment_type() -> None:
    story = _story([_employee("1", "ada@example.com", employment_type="intern")], [], "1")
    assert story is not None
    assert "sync.employee_types" in story.scope_rule
    assert all(f.outcome == "none: not in scope or held back" for f in story.fields)


def test_a_contractors_title_and_manager_are_not_managed() -> None:
    user = TargetUser("u1", "ada@example.com", True, "1", {"title": "Old"})
    story = _story(
        [_employee("1", "ada@example.com", employment_type="external", position="New")],
        [user],
        "1",
    )
    assert story is not None
    assert story.contractor
    title = next(f for f in story.fields if f.name == "title")
    assert title.outcome.startswith("not managed:")
    assert title.desired is None
    assert title.target_value == "Old"


def test_an_existing_user_with_a_changed_title_shows_the_change() -> None:
    user = TargetUser("u1", "ada@example.com", True, "1", {"title": "Old", "first_name": "Ada"})
    story = _story([_employee("1", "ada@example.com")], [user], "1")
    assert story is not None
    assert story.matching[0] == "by id: Lattice user u1 has external id 1"
    title = next(f for f in story.fields if f.name == "title")
    assert (title.target_value, title.desired, title.outcome) == ("Old", "Engineer", "change")


def test_a_rehire_with_a_new_id_says_it_is_relinked_to_their_old_user() -> None:
    old = _employee("628", "ada@example.com", status="inactive")
    new = _employee("900", "ada@example.com")
    user = TargetUser("u628", "ada@example.com", False, "628", {"first_name": "Ada"})
    story = _story([old, new], [user], "900")
    assert story is not None
    assert story.target_id == "u628"
    assert story.change is not None
    assert story.change.action.value == "reactivate"
    assert any(line.startswith("relink: employee 900 is employee 628") for line in story.matching)


def test_explain_and_the_plan_give_the_same_scope_reason_for_an_inactive_contractor() -> None:
    # Inactive AND of an employment type out of scope: both say "left (status)" first.
    leaver = _employee("7", "lee@example.com", status="inactive", employment_type="external")
    user = TargetUser("u7", "lee@example.com", True, "7", {"first_name": "Ada"})
    story = _story([leaver], [user], "7")
    assert story is not None
    assert story.scope_rule.startswith("out of scope: status 'inactive'")
    assert story.change is not None
    assert story.change.reason == "left (status: inactive)"
