"""Align a transcript to a recording by speaking it and warping time (DTW).

The transcript is synthesised with a voice of the recording's language; both
signals become log-mel frames at 50 Hz, standardised on their speech;
dynamic time warping finds the monotone path between them, and every phone
and word boundary of the synthetic utterance is carried through that path
onto the recording's clock. The
result is an `Utterance` whose audio is the recording, with phones and words
timed to it, so `PhonemeMotion` and the caption writer can use it as if it
were synthesised. Accuracy is a few tens of milliseconds on clean read
speech, enough for captions and a phoneme-path reference; it degrades with
music, overlapping speakers, or words that are not in the transcript.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..audio.features import LogMel, MelConfig, resample
from ..errors import AvatarkitError
from .utterance import Phone, Token, Utterance, Word

FEATURE_RATE = 16000
MAX_SECONDS = 600.0      # the DTW cost matrix grows with the square of the length
PHRASE_GAP_S = 0.25
SPEECH_RANGE = 6.9       # natural-log power (30 dB) below the loud frames that still counts as speech


def synthesize_transcript(text: str, voice, voices_dir=None,
                          progress: Callable[[int, int], None] | None = None) -> Utterance:
    """Speak `text` (any length, several sentences) with `voice` (a `Voice` or its id); `progress(done, total)`
    counts phrases spoken."""
    from ..script import parse_text
    from .engines.base import make_engine
    from .voice import Voice, get_voice

    v = voice if isinstance(voice, Voice) else get_voice(voice, voices_dir)
    engine = make_engine(v)
    parts: list[Utterance] = []
    phrases = [ph for ph in parse_text(text) if ph.words]
    for k, ph in enumerate(phrases):
        parts.append(engine.synthesize([Token(m.text) for m in ph.words]))
        if progress:
            progress(k + 1, len(phrases))
    if not parts:
        raise AvatarkitError("the transcript has no words to align")
    sr = parts[0].sample_rate
    gap = np.zeros(int(PHRASE_GAP_S * sr), np.float32)
    audio, phones, words, pos, index = [], [], [], 0, 0
    for u in parts:
        phones += [Phone(p.symbol, p.start + pos, p.end + pos) for p in u.phones]
        words += [Word(w.text, w.start + pos, w.end + pos, index + w.index, w.emphasis) for w in u.words]
        index += len(u.words)
        audio += [u.audio, gap]
        pos += u.num_samples + gap.size
    return Utterance(np.concatenate(audio), sr, phones, words, text)


def time_map(synth: np.ndarray, real: np.ndarray, frame_rate: float, open_end: bool = False):
    """A function from synthetic time to real time (seconds), from DTW of two log-mel sequences.

    Both are normalised per recording (mean and deviation of the frames
    within 30 dB of the loud parts) and pooled to half the frame rate to
    keep the cost matrix small (a minute is 3000 x 3000). Both start
    together; with `open_end` the real audio may stop part-way through the
    synthetic one (a truncated video): the path ends at the synthetic frame
    with the lowest accumulated cost, and synthetic times past it map to
    None.
    """
    import librosa
    from scipy.spatial.distance import cdist

    pool = 2 if min(synth.shape[0], real.shape[0]) >= 2 else 1
    rate = frame_rate / pool

    def prep(x):
        # Statistics of the speech only: the share of silence differs between the two recordings.
        level = x.mean(1)
        loud = x[level >= np.percentile(level, 95) - SPEECH_RANGE]
        x = (x - loud.mean(0)) / (loud.std(0) + 1e-6)
        m = x.shape[0] // pool * pool
        return x[:m].reshape(-1, pool, x.shape[1]).mean(1)

    S, R = prep(synth), prep(real)
    # Rows are real frames, columns synthetic ones.
    D, steps = librosa.sequence.dtw(C=cdist(R, S), backtrack=False, return_steps=True)
    n, m = D.shape
    end = m - 1
    if open_end:
        # Every real frame costs once whatever the end, and each synthetic frame past the true end
        # adds a mismatch, so the plain accumulated cost (not length-normalised) picks the end.
        end = int(np.argmin(D[-1]))
    wp = _backtrack(steps, n - 1, end)
    s_idx = np.unique(wp[:, 1])
    r_mean = np.array([wp[wp[:, 1] == k, 0].mean() for k in s_idx])
    s_t, r_t = (s_idx + 0.5) / rate, (r_mean + 0.5) / rate
    stop = (end + 1) / rate

    def warp(t: float) -> float | None:
        if open_end and t > stop:
            return None
        return float(np.interp(t, s_t, r_t))

    return warp


def _backtrack(steps: np.ndarray, row: int, col: int) -> np.ndarray:
    """The (row, col) DTW path from (0, 0) to (row, col), from librosa's step matrix (default steps)."""
    moves = ((1, 1), (0, 1), (1, 0))  # librosa's default step_sizes_sigma, in step-index order
    path = [(row, col)]
    while row > 0 or col > 0:
        if row == 0:
            col -= 1
        elif col == 0:
            row -= 1
        else:
            dr, dc = moves[int(steps[row, col])]
            row, col = row - dr, col - dc
        path.append((row, col))
    return np.array(path[::-1])


def align(recording: np.ndarray, sample_rate: int, transcript: Utterance | str, voice=None, *,
          open_end: bool = False) -> Utterance:
    """The recording (mono, `sample_rate` Hz) as an `Utterance` timed by its transcript.

    `transcript` is text (spoken with `voice`, default `en-us-joe`) or an
    already synthesised `Utterance`. Times in the result are samples of the
    recording at `sample_rate`. With `open_end` the recording may stop part
    way through the transcript (a cut clip); words past its end are dropped.
    """
    dur = recording.size / sample_rate
    if dur > MAX_SECONDS:
        raise AvatarkitError(f"recording is {dur:.0f} s; alignment works on pieces up to {MAX_SECONDS:.0f} s")
    tts = transcript if isinstance(transcript, Utterance) else synthesize_transcript(transcript, voice or "en-us-joe")
    mel = LogMel(MelConfig())
    warp = time_map(mel(resample(tts.audio, tts.sample_rate, FEATURE_RATE)),
                    mel(resample(recording, sample_rate, FEATURE_RATE)), mel.config.frame_rate, open_end=open_end)

    def to_rec(sample: int) -> int | None:
        t = warp(sample / tts.sample_rate)
        return None if t is None else int(np.clip(round(t * sample_rate), 0, recording.size))

    phones, words = [], []
    for p in tts.phones:
        s, e = to_rec(p.start), to_rec(p.end)
        if s is not None and e is not None:
            phones.append(Phone(p.symbol, s, max(e, s + 1)))
    for w in tts.words:
        s, e = to_rec(w.start), to_rec(w.end)
        if s is not None and e is not None:
            words.append(Word(w.text, s, max(e, s + 1), w.index, w.emphasis))
    return Utterance(np.asarray(recording, np.float32), sample_rate, phones, words, tts.text)
