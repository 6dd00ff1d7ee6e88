"""Rendering a course's languages on a Ray cluster: one task per language, no shared disk needed.

Each language of a course is an independent render (its own speech, its
own timing), so a task renders one language exactly as the local path does
and returns the files it wrote. The script's folder travels to the task as
a zip through Ray's object store and the outputs come back the same way,
so workers need no shared file system: `ray_address="auto"` joins a
running cluster (`ray start --head` on one machine, `ray start
--address=HEAD:6379` on the others), None starts a local Ray instance.

The unit of work is the language: cutting one language into scenes needs
the render to encode scene by scene so that joined segments equal the
single-process video (see docs/serve.md).
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from .errors import AvatarkitError

MAX_BUNDLE_MB = 512


def _bundle(folder: Path) -> bytes:
    """The script's folder as zip bytes (files only, relative names); refuse folders that are too big to ship."""
    buf = io.BytesIO()
    total = 0
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file() and not p.is_symlink() and ".renders" not in p.parts:
                total += p.stat().st_size
                if total > MAX_BUNDLE_MB * 2**20:
                    raise AvatarkitError(f"{folder}: more than {MAX_BUNDLE_MB} MB to send to the cluster; "
                                         "keep the script's folder to what it uses")
                z.write(p, p.relative_to(folder).as_posix())
    return buf.getvalue()


def _render_language(bundle: bytes, script_name: str, language: str, options: dict) -> dict:
    """Ray task: unpack the script folder, render one language, return its files' bytes and its result."""
    from .course import load_language
    from .pipeline import render

    with tempfile.TemporaryDirectory(prefix="avatarkit-ray-") as tmp:
        root = Path(tmp) / "job"
        with zipfile.ZipFile(io.BytesIO(bundle)) as z:
            z.extractall(root)      # our own bundle: names were made relative by _bundle
        script = load_language(root / script_name, language, options)
        result = render(script, Path(tmp) / "out", renderer=options.get("renderer", "warp"),
                        brand=root / options["brand"] if options.get("brand") else None)
        files = {p.name: p.read_bytes() for p in (result.video, result.vtt, result.srt, result.thumbnail)}
        return {"files": files, "frames": result.frames, "fps": result.fps, "timings": result.timings,
                "wall_s": result.wall_s, "scenes": result.scenes}


def render_languages_on_ray(script_path: Path, languages: list[str], out_dir: Path, options: dict,
                            ray_address: str | None = None,
                            on_done: Callable[[str, dict], None] | None = None) -> dict[str, dict]:
    """Render `languages` of `script_path` as Ray tasks; write each one's files into `out_dir` as it finishes.

    `options` are `render_course`'s settings (resolution, captions,
    renderer, brand as a path relative to the script's folder). Returns
    the tasks' results by language; `on_done(language, result)` runs as
    each arrives.
    """
    try:
        import ray
    except ImportError:
        raise AvatarkitError("the ray executor needs the ray package (pip install 'avatarkit[ray]')") from None
    if not ray.is_initialized():
        ray.init(address=ray_address, include_dashboard=False, log_to_driver=False,
                 **({} if ray_address else {"num_cpus": None}))
    # A fresh worker process per language: renders match a fresh single-process render, and memory is returned.
    task = ray.remote(num_cpus=1, max_retries=3, max_calls=1)(_render_language)
    bundle = ray.put(_bundle(script_path.parent))
    pending = {task.remote(bundle, script_path.name, lang, options): lang for lang in languages}
    out: dict[str, dict] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    from .files import atomic_path

    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        lang = pending.pop(ready[0])
        res = ray.get(ready[0])
        for name, data in res["files"].items():
            with atomic_path(out_dir / name) as tmp:
                tmp.write_bytes(data)
        res["paths"] = {name: out_dir / name for name in res["files"]}
        out[lang] = res
        if on_done:
            on_done(lang, res)
    return out
