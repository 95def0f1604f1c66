"""The reliability suite's world: emulators from one recipe, runs to convergence, state comparison.
Imports the reconciler package (composition root, CLI, emulators), httpx, click, yaml and stdlib.

A ``Recipe`` says what Personio holds and what an earlier sync left in Lattice; ``Recipe.build``
turns it into fresh emulators, with or without faults. ``converge`` plans and applies until the
plan is empty, the way a scheduled job would over several nights. ``compute_lattice_state``
projects the emulated Lattice onto the managed attributes, keyed by externalId, so that a
faulted run and a clean run can be compared although their SCIM ids differ.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from click.testing import CliRunner, Result

from reconciler import app
from reconciler.cli import cli
from reconciler.config import load_config
from reconciler.core.model import ApplyReport, Config, Outcome, Plan
from reconciler.edges.http import NO_WAIT_RETRY
from reconciler.errors import ApiError, ReconcilerError
from reconciler.sandbox.company import SampleCompany, generate_company
from reconciler.sandbox.lattice_emulator import (
    ENTERPRISE_URN,
    LATTICE_URN,
    LatticeEmulator,
    LatticeFaults,
)
from reconciler.sandbox.personio_emulator import (
    PersonioCredential,
    PersonioEmulator,
    PersonioFaults,
)
from reconciler.sandbox.sample import sample_config_path
from reconciler.sandbox.scenario import (
    LATTICE_CUSTOM_ATTRIBUTES,
    LATTICE_TOKEN,
    PERSONIO_CLIENT_ID,
    PERSONIO_CLIENT_SECRET,
    Sandbox,
    seed_lattice,
)
from reconciler.sandbox.transport import EmulatorServer, Handler, in_process_transport

REPO = Path(__file__).resolve().parents[2]
#: The sample company's config, shipped with the sandbox (never the team's config/integration.yaml).
EXAMPLE_CONFIG = sample_config_path()
PLAN_SCHEMA = REPO / "schemas" / "plan.schema.json"

#: Base URLs of the in-process emulators (never resolved: the transports answer them).
PERSONIO_BASE_URL = "http://personio.reliability.test/v1"
LATTICE_BASE_URL = "http://lattice.reliability.test/scim/v2"

#: How many plan+apply rounds a healed run may need before the plan must be empty.
MAX_RUNS = 6


def load_example_config() -> Config:
    return load_config(EXAMPLE_CONFIG)


def wire_value(record: Mapping[str, object], key: str) -> Any:
    """The value of attribute ``key`` of a wire-format Personio employee record."""
    attributes = record["attributes"]
    assert isinstance(attributes, Mapping)
    entry = attributes[key]
    assert isinstance(entry, Mapping)
    return entry["value"]


def wire_id(record: Mapping[str, object]) -> str:
    return str(wire_value(record, "id"))


def set_wire_value(record: Mapping[str, object], key: str, value: object) -> None:
    """Corrupt (or edit) one attribute of a wire-format record in place."""
    attributes = record["attributes"]
    assert isinstance(attributes, Mapping)
    entry = attributes[key]
    assert isinstance(entry, dict)
    entry["value"] = value


# ---------------------------------------------------------------------------------------------
# Recipes and worlds
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """What Personio holds and what Lattice holds before the first run.

    ``history`` is the company an earlier sync saw (it fills Lattice, with ``drift``);
    ``employees`` is what Personio answers now (the same company unless a case corrupts it).
    ``extra_users`` are SCIM resources seeded into Lattice after the earlier sync's users.
    """

    history: SampleCompany
    employees: tuple[Mapping[str, object], ...]
    drift: bool = True
    extra_users: tuple[Mapping[str, object], ...] = ()
    seed_history: bool = True

    def build(
        self,
        *,
        personio_faults: PersonioFaults | None = None,
        lattice_faults: LatticeFaults | None = None,
        token_ttl_requests: int | None = None,
        rotate_token_every: int | None = None,
        invalidate_rotated_tokens: bool = False,
        client_secret: str = PERSONIO_CLIENT_SECRET,
        lattice_token: str = LATTICE_TOKEN,
        allowed_attributes: frozenset[str] | None = None,
    ) -> World:
        personio = PersonioEmulator(
            copy.deepcopy(list(self.employees)),
            self.history.attributes,
            credentials={
                PERSONIO_CLIENT_ID: PersonioCredential(
                    client_secret=client_secret, allowed_attributes=allowed_attributes
                )
            },
            token_ttl_requests=token_ttl_requests,
            rotate_token_every=rotate_token_every,
            invalidate_rotated_tokens=invalidate_rotated_tokens,
            faults=personio_faults,
            sleep=lambda seconds: None,  # slow answers are modelled, never waited for
        )
        lattice = LatticeEmulator(
            token=lattice_token, custom_attributes=LATTICE_CUSTOM_ATTRIBUTES, faults=lattice_faults
        )
        if self.seed_history:
            seed_lattice(lattice, self.history, drift=self.drift)
        for resource in self.extra_users:
            lattice.seed_user(resource)
        return World(
            company=self.history,
            personio=personio,
            lattice=lattice,
            client_secret=client_secret,
            lattice_token=lattice_token,
        )


def build_recipe(
    employees: int,
    seed: int,
    *,
    quirks: bool = True,
    drift: bool = True,
    extra_users: Sequence[Mapping[str, object]] = (),
) -> Recipe:
    company = generate_company(employees, seed, quirks=quirks)
    return Recipe(
        history=company,
        employees=tuple(company.employees),
        drift=drift,
        extra_users=tuple(extra_users),
    )


@dataclass
class World:
    """One Personio and one Lattice emulator, and the credentials that open them."""

    company: SampleCompany
    personio: PersonioEmulator
    lattice: LatticeEmulator
    client_secret: str = PERSONIO_CLIENT_SECRET
    lattice_token: str = LATTICE_TOKEN

    def connections(
        self,
        *,
        personio: Handler | None = None,
        lattice: Handler | None = None,
    ) -> app.Connections:
        """In-process connections, like ``Sandbox.connections()``: no waiting.

        ``personio``/``lattice`` put a handler in front of an emulator (an extra fault).
        """
        return app.Connections(
            personio_base_url=PERSONIO_BASE_URL,
            personio_client_id=PERSONIO_CLIENT_ID,
            personio_client_secret=self.client_secret,
            lattice_base_url=LATTICE_BASE_URL,
            lattice_token=self.lattice_token,
            personio_transport=in_process_transport(personio or self.personio),
            lattice_transport=in_process_transport(lattice or self.lattice),
            retry=NO_WAIT_RETRY,
            personio_rate=0.0,
            lattice_rate=0.0,
        )

    def sandbox(self, *, personio: Handler | None = None) -> Sandbox:
        """This world as the CLI's ``--sandbox`` would see it (in-process transports);
        ``personio`` puts a handler in front of the Personio emulator."""
        return FrontedSandbox(
            company=self.company,
            personio=self.personio,
            lattice=self.lattice,
            personio_base_url=PERSONIO_BASE_URL,
            lattice_base_url=LATTICE_BASE_URL,
            personio_client_secret=self.client_secret,
            lattice_token=self.lattice_token,
            personio_front=personio,
        )


@dataclass
class FrontedSandbox(Sandbox):
    """A sandbox whose Personio answers through a handler in front of the emulator."""

    personio_front: Handler | None = None

    def personio_transport(self) -> httpx.BaseTransport:
        return in_process_transport(self.personio_front or self.personio)


# ---------------------------------------------------------------------------------------------
# Running until convergence
# ---------------------------------------------------------------------------------------------


@dataclass
class Convergence:
    """Everything the rounds of one ``converge`` call produced, in order."""

    plans: list[Plan] = field(default_factory=list)
    reports: list[ApplyReport] = field(default_factory=list)
    errors: list[ReconcilerError] = field(default_factory=list)
    rounds: int = 0

    @property
    def first_plan(self) -> Plan:
        return self.plans[0]

    def failed_details(self) -> list[str]:
        return [
            result.detail or ""
            for report in self.reports
            for result in report.results
            if result.outcome is not Outcome.APPLIED
        ]


def converge(
    config: Config,
    conn: app.Connections,
    *,
    max_runs: int = MAX_RUNS,
    before_apply: Callable[[int, app.PlanRun], None] | None = None,
    after_round: Callable[[int], None] | None = None,
) -> Convergence:
    """Plan and apply until the plan is empty; fail the test when ``max_runs`` do not suffice.

    A run that raises ``ReconcilerError`` is recorded and the next round starts, as the next
    scheduled job would. ``before_apply(round, run)`` may change the world between plan and
    apply (someone editing Lattice meanwhile); ``after_round(round)`` may heal faults.
    """
    result = Convergence()
    for round_number in range(max_runs):
        result.rounds = round_number + 1
        try:
            run = app.plan(config, conn)
        except ReconcilerError as error:
            result.errors.append(error)
        else:
            result.plans.append(run.plan)
            if run.plan.is_empty:
                return result
            if before_apply is not None:
                before_apply(round_number, run)
            result.reports.append(app.execute(run, conn))
        if after_round is not None:
            after_round(round_number)
    raise AssertionError(
        f"no empty plan after {max_runs} rounds; errors: {[str(e) for e in result.errors]}; "
        f"failed changes: {result.failed_details()}"
    )


# ---------------------------------------------------------------------------------------------
# Comparing Lattice states
# ---------------------------------------------------------------------------------------------

LatticeState = dict[str, dict[str, object]]


def _as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _key(resource: Mapping[str, object]) -> str:
    external_id = resource.get("externalId")
    if isinstance(external_id, str) and external_id:
        return f"externalId:{external_id}"
    return f"userName:{str(resource.get('userName', '')).strip().casefold()}"


def compute_lattice_state(lattice: LatticeEmulator) -> LatticeState:
    """Every user by externalId (userName when unlinked), on the attributes the reconciler
    manages; a manager is named by its user's key, since SCIM ids differ between runs."""
    users = {user_id: dict(resource) for user_id, resource in lattice.users.items()}
    keys = {user_id: _key(resource) for user_id, resource in users.items()}
    state: LatticeState = {}
    for user_id, resource in users.items():
        name = _as_dict(resource.get("name"))
        enterprise = _as_dict(resource.get(ENTERPRISE_URN))
        manager = _as_dict(enterprise.get("manager")).get("value")
        entries = resource.get("emails")
        emails = sorted(
            str(entry.get("value", "")).strip().casefold()
            for entry in (entries if isinstance(entries, list) else [])
            if isinstance(entry, dict)
        )
        state[keys[user_id]] = {
            "userName": str(resource.get("userName", "")).strip().casefold(),
            "emails": emails,
            "active": resource.get("active"),
            "givenName": name.get("givenName"),
            "familyName": name.get("familyName"),
            "nickName": resource.get("nickName"),
            "title": resource.get("title"),
            "department": enterprise.get("department"),
            "manager": keys.get(str(manager)) if manager is not None else None,
            "lattice": dict(sorted(_as_dict(resource.get(LATTICE_URN)).items())),
        }
    return state


