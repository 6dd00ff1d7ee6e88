"""Video in segments: each encoded by a fresh x264 encoder, joined without re-encoding.

A render is cut into parts (a scene, an intro or outro card, the frames a
transition blends), and each part's frames are encoded into a video-only
segment file by its own encoder. The encoder's output depends only on the
frames and its settings, so a part encodes to the same bits in this
process, another process or another machine with the same CPU features,
and `join_segments` copies the packets of all segments into one MP4 (no
quality lost, no second encode) with the soundtrack encoded once beside
them. Two settings make that hold: the thread count is fixed (x264's
output changes with it), and macroblock-tree rate control is off: its
SIMD code made the same frames encode differently from run to run in
about one segment in three (crossfades especially; measured here), while
without it five renders of the same script matched bit for bit.

Within a segment, decode timestamps run one frame apart, `delay` frames
behind the presentation timestamps (B-frame reordering). Segments of a
few frames may have a shorter delay than the rest, so the join rewrites
every decode timestamp as the packet's place in the whole stream minus the
longest delay: still strictly increasing, and never after its picture.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import av
import numpy as np

from .writer import AI_NOTICE, EncoderThread, audio_frame, to_i420, track_language

ENCODER_THREADS = 2
# libx264's preset and constant-rate factor for every render, chosen by measured quality per CPU second
# (benchmarks/encoder.py; the figures are in benchmarks/RESULTS.md).
DEFAULT_PRESET = "veryfast"
DEFAULT_CRF = 21
X264_PARAMS = "mbtree=0:colorprim=smpte170m:transfer=smpte170m:colormatrix=smpte170m:fullrange=off"


class SegmentWriter:
    """Encode RGB frames (H, W, 3 uint8) into a video-only MP4 segment at `path`, written atomically.

    `preset` and `crf` are libx264's. The encoder runs on its own thread,
    `ahead` frames behind the caller (0: in the caller's thread), so drawing
    the next frame overlaps encoding this one; frames are converted to
    YUV 4:2:0 before they are queued, so the caller may reuse its buffer as
    soon as `write_frame` returns. The bits do not depend on `ahead`. The
    file appears under its name only when `close()` succeeds; `abort()`
    leaves nothing behind.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: int, *, preset: str = DEFAULT_PRESET,
                 crf: int = DEFAULT_CRF, ahead: int = 8):
        if width % 2 or height % 2:
            raise ValueError(f"frame size {width}x{height} must be even for yuv420p")
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.partial")
        self.frames = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._c = av.open(str(self.tmp), mode="w", format="mp4")
        v = self._c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.options = {"preset": preset, "crf": str(crf), "threads": str(ENCODER_THREADS), "x264-params": X264_PARAMS}
        v.codec_context.time_base = Fraction(1, fps)
        self._v = v
        self._closed = False
        self._encoder = EncoderThread(self._encode, ahead, (height * 3 // 2, width)) if ahead > 0 else None

    def _encode(self, yuv: np.ndarray | None, pts: int) -> None:
        # x264 copies the picture in, so the buffer is free again once this returns.
        frame = av.VideoFrame.from_numpy_buffer(yuv, format="yuv420p") if yuv is not None else None
        if frame is not None:
            frame.pts = pts
        for packet in self._v.encode(frame):
            self._c.mux(packet)

    def write_frame(self, rgb: np.ndarray) -> None:
        """Encode one RGB frame (queued, when the encoder has its own thread)."""
        if self._encoder is not None:
            self._encoder.put(rgb, self.frames)
        else:
            self._encode(to_i420(rgb), self.frames)
        self.frames += 1

    def close(self, wait: bool = True) -> Path:
        """Encode what is queued, flush the encoder and move the segment to its name; return that name.

        With `wait=False` the encoder thread does all of that and this returns
        at once (the caller draws on meanwhile); `wait()` then blocks until the
        file is in place, and raises what went wrong.
        """
        if self._closed or self._encoder is None:
            self._finish_file()
        else:
            self._encoder.finish(self._finish_file, wait=wait)
        return self.path

    def wait(self) -> Path:
        """Block until a `close(wait=False)` has put the segment in place; raise the encoder's error, if any."""
        if self._encoder is not None:
            self._encoder.join()
        return self.path

    def _finish_file(self) -> None:
        if not self._closed:
            self._encode(None, 0)
            self._c.close()
            self._closed = True
            os.replace(self.tmp, self.path)
            # Let x264's buffers go now: the writer may live on (a part's result waits on it) and the
            # encoder thread refers back to it, so waiting for the garbage collector grew a 10-minute
            # render by 700 MiB.
            self._c = self._v = None

    def abort(self) -> None:
        """Stop without producing the segment (after an error)."""
        if not self._closed and self._encoder is not None:
            self._encoder.cancel()   # may finish a close already under way, which leaves nothing to close here
        if not self._closed:
            try:
                self._c.close()
            except Exception:  # noqa: BLE001 - the file is thrown away anyway
                pass
            self._closed = True
        self.tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class _Packet:
    data: bytes
    pts: int          # frames from the segment's start
    key: bool


def _read_segment(path: Path, fps: int, first_only: bool = False) -> tuple[list[_Packet], int]:
    """A segment's packets in decode order with times in frames (only the first with `first_only`), and its
    reorder delay (frames)."""
    packets: list[_Packet] = []
    delay = 0
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        per_frame = Fraction(1, fps) / s.time_base
        for p in c.demux(s):
            if not p.size:
                continue
            pts = Fraction(p.pts) / per_frame
            if not packets and p.dts is not None:
                delay = int(round(pts - Fraction(p.dts) / per_frame))
            packets.append(_Packet(bytes(p), int(round(pts)), p.is_keyframe))
            if first_only:
                break
    return packets, delay


def encode_soundtrack(path: str | Path, chunks: Iterable[np.ndarray], *, sample_rate: int) -> Path:
    """Encode mono float32 `chunks` (at `sample_rate` Hz) as AAC, 128 kb/s, into an .m4a at `path`, atomically.

    A render's soundtrack is encoded once, ahead of the join (the speech
    thread does it while frames are still being drawn), and `join_segments`
    copies its packets beside the video.
    """
    with _mp4_output(path) as c:
        a = c.add_stream("aac", rate=sample_rate)
        a.layout = "mono"
        a.bit_rate = 128_000
        samples = 0
        for chunk in chunks:
            samples = _encode_audio(c, a, chunk, samples, sample_rate)
        for packet in a.encode():
            c.mux(packet)
    return Path(path)


@contextmanager
def _mp4_output(path: str | Path, **options) -> Iterator:
    """An MP4 container writing a temporary sibling of `path`, moved into place when the block ends cleanly.

    On any error the container is closed and the partial file removed, so
    nothing half-written is ever found under `path`.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    c = av.open(str(tmp), mode="w", format="mp4", **options)
    try:
        yield c
        c.close()
    except BaseException:
        try:
            c.close()
        except Exception:  # noqa: BLE001 - the file is thrown away anyway
            pass
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def join_segments(out: str | Path, segments: list[Path], soundtrack: Path, *, fps: int, title: str = "",
                  language: str | None = None) -> int:
    """Join video `segments` (in order) and the encoded `soundtrack` (see `encode_soundtrack`) into an MP4 at `out`.

    Returns the video's frames. Packets are copied, not re-encoded, and
    interleaved as they are written (the soundtrack's packets up to the end
    of each segment follow it), so memory stays flat. The file is written
    under a temporary name and renamed into place.
    """
    if not segments:
        raise ValueError("no video segments to join")
    delays = [_read_segment(p, fps, first_only=True)[1] for p in segments]
    most = max(delays, default=0)
    with _mp4_output(out, options={"movflags": "+faststart"}) as c:
        c.metadata["title"] = title
        c.metadata["comment"] = AI_NOTICE
        c.metadata["description"] = AI_NOTICE
        with av.open(str(segments[0])) as first:
            v = c.add_stream_from_template(first.streams.video[0])
        v.time_base = Fraction(1, fps)
        with av.open(str(soundtrack)) as src:
            sound = src.streams.audio[0]
            a = c.add_stream_from_template(sound)
            a.time_base = sound.time_base
            if language:
                a.metadata["language"] = track_language(language)
                c.metadata["language"] = language
            audio = (p for p in src.demux(sound) if p.size)
            pending = next(audio, None)
            offset = index = 0
            for path in segments:
                packets, _ = _read_segment(path, fps)
                for p in packets:
                    packet = av.Packet(p.data)
                    packet.stream = v
                    packet.time_base = Fraction(1, fps)
                    packet.pts = offset + p.pts
                    packet.dts = index - most
                    packet.is_keyframe = p.key
                    c.mux(packet)
                    index += 1
                offset += len(packets)
                end = Fraction(offset, fps)
                while pending is not None and pending.pts * pending.time_base < end:
                    pending = _copy_packet(c, a, pending, audio)
            while pending is not None:
                pending = _copy_packet(c, a, pending, audio)
    return offset


def _copy_packet(c, stream, packet, rest: Iterator):
    """Mux `packet` into `stream` of `c` and return the next one from `rest` (None at the end)."""
    packet.stream = stream
    c.mux(packet)
    return next(rest, None)


def _encode_audio(c, stream, chunk: np.ndarray, samples: int, sample_rate: int) -> int:
    if chunk.size == 0:
        return samples
    frame = audio_frame(chunk, sample_rate, samples)
    for packet in stream.encode(frame):
        c.mux(packet)
    return samples + frame.samples
