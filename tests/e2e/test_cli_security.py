"""The attacks of docs/security.md, written as an attacker with write access to the config would
try them: each exfiltrating config is refused by every command with one clear line, before a
single request leaves the process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest

if TYPE_CHECKING:
    from conftest import Kit, LiveSandbox

#: Config edits that would send a credential somewhere it does not belong.
EXFILTRATING: dict[str, tuple[dict[str, Any], str]] = {
    "plain http to another host": (
        {"personio": {"base_url": "http://evil.example/v1"}},
        "personio.base_url: http://evil.example is not a Personio API host",
    ),
    "userinfo hiding the real host": (
        {"personio": {"base_url": "https://api.personio.de@evil.example/v1"}},
        "personio.base_url (line",
    ),
    "the SCIM key to another host": (
        {"lattice": {"base_url": "https://scim.evil.example/scim/v2"}},
        "lattice.base_url: https://scim.evil.example is not a Lattice API host",
    ),
    "the SCIM key sent to Personio as its client id": (
        {"personio": {"client_id": "env:LATTICE_SCIM_TOKEN"}},
        "personio.client_id (line",
    ),
}


def _write(kit: Kit, tmp_path: Path, overrides: dict[str, Any]) -> Path:
    path = tmp_path / "attack.yaml"
    path.write_text(kit.config_text(overrides), encoding="utf-8")
    return path


@pytest.mark.parametrize("attack", sorted(EXFILTRATING))
@pytest.mark.parametrize("command", ["validate", "plan", "apply", "doctor"])
def test_an_exfiltrating_config_is_refused_by_every_command_before_any_request(
    attack: str, command: str, live: LiveSandbox, tmp_path: Path, kit: Kit
) -> None:
    overrides, expected = EXFILTRATING[attack]
    config = _write(kit, tmp_path, overrides)

    result = live.run(command, config=config)

    assert result.exit_code == 1, result.stdout
    refusals = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(refusals) == 1, result.stderr
    assert expected in refusals[0]
    assert live.box.personio.count() == 0
    assert live.box.lattice.requests == []
    assert live.box.lattice_token not in result.output


def test_the_refusal_says_exactly_which_variable_allows_a_test_endpoint(
    live: LiveSandbox, kit: Kit
) -> None:
    env = {"RECONCILE_ALLOW_ENDPOINTS": None}

    result = live.run("plan", env=env)

    assert result.exit_code == 1
    assert f"export RECONCILE_ALLOW_ENDPOINTS={live.personio_url}" in result.stderr
    assert f"export RECONCILE_ALLOW_ENDPOINTS={live.lattice_url}" in result.stderr
    assert live.box.lattice.requests == []


def test_the_allow_list_is_never_read_from_the_config_file(
    live: LiveSandbox, kit: Kit, tmp_path: Path
) -> None:
    config = _write(kit, tmp_path, {"RECONCILE_ALLOW_ENDPOINTS": "http://evil.example"})

    result = live.run("validate", config=config)

    assert result.exit_code == 1
    assert "unknown key 'RECONCILE_ALLOW_ENDPOINTS'" in result.stderr


def test_a_malformed_allow_list_is_one_clear_line(live: LiveSandbox) -> None:
    result = live.run("plan", env={"RECONCILE_ALLOW_ENDPOINTS": "127.0.0.1:8701"})

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: RECONCILE_ALLOW_ENDPOINTS: entry 1: is not an origin — write "
        "scheme://host[:port] with no path, user, query or fragment, e.g. http://127.0.0.1:8701"
    )


def test_init_refuses_a_personio_url_that_is_not_allowed(kit: Kit, tmp_path: Path) -> None:
    out = tmp_path / "starter.yaml"

    result = kit.run(
        "init",
        "--out",
        str(out),
        "--personio-base-url",
        "https://api.personio.de@evil.example/v1",
        env={"PERSONIO_CLIENT_ID": "id", "PERSONIO_CLIENT_SECRET": "SENTINEL-secret"},
    )

    assert result.exit_code == 1
    assert result.stderr.startswith("error: --personio-base-url: must not contain a user name")
    assert not out.exists()


@pytest.mark.parametrize("command", ["plan", "apply", "doctor"])
def test_the_in_process_sandbox_needs_no_allow_list(command: str, kit: Kit) -> None:
    # Its connections are in-process transports built by trusted code: nothing leaves the
    # process, so its made-up http://personio.sandbox URLs need no RECONCILE_ALLOW_ENDPOINTS.
    result = kit.run(command, "--sandbox")

    assert result.exit_code == 0, result.stderr


# ------------------------------------------------------------------ the keyed, masked plan file


def test_the_json_out_file_is_masked_and_apply_plan_works_from_it(
    live: LiveSandbox, kit: Kit, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    personal = kit.personal_values(live.box)

    planned = live.run("plan", "--json-out", str(plan_file), "--no-progress")
    text = plan_file.read_text(encoding="utf-8")
    document = json.loads(text)
    applied = live.run("apply", "--plan", str(plan_file), "--no-progress")

    assert planned.exit_code == 0, planned.stderr
    assert document["masked"] is True
    assert jsonschema.Draft202012Validator(json.loads(kit.plan_schema.read_text("utf-8"))).is_valid(
        document
    )
    assert not [email for email in personal["emails"] if email in text.casefold()]
    assert not kit.names_in(text, personal["names"])
    assert not [day for day in personal["birthdates"] if day in text]
    assert not [value for value in personal["sensitive"] if value in text]
    assert document["checksum"] == kit.checksum_in(planned.stdout)
    assert applied.exit_code == 0, applied.stderr


def test_unmasked_is_an_explicit_choice(live: LiveSandbox, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"

    live.run("plan", "--json-out", str(plan_file), "--unmasked", "--no-progress")
    document = json.loads(plan_file.read_text(encoding="utf-8"))

    assert "masked" not in document
    assert any("@" in change["email"] for change in document["changes"])


def test_the_checksum_is_keyed_by_the_lattice_token_or_reconcile_plan_key(
    live: LiveSandbox, kit: Kit
) -> None:
    by_token = kit.checksum_in(live.run("plan").stdout)
    again = kit.checksum_in(live.run("plan").stdout)
    by_key = kit.checksum_in(live.run("plan", env={"RECONCILE_PLAN_KEY": "k1"}).stdout)
    by_other_key = kit.checksum_in(live.run("plan", env={"RECONCILE_PLAN_KEY": "k2"}).stdout)

    assert by_token == again
    assert len({by_token, by_key, by_other_key}) == 3


def test_apply_with_another_key_than_the_plan_refuses_to_write(live: LiveSandbox, kit: Kit) -> None:
    checksum = kit.checksum_in(live.run("plan", env={"RECONCILE_PLAN_KEY": "reviewer"}).stdout)

    result = live.run("apply", "--checksum", checksum, env={"RECONCILE_PLAN_KEY": "other"})

    assert result.exit_code == 1
    assert live.writes() == []


def test_an_unkeyed_checksum_is_refused_with_what_to_do(live: LiveSandbox) -> None:
    result = live.run("apply", "--checksum", "sha256:" + "0" * 64)

    assert result.exit_code == 1
    assert "unkeyed sha256: checksum" in result.stderr
    assert live.writes() == []


def test_error_lines_are_inert_whatever_text_they_carry(kit: Kit, tmp_path: Path) -> None:
    crafted = tmp_path / "x\n::error::pwned\x1b[31m\u202e.yaml"

    result = kit.run("validate", "--config", str(crafted))

    assert result.exit_code == 1
    assert "\x1b" not in result.stderr
    assert "\u202e" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")


def test_apply_plan_sealed_with_another_key_says_so(live: LiveSandbox, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    live.run("plan", "--json-out", str(plan_file), env={"RECONCILE_PLAN_KEY": "reviewer"})

    result = live.run("apply", "--plan", str(plan_file), env={"RECONCILE_PLAN_KEY": "other"})

    assert result.exit_code == 1
    assert "sealed with another key" in result.stderr
    assert live.writes() == []
