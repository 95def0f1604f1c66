"""End-to-end: ``reconcile doctor``, ``reconcile init`` and every command's ``--help``.
Runs the CLI in-process (``kit``), against ``--sandbox`` or the emulators served over HTTP.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from reconciler.sandbox.company import CUSTOM_ATTRIBUTES
from reconciler.sandbox.personio_emulator import PersonioCredential, PersonioEmulator
from reconciler.sandbox.scenario import build_sandbox

if TYPE_CHECKING:
    from conftest import Kit, LiveSandbox, ServeSandbox

NOTE = (
    "note: switch off Lattice's built-in Personio integration before the first apply; "
    "both would write the same users."
)
ALLOW_LIST = "every required and mapped Personio attribute is allowed on the credential"
SCIM_KEY = "the Lattice SCIM key works (super admin, SCIM enabled)"
CUSTOM = "every mapped Lattice custom attribute exists with a compatible type"


def all_good(config: Path) -> list[str]:
    return [
        f"✔ {config} is valid",
        "✔ every credential reference is set",
        "✔ the Personio credential authenticates",
        f"✔ {ALLOW_LIST}",
        f"✔ {SCIM_KEY}",
        f"✔ {CUSTOM}",
        NOTE,
    ]


# ------------------------------------------------------------------------------------ doctor


def test_doctor_on_the_sandbox_ticks_every_check(kit: Kit) -> None:
    result = kit.run("doctor", "--sandbox", "--config", str(kit.example_config))

    assert result.exit_code == 0
    assert result.stdout.splitlines() == all_good(kit.example_config)
    assert result.stderr == ""


def test_doctor_over_http_ticks_every_check(live: LiveSandbox) -> None:
    result = live.run("doctor")

    assert result.exit_code == 0
    assert result.stdout.splitlines() == all_good(live.config)
    assert live.writes() == []


def test_doctor_names_a_missing_personio_allowance_and_where_to_add_it(
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

    result = live.run("doctor")

    expected = all_good(live.config)
    expected[3:4] = [
        f"✘ {ALLOW_LIST}",
        "    'Employment type' (employment_type) is not allowed — add it to the allowed "
        "attributes of the Personio API credential (Settings › Integrations › API credentials)",
    ]
    assert result.exit_code == 1
    assert result.stdout.splitlines() == expected


def test_doctor_names_a_mapped_lattice_attribute_that_does_not_exist(live: LiveSandbox) -> None:
    del live.box.lattice.custom_attributes["Probation End"]

    result = live.run("doctor")

    expected = all_good(live.config)
    expected[5:6] = [
        f"✘ {CUSTOM}",
        "    'Probation End' does not exist in Lattice — create it (Admin › Settings › People › "
        "Custom attributes) or fix custom_attributes[].lattice",
    ]
    assert result.exit_code == 1
    assert result.stdout.splitlines() == expected


def test_doctor_names_a_lattice_attribute_whose_type_does_not_fit_the_config(
    live: LiveSandbox,
) -> None:
    # the config maps Level as a number; this Lattice has it as a text (a SCIM string)
    live.box.lattice.custom_attributes["Level"] = "text"

    result = live.run("doctor")

    expected = all_good(live.config)
    expected[5:6] = [
        f"✘ {CUSTOM}",
        "    'Level' is a string attribute in Lattice, which cannot hold "
        "custom_attributes[2].type number — set custom_attributes[2].type: text",
    ]
    assert result.exit_code == 1
    assert result.stdout.splitlines() == expected


def test_doctor_finds_a_lattice_attribute_whatever_the_case_of_its_name(
    live: LiveSandbox,
) -> None:
    attributes = live.box.lattice.custom_attributes
    attributes["PROBATION END"] = attributes.pop("Probation End")

    result = live.run("doctor")

    assert result.exit_code == 0
    assert result.stdout.splitlines() == all_good(live.config)


def test_doctor_warns_about_an_app_id_personio_would_not_accept(tmp_path: Path, kit: Kit) -> None:
    config = tmp_path / "integration.yaml"
    text = kit.example_config.read_text(encoding="utf-8")
    config.write_text(text.replace("app_id: ACME_LATTICE_SYNC", "app_id: lattice-sync"))

    result = kit.run("doctor", "--sandbox", "--config", str(config))

    assert result.exit_code == 0
    assert result.stdout.splitlines() == all_good(config)
    assert result.stderr == (
        "warning: personio.app_id: Personio expects X-Personio-App-ID in UPPER_SNAKE_CASE — "
        "write app_id: LATTICE_SYNC\n"
    )


def test_doctor_explains_a_wrong_lattice_key(live: LiveSandbox) -> None:
    result = live.run("doctor", env={"LATTICE_SCIM_TOKEN": "wrong-key-SENTINEL"})

    expected = all_good(live.config)
    expected[4:6] = [
        f"✘ {SCIM_KEY}",
        "    lattice GET Users → 401: the bearer token is missing or not valid — the SCIM key "
        "must be created by a Lattice super admin, with SCIM enabled (Admin › Settings › "
        "Integrations › SCIM)",
    ]
    assert result.exit_code == 1
    assert result.stdout.splitlines() == expected
    assert "SENTINEL" not in result.stdout + result.stderr


def test_doctor_explains_a_refused_personio_credential_without_repeating_it(
    live: LiveSandbox,
) -> None:
    result = live.run("doctor", env={"PERSONIO_CLIENT_SECRET": "wrong-secret-SENTINEL"})

    lines = result.stdout.splitlines()
    assert result.exit_code == 1
    assert lines[2] == "✘ the Personio credential authenticates"
    assert lines[3].startswith("    personio POST /auth → 401: ")
    assert "PERSONIO_CLIENT_ID/SECRET" in lines[3]
    assert ALLOW_LIST not in result.stdout  # nothing to check without a working credential
    assert lines[-3:] == [f"✔ {SCIM_KEY}", f"✔ {CUSTOM}", NOTE]
    assert "SENTINEL" not in result.stdout + result.stderr


def test_doctor_names_unset_variables_after_checking_the_config(live: LiveSandbox) -> None:
    result = live.run("doctor", env={"LATTICE_SCIM_TOKEN": None})

    assert result.exit_code == 1
    assert result.stdout == f"✔ {live.config} is valid\n"
    assert result.stderr == (
        f"error: {live.config}: lattice.token: environment variable LATTICE_SCIM_TOKEN is not "
        "set — export it, or set it as a repository secret in CI\n"
    )
    assert live.box.personio.requests == []


# ------------------------------------------------------------------------------------ init


def test_init_on_the_sandbox_writes_a_config_that_validates(kit: Kit, tmp_path: Path) -> None:
    out = tmp_path / "config" / "integration.yaml"

    written = kit.run("init", "--sandbox", "--out", str(out))
    validated = kit.run("validate", "--config", str(out))

    assert written.exit_code == 0
    assert written.stdout == (
        f"wrote {out}; review it, then run: reconcile validate --config {out}\n"
    )
    assert validated.exit_code == 0, validated.stderr
    assert validated.stdout == (
        f"{out}: valid — internal, external employees, 6 standard fields, 0 custom attributes\n"
    )
    text = out.read_text(encoding="utf-8")
    # Every custom attribute of the company is offered, commented out, for the admin to pick.
    assert [key for key, _, _ in CUSTOM_ATTRIBUTES if f"#   - personio: {key}" not in text] == []


def test_init_refuses_to_overwrite_a_file_without_force(kit: Kit, tmp_path: Path) -> None:
    out = tmp_path / "integration.yaml"
    out.write_text("# mine\n", encoding="utf-8")

    refused = kit.run("init", "--sandbox", "--out", str(out))
    kept = out.read_text(encoding="utf-8")
    forced = kit.run("init", "--sandbox", "--out", str(out), "--force")

    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert refused.stderr == f"error: {out}: the file exists — pass --force to overwrite it\n"
    assert kept == "# mine\n"
    assert forced.exit_code == 0
    assert out.read_text(encoding="utf-8").startswith("# yaml-language-server: $schema=")


def test_init_over_http_reads_the_live_catalogue_with_the_personio_credential_only(
    kit: Kit, live: LiveSandbox, tmp_path: Path
) -> None:
    out = tmp_path / "starter.yaml"
    base_url = f"{live.personio_url}/v1"

    result = kit.run(
        "init",
        "--out",
        str(out),
        "--personio-base-url",
        base_url,
        env={
            "PERSONIO_CLIENT_ID": live.box.personio_client_id,
            "PERSONIO_CLIENT_SECRET": live.box.personio_client_secret,
            "RECONCILE_ALLOW_ENDPOINTS": live.personio_url,
        },
    )

    assert result.exit_code == 0, result.stderr
    assert f'base_url: "{base_url}"' in out.read_text(encoding="utf-8")
    assert live.box.personio.count("/company/employees/attributes") == 1
    assert live.box.lattice.requests == []
    allowed = {"RECONCILE_ALLOW_ENDPOINTS": live.personio_url}
    assert kit.run("validate", "--config", str(out), env=allowed).exit_code == 0


def test_init_refuses_to_run_without_the_personio_credential(kit: Kit, tmp_path: Path) -> None:
    out = tmp_path / "starter.yaml"

    result = kit.run("init", "--out", str(out), env={"PERSONIO_CLIENT_ID": "sandbox-client"})

    assert result.exit_code == 1
    assert result.stderr == (
        "error: environment: personio.client_secret: environment variable "
        "PERSONIO_CLIENT_SECRET is not set — export it, or set it as a repository secret in CI\n"
    )
    assert not out.exists()


def test_init_names_every_unset_personio_variable_at_once(kit: Kit, tmp_path: Path) -> None:
    out = tmp_path / "starter.yaml"

    result = kit.run("init", "--out", str(out))

    assert result.exit_code == 1
    assert "PERSONIO_CLIENT_ID is not set" in result.stderr
    assert "PERSONIO_CLIENT_SECRET is not set" in result.stderr


# ------------------------------------------------------------------------------------ --help

COMMANDS_WITH_EXIT_CODES = [["validate"], ["plan"], ["apply"], ["doctor"], ["init"]]


def test_the_console_entry_prints_help_with_the_exit_codes(kit: Kit) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "reconciler", "--help"],
        cwd=kit.repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0
    assert completed.stderr == ""
    assert completed.stdout.startswith("Usage: reconcile [OPTIONS] COMMAND [ARGS]...")
    assert "Exit codes:" in completed.stdout
    for command in ("apply", "comment", "doctor", "init", "plan", "sandbox", "validate"):
        assert f"\n  {command} " in completed.stdout


def test_the_top_level_help_shows_the_exit_codes_one_per_line(kit: Kit) -> None:
    result = kit.run("--help")

    lines = [line.strip() for line in result.stdout.splitlines()]
    assert lines[lines.index("Exit codes:") + 1 :][:4] == [
        "0  success; nothing to do (plan) or every change applied (apply)",
        "1  error: invalid config, API failure, stale plan, or some changes failed",
        "2  plan --detailed-exitcode only: success, changes pending",
        "3  refused by the safety policy (see the 'safety' section of the config)",
    ]


@pytest.mark.parametrize("command", COMMANDS_WITH_EXIT_CODES, ids=" ".join)
def test_each_command_documents_the_exit_codes_in_its_help(kit: Kit, command: list[str]) -> None:
    result = kit.run(*command, "--help")

    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: cli {' '.join(command)} [OPTIONS]")
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert lines[lines.index("Exit codes:") + 1 :][:4] == [
        "0  success; nothing to do (plan) or every change applied (apply)",
        "1  error: invalid config, API failure, stale plan, or some changes failed",
        "2  plan --detailed-exitcode only: success, changes pending",
        "3  refused by the safety policy (see the 'safety' section of the config)",
    ]


@pytest.mark.parametrize("command", [["sandbox"], ["sandbox", "serve"], ["comment"]], ids=" ".join)
def test_the_other_commands_have_help_too(kit: Kit, command: list[str]) -> None:
    result = kit.run(*command, "--help")

    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: cli {' '.join(command)} [OPTIONS]")
    assert result.stderr == ""
