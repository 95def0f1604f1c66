"""Helpers for the contract tests: the vendors' published example payloads (each folder's
README.md names the source of every fixture) against our parsers and our emulators.
Imports the standard library and pytest only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent


def shape(value: Any) -> Any:
    """The structure of a JSON value: objects by key, lists by the shapes of their items,
    scalars by JSON type (``number`` for int and float, which JSON does not tell apart)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        items: list[Any] = []
        for item in value:
            if shape(item) not in items:
                items.append(shape(item))
        return items
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string"


def shape_differences(published: Any, ours: Any, where: str = "$") -> list[str]:
    """Where ``ours`` has a different structure than ``published``, for the keys both have.

    A null on either side matches anything (an unset value says nothing about the type); keys
    only one side has are not reported here — the tests compare key sets explicitly.
    """
    if published is None or ours is None:
        return []
    if isinstance(published, dict) and isinstance(ours, dict):
        return [
            difference
            for key in sorted(published.keys() & ours.keys())
            for difference in shape_differences(published[key], ours[key], f"{where}.{key}")
        ]
    if isinstance(published, list) and isinstance(ours, list):
        return [
            difference
            for mine in ours
            for theirs in published[:1]
            for difference in shape_differences(theirs, mine, f"{where}[]")
        ]
    if shape(published) != shape(ours):
        return [f"{where}: published {shape(published)}, ours {shape(ours)}"]
    return []


@pytest.fixture
def fixture_json() -> Callable[[str], Any]:
    """``fixture_json("personio/auth.json")``: a published example, parsed."""

    def load(name: str) -> Any:
        return json.loads((HERE / name).read_text(encoding="utf-8"))

    return load


@pytest.fixture
def differences() -> Callable[[Any, Any], list[str]]:
    """``shape_differences`` as a fixture (test modules do not import conftest)."""
    return shape_differences
