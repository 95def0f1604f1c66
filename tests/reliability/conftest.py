"""Fixtures of the reliability suite: both emulators' localhost servers, shared by the session.
Imports pytest, the reconciler's emulator transport and the suite's ``reliability_world``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from reliability_world import Servers, Switchboard

from reconciler.sandbox.transport import EmulatorServer


@pytest.fixture(scope="session")
def server_pair() -> Iterator[Servers]:
    """Both emulators' localhost servers, started once for the session."""
    personio_board, lattice_board = Switchboard(), Switchboard()
    with EmulatorServer(personio_board) as personio, EmulatorServer(lattice_board) as lattice:
        yield Servers(personio, lattice, personio_board, lattice_board)


@pytest.fixture
def servers(server_pair: Servers) -> Iterator[Servers]:
    """The session's localhost servers, unplugged again after the test."""
    yield server_pair
    server_pair.personio_board.target = None
    server_pair.lattice_board.target = None
