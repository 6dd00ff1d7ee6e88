"""The HTTP side of live presenters, shared by `avatarkit live` (one machine, no keys) and `avatarkit serve`.

`POST /v1/sessions` takes a browser's WebRTC offer with the session's
settings and returns the answer and the session's id; `DELETE
/v1/sessions/{id}` ends it; `GET /live` is the page (type text, watch the
presenter say it). `LiveSessions` bounds how many sessions run at once
(`max_sessions`: each holds about a core's worth of frames and encoding)
and how long one may last (`max_s`); past either, a clear refusal.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from importlib import resources

from ..errors import AvatarkitError
from ..speech.engines.base import keep_onnx_arena, onnx_threads
from .session import LiveConfig, LiveError, LiveSession

SDP_CHARS = 20_000


class LiveBusy(LiveError):
    """Every live seat of this machine is taken."""


@dataclass
class _Seat:
    id: str
    owner: str | None
    peer: object
    opened: float


class LiveSessions:
    """The live sessions of one process: `max_sessions` at once, each at most `max_s` seconds, and one whose
    browser has not connected within `connect_s` seconds of its answer is ended."""

    def __init__(self, max_sessions: int = 2, max_s: float = 3600.0, defaults: LiveConfig | None = None,
                 connect_s: float = 20.0):
        self.max_sessions, self.max_s, self.connect_s = max_sessions, max_s, connect_s
        self.defaults = defaults or LiveConfig()
        # This process speaks for hours: its voices drop onnxruntime's memory arena, which grows in steps and
        # never shrinks (server memory flat over 10 minutes without it; docs/quality.md, issue 29).
        keep_onnx_arena(False)
        # Its first sound waits for its first sentence: two threads speak it sooner.
        onnx_threads(2)
        self.seats: dict[str, _Seat] = {}
        self._opening = 0
        self._reaper: asyncio.Task | None = None

    async def open(self, offer: dict, owner: str | None = None, scope=None) -> dict:
        """Answer `offer` (`{"sdp", "type": "offer", "avatar"?, "voice"?}`) with a new session:
        `{"id", "sdp", "type"}`. `LiveError` for a bad offer or settings, `LiveBusy` when full."""
        from .webrtc import LivePeer

        if not isinstance(offer, dict):
            raise LiveError("the body must be a JSON object: the browser's offer")
        unknown = sorted(set(offer) - {"sdp", "type", "avatar", "voice"})
        if unknown:
            raise LiveError(f"unknown field {unknown[0][:40]!r}; a session takes sdp, type, avatar and voice")
        sdp = offer.get("sdp")
        if offer.get("type") != "offer" or not isinstance(sdp, str) or not sdp.startswith("v=0"):
            raise LiveError("the body must be a WebRTC offer: {\"sdp\": \"v=0...\", \"type\": \"offer\"}")
        if len(sdp) > SDP_CHARS:
            raise LiveError(f"offer too long: {len(sdp)} characters; the limit is {SDP_CHARS}")
        settings = {k: offer[k] for k in ("avatar", "voice") if offer.get(k) is not None}
        for k, v in settings.items():
            if not isinstance(v, str) or not 0 < len(v) <= 200:
                raise LiveError(f"{k} must be a name of 1 to 200 characters")
        if self.max_sessions <= 0:
            raise LiveBusy("live sessions are turned off on this server (live_sessions: 0)")
        if len(self.seats) + self._opening >= self.max_sessions:
            raise LiveBusy(f"this machine is running the {self.max_sessions} live sessions it takes at once; "
                           "try again when one ends")
        self._opening += 1
        try:
            config = LiveConfig(**{**self.defaults.to_dict(), **settings})
            loop = asyncio.get_running_loop()
            try:
                session = await loop.run_in_executor(None, lambda: LiveSession(config, scope=scope))
            except LiveError:
                raise
            except (AvatarkitError, ValueError) as e:   # an unknown voice, a refused name: say which
                raise LiveError(str(e)) from None
            sid = secrets.token_urlsafe(12)
            peer = LivePeer(session, on_closed=lambda p, sid=sid: self.seats.pop(sid, None), connect_s=self.connect_s)
            try:
                answer = await peer.answer(sdp)
            except Exception:
                await peer.close()
                raise LiveError("the offer could not be answered (no audio or video the server can send?)") \
                    from None
            self.seats[sid] = _Seat(sid, owner, peer, time.monotonic())
        finally:
            self._opening -= 1
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.ensure_future(self._reap())
        return {"id": sid, **answer}

    async def close(self, sid: str, owner: str | None = None) -> bool:
        """End session `sid` if `owner` opened it; False when there is no such session of that owner."""
        seat = self.seats.get(sid)
        if seat is None or seat.owner != owner:
            return False
        await seat.peer.close()
        return True

    async def close_all(self) -> None:
        for seat in list(self.seats.values()):
            await seat.peer.close()

    async def _reap(self) -> None:
        while self.seats:
            now = time.monotonic()
            for seat in list(self.seats.values()):
                if now - seat.opened > self.max_s:
                    seat.peer.send_event({"event": "error", "message": f"the session reached its {self.max_s:.0f} s "
                                                                    "limit (live max_s) and ended"})
                    await seat.peer.close()
            await asyncio.sleep(1.0)


def page() -> str:
    """The live page (HTML with its script): offer, text box, interrupt, events."""
    return resources.files("avatarkit.live").joinpath("page.html").read_text(encoding="utf-8")


def add_live_routes(app, sessions: LiveSessions, auth=None, scope_of=None, responses: dict | None = None) -> None:
    """Add `GET /live`, `POST /v1/sessions` and `DELETE /v1/sessions/{id}` to the FastAPI `app`.

    `auth` is a FastAPI dependency returning the caller's key (None: no
    keys, one machine); `scope_of(key)` the scope its names resolve in;
    `responses` the error answers the routes document (the service's).
    """
    from fastapi import Body, Depends, HTTPException
    from fastapi import Path as PathParam
    from fastapi.responses import HTMLResponse

    dep = auth if auth is not None else (lambda: None)
    errors = dict(responses or {})
    created = {**errors, 201: {"description": "The answer to the offer: `{id, sdp, type}`"},
               503: {"description": "Every live seat of this machine is taken; see Retry-After"}}
    ended = {**errors, 200: {"description": "The session ended: `{id, status}`"},
             404: {"description": "No such live session for this key"}}

    @app.get("/live", response_class=HTMLResponse, include_in_schema=False)
    def live_page():
        return HTMLResponse(page())

    @app.post("/v1/sessions", status_code=201, tags=["live"], summary="Start a live presenter session",
              responses=created,
              description="The body is the browser's WebRTC offer (`sdp`, `type`) with an optional `avatar` and "
                          "`voice`; the answer comes back with the session's `id`. Text goes over the data "
                          "channel the browser opens.")
    async def create_session(offer: dict = Body(...), key=Depends(dep)):
        owner = getattr(key, "id", None)
        try:
            return await sessions.open(offer, owner, scope_of(key) if scope_of is not None else None)
        except LiveBusy as e:
            raise HTTPException(503, str(e), headers={"Retry-After": "30"}) from None
        except LiveError as e:
            raise HTTPException(422, str(e)) from None

    @app.delete("/v1/sessions/{sid}", tags=["live"], summary="End a live session", responses=ended)
    async def end_session(sid: str = PathParam(max_length=64), key=Depends(dep)):
        if not await sessions.close(sid, getattr(key, "id", None)):
            raise HTTPException(404, f"no live session {sid[:64]!r}")
        return {"id": sid, "status": "ended"}


def create_live_app(sessions: LiveSessions | None = None):
    """The app `avatarkit live` serves: the page and the session routes, no keys (bind it to localhost)."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI

    sessions = sessions or LiveSessions()

    @asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            await sessions.close_all()

    app = FastAPI(title="avatarkit live", lifespan=lifespan)
    app.state.sessions = sessions
    add_live_routes(app, sessions)
    return app
