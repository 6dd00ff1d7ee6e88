"""The lip-sync evaluation harness: how well does each motion method follow real speech?

For each real talking-face video, the harness measures the real mouth with
MediaPipe, then re-animates the video's FIRST frame from its audio alone
with each method and measures the generated frames with exactly the same
code, so any bias of the landmark detector hits real and generated alike.
The re-animations are AI-generated video; only the numbers leave the
harness. Frames are downscaled (height at most `clips.MAX_HEIGHT`) before
anything else, which keeps MediaPipe and the renderer fast without changing
what is measured, since every length is a fraction of the inter-ocular
distance. Reading a video (`clips.read_clip`) is shared with the sync judge.

Methods: `learned`, `loudness` and `still` (`AudioMotion` kinds), `phoneme`
(the transcript spoken by a voice, aligned to the real audio by DTW, then
`PhonemeMotion`), `words` (`learned` with lip closures and rounding from
those aligned phonemes, `motion.fuse`) and the optional control `shuffled`
(the real landmarks with one-second blocks permuted: real mouth shapes at
chance timing). The transcript is the video's side file `<stem>.txt` when
there is one, else what Whisper hears in the video.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import FaceError
from . import metrics as M
from . import sync
from .clips import SAMPLE_RATE, Clip, EvalError, EvalProgress, forget_tracked_face, mouth_or_blank, read_clip

if TYPE_CHECKING:
    from ..face.rig import FaceRig
    from ..motion.track import MotionTrack

MAX_LAG = 10            # frames searched either side for the audio-visual offset
METHODS = ("learned", "words", "phoneme", "loudness", "still", "shuffled")
DEFAULT_METHODS = ("learned", "phoneme", "loudness", "still")
LEGEND = ("frames: scored (face in both); face: frames with a face found; corr: Pearson r of mouth opening; "
          "− still: corr minus the still mouth's corr; "
          "LMD: lip landmark distance after alignment, fraction of IOD; offset: lag in frames, + = generated "
          "late; jitter: lip 2nd difference, fraction of IOD; sync off / conf: the sync judge's (eval.sync) "
          "offset in frames (+ = audio late) and confidence, the real video's being the ceiling")
AI_NOTE = ("Generated rows are measured on AI-generated re-animations of each video's first frame, "
           "driven by the video's audio alone; 'real' rows are the original video.")


@dataclass
class MethodScore:
    """One method on one video (or overall): metrics over the frames with a face in both videos.

    `frames` is how many frames were scored; `face_found` the fraction of
    generated frames MediaPipe found a face in; `pearson` the correlation of
    mouth opening with the real video; `lmd` the mean lip landmark distance
    (fraction of IOD); `offset` the best-matching lag in frames (positive =
    generated is late; overall, the frame-weighted mean of the videos'
    lags) and `offset_corr` the correlation there; `jitter` the mean second
    difference of the generated lip landmarks (fraction of IOD per frame²).
    `unavailable` says why a method was not scored (its metrics are NaN).
    """

    method: str
    frames: int = 0
    face_found: float = math.nan
    pearson: float = math.nan
    lmd: float = math.nan
    offset: float = math.nan
    offset_corr: float = math.nan
    jitter: float = math.nan
    sync_offset: float = math.nan   # the sync judge (`eval.sync`): offset in frames, + = audio late
    sync_conf: float = math.nan     # and its confidence (median minus minimum distance)
    unavailable: str | None = None
    xcorr: list[float] | None = None   # correlation at lags -MAX_LAG..MAX_LAG (frames)

    def to_dict(self) -> dict:
        d = {k: _json_num(v) for k, v in asdict(self).items() if k != "xcorr"}
        d["xcorr"] = [_json_num(v) for v in self.xcorr] if self.xcorr is not None else None
        return d


@dataclass
class VideoReport:
    """All methods on one video: `frames` scored at `fps`, the real video's face-found fraction and jitter."""

    path: Path
    fps: float
    frames: int
    face_found: float
    real_jitter: float
    methods: dict[str, MethodScore] = field(default_factory=dict)
    transcript: str | None = None          # the words `phoneme` and `words` were aligned with
    transcript_source: str | None = None   # "side file" or "whisper"
    sync_offset: float = math.nan          # the sync judge on the real video (offset, frames)
    sync_conf: float = math.nan            # and its confidence: the ceiling for generated rows

    @property
    def seconds(self) -> float:
        return self.frames / self.fps if self.fps else 0.0

    def to_dict(self) -> dict:
        return {"path": str(self.path), "fps": self.fps, "frames": self.frames, "seconds": self.seconds,
                "face_found": _json_num(self.face_found), "real_jitter": _json_num(self.real_jitter),
                "sync_offset": _json_num(self.sync_offset), "sync_conf": _json_num(self.sync_conf),
                "transcript": self.transcript, "transcript_source": self.transcript_source,
                "methods": {k: v.to_dict() for k, v in self.methods.items()}}


