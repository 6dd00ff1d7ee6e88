"""The render pipeline: Script -> speech -> motion -> render -> compose -> MP4.

`Pipeline` composes swappable components (voices from the catalogue, a
motion model, a renderer kind) and streams the video phrase by phrase: each
phrase is synthesised, resampled to 48 kHz, loudness-normalised, padded to
whole frames, animated, rendered, composited and encoded before the next,
so memory stays flat however long the script is. The next phrase's speech
is synthesised on a second thread while the current one renders.

Time is counted in samples at 48 kHz: frame i covers samples
[i * 48000 / fps, (i + 1) * 48000 / fps).
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .audio.io import audio_info, load_audio
from .audio.music import MusicBed, MusicSettings
from .compose.brand import Brand, Card
from .compose.reveal import reveal_points
from .compose.scene import SceneCompositor
from .compose.staging import card_still, check_staging, resolve_brand, stage_scene
from .compose.transition import TransitionRun
from .errors import AvatarkitError, RenderError
from .face.rig import load_avatar
from .files import atomic_path, write_text_atomic
from .media.captions import AI_CUE, Cue, phrase_cues, to_srt, to_vtt
from .media.writer import VideoWriter
from .motion.animate import PhonemeMotion
from .motion.audio import AudioMotion
from .render.base import make_renderer
from .script.model import Phrase, Scene, Script, Transition
from .script.parse import load_script
from .speech.align import MAX_SECONDS as MAX_ALIGN_S
from .speech.align import align
from .speech.engines.base import make_engine
from .speech.loudness import LoudnessNormalizer
from .speech.utterance import Token, Utterance, Word
from .speech.voice import Voice, get_voice

SAMPLE_RATE = 48_000
LEAD_IN_MS = 500        # silence before the first word (the AI-generated caption shows here)
SEGMENT_GAP_MS = 250
SCENE_GAP_MS = 400
TAIL_MS = 700
STAGES = ("speech", "motion", "render", "compose", "encode")


@dataclass
class RenderResult:
    """Files written by a render, its length and where the compute time went (seconds)."""

    video: Path
    vtt: Path
    srt: Path
    thumbnail: Path
    frames: int
    fps: int
    timings: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    scenes: list[tuple[str, int, int]] = field(default_factory=list)  # (id, first frame, end frame)

    @property
    def duration(self) -> float:
        return self.frames / self.fps


@dataclass(frozen=True)
class ProgressEvent:
    """Sent after each phrase: phrases done of `total`, and seconds of video written."""

    done: int
    total: int
    video_s: float


@dataclass
class _Item:
    scene: int                  # index into script.scenes; -1 for a brand card
    voice: str
    phrase: Phrase
    pad_ms: int
    audio: Path | None = None   # a recording spoken instead of synthesised text
    card: Card | None = None    # an intro or outro card instead of the presenter
    counted: bool = True        # a phrase of the script (progress counts these)
    k: int = -1                 # the phrase's index within its scene


def recorded_utterance(path: Path, phrase: Phrase, voice: Voice | None = None,
                       sample_rate: int = SAMPLE_RATE) -> Utterance:
    """A user's recording as an `Utterance` at `sample_rate` Hz, loudness-normalised.

    When the segment gave text (its captions) and a `voice`, the words are
    timed by aligning the text, spoken by that voice, to the recording
    (`speech.align`); otherwise they are spread over the voiced part in
    proportion to their length.
    """
    audio = LoudnessNormalizer(sample_rate)(load_audio(path, sample_rate))
    if phrase.words and voice is not None and audio.size <= MAX_ALIGN_S * sample_rate:
        text = phrase.text
        return align(audio, sample_rate, text, voice)
    level = np.abs(audio)
    loud = np.flatnonzero(level > 10 ** (-40 / 20) * max(level.max(), 1e-9))
    a, b = (int(loud[0]), int(loud[-1]) + 1) if loud.size else (0, audio.size)
    lengths = np.array([len(m.text) + 1 for m in phrase.words], np.float64)
    edges = a + np.concatenate([[0], np.cumsum(lengths)]) / max(lengths.sum(), 1) * (b - a)
    words = [Word(m.text, int(edges[i]), int(edges[i + 1]), i, m.emphasis) for i, m in enumerate(phrase.words)]
    return Utterance(audio, sample_rate, words=words, text=phrase.text)


def tokens_for(phrase: Phrase, script: Script, language: str) -> list[Token]:
    """The phrase's words as `Token`s, with the script's lexicon applied for `language`."""
    out = []
    for m in phrase.words:
        entry = script.lexicon.lookup(m.text, language)
        if entry is None:
            out.append(Token(m.text, emphasis=m.emphasis))
            continue
        core = m.text.rstrip(".,;:!?\"')…")
        tail = m.text[len(core):]
        out.append(Token(m.text, say=(entry.say + tail) if entry.say else None,
                         ipa=entry.ipa, emphasis=m.emphasis))
    return out


def _memory_trimmer() -> Callable[[], None]:
    """A function that hands freed heap memory back to the OS (glibc), or does nothing.

    Per-frame buffers of varying size fragment glibc's heap, and without a
    trim the resident size creeps up over a long render. Trimming once per
    phrase (every few seconds of video) keeps it flat at no measurable cost,
    unlike forcing every large buffer through mmap, which slowed rendering 2x.
    """
    import ctypes
    import sys

    if sys.platform.startswith("linux"):
        try:
            trim = ctypes.CDLL("libc.so.6").malloc_trim
            return lambda: trim(0)
        except (OSError, AttributeError):  # not glibc
            pass
    return lambda: None


class Pipeline:
    """Script-to-video pipeline; `renderer` is a renderer kind, `motion` a motion model."""

    def __init__(self, renderer: str = "warp", motion=None, voices_dir: list[str | Path] | None = None,
                 preset: str = "veryfast", crf: int = 21):
        self.renderer = make_renderer(renderer)
        self._renderers = {renderer: self.renderer}
        self.motion = motion or PhonemeMotion()
        self.audio_motion: AudioMotion | None = None   # loaded when a script has recordings
        self.voices_dir = voices_dir
        self.preset, self.crf = preset, crf
        self._engines: dict[str, object] = {}

    def _engine(self, voice: Voice):
        if voice.id not in self._engines:
            self._engines[voice.id] = make_engine(voice)
        return self._engines[voice.id]

    def _plan(self, script: Script, brand: Brand) -> list[_Item]:
        items: list[_Item] = []
        first_voice = script.scenes[0].segments[0].voice
        if brand.intro:
            items.append(_Item(-1, first_voice, Phrase(()), brand.intro.ms, card=brand.intro, counted=False))
        for si, scene in enumerate(script.scenes):
            voice = scene.segments[0].voice
            tr = scene.transition or brand.transition
            lead = LEAD_IN_MS if si == 0 else 0
            if tr is not None and tr.kind != "cut" and (si > 0 or brand.intro):
                lead = max(lead, tr.ms)
            if lead:
                # Silence with idle motion: before the first word, and while a transition plays.
                items.append(_Item(si, voice, Phrase(()), lead, counted=False))
            k = 0
            for seg in scene.segments:
                for j, ph in enumerate(seg.phrases):
                    gap = SEGMENT_GAP_MS if j == len(seg.phrases) - 1 else 0
                    items.append(_Item(si, seg.voice, ph, ph.pause_ms + gap, seg.audio, k=k))
                    k += 1
            items[-1].pad_ms += SCENE_GAP_MS if si < len(script.scenes) - 1 else TAIL_MS
        if brand.outro:
            items.append(_Item(-1, first_voice, Phrase(()), brand.outro.ms, card=brand.outro, counted=False))
        return items

    def render(self, script: Script | str | Path, out_dir: str | Path = "out", *,
               name: str | None = None, progress: Callable[[ProgressEvent], None] | None = None,
               brand: Brand | str | Path | None = None) -> RenderResult:
        """Render `script` into `out_dir` as `<name>.<language>.mp4` with .vtt, .srt and .jpg.

        `brand` (a `Brand` or a brand kit file) overrides the script's `brand:`.
        """
        if not isinstance(script, Script):
            script = load_script(script)
        fps = script.fps
        if SAMPLE_RATE % fps:
            raise RenderError(f"fps {fps} must divide {SAMPLE_RATE}")
        spf = SAMPLE_RATE // fps
        out_dir = Path(out_dir)
        stem = f"{name or script.name}.{script.language}"
        paths = {ext: out_dir / f"{stem}.{ext}" for ext in ("mp4", "vtt", "srt", "jpg")}

        trim_memory = _memory_trimmer()
        # Resolve everything that can fail on bad input before any output exists.
        kit = resolve_brand(script, brand)
        check_staging(script)
        items = self._plan(script, kit)
        voices = {ref: get_voice(ref, self.voices_dir) for ref in {it.voice for it in items}}
        for v in voices.values():
            self._engine(v)
        for it in items:
            if it.audio:
                audio_info(it.audio)
                if self.audio_motion is None:
                    self.audio_motion = AudioMotion()
        rigs = {sc.avatar: _scene_rig(sc.avatar) for sc in script.scenes}
        for sc in script.scenes:
            if (sc.renderer or self.renderer.kind) == "diffusion":
                from .render.diffusion import check_trained

                check_trained(sc.avatar)
            if sc.renderer and sc.renderer not in self._renderers:
                self._renderers[sc.renderer] = make_renderer(sc.renderer)

        timings = {s: 0.0 for s in STAGES}
        normalizers: dict[str, LoudnessNormalizer] = {}
        cues: list[Cue] = []
        thumb: np.ndarray | None = None
        scene_spans: list[tuple[str, int, int]] = []
        wall0 = time.perf_counter()
        reveals = {si: {} for si in range(len(script.scenes))}   # scene -> phrase k -> [(word, bullet)]
        for si, sc in enumerate(script.scenes):
            phrases = [ph for seg in sc.segments for ph in seg.phrases]
            for b, (k, w) in enumerate(reveal_points(sc.bullets, phrases)):
                reveals[si].setdefault(k, []).append((w, b))
        music = MusicBed(MusicSettings(kit.music.file, kit.music.volume_db, kit.music.duck_db), SAMPLE_RATE) \
            if kit.music else None

        def synth(it: _Item) -> tuple[Utterance, float]:
            t0 = time.perf_counter()
            voice = voices[it.voice]
            if it.audio:
                utt = recorded_utterance(it.audio, it.phrase, voice)
            elif tokens := tokens_for(it.phrase, script, voice.language):
                utt = self._engine(voice).synthesize(tokens).resampled(SAMPLE_RATE)
                if voice.id not in normalizers:
                    normalizers[voice.id] = LoudnessNormalizer(SAMPLE_RATE)
                utt.audio = normalizers[voice.id](utt.audio)
            else:
                utt = Utterance(np.zeros(0, np.float32), SAMPLE_RATE)
            total = utt.num_samples + it.pad_ms * SAMPLE_RATE // 1000
            total = max(spf, -(-total // spf) * spf)
            return utt.padded(0, total - utt.num_samples), time.perf_counter() - t0

        writer = VideoWriter(paths["mp4"], script.width, script.height, fps, SAMPLE_RATE,
                             title=script.title, preset=self.preset, crf=self.crf, language=script.language)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="avatarkit-speech")
        comp: SceneCompositor | None = None
        try:
            frame = np.empty((script.height, script.width, 3), np.uint8)
            out = _Output(writer)
            fresh = True
            scene_index = None
            queue: list[tuple[_Item, Future]] = [(items[0], pool.submit(synth, items[0]))]
            next_i = 1
            sample_pos = 0
            done, total = 0, sum(it.counted for it in items)
            while queue:
                it, fut = queue.pop(0)
                if next_i < len(items):
                    queue.append((items[next_i], pool.submit(synth, items[next_i])))
                    next_i += 1
                utt, t_speech = fut.result()
                timings["speech"] += t_speech
                start_frame = sample_pos // spf
                if it.card is not None or it.scene != scene_index:
                    t0 = time.perf_counter()
                    if comp is not None:
                        comp.close()
                        comp = None
                    if it.card is None:
                        scene: Scene = script.scenes[it.scene]
                        comp = stage_scene(scene, script, rigs[scene.avatar], kit, start_frame)
                        bound = self._renderers.get(scene.renderer, self.renderer).bind(comp.rig)
                        scene_spans.append((scene.id, start_frame, start_frame))
                        tr = scene.transition or kit.transition or (Transition("crossfade") if kit.intro else None)
                    else:
                        tr = kit.transition or Transition("crossfade")
                    if out.last is not None and tr is not None and tr.kind != "cut":
                        out.transition = TransitionRun(tr.kind, out.last.copy(), tr.ms * fps // 1000)
                    timings["compose"] += time.perf_counter() - t0
                    scene_index, fresh = (None if it.card else it.scene), True
                if sample_pos == 0:   # the AI-generated caption shows before the first word
                    cues.append(Cue(0, utt.num_samples, AI_CUE))
                t0 = time.perf_counter()
                if music is not None and it is items[-1]:
                    # The length is known now: the music fades out to silence over (at most) this last chunk.
                    music.total = sample_pos + utt.num_samples
                    music.fade_out = min(music.fade_out, utt.num_samples)
                if music is not None:
                    # The next phrase's first samples (its speech is ready by now) let the music duck ahead of it.
                    ahead = queue[0][1].result()[0].audio[:SAMPLE_RATE // 10] if queue else None
                    audio = music.mix(utt.audio, ahead)
                else:
                    audio = utt.audio
                writer.write_audio(audio)
                timings["encode"] += time.perf_counter() - t0
                if it.card is not None:
                    t0 = time.perf_counter()
                    still = card_still(kit, it.card, script)
                    timings["compose"] += time.perf_counter() - t0
                    for _ in range(utt.num_samples // spf):
                        t0 = time.perf_counter()
                        out.write_frame(still)
                        timings["encode"] += time.perf_counter() - t0
                    sample_pos += utt.num_samples
                    continue
                t0 = time.perf_counter()
                motion = self.audio_motion if it.audio else self.motion
                track = motion.animate(utt, fps=fps, start_frame=start_frame, gestures=it.phrase.gestures)
                timings["motion"] += time.perf_counter() - t0
                phrase_c = phrase_cues(utt.words, sample_pos, SAMPLE_RATE)
                cues.extend(phrase_c)
                if script.captions:
                    for c in phrase_c:
                        comp.add_caption(c.text.replace("\n", " "), c.start // spf, -(-c.end // spf))
                for w, b in reveals[it.scene].get(it.k, []):
                    word = next((x for x in utt.words if x.index == w), None)
                    comp.reveal(b, (sample_pos + (word.start if word else 0)) // spf)
                mid = None
                if thumb is None and (utt.phones or it.audio):
                    # A thumbnail of someone speaking: the widest-open frame of the first phrase.
                    mid = int(np.argmax(track["jaw"]))
                grabbed: list[np.ndarray] = []

                def grab(i: int, mid=mid, grabbed=grabbed) -> None:
                    if i == mid:
                        grabbed.append(frame.copy())

                draw_track(track, bound, comp, out, frame, timings, fresh=fresh, after=grab, start=start_frame)
                fresh = False
                if grabbed:
                    thumb = grabbed[0]
                sample_pos += utt.num_samples
                trim_memory()
                sid, first, _ = scene_spans[-1]
                scene_spans[-1] = (sid, first, sample_pos // spf)
                done += it.counted
                if progress:
                    progress(ProgressEvent(done, total, sample_pos / SAMPLE_RATE))
            t0 = time.perf_counter()
            writer.close()
            timings["encode"] += time.perf_counter() - t0
        except BaseException:
            writer.abort()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            if comp is not None:
                comp.close()

        write_text_atomic(paths["vtt"], to_vtt(cues, SAMPLE_RATE, script.title))
        write_text_atomic(paths["srt"], to_srt(cues, SAMPLE_RATE))
        _save_thumbnail(paths["jpg"], thumb if thumb is not None else frame)
        return RenderResult(paths["mp4"], paths["vtt"], paths["srt"], paths["jpg"],
                            writer.frames_written, fps, timings, time.perf_counter() - wall0,
                            scene_spans)


def _scene_rig(avatar: Path):
    """The rig of a scene's avatar: a photo's, or a footage avatar's idle-loop frame."""
    if avatar.is_dir():
        from .render.diffusion import footage_rig

        return footage_rig(avatar)
    return load_avatar(avatar)


