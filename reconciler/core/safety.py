"""Pure safety policy: a Plan + the configured limits → the reasons to refuse it, and the verdict.
Imports only the standard library and reconciler.core.model; no I/O.

The policy is a list of rules (``RULES``), each a ``SafetyRule``: a name and a ``check`` that
returns the plan's violations of it. Most rules are a ``ThresholdRule`` — one ``Threshold``
field of ``SafetySettings``, a way to count, and the population a percent is taken of — so
adding one is one entry here (or ``register_rule``), one settings field and one schema entry.

A refused plan is still shown. ``gate`` turns the violations and ``--force`` into a
``Verdict``: ``--force`` overrides forceable violations only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from reconciler.core.model import Action, Plan, SafetySettings, Threshold


@dataclass(frozen=True, slots=True)
class Violation:
    """One reason to refuse a plan; ``message`` names the rule, the numbers and the way out."""

    rule: str
    message: str
    forceable: bool


class SafetyRule(Protocol):
    """One rule of the safety policy: every way ``plan`` breaks it under ``policy``."""

    @property
    def name(self) -> str: ...

    def check(self, plan: Plan, policy: SafetySettings) -> tuple[Violation, ...]: ...


# ---------------------------------------------------------------------------------------------
# Threshold rules: count something in the plan, compare with a Threshold of the settings
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Population:
    """What a threshold's percent is a share of, and what it is called in a message."""

    noun: str  # singular, e.g. "active Lattice user"
    size: Callable[[Plan], int]


def _active_target_users(plan: Plan) -> int:
    return plan.target_users


def _source_employees(plan: Plan) -> int:
    return plan.source_employees


#: The active Lattice users: what changes to Lattice are measured against.
ACTIVE_TARGET_USERS = Population("active Lattice user", _active_target_users)
#: The employees Personio returned: what per-person errors are measured against.
SOURCE_EMPLOYEES = Population("Personio employee", _source_employees)


@dataclass(frozen=True, slots=True)
class ChangesOf:
    """Counts the plan's changes of one action (a ``ThresholdRule``'s ``count``)."""

    action: Action

    def __call__(self, plan: Plan) -> int:
        return plan.count(self.action)


def count_errors(plan: Plan) -> int:
    """The people with errors in the plan (left untouched), each counted once however many
    errors they have: by source id, else by email; an error naming neither is one person."""
    people: set[tuple[str, str]] = set()
    anonymous = 0
    for problem in plan.errors:
        if problem.source_id:
            people.add(("id", problem.source_id))
        elif problem.email:
            people.add(("email", problem.email.strip().casefold()))
        else:
            anonymous += 1
    return len(people) + anonymous


REVIEW = "review the plan, then re-run with --force or raise"


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    """``safety.<setting>``: refuse when ``count(plan)`` exceeds the count, or its share of the
    population exceeds the percent; checked only once the population reaches ``min_population``.

    Forceable. ``way_out`` is followed by the exceeded key, e.g. ``safety.max_creates.count``.
    """

    setting: str  # the Threshold field of SafetySettings, e.g. "max_creates"
    noun: str  # singular, e.g. "creation"
    count: Callable[[Plan], int]
    population: Population = ACTIVE_TARGET_USERS
    way_out: str = REVIEW
    plural: str | None = None  # when not ``noun`` + "s", e.g. "people in error"

    @property
    def name(self) -> str:
        return self.setting

    def check(self, plan: Plan, policy: SafetySettings) -> tuple[Violation, ...]:
        limit = getattr(policy, self.setting, None)
        if not isinstance(limit, Threshold):
            raise TypeError(f"safety.{self.setting} is not a Threshold of {type(policy).__name__}")
        population = self.population.size(plan)
        if population < policy.min_population:
            return ()
        count = self.count(plan)
        share = 100.0 * count / population if population else 0.0
        numbers = (
            f"({count} of {population} {_plural(population, self.population.noun)}, {share:.1f} %)"
        )
        noun = self.noun if count == 1 else self.plural or _plural(count, self.noun)
        subject = f"{count} {noun} {'exceeds' if count == 1 else 'exceed'}"
        key = f"safety.{self.setting}"
        violations: list[Violation] = []
        if limit.count is not None and count > limit.count:
            violations.append(
                Violation(
                    f"{self.setting}.count",
                    f"{subject} {key}.count = {limit.count} {numbers} — {self.way_out} {key}.count",
                    forceable=True,
                )
            )
        if limit.percent is not None and share > limit.percent:
            violations.append(
                Violation(
                    f"{self.setting}.percent",
                    f"{subject} {key}.percent = {limit.percent:g} % {numbers} — "
                    f"{self.way_out} {key}.percent",
                    forceable=True,
                )
            )
        return tuple(violations)


