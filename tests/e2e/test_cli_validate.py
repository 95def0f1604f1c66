"""End-to-end: ``reconcile validate`` on the example config, the broken-config corpus and bad paths.
Runs the CLI in-process through the ``kit`` fixture, and once as ``python -m reconciler``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Kit

REPO = Path(__file__).resolve().parents[2]
CONFIG_CORPUS = REPO / "tests" / "config_corpus"
CORPUS_FILES = sorted(CONFIG_CORPUS.iterdir())

#: Files that cannot carry an ``# expect:`` first line (see tests/unit/test_config_corpus.py).
EXPECTED_WITHOUT_COMMENT = {
    "empty-file.yaml": "the file is empty",
    "binary-file.yaml": "the file is binary",
    "latin-1-encoded.yaml": "not UTF-8",
    "utf-16-encoded.yaml": "UTF-16",
    "control-character.yaml": "character YAML does not allow",
}


def expectation(path: Path) -> str:
    if path.name in EXPECTED_WITHOUT_COMMENT:
        return EXPECTED_WITHOUT_COMMENT[path.name]
    first_line = path.read_text(encoding="utf-8").splitlines()[0]
    return first_line.removeprefix("# expect: ")


def located_line(path: Path) -> re.Pattern[str]:
    """An error line located by YAML path (and line), by line, or about the whole file."""
    return re.compile(
        rf"^error: {re.escape(str(path))}: "
        r"(line \d+: |[\w.\[\]]+( \(line \d+\))?: |the (top level of the )?file )"
    )


def test_the_example_config_is_valid_in_one_summary_line_without_credentials(kit: Kit) -> None:
    result = kit.run("validate", "--config", str(kit.example_config))

    assert result.exit_code == 0
    assert result.stdout == (
        f"{kit.example_config}: valid — internal, external employees, "
        "6 standard fields, 7 custom attributes\n"
    )
    assert result.stderr == ""


def test_an_app_id_that_is_not_upper_snake_case_is_a_warning_with_the_fix(
    tmp_path: Path, kit: Kit
) -> None:
    text = kit.example_config.read_text(encoding="utf-8")
    config = tmp_path / "integration.yaml"
    config.write_text(re.sub(r"app_id: \S+", "app_id: acme-lattice-sync", text, count=1))

    result = kit.run("validate", "--config", str(config))

    assert result.exit_code == 0
    assert result.stdout.startswith(f"{config}: valid")
    assert result.stderr == (
        "warning: personio.app_id: Personio expects X-Personio-App-ID in UPPER_SNAKE_CASE — "
        "write app_id: ACME_LATTICE_SYNC\n"
    )


def test_the_corpus_is_not_empty() -> None:
    # Guards the parametrized test below against silently running zero cases.
    assert len(CORPUS_FILES) >= 45


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[path.name for path in CORPUS_FILES])
def test_every_broken_config_exits_1_with_located_problems_on_stderr(path: Path, kit: Kit) -> None:
    result = kit.run("validate", "--config", str(path))

    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines
    pattern = located_line(path)
    assert [line for line in lines if not pattern.match(line)] == []
    assert expectation(path) in result.stderr
    assert "Traceback" not in result.stderr
    assert "SENTINEL" not in result.stderr  # the corpus's secret-looking literals


def test_a_missing_file_is_one_line_saying_so_with_the_fix(tmp_path: Path, kit: Kit) -> None:
    missing = tmp_path / "nope.yaml"

    result = kit.run("validate", "--config", str(missing))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: {missing}: file not found — create it (see config/integration.yaml for a "
        "complete, commented example) or pass --config PATH\n"
    )


def test_a_directory_is_refused_as_not_a_config_file(tmp_path: Path, kit: Kit) -> None:
    result = kit.run("validate", "--config", str(tmp_path))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: {tmp_path}: the file is a directory — pass the path of the YAML config file\n"
    )


def test_the_console_entry_validates_without_a_traceback(kit: Kit, tmp_path: Path) -> None:
    broken = CONFIG_CORPUS / "literal-client-secret.yaml"
    # The default --config is config/integration.yaml under the working directory: give it the
    # sample config there (the repository's own is the team's, which no test reads).
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "integration.yaml").write_text(
        kit.example_config.read_text(encoding="utf-8"), encoding="utf-8"
    )

    good = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    bad = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", "--config", str(broken)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (good.returncode, good.stderr) == (0, "")
    assert good.stdout.startswith("config/integration.yaml: valid — ")
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert "never the secret itself" in bad.stderr
    assert "Traceback" not in bad.stderr
