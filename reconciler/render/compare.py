"""What differs between two plan documents, one short line each: why a reviewed plan is stale.
Imports deepdiff, the standard library and the pure core (model, mapping); not re-exported by
``reconciler.render``, so rendering does not load deepdiff.

Both sides are plan DOCUMENTS (``schemas/plan.schema.json``): typically the JSON file a
reviewer approved and ``plan_document`` of the plan computed now. Lines name actions, ids,
field names and problem codes only, never a field value or an email (the documents carry
names and emails, and the reviewed file may be unredacted). Messages and the summary are
not compared: like the checksum, they do not decide what apply would do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from deepdiff import DeepDiff

from reconciler.core.model import Action
from reconciler.core.normalise import id_sort_key

#: A change is known by its action and both ids: linking to another user is another change.
_ChangeKey = tuple[str, str | None, str | None]

_ACTION_ORDER = {action.value: action.order for action in Action}
#: What an id or a code may look like to be printed; anything else is shown as unreadable.
_PRINTABLE = re.compile(r"[A-Za-z0-9_.:+-]{1,100}")
_SECTIONS = ("format_version", "changes", "errors", "warnings")
_NOUNS = {"errors": "error", "warnings": "warning"}


def describe_plan_difference(
    reviewed: Mapping[str, object], fresh: Mapping[str, object]
) -> tuple[str, ...]:
    """One human line per difference from ``reviewed`` to ``fresh``; ``()`` when they agree.

    Reports changes added or removed (action and ids), fields added, removed or changed,
    an email or a dependency that changed, errors and warnings added or removed (code and
    Personio id), and a different format version. Entries the documents cannot describe
    (malformed ones) are skipped; when only the checksums differ, which is what a changed
    redacted value looks like, one line says so.
    """
    before, after = _normalise(reviewed), _normalise(fresh)
    found: dict[str, tuple[object, ...]] = {}
    # threshold_to_diff_deeper=0: pair entries up however few two sections share, instead
    # of reporting a whole section as replaced.
    tree: Mapping[str, Iterable[Any]] = DeepDiff(
        before, after, view="tree", threshold_to_diff_deeper=0
    )
    for report, items in tree.items():
        # e.g. dictionary_item_added, values_changed, type_changes
        kind = next((k for k in ("added", "removed") if report.endswith(k)), "changed")
        for item in items:
            path = item.path(output_format="list")
            for order, line in _describe(path, kind, item.t1, item.t2):
                found.setdefault(line, order)
    if not found and reviewed.get("checksum") != fresh.get("checksum"):
        found[
            "a redacted or masked value differs, or the plan was sealed with another key "
            "(RECONCILE_PLAN_KEY or the Lattice token; the documents show no other difference)"
        ] = (9,)
    return tuple(sorted(found, key=lambda line: (found[line], line)))


def _describe(
    path: list[Any], kind: str, old: object, new: object
) -> Iterable[tuple[tuple[object, ...], str]]:
    section = path[0]
    if section == "format_version":
        yield (0,), f"format version {_version(old)} → {_version(new)}"
    elif section == "changes":
        key: _ChangeKey = path[1]
        order = (1, _ACTION_ORDER.get(key[0], 99), id_sort_key(key[1]), key[2] or "")
        if len(path) == 2:
            yield (*order, ""), f"change {kind}: {_label(key)}"
        elif path[2] == "fields" and len(path) > 3:
            name = _printable(path[3])
            detail = kind if len(path) == 4 else "changed"
            yield (*order, "fields", name), f"{_label(key)}: field {name} {detail}"
        elif path[2] == "email":
            yield (*order, "email"), f"{_label(key)}: email changed"
        elif path[2] == "depends_on":
            yield (*order, "depends_on"), f"{_label(key)}: {_dependency(old, new)}"
    elif section in _NOUNS:
        noun = _NOUNS[section]
        code = _printable(path[1])
        if len(path) == 2:
            # A code that appears or goes entirely: one line per person it concerns.
            people = new if kind == "added" else old
            for source_id in people if isinstance(people, Mapping) else ():
                yield _problem_line(section, noun, kind, code, source_id)
        elif kind == "changed":
            rank = (_SECTIONS.index(section), code, id_sort_key(path[2]))
            yield rank, f"{noun} {code} for {_who(path[2])}: {old} → {new} times"
        else:
            yield _problem_line(section, noun, kind, code, path[2])


def _problem_line(
    section: str, noun: str, kind: str, code: str, source_id: str | None
) -> tuple[tuple[object, ...], str]:
    order = (_SECTIONS.index(section), code, id_sort_key(source_id))
    return order, f"{noun} {kind}: {code} for {_who(source_id)}"


def _normalise(document: Mapping[str, object]) -> dict[str, object]:
    """The parts that decide what apply does, keyed so that deepdiff pairs them up."""
    changes: dict[_ChangeKey, dict[str, object]] = {}
    for entry in _entries(document.get("changes")):
        key = (
            str(entry.get("action")),
            _id(entry.get("personio_id")),
            _id(entry.get("lattice_id")),
        )
        fields = entry.get("fields")
        changes[key] = {
            "email": entry.get("email"),
            "fields": _without_causes(fields),
            "depends_on": _id(entry.get("depends_on")),
        }
    normalised: dict[str, object] = {"format_version": document.get("format_version")}
    normalised["changes"] = changes
    for section in _NOUNS:
        counts: dict[str, dict[str | None, int]] = {}
        for entry in _entries(document.get(section)):
            by_person = counts.setdefault(str(entry.get("code")), {})
            source_id = _id(entry.get("personio_id"))
            by_person[source_id] = by_person.get(source_id, 0) + 1
        normalised[section] = counts
    return normalised


def _without_causes(fields: object) -> dict[str, object]:
    """A change's fields without ``cause`` (an annotation of ``--baseline-config`` plans)."""
    if not isinstance(fields, Mapping):
        return {}
    return {
        name: {k: v for k, v in value.items() if k != "cause"}
        if isinstance(value, Mapping)
        else value
        for name, value in fields.items()
    }


def _entries(value: object) -> Iterable[Mapping[str, object]]:
    if isinstance(value, list):
        yield from (entry for entry in value if isinstance(entry, Mapping))


def _id(value: object) -> str | None:
    return None if value is None else str(value)


def _printable(value: object) -> str:
    text = str(value)
    return text if _PRINTABLE.fullmatch(text) else "(unreadable)"


def _who(source_id: str | None) -> str:
    return "(no Personio id)" if source_id is None else _printable(source_id)


def _label(key: _ChangeKey) -> str:
    action, source_id, target_id = key
    action = action if action in _ACTION_ORDER else "(unknown action)"
    where = "new" if target_id is None else f"Lattice {_printable(target_id)}"
    return f"{action} {_who(source_id)} ({where})"


def _dependency(old: object, new: object) -> str:
    if old is None:
        return f"now after the create of {_printable(new)}"
    if new is None:
        return f"no longer after the create of {_printable(old)}"
    return f"after the create of {_printable(new)}, not {_printable(old)}"


def _version(value: object) -> str:
    if value is None:
        return "(none)"
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "(unreadable)"
