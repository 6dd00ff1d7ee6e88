"""A live session sent to a browser over WebRTC (aiortc): one audio and one video track, text on a data channel.

`LivePeer` answers a browser's offer (no trickle ICE: the answer carries
its candidates) and pumps the session's frames at their time: just before each tick it
makes the next frame on the session's own thread, then hands the picture
to the video track (pts on the 90 kHz clock) and its 40 ms of sound to the
audio track as two 20 ms Opus-sized frames (pts on the 48 kHz clock), each
handed over at its own time. Both
tracks are one MediaStream, so the browser keeps them in sync by their RTCP
sender reports. If making frames falls behind by more than `RESYNC_S`,
the clock is reset rather than sending a burst.

The data channel takes JSON messages: `{"say": text}`, `{"feed": text}`,
`{"flush": true}`, `{"interrupt": true}`; it answers with the session's
events (`speaking`, `idle`, `error`) as JSON. A bad message gets an `error`
event naming it, never a closed channel. A failed or closed connection, a
closed tab included, ends the session and frees its threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
from fractions import Fraction

import numpy as np

from .session import SAMPLE_RATE, LiveError, LiveSession

log = logging.getLogger(__name__)

RESYNC_S = 0.25
MAKE_LEAD_S = 0.02      # a frame is made this long before it is due (making one takes 5-15 ms)
QUEUE_FRAMES = 4        # frames a track may hold before the pump waits (a stalled encoder)
DISCONNECTED_S = 5.0    # a connection "disconnected" this long is treated as lost
CONNECT_S = 20.0        # an answered offer whose browser has not connected by then gives its seat back
MESSAGE_BYTES = 16_384
TRIM_FRAMES = 25        # freed heap is handed back to the OS once a second, between two frames (see `_pump`)


def _queue_track(kind: str):
    """A MediaStreamTrack of `kind` fed by the pump through its `queue`; `recv` waits for the next frame.
    (Made here, not at import, so that importing `avatarkit.live` does not import aiortc.)"""
    from aiortc import MediaStreamTrack
    from aiortc.mediastreams import MediaStreamError

    class QueueTrack(MediaStreamTrack):
        def __init__(self):
            super().__init__()
            self.kind = kind
            self.queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_FRAMES * (2 if kind == "audio" else 1))

        async def recv(self):
            frame = await self.queue.get()
            if frame is None:
                self.stop()
                raise MediaStreamError
            return frame

    return QueueTrack()


class LivePeer:
    """One browser connection to one `LiveSession` (which the peer closes when the connection ends)."""

    def __init__(self, session: LiveSession, on_closed=None, connect_s: float = CONNECT_S):
        from aiortc import RTCPeerConnection

        self.session = session
        self.on_closed = on_closed
        self.pc = RTCPeerConnection()
        self.video = _queue_track("video")
        self.audio = _queue_track("audio")
        self.pc.addTrack(self.audio)
        self.pc.addTrack(self.video)
        self.channel = None
        self.closed = False
        self.frames_sent = 0
        self.late_resets = 0
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="live-frames")
        # The frame's 4:2:0 picture and 16-bit sound are made into these same buffers every frame (PyAV copies
        # them into its frames), rather than into new ones that glibc's heap has to find room for 25 times a second.
        c = session.config
        self._i420 = np.empty((c.height * 3 // 2, c.width), np.uint8)
        self._pcm = np.empty(session.spf, np.float32)
        self._pcm16 = np.empty(session.spf, np.int16)
        self._pump_task: asyncio.Task | None = None
        self._lost_timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connect_s = connect_s
        session.on_event = self.send_event

        @self.pc.on("datachannel")
        def on_datachannel(channel):
            self.channel = channel

            @channel.on("message")
            def on_message(message):
                self._message(message)

        @self.pc.on("connectionstatechange")
        async def on_state():
            state = self.pc.connectionState
            if state in ("failed", "closed"):
                await self.close()
            elif state == "disconnected" and self._loop is not None:
                self._lost_timer = self._loop.call_later(
                    DISCONNECTED_S, lambda: asyncio.ensure_future(self._close_if_lost()))
            elif state == "connected" and self._lost_timer is not None:
                self._lost_timer.cancel()
                self._lost_timer = None

    async def answer(self, sdp: str, kind: str = "offer") -> dict:
        """The answer (`{"sdp", "type"}`) to a browser's offer; starts sending frames."""
        from aiortc import RTCSessionDescription

        self._loop = asyncio.get_running_loop()
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._pump_task = asyncio.ensure_future(self._pump())
        self._loop.call_later(self.connect_s, lambda: asyncio.ensure_future(self._close_if_never_connected()))
        return {"sdp": self.pc.localDescription.sdp, "type": self.pc.localDescription.type}

    async def close(self) -> None:
        """End the connection and the session; safe to call twice."""
        if self.closed:
            return
        self.closed = True
        if self._pump_task is not None:
            self._pump_task.cancel()
        for t in (self.video, self.audio):
            try:
                t.queue.put_nowait(None)
            except asyncio.QueueFull:
                pass
        await self.pc.close()
        await asyncio.get_running_loop().run_in_executor(self._pool, self.session.close)
        self._pool.shutdown(wait=False)
        if self.on_closed is not None:
            self.on_closed(self)

    async def _close_if_never_connected(self) -> None:
        # A client that took the answer and went away must not hold a seat until `max_s`.
        if self.pc.connectionState in ("new", "connecting"):
            await self.close()

    async def _close_if_lost(self) -> None:
        if self.pc.connectionState == "disconnected":
            await self.close()

    # -- frames ----------------------------------------------------------------

    def _make(self):
        import av
        import cv2

        f = self.session.next_frame()
        # To 4:2:0 here with OpenCV: the encoders' own RGB conversion doubles VP8's cost (measured 7.4 -> 3.6 ms
        # a frame at 960x540).
        video = av.VideoFrame.from_ndarray(cv2.cvtColor(f.rgb, cv2.COLOR_RGB2YUV_I420, dst=self._i420),
                                           format="yuv420p")
        video.pts = f.index * (90_000 // self.session.config.fps)
        video.time_base = Fraction(1, 90_000)
        np.multiply(np.clip(f.audio, -1.0, 1.0, out=self._pcm), 32767.0, out=self._pcm)
        pcm = self._pcm16
        pcm[:] = self._pcm       # truncates toward zero, as astype(np.int16) did
        half = pcm.size // 2
        sounds = []
        for k, part in enumerate((pcm[:half], pcm[half:])):
            a = av.AudioFrame.from_ndarray(part[None, :], format="s16", layout="mono")
            a.sample_rate = SAMPLE_RATE
            a.pts = f.index * pcm.size + k * half
            a.time_base = Fraction(1, SAMPLE_RATE)
            sounds.append(a)
        return video, sounds

    async def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        fps = self.session.config.fps
        t0 = loop.time()
        try:
            while not self.closed:
                due = t0 + self.frames_sent / fps
                # Make each frame just before it is due, not a frame ahead: text and interrupts that arrive
                # meanwhile reach the very next frame sent.
                early = due - MAKE_LEAD_S - loop.time()
                if early > 0:
                    await asyncio.sleep(early)
                video, sounds = await loop.run_in_executor(self._pool, self._make)
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                elif wait < -RESYNC_S:
                    # Too slow for a while (an overloaded machine): carry on from now, not with a burst.
                    t0 = loop.time() - self.frames_sent / fps
                    self.late_resets += 1
                await self.audio.queue.put(sounds[0])
                await self.video.queue.put(video)
                # The second 20 ms of sound goes out at its own time: the sender stamps its RTCP reports with
                # the time a packet left, so a packet sent 20 ms early told the browser's lip sync that the
                # sound ran 20 ms ahead, every other report.
                wait = due + 0.5 / fps - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self.audio.queue.put(sounds[1])
                self.frames_sent += 1
                if self.frames_sent % TRIM_FRAMES == 0:
                    # Hand freed heap back now, on the frame thread, just after a frame was sent (the next is
                    # ~40 ms away; a trim took 0.8 ms median, 34 ms at most). Encoders, RTP and synthesis free memory
                    # in several threads' arenas; trimmed once per clause only, the heap's resident part
                    # swung by tens of MB and crept up over a long session (docs/quality.md, issue 29).
                    await loop.run_in_executor(self._pool, self.session.trim_memory)
        except asyncio.CancelledError:
            pass
        except Exception:   # a fault in drawing ends this session cleanly, never a stuck worker
            log.exception("live session failed")
            self.send_event({"event": "error", "message": "the live session failed and was closed"})
            await self.close()

    # -- text ------------------------------------------------------------------

    def _message(self, message) -> None:
        try:
            if isinstance(message, bytes) or len(message) > MESSAGE_BYTES:
                raise LiveError(f"a message must be JSON text of at most {MESSAGE_BYTES} bytes")
            try:
                m = json.loads(message)
            except ValueError:
                raise LiveError("a message must be JSON: {\"say\": text}, {\"feed\": text}, {\"flush\": true} "
                                "or {\"interrupt\": true}") from None
            if not isinstance(m, dict) or len(m) != 1 or next(iter(m)) not in ("say", "feed", "flush", "interrupt"):
                raise LiveError("a message is one of {\"say\": text}, {\"feed\": text}, {\"flush\": true}, "
                                "{\"interrupt\": true}")
            (op, value), = m.items()
            if op == "interrupt":
                self.session.interrupt()
            elif op == "flush":
                self.session.flush()
            elif not isinstance(value, str):
                raise LiveError(f"{op!r} takes text")
            elif op == "say":
                self.session.say(value)
            else:
                self.session.feed(value)
        except LiveError as e:
            self.send_event({"event": "error", "message": str(e)})

    def send_event(self, event: dict) -> None:
        """Send a session event to the browser (called from the session's threads too)."""
        loop = self._loop
        if loop is None or self.closed:
            return
        text = json.dumps(event)

        def send():
            ch = self.channel
            if ch is not None and ch.readyState == "open":
                ch.send(text)

        try:
            loop.call_soon_threadsafe(send)
        except RuntimeError:    # the loop is closing
            pass
