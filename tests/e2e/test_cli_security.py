"""The attacks of docs/security.md, written as an attacker with write access to the config would
try them: each exfiltrating config is refused by every command with one clear line, before a
single request leaves the process."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

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
