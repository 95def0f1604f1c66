"""README documents every command and every long option the CLI offers, and every option explains
itself in ``--help`` (a flag a user can only find by reading the source is not offered)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from reconciler.cli import cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _commands(
    group: click.Group, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


COMMANDS = dict(_commands(cli))


def test_the_cli_has_the_commands_the_readme_starts_with() -> None:
    # Guards the walk below: an empty walk would make every other test here pass vacuously.
    assert {"plan", "apply", "validate", "explain", "sandbox serve"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_readme_names_the_command(name: str) -> None:
    assert f"reconcile {name}" in README


@pytest.mark.parametrize(
    ("name", "option"),
    [
        (name, option)
        for name, command in sorted(COMMANDS.items())
        for param in command.params
        if isinstance(param, click.Option)
        for option in param.opts
        if option.startswith("--") and option != "--help"
    ],
)
def test_readme_names_every_long_option(name: str, option: str) -> None:
    assert option in README, f"README does not mention {option} of 'reconcile {name}'"


@pytest.mark.parametrize(
    ("name", "option"),
    [
        (name, param.opts[0])
        for name, command in sorted(COMMANDS.items())
        for param in command.params
        if isinstance(param, click.Option) and param.opts[0] != "--help"
    ],
)
def test_every_option_has_help(name: str, option: str) -> None:
    param = next(p for p in COMMANDS[name].params if p.opts and p.opts[0] == option)
    assert isinstance(param, click.Option)
    assert param.help, f"'reconcile {name} {option}' has no help text"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_top_level_help_names_the_command(name: str) -> None:
    # `reconcile --help` opens with a summary of what to run; a command missing from it is one a
    # newcomer never finds without the README.
    summary = cli.help or ""
    assert f"reconcile {name} " in summary, f"`reconcile --help` does not list 'reconcile {name}'"
