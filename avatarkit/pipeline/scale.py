"""Rendering on a Ray cluster: one task per part (a scene or a card) of every language, no shared disk needed.

The driver (this process) plans each language and makes its speech, which
is cheap and fixes every part's timing; the parts are then drawn as Ray
tasks, in any order and on any machine, each into its own video segment
(`Pipeline.draw`). As a language's last part lands, the driver blends its
transitions, encodes its soundtrack and joins the segments without
re-encoding them (`Pipeline.finish`), which gives the same video as a
render in one process. Finished parts are kept in the language's work
folder, so a driver that dies resumes from them.

The script's folder travels to the tasks as a zip through Ray's object
store and the segments come back the same way: `ray_address="auto"` joins
a running cluster (`ray start --head` on one machine, `ray start
--address=HEAD:6379` on the others), None starts a local Ray instance.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from ..errors import AvatarkitError
from ..speech.utterance import read_speech, speech_bytes
from .parts import Part, PartResult, frames_bytes, read_frames

MAX_BUNDLE_MB = 512
_WORKER_CACHE: dict[tuple, tuple] = {}      # per worker process: (bundle, language, options) -> (pipeline, job, folder)
_REAPER: subprocess.Popen | None = None     # per worker process: what started its reaper, and the pipe to it
# The reaper reads folder names until the worker's end of the pipe closes (the worker ended, however it
# ended), then removes them. It is started by a launcher that exits at once, so it is not the worker's child:
# Ray kills a worker's children as the worker exits, and kills workers, whose atexit handlers never run.
_REAP = ("import shutil, sys\n"
         "folders = [line.rstrip('\\n') for line in sys.stdin]\n"
         "for f in folders: shutil.rmtree(f, ignore_errors=True)\n")
_LAUNCH = ("import subprocess, sys\n"
           "subprocess.Popen([sys.executable, '-I', '-S', '-c', sys.argv[1]], stdin=sys.stdin, stdout=subprocess.DEVNULL,"
           " stderr=subprocess.DEVNULL, start_new_session=True)\n")


def _bundle(folder: Path) -> bytes:
    """The script's folder as zip bytes (files only, relative names); refuse folders that are too big to ship."""
    buf = io.BytesIO()
    total = 0
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file() and not p.is_symlink() and not any(x.endswith((".renders", ".parts")) for x in p.parts):
                total += p.stat().st_size
                if total > MAX_BUNDLE_MB * 2**20:
                    raise AvatarkitError(f"{folder}: more than {MAX_BUNDLE_MB} MB to send to the cluster; "
                                         "keep the script's folder to what it uses")
                z.write(p, p.relative_to(folder).as_posix())
    return buf.getvalue()


