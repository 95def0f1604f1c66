"""How ``reconcile explain`` shows one person's story: text for the terminal, JSON for machines.
Imports only the standard library, the pure core and reconciler.render.common.

Sensitive values arrive already ``(redacted)`` (``core.explain``); everything that came from
Personio or Lattice is made inert, as in the plan formats.
"""

from __future__ import annotations

import json

from reconciler.core.explain import Explanation
from reconciler.core.model import Action, Change
from reconciler.core.plan_document import REDACTED
from reconciler.render.common import NONE, defuse_lines, inert, inert_json, show_value


def render_explanation_text(story: Explanation) -> str:
    """The story for the operator's terminal: emails and values shown, sensitive redacted."""
    who = inert(story.source_id or "(no Personio id)")
    lines = [f"Person: {who} {inert(story.email or '(no email)')}"]
    if story.in_source:
        lines.append(
            f"Personio: employment type {inert(story.employment_type or NONE)}, "
            f"status {inert(story.status or NONE)}"
            + (" (a contractor: title and manager are not managed)" if story.contractor else "")
        )
    else:
        lines.append("Personio: not found")
    lines.append(f"Scope: {inert(story.scope_rule)}")
    lines += ["", "Matching:", *[f"  {inert(line)}" for line in story.matching]]
    if story.target_id is not None:
        state = "active" if story.target_active else "deactivated"
        lines.append(f"  → Lattice user {inert(story.target_id)} ({state})")
    if story.candidates:
        lines.append(f"  other candidates: {', '.join(inert(c) for c in story.candidates)}")
    if story.fields:
        lines += ["", "Fields (Personio attribute: value → desired | Lattice value → outcome):"]
        for field in story.fields:
            hidden = field.name in story.sensitive_fields
            lines.append(
                f"  {field.name} ({inert(field.attribute)}): "
                f"{_value(field.source_value, hidden)} → {_value(field.desired, hidden)} | "
                f"Lattice {_value(field.target_value, hidden)} → {inert(field.outcome)}"
            )
    for title, problems in (("Errors", story.errors), ("Warnings", story.warnings)):
        if problems:
            lines += ["", f"{title}:"]
            lines += [f"  {p.code}: {inert(p.message)}" for p in problems]
    lines += ["", "Apply would send:"]
    lines += _change_lines(story.change, story.sensitive_fields)
    return defuse_lines("\n".join(lines) + "\n")


def render_explanation_json(story: Explanation) -> str:
    """The story as one JSON document (redacted like the plan document)."""
    hidden = story.sensitive_fields
    document: dict[str, object] = {
        "query": story.query,
        "personio_id": story.source_id,
        "email": story.email,
        "in_personio": story.in_source,
        "employment_type": story.employment_type,
        "status": story.status,
        "in_scope": story.in_scope,
        "scope_rule": story.scope_rule,
        "contractor": story.contractor,
        "matching": list(story.matching),
        "lattice_id": story.target_id,
        "lattice_active": story.target_active,
        "candidates": list(story.candidates),
        "fields": [
            {
                "name": field.name,
                "personio_attribute": field.attribute,
                "personio_value": field.source_value,
                "desired": field.desired,
                "lattice_value": field.target_value,
                "outcome": field.outcome,
            }
            for field in story.fields
        ],
        "errors": [{"code": p.code, "message": p.message} for p in story.errors],
        "warnings": [{"code": p.code, "message": p.message} for p in story.warnings],
        "change": _change_document(story.change, hidden),
    }
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
    return inert_json(text) + "\n"


def _value(value: object, hidden: bool) -> str:
    if value == REDACTED:
        return REDACTED
    if value is None or isinstance(value, str | int | float):
        return show_value(value, hidden)
    if isinstance(value, tuple) and all(isinstance(item, str) for item in value):
        return show_value(value, hidden)  # a multi_select's choices
    return inert(str(value))


def _change_lines(change: Change | None, hidden: frozenset[str]) -> list[str]:
    if change is None:
        return ["  nothing"]
    where = "a new user" if change.target_id is None else f"Lattice user {inert(change.target_id)}"
    lines = [f"  {change.action.value} {where}"]
    for field in change.fields:
        secret = field.name in hidden
        after = show_value(field.after, secret)
        if change.action is Action.CREATE:
            lines.append(f"    {field.name}: {after}")
        else:
            lines.append(f"    {field.name}: {show_value(field.before, secret)} → {after}")
    if change.depends_on is not None:
        lines.append(f"    after the create of {inert(change.depends_on)} (their manager)")
    if change.waits_for:
        lines.append(f"    after the changes of {inert(', '.join(change.waits_for))}")
    return lines


def _change_document(change: Change | None, hidden: frozenset[str]) -> object:
    if change is None:
        return None

    def shown(value: object, name: str) -> object:
        return REDACTED if name in hidden and value is not None else value

    return {
        "action": change.action.value,
        "lattice_id": change.target_id,
        "fields": {
            f.name: {"from": shown(f.before, f.name), "to": shown(f.after, f.name)}
            for f in change.fields
        },
        "depends_on": change.depends_on,
        "waits_for": list(change.waits_for),
    }
