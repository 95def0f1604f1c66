"""No job that holds a credential checks out, installs or runs pull-request code.

Parses every workflow: a job holds a credential when it names an environment or a secret other
than GITHUB_TOKEN (docs/security.md, "Trusted code only").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
PR_CODE = re.compile(r"github\.(event\.pull_request\.head|head_ref)")
# Shell that would bring pull-request commits into the work tree or run them.
SWITCHES = re.compile(
    r"\bgit\s+(checkout|switch|merge|pull|reset|rebase|worktree|restore)\b|gh\s+pr"
)


def workflows() -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(WORKFLOWS.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if True in data:  # YAML 1.1 reads the bare key `on` as true
            data["on"] = data.pop(True)
        found[path.name] = data
    return found


def holds_a_credential(job: dict[str, Any]) -> bool:
    secrets = set(re.findall(r"secrets\.(\w+)", yaml.safe_dump(job)))
    return "environment" in job or bool(secrets - {"GITHUB_TOKEN"})


def credential_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (name, job_id, job)
        for name, workflow in workflows().items()
        for job_id, job in workflow["jobs"].items()
        if holds_a_credential(job)
    ]


def test_there_are_credential_jobs_to_check() -> None:
    assert {(name, job) for name, job, _ in credential_jobs()} == {
        ("plan.yml", "plan"),
        ("reconcile.yml", "plan"),
        ("reconcile.yml", "approve"),
        ("reconcile.yml", "apply"),
        ("fast-sync.yml", "fast-sync"),
    }


@pytest.mark.parametrize(("name", "job_id", "job"), credential_jobs())
def test_no_credential_job_checks_out_pull_request_code(
    name: str, job_id: str, job: dict[str, Any]
) -> None:
    for step in job["steps"]:
        if step.get("uses", "").startswith("actions/checkout@"):
            options = step.get("with", {})
            # No ref and no repository: the default branch (pull_request_target) or the pushed
            # or scheduled commit, never the pull request's head or a fork.
            assert "ref" not in options, (name, job_id)
            assert "repository" not in options, (name, job_id)
            assert options["persist-credentials"] is False
        assert not PR_CODE.search(str(step.get("with", {}))), (name, job_id, step.get("name"))


@pytest.mark.parametrize(("name", "job_id", "job"), credential_jobs())
def test_no_credential_job_brings_pull_request_commits_into_its_work_tree(
    name: str, job_id: str, job: dict[str, Any]
) -> None:
    scripts = [s["run"] for s in job["steps"] if "run" in s]
    assert [s for s in scripts if SWITCHES.search(s)] == []
    # Only local actions would run repository code; none is used.
    assert [s["uses"] for s in job["steps"] if s.get("uses", "").startswith("./")] == []


@pytest.mark.parametrize(("name", "job_id", "job"), credential_jobs())
def test_the_head_commit_is_used_only_as_data(name: str, job_id: str, job: dict[str, Any]) -> None:
    # Where a credential job sees the pull request's head, it is a commit id in env (for the
    # plan's name and the comment's marker) and one `git show` of the config into RUNNER_TEMP.
    for step in job["steps"]:
        for key, value in step.get("env", {}).items():
            if PR_CODE.search(str(value)):
                assert value == "${{ github.event.pull_request.head.sha }}", (name, key)
        script = step.get("run", "")
        for line in script.splitlines():
            if "HEAD_SHA" in line and "git" in line:
                assert line.strip().startswith(
                    'if ! git show "${HEAD_SHA}:config/integration.yaml" > '
                    '"${RUNNER_TEMP}/pr-config.yaml"'
                ), line


@pytest.mark.parametrize(("name", "job_id", "job"), credential_jobs())
def test_credential_jobs_install_nothing_but_the_lock_and_the_checked_out_project(
    name: str, job_id: str, job: dict[str, Any]
) -> None:
    installs = [
        line.strip()
        for s in job["steps"]
        for line in s.get("run", "").splitlines()
        if re.search(r"\bpip\b", line)
    ]
    assert set(installs) <= {
        "python -m pip install --require-hashes -r requirements/ci.lock",
        "python -m pip install --no-deps --no-build-isolation .",
    }


def test_workflows_that_run_pull_request_code_hold_no_credential() -> None:
    for name, workflow in workflows().items():
        if "pull_request" in workflow["on"]:
            assert [j for j in workflow["jobs"].values() if holds_a_credential(j)] == [], name


def test_pull_request_target_live_plans_skip_forks() -> None:
    for name, workflow in workflows().items():
        if "pull_request_target" not in workflow["on"]:
            continue
        for job_id, job in workflow["jobs"].items():
            if holds_a_credential(job):
                condition = " ".join(job["if"].split())
                assert (
                    "github.event.pull_request.head.repo.full_name == github.repository"
                    in condition
                ), (name, job_id)


def test_no_workflow_uses_workflow_run() -> None:
    # workflow_run hands secrets to a run started by pull-request code's artifacts.
    assert [n for n, w in workflows().items() if "workflow_run" in w["on"]] == []
