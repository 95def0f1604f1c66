"""The reviewer's view of a plan: people instead of bare ids, changes per department, the order
of the Markdown plan, identical changes grouped, problems counted by code and the Mermaid chart
of manager changes (hand-built plans; what the planner records is tested end to end in
tests/e2e/test_cli_review_people.py)."""

from __future__ import annotations

import dataclasses
import json
import re

from reconciler.core.model import Action, Change, FieldChange, Person, Plan, Problem
from reconciler.core.plan_document import compute_checksum
from reconciler.render import render_json, render_markdown, render_text
from reconciler.render.common import People
from reconciler.render.org import MAX_EDGES, mermaid_label, render_org_chart

ADA = Person("22", "u22", "ada@example.com", "Ada Example", "Engineering")
BEN = Person("23", "u23", "ben@example.com", "Ben Example", "Sales")
CY = Person("5", "u5", "cy@example.com", "Cy Example", "Engineering")


def sealed(plan: Plan) -> Plan:
    return dataclasses.replace(plan, checksum=compute_checksum(plan, b"test plan key"))


def manager_plan() -> Plan:
    return sealed(
        Plan(
            changes=(
                Change(
                    Action.UPDATE,
                    "5",
                    "u5",
                    "cy@example.com",
                    (
                        FieldChange("custom:Buddy", None, "BEN@example.com"),
                        FieldChange("manager", "22", None),
                    ),
                ),
                Change(
                    Action.UPDATE,
                    "6",
                    "u6",
                    "dee@example.com",
                    (FieldChange("manager", "u22", "23"),),
                ),
            ),
            unchanged=3,
            people=(CY, ADA, BEN),
        )
    )


# ------------------------------------------------------------------------------------ people


def test_text_names_the_managers_and_the_buddy_with_their_emails() -> None:
    text = render_text(manager_plan())

    assert "      manager: Ada Example <ada@example.com> (Personio 22) → (none)\n" in text
    assert "      custom:Buddy: (none) → Ben Example <ben@example.com> (Personio 23)\n" in text
    # A manager Lattice held by its own id is the same person.
    assert (
        "      manager: Ada Example <ada@example.com> (Personio 22) → "
        "Ben Example <ben@example.com> (Personio 23)\n"
    ) in text


def test_markdown_names_them_by_masked_email_and_personio_id_only() -> None:
    markdown = render_markdown(manager_plan())

    assert "  - `manager`: `a•••@example.com` (Personio 22) → (none)\n" in markdown
    assert "  - `custom:Buddy`: (none) → `b•••@example.com` (Personio 23)\n" in markdown
    assert "Ada" not in markdown
    assert "Ben" not in markdown
    assert not re.search(r"[a-z]{2,}@example\.com", markdown)


def test_someone_the_plan_does_not_know_stays_a_plain_value() -> None:
    plan = dataclasses.replace(manager_plan(), people=())

    assert '      manager: "22" → (none)\n' in render_text(plan)
    assert '  - `manager`: `"22"` → (none)\n' in render_markdown(plan)


def test_json_adds_the_personio_id_where_the_value_names_someone_otherwise() -> None:
    plan = manager_plan()

    for masked in (False, True):
        document = json.loads(render_json(plan, masked=masked))
        first, second = (change["fields"] for change in document["changes"])
        assert first["custom:Buddy"]["to_personio_id"] == "23"
        assert "from_personio_id" not in first["manager"]  # "22" is the Personio id already
        assert second["manager"]["from_personio_id"] == "22"
        assert "to_personio_id" not in second["manager"]
    masked_text = render_json(plan, masked=True)
    assert "@example.com" not in masked_text


def test_who_a_plan_names_is_outside_the_checksum() -> None:
    plan = manager_plan()

    assert compute_checksum(dataclasses.replace(plan, people=())) == compute_checksum(plan)
    assert dataclasses.replace(plan, people=()) == plan


# ------------------------------------------------------------------------------- departments


def department_plan() -> Plan:
    return sealed(
        Plan(
            changes=(
                Change(
                    Action.CREATE,
                    "1",
                    None,
                    "a@example.com",
                    (FieldChange("department", None, "Sales"),),
                ),
                Change(
                    Action.UPDATE, "5", "u5", "cy@example.com", (FieldChange("title", "A", "B"),)
                ),
                Change(Action.DEACTIVATE, "22", "u22", "ada@example.com"),
                Change(Action.REACTIVATE, "23", "u23", "ben@example.com"),
                Change(Action.DEACTIVATE, None, "u99", "svc@example.com"),
            ),
            unchanged=0,
            people=(CY, ADA, BEN),
        )
    )


