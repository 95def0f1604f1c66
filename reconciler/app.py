"""The use cases — plan, apply, doctor, init — and the one place that wires config, secrets and
adapters together. Imports the core, the adapters and the edges; never the CLI or the sandbox.

Each use case returns a result object or raises the error tree (``reconciler.errors``): a refused
plan is ``UnsafePlanError``, a plan that is not the reviewed one ``StalePlanError``, an apply that
did not apply everything ``ApplyError`` (carrying its report). Nothing here prints; the CLI does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from reconciler.applier import apply_plan, audit_record
from reconciler.config import resolve_credentials, resolve_secrets
from reconciler.core.cause import annotate
from reconciler.core.explain import Explanation, explain_person
from reconciler.core.mapping import needed_attributes, resolve_sources
from reconciler.core.model import (
    COMMIT_ID,
    Action,
    ApplyReport,
    AttributeInfo,
    ChangeResult,
    Config,
    CustomType,
    LatticeSettings,
    Outcome,
    PersonioSettings,
    Plan,
    PlanContext,
    SecretRef,
    SourceSnapshot,
    TargetUser,
)
from reconciler.core.partial import (
    compute_partial_plan,
    email_lookups,
    old_manager_ids,
    partial_rules,
    plan_lookups,
)
from reconciler.core.plan_document import (
    KEYED_PREFIX,
    UNKEYED_PREFIX,
    plan_document,
    seal_matches,
    seal_plan,
)
from reconciler.core.planner import compute_plan
from reconciler.core.safety import Violation, compute_violations, gate
from reconciler.core.targeted import missing_dependencies, resolve_people, select_people
from reconciler.edges.connections import Connections
from reconciler.edges.http import Deadline
from reconciler.endpoints import check_config_endpoints
from reconciler.errors import (
    ApiError,
    ApplyError,
    PlanFileError,
    ReconcilerError,
    StalePlanError,
    StoppedError,
    TransportError,
    UnsafePlanError,
)
from reconciler.render.compare import describe_plan_difference
from reconciler.sources.personio.client import PersonioClient
from reconciler.sources.personio.parse import check_allowed_attributes
from reconciler.sources.personio.profile import PERSONIO
from reconciler.starter import render_starter_config
from reconciler.targets.lattice.profile import DEFAULT_BASE_URL as DEFAULT_LATTICE_URL
from reconciler.targets.lattice.profile import LATTICE
from reconciler.targets.scim.client import LatticeReader, LatticeWriter
from reconciler.targets.scim.dialect import SchemaAttribute

__all__ = ["Connections"]

log = logging.getLogger("reconciler.app")

#: progress(stage, done, total): stage is "personio", "lattice" or "apply".
Progress = Callable[[str, int, int], None]


# ------------------------------------------------------------------------------- connections


def connect(
    config: Config,
    environ: Mapping[str, str],
    *,
    source: str = "environment",
    personio_only: bool = False,
    allowed_origins: frozenset[str] = frozenset(),
) -> Connections:
    """Check where the credentials would go, then resolve secret references (only now:
    ``validate`` never needs them).

    A base URL outside the built-in API hosts and ``allowed_origins`` (the CLI reads them from
    ``RECONCILE_ALLOW_ENDPOINTS``) is refused before any secret is read. Every unset variable
    is reported at once. ``personio_only`` (for ``init``) needs no Lattice key.
    """
    check_config_endpoints(config, allowed_origins, source=source, personio_only=personio_only)
    if personio_only:
        secrets = resolve_secrets(
            {
                "personio.client_id": config.personio.client_id,
                "personio.client_secret": config.personio.client_secret,
            },
            environ,
            source=source,
        )
        return Connections(
            personio_base_url=config.personio.base_url,
            personio_client_id=secrets["personio.client_id"],
            personio_client_secret=secrets["personio.client_secret"],
            lattice_base_url=config.lattice.base_url,
        )
    credentials = resolve_credentials(config, environ, source=source)
    return Connections(
        personio_base_url=config.personio.base_url,
        personio_client_id=credentials.personio_client_id,
        personio_client_secret=credentials.personio_client_secret,
        lattice_base_url=config.lattice.base_url,
        lattice_token=credentials.lattice_token,
        lattice_rate=config.lattice.max_requests_per_second,
    )


@dataclass(frozen=True)
class RunLimits:
    """When one run must give up: a deadline for all of its requests, and a stop event that
    Ctrl-C, SIGTERM or a failure on the other side sets (no new request starts after it)."""

    deadline: Deadline | None = None
    stop: threading.Event | None = None


NO_LIMITS = RunLimits()


def open_personio(
    config: Config, conn: Connections, limits: RunLimits = NO_LIMITS
) -> PersonioClient:
    return PersonioClient(
        base_url=conn.personio_base_url,
        client_id=conn.personio_client_id,
        client_secret=conn.personio_client_secret,
        app_id=config.personio.app_id,
        partner_id=config.personio.partner_id,
        transport=conn.personio_transport,
        retry=conn.retry,
        requests_per_second=conn.personio_rate,
        deadline=limits.deadline,
        stop=limits.stop,
    )


def open_lattice_reader(conn: Connections, limits: RunLimits = NO_LIMITS) -> LatticeReader:
    return LatticeReader(
        base_url=conn.lattice_base_url,
        token=conn.lattice_token,
        transport=conn.lattice_transport,
        retry=conn.retry,
        requests_per_second=conn.lattice_rate,
        deadline=limits.deadline,
        stop=limits.stop,
    )


def open_lattice_writer(conn: Connections, limits: RunLimits = NO_LIMITS) -> LatticeWriter:
    # No stop here: the applier itself stops starting changes; a write already begun finishes.
    return LatticeWriter(
        base_url=conn.lattice_base_url,
        token=conn.lattice_token,
        transport=conn.lattice_transport,
        retry=conn.retry,
        requests_per_second=conn.lattice_rate,
        deadline=limits.deadline,
        # the target ignores these on update by design: not verified (docs/decisions.md)
        unverified_fields=LATTICE.create_only_fields,
    )


# ------------------------------------------------------------------------------------ plan


@dataclass(frozen=True)
class PlanRun:
    """Everything one planning run produced."""

    config: Config  # with source labels resolved to attribute keys
    plan: Plan
    violations: tuple[Violation, ...]
    actual: tuple[TargetUser, ...]
    requests: Mapping[str, int] = field(default_factory=dict)
    #: what Personio returned (a full run only; ``explain`` and ``--only`` read it)
    snapshot: SourceSnapshot | None = None

    @property
    def refused(self) -> bool:
        return bool(self.violations)


def _stage(progress: Progress | None, stage: str) -> Callable[[int, int], None] | None:
    if progress is None:
        return None

    def report(done: int, total: int) -> None:
        progress(stage, done, total)

    return report


#: Separates the checksum key from the secret it is derived from (the Lattice token by default).
_PLAN_KEY_CONTEXT = b"personio-lattice-reconciler plan checksum key v1"


def derive_plan_key(conn: Connections, override: str | None = None) -> bytes:
    """The key that seals plans: from ``override`` (``RECONCILE_PLAN_KEY``) when given, else from
    the Lattice token — which ``plan`` and ``apply`` both hold and a reader of the published
    plan does not, so nobody else can test guesses against the checksum."""
    secret = (override or "").strip() or conn.lattice_token
    if not secret:
        raise ReconcilerError(
            "there is no key to seal the plan's checksum with",
            fix="set RECONCILE_PLAN_KEY or the Lattice token",
        )
    return hmac.new(secret.encode("utf-8"), _PLAN_KEY_CONTEXT, hashlib.sha256).digest()


def plan_context(config: Config, config_path: Path, environ: Mapping[str, str]) -> PlanContext:
    """What a plan is computed against: both endpoints, the sha256 of the config file's bytes
    and the commit from ``RECONCILE_COMMIT``, else ``GITHUB_SHA`` (none when run locally)."""
    try:
        digest = hashlib.sha256(config_path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ReconcilerError(
            f"cannot read the config file ({exc.strerror})", where=str(config_path)
        ) from exc
    commit: str | None = None
    for variable in ("RECONCILE_COMMIT", "GITHUB_SHA"):
        value = environ.get(variable, "").strip().lower()
        if not value:
            continue
        if not COMMIT_ID.fullmatch(value):
            raise ReconcilerError(
                "not a commit id (7 to 64 hexadecimal digits)",
                where=variable,
                fix=f"set {variable} to the commit the plan is for, or unset it",
            )
        commit = value
        break
    return PlanContext(
        personio_endpoint=config.personio.base_url,
        lattice_endpoint=config.lattice.base_url,
        config_sha256=f"sha256:{digest}",
        commit=commit,
    )


def plan(
    config: Config,
    conn: Connections,
    *,
    progress: Progress | None = None,
    limits: RunLimits = NO_LIMITS,
    since: dt.datetime | None = None,
    plan_key: str | None = None,
    baseline: Config | None = None,
    only: tuple[str, ...] = (),
    context: PlanContext | None = None,
) -> PlanRun:
    """Read both sides read-only, then decide, and seal the plan with its keyed checksum
    (``derive_plan_key``). The reader used here has no write methods.

    With ``since`` this is a fast run (``fast_plan``): only the people updated since then.

    Once Personio has accepted the credential and listed its attributes (where nearly every
    Personio failure shows), the employee list and the Lattice user list are read at the same
    time: their rate limits are independent, so a run takes as long as the slower side, not
    the sum of both. When one side fails, the other stops within one page and the first
    failure is raised; ``limits.stop`` (Ctrl-C) stops both the same way.

    With ``baseline`` (``--baseline-config``) the same read is planned a second time with
    that config, and the plan carries which changes the config change causes
    (``core.cause``; the checksum does not cover it). With ``only`` the plan holds just
    the named people (``core.targeted``), sealed and checked like any plan. ``context``
    (``plan_context``) is carried by the plan for every rendering; the checksum ignores it.
    """
    key = derive_plan_key(conn, plan_key)
    if since is not None and (baseline is not None or only):
        raise ReconcilerError(
            "--updated-since plans a window, not a comparison or a selection",
            fix="drop --baseline-config / --only, or --updated-since",
        )
    if since is not None:
        fast = fast_plan(config, conn, since=since, progress=progress, limits=limits, key=key)
        return dataclasses.replace(fast, plan=dataclasses.replace(fast.plan, context=context))
    stop = limits.stop or threading.Event()
    limits = RunLimits(limits.deadline, stop)
    with open_personio(config, conn, limits) as personio:
        catalogue = personio.fetch_attributes()
        resolved = resolve_sources(config, catalogue, PERSONIO)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lattice") as pool:
            target = pool.submit(_read_lattice, conn, progress, limits)
            target.add_done_callback(partial(_stop_on_failure, stop))
            try:
                snapshot = personio.fetch_employees(progress=_stage(progress, "personio"))
                check_allowed_attributes(snapshot, needed_attributes(resolved, PERSONIO))
            except StoppedError:
                failure = target.exception()  # waits: the Lattice side is stopping too
                if failure is not None and not isinstance(failure, StoppedError):
                    raise failure from None
                raise
            except BaseException:
                stop.set()
                raise
            actual, lattice_requests = target.result()
        personio_requests = personio.request_count
        resolved_baseline = (
            resolve_sources(baseline, catalogue, PERSONIO) if baseline is not None else None
        )
    computed = compute_plan(snapshot, actual, resolved, source=PERSONIO, target=LATTICE)
    before = (
        compute_plan(snapshot, actual, resolved_baseline, source=PERSONIO, target=LATTICE)
        if resolved_baseline is not None
        else None
    )
    if only:
        selection = resolve_people(only, snapshot.employees, actual, email_key=PERSONIO.email_key)
        if selection.unknown:
            # Ids are named; an email given on the command line is not repeated in a log.
            named = ", ".join(n if "@" not in n else "(an email)" for n in selection.unknown)
            raise ReconcilerError(
                f"--only {named}: nobody in Personio or Lattice has this Personio id or email",
                fix="pass a Personio employee id or a work email",
            )
        computed = select_people(computed, selection)
        before = select_people(before, selection) if before is not None else None
        waiting = missing_dependencies(computed)
        if waiting:
            raise ReconcilerError(
                "; ".join(f"{person} waits for a change of {other}" for person, other in waiting),
                where="--only",
                fix="add --only for them too",
            )
    computed = dataclasses.replace(seal_plan(computed, key), context=context)
    if before is not None:
        computed = annotate(computed, before)
    return PlanRun(
        config=resolved,
        plan=computed,
        violations=compute_violations(computed, resolved.safety),
        actual=actual,
        requests={"personio": personio_requests, "lattice": lattice_requests},
        snapshot=snapshot,
    )


def explain(
    config: Config,
    conn: Connections,
    person: str,
    *,
    progress: Progress | None = None,
    limits: RunLimits = NO_LIMITS,
    plan_key: str | None = None,
) -> Explanation:
    """One person's whole story (``core.explain``), from one read-only full plan."""
    run = plan(config, conn, progress=progress, limits=limits, plan_key=plan_key)
    assert run.snapshot is not None  # a full run keeps it
    explanation = explain_person(
        person, run.snapshot, run.actual, run.config, run.plan, source=PERSONIO, target=LATTICE
    )
    if explanation is None:
        raise ReconcilerError(
            "nobody in Personio or Lattice has this Personio id or email"
            + ("" if "@" in person else f" ({person})"),
            fix="pass a Personio employee id or a work email",
        )
    return explanation


