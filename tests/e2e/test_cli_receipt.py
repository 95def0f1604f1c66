"""End-to-end: the reviewed plan file is a sealed receipt, every plan names its context, and the
audit log records the run. The CLI runs in-process against both emulators served over HTTP.

Each attack edits the file ``plan --json-out`` wrote (masked, as CI uploads it) and checks that
``apply --plan`` refuses it with the kind of refusal in its one error line, before any request.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import respx
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from conftest import Kit, LiveSandbox

UNSAFE = {"safety": {"max_deactivations": {"count": 0}, "min_population": 0}}
COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"


def written_plan(live: LiveSandbox, tmp_path: Path, *, config: Path | None = None) -> Path:
    plan_file = tmp_path / "plan.json"
    result = live.run("plan", "--json-out", str(plan_file), "--no-progress", config=config)
    assert result.exit_code == 0, result.stderr
    return plan_file


def edit(plan_file: Path, change: Any) -> None:
    document = json.loads(plan_file.read_text(encoding="utf-8"))
    change(document)
    plan_file.write_text(json.dumps(document, indent=2), encoding="utf-8")


def refused_before_any_request(live: LiveSandbox, plan_file: Path) -> str:
    """``apply --plan`` on the file: exit 1, one error line, no request to either system."""
    personio_before = len(live.box.personio.requests)
    lattice_before = len(live.box.lattice.requests)

    result = live.run("apply", "--plan", str(plan_file), "--no-progress")

    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {plan_file}: the plan file ")
    assert len(live.box.personio.requests) == personio_before
    assert len(live.box.lattice.requests) == lattice_before
    return lines[0]


def sha256_of(path: Path) -> str:
    return f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}"


# ------------------------------------------------------------------------------- sealed receipt


def test_the_untouched_masked_file_is_applied(live: LiveSandbox, tmp_path: Path) -> None:
    plan_file = written_plan(live, tmp_path)
    document = json.loads(plan_file.read_text(encoding="utf-8"))

    result = live.run("apply", "--plan", str(plan_file), "--no-progress")

    assert document["masked"] is True
    assert document["seal"].startswith("hmac-sha256:")
    assert result.exit_code == 0, result.stderr
    assert len(live.writes()) == len(document["changes"])


def test_a_change_deleted_from_the_file_is_refused_as_edited(
    live: LiveSandbox, tmp_path: Path
) -> None:
    plan_file = written_plan(live, tmp_path)
    edit(plan_file, lambda document: document["changes"].pop())

    line = refused_before_any_request(live, plan_file)

    assert "the plan file was edited: its content does not match its seal" in line
    assert live.writes() == []


def test_a_changed_field_value_is_refused_as_edited(live: LiveSandbox, tmp_path: Path) -> None:
    plan_file = written_plan(live, tmp_path)

    def retitle(document: dict[str, Any]) -> None:
        update = next(c for c in document["changes"] if c["action"] == "update")
        name = next(iter(update["fields"]))
        update["fields"][name]["to"] = "Chief Everything Officer"

    edit(plan_file, retitle)

    assert "was edited" in refused_before_any_request(live, plan_file)


def test_a_masked_file_passed_off_as_unmasked_is_refused_as_edited(
    live: LiveSandbox, tmp_path: Path
) -> None:
    plan_file = written_plan(live, tmp_path)

    def unmask(document: dict[str, Any]) -> None:
        del document["masked"]
        for number, change in enumerate(document["changes"]):
            change["email"] = f"someone.{number}@example.com"

    edit(plan_file, unmask)

    assert "was edited" in refused_before_any_request(live, plan_file)


def test_a_removed_seal_is_refused_as_edited(live: LiveSandbox, tmp_path: Path) -> None:
    plan_file = written_plan(live, tmp_path)
    edit(plan_file, lambda document: document.pop("seal"))

    assert "was edited: it carries no seal" in refused_before_any_request(live, plan_file)


def test_a_reformatted_file_is_still_the_receipt(live: LiveSandbox, tmp_path: Path) -> None:
    # The seal covers the document, not its bytes: re-indenting or reordering keys is no edit.
    plan_file = written_plan(live, tmp_path)
    document = json.loads(plan_file.read_text(encoding="utf-8"))
    plan_file.write_text(json.dumps(dict(reversed(list(document.items())))), encoding="utf-8")

    result = live.run("apply", "--plan", str(plan_file), "--no-progress")

    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    ("attack", "detail"),
    [
        (lambda d: d.update(masked=False), "masked does not satisfy the plan schema (const)"),
        (
            lambda d: d["changes"][0].update(action="explode"),
            "changes[0].action does not satisfy the plan schema (enum)",
        ),
        (lambda d: d.pop("checksum"), "the document does not satisfy the plan schema (required)"),
        (lambda d: d.update(surprise=1), "the document does not satisfy the plan schema"),
    ],
)
def test_a_file_that_is_not_a_plan_document_is_refused_as_malformed(
    live: LiveSandbox, tmp_path: Path, attack: Any, detail: str
) -> None:
    plan_file = written_plan(live, tmp_path)
    edit(plan_file, attack)

    line = refused_before_any_request(live, plan_file)

    assert line.startswith(f"error: {plan_file}: the plan file is malformed: {detail}")


def test_a_truncated_file_is_refused_as_malformed(live: LiveSandbox, tmp_path: Path) -> None:
    plan_file = written_plan(live, tmp_path)
    plan_file.write_text(plan_file.read_text(encoding="utf-8")[:200], encoding="utf-8")

    assert "is malformed: not a JSON plan" in refused_before_any_request(live, plan_file)


def test_a_plan_from_another_config_is_refused_as_such(live: LiveSandbox, tmp_path: Path) -> None:
    plan_file = written_plan(live, tmp_path)
    # The same settings with one comment more: another file, so another reviewed config.
    other = live.directory / "other.yaml"
    other.write_text(live.config.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")

    result = live.run("apply", "--plan", str(plan_file), "--no-progress", config=other)

    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {plan_file}: the plan file is from another config: it was computed with "
        f"config {sha256_of(live.config)}, this config is {sha256_of(other)} — pass --config "
        "with the file the plan was made from, or run plan again\n"
    )
    assert live.writes() == []


def test_a_plan_whose_data_changed_is_refused_as_stale(live: LiveSandbox, tmp_path: Path) -> None:
    plan_file = written_plan(live, tmp_path)
    live.box.personio.update_employee("2", "position", "Tea Sommelier")

    result = live.run("apply", "--plan", str(plan_file), "--no-progress")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: plan is stale: Personio or Lattice changed")
    assert live.writes() == []


# ------------------------------------------------------------------------------------ context


def test_every_format_names_the_endpoints_the_config_digest_and_the_commit(
    kit: Kit, live: LiveSandbox, tmp_path: Path
) -> None:
    env = {"GITHUB_SHA": COMMIT}
    text = live.run("plan", "--no-progress", env=env)
    markdown = live.run("plan", "--format", "markdown", "--no-progress", env=env)
    document = kit.json_plan(live.run("plan", "--format", "json", "--no-progress", env=env))

    digest = sha256_of(live.config)
    assert text.stdout.splitlines()[1] == (
        f"Computed against Personio {live.personio_url}/v1, Lattice {live.lattice_url}/scim/v2, "
        f"config {digest}, commit {COMMIT}"
    )
    assert (
        f"Computed against Personio `{live.personio_url}/v1`, Lattice "
        f"`{live.lattice_url}/scim/v2`, config `{digest}`, commit `{COMMIT}`"
    ) in markdown.stdout.splitlines()[:6]
    assert document["context"] == {
        "personio": f"{live.personio_url}/v1",
        "lattice": f"{live.lattice_url}/scim/v2",
        "config_sha256": digest,
        "commit": COMMIT,
    }
    schema = json.loads(kit.plan_schema.read_text(encoding="utf-8"))
    assert list(Draft202012Validator(schema).iter_errors(document)) == []


def test_reconcile_commit_wins_over_github_sha_and_a_local_run_has_none(
    kit: Kit, live: LiveSandbox
) -> None:
    both = {"GITHUB_SHA": COMMIT, "RECONCILE_COMMIT": OTHER_COMMIT.upper()}
    ci = kit.json_plan(live.run("plan", "--format", "json", "--no-progress", env=both))
    local = kit.json_plan(live.run("plan", "--format", "json", "--no-progress"))
    text = live.run("plan", "--no-progress")

    assert ci["context"]["commit"] == OTHER_COMMIT
    assert "commit" not in local["context"]
    assert text.stdout.splitlines()[1].endswith(", no commit (a local run)")
    # Context is not checksummed: the same plan in CI and locally.
    assert ci["checksum"] == local["checksum"]


def test_a_commit_that_is_not_a_commit_id_is_refused(live: LiveSandbox) -> None:
    result = live.run("plan", "--no-progress", env={"RECONCILE_COMMIT": "main; rm -rf /"})

    assert result.exit_code == 1
    assert result.stderr == (
        "error: RECONCILE_COMMIT: not a commit id (7 to 64 hexadecimal digits) — set "
        "RECONCILE_COMMIT to the commit the plan is for, or unset it\n"
    )


# ---------------------------------------------------------------------------------- audit log


def audit_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_audit_log_records_who_applied_which_plan_for_which_commit(
    kit: Kit, live: LiveSandbox, tmp_path: Path
) -> None:
    plan_file = written_plan(live, tmp_path)
    checksum = json.loads(plan_file.read_text(encoding="utf-8"))["checksum"]
    audit = tmp_path / "audit.jsonl"
    env = {"GITHUB_ACTOR": "octo-reviewer", "GITHUB_SHA": COMMIT}

    result = live.run(
        "apply", "--plan", str(plan_file), "--audit-log", str(audit), "--no-progress", env=env
    )
    lines = audit_lines(audit)

    assert result.exit_code == 0, result.stderr
    run, *changes, end = lines
    assert set(run) == {"event", "actor", "commit", "checksum", "force", "refusals", "started_at"}
    assert run["event"] == "run"
    assert (run["actor"], run["commit"], run["checksum"]) == ("octo-reviewer", COMMIT, checksum)
    assert (run["force"], run["refusals"]) == (False, [])
    assert run["started_at"].endswith("Z")
    assert len(changes) == 10
    assert all("event" not in line for line in changes)
    assert end["event"] == "run_end"
    assert end["status"] == "applied"
    assert end["outcomes"] == {"applied": 10, "not_applied": 0, "failed": 0, "skipped": 0}
    text = audit.read_text(encoding="utf-8")
    private = kit.personal_values(live.box)
    assert [email for email in private["emails"] if email in text.casefold()] == []
    assert kit.names_in(text, private["names"]) == set()


def test_a_refused_and_a_forced_run_are_both_recorded_with_the_rule(
    live: LiveSandbox, tmp_path: Path
) -> None:
    config = live.write_config("unsafe.yaml", UNSAFE)
    audit = tmp_path / "audit.jsonl"

    refused = live.run("apply", "--audit-log", str(audit), "--no-progress", config=config)
    forced = live.run("apply", "--force", "--audit-log", str(audit), "--no-progress", config=config)
    lines = audit_lines(audit)

    assert (refused.exit_code, forced.exit_code) == (3, 0)
    runs = [line for line in lines if line.get("event") == "run"]
    ends = [line for line in lines if line.get("event") == "run_end"]
    assert [(r["force"], r["refusals"]) for r in runs] == [
        (False, ["max_deactivations.count"]),
        (True, ["max_deactivations.count"]),
    ]
    assert [e["status"] for e in ends] == ["refused", "applied"]
    assert lines[1] == ends[0]  # a refused run changes nothing


def test_a_stale_run_and_a_run_with_nothing_to_do_are_recorded(
    live: LiveSandbox, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    stale = live.run(
        "apply", "--checksum", "hmac-sha256:" + "0" * 64, "--audit-log", str(audit),
        "--no-progress",
    )  # fmt: skip
    applied = live.run("apply", "--no-progress")
    nothing = live.run("apply", "--audit-log", str(audit), "--no-progress")

    assert (stale.exit_code, applied.exit_code, nothing.exit_code) == (1, 0, 0)
    assert [(line["event"], line.get("status")) for line in audit_lines(audit)] == [
        ("run", None),
        ("run_end", "stale"),
        ("run", None),
        ("run_end", "nothing to apply"),
    ]


# ------------------------------------------------------------------- comment → reviewed → apply

API = "https://github.example.test/api/v3"
REPO = "example/people-sync"
PR = 12
HEAD = "2222222222222222222222222222222222222222"
MERGED = "1111111111111111111111111111111111111111"
GITHUB_ENV = {"GITHUB_TOKEN": "ghs_FAKEtokenFAKEtoken0123"}


def bot_comment(comment_id: int, body: str) -> dict[str, object]:
    return {
        "id": comment_id,
        "body": body,
        "html_url": f"https://github.example.test/{REPO}/pull/{PR}#issuecomment-{comment_id}",
        "user": {"login": "github-actions[bot]", "type": "Bot"},
    }


def test_the_checksum_posted_with_the_plan_is_read_back_at_merge_and_applied(
    kit: Kit, tmp_path: Path
) -> None:
    plan_md, plan_json = tmp_path / "plan.md", tmp_path / "plan.json"
    planned = kit.run(
        "plan", "--sandbox", "--format", "markdown", "--out", str(plan_md),
        "--json-out", str(plan_json), "--no-progress", env={"GITHUB_SHA": HEAD},
    )  # fmt: skip
    checksum = json.loads(plan_json.read_text(encoding="utf-8"))["checksum"]
    comments_path = f"/repos/{REPO}/issues/{PR}/comments"

    with respx.mock(base_url=API, assert_all_mocked=True) as github:
        github.get(comments_path).respond(json=[])
        posted = github.post(comments_path).respond(201, json=bot_comment(7, "(stored)"))
        commented = kit.run(
            "comment", "--repo", REPO, "--pr", str(PR), "--file", str(plan_md),
            "--plan-json", str(plan_json), "--api-url", API, env=GITHUB_ENV,
        )  # fmt: skip
        body = json.loads(posted.calls.last.request.content)["body"]

    with respx.mock(base_url=API, assert_all_mocked=True) as github:
        github.get(f"/repos/{REPO}/commits/{MERGED}/pulls").respond(
            json=[{"number": PR, "merge_commit_sha": MERGED, "merged_at": "2026-12-02T10:00:00Z"}]
        )
        github.get(comments_path).respond(json=[bot_comment(7, body)])
        reviewed = kit.run(
            "reviewed", "--repo", REPO, "--commit", MERGED, "--api-url", API, env=GITHUB_ENV
        )

    applied = kit.run("apply", "--sandbox", "--checksum", reviewed.stdout.strip(), "--no-progress")

    assert planned.exit_code == 0, planned.stderr
    assert commented.exit_code == 0, commented.stderr
    # The commit defaults to the JSON plan's own context.commit (GITHUB_SHA of the plan run).
    assert body.splitlines()[1] == f"<!-- reconcile-reviewed checksum={checksum} commit={HEAD} -->"
    assert (reviewed.exit_code, reviewed.stdout, reviewed.stderr) == (0, f"{checksum}\n", "")
    assert applied.exit_code == 0, applied.stderr


def test_a_merge_whose_fresh_plan_differs_from_the_reviewed_one_is_refused_as_stale(
    kit: Kit,
) -> None:
    # What the workflow does when the reviewed checksum is not the fresh plan's.
    other = kit.run("plan", "--sandbox", "--no-progress", env={"RECONCILE_PLAN_KEY": "other"})

    applied = kit.run(
        "apply", "--sandbox", "--checksum", kit.checksum_in(other.stdout), "--no-progress"
    )

    assert applied.exit_code == 1
    assert applied.stderr.startswith("error: plan is stale: ")


def test_reviewed_says_why_there_is_no_checksum_on_stderr_only(kit: Kit) -> None:
    with respx.mock(base_url=API, assert_all_mocked=True) as github:
        github.get(f"/repos/{REPO}/commits/{MERGED}/pulls").respond(json=[])
        result = kit.run(
            "reviewed", "--repo", REPO, "--commit", MERGED, "--api-url", API, env=GITHUB_ENV
        )

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"error: no pull request of {REPO} contains commit {MERGED}\n"


def test_reviewed_and_comment_need_the_github_token(kit: Kit) -> None:
    result = kit.run("reviewed", "--repo", REPO, "--commit", MERGED, "--api-url", API)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: reconcile reviewed: GITHUB_TOKEN is not set")


def test_comment_commit_without_the_json_plan_is_a_usage_error(kit: Kit, tmp_path: Path) -> None:
    plan_md = tmp_path / "plan.md"
    plan_md.write_text("plan\n", encoding="utf-8")

    result = kit.run(
        "comment", "--repo", REPO, "--pr", "1", "--file", str(plan_md), "--commit", HEAD,
        env=GITHUB_ENV,
    )  # fmt: skip

    assert result.exit_code == 1
    assert "--commit records what was reviewed: give --plan-json too" in result.stderr


def test_an_audit_log_that_fills_up_after_the_run_line_stops_apply_and_keeps_the_report(
    live: LiveSandbox, tmp_path: Path
) -> None:
    # A file size limit lets the run line (about 250 bytes) through and fails the first change
    # line (Python ignores SIGXFSZ, so the write fails with EFBIG instead of killing the child).
    audit = tmp_path / "audit.jsonl"
    env = {**os.environ, **{k: v for k, v in live.env.items() if v is not None}}

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (600, 600))

    completed = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "--config", str(live.config),
         "--audit-log", str(audit), "--no-progress"],
        preexec_fn=limit_file_size,
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert completed.returncode == 1
    assert "the audit log could not be written (File too large); no further change was started" in (
        completed.stderr
    )
    # Only the changes already in flight when the first change line failed were made (at most
    # the applier's concurrency of 4); the report, on stderr, says exactly which.
    made = len(live.writes())
    assert 1 <= made <= 4
    assert f"Apply: {made} applied, 0 failed, {10 - made} skipped (of 10 changes)" in (
        completed.stderr
    )
    run = json.loads(audit.read_text(encoding="utf-8").splitlines()[0])
    assert run["event"] == "run"


def test_comment_records_the_given_commit_and_refuses_a_malformed_json_plan(
    kit: Kit, tmp_path: Path
) -> None:
    plan_md, plan_json = tmp_path / "plan.md", tmp_path / "plan.json"
    kit.run(
        "plan", "--sandbox", "--format", "markdown", "--out", str(plan_md),
        "--json-out", str(plan_json), "--no-progress",
    )  # fmt: skip
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    comments_path = f"/repos/{REPO}/issues/{PR}/comments"

    with respx.mock(base_url=API, assert_all_mocked=True) as github:
        github.get(comments_path).respond(json=[])
        posted = github.post(comments_path).respond(201, json=bot_comment(7, "(stored)"))
        given = kit.run(
            "comment", "--repo", REPO, "--pr", str(PR), "--file", str(plan_md),
            "--plan-json", str(plan_json), "--commit", HEAD.upper(), "--api-url", API,
            env=GITHUB_ENV,
        )  # fmt: skip
        refused = kit.run(
            "comment", "--repo", REPO, "--pr", str(PR), "--file", str(plan_md),
            "--plan-json", str(broken), "--api-url", API, env=GITHUB_ENV,
        )  # fmt: skip

    assert given.exit_code == 0, given.stderr
    body = json.loads(posted.calls.last.request.content)["body"]
    assert f"commit={HEAD} -->" in body.splitlines()[1]
    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"error: {broken}: the plan file is malformed")
    assert posted.call_count == 1  # the malformed file posted nothing
