"""The ``text`` format: plans and apply reports for the operator's terminal.
Imports only the standard library, the pure core and reconciler.render.common.

Emails and values are shown as they are; sensitive values are ``(redacted)``. Everything that
came from Personio or Lattice is made inert first (``common.inert``, ``common.defuse_lines``).
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.core.model import (
    Action,
    ApplyReport,
    Change,
    FieldChange,
    FieldValue,
    Outcome,
    Plan,
    Problem,
)
from reconciler.core.safety import Violation
from reconciler.render.common import (
    REVIEW_ORDER,
    People,
    cause_groups,
    context_line,
    defuse_lines,
    department_counts,
    inert,
    people_count,
    plan_checksum,
    problem_code_summary,
    render_report_summary,
    render_summary,
    result_detail,
    review_groups,
    show_person,
    show_value,
)

_TITLES = {
    Action.CREATE: "Create",
    Action.LINK: "Link",
    Action.REACTIVATE: "Reactivate",
    Action.UPDATE: "Update",
    Action.DEACTIVATE: "Deactivate",
}


class TextFormat:
    """Plain text for a terminal (the default of ``plan`` and ``apply``)."""

    name = "text"
    description = "plain text for the terminal: emails and values, sensitive values redacted"

    def render_plan(self, plan: Plan, violations: Sequence[Violation]) -> str:
        return render_text(plan, violations)

    def render_report(self, report: ApplyReport) -> str:
        return render_report_text(report)


def render_text(plan: Plan, violations: Sequence[Violation] = ()) -> str:
    """The plan for the operator's terminal: emails and values, sensitive values redacted."""
    lines = [render_summary(plan)]
    if plan.context is not None:
        lines.append(inert(context_line(plan.context, str)))
    # Problems counted by code up front, as Markdown does (docs/decisions.md, 2026-12-03).
    for title, problems in (("Errors", plan.errors), ("Warnings", plan.warnings)):
        if problems:
            lines.append(f"{title}: {inert(problem_code_summary(problems))}")
    lines += _departments(plan)
    if plan.attribution is None:
        lines += _change_list(plan, plan.changes)
    else:
        for title, changes in cause_groups(plan):
            lines += ["", f"{title}:"]
            lines += _change_list(plan, changes, indent="  ") or ["  nothing"]
    for title, problems in (("Errors", plan.errors), ("Warnings", plan.warnings)):
        if problems:
            lines += ["", f"{title} ({len(problems)}):"]
            lines += [f"  {_problem(problem)}" for problem in problems]
    lines += ["", *_verdict(violations), f"Checksum: {plan_checksum(plan)}"]
    return defuse_lines("\n".join(lines) + "\n")


def _change_list(plan: Plan, changes: Sequence[Change], indent: str = "") -> list[str]:
    # Deactivations first; identical changes of many people as one line (common.review_groups).
    people = People(plan)
    lines: list[str] = []
    for action, groups in review_groups(changes):
        lines += ["", f"{indent}{_TITLES[action]} ({sum(len(group) for group in groups)}):"]
        for group in groups:
            change = group[0]
            details = [_field(plan, people, change, field) for field in change.fields]
            if change.reason is not None:
                details.append(f"why: {inert(change.reason)}")
            if change.depends_on is not None:
                details.append(f"after the create of {inert(change.depends_on)} (their manager)")
            if change.waits_for:
                details.append(f"after the changes of {inert(', '.join(change.waits_for))}")
            if len(group) > 1:
                shown = "; ".join(details) or "no field changes"
                lines.append(f"{indent}  {shown} — {people_count(len(group))}:")
                lines += [f"{indent}      {_who(member)}" for member in group]
                continue
            lines.append(f"{indent}  {_who(change)}")
            lines += [f"{indent}      {detail}" for detail in details]
    return lines


def _departments(plan: Plan) -> list[str]:
    """The changes per department as a small table (nothing for an empty plan)."""
    rows = department_counts(plan)
    if not rows:
        return []
    width = min(max(len(inert(name)) for name, _ in [*rows, ("department", {})]), 40)
    header = "  ".join(action.value for action in REVIEW_ORDER)
    lines = ["", "Changes by department:", f"  {'department':<{width}}  {header}"]
    for name, counts in rows:
        cells = "  ".join(f"{counts[action]:>{len(action.value)}}" for action in REVIEW_ORDER)
        lines.append(f"  {inert(name)[:width]:<{width}}  {cells}")
    return lines


def render_report_text(report: ApplyReport) -> str:
    """What apply did, for the terminal: counts, then every failed and skipped change."""
    lines = [render_report_summary(report), render_summary(report.plan)]
    if report.interrupted:
        lines.append("Interrupted: apply was stopped; changes not started were skipped.")
    for outcome, title in (
        (Outcome.NOT_APPLIED, "Not applied (answered success, not stored)"),
        (Outcome.FAILED, "Failed"),
        (Outcome.SKIPPED, "Skipped"),
    ):
        results = [result for result in report.results if result.outcome is outcome]
        if results:
            lines += ["", f"{title} ({len(results)}):"]
            lines += [
                f"  {result.change.action.value} {_who(result.change)}: {result_detail(result)}"
                for result in results
            ]
    lines += ["", f"Checksum: {plan_checksum(report.plan)}"]
    return defuse_lines("\n".join(lines) + "\n")


def _who(change: Change) -> str:
    where = "new" if change.target_id is None else f"Lattice {inert(change.target_id)}"
    return f"{inert(change.source_id or '(no Personio id)')} {inert(change.email)} ({where})"


def _field(plan: Plan, people: People, change: Change, field: FieldChange) -> str:
    hidden = field.name in plan.sensitive_fields
    after = _value(people, field.name, field.after, hidden)
    if change.action is Action.CREATE:
        return f"{field.name}: {after}"
    return f"{field.name}: {_value(people, field.name, field.before, hidden)} → {after}"


def _value(people: People, name: str, value: FieldValue, hidden: bool) -> str:
    """A value; a manager or ``user`` attribute as the person it names."""
    person = None if hidden else people.named(name, value)
    return show_value(value, hidden) if person is None else show_person(person)


def _problem(problem: Problem) -> str:
    return f"{inert(problem.source_id or '-')} {problem.code}: {inert(problem.message)}"


def _verdict(violations: Sequence[Violation]) -> list[str]:
    if not violations:
        return ["Safety: ok — within the safety policy"]
    lines = ["Safety: REFUSED by the safety policy"]
    lines += [
        f"  - {inert(v.message)}{'' if v.forceable else ' (--force cannot override this)'}"
        for v in violations
    ]
    return lines
