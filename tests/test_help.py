"""Every command's `--help` reads cleanly: no raw `{script}` placeholders, no `<bool>` on flags."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from avatarkit.cli import app

runner = CliRunner()

# What a user reads about in the README and docs; every one must have a help page.
DOCUMENTED = {
    "", "render", "from-slides", "export", "localize", "localize export", "localize import", "localize translate",
    "localize status", "check", "voices", "voices save", "say", "lipsync", "transcribe", "eval", "eval lipsync",
    "eval render", "avatar", "avatar add", "avatar train", "avatar list", "avatar show", "avatar remove", "dub",
    "serve", "serve keys", "serve keys create", "serve keys list", "serve keys revoke", "serve library",
    "serve library add", "serve library list",
}


def _commands(cmd, path=()):
    yield path
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


COMMANDS = [" ".join(p) for p in _commands(typer.main.get_command(app))]


def test_every_documented_command_is_walked():
    assert DOCUMENTED <= set(COMMANDS), DOCUMENTED - set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c or "avatarkit")
def test_help_has_no_raw_placeholders(command):
    r = runner.invoke(app, [*command.split(), "--help"], prog_name="avatarkit", env={"COLUMNS": "200"})
    out = r.output
    assert r.exit_code == 0, out
    assert f"Usage: avatarkit {command}".rstrip() in " ".join(out.split()), out
    assert not re.search(r"\{[^{}\s]*\}", out), out          # a format field or Typer's `{script}` usage
    assert "<bool>" not in out and "<list[" not in out, out  # a flag's type, a Python annotation
    assert "Traceback" not in out
    # Every argument says what it is.
    args = re.search(r"Arguments ─+╮\n(.*?)╰", out, re.S)
    for row in args.group(1).splitlines() if args else ():
        name = re.match(r"│\s*\*?\s*([\w.]+)\s+<\w+>\s*(.*?)\s*│$", row)
        if name:
            assert name.group(2) and not name.group(2).startswith("[required]"), f"{command}: {row}"