@dataclass
class Report:
    """Scores for several videos; `overall` is the frame-weighted mean over videos, per method."""

    videos: list[VideoReport]

    def overall(self) -> dict[str, MethodScore]:
        """Per method: each metric averaged over videos, weighted by the frames scored in each."""
        names = list(dict.fromkeys(m for v in self.videos for m in v.methods))
        out = {}
        for name in names:
            scores = [v.methods[name] for v in self.videos if name in v.methods]
            done = [s for s in scores if s.unavailable is None]
            if not done:
                reasons = sorted({s.unavailable or "" for s in scores})
                out[name] = MethodScore(name, unavailable="; ".join(reasons))
                continue
            agg = MethodScore(name, frames=sum(s.frames for s in done))
            for k in ("face_found", "pearson", "lmd", "jitter", "sync_offset", "sync_conf"):
                setattr(agg, k, _weighted([getattr(s, k) for s in done], [s.frames for s in done]))
            # The overall offset is the peak of the frame-weighted mean cross-correlation curve: a
            # systematic lag shows there, while per-video peaks of short clips wander with noise.
            curves = [(np.asarray(s.xcorr), s.frames) for s in done if s.xcorr is not None]
            if curves:
                stack = np.array([c for c, _ in curves])
                w = np.array([f for _, f in curves], np.float64)[:, None] * np.isfinite(stack)
                mean = np.where(w.sum(0) > 0, np.nansum(np.nan_to_num(stack) * w, 0) / np.maximum(w.sum(0), 1e-12), np.nan)
                if np.isfinite(mean).any():
                    lags = np.arange(mean.size) - mean.size // 2
                    best = np.nanmax(mean)
                    cand = lags[np.isclose(mean, best, rtol=0, atol=1e-12)]
                    agg.offset, agg.offset_corr = float(cand[np.argmin(np.abs(cand))]), float(best)
                agg.xcorr = [float(v) for v in mean]
            out[name] = agg
        return out

    def real_jitter(self) -> float:
        """The real videos' lip jitter, weighted by their frame counts (fraction of IOD per frame²)."""
        return _weighted([v.real_jitter for v in self.videos], [v.frames * v.face_found for v in self.videos])

    def to_dict(self) -> dict:
        return {"note": AI_NOTE, "videos": [v.to_dict() for v in self.videos],
                "overall": {k: v.to_dict() for k, v in self.overall().items()},
                "real_jitter": _json_num(self.real_jitter())}

    def rich_table(self):
        """A `rich.table.Table`: per-video rows, then the overall rows; why a method was unavailable goes below."""
        from rich.table import Table

        missing: dict[tuple[str, str], list[str]] = {}

        def cells(s: MethodScore, where: str, still: MethodScore | None) -> list[str]:
            if s.unavailable is not None:
                missing.setdefault((s.method, s.unavailable), []).append(where)
                return [s.method, "n/a", "", "", "", "", "", "", "", ""]
            off = f"{s.offset:+.1f}" if math.isfinite(s.offset) else "–"
            # How far above a mouth that never moves: the `still` control on the same frames.
            gain = f"{s.pearson - still.pearson:+.3f}" if still is not None and s is not still \
                and still.unavailable is None and math.isfinite(s.pearson - still.pearson) else ""
            return [s.method, str(s.frames), _pct(s.face_found), _f(s.pearson), gain, _f(s.lmd), off, _f(s.jitter, 4),
                    _sync_off(s.sync_offset), _f(s.sync_conf)]

        t = Table(title="Lip-sync evaluation")
        for col in ("video", "method", "frames", "face", "corr ↑", "− still", "LMD ↓", "offset", "jitter",
                    "sync off", "sync conf ↑"):
            t.add_column(col, justify="left" if col in ("video", "method") else "right")
        for v in self.videos:
            t.add_row(v.path.name, "real", str(v.frames), _pct(v.face_found), "", "", "", "", _f(v.real_jitter, 4),
                      _sync_off(v.sync_offset), _f(v.sync_conf))
            for s in v.methods.values():
                t.add_row("", *cells(s, v.path.name, v.methods.get("still")))
            t.add_section()
        if len(self.videos) > 1:
            t.add_row("overall", "real", str(sum(v.frames for v in self.videos)), "", "", "", "", "",
                      _f(self.real_jitter(), 4), "",
                      _f(_weighted([v.sync_conf for v in self.videos], [v.frames for v in self.videos])))
            overall = self.overall()
            for s in overall.values():
                if s.unavailable is None:
                    t.add_row("", *cells(s, "all videos", overall.get("still")))
        notes = [f"{m} unavailable on {', '.join(w)}: {why}" for (m, why), w in missing.items()]
        t.caption = "\n".join([*notes, LEGEND, AI_NOTE])
        t.caption_justify = "left"
        return t

    def table(self, width: int = 120) -> str:
        """The report as plain text (see `rich_table`)."""
        from rich.console import Console

        buf = io.StringIO()
        Console(file=buf, width=width, color_system=None).print(self.rich_table())
        return buf.getvalue()


