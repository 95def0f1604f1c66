"""End-to-end: the policies (sync.foreign_users, sync.reactivate, safety.max_errors, contractors)
through the real CLI against both emulators served over HTTP, across plan → apply → plan.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.sandbox.company import build_wire_employee

if TYPE_CHECKING:
    from conftest import LiveSandbox

OKTA_ID = "00u1a2b3c4d5e6f7g8h9"
ADOPTED = "adopted from another provisioner (matched by email; sync.foreign_users: adopt)"
CONTRACTOR = "contractor (employment type: external): manager and title not managed"
EXIT_UNSAFE = 3


def plan_json(live: LiveSandbox, config: Path | None = None) -> dict[str, Any]:
    result = live.run("plan", "--format", "json", config=config)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


def plan_text(live: LiveSandbox, fmt: str, config: Path | None = None) -> str:
    result = live.run("plan", "--format", fmt, config=config)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def problems(document: dict[str, Any], kind: str = "warnings") -> list[tuple[str | None, str]]:
    return [(p["personio_id"], p["code"]) for p in document[kind]]


def seed_foreign_user(live: LiveSandbox, email: str, given: str, family: str) -> str:
    """A user another provisioner (Okta) created: its externalId is an Okta id."""
    return live.box.lattice.seed_user(
        {
            "userName": email,
            "externalId": OKTA_ID,
            "name": {"givenName": given, "familyName": family},
            "emails": [{"value": email, "primary": True, "type": "work"}],
            "title": "Set by Okta",
            "active": True,
        }
    )


def markdown(text: str) -> str:
    """``text`` as the Markdown format escapes it (underscores would start emphasis)."""
    return text.replace("_", "\\_")


def first_create(document: dict[str, Any]) -> dict[str, Any]:
    creates = [c for c in document["changes"] if c["action"] == "create"]
    return creates[0]


def names_of(live: LiveSandbox, pid: str) -> tuple[str, str]:
    attributes = live.box.personio.employee(pid)["attributes"]
    return attributes["first_name"]["value"], attributes["last_name"]["value"]


# ------------------------------------------------------------------ another provisioner's users


def test_another_provisioners_user_is_left_alone_and_said_so_in_every_format(
    live: LiveSandbox,
) -> None:
    target_id = seed_foreign_user(live, "okta.only@example.com", "Okta", "Only")
    before = plan_json(live)

    summary = "1 Lattice user created by another provisioner left alone (sync.foreign_users: leave)"
    assert not [c for c in before["changes"] if c["lattice_id"] == target_id]
    assert (None, "foreign_users") in problems(before)
    assert summary in plan_text(live, "text")
    assert markdown(summary) in plan_text(live, "markdown")

    applied = live.run("apply", "--checksum", before["checksum"])

    assert applied.exit_code == 0, applied.stderr
    assert live.box.lattice.users[target_id]["active"] is True
    assert not [r for r in live.writes() if target_id in r.path]
    assert plan_json(live)["changes"] == []


def test_leave_does_not_create_a_person_whose_address_another_provisioner_holds(
    live: LiveSandbox,
) -> None:
    create = first_create(plan_json(live))
    pid = create["personio_id"]
    seed_foreign_user(live, create["email"], *names_of(live, pid))

    document = plan_json(live)

    assert not [c for c in document["changes"] if c["personio_id"] == pid]
    assert (pid, "email_held_by_foreign_user") in problems(document)
    assert pid not in {p for p, _ in problems(document, "errors")}


def test_adopt_manages_another_provisioners_user_by_email_and_converges(
    live: LiveSandbox,
) -> None:
    create = first_create(plan_json(live))
    pid = create["personio_id"]
    target_id = seed_foreign_user(live, create["email"], *names_of(live, pid))
    config = live.write_config("adopt.yaml", {"sync": {"foreign_users": "adopt"}})

    document = plan_json(live, config)
    (change,) = [c for c in document["changes"] if c["personio_id"] == pid]

    assert (change["action"], change["lattice_id"], change["reason"]) == (
        "update",
        target_id,
        ADOPTED,
    )
    assert "title" in set(change["fields"])
    assert f"why: {ADOPTED}" in plan_text(live, "text", config)
    assert f"why: {markdown(ADOPTED)}" in plan_text(live, "markdown", config)
    assert "adopted by email and 0 left alone" in plan_text(live, "text", config)

    applied = live.run("apply", "--checksum", document["checksum"], config=config)

    assert applied.exit_code == 0, applied.stdout + applied.stderr
    stored = live.box.lattice.users[target_id]
    assert stored["externalId"] == OKTA_ID  # Lattice keeps it; we match by email
    assert stored["title"] != "Set by Okta"
    assert len(live.box.lattice.find_by_user_name(create["email"])) == 1
    assert plan_json(live, config)["changes"] == []


# ------------------------------------------------------------------ reactivations


def test_reactivate_never_leaves_the_deactivated_user_alone_across_applies(
    live: LiveSandbox,
) -> None:
    (reactivation,) = [c for c in plan_json(live)["changes"] if c["action"] == "reactivate"]
    pid, target_id = reactivation["personio_id"], reactivation["lattice_id"]
    assert reactivation["reason"] == (
        "active in Personio, deactivated in Lattice (rehired, or deactivated by hand)"
    )
    config = live.write_config("never.yaml", {"sync": {"reactivate": "never"}})

    document = plan_json(live, config)

    assert document["summary"]["reactivate"] == 0
    assert not [c for c in document["changes"] if c["personio_id"] == pid]
    assert (pid, "reactivation_skipped") in problems(document)
    assert "reactivation_skipped" in plan_text(live, "text", config)
    assert "| `reactivation_skipped` |" in plan_text(live, "markdown", config)

    applied = live.run("apply", "--checksum", document["checksum"], config=config)

    assert applied.exit_code == 0, applied.stderr
    assert live.box.lattice.users[target_id]["active"] is False
    again = plan_json(live, config)
    assert again["changes"] == []
    assert (pid, "reactivation_skipped") in problems(again)


# ------------------------------------------------------------------ people in error


def test_a_broken_export_with_most_people_in_error_is_refused_with_exit_3(
    live: LiveSandbox,
) -> None:
    ids = [str(raw["attributes"]["id"]["value"]) for raw in live.box.company.employees]
    for pid in ids[3:]:
        live.box.personio.update_employee(pid, "email", "shared.inbox@example.com")

    planned = live.run("plan")
    applied = live.run("apply", "--no-progress")

    assert (planned.exit_code, applied.exit_code) == (EXIT_UNSAFE, EXIT_UNSAFE)
    assert "people in error exceed safety.max_errors.percent = 10 %" in planned.stdout
    assert live.writes() == []


# ------------------------------------------------------------------ contractors


def test_contractors_are_named_on_create_and_a_conversion_is_warned(live: LiveSandbox) -> None:
    document = plan_json(live)
    mentioned = {c["personio_id"] for c in document["changes"]}
    mentioned |= {p for p, _ in problems(document) + problems(document, "errors")}
    converted = next(
        str(pid)
        for pid in range(2, 60)
        if str(pid) not in mentioned
        and live.box.personio.employee(pid)["attributes"]["employment_type"]["value"] == "internal"
        and live.box.personio.employee(pid)["attributes"]["supervisor"]["value"]
    )
    live.box.personio.update_employee(converted, "employment_type", "external")
    live.box.personio.add_employee(
        build_wire_employee(
            {
                "id": 63,
                "first_name": "Ember",
                "last_name": "Freelance",
                "email": "ember.freelance@example.com",
                "status": "active",
                "employment_type": "external",
                "position": "Illustrator",
                "hire_date": "2024-05-01T00:00:00+02:00",
            }
        )
    )

    after = plan_json(live)
    (create,) = [c for c in after["changes"] if c["personio_id"] == "63"]

    assert create["reason"] == CONTRACTOR
    assert "title" not in set(create["fields"])
    assert f"why: {CONTRACTOR}" in plan_text(live, "text")
    assert f"why: {markdown(CONTRACTOR)}" in plan_text(live, "markdown")
    assert (converted, "became_contractor") in problems(after)
    assert not [c for c in after["changes"] if c["personio_id"] == converted]

    applied = live.run("apply", "--checksum", after["checksum"])

    assert applied.exit_code == 0, applied.stderr
    assert plan_json(live)["changes"] == []
