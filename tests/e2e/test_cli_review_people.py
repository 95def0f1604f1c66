"""End to end: the people in a plan, as a reviewer reads it. A sandbox whose Personio has a
manager change and a department move of several people, planned over HTTP through the CLI:
managers shown as people (email in text, masked in Markdown, the Personio id in both), a
well-formed Mermaid chart of the manager changes, identical changes folded into one line,
deactivations first and the per-department table.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from reconciler.render.common import mask_email
from reconciler.sandbox.scenario import build_sandbox

if TYPE_CHECKING:
    from conftest import LiveSandbox, ServeSandbox

#: Who changes manager (to the manager of ``NEW_MANAGER_OF``), and who moves department (to
#: the department of ``DEPARTMENT_OF``): picked from the sample company (60 people, seed 7).
REPORT, NEW_MANAGER_OF = "13", "23"
MOVERS, DEPARTMENT_OF = ("10", "21", "24", "25"), "5"


def attribute(live: LiveSandbox, pid: str, key: str) -> Any:
    return live.box.personio.employee(pid)["attributes"][key]["value"]


def supervisor_id(live: LiveSandbox, pid: str) -> str:
    return str(attribute(live, pid, "supervisor")["attributes"]["id"]["value"])


def department(live: LiveSandbox, pid: str) -> str:
    return str(attribute(live, pid, "department")["attributes"]["name"])


def email(live: LiveSandbox, pid: str) -> str:
    return str(attribute(live, pid, "email"))


@pytest.fixture
def moved(serve_sandbox: ServeSandbox) -> tuple[LiveSandbox, str, str]:
    """The sandbox after HR moved ``REPORT`` to a new manager and ``MOVERS`` to another
    department; with the old and the new manager's Personio ids."""
    live = serve_sandbox(build_sandbox())
    personio = live.box.personio
    old = supervisor_id(live, REPORT)
    new = supervisor_id(live, NEW_MANAGER_OF)
    assert old != new
    personio.update_employee(REPORT, "supervisor", attribute(live, NEW_MANAGER_OF, "supervisor"))
    # The movers share a department today, so their changes are identical but for the person.
    assert len({department(live, pid) for pid in MOVERS}) == 1
    target = attribute(live, DEPARTMENT_OF, "department")
    assert target["attributes"]["name"] != department(live, MOVERS[0])
    for pid in MOVERS:
        personio.update_employee(pid, "department", target)
    return live, old, new


def plans(live: LiveSandbox, tmp_path: Path) -> tuple[str, str, dict[str, Any]]:
    """The text plan, and the Markdown and JSON plans of one run."""
    text = live.run("plan", "--no-progress")
    assert text.exit_code == 0, text.stderr
    json_path = tmp_path / "plan.json"
    markdown = live.run(
        "plan", "--no-progress", "--format", "markdown", "--json-out", str(json_path)
    )
    assert markdown.exit_code == 0, markdown.stderr
    document = json.loads(json_path.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return text.stdout, markdown.stdout, document


def manager_line(output: str, pid: str) -> str:
    """The ``manager:`` line under ``pid``'s change (text: ``  13 email (...)``; Markdown:
    ``- **13** · ...``)."""
    lines = output.splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.startswith((f"  {pid} ", f"- **{pid}** "))
    )
    end = next(
        (i for i in range(start + 1, len(lines)) if not lines[i].startswith(("      ", "  - "))),
        len(lines),
    )
    (found,) = [line for line in lines[start + 1 : end] if "manager" in line]
    return found.strip()


def test_a_manager_change_names_both_managers_by_email_in_text_and_masked_in_markdown(
    moved: tuple[LiveSandbox, str, str], tmp_path: Path
) -> None:
    live, old, new = moved
    text, markdown, document = plans(live, tmp_path)

    (change,) = [c for c in document["changes"] if c["personio_id"] == REPORT]
    assert change["fields"]["manager"] == {"from": old, "to": new}
    line = manager_line(text, REPORT)
    before, after = line.removeprefix("manager: ").split(" → ")
    assert before.endswith(f"<{email(live, old)}> (Personio {old})")
    assert after.endswith(f"<{email(live, new)}> (Personio {new})")
    masked = manager_line(markdown, REPORT)
    assert masked == (
        f"- `manager`: `{mask_email(email(live, old))}` (Personio {old})"
        f" → `{mask_email(email(live, new))}` (Personio {new})"
    )
    for pid in (REPORT, old, new):
        assert email(live, pid) not in markdown


MERMAID_BLOCK = re.compile(r"^```mermaid\n(.*?)^```$", re.MULTILINE | re.DOTALL)
NODE = re.compile(r"^  (n\d+)\[\"([^\"\[\]`<>]*)\"\]$")
EDGE = re.compile(r"^  (n\d+) (-->|-\. removed \.->) (n\d+)$")