def _json_num(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, Path):
        return str(v)
    return v


def _weighted(values: Sequence[float], weights: Sequence[float]) -> float:
    v, w = np.asarray(values, np.float64), np.asarray(weights, np.float64)
    ok = np.isfinite(v) & (w > 0)
    return float((v[ok] * w[ok]).sum() / w[ok].sum()) if ok.any() else math.nan


def _f(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}" if math.isfinite(x) else "–"


def _sync_off(x: float) -> str:
    return f"{x:+.1f}" if math.isfinite(x) else "–"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%" if math.isfinite(x) else "–"


# -- scoring two landmark sequences ------------------------------------------

def score(real: np.ndarray, generated: np.ndarray, method: str = "", max_lag: int = MAX_LAG) -> MethodScore:
    """Score a generated landmark sequence against the real one, both (frames, 478, 2) pixels, NaN = no face.

    Both are aligned onto the first real frame with a face, made canonical
    (IOD = 1), by a similarity fitted on `metrics.STABLE`; frames missing in
    either sequence drop out of the comparisons (jitter, which compares the
    generated video only with itself, uses all its frames with a face).
    """
    real, generated = np.asarray(real, np.float64), np.asarray(generated, np.float64)
    n = min(real.shape[0], generated.shape[0])
    real, generated = real[:n, :, :2], generated[:n, :, :2]
    found_r, found_g = M.valid_frames(real), M.valid_frames(generated)
    both = found_r & found_g
    out = MethodScore(method, frames=int(both.sum()), face_found=float(found_g.mean()) if n else math.nan)
    if not both.any():
        return out
    ref = M.canonical(real[np.flatnonzero(found_r)[0]])
    ar, ag = M.align_sequence(real, ref), M.align_sequence(generated, ref)
    out.jitter = M.jitter(ag)  # the generated video's own smoothness, on all its frames with a face
    ag[~both] = np.nan
    ar[~both] = np.nan
    open_r, open_g = M.mouth_opening(real), M.mouth_opening(generated)
    open_r[~both] = np.nan
    open_g[~both] = np.nan
    off = M.av_offset(open_g, open_r, max_lag)
    out.xcorr = [float(v) for v in M.cross_correlation(open_g, open_r, max_lag)]
    out.pearson = M.pearson(open_g, open_r)
    out.lmd = M.lmd(ag, ar)
    out.offset = float(off.lag) if off.lag is not None else math.nan
    out.offset_corr = off.correlation
    return out


def real_jitter(real: np.ndarray) -> float:
    """Lip jitter of a real sequence (fraction of IOD per frame²), aligned like `score` aligns it."""
    real = np.asarray(real, np.float64)[..., :2]
    found = M.valid_frames(real)
    if not found.any():
        return math.nan
    return M.jitter(M.align_sequence(real, M.canonical(real[np.flatnonzero(found)[0]])))


# -- generating --------------------------------------------------------------

def reanimate(rig: FaceRig, track: MotionTrack, progress: Callable[[int], None] | None = None,
              mouths: list | None = None) -> np.ndarray:
    """Render `track` on `rig` with the warp renderer and measure each full frame: (frames, 478, 2), NaN = no face."""
    from ..face.detect import try_detect_landmarks
    from ..render.base import make_renderer

    bound = make_renderer("warp").bind(rig)
    canvas = rig.image.copy()
    forget_tracked_face()
    out = np.full((len(track), 478, 2), np.nan)
    for i in range(len(track)):
        f = bound.render_frame(track.frame(i), track.frame_shape(i))
        x0, y0, x1, y1 = f.box
        canvas[y0:y1, x0:x1] = f.rgb
        pts = try_detect_landmarks(canvas)
        if pts is not None:
            out[i] = pts[:, :2]
        if mouths is not None:   # mouth crops for the sync judge
            mouths.append(mouth_or_blank(canvas, pts))
        if progress:
            progress(i + 1)
    return out


