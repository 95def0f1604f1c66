"""The pure comparison behind apply's verification: what a write set that the target lacks."""

from __future__ import annotations

from reconciler.core.model import (
    FULL_NAME_FIELD,
    Action,
    Change,
    FieldChange,
    FieldValue,
    TargetUser,
)
from reconciler.core.verify import unstored_fields


def user(
    *,
    active: bool = True,
    external_id: str | None = "100",
    email: str = "ada@example.com",
    **fields: FieldValue,
) -> TargetUser:
    return TargetUser("u_1", email, active, external_id, fields)


def update(*fields: tuple[str, FieldValue], action: Action = Action.UPDATE) -> Change:
    return Change(
        action,
        "100",
        "u_1",
        "ada@example.com",
        tuple(FieldChange(name, "old", value) for name, value in fields),
    )


def test_a_field_the_target_kept_as_it_was_is_reported() -> None:
    change = update(("title", "Staff Engineer"), ("department", "Platform"))
    stored = user(title="Engineer", department="Platform")
    assert unstored_fields(change, stored, manager_target_id=None) == ("title",)


def test_everything_stored_reports_nothing() -> None:
    change = update(("title", "Staff Engineer"), ("start_date", "2024-05-01"))
    stored = user(title="Staff Engineer", start_date="2024-05-01")
    assert unstored_fields(change, stored, manager_target_id=None) == ()


def test_a_cleared_field_counts_as_stored_when_absent() -> None:
    change = update(("title", None), ("custom:Cost Center", None))
    assert unstored_fields(change, user(), manager_target_id=None) == ()
    assert unstored_fields(change, user(title="Engineer"), manager_target_id=None) == ("title",)


def test_custom_attributes_are_matched_case_insensitively() -> None:
    change = update(("custom:Cost Center", "CC-7"))
    assert (
        unstored_fields(change, user(**{"custom:cost center": "CC-7"}), manager_target_id=None)
        == ()
    )
    assert unstored_fields(
        change, user(**{"custom:cost center": "CC-1"}), manager_target_id=None
    ) == ("custom:Cost Center",)


def test_email_is_compared_case_folded() -> None:
    change = update(("email", "ada.new@example.com"))
    assert unstored_fields(change, user(email="Ada.New@Example.com"), manager_target_id=None) == ()
    assert unstored_fields(change, user(), manager_target_id=None) == ("email",)


def test_manager_is_compared_with_the_target_id_that_was_sent() -> None:
    change = update(("manager", "200"))  # a Personio id in the plan
    assert unstored_fields(change, user(manager="u_9"), manager_target_id="u_9") == ()
    assert unstored_fields(change, user(manager="u_8"), manager_target_id="u_9") == ("manager",)


def test_a_name_known_only_as_a_whole_is_compared_as_given_family() -> None:
    change = update(("first_name", "Mary Ann"), ("last_name", "Smith"))
    whole = user(first_name=None, last_name=None, **{FULL_NAME_FIELD: "Mary Ann Smith"})
    assert unstored_fields(change, whole, manager_target_id=None) == ()
    old = user(first_name=None, last_name=None, **{FULL_NAME_FIELD: "Mary Smith"})
    assert unstored_fields(change, old, manager_target_id=None) == ("first_name", "last_name")
    parts = user(first_name="Mary Ann", last_name="Smith")
    assert unstored_fields(change, parts, manager_target_id=None) == ()


def test_create_only_fields_are_not_verified() -> None:
    change = update(("preferred_name", "Addie"), ("title", "CTO"))
    stored = user(preferred_name="Ada", title="CTO")
    assert (
        unstored_fields(
            change, stored, manager_target_id=None, unverified=frozenset({"preferred_name"})
        )
        == ()
    )
    assert unstored_fields(change, stored, manager_target_id=None) == ("preferred_name",)


def test_lifecycle_changes_are_verified() -> None:
    deactivate = update(action=Action.DEACTIVATE)
    assert unstored_fields(deactivate, user(active=True), manager_target_id=None) == ("active",)
    assert unstored_fields(deactivate, user(active=False), manager_target_id=None) == ()
    reactivate = update(action=Action.REACTIVATE)
    assert unstored_fields(reactivate, user(active=False), manager_target_id=None) == ("active",)
    link = update(("title", "CTO"), action=Action.LINK)
    assert unstored_fields(link, user(external_id=None, title="CTO"), manager_target_id=None) == (
        "externalId",
    )
    assert unstored_fields(link, user(title="CTO"), manager_target_id=None) == ()
