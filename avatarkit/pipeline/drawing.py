"""Drawing a part: animate, render, composite and hand each frame to the part's encoder.

`draw_part` is what `Pipeline.draw` runs on this machine and what a Ray
task runs elsewhere: one part (a scene or a card) with its speech, phrase
by phrase, through the components a pipeline composes (`Components`:
renderers, motion models, encoder settings) into its own segment.
`draw_track` is the per-frame loop it shares with `lipsync`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import cv2
import numpy as np

from ..compose.reveal import reveal_points
from ..compose.scene import SceneCompositor
from ..compose.staging import card_still, stage_scene
from ..media.captions import phrase_cues
from ..render.base import make_renderer, renderer_for
from ..utils.memory import memory_trimmer
from .parts import SAMPLE_RATE, STAGES, Part, PartFrames, PartResult, PartSink


class PartJob(Protocol):
    """What drawing a part reads of the render it belongs to (`pipeline.RenderJob` is one): the script,
    the brand, the planned items (phrases and cards) and the rigs by the avatar a scene names. Named here so that
    drawing never imports the pipeline that runs it."""

    script: Any
    kit: Any
    items: list
    rigs: dict


@dataclass(frozen=True)
class Components:
    """What draws a part besides its script: renderers (the default and any a scene names), the motion models
    (from phonemes; from audio, for recordings) and the encoder's preset and CRF."""

    renderer: str | None    # the default kind; None: each avatar's own (`render.base.renderer_for`)
    renderers: dict         # kind -> renderer, for every kind the job's scenes use
    motion: Any
    audio_motion: Any
    preset: str
    crf: int


def draw_part(job: PartJob, part: Part, segment: Path, parts: Components,
              on_item: Callable[[Any, int], None] | None = None, *,
              wait: bool = True) -> tuple[PartResult, PartFrames]:
    """Animate, render, composite and encode `part` of `job` (its speech given) into the segment file `segment`.

    Returns the result (compute seconds per stage) and the raw frames the
    join needs: the head a transition blends, the last frame and a
    thumbnail candidate. `on_item(item, end)` runs after each item with
    its end on the video's clock (samples). With `wait=False` the segment
    is still being finished by its encoder thread when this returns (the
    result's `closing()` waits for it), so the next part can be staged and
    drawn meanwhile.
    """
    script, kit, fps = job.script, job.kit, job.script.fps
    spf = SAMPLE_RATE // fps
    timings = {s: 0.0 for s in STAGES if s != "speech"}
    items = job.items[part.first:part.first + part.count]
    sink = PartSink(part.head, segment, script.width, script.height, fps, parts.preset, parts.crf)
    trim_memory = memory_trimmer()
    thumb = None
    comp: SceneCompositor | None = None
    # The encoder has a thread of its own and speech another: OpenCV's pool would only fight them for the
    # two cores (measured: 10 % more CPU for the same frames), so drawing runs on one.
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        sample = part.start * spf
        if part.scene < 0:
            t0 = time.perf_counter()
            still = card_still(kit, items[0].card, script)
            timings["compose"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            for _ in range(part.frames):
                sink.write_frame(still)
            timings["encode"] += time.perf_counter() - t0
        else:
            t0 = time.perf_counter()
            scene = script.scenes[part.scene]
            # A crossfade into the scene blends its first frames with the scene before: its text waits for the end.
            hold = part.head if part.transition == "crossfade" else 0
            comp = stage_scene(scene, script, job.rigs[scene.avatar], kit, part.start, hold=hold)
            kind = renderer_for(scene.avatar, scene.renderer or parts.renderer)
            bound = (parts.renderers.get(kind) or make_renderer(kind)).bind(comp.rig)
            reveals: dict[int, list[tuple[int, int]]] = {}   # phrase k -> [(word, bullet)]
            phrases = [ph for seg in scene.segments for ph in seg.phrases]
            for b, (k, w) in enumerate(reveal_points(scene.bullets, phrases)):
                reveals.setdefault(k, []).append((w, b))
            timings["compose"] += time.perf_counter() - t0
            frame = np.empty((script.height, script.width, 3), np.uint8)
            for n, (it, utt) in enumerate(zip(items, part.utterances)):
                t0 = time.perf_counter()
                motion = parts.audio_motion if it.audio else parts.motion
                track = motion.animate(utt, fps=fps, start_frame=sample // spf, gestures=it.phrase.gestures)
                timings["motion"] += time.perf_counter() - t0
                if script.captions:
                    for c in phrase_cues(utt.words, sample, SAMPLE_RATE):
                        comp.add_caption(c.text.replace("\n", " "), c.start // spf, -(-c.end // spf))
                for w, b in reveals.get(it.k, []):
                    word = next((x for x in utt.words if x.index == w), None)
                    comp.reveal(b, (sample + (word.start if word else 0)) // spf)
                mid = None
                if thumb is None and (utt.phones or it.audio):
                    # A thumbnail of someone speaking: the widest-open frame of the first phrase.
                    mid = int(np.argmax(track["jaw"]))
                grabbed: list[np.ndarray] = []

                def grab(i: int, mid=mid, grabbed=grabbed) -> None:
                    if i == mid:
                        grabbed.append(frame.copy())

                draw_track(track, bound, comp, sink, frame, timings, fresh=n == 0, after=grab,
                           start=sample // spf)
                if grabbed:
                    thumb = grabbed[0]
                sample += utt.num_samples
                trim_memory()
                if on_item:
                    on_item(it, sample)
        t0 = time.perf_counter()
        path, head, last = sink.close(wait)
        timings["encode"] += time.perf_counter() - t0
    except BaseException:
        sink.abort()
        raise
    finally:
        cv2.setNumThreads(threads)
        if comp is not None:
            comp.close()
    closing = sink.segment.wait if not wait and sink.segment is not None else None
    front = comp.presenter_alpha() if comp is not None and head else None
    return PartResult(part.index, path, part.frames, timings, closing=closing), PartFrames(head, last, thumb, front)


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
        av_frame = bound.render_frame(track.frame(i), shape=track.frame_shape(i))
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

