"""The canonical JSON document of a plan, and the checksum a reviewer approves.
Imports only the standard library and reconciler.core.model.

The document (``schemas/plan.schema.json``) is what ``plan --format json`` writes. The checksum
is narrower than the document: it covers what ``apply`` would do and which problems held
people back (changes, problem codes and ids, the format version), not the English wording of
problem messages nor the summary counts, so rewording a warning does not make a reviewed plan
stale. See ``docs/github.md`` for how a reviewed plan is applied.
"""

from __future__ import annotations

import hashlib
import json

from reconciler.core.model import FieldValue, Plan, Problem

#: Version of the plan document. 2: the checksum no longer covers messages or the summary.
FORMAT_VERSION = 2

#: What a sensitive value looks like in every document and rendering.
REDACTED = "(redacted)"


def plan_document(plan: Plan, *, redact: bool = True) -> dict[str, object]:
    """The canonical JSON document of a plan (``schemas/plan.schema.json``).

    With ``redact`` every sensitive field shows ``(redacted)`` instead of a value that is set
    (an unset value stays ``null``, so "set" and "cleared" remain distinguishable).
    """
    return {
        "format_version": FORMAT_VERSION,
        "summary": plan.summary,
        "changes": _changes(plan, redact=redact),
        "warnings": [_problem_entry(problem) for problem in plan.warnings],
        "errors": [_problem_entry(problem) for problem in plan.errors],
        "checksum": plan.checksum or compute_checksum(plan),
    }


def compute_checksum(plan: Plan) -> str:
    """``sha256:<hex>`` over what a reviewer approves: the unredacted changes in order, the
    codes and Personio ids of errors and warnings, and the format version.

    Left out: problem messages (their wording may improve between releases), the summary
    (its counts follow from the changes, ``unchanged`` is a population figure) and the
    population figures themselves.
    """
    body = {
        "format_version": FORMAT_VERSION,
        "changes": _changes(plan, redact=False),
        "warnings": _problem_keys(plan.warnings),
        "errors": _problem_keys(plan.errors),
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def redact_value(value: FieldValue) -> FieldValue:
    """``(redacted)`` for a value that is set; ``None`` stays ``None``."""
    return None if value is None else REDACTED


def _changes(plan: Plan, *, redact: bool) -> list[dict[str, object]]:
    hidden = plan.sensitive_fields if redact else frozenset()
    changes: list[dict[str, object]] = []
    for change in plan.changes:
        entry: dict[str, object] = {
            "action": change.action.value,
            "personio_id": change.source_id,
            "lattice_id": change.target_id,
            "email": change.email,
            "fields": {
                field.name: {
                    "from": redact_value(field.before) if field.name in hidden else field.before,
                    "to": redact_value(field.after) if field.name in hidden else field.after,
                }
                for field in change.fields
            },
        }
        if change.depends_on is not None:
            entry["depends_on"] = change.depends_on
        changes.append(entry)
    return changes


def _problem_entry(problem: Problem) -> dict[str, object]:
    # Problem.email is for matching decisions only; it never leaves the process.
    return {"personio_id": problem.source_id, "code": problem.code, "message": problem.message}


def _problem_keys(problems: tuple[Problem, ...]) -> list[list[str]]:
    # Sorted here, not taken in plan order: the plan orders problems by message too, and a
    # reworded message must not reorder what the checksum sees. Duplicates stay counted.
    return sorted([problem.source_id or "", problem.code] for problem in problems)
