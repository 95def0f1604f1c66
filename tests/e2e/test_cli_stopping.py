"""Apply never loses track of what it did: SIGTERM (what CI sends on cancel) stops it cleanly with
a complete report and audit log; an audit log or a stdout that cannot be written stops it with one
clear line instead of a traceback. Runs the real console entry in child processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from reconciler.sandbox.lattice_emulator import LatticeFaults
from reconciler.sandbox.personio_emulator import PersonioFaults
from reconciler.sandbox.scenario import build_sandbox

if TYPE_CHECKING:
    from conftest import Kit, LiveSandbox, ServeSandbox

FULL = Path("/dev/full")


def _child(kit: Kit, live: LiveSandbox, *args: str) -> subprocess.Popen[str]:
    """``reconcile ARGS`` in a child whose SIGINT is at its default (see ``kit.interruptible``)."""
    env = {**os.environ, **{k: v for k, v in live.env.items() if v is not None}}
    return subprocess.Popen(
        kit.interruptible([sys.executable, "-m", "reconciler", *args]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )


def test_sigterm_stops_apply_with_a_complete_report_and_audit_log(
    kit: Kit, live: LiveSandbox, tmp_path: Path
) -> None:
    live.box.lattice.faults = LatticeFaults(slow_seconds=0.4, writes_only=True)
    config = live.write_config("slow.yaml", {"lattice": {"max_requests_per_second": 2}})
    audit = tmp_path / "audit.jsonl"
    process = _child(
        kit,
        live,
        "apply",
        "--config",
        str(config),
        "--no-progress",
        "--audit-log",
        str(audit),
        "--report-format",
        "json",
    )
    try:
        deadline = time.monotonic() + 30
        while not [r for r in live.box.lattice.requests if r.method in {"POST", "PATCH"}]:
            assert time.monotonic() < deadline, "apply never started writing"
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()

    assert process.returncode == 1, stderr
    assert "terminated: finishing the requests in flight, starting no new ones" in stderr
    assert "Traceback" not in stderr
    report = json.loads(stdout)
    assert report["interrupted"] is True
    outcomes = [result["outcome"] for result in report["results"]]
    assert len(outcomes) == 10  # every change of the plan is accounted for
    assert "skipped" in outcomes
    assert "applied" in outcomes
    # The audit log has one line per change, skipped ones included, matching the report.
    lines = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["event"] == "run"
    assert lines[-1] == {**lines[-1], "event": "run_end", "status": "interrupted"}
    assert sorted(line["outcome"] for line in lines[1:-1]) == sorted(outcomes)
    written = [r for r in live.box.lattice.requests if r.method in {"POST", "PATCH"}]
    assert outcomes.count("applied") == len(written)


@pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full")
def test_an_audit_log_that_cannot_be_written_stops_apply_before_any_change(
    live: LiveSandbox,
) -> None:
    result = live.run("apply", "--audit-log", str(FULL), "--no-progress")

    assert result.exit_code == 1
    # The run line comes before any change: when it cannot be written, nothing is applied.
    assert result.stderr.splitlines()[-1] == (
        "error: /dev/full: the audit log could not be written (No space left on device); "
        "nothing was applied — free space or fix the path, then run apply again"
    )
    assert live.writes() == []


@pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full")
def test_a_plan_written_to_a_full_stdout_is_one_clear_error(live: LiveSandbox) -> None:
    env = {**os.environ, **{k: v for k, v in live.env.items() if v is not None}}
    with FULL.open("w") as full:
        completed = subprocess.run(
            [sys.executable, "-m", "reconciler", "plan", "--config", str(live.config)],
            stdout=full,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            timeout=60,
            check=False,
        )

    assert completed.returncode == 1
    assert completed.stderr.splitlines() == [
        "error: cannot write to standard output (No space left on device)"
    ]


def test_a_run_past_its_timeout_ends_with_one_line_naming_the_system_and_url(
    live: LiveSandbox,
) -> None:
    # Every employee page takes 3 s; the whole command may take 2 s.
    live.box.personio.faults = PersonioFaults(slow_seconds=3.0)
    started = time.monotonic()

    result = live.run("plan", "--timeout", "2", "--no-progress")

    elapsed = time.monotonic() - started
    assert result.exit_code == 1
    assert elapsed < 10, f"the run was not abandoned at its deadline ({elapsed:.1f} s)"
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: personio GET ")
    assert f"{live.personio_url}/v1/company/employees" in lines[0]
    assert "time limit" in lines[0]


def test_when_lattice_fails_the_personio_side_stops_within_a_page(
    serve_sandbox: ServeSandbox,
) -> None:
    # 2,000 people are 20 Personio pages of 1 s each (4 at a time: ~5 s in all); Lattice
    # refuses the key at once.
    live = serve_sandbox(build_sandbox(employees=2000, drift=False))
    live.box.personio.faults = PersonioFaults(slow_seconds=1.0)
    env = {**live.env, "LATTICE_SCIM_TOKEN": "not-the-key"}

    result = live.run("plan", "--no-progress", env=env)

    assert result.exit_code == 1
    assert result.stderr.startswith("error: lattice GET Users"), result.stderr
    pages = [r for r in live.box.personio.requests if r.path == "/v1/company/employees"]
    # The first page, then at most the pages already in flight when Lattice failed.
    assert len(pages) <= 5, len(pages)


def test_ctrl_c_during_plan_stops_after_the_pages_in_flight(
    kit: Kit, serve_sandbox: ServeSandbox
) -> None:
    # 2,000 people are 20 Personio pages of 0.5 s each: about 2.5 s to read them all.
    live = serve_sandbox(build_sandbox(employees=2000, drift=False))
    live.box.personio.faults = PersonioFaults(slow_seconds=0.5)
    process = _child(kit, live, "plan", "--config", str(live.config), "--no-progress")
    try:
        deadline = time.monotonic() + 30
        while not [r for r in live.box.personio.requests if r.path == "/v1/company/employees"]:
            assert time.monotonic() < deadline, "plan never started reading employees"
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()

    assert process.returncode == 1
    assert "interrupted: stopping after the pages" in stderr
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1] == (
        "error: personio GET /company/employees: stopped before reading Personio's employees "
        "finished"
    )
    pages = [r for r in live.box.personio.requests if r.path == "/v1/company/employees"]
    assert len(pages) < 20
