"""The one benchmark command: `python -m benchmarks [--quick] [--only NAME]`.
Imports the benchmark modules of this package and the standard library; prints and records.

Runs every benchmark (or the ``--only`` ones), prints one table per benchmark and writes
``benchmarks/results/latest.json`` (``quick.json`` with ``--quick``): the machine, the date,
the commit, and every measured row. ``--only`` replaces just those entries in that file (each
entry carries its own date; ``meta`` describes the latest invocation).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from benchmarks import ROOT, Row, rounded, timed

#: name → module; each has ``run(quick: bool) -> list[Row]``. In run order: cheap first.
NAMES = ("personio", "lattice", "planner", "plan_e2e", "apply", "fast")
RESULTS = ROOT / "benchmarks" / "results"


def load_module(name: str) -> ModuleType:
    # Imported on demand so ``--only apply`` does not pay for importing the others.
    return importlib.import_module(f"benchmarks.bench_{name}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run the scale and request-count benchmarks and record the results.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes only (a smoke test, under a minute)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=NAMES,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(NAMES)}",
    )
    args = parser.parse_args(argv)
    selected = [name for name in NAMES if not args.only or name in args.only]
    path = RESULTS / ("quick.json" if args.quick else "latest.json")

    document = read_existing(path) if args.only else {}
    benchmarks = document.get("benchmarks")
    if not isinstance(benchmarks, dict):
        benchmarks = {}
    load_before = os.getloadavg()
    with timed() as everything:
        for name in selected:
            print(f"## {name}", flush=True)
            run: Callable[[bool], list[Row]] = load_module(name).run
            with timed() as took:
                rows = run(args.quick)
            benchmarks[name] = {
                # per entry: with --only, entries from different invocations share one file
                "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "seconds": rounded(took.wall, 1),
                "rows": rows,
            }
            print(render_rows(rows))
            print(f"({took.wall:.1f} s)\n", flush=True)
    document = {
        "meta": {
            **describe_machine(),
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "commit": git_commit(),
            "quick": args.quick,
            "ran": selected,
            "seconds": rounded(everything.wall, 1),
            "load_avg_before": [rounded(value, 2) for value in load_before],
            "load_avg_after": [rounded(value, 2) for value in os.getloadavg()],
        },
        "benchmarks": benchmarks,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(selected)} benchmark(s) in {everything.wall:.1f} s; results in {path}")
    return 0


def read_existing(path: Path) -> dict[str, object]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def render_rows(rows: Sequence[Row]) -> str:
    """A Markdown table of ``rows``: one column per key, nested values as compact JSON."""
    if not rows:
        return "(no rows)"
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [render_cell(row.get(column)) for column in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_cell(value: object) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, float):
        return f"{value:.4g}"
    return "–" if value is None else str(value)


def describe_machine() -> dict[str, object]:
    """What the numbers were measured on."""
    cpu = platform.processor() or "unknown"
    memory = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            cpu = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in cpuinfo
                    if line.startswith("model name")
                ),
                cpu,
            )
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            total_kib = next(
                int(line.split()[1]) for line in meminfo if line.startswith("MemTotal")
            )
            memory = rounded(total_kib / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def git_commit() -> str | None:
    """The checked-out commit (read only), plus ``+dirty`` when the tree has changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            # --no-optional-locks: never rewrite the index while reading
            ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit}+dirty" if dirty else commit


if __name__ == "__main__":
    sys.exit(main())
