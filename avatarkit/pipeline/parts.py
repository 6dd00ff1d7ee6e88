"""A render in parts: what each part is, and the work folder that lets a render resume.

The pipeline cuts a video into parts: a scene, or an intro or outro card.
A part is drawn by one compositor from its own speech and the frame it
starts at, and encoded into its own segment (`media.segments`), so parts
can be drawn in any order, in other processes or on other machines, and
joined into the same video. The first frames of a part that a transition
blends with the part before stay raw (`head`); they are blended and
encoded as a segment of their own once the part before is drawn.

`WorkDir` keeps each part's speech and finished segment beside the
output while a render runs. A render that is killed and started again
with the same inputs loads the speech it already made (so the timing is
the same) and draws only the parts that did not finish.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import queue
import shutil
import threading
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from ..media.segments import SegmentWriter
from ..speech.utterance import Utterance, read_speech, speech_bytes
from ..utils.files import atomic_path, write_text_atomic

SAMPLE_RATE = 48_000   # the video's clock: every time is a sample index at this rate
STAGES = ("speech", "motion", "render", "compose", "encode")   # where a render's compute seconds go


@dataclass
class Part:
    """A run of the plan drawn by one compositor: a scene or an intro/outro card.

    `first` and `count` select its items in the plan; `scene` indexes
    `script.scenes` (-1 for a card). `transition` is the kind that blends
    the part before into this one (`cut` for none) over `transition_frames`
    frames. `start` (frames on the video's clock) and `frames` are known
    once the speech before and in it is: `utterances` (one per item, at
    48 kHz, padded to whole frames).
    """

    index: int
    first: int
    count: int
    scene: int
    transition: str = "cut"
    transition_frames: int = 0
    start: int = 0
    frames: int = 0
    utterances: list[Utterance] | None = None

    @property
    def head(self) -> int:
        """Frames at the part's start that the join blends with the part before."""
        return 0 if self.transition == "cut" else min(self.transition_frames, self.frames)

    def spec(self) -> dict:
        """The part without its speech, as plain values (what travels with a task)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "utterances"}


@dataclass
class PartResult:
    """A drawn part: its segment (frames `head` to the end; None if the head is all of it), compute seconds, and
    whether the transition into it is made (the work folder's `transition_path`)."""

    index: int
    segment: Path | None
    frames: int
    timings: dict[str, float] = field(default_factory=dict)
    transition: bool = False
    # Blocks until the segment is in place, when it was still being closed (`draw_part(..., wait=False)`).
    closing: Callable[[], object] | None = field(default=None, repr=False, compare=False)


@dataclass
class PartFrames:
    """Raw RGB frames of a drawn part: its head (for the transition into it), its last frame, a thumbnail candidate.

    Once the transition is made, `last` is the part's last frame as the
    video shows it (blended, when the transition covers the whole part),
    which is what the transition out of it starts from; the head is
    dropped then, so only two frames per part are ever kept on disk.
    """

    head: list[np.ndarray]
    last: np.ndarray
    thumb: np.ndarray | None = None
    front: np.ndarray | None = None    # where the part's presenter is (uint8 alpha), which a crossfade brings in first


def fingerprint(*values) -> str:
    """A digest of `values` (dataclasses, containers, scalars), with every file they name hashed by size and mtime."""
    h = hashlib.sha256()

    def walk(v) -> None:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            h.update(type(v).__name__.encode())
            for f in dataclasses.fields(v):
                h.update(f.name.encode())
                walk(getattr(v, f.name))
        elif isinstance(v, Path):
            h.update(b"P" + str(v).encode())
            try:
                if v.is_dir():
                    for p in sorted(v.rglob("*")):
                        st = p.stat()
                        h.update(f"{p.relative_to(v)}:{st.st_size}:{st.st_mtime_ns}".encode())
                else:
                    st = v.stat()
                    h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
            except OSError:
                h.update(b"-")
        elif isinstance(v, dict):
            for k in sorted(v, key=repr):
                walk(k)
                walk(v[k])
        elif isinstance(v, (list, tuple)):
            h.update(f"[{len(v)}".encode())
            for x in v:
                walk(x)
        elif isinstance(v, Enum):
            h.update(repr(v).encode())
        elif v is None or isinstance(v, (str, int, float, bool)):
            h.update(repr(v).encode())
        else:
            raise TypeError(f"cannot fingerprint a {type(v).__name__}")

    for v in values:
        walk(v)
    return h.hexdigest()


def _png(rgb: np.ndarray) -> np.ndarray:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise OSError("could not encode a frame as PNG")
    return buf.reshape(-1)


def _unpng(buf: np.ndarray) -> np.ndarray:
    if buf.ndim == 3:    # stored raw
        return buf
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _unpng_alpha(buf: np.ndarray) -> np.ndarray:
    return buf if buf.ndim == 2 else cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)


def frames_bytes(frames: PartFrames, *, compress: bool = True) -> bytes:
    """`frames` as the bytes of an .npz, PNG-compressed (lossless) or raw; `read_frames` reads them back.

    Compression is for frames that travel (a cluster task's reply); the
    work folder keeps them raw, since a PNG of a 720p frame costs 40 ms.
    """
    import io

    pack = _png if compress else (lambda f: f)
    arrays = {f"head{i}": pack(f) for i, f in enumerate(frames.head)}
    arrays["last"] = pack(frames.last)
    if frames.thumb is not None:
        arrays["thumb"] = pack(frames.thumb)
    if frames.front is not None:
        arrays["front"] = cv2.imencode(".png", frames.front)[1] if compress else frames.front
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def read_frames(src: Path | bytes) -> PartFrames:
    """The frames that `frames_bytes` wrote (a file, or the bytes themselves)."""
    import io

    with np.load(io.BytesIO(src) if isinstance(src, bytes) else src, allow_pickle=False) as z:
        n = sum(1 for name in z.files if name.startswith("head"))
        return PartFrames([_unpng(z[f"head{i}"]) for i in range(n)], _unpng(z["last"]),
                          _unpng(z["thumb"]) if "thumb" in z.files else None,
                          _unpng_alpha(z["front"]) if "front" in z.files else None)


class WorkDir:
    """A render's work folder: speech and finished parts, kept while the render runs so a rerun resumes.

    `key` is a digest of everything the render is made from; a folder
    holding another key (or any, with `fresh`) is emptied first, so a
    changed script never reuses a stale part.
    """

    def __init__(self, root: Path, key: str, fresh: bool = False):
        self.root = Path(root)
        stamp = self.root / "inputs.txt"
        if self.root.is_dir() and (fresh or not stamp.is_file() or stamp.read_text().strip() != key):
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        if not stamp.is_file():
            write_text_atomic(stamp, key + "\n")

    def speech_path(self, k: int) -> Path:
        return self.root / f"speech-{k:04d}.npz"

    def segment_path(self, k: int) -> Path:
        return self.root / f"part-{k:04d}.mp4"

    def frames_path(self, k: int) -> Path:
        return self.root / f"part-{k:04d}.npz"

    def transition_path(self, k: int) -> Path:
        return self.root / f"transition-{k:04d}.mp4"

    def soundtrack_path(self) -> Path:
        return self.root / "soundtrack.m4a"

    def result_path(self, k: int) -> Path:
        return self.root / f"part-{k:04d}.json"

    def save_speech(self, k: int, utterances: list[Utterance], gains: dict[str, float]) -> None:
        with atomic_path(self.speech_path(k)) as tmp:
            tmp.write_bytes(speech_bytes(utterances, gains))

    def load_speech(self, k: int) -> tuple[list[Utterance], dict[str, float]] | None:
        """Part k's speech and the loudness gains after it, or None if it was not made (or is unreadable)."""
        try:
            return read_speech(self.speech_path(k))
        except (OSError, ValueError, KeyError):
            return None

    def save_result(self, result: PartResult, frames: PartFrames, segment: bytes | None = None) -> None:
        """Keep a finished part: its last frame and thumbnail, its segment (`segment` bytes, or already at its
        path; its transition's too), and its record."""
        with atomic_path(self.frames_path(result.index)) as tmp:
            tmp.write_bytes(frames_bytes(PartFrames([], frames.last, frames.thumb), compress=False))
        if segment is not None:
            with atomic_path(self.segment_path(result.index)) as tmp:
                tmp.write_bytes(segment)
        # The record is written last: a part counts as finished only once everything it needs is on disk.
        write_text_atomic(self.result_path(result.index), json.dumps(
            {"index": result.index, "segment": result.segment is not None, "frames": result.frames,
             "transition": result.transition, "timings": result.timings}))

    def load_result(self, k: int) -> PartResult | None:
        """Part k's result if it finished in an earlier run, else None."""
        try:
            d = json.loads(self.result_path(k).read_text())
        except (OSError, ValueError):
            return None
        seg = self.segment_path(k) if d.get("segment") else None
        if (seg is not None and not seg.is_file()) or not self.frames_path(k).is_file() \
                or (d.get("transition") and not self.transition_path(k).is_file()):
            return None
        return PartResult(k, seg, d["frames"], {}, bool(d.get("transition")))

    def load_frames(self, k: int) -> PartFrames:
        """Part k's last frame (as shown) and thumbnail candidate."""
        return read_frames(self.frames_path(k))

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def ahead(parts: Iterator[Part], stop: threading.Event | None = None) -> Iterator[Part]:
    """`parts` made on a second thread as fast as it goes, while the caller draws.

    When the caller stops early, `stop` is set; a producer that watches it
    (the pipeline's speech, between phrases) ends within one phrase, so an
    error or a cancelled job is not held up by speech nobody will hear.

    Speech is several times faster than drawing, so it runs ahead and
    soon every part's speech is in the work folder: a render killed
    mid-way then resumes with exactly the timing it had. Each part's
    speech is saved before it is queued, so only its place travels here
    and memory does not grow with the queue.
    """
    q: queue.Queue = queue.Queue()
    stop = stop if stop is not None else threading.Event()

    def run() -> None:
        try:
            for part in parts:
                part.utterances = None
                q.put(part)
                if stop.is_set():
                    return
            q.put(None)
        except BaseException as e:  # noqa: BLE001 - handed to the drawing thread, which raises it
            q.put(e)

    t = threading.Thread(target=run, name="avatarkit-speech", daemon=True)
    t.start()
    try:
        while (item := q.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        t.join()


class PartSink:
    """Where a part's frames go: the first `head` stay raw for the join's transition, the rest are encoded."""

    def __init__(self, head: int, path: Path, width: int, height: int, fps: int, preset: str, crf: int):
        self.want, self.path = head, path
        self.size, self.fps, self.preset, self.crf = (width, height), fps, preset, crf
        self.head: list[np.ndarray] = []
        self.last: np.ndarray | None = None
        self.segment: SegmentWriter | None = None

    def write_frame(self, rgb: np.ndarray) -> None:
        if len(self.head) < self.want:
            self.head.append(rgb.copy())
        else:
            if self.segment is None:
                self.segment = SegmentWriter(self.path, *self.size, self.fps, preset=self.preset, crf=self.crf)
            self.segment.write_frame(rgb)
        self.last = rgb

    def close(self, wait: bool = True) -> tuple[Path | None, list[np.ndarray], np.ndarray]:
        """The segment's path (None if every frame was head), the head and the last frame; see
        `SegmentWriter.close` for `wait`."""
        path = self.segment.close(wait) if self.segment is not None else None
        return path, self.head, self.last.copy()

    def abort(self) -> None:
        if self.segment is not None:
            self.segment.abort()
