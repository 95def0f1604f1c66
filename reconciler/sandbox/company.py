"""A seeded, invented sample company in Personio's wire format, with the quirks real data has.
Imports the standard library only; deterministic from the seed (no clock, no global random).

Everyone is invented; every address is at example.com. ``quirks=True`` (and at least 40
people) plants the awkward cases the reconciler must handle and says where in ``notes``.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import itertools
import json
import random
import unicodedata
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

#: Standard Personio attributes: (key, label, type), with their real keys and labels.
STANDARD_ATTRIBUTES: tuple[tuple[str, str, str], ...] = (
    ("id", "Employee ID", "integer"),
    ("first_name", "First name", "standard"),
    ("last_name", "Last name", "standard"),
    ("preferred_name", "Preferred name", "standard"),
    ("email", "Email", "standard"),
    ("status", "Status", "standard"),
    ("employment_type", "Employment type", "standard"),
    ("position", "Position", "standard"),
    ("hire_date", "Hire date", "date"),
    ("termination_date", "Termination date", "date"),
    ("department", "Department", "standard"),
    ("office", "Office", "standard"),
    ("supervisor", "Supervisor", "standard"),
)

#: Where every sandbox tenant keeps the birth date: a custom attribute, as in Personio's
#: published example of ``GET /company/employees/{id}`` (``dynamic_180883``, ``type: date``,
#: ``universal_id: date_of_birth``), never a key ``birthday`` (docs/decisions.md, 2026-12-03).
BIRTHDAY_CUSTOM_KEY = "dynamic_180883"
BIRTHDAY_UNIVERSAL_ID = "date_of_birth"
BIRTHDAY_LABEL = "Birthday"
BIRTHDAY_GERMAN_LABEL = "Geburtstag"

#: Custom attributes of the sample company: (key, label, type). The example config maps them
#: (the birth date through ``fields.birth_date``, found by its universal id).
CUSTOM_ATTRIBUTES: tuple[tuple[str, str, str], ...] = (
    (BIRTHDAY_CUSTOM_KEY, BIRTHDAY_LABEL, "date"),
    ("dynamic_1234567", "Cost center", "list"),
    ("dynamic_2345678", "T-shirt size", "list"),
    ("dynamic_3456789", "Level", "integer"),
    ("dynamic_4567890", "Probation end", "date"),
    ("dynamic_5678901", "Buddy", "standard"),
    ("dynamic_6789012", "Skills", "tags"),
    ("dynamic_7890123", "Salary band", "list"),
)

ALL_ATTRIBUTES: tuple[tuple[str, str, str], ...] = STANDARD_ATTRIBUTES + CUSTOM_ATTRIBUTES
# (key, label, type, universal_id), worked out once: building 100,000 employees is hot.
# Custom attributes have no universal id, except the birth date (Personio's example).
_WIRE_ATTRIBUTES: tuple[tuple[str, str, str, str | None], ...] = tuple(
    (
        key,
        label,
        kind,
        BIRTHDAY_UNIVERSAL_ID
        if key == BIRTHDAY_CUSTOM_KEY
        else None
        if key.startswith("dynamic_")
        else key,
    )
    for key, label, kind in ALL_ATTRIBUTES
)

#: Fewer people than this and the quirks would crowd out the ordinary employees.
MIN_QUIRK_EMPLOYEES = 40

#: Onboarding people start this far ahead, so "future" stays true for years without a clock.
ONBOARDING_START = dt.date(2030, 1, 5)

DEPARTMENTS: tuple[str, ...] = (
    "Management",
    "Engineering",
    "Product",
    "Sales",
    "Marketing",
    "Customer Success",
    "Finance",
    "People",
)
# Engineering and Sales are the big departments; Management is only the CEO.
_DEPARTMENT_WEIGHTS: tuple[int, ...] = (0, 30, 10, 20, 8, 14, 6, 5)
_DEPARTMENT_INDEXES = tuple(range(len(DEPARTMENTS)))
_DEPARTMENT_CUM_WEIGHTS = tuple(itertools.accumulate(_DEPARTMENT_WEIGHTS))
_POSITIONS: Mapping[str, tuple[str, ...]] = {
    "Management": ("Executive Assistant",),
    "Engineering": ("Software Engineer", "Senior Software Engineer", "Site Reliability Engineer"),
    "Product": ("Product Manager", "Product Designer", "UX Researcher"),
    "Sales": ("Account Executive", "Sales Development Representative", "Solutions Engineer"),
    "Marketing": ("Content Marketer", "Growth Marketer", "Brand Designer"),
    "Customer Success": ("Customer Success Manager", "Support Specialist"),
    "Finance": ("Accountant", "Financial Analyst"),
    "People": ("People Partner", "Recruiter", "People Operations Specialist"),
}
OFFICES: tuple[str, ...] = ("Berlin", "Munich", "London", "Madrid", "Amsterdam")
SHIRT_SIZES: tuple[str, ...] = ("XS", "S", "M", "L", "XL", "XXL")
SKILLS: tuple[str, ...] = (
    "Python",
    "Go",
    "TypeScript",
    "SQL",
    "Negotiation",
    "Public speaking",
    "Figma",
    "Kubernetes",
    "Excel",
    "Coaching",
)

# (as written, ASCII form for the email address). Invented combinations; a few non-Latin
# and accented names, because real directories have them and emails must still be ASCII.
FIRST_NAMES: tuple[tuple[str, str], ...] = (
    ("Ada", "ada"),
    ("Ben", "ben"),
    ("Chloé", "chloe"),
    ("Dmitri", "dmitri"),
    ("Elif", "elif"),
    ("Farah", "farah"),
    ("Gustav", "gustav"),
    ("Hana", "hana"),
    ("Ilse", "ilse"),
    ("Jonas", "jonas"),
    ("Kofi", "kofi"),
    ("Lena", "lena"),
    ("Mateo", "mateo"),
    ("Nora", "nora"),
    ("Oskar", "oskar"),
    ("Priya", "priya"),
    ("Quentin", "quentin"),
    ("Rosa", "rosa"),
    ("Søren", "soeren"),
    ("Tomás", "tomas"),
    ("Uma", "uma"),
    ("Vera", "vera"),
    ("Wiebke", "wiebke"),
    ("Xavier", "xavier"),
    ("Yara", "yara"),
    ("Zoë", "zoe"),
    ("Łukasz", "lukasz"),
    ("Björn", "bjoern"),
    ("Ayşe", "ayse"),
    ("Zoltán", "zoltan"),
    ("Андрей", "andrei"),
    ("Σοφία", "sofia"),
    ("美咲", "misaki"),
    ("민준", "minjun"),
    ("Amara", "amara"),
    ("Noah", "noah"),
    ("Mila", "mila"),
    ("Leon", "leon"),
    ("Ines", "ines"),
    ("Rafael", "rafael"),
)
LAST_NAMES: tuple[tuple[str, str], ...] = (
    ("Abernathy", "abernathy"),
    ("Brightwater", "brightwater"),
    ("Castellanos", "castellanos"),
    ("Dünnebier", "duennebier"),
    ("Eklund", "eklund"),
    ("Fairweather", "fairweather"),
    ("Grünfeld", "gruenfeld"),
    ("Holloway", "holloway"),
    ("Ishikawa", "ishikawa"),
    ("Jovanović", "jovanovic"),
    ("Kowalczyk", "kowalczyk"),
    ("Lindqvist", "lindqvist"),
    ("Moreau", "moreau"),
    ("Nakamura", "nakamura"),
    ("Okonkwo", "okonkwo"),
    ("Papadopoulou", "papadopoulou"),
    ("Quintero", "quintero"),
    ("Rasmussen", "rasmussen"),
    ("Sørensen", "soerensen"),
    ("Takahashi", "takahashi"),
    ("Underhill", "underhill"),
    ("Vasquez", "vasquez"),
    ("Winterbottom", "winterbottom"),
    ("Yilmaz", "yilmaz"),
    ("Zielińska", "zielinska"),
    ("Иванова", "ivanova"),
    ("Παππάς", "pappas"),
    ("田中", "tanaka"),
    ("김", "kim"),
    ("O'Malley", "omalley"),
    ("van der Berg", "vanderberg"),
    ("Ferreira-Lima", "ferreira-lima"),
)
NICKNAMES: tuple[str, ...] = ("Alex", "Sam", "Kim", "Mo", "Jo", "Charlie")


@dataclass(frozen=True)
class SampleCompany:
    """Personio wire-format employees and attribute catalogue, plus what is special about whom."""

    employees: tuple[dict[str, object], ...]
    attributes: tuple[dict[str, object], ...]
    notes: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Person:
    """One person while the company is being built (mutable; turned into wire format last)."""

    pid: int
    first: str
    last: str
    email: str
    department: int
    supervisor: int | None = None  # index into the people list
    position: str = ""
    status: str = "active"
    employment_type: str = "internal"
    hire_date: dt.date = dt.date(2020, 1, 1)
    termination_date: dt.date | None = None
    birthday: dt.date = dt.date(1990, 1, 1)
    preferred_name: str = ""
    office: str = "Berlin"
    level: int = 1
    cost_center: str = "CC-100"
    reports: int = 0
    # wire-format overrides planted by quirks
    department_wire: object = None
    department_override: bool = False
    plain_hire_date: bool = False


def build_attribute_catalogue() -> tuple[dict[str, object], ...]:
    """``GET /company/employees/attributes`` entries for every attribute of the sample company."""
    return tuple(
        {"key": key, "label": label, "type": kind, "universal_id": universal_id, "options": []}
        for key, label, kind, universal_id in _WIRE_ATTRIBUTES
    )


def build_wire_employee(values: Mapping[str, object]) -> dict[str, object]:
    """A Personio employee object: ``{"type": "Employee", "attributes": {key: {...}}}``.

    ``values`` holds wire values by key (``""``/``None`` where empty); missing keys are null.
    """
    return {
        "type": "Employee",
        "attributes": {
            key: {
                "label": label,
                "value": values.get(key),
                "type": kind,
                "universal_id": universal_id,
            }
            for key, label, kind, universal_id in _WIRE_ATTRIBUTES
        },
    }


@functools.lru_cache(maxsize=16384)
def wire_date(day: dt.date) -> str:
    """Personio's date format: midnight in Berlin, with the offset of that day (CET/CEST)."""
    offset = "+02:00" if 4 <= day.month <= 10 else "+01:00"
    return f"{day.isoformat()}T00:00:00{offset}"