class _Output:
    """The writer seen through the running transition; remembers the last frame written."""

    def __init__(self, writer: VideoWriter):
        self.writer = writer
        self.transition: TransitionRun | None = None
        self.last: np.ndarray | None = None

    def write_frame(self, rgb: np.ndarray) -> None:
        if self.transition is not None:
            rgb = self.transition.apply(rgb)
            if self.transition.done:
                self.transition = None
        self.writer.write_frame(rgb)
        self.last = rgb


def draw_track(track, bound, comp: SceneCompositor, writer, frame: np.ndarray, timings: dict[str, float], *,
               fresh: bool, after: Callable[[int], object] | None = None, start: int | None = None) -> None:
    """Render, composite and encode every frame of `track` through the reused RGB buffer `frame`.

    `bound` is a renderer bound to `comp.rig`; `writer` has `write_frame`;
    `fresh` repaints the whole background on the first frame (a new
    scene); `start` is the track's first frame on the video's clock (for
    timed overlays). Seconds of compute are added to `timings["render"]`,
    `["compose"]` and `["encode"]`; `after(i)` runs once frame i is written.
    """
    for i in range(len(track)):
        t0 = time.perf_counter()
        av_frame = bound.render_frame(track.frame(i))
        t1 = time.perf_counter()
        comp.compose(av_frame, frame, fresh=fresh and i == 0, index=None if start is None else start + i)
        t2 = time.perf_counter()
        writer.write_frame(frame)
        t3 = time.perf_counter()
        timings["render"] += t1 - t0
        timings["compose"] += t2 - t1
        timings["encode"] += t3 - t2
        if after:
            after(i)


def _save_thumbnail(path: Path, rgb: np.ndarray) -> None:
    from PIL import Image

    from .media.writer import AI_NOTICE

    with atomic_path(path) as tmp:
        Image.fromarray(rgb).save(tmp, format="JPEG", quality=88, comment=AI_NOTICE.encode())


def render(script: Script | str | Path, out_dir: str | Path = "out", *, renderer: str = "warp",
           name: str | None = None, progress: Callable[[ProgressEvent], None] | None = None,
           voices_dir: list[str | Path] | None = None, brand: Brand | str | Path | None = None) -> RenderResult:
    """Render a script (a `Script` or a path to its YAML) to `out_dir`; see `Pipeline.render`."""
    return Pipeline(renderer=renderer, voices_dir=voices_dir).render(
        script, out_dir, name=name, progress=progress, brand=brand)


__all__ = ["AvatarkitError", "Pipeline", "ProgressEvent", "RenderResult", "render", "tokens_for"]