class PhonemeMethod:
    """The `phoneme` method: a transcript spoken by `voice`, its phone times moved onto the real audio.

    The synthetic and the real audio are aligned by DTW on mean- and
    variance-normalised log-mel frames (20 ms); each phone and word boundary
    is carried through the DTW path to real time, and `PhonemeMotion`
    animates those times. It measures the phoneme path given a correct
    transcript; the voice is only a timing reference. Piper voices add
    random variation, so scores move by a few hundredths between runs.
    """

    def __init__(self, voice: str = "en-us-joe"):
        from ..speech.voice import get_voice

        self.voice = get_voice(voice)
        self._engine = None

    def track(self, clip: Clip, text: str) -> MotionTrack:
        """The `MotionTrack` of `clip.frames` frames for `text` aligned to `clip.audio`."""
        from ..motion.animate import PhonemeMotion
        from ..speech.align import align
        from ..speech.utterance import Phone, Utterance, Word

        aligned = align(clip.audio, SAMPLE_RATE, text, self.voice, open_end=clip.truncated)
        # PhonemeMotion wants a whole number of samples per frame at an integer rate: run it on a
        # clock where frame k starts at k / round(fps) (a ~0.1% stretch for 29.97 fps), 1000 samples a frame.
        fps_int = max(1, round(clip.fps))
        spf = 1000

        def to_v(sample: int) -> int:
            return round(sample / SAMPLE_RATE * clip.fps * spf)

        phones = [Phone(p.symbol, to_v(p.start), to_v(p.end)) for p in aligned.phones if to_v(p.end) > to_v(p.start)]
        words = [Word(w.text, to_v(w.start), max(to_v(w.start), to_v(w.end)), w.index, w.emphasis)
                 for w in aligned.words]
        n = clip.frames
        utt = Utterance(np.zeros(n * spf, np.float32), fps_int * spf, phones, words, text)
        return PhonemeMotion().animate(utt, fps=fps_int, start_frame=0)


class WordsMethod:
    """The `words` method: `learned` motion with closures, rounding and lip-to-teeth from aligned phonemes."""

    def __init__(self, heard, spoken: PhonemeMethod):
        self.heard, self.spoken = heard, spoken

    def track(self, clip: Clip, text: str) -> MotionTrack:
        from ..motion.fuse import fuse_words
        from ..motion.track import MotionTrack as Track

        heard = self.heard.animate_audio(clip.audio, SAMPLE_RATE, fps=clip.fps, frames=clip.frames)
        spoken = self.spoken.track(clip, text)   # the same frames, on the nearest whole frame rate
        return fuse_words(heard, Track(heard.fps, heard.start, spoken.values))


def load_methods(methods: Sequence[str], model_path: str | Path | None = None,
                 voice: str = "en-us-joe") -> dict[str, object]:
    """The motion model of each requested method, or a string saying why it is unavailable.

    An explicit `model_path` that cannot be loaded is an error (the user
    asked for it); missing shipped weights only make `learned` unavailable.
    """
    from ..models.audio2motion import ModelError
    from ..motion.audio import AudioMotion

    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    from ..models.audio2motion import MODELS

    # `learned:<name>` scores a shipped model by name (`MODELS`: v1, v2, v3) beside `learned`.
    named = {f"learned:{k}": k for k in MODELS}
    unknown = [m for m in methods if m not in METHODS and m not in named]
    if unknown:
        raise EvalError(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(METHODS + tuple(named))}")
    if not methods:
        raise EvalError(f"no methods given; known: {', '.join(METHODS)}")
    out: dict[str, object] = {}
    for m in dict.fromkeys(methods):
        if m in ("loudness", "still"):
            out[m] = AudioMotion(m)
        elif m in named:
            try:
                out[m] = AudioMotion("learned", model_path=named[m])
            except ModelError as e:
                out[m] = f"no trained model ({e})"
        elif m in ("learned", "words"):
            if "learned" not in out or isinstance(out["learned"], str):
                try:
                    learned: object = AudioMotion("learned", model_path=str(model_path) if model_path else None)
                except ModelError as e:
                    if model_path:
                        raise
                    learned = f"no trained model ({e})"
            else:
                learned = out["learned"]
            out[m] = learned if m == "learned" or isinstance(learned, str) else WordsMethod(learned, PhonemeMethod(voice))
        elif m == "phoneme":
            out[m] = PhonemeMethod(voice)
        else:
            out[m] = m
    return out


