"""Benchmark: a whole `reconcile plan` (app.plan) at 1,000 / 10,000 / 100,000 employees.
Imports reconciler.app (the composition root), the sandbox and the planner; `python -m benchmarks`.

Each size runs in a fresh subprocess so its peak memory (``VmHWM``) is its own. In that
process: build the sandbox, then time ``app.plan`` against the in-process emulators
(rates 0, ``NO_WAIT_RETRY``, as ``Sandbox.connections()`` wires them), count the
requests each emulator saw, time the two fetches alone and ``compute_plan`` alone on the
same inputs, and read the peak RSS right after the plan. ``--http`` does the same over real
localhost HTTP with both emulators in a *separate* server process, so the client's RSS is the
reconciler's own footprint. Standalone: ``python -m benchmarks.bench_plan_e2e [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks import (
    ROOT,
    Row,
    Timing,
    current_rss_mib,
    load_bench_config,
    peak_rss_mib,
    rounded,
    ru_maxrss_mib,
    sandbox_connections,
    timed,
)
from reconciler import app
from reconciler.core.model import Config, SourceSnapshot, TargetUser
from reconciler.core.plan_document import seal_plan
from reconciler.core.planner import compute_plan
from reconciler.edges.http import NO_WAIT_RETRY
from reconciler.sandbox.scenario import (
    LATTICE_TOKEN,
    PERSONIO_CLIENT_ID,
    PERSONIO_CLIENT_SECRET,
    build_sandbox,
)
from reconciler.sandbox.transport import EmulatorServer
from reconciler.sources.personio.profile import PERSONIO
from reconciler.targets.lattice.profile import LATTICE

PAGE_SIZE = 100
SEED = 7
#: Above this size the sandbox is built without drift: ``seed_lattice``'s drift branch is
#: quadratic (see docs/benchmarks.md) and would add ~5 minutes of setup at 100,000.
MAX_DRIFT_EMPLOYEES = 20_000
#: Sizes at which tracemalloc is cheap enough (it slows allocation-heavy code 2-4 times).
MAX_TRACED_EMPLOYEES = 10_000
#: Up to MAX_TRACED_EMPLOYEES, how many times the plan and the fetches are measured.
ROUNDS = 3


@dataclass(frozen=True)
class Case:
    employees: int
    http: bool = False
    #: False: only the whole plan and its memory (the fetch-alone and compute_plan passes
    #: cost another ~40 s at 100,000 and are measured in-process already).
    detailed: bool = True

    @property
    def drift(self) -> bool:
        return self.employees <= MAX_DRIFT_EMPLOYEES

    @property
    def small(self) -> bool:
        return self.employees <= MAX_TRACED_EMPLOYEES


FULL_CASES = (
    Case(1_000),
    Case(10_000),
    Case(100_000),
    Case(10_000, http=True),
    Case(100_000, http=True, detailed=False),
)
QUICK_CASES = (Case(1_000), Case(1_000, http=True))


def run(quick: bool = False) -> list[Row]:
    """Every case of the suite, each in its own subprocess."""
    return [run_case(case) for case in (QUICK_CASES if quick else FULL_CASES)]


def run_case(case: Case) -> Row:
    command = [sys.executable, "-m", "benchmarks.bench_plan_e2e", "--child", str(case.employees)]
    if case.http:
        command.append("--http")
    if not case.detailed:
        command.append("--brief")
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, check=True, text=True)
    row: Row = json.loads(done.stdout.strip().splitlines()[-1])
    return row


# ------------------------------------------------------------------------------ the measuring child


def measure_in_process(case: Case) -> Row:
    """One size against the in-process emulators (this process holds both emulators' data)."""
    load = os.getloadavg()[0]
    with timed() as setup:
        box = build_sandbox(employees=case.employees, seed=SEED, drift=case.drift)
    config = load_bench_config()
    conn = sandbox_connections(config, box)
    row, run_ = measure_plan(config, conn, case)

    # The plan's own requests come first in each emulator's log.
    personio_paths = [request.path for request in box.personio.requests]
    personio_paths = personio_paths[: run_.requests["personio"]]
    counts = {
        "auth": sum(path.endswith("/auth") for path in personio_paths),
        "attributes": sum(path.endswith("/employees/attributes") for path in personio_paths),
        "pages": sum(path.endswith("/company/employees") for path in personio_paths),
    }
    expected_pages = math.ceil(box.personio.total / PAGE_SIZE)
    expected_lattice = math.ceil(len(box.lattice.users) / PAGE_SIZE)
    assert counts == {"auth": 1, "attributes": 1, "pages": expected_pages}, counts
    assert run_.requests == {"personio": 2 + expected_pages, "lattice": expected_lattice}, (
        run_.requests
    )
    lattice_requests = box.lattice.requests[: run_.requests["lattice"]]
    assert all(request.method == "GET" for request in lattice_requests)
    assert box.lattice.writes() == 0

    traced_peak = None
    if case.small:
        # A separate, untimed run: tracing slows everything down. The peak includes the
        # in-process emulators' own response bodies while a page is in flight.
        tracemalloc.start()
        try:
            app.plan(config, conn)
            traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()
    return {
        "mode": "in-process",
        "employees": case.employees,
        "drift": case.drift,
        "personio_records": box.personio.total,
        "lattice_users": len(box.lattice.users),
        "setup_s": rounded(setup.wall),
        **row,
        "personio_requests": counts,
        "personio_expected": 2 + expected_pages,
        "lattice_requests": len(lattice_requests),
        "lattice_expected": expected_lattice,
        "tracemalloc_peak_mib": None if traced_peak is None else rounded(traced_peak, 1),
        "load_avg_1m": rounded(load, 2),
    }


def measure_plan(config: Config, conn: app.Connections, case: Case) -> tuple[Row, app.PlanRun]:
    """The whole plan (cold, like a CLI run) and its peak RSS; when ``case.detailed`` also
    the two fetches alone and ``compute_plan`` alone. Up to 10,000 employees the plan and the
    fetches run 3 times each, interleaved, and the best of each is kept: the machine is
    shared, and the minimum is the least disturbed measurement."""
    gc.collect()
    rss_before = current_rss_mib()
    with timed() as cold:
        run_ = app.plan(config, conn)
    rss_peak = peak_rss_mib()
    row: Row = {
        "plan_s": rounded(cold.wall),
        "plan_cpu_s": rounded(cold.cpu),
        "summary": run_.plan.summary,
        "violations": [violation.rule for violation in run_.violations],
        "rss_before_mib": rounded(rss_before, 1),
        "rss_peak_mib": rounded(rss_peak, 1),
        "rss_run_increase_mib": rounded(rss_peak - rss_before, 1),
        # For the record only: on Linux it carries over the parent's peak (see peak_rss_mib).
        "ru_maxrss_mib": rounded(ru_maxrss_mib(), 1),
    }
    if not case.detailed:
        return row, run_
    plans, fetches = [cold], []
    for round_ in range(ROUNDS if case.small else 1):
        snapshot, users, personio_time, lattice_time = fetch_alone(config, conn)
        fetches.append((personio_time, lattice_time))
        if round_ < ROUNDS - 1 and case.small:
            with timed() as warm:
                app.plan(config, conn)
            plans.append(warm)
    best_plan = min(plans, key=lambda timing: timing.wall)
    best_personio, best_lattice = min(fetches, key=lambda pair: pair[0].wall + pair[1].wall)
    best_fetch = best_personio.wall + best_lattice.wall
    row.update(
        {
            "plan_best_s": rounded(best_plan.wall),
            "plan_best_cpu_s": rounded(best_plan.cpu),
            "personio_fetch_s": rounded(best_personio.wall),
            "lattice_fetch_s": rounded(best_lattice.wall),
            "fetch_s": rounded(best_fetch),
            "fetch_cpu_s": rounded(best_personio.cpu + best_lattice.cpu),
            "runs": {"plan": len(plans), "fetch": len(fetches)},
            "plan_over_fetch": rounded(best_plan.wall / best_fetch, 2),
            "cold_plan_over_fetch": rounded(cold.wall / best_fetch, 2),
        }
    )
    key = app.derive_plan_key(conn)
    seconds, repeat = time_compute_plan(snapshot, users, run_, case, key)
    row.update({"compute_plan_s": rounded(seconds), "compute_plan_repeat": repeat})
    return row, run_


def fetch_alone(
    config: Config, conn: app.Connections
) -> tuple[SourceSnapshot, tuple[TargetUser, ...], Timing, Timing]:
    """Just the pages: Personio ``fetch_employees`` (its auth included), Lattice ``fetch_users``."""
    with timed() as personio_time, app.open_personio(config, conn) as personio:
        snapshot = personio.fetch_employees()
    with timed() as lattice_time, app.open_lattice_reader(conn) as lattice:
        users = lattice.fetch_users()
    return snapshot, users, personio_time, lattice_time


def time_compute_plan(
    snapshot: SourceSnapshot,
    users: Sequence[TargetUser],
    run_: app.PlanRun,
    case: Case,
    key: bytes,
) -> tuple[float, int]:
    """Best wall time of ``compute_plan`` on the gathered inputs; checks it is the same plan
    (sealed with ``key``, the run's plan key: the checksum is keyed)."""
    repeat = ROUNDS if case.small else 1
    best = math.inf
    for _ in range(repeat):
        with timed() as planning:
            plan = compute_plan(snapshot, users, run_.config, source=PERSONIO, target=LATTICE)
        best = min(best, planning.wall)
        sealed = seal_plan(plan, key).checksum
        assert sealed == run_.plan.checksum, "the plan differs from app.plan's"
    return best, repeat


def measure_over_http(case: Case) -> Row:
    """One size over real localhost HTTP; the emulators live in a separate server process, so
    this process's RSS is the reconciler's alone."""
    load = os.getloadavg()[0]
    command = [sys.executable, "-m", "benchmarks.bench_plan_e2e", "--serve", str(case.employees)]
    server = subprocess.Popen(
        command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        assert server.stdin is not None
        ready = json.loads(server.stdout.readline())
        config = load_bench_config()
        conn = app.Connections(
            personio_base_url=f"{ready['personio']}/v1",
            personio_client_id=PERSONIO_CLIENT_ID,
            personio_client_secret=PERSONIO_CLIENT_SECRET,
            lattice_base_url=f"{ready['lattice']}/scim/v2",
            lattice_token=LATTICE_TOKEN,
            retry=NO_WAIT_RETRY,
            personio_rate=0.0,
            lattice_rate=0.0,
        )
        row, run_ = measure_plan(config, conn, case)
        server.stdin.close()  # the server prints what it saw, then exits
        seen = json.loads(server.stdout.readline())
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    expected_pages = math.ceil(ready["employees"] / PAGE_SIZE)
    expected_lattice = math.ceil(ready["lattice_users"] / PAGE_SIZE)
    assert run_.requests == {"personio": 2 + expected_pages, "lattice": expected_lattice}, (
        run_.requests
    )
    # What the server saw: every plan (2 + pages each) and fetch-alone pass (1 + pages).
    runs = row.get("runs", {"plan": 1, "fetch": 0})
    assert isinstance(runs, dict)
    plans, fetches = runs["plan"], runs["fetch"]
    passes = plans + fetches
    assert seen["personio"] == [2 * plans + fetches, passes * (1 + expected_pages) + plans], seen
    assert seen["lattice"] == [passes * expected_lattice, 0], seen
    return {
        "mode": "localhost HTTP",
        "employees": case.employees,
        "drift": case.drift,
        "personio_records": ready["employees"],
        "lattice_users": ready["lattice_users"],
        "setup_s": ready["setup_s"],
        **row,
        "personio_requests": run_.requests["personio"],
        "personio_expected": 2 + expected_pages,
        "lattice_requests": run_.requests["lattice"],
        "lattice_expected": expected_lattice,
        "tracemalloc_peak_mib": None,
        "load_avg_1m": rounded(load, 2),
    }


def serve(employees: int) -> None:
    """The server process for ``--http``: both emulators on free localhost ports until stdin
    closes; then one JSON line with (auth-or-catalogue, total) Personio requests and
    (reads, writes) Lattice requests."""
    case = Case(employees)
    with timed() as setup:
        box = build_sandbox(employees=employees, seed=SEED, drift=case.drift)
    with EmulatorServer(box.personio) as personio, EmulatorServer(box.lattice) as lattice:
        ready = {
            "personio": personio.url,
            "lattice": lattice.url,
            "employees": box.personio.total,
            "lattice_users": len(box.lattice.users),
            "setup_s": rounded(setup.wall),
        }
        print(json.dumps(ready), flush=True)
        sys.stdin.read()
    non_page = sum(
        not request.path.endswith("/company/employees") for request in box.personio.requests
    )
    print(
        json.dumps(
            {
                "personio": [non_page, len(box.personio.requests)],
                "lattice": [box.lattice.reads(), box.lattice.writes()],
            }
        ),
        flush=True,
    )


# ------------------------------------------------------------------------------------ entry point


def render_table(rows: Sequence[Row]) -> str:
    lines = [
        "| mode | employees | plan (s) | fetch alone (s) | ratio | compute_plan (s) "
        "| requests P / L | peak RSS (MiB) | tracemalloc (MiB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['mode']} | {row['employees']:,} | {row.get('plan_best_s', row['plan_s'])} "
            f"| {row.get('fetch_s')} "
            f"| {row.get('plan_over_fetch')} | {row.get('compute_plan_s')} "
            f"| {row['personio_requests']} / {row['lattice_requests']} | {row['rss_peak_mib']} "
            f"| {row['tracemalloc_peak_mib']} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 employees only")
    parser.add_argument("--child", type=int, metavar="N", help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=int, metavar="N", help=argparse.SUPPRESS)
    parser.add_argument("--http", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--brief", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve(args.serve)
    elif args.child is not None:
        case = Case(args.child, http=args.http, detailed=not args.brief)
        row = measure_over_http(case) if case.http else measure_in_process(case)
        print(json.dumps(row), flush=True)
    else:
        print(render_table(run(args.quick)))


if __name__ == "__main__":
    main()
