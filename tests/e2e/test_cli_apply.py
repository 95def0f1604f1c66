"""End-to-end: ``reconcile apply`` against both emulators served over HTTP, across invocations.
Runs the CLI in-process; the ``live`` emulators keep their state from one command to the next.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.sandbox.company import BIRTHDAY_CUSTOM_KEY, build_wire_employee
from reconciler.sandbox.scenario import build_sandbox

if TYPE_CHECKING:
    from conftest import Kit, LiveSandbox

UNSAFE = {"safety": {"max_deactivations": {"count": 0}, "min_population": 0}}
SANDBOX_CHANGES = 10  # 3 creates, 1 link, 1 reactivation, 4 updates, 1 deactivation
AUDIT_KEYS = {
    "time",
    "action",
    "personio_id",
    "lattice_id",
    "not_applied",
    "fields",
    "outcome",
    "attempts",
    "detail",
}
NO_PROBATION_END = (
    "lattice POST Users → 400: unknown custom attribute 'Probation End': create it in Lattice first"
)


def json_plan(live: LiveSandbox) -> dict[str, Any]:
    result = live.run("plan", "--format", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


def unchanged_employee(document: dict[str, Any]) -> str:
    """The Personio id of an in-scope employee the plan neither changes nor warns about."""
    mentioned = {c["personio_id"] for c in document["changes"]}
    mentioned |= {p["personio_id"] for p in document["errors"] + document["warnings"]}
    candidates = [str(pid) for pid in range(2, 60) if str(pid) not in mentioned]
    return candidates[0]


def add_manager_and_report(live: LiveSandbox) -> None:
    """Two new hires: 61, who has a probation end, and 62, who reports to 61 and has none."""

    def supervisor(pid: int) -> dict[str, object]:
        return {"type": "Employee", "attributes": {"id": {"label": "Employee ID", "value": pid}}}

    common: dict[str, object] = {
        "status": "active",
        "employment_type": "internal",
        "department": {"type": "Department", "attributes": {"id": 101, "name": "Engineering"}},
        BIRTHDAY_CUSTOM_KEY: "1991-02-03T00:00:00+01:00",
        "dynamic_1234567": "CC-200",
        "dynamic_2345678": "M",
        "dynamic_3456789": 3,
    }
    live.box.personio.add_employee(
        build_wire_employee(
            {
                **common,
                "id": 61,
                "first_name": "Wren",
                "last_name": "Testwood",
                "email": "wren.testwood@example.com",
                "position": "Team Lead",
                "hire_date": "2024-03-01T00:00:00+01:00",
                "dynamic_4567890": "2024-09-01T00:00:00+02:00",
                "supervisor": supervisor(1),
            }
        )
    )
    live.box.personio.add_employee(
        build_wire_employee(
            {
                **common,
                "id": 62,
                "first_name": "Ash",
                "last_name": "Testwood",
                "email": "ash.testwood@example.com",
                "position": "Software Engineer",
                "hire_date": "2019-03-01T00:00:00+01:00",
                "supervisor": supervisor(61),
            }
        )
    )


def test_plan_apply_plan_converges_to_an_empty_plan(live: LiveSandbox) -> None:
    first = live.run("plan", "--detailed-exitcode")
    before = json_plan(live)

    applied = live.run("apply")
    second = live.run("plan", "--detailed-exitcode")
    after = json_plan(live)

    assert first.exit_code == 2
    assert applied.exit_code == 0, applied.stderr
    assert second.exit_code == 0, second.stderr
    assert second.stdout.splitlines()[0] == "Plan: no changes, 54 unchanged"
    assert after["changes"] == []
    assert after["errors"] == before["errors"]
    # Lattice applies a preferred name on create only: the drift stays a warning, not a change.
    assert after["warnings"] == before["warnings"]
    assert [w["code"] for w in after["warnings"] if w["personio_id"] == "7"] == [
        "preferred_name_drift"
    ]
    assert "Create (" not in second.stdout
    assert "Update (" not in second.stdout


def test_apply_prints_the_plan_then_the_report_and_makes_one_write_per_change(
    kit: Kit, live: LiveSandbox
) -> None:
    plan_text = live.run("plan").stdout

    result = live.run("apply")

    assert result.exit_code == 0
    assert result.stderr == ""
    checksum = kit.checksum_in(plan_text)
    assert result.stdout.startswith(plan_text)
    assert result.stdout[len(plan_text) :].strip() == (
        "Apply: 10 applied, 0 failed, 0 skipped (of 10 changes)\n"
        f"{kit.sandbox_summary}\n"
        "\n"
        f"Checksum: {checksum}"
    )
    writes = Counter((request.method, request.status) for request in live.writes())
    assert writes == {("POST", 201): 3, ("PATCH", 200): SANDBOX_CHANGES - 3}


def test_the_reviewed_checksum_applies(kit: Kit, live: LiveSandbox) -> None:
    checksum = kit.checksum_in(live.run("plan").stdout)

    result = live.run("apply", "--checksum", checksum)

    assert result.exit_code == 0, result.stderr
    assert len(live.writes()) == SANDBOX_CHANGES
    assert json_plan(live)["changes"] == []


def test_a_stale_checksum_is_refused_and_nothing_is_written_even_with_force(
    live: LiveSandbox,
) -> None:
    document = json_plan(live)
    live.box.personio.update_employee(unchanged_employee(document), "position", "Tea Sommelier")
    now = json_plan(live)["checksum"]

    refused = live.run("apply", "--checksum", document["checksum"])
    forced = live.run("apply", "--checksum", document["checksum"], "--force")

    expected = (
        f"error: plan is stale: Personio or Lattice changed since it was reviewed "
        f"(reviewed {document['checksum']}, now {now}) — run plan again and review the new plan\n"
    )
    for result in (refused, forced):
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr == expected
    assert live.writes() == []


def test_a_json_plan_file_carries_the_checksum_to_apply(live: LiveSandbox, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    written = live.run("plan", "--format", "json", "--out", str(plan_file))

    result = live.run("apply", "--plan", str(plan_file))

    assert written.exit_code == 0
    assert result.exit_code == 0, result.stderr
    assert len(live.writes()) == SANDBOX_CHANGES


def test_a_stale_json_plan_file_is_refused(live: LiveSandbox, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    live.run("plan", "--format", "json", "--out", str(plan_file))
    document = json.loads(plan_file.read_text(encoding="utf-8"))
    retitled = unchanged_employee(document)
    live.box.personio.update_employee(retitled, "position", "Tea Sommelier")

    result = live.run("apply", "--plan", str(plan_file))

    assert result.exit_code == 1
    assert "error: plan is stale" in result.stderr
    # What made it stale, named by id and field only (deepdiff over the two documents).
    lines = result.stderr.splitlines()[1:]
    assert any(retitled in line and "update" in line for line in lines), result.stderr
    assert "Tea Sommelier" not in result.stderr
    assert live.writes() == []


def test_a_file_that_is_not_a_plan_is_refused_before_any_request(
    live: LiveSandbox, tmp_path: Path
) -> None:
    not_a_plan = tmp_path / "plan.md"
    not_a_plan.write_text("### Personio → Lattice plan\n", encoding="utf-8")

    result = live.run("apply", "--plan", str(not_a_plan))

    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {not_a_plan}: the plan file is malformed: not a JSON plan — pass the file "
        "written by 'reconcile plan --json-out FILE'\n"
    )
    assert live.box.lattice.requests == []


def test_an_unsafe_plan_is_refused_with_exit_3_and_nothing_written(live: LiveSandbox) -> None:
    config = live.write_config("unsafe.yaml", UNSAFE)

    result = live.run("apply", config=config)

    assert result.exit_code == 3
    assert "Safety: REFUSED by the safety policy" in result.stdout
    assert "Apply:" not in result.stdout
    assert result.stderr.splitlines() == [
        "error: refused: 1 deactivation exceeds safety.max_deactivations.count = 0 (1 of 53 "
        "active Lattice users, 1.9 %) — review the plan, then re-run with --force or raise "
        "safety.max_deactivations.count",
        "error: review the plan; if it is right, re-run with --force or raise the threshold "
        "under 'safety' in the config",
    ]
    assert live.writes() == []


def test_force_applies_an_unsafe_plan(live: LiveSandbox) -> None:
    config = live.write_config("unsafe.yaml", UNSAFE)

    result = live.run("apply", "--force", config=config)

    assert result.exit_code == 0
    assert result.stderr == "warning: safety thresholds overridden with --force\n"
    assert "Apply: 10 applied, 0 failed, 0 skipped (of 10 changes)" in result.stdout
    assert len(live.writes()) == SANDBOX_CHANGES


def test_force_never_overrides_a_too_small_personio_answer(live: LiveSandbox) -> None:
    config = live.write_config("tiny.yaml", {"safety": {"min_source_employees": 1000}})

    result = live.run("apply", "--force", config=config)

    assert result.exit_code == 3
    assert result.stderr.splitlines()[-1] == (
        "error: --force cannot override this; fix the cause first"
    )
    assert live.writes() == []


def test_a_partial_failure_exits_1_and_reports_failed_and_skipped_changes(
    kit: Kit, live: LiveSandbox
) -> None:
    add_manager_and_report(live)
    # The attribute disappears from Lattice: every create that sets it is refused (400).
    del live.box.lattice.custom_attributes["Probation End"]

    result = live.run("apply")

    assert result.exit_code == 1
    report = result.stdout[result.stdout.index("Apply: ") :].strip()
    checksum = kit.checksum_in(report)
    assert report == (
        "Apply: 9 applied, 2 failed, 1 skipped (of 12 changes)\n"
        "Plan: 5 to create, 1 to link, 1 to reactivate, 4 to update, 1 to deactivate, "
        "45 unchanged\n"
        "\n"
        "Failed (2):\n"
        f"  create 55 kofi.kim@example.com (new): {NO_PROBATION_END}\n"
        f"  create 61 wren.testwood@example.com (new): {NO_PROBATION_END}\n"
        "\n"
        "Skipped (1):\n"
        "  create 62 ash.testwood@example.com (new): skipped: the create of 61 (its manager) "
        "failed\n"
        "\n"
        f"Checksum: {checksum}"
    )
    assert Counter((r.method, r.status) for r in live.writes()) == {
        ("POST", 400): 2,
        ("POST", 201): 2,
        ("PATCH", 200): 7,
    }


def test_after_a_partial_failure_the_next_apply_finishes_the_job(live: LiveSandbox) -> None:
    add_manager_and_report(live)
    del live.box.lattice.custom_attributes["Probation End"]
    live.run("apply")
    live.box.lattice.custom_attributes["Probation End"] = "date"

    second = live.run("apply")

    assert second.exit_code == 0, second.stderr
    assert "Apply: 3 applied, 0 failed, 0 skipped (of 3 changes)" in second.stdout
    assert json_plan(live)["changes"] == []


def test_the_audit_log_has_one_line_per_change_and_nothing_personal(
    kit: Kit, live: LiveSandbox, tmp_path: Path
) -> None:
    add_manager_and_report(live)
    del live.box.lattice.custom_attributes["Probation End"]
    audit = tmp_path / "audit.jsonl"
    private = kit.personal_values(build_sandbox())
    new_hires = {"Wren", "Ash", "Testwood", "wren.testwood@example.com", "1991-02-03"}

    first = live.run("apply", "--audit-log", str(audit))
    lines_after_first = audit.read_text(encoding="utf-8").splitlines()
    live.box.lattice.custom_attributes["Probation End"] = "date"
    second = live.run("apply", "--audit-log", str(audit))
    text = audit.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]
    # Each run is framed by a run and a run_end line (tests/e2e/test_cli_receipt.py).
    records = [line for line in lines if "event" not in line]

    assert (first.exit_code, second.exit_code) == (1, 0)
    assert len(lines_after_first) == 1 + 12 + 1
    assert [line.get("event") for line in lines].count("run") == 2
    assert len(records) == 12 + 3  # appended, never overwritten
    assert all(set(record) == AUDIT_KEYS for record in records)
    assert Counter((r["action"], r["outcome"]) for r in records) == {
        ("create", "failed"): 2,
        ("create", "skipped"): 1,
        ("create", "applied"): 2 + 3,
        ("link", "applied"): 1,
        ("reactivate", "applied"): 1,
        ("update", "applied"): 4,
        ("deactivate", "applied"): 1,
    }
    by_outcome = {(r["personio_id"], r["outcome"]): r for r in records[:12]}
    assert by_outcome["55", "failed"]["detail"] == NO_PROBATION_END
    assert by_outcome["62", "skipped"]["attempts"] == 0
    assert all(r["time"].endswith("Z") for r in records)
    assert all(r["lattice_id"] for r in records if r["outcome"] == "applied")
    assert [value for value in private["birthdates"] | new_hires if value in text] == []
    assert [email for email in private["emails"] if email in text.casefold()] == []
    assert kit.names_in(text, private["names"]) == set()
    assert "@" not in text


def test_the_report_can_be_written_as_json(live: LiveSandbox, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    document = json_plan(live)

    result = live.run("apply", "--report-format", "json", "--report-out", str(out))
    report = json.loads(out.read_text(encoding="utf-8"))

    assert result.exit_code == 0
    assert result.stdout.rstrip().splitlines()[-1] == (
        f"Apply: 10 applied, 0 failed, 0 skipped (of 10 changes) — report written to {out}"
    )
    assert report["checksum"] == document["checksum"]
    assert report["summary"] == document["summary"]
    assert report["outcomes"] == {"applied": 10, "not_applied": 0, "failed": 0, "skipped": 0}
    assert (report["ok"], report["interrupted"], report["format_version"]) == (True, False, 1)
    assert [(r["action"], r["personio_id"]) for r in report["results"]] == [
        (c["action"], c["personio_id"]) for c in document["changes"]
    ]
    assert all(r["lattice_id"] and r["outcome"] == "applied" for r in report["results"])
    assert "@" not in out.read_text(encoding="utf-8")


def test_the_report_can_be_written_as_markdown_with_masked_emails(
    live: LiveSandbox, tmp_path: Path
) -> None:
    add_manager_and_report(live)
    del live.box.lattice.custom_attributes["Probation End"]
    out = tmp_path / "report.md"

    result = live.run("apply", "--report-format", "markdown", "--report-out", str(out))
    markdown = out.read_text(encoding="utf-8")

    assert result.exit_code == 1
    assert result.stdout.rstrip().splitlines()[-1] == (
        f"Apply: 9 applied, 2 failed, 1 skipped (of 12 changes) — report written to {out}"
    )
    # The plan on stdout comes in the report's format, so CI logs get masked emails too.
    assert "### Personio → Lattice plan" in result.stdout
    assert "kofi.kim@example.com" not in result.stdout
    assert markdown.startswith(
        "### Personio → Lattice apply report\n\n"
        "**Apply: 9 applied, 2 failed, 1 skipped (of 12 changes)**\n"
    )
    assert "<details open><summary>2 failed</summary>" in markdown
    assert "<details><summary>1 skipped</summary>" in markdown
    assert "- create **61** · `w•••@example.com` · new: " in markdown
    assert "wren.testwood@example.com" not in markdown
    assert "kofi.kim@example.com" not in markdown


def test_a_json_report_on_stdout_is_one_json_document(live: LiveSandbox) -> None:
    result = live.run("apply", "--report-format", "json")

    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["outcomes"] == {"applied": 10, "not_applied": 0, "failed": 0, "skipped": 0}
