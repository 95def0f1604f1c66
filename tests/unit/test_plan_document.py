"""The plan document and its checksum: what a reviewer approves, and what does not make a
reviewed plan stale (message wording, summary counts, population figures)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path

import jsonschema

from reconciler.core.model import (
    STANDARD_FIELDS,
    Action,
    AttrValue,
    Change,
    Config,
    CustomAttribute,
    Employee,
    FieldSetting,
    LatticeSettings,
    PersonioSettings,
    Plan,
    Problem,
    SecretRef,
    SourceSnapshot,
    SyncSettings,
    TargetUser,
)
from reconciler.core.plan_document import (
    FORMAT_VERSION,
    REDACTED,
    compute_checksum,
    plan_document,
    redact_value,
)
from reconciler.core.planner import compute_plan

SCHEMA = jsonschema.Draft202012Validator(
    json.loads(
        (Path(__file__).parents[2] / "schemas" / "plan.schema.json").read_text(encoding="utf-8")
    )
)
CONFIG = Config(
    personio=PersonioSettings(
        "https://api.personio.de/v1", SecretRef("PID"), SecretRef("PSECRET"), "test-app"
    ),
    lattice=LatticeSettings("https://api.latticehq.com/scim/v2", SecretRef("LTOKEN")),
    sync=SyncSettings(unmanaged_users="deactivate"),
    fields=tuple(FieldSetting(name, True, source) for name, source in STANDARD_FIELDS.items()),
    custom_attributes=(CustomAttribute("dynamic_1", "Cost Center", sensitive=True),),
)


def employee(number: int, **attributes: AttrValue) -> Employee:
    values: dict[str, AttrValue] = {
        "id": str(number),
        "email": f"person{number}@example.com",
        "first_name": f"Given{number}",
        "last_name": "Example",
        "status": "active",
        "employment_type": "internal",
        "position": "Engineer",
        "supervisor": str(number // 3) if number > 2 else None,
        "birthday": dt.date(1970, 1, 1 + number % 28),
        "dynamic_1": f"CC-{number % 3}",
    }
    values.update(attributes)
    return Employee(str(number), values)


def lattice_user(number: int, **fields: str | None) -> TargetUser:
    values: dict[str, str | None] = {
        "first_name": f"Given{number}",
        "last_name": "Example",
        "title": "Engineer" if number % 4 else "Former title",
        "manager": None,
    }
    values.update(fields)
    return TargetUser(f"u{number}", f"person{number}@example.com", True, str(number), values)


def sample_plan() -> Plan:
    """A real plan with creates, updates, deactivations, errors and warnings."""
    employees = [employee(n) for n in range(1, 25)]
    # Two people sharing an email: errors, and warnings for those they manage.
    employees[6] = employee(7, email="shared@example.com")
    employees[7] = employee(8, email="shared@example.com")
    users = [lattice_user(n) for n in range(1, 30, 2)]
    plan = compute_plan(SourceSnapshot(tuple(employees)), users, CONFIG)
    assert plan.errors
    assert plan.warnings
    assert {change.action for change in plan.changes} >= {
        Action.CREATE,
        Action.UPDATE,
        Action.DEACTIVATE,
    }
    return plan


def rechecked(plan: Plan, **edits: object) -> Plan:
    """``plan`` with ``edits`` and its checksum computed afresh."""
    return dataclasses.replace(plan, checksum="", **edits)  # type: ignore[arg-type]


def reworded(problem: Problem) -> Problem:
    return dataclasses.replace(problem, message=f"{problem.message} (now worded better)")


def test_the_document_follows_the_schema_redacted_or_not() -> None:
    plan = sample_plan()

    for document in (plan_document(plan), plan_document(plan, redact=False)):
        SCHEMA.validate(document)
        assert document["format_version"] == FORMAT_VERSION == 2
        assert document["checksum"] == plan.checksum == compute_checksum(plan)


def test_sensitive_values_are_redacted_but_set_and_cleared_stay_apart() -> None:
    plan = sample_plan()

    text = json.dumps(plan_document(plan))

    assert "CC-1" not in text
    assert "1970-01-" not in text
    assert '"custom:Cost Center": {"from": null, "to": "(redacted)"}' in text
    assert redact_value("CC-1") == REDACTED
    assert redact_value(0) == REDACTED
    assert redact_value(None) is None


def test_a_reworded_warning_or_error_keeps_the_checksum() -> None:
    plan = sample_plan()

    warnings = rechecked(plan, warnings=tuple(reworded(p) for p in plan.warnings))
    errors = rechecked(plan, errors=tuple(reworded(p) for p in plan.errors))

    assert compute_checksum(warnings) == plan.checksum
    assert compute_checksum(errors) == plan.checksum
    # The document does carry the new wording: only the checksum ignores it.
    assert plan_document(warnings)["warnings"] != plan_document(plan)["warnings"]


def test_messages_that_reorder_one_persons_problems_keep_the_checksum() -> None:
    first = Problem("7", "manager_not_found", "a: first in message order")
    second = Problem("7", "manager_out_of_scope", "b: second in message order")
    plan = Plan(changes=(), unchanged=0, warnings=(first, second))

    swapped = dataclasses.replace(
        plan,
        warnings=(
            dataclasses.replace(second, message="a: now first"),
            dataclasses.replace(first, message="b: now second"),
        ),
    )

    assert compute_checksum(swapped) == compute_checksum(plan)


def test_summary_counts_and_population_figures_are_not_checksummed() -> None:
    plan = sample_plan()

    assert compute_checksum(rechecked(plan, unchanged=plan.unchanged + 3)) == plan.checksum
    assert compute_checksum(rechecked(plan, source_employees=1, target_users=1)) == plan.checksum


def test_a_different_code_person_or_number_of_problems_changes_the_checksum() -> None:
    plan = sample_plan()
    error, warning = plan.errors[0], plan.warnings[0]

    variants = [
        rechecked(plan, errors=(dataclasses.replace(error, code="other_code"), *plan.errors[1:])),
        rechecked(
            plan, warnings=(dataclasses.replace(warning, source_id="999"), *plan.warnings[1:])
        ),
        rechecked(plan, errors=(*plan.errors, Problem("999", "duplicate_email", "another"))),
        rechecked(plan, errors=(*plan.errors, error)),  # the same problem twice
        rechecked(plan, warnings=plan.warnings[1:]),
        rechecked(plan, errors=plan.errors[1:], warnings=(*plan.warnings, error)),
    ]

    checksums = {compute_checksum(variant) for variant in variants}
    assert len(checksums) == len(variants)
    assert plan.checksum not in checksums


def test_a_different_change_changes_the_checksum() -> None:
    plan = sample_plan()
    index, change = next((i, c) for i, c in enumerate(plan.changes) if c.action is Action.UPDATE)
    field, rest = change.fields[0], change.fields[1:]

    def replaced(**edits: object) -> Plan:
        edited = dataclasses.replace(change, **edits)  # type: ignore[arg-type]
        return rechecked(plan, changes=(*plan.changes[:index], edited, *plan.changes[index + 1 :]))

    variants = [
        replaced(fields=(dataclasses.replace(field, after="Another title"), *rest)),
        replaced(fields=(dataclasses.replace(field, before="Another title"), *rest)),
        replaced(fields=(*change.fields, dataclasses.replace(field, name="department"))),
        replaced(action=Action.LINK),
        replaced(source_id="999"),
        replaced(target_id="u999"),
        replaced(email="someone.else@example.com"),
        replaced(depends_on="999"),
        rechecked(plan, changes=plan.changes[:-1]),
        rechecked(plan, changes=(*plan.changes[1:], plan.changes[0])),  # another order
    ]

    checksums = {compute_checksum(variant) for variant in variants}
    assert len(checksums) == len(variants)
    assert plan.checksum not in checksums


def test_a_changed_sensitive_value_changes_the_checksum_not_the_document() -> None:
    plan = sample_plan()
    index, change = next(
        (i, c) for i, c in enumerate(plan.changes) if c.field("custom:Cost Center") is not None
    )
    fields = tuple(
        dataclasses.replace(f, after="CC-OTHER") if f.name == "custom:Cost Center" else f
        for f in change.fields
    )
    edited = dataclasses.replace(change, fields=fields)
    other = rechecked(plan, changes=(*plan.changes[:index], edited, *plan.changes[index + 1 :]))

    assert compute_checksum(other) != plan.checksum
    document, other_document = plan_document(plan), plan_document(other)
    assert {**document, "checksum": ""} == {**other_document, "checksum": ""}


def test_the_checksum_keeps_its_format() -> None:
    checksum = compute_checksum(
        Plan(changes=(Change(Action.DEACTIVATE, "1", "u1", "p1@example.com"),), unchanged=0)
    )

    assert re.fullmatch(r"sha256:[0-9a-f]{64}", checksum)
