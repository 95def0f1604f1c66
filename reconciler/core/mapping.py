"""Pure mapping: source employees + config → the target users that should exist (scope, rules).
Imports only the standard library, the core (model, profiles, normalise) and reconciler.errors.

The source's vocabulary (status and employment-type keys, the contractor type, labels) comes
from a ``SourceProfile``, the fields a target leaves alone for contractors from a
``TargetProfile``: nothing here names a vendor.

Every per-person problem becomes a ``Problem`` (an error blocks that person, a warning does
not); messages name Personio ids and attribute names, never names, emails or values.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import Literal

from reconciler.core.model import (
    CUSTOM_PREFIX,
    AttributeInfo,
    AttrValue,
    Config,
    CustomAttribute,
    DesiredUser,
    Employee,
    FieldValue,
    Problem,
    SyncSettings,
    TargetUser,
)
from reconciler.core.normalise import clean_text, fold, id_sort_key, nfc, normalise_email
from reconciler.core.profiles import SourceProfile, TargetProfile
from reconciler.errors import ConfigError, ConfigProblem

_SOURCE_ID = attrgetter("source_id")


@dataclass(frozen=True, slots=True)
class MappingResult:
    """The desired Lattice users, plus what stopped or bothered the mapping."""

    desired: tuple[DesiredUser, ...]
    errors: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    #: Personio ids that exist but are out of scope (their Lattice users are deactivated)
    out_of_scope_ids: frozenset[str] = frozenset()
    #: ids with errors: their Lattice users must be left untouched
    blocked_ids: frozenset[str] = frozenset()
    #: case-folded emails of people with errors: no Lattice user with them is touched
    blocked_emails: frozenset[str] = frozenset()


def canonical_custom_fields(users: Sequence[TargetUser], config: Config) -> tuple[TargetUser, ...]:
    """``users`` with each custom attribute spelled as the config maps it, in its type's form.

    Attribute names are case-insensitive (RFC 7643 §2.1) and Lattice matches display names
    without regard to case, so ``custom:cost center`` read from the target is the config's
    ``custom:Cost Center``; without this the planner would see the field as unset and plan
    the same update on every run (docs/decisions.md). A ``multi_select`` value is the sorted
    set of its choices (a single text read from the target is one choice), a ``date`` sent
    with a time is its date, and a list read into any other attribute is its items joined
    with ", ", as the mapping joins tags. Users
    already in that form are returned as they are.
    """
    spelled = {attr.field_name.casefold(): attr.field_name for attr in config.custom_attributes}
    if not spelled:
        return tuple(users)
    exact = frozenset(spelled.values())
    multi = frozenset(
        attr.field_name for attr in config.custom_attributes if attr.type == "multi_select"
    )
    dates = frozenset(attr.field_name for attr in config.custom_attributes if attr.type == "date")
    kinds = tuple((name, name in multi, name in dates) for name in sorted(exact))
    canonical: set[tuple[str, ...]] = set()  # multi-select values seen already canonical
    result: list[TargetUser] = []
    for user in users:
        odd = [
            key
            for key in user.fields
            if key not in exact and key.startswith(CUSTOM_PREFIX) and key.casefold() in spelled
        ]
        if not odd and not _needs_canonical(user.fields, kinds, canonical):
            result.append(user)
            continue
        fields = dict(user.fields)
        for key in sorted(odd):  # sorted: two spellings of one name resolve the same way
            value = fields.pop(key)
            fields.setdefault(spelled[key.casefold()], value)
        for name in exact & fields.keys():
            value = fields[name]
            if name in multi:
                fields[name] = _choices(value)
            elif name in dates and isinstance(value, str):
                fields[name] = _date_part(value)
            else:
                fields[name] = _joined(value)
        result.append(replace(user, fields=fields))
    return tuple(result)


def _needs_canonical(
    fields: Mapping[str, FieldValue],
    kinds: tuple[tuple[str, bool, bool], ...],
    canonical: set[tuple[str, ...]],
) -> bool:
    """Whether a custom value read from the target is not yet in its attribute type's form.

    ``kinds`` is (field name, is a multi-select, is a date) per mapped attribute. Runs once per
    Lattice user, so the common case (every value already in form) is a few type checks;
    multi-select values known to be canonical are remembered in ``canonical``.
    """
    get = fields.get
    for name, is_multi, is_date in kinds:
        value = get(name)
        if value is None:
            continue
        if is_multi:
            if type(value) is not tuple:
                return True
            if value not in canonical:
                if _choices(value) != value:
                    return True
                canonical.add(value)
        elif type(value) is tuple or (
            is_date and type(value) is str and len(value) > _ISO_DATE_LENGTH
        ):
            return True
    return False


def _choices(value: FieldValue) -> FieldValue:
    """A target value as a ``multi_select`` compares it: its distinct choices, sorted."""
    if value is None:
        return None
    items = value if isinstance(value, tuple) else (str(value),)
    return tuple(sorted({nfc(text) for item in items if (text := item.strip())})) or None


#: ``YYYY-MM-DD``
_ISO_DATE_LENGTH = 10


def _date_part(value: str) -> str:
    """A date attribute's value sent with a time ("2026-05-01T00:00:00Z") → its date."""
    head = value[:_ISO_DATE_LENGTH]
    try:
        return dt.date.fromisoformat(head).isoformat()
    except ValueError:
        return value


