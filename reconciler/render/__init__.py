"""Pure renderers: a Plan or an ApplyReport → text (terminal), Markdown (PR comments), JSON.
Imports only the standard library and the pure core (model, planner, safety).

Renderers never change what they show. Sensitive values are ``(redacted)`` in every format;
Markdown, which many people read and which persists, also masks emails and name values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

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
from reconciler.core.plan_document import REDACTED, compute_checksum, plan_document
from reconciler.core.safety import Violation

#: Fields whose values identify a person: Markdown shows only that they changed.
NAME_FIELDS: frozenset[str] = frozenset({"email", "first_name", "last_name", "preferred_name"})

NONE = "(none)"
CHANGED = "(changed)"
MORE_NOTE = "see the JSON plan artifact"
REPORT_MORE_NOTE = "see the JSON report or the audit log"

_TITLES = {
    Action.CREATE: "Create",
    Action.LINK: "Link",
    Action.REACTIVATE: "Reactivate",
    Action.UPDATE: "Update",
    Action.DEACTIVATE: "Deactivate",
}
_EMAILISH = re.compile(r"[^@\s]+@[^@\s]+")


# ---------------------------------------------------------------------------------------------
# Plans
# ---------------------------------------------------------------------------------------------


def render_summary(plan: Plan) -> str:
    """One line, octoDNS-style: ``Plan: 2 to create, 5 to update, 240 unchanged``."""
    parts = [f"{plan.count(action)} to {action.value}" for action in Action if plan.count(action)]
    if not parts:
        return f"Plan: no changes, {plan.unchanged} unchanged"
    return f"Plan: {', '.join(parts)}, {plan.unchanged} unchanged"


def render_text(plan: Plan, violations: Sequence[Violation] = ()) -> str:
    """The plan for the operator's terminal: emails and values, sensitive values redacted."""
    lines = [render_summary(plan)]
    for action in Action:
        group = [change for change in plan.changes if change.action is action]
        if not group:
            continue
        lines += ["", f"{_TITLES[action]} ({len(group)}):"]
        for change in group:
            lines.append(f"  {_text_who(change)}")
            lines += [f"      {_text_field(plan, change, field)}" for field in change.fields]
            if change.depends_on is not None:
                lines.append(f"      after the create of {change.depends_on} (their manager)")
    for title, problems in (("Errors", plan.errors), ("Warnings", plan.warnings)):
        if problems:
            lines += ["", f"{title} ({len(problems)}):"]
            lines += [f"  {_text_problem(problem)}" for problem in problems]
    lines += ["", *_text_verdict(violations), f"Checksum: {_checksum(plan)}"]
    return "\n".join(lines) + "\n"


def render_markdown(
    plan: Plan,
    violations: Sequence[Violation] = (),
    *,
    max_chars: int = 60000,
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
        "| action | count |",
        "|---|---:|",
        *[f"| {name} | {count} |" for name, count in plan.summary.items()],
        "",
        _markdown_verdict(violations),
    ]
    change_sections: list[_Section] = []
    for action in Action:
        group = [change for change in plan.changes if change.action is action]
        if group:
            change_sections.append(
                _Section(
                    header=("", f"<details><summary>{len(group)} to {action.value}</summary>", ""),
                    entries=tuple(_md_change(plan, c, mask_personal) for c in group),
                    footer=("", "</details>"),
                    note=MORE_NOTE,
                )
            )
    errors = _problem_section("error", plan.errors, opened=True)
    warnings = _problem_section("warning", plan.warnings, opened=False)
    sections = [*change_sections, errors, warnings]
    # Errors first: a reviewer must see why people are left untouched. Then the changes,
    # shared fairly so every kind (deactivations too) shows examples. Warnings last.
    count = len(change_sections)
    priority = [[count], list(range(count)), [count + 1]]
    tail = ["", f"Checksum: `{_checksum(plan)}`"]
    return _fit(head, sections, priority, tail, max_chars)


def render_json(plan: Plan) -> str:
    """The canonical document, redacted, pretty-printed (``schemas/plan.schema.json``)."""
    document = plan_document(plan, redact=True)
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------
# Apply reports
# ---------------------------------------------------------------------------------------------


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
                f"  {result.change.action.value} {_text_who(result.change)}: {_detail(result)}"
                for result in results
            ]
    lines += ["", f"Checksum: {_checksum(report.plan)}"]
    return "\n".join(lines) + "\n"


