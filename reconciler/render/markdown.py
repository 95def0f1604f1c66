"""The ``markdown`` format: plans and apply reports for pull-request comments and job summaries.
Imports only the standard library, the pure core and reconciler.render.common.

Many people read these and they persist, so besides redacting sensitive values it masks
emails and shows only that a name field changed; documents are capped in size.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from reconciler.core.model import (
    Action,
    ApplyReport,
    Change,
    ChangeResult,
    FieldChange,
    FieldValue,
    Outcome,
    Plan,
    Problem,
)
from reconciler.core.safety import Violation
from reconciler.render.common import (
    Section,
    cause_groups,
    context_line,
    defuse_lines,
    fit,
    inert,
    mask_email,
    plan_checksum,
    render_report_summary,
    render_summary,
    result_detail,
    show_value,
)

#: Fields whose values identify a person: Markdown shows only that they changed.
NAME_FIELDS: frozenset[str] = frozenset({"email", "first_name", "last_name", "preferred_name"})

CHANGED = "(changed)"
MORE_NOTE = "see the JSON plan artifact"
REPORT_MORE_NOTE = "see the JSON report or the audit log"

#: GitHub refuses comments longer than 65,536 characters; this leaves room to spare.
MAX_CHARS = 60000

_EMAILISH = re.compile(r"[^@\s]+@[^@\s]+")


class MarkdownFormat:
    """Markdown for pull requests and job summaries: masked, capped at ``MAX_CHARS``."""

    name = "markdown"
    description = "Markdown for pull requests and job summaries: emails and names masked"

    def render_plan(self, plan: Plan, violations: Sequence[Violation]) -> str:
        return render_markdown(plan, violations)

    def render_report(self, report: ApplyReport) -> str:
        return render_report_markdown(report)


def render_markdown(
    plan: Plan,
    violations: Sequence[Violation] = (),
    *,
    max_chars: int = MAX_CHARS,
    mask_personal: bool = True,
) -> str:
    """The plan for pull-request comments and job summaries, never longer than ``max_chars``.

    With ``mask_personal`` people appear as Personio id + masked email, and name fields as
    ``(changed)``. When the plan does not fit, whole entries are left out and each cut
    section says how many (errors are kept first, then changes, then warnings).
    """
    head = [
        "### Personio → Lattice plan",
        "",
        f"**{render_summary(plan)}**",
        "",
        *([context_line(plan.context, _code), ""] if plan.context is not None else []),
        "| action | count |",
        "|---|---:|",
        *[f"| {name} | {count} |" for name, count in plan.summary.items()],
        "",
        _verdict(violations),
    ]
    if plan.attribution is None:
        change_sections = _change_sections(plan, plan.changes, mask_personal)
    else:
        # Reviewing a config change: what it causes first, then what is pending anyway.
        change_sections = [
            section
            for title, changes in cause_groups(plan)
            for section in _titled(title, plan, changes, mask_personal)
        ]
    errors = _problem_section("error", plan.errors, opened=True)
    warnings = _problem_section("warning", plan.warnings, opened=False)
    sections = [*change_sections, errors, warnings]
    # Errors first: a reviewer must see why people are left untouched. Then the changes,
    # shared fairly so every kind (deactivations too) shows examples. Warnings last.
    count = len(change_sections)
    priority = [[count], list(range(count)), [count + 1]]
    tail = ["", f"Checksum: `{plan_checksum(plan)}`"]
    return defuse_lines(fit(head, sections, priority, tail, max_chars))


def _change_sections(plan: Plan, changes: Sequence[Change], mask: bool) -> list[Section]:
    sections: list[Section] = []
    for action in Action:
        group = [change for change in changes if change.action is action]
        if group:
            sections.append(
                Section(
                    header=("", f"<details><summary>{len(group)} to {action.value}</summary>", ""),
                    entries=tuple(_change(plan, c, mask) for c in group),
                    footer=("", "</details>"),
                    note=MORE_NOTE,
                )
            )
    return sections


def _titled(title: str, plan: Plan, changes: Sequence[Change], mask: bool) -> list[Section]:
    """The change list under a heading (the heading stays even when the list is empty)."""
    sections = _change_sections(plan, changes, mask)
    heading = ("", f"#### {title}")
    if not sections:
        return [Section(header=heading, entries=("", "_nothing_"), footer=(), note=MORE_NOTE)]
    first = sections[0]
    sections[0] = Section(
        header=(*heading, *first.header),
        entries=first.entries,
        footer=first.footer,
        note=first.note,
    )
    return sections


def render_report_markdown(
    report: ApplyReport, *, max_chars: int = MAX_CHARS, mask_personal: bool = True
) -> str:
    """What apply did, for job summaries and comments; capped like ``render_markdown``."""
    head = [
        "### Personio → Lattice apply report",
        "",
        f"**{render_report_summary(report)}**",
        "",
        "| outcome | count |",
        "|---|---:|",
        *[f"| {outcome.value} | {report.count(outcome)} |" for outcome in Outcome],
        "",
        render_summary(report.plan),
    ]
    if report.interrupted:
        head += ["", "⚠️ **Interrupted**: apply was stopped; changes not started were skipped."]
    sections: list[Section] = []
    for outcome, opened in ((Outcome.FAILED, True), (Outcome.SKIPPED, False)):
        results = [result for result in report.results if result.outcome is outcome]
        if results:
            sections.append(
                Section(
                    header=(
                        "",
                        f"<details{' open' if opened else ''}><summary>{len(results)} "
                        f"{outcome.value}</summary>",
                        "",
                    ),
                    entries=tuple(_result(result, mask_personal) for result in results),
                    footer=("", "</details>"),
                    note=REPORT_MORE_NOTE,
                )
            )
    tail = ["", f"Checksum: `{plan_checksum(report.plan)}`"]
    return defuse_lines(
        fit(head, sections, [[index] for index in range(len(sections))], tail, max_chars)
    )


def _who(change: Change, mask: bool) -> str:
    who = f"**{_text(change.source_id or '(no Personio id)')}**"
    email = mask_email(change.email) if mask else change.email
    where = "new" if change.target_id is None else f"Lattice {_code(change.target_id)}"
    return f"{who} · {_code(email)} · {where}"


def _change(plan: Plan, change: Change, mask: bool) -> str:
    lines = [f"- {_who(change, mask)}"]
    if change.reason is not None:
        lines.append(f"  - why: {_text(change.reason)}")
    for field in change.fields:
        lines.append(f"  - {_code(field.name)}: {_values(plan, change, field, mask)}")
    if change.depends_on is not None:
        lines.append(f"  - after the create of **{_text(change.depends_on)}** (their manager)")
    return "\n".join(lines)


def _values(plan: Plan, change: Change, field: FieldChange, mask: bool) -> str:
    if mask and field.name in NAME_FIELDS:
        # Say what happens without the value: set on a create, cleared, or changed.
        if change.action is Action.CREATE or field.before is None:
            return "(set)"
        return "(cleared)" if field.after is None else CHANGED
    hidden = field.name in plan.sensitive_fields
    after = _value(field.after, hidden, mask)
    if change.action is Action.CREATE:
        return after
    return f"{_value(field.before, hidden, mask)} → {after}"


def _value(value: FieldValue, hidden: bool, mask: bool) -> str:
    if value is None or hidden:
        return show_value(value, hidden)
    if mask and isinstance(value, str) and _EMAILISH.fullmatch(value.strip()):
        # e.g. a relationship attribute ("Buddy") holds another person's email.
        value = mask_email(value)
    return _code(show_value(value, hidden))


def _result(result: ChangeResult, mask: bool) -> str:
    change = result.change
    return f"- {change.action.value} {_who(change, mask)}: {_text(result_detail(result))}"


def _verdict(violations: Sequence[Violation]) -> str:
    if not violations:
        return "✅ **safe**: within the safety policy"
    reasons = "; ".join(
        v.message + ("" if v.forceable else " (--force cannot override this)") for v in violations
    )
    return f"⛔ **refused**: {_text(reasons)}"


def _problem_section(noun: str, problems: Sequence[Problem], *, opened: bool) -> Section:
    count = f"{len(problems)} {noun}{'' if len(problems) == 1 else 's'}"
    return Section(
        header=(
            "",
            f"<details{' open' if opened else ''}><summary>{count}</summary>",
            "",
            "| code | Personio id | message |",
            "|---|---|---|",
        ),
        entries=tuple(
            f"| {_code(p.code)} | {_text(p.source_id or '-')} | {_text(p.message)} |"
            for p in problems
        ),
        footer=("", "</details>"),
        note=MORE_NOTE,
    )


def _code(text: str) -> str:
    """``text`` as a one-line code span, whatever backticks it holds (inside one, HTML,
    mentions and links are inert)."""
    text = inert(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest or text.startswith(" ") or text.endswith(" ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _text(text: str) -> str:
    """Plain text that Markdown and HTML must not interpret: on one line, no HTML, no
    ``@mention`` and no autolink (a zero-width space entity breaks both, as Renovate does)."""
    text = inert(text.replace("\r\n", " ").replace("\n", " ").replace("\r", " "))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"([\\`*_\[\]|#~])", r"\\\1", text)
    text = text.replace("@", "@&#8203;").replace("://", ":&#8203;//")
    return re.sub(r"(?i)\bwww\.", "www&#8203;.", text)