def _random_date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randrange((end - start).days + 1))


@functools.lru_cache(maxsize=1024)
def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if char.isascii() and char.isalnum())


def generate_company(n: int, seed: int = 7, *, quirks: bool = True) -> SampleCompany:
    """``n`` invented employees: a CEO, department heads, teams of 3-9, ~10 % contractors,
    some onboarding, on leave and inactive leavers. Same ``n``/``seed``/``quirks`` → same output.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    # Millions of small acyclic dicts: the cyclic collector would traverse them all again and
    # again for nothing (it doubles the time at 100,000 people), so pause it while building.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _generate(n, random.Random(seed), quirks=quirks)
    finally:
        if collecting:
            gc.enable()


def _generate(n: int, rng: random.Random, *, quirks: bool) -> SampleCompany:
    people = _build_people(n, rng)
    notes: dict[str, str] = {}
    leaves = [index for index, person in enumerate(people) if person.reports == 0 and index > 0]
    if quirks and n >= MIN_QUIRK_EMPLOYEES:
        planted = _plant_quirks(people, leaves, rng, notes)
        leaves = [index for index in leaves if index not in planted]
    _assign_lifecycle(people, leaves, rng)
    builder = _WireBuilder(people, rng)
    employees = tuple(builder.employee(person) for person in people)
    return SampleCompany(
        employees=employees,
        attributes=build_attribute_catalogue(),
        notes=dict(sorted(notes.items(), key=lambda item: int(item[0]))),
    )


def sandbox_company() -> SampleCompany:
    """The company the built-in sandbox serves."""
    return generate_company(60, seed=7)


def _build_people(n: int, rng: random.Random) -> list[_Person]:
    """People with names, unique emails, departments and a manager tree (BFS, teams of 3-9)."""
    people: list[_Person] = []
    email_counts: dict[str, int] = {}
    for index in range(n):
        first, first_ascii = rng.choice(FIRST_NAMES)
        last, last_ascii = rng.choice(LAST_NAMES)
        local = f"{_ascii(first_ascii)}.{_ascii(last_ascii)}"
        count = email_counts.get(local, 0) + 1
        email_counts[local] = count
        if count > 1:
            local = f"{local}{count}"
        people.append(
            _Person(
                pid=index + 1, first=first, last=last, email=f"{local}@example.com", department=0
            )
        )
    if not people:
        return people
    ceo = people[0]
    ceo.position, ceo.level, ceo.cost_center = "Chief Executive Officer", 8, "CC-900"
    ceo.hire_date = dt.date(2012, 3, 1)
    # Per department: a queue of people who can still take reports, BFS, so teams fill up
    # level by level like a real org chart.
    openings: dict[int, deque[int]] = {}
    capacity: dict[int, int] = {}
    heads: dict[int, int] = {}
    for index in range(1, n):
        person = people[index]
        if index < len(DEPARTMENTS):
            department = index  # the first hires are the department heads
        else:
            department = rng.choices(_DEPARTMENT_INDEXES, cum_weights=_DEPARTMENT_CUM_WEIGHTS)[0]
        person.department = department
        person.cost_center = f"CC-{department * 100 + 100}" if department else "CC-900"
        person.hire_date = _random_date(rng, dt.date(2012, 1, 1), dt.date(2025, 12, 31))
        person.birthday = _random_date(rng, dt.date(1962, 1, 1), dt.date(2003, 12, 31))
        person.office = rng.choice(OFFICES)
        if department not in heads:
            heads[department] = index
            person.supervisor = 0
            person.position = f"Head of {DEPARTMENTS[department]}"
            person.level = 7
            openings[department] = deque([index])
            capacity[index] = rng.randint(3, 9)
        else:
            queue = openings[department]
            manager = queue[0]
            person.supervisor = manager
            person.position = rng.choice(_POSITIONS[DEPARTMENTS[department]])
            person.level = rng.randint(1, 5)
            capacity[manager] -= 1
            if capacity[manager] == 0:
                queue.popleft()
            queue.append(index)
            capacity[index] = rng.randint(3, 9)
        people[person.supervisor].reports += 1
    for person in people[1:]:
        if person.reports and person.level < 7:
            person.level = rng.randint(5, 6)
            person.position = "Team Lead"
    return people


def _plant_quirks(
    people: list[_Person], leaves: list[int], rng: random.Random, notes: dict[str, str]
) -> set[int]:
    """Turn a few ordinary leaf employees into the awkward cases; returns who was used."""
    chosen = rng.sample(leaves, 15)
    (dup_a, dup_b, leaver, orphan, rehire, onboarding, on_leave, contractor) = chosen[:8]
    preferred = chosen[8:11]
    empty_forms = chosen[11:14]
    plain_date = chosen[14]

    def note(index: int, text: str) -> None:
        key = str(people[index].pid)
        notes[key] = f"{notes[key]}; {text}" if key in notes else text

    # Same mailbox for two people, differing only in case and surrounding whitespace.
    people[dup_b].email = f"  {people[dup_a].email.upper()} "
    note(dup_a, f"duplicate email (same address as {people[dup_b].pid})")
    note(dup_b, f"duplicate email (same address as {people[dup_a].pid}, other case, spaces)")

    people[leaver].status = "inactive"
    people[leaver].termination_date = dt.date(2025, 6, 30)
    people[orphan].supervisor = leaver
    people[leaver].reports += 1
    note(leaver, "leaver")
    note(orphan, f"manager out of scope: supervisor {people[leaver].pid} is an inactive leaver")

    people[rehire].hire_date = dt.date(2025, 10, 1)
    people[rehire].termination_date = dt.date(2021, 6, 30)
    note(rehire, "rehire (active, recent hire date, old termination date)")

    people[onboarding].status = "onboarding"
    people[onboarding].hire_date = ONBOARDING_START + dt.timedelta(days=rng.randrange(90))
    note(onboarding, "onboarding (future hire date)")

    people[on_leave].status = "leave"
    note(on_leave, "on leave")

    people[contractor].employment_type = "external"
    note(contractor, "contractor with a position and a supervisor (mapping drops both)")

    for index, nickname in zip(preferred, rng.sample(NICKNAMES, 3), strict=True):
        people[index].preferred_name = nickname
        note(index, "preferred name")

    forms: tuple[object, ...] = ("", None, [])
    for index, form, label in zip(empty_forms, forms, ('""', "null", "[]"), strict=True):
        people[index].department_wire = form
        people[index].department_override = True
        note(index, f"empty department sent as {label}")

    people[plain_date].plain_hire_date = True
    note(plain_date, "hire date without time or offset")
    return set(chosen)


def _assign_lifecycle(people: list[_Person], leaves: list[int], rng: random.Random) -> None:
    """Leavers, onboarding, leave and contractors, only among people without reports (so the
    ordinary company has no manager outside scope)."""
    for index in leaves:
        person = people[index]
        roll = rng.random()
        if roll < 0.06:
            person.status = "inactive"
            person.termination_date = _random_date(
                rng, max(person.hire_date, dt.date(2018, 1, 1)), dt.date(2025, 12, 31)
            )
        elif roll < 0.09:
            person.status = "onboarding"
            person.hire_date = ONBOARDING_START + dt.timedelta(days=rng.randrange(180))
        elif roll < 0.12:
            person.status = "leave"
        elif roll < 0.24:
            # Contractors: no position and no supervisor in the ordinary case.
            person.employment_type = "external"
            person.position = ""
            person.supervisor = None


class _WireBuilder:
    """Builds wire-format employees. Nested department, office and supervisor objects are
    shared between employees (read-only wire data): it keeps 100,000 employees to a few
    seconds and a fraction of the memory."""

    def __init__(self, people: list[_Person], rng: random.Random) -> None:
        self.people = people
        self.rng = rng
        self.active_ids = [person.pid for person in people if person.status == "active"]
        self.departments = [
            {"type": "Department", "attributes": {"id": 100 + index, "name": name}}
            for index, name in enumerate(DEPARTMENTS)
        ]
        self.offices = {
            name: {"type": "Office", "attributes": {"id": 10 + index, "name": name}}
            for index, name in enumerate(OFFICES)
        }
        self.supervisors: dict[int, dict[str, object]] = {}

    def supervisor(self, index: int) -> dict[str, object]:
        nested = self.supervisors.get(index)
        if nested is None:
            boss = self.people[index]
            nested = {
                "type": "Employee",
                "attributes": {
                    "id": {"label": "Employee ID", "value": boss.pid},
                    "first_name": {"label": "First name", "value": boss.first},
                    "last_name": {"label": "Last name", "value": boss.last},
                    "email": {"label": "Email", "value": boss.email},
                },
            }
            self.supervisors[index] = nested
        return nested

    def employee(self, person: _Person) -> dict[str, object]:
        rng = self.rng
        supervisor = None if person.supervisor is None else self.supervisor(person.supervisor)
        department = (
            person.department_wire
            if person.department_override
            else self.departments[person.department]
        )
        office = self.offices[person.office]
        buddy = ""
        if self.active_ids and rng.random() < 0.7:
            candidate = rng.choice(self.active_ids)
            buddy = str(candidate) if candidate != person.pid else ""
        skills = rng.sample(SKILLS, rng.randint(0, 4))
        probation = (
            wire_date(person.hire_date + dt.timedelta(days=182))
            if person.hire_date >= dt.date(2023, 1, 1)
            else None
        )
        values: dict[str, object] = {
            "id": person.pid,
            "first_name": person.first,
            "last_name": person.last,
            "preferred_name": person.preferred_name,
            "email": person.email,
            "status": person.status,
            "employment_type": person.employment_type,
            "position": person.position,
            "hire_date": person.hire_date.isoformat()
            if person.plain_hire_date
            else wire_date(person.hire_date),
            "termination_date": wire_date(person.termination_date)
            if person.termination_date
            else None,
            BIRTHDAY_CUSTOM_KEY: wire_date(person.birthday),
            "department": department,
            "office": office,
            "supervisor": supervisor,
            "dynamic_1234567": person.cost_center,
            "dynamic_2345678": rng.choice(SHIRT_SIZES),
            "dynamic_3456789": person.level,
            "dynamic_4567890": probation,
            "dynamic_5678901": buddy,
            # Personio sends tags either as a list or as a JSON list inside a string.
            "dynamic_6789012": skills if rng.random() < 0.5 else json.dumps(skills),
            "dynamic_7890123": f"B{min(9, person.level + rng.randrange(2))}",
        }
        return build_wire_employee(values)


#: Tenants the sandbox can imitate: ``en`` (the default above) and ``de``.
TENANTS: tuple[str, ...] = ("en", "de")

#: A German tenant's catalogue: labels follow the company's language, keys and universal ids
#: do not (docs/decisions.md, 2026-12-02: Personio universal ids). Custom attributes keep the
#: names the company gave them.
GERMAN_LABELS: Mapping[str, str] = {
    "id": "Mitarbeiter-ID",
    "first_name": "Vorname",
    "last_name": "Nachname",
    "preferred_name": "Rufname",
    "email": "E-Mail",
    "status": "Status",
    "employment_type": "Beschäftigungsart",
    "position": "Position",
    "hire_date": "Eintrittsdatum",
    "termination_date": "Kündigungsdatum",
    "department": "Abteilung",
    "office": "Standort",
    "supervisor": "Vorgesetzte:r",
    # The birth date's label follows the tenant's language like a standard attribute's.
    BIRTHDAY_CUSTOM_KEY: BIRTHDAY_GERMAN_LABEL,
}


def as_tenant(company: SampleCompany, tenant: str) -> SampleCompany:
    """``company`` as a tenant in ``tenant``'s language would serve it (``en``: unchanged).

    ``de``: German labels on standard attributes and on the birth date (in every tenant the
    custom attribute ``dynamic_180883`` with ``universal_id: date_of_birth``).
    """
    if tenant == "en":
        return company
    if tenant != "de":
        raise ValueError(f"unknown sandbox tenant {tenant!r} (one of {', '.join(TENANTS)})")

    def entry(key: str, value: Mapping[str, object]) -> tuple[str, dict[str, object]]:
        label = GERMAN_LABELS.get(key)
        return key, dict(value) if label is None else {**value, "label": label}

    attributes = []
    for item in company.attributes:
        key, renamed = entry(str(item["key"]), item)
        attributes.append({**renamed, "key": key})
    employees: list[dict[str, object]] = []
    for raw in company.employees:
        wire = raw["attributes"]
        assert isinstance(wire, Mapping)
        employees.append(
            {**raw, "attributes": dict(entry(key, value) for key, value in wire.items())}
        )
    return SampleCompany(
        employees=tuple(employees), attributes=tuple(attributes), notes=company.notes
    )
