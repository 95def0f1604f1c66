"""End to end: a reviewer's view of a plan (issue 15) — what a config change causes
(--baseline-config), targeted plans and applies (--only), one person's story (explain), and the
small things a user trips on. Runs the CLI against the sandbox, in-process or over HTTP.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from reconciler.sandbox.scenario import build_sandbox

if TYPE_CHECKING:
    from conftest import Kit, LiveSandbox


def _config(tmp_path: Path, kit: Kit, name: str, overrides: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(kit.config_text(overrides), encoding="utf-8")
    return path


def _json_plan_run(kit: Kit, *args: str) -> Any:
    """``reconcile plan --sandbox --format json`` with ``args``: the CLI result."""
    return kit.run("plan", "--sandbox", "--no-progress", "--format", "json", *args)


def _validate(kit: Kit, document: dict[str, Any]) -> None:
    schema = json.loads(kit.plan_schema.read_text(encoding="utf-8"))
    Draft202012Validator(schema).validate(document)


# ------------------------------------------------------------------------- --baseline-config


def test_a_baseline_without_titles_marks_the_title_updates_and_nothing_else(
    kit: Kit, tmp_path: Path
) -> None:
    baseline = _config(tmp_path, kit, "baseline.yaml", {"fields": {"title": False}})
    result = _json_plan_run(kit, "--baseline-config", str(baseline))
    assert result.exit_code == 0, result.stderr
    document = kit.json_plan(result)
    _validate(kit, document)
    config_changes = [c for c in document["changes"] if c["cause"] == "config"]
    config_fields = {
        (c["personio_id"], name)
        for c in document["changes"]
        for name, field in c["fields"].items()
        if field["cause"] == "config"
    }
    assert config_changes, "the sandbox has a title update"
    assert all(c["action"] == "update" and list(c["fields"]) == ["title"] for c in config_changes)
    # The creates carry a title now too: that field, and no other, is the config's doing.
    assert {name for _, name in config_fields} == {"title"}
    assert {c["personio_id"] for c in config_changes} <= {pid for pid, _ in config_fields}
    data_fields = [
        name
        for c in document["changes"]
        for name, field in c["fields"].items()
        if field["cause"] == "data"
    ]
    assert "title" not in data_fields
    assert data_fields
    assert document["prevented"] == []


def test_the_checksum_is_the_one_apply_computes_without_a_baseline(
    kit: Kit, tmp_path: Path
) -> None:
    baseline = _config(tmp_path, kit, "baseline.yaml", {"fields": {"title": False}})
    plain = _json_plan_run(kit)
    reviewed = _json_plan_run(kit, "--baseline-config", str(baseline))
    assert kit.json_plan(plain)["checksum"] == kit.json_plan(reviewed)["checksum"]
    assert "cause" not in kit.json_plan(plain)["changes"][0]


def test_identical_configs_mark_nothing_as_caused_by_the_config(kit: Kit) -> None:
    result = _json_plan_run(
        kit,
        "--baseline-config",
        str(kit.example_config),
    )
    document = kit.json_plan(result)
    assert document["changes"]
    assert {c["cause"] for c in document["changes"]} == {"data"}
    assert {f["cause"] for c in document["changes"] for f in c["fields"].values()} == {"data"}
    assert document["prevented"] == []


def test_a_config_that_stops_managing_titles_lists_the_title_update_as_prevented(
    kit: Kit, tmp_path: Path
) -> None:
    proposed = _config(tmp_path, kit, "proposed.yaml", {"fields": {"title": False}})
    result = _json_plan_run(
        kit,
        "--config",
        str(proposed),
        "--baseline-config",
        str(kit.example_config),
    )
    document = kit.json_plan(result)
    _validate(kit, document)
    prevented = document["prevented"]
    assert prevented
    assert all(list(c["fields"]) == ["title"] for c in prevented)
    assert {c["action"] for c in prevented} >= {"update"}


def test_text_and_markdown_lead_with_what_the_pull_request_causes(kit: Kit, tmp_path: Path) -> None:
    baseline = _config(tmp_path, kit, "baseline.yaml", {"fields": {"title": False}})
    for fmt in ("text", "markdown"):
        out = kit.run(
            "plan",
            "--sandbox",
            "--no-progress",
            "--format",
            fmt,
            "--baseline-config",
            str(baseline),
        ).stdout
        causes = out.index("This pull request causes")
        pending = out.index("Pending anyway (would apply on the next nightly run)")
        assert causes < pending
        # The title update is caused; the department update is pending anyway.
        caused_part, pending_part = out[causes:pending], out[pending:]
        assert "title" in caused_part
        assert "department" not in caused_part
        assert "department" in pending_part
    plain = kit.run("plan", "--sandbox", "--no-progress").stdout
    assert "This pull request causes" not in plain


# ------------------------------------------------------------------------------------ --only


def test_only_plans_exactly_the_named_people(kit: Kit) -> None:
    result = _json_plan_run(kit, "--only", "4", "--only", "MISAKI.Nakamura@example.com")
    assert result.exit_code == 0, result.stderr
    document = kit.json_plan(result)
    _validate(kit, document)
    assert sorted(c["personio_id"] for c in document["changes"]) == ["4", "5"]
    full = kit.json_plan(_json_plan_run(kit))
    assert document["checksum"] != full["checksum"]
    wanted = [c for c in full["changes"] if c["personio_id"] in {"4", "5"}]
    assert document["changes"] == wanted


def test_only_someone_unknown_is_one_clear_error(kit: Kit) -> None:
    result = kit.run("plan", "--sandbox", "--no-progress", "--only", "nobody@example.com")
    assert result.exit_code == 1
    assert "nobody in Personio or Lattice" in result.stderr
    assert "nobody@example.com" not in result.stderr
    assert "Traceback" not in result.stderr


def test_apply_only_writes_only_the_named_people(kit: Kit, live: LiveSandbox) -> None:
    reviewed = live.run("plan", "--only", "4", "--only", "9")
    assert reviewed.exit_code == 0, reviewed.stderr
    checksum = kit.checksum_in(reviewed.stdout)
    result = live.run("apply", "--only", "4", "--only", "9", "--checksum", checksum)
    assert result.exit_code == 0, result.stderr
    writes = live.writes()
    assert len(writes) == 2
    assert {w.path.rsplit("/", 1)[-1] for w in writes} == {"u_000004", "u_000009"}
    # Everyone else's changes are still pending.
    rest = kit.json_plan(live.run("plan", "--format", "json"))
    assert len(rest["changes"]) == 8
    assert not {c["personio_id"] for c in rest["changes"]} & {"4", "9"}


def test_a_full_plan_checksum_does_not_apply_a_targeted_run(kit: Kit, live: LiveSandbox) -> None:
    checksum = kit.checksum_in(live.run("plan").stdout)
    result = live.run("apply", "--only", "4", "--checksum", checksum)
    assert result.exit_code == 1
    assert live.writes() == []


# ---------------------------------------------------------------------------------- explain


def _explain(kit: Kit, person: str) -> dict[str, Any]:
    result = kit.run("explain", person, "--sandbox", "--no-progress", "--format", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


def test_explain_an_out_of_scope_person_names_the_rule_and_the_deactivation(kit: Kit) -> None:
    story = _explain(kit, "22")
    assert story["in_scope"] is False
    assert "status 'inactive' is not in sync.statuses" in story["scope_rule"]
    assert story["lattice_id"] == "u_000021"
    assert story["change"]["action"] == "deactivate"
    text = kit.run("explain", "22", "--sandbox", "--no-progress").stdout
    assert "out of scope" in text
    assert "deactivate Lattice user u_000021" in text


def test_explain_an_ambiguous_email_lists_the_other_candidate_and_the_error(kit: Kit) -> None:
    story = _explain(kit, "lukasz.castellanos@example.com")
    assert story["personio_id"] == "17"
    assert "Personio 37" in story["candidates"]
    assert any(line.startswith("ambiguous") for line in story["matching"])
    assert [e["code"] for e in story["errors"]] == ["duplicate_email"]
    assert story["change"] is None
    assert all(f["outcome"].startswith("none: left untouched") for f in story["fields"])


def test_explain_a_contractor_leaves_title_and_manager_unmanaged(kit: Kit) -> None:
    story = _explain(kit, "42")
    assert story["contractor"] is True
    outcomes = {f["name"]: f["outcome"] for f in story["fields"]}
    assert outcomes["title"].startswith("not managed")
    assert outcomes["manager"].startswith("not managed")
    assert outcomes["department"] == "none"


def test_explain_redacts_a_birthdate_and_sensitive_values(kit: Kit) -> None:
    box_values = kit.personal_values(build_sandbox())
    story = _explain(kit, "55")  # a create: apply would send the birthdate
    birth = next(f for f in story["fields"] if f["name"] == "birth_date")
    assert birth["personio_value"] == "(redacted)"
    assert birth["desired"] == "(redacted)"
    assert story["change"]["fields"]["birth_date"]["to"] == "(redacted)"
    for fmt in ("text", "json"):
        out = kit.run("explain", "55", "--sandbox", "--no-progress", "--format", fmt).stdout
        assert not [d for d in box_values["birthdates"] if d in out]
        assert not [s for s in box_values["sensitive"] if s in out]


def test_explain_someone_unknown_is_one_clear_error(kit: Kit) -> None:
    result = kit.run("explain", "99999", "--sandbox", "--no-progress")
    assert result.exit_code == 1
    assert "nobody in Personio or Lattice" in result.stderr


# ------------------------------------------------------------------------- small things


def test_apply_json_report_when_there_is_nothing_to_do(kit: Kit, tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    result = kit.run(
        "apply", "--sandbox", "--no-progress", "--only", "1", "--report-format", "json"
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["results"] == []
    assert document["ok"] is True
    written = kit.run(
        "apply", "--sandbox", "--no-progress", "--only", "1", "--report-out", str(report)
    )
    assert written.exit_code == 0, written.stderr
    assert report.exists()
    assert "Apply: 0 applied" in report.read_text(encoding="utf-8")


def test_sandbox_config_prints_a_config_the_sandbox_runs(kit: Kit, tmp_path: Path) -> None:
    printed = kit.run("sandbox", "config")
    assert printed.exit_code == 0
    assert yaml.safe_load(printed.stdout) == yaml.safe_load(
        kit.example_config.read_text(encoding="utf-8")
    )
    edited = yaml.safe_load(printed.stdout)
    edited["fields"]["department"] = False
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(edited), encoding="utf-8")
    plan = kit.json_plan(_json_plan_run(kit, "--config", str(path)))
    assert plan["summary"]["update"] == 3  # the department update is gone
    assert all("department" not in c["fields"] for c in plan["changes"])


def test_verbose_after_the_subcommand(kit: Kit, caplog: pytest.LogCaptureFixture) -> None:
    quiet = kit.run("plan", "--sandbox", "--no-progress")
    assert quiet.exit_code == 0
    assert not [r for r in caplog.records if r.levelno < logging.WARNING]
    result = kit.run("plan", "--sandbox", "--no-progress", "-vv")
    assert result.exit_code == 0, result.stderr
    assert [r for r in caplog.records if r.levelno == logging.DEBUG]


def test_sandbox_serve_checks_an_edited_config_before_serving(kit: Kit, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nfields: {title: maybe}\n", encoding="utf-8")
    result = kit.run("sandbox", "serve", "--config", str(broken), "--personio-port", "0")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