def compute_duplicates(lattice: LatticeEmulator) -> dict[str, list[str]]:
    """externalIds and userNames held by more than one user (should be empty)."""
    seen: dict[str, list[str]] = {}
    for user_id, resource in lattice.users.items():
        external_id = resource.get("externalId")
        if isinstance(external_id, str) and external_id:
            seen.setdefault(f"externalId:{external_id}", []).append(user_id)
        user_name = str(resource.get("userName", "")).strip().casefold()
        seen.setdefault(f"userName:{user_name}", []).append(user_id)
    return {key: ids for key, ids in seen.items() if len(ids) > 1}


def compute_state_diff(actual: LatticeState, expected: LatticeState) -> dict[str, object]:
    """Only what differs, so a failing assertion shows the few users that matter."""
    diff: dict[str, object] = {}
    for key in sorted(set(actual) | set(expected)):
        if actual.get(key) != expected.get(key):
            diff[key] = {"actual": actual.get(key), "expected": expected.get(key)}
    return diff


def compute_expected_state(config: Config, recipe: Recipe) -> tuple[LatticeState, Plan]:
    """The state a fault-free run of ``recipe`` converges to, and its first plan."""
    world = recipe.build()
    result = converge(config, world.connections())
    assert not result.errors, [str(error) for error in result.errors]
    assert all(report.ok for report in result.reports), result.failed_details()
    return compute_lattice_state(world.lattice), result.first_plan


