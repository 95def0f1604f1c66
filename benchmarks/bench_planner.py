"""Benchmark: pure planning (`compute_plan`: mapping, matching, diffs, checksum) at 10k and 100k.
Imports the pure core, the sandbox and the parsers; run with `python benchmarks/bench_planner.py`.

Two configs. *synthetic* builds Employee and TargetUser values directly with 2 custom
attributes, for a no-op plan (both sides identical) and a 5 % churn plan (1 % each: creates,
links, reactivations, title updates, leavers; plus the manager updates of their reports).
*sample* is the sample company's own config (``reconciler/sandbox/config.yaml``, 7 custom
attributes) resolved against the sandbox's attribute catalogue, on the sandbox's records parsed
exactly as the clients parse them (JSON round trip, ``parse_employee``, ``parse_user``) — what
``reconcile plan --sandbox`` plans; up to 10,000 its checksum is checked against ``app.plan``'s.
The sample config is also planned into an empty Lattice ("initial load"): everyone is a create,
and every report's create waits for their manager's.
Prints wall and CPU time (untraced, best of ``--repeat``) and peak Python memory of planning
alone (tracemalloc, a separate run), as a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace

from reconciler import app
from reconciler.config import load_config
from reconciler.core.mapping import resolve_sources
from reconciler.core.model import (
    AttrValue,
    Config,
    CustomAttribute,
    Employee,
    FieldValue,
    LatticeSettings,
    PersonioSettings,
    Plan,
    SecretRef,
    SourceSnapshot,
    TargetUser,
)
from reconciler.core.plan_document import seal_plan
from reconciler.core.planner import compute_plan
from reconciler.sandbox import sample_config_path
from reconciler.sandbox.scenario import build_sandbox
from reconciler.sources.personio.parse import (
    compute_snapshot,
    parse_attribute_catalogue,
    parse_employee,
)
from reconciler.sources.personio.profile import PERSONIO, default_fields
from reconciler.targets.lattice.profile import LATTICE, LATTICE_SCIM
from reconciler.targets.scim.resources import parse_user

#: Above this size the sandbox is built without drift, as in bench_plan_e2e (a converged
#: tenant: the same comparison work, a faster setup).
MAX_DRIFT_EMPLOYEES = 20_000
#: Up to this size the sample case is also planned through ``app.plan`` (the emulators over
#: in-process HTTP) to check that the directly parsed inputs give the very same plan.
MAX_CHECKED_EMPLOYEES = 10_000

CONFIG = Config(
    personio=PersonioSettings(
        "https://api.personio.de/v1", SecretRef("PID"), SecretRef("PSECRET"), "bench"
    ),
    lattice=LatticeSettings("https://api.latticehq.com/scim/v2", SecretRef("LTOKEN")),
    fields=default_fields(),
    custom_attributes=(
        CustomAttribute("dynamic_1234567", "Cost Center", "text"),
        CustomAttribute("dynamic_3456789", "Level", "number"),
    ),
)
DEPARTMENTS = ("Research", "Sales", "Support", "Finance", "People", "Legal", "Ops", "Design")


@dataclass(frozen=True)
class Result:
    config: str
    custom_attributes: int
    case: str
    people: int
    changes: int
    seconds: float
    cpu_seconds: float
    repeat: int
    peak_mib: float


def build_employees(count: int) -> list[Employee]:
    """A company with a manager tree (8 reports each), 10 % contractors, realistic values."""
    employees = []
    for n in range(1, count + 1):
        contractor = n % 10 == 0
        attributes: dict[str, AttrValue] = {
            "id": str(n),
            "email": f"person{n}@example.com",
            "first_name": f"First{n}",
            "last_name": f"Last{n % 997}",
            "preferred_name": None,
            "status": "active",
            "employment_type": "external" if contractor else "internal",
            "position": f"Role {n % 40}",
            "hire_date": dt.date(2015 + n % 9, 1 + n % 12, 1 + n % 28),
            "department": DEPARTMENTS[n % len(DEPARTMENTS)],
            "supervisor": str(n // 8) if n > 7 else None,
            "birthday": dt.date(1960 + n % 40, 1 + n % 12, 1 + n % 28),
            "dynamic_1234567": f"CC-{100 * (1 + n % 9)}",
            "dynamic_3456789": 1 + n % 8,
        }
        employees.append(Employee(str(n), attributes))
    return employees


def build_lattice(employees: Sequence[Employee]) -> list[TargetUser]:
    """Lattice users that exactly represent ``employees`` (what a converged run leaves)."""
    users = []
    for employee in employees:
        a = employee.attributes
        contractor = a["employment_type"] == "external"
        supervisor = a["supervisor"]
        fields: dict[str, FieldValue] = {
            "first_name": str(a["first_name"]),
            "last_name": str(a["last_name"]),
            "preferred_name": None,
            # Contractors' titles and managers are not managed: Lattice may hold anything.
            "title": "Set by hand" if contractor else str(a["position"]),
            "start_date": _iso(a["hire_date"]),
            "department": str(a["department"]),
            "manager": None if contractor or supervisor is None else f"u{supervisor}",
            "birth_date": _iso(a["birthday"]),
            "custom:Cost Center": str(a["dynamic_1234567"]),
            "custom:Level": a["dynamic_3456789"],  # type: ignore[dict-item]
        }
        pid = employee.source_id
        users.append(TargetUser(f"u{pid}", str(a["email"]), True, pid, fields))
    return users


def churn(
    employees: list[Employee], users: list[TargetUser]
) -> tuple[list[Employee], list[TargetUser]]:
    """5 % of people differ: 1 % each to create, link, reactivate, update and deactivate.

    Five neighbours in every hundred, one of each kind, spread over the whole company.
    """
    employees = list(employees)
    kept: list[TargetUser] = []
    for index, user in enumerate(users):
        kind = index % 100
        if kind == 0:
            continue  # no Lattice user yet: a create
        changed = user
        if kind == 1:
            changed = replace(user, external_id=None)  # never linked: a link
        elif kind == 2:
            changed = replace(user, active=False)  # a rehire: a reactivation
        elif kind == 3:
            changed = replace(user, fields={**user.fields, "title": "Old title"})  # an update
        elif kind == 4:
            employee = employees[index]
            attributes = {**employee.attributes, "status": "inactive"}
            employees[index] = replace(employee, attributes=attributes)  # a leaver
        kept.append(changed)
    return employees, kept


def _iso(value: AttrValue) -> str:
    assert isinstance(value, dt.date)
    return value.isoformat()


def sandbox_inputs(
    size: int,
) -> tuple[SourceSnapshot, list[TargetUser], Config, tuple[str, bytes] | None]:
    """The sample company at ``size``: its records parsed as the clients parse them, the
    Lattice tenant's users, the sample config resolved against the sandbox catalogue, and
    (up to ``MAX_CHECKED_EMPLOYEES``) the checksum of ``app.plan``'s plan of the same with the
    key it was sealed with (the checksum is keyed, docs/decisions.md)."""
    box = build_sandbox(employees=size, seed=7, drift=size <= MAX_DRIFT_EMPLOYEES)
    catalogue = parse_attribute_catalogue({"success": True, "data": list(box.company.attributes)})
    config = load_config(sample_config_path())
    resolved = resolve_sources(config, catalogue, PERSONIO)
    # The JSON round trip gives the parsers the very values they get from a response body.
    records = json.loads(json.dumps(box.company.employees))
    snapshot = compute_snapshot(parse_employee(raw) for raw in records)
    resources = json.loads(json.dumps(list(box.lattice.users.values())))
    users = [parse_user(resource, LATTICE_SCIM) for resource in resources]
    expected = None
    if size <= MAX_CHECKED_EMPLOYEES:
        connections = box.connections()
        checksum = app.plan(config, connections).plan.checksum
        expected = (checksum, app.derive_plan_key(connections))
    return snapshot, users, resolved, expected


def measure(
    config_name: str,
    config: Config,
    case: str,
    snapshot: SourceSnapshot,
    users: Sequence[TargetUser],
    *,
    repeat: int,
) -> tuple[Result, Plan]:
    """Best wall (and its CPU) time of ``repeat`` timed runs after one warm-up run."""
    plan = compute_plan(snapshot, users, config, source=PERSONIO, target=LATTICE)
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        del plan
        gc.collect()  # every run starts from the same heap, not the last run's garbage
        wall, cpu = time.perf_counter(), time.process_time()
        plan = compute_plan(snapshot, users, config, source=PERSONIO, target=LATTICE)
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    tracemalloc.start()
    compute_plan(snapshot, users, config, source=PERSONIO, target=LATTICE)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    result = Result(
        config_name,
        len(config.custom_attributes),
        case,
        len(snapshot.employees) + len(snapshot.problems),
        len(plan.changes),
        best[0],
        best[1],
        repeat,
        peak / 2**20,
    )
    return result, plan


def collect(sizes: Sequence[int], repeat: int) -> Iterator[Result]:
    """Per size: the synthetic no-op and 5 % churn plans, then the sample company's plan,
    checked; yields each result as it is measured."""
    for size in sizes:
        employees = build_employees(size)
        users = build_lattice(employees)
        result, plan = measure(
            "synthetic", CONFIG, "no-op", SourceSnapshot(tuple(employees)), users, repeat=repeat
        )
        assert plan.is_empty, plan.summary
        assert plan.unchanged == size
        yield result

        changed_employees, changed_users = churn(employees, users)
        snapshot = SourceSnapshot(tuple(changed_employees))
        result, plan = measure(
            "synthetic", CONFIG, "5 % churn", snapshot, changed_users, repeat=repeat
        )
        expected = size // 100
        # Reports of leavers lose their manager and reports of new people get one: those
        # updates come on top of the 1 % of direct title changes.
        summary = plan.summary
        assert [summary[kind] for kind in ("create", "link", "reactivate", "deactivate")] == [
            expected
        ] * 4, summary
        assert summary["update"] >= expected, summary
        assert not plan.errors, plan.errors[:3]
        yield result
        del employees, users, changed_employees, changed_users, snapshot, plan

        snapshot, sample_users, sample_config, sealed = sandbox_inputs(size)
        drift = size <= MAX_DRIFT_EMPLOYEES
        case = "sandbox (drift)" if drift else "sandbox (converged)"
        result, plan = measure("sample", sample_config, case, snapshot, sample_users, repeat=repeat)
        if sealed is not None:
            checksum, key = sealed
            assert seal_plan(plan, key).checksum == checksum, "differs from app.plan's plan"
        if not drift:
            assert plan.is_empty, plan.summary
        yield result

        # The first run into an empty Lattice: everyone is created, and every manager is a
        # create the reports' creates wait for (the planner's search for rings of waits and
        # manager creates covers all of them).
        result, plan = measure(
            "sample", sample_config, "initial load (empty Lattice)", snapshot, [], repeat=repeat
        )
        assert {kind for kind, count in plan.summary.items() if count} <= {"create"}, plan.summary
        assert plan.summary["create"] > 0.9 * size, plan.summary
        yield result
        del snapshot, sample_users, plan


def run(quick: bool = False) -> list[dict[str, object]]:
    """The suite's entry point (``python -m benchmarks``): 10,000 and 100,000 people, best of
    3 (1,000 and 10,000, best of 1, if quick)."""
    sizes, repeat = ((1_000, 10_000), 1) if quick else ((10_000, 100_000), 3)
    return [asdict(result) for result in collect(sizes, repeat)]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    print("| config | case | people | changes | planning (s) | CPU (s) | peak memory (MiB) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for result in collect(args.sizes, args.repeat):
        print(_row(result))


def _row(result: Result) -> str:
    return (
        f"| {result.config} ({result.custom_attributes} custom) | {result.case} "
        f"| {result.people:,} | {result.changes:,} | {result.seconds:.3f} "
        f"| {result.cpu_seconds:.3f} | {result.peak_mib:.1f} |"
    )


if __name__ == "__main__":
    main()