def render_report_markdown(
    report: ApplyReport, *, max_chars: int = 60000, mask_personal: bool = True
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
    sections: list[_Section] = []
    for outcome, opened in ((Outcome.FAILED, True), (Outcome.SKIPPED, False)):
        results = [result for result in report.results if result.outcome is outcome]
        if results:
            sections.append(
                _Section(
                    header=(
                        "",
                        f"<details{' open' if opened else ''}><summary>{len(results)} "
                        f"{outcome.value}</summary>",
                        "",
                    ),
                    entries=tuple(_md_result(result, mask_personal) for result in results),
                    footer=("", "</details>"),
                    note=REPORT_MORE_NOTE,
                )
            )
    tail = ["", f"Checksum: `{_checksum(report.plan)}`"]
    return _fit(head, sections, [[index] for index in range(len(sections))], tail, max_chars)


def render_report_json(report: ApplyReport) -> str:
    """The report for machines: counts and every result, with field NAMES only (no values,
    no emails), so the file can be kept as a CI artifact."""
    document = {
        "format_version": 1,
        "checksum": _checksum(report.plan),
        "summary": report.plan.summary,
        "outcomes": {outcome.value: report.count(outcome) for outcome in Outcome},
        "interrupted": report.interrupted,
        "ok": report.ok,
        "results": [
            {
                "action": result.change.action.value,
                "personio_id": result.change.source_id,
                "lattice_id": result.target_id,
                "fields": [field.name for field in result.change.fields],
                "outcome": result.outcome.value,
                "attempts": result.attempts,
                "detail": result.detail,
            }
            for result in report.results
        ],
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_report_summary(report: ApplyReport) -> str:
    """One line: ``Apply: 5 applied, 1 failed, 0 skipped (of 6 changes)``."""
    counts = ", ".join(f"{report.count(outcome)} {outcome.value}" for outcome in Outcome)
    total = len(report.results)
    return f"Apply: {counts} (of {total} {'change' if total == 1 else 'changes'})"


def _detail(result: ChangeResult) -> str:
    return result.detail or "(no detail)"


# ---------------------------------------------------------------------------------------------
# Text pieces
# ---------------------------------------------------------------------------------------------


def _text_who(change: Change) -> str:
    where = "new" if change.target_id is None else f"Lattice {change.target_id}"
    return f"{change.source_id or '(no Personio id)'} {change.email} ({where})"


def _text_field(plan: Plan, change: Change, field: FieldChange) -> str:
    hidden = field.name in plan.sensitive_fields
    after = _show(field.after, hidden)
    if change.action is Action.CREATE:
        return f"{field.name}: {after}"
    return f"{field.name}: {_show(field.before, hidden)} → {after}"


def _text_problem(problem: Problem) -> str:
    return f"{problem.source_id or '-'} {problem.code}: {problem.message}"


def _text_verdict(violations: Sequence[Violation]) -> list[str]:
    if not violations:
        return ["Safety: ok — within the safety policy"]
    lines = ["Safety: REFUSED by the safety policy"]
    lines += [
        f"  - {v.message}{'' if v.forceable else ' (--force cannot override this)'}"
        for v in violations
    ]
    return lines


def _show(value: FieldValue, hidden: bool) -> str:
    """A value as shown to people: strings quoted, ``(none)``, or ``(redacted)``."""
    if value is None:
        return NONE
    if hidden:
        return REDACTED
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _checksum(plan: Plan) -> str:
    return plan.checksum or compute_checksum(plan)


# ---------------------------------------------------------------------------------------------
# Markdown pieces
# ---------------------------------------------------------------------------------------------


def mask_email(email: str) -> str:
    """``a•••@example.com``: enough to recognise, not enough to read out."""
    local, at, domain = email.strip().partition("@")
    if not at:
        return "•••"
    return f"{local[:1]}•••@{domain}"


def _md_who(change: Change, mask: bool) -> str:
    who = f"**{_md_text(change.source_id or '(no Personio id)')}**"
    email = mask_email(change.email) if mask else change.email
    where = "new" if change.target_id is None else f"Lattice {_code(change.target_id)}"
    return f"{who} · {_code(email)} · {where}"


def _md_change(plan: Plan, change: Change, mask: bool) -> str:
    lines = [f"- {_md_who(change, mask)}"]
    for field in change.fields:
        lines.append(f"  - {_code(field.name)}: {_md_values(plan, change, field, mask)}")
    if change.depends_on is not None:
        lines.append(f"  - after the create of **{_md_text(change.depends_on)}** (their manager)")
    return "\n".join(lines)


def _md_values(plan: Plan, change: Change, field: FieldChange, mask: bool) -> str:
    if mask and field.name in NAME_FIELDS:
        # Say what happens without the value: set on a create, cleared, or changed.
        if change.action is Action.CREATE or field.before is None:
            return "(set)"
        return "(cleared)" if field.after is None else CHANGED
    hidden = field.name in plan.sensitive_fields
    after = _md_value(field.after, hidden, mask)
    if change.action is Action.CREATE:
        return after
    return f"{_md_value(field.before, hidden, mask)} → {after}"


def _md_value(value: FieldValue, hidden: bool, mask: bool) -> str:
    if value is None or hidden:
        return _show(value, hidden)
    if mask and isinstance(value, str) and _EMAILISH.fullmatch(value.strip()):
        # e.g. a relationship attribute ("Buddy") holds another person's email.
        value = mask_email(value)
    return _code(_show(value, hidden))


def _md_result(result: ChangeResult, mask: bool) -> str:
    change = result.change
    return f"- {change.action.value} {_md_who(change, mask)}: {_md_text(_detail(result))}"


def _markdown_verdict(violations: Sequence[Violation]) -> str:
    if not violations:
        return "✅ **safe**: within the safety policy"
    reasons = "; ".join(
        v.message + ("" if v.forceable else " (--force cannot override this)") for v in violations
    )
    return f"⛔ **refused**: {_md_text(reasons)}"


def _problem_section(noun: str, problems: Sequence[Problem], *, opened: bool) -> _Section:
    count = f"{len(problems)} {noun}{'' if len(problems) == 1 else 's'}"
    return _Section(
        header=(
            "",
            f"<details{' open' if opened else ''}><summary>{count}</summary>",
            "",
            "| code | Personio id | message |",
            "|---|---|---|",
        ),
        entries=tuple(
            f"| {_code(p.code)} | {_md_text(p.source_id or '-')} | {_md_text(p.message)} |"
            for p in problems
        ),
        footer=("", "</details>"),
        note=MORE_NOTE,
    )


def _code(text: str) -> str:
    """``text`` (one line: values are JSON-quoted) as a code span, whatever backticks it holds."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest or text.startswith(" ") or text.endswith(" ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_text(text: str) -> str:
    """Plain text that Markdown and HTML must not interpret."""
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_\[\]|#])", r"\\\1", text)


# ---------------------------------------------------------------------------------------------
# The size cap
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Section:
    """A part of a Markdown document whose entries may be cut, with a note saying so."""

    header: tuple[str, ...]
    entries: tuple[str, ...]
    footer: tuple[str, ...]
    note: str

    def render(self, shown: int) -> list[str]:
        if not self.entries:
            return []
        lines = [*self.header, *self.entries[:shown]]
        left = len(self.entries) - shown
        if left:
            lines.append(self.note_line(left))
        return [*lines, *self.footer]

    def note_line(self, left: int) -> str:
        # The blank line ends the list or table, so the note is not read as part of it.
        return f"\n_… and {left} more not shown ({self.note})_"

    def growth(self, shown: int) -> int:
        """How many characters showing one more entry adds (the note shrinks or goes)."""
        left = len(self.entries) - shown
        entry = len(self.entries[shown]) + 1
        if left == 1:
            return entry - len(self.note_line(1)) - 1
        return entry + len(self.note_line(left - 1)) - len(self.note_line(left))


def _fit(
    head: Sequence[str],
    sections: Sequence[_Section],
    priority: Sequence[Sequence[int]],
    tail: Sequence[str],
    max_chars: int,
) -> str:
    """Join the document, leaving out whole entries until it fits ``max_chars``.

    Every section first gets its header and an "… and N more" note. Then entries are added
    group by group (``priority``), taking turns between the sections of a group, while they
    fit; a group that did not fit entirely lets nothing of later groups in. Sizes are
    tracked exactly, so the cap is used fully and never exceeded.
    """

    def join(shown: dict[int, int]) -> str:
        lines = list(head)
        for index, section in enumerate(sections):
            lines += section.render(shown[index])
        return "\n".join([*lines, *tail]) + "\n"

    shown = dict.fromkeys(range(len(sections)), 0)
    document = join(shown)
    if len(document) > max_chars:
        return _cut_lines(document, max_chars)
    size = len(document)
    for group in priority:
        filling = [index for index in group if sections[index].entries]
        while filling:
            still_filling = []
            for index in filling:
                growth = sections[index].growth(shown[index])
                if size + growth > max_chars:
                    continue  # this section is full: later entries must not jump ahead
                size += growth
                shown[index] += 1
                if shown[index] < len(sections[index].entries):
                    still_filling.append(index)
            filling = still_filling
        if any(shown[index] < len(sections[index].entries) for index in group):
            break
    return join(shown)


def _cut_lines(document: str, max_chars: int) -> str:
    """Whole lines from the start that fit: only for caps too small for even the skeleton."""
    return document[: document.rfind("\n", 0, max_chars) + 1]
