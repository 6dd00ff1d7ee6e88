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
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import av
import numpy as np

from .writer import AI_NOTICE, audio_frame, rgb_frame, track_language

ENCODER_THREADS = 2
X264_PARAMS = "mbtree=0:colorprim=smpte170m:transfer=smpte170m:colormatrix=smpte170m:fullrange=off"


class SegmentWriter:
    """Encode RGB frames (H, W, 3 uint8) into a video-only MP4 segment at `path`, written atomically.

    `preset` and `crf` are libx264's. The file appears under its name only
    when `close()` succeeds; `abort()` leaves nothing behind.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: int, *, preset: str = "veryfast",
                 crf: int = 21):
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

    def write_frame(self, rgb: np.ndarray) -> None:
        """Encode one RGB frame."""
        frame = rgb_frame(rgb, self.frames)
        self.frames += 1
        for packet in self._v.encode(frame):
            self._c.mux(packet)

    def close(self) -> Path:
        """Flush the encoder and move the segment to its name."""
        if not self._closed:
            for packet in self._v.encode():
                self._c.mux(packet)
            self._c.close()
            self._closed = True
            os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Stop without producing the segment (after an error)."""
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


def join_segments(out: str | Path, segments: list[Path], audio: Iterable[np.ndarray], *, fps: int,
                  sample_rate: int, title: str = "", language: str | None = None,
                  audio_per_segment: list[int] | None = None) -> int:
    """Join video `segments` (in order) and the soundtrack chunks `audio` into an MP4 at `out`; return its frames.

    Packets are copied, not re-encoded. `audio` yields mono float32 chunks
    at `sample_rate` Hz; `audio_per_segment[k]` is how many of them belong
    beside segment k (so the file is interleaved as it is written and
    memory stays flat); by default all audio follows the video. The file
    is written under a temporary name and renamed into place.
    """
    out = Path(out)
    tmp = out.with_name(f".{out.stem}.partial{out.suffix}")
    if not segments:
        raise ValueError("no video segments to join")
    delays = [_read_segment(p, fps, first_only=True)[1] for p in segments]
    most = max(delays, default=0)
    c = av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
    try:
        c.metadata["title"] = title
        c.metadata["comment"] = AI_NOTICE
        c.metadata["description"] = AI_NOTICE
        with av.open(str(segments[0])) as first:
            v = c.add_stream_from_template(first.streams.video[0])
        v.time_base = Fraction(1, fps)
        a = c.add_stream("aac", rate=sample_rate)
        a.layout = "mono"
        a.bit_rate = 128_000
        if language:
            a.metadata["language"] = track_language(language)
            c.metadata["language"] = language
        chunks: Iterator[np.ndarray] = iter(audio)
        offset = index = samples = 0
        for k, path in enumerate(segments):
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
            for _ in range(audio_per_segment[k] if audio_per_segment else 0):
                chunk = next(chunks, None)
                if chunk is None:
                    break
                samples = _encode_audio(c, a, chunk, samples, sample_rate)
        for chunk in chunks:
            samples = _encode_audio(c, a, chunk, samples, sample_rate)
        for packet in a.encode():
            c.mux(packet)
        c.close()
    except BaseException:
        try:
            c.close()
        except Exception:  # noqa: BLE001 - the file is thrown away anyway
            pass
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, out)
    return offset


def _encode_audio(c, stream, chunk: np.ndarray, samples: int, sample_rate: int) -> int:
    if chunk.size == 0:
        return samples
    frame = audio_frame(chunk, sample_rate, samples)
    for packet in stream.encode(frame):
        c.mux(packet)
    return samples + frame.samples