def fast_plan(
    config: Config,
    conn: Connections,
    *,
    since: dt.datetime,
    progress: Progress | None = None,
    limits: RunLimits = NO_LIMITS,
    key: bytes,
) -> PlanRun:
    """Plan only the people Personio says were updated since ``since`` (a fast run), sealed
    with ``key`` like a full plan.

    Personio: the login, the attribute catalogue and one ``updated_since`` list. Lattice,
    only when someone changed: each changed person and each person the records of those in
    scope point at, by external id; by user name only where that can tell something new; the
    current managers of users whose manager changes; and, only when there is something to
    change, the active-user count the safety thresholds are measured against. No state is
    kept: the plan is idempotent, so overlapping windows are harmless. See ``core.partial``
    for what is left to the full run.
    """
    with open_personio(config, conn, limits) as personio:
        catalogue = personio.fetch_attributes()
        resolved = resolve_sources(config, catalogue, PERSONIO)
        snapshot = personio.fetch_updated_employees(since)
        check_allowed_attributes(snapshot, needed_attributes(resolved, PERSONIO))
        personio_requests = personio.request_count
    if progress is not None:
        progress("personio", len(snapshot.employees), len(snapshot.employees))
    lookups = plan_lookups(snapshot, resolved, source=PERSONIO)
    found: dict[str, TargetUser] = {}
    population = 0
    lattice_requests = 0
    actual: tuple[TargetUser, ...] = ()
    computed = compute_partial_plan(
        snapshot, actual, resolved, source=PERSONIO, target=LATTICE, target_population=0
    )
    if lookups.source_ids:
        with open_lattice_reader(conn, limits) as lattice:
            ids = sorted(lookups.source_ids | lookups.references)
            by_external = lattice.find_by_external_ids(ids)
            found.update({u.target_id: u for users in by_external.values() for u in users})
            by_name = lattice.find_by_user_names(email_lookups(lookups, by_external))
            found.update({u.target_id: u for users in by_name.values() for u in users})
            found.update(lattice.find_by_ids(old_manager_ids(found.values(), lookups)))
            # A new manager's chain is read upwards until it is known to end (no cycle).
            asked: set[str] = set()
            for _ in range(MAX_CHAIN_ROUNDS):
                actual = tuple(sorted(found.values(), key=lambda user: user.target_id))
                gaps: set[str] = set()
                computed = compute_partial_plan(
                    snapshot,
                    actual,
                    resolved,
                    source=PERSONIO,
                    target=LATTICE,
                    target_population=0,
                    gaps=gaps,
                )
                missing = gaps - asked
                if not missing:
                    break
                asked |= missing
                found.update(lattice.find_by_ids(missing))
            if computed.changes:
                # Only a plan with changes is measured against the whole population.
                population, exact = lattice.count_active_users()
                if not exact:
                    log.warning(
                        "Lattice refused to count active users; the safety thresholds are "
                        "measured against all %d users, deactivated ones included",
                        population,
                    )
                # The population is the only input that changed, and the checksum does not
                # cover it: no need to plan again.
                computed = dataclasses.replace(computed, target_users=population)
            lattice_requests = lattice.request_count
    if progress is not None:
        progress("lattice", len(found), len(found))
    computed = seal_plan(computed, key)
    return PlanRun(
        config=resolved,
        plan=computed,
        violations=compute_violations(computed, resolved.safety, partial_rules()),
        actual=actual,
        requests={"personio": personio_requests, "lattice": lattice_requests},
    )


