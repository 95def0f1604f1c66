"""The composition root: the one place that wires config, secrets, transports and clients together.
May import every module of the package; prints nothing (the CLI does), reads no environment itself
(the CLI passes ``environ`` in).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from reconciler.applier import apply_plan, audit_record
from reconciler.core.mapping import needed_attributes, resolve_sources
from reconciler.core.model import (
    Action,
    ApplyReport,
    AttributeInfo,
    ChangeResult,
    Config,
    LatticeSettings,
    PersonioSettings,
    Plan,
    SecretRef,
    TargetUser,
)
from reconciler.core.planner import compute_plan
from reconciler.core.safety import Violation, compute_violations
from reconciler.edges.config import resolve_credentials, resolve_secrets
from reconciler.edges.http import DEFAULT_RETRY, NO_WAIT_RETRY, RetryPolicy
from reconciler.edges.starter import render_starter_config
from reconciler.errors import ReconcilerError, StalePlanError
from reconciler.sandbox.scenario import Sandbox
from reconciler.sources.personio.client import PersonioClient
from reconciler.sources.personio.parse import check_allowed_attributes
from reconciler.targets.scim.client import LatticeReader, LatticeWriter

#: progress(stage, done, total): stage is "personio", "lattice" or "apply".
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Connections:
    """How to reach both systems: real endpoints and secrets, or the sandbox's emulators."""

    personio_base_url: str
    personio_client_id: str = field(repr=False)
    personio_client_secret: str = field(repr=False)
    lattice_base_url: str = ""
    lattice_token: str = field(repr=False, default="")
    personio_transport: httpx.BaseTransport | None = None
    lattice_transport: httpx.BaseTransport | None = None
    retry: RetryPolicy = DEFAULT_RETRY
    #: requests per second towards Personio (its documented budget is ~300/min, bursts ~15/s)
    personio_rate: float = 5.0
    lattice_rate: float = 5.0


def connect(
    config: Config,
    environ: Mapping[str, str],
    sandbox: Sandbox | None = None,
    *,
    source: str = "environment",
    personio_only: bool = False,
) -> Connections:
    """Resolve secret references (only now: ``validate`` never needs them) or use the sandbox.

    Every unset variable is reported at once. ``personio_only`` (for ``init``) needs no
    Lattice key.
    """
    if sandbox is not None:
        return Connections(
            personio_base_url=sandbox.personio_base_url,
            personio_client_id=sandbox.personio_client_id,
            personio_client_secret=sandbox.personio_client_secret,
            lattice_base_url=sandbox.lattice_base_url,
            lattice_token=sandbox.lattice_token,
            personio_transport=sandbox.personio_transport(),
            lattice_transport=sandbox.lattice_transport(),
            retry=NO_WAIT_RETRY,
            personio_rate=0.0,
            lattice_rate=0.0,
        )
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


def open_personio(config: Config, conn: Connections) -> PersonioClient:
    return PersonioClient(
        base_url=conn.personio_base_url,
        client_id=conn.personio_client_id,
        client_secret=conn.personio_client_secret,
        app_id=config.personio.app_id,
        partner_id=config.personio.partner_id,
        transport=conn.personio_transport,
        retry=conn.retry,
        requests_per_second=conn.personio_rate,
    )


def open_lattice_reader(conn: Connections) -> LatticeReader:
    return LatticeReader(
        base_url=conn.lattice_base_url,
        token=conn.lattice_token,
        transport=conn.lattice_transport,
        retry=conn.retry,
        requests_per_second=conn.lattice_rate,
    )


def open_lattice_writer(conn: Connections) -> LatticeWriter:
    return LatticeWriter(
        base_url=conn.lattice_base_url,
        token=conn.lattice_token,
        transport=conn.lattice_transport,
        retry=conn.retry,
        requests_per_second=conn.lattice_rate,
    )


