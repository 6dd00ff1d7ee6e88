"""Is someone speaking? A speech gate over 16 kHz audio from the Silero VAD that faster-whisper ships.

The lip-sync model moves the mouth for whatever it hears; on music, hum or
a noisy room it makes small speech-like twitches. `SpeechGate` gives, per
32 ms window of 16 kHz audio, the probability that it holds speech (Silero
VAD v6, an ONNX file inside the `faster-whisper` wheel: nothing is fetched),
and `gate` turns those into a 0..1 factor on the video clock that the motion
model multiplies its mouth by: 1 while someone speaks, 0 where no one has
spoken for a while. Two choices keep it from costing lip sync (settings
chosen on the lip-sync dev clips, docs/quality.md): probabilities are
averaged over `AVG_S`, so a lone spike in music or noise does not open it,
and the result is held `HOLD_S` either side, so the mouth is never cut in
the short pauses inside speech or just before a first word, where real
speakers' lips already move and the model's answer scores better.

It runs whole (`probabilities`) or streamed (`stream().push(block)`), with
the same result either way, at about 1 ms of compute per second of audio.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

RATE = 16000          # Hz, the only rate the model takes
WINDOW = 512          # samples per probability (32 ms)
CONTEXT = 64          # samples of the previous window each window sees
LOW, HIGH = 0.15, 0.5  # probability below which a window counts as silent, above which as speech
AVG_S = 0.3            # s: the running mean those are taken over
HOLD_S = 0.5           # s: the gate opens this long before speech and closes this long after it
LOOKAHEAD_S = HOLD_S + AVG_S / 2   # s of sound after a moment that its gate reads


@lru_cache(maxsize=1)
def _session():
    import onnxruntime
    from faster_whisper.utils import get_assets_path

    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = opts.intra_op_num_threads = 1
    opts.enable_cpu_mem_arena = False   # a long stream must not grow an arena
    opts.log_severity_level = 4
    path = os.path.join(get_assets_path(), "silero_vad_v6.onnx")
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=opts)


class VadStream:
    """Push 16 kHz mono blocks of any size; get the speech probability of every window completed so far."""

    def __init__(self):
        self.h = np.zeros((1, 1, 128), np.float32)
        self.c = np.zeros((1, 1, 128), np.float32)
        self.context = np.zeros(CONTEXT, np.float32)
        self.rest = np.zeros(0, np.float32)

    def push(self, block: np.ndarray) -> np.ndarray:
        x = np.concatenate([self.rest, np.asarray(block, np.float32).ravel()])
        n = x.size // WINDOW
        self.rest = x[n * WINDOW:]
        if not n:
            return np.zeros(0, np.float32)
        windows = x[:n * WINDOW].reshape(n, WINDOW)
        before = np.concatenate([self.context[None], windows[:-1, -CONTEXT:]])
        self.context = windows[-1, -CONTEXT:].copy()
        out, self.h, self.c = _session().run(None, {"input": np.concatenate([before, windows], 1),
                                                    "h": self.h, "c": self.c})
        return np.asarray(out, np.float32).reshape(-1)

    def finish(self) -> np.ndarray:
        """The last, partial window, padded with silence (none if nothing is left)."""
        if not self.rest.size:
            return np.zeros(0, np.float32)
        return self.push(np.zeros(WINDOW - self.rest.size, np.float32))


class SpeechGate:
    """Speech probabilities and the mouth gate derived from them (see the module docstring)."""

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """Speech probability per 32 ms window of mono 16 kHz `audio` (the last window padded)."""
        s = VadStream()
        return np.concatenate([s.push(audio), s.finish()])

    def stream(self) -> VadStream:
        return VadStream()

    @staticmethod
    def gate(probs: np.ndarray, times: np.ndarray) -> np.ndarray:
        """The 0..1 gate at `times` (seconds from the audio's start) from window probabilities `probs`.

        Each window's probability is mapped to 0..1 between `LOW` and `HIGH`,
        averaged over `AVG_S` and mapped again (a mean of 0.25 or less is
        silence, 0.75 or more speech), spread `HOLD_S` either side (a running
        maximum) and sampled at `times`; a time past the last window known
        reads that window.
        """
        p = np.clip((np.asarray(probs, np.float32) - LOW) / (HIGH - LOW), 0, 1)
        if not p.size:
            return np.zeros(len(times), np.float32)
        a = max(1, int(round(AVG_S * RATE / WINDOW)))
        p = np.convolve(np.pad(p, (a // 2, a - 1 - a // 2), mode="edge"), np.ones(a, np.float32) / a, mode="valid")
        p = np.clip((p - 0.25) / 0.5, 0, 1)
        hold = int(round(HOLD_S * RATE / WINDOW))
        padded = np.pad(p, hold)
        held = np.lib.stride_tricks.sliding_window_view(padded, 2 * hold + 1).max(1)
        idx = np.clip(np.floor(np.asarray(times) * RATE / WINDOW).astype(np.int64), 0, held.size - 1)
        return held[idx].astype(np.float32)
