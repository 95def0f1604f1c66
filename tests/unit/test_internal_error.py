"""A bug of ours ends a run with one plain line and exit 1, never a traceback, and the line
carries no value the failure was about (it may be personal data read from Personio)."""

from __future__ import annotations

import logging

import click
import pytest
from click.testing import CliRunner

from reconciler.cli import EXIT_ERROR, _ReconcileGroup


def group_with_a_bug() -> click.Group:
    @click.group(cls=_ReconcileGroup)
    def group() -> None:
        pass

    @group.command()
    def boom() -> None:
        raise ValueError("changes depend on ada.lovelace@example.com in a cycle")

    return group


def test_an_unexpected_exception_is_one_line_without_its_message() -> None:
    result = CliRunner().invoke(group_with_a_bug(), ["boom"])

    assert result.exit_code == EXIT_ERROR
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: internal error (ValueError at test_internal_error.py:")
    assert "-vv" in lines[0]
    assert "example.com" not in result.output
    assert "Traceback" not in result.output


def test_the_traceback_goes_to_the_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="reconciler"):
        CliRunner().invoke(group_with_a_bug(), ["boom"])

    [record] = [r for r in caplog.records if r.getMessage() == "internal error"]
    assert record.exc_info is not None
    assert record.exc_info[0] is ValueError
