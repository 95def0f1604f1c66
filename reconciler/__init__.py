"""personio-lattice-reconciler: keep Lattice users in step with Personio, the GitOps way.
The package root imports nothing; see DESIGN.md §9 for the layout.
"""

__version__ = "0.1.0"