#: How many levels of managers a fast run reads above a new manager before it gives up
#: (the person is then left to the full run).
MAX_CHAIN_ROUNDS = 20

#: ``90m``, ``2h``, ``1d``: a window ending now.
_DURATION = re.compile(r"(\d+)\s*([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """``--updated-since``: ``90m``, ``2h``, ``1d`` before ``now``, or an ISO 8601 time (a time
    without an offset is UTC). Raises ``ValueError`` with one line saying what is accepted."""
    value = text.strip()
    moment = now or dt.datetime.now(dt.UTC)
    duration = _DURATION.fullmatch(value.lower())
    if duration is not None:
        amount = int(duration.group(1))
        if amount < 1:
            raise ValueError(f"{text!r}: the window must be at least 1{duration.group(2)}")
        return moment - dt.timedelta(**{_UNITS[duration.group(2)]: amount})
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (90m, 2h, 1d) nor an ISO 8601 time "
            "(2026-03-01T08:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    if parsed > moment:
        raise ValueError(f"{text!r} is in the future")
    return parsed


def _stop_on_failure(stop: threading.Event, done: Future[object]) -> None:
    if done.exception() is not None:
        stop.set()


def _read_lattice(
    conn: Connections, progress: Progress | None, limits: RunLimits
) -> tuple[tuple[TargetUser, ...], int]:
    with open_lattice_reader(conn, limits) as lattice:
        return lattice.fetch_users(progress=_stage(progress, "lattice")), lattice.request_count


# ------------------------------------------------------------------------------------ apply


def read_plan_checksum(path: Path) -> str:
    """The checksum carried by a JSON plan written by ``plan --format json``."""
    checksum = read_plan_file(path)["checksum"]
    assert isinstance(checksum, str)  # read_plan_file checked it
    return checksum


_FROM_PLAN = "pass the file written by 'reconcile plan --json-out FILE'"


def read_plan_file(path: Path) -> dict[str, object]:
    """A JSON plan document written by ``plan --json-out`` (or ``--format json``), checked to
    be a plan document (``schemas/plan.schema.json``) with a keyed checksum; what
    ``apply --plan`` compares the fresh plan with. Anything else is ``PlanFileError``
    of kind ``malformed``; ``check_plan_file`` checks the seal and the config next."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ReconcilerError("no such file", where=str(path)) from exc
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PlanFileError(
            "malformed",
            "the plan file is malformed: not a JSON plan",
            where=str(path),
            fix=_FROM_PLAN,
        ) from exc
    checksum = document.get("checksum") if isinstance(document, dict) else None
    if isinstance(checksum, str) and checksum.startswith(UNKEYED_PREFIX):
        raise PlanFileError(
            "malformed",
            "the plan file is malformed: it carries an unkeyed sha256: checksum "
            "(from an older release)",
            where=str(path),
            fix="run 'reconcile plan --json-out FILE' again and review that plan",
        )
    problem = _plan_schema_problem(document)
    if problem is not None:
        raise PlanFileError(
            "malformed", f"the plan file is malformed: {problem}", where=str(path), fix=_FROM_PLAN
        )
    if not isinstance(checksum, str) or not checksum.startswith(KEYED_PREFIX):
        raise PlanFileError(  # the schema requires it; kept for a schema edited by hand
            "malformed",
            "the plan file is malformed: it carries no plan checksum",
            where=str(path),
            fix=_FROM_PLAN,
        )
    assert isinstance(document, dict)  # it has a checksum, so it is an object
    return document


def _plan_schema_problem(document: object) -> str | None:
    """The first place ``document`` breaks ``schemas/plan.schema.json``, by JSON path and
    schema keyword only (the file's values may be personal data)."""
    schema_file = Path(__file__).with_name("schemas") / "plan.schema.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    errors = sorted(
        Draft202012Validator(schema).iter_errors(document), key=lambda e: list(e.absolute_path)
    )
    if not errors:
        return None
    first = errors[0]
    where = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in first.absolute_path
    )
    where = re.sub(r"[^\w.\[\]:-]", "?", where.lstrip("."))[:120] or "the document"
    return f"{where} does not satisfy the plan schema ({first.validator})"


