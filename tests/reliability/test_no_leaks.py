"""No secret, birthdate or sensitive value anywhere; no name or email in any log record.

Every command runs through the CLI against both emulators served on localhost, with sentinel
credentials and sentinel personal data, and everything the runs produce is collected: stdout,
stderr, every log record at debug level (what ``-vv`` shows) and every file written (plans,
reports, the audit log, the starter config). The assertions then search that corpus.
"""

from __future__ import annotations

import copy
import logging
import re
import socket
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from reliability_world import (
    Recipe,
    Servers,
    World,
    build_recipe,
    cli_env,
    load_example_config,
    run_cli,
    wire_id,
    write_config,
)

from reconciler import app
from reconciler.core.model import Action
from reconciler.sandbox.company import BIRTHDAY_CUSTOM_KEY
from reconciler.sandbox.lattice_emulator import LATTICE_URN, LatticeFaults

PERSONIO_SECRET = "sk_live_SENTINEL_SECRET_41"
LATTICE_TOKEN = "lat_SENTINEL_TOKEN_97"
WRONG_PERSONIO_SECRET = "sk_live_SENTINEL_WRONG_SECRET_58"
WRONG_LATTICE_TOKEN = "lat_SENTINEL_WRONG_TOKEN_13"
SECRETS = (PERSONIO_SECRET, LATTICE_TOKEN, WRONG_PERSONIO_SECRET, WRONG_LATTICE_TOKEN)
#: tokens the Personio emulator issues (``pt`` + counter + random hex): live credentials too
PERSONIO_TOKEN = re.compile(r"pt\d{5}[0-9a-f]{16}")

BIRTHDATE_WIRE = "1961-07-04T00:00:00+02:00"
BIRTHDATE_FORMS = ("1961-07-04", "04.07.1961", "1961-07-04T00:00:00", "07/04/1961")
SENSITIVE = "SENTINEL-SALARY-BAND-5551234"
BIRTHDAY_KEY = BIRTHDAY_CUSTOM_KEY
SALARY_KEY = "dynamic_7890123"


def _attributes(record: Mapping[str, Any]) -> dict[str, Any]:
    attributes = record["attributes"]
    assert isinstance(attributes, dict)
    return attributes


def sentinel_recipe() -> tuple[Recipe, set[str]]:
    """The sandbox's company, where the people the first plan creates and three it would
    leave unchanged now have the sentinel birthdate and salary band in Personio."""
    base = build_recipe(60, 7)
    plan = app.plan(load_example_config(), base.build().connections()).plan
    creates = {c.source_id for c in plan.changes if c.action is Action.CREATE}
    changed = {c.source_id for c in plan.changes} | {p.source_id for p in plan.errors}
    quiet = [
        wire_id(r)
        for r in base.employees
        if wire_id(r) not in changed and _attributes(r)["status"]["value"] == "active"
    ]
    chosen = {pid for pid in creates if pid is not None} | set(quiet[5:8])
    employees = copy.deepcopy(list(base.employees))
    for record in employees:
        if wire_id(record) in chosen:
            _attributes(record)[BIRTHDAY_KEY]["value"] = BIRTHDATE_WIRE
            _attributes(record)[SALARY_KEY]["value"] = SENSITIVE
    return Recipe(history=base.history, employees=tuple(employees)), chosen


def build_world(recipe: Recipe) -> World:
    """Sentinel credentials; a Personio that rotates its token every other answer; a Lattice
    that drops the first write before it arrives and loses the answer to the second, so
    creates are looked up by externalId and by userName."""
    return recipe.build(
        client_secret=PERSONIO_SECRET,
        lattice_token=LATTICE_TOKEN,
        rotate_token_every=2,
        lattice_faults=LatticeFaults(resets_before=1, resets_after=1, writes_only=True),
    )


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")


