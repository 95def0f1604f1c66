"""Manager changes as a Mermaid ``graph`` block, for the Markdown plan (GitHub renders it).
Imports only the standard library, the pure core and reconciler.render.common.

Nodes are people labelled by id only (``Personio 22``, ``Lattice u_21``), never by email or
name: the chart is part of the masked Markdown. Every label is written with Mermaid's entity
codes for anything but ASCII letters, digits, spaces and ``_`` (``#34;`` for a quote), so text
from Personio or Lattice can neither end a label, start an edge (``-->``) nor close the code
block (docs/decisions.md, 2026-12-02).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from reconciler.core.model import Change, FieldValue
from reconciler.render.common import People, person_ids

#: At most this many edges are drawn; the rest are counted in a line below the block.
MAX_EDGES = 50
#: Labels longer than this are cut (an id is short; a long one is someone's mistake).
MAX_LABEL = 60

_SAFE = re.compile(r"[A-Za-z0-9 _]")


def mermaid_label(text: str) -> str:
    """``text`` as the inside of a quoted Mermaid label: only ASCII letters, digits, spaces
    and ``_`` stay as they are; every other character becomes its entity code (``#45;``)."""
    return "".join(c if _SAFE.fullmatch(c) else f"#{ord(c)};" for c in text[:MAX_LABEL])


def manager_changes(changes: Sequence[Change]) -> list[tuple[Change, FieldValue, FieldValue]]:
    """Every change that sets or clears a manager, with the old and the new manager."""
    found = []
    for change in changes:
        field = change.field("manager")
        if field is not None and field.before != field.after:
            found.append((change, field.before, field.after))
    return found


def render_org_chart(people: People, changes: Sequence[Change]) -> list[str]:
    """The manager changes of ``changes`` as a fenced Mermaid block (old manager
    ``-. removed .->`` the person, new manager ``-->`` the person), at most ``MAX_EDGES``
    edges, and a line saying how many manager changes were left out; ``[]`` when none."""
    moves = manager_changes(changes)
    if not moves:
        return []
    nodes: dict[str, str] = {}
    edges: list[str] = []

    def node(label: str) -> str:
        if label not in nodes:
            nodes[label] = f"n{len(nodes)}"
        return nodes[label]

    drawn = 0
    for change, before, after in moves:
        wanted = (before is not None) + (after is not None)
        if edges and len(edges) + wanted > MAX_EDGES:
            break
        who = node(_subject_label(people, change))
        if before is not None:
            edges.append(
                f"  {node(_manager_label(people, before, 'Lattice'))} -. removed .-> {who}"
            )
        if after is not None:
            edges.append(f"  {node(_manager_label(people, after, 'Personio'))} --> {who}")
        drawn += 1
    lines = ["", f"**Manager changes** ({len(moves)}):", "", "```mermaid", "graph TD"]
    lines += [f'  {name}["{mermaid_label(label)}"]' for label, name in nodes.items()]
    lines += [*edges, "```"]
    if drawn < len(moves):
        lines += ["", f"_… and {len(moves) - drawn} more manager changes (see the full list)_"]
    return lines


def _subject_label(people: People, change: Change) -> str:
    if change.source_id:
        return f"Personio {change.source_id}"
    person = people.subject(change)
    return person_ids(person) if person is not None else f"Lattice {change.target_id}"


def _manager_label(people: People, value: FieldValue, system: str) -> str:
    person = people.named("manager", value)
    if person is not None:
        return person_ids(person)
    # A new manager is a Personio id; an old one the planner could not trace to Personio is
    # a Lattice id.
    return f"{system} {value}"
