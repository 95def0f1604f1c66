"""``reconcile apply`` verifies its own writes: a field Lattice answers as done but does not keep
is ``not_applied`` in every output and the audit log, and apply exits 1 — every run, until
someone acts (docs/decisions.md, "2026-12-03: apply verifies its own writes")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from reconciler.sandbox.scenario import build_sandbox

if TYPE_CHECKING:
    from conftest import LiveSandbox, ServeSandbox


def title_updates(document: dict[str, Any]) -> set[str]:
    """Personio ids of the non-create changes of a JSON plan that change ``title``."""
    return {
        change["personio_id"]
        for change in document["changes"]
        if change["action"] != "create" and "title" in change["fields"]
    }


def json_plan(live: LiveSandbox) -> dict[str, Any]:
    result = live.run("plan", "--format", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


def read_backs(live: LiveSandbox) -> int:
    return sum(
        1
        for request in live.box.lattice.requests
        if request.method == "GET" and request.path.startswith("/scim/v2/Users/")
    )


def test_a_title_lattice_ignores_on_patch_keeps_apply_red_with_not_applied(
    live: LiveSandbox, tmp_path: Path
) -> None:
    live.box.lattice.ignore_on_patch = frozenset({"title"})
    before = json_plan(live)
    retitled = title_updates(before)
    assert retitled, "the sandbox's drift must retitle someone"
    audit = tmp_path / "audit.jsonl"
    out = tmp_path / "report.json"

    first = live.run("apply", "--audit-log", str(audit))
    first_reads = read_backs(live)
    second = live.run(
        "apply", "--audit-log", str(audit), "--report-format", "json", "--report-out", str(out)
    )
    after = json_plan(live)

    assert (first.exit_code, second.exit_code) == (1, 1)
    # text: the report names each person and the field, never its value
    assert "Not applied (answered success, not stored)" in first.stdout
    assert "not_applied" in first.stdout
    for pid in retitled:
        assert f"  update {pid} " in first.stdout or f"  link {pid} " in first.stdout
    assert "did not store: title" in first.stdout
    assert "not_applied" in first.stderr
    # the second plan still shows the title change: nothing converged behind a green run
    assert title_updates(after) == retitled
    # JSON report
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["ok"] is False
    assert report["outcomes"]["not_applied"] == len(retitled)
    unstored = {r["personio_id"]: r["not_applied"] for r in report["results"] if r["not_applied"]}
    assert unstored == {key: ["title"] for key in retitled}
    assert {r["outcome"] for r in report["results"] if r["personio_id"] in retitled} == {
        "not_applied"
    }
    # audit log: one not_applied line per person and run, and the runs end not_applied
    lines = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    records = [line for line in lines if "outcome" in line]
    assert sorted(r["personio_id"] for r in records if r["outcome"] == "not_applied") == sorted(
        [*retitled, *retitled]
    )
    assert all(r["not_applied"] == ["title"] for r in records if r["outcome"] == "not_applied")
    assert [line["status"] for line in lines if line.get("event") == "run_end"] == [
        "not_applied",
        "not_applied",
    ]
    # verifying cost one confirming GET per ignored write, and nothing for the rest
    assert first_reads == len(retitled)
    # field names only: no title value in the report, the audit log or the not_applied lines
    titles = {
        str(value)
        for change in before["changes"]
        if change["personio_id"] in retitled
        for value in change["fields"]["title"].values()
        if value
    }
    assert titles
    stored_text = audit.read_text(encoding="utf-8") + out.read_text(encoding="utf-8")
    assert [title for title in titles if title in stored_text] == []
    not_applied_lines = [line for line in first.stdout.splitlines() if "did not store" in line]
    assert len(not_applied_lines) == len(retitled)
    assert [t for t in titles if any(t in line for line in not_applied_lines)] == []


def test_markdown_report_lists_not_applied_people(live: LiveSandbox) -> None:
    live.box.lattice.ignore_on_patch = frozenset({"title"})
    retitled = title_updates(json_plan(live))

    result = live.run("apply", "--report-format", "markdown")

    assert result.exit_code == 1
    assert f"<details open><summary>{len(retitled)} not_applied</summary>" in result.stdout
    assert f"| not_applied | {len(retitled)} |" in result.stdout


@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
def test_a_normal_apply_verifies_clean_and_converges(
    serve_sandbox: ServeSandbox, tmp_path: Path, strict: bool
) -> None:
    live = serve_sandbox(build_sandbox(strict=strict))
    out = tmp_path / "report.json"

    applied = live.run("apply", "--report-format", "json", "--report-out", str(out))
    again = live.run("plan", "--detailed-exitcode")

    assert applied.exit_code == 0, applied.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["outcomes"]["not_applied"] == 0
    assert all(r["not_applied"] == [] for r in report["results"])
    assert again.exit_code == 0, again.stdout
    # every write's answer carried the resource as stored: no read-back was needed
    assert read_backs(live) == 0
