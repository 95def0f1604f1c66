"""What a config change causes: a plan compared with the plan of a baseline config.
Imports only the standard library and reconciler.core.model.

``plan --baseline-config`` plans one read twice (the baseline config, e.g. the default
branch's, and the proposed one). A change, and inside it each field, that the baseline plan
makes identically is ``data`` (pending anyway: the next nightly run applies it); anything else
is ``config`` (this pull request causes it). What the baseline would do and the proposed config
does not is ``prevented``. Pure: two plans in, an ``Attribution`` out; the checksum never
covers it (``apply`` plans without a baseline and must arrive at the same checksum).
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.model import Attribution, Cause, Change, ChangeCause, FieldChange, Plan

#: A change's person: the Personio id, or the Lattice id of a user Personio does not know.
_Key = tuple[str, str]


def _key(change: Change) -> _Key:
    if change.source_id:
        return ("source", change.source_id)
    return ("target", change.target_id or change.email)


def attribute_causes(proposed: Plan, baseline: Plan) -> Attribution:
    """Mark each change of ``proposed`` (and each field of it) ``config`` or ``data``, and list
    what ``baseline`` would change that ``proposed`` does not (whole changes, or the fields a
    change no longer carries).

    A change is ``config`` when the baseline plan has no change of the same kind for the same
    person (all its fields are ``config`` then); otherwise it is ``data`` and each field is
    ``data`` when the baseline changes it from and to the same values, ``config`` when not.
    """
    before = {_key(change): change for change in baseline.changes}
    causes: list[ChangeCause] = []
    prevented: list[Change] = []
    seen: set[_Key] = set()
    for change in proposed.changes:
        key = _key(change)
        seen.add(key)
        old = before.get(key)
        if old is None or old.action is not change.action:
            causes.append(ChangeCause("config", dict.fromkeys(_names(change), "config")))
            if old is not None:
                prevented.append(old)
            continue
        fields: dict[str, Cause] = {
            field.name: "data" if old.field(field.name) == field else "config"
            for field in change.fields
        }
        causes.append(ChangeCause("data", fields))
        dropped = tuple(field for field in old.fields if change.field(field.name) != field)
        if dropped:
            prevented.append(replace(old, fields=dropped))
    prevented += [change for change in baseline.changes if _key(change) not in seen]
    prevented.sort(key=lambda change: (change.action.order, _key(change)))
    return Attribution(causes=tuple(causes), prevented=tuple(prevented))


def annotate(proposed: Plan, baseline: Plan) -> Plan:
    """``proposed`` carrying its ``Attribution`` against ``baseline`` (checksum unchanged)."""
    return replace(proposed, attribution=attribute_causes(proposed, baseline))


def split_by_cause(plan: Plan) -> tuple[tuple[Change, ...], tuple[Change, ...]]:
    """The plan's changes as (caused by the config change, pending anyway), for rendering.

    A ``config`` change goes to the first list whole. A ``data`` change goes to the second
    with its ``data`` fields, and to the first with its ``config`` fields when it has any, so
    each field appears exactly once. Without an attribution everything is pending anyway.
    """
    if plan.attribution is None:
        return (), plan.changes
    caused: list[Change] = []
    pending: list[Change] = []
    for change, cause in zip(plan.changes, plan.attribution.causes, strict=True):
        if cause.cause == "config":
            caused.append(change)
            continue
        ours = _fields(change, cause, "config")
        if ours:
            caused.append(replace(change, fields=ours))
        if not ours or len(ours) < len(change.fields):
            pending.append(replace(change, fields=_fields(change, cause, "data")))
    return tuple(caused), tuple(pending)


def _names(change: Change) -> list[str]:
    return [field.name for field in change.fields]


def _fields(change: Change, cause: ChangeCause, wanted: Cause) -> tuple[FieldChange, ...]:
    return tuple(field for field in change.fields if cause.fields.get(field.name) == wanted)
