"""`avatarkit serve` (the HTTP render service) and `avatarkit serve keys create|list|revoke`.

A thin shell over `avatarkit.serve`: settings come from `--config` (YAML,
see `ServeConfig`) with the flags on top. Key secrets are printed once, to
stdout, and never again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..errors import AvatarkitError
from .common import console, fail

serve_app = typer.Typer(help="The HTTP render service and its API keys.", invoke_without_command=True,
                        add_completion=False, pretty_exceptions_enable=False)
keys_app = typer.Typer(help="API keys of the render service: create, list, revoke.", no_args_is_help=True,
                       add_completion=False, pretty_exceptions_enable=False)
library_app = typer.Typer(help="A key's own avatars and voices, which only that key's jobs can use.",
                          no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
serve_app.add_typer(keys_app, name="keys")
serve_app.add_typer(library_app, name="library")

CONFIG_HELP = "Service settings (YAML); default: $AVATARKIT_HOME/serve/config.yaml when it exists."


def _config(config: Optional[Path], **overrides):
    from ..serve.config import ServeConfig, serve_home

    path = config or serve_home() / "config.yaml"
    cfg = ServeConfig.load(path) if config or path.is_file() else ServeConfig()
    for k, v in overrides.items():
        if v is not None:
            setattr(cfg, k, v)
    cfg.__post_init__()
    return cfg


def _store(cfg):
    from ..serve.store import open_store
    from ..serve.tenancy import private_db, private_umask

    private_umask()     # the database, its journal, job folders and keys: the service's user alone reads them
    private_db(cfg.db)
    return open_store(cfg.db)


@serve_app.callback()
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, help="TCP port."),
    db: Optional[str] = typer.Option(None, help="Job store URL: sqlite:////abs/jobs.db or postgresql://..."),
    data_dir: Optional[Path] = typer.Option(None, help="Folder for job folders (uploads and artifacts)."),
    workers: Optional[int] = typer.Option(None, help="Render worker processes on this machine (0: none, API only)."),
    backend: Optional[str] = typer.Option(None, help="Worker backend: local (render in the worker processes) or ray "
                                                     "(each job's languages as tasks on a Ray cluster)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster to join with --backend ray "
                                                                         "('auto': the one started with `ray start`)."),
    config: Optional[Path] = typer.Option(None, help=CONFIG_HELP),
):
    """Run the render service: the HTTP API (docs at /docs) and its local workers."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"config": config, "db": db, "data_dir": data_dir}
        return
    try:
        cfg = _config(config, db=db, data_dir=str(data_dir) if data_dir else None, workers=workers, backend=backend)
        import functools

        import uvicorn

        from ..serve.app import create_app
        from ..serve.webhooks import WebhookConfig
        from ..serve.worker import LocalWorkers

        store = _store(cfg)
        pool = None
        if cfg.workers > 0:
            hook = WebhookConfig(secret=cfg.resolved_webhook_secret(), allowed_hosts=tuple(cfg.allowed_webhook_hosts),
                                 networks=tuple(cfg.webhook_networks))
            from ..serve.jobs import run_job

            run = functools.partial(run_job, data_dir=cfg.data_dir, executor=cfg.backend, ray_address=ray_address)
            pool = LocalWorkers(store, n=cfg.workers, lease_s=cfg.lease_s, webhook=hook, run=run,
                                memory_mb=cfg.limits.worker_mb)
        app = create_app(cfg, store=store, workers=pool)
    except AvatarkitError as e:
        fail(e)
    console.print(f"avatarkit render service on http://{host}:{port} (docs at /docs), {cfg.workers} workers, store {cfg.db}")
    uvicorn.run(app, host=host, port=port, log_level="info")


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="A name to recognise the key by (who or what uses it)."),
    scope: list[str] = typer.Option(["renders:create", "renders:read", "renders:cancel"], "--scope",
                                    help="A scope to grant (repeat): renders:create, renders:read, renders:cancel, live, admin."),
    rate: Optional[float] = typer.Option(None, help="Requests per second (default: the service's)."),
    burst: Optional[int] = typer.Option(None, help="Requests allowed at once after a pause."),
    max_concurrent: Optional[int] = typer.Option(None, help="Unfinished jobs allowed at once."),
):
    """Create an API key and print its secret (shown this once only)."""
    from ..serve.keys import create_key

    try:
        cfg = _config(ctx.obj["config"], db=ctx.obj["db"])
        limits = {k: v for k, v in (("per_s", rate), ("burst", burst), ("max_concurrent", max_concurrent)) if v is not None}
        key_id, secret = create_key(_store(cfg), name, scope, cfg.resolved_pepper(), limits)
    except AvatarkitError as e:
        fail(e)
    console.print(f"created key {key_id} ({name}); its secret follows, shown once only:")
    typer.echo(secret)


@keys_app.command("list")
def keys_list(ctx: typer.Context):
    """List keys: id, name, scopes, limits, and when revoked (never secrets)."""
    try:
        cfg = _config(ctx.obj["config"], db=ctx.obj["db"])
        rows = _store(cfg).list_keys()
    except AvatarkitError as e:
        fail(e)
    table = Table("id", "name", "scopes", "limits", "revoked")
    for r in rows:
        table.add_row(str(r["id"]), str(r.get("name", "")), " ".join(r.get("scopes") or ()),
                      ", ".join(f"{k}={v}" for k, v in (r.get("limits") or {}).items()), "yes" if r.get("revoked") else "")
    from rich.console import Console

    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: str = typer.Argument(..., help="The key's id (see `serve keys list`).")):
    """Revoke a key: it stops working at once."""
    try:
        cfg = _config(ctx.obj["config"], db=ctx.obj["db"])
        _store(cfg).revoke_key(key_id)
    except AvatarkitError as e:
        fail(e)
    console.print(f"revoked {key_id}")


def _data_dir(ctx: typer.Context) -> str | None:
    return str(ctx.obj["data_dir"]) if ctx.obj.get("data_dir") else None


@library_app.command("add")
def library_add(
    ctx: typer.Context,
    key_id: str = typer.Argument(..., help="The key's id (see `serve keys list`)."),
    kind: str = typer.Argument(..., help="avatar or voice."),
    source: str = typer.Argument(..., help="avatar: a name or folder made with `avatarkit avatar add`; "
                                           "voice: a voice file (kokoro or espeak)."),
):
    """Give one key an avatar or a voice: its scripts name it; other keys' scripts cannot."""
    from ..serve.tenancy import add_to_library

    try:
        cfg = _config(ctx.obj["config"], db=ctx.obj["db"], data_dir=_data_dir(ctx))
        if key_id not in {str(r["id"]) for r in _store(cfg).list_keys()}:
            raise AvatarkitError(f"no key {key_id!r} (see `avatarkit serve keys list`)")
        added = add_to_library(Path(cfg.data_dir), key_id, kind, source)
    except AvatarkitError as e:
        fail(e)
    # The name its scripts use: the avatar's folder name, or the voice's id (a voice file's stem may differ).
    console.print(f"key {key_id} now has the {kind} {added.name if kind == 'avatar' else added.stem}")


@library_app.command("list")
def library_list(ctx: typer.Context, key_id: str = typer.Argument(..., help="The key's id.")):
    """List a key's own avatars and voices."""
    from ..serve.tenancy import library_contents

    try:
        cfg = _config(ctx.obj["config"], db=ctx.obj["db"], data_dir=_data_dir(ctx))
        found = library_contents(Path(cfg.data_dir), key_id)
    except AvatarkitError as e:
        fail(e)
    for kind, names in found.items():
        console.print(f"{kind}s: {', '.join(names) or '(none)'}")
