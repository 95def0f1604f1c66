"""Output formats for plans and apply reports, one module each, and the registry that names them.
Imports only the standard library, the pure core and the format modules of this package.

A format is anything with a ``name``, a ``description``, ``render_plan`` and ``render_report``
(see ``Format``). Renderers never change what they show. Sensitive values are ``(redacted)``
in every format; Markdown, which many people read and which persists, also masks emails and
name values. Every format makes text from Personio and Lattice inert (``common.inert``): no
line breaks, control, bidi or zero-width characters, and no line starting a workflow command
(``::``). Adding a format: one module here, and one ``register_format`` line below.

Careful: the submodule ``json`` shadows the standard library's ``json`` in this namespace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from reconciler.core.model import ApplyReport, Plan
from reconciler.core.safety import Violation
from reconciler.render.common import (
    defuse_lines,
    inert,
    mask_email,
    render_report_summary,
    render_summary,
)
from reconciler.render.explain import render_explanation_json, render_explanation_text
from reconciler.render.json import JsonFormat, render_json, render_report_json
from reconciler.render.markdown import MarkdownFormat, render_markdown, render_report_markdown
from reconciler.render.text import TextFormat, render_report_text, render_text

__all__ = [
    "FORMATS",
    "Format",
    "defuse_lines",
    "get_format",
    "inert",
    "mask_email",
    "register_format",
    "render_explanation_json",
    "render_explanation_text",
    "render_json",
    "render_markdown",
    "render_report_json",
    "render_report_markdown",
    "render_report_summary",
    "render_report_text",
    "render_summary",
    "render_text",
]


class Format(Protocol):
    """One output format: how a plan (with its safety verdict) and an apply report look."""

    #: what ``--format`` / ``--report-format`` accept: lower case, no spaces
    name: str
    #: one line for people choosing a format
    description: str

    def render_plan(self, plan: Plan, violations: Sequence[Violation]) -> str: ...

    def render_report(self, report: ApplyReport) -> str: ...


#: Every known format by name. Add to it with ``register_format``.
FORMATS: dict[str, Format] = {}


def register_format(fmt: Format) -> None:
    """Make ``fmt`` known by its name; a name already taken is refused (``ValueError``)."""
    if fmt.name in FORMATS:
        raise ValueError(f"a format named {fmt.name!r} is already registered")
    FORMATS[fmt.name] = fmt


def get_format(name: str) -> Format:
    """The format called ``name``; ``ValueError`` naming the known ones otherwise."""
    try:
        return FORMATS[name]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise ValueError(f"unknown format {name!r}; known formats: {known}") from None


register_format(TextFormat())
register_format(MarkdownFormat())
register_format(JsonFormat())
