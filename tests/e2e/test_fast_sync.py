"""End-to-end: fast runs (``--updated-since``) against both emulators served over HTTP.

A leaver, two retitles and a new hire whose manager is also new are each picked up by a fast
run; a full plan afterwards is empty; a fast run over an unchanged Personio writes nothing
with a handful of requests; a mass change in the window is refused exactly as a full run
refuses it.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from reconciler.sandbox.company import build_wire_employee

if TYPE_CHECKING:
    from conftest import LiveSandbox

EXIT_UNSAFE = 3
SCHEMA = Draft202012Validator(
    json.loads(
        (Path(__file__).parents[2] / "schemas" / "plan.schema.json").read_text(encoding="utf-8")
    )
)


def json_plan(live: LiveSandbox, *args: str) -> dict[str, Any]:
    result = live.run("plan", "--format", "json", "--no-progress", *args)
    assert result.exit_code in (0, EXIT_UNSAFE), result.stderr
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    SCHEMA.validate(document)
    return document


def converge(live: LiveSandbox) -> dict[str, Any]:
    """Apply the sandbox's first plan; returns the (empty) full plan after it."""
    applied = live.run("apply", "--no-progress")
    assert applied.exit_code == 0, applied.stderr
    after = json_plan(live)
    assert after["changes"] == []
    return after


def quiet_people(
    live: LiveSandbox, document: dict[str, Any], count: int, *, leaves: bool = True
) -> list[str]:
    """Ids of linked, active, in-scope people the full plan says nothing about, who manage
    nobody (a leaver's reports keep their manager until their own record or the full run
    changes it — see docs/github.md, "Fast runs")."""
    mentioned = {p["personio_id"] for p in document["errors"] + document["warnings"]}
    managers = set()  # managers and buddies: people others' records point at
    for pid in range(1, 61):
        for entry in live.box.personio.employee(pid)["attributes"].values():
            value = entry.get("value")
            if entry.get("label") == "Buddy" and value:
                managers.add(str(value))
            elif isinstance(value, dict) and value.get("type") == "Employee":
                managers.add(str(value["attributes"]["id"]["value"]))
    linked = {
        str(user.get("externalId"))
        for user in live.box.lattice.users.values()
        if user.get("externalId") and user.get("active")
    }
    ids = []
    for pid in range(2, 61):
        raw = live.box.personio.employee(pid)["attributes"]
        if (
            str(pid) not in mentioned
            and (not leaves or str(pid) not in managers)
            and str(pid) in linked
            and raw["status"]["value"] == "active"
            and raw["employment_type"]["value"] == "internal"
        ):
            ids.append(str(pid))
    assert len(ids) >= count
    return ids[:count]


def supervisor(pid: int) -> dict[str, object]:
    return {"type": "Employee", "attributes": {"id": {"label": "Employee ID", "value": pid}}}


def hire(pid: int, manager: int, position: str) -> dict[str, object]:
    return build_wire_employee(
        {
            "id": pid,
            "first_name": "Robin",
            "last_name": f"Newhire{pid}",
            "email": f"robin.newhire{pid}@example.com",
            "status": "onboarding",
            "employment_type": "internal",
            "position": position,
            "hire_date": "2026-01-05T00:00:00+01:00",
            "department": {"type": "Department", "attributes": {"id": 101, "name": "Engineering"}},
            "supervisor": supervisor(manager),
        }
    )


def summary(document: dict[str, Any]) -> Counter[str]:
    return Counter(change["action"] for change in document["changes"])


