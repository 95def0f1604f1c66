"""Shared pieces of the end-to-end tests: run the CLI in-process, serve both emulators over HTTP.
Imports click's test runner, yaml, the CLI and the sandbox (emulators, scenario, transport).

Test modules reach everything through fixtures (``kit``, ``live``, ``serve_sandbox``) and
import the types only under ``TYPE_CHECKING``: the tests folders are not packages, so a
runtime ``import conftest`` would depend on pytest's import mode.

The ``live`` fixture serves the sandbox's Personio and Lattice emulators on localhost and
writes a config pointing at them, so state survives from one command to the next
(plan → apply → plan) and tests can inspect ``live.box.lattice.users`` and its request log.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result

from reconciler.cli import cli
from reconciler.sandbox import sample_config_path
from reconciler.sandbox.company import BIRTHDAY_CUSTOM_KEY
from reconciler.sandbox.lattice_emulator import RecordedRequest
from reconciler.sandbox.scenario import Sandbox, build_sandbox
from reconciler.sandbox.transport import EmulatorServer, Handler

REPO = Path(__file__).resolve().parents[2]
#: The sample company's config, shipped with the sandbox (never the team's config/integration.yaml).
EXAMPLE_CONFIG = sample_config_path()
PLAN_SCHEMA = REPO / "schemas" / "plan.schema.json"

#: The variables the example config references; every test run starts with them unset so the
#: developer's own shell never leaks into a test.
SECRET_VARIABLES = (
    "PERSONIO_CLIENT_ID",
    "PERSONIO_CLIENT_SECRET",
    "LATTICE_SCIM_TOKEN",
    "RECONCILE_ALLOW_ENDPOINTS",
    "RECONCILE_PLAN_KEY",
)

#: The first plan of the built-in sandbox (60 people, seed 7), as its summary line says.
SANDBOX_SUMMARY = (
    "Plan: 3 to create, 1 to link, 1 to reactivate, 4 to update, 1 to deactivate, 45 unchanged"
)
ACTIONS = ("create", "link", "reactivate", "update", "deactivate")
CHECKSUM = re.compile(r"Checksum: `?(hmac-sha256:[0-9a-f]{64})`?")
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def run_cli(*args: str, env: Mapping[str, str | None] | None = None) -> Result:
    """``reconcile ARGS`` in-process; stdout and stderr are kept apart (click >= 8.2)."""
    full_env: dict[str, str | None] = dict.fromkeys(SECRET_VARIABLES)
    full_env.update(env or {})
    return CliRunner().invoke(cli, list(args), env=full_env, catch_exceptions=False)


#: ``python -c`` this, then the command: SIGINT back to its default disposition, then exec.
_RESTORE_SIGINT = (
    "import os, signal, sys; "
    "signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def interruptible(argv: Sequence[str]) -> list[str]:
    """``argv`` to start with SIGINT at its default, so a SIGINT it is sent is a Ctrl-C.

    A job started in the background (``cmd &``, nohup, some CI runners) ignores SIGINT, an
    ignored signal stays ignored across fork and exec, and Python then installs no
    KeyboardInterrupt handler: the child would never see the signal. The command itself is
    exec'd unchanged (same process, so ``send_signal`` reaches it).
    """
    return [sys.executable, "-c", _RESTORE_SIGINT, *argv]


def build_config_text(overrides: Mapping[str, Any]) -> str:
    """The example config with ``overrides`` merged in (mappings merge, the rest replaces)."""
    document = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    _merge(document, overrides)
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def _merge(target: dict[str, Any], overrides: Mapping[str, Any]) -> None:
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def checksum_in(text: str) -> str:
    """The one checksum a rendered plan or report carries."""
    found: set[str] = set(CHECKSUM.findall(text))
    assert len(found) == 1, f"expected one checksum, found {found}"
    return found.pop()


def summary_line(summary: Mapping[str, int]) -> str:
    """The text summary line that a JSON plan's ``summary`` must correspond to."""
    parts = [f"{summary[action]} to {action}" for action in ACTIONS if summary[action]]
    if not parts:
        return f"Plan: no changes, {summary['unchanged']} unchanged"
    return f"Plan: {', '.join(parts)}, {summary['unchanged']} unchanged"


def personal_values(box: Sandbox) -> dict[str, frozenset[str]]:
    """Every name, email, birthdate and sensitive value of the sandbox's people, by kind."""
    names: set[str] = set()
    emails: set[str] = set()
    birthdates: set[str] = set()
    sensitive: set[str] = set()
    for raw in box.company.employees:
        attributes = raw["attributes"]
        assert isinstance(attributes, dict)
        for key in ("first_name", "last_name", "preferred_name"):
            value = attributes[key]["value"]
            if isinstance(value, str) and value.strip():
                names.add(value.strip())
        email = attributes["email"]["value"]
        if isinstance(email, str):
            emails.add(email.strip().casefold())
        birthday = attributes[BIRTHDAY_CUSTOM_KEY]["value"]
        if isinstance(birthday, str):
            birthdates.add(birthday[:10])
        contact = attributes["dynamic_7890123"]["value"]
        if isinstance(contact, str) and contact:
            sensitive.add(contact)
    return {
        "names": frozenset(names),
        "emails": frozenset(emails),
        "birthdates": frozenset(birthdates),
        "sensitive": frozenset(sensitive),
    }


