"""Write test recordings in real container formats with PyAV (WAV, FLAC, MP3, M4A, MP4 with video)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

FORMATS = {  # suffix: (container, codec, sample format)
    ".wav": ("wav", "pcm_s16le", "s16"),
    ".flac": ("flac", "flac", "s16"),
    ".mp3": ("mp3", "libmp3lame", "fltp"),
    ".m4a": ("ipod", "aac", "fltp"),
}


def write_audio(path: Path, audio: np.ndarray, rate: int) -> Path:
    """Encode `audio` (float, (n,) mono or (n, channels)) at `rate` Hz into `path` by its suffix."""
    import av

    x = np.asarray(audio, np.float32)
    x = x[:, None] if x.ndim == 1 else x
    fmt, codec, sample_fmt = FORMATS[path.suffix]
    layout = "mono" if x.shape[1] == 1 else "stereo"
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=rate)
        s.layout = layout
        s.format = sample_fmt
        chunk = 1152 if codec == "libmp3lame" else 1024
        pos = 0
        while pos < x.shape[0]:
            part = x[pos:pos + chunk]
            if sample_fmt == "s16":
                data = (np.clip(part, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
            else:
                data = np.ascontiguousarray(part.T)
            f = av.AudioFrame.from_ndarray(data, format=sample_fmt, layout=layout)
            f.sample_rate, f.pts, f.time_base = rate, pos, Fraction(1, rate)
            for p in s.encode(f):
                c.mux(p)
            pos += chunk
        for p in s.encode():
            c.mux(p)
    return path


def write_video_with_audio(path: Path, audio: np.ndarray, rate: int, fps: int = 25) -> Path:
    """A small grey MP4 whose audio track is `audio`."""
    import av

    x = np.asarray(audio, np.float32)
    with av.open(str(path), "w", format="mp4") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
        a = c.add_stream("aac", rate=rate)
        a.layout = "mono"
        n = int(np.ceil(x.size / rate * fps))
        for i in range(n):
            vf = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 128, np.uint8), format="rgb24")
            vf.pts = i
            for p in v.encode(vf):
                c.mux(p)
        for pos in range(0, x.size, 1024):
            af = av.AudioFrame.from_ndarray(x[None, pos:pos + 1024].copy(), format="flt", layout="mono")
            af.sample_rate, af.pts = rate, pos
            for p in a.encode(af):
                c.mux(p)
        for s in (v, a):
            for p in s.encode():
                c.mux(p)
    return path


def write_silent_video(path: Path, frames: int = 3) -> Path:
    """A tiny black H.264 MP4 with no audio track at all."""
    import av

    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=25)
        v.width = v.height = 64
        v.pix_fmt = "yuv420p"
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            f.pts = i
            for p in v.encode(f):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    return path


def speech(seconds_of_words: int = 6, voice: str = "en-us", rate: int = 175):
    """eSpeak speech (float32, its rate, Utterance) of a fixed sentence."""
    from avatarkit.speech.engines.base import make_engine
    from avatarkit.speech.utterance import Token
    from avatarkit.speech.voice import Voice

    words = ("the quick brown fox jumps over a lazy dog while seven bold pilots "
             "watch from far away").split()[: max(3, seconds_of_words * 3)]
    eng = make_engine(Voice(id="t", engine="espeak", language="en", settings={"voice": voice, "rate": rate}))
    utt = eng.synthesize([Token(w) for w in words])
    return utt.audio, utt.sample_rate, utt


def decode_mp4(path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """Every frame of an MP4 as RGB uint8, and its whole audio track as one mono array."""
    import av

    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    return frames, audio
