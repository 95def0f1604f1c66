"""Crafted HR data renders inert in every format: values from Personio or Lattice carrying
newlines, @mentions, autolinks, HTML, ESC sequences, bidi and zero-width characters and
workflow commands (``::error::``) cannot break a line, ping a team, close a <details>, drive
a terminal or command a CI runner (docs/security.md)."""

from __future__ import annotations

import json
import re

import pytest

from reconciler.core.model import (
    Action,
    ApplyReport,
    Change,
    ChangeResult,
    FieldChange,
    Outcome,
    Plan,
    Problem,
)
from reconciler.core.plan_document import seal_plan
from reconciler.render import FORMATS, defuse_lines, inert

#: What an attacker who can edit their own Personio profile (or a Lattice user) would type.
CRAFTED = (
    "x\n::error::pwned\n@org/team </details><img src=x onerror=alert(1)> https://evil.example "
    "www.evil.example \x1b[31mred\x1b[0m \u202egnp.exe\u200b\r\n\n::set-output name=a::b"
)
ATTACKS = ("\x1b", "\u202e", "\u200b", "\r")


def crafted_plan() -> Plan:
    update = Change(
        Action.UPDATE,
        "::error::id",
        "scim\n::warning::x",
        "::error::x@example.com",
        (
            FieldChange("title", "Engineer", CRAFTED),
            FieldChange("department", CRAFTED, None),
            FieldChange("custom:Buddy", None, CRAFTED),
        ),
    )
    create = Change(
        Action.CREATE,
        "7",
        None,
        "new@example.com",
        (FieldChange("title", None, CRAFTED), FieldChange("manager", None, "::error::m")),
        depends_on="::error::m",
    )
    problem = Problem("::error::p", "attribute_invalid", f"attribute {CRAFTED} is not valid")
    return seal_plan(
        Plan(changes=(create, update), unchanged=0, warnings=(problem,), errors=(problem,)),
        b"key",
    )


def crafted_report() -> ApplyReport:
    plan = crafted_plan()
    results = (
        ChangeResult(plan.changes[0], Outcome.FAILED, None, f"Lattice said: {CRAFTED}", 1),
        ChangeResult(plan.changes[1], Outcome.SKIPPED, None, CRAFTED, 0),
    )
    return ApplyReport(plan, results)


def outputs() -> list[tuple[str, str]]:
    plan = crafted_plan()
    found = []
    for name, fmt in sorted(FORMATS.items()):
        found.append((f"{name} plan", fmt.render_plan(plan, ())))
        found.append((f"{name} report", fmt.render_report(crafted_report())))
    return found


@pytest.mark.parametrize(("what", "text"), outputs(), ids=[what for what, _ in outputs()])
def test_crafted_values_render_inert(what: str, text: str) -> None:
    for character in ATTACKS:
        assert character not in text, (what, repr(character))
    for line in text.splitlines():
        assert not line.lstrip().startswith("::"), (what, line)
    # A crafted newline never starts a line of its own.
    assert not any(line.lstrip().startswith(("@org", "www.", "red")) for line in text.splitlines())


@pytest.mark.parametrize("what", ["markdown plan", "markdown report"])
def test_markdown_has_no_live_mention_link_or_html_from_the_data(what: str) -> None:
    text = dict(outputs())[what]
    # Outside code spans (where GitHub interprets nothing) nothing from the data is live.
    prose = re.sub(r"(`+).*?\1", "", text)

    assert "@org" not in prose
    assert "https://evil" not in prose
    assert "www.evil" not in prose
    assert "<img" not in prose
    # The only HTML is the renderer's own: every <details> it opens, it closes.
    assert prose.count("</details>") == prose.count("<details")
    assert set(re.findall(r"<(/?\w+)", prose)) <= {"details", "/details", "summary", "/summary"}


def test_json_keeps_the_values_exactly_and_only_escapes_them() -> None:
    text = FORMATS["json"].render_plan(crafted_plan(), ())
    document = json.loads(text)

    titles = [change["fields"]["title"]["to"] for change in document["changes"]]
    assert titles == [CRAFTED, CRAFTED]
    assert "\\u001b" in text
    assert "\\u202e" in text


def test_inert_and_defuse_lines_are_visible_and_idempotent() -> None:
    assert inert("a\nb\x1b[31m\u202ec") == "a\\nb\\u001b[31m\\u202ec"
    assert inert(inert(CRAFTED)) == inert(CRAFTED)
    assert "\n" not in inert(CRAFTED)
    assert (
        defuse_lines("ok\n  ::error::x\n::warning::y\n") == "ok\n  \\::error::x\n\\::warning::y\n"
    )