def transcript_for(path: Path, transcripts: Mapping[str, str] | None = None) -> str | None:
    """The transcript of a video: `transcripts[str(path)]` or `[path.name]`, else the side file `<stem>.txt`."""
    if transcripts:
        for key in (str(path), path.name):
            if key in transcripts:
                return transcripts[key]
    side = path.with_suffix(".txt")
    if side.is_file():
        text = side.read_text(encoding="utf-8").strip()
        return text or None
    return None


def evaluate_video(path: str | Path, methods: Sequence[str] = DEFAULT_METHODS, model_path: str | Path | None = None,
                   max_seconds: float = 60.0, progress: Callable[[EvalProgress], None] | None = None, *,
                   transcript: str | None = None, voice: str = "en-us-joe") -> VideoReport:
    """Score each method on one video (its first `max_seconds` seconds); see the module docstring.

    `transcript` (default: the side file `<stem>.txt`) enables `phoneme`,
    spoken by `voice`. Raises `EvalError` when the video cannot be read or
    has no usable face in its first frame; a method that cannot run on this
    video is reported as unavailable instead.
    """
    path = Path(path)
    text = transcript if transcript is not None else transcript_for(path)
    return _evaluate_video(path, load_methods(methods, model_path, voice), max_seconds, progress, text)


def evaluate(paths: Sequence[str | Path], methods: Sequence[str] = DEFAULT_METHODS,
             model_path: str | Path | None = None, max_seconds: float = 60.0,
             progress: Callable[[EvalProgress], None] | None = None, *,
             transcripts: Mapping[str, str] | None = None, voice: str = "en-us-joe") -> Report:
    """Score every video (see `evaluate_video`); models load once for all of them.

    `transcripts` maps a video's path or file name to its transcript; videos
    not in it use their side file `<stem>.txt` if there is one.
    """
    models = load_methods(methods, model_path, voice)
    return Report([_evaluate_video(Path(p), models, max_seconds, progress, transcript_for(Path(p), transcripts))
                   for p in paths])


def _evaluate_video(path: Path, models: dict[str, object], max_seconds: float,
                    progress: Callable[[EvalProgress], None] | None, text: str | None) -> VideoReport:
    from ..face.rig import rig_from_image

    rigs = []

    def build_rig(first: np.ndarray) -> None:
        try:
            rigs.append(rig_from_image(first, source="first frame"))
        except FaceError as e:
            reason = str(e).removeprefix("first frame: ")
            raise EvalError(f"{path}: no usable face in the first frame ({reason})") from None

    judged = sync.available()
    clip = read_clip(path, max_seconds, progress=progress, on_first=build_rig, keep_mouths=judged)
    rig = rigs[0]
    n = clip.frames
    report = VideoReport(path, clip.fps, n, float(M.valid_frames(clip.real).mean()), real_jitter(clip.real))
    if judged:
        v = sync.judge(clip.mouths, clip.audio, clip.fps)
        report.sync_offset, report.sync_conf = float(v.offset_frames), v.confidence
    if text:
        report.transcript, report.transcript_source = text, "side file"
    elif any(isinstance(m, (PhonemeMethod, WordsMethod)) for m in models.values()):
        from ..speech.whisper import get_whisper

        heard = get_whisper().transcribe([clip.audio])
        if heard.words:
            text = report.transcript = heard.text
            report.transcript_source = "whisper"
    for name, model in models.items():
        def tick(i, name=name):
            if progress:
                progress(EvalProgress(path, name, i, n))

        mouths: list | None = [] if judged else None
        if isinstance(model, str) and name != "shuffled":
            report.methods[name] = MethodScore(name, unavailable=model)
            continue
        if name == "shuffled":
            gen = M.block_shuffle(clip.real, max(1, round(clip.fps)), seed=0)
        elif isinstance(model, (PhonemeMethod, WordsMethod)):
            if not text:
                report.methods[name] = MethodScore(name, unavailable="no words: no side file and Whisper heard none")
                continue
            gen = reanimate(rig, model.track(clip, text), tick, mouths)
        else:
            gen = reanimate(rig, model.animate_audio(clip.audio, SAMPLE_RATE, fps=clip.fps, frames=n), tick, mouths)
        report.methods[name] = score(clip.real, gen, name)
        if mouths:
            v = sync.judge(np.stack(mouths), clip.audio, clip.fps)
            report.methods[name].sync_offset, report.methods[name].sync_conf = float(v.offset_frames), v.confidence
    return report
