"""``python -m reconciler``: the same command line as ``reconcile``.
Imports only the CLI.
"""

from reconciler.cli import main

main()
