"""Frozen value types shared by every layer: config, employees, target users, plans and reports.
Imports only the standard library; no I/O, no httpx, click, yaml or environment.

Field values are normalised before they get here (see ``FieldValue``), so comparing two
users is plain ``==``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

# ---------------------------------------------------------------------------------------------
# Configuration (built by config.py from YAML; consumed by the pure core and the composition root)
# ---------------------------------------------------------------------------------------------

#: Standard target fields the config can switch on/off (their default source attribute is the
#: source profile's ``default_sources``).
STANDARD_FIELDS: tuple[str, ...] = (
    "preferred_name",
    "title",
    "start_date",
    "department",
    "manager",
    "birth_date",
    "gender",
    "ethnicity",
    "sexual_orientation",
)

#: Standard fields that are off unless the config switches them on (``fields.gender: true`` or
#: ``{source: ...}``): Lattice has them, but which Personio attribute (if any) holds them
#: differs per company, and they are special-category data (docs/decisions.md, 2026-12-03).
OPT_IN_FIELDS: frozenset[str] = frozenset({"gender", "ethnicity", "sexual_orientation"})

#: Fields that are always synced (identity and name); not switchable.
IDENTITY_FIELDS: tuple[str, ...] = ("email", "first_name", "last_name")

#: Key of ``TargetUser.fields`` holding the target's full name when its name parts are unknown
#: (null and not recoverable from it). Not a plan field (plan fields contain no dot): the
#: planner compares it with the desired parts joined by a space, see docs/decisions.md.
FULL_NAME_FIELD = "name.formatted"

#: The plan fields the full name is made of, in order.
NAME_PARTS: tuple[str, str] = ("first_name", "last_name")

#: Fields that are never printed in any rendering, whatever the config says.
ALWAYS_SENSITIVE_FIELDS: frozenset[str] = frozenset({"birth_date"}) | OPT_IN_FIELDS

#: Prefix of plan field names that carry a Lattice custom attribute: ``custom:Cost Center``.
CUSTOM_PREFIX = "custom:"

#: Requests per second towards each system unless the config says otherwise; the HTTP edge
#: uses the same value (docs/decisions.md says why it is safe for both vendors).
DEFAULT_REQUESTS_PER_SECOND = 5.0

#: ``multi_select`` holds a set of choices (Personio tags), written as a list of strings and
#: compared as a sorted set; ``date`` is written as YYYY-MM-DD (docs/decisions.md, 2026-12-03).
CustomType = Literal["text", "number", "date", "multi_select", "user"]
UnmanagedPolicy = Literal["ignore", "deactivate"]
#: Lattice users another provisioner created (docs/decisions.md, 2026-12-02: policies)
ForeignPolicy = Literal["leave", "adopt"]
#: Users deactivated in the target while their person is active in the source
ReactivatePolicy = Literal["always", "never"]


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A reference to a secret held outside the file: ``env:NAME``. Never the secret itself."""

    env_name: str

    def __str__(self) -> str:
        return f"env:{self.env_name}"


@dataclass(frozen=True, slots=True)
class PersonioSettings:
    base_url: str
    client_id: SecretRef
    client_secret: SecretRef
    app_id: str
    partner_id: str | None = None


@dataclass(frozen=True, slots=True)
class LatticeSettings:
    base_url: str
    token: SecretRef
    max_requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND


@dataclass(frozen=True, slots=True)
class SyncSettings:
    employee_types: tuple[str, ...] = ("internal", "external")
    statuses: tuple[str, ...] = ("active", "onboarding", "leave")
    unmanaged_users: UnmanagedPolicy = "ignore"
    #: case-folded, trimmed emails that are never created, changed or deactivated
    protected: frozenset[str] = frozenset()
    #: users whose external id is not of the source's id form: left alone, or adopted by email
    foreign_users: ForeignPolicy = "leave"
    #: whether a user deactivated in the target while its person is active is reactivated
    reactivate: ReactivatePolicy = "always"


@dataclass(frozen=True, slots=True)
class FieldSetting:
    """One standard field: whether it is managed, and which Personio attribute feeds it."""

    name: str  # a key of STANDARD_FIELDS
    enabled: bool
    source: str  # Personio attribute key, e.g. "position" or "dynamic_1234"


@dataclass(frozen=True, slots=True)
class CustomAttribute:
    """A Personio attribute (key or label, as written) mapped onto a Lattice custom attribute."""

    personio: str
    lattice: str
    type: CustomType = "text"
    sensitive: bool = False

    @property
    def field_name(self) -> str:
        return f"{CUSTOM_PREFIX}{self.lattice}"


@dataclass(frozen=True, slots=True)
class Threshold:
    """Refuse when either limit is exceeded; ``None`` means no limit of that kind.

    ``count`` is a number of changes (or errors); ``percent`` a share of the rule's population.
    """

    count: int | None = None
    percent: float | None = None


