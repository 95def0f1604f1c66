"""Safety policy: thresholds on every kind of change and on errors, and the minimum population."""

from __future__ import annotations

import pytest

from reconciler.core.model import Action, Change, Plan, Problem, SafetySettings, Threshold
from reconciler.core.safety import Violation, compute_violations

POLICY = SafetySettings(
    max_deactivations=Threshold(count=10, percent=5),
    max_updates=Threshold(percent=30),
    min_population=10,
    min_source_employees=1,
)


def plan_with(
    *,
    deactivations: int = 0,
    updates: int = 0,
    links: int = 0,
    creates: int = 0,
    reactivations: int = 0,
    errors: int = 0,
    target: int,
    source: int = 100,
) -> Plan:
    changes = [
        *(Change(Action.CREATE, str(n), None, f"c{n}@example.com") for n in range(creates)),
        *(Change(Action.LINK, str(n), f"l{n}", f"l{n}@example.com") for n in range(links)),
        *(
            Change(Action.REACTIVATE, str(n), f"r{n}", f"r{n}@example.com")
            for n in range(reactivations)
        ),
        *(Change(Action.UPDATE, str(n), f"u{n}", f"u{n}@example.com") for n in range(updates)),
        *(
            Change(Action.DEACTIVATE, str(n), f"d{n}", f"d{n}@example.com")
            for n in range(deactivations)
        ),
    ]
    problems = tuple(
        Problem(str(n), "duplicate_email", f"employee {n}: duplicate email") for n in range(errors)
    )
    return Plan(
        changes=tuple(changes),
        unchanged=0,
        errors=problems,
        source_employees=source,
        target_users=target,
    )


def test_a_plan_within_every_threshold_is_safe() -> None:
    # Each kind of change exactly at its limit (a limit is exceeded only by going over it).
    plan = plan_with(
        deactivations=10,
        reactivations=10,
        creates=50,
        links=60,
        updates=72,
        errors=24,
        target=240,
        source=240,
    )

    assert compute_violations(plan, POLICY) == ()


def test_too_many_deactivations_by_count_is_a_forceable_violation() -> None:
    plan = plan_with(deactivations=12, target=240)

    assert compute_violations(plan, POLICY) == (
        Violation(
            "max_deactivations.count",
            "12 deactivations exceed safety.max_deactivations.count = 10 (12 of 240 active "
            "Lattice users, 5.0 %) — review the plan, then re-run with --force or raise "
            "safety.max_deactivations.count",
            forceable=True,
        ),
    )


def test_count_and_share_are_both_reported_when_both_are_exceeded() -> None:
    plan = plan_with(deactivations=11, updates=31, target=100)

    assert compute_violations(plan, POLICY) == (
        Violation(
            "max_deactivations.count",
            "11 deactivations exceed safety.max_deactivations.count = 10 (11 of 100 active "
            "Lattice users, 11.0 %) — review the plan, then re-run with --force or raise "
            "safety.max_deactivations.count",
            forceable=True,
        ),
        Violation(
            "max_deactivations.percent",
            "11 deactivations exceed safety.max_deactivations.percent = 5 % (11 of 100 active "
            "Lattice users, 11.0 %) — review the plan, then re-run with --force or raise "
            "safety.max_deactivations.percent",
            forceable=True,
        ),
        Violation(
            "max_updates.percent",
            "31 updates exceed safety.max_updates.percent = 30 % (31 of 100 active Lattice "
            "users, 31.0 %) — review the plan, then re-run with --force or raise "
            "safety.max_updates.percent",
            forceable=True,
        ),
    )


def test_one_change_over_a_limit_of_zero_reads_in_the_singular() -> None:
    policy = SafetySettings(max_updates=Threshold(count=0), min_population=1)

    assert compute_violations(plan_with(updates=1, target=1), policy) == (
        Violation(
            "max_updates.count",
            "1 update exceeds safety.max_updates.count = 0 (1 of 1 active Lattice user, "
            "100.0 %) — review the plan, then re-run with --force or raise "
            "safety.max_updates.count",
            forceable=True,
        ),
    )


def test_links_and_reactivations_do_not_count_as_updates() -> None:
    policy = SafetySettings(max_updates=Threshold(count=0), min_population=0)
    plan = Plan(
        changes=(
            Change(Action.LINK, "1", "u1", "a@example.com"),
            Change(Action.REACTIVATE, "2", "u2", "b@example.com"),
        ),
        unchanged=0,
        source_employees=2,
        target_users=0,
    )

    assert compute_violations(plan, policy) == ()


@pytest.mark.parametrize("target", [0, 9])
def test_thresholds_do_not_apply_below_the_minimum_population(target: int) -> None:
    plan = plan_with(deactivations=target, updates=target, target=target)

    assert compute_violations(plan, POLICY) == ()


def test_a_minimum_population_of_zero_with_no_users_divides_by_nothing() -> None:
    policy = SafetySettings(max_deactivations=Threshold(percent=0), min_population=0)

    assert compute_violations(plan_with(target=0), policy) == ()


def test_an_empty_personio_answer_is_refused_and_cannot_be_forced() -> None:
    plan = plan_with(deactivations=240, target=240, source=0)

    violations = compute_violations(plan, POLICY)

    assert violations[0] == Violation(
        "min_source_employees",
        "Personio returned 0 employees (minimum 1): refusing to treat an empty answer as "
        "'everyone left' — check the credential's access, or lower safety.min_source_employees",
        forceable=False,
    )
    assert [v.rule for v in violations] == [
        "min_source_employees",
        "max_deactivations.count",
        "max_deactivations.percent",
    ]


def test_a_single_employee_below_a_higher_minimum_reads_in_the_singular() -> None:
    policy = SafetySettings(min_source_employees=5)

    assert compute_violations(plan_with(target=0, source=1), policy)[0].message.startswith(
        "Personio returned 1 employee (minimum 5)"
    )