def _job_folder() -> Path:
    """A new temporary folder for a worker's unpacked bundle, removed when the worker ends, however it ends.

    Ray ends a worker by killing it, so the worker hands each folder over a
    pipe to a small process (one per worker, not its child and in a session
    of its own, so that Ray's clean-up of the worker spares it); when the
    pipe closes, the reaper removes them. A worker moving on to another
    bundle or language removes its folder itself.
    """
    global _REAPER
    folder = Path(tempfile.mkdtemp(prefix="avatarkit-ray-"))
    for fresh in (_REAPER is None, True):
        try:
            if fresh:
                _REAPER = subprocess.Popen([sys.executable, "-I", "-S", "-c", _LAUNCH, _REAP], stdin=subprocess.PIPE,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
                _REAPER.wait(30)
            _REAPER.stdin.write(f"{folder}\n")
            _REAPER.stdin.flush()
            break
        except (OSError, subprocess.SubprocessError):
            continue    # a reaper that is gone is started again once; without one, the folder goes when the worker moves on
    return folder


def _worker_job(bundle: bytes, bundle_id: str, script_name: str, language: str, options: dict):
    """The pipeline and planned job of one language in this worker, unpacked and planned once per process."""
    from ..localize.apply import load_language
    from .core import Pipeline

    key = (bundle_id, script_name, language, tuple(sorted((k, repr(v)) for k, v in options.items())))
    if key not in _WORKER_CACHE:
        # One language at a time: a worker's memory and disk stay those of one render.
        for _, _, old in _WORKER_CACHE.values():
            shutil.rmtree(old, ignore_errors=True)
        _WORKER_CACHE.clear()
        folder = _job_folder()
        root = folder / "job"
        try:
            with zipfile.ZipFile(io.BytesIO(bundle)) as z:
                z.extractall(root)      # our own bundle: names were made relative by _bundle
            script = load_language(root / script_name, language, options)
            pipe = Pipeline(renderer=options.get("renderer"))
            job = pipe.prepare(script, root / "out", brand=root / options["brand"] if options.get("brand") else None,
                               work=False)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        _WORKER_CACHE[key] = (pipe, job, folder)
    pipe, job, _ = _WORKER_CACHE[key]
    return pipe, job


def _draw_part(bundle: bytes, bundle_id: str, script_name: str, language: str, options: dict, spec: dict,
               speech: bytes) -> dict:
    """Ray task: draw one part of one language from its speech; return its segment and frames as bytes."""
    pipe, job = _worker_job(bundle, bundle_id, script_name, language, options)
    part = Part(**spec, utterances=read_speech(speech)[0])
    if part.first + part.count > len(job.items):
        raise AvatarkitError(f"part {part.index}: the worker planned {len(job.items)} items, the driver more")
    with tempfile.TemporaryDirectory(prefix="avatarkit-part-") as tmp:
        result, frames = pipe.draw(job, part, Path(tmp) / "part.mp4")
        segment = result.segment.read_bytes() if result.segment else None
    return {"segment": segment, "frames": frames_bytes(frames), "count": result.frames, "timings": result.timings}


def render_on_ray(script_path: Path, languages: list[str], out_dir: Path, options: dict,
                  ray_address: str | None = None, on_done: Callable[[str, object], None] | None = None,
                  on_part: Callable[[str, int, int, float], None] | None = None) -> dict:
    """Render `languages` of `script_path` into `out_dir`, every part of every language a Ray task.

    `options` are `render_course`'s settings (resolution, captions,
    renderer, brand as a path relative to the script's folder). Returns
    the `RenderResult`s by language; `on_done(language, result)` runs as
    each language is joined, `on_part(language, phrases done, phrases,
    seconds of video done)` as each part lands.
    """
    try:
        import ray
    except ImportError:
        raise AvatarkitError("the ray executor needs the ray package (pip install 'avatarkit[ray]')") from None
    from ..localize.apply import load_language
    from .core import Pipeline

    if not ray.is_initialized():
        ray.init(address=ray_address, include_dashboard=False, log_to_driver=False)
    task = ray.remote(num_cpus=1, max_retries=3)(_draw_part)
    data = _bundle(script_path.parent)
    bundle, bundle_id = ray.put(data), hashlib.sha256(data).hexdigest()
    brand = script_path.parent / options["brand"] if options.get("brand") else None
    pending: dict = {}                  # task -> (language, part, phrases in it)
    langs: dict[str, _Language] = {}
    out: dict = {}

    for lang in languages:
        # Speech is made here, language after language; each part is sent as soon as its speech exists.
        pipe = Pipeline(renderer=options.get("renderer"))
        job = pipe.prepare(load_language(script_path, lang, options), out_dir, brand=brand)
        state = langs[lang] = _Language(pipe, job, sum(it.counted for it in job.items))
        for part in pipe.speak(job):
            counted = sum(it.counted for it in job.items[part.first:part.first + part.count])
            if job.work.load_result(part.index) is None:
                ref = task.remote(bundle, bundle_id, script_path.name, lang, options, part.spec(),
                                  speech_bytes(part.utterances, {}))
                pending[ref] = (lang, part.index, counted)
            else:
                state.arrived[part.index] = None
                state.done += counted
            part.utterances = None
        if state.advance():
            out[lang] = state.land(on_done, lang)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        lang, k, counted = pending.pop(ready[0])
        state = langs[lang]
        state.arrived[k] = ray.get(ready[0])
        state.done += counted
        part = state.job.parts[k]
        state.video_s = max(state.video_s, (part.start + part.frames) / state.job.script.fps)
        if on_part:
            on_part(lang, state.done, state.total, state.video_s)
        if state.advance():
            out[lang] = state.land(on_done, lang)
    return {lang: out[lang] for lang in languages}


class _Language:
    """The driver's view of one language: parts landed from the cluster, kept in order as their turn comes."""

    def __init__(self, pipe, job, total: int):
        self.pipe, self.job, self.total = pipe, job, total
        self.arrived: dict[int, dict | None] = {}      # part -> the task's reply (None: kept by an earlier run)
        self.next = 0
        self.before = None                             # the last frame shown of part `next - 1`
        self.done = 0
        self.video_s = 0.0

    def advance(self) -> bool:
        """Keep every landed part whose turn has come (its transition needs the part before); True when all are."""
        job = self.job
        while self.next in self.arrived:
            k = self.next
            reply = self.arrived.pop(k)
            if reply is None:
                self.before = job.work.load_frames(k).last
            else:
                result = PartResult(k, job.work.segment_path(k) if reply["segment"] else None, reply["count"],
                                    reply["timings"])
                self.before = self.pipe.keep(job, result, read_frames(reply["frames"]), self.before, reply["segment"])
            self.next += 1
        return self.next == len(job.parts)

    def land(self, on_done, lang: str):
        result = self.pipe.finish(self.job)
        self.job.work.remove()
        if on_done:
            on_done(lang, result)
        return result