def check_plan_file(
    document: Mapping[str, object], *, key: bytes, context: PlanContext | None, where: str
) -> None:
    """The reviewed file is what ``plan`` wrote, from this config: its content matches its
    seal (else ``edited``) and its config digest is the one of ``context`` (else
    ``from another config``). Checked before any request; ``stale`` comes after planning."""
    if "seal" not in document:
        raise PlanFileError(
            "edited",
            "the plan file was edited: it carries no seal (written by an older release, or "
            "the seal was removed)",
            where=where,
            fix="run 'reconcile plan --json-out FILE' again and review that plan",
        )
    if not seal_matches(document, key):
        raise PlanFileError(
            "edited",
            "the plan file was edited: its content does not match its seal (or it was sealed "
            "with another key: RECONCILE_PLAN_KEY or the Lattice token)",
            where=where,
            fix="apply the file exactly as 'reconcile plan' wrote it, with the same key",
        )
    recorded = document.get("context")
    digest = recorded.get("config_sha256") if isinstance(recorded, Mapping) else None
    if context is not None and digest != context.config_sha256:
        shown = digest if isinstance(digest, str) else "none"
        raise PlanFileError(
            "from another config",
            f"the plan file is from another config: it was computed with config {shown}, "
            f"this config is {context.config_sha256}",
            where=where,
            fix="pass --config with the file the plan was made from, or run plan again",
        )


