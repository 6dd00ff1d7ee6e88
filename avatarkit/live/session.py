"""A live presenter: text in as it arrives, synchronised audio and video frames out, an idle face in between.

`LiveSession` owns one avatar, one voice and one renderer. Text comes in
through `say` (a whole message) or `feed` + `flush` (a token stream), is cut
into clauses (`live.clauses`), and a speech thread synthesises each clause
while the one before is being spoken. Frames are made on demand by
`next_frame`, one video frame (RGB) with its 40 ms of sound (48 kHz mono)
each, so the caller's clock paces the session: a transport calls it 25 times
a second, a test as fast as it likes. A clause starts at the first frame
made after its speech is ready, so the first lip-synced frame follows the
first clause's synthesis by at most one frame. Between clauses the face is
idle: the same replayed head motion, blinks and brows as a rendered video,
which are functions of the global frame number, so idle and speech join
without a jump.

`interrupt` (barge-in) drops every clause not yet spoken and fades the one
being spoken out: the sound within one frame (40 ms, a ramp, not a click),
the mouth over `FADE_FRAMES` frames (80 ms, as a real mouth closes), then the face is idle. Every frame carries the AI-generated label.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import AvatarkitError
from .clauses import Clause, ClauseCutter

SAMPLE_RATE = 48_000
FADE_FRAMES = 2
IDLE_CHUNK = 25          # frames of idle motion made at a time
MOUTH = ("jaw", "wide", "round", "press", "dental")
FIRST_CLAUSE = ("phrase", "punctuation")


class LiveError(AvatarkitError):
    """A live session asked for something it cannot do: the message names what and why."""


@dataclass(frozen=True)
class LiveConfig:
    """What a live session draws and says. `width`/`height` in pixels; `message_chars` bounds one message
    (`say`, or what `feed` gathers before a `flush`) and `queue_chars` all the text waiting to be spoken;
    `first_words`/`clause_words` bound clause length in words; `first_clause` is where a message's first clause
    may end: "phrase" (at its first phrase break, `live.clauses`), "punctuation" (at punctuation or after
    `first_words`), or None for the voice's own (`live_first_clause` of its engine: "phrase" for Piper and
    eSpeak, whose speech for the rest of the sentence is ready long before the first part has played)."""

    avatar: str = "presenter"
    voice: str = "en-us-joe"
    renderer: str | None = None     # None: the avatar's own (`render.base.renderer_for`)
    width: int = 960
    height: int = 540
    fps: int = 25
    layout: str = "full"
    background: str = "studio"
    message_chars: int = 2000
    queue_chars: int = 6000
    first_words: int = 8
    clause_words: int = 24
    first_clause: str | None = None

    def __post_init__(self):
        from ..script.model import RENDERERS

        if self.renderer is not None and self.renderer not in RENDERERS:
            raise LiveError(f"live renderer {str(self.renderer)[:40]!r}: expected one of {', '.join(RENDERERS)}")
        if not (160 <= self.width <= 1920 and 160 <= self.height <= 1920):
            raise LiveError(f"live size {self.width}x{self.height}: each side must be 160 to 1920 pixels")
        if self.width % 2 or self.height % 2:
            raise LiveError(f"live size {self.width}x{self.height}: sides must be even (the encoders' 4:2:0)")
        if self.first_clause not in (None, *FIRST_CLAUSE):
            raise LiveError(f"live first_clause {str(self.first_clause)[:40]!r}: expected one of {', '.join(FIRST_CLAUSE)}")
        if self.fps <= 0 or SAMPLE_RATE % self.fps:
            raise LiveError(f"live fps {self.fps}: must divide {SAMPLE_RATE}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LiveConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise LiveError(f"live config: unknown field {unknown[0]!r}; expected one of {', '.join(sorted(known))}")
        return cls(**d)


@dataclass
class LiveFrame:
    """Frame `index` of a session: `rgb` (height, width, 3) uint8 and its `audio` (fps-th of a second, float32,
    48 kHz mono); `speaking` while a clause plays; `clause` counts the clauses begun so far."""

    index: int
    rgb: np.ndarray          # the session's own buffer: copy it before asking for the next frame
    audio: np.ndarray
    speaking: bool
    clause: int


@dataclass
class _Spoken:
    """A clause whose speech is ready: its sound (whole frames at 48 kHz) and motion, placed when it starts."""

    clause: Clause
    utterance: object
    frames: int
    queued: float = 0.0      # perf_counter seconds when the clause's text was complete
    synth_s: float = 0.0     # seconds its speech took to make
    start: int = -1
    track: object = None


class LiveSession:
    """One live presenter (see the module docstring). Use as a context manager, or call `close`.

    `scope` confines avatar and voice names (the service passes its key's
    scope); `on_event(dict)` hears `{"event": "speaking", "text", "frame"}`,
    `{"event": "idle", "frame"}` and `{"event": "error", "message"}` from
    the session's threads.
    """

    def __init__(self, config: LiveConfig | None = None, *, scope=None,
                 on_event: Callable[[dict], None] | None = None):
        from ..compose.scene import SceneCompositor
        from ..motion.animate import PhonemeMotion
        from ..render.base import make_renderer, renderer_for
        from ..script.model import Background
        from ..speech.engines.base import make_engine
        from ..speech.loudness import LoudnessNormalizer
        from ..speech.voice import get_voice

        self.config = c = config or LiveConfig()
        self.on_event = on_event or (lambda e: None)
        self.spf = SAMPLE_RATE // c.fps
        try:
            if scope is not None:
                scope.check_voice(c.voice)
            self.voice = get_voice(c.voice, scope=scope)
        except ValueError as e:   # ScopeRefusal is a ValueError
            raise LiveError(str(e)) from None
        self.engine = make_engine(self.voice)
        self.rig = rig = live_rig(c.avatar, scope)
        self.comp = SceneCompositor(rig, Background(c.background), c.layout, c.width, c.height,
                                    fps=c.fps, language=self.voice.language)
        self.bound = make_renderer(renderer_for(rig.source, c.renderer)).bind(self.comp.rig)
        self.motion = PhonemeMotion()
        self.loudness = LoudnessNormalizer(SAMPLE_RATE)
        self.first_clause = c.first_clause or getattr(self.engine, "live_first_clause", "punctuation")
        self.cutter = ClauseCutter(c.first_words, c.clause_words,
                                   self.voice.language if self.first_clause == "phrase" else None)
        self._warm_up()

        self._lock = threading.Lock()
        self._todo: queue.Queue = queue.Queue()
        self._ready: collections.deque[_Spoken] = collections.deque()
        self._generation = 0
        self._gathered = 0           # characters fed since the last flush
        self._waiting = 0            # characters of clauses queued or synthesised but not yet begun
        self._current: _Spoken | None = None
        self._fade_from = -1         # frame an interrupt began fading the current clause out
        self._idle = None            # (start frame, track) of idle motion
        self._clauses = 0
        self._buffer = np.empty((c.height, c.width, 3), np.uint8)
        self.index = 0
        self.closed = False
        from ..utils.memory import memory_trimmer

        self.trim_memory = memory_trimmer()   # hands freed heap back: once per clause (as a render per phrase), and by a sender
        self._speaker = threading.Thread(target=self._speak_loop, name="live-speech", daemon=True)
        self._speaker.start()

    # -- text in -------------------------------------------------------------

    def say(self, text: str) -> None:
        """Speak a whole message after what is already queued."""
        self.feed(text)
        self.flush()

    def feed(self, text: str) -> None:
        """Add a piece of a message (tokens of a stream); whole clauses are queued to speak at once."""
        if self.closed:
            raise LiveError("the live session is closed")
        if not isinstance(text, str):
            raise LiveError(f"text must be a string, not {type(text).__name__}")
        with self._lock:
            if self._gathered + len(text) > self.config.message_chars:
                raise LiveError(f"message too long: {self._gathered + len(text)} characters; "
                                f"the limit is {self.config.message_chars} (live message_chars)")
            if self._waiting + self._gathered + len(text) > self.config.queue_chars:
                raise LiveError(f"{self._waiting + self._gathered} characters are already waiting to be spoken; "
                                f"the limit is {self.config.queue_chars} (live queue_chars): wait, or interrupt")
            self._gathered += len(text)
            clauses = self.cutter.feed(text)
            self._queue(clauses)

    def flush(self) -> None:
        """The message is complete: speak what is left of it."""
        with self._lock:
            self._gathered = 0
            self._queue(self.cutter.flush())

    def _queue(self, clauses: list[Clause]) -> None:
        # Under the lock, so that an interrupt cannot fall between counting and queueing.
        now = time.perf_counter()
        for cl in clauses:
            self._waiting += len(cl.text)
            self._todo.put((self._generation, cl, now))

    def interrupt(self) -> None:
        """Barge-in: stop speaking within `FADE_FRAMES` frames, drop everything queued, return to idle."""
        with self._lock:
            self._generation += 1
            self.cutter.reset()
            self._gathered = 0
            self._waiting = 0
            self._ready.clear()
            if self._current is not None and self._fade_from < 0:
                self._fade_from = self.index
        while True:
            try:
                self._todo.get_nowait()
            except queue.Empty:
                break
            self._todo.task_done()

    @property
    def busy(self) -> bool:
        """Whether anything is being said or waits to be said."""
        with self._lock:
            return self._current is not None or bool(self._ready) or self._todo.unfinished_tasks > 0

    # -- frames out ----------------------------------------------------------

    def next_frame(self) -> LiveFrame:
        """Make the next frame and its sound (about 5-20 ms of compute at 540p on one core)."""
        if self.closed:
            raise LiveError("the live session is closed")
        i = self.index
        with self._lock:
            cur = self._current
            if cur is not None and (i >= cur.start + cur.frames or
                                    (self._fade_from >= 0 and i >= self._fade_from + FADE_FRAMES)):
                cur = self._current = None
                self._fade_from = -1
                self.trim_memory()
                if not self._ready:
                    # `pending`: clauses of what was said still being synthesised (more speech is coming).
                    self.on_event({"event": "idle", "frame": i, "pending": self._todo.unfinished_tasks})
            if cur is None and self._ready:
                cur = self._current = self._ready.popleft()
                self._waiting = max(0, self._waiting - len(cur.clause.text))
                self._clauses += 1
                started = True
            else:
                started = False
            fade_from = self._fade_from
        if started:
            cur.start = i
            cur.track = self.motion.animate(cur.utterance, fps=self.config.fps, start_frame=i)
            # How long the clause waited from its text to its first frame, and how much of that was synthesis.
            self.on_event({"event": "speaking", "text": cur.clause.text, "frame": i,
                           "waited_ms": round(1000 * (time.perf_counter() - cur.queued)),
                           "synth_ms": round(1000 * cur.synth_s)})
        if cur is not None:
            k = i - cur.start
            values = cur.track.frame(k)
            shape = cur.track.frame_shape(k)
            audio = cur.utterance.audio[k * self.spf:(k + 1) * self.spf].copy()
            if fade_from >= 0:
                # The sound ramps to silence within the first frame; the mouth closes over FADE_FRAMES.
                done = i - fade_from
                ramp = 1.0 - (done + np.arange(1, self.spf + 1) / self.spf)
                audio *= np.clip(ramp, 0.0, 1.0).astype(np.float32)
                keep = max(0.0, 1.0 - (done + 1) / FADE_FRAMES)
                idle = self._idle_values(i)
                values = {ch: (v * keep if ch in MOUTH else v) for ch, v in values.items()}
                values.update({ch: idle[ch] for ch in idle if ch not in MOUTH})
                shape = None
        else:
            values, shape = self._idle_values(i), None
            audio = np.zeros(self.spf, np.float32)
        av = self.bound.render_frame(values, shape=shape)
        self.comp.compose(av, self._buffer, fresh=i == 0, index=i)
        self.index = i + 1
        return LiveFrame(i, self._buffer, audio, cur is not None, self._clauses)

    def frames(self, realtime: bool = True) -> Iterator[LiveFrame]:
        """Frames forever (until `close`), each at its time on the wall clock when `realtime`."""
        t0 = time.perf_counter() - self.index / self.config.fps
        while not self.closed:
            if realtime:
                wait = t0 + self.index / self.config.fps - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            yield self.next_frame()

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Block until every queued clause has its speech (for tests and offline use)."""
        end = time.monotonic() + timeout
        while self._todo.unfinished_tasks and time.monotonic() < end:
            time.sleep(0.005)
        return not self._todo.unfinished_tasks

    def close(self) -> None:
        """Stop the speech thread and free the renderer; frames can no longer be made."""
        if self.closed:
            return
        self.closed = True
        self.interrupt()
        self._todo.put(None)
        self._speaker.join(timeout=5)
        self.comp.close()

    def __enter__(self) -> "LiveSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- inside --------------------------------------------------------------

    def _idle_values(self, i: int) -> dict[str, float]:
        """Idle channels at frame i: chunks of silent-utterance motion, whose head and blinks follow the
        global frame number."""
        if self._idle is None or not (self._idle[0] <= i < self._idle[0] + IDLE_CHUNK):
            self._idle = (i, self.motion.animate(_silence(IDLE_CHUNK * self.spf), fps=self.config.fps, start_frame=i))
        return self._idle[1].frame(i - self._idle[0])

    def _warm_up(self) -> None:
        # The first synthesis of a voice's ONNX session costs about a second more than later ones; pay it now,
        # not on the user's first sentence, and through the whole clause path (words, resampling, loudness):
        # warmed with the engine alone, the first sentence still took ~45 ms longer than later ones.
        self._synthesize(Clause("Hello, and welcome.", 0))
        self.bound.render_frame(self.motion.animate(
            _silence(self.spf * 2), fps=self.config.fps).frame(0))

    def _speak_loop(self) -> None:
        while True:
            item = self._todo.get()
            try:
                if item is None:
                    return
                gen, clause, queued = item
                with self._lock:
                    if gen != self._generation:
                        continue
                t0 = time.perf_counter()
                utt = None
                try:
                    utt = self._synthesize(clause)
                except AvatarkitError as e:
                    self.on_event({"event": "error", "message": str(e)})
                except Exception as e:   # a voice that fails must not leave the session mute for good
                    self.on_event({"event": "error", "message": f"speech failed: {type(e).__name__}: {e}"})
                with self._lock:
                    if gen != self._generation:
                        continue
                    if utt is None:           # nothing to say after all: it no longer waits
                        self._waiting = max(0, self._waiting - len(clause.text))
                    else:
                        self._ready.append(_Spoken(clause, utt, utt.num_samples // self.spf, queued,
                                                   time.perf_counter() - t0))
            finally:
                self._todo.task_done()

    def _tokens(self, text: str) -> list:
        """The words of `text` (inline markup read as in a script) as tokens for this session's voice."""
        from ..script import parse_text
        from ..script.model import Script
        from ..speech.phrases import tokens_for

        empty = Script(title="", scenes=[])
        return [t for ph in parse_text(text, field="live text") for t in tokens_for(ph, empty, self.voice.language)]

    def _synthesize(self, clause: Clause):
        from ..speech.reading import check_script

        tokens = self._tokens(clause.text)
        if not tokens:
            return None
        check_script(tokens, self.voice.language, self.voice.id)
        utt = self.engine.synthesize(tokens).resampled(SAMPLE_RATE)
        utt = replace(utt, audio=self.loudness(utt.audio))
        if clause.end in ("phrase", "cut"):
            utt = _without_trailing_silence(utt)
        pad = clause.pause_ms * SAMPLE_RATE // 1000
        total = -(-(utt.num_samples + pad) // self.spf) * self.spf
        return utt.padded(0, total - utt.num_samples)


def _without_trailing_silence(utt, keep_ms: float = 30.0, fade_ms: float = 10.0):
    """`utt` ending `keep_ms` after its last phone, faded out over the last `fade_ms`: a voice ends every text
    with ~0.1-0.2 s of silence, which after a clause cut mid-sentence reads as a hesitation."""
    if not utt.phones:
        return utt
    last = utt.phones[-1].end
    end = min(utt.num_samples, last + int(keep_ms * utt.sample_rate / 1000))
    audio = utt.audio[:end].copy()
    n = min(max(0, end - last), int(fade_ms * utt.sample_rate / 1000))    # never into the last phone
    if n:
        audio[end - n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return replace(utt, audio=audio)


def _silence(samples: int):
    from ..speech.utterance import Utterance

    return Utterance(np.zeros(samples, np.float32), SAMPLE_RATE)


def live_rig(avatar: str, scope=None):
    """The rig a live session draws: a house presenter by name, an avatar of the scope's library by name, or
    (outside the service) a photo or avatar folder by path. Unknown names, and names the scope may not read,
    get the same answer."""
    from ..face.avatar import house_avatar, rig_for
    from ..script.scope import OPEN

    sc = scope or OPEN
    name = str(avatar)
    is_path = "/" in name or "\\" in name or name.startswith("~")
    if is_path and sc.confined:
        raise LiveError("avatar: the service takes an avatar name (GET /v1/avatars lists them), not a path")
    named = None if is_path else sc.named_avatar(name) or house_avatar(name)
    if named is not None:
        return rig_for(named)
    p = Path(name).expanduser()
    if not sc.confined and p.exists():
        return rig_for(p)
    raise LiveError(f"avatar {name[:64]!r}: no such avatar (a house presenter, or one made with "
                    "`avatarkit avatar add`)")
