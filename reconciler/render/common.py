"""Pieces every format shares: one-line summaries, how a value is shown, email masking, the
checksum line, making text from Personio or Lattice inert, and the size cap long Markdown
documents need. Imports only the standard library and the pure core (model, plan_document).

Every value that came from Personio or Lattice (ids, emails, field values, problem messages,
API error details) passes ``inert`` before it is shown: it stays on its line and cannot drive
a terminal (ESC sequences), reorder text (bidi controls) or hide (zero-width characters, NBSP
and other invisible characters, shown as ``\\u200b``-style escapes); and
``defuse_lines`` makes sure no output line starts a GitHub workflow command (``::``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reconciler.core.cause import split_by_cause
from reconciler.core.model import (
    Action,
    ApplyReport,
    Change,
    ChangeResult,
    FieldValue,
    Outcome,
    Person,
    Plan,
    PlanContext,
    Problem,
)
from reconciler.core.plan_document import REDACTED, compute_checksum

NONE = "(none)"


#: Characters that show as nothing or as a plain space, so two values differing only by one
#: would look the same: no-break and other non-ASCII spaces (NBSP, U+2000…U+200A, U+202F,
#: U+205F, U+3000), zero-width and joiner characters, bidi marks and overrides, soft hyphen,
#: fillers (Hangul, Braille blank), variation selectors and tag characters.
_INVISIBLE = (
    "\u00a0\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2000-\u200f"
    "\u2028-\u202f\u205f-\u206f\u2800\u3000\u3164\ufe00-\ufe0f\ufeff\uffa0"
    "\U000e0000-\U000e007f\U000e0100-\U000e01ef"
)
#: Line breaks, C0 and C1 control characters (ESC among them), DEL and the invisible
#: characters above: what must never reach a terminal, log or comment raw.
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_INVISIBLE}]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: A line a GitHub runner would read as a workflow command (it trims leading blanks first).
_WORKFLOW_COMMAND = re.compile(r"^([ \t]*)::", re.MULTILINE)
#: What ``inert`` escapes that ``json.dumps`` leaves raw (it escapes line breaks and C0 itself).
_UNSAFE_IN_JSON = re.compile(f"[\x7f-\x9f{_INVISIBLE}]")


def inert(text: str) -> str:
    """``text`` as one line that is safe in any terminal, CI log or document: line breaks,
    control, bidi, zero-width and other invisible characters become visible escapes (``\\n``,
    ``\\u001b``, ``\\u200b``, ``\\u00a0``), so a change that differs only by one of them
    is never an invisible change (docs/decisions.md)."""
    return _UNSAFE.sub(_escape, text)


def inert_json(text: str) -> str:
    """JSON text with the characters ``inert`` escapes written as ``\\uXXXX`` escapes
    (a surrogate pair beyond U+FFFF, as JSON spells it).

    Valid JSON stays valid and equal: those characters can only occur inside strings, and
    ``json.dumps`` already escapes line breaks and the other C0 controls."""
    return _UNSAFE_IN_JSON.sub(lambda match: _json_escape(ord(match.group())), text)


def _json_escape(code: int) -> str:
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def defuse_lines(text: str) -> str:
    """``text`` with every line that would start a workflow command (``::error::…``) prefixed
    by a backslash, so a CI runner shows it instead of obeying it."""
    return _WORKFLOW_COMMAND.sub(lambda match: f"{match.group(1)}\\::", text)


def _escape(match: re.Match[str]) -> str:
    character = match.group()
    code = ord(character)
    return _ESCAPES.get(character) or (f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")


def render_summary(plan: Plan) -> str:
    """One line, octoDNS-style: ``Plan: 2 to create, 5 to update, 240 unchanged``."""
    parts = [f"{plan.count(action)} to {action.value}" for action in Action if plan.count(action)]
    if not parts:
        return f"Plan: no changes, {plan.unchanged} unchanged"
    return f"Plan: {', '.join(parts)}, {plan.unchanged} unchanged"


def count_changes(changes: Sequence[Change]) -> str:
    return f"({len(changes)} {'change' if len(changes) == 1 else 'changes'})"


def cause_groups(plan: Plan) -> list[tuple[str, Sequence[Change]]]:
    """A ``--baseline-config`` plan's changes as titled lists, in the order a reviewer reads
    them: what the config change causes and what is pending anyway (both always), then what it
    prevents (only when there is any). Every format renders these same groups."""
    caused, pending = split_by_cause(plan)
    groups: list[tuple[str, Sequence[Change]]] = [
        (f"This pull request causes {count_changes(caused)}", caused),
        (
            f"Pending anyway (would apply on the next nightly run) {count_changes(pending)}",
            pending,
        ),
    ]
    prevented = plan.attribution.prevented if plan.attribution is not None else ()
    if prevented:
        groups.append((f"Prevented by this pull request {count_changes(prevented)}", prevented))
    return groups


def render_report_summary(report: ApplyReport) -> str:
    """One line: ``Apply: 5 applied, 1 failed, 0 skipped (of 6 changes)``; ``not_applied``
    (written, not stored: docs/decisions.md) is named only when there is any."""
    counts = ", ".join(
        f"{report.count(outcome)} {outcome.value}" for outcome in shown_outcomes(report)
    )
    total = len(report.results)
    return f"Apply: {counts} (of {total} {'change' if total == 1 else 'changes'})"


def shown_outcomes(report: ApplyReport) -> tuple[Outcome, ...]:
    """The outcomes a summary names: all, but ``not_applied`` only when some change has it."""
    return tuple(
        outcome
        for outcome in Outcome
        if outcome is not Outcome.NOT_APPLIED or report.count(outcome)
    )


def mask_email(email: str) -> str:
    """``a•••@example.com``: enough to recognise, not enough to read out."""
    local, at, domain = email.strip().partition("@")
    if not at:
        return "•••"
    return f"{local[:1]}•••@{domain}"


def show_value(value: FieldValue, hidden: bool) -> str:
    """A value as shown to people: strings quoted, ``(none)``, or ``(redacted)``."""
    if value is None:
        return NONE
    if hidden:
        return REDACTED
    if isinstance(value, str):
        return inert(json.dumps(value, ensure_ascii=False))
    if isinstance(value, tuple):  # a multi_select's choices: ["Go", "Python"]
        return inert(json.dumps(list(value), ensure_ascii=False))
    return str(value)


def context_line(context: PlanContext, shown: Callable[[str], str]) -> str:
    """One line naming what a plan was computed against; ``shown`` formats each value."""
    commit = f"commit {shown(context.commit)}" if context.commit else "no commit (a local run)"
    return (
        f"Computed against Personio {shown(context.personio_endpoint)}, "
        f"Lattice {shown(context.lattice_endpoint)}, config {shown(context.config_sha256)}, "
        f"{commit}"
    )


def plan_checksum(plan: Plan) -> str:
    """The plan's checksum, computed for a plan built by hand without one."""
    return plan.checksum or compute_checksum(plan)


