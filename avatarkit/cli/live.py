"""`avatarkit live`: a live presenter on this machine, in the browser (a thin shell over `avatarkit.live`)."""

from __future__ import annotations

from typing import Optional

import typer

from .common import console


def live(
    avatar: str = typer.Option("presenter", help="Avatar: a house presenter, an avatar name, a photo or folder."),
    voice: str = typer.Option("en-us-joe", help="Voice id (see `avatarkit voices`)."),
    renderer: Optional[str] = typer.Option(None, help="Renderer kind: warp, bank or refined for a photo; footage for an "
                                                      "avatar made from footage (default: footage for a footage "
                                                      "avatar, warp for a photo)."),
    size: str = typer.Option("960x540", help="Picture size: 480p, 720p, 1080p (16:9) or WIDTHxHEIGHT in pixels."),
    port: int = typer.Option(8010, help="TCP port on 127.0.0.1."),
    sessions: int = typer.Option(2, help="Live sessions at once (each takes about a core)."),
    open_browser: bool = typer.Option(True, "--open/--no-open", help="Open the page in the default browser."),
    max_s: float = typer.Option(3600.0, help="Longest session in seconds."),
):
    """Open a page where you type text and watch the presenter say it, streamed live over WebRTC."""
    import threading
    import webbrowser

    import uvicorn

    from ..errors import AvatarkitError
    from ..live import LiveConfig, LiveError
    from ..live.app import LiveSessions, create_live_app
    from .common import fail, picture_size

    try:
        w, h = picture_size(size)
        defaults = LiveConfig(avatar=avatar, voice=voice, renderer=renderer, width=w, height=h)
    except (LiveError, AvatarkitError) as e:
        fail(e)
    app = create_live_app(LiveSessions(sessions, max_s, defaults))
    url = f"http://127.0.0.1:{port}/live"
    console.print(f"avatarkit live at [bold]{url}[/] (the presenter is AI-generated); Ctrl+C ends it")
    if open_browser:
        threading.Timer(1.0, lambda: webbrowser.open(url)).start()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
