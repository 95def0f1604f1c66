"""Scale and request-count benchmarks (not tests): `python -m benchmarks [--quick] [--only NAME]`.
Imports the reconciler package and its sandbox; the shared measuring pieces of the suite live here.

Every benchmark module has ``run(quick: bool) -> list[Row]``: one JSON-able dict per measured
case, with its assertions already checked. ``__main__`` runs them and records the rows in
``benchmarks/results/``; ``docs/benchmarks.md`` explains the numbers.
"""

from __future__ import annotations

import dataclasses
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reconciler import app
from reconciler.config import load_config
from reconciler.core.model import Config
from reconciler.sandbox import sample_config_path
from reconciler.sandbox.scenario import Sandbox

#: One measured case: JSON-able values only (str, int, float, bool, None, lists, dicts).
Row = dict[str, object]

ROOT = Path(__file__).resolve().parent.parent


def load_bench_config() -> Config:
    """The sample company's config: the sandbox tenant has exactly the custom attributes it maps."""
    return load_config(sample_config_path())


def sandbox_connections(
    config: Config, box: Sandbox, *, personio_rate: float = 0.0, lattice_rate: float = 0.0
) -> app.Connections:
    """``app.connect`` for the sandbox (in-process, no waiting on retries), with request rates.

    Rate 0 means unlimited, as the CLI's ``--sandbox`` runs; a positive Lattice rate models
    ``lattice.max_requests_per_second`` so apply times can be compared with their ideal.
    """
    conn = box.connections()
    return dataclasses.replace(conn, personio_rate=personio_rate, lattice_rate=lattice_rate)


@dataclass
class Timing:
    """Wall and CPU seconds of one measured block (CPU: every thread of this process)."""

    wall: float = 0.0
    cpu: float = 0.0


@contextmanager
def timed() -> Iterator[Timing]:
    """Measure the ``with`` block. CPU time is reported too: other work on the machine
    inflates wall time but not CPU time, so the two together show a noisy run."""
    timing = Timing()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield timing
    finally:
        timing.wall = time.perf_counter() - wall
        timing.cpu = time.process_time() - cpu


def peak_rss_mib() -> float:
    """This process's peak resident set size so far: Linux ``VmHWM``, else ``ru_maxrss``.

    Not ``ru_maxrss`` on Linux: it survives ``execve``, so a subprocess started by a large
    parent reports the parent's peak (the runner's, here) until it grows past it. ``VmHWM``
    belongs to the process's own address space.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10
    except (OSError, ValueError, IndexError):
        pass
    return ru_maxrss_mib()


def ru_maxrss_mib() -> float:
    """``getrusage(RUSAGE_SELF).ru_maxrss`` in MiB (KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def current_rss_mib() -> float:
    """This process's resident set size now (Linux ``/proc``; the peak elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return peak_rss_mib()
    return pages * resource.getpagesize() / 2**20


def rounded(value: float, digits: int = 3) -> float:
    return round(value, digits)