# ---------------------------------------------------------------------------------------------
# Judging errors
# ---------------------------------------------------------------------------------------------


def describe_unclear_error(error: ReconcilerError, secrets: Iterable[str]) -> str | None:
    """Why ``error`` is not a clear one-line error, or ``None`` when it is.

    Clear: one line; an ``ApiError`` names system, method and path in its text; no secret.
    """
    text = str(error)
    if "\n" in text:
        return f"more than one line: {text!r}"
    for secret in secrets:
        if secret and secret in text:
            return f"carries a secret: {text!r}"
    if isinstance(error, ApiError):
        wanted = f"{error.system} {error.method} {error.path}"
        if not text.startswith(wanted):
            return f"does not start with {wanted!r}: {text!r}"
        if not error.path.strip("/"):
            return f"names no path: {text!r}"
    return None


# ---------------------------------------------------------------------------------------------
# Handlers in front of an emulator (extra faults), and a transport with a short timeout
# ---------------------------------------------------------------------------------------------


class StatusBurst:
    """Answers ``status`` to the next ``count`` matching requests, then steps aside.

    Used for statuses the emulators do not inject themselves (502 from a gateway).
    """

    def __init__(
        self,
        inner: Handler,
        *,
        status: int,
        count: int,
        path_suffix: str = "",
        methods: frozenset[str] = frozenset({"GET", "POST", "PATCH"}),
        body: bytes = b"<html><body>502 Bad Gateway</body></html>",
    ) -> None:
        self.inner = inner
        self.status = status
        self.remaining = count
        self.fired = 0
        self.path_suffix = path_suffix
        self.methods = methods
        self.body = body
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            hit = (
                self.remaining > 0
                and request.method in self.methods
                and request.url.path.endswith(self.path_suffix)
            )
            if hit:
                self.remaining -= 1
                self.fired += 1
        if hit:
            return httpx.Response(
                self.status, content=self.body, headers={"Content-Type": "text/html"}
            )
        return self.inner(request)