def test_text_counts_the_changes_per_department() -> None:
    text = render_text(department_plan())

    assert (
        "Changes by department:\n"
        "  department   deactivate  create  link  reactivate  update\n"
        "  Engineering           1       0     0           0       1\n"
        "  Sales                 0       1     0           1       0\n"
        "  (none)                1       0     0           0       0\n"
    ) in text


def test_markdown_counts_the_changes_per_department() -> None:
    markdown = render_markdown(department_plan())

    assert (
        "| department | deactivate | create | link | reactivate | update |\n"
        "|---|---:|---:|---:|---:|---:|\n"
        "| Engineering | 1 | 0 | 0 | 0 | 1 |\n"
        "| Sales | 0 | 1 | 0 | 1 | 0 |\n"
        "| (none) | 1 | 0 | 0 | 0 | 0 |\n"
    ) in markdown


def test_a_department_name_cannot_break_the_table() -> None:
    hostile = Person("5", "u5", "cy@example.com", None, "R|D\n| x | <b>")
    plan = dataclasses.replace(department_plan(), people=(hostile,))

    rows = [line for line in render_markdown(plan).splitlines() if line.startswith("| R")]
    assert rows == ["| R\\|D \\| x \\| &lt;b&gt; | 0 | 0 | 0 | 0 | 1 |"]


# ---------------------------------------------------------------------- order and groups


def reorganisation(movers: int = 285) -> Plan:
    moves = tuple(
        Change(
            Action.UPDATE,
            str(n),
            f"u{n}",
            f"p{n}@example.com",
            (FieldChange("department", "Ops", "Platform"),),
        )
        for n in range(100, 100 + movers)
    )
    return sealed(
        Plan(
            changes=(
                Change(
                    Action.CREATE, "1", None, "a@example.com", (FieldChange("title", None, "CTO"),)
                ),
                *moves,
                Change(
                    Action.UPDATE, "7", "u7", "g@example.com", (FieldChange("title", "A", "B"),)
                ),
                Change(Action.DEACTIVATE, "9", "u9", "e@example.com", reason="left"),
            ),
            unchanged=0,
            errors=tuple(
                Problem(str(n), "duplicate_email", f"employee {n} shares") for n in range(4)
            ),
            warnings=(
                Problem("3", "manager_not_found", "employee 3: manager 8 is not in Personio"),
                Problem("4", "manager_not_found", "employee 4: manager 8 is not in Personio"),
                Problem("5", "preferred_name_drift", "employee 5: differs"),
            ),
        )
    )


def test_identical_changes_of_many_people_are_one_line_with_the_people_folded() -> None:
    markdown = render_markdown(reorganisation())

    line = '- `department`: `"Ops"` → `"Platform"` — **285 people**\n'
    assert markdown.count(line) == 1
    folded = markdown.split(line, 1)[1].split("</details>", 1)[0]
    assert folded.startswith("  <details><summary>who (285)</summary>\n\n  **100**, **101**, ")
    assert "_… and 185 more (see the JSON plan artifact)_" in folded
    # The single different update is still its own entry.
    assert '- **7** · `g•••@example.com` · Lattice `u7`\n  - `title`: `"A"` → `"B"`' in markdown


def test_text_groups_them_the_same_way_and_lists_everyone() -> None:
    text = render_text(reorganisation())

    assert "Update (286):\n" in text
    group = '  department: "Ops" → "Platform" — 285 people:\n'
    assert group + "      100 p100@example.com (Lattice u100)\n" in text
    assert text.count("@example.com (Lattice u") == 287


def test_two_alike_are_not_a_group() -> None:
    text = render_text(reorganisation(movers=2))

    assert "people:" not in text
    assert text.count('      department: "Ops" → "Platform"\n') == 2


def test_markdown_shows_deactivations_first_then_changes_then_problems_by_code() -> None:
    markdown = render_markdown(reorganisation())

    order = [
        markdown.index("<summary>1 to deactivate</summary>"),
        markdown.index("<summary>1 to create</summary>"),
        markdown.index("<summary>286 to update</summary>"),
        markdown.index("**4 errors** by code:"),
        markdown.index("**3 warnings** by code:"),
    ]
    assert order == sorted(order)
    assert "| `duplicate_email` | 4 |\n" in markdown
    assert "| `manager_not_found` | 2 |\n| `preferred_name_drift` | 1 |\n" in markdown
    assert "<details><summary>4 errors: details</summary>" in markdown