def names_in(text: str, names: frozenset[str]) -> set[str]:
    """The names that occur in ``text`` as whole words."""
    return {name for name in names if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text)}


@dataclass
class LiveSandbox:
    """Both emulators served over HTTP, the config that points at them, and the credentials."""

    box: Sandbox
    personio_url: str
    lattice_url: str
    directory: Path
    env: dict[str, str | None]
    config: Path = field(init=False)

    def __post_init__(self) -> None:
        self.config = self.write_config("integration.yaml")

    def write_config(self, name: str, overrides: Mapping[str, Any] | None = None) -> Path:
        """A config pointing at the emulators, with a fast Lattice rate and ``overrides``."""
        merged: dict[str, Any] = {
            "personio": {"base_url": f"{self.personio_url}/v1"},
            "lattice": {
                "base_url": f"{self.lattice_url}/scim/v2",
                # With a real URL the clients use the production rate; keep tests fast.
                "max_requests_per_second": 100,
            },
        }
        _merge(merged, overrides or {})
        path = self.directory / name
        path.write_text(build_config_text(merged), encoding="utf-8")
        return path

    def run(
        self, *args: str, env: Mapping[str, str | None] | None = None, config: Path | None = None
    ) -> Result:
        """``reconcile ARGS --config <live config>`` with the sandbox credentials."""
        return run_cli(
            *args, "--config", str(config or self.config), env={**self.env, **(env or {})}
        )

    def writes(self) -> list[RecordedRequest]:
        """Every write request the Lattice emulator has seen so far."""
        return [r for r in self.box.lattice.requests if r.method in WRITE_METHODS]


ServeSandbox = Callable[[Sandbox], LiveSandbox]


class Switchboard:
    """A request handler that passes each request to the current test's emulator.

    Starting and stopping a server costs half a second (its serve loop polls for shutdown),
    so one pair of servers lives for the whole session and each test plugs its own fresh
    emulators in. Between tests it answers 503.
    """

    def __init__(self) -> None:
        self.handler: Handler | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        handler = self.handler
        if handler is None:
            return httpx.Response(503, json={"detail": "no emulator plugged in"})
        return handler(request)


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[Switchboard, EmulatorServer, Switchboard, EmulatorServer]]:
    personio, lattice = Switchboard(), Switchboard()
    personio_server = EmulatorServer(personio).start()
    lattice_server = EmulatorServer(lattice).start()
    yield personio, personio_server, lattice, lattice_server
    personio_server.stop()
    lattice_server.stop()


@pytest.fixture
def serve_sandbox(
    servers: tuple[Switchboard, EmulatorServer, Switchboard, EmulatorServer], tmp_path: Path
) -> Iterator[ServeSandbox]:
    """Serve one ``Sandbox`` over HTTP for this test (a fresh state every test)."""
    personio, personio_server, lattice, lattice_server = servers

    def serve(box: Sandbox) -> LiveSandbox:
        assert personio.handler is None, "one served sandbox per test"
        personio.handler = box.personio
        lattice.handler = box.lattice
        directory = tmp_path / "live"
        directory.mkdir()
        return LiveSandbox(
            box=box,
            personio_url=personio_server.url,
            lattice_url=lattice_server.url,
            directory=directory,
            env={
                "PERSONIO_CLIENT_ID": box.personio_client_id,
                "PERSONIO_CLIENT_SECRET": box.personio_client_secret,
                "LATTICE_SCIM_TOKEN": box.lattice_token,
                # The emulators are not the built-in API hosts: allowed as an operator would.
                "RECONCILE_ALLOW_ENDPOINTS": f"{personio_server.url},{lattice_server.url}",
            },
        )

    yield serve
    personio.handler = None
    lattice.handler = None


@pytest.fixture
def live(serve_sandbox: ServeSandbox) -> LiveSandbox:
    """The built-in sandbox (60 people, seed 7, with drift) served over HTTP."""
    return serve_sandbox(build_sandbox())


def json_plan(result: Result) -> dict[str, Any]:
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


class Kit:
    """The helpers above, handed to test modules as the ``kit`` fixture."""

    repo = REPO
    example_config = EXAMPLE_CONFIG
    plan_schema = PLAN_SCHEMA
    sandbox_summary = SANDBOX_SUMMARY
    run = staticmethod(run_cli)
    interruptible = staticmethod(interruptible)
    config_text = staticmethod(build_config_text)
    checksum_in = staticmethod(checksum_in)
    summary_line = staticmethod(summary_line)
    personal_values = staticmethod(personal_values)
    names_in = staticmethod(names_in)
    json_plan = staticmethod(json_plan)


@pytest.fixture
def kit() -> Kit:
    return Kit()