class SlowFirst:
    """Delays the next ``count`` matching requests by ``seconds``: before the work (the
    request is lost to a client timeout and nothing happened) or after it (the work was done,
    only the answer is late)."""

    def __init__(
        self,
        inner: Handler,
        *,
        count: int,
        seconds: float,
        method: str,
        path_pattern: str,
        after_work: bool = False,
    ) -> None:
        self.inner = inner
        self.remaining = count
        self.seconds = seconds
        self.method = method
        self.path = re.compile(path_pattern)
        self.after_work = after_work
        self.delayed = 0
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            hit = (
                self.remaining > 0
                and request.method == self.method
                and self.path.search(request.url.path) is not None
            )
            if hit:
                self.remaining -= 1
                self.delayed += 1
        if hit and not self.after_work:
            time.sleep(self.seconds)
        response = self.inner(request)
        if hit and self.after_work:
            time.sleep(self.seconds)
        return response


class Switchboard:
    """A handler that forwards to whichever emulator a test plugs in, so one localhost server
    can serve many tests (stopping a server costs half a second)."""

    def __init__(self) -> None:
        self.target: Handler | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        target = self.target
        if target is None:
            return httpx.Response(503, json={"detail": "no emulator plugged in"})
        return target(request)


class ShortTimeoutTransport(httpx.BaseTransport):
    """Real HTTP with a short read timeout.

    The clients build their httpx client with a 30 s timeout and do not expose it; the
    timeout travels in each request's extensions, so this transport shortens it there.
    """

    def __init__(self, seconds: float) -> None:
        self._inner = httpx.HTTPTransport()
        self._timeout = httpx.Timeout(seconds).as_dict()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.extensions = {**request.extensions, "timeout": self._timeout}
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