def parse_mermaid(markdown: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """The one Mermaid block's nodes (id → label) and edges (from label, arrow, to label),
    checked line by line: a ``graph``/``flowchart`` header, then only nodes and edges."""
    (block,) = MERMAID_BLOCK.findall(markdown)
    header, *body = block.splitlines()
    assert re.fullmatch(r"(graph|flowchart) (TD|TB|LR|RL|BT)", header), header
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str]] = []
    for line in body:
        if node := NODE.match(line):
            assert node.group(1) not in nodes, f"{line}: declared twice"
            nodes[node.group(1)] = node.group(2)
        elif edge := EDGE.match(line):
            source, arrow, target = edge.groups()
            assert source in nodes, f"{line}: undeclared node"
            assert target in nodes, f"{line}: undeclared node"
            edges.append((nodes[source], arrow, nodes[target]))
        else:
            pytest.fail(f"not a Mermaid node or edge: {line!r}")
    return nodes, edges


def test_the_manager_chart_is_well_formed_mermaid_of_exactly_the_manager_changes(
    moved: tuple[LiveSandbox, str, str], tmp_path: Path
) -> None:
    live, old, new = moved
    _, markdown, document = plans(live, tmp_path)

    nodes, edges = parse_mermaid(markdown)
    (block,) = MERMAID_BLOCK.findall(markdown)
    assert "@" not in block
    assert not {email(live, pid) for pid in (REPORT, old, new)} & set(block.split())
    assert set(nodes.values()) == {label for edge in edges for label in edge[::2]}
    assert (f"Personio {old}", "-. removed .->", f"Personio {REPORT}") in edges
    assert (f"Personio {new}", "-->", f"Personio {REPORT}") in edges
    # One edge per old and per new manager of every change that moves a manager.
    expected = []
    for change in document["changes"]:
        manager = change["fields"].get("manager")
        if manager is None:
            continue
        subject = f"Personio {change['personio_id']}"
        if manager.get("from") is not None:
            expected.append((f"Personio {manager['from']}", "-. removed .->", subject))
        if manager.get("to") is not None:
            expected.append((f"Personio {manager['to']}", "-->", subject))
    assert sorted(edges) == sorted(expected)
    moves = sum("manager" in c["fields"] for c in document["changes"])
    assert f"**Manager changes** ({moves}):" in markdown


def test_identical_department_moves_are_one_line_with_the_people_folded(
    moved: tuple[LiveSandbox, str, str], tmp_path: Path
) -> None:
    live, _, _ = moved
    old_department = build_sandbox().personio.employee(MOVERS[0])["attributes"]["department"]
    before, after = old_department["value"]["attributes"]["name"], department(live, MOVERS[0])
    text, markdown, document = plans(live, tmp_path)

    moves = [
        c
        for c in document["changes"]
        if c["fields"] == {"department": {"from": before, "to": after}}
    ]
    assert sorted(c["personio_id"] for c in moves) == sorted(MOVERS)
    # Text: one line for the group, the people indented below it.
    lines = text.splitlines()
    group = f'  department: "{before}" → "{after}" — {len(MOVERS)} people:'
    start = lines.index(group)
    members = lines[start + 1 : start + 1 + len(MOVERS)]
    assert [line.split()[0] for line in members] == sorted(MOVERS, key=int)
    assert all(line.startswith("      ") for line in members)
    assert not [line for line in lines if line.startswith(tuple(f"  {p} " for p in MOVERS))]
    # Markdown: one bullet, the people folded in a <details> list of ids.
    bullet = f'- `department`: `"{before}"` → `"{after}"` — **{len(MOVERS)} people**'
    assert markdown.count(bullet) == 1
    folded = markdown.split(bullet, 1)[1].split("</details>", 1)[0]
    assert f"<summary>who ({len(MOVERS)})</summary>" in folded
    assert re.findall(r"\*\*(\d+)\*\*", folded) == sorted(MOVERS, key=int)
    assert not [pid for pid in MOVERS if f"- **{pid}** ·" in markdown]


def test_markdown_shows_deactivations_first_and_a_department_table_of_every_change(
    moved: tuple[LiveSandbox, str, str], tmp_path: Path
) -> None:
    live, _, _ = moved
    _, markdown, document = plans(live, tmp_path)

    kinds = re.findall(r"<summary>\d+ to (\w+)</summary>", markdown)
    assert kinds[0] == "deactivate"
    assert kinds == ["deactivate", "create", "link", "reactivate", "update"]
    # The table's rows: each change counted under the department it sets, else the person's.
    header = "| department | deactivate | create | link | reactivate | update |"
    assert markdown.count(header) == 1
    table = markdown.split(header, 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    rows: dict[str, list[int]] = {}
    for line in table:
        name, *counts = (cell.strip() for cell in line.strip("|").split("|"))
        rows[name] = [int(count) for count in counts]
    expected: dict[str, Counter[str]] = {}
    for change in document["changes"]:
        field = change["fields"].get("department")
        name = field["to"] if field else department(live, change["personio_id"])
        expected.setdefault(name, Counter())[change["action"]] += 1
    kinds_order = ["deactivate", "create", "link", "reactivate", "update"]
    assert rows == {
        name: [counts[kind] for kind in kinds_order] for name, counts in expected.items()
    }
    busiest = [sum(counts) for counts in rows.values()]
    assert busiest == sorted(busiest, reverse=True)
    assert rows[department(live, MOVERS[0])][-1] >= len(MOVERS)