@dataclass(frozen=True, slots=True)
class SafetySettings:
    """The limits a plan must stay within, each read by one rule of ``core.safety``.

    Every ``Threshold`` field is one rule's limit; adding a rule adds one field here, one entry
    under ``safety`` in ``schemas/integration.schema.json`` and one rule in ``core.safety``. The
    config loader and the starter config follow these fields, so they need no edit. Why each
    default is what it is:

    - ``max_deactivations`` {count 10, percent 5} of the active Lattice users: deactivating cuts
      people off, so only a normal week of leavers passes; a gutted Personio answer or a scope
      edit that drops half the company does not.
    - ``max_reactivations`` {count 10, percent 5}: the mirror image, and as harmful — it gives
      leavers their access back. Returning employees come one or two at a time; 85 at once
      means a status (``inactive``) or an employment type was added to the scope by mistake.
    - ``max_creates`` {count 50, percent 25}: a new Lattice user may be invited by email, so
      "create everyone" must not slip through — the sign of a config pointed at the wrong
      Lattice. 50 covers the largest onboarding day of a company of a few thousand; 25 % covers
      a small company's hiring wave. An initial load into a (nearly) empty Lattice is not
      refused: the thresholds start at ``min_population`` active users.
    - ``max_links`` {percent 25}: links adopt users that exist in Lattice but were never synced,
      overwriting their fields. A few at a time is routine (someone invited by hand); a quarter
      of the company at once is a takeover — the first run against an established Lattice, or
      its ids wiped — which deserves one deliberate ``--force``. No count limit: in a large
      Lattice, dozens of hand-invited users are adopted without harm.
    - ``max_updates`` {percent 30}: a mass field change shows up as updates; a reorganisation
      may move a quarter of the company, a broken field mapping moves everyone.
    - ``max_errors`` {percent 10} of the Personio employees: people with errors (each counted
      once, however many errors they have; warnings never count) are left untouched, but when
      most of them have errors (1,911 of 2,000), the input is broken — a wrong source field, a
      wrong Personio account — and the rest of the plan is suspect. A healthy account has a few
      (the sandbox: 2 of 60; 200 of 2,000 still passes). No count limit: errors write nothing,
      so only their share says something is wrong.
    - ``min_population`` 10: the thresholds apply once the rule's population (active Lattice
      users; Personio employees for ``max_errors``) reaches this, so a first load into an empty
      Lattice and a tiny company are not refused for percentages of almost nothing.
    - ``min_source_employees`` 1: an empty Personio answer is a lost credential, not "everyone
      left"; never forceable.
    """

    max_deactivations: Threshold = Threshold(count=10, percent=5)
    max_reactivations: Threshold = Threshold(count=10, percent=5)
    max_creates: Threshold = Threshold(count=50, percent=25)
    max_links: Threshold = Threshold(percent=25)
    max_updates: Threshold = Threshold(percent=30)
    max_errors: Threshold = Threshold(percent=10)
    min_population: int = 10
    min_source_employees: int = 1


@dataclass(frozen=True, slots=True)
class Config:
    personio: PersonioSettings
    lattice: LatticeSettings
    sync: SyncSettings = SyncSettings()
    #: one entry per name in STANDARD_FIELDS, in that order (the loader always fills it)
    fields: tuple[FieldSetting, ...] = ()
    custom_attributes: tuple[CustomAttribute, ...] = ()
    safety: SafetySettings = SafetySettings()
    version: int = 1

    def field(self, name: str) -> FieldSetting:
        for setting in self.fields:
            if setting.name == name:
                return setting
        raise KeyError(name)

    def is_managed(self, name: str) -> bool:
        """Whether a standard field is synced (identity fields always are)."""
        if name in IDENTITY_FIELDS:
            return True
        return any(setting.name == name and setting.enabled for setting in self.fields)

    @property
    def sensitive_fields(self) -> frozenset[str]:
        custom = {attr.field_name for attr in self.custom_attributes if attr.sensitive}
        return ALWAYS_SENSITIVE_FIELDS | custom


# ---------------------------------------------------------------------------------------------
# Source: Personio
# ---------------------------------------------------------------------------------------------

#: A parsed Personio attribute value. Dates are ``datetime.date``; tags/lists are tuples;
#: nested department/office/team become their name; a nested supervisor becomes its id.
AttrValue = str | int | float | bool | dt.date | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class AttributeInfo:
    """One entry of ``GET /company/employees/attributes``."""

    key: str  # e.g. "first_name", "dynamic_1234567"
    label: str  # e.g. "First name", "Cost center"
    type: str  # standard | date | integer | decimal | list | link | tags | multiline
    #: the tenant-independent name of a standard field ("date_of_birth"), ``None`` for others
    universal_id: str | None = None


