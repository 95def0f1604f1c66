"""YAML alias expansion is bounded: an alias chain ("billion laughs") or a recursive alias is
refused at once with one clear line, while ordinary anchors and merge keys still work."""

from __future__ import annotations

import time

import pytest

from reconciler.config import MAX_EXPANDED_NODES, parse_config
from reconciler.errors import ConfigError

BASE = """\
version: 1
personio:
  client_id: env:PERSONIO_CLIENT_ID
  client_secret: env:PERSONIO_CLIENT_SECRET
  app_id: acme-lattice-sync
lattice:
  token: env:LATTICE_SCIM_TOKEN
"""


def alias_chain(levels: int, width: int) -> str:
    """``width ** levels`` values in a few KB: each level lists the previous one ``width`` times."""
    lines = [f"  - &l0 [{', '.join(['ada@example.com'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"  - &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    return BASE + "sync:\n  protected:\n" + "\n".join(lines) + "\n"


def test_a_4_6_kb_alias_chain_is_refused_in_well_under_a_second() -> None:
    text = alias_chain(levels=40, width=20)
    assert 4_000 < len(text.encode()) < 6_000

    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "laughs.yaml")

    assert time.monotonic() - started < 1
    assert str(caught.value) == (
        f"laughs.yaml: the file expands to more than {MAX_EXPANDED_NODES:,} values through YAML "
        "aliases (*name) — a config needs far fewer; write the values out or remove the aliases"
    )


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + "sync:\n  protected: &loop [*loop]\n", "loop.yaml")

    assert "through YAML aliases" in str(caught.value)


def test_ordinary_anchors_and_merge_keys_still_work() -> None:
    text = BASE + (
        "x-threshold: &small {count: 3}\n"
        "safety:\n  max_deactivations: *small\n  max_updates: {<<: *small, percent: 5}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "anchors.yaml")
    # Only the unknown helper key is a problem: the aliases themselves are fine.
    assert [problem.path for problem in caught.value.problems] == ["x-threshold"]
