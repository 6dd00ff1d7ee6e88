"""What a render job does: a course rendered in its languages and packaged, inside the job's own folder.

A job's request names files inside its folder's `input/` (the API stores
uploads there; see `tenancy`): `{"script": "input/script.yaml", "languages":
"all" | [..], "formats": ["mp4", "scorm2004", ...], "resolution": [w, h] |
null, "captions": bool | null, "brand": "input/brand.yaml" | null}`.
Renders go to `renders/` (kept between attempts) and deliverables to
`artifacts/`, each moved into place whole. The job reads every file under
its key's scope (`tenancy.job_scope`), as the API checked it at submit. The unit of resume is the language: a job that
is claimed again after its worker died re-renders only the languages
`render_course` has no finished record of; the language in progress
starts again from its first scene.

A job identical to an earlier job of the same key (the same script,
translations, files by content, voices and settings) reuses that job's
finished renditions from the key's own render cache,
`data_dir/tenants/<key id>/cache/renders/` (`tenancy.render_cache_dir`).
Nothing else ever reads or writes it: never another key's job, never the
server's `$AVATARKIT_HOME` cache. Without a data folder a job keeps no
cache at all.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import AvatarkitError
from ..script.scope import using
from .store import Job
from .tenancy import JobFolder, job_scope, render_cache_dir

MEDIA_FORMATS = ("mp4",)
# The share of a job's progress given to rendering; packaging the formats takes the rest.
RENDER_SHARE = 0.9


class JobStopped(Exception):
    """Raised inside a job when its worker must stop (lease lost or cancel requested); not an error of the job."""


class JobRequestError(AvatarkitError):
    """A job request with a missing or malformed field."""


@dataclass(frozen=True)
class JobRequest:
    """A validated render request; paths are absolute and inside the job's workdir."""

    script: Path
    languages: str | list[str]
    formats: tuple[str, ...]
    resolution: tuple[int, int] | None
    captions: bool | None
    brand: Path | None


def _inside(workdir: Path, value: object, field: str) -> Path:
    if not isinstance(value, str) or not value:
        raise JobRequestError(f"request.{field}: expected a file name inside the job's input folder")
    inputs = JobFolder(workdir).input.resolve()
    path = (workdir / value).resolve()
    if not path.is_relative_to(inputs):
        raise JobRequestError(f"request.{field}: {value!r} is outside the job's input folder")
    if not path.is_file():
        raise JobRequestError(f"request.{field}: {value!r} was not uploaded")
    return path


def parse_request(request: dict, workdir: str | Path) -> JobRequest:
    """Check a job request against its workdir; raise `JobRequestError` naming the bad field."""
    from ..export import FORMATS

    if not isinstance(request, dict):
        raise JobRequestError("request: expected an object")
    workdir = Path(workdir)
    unknown = set(request) - {"script", "languages", "formats", "resolution", "captions", "brand"}
    if unknown:
        raise JobRequestError(f"request: unknown field(s) {', '.join(sorted(unknown))}")
    script = _inside(workdir, request.get("script"), "script")
    languages = request.get("languages", "all")
    if languages != "all" and not (isinstance(languages, list) and languages and all(isinstance(x, str) for x in languages)):
        raise JobRequestError('request.languages: expected "all" or a list of language codes')
    formats = request.get("formats", ["mp4"])
    known = MEDIA_FORMATS + tuple(FORMATS)
    if not isinstance(formats, list) or not formats or any(f not in known for f in formats):
        raise JobRequestError(f"request.formats: expected a list of {', '.join(known)}, got {formats!r}")
    res = request.get("resolution")
    if res is not None:
        if not (isinstance(res, list) and len(res) == 2 and all(isinstance(x, int) and 16 <= x <= 7680 for x in res)):
            raise JobRequestError(f"request.resolution: expected [width, height] in pixels, got {res!r}")
        res = (res[0], res[1])
    captions = request.get("captions")
    if captions is not None and not isinstance(captions, bool):
        raise JobRequestError("request.captions: expected true, false or null")
    brand = request.get("brand")
    brand = _inside(workdir, brand, "brand") if brand is not None else None
    return JobRequest(script, languages, tuple(dict.fromkeys(formats)), res, captions, brand)


def run_job(job: Job, report: Callable[[float], bool], executor: str = "local",
            ray_address: str | None = None, data_dir: str | Path | None = None) -> list[str]:
    """Render and package `job`; return its artifacts (paths relative to its workdir).

    `report(progress)` (0..1) is called after every phrase rendered and
    every package written; when it returns False the job raises
    `JobStopped` at once, leaving finished languages for the next attempt.
    With `executor="ray"` the job's languages render as tasks on the Ray
    cluster at `ray_address` (progress then moves per finished language).
    `data_dir` is the service's data folder, where the key's library lives
    (None: the job reads its own uploads and the house assets only).
    """
    data_dir = Path(data_dir) if data_dir else None
    cache = render_cache_dir(data_dir, job.key_id) if data_dir is not None else False
    with using(job_scope(JobFolder(Path(job.workdir)), data_dir, job.key_id)):
        return _run(job, report, executor, ray_address, cache)


def _run(job: Job, report: Callable[[float], bool], executor: str, ray_address: str | None,
         cache: Path | bool) -> list[str]:
    from ..pipeline.course import CourseProgress, export_course, render_course

    req = parse_request(job.request, job.workdir)
    workdir = Path(job.workdir)
    folder = JobFolder(workdir)
    renders, out = folder.renders, folder.artifacts
    renders.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)

    def tick(value: float) -> None:
        if not report(min(max(value, 0.0), 1.0)):
            raise JobStopped(job.id)

    def on_render(p: CourseProgress) -> None:
        within = 1.0 if p.reused else (p.event.done / p.event.total if p.event and p.event.total else 0.0)
        tick(RENDER_SHARE * (p.index + within) / max(p.total, 1))

    tick(0.0)
    # `cache` is this key's own (or False): never the default, which is the server's home.
    results = render_course(req.script, renders, languages=req.languages, resolution=req.resolution,
                            captions=req.captions, brand=req.brand, executor=executor, ray_address=ray_address,
                            progress=on_render, cache=cache)
    artifacts: list[str] = []
    if "mp4" in req.formats:
        for r in results.values():
            for src in (r.video, r.vtt, r.srt):
                if src and Path(src).is_file():
                    artifacts.append(_publish_file(Path(src), out / Path(src).name, workdir))
    packages = [f for f in req.formats if f not in MEDIA_FORMATS]
    name = req.script.stem
    for k, fmt in enumerate(packages):
        tick(RENDER_SHARE + (1 - RENDER_SHARE) * k / len(packages))
        final = out / f"{name}.{fmt}.zip"
        tmp = out / f".{name}.{fmt}.{os.getpid()}.partial.zip"
        tmp.unlink(missing_ok=True)
        try:
            # Every language is rendered already, so this only reads the records and zips.
            export_course(req.script, tmp, format=fmt, languages=req.languages, renders=renders, brand=req.brand,
                          resolution=req.resolution, captions=req.captions, cache=cache)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        artifacts.append(final.relative_to(workdir).as_posix())
    tick(1.0)
    return artifacts


def _publish_file(src: Path, dst: Path, workdir: Path) -> str:
    """Copy `src` to `dst` through a temporary sibling, so a reader never sees half a file; return dst relative to workdir."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.partial")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst.relative_to(workdir).as_posix()