@dataclass(frozen=True)
class PlanRun:
    """Everything one planning run produced."""

    config: Config  # with Personio labels resolved to attribute keys
    plan: Plan
    violations: tuple[Violation, ...]
    actual: tuple[TargetUser, ...]
    requests: Mapping[str, int] = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        return bool(self.violations)


def _stage(progress: Progress | None, stage: str) -> Callable[[int, int], None] | None:
    if progress is None:
        return None

    def report(done: int, total: int) -> None:
        progress(stage, done, total)

    return report


def gather_and_plan(
    config: Config, conn: Connections, *, progress: Progress | None = None
) -> PlanRun:
    """Gather both sides read-only, then decide. The reader used here has no write methods.

    Once Personio has accepted the credential and listed its attributes (where nearly every
    Personio failure shows), the employee list and the Lattice user list are read at the same
    time: their rate limits are independent, so a run takes as long as the slower side, not
    the sum of both.
    """
    with open_personio(config, conn) as personio:
        catalogue = personio.fetch_attributes()
        resolved = resolve_sources(config, catalogue)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lattice") as pool:
            target = pool.submit(_gather_lattice, conn, progress)
            snapshot = personio.fetch_employees(progress=_stage(progress, "personio"))
            check_allowed_attributes(snapshot, needed_attributes(resolved))
            actual, lattice_requests = target.result()
        personio_requests = personio.request_count
    plan = compute_plan(snapshot, actual, resolved)
    violations = compute_violations(plan, resolved.safety)
    return PlanRun(
        config=resolved,
        plan=plan,
        violations=violations,
        actual=actual,
        requests={"personio": personio_requests, "lattice": lattice_requests},
    )


def _gather_lattice(
    conn: Connections, progress: Progress | None
) -> tuple[tuple[TargetUser, ...], int]:
    with open_lattice_reader(conn) as lattice:
        return lattice.fetch_users(progress=_stage(progress, "lattice")), lattice.request_count


def read_plan_checksum(path: Path) -> str:
    """The checksum carried by a JSON plan written by ``plan --format json``."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ReconcilerError("no such file", where=str(path)) from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ReconcilerError(
            "not a JSON plan",
            where=str(path),
            fix="pass the file written by 'reconcile plan --format json --out FILE'",
        ) from exc
    checksum = document.get("checksum") if isinstance(document, dict) else None
    if not isinstance(checksum, str) or not checksum.startswith("sha256:"):
        raise ReconcilerError(
            "the file carries no plan checksum",
            where=str(path),
            fix="pass the file written by 'reconcile plan --format json --out FILE'",
        )
    return checksum


def verify_checksum(plan: Plan, expected: str | None) -> None:
    """Apply exactly what was reviewed: a different plan now is refused, never forced."""
    if expected is not None and expected.strip() != plan.checksum:
        raise StalePlanError(expected.strip(), plan.checksum)


def existing_scim_ids(actual: tuple[TargetUser, ...], plan: Plan) -> dict[str, str]:
    """Personio id → SCIM id of every user that exists before apply (linked, or linked now)."""
    ids = {user.external_id: user.target_id for user in actual if user.external_id}
    for change in plan.changes:
        if change.action is Action.LINK and change.source_id and change.target_id:
            ids[change.source_id] = change.target_id
    return ids


@contextmanager
def audit_log(path: Path | None) -> Iterator[Callable[[ChangeResult], None]]:
    """Append one JSON line per executed change; values are never written, only field names."""
    if path is None:
        yield lambda result: None
        return
    lock = threading.Lock()
    try:
        handle = path.open("a", encoding="utf-8")
    except OSError as exc:
        raise ReconcilerError(
            f"cannot open the audit log for appending ({exc.strerror})", where=str(path)
        ) from exc
    with handle:

        def write(result: ChangeResult) -> None:
            record = audit_record(result, dt.datetime.now(dt.UTC))
            line = json.dumps(record, sort_keys=True, ensure_ascii=False)
            with lock:
                handle.write(line + "\n")
                handle.flush()

        yield write


def execute(
    run: PlanRun,
    conn: Connections,
    *,
    on_result: Callable[[ChangeResult], None] | None = None,
    stop: threading.Event | None = None,
    concurrency: int = 4,
) -> ApplyReport:
    """Execute a reviewed, guarded plan. The writer is built here and nowhere else."""
    with open_lattice_writer(conn) as writer:
        return apply_plan(
            run.plan,
            writer,
            scim_ids=existing_scim_ids(run.actual, run.plan),
            concurrency=concurrency,
            on_result=on_result,
            stop=stop,
        )


# ------------------------------------------------------------------------------------ doctor


@dataclass(frozen=True)
class Check:
    """One line of the doctor's checklist; ``details`` say what to fix."""

    title: str
    ok: bool
    details: tuple[str, ...] = ()


