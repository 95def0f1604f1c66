"""The canonical JSON document of a plan, and the checksum a reviewer approves.
Imports only the standard library and reconciler.core.model.

The document (``schemas/plan.schema.json``) is what ``plan --format json`` writes. The checksum
is narrower than the document: it covers what ``apply`` would do and which problems held
people back (changes, problem codes and ids, the format version), not the English wording of
problem messages nor the summary counts, so rewording a warning does not make a reviewed plan
stale. See ``docs/github.md`` for how a reviewed plan is applied.

The checksum covers the *unredacted* values, so a plain hash of it would let anyone holding the
published document test guesses (a birthdate has a few thousand candidates). A published plan
is therefore sealed with a key (``seal_plan``): ``hmac-sha256:`` over the same body, keyed by a
secret both ``plan`` and ``apply`` hold. The unkeyed ``sha256:`` form is only the planner's own
fingerprint of a plan nobody has sealed yet; ``apply`` refuses it. See docs/security.md.

The checksum cannot be recomputed from a masked file (it covers the real emails), so a written
document also carries a ``seal`` (``seal_document``): the same key over the document's own
canonical JSON, everything but the seal itself. ``apply --plan`` checks it first, so a change
deleted from the file, a value edited or ``masked`` flipped is refused as "edited" instead of
being applied silently. See docs/decisions.md (2026-12-02: sealed receipt).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import replace

from reconciler.core.model import FieldValue, Plan, PlanContext, Problem
from reconciler.core.normalise import fold

#: The prefix of a keyed checksum, the only kind ``apply`` accepts.
KEYED_PREFIX = "hmac-sha256:"
#: The prefix of the unkeyed fingerprint of a plan not sealed yet.
UNKEYED_PREFIX = "sha256:"

#: Version of the plan document. 2: the checksum no longer covers messages or the summary.
FORMAT_VERSION = 2

#: What a sensitive value looks like in every document and rendering.
REDACTED = "(redacted)"
#: What an email or a name looks like in a masked document.
MASKED = "(masked)"

#: Fields whose values identify a person: a masked document shows only whether they are set.
PERSONAL_FIELDS: frozenset[str] = frozenset({"email", "first_name", "last_name", "preferred_name"})

_EMAILISH = re.compile(r"[^@\s]+@[^@\s]+")


def plan_document(plan: Plan, *, redact: bool = True, mask: bool = False) -> dict[str, object]:
    """The canonical JSON document of a plan (``schemas/plan.schema.json``).

    With ``redact`` every sensitive field shows ``(redacted)`` instead of a value that is set
    (an unset value stays ``null``, so "set" and "cleared" remain distinguishable). With
    ``mask`` (what ``plan --json-out`` uploads) emails, name fields and any value that looks
    like an email show ``(masked)`` as well, and the document says ``"masked": true``; the
    checksum still covers the real values, so ``apply --plan`` works from it.
    """
    changes = _changes(plan, redact=redact or mask, mask=mask)
    _add_personio_ids(plan, changes)
    document: dict[str, object] = {
        "format_version": FORMAT_VERSION,
        "summary": plan.summary,
        "changes": changes,
        "warnings": [_problem_entry(problem) for problem in plan.warnings],
        "errors": [_problem_entry(problem) for problem in plan.errors],
        "checksum": plan.checksum or compute_checksum(plan),
    }
    if mask:
        document["masked"] = True
    if plan.context is not None:
        document["context"] = context_entry(plan.context)
    if plan.attribution is not None:
        # An annotation for reviewers (plan --baseline-config); the checksum never covers it.
        for entry, cause in zip(changes, plan.attribution.causes, strict=True):
            entry["cause"] = cause.cause
            fields = entry["fields"]
            assert isinstance(fields, dict)
            for name, shown in fields.items():
                shown["cause"] = cause.fields.get(name, cause.cause)
        prevented = replace(plan, changes=plan.attribution.prevented)
        document["prevented"] = _changes(prevented, redact=redact or mask, mask=mask)
    return document


def compute_checksum(plan: Plan, key: bytes | None = None) -> str:
    """``hmac-sha256:<hex>`` keyed by ``key`` over what a reviewer approves: the unredacted
    changes in order, the codes and Personio ids of errors and warnings, and the format version.
    Without a key, the unkeyed ``sha256:<hex>`` fingerprint (never published: see the module).

    Left out: problem messages (their wording may improve between releases), the summary
    (its counts follow from the changes, ``unchanged`` is a population figure) and the
    population figures themselves.
    """
    body = {
        "format_version": FORMAT_VERSION,
        # Reasons are wording, like messages: apply does the same whatever they say.
        "changes": _changes(plan, redact=False, reasons=False),
        "warnings": _problem_keys(plan.warnings),
        "errors": _problem_keys(plan.errors),
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if key is None:
        return UNKEYED_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()
    if not key:
        raise ValueError("a plan is sealed with a non-empty key")
    return KEYED_PREFIX + hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def seal_plan(plan: Plan, key: bytes) -> Plan:
    """``plan`` carrying its keyed checksum: what may be shown, published and applied."""
    return replace(plan, checksum=compute_checksum(plan, key))


#: Separates the document seal from the plan checksum made with the same key.
_SEAL_CONTEXT = b"personio-lattice-reconciler plan document seal v1\x00"


def document_seal(document: Mapping[str, object], key: bytes) -> str:
    """``hmac-sha256:<hex>`` keyed by ``key`` over the canonical JSON of ``document`` without
    its ``seal``: what the written file shows, masked or not, context and annotations included."""
    if not key:
        raise ValueError("a document is sealed with a non-empty key")
    body = {name: value for name, value in document.items() if name != "seal"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hmac.new(key, _SEAL_CONTEXT + text.encode("utf-8"), hashlib.sha256).hexdigest()
    return KEYED_PREFIX + digest


def seal_document(document: Mapping[str, object], key: bytes) -> dict[str, object]:
    """``document`` with its ``seal`` (``document_seal``): what ``plan`` writes to a file."""
    return {**document, "seal": document_seal(document, key)}


def seal_matches(document: Mapping[str, object], key: bytes) -> bool:
    """Whether ``document`` (as read back from its file) carries the seal ``key`` gives it."""
    seal = document.get("seal")
    if not isinstance(seal, str):
        return False
    return hmac.compare_digest(seal, document_seal(document, key))


def context_entry(context: PlanContext) -> dict[str, object]:
    """The ``context`` of a plan document; ``commit`` only when there is one."""
    entry: dict[str, object] = {
        "personio": context.personio_endpoint,
        "lattice": context.lattice_endpoint,
        "config_sha256": context.config_sha256,
    }
    if context.commit is not None:
        entry["commit"] = context.commit
    return entry


def redact_value(value: FieldValue) -> FieldValue:
    """``(redacted)`` for a value that is set; ``None`` stays ``None``."""
    return None if value is None else REDACTED


def _changes(
    plan: Plan, *, redact: bool, mask: bool = False, reasons: bool = True
) -> list[dict[str, object]]:
    hidden = plan.sensitive_fields if redact else frozenset()
    changes: list[dict[str, object]] = []
    for change in plan.changes:
        entry: dict[str, object] = {
            "action": change.action.value,
            "personio_id": change.source_id,
            "lattice_id": change.target_id,
            "email": MASKED if mask else change.email,
            "fields": {
                field.name: {
                    "from": _shown(field.before, field.name in hidden, mask, field.name),
                    "to": _shown(field.after, field.name in hidden, mask, field.name),
                }
                for field in change.fields
            },
        }
        if change.depends_on is not None:
            entry["depends_on"] = change.depends_on
        if change.waits_for:
            entry["waits_for"] = list(change.waits_for)
        if reasons and change.reason is not None:
            entry["reason"] = change.reason
        changes.append(entry)
    return changes


def _add_personio_ids(plan: Plan, changes: list[dict[str, object]]) -> None:
    """Next to a value that names someone by other means than their Personio id (a ``user``
    attribute's email, a manager known only by a Lattice id), that person's Personio id as
    ``from_personio_id`` / ``to_personio_id``. From ``plan.people``: never in the checksum."""
    if not plan.people:
        return
    by_target = {p.target_id: p.source_id for p in plan.people if p.target_id and p.source_id}
    by_source = {p.source_id for p in plan.people if p.source_id}
    by_email = {fold(p.email): p.source_id for p in plan.people if p.source_id}
    for change, entry in zip(plan.changes, changes, strict=True):
        fields = entry["fields"]
        assert isinstance(fields, dict)
        for field in change.fields:
            if field.name == "email" or field.name in plan.sensitive_fields:
                continue
            for side, value in (("from", field.before), ("to", field.after)):
                if not isinstance(value, str):
                    continue
                if field.name == "manager":
                    found = None if value in by_source else by_target.get(value)
                elif _EMAILISH.fullmatch(value.strip()):
                    found = by_email.get(fold(value))
                else:
                    continue
                if found is not None:
                    fields[field.name][f"{side}_personio_id"] = found


def _shown(value: FieldValue, hidden: bool, mask: bool, name: str) -> object:
    if value is None:
        return None
    if hidden:
        return REDACTED
    if mask and (name in PERSONAL_FIELDS or (isinstance(value, str) and _EMAILISH.search(value))):
        return MASKED
    if isinstance(value, tuple):
        # a multi_select's choices: a JSON list, so a document read back compares equal
        return list(value)
    return value


def _problem_entry(problem: Problem) -> dict[str, object]:
    # Problem.email is for matching decisions only; it never leaves the process.
    return {"personio_id": problem.source_id, "code": problem.code, "message": problem.message}


def _problem_keys(problems: tuple[Problem, ...]) -> list[list[str]]:
    # Sorted here, not taken in plan order: the plan orders problems by message too, and a
    # reworded message must not reorder what the checksum sees. Duplicates stay counted.
    return sorted([problem.source_id or "", problem.code] for problem in problems)