def _joined(value: FieldValue) -> FieldValue:
    """A target value as a single-valued attribute compares it: a list's items joined."""
    if isinstance(value, tuple):
        return ", ".join(value) or None
    return value


# ---------------------------------------------------------------------------------------------
# Config against the Personio attribute catalogue
# ---------------------------------------------------------------------------------------------


def resolve_sources(
    config: Config, catalogue: Sequence[AttributeInfo], profile: SourceProfile
) -> Config:
    """Replace source labels in the config by attribute keys, so everything after works on keys.

    In order: an attribute whose ``universal_id`` is the name written (or the profile's
    universal id for it, e.g. ``birthday`` → ``date_of_birth``), because standard fields keep
    their universal id whatever the tenant calls them and whichever ``dynamic_<n>`` key holds
    them; then a key, exactly; then a label, case-insensitively, in whatever language the
    tenant's catalogue uses. Disabled fields are not checked (their source is never read).
    Raises ``ConfigError`` listing every source the source does not know.
    """
    keys = {info.key for info in catalogue}
    by_label: dict[str, str] = {}
    by_universal_id: dict[str, str] = {}
    # Sorted so that two attributes sharing a label resolve the same way on every run.
    for info in sorted(catalogue, key=lambda info: info.key):
        by_label.setdefault(fold(info.label), info.key)
        if info.universal_id:
            by_universal_id.setdefault(info.universal_id, info.key)

    problems: list[ConfigProblem] = []

    def resolve(written: str, path: str) -> str:
        for universal_id in (written, profile.universal_ids.get(written)):
            if universal_id is not None and universal_id in by_universal_id:
                return by_universal_id[universal_id]
        if written in keys:
            return written
        key = by_label.get(fold(written))
        if key is None:
            problems.append(
                ConfigProblem(
                    path,
                    f"{profile.name} has no attribute {written!r} — check the spelling, or allow "
                    f"the attribute on the {profile.name} API credential",
                )
            )
            return written
        return key

    fields = tuple(
        replace(setting, source=resolve(setting.source, f"fields.{setting.name}.source"))
        if setting.enabled
        else setting
        for setting in config.fields
    )
    custom = tuple(
        replace(attr, personio=resolve(attr.personio, f"custom_attributes[{index}].personio"))
        for index, attr in enumerate(config.custom_attributes)
    )
    if problems:
        raise ConfigError(source="config", problems=problems)
    return replace(config, fields=fields, custom_attributes=custom)