@dataclass
class Servers:
    """Personio and Lattice served over real HTTP on 127.0.0.1; ``plug`` chooses the world."""

    personio: EmulatorServer
    lattice: EmulatorServer
    personio_board: Switchboard
    lattice_board: Switchboard

    @property
    def personio_url(self) -> str:
        return self.personio.url

    @property
    def lattice_url(self) -> str:
        return self.lattice.url

    def plug(self, world: World) -> None:
        """Serve ``world`` on both servers from now on."""
        self.personio_board.target = world.personio
        self.lattice_board.target = world.lattice


def over_http(
    world: World,
    personio_url: str,
    lattice_url: str,
    *,
    timeout: float | None = None,
) -> app.Connections:
    """Connections to ``world`` served on localhost (real sockets), without waiting between
    retries; ``timeout`` shortens the read timeout."""
    conn = world.connections()
    personio_transport = ShortTimeoutTransport(timeout) if timeout is not None else None
    lattice_transport = ShortTimeoutTransport(timeout) if timeout is not None else None
    return dataclasses.replace(
        conn,
        personio_base_url=f"{personio_url}/v1",
        lattice_base_url=f"{lattice_url}/scim/v2",
        personio_transport=personio_transport,
        lattice_transport=lattice_transport,
    )


class RecordSwap:
    """Personio with one record of the employee list replaced on the wire by ``replacement``
    (any JSON value), for records the emulator itself cannot hold (a string, a list)."""

    def __init__(self, inner: Handler, *, index: int, replacement: object) -> None:
        self.inner = inner
        self.index = index
        self.replacement = replacement

    def __call__(self, request: httpx.Request) -> httpx.Response:
        response = self.inner(request)
        if request.url.path.endswith("/company/employees") and response.status_code == 200:
            body = json.loads(response.read())
            start = int(body.get("offset", 0))
            data = body.get("data", [])
            if start <= self.index < start + len(data):
                data[self.index - start] = self.replacement
                return httpx.Response(200, json=body)
        return response


# ---------------------------------------------------------------------------------------------
# The CLI against localhost servers
# ---------------------------------------------------------------------------------------------


def write_config(
    path: Path,
    *,
    personio_url: str,
    lattice_url: str,
    overrides: Mapping[str, Mapping[str, object]] | None = None,
) -> Path:
    """The example config pointed at localhost servers (and allowed to send 100 requests a
    second to Lattice, so apply does not crawl), with ``overrides`` per top-level section."""
    document = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    document["personio"]["base_url"] = f"{personio_url}/v1"
    document["lattice"]["base_url"] = f"{lattice_url}/scim/v2"
    document["lattice"]["max_requests_per_second"] = 100
    for section, values in (overrides or {}).items():
        document[section] = {**document.get(section, {}), **values}
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), "utf-8")
    return path


def cli_env(world: World, servers: Servers, *origins: str) -> dict[str, str | None]:
    """The variables the example config references, set to ``world``'s credentials, and the
    localhost servers (plus ``origins``) allowed as endpoints, as an operator would."""
    return {
        "PERSONIO_CLIENT_ID": PERSONIO_CLIENT_ID,
        "PERSONIO_CLIENT_SECRET": world.client_secret,
        "LATTICE_SCIM_TOKEN": world.lattice_token,
        "RECONCILE_ALLOW_ENDPOINTS": ",".join(
            (servers.personio_url, servers.lattice_url, *origins)
        ),
        "RECONCILE_PLAN_KEY": None,
    }


def run_cli(*args: str, env: Mapping[str, str | None]) -> Result:
    """``reconcile ARGS`` in-process; stdout and stderr kept apart."""
    return CliRunner().invoke(cli, list(args), env=dict(env))
