"""The format registry: built-in formats, adding one through ``register_format`` alone, and the
CLI offering exactly the registered formats."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import click
import pytest
from click.testing import CliRunner

from reconciler import render
from reconciler.cli import cli
from reconciler.core.model import (
    ApplyReport,
    ChangeResult,
    Config,
    Employee,
    FieldSetting,
    LatticeSettings,
    Outcome,
    PersonioSettings,
    Plan,
    SecretRef,
    SourceSnapshot,
    SyncSettings,
    TargetUser,
)
from reconciler.core.planner import compute_plan
from reconciler.core.safety import Violation
from reconciler.render import FORMATS, Format, get_format, register_format
from reconciler.sources.personio.profile import PERSONIO
from reconciler.targets.lattice.profile import LATTICE


class IdsFormat:
    """A toy CSV-ish format: one line per change with its action and ids, nothing personal."""

    name = "ids"
    description = "action and ids of every change, comma-separated"

    def render_plan(self, plan: Plan, violations: Sequence[Violation]) -> str:
        rows = [
            f"{change.action.value},{change.source_id or ''},{change.target_id or ''}"
            for change in plan.changes
        ]
        verdict = "refused" if violations else "safe"
        return "\n".join(["action,personio_id,lattice_id", *rows, f"# {verdict}"]) + "\n"

    def render_report(self, report: ApplyReport) -> str:
        rows = [
            f"{result.change.action.value},{result.change.source_id or ''},{result.outcome.value}"
            for result in report.results
        ]
        return "\n".join(["action,personio_id,outcome", *rows]) + "\n"


@pytest.fixture
def registry() -> Iterator[dict[str, Format]]:
    """The real registry, put back as it was after the test."""
    saved = dict(FORMATS)
    yield FORMATS
    FORMATS.clear()
    FORMATS.update(saved)


def real_plan() -> Plan:
    """A planner plan: person 1 is new, person 2 changed title, Lattice user u9 is unmanaged."""
    config = Config(
        personio=PersonioSettings(
            "https://api.personio.de/v1", SecretRef("PID"), SecretRef("PSECRET"), "test-app"
        ),
        lattice=LatticeSettings("https://api.latticehq.com/scim/v2", SecretRef("LTOKEN")),
        sync=SyncSettings(unmanaged_users="deactivate"),
        fields=tuple(
            FieldSetting(name, name == "title", source)
            for name, source in PERSONIO.default_sources.items()
        ),
    )
    employees = [
        Employee(
            pid,
            {
                "id": pid,
                "email": f"person{pid}@example.com",
                "first_name": f"Given{pid}",
                "last_name": "Example",
                "status": "active",
                "employment_type": "internal",
                "position": "Engineer",
            },
        )
        for pid in ("1", "2")
    ]
    users = [
        TargetUser(
            f"u{pid}",
            f"person{pid}@example.com",
            True,
            pid,
            {"first_name": f"Given{pid}", "last_name": "Example", "title": "Intern"},
        )
        for pid in ("2", "9")
    ]
    return compute_plan(
        SourceSnapshot(tuple(employees)), users, config, source=PERSONIO, target=LATTICE
    )


def test_the_built_in_formats_are_registered_under_their_names() -> None:
    assert sorted(FORMATS) == ["json", "markdown", "text"]
    for name, fmt in FORMATS.items():
        assert fmt.name == name
        assert fmt.description
        assert get_format(name) is fmt


def test_the_built_in_formats_render_what_their_functions_render() -> None:
    plan = real_plan()
    report = ApplyReport(plan, tuple(ChangeResult(c, Outcome.APPLIED) for c in plan.changes))

    assert get_format("text").render_plan(plan, ()) == render.render_text(plan)
    assert get_format("markdown").render_plan(plan, ()) == render.render_markdown(plan)
    assert get_format("json").render_plan(plan, ()) == render.render_json(plan)
    assert get_format("text").render_report(report) == render.render_report_text(report)
    assert get_format("markdown").render_report(report) == render.render_report_markdown(report)
    assert get_format("json").render_report(report) == render.render_report_json(report)


def test_a_new_format_needs_only_register_format(registry: dict[str, Format]) -> None:
    plan = real_plan()
    report = ApplyReport(
        plan,
        (
            ChangeResult(plan.changes[0], Outcome.APPLIED, "u1", attempts=1),
            ChangeResult(plan.changes[1], Outcome.FAILED, detail="SCIM 400"),
            ChangeResult(plan.changes[2], Outcome.SKIPPED),
        ),
    )

    register_format(IdsFormat())

    fmt = get_format("ids")
    assert sorted(registry) == ["ids", "json", "markdown", "text"]
    assert fmt.render_plan(plan, ()) == (
        "action,personio_id,lattice_id\ncreate,1,\nupdate,2,u2\ndeactivate,9,u9\n# safe\n"
    )
    assert fmt.render_report(report) == (
        "action,personio_id,outcome\ncreate,1,applied\nupdate,2,failed\ndeactivate,9,skipped\n"
    )


def test_a_name_already_taken_is_refused(registry: dict[str, Format]) -> None:
    text = registry["text"]
    impostor = IdsFormat()
    impostor.name = "text"

    with pytest.raises(ValueError, match="'text' is already registered"):
        register_format(impostor)

    assert registry["text"] is text


def test_an_unknown_format_names_the_known_ones() -> None:
    with pytest.raises(
        ValueError, match="unknown format 'csv'; known formats: json, markdown, text"
    ):
        get_format("csv")


@pytest.mark.parametrize(("command", "option"), [("plan", "fmt"), ("apply", "report_format")])
def test_the_cli_offers_exactly_the_registered_formats(command: str, option: str) -> None:
    group = cli
    assert isinstance(group, click.Group)
    params = {param.name: param for param in group.commands[command].params}
    choice = params[option].type

    assert isinstance(choice, click.Choice)
    assert list(choice.choices) == sorted(FORMATS)


def test_the_cli_help_lists_the_registered_formats() -> None:
    result = CliRunner().invoke(cli, ["plan", "--help"])

    assert result.exit_code == 0
    assert f"[{'|'.join(sorted(FORMATS))}]" in result.output
