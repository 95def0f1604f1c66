"""The sample company's config, shipped inside the package next to the emulators it fits.
Imports only the standard library (importlib.resources, pathlib).

``config.yaml`` maps exactly the custom attributes the sandbox's Lattice tenant has, so
``--sandbox``, the tests and the benchmarks run on it; a team's own ``config/integration.yaml``
is never read by any of them.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

_RESOURCE = "config.yaml"


def sample_config_path() -> Path:
    """The sample config as a file on disk (the package is installed as files, not zipped)."""
    resource = files("reconciler.sandbox") / _RESOURCE
    if not isinstance(resource, Path):
        msg = f"reconciler.sandbox is not installed as files; {_RESOURCE} has no path"
        raise RuntimeError(msg)
    return resource


def sample_config_text() -> str:
    """The sample config's YAML text."""
    return (files("reconciler.sandbox") / _RESOURCE).read_text(encoding="utf-8")