@dataclass(frozen=True, slots=True)
class Employee:
    """One source employee, parsed. ``attributes`` holds every attribute Personio returned,
    by key, parsed; attributes the credential may not read are absent (not ``None``)."""

    source_id: str
    attributes: Mapping[str, AttrValue] = field(default_factory=dict, hash=False)

    def get(self, key: str) -> AttrValue:
        return self.attributes.get(key)

    def text(self, key: str) -> str | None:
        """The attribute as a trimmed string, ``None`` when missing or empty."""
        value = self.attributes.get(key)
        if value is None:
            return None
        if isinstance(value, tuple):
            value = ", ".join(value)
        text = value.isoformat() if isinstance(value, dt.date) else str(value)
        text = text.strip()
        return text or None


@dataclass(frozen=True, slots=True)
class Problem:
    """A per-person problem: carried into the plan as an error or warning, never a crash.

    ``message`` names ids and attribute names only, never personal values.
    """

    source_id: str | None
    code: str
    message: str
    email: str | None = None  # kept for matching decisions; never rendered by default

    def sort_key(self) -> tuple[str, str, str]:
        return (self.source_id or "", self.code, self.message)


@dataclass(frozen=True, slots=True)
class SourceSnapshot:
    """Everything one run read from Personio."""

    employees: tuple[Employee, ...]
    problems: tuple[Problem, ...] = ()
    #: attribute keys that appeared on at least one employee (to detect disallowed attributes)
    attribute_keys: frozenset[str] = frozenset()


# ---------------------------------------------------------------------------------------------
# Target: Lattice (SCIM)
# ---------------------------------------------------------------------------------------------

#: A normalised field value: trimmed string, ISO date string, number, the sorted distinct
#: choices of a ``multi_select`` custom attribute (a tuple, never empty), or None for "not set".
FieldValue = str | int | float | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class TargetUser:
    """One Lattice user as read through SCIM.

    ``fields`` uses plan field names (``first_name``, ``last_name``, ``preferred_name``,
    ``title``, ``department``, ``manager``, ``start_date``, ``birth_date``, ``custom:<name>``);
    ``manager`` holds the manager's SCIM id. Values are normalised (see ``FieldValue``).
    """

    target_id: str
    email: str  # userName
    active: bool
    external_id: str | None = None
    fields: Mapping[str, FieldValue] = field(default_factory=dict, hash=False)


# ---------------------------------------------------------------------------------------------
# Decisions: desired users, changes, plans, reports
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DesiredUser:
    """What Lattice should hold for one in-scope Personio employee.

    ``fields`` holds only managed fields, normalised; ``manager`` holds the manager's
    Personio id (resolved to a SCIM id only at apply time).
    """

    source_id: str
    email: str
    employment_type: str
    fields: Mapping[str, FieldValue] = field(default_factory=dict, hash=False)


class Action(StrEnum):
    """Change kinds, declared in execution order."""

    CREATE = "create"
    LINK = "link"
    REACTIVATE = "reactivate"
    UPDATE = "update"
    DEACTIVATE = "deactivate"

    @property
    def order(self) -> int:
        return list(Action).index(self)


@dataclass(frozen=True, slots=True)
class FieldChange:
    name: str
    before: FieldValue
    after: FieldValue


@dataclass(frozen=True, slots=True)
class Change:
    """One request's worth of change to one Lattice user.

    - ``create``: ``fields`` lists every value to write (``before`` is ``None``).
    - ``link``: adopt an unlinked user by email; writes ``externalId`` plus any field diffs.
    - ``reactivate``: sets ``active`` true plus any field diffs.
    - ``update``: field diffs only.
    - ``deactivate``: sets ``active`` false; no fields.

    ``manager`` values are Personio ids. ``depends_on`` names the Personio id of a user
    created earlier in the same plan (this user's manager) whose SCIM id is needed first.
    ``waits_for`` names the Personio ids of people whose changes in this plan must be applied
    first: the colleague whose rename frees the address this change takes (a hand-over), or a
    person this change points at whose address changes (docs/decisions.md, hand-overs).
    ``reason`` says why, in words, for lifecycle changes (deactivate, reactivate), for a link
    that adopts another provisioner's user and for the create of a contractor; it is not part
    of the checksum (docs/decisions.md).
    """

    action: Action
    source_id: str | None
    target_id: str | None
    email: str
    fields: tuple[FieldChange, ...] = ()
    depends_on: str | None = None
    waits_for: tuple[str, ...] = ()
    #: an explanation, not an action: two changes that do the same compare equal
    reason: str | None = field(default=None, compare=False)

    def field(self, name: str) -> FieldChange | None:
        for change in self.fields:
            if change.name == name:
                return change
        return None


