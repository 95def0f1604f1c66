"""The ``text`` format: plans and apply reports for the operator's terminal.
Imports only the standard library, the pure core and reconciler.render.common.

Emails and values are shown as they are; sensitive values are ``(redacted)``. Everything that
came from Personio or Lattice is made inert first (``common.inert``, ``common.defuse_lines``).
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.core.model import Action, ApplyReport, Change, FieldChange, Outcome, Plan, Problem
from reconciler.core.safety import Violation
from reconciler.render.common import (
    cause_groups,
    context_line,
    defuse_lines,
    inert,
    plan_checksum,
    render_report_summary,
    render_summary,
    result_detail,
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
    lines: list[str] = []
    for action in Action:
        group = [change for change in changes if change.action is action]
        if not group:
            continue
        lines += ["", f"{indent}{_TITLES[action]} ({len(group)}):"]
        for change in group:
            lines.append(f"{indent}  {_who(change)}")
            if change.reason is not None:
                lines.append(f"{indent}      why: {inert(change.reason)}")
            lines += [f"{indent}      {_field(plan, change, field)}" for field in change.fields]
            if change.depends_on is not None:
                manager = inert(change.depends_on)
                lines.append(f"{indent}      after the create of {manager} (their manager)")
    return lines


def render_report_text(report: ApplyReport) -> str:
    """What apply did, for the terminal: counts, then every failed and skipped change."""
    lines = [render_report_summary(report), render_summary(report.plan)]
    if report.interrupted:
        lines.append("Interrupted: apply was stopped; changes not started were skipped.")
    for outcome, title in ((Outcome.FAILED, "Failed"), (Outcome.SKIPPED, "Skipped")):
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


def _field(plan: Plan, change: Change, field: FieldChange) -> str:
    hidden = field.name in plan.sensitive_fields
    after = show_value(field.after, hidden)
    if change.action is Action.CREATE:
        return f"{field.name}: {after}"
    return f"{field.name}: {show_value(field.before, hidden)} → {after}"


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