def run_doctor(config: Config, conn: Connections) -> list[Check]:
    """Check both credentials, the Personio allow-list and the Lattice custom attributes."""
    checks: list[Check] = []
    catalogue: tuple[AttributeInfo, ...] | None = None
    try:
        with open_personio(config, conn) as personio:
            catalogue = personio.fetch_attributes()
        checks.append(Check("the Personio credential authenticates", True))
    except ReconcilerError as error:
        checks.append(Check("the Personio credential authenticates", False, (str(error),)))
    if catalogue is not None:
        checks.append(_check_allow_list(config, catalogue))
    try:
        with open_lattice_reader(conn) as lattice:
            lattice.check_access()
            names = lattice.fetch_custom_attribute_names()
        checks.append(Check("the Lattice SCIM key works (super admin, SCIM enabled)", True))
        checks.append(_check_custom_attributes(config, names))
    except ReconcilerError as error:
        checks.append(
            Check("the Lattice SCIM key works (super admin, SCIM enabled)", False, (str(error),))
        )
    return checks


def _check_allow_list(config: Config, catalogue: tuple[AttributeInfo, ...]) -> Check:
    title = "every required and mapped Personio attribute is allowed on the credential"
    try:
        resolved = resolve_sources(config, catalogue)
    except ReconcilerError as error:
        return Check(title, False, tuple(str(error).splitlines()))
    allowed = {info.key for info in catalogue}
    missing = [
        f"'{label}' ({key}) is not allowed — add it to the allowed attributes of the Personio "
        "API credential (Settings › Integrations › API credentials)"
        for key, label in needed_attributes(resolved).items()
        if key not in allowed and key != "id"  # the id is always returned
    ]
    return Check(title, not missing, tuple(missing))


def _check_custom_attributes(config: Config, names: frozenset[str]) -> Check:
    missing = [
        f"'{attr.lattice}' does not exist in Lattice — create it (Admin › Settings › "
        "People › Custom attributes) or fix custom_attributes[].lattice"
        for attr in config.custom_attributes
        if attr.lattice not in names
    ]
    return Check("every mapped Lattice custom attribute exists", not missing, tuple(missing))


def fetch_starter_config(
    environ: Mapping[str, str], sandbox: Sandbox | None, *, base_url: str, app_id: str
) -> str:
    """The starter config for ``init``, from the live (or sandbox) attribute catalogue.

    Needs only the Personio credential: there is no config yet to read references from, so
    the conventional variable names are used.
    """
    bootstrap = Config(
        personio=PersonioSettings(
            base_url=base_url,
            client_id=SecretRef("PERSONIO_CLIENT_ID"),
            client_secret=SecretRef("PERSONIO_CLIENT_SECRET"),
            app_id=app_id,
        ),
        lattice=LatticeSettings(base_url="", token=SecretRef("LATTICE_SCIM_TOKEN")),
    )
    conn = connect(bootstrap, environ, sandbox, personio_only=True)
    with open_personio(bootstrap, conn) as personio:
        catalogue = personio.fetch_attributes()
    return render_starter_config(catalogue, personio_base_url=base_url, app_id=app_id)
