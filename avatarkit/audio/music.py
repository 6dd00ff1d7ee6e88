"""A background music bed under the speech, ducked automatically while someone speaks.

The pipeline writes the soundtrack phrase by phrase; `MusicBed.mix` takes
each chunk of speech (mono float32, `sample_rate` Hz) and returns it with
the music added, carrying the music position and the ducking state from one
chunk to the next so that the joins are sample-exact. The music file is
read once (any format `avatarkit.audio.io` reads), trimmed of silent ends,
normalised to `-16 + volume_db` LUFS, and looped with an equal-power
crossfade at the seam.

Ducking works on the sample clock: speech is "on" where the mean square
over a trailing 15 ms window is above -45 dBFS. The music is lowered by
`duck_db` while speech is on, starting `attack_ms` before each onset the
chunk contains (a look-ahead, so the first syllable is never masked), and
comes back over `release_ms` after speech stops. Both ramps are smoothstep
curves in decibels, so the gain has no corners that could click. A chunk
cannot see into the next one: when speech starts within `attack_ms` of a
chunk's start, the ramp is squeezed into the time left (at least 10 ms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..speech.loudness import PEAK_DBFS, TARGET_LUFS, StreamLoudness, limit
from .io import AudioError, stream_audio

SPEECH_THRESHOLD_DB = -45.0   # a 15 ms window louder than this (dBFS) is speech
WINDOW_MS = 15.0
MIN_RAMP_MS = 10.0            # fastest duck when speech starts right at a chunk's start
LOOP_CROSSFADE_MS = 120.0
TRIM_DB = -50.0               # music ends quieter than this (relative to its peak) are cut
_NONE = -(1 << 40)            # "no speech yet" as a sample index


@dataclass(frozen=True)
class MusicSettings:
    """Background music for a video and how it sits under the speech.

    `volume_db` is the bed's loudness relative to the speech target (-16
    LUFS), so -20 means music at -36 LUFS; `duck_db` is the extra gain while
    someone speaks. Times are in milliseconds. With `loop` the music repeats
    (crossfaded at the seam), otherwise silence follows its end.
    """

    path: Path
    volume_db: float = -20.0
    duck_db: float = -12.0
    attack_ms: float = 60.0
    release_ms: float = 500.0
    fade_in_ms: float = 1000.0
    fade_out_ms: float = 2000.0
    loop: bool = True

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))
        if not -60.0 <= self.volume_db <= 6.0:
            raise AudioError(f"background music volume_db {self.volume_db}: expected -60 to 6 dB")
        if not -60.0 <= self.duck_db <= 0.0:
            raise AudioError(f"background music duck_db {self.duck_db}: expected -60 to 0 dB")
        for name in ("attack_ms", "release_ms", "fade_in_ms", "fade_out_ms"):
            v = getattr(self, name)
            if not 0.0 <= v <= 60_000.0:
                raise AudioError(f"background music {name} {v}: expected 0 to 60000 ms")


@dataclass(frozen=True)
class DuckState:
    """What ducking carries from one chunk to the next.

    `tail`: the last squared speech samples (one detection window less one);
    `last`: the index of the last speech sample relative to the next chunk's
    start (negative; `_NONE` if none yet); `depth`: the duck depth (0 = bed
    level, 1 = fully ducked) of the last sample.
    """

    tail: np.ndarray = field(default_factory=lambda: np.zeros(0))
    last: int = _NONE
    depth: float = 0.0


def _smooth(u: np.ndarray) -> np.ndarray:
    """Smoothstep of `u` already clipped to 0..1 (flat ends, so ramps join without corners)."""
    return u * u * (3.0 - 2.0 * u)


def duck_depth(speech: np.ndarray, sample_rate: int = 48_000, *, attack_ms: float = 60.0,
               release_ms: float = 500.0, threshold_db: float = SPEECH_THRESHOLD_DB,
               state: DuckState | None = None, ahead: np.ndarray | None = None) -> tuple[np.ndarray, DuckState]:
    """Per-sample duck depth (0..1, float64) for a chunk of speech, and the state for the next chunk.

    `ahead` is the start of the next chunk, when known: speech beginning
    there is ducked for already at the end of this chunk.
    """
    state = state or DuckState()
    n = speech.size
    if n == 0:
        return np.zeros(0), state
    w = max(1, round(WINDOW_MS * sample_rate / 1000))
    tail = state.tail if state.tail.size == w - 1 else np.zeros(w - 1)
    ext = np.concatenate([tail, np.square(speech, dtype=np.float64)])
    c = np.concatenate([[0.0], np.cumsum(ext)])
    mean_sq = (c[w:] - c[:-w]) * (1.0 / w)          # trailing window: sample t sees [t-w+1, t]
    on = mean_sq > 10 ** (threshold_db / 10)
    idx = np.arange(n)
    a = max(0, round(attack_ms * sample_rate / 1000))
    r = max(0, round(release_ms * sample_rate / 1000))
    last = np.maximum(np.maximum.accumulate(np.where(on, idx, _NONE)), state.last)
    since = idx - last
    depth = (since == 0).astype(np.float64) if r == 0 else 1.0 - _smooth(np.minimum(since * (1.0 / r), 1.0))
    if on.any():
        nxt = np.minimum.accumulate(np.where(on, idx, n + a + 1)[::-1])[::-1]
        until = nxt - idx
        soon = until <= a
        if a:
            depth[soon] = np.maximum(depth[soon], _smooth(1.0 - until[soon] * (1.0 / a)))
        first = int(np.argmax(on))
        # The chunk cannot reach back before its start: if the ramp would
        # begin earlier, squeeze it into the samples that are left.
        ramp = max(min(first + 1, a), min(a, round(MIN_RAMP_MS * sample_rate / 1000)), 1)
        head = depth[:ramp]
        cap = state.depth + (1.0 - state.depth) * _smooth(np.minimum((idx[:ramp] + 1) * (1.0 / ramp), 1.0))
        np.minimum(head, cap, out=head)
    if ahead is not None and ahead.size and a:
        look = np.concatenate([ext[ext.size - (w - 1):] if w > 1 else np.zeros(0),
                               np.square(np.asarray(ahead[:a], np.float64))])
        c2 = np.concatenate([[0.0], np.cumsum(look)])
        on2 = (c2[w:] - c2[:-w]) * (1.0 / w) > 10 ** (threshold_db / 10)
        if on2.any():
            until = n - idx + int(np.argmax(on2))
            soon = until <= a
            depth[soon] = np.maximum(depth[soon], _smooth(1.0 - until[soon] * (1.0 / a)))
    new_tail = ext[ext.size - (w - 1):] if w > 1 else np.zeros(0)
    new_state = DuckState(new_tail.copy(), max(int(last[-1]) - n, _NONE), float(depth[-1]))
    return depth, new_state


def duck_gain(speech: np.ndarray, sample_rate: int = 48_000, *, duck_db: float = -12.0,
              attack_ms: float = 60.0, release_ms: float = 500.0, threshold_db: float = SPEECH_THRESHOLD_DB,
              state: DuckState | None = None, ahead: np.ndarray | None = None) -> tuple[np.ndarray, DuckState]:
    """The music gain (linear, float32) for a chunk of speech and the state for the next chunk.

    Pure: the same speech and state give the same gain. The gain is 1 far
    from speech and `duck_db` while speech is on (mean square over the last
    15 ms above `threshold_db` dBFS), reached `attack_ms` before each onset
    inside the chunk and released over `release_ms` after the last speech.
    """
    depth, state = duck_depth(speech, sample_rate, attack_ms=attack_ms, release_ms=release_ms,
                              threshold_db=threshold_db, state=state, ahead=ahead)
    gain = np.exp(depth * (duck_db * math.log(10) / 20)).astype(np.float32)
    return gain, state


def _lufs(x: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (LUFS) with the project's meters: the streaming one at 48 kHz, pyloudnorm otherwise."""
    if sample_rate == StreamLoudness.RATE:
        meter = StreamLoudness()
        for i in range(0, x.size, 1 << 18):
            meter.push(x[i:i + (1 << 18)])
        return meter.integrated()
    import pyloudnorm

    return float(pyloudnorm.Meter(sample_rate).integrated_loudness(x.astype(np.float64)))


