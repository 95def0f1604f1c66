"""Personio's wire format, translated: pure parse_*/compute_*/check_* functions and their constants.
Imports only the standard library, the core model and reconciler.errors; sends nothing.

Parsing decisions (docs/decisions.md):

- ``id`` becomes ``Employee.source_id`` as a string (Personio sends ints).
- Dates (``"2014-11-09T00:00:00+01:00"`` or ``"2014-11-09"``) become ``datetime.date`` from the
  literal date part; the offset is ignored on purpose, because converting to UTC would move a
  midnight-CET hire date to the previous day.
- A date that cannot be read makes the whole record a ``Problem`` with code ``invalid_date``
  naming the attribute key. The planner treats the person as blocked (their Lattice user is left
  untouched) rather than syncing a guessed or emptied value; everyone else proceeds.
- Numbers that cannot be read stay as their trimmed text: the mapping already turns a
  non-numeric value into a per-person ``invalid_custom_value`` warning.
- Nested department/office/team become their name, a nested supervisor its id; the empty
  forms ``""``, ``null`` and ``[]`` become ``None``. Tags become a sorted tuple.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence

from reconciler.core.model import AttributeInfo, AttrValue, Employee, Problem, SourceSnapshot
from reconciler.core.normalise import id_sort_key
from reconciler.errors import SourceDataError

SYSTEM = "personio"

AUTH_PATH = "/auth"
EMPLOYEES_PATH = "/company/employees"
ATTRIBUTES_PATH = "/company/employees/attributes"

#: Attributes that are dates whatever ``type`` Personio labels them with.
DATE_KEYS = frozenset({"hire_date", "termination_date", "birthday", "last_working_day"})
#: Universal ids of standard fields that are dates whatever key holds them (Personio's examples
#: carry the birth date as ``dynamic_<n>`` with ``universal_id: date_of_birth``).
DATE_UNIVERSAL_IDS = frozenset({"date_of_birth", "hire_date", "termination_date"})
#: Attribute types whose text values are plain trimmed text.
_TEXT_KINDS = frozenset({"standard", "list", "link", "multiline", ""})
#: Nested objects that stand for their name.
NAMED_NESTED_KEYS = frozenset({"department", "office", "team", "subcompany", "cost_centers"})

_DATE_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)


def compute_snapshot(
    records: Iterable[Employee | Problem], attribute_keys: Iterable[str] = ()
) -> SourceSnapshot:
    """Employees and problems sorted by Personio id (numeric-aware).

    ``attribute_keys`` adds keys seen on raw records that became problems; the keys of every
    parsed employee are included anyway. Two records with one id are both kept: that is a
    data problem the mapping reports per person (paging overlaps are caught before this).
    """
    employees: list[Employee] = []
    problems: list[Problem] = []
    keys: set[str] = set(attribute_keys)
    for record in records:
        if isinstance(record, Employee):
            employees.append(record)
            keys.update(record.attributes)
        else:
            problems.append(record)
    employees.sort(key=lambda employee: id_sort_key(employee.source_id))
    problems.sort(
        # Records without an id first, then by id like the employees.
        key=lambda problem: (
            problem.source_id is not None,
            id_sort_key(problem.source_id or ""),
            problem.code,
            problem.message,
        )
    )
    return SourceSnapshot(
        employees=tuple(employees), problems=tuple(problems), attribute_keys=frozenset(keys)
    )


def compute_page_overlap(pages: Iterable[Sequence[Employee | Problem]]) -> str | None:
    """The first Personio id that appears on more than one page, else ``None``.

    Offset paging over a list that changes mid-read shifts records from one page to the
    next; counting such a record twice (or missing its neighbour) would be silently wrong.
    """
    seen: set[str] = set()
    for records in pages:
        ids = {record.source_id for record in records if record.source_id is not None}
        overlap = ids & seen
        if overlap:
            return min(overlap, key=id_sort_key)
        seen |= ids
    return None


#: More employees than any Personio company has: a larger total is a broken or hostile answer,
#: and believing it would plan billions of page requests.
MAX_EMPLOYEES = 1_000_000


def parse_employee_page(payload: object, *, offset: int) -> tuple[int, list[Mapping[str, object]]]:
    """``(metadata.total_elements, raw employee objects)`` from one page envelope."""
    where = f"{SYSTEM} GET {EMPLOYEES_PATH} offset={offset}"
    if not isinstance(payload, dict):
        raise SourceDataError("Personio's employee page is not a JSON object", where=where)
    metadata = payload.get("metadata")
    total = metadata.get("total_elements") if isinstance(metadata, dict) else None
    if isinstance(total, str) and total.isascii() and total.isdigit():
        total = int(total)
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise SourceDataError(
            "Personio's employee page has no usable metadata.total_elements", where=where
        )
    if total > MAX_EMPLOYEES:
        raise SourceDataError(
            f"Personio's employee page claims {total:,} employees (metadata.total_elements), "
            f"more than the {MAX_EMPLOYEES:,} any company has — the answer cannot be trusted",
            where=where,
            fix="check personio.base_url and run again",
        )
    data = payload.get("data")
    if not isinstance(data, list):
        raise SourceDataError("Personio's employee page has no 'data' list", where=where)
    # A non-object entry stays in the list so it is counted and reported, not lost.
    return total, [item if isinstance(item, dict) else {"attributes": None} for item in data]


def parse_attribute_catalogue(payload: object) -> tuple[AttributeInfo, ...]:
    """``GET /company/employees/attributes`` → ``AttributeInfo``s, in Personio's order."""
    where = f"{SYSTEM} GET {ATTRIBUTES_PATH}"
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise SourceDataError("Personio's attribute list has no 'data' list", where=where)
    attributes: list[AttributeInfo] = []
    for index, entry in enumerate(data):
        key = _text(entry.get("key")) if isinstance(entry, dict) else None
        if key is None:
            raise SourceDataError(f"attribute #{index} of the list has no key", where=where)
        label = _text(entry.get("label")) or key
        kind = _text(entry.get("type")) or "standard"
        universal_id = _text(entry.get("universal_id"))
        attributes.append(AttributeInfo(key=key, label=label, type=kind, universal_id=universal_id))
    return tuple(attributes)


