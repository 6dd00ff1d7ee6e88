"""What every command-line module shares: the stderr console and how a command fails."""

from __future__ import annotations

import typer
from rich.console import Console

console = Console(stderr=True)


def fail(e: Exception) -> None:
    """Print a user error as one line and exit with status 2."""
    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
    raise typer.Exit(code=2)


def interrupted(message: str = "interrupted; no partial output was kept") -> None:
    """Exit with status 130 after Ctrl-C, saying what was kept."""
    console.print(message)
    raise typer.Exit(code=130) from None
