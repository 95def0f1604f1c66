"""Ctrl-C during ``reconcile apply``: in-flight requests finish, nothing new starts, the report
says what was and was not done, and the next apply converges. Runs the real console entry.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from reconciler.sandbox.lattice_emulator import LatticeFaults

if TYPE_CHECKING:
    from conftest import Kit, LiveSandbox

WRITES = frozenset({"POST", "PATCH"})


def test_ctrl_c_stops_apply_after_the_requests_in_flight_and_the_next_apply_converges(
    live: LiveSandbox, kit: Kit
) -> None:
    # Slow writes leave time to interrupt between the first and the last change.
    live.box.lattice.faults = LatticeFaults(slow_seconds=0.4, writes_only=True)
    config = live.write_config("one-at-a-time.yaml", {"lattice": {"max_requests_per_second": 2}})
    env = {**os.environ, **{k: v for k, v in live.env.items() if v is not None}}
    process = subprocess.Popen(
        kit.interruptible(
            [sys.executable, "-m", "reconciler", "apply", "--config", str(config), "--no-progress"]
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not live.writes() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert live.writes(), "apply never started writing"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()

    written = len(live.writes())
    assert process.returncode == 1
    assert "Traceback" not in stderr, stderr
    assert "interrupted: finishing the requests in flight, starting no new ones" in stderr
    assert "Interrupted: apply was stopped; changes not started were skipped." in stdout
    report = stdout[stdout.index("Apply: ") :].splitlines()[0]
    assert report.startswith(f"Apply: {written} applied, 0 failed, ")
    assert report.endswith("skipped (of 10 changes)")
    assert written < 10

    live.box.lattice.faults = LatticeFaults()
    assert live.run("apply", "--no-progress").exit_code == 0
    final = live.run("plan", "--detailed-exitcode", "--no-progress")
    assert final.exit_code == 0, final.stdout
