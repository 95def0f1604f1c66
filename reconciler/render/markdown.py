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
    REVIEW_ORDER,
    People,
    Section,
    cause_groups,
    context_line,
    defuse_lines,
    department_counts,
    fit,
    inert,
    mask_email,
    people_count,
    person_ids,
    plan_checksum,
    problem_codes,
    render_report_summary,
    render_summary,
    result_detail,
    review_groups,
    show_person,
    show_value,
    shown_outcomes,
)
from reconciler.render.org import render_org_chart

#: Fields whose values identify a person: Markdown shows only that they changed.
NAME_FIELDS: frozenset[str] = frozenset({"email", "first_name", "last_name", "preferred_name"})

CHANGED = "(changed)"
MORE_NOTE = "see the JSON plan artifact"
REPORT_MORE_NOTE = "see the JSON report or the audit log"

#: A group of identical changes lists at most this many of its people.
GROUP_SHOWN = 100
#: The per-department table shows at most this many departments.
MAX_DEPARTMENTS = 25

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
        *_departments(plan),
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
    chart = Section(
        header=(),
        entries=_org_chart(plan),
        footer=(),
        note="the manager chart did not fit; the manager changes are listed above",
    )
    errors = _problem_section("error", plan.errors)
    warnings = _problem_section("warning", plan.warnings)
    sections = [*change_sections, chart, errors, warnings]
    # The changes first, deactivations first of all, then the others shared fairly; then the
    # manager chart, the error details and the warning details. Problems are always counted
    # by code in the sections' headers, which are never cut (docs/decisions.md, 2026-12-02).
    count = len(change_sections)
    deactivations = [i for i, section in enumerate(change_sections) if _is_deactivation(section)]
    others = [i for i in range(count) if i not in deactivations]
    priority = [deactivations, others, [count], [count + 1], [count + 2]]
    tail = ["", f"Checksum: `{plan_checksum(plan)}`"]
    return defuse_lines(fit(head, sections, priority, tail, max_chars))


def _change_sections(plan: Plan, changes: Sequence[Change], mask: bool) -> list[Section]:
    # Deactivations first; identical changes of many people as one line (common.review_groups).
    people = People(plan)
    sections: list[Section] = []
    for action, groups in review_groups(changes):
        count = sum(len(group) for group in groups)
        sections.append(
            Section(
                header=("", f"<details open><summary>{count} to {action.value}</summary>", ""),
                entries=tuple(_entry(plan, people, group, mask) for group in groups),
                footer=("", "</details>"),
                note=MORE_NOTE,
            )
        )
    return sections


def _is_deactivation(section: Section) -> bool:
    return any(line.endswith(f"to {Action.DEACTIVATE.value}</summary>") for line in section.header)


def _entry(plan: Plan, people: People, group: tuple[Change, ...], mask: bool) -> str:
    if len(group) == 1:
        return _change(plan, people, group[0], mask)
    change = group[0]
    shown = "; ".join(_details(plan, people, change, mask)) or "no field changes"
    # Ids only, so that a group of hundreds stays a few lines (emails are in the JSON plan).
    members = ", ".join(_member(member) for member in group[:GROUP_SHOWN])
    if len(group) > GROUP_SHOWN:
        members += f" _… and {len(group) - GROUP_SHOWN} more ({MORE_NOTE})_"
    return "\n".join(
        [
            f"- {shown} — **{people_count(len(group))}**",
            f"  <details><summary>who ({len(group)})</summary>",
            "",
            f"  {members}",
            "",
            "  </details>",
        ]
    )


def _member(change: Change) -> str:
    if change.source_id:
        return f"**{_text(change.source_id)}**"
    return f"Lattice {_code(change.target_id or '?')}"


def _departments(plan: Plan) -> list[str]:
    """The changes per department as a small table, the busiest first, at most
    ``MAX_DEPARTMENTS`` rows."""
    rows = department_counts(plan)
    if not rows:
        return []
    lines = [
        "",
        "| department | " + " | ".join(action.value for action in REVIEW_ORDER) + " |",
        "|---|" + "---:|" * len(REVIEW_ORDER),
    ]
    for name, counts in rows[:MAX_DEPARTMENTS]:
        cells = " | ".join(str(counts[action]) for action in REVIEW_ORDER)
        lines.append(f"| {_text(name)} | {cells} |")
    if len(rows) > MAX_DEPARTMENTS:
        lines += ["", f"_… and {len(rows) - MAX_DEPARTMENTS} more departments ({MORE_NOTE})_"]
    return lines


def _org_chart(plan: Plan) -> tuple[str, ...]:
    lines = render_org_chart(People(plan), plan.changes)
    return ("\n".join(lines),) if lines else ()


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
        *[f"| {outcome.value} | {report.count(outcome)} |" for outcome in shown_outcomes(report)],
        "",
        render_summary(report.plan),
    ]
    if report.interrupted:
        head += ["", "⚠️ **Interrupted**: apply was stopped; changes not started were skipped."]
    sections: list[Section] = []
    for outcome, opened in (
        (Outcome.NOT_APPLIED, True),
        (Outcome.FAILED, True),
        (Outcome.SKIPPED, False),
    ):
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


def _change(plan: Plan, people: People, change: Change, mask: bool) -> str:
    lines = [f"- {_who(change, mask)}"]
    lines += [f"  - {detail}" for detail in _details(plan, people, change, mask)]
    return "\n".join(lines)


def _details(plan: Plan, people: People, change: Change, mask: bool) -> list[str]:
    lines = []
    if change.reason is not None:
        lines.append(f"why: {_text(change.reason)}")
    for field in change.fields:
        lines.append(f"{_code(field.name)}: {_values(plan, people, change, field, mask)}")
    if change.depends_on is not None:
        lines.append(f"after the create of **{_text(change.depends_on)}** (their manager)")
    if change.waits_for:
        lines.append(f"after the changes of **{_text(', '.join(change.waits_for))}**")
    return lines


def _values(plan: Plan, people: People, change: Change, field: FieldChange, mask: bool) -> str:
    if mask and field.name in NAME_FIELDS:
        # Say what happens without the value: set on a create, cleared, or changed.
        if change.action is Action.CREATE or field.before is None:
            return "(set)"
        return "(cleared)" if field.after is None else CHANGED
    hidden = field.name in plan.sensitive_fields
    after = _value(people, field.name, field.after, hidden, mask)
    if change.action is Action.CREATE:
        return after
    return f"{_value(people, field.name, field.before, hidden, mask)} → {after}"


def _value(people: People, name: str, value: FieldValue, hidden: bool, mask: bool) -> str:
    if value is None or hidden:
        return show_value(value, hidden)
    person = people.named(name, value)
    if person is not None:
        # A manager or user attribute: the person, masked as every person here is.
        shown = mask_email(person.email) if mask else show_person(person).rsplit(" (", 1)[0]
        return f"{_code(shown)} ({_text(person_ids(person))})"
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


def _problem_section(noun: str, problems: Sequence[Problem]) -> Section:
    """Problems counted by code (the header, never cut), their details folded below."""
    count = f"{len(problems)} {noun}{'' if len(problems) == 1 else 's'}"
    return Section(
        header=(
            "",
            f"**{count}** by code:",
            "",
            "| code | count |",
            "|---|---:|",
            *[f"| {_code(code)} | {number} |" for code, number in problem_codes(problems)],
            "",
            f"<details><summary>{count}: details</summary>",
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