def verify_checksum(
    computed: Plan, expected: str | None, reviewed: Mapping[str, object] | None = None
) -> None:
    """Apply exactly what was reviewed: a different plan now is refused, never forced.

    With the ``reviewed`` document the error also says what differs (deepdiff, ids and field
    names only), so "stale" comes with the changes that made it stale.
    """
    if expected is None or expected.strip() == computed.checksum:
        return
    if expected.strip().startswith(UNKEYED_PREFIX):
        raise ReconcilerError(
            "an unkeyed sha256: checksum cannot be verified (checksums are keyed now)",
            where="--checksum",
            fix="run 'reconcile plan' again and pass the hmac-sha256: checksum it prints",
        )
    differences: tuple[str, ...] = ()
    if reviewed is not None:
        # Compared as the reviewer's file shows it: a masked file against a masked document.
        masked = reviewed.get("masked") is True
        fresh = plan_document(computed, redact=True, mask=masked)
        differences = describe_plan_difference(reviewed, fresh)
    raise StalePlanError(expected.strip(), computed.checksum, differences)


def existing_target_ids(actual: tuple[TargetUser, ...], computed: Plan) -> dict[str, str]:
    """Source id → target id of every user that exists before apply (linked, linked now, or
    matched under another id: adopted users and relinked rehires, ``Plan.matched_as``)."""
    ids = {user.external_id: user.target_id for user in actual if user.external_id}
    ids.update(computed.matched_as)
    for change in computed.changes:
        if change.action is Action.LINK and change.source_id and change.target_id:
            ids[change.source_id] = change.target_id
    return ids


class AuditLog:
    """The audit log of one apply (``--audit-log``): a ``run`` line, one line per executed
    change (values are never written, only field names), a ``run_end`` line. Without a file
    every write does nothing. A failing write raises ``OSError`` to the caller."""

    def __init__(self, handle: IO[str] | None = None) -> None:
        self._handle = handle
        self._lock = threading.Lock()
        self.failed = False

    def write(self, record: Mapping[str, object]) -> None:
        if self._handle is None:
            return
        line = json.dumps(record, sort_keys=True, ensure_ascii=False)
        with self._lock:
            try:
                self._handle.write(line + "\n")
                self._handle.flush()
            except OSError:
                self.failed = True
                raise

    def __call__(self, result: ChangeResult) -> None:
        self.write(audit_record(result, dt.datetime.now(dt.UTC)))