def parse_employee(
    raw: Mapping[str, object], types: Mapping[str, str] | None = None
) -> Employee | Problem:
    """One wire-format employee → ``Employee``, or a ``Problem`` that names no personal value.

    ``types`` (attribute key → the catalogue's ``type``) stands in for a record entry that
    carries no ``type`` of its own.
    """
    attributes = raw.get("attributes")
    if not isinstance(attributes, Mapping):
        return Problem(None, "unparsable_record", "an employee record has no attribute map")
    id_entry = attributes.get("id")
    source_id = _id_text(id_entry.get("value") if isinstance(id_entry, Mapping) else None)
    # Carried on problems so the planner can still recognise the person by email and leave
    # their Lattice user alone instead of treating them as gone.
    email_entry = attributes.get("email")
    email = _text(email_entry.get("value")) if isinstance(email_entry, Mapping) else None
    if source_id is None:
        return Problem(None, "unparsable_record", "an employee record has no id", email=email)
    parsed: dict[str, AttrValue] = {"id": source_id}
    bad_dates: list[str] = []
    for key, entry in attributes.items():
        if key == "id":
            continue
        if type(entry) is not dict and not isinstance(entry, Mapping):
            return Problem(
                source_id,
                "unparsable_record",
                f"employee {source_id}: attribute {key} is not a Personio attribute object",
                email=email,
            )
        kind = entry.get("type")
        if kind is None and types is not None:
            kind = types.get(key)
        value = entry.get("value")
        is_date = key in DATE_KEYS or entry.get("universal_id") in DATE_UNIVERSAL_IDS
        if type(value) is str and kind in _TEXT_KINDS and not is_date:
            # The common case, kept short: 100,000 employees × ~20 attributes pass here.
            parsed[key] = value.strip() or None
        elif kind == "date" or is_date:
            try:
                parsed[key] = parse_date(value)
            except ValueError:
                bad_dates.append(key)
        else:
            parsed[key] = parse_value(key, kind if isinstance(kind, str) else "", value)
    if bad_dates:
        verb = "is not a date" if len(bad_dates) == 1 else "are not dates"
        return Problem(
            source_id,
            "invalid_date",
            f"employee {source_id}: {', '.join(sorted(bad_dates))} {verb} (expected "
            "YYYY-MM-DD); the employee is left untouched until it is fixed in Personio",
            email=email,
        )
    return Employee(source_id=source_id, attributes=parsed)


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _id_text(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _text(value)


def _is_empty(value: object) -> bool:
    """Personio's three spellings of "no nested object" (and an empty object)."""
    return value is None or (isinstance(value, str | list | dict) and not value)


def parse_date(value: object) -> dt.date | None:
    """``"2014-11-09T00:00:00+01:00"`` or ``"2014-11-09"`` → the date part; empty → ``None``.

    Raises ``ValueError`` for anything else (the caller names the attribute, not the value).
    """
    if _is_empty(value):
        return None
    if not isinstance(value, str):
        raise ValueError("not a date")
    text = value.strip()
    return _date_from_text(text) if text else None


@functools.lru_cache(maxsize=65536)
def _date_from_text(text: str) -> dt.date:
    # Cached: a company has far fewer distinct dates than employees × date attributes.
    match = _DATE_RE.fullmatch(text)
    if match is None:
        raise ValueError("not a date")
    return dt.date.fromisoformat(match.group(1))  # ValueError for e.g. 2014-02-30


def parse_value(key: str, kind: str, value: object) -> AttrValue:
    """One non-date attribute value, parsed by its key, Personio ``type`` and shape."""
    if key == "supervisor":
        return _nested_id(value)
    if isinstance(value, dict) or key in NAMED_NESTED_KEYS:
        return _nested_name(value)
    if kind == "tags":
        return parse_tags(value)
    if kind in ("integer", "decimal"):
        return parse_number(value, integer=kind == "integer")
    return _plain(value)


def _plain(value: object) -> AttrValue:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, list):
        return _sorted_texts(_nested_name(item) for item in value)
    return None


