"""requirements/ci.lock, the hash-locked install of every job that holds a credential.

The jobs run `pip install --require-hashes -r requirements/ci.lock` and then install the project
itself with `--no-deps --no-build-isolation`, so nothing they import comes from an unpinned,
unhashed download. These tests keep the lock in step with pyproject.toml (docs/github.md,
"Supply chain").
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "ci.lock"
REGENERATE = (
    "pip-compile --allow-unsafe --build-deps-for=wheel --generate-hashes "
    "--output-file=requirements/ci.lock --strip-extras pyproject.toml"
)
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)$")
HASH = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")


def lock_entries(text: str) -> dict[str, tuple[str, list[str]]]:
    """{canonical name: (version, hashes)}; fails on anything but `name==version --hash=…`."""
    entries: dict[str, tuple[str, list[str]]] = {}
    logical = re.sub(r"\\\n", " ", text)
    for raw in logical.splitlines():
        line = raw.split("#", 1)[0].strip()  # a hash option never holds a `#`
        if not line:
            continue
        requirement, *options = line.split()
        match = PIN.match(requirement)
        assert match, f"not an exact pin: {requirement!r}"
        assert options, f"{requirement} has no --hash"
        assert all(HASH.match(option) for option in options), f"{requirement}: {options}"
        name = canonicalize_name(match["name"])
        assert name not in entries, f"{name} is locked twice"
        entries[name] = (match["version"], options)
    return entries


def pyproject() -> dict[str, object]:
    return dict(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8")))


def runtime_requirements() -> list[Requirement]:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    return [Requirement(text) for text in project["dependencies"]]


def build_requirements() -> list[Requirement]:
    build = pyproject()["build-system"]
    assert isinstance(build, dict)
    return [Requirement(text) for text in build["requires"]]


@pytest.mark.parametrize(
    "requirement",
    [*runtime_requirements(), *build_requirements()],
    ids=lambda r: r.name,
)
def test_every_runtime_and_build_dependency_is_pinned_with_hashes(requirement: Requirement) -> None:
    entries = lock_entries(LOCK.read_text(encoding="utf-8"))
    name = canonicalize_name(requirement.name)
    assert name in entries, f"{requirement.name} is not in requirements/ci.lock: {REGENERATE}"
    version, hashes = entries[name]
    assert requirement.specifier.contains(Version(version), prereleases=True), (
        f"requirements/ci.lock pins {name}=={version}, outside {requirement}: {REGENERATE}"
    )
    assert hashes


def test_the_lock_holds_exact_pins_with_sha256_hashes_only() -> None:
    entries = lock_entries(LOCK.read_text(encoding="utf-8"))
    # The runtime dependencies, their dependencies and the build backend; never a dev tool.
    assert len(entries) > len(runtime_requirements())
    assert not {"pytest", "mypy", "ruff", "zizmor", "pip-tools"} & set(entries)


def test_the_lock_names_the_command_that_regenerates_it_and_the_docs_give_the_same() -> None:
    header = LOCK.read_text(encoding="utf-8").split("\n\n", 1)[0]
    assert "with Python 3.11" in header  # the version the jobs set up
    assert REGENERATE in header
    assert REGENERATE in (ROOT / "docs" / "github.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("click>=8.1 \\\n    --hash=sha256:" + "a" * 64 + "\n", "not an exact pin"),
        ("click==8.1.0\n", "has no --hash"),
        ("click==8.1.0 \\\n    --hash=md5:abc\n", "click==8.1.0"),
        ("-e .\n", "not an exact pin"),
    ],
)
def test_the_lock_reader_refuses_what_pip_would_install_unchecked(text: str, problem: str) -> None:
    # The reader above is what the other tests trust: it must refuse what they guard against.
    with pytest.raises(AssertionError, match=re.escape(problem)):
        lock_entries(text)


def test_the_lock_reader_reads_pip_compile_output() -> None:
    text = (
        "#\n# header\n#\nclick==8.1.7 \\\n"
        f"    --hash=sha256:{'a' * 64} \\\n"
        f"    --hash=sha256:{'b' * 64}\n"
        "    # via personio-lattice-reconciler (pyproject.toml)\n"
    )
    assert lock_entries(text) == {
        "click": ("8.1.7", [f"--hash=sha256:{'a' * 64}", f"--hash=sha256:{'b' * 64}"])
    }