def needed_attributes(config: Config, profile: SourceProfile) -> dict[str, str]:
    """Attribute key → a label for humans, for every source attribute this run reads.

    The required identity/scope attributes, the source of every enabled standard field, and
    every custom attribute's source. Used to check the credential's allowed attributes.
    """
    needed = dict(profile.required)
    for setting in config.fields:
        if setting.enabled and setting.source not in needed:
            needed[setting.source] = profile.labels.get(
                setting.source, f"{setting.source} (source of {setting.name})"
            )
    for attr in config.custom_attributes:
        if attr.personio not in needed:
            needed[attr.personio] = f"{attr.personio} (custom attribute {attr.lattice!r})"
    return needed


# ---------------------------------------------------------------------------------------------
# Scope and mapping
# ---------------------------------------------------------------------------------------------


def is_in_scope(employee: Employee, sync: SyncSettings, profile: SourceProfile) -> bool:
    """Whether the employee's employment type and status are both among those configured."""
    return scope_of(employee, sync, profile) == "in"


def scope_of(employee: Employee, sync: SyncSettings, profile: SourceProfile) -> ScopeVerdict:
    """``scope_verdict`` of the employee's record."""
    return scope_verdict(
        _lower(employee.attributes.get(profile.employment_type_key)),
        _lower(employee.attributes.get(profile.status_key)),
        sync,
    )


#: ``scope_verdict``'s answers: in scope, out by status (left), out by employment type, or
#: undecidable (a value is missing: the person is refused, never deactivated).
ScopeVerdict = Literal["in", "status", "employment_type", "missing"]


def scope_verdict(
    employment_type: str | None, status: str | None, sync: SyncSettings
) -> ScopeVerdict:
    """The one scope rule (lower-cased, trimmed values): what the mapping, the planner's
    leaver reasons and ``explain`` all say. Status first: a leaver has left, whatever their
    employment type."""
    if not employment_type or not status:
        return "missing"
    if status not in sync.statuses:
        return "status"
    if employment_type not in sync.employee_types:
        return "employment_type"
    return "in"