#: Why a change (or a field of one) is in a plan reviewed against a baseline config
#: (``core.cause``): ``config`` — the config change causes it; ``data`` — pending anyway.
Cause = Literal["config", "data"]


@dataclass(frozen=True, slots=True)
class ChangeCause:
    """The cause of one change of a plan and of each of its fields (``core.cause``)."""

    cause: Cause
    fields: Mapping[str, Cause] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class Attribution:
    """A plan compared with the plan of a baseline config over the same read: one
    ``ChangeCause`` per change, in plan order, and what the baseline would do that this
    config prevents. An annotation for reviewers: not part of the checksum."""

    causes: tuple[ChangeCause, ...]
    prevented: tuple[Change, ...] = ()


#: A commit as git names it (7 to 64 hexadecimal digits): what a plan context and a review
#: record accept; anything else in RECONCILE_COMMIT, GITHUB_SHA or --commit is refused.
COMMIT_ID = re.compile(r"[0-9a-f]{7,64}")


@dataclass(frozen=True, slots=True)
class PlanContext:
    """What a plan was computed against: both endpoints, the sha256 of the config file's bytes
    and, in CI, the commit. Shown with every plan; only the config digest is ever compared
    (``apply --plan`` refuses a plan from another config). See docs/security.md."""

    personio_endpoint: str
    lattice_endpoint: str
    #: ``sha256:<hex>`` of the config file's bytes
    config_sha256: str
    #: ``RECONCILE_COMMIT`` or ``GITHUB_SHA``; None when run locally
    commit: str | None = None


@dataclass(frozen=True, slots=True)
class Person:
    """Someone a plan names: the subject of a change, or whom a ``manager`` or ``user``
    attribute value points at, so renderings can show a person rather than a bare id
    (``core.people``). Never part of the checksum."""

    source_id: str | None
    target_id: str | None
    email: str
    name: str | None = None
    #: the desired department, else the one Lattice holds (the per-department summary)
    department: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """An immutable, deterministically ordered plan. Build it with ``planner.compute_plan``."""

    changes: tuple[Change, ...]
    unchanged: int
    warnings: tuple[Problem, ...] = ()
    errors: tuple[Problem, ...] = ()
    sensitive_fields: frozenset[str] = ALWAYS_SENSITIVE_FIELDS
    #: population figures the safety policy needs (not part of the checksum)
    source_employees: int = 0
    target_users: int = 0
    checksum: str = ""
    #: with ``plan --baseline-config``: what the config change causes (not in the checksum)
    attribution: Attribution | None = None
    #: what the plan was computed against (not in the checksum; see PlanContext)
    context: PlanContext | None = None
    #: who the changes concern and whom their manager and ``user`` values name (renderings
    #: only: not in the checksum, not compared)
    people: tuple[Person, ...] = field(default=(), compare=False)
    #: (Personio id, Lattice id) of the users matched to a person other than their
    #: ``externalId`` names, which Lattice keeps once set: users adopted from another
    #: provisioner and relinked rehires. Apply resolves managers through it (not in the
    #: checksum: it follows from the data the checksum covers).
    matched_as: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def count(self, action: Action) -> int:
        return sum(1 for change in self.changes if change.action is action)

    @property
    def summary(self) -> dict[str, int]:
        counts = {action.value: self.count(action) for action in Action}
        counts["unchanged"] = self.unchanged
        return counts

    @property
    def is_empty(self) -> bool:
        return not self.changes


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The user a write landed on, and how many requests carrying the write were sent."""

    target_id: str
    attempts: int
    #: the create found the user already there (a 409 for our own externalId): another run
    #: created it, so this one records it as already present, not as created
    already_present: bool = False
    #: what the write set that the target did not store, by name (``core.verify``); the
    #: write was answered as a success, yet the next plan would plan it again
    not_stored: tuple[str, ...] = ()
    #: ``GET``s sent to read the user back (a 204, an answer without the resource, or a
    #: difference to confirm); they carry no write, so they are not ``attempts``
    read_backs: int = 0
    #: why the read-back failed, when it did (ids and our message only): the write stands,
    #: whether the target stored it is unknown
    unverified: str | None = None


class Outcome(StrEnum):
    APPLIED = "applied"
    #: the target answered success but did not store some of it (``ChangeResult.not_applied``)
    NOT_APPLIED = "not_applied"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class ChangeResult:
    change: Change
    outcome: Outcome
    target_id: str | None = None
    detail: str | None = None  # SCIM detail or our reason; never personal values
    attempts: int = 0
    #: with ``NOT_APPLIED``: the names of what the target did not store (never values)
    not_applied: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ApplyReport:
    plan: Plan
    results: tuple[ChangeResult, ...]
    interrupted: bool = False

    def count(self, outcome: Outcome) -> int:
        return sum(1 for result in self.results if result.outcome is outcome)

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.outcome is Outcome.APPLIED for r in self.results)
