"""The ``reconcile`` command line (click): the only module that prints or reads the environment.
Placeholder until the commands land; see DESIGN.md §5.
"""

import click


@click.group()
def cli() -> None:
    """Keep Lattice users in step with Personio: validate, plan, apply."""


def main() -> None:
    cli()
