"""What every command-line module shares: the stderr console and how a command fails."""

from __future__ import annotations

import typer
from rich.console import Console

console = Console(stderr=True)


def _readable_help() -> None:
    """Make `--help` read as a person expects, whatever Typer's version.

    Typer 0.2x writes the type of every option, flags included (`--help
    <bool>`, `--captions/--no-captions <bool>`, though a flag takes no
    value), a repeatable option's as a Python annotation (`<list[Path]>`),
    and a required argument in the usage line as `{script}`. Here a flag
    shows no type, a repeatable option or argument its element's type
    (`<path>`), and arguments read `SCRIPT`, `[NAME]` and `FILES...` as in
    click. Versions without these methods are left as they are.
    """
    import re

    try:
        from typer import core
    except ImportError:       # pragma: no cover - typer always has it
        return
    for cls in (getattr(core, "TyperOption", None), getattr(core, "TyperArgument", None)):
        shown = getattr(cls, "display_type_rich", None)
        if shown is None or getattr(shown, "_avatarkit", False):
            continue

        def display_type_rich(self, ctx, _shown=shown):
            if getattr(self, "is_flag", False) or getattr(self, "count", False):
                return None
            text = _shown(self, ctx)
            return re.sub(r"list\[(\w+)\]", lambda m: m[1].lower(), text) if isinstance(text, str) else text

        display_type_rich._avatarkit = True
        cls.display_type_rich = display_type_rich
    arg = getattr(core, "TyperArgument", None)
    if arg is not None and hasattr(arg, "_usage_display_name"):
        def _usage_display_name(self) -> str:
            name = self.metavar or self.name.upper()
            name = name if self.required else f"[{name}]"
            return name + ("..." if self.nargs != 1 else "")

        arg._usage_display_name = _usage_display_name


_readable_help()


def fail(e: Exception) -> None:
    """Print a user error as one line and exit with status 2."""
    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
    raise typer.Exit(code=2)


def interrupted(message: str = "interrupted; no partial output was kept") -> None:
    """Exit with status 130 after Ctrl-C, saying what was kept."""
    console.print(message)
    raise typer.Exit(code=130) from None
