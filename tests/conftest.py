"""Guards for the whole suite: no test reads the team's own config/integration.yaml.
Imports the standard library, pytest and the sandbox's Lattice emulator (``strict_lattice``).

``config/integration.yaml`` is the file a team edits for production; tests, like ``--sandbox``,
run on the sample company's config shipped in ``reconciler/sandbox/config.yaml``. An audit hook
(``sys.addaudithook``, which sees every ``open`` of this process, whatever module calls it)
records each opening of the team's file, and an autouse fixture fails the test that did it.
Child processes (``subprocess``) are not seen: a test that starts one passes ``--config`` or
runs it in a directory of its own.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from reconciler.sandbox.lattice_emulator import LatticeEmulator

# CI (.ci/run sets HYPOTHESIS_PROFILE=ci) explores the same examples on every run, so a red run
# is reproducible and never a coin toss; locally each run explores new examples.
settings.register_profile("ci", derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

REPO = Path(__file__).resolve().parents[1]
TEAM_CONFIG = os.path.normcase(str(REPO / "config" / "integration.yaml"))


class TeamConfigGuard:
    """The openings of the team's config since the current test started."""

    def __init__(self) -> None:
        self.openings: list[str] = []

    def audit(self, event: str, args: tuple[object, ...]) -> None:
        """The audit hook: remember an ``open`` whose path is the team's config."""
        if event != "open" or not args or not isinstance(args[0], str | os.PathLike):
            return
        path = os.fspath(args[0])
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if os.path.normcase(os.path.abspath(path)) == TEAM_CONFIG:
            self.openings.append(path)


GUARD = TeamConfigGuard()
sys.addaudithook(GUARD.audit)


@pytest.fixture(autouse=True)
def no_team_config() -> Iterator[TeamConfigGuard]:
    """Fail any test that opened config/integration.yaml (the team's, not a fixture), and the
    first test after a module or fixture outside any test did."""
    _fail_if_opened("before this test (at import or collection, or by a session fixture)")
    yield GUARD
    _fail_if_opened("in this test")


def _fail_if_opened(when: str) -> None:
    opened, GUARD.openings[:] = list(GUARD.openings), []
    if opened:
        pytest.fail(
            f"the team's config {opened[0]} was opened {when}; use the sample config "
            "(reconciler.sandbox.sample_config_path()) or write one under tmp_path",
            pytrace=False,
        )


@pytest.fixture
def strict_lattice() -> LatticeEmulator:
    """The Lattice emulator in strict mode (null name parts, locked externalId, no
    space-containing paths, discovery endpoints), with the sandbox's custom attributes."""
    from reconciler.sandbox.scenario import LATTICE_CUSTOM_ATTRIBUTES, LATTICE_TOKEN

    return LatticeEmulator(
        token=LATTICE_TOKEN, custom_attributes=LATTICE_CUSTOM_ATTRIBUTES, strict=True
    )
