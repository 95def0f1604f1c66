"""End-to-end: ``reconcile plan`` in every format, its files, exit codes, determinism and failures.
In-process CLI (``kit``), on ``--sandbox`` or on the emulators served over HTTP (``live``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from reconciler.sandbox.personio_emulator import PersonioCredential, PersonioEmulator
from reconciler.sandbox.scenario import build_sandbox

if TYPE_CHECKING:
    from conftest import Kit, LiveSandbox, ServeSandbox

TITLES = {
    "create": "Create",
    "link": "Link",
    "reactivate": "Reactivate",
    "update": "Update",
    "deactivate": "Deactivate",
}
UNSAFE = {"safety": {"max_deactivations": {"count": 0}, "min_population": 0}}
REFUSAL = (
    "  - 1 deactivation exceeds safety.max_deactivations.count = 0 (1 of 53 active Lattice "
    "users, 1.9 %) — review the plan, then re-run with --force or raise "
    "safety.max_deactivations.count"
)


def text_value(value: Any) -> str:
    """How the text renderer shows a JSON plan value."""
    if value is None:
        return "(none)"
    if value == "(redacted)":
        return "(redacted)"
    # text and a multi_select's list of choices as JSON ("Go", ["Go", "SQL"]), numbers bare
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str | list) else str(value)


#: The order the text plan lists the kinds of change in: deactivations first.
REVIEW_ORDER = ("deactivate", "create", "link", "reactivate", "update")


def sandbox_emails() -> dict[str, str]:
    """Personio id → email of everyone in the built-in sandbox company."""
    emails = {}
    for raw in build_sandbox().company.employees:
        attributes = raw["attributes"]
        assert isinstance(attributes, dict)
        emails[str(attributes["id"]["value"])] = attributes["email"]["value"].strip().casefold()
    return emails


def without_names(text: str) -> str:
    """``text`` without the per-department table and with the names of the people that
    manager and user values name left out (the JSON plan carries no names)."""
    text = re.sub(r"\nChanges by department:\n(  .*\n)+", "", text)
    return re.sub(r"(: |→ )[^<>\n]*?(<[^<>\s]+> \(Personio [^)\s]+\))", r"\1\2", text)


def person_value(name: str, values: dict[str, Any], side: str, emails: dict[str, str]) -> str:
    """How the text plan shows one side of a field: a person for manager and user values."""
    value = values[side]
    if name == "manager" and value is not None:
        return f"<{emails[value]}> (Personio {value})"
    if f"{side}_personio_id" in values:
        return f"<{value}> (Personio {values[side + '_personio_id']})"
    return text_value(value)


def expected_text(document: dict[str, Any], verdict: list[str]) -> str:
    """The text plan rebuilt from the JSON plan of the same run: every change, field, problem
    (compare it with ``without_names`` of the text plan)."""
    emails = sandbox_emails()
    lines = [kit_summary(document["summary"])]
    context = document["context"]
    commit = f"commit {context['commit']}" if "commit" in context else "no commit (a local run)"
    lines.append(
        f"Computed against Personio {context['personio']}, Lattice {context['lattice']}, "
        f"config {context['config_sha256']}, {commit}"
    )
    for title, key in (("Errors", "errors"), ("Warnings", "warnings")):
        if document[key]:
            codes = Counter(problem["code"] for problem in document[key])
            ranked = sorted(codes.items(), key=lambda item: (-item[1], item[0]))
            lines.append(f"{title}: " + ", ".join(f"{n} {code}" for code, n in ranked))
    for action in REVIEW_ORDER:
        title = TITLES[action]
        group = [change for change in document["changes"] if change["action"] == action]
        if not group:
            continue
        lines += ["", f"{title} ({len(group)}):"]
        for change in group:
            where = "new" if change["lattice_id"] is None else f"Lattice {change['lattice_id']}"
            lines.append(f"  {change['personio_id']} {change['email']} ({where})")
            if "reason" in change:
                lines.append(f"      why: {change['reason']}")
            for name, values in change["fields"].items():
                after = person_value(name, values, "to", emails)
                if action == "create":
                    lines.append(f"      {name}: {after}")
                else:
                    before = person_value(name, values, "from", emails)
                    lines.append(f"      {name}: {before} → {after}")
    for title, key in (("Errors", "errors"), ("Warnings", "warnings")):
        if document[key]:
            lines += ["", f"{title} ({len(document[key])}):"]
            lines += [f"  {p['personio_id']} {p['code']}: {p['message']}" for p in document[key]]
    lines += ["", *verdict, f"Checksum: {document['checksum']}"]
    return "\n".join(lines) + "\n"


def kit_summary(summary: dict[str, int]) -> str:
    parts = [f"{summary[action]} to {action}" for action in TITLES if summary[action]]
    if not parts:
        return f"Plan: no changes, {summary['unchanged']} unchanged"
    return f"Plan: {', '.join(parts)}, {summary['unchanged']} unchanged"


def sandbox_plan(kit: Kit, *args: str) -> tuple[str, dict[str, Any]]:
    """The text and the JSON plan of the built-in sandbox (two runs; the plan is deterministic)."""
    text = kit.run("plan", "--sandbox", "--config", str(kit.example_config), *args)
    machine = kit.run(
        "plan", "--sandbox", "--config", str(kit.example_config), "--format", "json", *args
    )
    assert (text.exit_code, machine.exit_code) == (0, 0)
    return text.stdout, kit.json_plan(machine)


def test_the_text_plan_shows_the_summary_every_change_every_problem_and_the_checksum(
    kit: Kit,
) -> None:
    text, document = sandbox_plan(kit)

    assert text.splitlines()[0] == kit.sandbox_summary
    assert without_names(text) == expected_text(document, ["Safety: ok — within the safety policy"])
    assert [line for line in text.splitlines() if line.endswith("):") and line[0] != " "] == [
        "Deactivate (1):",
        "Create (3):",
        "Link (1):",
        "Reactivate (1):",
        "Update (4):",
        "Errors (2):",
        "Warnings (3):",
    ]


def test_no_format_prints_a_birthdate_or_a_sensitive_value(kit: Kit) -> None:
    private = kit.personal_values(build_sandbox())
    outputs = [
        kit.run("plan", "--sandbox", "--config", str(kit.example_config), "--format", fmt).stdout
        for fmt in ("text", "markdown", "json")
    ]

    for output in outputs:
        assert "(redacted)" in output
        assert [value for value in private["birthdates"] if value in output] == []
        assert [value for value in private["sensitive"] if value in output] == []


def test_the_json_plan_follows_its_schema_and_agrees_with_the_text_summary(kit: Kit) -> None:
    text, document = sandbox_plan(kit)
    schema = json.loads(kit.plan_schema.read_text(encoding="utf-8"))

    Draft202012Validator(schema).validate(document)
    assert kit.summary_line(document["summary"]) == text.splitlines()[0]
    assert document["summary"] == {
        "create": 3,
        "link": 1,
        "reactivate": 1,
        "update": 4,
        "deactivate": 1,
        "unchanged": 45,
    }
    assert document["checksum"] == kit.checksum_in(text)
    for change in document["changes"]:
        for name in ("birth_date", "custom:Salary Band"):
            if name in change["fields"]:
                values = change["fields"][name]
                assert {values["from"], values["to"]} <= {None, "(redacted)"}


def test_the_markdown_plan_has_the_table_the_details_masked_emails_and_the_checksum(
    kit: Kit,
) -> None:
    _, document = sandbox_plan(kit)
    private = kit.personal_values(build_sandbox())

    result = kit.run(
        "plan", "--sandbox", "--config", str(kit.example_config), "--format", "markdown"
    )
    markdown = result.stdout

    assert result.exit_code == 0
    lines = markdown.splitlines()
    start = lines.index("| action | count |")
    assert lines[start : start + 8] == [
        "| action | count |",
        "|---|---:|",
        *[f"| {name} | {document['summary'][name]} |" for name in [*TITLES, "unchanged"]],
    ]
    assert re.findall(r"<details(?: open)?><summary>([^<]+)</summary>", markdown) == [
        "1 to deactivate",
        "3 to create",
        "1 to link",
        "1 to reactivate",
        "4 to update",
        "2 errors: details",
        "3 warnings: details",
    ]
    assert "✅ **safe**: within the safety policy" in markdown
    # Every address in it is masked: one character, then •••.
    before_at = re.findall(r"(.{0,4})@example\.com", markdown)
    assert before_at
    assert [prefix for prefix in before_at if not re.fullmatch(r"[^•`\"]•••", prefix)] == []
    assert [email for email in private["emails"] if email in markdown.casefold()] == []
    assert kit.names_in(markdown, private["names"]) == set()
    assert markdown.rstrip().splitlines()[-1] == f"Checksum: `{document['checksum']}`"


def test_out_writes_the_plan_to_the_file_and_the_summary_and_checksum_to_stderr(
    kit: Kit, tmp_path: Path
) -> None:
    _, document = sandbox_plan(kit)
    printed = kit.run(
        "plan", "--sandbox", "--config", str(kit.example_config), "--format", "json"
    ).stdout
    out = tmp_path / "plan.json"

    result = kit.run(
        "plan",
        "--sandbox",
        "--config",
        str(kit.example_config),
        "--format",
        "json",
        "--out",
        str(out),
    )

    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == (
        f"{kit.sandbox_summary} — written to {out}\nChecksum: {document['checksum']}\n"
    )
    assert out.read_text(encoding="utf-8") == printed


def test_detailed_exitcode_is_2_when_changes_are_pending(kit: Kit) -> None:
    plain = kit.run("plan", "--sandbox", "--config", str(kit.example_config))
    detailed = kit.run(
        "plan", "--sandbox", "--config", str(kit.example_config), "--detailed-exitcode"
    )

    assert plain.exit_code == 0
    assert detailed.exit_code == 2
    assert detailed.stdout == plain.stdout
    assert detailed.stderr == ""


def test_the_plan_is_deterministic_across_runs_and_transports(kit: Kit, live: LiveSandbox) -> None:
    runs = [
        kit.run("plan", "--sandbox", "--config", str(kit.example_config), "--format", "json")
        for _ in range(2)
    ]
    over_http = live.run("plan", "--format", "json")
    texts = [
        kit.run("plan", "--sandbox", "--config", str(kit.example_config)).stdout for _ in range(2)
    ]

    assert runs[0].stdout == runs[1].stdout
    # Only what the plan was computed against (and so its seal) differs between transports.
    in_process, served = kit.json_plan(runs[0]), kit.json_plan(over_http)
    assert served["context"]["lattice"].startswith("http://127.0.0.1:")
    for document in (in_process, served):
        del document["context"], document["seal"]
    assert served == in_process
    assert kit.checksum_in(texts[0]) == kit.checksum_in(texts[1])
    assert kit.checksum_in(texts[0]) == kit.json_plan(runs[0])["checksum"]


def test_unset_secret_variables_are_all_named_before_any_request(live: LiveSandbox) -> None:
    result = live.run(
        "plan",
        env={
            "PERSONIO_CLIENT_ID": None,
            "PERSONIO_CLIENT_SECRET": None,
            "LATTICE_SCIM_TOKEN": None,
        },
    )
    fix = "export it, or set it as a repository secret in CI"

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {live.config}: personio.client_id: environment variable PERSONIO_CLIENT_ID "
        f"is not set — {fix}",
        f"error: {live.config}: personio.client_secret: environment variable "
        f"PERSONIO_CLIENT_SECRET is not set — {fix}",
        f"error: {live.config}: lattice.token: environment variable LATTICE_SCIM_TOKEN "
        f"is not set — {fix}",
    ]
    assert live.box.personio.requests == []
    assert live.box.lattice.requests == []


def test_only_the_unset_variable_is_named(live: LiveSandbox) -> None:
    result = live.run("plan", env={"PERSONIO_CLIENT_SECRET": None})

    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {live.config}: personio.client_secret: environment variable "
        "PERSONIO_CLIENT_SECRET is not set — export it, or set it as a repository secret in CI\n"
    )


def test_an_unreachable_personio_is_one_line_and_exit_1_without_a_traceback(
    kit: Kit, tmp_path: Path
) -> None:
    # A port nobody listens on: bind one, then close it.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "closed.yaml"
    config.write_text(
        kit.config_text({"personio": {"base_url": f"http://127.0.0.1:{port}/v1"}}),
        encoding="utf-8",
    )

    # A real process: the console entry, real stderr. The client retries a refused connection
    # (5 attempts with backoff), so this takes a few seconds.
    completed = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", "--config", str(config)],
        env={
            "PATH": "/usr/bin:/bin",
            "PERSONIO_CLIENT_ID": "sandbox-client",
            "PERSONIO_CLIENT_SECRET": "not-a-secret-SENTINEL",
            "LATTICE_SCIM_TOKEN": "not-a-secret-SENTINEL",
            "RECONCILE_ALLOW_ENDPOINTS": f"http://127.0.0.1:{port}",
        },
        cwd=kit.repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 1
    assert completed.stdout == ""
    assert "SENTINEL" not in completed.stderr
    assert completed.stderr == (
        "error: personio GET /company/employees/attributes: no usable answer to the login "
        f"request (POST http://127.0.0.1:{port}/v1/auth) (ConnectError) "
        "(gave up after 5 attempts) — check that personio is reachable, then run again\n"
    )


def test_a_wrong_lattice_key_says_how_to_make_a_working_one(live: LiveSandbox) -> None:
    result = live.run("plan", env={"LATTICE_SCIM_TOKEN": "wrong-key-SENTINEL"})

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "error: lattice GET Users → 401: the bearer token is missing or not valid — the SCIM "
        "key must be created by a Lattice super admin, with SCIM enabled (Admin › Settings › "
        "Integrations › SCIM)\n"
    )
    assert "SENTINEL" not in result.stdout + result.stderr


def test_a_credential_without_employment_type_is_refused_naming_the_allowance(
    serve_sandbox: ServeSandbox,
) -> None:
    box = build_sandbox()
    allowed = frozenset(str(a["key"]) for a in box.company.attributes) - {"employment_type"}
    restricted = PersonioEmulator(
        box.company.employees,
        box.company.attributes,
        credentials={
            box.personio_client_id: PersonioCredential(box.personio_client_secret, allowed)
        },
    )
    live = serve_sandbox(dataclasses.replace(box, personio=restricted))

    result = live.run("plan")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "error: personio GET /company/employees: Personio did not return the attributes "
        "Employment type — add them to the allowed attributes of the Personio API credential "
        "(Settings › Integrations › API credentials)\n"
    )
    # Lattice is read alongside the employee list, but nothing is planned from half-empty data.
    assert live.writes() == []


def test_an_unsafe_plan_is_shown_with_its_verdict_and_exits_3(kit: Kit, tmp_path: Path) -> None:
    config = tmp_path / "unsafe.yaml"
    config.write_text(kit.config_text(UNSAFE), encoding="utf-8")
    _, document = sandbox_plan(kit)
    # The same plan as the example config's, computed against another config file.
    document["context"]["config_sha256"] = (
        f"sha256:{hashlib.sha256(config.read_bytes()).hexdigest()}"
    )

    result = kit.run("plan", "--sandbox", "--config", str(config))
    detailed = kit.run("plan", "--sandbox", "--config", str(config), "--detailed-exitcode")
    markdown = kit.run("plan", "--sandbox", "--config", str(config), "--format", "markdown")

    assert result.exit_code == 3
    assert without_names(result.stdout) == expected_text(
        document, ["Safety: REFUSED by the safety policy", REFUSAL]
    )
    assert result.stderr == "error: the safety policy refuses this plan; apply would need --force\n"
    assert detailed.exit_code == 3
    assert markdown.exit_code == 3
    assert (
        "⛔ **refused**: 1 deactivation exceeds safety.max\\_deactivations.count = 0"
        in markdown.stdout
    )


def test_a_json_plan_of_an_unsafe_plan_is_still_written(kit: Kit, tmp_path: Path) -> None:
    config = tmp_path / "unsafe.yaml"
    config.write_text(kit.config_text(UNSAFE), encoding="utf-8")
    out = tmp_path / "plan.json"

    result = kit.run(
        "plan", "--sandbox", "--config", str(config), "--format", "json", "--out", str(out)
    )

    assert result.exit_code == 3
    assert json.loads(out.read_text(encoding="utf-8"))["summary"]["deactivate"] == 1
    assert result.stderr.splitlines()[-1] == (
        "error: the safety policy refuses this plan; apply would need --force"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["plan", "--sandbox", "--detailed-exitcode", "--formt", "json"],
        ["plan", "--sandbox", "--detailed-exitcode", "--format", "yaml"],
        ["apply", "--sandbox", "--checksum", "hmac-sha256:0", "--plan", "plan.json"],
    ],
    ids=["mistyped option", "unknown format", "checksum and plan"],
)
def test_a_usage_error_is_an_error_not_changes_pending(kit: Kit, args: list[str]) -> None:
    result = kit.run(*args)

    assert result.exit_code == 1


def test_json_out_writes_the_same_plan_as_json_from_the_same_run(kit: Kit, tmp_path: Path) -> None:
    markdown, machine = tmp_path / "plan.md", tmp_path / "plan.json"
    result = kit.run(
        "plan",
        "--sandbox",
        "--config",
        str(kit.example_config),
        "--format",
        "markdown",
        "--out",
        str(markdown),
        "--json-out",
        str(machine),
    )

    assert result.exit_code == 0
    document = json.loads(machine.read_text(encoding="utf-8"))
    assert f"`{document['checksum']}`" in markdown.read_text(encoding="utf-8")
    assert result.stderr.splitlines()[-1] == f"Checksum: {document['checksum']}"
