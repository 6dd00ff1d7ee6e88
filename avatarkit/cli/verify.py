"""`avatarkit verify FILE...`: what a file's Content Credentials (C2PA) say, and whether they still hold.

A thin shell over `avatarkit.media.provenance.verify`. Exit status: 0 when
every file's manifest is there and matches its bytes, 1 when one has no
manifest or one that no longer matches, 2 for bad input (a missing file,
a file that is not media).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .common import console, fail


def _line(label: str, value: str) -> None:
    typer.echo(f"  {label:<12} {value}")


def _show(c) -> None:
    from ..media.provenance import SOURCE_TYPE

    if not c.present:
        typer.echo(f"{c.path}: no Content Credentials (no C2PA manifest)")
        return
    if c.ok:
        verdict = "Content Credentials valid" + (", signer trusted" if c.trusted else "")
    else:
        verdict = "Content Credentials INVALID: the manifest no longer matches this file"
    typer.echo(f"{c.path}: {verdict}")
    _line("generator", c.generator or "-")
    kind = c.source_type.rsplit("/", 1)[-1] if c.source_type else "-"
    _line("source type", f"{kind}" + (" (AI-generated)" if c.ai_generated else "")
          + ("" if c.source_type in ("", SOURCE_TYPE) else f" <{c.source_type}>"))
    if c.kind:
        _line("made by", c.kind + (f": {c.title}" if c.title else ""))
    _line("voices", ", ".join(_voice(v) for v in c.voices) or "-")
    _line("avatar", ", ".join(_avatar(a) for a in c.avatars) or "-")
    _line("consent", ", ".join(c.consent_ids) or "-")
    for s in c.sources:
        _line("source", f"{s.get('role', '?')} {s.get('name', '?')} sha256:{s.get('sha256', '?')}")
    signer = c.signer or "-"
    if c.issuer:
        signer += f" (issued by {c.issuer})"
    _line("signer", signer + ("" if c.trusted else "; not on a trust list"))
    if c.signed_at:
        _line("signed", c.signed_at)
    _line("valid", "yes" if c.ok else "no")
    for p in c.problems:
        _line("problem", p)


def _voice(v: dict) -> str:
    extra = ", ".join(x for x in (v.get("engine"), v.get("language")) if x)
    return v.get("id", "?") + (f" ({extra})" if extra else "")


def _avatar(a: dict) -> str:
    return f"{a.get('name', '?')} ({a.get('kind', '?')})"


def verify(
    files: list[Path] = typer.Argument(..., metavar="FILE...", help="MP4 videos or JPEG images to check."),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON (one object per file, in a list)."),
):
    """Show what each FILE's Content Credentials (C2PA) say and check them; exit 1 if one is missing or broken."""
    from ..media.provenance import ProvenanceError
    from ..media.provenance import verify as verify_api

    found = []
    try:
        for f in files:
            found.append(verify_api(f))
    except ProvenanceError as e:
        fail(e)
    if as_json:
        typer.echo(json.dumps([c.to_dict() for c in found], indent=2, ensure_ascii=False))
    else:
        for c in found:
            _show(c)
    bad = [c for c in found if not c.ok]
    if bad:
        console.print(f"[bold red]{len(bad)} of {len(found)} file(s) without valid Content Credentials[/]", highlight=False)
        raise typer.Exit(code=1)
