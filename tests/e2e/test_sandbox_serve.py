"""End-to-end: ``reconcile sandbox serve`` as a real process, used the way its banner says.
Starts the console entry with subprocess, reads its banner, plans against it, stops it with SIGINT.
"""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Kit

BANNER_END = "Ctrl-C stops."
FIRST_LINE = re.compile(
    r"^Personio emulator: (http://127\.0\.0\.1:(\d+)/v1)   "
    r"Lattice emulator: (http://127\.0\.0\.1:(\d+)/scim/v2)$"
)


def read_lines(stream: IO[str]) -> queue.Queue[str | None]:
    """Lines of ``stream`` as they arrive (``None`` at its end), read by a daemon thread."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def read_until(lines: queue.Queue[str | None], last: str, timeout: float) -> list[str]:
    """Every line up to and including the one ending with ``last``; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {last!r} within {timeout} s; got {seen}"
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        assert line is not None, f"the process ended early; it printed {seen}"
        seen.append(line)
        if line.endswith(last):
            return seen


@pytest.fixture
def served(kit: Kit) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """``reconcile sandbox serve`` on two free ports; its banner; killed if a test leaves it."""
    process = subprocess.Popen(
        kit.interruptible(
            [
                sys.executable,
                "-m",
                "reconciler",
                "sandbox",
                "serve",
                "--personio-port",
                "0",
                "--lattice-port",
                "0",
                "--employees",
                "45",
                "--seed",
                "11",
            ]
        ),
        cwd=kit.repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = read_until(read_lines(process.stdout), BANNER_END, timeout=30)
        yield process, banner
    finally:
        if process.poll() is None:
            process.kill()  # only this test's own process, by its handle
        process.wait(timeout=10)


def test_serve_prints_urls_a_config_snippet_and_the_credentials(
    served: tuple[subprocess.Popen[str], list[str]],
) -> None:
    _, banner = served

    match = FIRST_LINE.match(banner[0])
    assert match is not None, banner[0]
    personio_url, personio_port, lattice_url, lattice_port = match.groups()
    assert 0 not in (int(personio_port), int(lattice_port))
    assert personio_port != lattice_port
    assert banner[1:] == [
        "45 employees (seed 11). In your config:",
        "",
        "personio:",
        f"  base_url: {personio_url}",
        "lattice:",
        f"  base_url: {lattice_url}",
        "",
        "and in your shell:",
        f"  export RECONCILE_ALLOW_ENDPOINTS=http://127.0.0.1:{personio_port},"
        f"http://127.0.0.1:{lattice_port}",
        "  export PERSONIO_CLIENT_ID=sandbox-client PERSONIO_CLIENT_SECRET=sandbox-secret "
        "LATTICE_SCIM_TOKEN=sandbox-token",
        "",
        "(these are the emulators' own sandbox credentials, not secrets). Ctrl-C stops.",
    ]


def test_plan_and_apply_work_against_the_served_emulators_until_ctrl_c(
    kit: Kit, tmp_path: Path, served: tuple[subprocess.Popen[str], list[str]]
) -> None:
    process, banner = served
    match = FIRST_LINE.match(banner[0])
    assert match is not None
    exports = [line for line in banner if line.startswith("  export ")]
    env = dict(
        item.split("=", 1) for line in exports for item in line.removeprefix("  export ").split()
    )
    config = tmp_path / "served.yaml"
    config.write_text(
        kit.config_text(
            {
                "personio": {"base_url": match.group(1)},
                "lattice": {"base_url": match.group(3), "max_requests_per_second": 100},
            }
        ),
        encoding="utf-8",
    )

    first = kit.run("plan", "--config", str(config), "--detailed-exitcode", env=env)
    applied = kit.run("apply", "--config", str(config), env=env)
    again = kit.run("plan", "--config", str(config), "--detailed-exitcode", env=env)
    process.send_signal(signal.SIGINT)
    returncode = process.wait(timeout=15)
    assert process.stderr is not None
    stderr = process.stderr.read()

    assert first.exit_code == 2, first.stderr
    assert first.stdout.startswith("Plan: ")
    assert applied.exit_code == 0, applied.stderr
    assert again.exit_code == 0, again.stdout  # the served state persisted between commands
    assert again.stdout.startswith("Plan: no changes, ")
    assert returncode == 0
    assert "Traceback" not in stderr


@pytest.mark.parametrize("option", ["--personio-port", "--lattice-port"])
def test_a_port_in_use_is_one_line_naming_the_port_and_the_option(kit: Kit, option: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = {"--personio-port": "0", "--lattice-port": "0", option: str(port)}

        result = kit.run("sandbox", "serve", *[item for pair in ports.items() for item in pair])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: sandbox serve: cannot listen on 127.0.0.1:{port} (Address already in use)"
        f" — stop what uses port {port}, or pick another with {option} PORT"
        " (0 picks a free one)\n"
    )