def parse_number(value: object, *, integer: bool) -> AttrValue:
    """An ``integer``/``decimal`` value, also from text ("3.5", "3,5"); unreadable text is kept
    as text so the mapping can report it."""
    if value is None or isinstance(value, bool):
        return None
    number: int | float
    if isinstance(value, int | float):
        number = value
    else:
        text = _text(value)
        if text is None:
            return None
        try:
            number = int(text)
        except ValueError:
            try:
                # German decimal comma, the way Personio shows decimals in the UI
                number = float(text.replace(",", ".") if "." not in text else text)
            except ValueError:
                return text
        if not math.isfinite(number):
            return text
    if integer and float(number).is_integer():
        return int(number)
    return float(number) if not integer else number


def _nested_name(value: object) -> AttrValue:
    """``{"type": "Department", "attributes": {"id", "name"}}`` → its name; no name → ``None``
    (an id is no department name, and Lattice would show it as one)."""
    if _is_empty(value):
        return None
    if isinstance(value, list):
        return _sorted_texts(_nested_name(item) for item in value)
    if not isinstance(value, dict):
        return _plain(value)
    inner = value.get("attributes", value)
    if not isinstance(inner, dict):
        return None
    found = inner.get("name", inner.get("value"))
    if isinstance(found, dict):  # {"label": ..., "value": ...} inside a nested object
        found = found.get("value")
    return _text(found)


def _nested_id(value: object) -> str | None:
    """A nested supervisor ``{"type": "Employee", "attributes": {"id": {"value": 12}}}`` → "12"."""
    if _is_empty(value):
        return None
    if not isinstance(value, dict):
        return _id_text(value)
    inner = value.get("attributes", value)
    found = inner.get("id") if isinstance(inner, dict) else None
    if isinstance(found, dict):
        found = found.get("value")
    return _id_text(found)


def parse_tags(value: object) -> tuple[str, ...] | None:
    """A list, a JSON list inside a string, or a comma-separated string → sorted tuple."""
    if _is_empty(value):
        return None
    if isinstance(value, list):
        return _sorted_texts(_nested_name(item) for item in value)
    text = _text(value) if isinstance(value, str) else _id_text(value)
    if text is None:
        return None
    if text.startswith("["):
        try:
            decoded = json.loads(text)
        except (ValueError, RecursionError):
            decoded = None
        if isinstance(decoded, list):
            return _sorted_texts(_nested_name(item) for item in decoded)
        # Broken JSON: salvage the items rather than turning the whole list into one tag.
        return _sorted_texts(part.strip().strip("\"'") for part in text.strip("[]").split(","))
    return _sorted_texts(text.split(","))


def _sorted_texts(values: Iterable[AttrValue]) -> tuple[str, ...] | None:
    texts = {str(value).strip() for value in values if value is not None}
    texts.discard("")
    return tuple(sorted(texts)) or None


def compute_missing_attributes(
    snapshot: SourceSnapshot, needed: Mapping[str, str]
) -> tuple[str, ...]:
    """Labels of ``needed`` (key → label) that Personio returned on no employee.

    Personio omits attributes a credential may not read, so an attribute absent from every
    record means a missing allowance. An empty snapshot proves nothing: ``()``.
    """
    if not snapshot.employees and not snapshot.problems:
        return ()
    return tuple(label for key, label in needed.items() if key not in snapshot.attribute_keys)


def check_allowed_attributes(snapshot: SourceSnapshot, needed: Mapping[str, str]) -> None:
    """Raise ``SourceDataError`` naming every needed attribute Personio did not return."""
    missing = compute_missing_attributes(snapshot, needed)
    if missing:
        raise SourceDataError(
            f"Personio did not return the attributes {', '.join(missing)} — add them to the "
            "allowed attributes of the Personio API credential "
            "(Settings › Integrations › API credentials)",
            where=f"{SYSTEM} GET {EMPLOYEES_PATH}",
        )
