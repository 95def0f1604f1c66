"""The built-in sandbox: stateful Personio and Lattice emulators and a seeded sample company.
Emulators speak the real wire formats over real HTTP or in-process, behind the same clients.
"""

from reconciler.sandbox.sample import sample_config_path, sample_config_text

__all__ = ["sample_config_path", "sample_config_text"]