# ---------------------------------------------------------------------------------------------
# The minimum source population (never forceable)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MinSourceEmployees:
    """``safety.min_source_employees``: Personio returned fewer employees than the minimum.

    Never forceable: an empty answer usually means a broken credential, not "everyone left".
    """

    name: str = "min_source_employees"

    def check(self, plan: Plan, policy: SafetySettings) -> tuple[Violation, ...]:
        if plan.source_employees >= policy.min_source_employees:
            return ()
        return (
            Violation(
                self.name,
                f"Personio returned {plan.source_employees} "
                f"{_plural(plan.source_employees, 'employee')} "
                f"(minimum {policy.min_source_employees}): refusing to treat an empty answer "
                "as 'everyone left' — check the credential's access, or lower "
                "safety.min_source_employees",
                forceable=False,
            ),
        )


# ---------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------

#: The rules ``compute_violations`` checks, in the order their violations are listed: the
#: unforceable one, the input's health, then changes from the most harmful to the least.
#: "Updates" means ``update`` changes only: a link or reactivation carrying field diffs counts
#: under its own rule, so every change is counted exactly once.
RULES: list[SafetyRule] = [
    MinSourceEmployees(),
    ThresholdRule(
        "max_errors",
        "person in error",
        count_errors,
        SOURCE_EMPLOYEES,
        way_out="fix them in Personio (the plan lists them), or re-run with --force or raise",
        plural="people in error",
    ),
    ThresholdRule("max_deactivations", "deactivation", ChangesOf(Action.DEACTIVATE)),
    ThresholdRule("max_reactivations", "reactivation", ChangesOf(Action.REACTIVATE)),
    ThresholdRule("max_creates", "creation", ChangesOf(Action.CREATE)),
    ThresholdRule("max_links", "link", ChangesOf(Action.LINK)),
    ThresholdRule("max_updates", "update", ChangesOf(Action.UPDATE)),
]


def register_rule(rule: SafetyRule) -> SafetyRule:
    """Add ``rule`` to ``RULES`` (checked after the others); returns it. Names are unique."""
    if any(existing.name == rule.name for existing in RULES):
        raise ValueError(f"a safety rule named {rule.name!r} is already registered")
    RULES.append(rule)
    return rule


def unregister_rule(name: str) -> None:
    """Remove the rule called ``name`` from ``RULES``; a missing name is an error."""
    for index, rule in enumerate(RULES):
        if rule.name == name:
            del RULES[index]
            return
    raise KeyError(name)


def compute_violations(
    plan: Plan, policy: SafetySettings, rules: Iterable[SafetyRule] | None = None
) -> tuple[Violation, ...]:
    """Every rule the plan breaks, in the rules' order (empty when the plan is safe).

    ``rules`` defaults to the registered ``RULES`` as they are at the time of the call.
    """
    checked = tuple(RULES) if rules is None else rules
    return tuple(violation for rule in checked for violation in rule.check(plan, policy))


# ---------------------------------------------------------------------------------------------
# The gate: violations + --force → may the plan be applied?
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a plan may be applied, and why.

    ``blocking``: what stops the plan — non-forceable violations always, forceable ones
    unless forced. ``overridden``: the forceable violations ``--force`` waved through.
    """

    allowed: bool
    blocking: tuple[Violation, ...] = ()
    overridden: tuple[Violation, ...] = ()

    @property
    def forceable(self) -> bool:
        """True when ``--force`` would allow a plan that is not allowed (every block forceable)."""
        return not self.allowed and all(violation.forceable for violation in self.blocking)


def gate(violations: Sequence[Violation], force: bool) -> Verdict:
    """The verdict on a plan with ``violations``, with or without ``--force``; pure."""
    blocking = tuple(v for v in violations if not v.forceable or not force)
    overridden = tuple(v for v in violations if v.forceable and force)
    return Verdict(allowed=not blocking, blocking=blocking, overridden=overridden)


def _plural(count: int, noun: str) -> str:
    return noun if count == 1 else f"{noun}s"
