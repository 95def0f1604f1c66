"""personio-lattice-reconciler: keep Lattice users in step with Personio, the GitOps way.
The package root imports nothing; docs/architecture.md explains the layout.
"""

__version__ = "0.1.0"
