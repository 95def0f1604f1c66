"""The suite's guard against tests reading the team's config/integration.yaml (tests/conftest.py).
Uses the real audit hook and the real CLI; no mocks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from reconciler.cli import cli

if TYPE_CHECKING:
    from conftest import TeamConfigGuard

REPO = Path(__file__).resolve().parents[2]
TEAM_CONFIG = REPO / "config" / "integration.yaml"
SECRETS = ("PERSONIO_CLIENT_ID", "PERSONIO_CLIENT_SECRET", "LATTICE_SCIM_TOKEN")


def test_opening_the_team_config_by_absolute_path_is_recorded(
    no_team_config: TeamConfigGuard,
) -> None:
    with TEAM_CONFIG.open(encoding="utf-8"):
        pass

    assert no_team_config.openings == [str(TEAM_CONFIG)]
    no_team_config.openings.clear()  # recorded as it should be: do not fail this test


def test_the_cli_default_config_read_from_the_repository_is_recorded(
    no_team_config: TeamConfigGuard, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `reconcile validate` with no --config opens the relative config/integration.yaml.
    monkeypatch.chdir(REPO)
    CliRunner().invoke(cli, ["validate"], env=dict.fromkeys(SECRETS), catch_exceptions=False)

    assert no_team_config.openings
    assert {Path(path).resolve() for path in no_team_config.openings} == {TEAM_CONFIG}
    no_team_config.openings.clear()


def test_other_files_are_not_recorded(no_team_config: TeamConfigGuard, tmp_path: Path) -> None:
    other = tmp_path / "config" / "integration.yaml"
    other.parent.mkdir()
    other.write_text("version: 1\n", encoding="utf-8")
    other.read_text(encoding="utf-8")

    assert no_team_config.openings == []