def result_detail(result: ChangeResult) -> str:
    return inert(result.detail) if result.detail else "(no detail)"


# ---------------------------------------------------------------------------------------------
# The size cap
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Section:
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


def fit(
    head: Sequence[str],
    sections: Sequence[Section],
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


# ---------------------------------------------------------------------------------------------
# The reviewer's view: people, departments, order and groups (docs/decisions.md, 2026-12-02)
# ---------------------------------------------------------------------------------------------

#: The order changes are shown in: what cuts people off first, then the rest as applied.
REVIEW_ORDER: tuple[Action, ...] = (
    Action.DEACTIVATE,
    Action.CREATE,
    Action.LINK,
    Action.REACTIVATE,
    Action.UPDATE,
)

#: Identical changes of at least this many people are shown as one line with the people folded.
GROUP_MIN = 3

_EMAIL_VALUE = re.compile(r"[^@\s]+@[^@\s]+")


class People:
    """``Plan.people`` looked up by Personio id, Lattice id and email."""

    def __init__(self, plan: Plan) -> None:
        self.by_source: dict[str, Person] = {}
        self.by_target: dict[str, Person] = {}
        self.by_email: dict[str, Person] = {}
        for person in plan.people:
            if person.source_id:
                self.by_source.setdefault(person.source_id, person)
            if person.target_id:
                self.by_target.setdefault(person.target_id, person)
            self.by_email.setdefault(person.email.strip().casefold(), person)

    def subject(self, change: Change) -> Person | None:
        """The person a change is about."""
        if change.source_id and change.source_id in self.by_source:
            return self.by_source[change.source_id]
        return self.by_target.get(change.target_id or "")

    def named(self, field: str, value: FieldValue) -> Person | None:
        """Whom a ``manager`` value (a Personio id, else a Lattice id) or an email value of
        another field (a ``user`` custom attribute) names; ``None`` when nobody known."""
        if not isinstance(value, str) or field == "email":
            return None
        if field == "manager":
            return self.by_source.get(value) or self.by_target.get(value)
        if _EMAIL_VALUE.fullmatch(value.strip()):
            return self.by_email.get(value.strip().casefold())
        return None


def person_ids(person: Person) -> str:
    """``Personio 22``, or ``Lattice u_21`` for a user Personio does not know."""
    if person.source_id:
        return f"Personio {person.source_id}"
    return f"Lattice {person.target_id or '?'}"


def show_person(person: Person) -> str:
    """``Ada Example <ada@example.com> (Personio 22)``, for the operator's terminal."""
    name = f"{person.name} " if person.name else ""
    return inert(f"{name}<{person.email}> ({person_ids(person)})")


def department_of(people: People, change: Change) -> str:
    """The department a change counts under: the one it sets, else the desired or current
    record's, else ``(none)``."""
    field = change.field("department")
    value: object = field.after if field is not None else None
    if value is None:
        person = people.subject(change)
        value = person.department if person is not None else None
    return NONE if value is None or value == "" else str(value)


def department_counts(plan: Plan) -> list[tuple[str, dict[Action, int]]]:
    """Changes per department and kind, the busiest department first (then by name)."""
    people = People(plan)
    counts: dict[str, dict[Action, int]] = {}
    for change in plan.changes:
        row = counts.setdefault(department_of(people, change), dict.fromkeys(REVIEW_ORDER, 0))
        row[change.action] += 1
    return sorted(counts.items(), key=lambda item: (-sum(item[1].values()), item[0]))


def review_groups(changes: Sequence[Change]) -> list[tuple[Action, list[tuple[Change, ...]]]]:
    """``changes`` by kind in ``REVIEW_ORDER``; within a kind, changes identical but for the
    person (same fields, values, reason and dependency) of ``GROUP_MIN`` or more people form
    one group, largest first; every other change is a group of one, in plan order."""
    result: list[tuple[Action, list[tuple[Change, ...]]]] = []
    for action in REVIEW_ORDER:
        same: dict[object, list[Change]] = {}
        for change in changes:
            if change.action is action:
                key = (change.fields, change.reason, change.depends_on, change.waits_for)
                same.setdefault(key, []).append(change)
        if not same:
            continue
        big = [tuple(group) for group in same.values() if len(group) >= GROUP_MIN]
        big.sort(key=len, reverse=True)
        single = {id(c) for group in same.values() if len(group) < GROUP_MIN for c in group}
        small = [(change,) for change in changes if id(change) in single]
        result.append((action, [*big, *small]))
    return result


def problem_codes(problems: Sequence[Problem]) -> list[tuple[str, int]]:
    """Each problem code with how many problems have it, the most frequent first."""
    counts: dict[str, int] = {}
    for problem in problems:
        counts[problem.code] = counts.get(problem.code, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def problem_code_summary(problems: Sequence[Problem]) -> str:
    """``3 email_claimed, 1 duplicate_external_id``: ``problem_codes`` on one line."""
    return ", ".join(f"{number} {code}" for code, number in problem_codes(problems))


def people_count(count: int) -> str:
    return f"{count} {'person' if count == 1 else 'people'}"