def compute_desired_users(
    employees: Sequence[Employee],
    config: Config,
    *,
    source: SourceProfile,
    target: TargetProfile,
    known_emails: Mapping[str, str] | None = None,
) -> MappingResult:
    """Map every in-scope employee onto the target user that should exist for them.

    ``config`` must be resolved (see ``resolve_sources``). Desired users come out sorted by
    Personio id (numeric-aware); problems sorted too, so the result never depends on the
    order Personio returned the records in. ``known_emails`` (source id → email) lets custom
    ``user`` attributes point at people who are not among ``employees`` (a partial run);
    the employees' own emails always win.
    """
    errors: list[Problem] = []
    warnings: list[Problem] = []
    out_of_scope: set[str] = set()
    blocked_ids: set[str] = set()
    blocked_emails: set[str] = set()

    # Ids are unique almost always: one C-level dict build finds that out, and only when
    # the sizes differ is the record-by-record pass needed to collect the repeats.
    first: dict[str, Employee] = dict(zip(map(_SOURCE_ID, employees), employees, strict=True))
    repeated: dict[str, list[Employee]] = {}
    if len(first) != len(employees):
        first = {}
        for employee in employees:
            source_id = employee.source_id
            if source_id in first:
                repeated.setdefault(source_id, [first[source_id]]).append(employee)
            else:
                first[source_id] = employee

    # Few objects per person on purpose: every container that survives the loop makes each
    # garbage-collector pass longer, which is most of the cost at 100,000 people.
    in_scope: list[Employee] = []
    employment_types: dict[str, str] = {}
    type_key, status_key = source.employment_type_key, source.status_key
    for source_id, employee in first.items():
        records = repeated.get(source_id)
        if records is not None:
            # Which record is right cannot be known: refuse both rather than pick one.
            errors.append(
                Problem(
                    source_id,
                    "duplicate_personio_id",
                    f"{source.name} returned employee {source_id} {len(records)} times — "
                    "left untouched",
                )
            )
            blocked_ids.add(source_id)
            # Their Lattice user, found by email, must not be adopted by anyone either.
            blocked_emails.update(
                email
                for email in (normalise_email(r.attributes.get(source.email_key)) for r in records)
                if email
            )
            continue
        # ``_lower`` inlined (twice per person).
        employment_type = employee.attributes.get(type_key)
        employment_type = (
            employment_type.strip().lower() if isinstance(employment_type, str) else None
        )
        status = employee.attributes.get(status_key)
        status = status.strip().lower() if isinstance(status, str) else None
        if not employment_type or not status:
            # Without them nobody can tell whether the person left: refuse, never deactivate.
            absent = " and ".join(
                name
                for name, value in (("status", status), ("employment type", employment_type))
                if not value
            )
            errors.append(
                Problem(
                    source_id,
                    "missing_scope",
                    f"employee {source_id} has no {absent} — fix it in {source.name}; "
                    "left untouched",
                )
            )
            blocked_ids.add(source_id)
            email = normalise_email(employee.attributes.get(source.email_key))
            if email:
                blocked_emails.add(email)
        elif scope_verdict(employment_type, status, config.sync) == "in":
            in_scope.append(employee)
            employment_types[source_id] = employment_type
        else:
            out_of_scope.add(source_id)

    # Emails first: they decide who is blocked, and custom "user" attributes point at them.
    emails: dict[str, str] = {}
    holder: dict[str, str] = {}  # email → the first Personio id with it
    shared: dict[str, list[str]] = {}  # email → every Personio id with it, when several
    for employee in in_scope:
        email = normalise_email(employee.attributes.get(source.email_key))
        if email is None:
            missing = employee.attributes.get(source.email_key) is None
            errors.append(
                Problem(
                    employee.source_id,
                    "invalid_email",
                    f"employee {employee.source_id} "
                    + ("has no email" if missing else "has an email that is not a valid address")
                    + f" — fix it in {source.name}; left untouched",
                )
            )
            blocked_ids.add(employee.source_id)
            continue
        emails[employee.source_id] = email
        first_holder = holder.setdefault(email, employee.source_id)
        if first_holder != employee.source_id:
            shared.setdefault(email, [first_holder]).append(employee.source_id)
    for email, ids in shared.items():
        blocked_emails.add(email)
        ordered = sorted(ids, key=id_sort_key)
        for source_id in ordered:
            others = ", ".join(other for other in ordered if other != source_id)
            errors.append(
                Problem(
                    source_id,
                    "duplicate_email",
                    f"employee {source_id} has the same email as employee {others} — "
                    f"fix it in {source.name}; both left untouched",
                    email=email,
                )
            )
            blocked_ids.add(source_id)
            del emails[source_id]

    rules = _FieldRules(
        config, {**known_emails, **emails} if known_emails else emails, source, target
    )
    desired: list[DesiredUser] = []
    in_scope.sort(key=lambda employee: id_sort_key(employee.source_id))
    for employee in in_scope:
        source_id = employee.source_id
        email = emails.get(source_id)
        if email is None:
            continue
        employment_type = employment_types[source_id]
        desired.append(rules.desired_user(employee, employment_type, email, warnings))

    return MappingResult(
        desired=tuple(desired),
        errors=tuple(sorted(errors, key=problem_key)),
        warnings=tuple(sorted(warnings, key=problem_key)),
        out_of_scope_ids=frozenset(out_of_scope),
        blocked_ids=frozenset(blocked_ids),
        blocked_emails=frozenset(blocked_emails),
    )


#: One field's rule: (field name, source attribute key, whether a ``str`` value is just trimmed
#: ("" → None), whether a ``datetime.date`` value is just its ISO form, the full converter).
_Rule = tuple[str, str, bool, bool, Callable[[AttrValue], "FieldValue | _Rejected"]]