def test_under_the_cap_the_changes_win_over_problem_details_but_not_over_their_counts() -> None:
    plan = dataclasses.replace(
        reorganisation(),
        errors=tuple(
            Problem(str(n), "email_claimed", f"employee {n}'s email is claimed") for n in range(400)
        ),
    )
    plan = sealed(plan)

    markdown = render_markdown(plan, max_chars=4000)

    assert len(markdown) <= 4000
    assert "— **285 people**" in markdown
    assert "| `email_claimed` | 400 |" in markdown
    assert markdown.count("| `email_claimed` | ") < 400


def test_caused_and_pending_sections_are_each_ordered_and_grouped() -> None:
    from reconciler.core.cause import annotate

    proposed = reorganisation()
    baseline = dataclasses.replace(proposed, changes=proposed.changes[1:])  # not the create
    markdown = render_markdown(annotate(proposed, baseline))
    text = render_text(annotate(proposed, baseline))

    caused, pending = markdown.split("#### Pending anyway", 1)
    assert "<summary>1 to create</summary>" in caused
    assert pending.index("to deactivate") < pending.index("— **285 people**")
    assert text.index("Pending anyway") < text.index("— 285 people:")


# ---------------------------------------------------------------------------- Mermaid chart

NODE = re.compile(r'^  n\d+\["[A-Za-z0-9 _#;]*"\]$')
EDGE = re.compile(r"^  n\d+ (-->|-\. removed \.->) n\d+$")


def chart_of(markdown: str) -> list[str]:
    start = markdown.index("```mermaid\n")
    end = markdown.index("\n```\n", start)
    return markdown[start:end].splitlines()[1:]


def assert_valid_chart(lines: list[str]) -> None:
    assert lines[0] == "graph TD"
    for line in lines[1:]:
        assert NODE.fullmatch(line) or EDGE.fullmatch(line), line


def test_manager_changes_are_a_valid_mermaid_chart_of_ids() -> None:
    markdown = render_markdown(manager_plan())
    lines = chart_of(markdown)

    assert_valid_chart(lines)
    assert lines == [
        "graph TD",
        '  n0["Personio 5"]',
        '  n1["Personio 22"]',
        '  n2["Personio 6"]',
        '  n3["Personio 23"]',
        "  n1 -. removed .-> n0",
        "  n1 -. removed .-> n2",
        "  n3 --> n2",
    ]
    assert "**Manager changes** (2):" in markdown


def test_hostile_ids_stay_inside_their_labels() -> None:
    hostile = 'x"] --> evil["`pwn`\n```\n-->]'
    plan = sealed(
        Plan(
            changes=(
                Change(
                    Action.UPDATE,
                    hostile,
                    "u1",
                    "a@example.com",
                    (FieldChange("manager", None, hostile + "2"),),
                ),
            ),
            unchanged=0,
        )
    )

    markdown = render_markdown(plan)
    lines = chart_of(markdown)

    assert_valid_chart(lines)
    # The chart's own fence, opened and closed once: no other line starts a code block.
    assert [line for line in markdown.splitlines() if line.startswith("```")] == [
        "```mermaid",
        "```",
    ]
    assert "evil" in lines[1]
    assert "-->" not in lines[1]
    assert mermaid_label('a"b') == "a#34;b"
    assert mermaid_label("a-->b") == "a#45;#45;#62;b"


def test_the_chart_is_capped_and_says_how_many_changes_it_leaves_out() -> None:
    changes = tuple(
        Change(
            Action.UPDATE, str(n), f"u{n}", f"p{n}@example.com", (FieldChange("manager", "1", "2"),)
        )
        for n in range(10, 90)
    )
    lines = render_org_chart(People(Plan(changes=changes, unchanged=0)), changes)

    edges = [line for line in lines if EDGE.fullmatch(line)]
    assert len(edges) == MAX_EDGES
    assert lines[-1] == f"_… and {80 - MAX_EDGES // 2} more manager changes (see the full list)_"


def test_no_manager_change_no_chart() -> None:
    assert "```mermaid" not in render_markdown(department_plan())
