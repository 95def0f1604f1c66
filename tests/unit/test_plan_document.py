"""The plan document and its checksum: what a reviewer approves, and what does not make a
reviewed plan stale (message wording, summary counts, population figures); and how two
documents are told apart (reconciler.render.compare)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.app import check_plan_file
from reconciler.core.model import (
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
    PlanContext,
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
    seal_matches,
    seal_plan,
)
from reconciler.core.planner import compute_plan
from reconciler.errors import PlanFileError
from reconciler.render import render_json
from reconciler.render.compare import describe_plan_difference
from reconciler.sources.personio.profile import PERSONIO
from reconciler.targets.lattice.profile import LATTICE

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
    fields=tuple(
        FieldSetting(name, True, source) for name, source in PERSONIO.default_sources.items()
    ),
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
    plan = compute_plan(
        SourceSnapshot(tuple(employees)), users, CONFIG, source=PERSONIO, target=LATTICE
    )
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
    plan = seal_plan(sample_plan(), b"test plan key")

    for document in (plan_document(plan), plan_document(plan, redact=False)):
        SCHEMA.validate(document)
        assert document["format_version"] == FORMAT_VERSION == 2
        assert document["checksum"] == plan.checksum == compute_checksum(plan, b"test plan key")


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


# ---------------------------------------------------------------------------------------------
# Telling two documents apart
# ---------------------------------------------------------------------------------------------

#: Title, manager and birth date are synced; the Cost Center is sensitive (see CONFIG).
DIFF_CONFIG = dataclasses.replace(
    CONFIG,
    fields=tuple(
        FieldSetting(name, name in ("title", "manager", "birth_date"), source)
        for name, source in PERSONIO.default_sources.items()
    ),
)
DIFF_USERS = [
    TargetUser(
        f"u{n}",
        f"person{n}@example.com",
        True,
        str(n),
        {
            "first_name": f"Given{n}",
            "last_name": "Example",
            "title": "Intern" if n == 2 else "Engineer",
            "manager": None,
            "birth_date": f"1980-01-{n:02d}",
            "custom:Cost Center": "CC-1",
        },
    )
    for n in (1, 2, 3, 4, 9)
]


def person(number: int, **attributes: AttrValue) -> Employee:
    values: dict[str, AttrValue] = {
        "supervisor": None,
        "birthday": dt.date(1980, 1, number),
        "dynamic_1": "CC-1",
    }
    values.update(attributes)
    return employee(number, **values)


def reviewed_people() -> list[Employee]:
    """1-4 exist in Lattice (2 with an old title), 5 is new, 7 and 8 share an email, and 10
    reports to 7; Lattice user u9 has nobody in Personio."""
    return [
        person(1),
        person(2),
        person(3),
        person(4),
        person(5),
        person(7, email="shared@example.com"),
        person(8, email="shared@example.com"),
        person(10, supervisor="7"),
    ]


def fresh_people() -> list[Employee]:
    """Since the review: 2 got a new title and name, 3 a new name, 4 a new birthdate, 5 left,
    6 joined, and 7 and 8 have their own emails again."""
    return [
        person(1),
        person(2, position="Staff Engineer", first_name="Renamed"),
        person(3, first_name="Other"),
        person(4, birthday=dt.date(1980, 2, 4)),
        person(6),
        person(7),
        person(8),
        person(10, supervisor="7"),
    ]


def document_of(people: list[Employee], *, redact: bool = True) -> dict[str, object]:
    plan = compute_plan(
        SourceSnapshot(tuple(people)), DIFF_USERS, DIFF_CONFIG, source=PERSONIO, target=LATTICE
    )
    return plan_document(plan, redact=redact)


def test_the_same_plan_has_no_difference_even_reworded() -> None:
    document = document_of(reviewed_people())
    plan = compute_plan(
        SourceSnapshot(tuple(reviewed_people())),
        DIFF_USERS,
        DIFF_CONFIG,
        source=PERSONIO,
        target=LATTICE,
    )
    reworded_plan = rechecked(plan, warnings=tuple(reworded(p) for p in plan.warnings))

    assert describe_plan_difference(document, document_of(reviewed_people())) == ()
    assert describe_plan_difference(document, plan_document(reworded_plan)) == ()


def test_every_difference_between_two_real_plans_gets_one_line() -> None:
    lines = describe_plan_difference(document_of(reviewed_people()), document_of(fresh_people()))

    assert lines == (
        "change removed: create 5 (new)",
        "change added: create 6 (new)",
        "change added: create 7 (new)",
        "change added: create 8 (new)",
        "create 10 (new): now after the create of 7",
        "create 10 (new): field manager added",
        "update 2 (Lattice u2): field first_name added",
        # a name change carries the other part too (docs/decisions.md, "Lattice names")
        "update 2 (Lattice u2): field last_name added",
        "update 2 (Lattice u2): field title changed",
        "change added: update 3 (Lattice u3)",
        "change added: update 4 (Lattice u4)",
        "error removed: duplicate_email for 7",
        "error removed: duplicate_email for 8",
        "warning removed: reference_held for 10",
    )
    # The other way round, what was added is removed.
    backwards = describe_plan_difference(
        document_of(fresh_people()), document_of(reviewed_people())
    )
    assert "change added: create 5 (new)" in backwards
    assert "error added: duplicate_email for 7" in backwards
    assert "create 10 (new): no longer after the create of 7" in backwards
    assert "update 2 (Lattice u2): field first_name removed" in backwards


def test_no_line_shows_a_value_a_name_or_an_email() -> None:
    reviewed = document_of(reviewed_people(), redact=False)
    fresh = document_of(fresh_people(), redact=False)
    # An email changes too: the document carries it outside the fields as well.
    moved = fresh_people()
    moved[1] = person(2, position="Staff Engineer", first_name="Renamed", email="moved@example.com")
    moved_document = document_of(moved, redact=False)

    lines = describe_plan_difference(reviewed, fresh) + describe_plan_difference(
        fresh, moved_document
    )

    assert "update 2 (Lattice u2): email changed" in lines
    assert "update 2 (Lattice u2): field email added" in lines
    values = set()
    for document in (reviewed, fresh, moved_document):
        for change in document["changes"]:  # type: ignore[attr-defined]
            values.add(change["email"])
            for field in change["fields"].values():
                values.update(v for v in field.values() if isinstance(v, str) and not v.isdigit())
    assert {"Renamed", "Staff Engineer", "1980-02-04", "CC-1", "moved@example.com"} <= values
    for line in lines:
        assert "@" not in line
        assert not [value for value in values if value in line], line


def test_a_changed_redacted_value_is_reported_without_it() -> None:
    changed = reviewed_people()
    changed[3] = person(4, birthday=dt.date(1980, 3, 4))
    reviewed_fresh = reviewed_people()
    reviewed_fresh[3] = person(4, birthday=dt.date(1980, 2, 4))

    lines = describe_plan_difference(document_of(reviewed_fresh), document_of(changed))

    assert lines == (
        "a redacted or masked value differs, or the plan was sealed with another key "
        "(RECONCILE_PLAN_KEY or the Lattice token; the documents show no other difference)",
    )


def test_a_reviewed_file_compares_like_its_document() -> None:
    plan = compute_plan(
        SourceSnapshot(tuple(reviewed_people())),
        DIFF_USERS,
        DIFF_CONFIG,
        source=PERSONIO,
        target=LATTICE,
    )
    from_file = json.loads(render_json(plan))
    fresh = document_of(fresh_people())

    assert describe_plan_difference(from_file, fresh) == describe_plan_difference(
        plan_document(plan), fresh
    )


def test_an_older_format_and_odd_entries_are_described_not_fatal() -> None:
    reviewed = document_of(reviewed_people())
    errors = reviewed["errors"]
    assert isinstance(errors, list)
    older = {
        **reviewed,
        "format_version": 1,
        "errors": [*errors, errors[0], "not an entry"],
        "changes": [
            *reviewed["changes"],  # type: ignore[misc]
            {"action": "update", "personio_id": "a b@example.com", "lattice_id": "u5"},
            42,
        ],
    }

    lines = describe_plan_difference(older, reviewed)

    assert lines == (
        "format version 1 → 2",
        "change removed: update (unreadable) (Lattice u5)",
        "error duplicate_email for 7: 2 → 1 times",
    )
    assert describe_plan_difference({}, {}) == ()
    assert (
        describe_plan_difference({"checksum": "sha256:0"}, reviewed)[0]
        == "format version (none) → 2"
    )


# ---------------------------------------------------------------------------------------------
# The keyed checksum and the masked document (docs/security.md)
# ---------------------------------------------------------------------------------------------

KEY = b"the key plan and apply both hold"


def birthday_plan(birthday: dt.date) -> Plan:
    """One new hire whose birthdate is the secret an attacker wants."""
    employees = [employee(1, birthday=birthday)]
    return compute_plan(
        SourceSnapshot(tuple(employees)), [], CONFIG, source=PERSONIO, target=LATTICE
    )


def test_the_same_key_and_data_give_the_same_checksum_and_another_key_another() -> None:
    plan = sample_plan()

    sealed = seal_plan(plan, KEY)

    assert re.fullmatch(r"hmac-sha256:[0-9a-f]{64}", sealed.checksum)
    assert seal_plan(sample_plan(), KEY).checksum == sealed.checksum
    assert seal_plan(plan, b"another key").checksum != sealed.checksum
    assert compute_checksum(plan).startswith("sha256:")  # the unsealed fingerprint differs too
    assert compute_checksum(plan).removeprefix("sha256:") not in sealed.checksum


def test_brute_forcing_the_published_checksum_cannot_confirm_a_guessed_birthdate() -> None:
    secret_birthday = dt.date(1994, 3, 17)
    published = json.loads(render_json(seal_plan(birthday_plan(secret_birthday), KEY), masked=True))
    assert "1994-03-17" not in json.dumps(published)
    candidates = [dt.date(1994, 1, 1) + dt.timedelta(days=n) for n in range(365)]

    def confirmed(key: bytes | None) -> list[dt.date]:
        """Re-hash every candidate the way an attacker would, with the key they guess."""
        return [
            day
            for day in candidates
            if compute_checksum(birthday_plan(day), key) == published["checksum"]
        ]

    # Without the key: not the plain hash, not an empty or guessable key.
    for guess in (None, b"x", b"sandbox-token", b"LATTICE_SCIM_TOKEN"):
        assert confirmed(guess) == []
    # The attack is real: whoever holds the key confirms the date at once.
    assert confirmed(KEY) == [secret_birthday]


def test_a_masked_document_has_no_email_name_or_sensitive_value_but_the_same_checksum() -> None:
    plan = seal_plan(sample_plan(), KEY)

    masked = plan_document(plan, mask=True)
    text = json.dumps(masked)

    SCHEMA.validate(masked)
    assert masked["masked"] is True
    assert masked["checksum"] == plan.checksum
    assert "@" not in text
    assert not re.search(r"Given\d", text)
    assert "CC-" not in text
    assert "1970-01" not in text
    assert masked["summary"] == plan_document(plan)["summary"]


def test_describe_plan_difference_works_on_masked_documents() -> None:
    reviewed_plan = seal_plan(sample_plan(), KEY)
    reviewed = json.loads(render_json(reviewed_plan, masked=True))
    # A person dropped from the plan and a title edited since the review.
    changes = list(reviewed_plan.changes)
    dropped = changes.pop(0)
    fresh_plan = seal_plan(dataclasses.replace(reviewed_plan, changes=tuple(changes)), KEY)

    lines = describe_plan_difference(reviewed, plan_document(fresh_plan, mask=True))

    removed = f"change removed: {dropped.action.value} {dropped.source_id} "
    assert any(line.startswith(removed) for line in lines), lines
    assert not any("@" in line for line in lines)
    assert describe_plan_difference(reviewed, plan_document(reviewed_plan, mask=True)) == ()


# ----------------------------------------------------------------- the seal and the context

CONTEXT = PlanContext(
    personio_endpoint="https://api.personio.de/v1",
    lattice_endpoint="https://api.latticehq.com/scim/v2",
    config_sha256="sha256:" + "c" * 64,
    commit="0123456789abcdef0123456789abcdef01234567",
)


def written(plan: Plan, key: bytes = KEY) -> dict[str, object]:
    """The document as ``plan --json-out`` writes it (masked, sealed), read back."""
    document = json.loads(render_json(plan, masked=True, seal_key=key))
    assert isinstance(document, dict)
    return document


def test_the_written_document_matches_its_seal_only_under_its_key() -> None:
    plan = dataclasses.replace(seal_plan(sample_plan(), KEY), context=CONTEXT)
    document = written(plan)

    assert seal_matches(document, KEY)
    assert not seal_matches(document, b"another key")
    assert not seal_matches({k: v for k, v in document.items() if k != "seal"}, KEY)
    assert list(SCHEMA.iter_errors(document)) == []


def test_every_edit_of_the_written_document_breaks_its_seal() -> None:
    plan = dataclasses.replace(seal_plan(sample_plan(), KEY), context=CONTEXT)

    def dropped_change(d: dict[str, Any]) -> None:
        d["changes"].pop()

    def edited_value(d: dict[str, Any]) -> None:
        fields = next(c["fields"] for c in d["changes"] if c["fields"])
        next(iter(fields.values()))["to"] = "edited"

    def unmasked(d: dict[str, Any]) -> None:
        del d["masked"]

    def other_config(d: dict[str, Any]) -> None:
        d["context"]["config_sha256"] = "sha256:" + "d" * 64

    def other_checksum(d: dict[str, Any]) -> None:
        d["checksum"] = "hmac-sha256:" + "0" * 64

    for edit in (dropped_change, edited_value, unmasked, other_config, other_checksum):
        document = written(plan)
        edit(document)
        assert not seal_matches(document, KEY), edit.__name__


def test_the_context_is_shown_but_never_checksummed() -> None:
    plan = seal_plan(sample_plan(), KEY)
    local = dataclasses.replace(plan, context=dataclasses.replace(CONTEXT, commit=None))
    ci = dataclasses.replace(plan, context=CONTEXT)

    assert "context" not in plan_document(plan)
    assert plan_document(local)["context"] == {
        "personio": CONTEXT.personio_endpoint,
        "lattice": CONTEXT.lattice_endpoint,
        "config_sha256": CONTEXT.config_sha256,
    }
    assert plan_document(ci)["context"] == {
        **plan_document(local)["context"],
        "commit": CONTEXT.commit,
    }
    assert compute_checksum(ci, KEY) == compute_checksum(local, KEY) == compute_checksum(plan, KEY)


def test_check_plan_file_names_the_kind_of_refusal() -> None:
    plan = dataclasses.replace(seal_plan(sample_plan(), KEY), context=CONTEXT)
    document = written(plan)
    elsewhere = dataclasses.replace(CONTEXT, config_sha256="sha256:" + "e" * 64)
    edited = {**document, "checksum": "hmac-sha256:" + "1" * 64}

    check_plan_file(document, key=KEY, context=CONTEXT, where="plan.json")  # the receipt
    kinds = []
    for doc, context in ((edited, CONTEXT), (document, elsewhere)):
        with pytest.raises(PlanFileError) as caught:
            check_plan_file(doc, key=KEY, context=context, where="plan.json")
        kinds.append(caught.value.kind)

    assert kinds == ["edited", "from another config"]


def test_the_seal_survives_the_escapes_that_make_written_values_inert() -> None:
    # The file escapes bidi and zero-width characters as \uXXXX; read back they are the same.
    crafted = "Lead\u202e\u200b\n::error::x é 1e100"
    employees = [employee(n, position=crafted if n == 3 else "Engineer") for n in range(1, 9)]
    users = [lattice_user(n) for n in range(1, 9)]
    computed = compute_plan(
        SourceSnapshot(tuple(employees)), users, CONFIG, source=PERSONIO, target=LATTICE
    )
    plan = dataclasses.replace(seal_plan(computed, KEY), context=CONTEXT)
    text = render_json(plan, seal_key=KEY)

    assert "\u202e" not in text
    document = json.loads(text)
    shown = [field["to"] for change in document["changes"] for field in change["fields"].values()]
    assert any(isinstance(value, str) and "\u202e" in value for value in shown)
    assert seal_matches(document, KEY)
