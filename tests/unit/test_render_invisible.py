"""A change that differs only by an invisible character is never an invisible change: in the
text and Markdown plans every zero-width, control, bidi, no-break-space or other invisible
character is shown as an escape (``\\u200b``), and the JSON plan stays raw JSON that loads
back to the exact value."""

from __future__ import annotations

import json

import pytest

from reconciler.core.model import Action, Change, FieldChange, Plan
from reconciler.core.plan_document import seal_plan
from reconciler.render import FORMATS, inert
from reconciler.render.common import inert_json

#: Each one invisible (or a plain-looking space) in a terminal or a rendered comment.
INVISIBLE = {
    "\u200b": "\\u200b",  # zero-width space
    "\u200d": "\\u200d",  # zero-width joiner
    "\u2060": "\\u2060",  # word joiner
    "\ufeff": "\\ufeff",  # byte order mark
    "\u00a0": "\\u00a0",  # no-break space
    "\u202f": "\\u202f",  # narrow no-break space
    "\u2007": "\\u2007",  # figure space
    "\u3000": "\\u3000",  # ideographic space
    "\u00ad": "\\u00ad",  # soft hyphen
    "\u202e": "\\u202e",  # right-to-left override
    "\u2066": "\\u2066",  # left-to-right isolate
    "\u061c": "\\u061c",  # Arabic letter mark
    "\u3164": "\\u3164",  # Hangul filler
    "\ufe0f": "\\ufe0f",  # variation selector
    "\x07": "\\u0007",  # bell (C0 control)
    "\x85": "\\u0085",  # next line (C1 control)
    "\U000e0041": "\\U000e0041",  # tag letter A
}


def plan_with(title: str) -> Plan:
    change = Change(
        Action.UPDATE,
        "1",
        "u1",
        "ana.lopez@example.com",
        (FieldChange("title", "Head of Sales", title),),
    )
    return seal_plan(Plan(changes=(change,), unchanged=0), b"key")


@pytest.mark.parametrize("fmt", ["text", "markdown"])
@pytest.mark.parametrize("character", sorted(INVISIBLE), ids=lambda c: f"U+{ord(c):04X}")
def test_an_invisible_character_is_shown_escaped(fmt: str, character: str) -> None:
    text = FORMATS[fmt].render_plan(plan_with(f"Head of{character} Sales"), ())

    assert character not in text
    assert f"Head of{INVISIBLE[character]} Sales" in text


@pytest.mark.parametrize("character", sorted(INVISIBLE), ids=lambda c: f"U+{ord(c):04X}")
def test_the_json_plan_escapes_it_and_loads_back_to_the_exact_value(character: str) -> None:
    title = f"Head of{character} Sales"
    text = FORMATS["json"].render_plan(plan_with(title), ())

    assert character not in text
    assert json.loads(text)["changes"][0]["fields"]["title"]["to"] == title


def test_an_astral_character_is_a_surrogate_pair_in_json_and_one_escape_in_text() -> None:
    assert inert_json(json.dumps("a\U000e0041", ensure_ascii=False)) == '"a\\udb40\\udc41"'
    assert json.loads(inert_json(json.dumps("a\U000e0041", ensure_ascii=False))) == "a\U000e0041"
    assert inert("a\U000e0041") == "a\\U000e0041"


def test_visible_text_in_any_script_is_left_as_it_is() -> None:
    for text in ("Tom\u00e1s Ib\u00e1\u00f1ez", "김", "Ærøskøbing", "Zoë", "عربي", "日本"):
        assert inert(text) == text
        assert inert_json(json.dumps(text, ensure_ascii=False)) == json.dumps(
            text, ensure_ascii=False
        )
