"""The safety policy: empty or gutted Personio answers, mass deactivations or reactivations by
config, the wrong Lattice and a Personio answer mostly in error are refused.

Through the composition root and ``compute_violations``, and through the CLI against both
emulators served on localhost (exit 3, nothing written), with ``--force`` applying exactly the
forceable refusals and never the unforceable one; the sandbox's plan passes the defaults.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from reliability_world import (
    EXAMPLE_CONFIG,
    Recipe,
    Servers,
    World,
    build_recipe,
    cli_env,
    load_example_config,
    run_cli,
    set_wire_value,
    wire_id,
    wire_value,
    write_config,
)

from reconciler import app
from reconciler.core.model import Action, Config, SafetySettings, SyncSettings
from reconciler.core.safety import compute_violations

EXIT_OK, EXIT_ERROR, EXIT_UNSAFE = 0, 1, 3


@functools.cache
def sandbox_recipe() -> Recipe:
    """The sandbox's company (60 people) with what an earlier sync left in Lattice."""
    return build_recipe(60, 7)


def _kept(recipe: Recipe, share: float) -> Recipe:
    """Personio answering with only the first ``share`` of the employees."""
    keep = int(len(recipe.employees) * share)
    return dataclasses.replace(recipe, employees=recipe.employees[:keep])


def _config(**changes: Any) -> Config:
    config = load_example_config()
    return dataclasses.replace(config, **changes)


def _active_users(world: World) -> int:
    return sum(1 for user in world.lattice.users.values() if user.get("active") is True)


def _cli_world(servers: Servers, recipe: Recipe) -> World:
    world = recipe.build()
    servers.plug(world)
    return world


def _config_file(tmp_path: Path, servers: Servers, **overrides: Mapping[str, object]) -> str:
    path = write_config(
        tmp_path / "integration.yaml",
        personio_url=servers.personio_url,
        lattice_url=servers.lattice_url,
        overrides=overrides,
    )
    return str(path)


# ---------------------------------------------------------------------------------------------
# An empty Personio answer
# ---------------------------------------------------------------------------------------------


def test_an_empty_personio_answer_is_refused_and_cannot_be_forced() -> None:
    world = _kept(sandbox_recipe(), 0.0).build()
    run = app.plan(_config(), world.connections())

    assert run.plan.source_employees == 0
    assert [(v.rule, v.forceable) for v in run.violations] == [
        ("min_source_employees", False),
        ("max_deactivations.count", True),
        ("max_deactivations.percent", True),
    ]
    assert run.violations[0].message.startswith(
        "Personio returned 0 employees (minimum 1): refusing to treat an empty answer as "
        "'everyone left'"
    )
    assert world.lattice.writes() == 0


def test_an_empty_personio_answer_writes_nothing_even_with_force(
    servers: Servers, tmp_path: Path
) -> None:
    world = _cli_world(servers, _kept(sandbox_recipe(), 0.0))
    config = _config_file(tmp_path, servers)
    before = _active_users(world)

    result = run_cli(
        "apply", "--config", config, "--force", "--no-progress", env=cli_env(world, servers)
    )

    assert result.exit_code == EXIT_UNSAFE, result.output
    assert "error: --force cannot override this; fix the cause first" in result.stderr
    assert world.lattice.writes() == 0
    assert _active_users(world) == before


# ---------------------------------------------------------------------------------------------
# A Personio answer missing most employees
# ---------------------------------------------------------------------------------------------


def test_an_answer_missing_most_employees_refuses_the_deactivations() -> None:
    world = _kept(sandbox_recipe(), 0.1).build()
    run = app.plan(_config(), world.connections())

    deactivations = run.plan.count(Action.DEACTIVATE)
    assert deactivations > 40
    assert run.violations == compute_violations(run.plan, _config().safety)
    assert [(v.rule, v.forceable) for v in run.violations] == [
        ("max_deactivations.count", True),
        ("max_deactivations.percent", True),
    ]
    share = 100.0 * deactivations / run.plan.target_users
    assert run.violations[0].message.startswith(
        f"{deactivations} deactivations exceed safety.max_deactivations.count = 10 "
        f"({deactivations} of {run.plan.target_users} active Lattice users, {share:.1f} %)"
    )


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_an_answer_missing_most_employees_exits_3_and_writes_nothing(
    command: str, servers: Servers, tmp_path: Path
) -> None:
    world = _cli_world(servers, _kept(sandbox_recipe(), 0.1))
    config = _config_file(tmp_path, servers)

    result = run_cli(command, "--config", config, "--no-progress", env=cli_env(world, servers))

    assert result.exit_code == EXIT_UNSAFE, result.output
    assert "max_deactivations" in result.stdout  # the plan is still shown, with the verdict
    assert "Safety: REFUSED by the safety policy" in result.stdout
    assert world.lattice.writes() == 0