class _FieldRules:
    """The per-field work of the mapping, prepared once per run (100,000 people must be fast).

    Every field (standard and custom) is one ``_Rule`` in one flat list, so mapping a person is
    a single loop. The flags say which of the common value types the loop may convert inline,
    without calling the field's converter: they are set only where the converter would give
    exactly that result (see ``_rule``), so the fast path never changes an outcome.
    """

    def __init__(
        self,
        config: Config,
        emails: Mapping[str, str],
        source: SourceProfile,
        target: TargetProfile,
    ) -> None:
        self.emails = emails
        self.contractor_type = source.contractor_type
        names = [("first_name", "first_name"), ("last_name", "last_name")]
        names += [(setting.name, setting.source) for setting in config.fields if setting.enabled]
        standard = [
            _rule(name, key, "standard", _id if name == "manager" else normalise_value)
            for name, key in names
        ]
        converters: Mapping[str, Callable[[AttrValue], FieldValue | _Rejected]] = {
            "text": self._text,
            "number": self._number,
            "date": self._date,
            "multi_select": self._multi_select,
            "user": self._user,
        }
        custom = [
            _rule(attr.field_name, attr.personio, attr.type, converters[attr.type])
            for attr in config.custom_attributes
        ]
        #: field name → its custom attribute, to word a rejected value's warning
        self.custom_by_name = {attr.field_name: attr for attr in config.custom_attributes}
        self.rules: list[_Rule] = standard + custom
        self.contractor_rules: list[_Rule] = [
            rule for rule in standard if rule[0] not in target.contractor_unmanaged_fields
        ] + custom
        #: date → its ISO form, and tags → their joined form, computed once per distinct value
        self.iso_dates: dict[dt.date, str] = {}
        self.joined_tags: dict[tuple[str, ...], FieldValue] = {}
        self.choice_sets: dict[tuple[str, ...], FieldValue] = {}
        # Each person's fields start as a copy of a dict that already has every key: one
        # right-sized allocation instead of a dict that grows (and is re-allocated) per field.
        self.template: dict[str, FieldValue] = dict.fromkeys(rule[0] for rule in self.rules)
        self.contractor_template: dict[str, FieldValue] = dict.fromkeys(
            rule[0] for rule in self.contractor_rules
        )

    def desired_user(
        self, employee: Employee, employment_type: str, email: str, warnings: list[Problem]
    ) -> DesiredUser:
        get = employee.attributes.get
        dates = self.iso_dates
        if employment_type == self.contractor_type:
            rules, fields = self.contractor_rules, self.contractor_template.copy()
        else:
            rules, fields = self.rules, self.template.copy()
        # This runs about fifteen times per person: the common value types are converted
        # inline (see ``_rule`` for when that is exactly what the converter would do).
        for name, key, trims_text, isoformats_date, convert in rules:
            value = get(key)
            if value is None:
                continue  # already None: every converter maps a missing value to None
            if type(value) is str and trims_text:
                fields[name] = clean_text(value)
                continue
            if type(value) is dt.date and isoformats_date:
                # isoformat() costs several times a dict lookup, and dates repeat a lot
                # (hire dates, birthdays): each distinct date is formatted once per run.
                iso = dates.get(value)
                if iso is None:
                    iso = dates[value] = value.isoformat()
                fields[name] = iso
                continue
            converted = convert(value)
            if isinstance(converted, _Rejected):
                attr = self.custom_by_name[name]
                warnings.append(_custom_problem(employee.source_id, attr, converted.code))
                if converted.code != "custom_user_not_found":
                    del fields[name]  # left unchanged: not compared, not written
                continue
            fields[name] = converted
        return DesiredUser(employee.source_id, email, employment_type, fields)

    def _text(self, value: AttrValue) -> FieldValue | _Rejected:
        if value.__class__ is str:
            return clean_text(value)
        if type(value) is tuple:
            # Tags (skills and the like) repeat across people: sort and join each set once.
            if value in self.joined_tags:
                return self.joined_tags[value]
            joined = self.joined_tags[value] = normalise_value(value)
            return joined
        normalised = normalise_value(value)
        if isinstance(normalised, (int, float)):
            return str(normalised)
        return normalised

    def _number(self, value: AttrValue) -> FieldValue | _Rejected:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return _Rejected("invalid_custom_value")
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return None
            try:
                value = float(text)
            except ValueError:
                return _Rejected("invalid_custom_value")
        if not math.isfinite(value):
            return _Rejected("invalid_custom_value")
        return _number(value)

    def _date(self, value: AttrValue) -> FieldValue | _Rejected:
        if value is None or isinstance(value, dt.date):
            return normalise_value(value)
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return None
            try:
                # Personio dates arrive as "2014-11-09T00:00:00+01:00": the date part counts.
                return dt.date.fromisoformat(text[:10]).isoformat()
            except ValueError:
                pass
        return _Rejected("invalid_custom_value")

    def _multi_select(self, value: AttrValue) -> FieldValue | _Rejected:
        """Tags (or a list value) → their distinct choices, sorted; one text is one choice."""
        if value is None:
            return None
        if isinstance(value, tuple):
            # Tags repeat across people: sort each set once.
            known = self.choice_sets.get(value)
            if known is None:
                known = self.choice_sets[value] = _choices(value)
            return known
        if isinstance(value, str):
            return _choices(value)
        return _Rejected("invalid_custom_value")

    def _user(self, value: AttrValue) -> FieldValue | _Rejected:
        reference = normalise_value(value)
        if reference is None:
            return None
        email = self.emails.get(str(reference))
        if email is None:
            return _Rejected("custom_user_not_found")
        return email