def _trim(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Cut silent lead-in and tail (10 ms blocks below TRIM_DB of the peak), so a loop has no gap."""
    b = max(1, sample_rate // 100)
    n = x.size // b
    if n == 0:
        return x
    peaks = np.abs(x[:n * b]).reshape(n, b).max(1)
    loud = np.flatnonzero(peaks > peaks.max() * 10 ** (TRIM_DB / 20))
    if loud.size == 0:
        return x[:0]
    end = x.size if loud[-1] == n - 1 else (loud[-1] + 1) * b
    return x[loud[0] * b:end]


def load_music(settings: MusicSettings, sample_rate: int, max_samples: int | None = None) -> np.ndarray:
    """The music file as mono float32 at `sample_rate` Hz, trimmed and normalised to the bed level.

    Reading stops after `max_samples` (a video's length) so a long track
    costs no more memory than the video needs.
    """
    parts, have = [], 0
    try:
        for block in stream_audio(settings.path, sample_rate):
            parts.append(block)
            have += block.size
            if max_samples is not None and have >= max_samples:
                break
    except AudioError as e:
        raise AudioError(f"background music: {e}") from None
    x = _trim(np.concatenate(parts), sample_rate)
    if x.size < sample_rate // 10:
        raise AudioError(f"background music: {settings.path}: silent or shorter than 0.1 s")
    loud = _lufs(x, sample_rate)
    if not math.isfinite(loud):
        raise AudioError(f"background music: {settings.path}: too quiet to measure its loudness")
    gain = 10 ** ((TARGET_LUFS + settings.volume_db - loud) / 20)
    return (x * gain).astype(np.float32)


class MusicBed:
    """Background music mixed under a soundtrack written chunk by chunk.

    `mix(speech)` returns the next chunk of the soundtrack: the speech plus
    the ducked, faded music, peak-limited to -1.5 dBFS. The music fades in
    from the first sample; with `total_samples` (the video's length in
    samples) it fades out to exactly zero on the last sample and stays
    silent after it. `music` skips reading the file: the bed's samples at
    `sample_rate`, already at their level (as `load_music` returns them).
    """

    def __init__(self, settings: MusicSettings, sample_rate: int = 48_000, total_samples: int | None = None,
                 music: np.ndarray | None = None):
        self.settings = settings
        self.sample_rate = sample_rate
        self.total = total_samples
        if music is None:
            # A track longer than the video is read only as far as it plays.
            most = None if total_samples is None else total_samples + sample_rate
            music = load_music(settings, sample_rate, most)
        self.music = np.asarray(music, np.float32)
        n = self.music.size
        # Loop: the first pass plays the music as is; every later pass plays
        # `cycle`, whose head is crossfaded with the music's tail so that the
        # seam continues the tail smoothly into the head.
        self.fade = min(round(LOOP_CROSSFADE_MS * sample_rate / 1000), n // 4)
        self.period = n - self.fade
        self.cycle = self.music[:self.period].copy()
        if self.fade:
            u = (np.arange(self.fade) + 0.5) / self.fade * (np.pi / 2)
            self.cycle[:self.fade] = (self.music[:self.fade] * np.sin(u)
                                      + self.music[self.period:] * np.cos(u)).astype(np.float32)
        self.fade_in = round(settings.fade_in_ms * sample_rate / 1000)
        self.fade_out = round(settings.fade_out_ms * sample_rate / 1000)
        self.ceiling = 10 ** (PEAK_DBFS / 20)
        self.position = 0
        self.state = DuckState()

    def _take(self, pos: int, n: int) -> np.ndarray:
        """Music samples [pos, pos + n) of the bed, before ducking and fades."""
        out = np.zeros(n, np.float32)
        done = 0
        while done < n:
            p = pos + done
            if p < self.period or not self.settings.loop:
                src, q = self.music, p
                if q >= src.size:
                    break                                  # the music has ended: silence
                end = src.size if not self.settings.loop else self.period
            else:
                src, q, end = self.cycle, (p - self.period) % self.period, self.period
            k = min(n - done, end - q)
            out[done:done + k] = src[q:q + k]
            done += k
        return out

    def _envelope(self, pos: int, n: int) -> np.ndarray | None:
        """Fade-in and fade-out gain for samples [pos, pos + n), or None where both are 1."""
        env = None
        if pos < self.fade_in:
            u = np.minimum((np.arange(pos, pos + n) + 0.5) / self.fade_in, 1.0)
            env = _smooth(u)
        if self.total is not None and pos + n > self.total - self.fade_out:
            left = self.total - 1 - np.arange(pos, pos + n)
            u = np.clip(left / max(self.fade_out, 1), 0.0, 1.0)
            env = _smooth(u) if env is None else env * _smooth(u)
        return env

    def mix(self, speech: np.ndarray, ahead: np.ndarray | None = None) -> np.ndarray:
        """The next chunk of the soundtrack: `speech` (mono float, any length) plus the ducked music.

        `ahead`, the start of the next chunk's speech, lets the music duck
        before a word that begins right at the next chunk's first sample.
        """
        speech = np.asarray(speech, np.float32).reshape(-1)
        n, pos = speech.size, self.position
        s = self.settings
        gain, self.state = duck_gain(speech, self.sample_rate, duck_db=s.duck_db, attack_ms=s.attack_ms,
                                     release_ms=s.release_ms, state=self.state, ahead=ahead)
        self.position += n
        if self.total is not None and pos >= self.total:
            return limit(speech, self.ceiling, self.sample_rate).astype(np.float32)
        music = self._take(pos, n)
        music *= gain
        env = self._envelope(pos, n)
        if env is not None:
            music *= env
        # Where speech and music together would pass the ceiling, only the music gives way: the
        # speech (already peak-limited by its normaliser) is never touched, and the ducking stays exact.
        room = np.maximum(self.ceiling - np.abs(speech), 0.0)
        mag = np.abs(music)
        if (mag > room).any():
            from scipy.ndimage import minimum_filter1d, uniform_filter1d

            need = np.minimum(1.0, room / np.maximum(mag, 1e-12))
            w = max(3, int(0.005 * self.sample_rate) | 1)
            music = music * np.minimum(uniform_filter1d(minimum_filter1d(need, 2 * w + 1), w), need)
        out = speech + music
        return limit(out, self.ceiling, self.sample_rate).astype(np.float32, copy=False)
