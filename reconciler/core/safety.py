"""Pure safety policy: a Plan + the configured thresholds → the reasons to refuse it.
Imports only the standard library and reconciler.core.model; no I/O.

A refused plan is still shown; ``--force`` overrides forceable violations only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.core.model import Action, Plan, SafetySettings, Threshold


@dataclass(frozen=True, slots=True)
class Violation:
    """One reason to refuse a plan; ``message`` names the rule, the numbers and the way out."""

    rule: str
    message: str
    forceable: bool


def compute_violations(plan: Plan, policy: SafetySettings) -> tuple[Violation, ...]:
    """Every rule the plan breaks, in a fixed order (empty when the plan is safe).

    - ``min_source_employees``: Personio returned fewer employees than the minimum. Never
      forceable: an empty answer usually means a broken credential, not "everyone left".
    - ``max_deactivations`` and ``max_updates``, each as a count and/or a percent of the
      active Lattice users; checked only once there are at least ``min_population`` of them.
      "Updates" means ``update`` changes only: links and reactivations adopt or return users
      one at a time and are rare; a mass field change shows up as updates.
    """
    violations: list[Violation] = []
    if plan.source_employees < policy.min_source_employees:
        violations.append(
            Violation(
                "min_source_employees",
                f"Personio returned {plan.source_employees} "
                f"{_plural(plan.source_employees, 'employee')} "
                f"(minimum {policy.min_source_employees}): refusing to treat an empty answer "
                "as 'everyone left' — check the credential's access, or lower "
                "safety.min_source_employees",
                forceable=False,
            )
        )
    if plan.target_users >= policy.min_population:
        violations.extend(
            _threshold(
                "max_deactivations",
                "deactivation",
                plan.count(Action.DEACTIVATE),
                plan.target_users,
                policy.max_deactivations,
            )
        )
        violations.extend(
            _threshold(
                "max_updates",
                "update",
                plan.count(Action.UPDATE),
                plan.target_users,
                policy.max_updates,
            )
        )
    return tuple(violations)


def _threshold(
    rule: str, noun: str, count: int, population: int, limit: Threshold
) -> list[Violation]:
    share = 100.0 * count / population if population else 0.0
    numbers = (
        f"({count} of {population} active Lattice {_plural(population, 'user')}, {share:.1f} %)"
    )
    subject = f"{count} {_plural(count, noun)} {'exceeds' if count == 1 else 'exceed'}"
    override = f"review the plan, then re-run with --force or raise safety.{rule}"
    violations: list[Violation] = []
    if limit.count is not None and count > limit.count:
        violations.append(
            Violation(
                f"{rule}.count",
                f"{subject} safety.{rule}.count = {limit.count} {numbers} — {override}.count",
                forceable=True,
            )
        )
    if limit.percent is not None and share > limit.percent:
        violations.append(
            Violation(
                f"{rule}.percent",
                f"{subject} safety.{rule}.percent = {limit.percent:g} % {numbers} — "
                f"{override}.percent",
                forceable=True,
            )
        )
    return violations


def _plural(count: int, noun: str) -> str:
    return noun if count == 1 else f"{noun}s"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the safety policy decides about a plan, given whether ``--force`` was passed."""

    allowed: bool
    #: what stops the plan: unforceable violations always, forceable ones unless forced
    blocking: tuple[Violation, ...] = ()
    #: forceable violations that ``--force`` waved through
    overridden: tuple[Violation, ...] = ()


def gate(violations: Sequence[Violation], force: bool) -> Verdict:
    """The one ``--force`` decision: force overrides forceable violations, never the others."""
    hard = tuple(violation for violation in violations if not violation.forceable)
    soft = tuple(violation for violation in violations if violation.forceable)
    blocking = hard if force else (*hard, *soft)
    return Verdict(allowed=not blocking, blocking=blocking, overridden=soft if force else ())