@contextmanager
def audit_log(path: Path | None) -> Iterator[AuditLog]:
    """The audit log appended to ``path`` (none without one).

    Opening fails before anything is read or applied; a failing write raises ``OSError`` to
    the caller, which stops the apply (see ``apply``).
    """
    if path is None:
        yield AuditLog()
        return
    try:
        handle = path.open("a", encoding="utf-8")
    except OSError as exc:
        raise ReconcilerError(
            f"cannot open the audit log for appending ({exc.strerror})", where=str(path)
        ) from exc
    log_file = AuditLog(handle)
    try:
        yield log_file
    finally:
        try:
            handle.close()
        except OSError as exc:
            # After a failed write the caller already reports it; closing only fails again.
            if not log_file.failed:
                raise ReconcilerError(
                    f"cannot finish the audit log ({exc.strerror})", where=str(path)
                ) from exc


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class RunRecord:
    """Who applied what: the first line of the audit log (``apply --audit-log``). Ids and
    codes only: no names, emails or values (docs/security.md, threat 8)."""

    actor: str
    commit: str | None
    checksum: str
    force: bool
    refusals: tuple[str, ...]
    started_at: dt.datetime

    def line(self) -> dict[str, object]:
        return {
            "event": "run",
            "actor": self.actor,
            "commit": self.commit,
            "checksum": self.checksum,
            "force": self.force,
            "refusals": list(self.refusals),
            "started_at": _utc(self.started_at),
        }


def _run_status(report: ApplyReport) -> str:
    if report.ok:
        return "applied"
    if report.interrupted:
        return "interrupted"
    if report.count(Outcome.FAILED) or report.count(Outcome.SKIPPED):
        return "failed"
    return "not_applied"  # every write answered, some not stored (docs/decisions.md)


def run_end_line(status: str, report: ApplyReport | None) -> dict[str, object]:
    """The last line of a run in the audit log: how it ended and how many changes had each
    outcome. ``status``: applied, not_applied, failed, interrupted, refused, stale or
    nothing to apply."""
    return {
        "event": "run_end",
        "status": status,
        "outcomes": {
            outcome.value: report.count(outcome) if report is not None else 0 for outcome in Outcome
        },
        "finished_at": _utc(dt.datetime.now(dt.UTC)),
    }


def _audit_run(audit: AuditLog, where: Path | None, *lines: Mapping[str, object]) -> None:
    """Write run lines before any change; a failure is one error saying nothing was applied."""
    try:
        for line in lines:
            audit.write(line)
    except OSError as exc:
        raise ReconcilerError(
            f"the audit log could not be written ({exc.strerror or type(exc).__name__}); "
            "nothing was applied",
            where=str(where),
            fix="free space or fix the path, then run apply again",
        ) from exc


def execute(
    run: PlanRun,
    conn: Connections,
    *,
    on_result: Callable[[ChangeResult], None] | None = None,
    stop: threading.Event | None = None,
    concurrency: int = 4,
    deadline: Deadline | None = None,
) -> ApplyReport:
    """Execute a reviewed, gated plan. The writer is built here and nowhere else."""
    with open_lattice_writer(conn, RunLimits(deadline)) as writer:
        return apply_plan(
            run.plan,
            writer,
            target_ids=existing_target_ids(run.actual, run.plan),
            concurrency=concurrency,
            on_result=on_result,
            stop=stop,
        )


@dataclass(frozen=True)
class ApplyResult:
    """A finished apply: the plan it made, what it did, and what ``--force`` waved through."""

    run: PlanRun
    report: ApplyReport
    overridden: tuple[Violation, ...] = ()


