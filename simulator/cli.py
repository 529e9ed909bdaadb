"""Command line of schoolcam-sim."""

from __future__ import annotations

import typer

from protocol import __version__

app = typer.Typer(help="schoolcam simulator.", no_args_is_help=True, add_completion=False)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry point."""
    app()