# ---------------------------------------------------------------------------------------------
# A config edit that would deactivate most of the company
# ---------------------------------------------------------------------------------------------

EXTERNAL_ONLY = {"employee_types": ["external"]}


def test_a_config_edit_deactivating_most_of_the_company_exits_3(
    servers: Servers, tmp_path: Path
) -> None:
    world = _cli_world(servers, sandbox_recipe())
    config = _config_file(tmp_path, servers, sync=EXTERNAL_ONLY)

    planned = run_cli("plan", "--config", config, "--no-progress", env=cli_env(world, servers))
    applied = run_cli("apply", "--config", config, "--no-progress", env=cli_env(world, servers))

    assert (planned.exit_code, applied.exit_code) == (EXIT_UNSAFE, EXIT_UNSAFE)
    assert "error: the safety policy refuses this plan; apply would need --force" in (
        planned.stderr
    )
    assert "re-run with --force" in applied.stderr
    assert world.lattice.writes() == 0


def test_force_applies_a_forceable_refusal_and_the_next_plan_is_empty(
    servers: Servers, tmp_path: Path
) -> None:
    world = _cli_world(servers, sandbox_recipe())
    config = _config_file(tmp_path, servers, sync=EXTERNAL_ONLY)
    external_only = _config(sync=dataclasses.replace(_config().sync, employee_types=("external",)))
    expected = app.plan(external_only, sandbox_recipe().build().connections()).plan

    forced = run_cli(
        "apply", "--config", config, "--force", "--no-progress", env=cli_env(world, servers)
    )
    again = run_cli("plan", "--config", config, "--detailed-exitcode", env=cli_env(world, servers))

    assert forced.exit_code == EXIT_OK, forced.output
    assert "warning: safety thresholds overridden with --force" in forced.stderr
    assert f"Checksum: {expected.checksum}" in forced.stdout
    assert again.exit_code == EXIT_OK, again.output
    assert again.stdout.startswith("Plan: no changes")
    deactivated = {
        str(user.get("externalId"))
        for user in world.lattice.users.values()
        if user.get("active") is False
    }
    assert {c.source_id for c in expected.changes if c.action is Action.DEACTIVATE} <= (deactivated)


# ---------------------------------------------------------------------------------------------
# Small tenants
# ---------------------------------------------------------------------------------------------


def test_thresholds_apply_from_min_population_on_and_not_below() -> None:
    config = _config(sync=SyncSettings(employee_types=("external",)))
    world = sandbox_recipe().build()
    run = app.plan(config, world.connections())
    population = run.plan.target_users
    assert run.plan.count(Action.DEACTIVATE) > population // 2

    at = SafetySettings(min_population=population)
    above = SafetySettings(min_population=population + 1)
    assert {v.rule for v in compute_violations(run.plan, at)} == {
        "max_deactivations.count",
        "max_deactivations.percent",
    }
    assert compute_violations(run.plan, above) == ()


def test_a_tenant_below_min_population_is_not_refused_by_the_cli(
    servers: Servers, tmp_path: Path
) -> None:
    small = build_recipe(7, 3, quirks=False, drift=False)
    world = _cli_world(servers, small)
    assert _active_users(world) < 10  # below the example's min_population
    config = _config_file(tmp_path, servers, sync=EXTERNAL_ONLY)

    result = run_cli("apply", "--config", config, "--no-progress", env=cli_env(world, servers))

    assert result.exit_code == EXIT_OK, result.output
    assert "Safety: ok — within the safety policy" in result.stdout
    internal = {
        wire_id(record)
        for record in small.employees
        if wire_value(record, "employment_type") == "internal"
    }
    still_active = {
        user.get("externalId") for user in world.lattice.users.values() if user.get("active")
    }
    assert len(internal) >= 5
    assert internal.isdisjoint(still_active)


# ---------------------------------------------------------------------------------------------
# Every kind of change has a limit: reactivations, creations, errors
# ---------------------------------------------------------------------------------------------

WITH_INACTIVE = {"statuses": ["active", "onboarding", "leave", "inactive"]}