def test_a_fast_run_picks_up_a_leaver_two_retitles_and_a_new_hire_with_a_new_manager(
    live: LiveSandbox,
) -> None:
    full = converge(live)
    leaver, first, second = quiet_people(live, full, 3)
    personio = live.box.personio
    personio.update_employee(leaver, "status", "inactive")
    personio.update_employee(first, "position", "Principal Tea Taster")
    personio.update_employee(second, "position", "Head of Biscuits")
    personio.add_employee(hire(61, 1, "Engineering Manager"))
    personio.add_employee(hire(62, 61, "Software Engineer"))

    fast = json_plan(live, "--updated-since", "90m")

    assert summary(fast) == {"deactivate": 1, "update": 2, "create": 2}
    by_id = {change["personio_id"]: change for change in fast["changes"]}
    assert by_id[leaver]["action"] == "deactivate"
    assert set(by_id[first]["fields"]) == {"title"}
    assert set(by_id[second]["fields"]) == {"title"}
    assert [c["personio_id"] for c in fast["changes"][:2]] == ["61", "62"]  # manager first
    assert not [w for w in fast["warnings"] if w["code"] == "left_to_full_run"]

    writes_before = len(live.writes())
    applied = live.run("apply", "--updated-since", "90m", "--no-progress")
    assert applied.exit_code == 0, applied.stderr
    assert len(live.writes()) - writes_before == 5  # one write per change

    new_manager = next(
        user for user in live.box.lattice.users.values() if user.get("externalId") == "61"
    )
    report = next(
        user for user in live.box.lattice.users.values() if user.get("externalId") == "62"
    )
    enterprise = report["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]
    assert enterprise["manager"]["value"] == new_manager["id"]
    # The full run agrees: nothing left to do.
    assert json_plan(live)["changes"] == []
    # The same window again: idempotent, nothing to write.
    again = live.run("apply", "--updated-since", "90m", "--no-progress")
    assert again.exit_code == 0, again.stderr
    assert len(live.writes()) - writes_before == 5


def test_a_fast_run_with_nothing_changed_writes_nothing_and_makes_three_personio_requests(
    live: LiveSandbox,
) -> None:
    converge(live)
    personio_before = len(live.box.personio.requests)
    lattice_before = len(live.box.lattice.requests)

    result = live.run("apply", "--updated-since", "90m", "--no-progress")

    assert result.exit_code == 0, result.stderr
    assert "Nothing to apply." in result.stdout
    personio = live.box.personio.requests[personio_before:]
    assert [(r.method, r.path) for r in personio] == [
        ("POST", "/v1/auth"),
        ("GET", "/v1/company/employees/attributes"),
        ("GET", "/v1/company/employees"),
    ]
    assert live.box.lattice.requests[lattice_before:] == []


def test_a_change_personio_does_not_count_as_an_update_waits_for_the_full_run(
    live: LiveSandbox,
) -> None:
    full = converge(live)
    (leaver,) = quiet_people(live, full, 1)
    live.box.personio.update_employee(leaver, "status", "inactive", touch=False)

    assert json_plan(live, "--updated-since", "90m")["changes"] == []
    assert summary(json_plan(live)) == {"deactivate": 1}


def test_a_mass_change_in_the_window_is_refused_exactly_as_a_full_run_refuses_it(
    live: LiveSandbox,
) -> None:
    full = converge(live)
    for pid in quiet_people(live, full, 12, leaves=False):
        live.box.personio.update_employee(pid, "status", "inactive")

    writes_before = len(live.writes())
    fast = live.run("plan", "--updated-since", "90m", "--no-progress")
    whole = live.run("plan", "--no-progress")
    fast_apply = live.run("apply", "--updated-since", "90m", "--no-progress")

    assert fast.exit_code == whole.exit_code == fast_apply.exit_code == EXIT_UNSAFE
    refusals = [line for line in whole.stdout.splitlines() if "safety.max_deactivations" in line]
    assert refusals
    assert refusals == [
        line for line in fast.stdout.splitlines() if "safety.max_deactivations" in line
    ]
    assert "safety.max_deactivations" in fast_apply.stderr
    assert len(live.writes()) == writes_before


def test_an_unreadable_window_is_one_clear_line(live: LiveSandbox) -> None:
    result = live.run("plan", "--updated-since", "yesterday")
    assert result.exit_code == 1  # a usage error, as every other one (see EXIT_CODES_HELP)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert "90m" in errors[0]


def test_an_email_handed_to_someone_linked_is_left_to_the_full_run_without_the_email(
    live: LiveSandbox,
) -> None:
    full = converge(live)
    first, second = quiet_people(live, full, 2)
    taken = live.box.personio.employee(second)["attributes"]["email"]["value"]
    live.box.personio.update_employee(first, "email", taken)

    fast = json_plan(live, "--updated-since", "90m")
    text = live.run("plan", "--updated-since", "90m", "--no-progress")

    assert fast["changes"] == []
    left = [w for w in fast["warnings"] if w["code"] == "left_to_full_run"]
    assert [w["personio_id"] for w in left] == [first]
    assert taken not in left[0]["message"]
    assert "left to the full run" in text.stdout
    assert taken not in text.stdout