@dataclass
class Transcript:
    """Everything the commands produced, by label."""

    texts: dict[str, str] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)
    exit_codes: dict[str, int] = field(default_factory=dict)
    people: dict[str, set[str]] = field(default_factory=dict)
    lattice_values: set[str] = field(default_factory=set)

    def add(self, label: str, result: Result, expected_exit: int) -> None:
        assert result.exit_code == expected_exit, (label, result.output, result.exception)
        self.exit_codes[label] = result.exit_code
        self.texts[f"{label} stdout"] = result.stdout
        self.texts[f"{label} stderr"] = result.stderr

    def add_file(self, path: Path) -> None:
        self.texts[f"file {path.name}"] = path.read_text(encoding="utf-8")

    def everything(self) -> dict[str, str]:
        return {**self.texts, **{f"log #{i}": line for i, line in enumerate(self.logs)}}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _people(recipe: Recipe) -> dict[str, set[str]]:
    names: set[str] = set()
    emails: set[str] = set()
    for record in (*recipe.history.employees, *recipe.employees):
        attributes = _attributes(record)
        for key in ("first_name", "last_name", "preferred_name"):
            value = attributes[key]["value"]
            if isinstance(value, str) and value.strip():
                names.add(value.strip())
        email = attributes["email"]["value"]
        if isinstance(email, str) and email.strip():
            emails.add(email.strip().casefold())
    return {"names": names, "emails": emails}


@pytest.fixture(scope="module")
def transcript(server_pair: Servers, tmp_path_factory: pytest.TempPathFactory) -> Transcript:
    """Run every command once, collecting everything they print, log and write."""
    servers = server_pair
    folder = tmp_path_factory.mktemp("leaks")
    recipe, chosen = sentinel_recipe()
    found = Transcript(people=_people(recipe))
    handler = _Records()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        _run_everything(servers, folder, recipe, found)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        servers.personio_board.target = None
        servers.lattice_board.target = None
    found.logs = handler.lines
    for name in sorted(p.name for p in folder.iterdir()):
        if name != "integration.yaml":
            found.add_file(folder / name)
    assert chosen
    return found


def _run_everything(servers: Servers, folder: Path, recipe: Recipe, found: Transcript) -> None:
    world = build_world(recipe)
    servers.plug(world)
    closed = f"http://127.0.0.1:{_closed_port()}"
    env = cli_env(world, servers, closed)
    personio_url, lattice_url = servers.personio_url, servers.lattice_url
    config = str(
        write_config(
            folder / "integration.yaml", personio_url=personio_url, lattice_url=lattice_url
        )
    )
    unsafe = str(
        write_config(
            folder / "unsafe.yaml",
            personio_url=personio_url,
            lattice_url=lattice_url,
            overrides={"sync": {"employee_types": ["external"]}},
        )
    )
    unreachable = str(
        write_config(
            folder / "unreachable.yaml",
            personio_url=closed,
            lattice_url=servers.lattice_url,
        )
    )

    found.add("validate", run_cli("validate", "--config", config, env=env), 0)
    found.add("doctor", run_cli("doctor", "--config", config, env=env), 0)
    for fmt in ("text", "markdown", "json"):
        plan = ("-vv", "plan", "--config", config, "--no-progress", "--format", fmt)
        found.add(f"plan {fmt}", run_cli(*plan, env=env), 0)
        out = folder / f"plan.{fmt}"
        found.add(f"plan {fmt} --out", run_cli(*plan, "--out", str(out), env=env), 0)

    stale = ("apply", "--config", config, "--checksum", "hmac-sha256:" + "0" * 64)
    found.add("apply stale", run_cli(*stale, env=env), 1)
    found.add("plan unsafe", run_cli("plan", "--config", unsafe, env=env), 3)
    found.add("apply unsafe", run_cli("apply", "--config", unsafe, env=env), 3)

    wrong_secret = {**env, "PERSONIO_CLIENT_SECRET": WRONG_PERSONIO_SECRET}
    wrong_token = {**env, "LATTICE_SCIM_TOKEN": WRONG_LATTICE_TOKEN}
    found.add("plan wrong secret", run_cli("plan", "--config", config, env=wrong_secret), 1)
    found.add("plan wrong token", run_cli("plan", "--config", config, env=wrong_token), 1)
    found.add("doctor wrong secret", run_cli("doctor", "--config", config, env=wrong_secret), 1)
    found.add("doctor wrong token", run_cli("doctor", "--config", config, env=wrong_token), 1)
    found.add("plan unreachable", run_cli("plan", "--config", unreachable, env=env), 1)

    reviewed: tuple[str, ...]
    for fmt in ("text", "markdown", "json"):
        if fmt == "text":  # the reviewed plan, applied by its file
            reviewed = ("--plan", str(folder / "plan.json"))
        else:  # the scheduled run on a fresh tenant, so every apply has changes to report
            reviewed = ()
            world = build_world(recipe)
            servers.plug(world)
        # An attribute deleted in Lattice: creates fail (400), so reports list people.
        del world.lattice.custom_attributes["Shirt Size"]
        apply = ("-vv", "apply", "--config", config, *reviewed, "--no-progress")
        audit = ("--audit-log", str(folder / "audit.jsonl"))
        report = ("--report-format", fmt, "--report-out", str(folder / f"report.{fmt}"))
        found.add(f"apply {fmt}", run_cli(*apply, *audit, *report, env=env), 1)
        found.add(f"plan after apply {fmt}", run_cli("plan", "--config", config, env=env), 0)

    found.add(
        "init",
        run_cli(
            "init",
            "--out",
            str(folder / "starter.yaml"),
            "--personio-base-url",
            f"{servers.personio_url}/v1",
            env=env,
        ),
        0,
    )
    for user in world.lattice.users.values():
        extension = user.get(LATTICE_URN)
        if isinstance(extension, dict):
            found.lattice_values.update(str(value) for value in extension.values())


