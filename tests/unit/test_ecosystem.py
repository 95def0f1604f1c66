"""The conventions other tools expect: a pre-commit hook that runs, shell completion that loads."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.sandbox import sample_config_path

REPO = Path(__file__).resolve().parents[2]


def _hook() -> dict[str, object]:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert isinstance(hooks, list)
    (hook,) = hooks
    assert isinstance(hook, dict)
    return hook


def test_the_pre_commit_hook_validates_the_file_pre_commit_passes_it(tmp_path: Path) -> None:
    hook = _hook()
    assert hook["id"] == "reconcile-validate"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is True
    program, *args = shlex.split(str(hook["entry"]))
    assert program == "reconcile"

    # pre-commit appends the matching file name to the entry, as here.
    good = CliRunner().invoke(cli, [*args, str(sample_config_path())])
    assert good.exit_code == 0, good.output

    broken = tmp_path / "integration.yaml"
    broken.write_text("version: 1\nsync: [\n", encoding="utf-8")
    refused = CliRunner().invoke(cli, [*args, str(broken)])
    assert refused.exit_code == 1


def test_the_hook_matches_the_default_config_path_only() -> None:
    pattern = re.compile(str(_hook()["files"]))
    assert pattern.search("config/integration.yaml")
    assert not pattern.search("config/integration.yaml.bak")
    assert not pattern.search("docs/integration.yaml")


def test_bash_completion_as_the_readme_documents_it() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert 'eval "$(_RECONCILE_COMPLETE=bash_source reconcile)"' in readme
    script = subprocess.run(
        [sys.executable, "-m", "reconciler"],
        env={**os.environ, "_RECONCILE_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "_reconcile_completion()" in script
    assert "complete " in script


def test_completion_offers_the_subcommands() -> None:
    words = subprocess.run(
        [sys.executable, "-m", "reconciler"],
        env={
            **os.environ,
            "_RECONCILE_COMPLETE": "bash_complete",
            "COMP_WORDS": "reconcile pl",
            "COMP_CWORD": "1",
        },
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "plan" in words