def test_adding_inactive_to_the_statuses_refuses_the_reactivations() -> None:
    sync = dataclasses.replace(_config().sync, statuses=(*_config().sync.statuses, "inactive"))
    run = app.plan(_config(sync=sync), sandbox_recipe().build().connections())

    reactivations = run.plan.count(Action.REACTIVATE)
    share = 100.0 * reactivations / run.plan.target_users
    assert share > 5
    assert [(v.rule, v.forceable) for v in run.violations] == [("max_reactivations.percent", True)]
    assert run.violations[0].message == (
        f"{reactivations} reactivations exceed safety.max_reactivations.percent = 5 % "
        f"({reactivations} of {run.plan.target_users} active Lattice users, {share:.1f} %) — "
        "review the plan, then re-run with --force or raise safety.max_reactivations.percent"
    )


def test_adding_inactive_to_the_statuses_exits_3_and_reactivates_nobody(
    servers: Servers, tmp_path: Path
) -> None:
    world = _cli_world(servers, sandbox_recipe())
    config = _config_file(tmp_path, servers, sync=WITH_INACTIVE)
    before = _active_users(world)

    result = run_cli("apply", "--config", config, "--no-progress", env=cli_env(world, servers))

    assert result.exit_code == EXIT_UNSAFE, result.output
    assert "error: refused: " in result.stderr
    assert "safety.max_reactivations.percent" in result.stderr
    assert world.lattice.writes() == 0
    assert _active_users(world) == before


def _wrong_lattice() -> Recipe:
    """Personio's company, but the Lattice of another company synced earlier."""
    ours, theirs = build_recipe(200, 7), build_recipe(80, 11)
    return dataclasses.replace(theirs, employees=ours.employees)


def test_pointing_at_another_companys_lattice_refuses_creating_everyone() -> None:
    run = app.plan(_config(), _wrong_lattice().build().connections())

    creates = run.plan.count(Action.CREATE)
    assert creates > 50
    assert run.plan.target_users >= _config().safety.min_population
    assert {"max_creates.count", "max_creates.percent"} <= {v.rule for v in run.violations}
    assert all(v.forceable for v in run.violations)


def test_pointing_at_another_companys_lattice_exits_3_and_invites_nobody(
    servers: Servers, tmp_path: Path
) -> None:
    world = _cli_world(servers, _wrong_lattice())
    config = _config_file(tmp_path, servers)
    users = len(world.lattice.users)

    planned = run_cli("plan", "--config", config, "--no-progress", env=cli_env(world, servers))
    applied = run_cli("apply", "--config", config, "--no-progress", env=cli_env(world, servers))

    assert (planned.exit_code, applied.exit_code) == (EXIT_UNSAFE, EXIT_UNSAFE)
    assert "max_creates.count" in planned.stdout
    assert world.lattice.writes() == 0
    assert len(world.lattice.users) == users


def test_an_initial_load_into_an_empty_lattice_is_not_refused() -> None:
    recipe = dataclasses.replace(sandbox_recipe(), seed_history=False)
    run = app.plan(_config(), recipe.build().connections())

    assert run.plan.target_users == 0
    assert run.plan.count(Action.CREATE) > 50
    assert run.violations == ()


def _mostly_in_error(recipe: Recipe) -> Recipe:
    """Every employee but the first three shares one email: a broken email source field."""
    employees = copy.deepcopy(list(recipe.employees))
    for record in employees[3:]:
        set_wire_value(record, "email", "shared.inbox@example.com")
    return dataclasses.replace(recipe, employees=tuple(employees))


def test_most_people_in_error_refuses_the_plan() -> None:
    run = app.plan(_config(), _mostly_in_error(sandbox_recipe()).build().connections())

    errors, people = len(run.plan.errors), run.plan.source_employees
    assert errors > people // 2
    assert [v.rule for v in run.violations] == ["max_errors.percent"]
    assert run.violations[0].message == (
        f"{errors} people in error exceed safety.max_errors.percent = 10 % ({errors} of {people} "
        f"Personio employees, {100.0 * errors / people:.1f} %) — fix them in Personio (the plan "
        "lists them), or re-run with --force or raise safety.max_errors.percent"
    )


def test_the_sandbox_plan_has_every_kind_of_change_and_passes_the_example_policy() -> None:
    run = app.plan(_config(), sandbox_recipe().build().connections())

    assert all(run.plan.count(action) >= 1 for action in Action)
    assert run.plan.errors
    assert run.violations == ()


def test_reconcile_plan_sandbox_passes_the_default_policy(tmp_path: Path) -> None:
    # The starter's (the model's) defaults, not the example config's: they must agree on this.
    document = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    document.pop("safety")
    path = tmp_path / "integration.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")

    result = run_cli("plan", "--sandbox", "--config", str(path), "--no-progress", env={})

    assert result.exit_code == EXIT_OK, result.output
    assert "Safety: ok — within the safety policy" in result.stdout
