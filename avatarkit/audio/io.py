"""Reading a user's recording: any container PyAV can open, as mono float samples.

WAV, FLAC, MP3, M4A/AAC, Ogg and the audio track of a video all go through
one path: PyAV decodes, its resampler converts to mono float32 at the
sample rate the caller asks for. `stream_audio` yields fixed-size blocks so
an hour-long file is processed in constant memory; `load_audio` is the
whole file at once for short inputs. Anything that is not audio raises an
`AudioError` that names the file and what was wrong with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..errors import AvatarkitError


class AudioError(AvatarkitError):
    """An input recording that cannot be used (missing, not audio, empty)."""


@dataclass(frozen=True)
class AudioInfo:
    """What a recording is: its file, native rate, channels and length (seconds, may be 0 if unknown)."""

    path: Path
    sample_rate: int
    channels: int
    duration: float
    codec: str


def _open(path: Path):
    import av

    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    try:
        container = av.open(str(path))
    except av.error.InvalidDataError:
        raise AudioError(f"{path}: not an audio or video file (no known format)") from None
    except av.error.FFmpegError as e:
        raise AudioError(f"{path}: cannot be opened ({e.strerror or e})") from None
    if not container.streams.audio:
        container.close()
        raise AudioError(f"{path}: has no audio track")
    return container


def audio_info(path: str | Path) -> AudioInfo:
    """Describe a recording without decoding it."""
    path = Path(path)
    c = _open(path)
    try:
        s = c.streams.audio[0]
        dur = 0.0
        if s.duration is not None and s.time_base is not None:
            dur = float(s.duration * s.time_base)
        elif c.duration:
            dur = c.duration / 1_000_000
        return AudioInfo(path, int(s.rate or 0), int(s.channels or 0), dur, s.codec_context.name)
    finally:
        c.close()


def stream_audio(path: str | Path, sample_rate: int, block: int = 1 << 16) -> Iterator[np.ndarray]:
    """Yield the recording as mono float32 blocks of `block` samples at `sample_rate` Hz.

    Every block but the last has exactly `block` samples, so a consumer can
    count positions in samples. Stereo and multichannel audio is averaged to
    mono (the resampler's downmix); memory use does not grow with length.
    """
    import av

    path = Path(path)
    c = _open(path)
    pending: list[np.ndarray] = []
    have = 0
    got_any = False
    try:
        stream = c.streams.audio[0]
        res = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        try:
            for packet in c.demux(stream):
                for frame in packet.decode():
                    for out in res.resample(frame):
                        x = out.to_ndarray().reshape(-1)
                        pending.append(x)
                        have += x.size
                while have >= block:
                    buf = np.concatenate(pending)
                    got_any = True
                    yield buf[:block].copy()
                    rest = buf[block:]
                    pending, have = [rest], rest.size
            for out in res.resample(None):
                x = out.to_ndarray().reshape(-1)
                pending.append(x)
                have += x.size
        except av.error.FFmpegError as e:
            raise AudioError(f"{path}: audio track is damaged: {e}") from None
        buf = np.concatenate(pending) if pending else np.zeros(0, np.float32)
        while buf.size:
            got_any = True
            yield buf[:block].copy()
            buf = buf[block:]
    finally:
        c.close()
    if not got_any:
        raise AudioError(f"{path}: the audio track holds no samples")


def load_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """The whole recording as one mono float32 array at `sample_rate` Hz."""
    return np.concatenate(list(stream_audio(path, sample_rate)))


def rechunk(blocks: Iterable[np.ndarray], size: int, total: int | None = None) -> Iterator[np.ndarray]:
    """The samples of `blocks` again, in blocks of exactly `size` (the last one may be shorter).

    With `total`, the stream is cut or padded with silence to `total` samples, so a consumer that counts
    frames of `size` samples gets whole frames to the end."""
    pending: list[np.ndarray] = []
    have = done = 0
    for b in blocks:
        b = np.asarray(b, np.float32).reshape(-1)
        if total is not None:
            b = b[:max(0, total - done - have)]
        pending.append(b)
        have += b.size
        if have >= size:
            buf = np.concatenate(pending)
            n = buf.size - buf.size % size
            for a in range(0, n, size):
                yield buf[a:a + size]
            done += n
            pending, have = [buf[n:]], buf.size - n
    if total is not None and done + have < total:
        pending.append(np.zeros(total - done - have, np.float32))
    buf = np.concatenate(pending) if pending else np.zeros(0, np.float32)
    for a in range(0, buf.size, size):
        yield buf[a:a + size]
