"""Benchmark: `reconcile apply` — initial load into an empty Lattice, no-op runs, a 5 % churn day.
Imports the composition root (reconciler.app), the sandbox emulators and the company generator.

Everything runs against the in-process emulators, with the Lattice request rate set the way
``lattice.max_requests_per_second`` sets it, so each apply can be compared with its ideal
``writes / rate``. Asserted every time: one write request per change (no second pass, no
lookups), every change applied, and a plan right after an apply is empty (zero writes).
Standalone: ``python -m benchmarks.bench_apply [--quick]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks import Row, load_bench_config, rounded, sandbox_connections, timed
from reconciler import app
from reconciler.core.model import Config, Outcome
from reconciler.sandbox.company import generate_company, wire_date
from reconciler.sandbox.lattice_emulator import LatticeEmulator
from reconciler.sandbox.personio_emulator import PersonioCredential, PersonioEmulator
from reconciler.sandbox.scenario import (
    LATTICE_CUSTOM_ATTRIBUTES,
    LATTICE_TOKEN,
    PERSONIO_CLIENT_ID,
    PERSONIO_CLIENT_SECRET,
    Sandbox,
)

SEED = 7
#: What the config ships with (``lattice.max_requests_per_second``) and Personio's budget
#: (~300/min) as ``app.Connections`` defaults it: the rates of a real nightly run.
PRODUCTION_RATE = 5.0


@dataclass(frozen=True)
class Load:
    """An initial load of ``employees`` people at ``rate`` Lattice requests per second."""

    employees: int
    rate: float


@dataclass(frozen=True)
class Settings:
    loads: tuple[Load, ...]  # the last one is also the churn day's company
    churn_rate: float
    production_nightly: bool  # the no-op run at PRODUCTION_RATE (~37 s at 10,000)


# 10,000 at 50 requests/s would be 200 s of the ~10 minute budget on its own: 2,000 people
# at 50/s and 10,000 at 200/s measure the same thing (is the rate the only limit?).
FULL = Settings((Load(2_000, 50.0), Load(10_000, 200.0)), 50.0, production_nightly=True)
QUICK = Settings((Load(300, 200.0), Load(1_000, 200.0)), 200.0, production_nightly=False)


def run(quick: bool = False) -> list[Row]:
    """Initial loads (each followed by a no-op run); on the last, larger one: a churn day,
    then the nightly no-op run unthrottled and (full run only) at production rates."""
    settings = QUICK if quick else FULL
    config = load_bench_config()
    rows: list[Row] = []
    for load in settings.loads:
        box = build_empty_target(load.employees)
        rows.append(plan_and_apply(config, box, f"initial load @ {load.rate:g}/s", load.rate))
        rows.append(plan_and_apply(config, box, "no-op right after", load.rate, noop=True))
    with timed() as setup:
        churned = apply_churn(box, share=0.05)
    rate = settings.churn_rate
    row = plan_and_apply(config, box, f"5 % churn day @ {rate:g}/s", rate)
    row["churn"] = {**churned, "setup_s": rounded(setup.wall)}
    summary = row["summary"]
    assert isinstance(summary, dict)
    assert summary["create"] == churned["hires"], summary
    assert summary["deactivate"] == churned["leavers"], summary
    # Colleagues whose buddy left get a Buddy update on top: ">=", not "==".
    assert summary["update"] >= churned["titles"] + churned["departments"], summary
    rows.append(row)
    rows.append(plan_and_apply(config, box, "nightly no-op, unthrottled", 0.0, noop=True))
    if settings.production_nightly:
        rows.append(
            plan_and_apply(
                config,
                box,
                f"nightly no-op @ {PRODUCTION_RATE:g}/s both sides",
                PRODUCTION_RATE,
                personio_rate=PRODUCTION_RATE,
                noop=True,
            )
        )
    return rows


def build_empty_target(employees: int) -> Sandbox:
    """The sample company in Personio and a Lattice tenant with no users yet (only the custom
    attributes the config maps), as on the day the integration is switched on."""
    company = generate_company(employees, SEED)
    personio = PersonioEmulator(
        company.employees,
        company.attributes,
        credentials={PERSONIO_CLIENT_ID: PersonioCredential(client_secret=PERSONIO_CLIENT_SECRET)},
    )
    lattice = LatticeEmulator(token=LATTICE_TOKEN, custom_attributes=LATTICE_CUSTOM_ATTRIBUTES)
    return Sandbox(company=company, personio=personio, lattice=lattice)


def plan_and_apply(
    config: Config,
    box: Sandbox,
    label: str,
    lattice_rate: float,
    *,
    personio_rate: float = 0.0,
    noop: bool = False,
) -> Row:
    """``reconcile apply`` as the CLI runs it (plan, then execute), measured and checked."""
    load = os.getloadavg()[0]
    conn = sandbox_connections(config, box, personio_rate=personio_rate, lattice_rate=lattice_rate)
    personio_before = len(box.personio.requests)
    reads_before, writes_before = box.lattice.reads(), box.lattice.writes()
    with timed() as planning:
        run_ = app.plan(config, conn)
    personio_reads = len(box.personio.requests) - personio_before
    lattice_reads = box.lattice.reads() - reads_before
    reads_before = box.lattice.reads()
    with timed() as applying:
        # The CLI skips an empty plan; executing it anyway proves it writes nothing.
        report = app.execute(run_, conn)
    writes = box.lattice.writes() - writes_before
    changes = len(run_.plan.changes)
    outcomes = {outcome.value: report.count(outcome) for outcome in Outcome}
    assert outcomes["applied"] == changes, outcomes
    assert writes == changes, f"{writes} write requests for {changes} changes"
    assert box.lattice.reads() == reads_before, "apply looked users up"
    if noop:
        assert changes == 0, run_.plan.summary
    ideal = writes / lattice_rate if lattice_rate > 0 else None
    return {
        "case": label,
        "employees": box.personio.total,
        "lattice_users": len(box.lattice.users),
        "lattice_rate": lattice_rate,
        "personio_rate": personio_rate,
        "summary": run_.plan.summary,
        "violations": [violation.rule for violation in run_.violations],
        "changes": changes,
        "writes": writes,
        "personio_reads": personio_reads,
        "lattice_reads": lattice_reads,
        "plan_s": rounded(planning.wall),
        "apply_s": rounded(applying.wall),
        "apply_cpu_s": rounded(applying.cpu),
        "ideal_apply_s": None if ideal is None else rounded(ideal),
        "apply_over_ideal": None if not ideal else rounded(applying.wall / ideal, 3),
        "total_s": rounded(planning.wall + applying.wall),
        "load_avg_1m": rounded(load, 2),
    }


def apply_churn(box: Sandbox, *, share: float) -> dict[str, int]:
    """Change ``share`` of the company in Personio through the emulator's state methods.

    Of the people touched: 2 % leave, 8 % are new hires, 30 % move department, the rest get a
    new title. The changed people are active employees (contractors' titles are not synced)
    without reports (so no report loses a manager) and none of the sandbox's planted quirks,
    so each of them is exactly one change in the plan; colleagues whose buddy left get a
    Buddy update on top.
    """
    rng = random.Random(SEED)
    wire = [_attributes(raw) for raw in box.company.employees]
    managers = {_supervisor_id(attributes) for attributes in wire}
    candidates = [
        attributes["id"]["value"]
        for attributes in wire
        if attributes["status"]["value"] == "active"
        and attributes["employment_type"]["value"] == "internal"
        and attributes["id"]["value"] not in managers
        and str(attributes["id"]["value"]) not in box.company.notes
    ]
    touched = max(4, round(box.personio.total * share))
    leavers = max(1, touched // 50)
    hires = max(1, touched * 8 // 100)
    departments = touched * 30 // 100
    titles = touched - leavers - hires - departments
    chosen = rng.sample(candidates, leavers + departments + titles)
    department_values = list(
        {
            attributes["department"]["value"]["attributes"]["id"]: attributes["department"]["value"]
            for attributes in wire
            if isinstance(attributes["department"]["value"], dict)
        }.values()
    )
    personio = box.personio

    for pid in chosen[:leavers]:
        personio.update_employee(pid, "status", "inactive")
        personio.update_employee(pid, "termination_date", wire_date(dt.date(2026, 1, 31)))
    for pid in chosen[leavers : leavers + departments]:
        current = personio.employee(pid)["attributes"]["department"]["value"]
        others = [value for value in department_values if value is not current]
        personio.update_employee(pid, "department", rng.choice(others))
    for pid in chosen[leavers + departments :]:
        position = personio.employee(pid)["attributes"]["position"]["value"]
        personio.update_employee(pid, "position", f"Senior {position}")
    template = personio.employee(chosen[-1])
    next_id = max(int(attributes["id"]["value"]) for attributes in wire) + 1
    for number in range(hires):
        attributes = dict(template["attributes"])
        for key, value in (
            ("id", next_id + number),
            ("first_name", "Nova"),
            ("last_name", f"Hire{number}"),
            ("email", f"nova.hire{number}@example.com"),
            ("hire_date", wire_date(dt.date(2026, 2, 2))),
            ("dynamic_5678901", ""),  # no buddy yet
        ):
            attributes[key] = {**attributes[key], "value": value}
        personio.add_employee({**template, "attributes": attributes})
    return {
        "touched": touched,
        "leavers": leavers,
        "hires": hires,
        "departments": departments,
        "titles": titles,
    }


def _attributes(raw: Mapping[str, object]) -> dict[str, Any]:
    """A wire employee's attribute map (key → {"label", "value", ...})."""
    attributes = raw["attributes"]
    assert isinstance(attributes, dict)
    return attributes


def _supervisor_id(attributes: dict[str, Any]) -> object:
    nested = attributes["supervisor"]["value"]
    return nested["attributes"]["id"]["value"] if isinstance(nested, dict) else None


def render_table(rows: Sequence[Row]) -> str:
    lines = [
        "| case | employees | changes | writes | plan (s) | apply (s) | ideal (s) | apply/ideal "
        "| reads P / L |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['case']} | {row['employees']:,} | {row['changes']:,} | {row['writes']:,} "
            f"| {row['plan_s']} | {row['apply_s']} | {row['ideal_apply_s']} "
            f"| {row['apply_over_ideal']} | {row['personio_reads']} / {row['lattice_reads']} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, no production-rate run")
    args = parser.parse_args(argv)
    print(render_table(run(args.quick)))


if __name__ == "__main__":
    main()