@dataclass(frozen=True, slots=True)
class _Rejected:
    code: str


def _rule(
    name: str, key: str, kind: str, convert: Callable[[AttrValue], FieldValue | _Rejected]
) -> _Rule:
    """A field's rule, with the inline conversions that are exact for its kind.

    ``kind`` is "standard" (``normalise_value``, or ``_id`` for the manager) or a custom
    attribute type. A ``str`` is just ``clean_text`` for ``normalise_value``, ``_id``, ``_text``;
    a number or date attribute parses text, a user attribute looks it up. A
    ``datetime.date`` (not a datetime) is just ``isoformat()`` for every kind but number
    (rejected) and user (looked up).
    """
    trims_text = kind in ("standard", "text")
    isoformats_date = kind in ("standard", "text", "date")
    return (name, key, trims_text, isoformats_date, convert)


def _custom_problem(source_id: str, attr: CustomAttribute, code: str) -> Problem:
    if code == "custom_user_not_found":
        message = (
            f"employee {source_id}: custom attribute {attr.lattice!r} ({attr.personio}) "
            "refers to an employee who is unknown, out of scope or has errors — left empty"
        )
    else:
        message = (
            f"employee {source_id}: custom attribute {attr.lattice!r} ({attr.personio}) "
            f"is not a valid {attr.type} — left unchanged"
        )
    return Problem(source_id, code, message)


# ---------------------------------------------------------------------------------------------
# Normalisation (shared with the planner)
# ---------------------------------------------------------------------------------------------


def normalise_value(value: AttrValue) -> FieldValue:
    """A parsed Personio value as Lattice compares it: trimmed NFC text ("" → None), ISO
    dates, int when integral else float, tags sorted and joined with ", "."""
    if isinstance(value, str):
        return clean_text(value)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):  # a tuple is faster than a union
        return _number(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    tags = sorted(nfc(tag.strip()) for tag in value if tag.strip())
    return ", ".join(tags) or None


def _id(value: AttrValue) -> FieldValue:
    """A Personio id reference (the supervisor) as a string, whatever type it arrived as."""
    normalised = normalise_value(value)
    return None if normalised is None else str(normalised)


def _number(value: float) -> int | float:
    if isinstance(value, int):
        return value
    return int(value) if value.is_integer() else value


def _lower(value: AttrValue) -> str | None:
    return value.strip().lower() if isinstance(value, str) else None


def problem_key(problem: Problem) -> tuple[tuple[int, int, str, str], str, str]:
    return (id_sort_key(problem.source_id), problem.code, problem.message)


def unique_problems(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    """Sorted, without repeats (two rules may notice the same thing about one person)."""
    return tuple(sorted(set(problems), key=problem_key))
