"""The render pipeline: Script -> speech -> motion -> render -> compose -> MP4.

`Pipeline` composes swappable components (voices from the catalogue, a
motion model, a renderer kind) and renders a video in parts (`parts`): a
scene, or an intro or outro card. A render is three steps, which a caller
may spread over processes or machines (`scale`):

1. `prepare` checks the script and plans the items (phrases, lead-ins,
   cards) and the parts; `speak` gives each part its speech (resampled to
   48 kHz, loudness-normalised, padded to whole frames) and its place on
   the video's clock.
2. `draw` (`drawing.draw_part`) animates, renders, composites and encodes
   one part into its own segment, phrase by phrase, so memory stays flat
   however long it is.
3. `finish` joins the segments (each transition already blended by `keep`)
   and the soundtrack, encoded once, into the MP4 without re-encoding them.

`render` does all three here, with speech made ahead on a second thread
(which then encodes the soundtrack while drawing goes on) and each
segment's encoder on a thread of its own, and keeps its work folder
until the end so a killed render resumes from the last finished part.
Drawn here or on a cluster, a part encodes to the same bits, so the
video is the same.

Time is counted in samples at 48 kHz: frame i covers samples
[i * 48000 / fps, (i + 1) * 48000 / fps).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .._version import __version__
from ..audio.io import audio_info
from ..audio.music import MusicBed, MusicSettings
from ..compose.brand import Brand, Card
from ..compose.staging import check_staging, resolve_brand
from ..compose.transition import TransitionRun
from ..errors import AvatarkitError, FaceError, RenderError
from ..face.avatar import is_footage_avatar, rig_for
from ..media.captions import Cue, ai_cue, phrase_cues, to_srt, to_vtt
from ..media.provenance import Origin, check_signing, render_origin, signed_output
from ..media.segments import DEFAULT_CRF, DEFAULT_PRESET, SegmentWriter, encode_soundtrack, join_segments
from ..motion.animate import PhonemeMotion
from ..motion.audio import AudioMotion
from ..render.base import make_renderer, renderer_for
from ..script.model import Phrase, Script, Transition
from ..script.parse import load_script
from ..speech.cache import cached_synthesize
from ..speech.engines.base import make_engine
from ..speech.loudness import LoudnessNormalizer
from ..speech.phrases import check_readable, recorded_utterance, tokens_for
from ..speech.utterance import Utterance
from ..speech.voice import Voice, get_voice
from ..utils.files import write_text_atomic
from .drawing import Components, draw_part
from .parts import SAMPLE_RATE, STAGES, Part, PartFrames, PartResult, WorkDir, ahead, fingerprint

LEAD_IN_MS = 500        # silence before the first word (the AI-generated caption shows here)
SEGMENT_GAP_MS = 250
SCENE_GAP_MS = 400
TAIL_MS = 700


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


@dataclass
class RenderJob:
    """One script in one language being rendered in parts: what `Pipeline.prepare` plans and the steps fill in.

    `samples` (the soundtrack's length), `last_samples` (its last item's)
    and `cues` are known once `speak` has run over every part; `timings`
    collects compute seconds per stage.
    """

    script: Script
    kit: Brand
    items: list[_Item]
    parts: list[Part]
    voices: dict[str, Voice]
    rigs: dict
    paths: dict[str, Path]
    work: WorkDir | None
    started: float
    cues: list[Cue] = field(default_factory=list)
    samples: int = 0
    last_samples: int = 0
    timings: dict[str, float] = field(default_factory=lambda: {s: 0.0 for s in STAGES})
    # Set when the drawing side stops early (an error, a cancelled job): speech stops at its next phrase.
    halt: threading.Event = field(default_factory=threading.Event)


class Pipeline:
    """Script-to-video pipeline; `renderer` is a renderer kind, `motion` a motion model."""

    def __init__(self, renderer: str | None = None, motion=None, voices_dir: list[str | Path] | None = None,
                 preset: str = DEFAULT_PRESET, crf: int = DEFAULT_CRF):
        # None: each avatar's own kind (`render.base.renderer_for`); a scene's `renderer:` wins over both.
        self.renderer = renderer
        self._renderers = {renderer: make_renderer(renderer)} if renderer else {}
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

    def _settings(self) -> dict:
        """What besides the script and brand kit decides the pixels and samples of a render."""
        motion = getattr(self.motion, "config", None)
        return {"avatarkit": __version__, "renderer": self.renderer, "motion": type(self.motion).__name__,
                "motion_config": motion if dataclasses.is_dataclass(motion) else repr(motion),
                "preset": self.preset, "crf": self.crf, "voices_dir": [str(p) for p in self.voices_dir or []]}

    def prepare(self, script: Script | str | Path, out_dir: str | Path = "out", *, name: str | None = None,
                brand: Brand | str | Path | None = None, resume: bool = True, work: bool = True) -> RenderJob:
        """Check `script` and plan its render into `out_dir`; everything that can fail on bad input fails here.

        The job's parts have no speech yet (`speak` adds it). The work
        folder `<out_dir>/.<name>.<language>.parts/` keeps speech and
        finished parts until the render ends; with `resume`, one left by an
        unfinished render of the same inputs is reused, otherwise it is
        emptied. `work=False` plans without a work folder (a cluster task).
        """
        if not isinstance(script, Script):
            script = load_script(script)
        fps = script.fps
        if SAMPLE_RATE % fps:
            raise RenderError(f"fps {fps} must divide {SAMPLE_RATE}")
        t_start = time.perf_counter()
        out_dir = Path(out_dir)
        if name is not None:
            check_output_name(name)
        stem = f"{name or script.name}.{script.language}"
        paths = {ext: out_dir / f"{stem}.{ext}" for ext in ("mp4", "vtt", "srt", "jpg")}
        kit = resolve_brand(script, brand)
        check_staging(script)
        check_signing()     # a bad Content Credentials certificate fails here, before any work
        items = self._plan(script, kit)
        voices = {ref: get_voice(ref, self.voices_dir) for ref in {it.voice for it in items}}
        for v in voices.values():
            self._engine(v)
        check_readable(script, {seg.voice: voices.get(seg.voice) or get_voice(seg.voice, self.voices_dir)
                                for sc in script.scenes for seg in sc.segments})
        for it in items:
            if it.audio:
                audio_info(it.audio)
                if self.audio_motion is None:
                    self.audio_motion = AudioMotion()
        rigs = {}
        for i, sc in enumerate(script.scenes):
            if sc.avatar not in rigs:
                rigs[sc.avatar] = scene_rig(script, i, rig_for)
        for i, sc in enumerate(script.scenes):
            kind = renderer_for(sc.avatar, sc.renderer or self.renderer)
            if kind in ("footage", "diffusion") and not is_footage_avatar(sc.avatar):
                # A scene's own `renderer:` was checked when the script was read; this is the pipeline's.
                raise RenderError(f"scene {i + 1} ({sc.id or 'no id'}): renderer {kind!r} needs an avatar made "
                                  f"from footage, and {Path(sc.avatar).name} is a photo; leave --renderer out "
                                  f"(each avatar gets its own kind) or pick warp, bank or refined")
            if kind == "diffusion":
                from ..render.diffusion import check_trained

                check_trained(sc.avatar)
            if kind not in self._renderers:
                self._renderers[kind] = make_renderer(kind)
        folder = None
        if work:
            key = fingerprint(script, kit, sorted(voices.items()), self._settings())
            folder = WorkDir(out_dir / f".{stem}.parts", key, fresh=not resume)
        return RenderJob(script, kit, items, _split(items, script, kit), voices, rigs, paths, folder, t_start)

    def _synth(self, job: RenderJob, it: _Item, normalizers: dict[str, LoudnessNormalizer]) -> Utterance:
        """An item's speech at 48 kHz, loudness-normalised and padded (its pause, whole frames)."""
        spf = SAMPLE_RATE // job.script.fps
        voice = job.voices[it.voice]
        if it.audio:
            utt = recorded_utterance(it.audio, it.phrase, voice)
        elif tokens := tokens_for(it.phrase, job.script, voice.language):
            utt = cached_synthesize(self._engine(voice), tokens).resampled(SAMPLE_RATE)
            if voice.id not in normalizers:
                normalizers[voice.id] = LoudnessNormalizer(SAMPLE_RATE)
            utt.audio = normalizers[voice.id](utt.audio)
        else:
            utt = Utterance(np.zeros(0, np.float32), SAMPLE_RATE)
        total = utt.num_samples + it.pad_ms * SAMPLE_RATE // 1000
        total = max(spf, -(-total // spf) * spf)
        return utt.padded(0, total - utt.num_samples)

    def speak(self, job: RenderJob) -> Iterator[Part]:
        """Give each part its speech, in order, and yield it with its first frame and length known.

        Speech already in the job's work folder is loaded rather than made
        again, so a resumed render keeps the timing its finished parts were
        drawn with. Captions (`job.cues`) and `job.samples` fill in as it goes.
        """
        spf = SAMPLE_RATE // job.script.fps
        normalizers: dict[str, LoudnessNormalizer] = {}
        sample = 0
        for part in job.parts:
            t0 = time.perf_counter()
            loaded = job.work.load_speech(part.index) if job.work else None
            if loaded is not None:
                utts, gains = loaded
                for vid, g in gains.items():
                    normalizers.setdefault(vid, LoudnessNormalizer(SAMPLE_RATE)).gain = g
            else:
                utts = []
                for it in job.items[part.first:part.first + part.count]:
                    if job.halt.is_set():
                        return
                    utts.append(self._synth(job, it, normalizers))
                if job.work:
                    job.work.save_speech(part.index, utts, {k: float(n.gain) for k, n in normalizers.items()})
            job.timings["speech"] += time.perf_counter() - t0
            part.start, part.utterances = sample // spf, utts
            for it, utt in zip(job.items[part.first:part.first + part.count], utts):
                if sample == 0:   # the AI-generated caption shows before the first word
                    job.cues.append(Cue(0, utt.num_samples, ai_cue(job.script.language)))
                if it.card is None:
                    job.cues.extend(phrase_cues(utt.words, sample, SAMPLE_RATE))
                sample += utt.num_samples
                job.last_samples = utt.num_samples
            part.frames = sample // spf - part.start
            job.samples = sample
            yield part

    def draw(self, job: RenderJob, part: Part, segment: Path, on_item: Callable[[_Item, int], None] | None = None,
             *, wait: bool = True) -> tuple[PartResult, PartFrames]:
        """Animate, render, composite and encode one part (its speech given) into the segment file `segment`.

        Returns the result (compute seconds per stage) and the raw frames the
        join needs: the head a transition blends, the last frame and a
        thumbnail candidate. `on_item(item, end)` runs after each item with
        its end on the video's clock (samples). See `drawing.draw_part` (and
        there for `wait`).
        """
        return draw_part(job, part, segment, self._components(), on_item, wait=wait)

    def _components(self) -> Components:
        return Components(self.renderer, self._renderers, self.motion, self.audio_motion, self.preset, self.crf)

    def blend(self, job: RenderJob, part: Part, frames: PartFrames, before: np.ndarray | None) -> PartFrames:
        """Make the transition into `part`: blend its head with `before` (the last frame shown of the part before)
        and encode it as the segment `job.work.transition_path(part.index)`.

        Returns the part's frames to keep: its last frame as the video
        shows it (blended, if the transition covers the whole part) and its
        thumbnail candidate. Parts without a transition pass through.
        """
        if not part.head:
            return PartFrames([], frames.last, frames.thumb)
        script = job.script
        run = TransitionRun(part.transition, before, part.transition_frames, front=frames.front)
        writer = SegmentWriter(job.work.transition_path(part.index), script.width, script.height, script.fps,
                               preset=self.preset, crf=self.crf)
        try:
            for f in frames.head:
                shown = run.apply(f)
                writer.write_frame(shown)
            writer.close()
        except BaseException:
            writer.abort()
            raise
        return PartFrames([], frames.last if part.head < part.frames else shown.copy(), frames.thumb)

    def keep(self, job: RenderJob, result: PartResult, frames: PartFrames, before: np.ndarray | None,
             segment: bytes | None = None) -> np.ndarray:
        """Make the transition into a drawn part and keep the part in the work folder; return its last frame shown.

        `segment` is the part's segment as bytes when it was drawn elsewhere.
        """
        kept = self._transition(job, result, frames, before)
        self._save(job, result, kept, segment)
        return kept.last

    def _transition(self, job: RenderJob, result: PartResult, frames: PartFrames,
                    before: np.ndarray | None) -> PartFrames:
        t0 = time.perf_counter()
        kept = self.blend(job, job.parts[result.index], frames, before)
        result.transition = job.parts[result.index].head > 0
        job.timings["encode"] += time.perf_counter() - t0
        return kept

    def _save(self, job: RenderJob, result: PartResult, kept: PartFrames, segment: bytes | None = None) -> None:
        """Record a drawn part as finished, once its segment is in place (a resumed render then skips it)."""
        t0 = time.perf_counter()
        if result.closing is not None:
            result.closing()
        job.work.save_result(result, kept, segment)
        job.timings["encode"] += time.perf_counter() - t0
        for k, v in result.timings.items():
            job.timings[k] += v

    def finish(self, job: RenderJob) -> RenderResult:
        """Join the job's kept parts into `<name>.<language>.mp4` (with .vtt, .srt, .jpg) and return the result.

        Each part's transition segment and body segment are copied in
        order, and the soundtrack (speech and music) is encoded once.
        """
        script, fps = job.script, job.script.fps
        t0 = time.perf_counter()
        segments: list[Path] = []
        thumb = last = None
        for part in job.parts:
            result = job.work.load_result(part.index)
            if result is None:
                raise RenderError(f"part {part.index} of {job.paths['mp4'].name} has not been drawn")
            if result.transition:
                segments.append(job.work.transition_path(part.index))
            if result.segment is not None:
                segments.append(result.segment)
            if thumb is None or part is job.parts[-1]:
                kept = job.work.load_frames(part.index)
                thumb, last = thumb if thumb is not None else kept.thumb, kept.last
        sound = job.work.soundtrack_path()
        if not sound.is_file():   # `render` encodes it on the speech thread; a cluster's driver here
            self.encode_soundtrack(job)
        # Content Credentials: the MP4 and the thumbnail are signed into place (C2PA, `media.provenance`).
        origin = render_origin(script, job.voices.values(), [it.audio for it in job.items if it.audio])
        with signed_output(job.paths["mp4"], origin) as unsigned:
            n = join_segments(unsigned, segments, sound, fps=fps, title=script.title, language=script.language)
        job.timings["encode"] += time.perf_counter() - t0
        write_text_atomic(job.paths["vtt"], to_vtt(job.cues, SAMPLE_RATE, script.title))
        write_text_atomic(job.paths["srt"], to_srt(job.cues, SAMPLE_RATE))
        _save_thumbnail(job.paths["jpg"], thumb if thumb is not None else last, origin)
        spans = [(script.scenes[p.scene].id, p.start, p.start + p.frames) for p in job.parts if p.scene >= 0]
        p = job.paths
        return RenderResult(p["mp4"], p["vtt"], p["srt"], p["jpg"], n, fps, dict(job.timings),
                            time.perf_counter() - job.started, spans)

    def encode_soundtrack(self, job: RenderJob) -> Path:
        """Encode the job's soundtrack (every part spoken) into its work folder, for `finish` to join."""
        return encode_soundtrack(job.work.soundtrack_path(), self._soundtrack(job), sample_rate=SAMPLE_RATE)

    def _speak_ahead(self, job: RenderJob) -> Iterator[Part]:
        """`speak`, then encode the soundtrack: on the speech thread, while the parts are still being drawn."""
        yield from self.speak(job)
        if not job.halt.is_set():
            self.encode_soundtrack(job)

    def _soundtrack(self, job: RenderJob) -> Iterator[np.ndarray]:
        """The soundtrack, one chunk per item: the speech, with the brand's music ducked under it."""
        kit = job.kit
        music = MusicBed(MusicSettings(kit.music.file, kit.music.volume_db, kit.music.duck_db), SAMPLE_RATE) \
            if kit.music else None
        if music is not None:
            # The music fades out to silence over (at most) the last item.
            music.total = job.samples
            music.fade_out = min(music.fade_out, job.last_samples)

        def utterances() -> Iterator[Utterance]:
            for part in job.parts:
                yield from part.utterances if part.utterances is not None else job.work.load_speech(part.index)[0]

        speech = utterances()
        cur = next(speech, None)
        while cur is not None:
            if job.halt.is_set():    # no half soundtrack: the encoder's file is dropped, never kept
                raise RenderError("the render was stopped before its soundtrack was encoded")
            nxt = next(speech, None)
            if music is None:
                yield cur.audio
            else:
                # The next item's first samples let the music duck ahead of a word that starts right there.
                yield music.mix(cur.audio, nxt.audio[:SAMPLE_RATE // 10] if nxt is not None else None)
            cur = nxt

    def render(self, script: Script | str | Path, out_dir: str | Path = "out", *,
               name: str | None = None, progress: Callable[[ProgressEvent], None] | None = None,
               brand: Brand | str | Path | None = None, resume: bool = True) -> RenderResult:
        """Render `script` into `out_dir` as `<name>.<language>.mp4` with .vtt, .srt and .jpg.

        `brand` (a `Brand` or a brand kit file) overrides the script's
        `brand:`. Parts are drawn in order in this process while speech is
        made ahead on a second thread. If the render stops
        (killed, crashed, interrupted), running it again with `resume`
        draws only the parts that did not finish; the video is the same.
        """
        job = self.prepare(script, out_dir, name=name, brand=brand, resume=resume)
        total = sum(it.counted for it in job.items)
        done = 0
        before = None      # the last frame shown of the part before
        # The part drawn last, recorded once its encoder has finished the segment: that happens on the
        # encoder's thread while the next part is staged and drawn, so the encoder never waits for staging.
        unsaved: tuple[PartResult, PartFrames] | None = None
        try:
            for part in ahead(self._speak_ahead(job), job.halt):
                items = job.items[part.first:part.first + part.count]
                result = job.work.load_result(part.index)
                if result is None:
                    part.utterances = job.work.load_speech(part.index)[0]

                    def on_item(it: _Item, end: int) -> None:
                        nonlocal done, unsaved
                        if unsaved is not None:    # the part before's segment is long done by now
                            self._save(job, *unsaved)
                            unsaved = None
                        done += it.counted
                        if progress and it.counted:
                            progress(ProgressEvent(done, total, end / SAMPLE_RATE))

                    result, frames = self.draw(job, part, job.work.segment_path(part.index), on_item, wait=False)
                    if unsaved is not None:
                        self._save(job, *unsaved)
                    kept = self._transition(job, result, frames, before)
                    before, unsaved = kept.last, (result, kept)
                else:
                    before = job.work.load_frames(part.index).last
                    done += sum(it.counted for it in items)
                    if progress:
                        progress(ProgressEvent(done, total, (part.start + part.frames) / job.script.fps))
                part.utterances = None    # drawn: the join reads the speech back from the work folder
            if unsaved is not None:
                self._save(job, *unsaved)
                unsaved = None
        finally:
            if unsaved is not None and unsaved[0].closing is not None:
                try:    # let the last encoder finish its file before the error goes up (a rerun resumes)
                    unsaved[0].closing()
                except Exception:  # noqa: BLE001 - the error being raised matters more
                    pass
        out = self.finish(job)
        job.work.remove()
        return out


def _split(items: list[_Item], script: Script, kit: Brand) -> list[Part]:
    """Cut the plan into parts: a new part at each scene and each card, with the transition into it."""
    parts: list[Part] = []
    current = None
    for i, it in enumerate(items):
        if it.card is not None or it.scene != current or not parts:
            if it.card is None:
                scene = script.scenes[it.scene]
                tr = scene.transition or kit.transition or (Transition("crossfade") if kit.intro else None)
            else:
                tr = kit.transition or Transition("crossfade")
            kind = tr.kind if tr is not None and parts else "cut"
            parts.append(Part(len(parts), i, 0, -1 if it.card is not None else it.scene, kind,
                              tr.ms * script.fps // 1000 if kind != "cut" else 0))
            current = None if it.card is not None else it.scene
        parts[-1].count += 1
    return parts


def _save_thumbnail(path: Path, rgb: np.ndarray, origin: Origin) -> None:
    from PIL import Image

    from ..media.writer import AI_NOTICE

    with signed_output(path, origin) as tmp:
        Image.fromarray(rgb).save(tmp, format="JPEG", quality=88, comment=AI_NOTICE.encode())


def scene_rig(script: Script, index: int, load: Callable = rig_for):
    """Scene `index`'s presenter rig (`load` on its avatar: `face.avatar.rig_for` by default); a photo that
    cannot be animated (unreadable, no face, a mouth hidden or too small) is a `FaceError` naming the
    script and the scene's avatar field."""
    sc = script.scenes[index]
    try:
        return load(sc.avatar)
    except FaceError as e:
        where = f"{script.source}: " if script.source else ""
        raise FaceError(f"{where}scenes[{index}] ({sc.id}).avatar: avatar {sc.avatar.name}: "
                        f"{str(e).removeprefix(str(sc.avatar) + ': ')}") from None


def check_output_name(name: str) -> str:
    """`name` if it can be the base name of output files inside the output folder, else `RenderError`:
    no folders (`/`, `\\`), no `.`/`..`, nothing hidden (a leading `.` is the work folders' own), no
    control characters, at most 200 characters."""
    if (not name or len(name) > 200 or "/" in name or "\\" in name or name.startswith(".")
            or any(ord(c) < 32 or ord(c) == 127 for c in name)):
        raise RenderError(f"name {name!r}: the output files' base name must be a plain file name (no folders, "
                          "not starting with '.', no control characters, at most 200 characters)")
    return name


def render(script: Script | str | Path, out_dir: str | Path = "out", *, renderer: str | None = None,
           name: str | None = None, progress: Callable[[ProgressEvent], None] | None = None,
           voices_dir: list[str | Path] | None = None, brand: Brand | str | Path | None = None,
           resume: bool = True) -> RenderResult:
    """Render a script (a `Script` or a path to its YAML) to `out_dir`; see `Pipeline.render`."""
    return Pipeline(renderer=renderer, voices_dir=voices_dir).render(
        script, out_dir, name=name, progress=progress, brand=brand, resume=resume)


__all__ = ["AvatarkitError", "Pipeline", "ProgressEvent", "RenderJob", "RenderResult", "render", "tokens_for"]
