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
from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.core.cause import split_by_cause
from reconciler.core.model import (
    Action,
    ApplyReport,
    Change,
    ChangeResult,
    FieldValue,
    Outcome,
    Plan,
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
    """One line: ``Apply: 5 applied, 1 failed, 0 skipped (of 6 changes)``."""
    counts = ", ".join(f"{report.count(outcome)} {outcome.value}" for outcome in Outcome)
    total = len(report.results)
    return f"Apply: {counts} (of {total} {'change' if total == 1 else 'changes'})"


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
    return str(value)


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
