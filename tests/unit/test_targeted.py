"""``--only PERSON``: who a name resolves to, and what a targeted plan keeps (core/targeted.py)."""

from __future__ import annotations

from reconciler.core.model import Action, Change, Employee, FieldChange, Plan, Problem, TargetUser
from reconciler.core.targeted import Selection, missing_dependencies, resolve_people, select_people

EMPLOYEES = (
    Employee("1", {"email": "ada@example.com"}),
    Employee("2", {"email": "Ben.Example@Example.com"}),
    Employee("3", {"email": "  "}),  # no usable address
    Employee("4", {}),
)
USERS = (
    TargetUser("u1", "ada@example.com", True, external_id="1"),
    TargetUser("u9", "admin@example.com", True),  # nobody in Personio
    TargetUser("u8", "old@example.com", False, external_id="8"),  # a Personio id gone since
)


def resolve(*people: str) -> Selection:
    return resolve_people(people, EMPLOYEES, USERS, email_key="email")


def test_a_personio_id_resolves_to_itself() -> None:
    assert resolve("1") == Selection(frozenset({"1"}), frozenset())


def test_an_email_resolves_case_folded_and_trimmed_to_the_employee() -> None:
    assert resolve("  ben.example@example.COM ") == Selection(frozenset({"2"}), frozenset())


def test_a_lattice_users_email_resolves_to_its_linked_personio_id_or_to_the_user() -> None:
    assert resolve("old@example.com") == Selection(frozenset({"8"}), frozenset())
    assert resolve("ADMIN@example.com") == Selection(frozenset(), frozenset({"u9"}))


def test_an_id_known_only_to_lattice_resolves() -> None:
    assert resolve("8").source_ids == frozenset({"8"})


def test_names_that_match_nobody_are_listed_in_order() -> None:
    selection = resolve("nobody@example.com", "1", "77")
    assert selection.source_ids == frozenset({"1"})
    assert selection.unknown == ("nobody@example.com", "77")


def test_an_employee_without_an_address_is_found_by_id_only() -> None:
    assert resolve("3").source_ids == frozenset({"3"})
    assert resolve("4").unknown == ()


CREATE_MANAGER = Change(
    Action.CREATE, "5", None, "cleo@example.com", (FieldChange("email", None, "cleo@example.com"),)
)
CREATE_REPORT = Change(
    Action.CREATE,
    "6",
    None,
    "dan@example.com",
    (FieldChange("manager", None, "5"),),
    depends_on="5",
)
UPDATE_ADA = Change(Action.UPDATE, "1", "u1", "ada@example.com", (FieldChange("title", "A", "B"),))
DEACTIVATE_ADMIN = Change(Action.DEACTIVATE, None, "u9", "admin@example.com")
PLAN = Plan(
    changes=(CREATE_MANAGER, CREATE_REPORT, UPDATE_ADA, DEACTIVATE_ADMIN),
    unchanged=10,
    warnings=(
        Problem("1", "w", "a warning"),
        Problem("2", "w", "another"),
        Problem(None, "g", "x"),
    ),
    errors=(Problem("6", "e", "an error"),),
    source_employees=14,
    target_users=12,
    checksum="hmac-sha256:" + "0" * 64,
)


def test_a_targeted_plan_keeps_only_the_selected_peoples_changes_and_problems() -> None:
    only = select_people(PLAN, Selection(frozenset({"1", "6"}), frozenset({"u9"})))
    assert only.changes == (CREATE_REPORT, UPDATE_ADA, DEACTIVATE_ADMIN)
    assert [problem.source_id for problem in only.warnings] == ["1"]
    assert [problem.source_id for problem in only.errors] == ["6"]
    # three people named, each with a change
    assert only.unchanged == 0
    # population figures stay the full run's; the checksum is for the caller to seal
    assert (only.source_employees, only.target_users) == (14, 12)
    assert only.checksum == ""


def test_selected_people_without_a_change_count_as_unchanged() -> None:
    only = select_people(PLAN, Selection(frozenset({"1", "2", "3"}), frozenset()))
    assert only.changes == (UPDATE_ADA,)
    assert only.unchanged == 2


def test_a_report_selected_without_its_new_manager_is_a_missing_dependency() -> None:
    only = select_people(PLAN, Selection(frozenset({"6"}), frozenset()))
    assert missing_dependencies(only) == (("6", "5"),)
    both = select_people(PLAN, Selection(frozenset({"5", "6"}), frozenset()))
    assert missing_dependencies(both) == ()