def apply(
    config: Config,
    conn: Connections,
    *,
    expected_checksum: str | None = None,
    reviewed: Mapping[str, object] | None = None,
    reviewed_from: str = "--plan",
    force: bool = False,
    audit_path: Path | None = None,
    show_plan: Callable[[PlanRun], None] | None = None,
    progress: Progress | None = None,
    limits: RunLimits = NO_LIMITS,
    since: dt.datetime | None = None,
    plan_key: str | None = None,
    only: tuple[str, ...] = (),
    context: PlanContext | None = None,
    actor: str = "unknown",
) -> ApplyResult:
    """Plan, verify the reviewed checksum, gate on the safety policy, execute, report.

    ``plan_key`` must be the key the reviewed plan was sealed with (``derive_plan_key``).
    A ``reviewed`` document (``read_plan_file``, read from ``reviewed_from``) must match its
    seal and come from the config of ``context`` (``check_plan_file``) before anything is read.

    ``show_plan`` sees the plan before the gate (a refused plan is still shown). Raises
    ``StalePlanError`` (never forceable), ``UnsafePlanError`` (refused; ``force`` overrides
    forceable thresholds only), or ``ApplyError`` carrying the report when a change failed,
    the run was stopped, or the audit log could not be written — in which case no further
    change is started, so the log never misses a change that was made. ``since`` makes it
    a fast run (see ``fast_plan``). The audit log gets a ``run`` line (``actor``, commit,
    checksum, force, refusals) once the plan is known, then the changes, then ``run_end``.
    """
    started_at = dt.datetime.now(dt.UTC)
    if reviewed is not None:
        check_plan_file(
            reviewed, key=derive_plan_key(conn, plan_key), context=context, where=reviewed_from
        )
    stop = limits.stop or threading.Event()
    with audit_log(audit_path) as audit:
        run = plan(
            config,
            conn,
            progress=progress,
            limits=RunLimits(limits.deadline, stop),
            since=since,
            plan_key=plan_key,
            only=only,
            context=context,
        )
        verdict = gate(run.violations, force)
        record = RunRecord(
            actor=actor,
            commit=context.commit if context is not None else None,
            checksum=run.plan.checksum,
            force=force,
            refusals=tuple(sorted({v.rule for v in (*verdict.blocking, *verdict.overridden)})),
            started_at=started_at,
        )
        try:
            verify_checksum(run.plan, expected_checksum, reviewed)
        except StalePlanError:
            _audit_run(audit, audit_path, record.line(), run_end_line("stale", None))
            raise
        if show_plan is not None:
            show_plan(run)
        if not verdict.allowed:
            _audit_run(audit, audit_path, record.line(), run_end_line("refused", None))
            raise UnsafePlanError(
                [violation.message for violation in verdict.blocking],
                forceable=all(violation.forceable for violation in verdict.blocking),
            )
        if run.plan.is_empty:
            report = ApplyReport(run.plan, ())
            _audit_run(
                audit,
                audit_path,
                record.line(),
                run_end_line("nothing to apply", report),
            )
            return ApplyResult(run, report, verdict.overridden)
        _audit_run(audit, audit_path, record.line())

        audit_failure: list[OSError] = []
        total = len(run.plan.changes)
        done = 0

        def on_result(result: ChangeResult) -> None:
            nonlocal done
            if not audit_failure:
                try:
                    audit(result)
                except OSError as exc:
                    # Without the log, later changes could not be accounted for: stop here.
                    audit_failure.append(exc)
                    stop.set()
            done += 1
            if progress is not None:
                progress("apply", done, total)

        report = execute(run, conn, on_result=on_result, stop=stop, deadline=limits.deadline)
        if not audit_failure:
            status = _run_status(report)
            try:
                audit.write(run_end_line(status, report))
            except OSError as exc:
                audit_failure.append(exc)
    if audit_failure:
        reason = audit_failure[0].strerror or type(audit_failure[0]).__name__
        raise ApplyError(
            f"the audit log could not be written ({reason}); no further change was started",
            where=str(audit_path),
            fix="free space or fix the path, then run apply again: it converges",
            report=report,
        )
    if not report.ok:
        raise ApplyError(
            _not_ok_message(report)
            if not report.interrupted
            else "apply was stopped; changes not started were skipped",
            fix=(
                "a not_applied field is one Lattice accepted but did not keep: check it in "
                "Lattice (locked by another integration? not writable over SCIM?); apply stays "
                "red until it is stored or no longer mapped"
                if report.count(Outcome.NOT_APPLIED)
                else "run apply again once the cause is fixed: it converges"
            ),
            report=report,
        )
    return ApplyResult(run, report, verdict.overridden)


def _not_ok_message(report: ApplyReport) -> str:
    message = "some changes were not applied (see the report)"
    unstored = report.count(Outcome.NOT_APPLIED)
    if unstored:
        people = "1 change" if unstored == 1 else f"{unstored} changes"
        message += f"; Lattice answered success but did not store fields of {people} (not_applied)"
    return message


# ------------------------------------------------------------------------------------ doctor


@dataclass(frozen=True)
class Check:
    """One line of the doctor's checklist; ``details`` say what to fix."""

    title: str
    ok: bool
    details: tuple[str, ...] = ()


def run_doctor(config: Config, conn: Connections, limits: RunLimits = NO_LIMITS) -> list[Check]:
    """Check both credentials, the Personio allow-list and the Lattice custom attributes."""
    checks: list[Check] = []
    catalogue: tuple[AttributeInfo, ...] | None = None
    try:
        with open_personio(config, conn, limits) as personio:
            catalogue = personio.fetch_attributes()
        checks.append(Check("the Personio credential authenticates", True))
    except ReconcilerError as error:
        checks.append(Check("the Personio credential authenticates", False, (str(error),)))
    if catalogue is not None:
        checks.append(_check_allow_list(config, catalogue))
    try:
        with open_lattice_reader(conn, limits) as lattice:
            lattice.check_access()
            attributes = lattice.fetch_custom_attributes()
        checks.append(Check("the Lattice SCIM key works (super admin, SCIM enabled)", True))
        checks.append(check_custom_attributes(config, attributes))
    except ReconcilerError as error:
        if _is_not_scim(error) and not _is_scim_base_url(conn.lattice_base_url):
            # The key was never asked about: the address is not the SCIM service.
            checks.append(
                Check(
                    "lattice.base_url is the SCIM service",
                    False,
                    (
                        f"lattice.base_url should end in {SCIM_PATH} (e.g. {DEFAULT_LATTICE_URL})"
                        f" — {conn.lattice_base_url} did not answer as SCIM ({error.message})",
                    ),
                )
            )
        else:
            checks.append(
                Check(
                    "the Lattice SCIM key works (super admin, SCIM enabled)", False, (str(error),)
                )
            )
    return checks


#: The path every Lattice SCIM base URL ends in (docs/decisions.md, 2026-12-03).
SCIM_PATH = "/scim/v2"


