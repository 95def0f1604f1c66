"""The ``json`` format: the canonical plan document and the apply report, for machines.
Imports only the standard library and the pure core (model, plan_document, safety).

The plan is ``schemas/plan.schema.json``, redacted. The report carries field NAMES only (no
values, no emails), so it can be kept as a CI artifact.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from reconciler.core.model import ApplyReport, Outcome, Plan
from reconciler.core.plan_document import plan_document, seal_document
from reconciler.core.safety import Violation
from reconciler.render.common import inert_json, plan_checksum

#: Version of the apply report document (the plan document has its own, FORMAT_VERSION).
REPORT_FORMAT_VERSION = 1


class JsonFormat:
    """The canonical documents; the safety verdict is not part of a plan document."""

    name = "json"
    description = "the canonical JSON plan (schemas/plan.schema.json) or report, redacted"

    def render_plan(self, plan: Plan, violations: Sequence[Violation]) -> str:
        return render_json(plan)

    def render_report(self, report: ApplyReport) -> str:
        return render_report_json(report)


def render_json(plan: Plan, *, masked: bool = False, seal_key: bytes | None = None) -> str:
    """The canonical document, redacted, pretty-printed (``schemas/plan.schema.json``); with
    ``masked`` also without emails and names (what ``plan --json-out`` uploads); with
    ``seal_key`` sealed (``plan_document.seal_document``), as ``plan`` writes it."""
    document = plan_document(plan, redact=True, mask=masked)
    return _dump(seal_document(document, seal_key) if seal_key is not None else document)


def render_report_json(report: ApplyReport) -> str:
    """The report for machines: counts and every result, with field NAMES only (no values,
    no emails), so the file can be kept as a CI artifact."""
    return _dump(
        {
            "format_version": REPORT_FORMAT_VERSION,
            "checksum": plan_checksum(report.plan),
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
                    # names of what the target did not store (never values)
                    "not_applied": list(result.not_applied),
                    "attempts": result.attempts,
                    "detail": result.detail,
                }
                for result in report.results
            ],
        }
    )


def _dump(document: object) -> str:
    # Strings are JSON-escaped, so no line can start a workflow command; bidi and zero-width
    # characters, which json.dumps leaves raw, are escaped too.
    return inert_json(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)) + "\n"