# ---------------------------------------------------------------------------------------------
# The assertions
# ---------------------------------------------------------------------------------------------

#: Every command the transcript ran, and how it must have ended.
EXPECTED_EXIT_CODES = {
    "validate": 0,
    "doctor": 0,
    **{f"plan {fmt}{out}": 0 for fmt in ("text", "markdown", "json") for out in ("", " --out")},
    "apply stale": 1,
    "plan unsafe": 3,
    "apply unsafe": 3,
    "plan wrong secret": 1,
    "plan wrong token": 1,
    "doctor wrong secret": 1,
    "doctor wrong token": 1,
    "plan unreachable": 1,
    **{f"apply {fmt}": 1 for fmt in ("text", "markdown", "json")},  # some creates fail
    **{f"plan after apply {fmt}": 0 for fmt in ("text", "markdown", "json")},
    "init": 0,
}


def test_the_runs_really_carried_the_sentinels(transcript: Transcript) -> None:
    """Without this the searches below could pass by never seeing a sentinel at all."""
    assert {"1961-07-04", SENSITIVE} <= transcript.lattice_values
    assert transcript.exit_codes == EXPECTED_EXIT_CODES
    assert any(name.startswith("file report.") for name in transcript.texts)
    assert "file audit.jsonl" in transcript.texts
    assert any(line.startswith("DEBUG reconciler.") for line in transcript.logs)  # -vv was on


def test_no_secret_or_token_appears_in_any_output_log_or_file(transcript: Transcript) -> None:
    leaks = {
        label: secret
        for label, text in transcript.everything().items()
        for secret in SECRETS
        if secret in text
    }
    assert leaks == {}


def test_no_personio_token_appears_in_any_log_record(transcript: Transcript) -> None:
    assert [line for line in transcript.logs if PERSONIO_TOKEN.search(line)] == []


def test_no_birthdate_or_sensitive_value_appears_anywhere(transcript: Transcript) -> None:
    leaks = {
        label: value
        for label, text in transcript.everything().items()
        for value in (*BIRTHDATE_FORMS, SENSITIVE)
        if value in text
    }
    assert leaks == {}


def _email_forms(email: str) -> tuple[str, ...]:
    # URLs in log lines carry emails percent-encoded (a SCIM filter: userName eq "…").
    return (email, urllib.parse.quote(email), urllib.parse.quote_plus(email))


def test_no_email_appears_in_any_log_record(transcript: Transcript) -> None:
    logs = "\n".join(transcript.logs).casefold()
    leaked = sorted(
        email
        for email in transcript.people["emails"]
        if any(form.casefold() in logs for form in _email_forms(email))
    )
    assert leaked == []


def test_no_name_appears_in_any_log_record(transcript: Transcript) -> None:
    leaked = {
        name
        for name in transcript.people["names"]
        for line in transcript.logs
        if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", line)
    }
    assert leaked == set()


def test_markdown_shows_no_unmasked_email(transcript: Transcript) -> None:
    labels = ("plan markdown stdout", "file plan.markdown", "file report.markdown")
    markdown = {label: transcript.texts[label].casefold() for label in labels}
    assert all("•••@example.com" in text for text in markdown.values())  # people are shown
    leaked = {
        label: email
        for label, text in markdown.items()
        for email in transcript.people["emails"]
        if email in text
    }
    assert leaked == {}