def _is_scim_base_url(base_url: str) -> bool:
    return urlsplit(base_url).path.rstrip("/").casefold().endswith(SCIM_PATH)


def _is_not_scim(error: ReconcilerError) -> bool:
    """An answer that says "no such API here": 404/405, or a body that is not SCIM."""
    if isinstance(error, ApiError) and error.status in (404, 405):
        return True
    return isinstance(error, TransportError) and (
        error.status is not None or "SCIM" in error.message
    )


def _check_allow_list(config: Config, catalogue: tuple[AttributeInfo, ...]) -> Check:
    title = "every required and mapped Personio attribute is allowed on the credential"
    try:
        resolved = resolve_sources(config, catalogue, PERSONIO)
    except ReconcilerError as error:
        return Check(title, False, tuple(str(error).splitlines()))
    allowed = {info.key for info in catalogue}
    missing = [
        f"'{label}' ({key}) is not allowed — add it to the allowed attributes of the Personio "
        "API credential (Settings › Integrations › API credentials)"
        for key, label in needed_attributes(resolved, PERSONIO).items()
        if key not in allowed and key != "id"  # the id is always returned
    ]
    return Check(title, not missing, tuple(missing))


#: The SCIM types (RFC 7643 §2.3) a Lattice attribute may have for each config ``type``:
#: text is written as a string, a number as a JSON number, a date as YYYY-MM-DD (a string or
#: a dateTime attribute), a multi-select as a list of strings (a multi-valued string
#: attribute) and a user as that user's email (a string or a reference).
COMPATIBLE_SCIM_TYPES: Mapping[CustomType, frozenset[str]] = {
    "text": frozenset({"string"}),
    "number": frozenset({"integer", "decimal"}),
    "date": frozenset({"datetime", "string"}),
    "multi_select": frozenset({"string"}),
    "user": frozenset({"reference", "string"}),
}

#: The config ``type`` to suggest for an attribute of each SCIM type.
_TYPE_FOR_SCIM: Mapping[str, CustomType] = {
    "string": "text",
    "integer": "number",
    "decimal": "number",
    "datetime": "date",
    "reference": "user",
}


def check_custom_attributes(config: Config, attributes: Mapping[str, SchemaAttribute]) -> Check:
    """Each mapped custom attribute exists (names compared case-insensitively, as Lattice
    does) and its SCIM type can hold what its config ``type`` writes; one line per problem."""
    by_name = {name.casefold(): attribute for name, attribute in attributes.items()}
    problems: list[str] = []
    for index, attr in enumerate(config.custom_attributes):
        found = by_name.get(attr.lattice.casefold())
        where = f"custom_attributes[{index}]"
        if found is None:
            problems.append(
                f"'{attr.lattice}' does not exist in Lattice — create it (Admin › Settings › "
                "People › Custom attributes) or fix custom_attributes[].lattice"
            )
        elif found.multi_valued and attr.type != "multi_select":
            problems.append(
                f"'{attr.lattice}' holds several values in Lattice ({found.type}, multi-valued) "
                f"but {where} writes one — set {where}.type: multi_select, or map a "
                "single-valued attribute instead"
            )
        elif attr.type == "multi_select" and not found.multi_valued:
            problems.append(
                f"'{attr.lattice}' holds one value in Lattice but {where} writes several "
                f"(type multi_select) — map a multi-select attribute, or set {where}.type: text"
            )
        elif found.type not in COMPATIBLE_SCIM_TYPES[attr.type]:
            suggested = _TYPE_FOR_SCIM.get(found.type)
            fix = (
                f"set {where}.type: {suggested}"
                if suggested is not None
                else "map an attribute of another type"
            )
            problems.append(
                f"'{attr.lattice}' is {'an' if found.type[:1] in 'aeiou' else 'a'} {found.type} "
                "attribute in Lattice, which cannot hold "
                f"{where}.type {attr.type} — {fix}"
            )
    return Check(
        "every mapped Lattice custom attribute exists with a compatible type",
        not problems,
        tuple(problems),
    )


# ------------------------------------------------------------------------------------ init


def bootstrap_config(*, base_url: str, app_id: str) -> Config:
    """The config ``init`` reads the catalogue with: the conventional variable names, since
    there is no config yet to read references from."""
    return Config(
        personio=PersonioSettings(
            base_url=base_url,
            client_id=SecretRef("PERSONIO_CLIENT_ID"),
            client_secret=SecretRef("PERSONIO_CLIENT_SECRET"),
            app_id=app_id,
        ),
        lattice=LatticeSettings(base_url="", token=SecretRef("LATTICE_SCIM_TOKEN")),
    )


def fetch_starter_config(config: Config, conn: Connections, limits: RunLimits = NO_LIMITS) -> str:
    """The starter config for ``init``, from the live (or sandbox) attribute catalogue."""
    with open_personio(config, conn, limits) as personio:
        catalogue = personio.fetch_attributes()
    return render_starter_config(
        catalogue, personio_base_url=config.personio.base_url, app_id=config.personio.app_id
    )
