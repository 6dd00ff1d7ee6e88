"""The render service's HTTP API (FastAPI): submit scripts, follow jobs, download artifacts.

`create_app(config, store, workers)` builds the app. Every route under `/v1`
except `/v1/health` needs `Authorization: Bearer ak_...`; a key sees only
its own jobs. A submitted script is saved with its assets into a fresh job
folder and parsed with avatarkit's script parser before any job exists, so
a bad script is answered 422 with the parser's `file:line: field: message`.
Errors are JSON `{"detail": "..."}` with 400 (unsafe upload), 401 (no or
unknown key), 403 (scope), 404, 409 (idempotency conflict), 413 (too
large), 422 (invalid), 429 (rate, with `Retry-After`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from ..errors import AvatarkitError, ScriptError
from ..export.model import FORMATS as PACKAGE_FORMATS
from ..script.model import is_language_tag
from ..script.scope import using
from ..utils.files import sha256_file
from .config import ServeConfig
from .intake import LimitExceeded, check_size, check_uploads
from .keys import ApiKey, authenticate
from .limits import BodyLimitMiddleware, BodyTooLarge, RateLimited, RateLimiter, check_concurrency, concurrency_cap
from .store import StoreUnavailable, TooManyUnfinished
from .tenancy import JobFolder, job_scope, library_contents, private, public_message
from .uploads import SCRIPT_NAME, UploadError, check_webhook, extract_zip, safe_name, save_bytes, save_stream

log = logging.getLogger("avatarkit.serve")

OUTPUT_FORMATS = ("mp4",) + tuple(PACKAGE_FORMATS)
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINGERPRINT = ".request.sha256"    # in a job folder: the hash of the request that created it
MAX_DETAIL = 1000                  # characters of an error answer


# ---- response and request models -------------------------------------------------------------------

class ErrorBody(BaseModel):
    detail: str = Field(description="What was wrong, naming the field or file")


class Links(BaseModel):
    self: str
    cancel: str


class RenderCreated(BaseModel):
    id: str
    status: str
    links: Links


class Artifact(BaseModel):
    name: str = Field(description="Path relative to the job folder")
    size: int = Field(description="Bytes")
    url: str


class Render(BaseModel):
    id: str
    status: str
    progress: float = Field(description="0 to 1")
    artifacts: list[Artifact]
    error: str | None
    attempts: int
    created: str | float | None
    updated: str | float | None
    links: Links


class RenderList(BaseModel):
    items: list[Render]
    next_cursor: str | None


class VoiceInfo(BaseModel):
    id: str
    language: str
    engine: str
    gender: str = ""
    style: str = ""


class Health(BaseModel):
    status: str
    version: str
    backend: str


class RenderRequest(BaseModel):
    """The JSON form of a render request; the multipart form carries the same fields as parts."""

    model_config = ConfigDict(extra="forbid")
    script: str | dict[str, Any] = Field(description="Script YAML text, or the script as a JSON object")
    assets: dict[str, str] | None = Field(None, description="Asset file name (relative path) -> base64 content")
    languages: Literal["all"] | list[str] = "all"
    formats: list[str] = Field(default_factory=lambda: ["mp4"], description=f"Any of {', '.join(OUTPUT_FORMATS)}")
    resolution: list[int] | str | None = Field(None, description="[width, height] or 'WIDTHxHEIGHT' in pixels")
    captions: bool | None = None
    brand: str | None = Field(None, description="A brand kit file among the assets")
    webhook_url: str | None = None


ERRORS = {
    400: {"model": ErrorBody, "description": "Unsafe upload, bad parameter or webhook host not allowed"},
    401: {"model": ErrorBody, "description": "Missing, unknown or revoked API key"},
    403: {"model": ErrorBody, "description": "The key lacks the scope this route needs"},
    422: {"model": ErrorBody, "description": "Invalid request or script (file:line: field: message)"},
    429: {"model": ErrorBody, "description": "Rate limit or concurrent-job cap reached; see Retry-After"},
}
NOT_FOUND = {404: {"model": ErrorBody, "description": "No such job for this key, or no such artifact"}}

_MULTIPART_SCHEMA = {
    "type": "object",
    "required": ["script"],
    "properties": {
        "script": {"type": "string", "format": "binary", "description": "Script file (YAML or JSON)"},
        "assets": {"type": "array", "items": {"type": "string", "format": "binary"},
                   "description": "Asset files; each file name is its path relative to the script"},
        "languages": {"type": "string", "description": "'all', or a JSON list / comma-separated language tags"},
        "formats": {"type": "string", "description": "JSON list or comma-separated output formats"},
        "resolution": {"type": "string", "description": "WIDTHxHEIGHT"},
        "captions": {"type": "string", "enum": ["true", "false"]},
        "brand": {"type": "string"},
        "webhook_url": {"type": "string"},
    },
}


# ---- helpers ----------------------------------------------------------------------------------------

def _ts(v) -> str | float | None:
    return v.isoformat() if isinstance(v, datetime) else v


def _links(job_id: str) -> Links:
    return Links(self=f"/v1/renders/{job_id}", cancel=f"/v1/renders/{job_id}/cancel")


def _render(job) -> Render:
    arts = []
    work = Path(job.workdir)
    for name in job.artifacts or ():
        p = work / name
        size = p.stat().st_size if p.is_file() else 0
        arts.append(Artifact(name=name, size=size, url=f"/v1/renders/{job.id}/artifacts/{name}"))
    return Render(id=str(job.id), status=job.status, progress=float(job.progress or 0.0), artifacts=arts,
                  error=job.error, attempts=int(job.attempts or 0), created=_ts(job.created),
                  updated=_ts(job.updated), links=_links(str(job.id)))


def _options(req: RenderRequest) -> dict:
    """The job options of a request, validated; `UploadError` naming the field."""
    langs = req.languages
    if langs != "all":
        if not langs or not all(is_language_tag(x) for x in langs):
            raise UploadError("give 'all' or a list of language tags like en, de-DE", "languages")
    formats = list(dict.fromkeys(req.formats))
    if not formats or any(f not in OUTPUT_FORMATS for f in formats):
        raise UploadError(f"each format must be one of {', '.join(OUTPUT_FORMATS)}", "formats")
    res = req.resolution
    if isinstance(res, str):
        m = re.fullmatch(r"(\d{1,5})x(\d{1,5})", res.strip())
        res = [int(m.group(1)), int(m.group(2))] if m else None
        if res is None:
            raise UploadError("give WIDTHxHEIGHT like 1280x720", "resolution")
    if res is not None:
        if len(res) != 2 or any(v % 2 or not 160 <= v <= 3840 for v in res):
            raise UploadError("two even sizes between 160 and 3840 pixels", "resolution")
    brand = safe_name(req.brand, "brand") if req.brand else None
    return {"languages": langs, "formats": formats, "resolution": res, "captions": req.captions, "brand": brand}


def _split_list(raw: str | None):
    if raw is None or raw == "":
        return None
    raw = raw.strip()
    if raw == "all":
        return "all"
    if raw.startswith("["):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise UploadError("not a JSON list", "form field") from None
    return [x.strip() for x in raw.split(",") if x.strip()]


class _Submission:
    """A request's script text, asset sources and options, read from either body form."""

    def __init__(self):
        self.script_text = ""
        self.files: list[tuple[str, Any, str]] = []     # (name, bytes or a file object, field)
        self.req: RenderRequest | None = None


async def _read_submission(request: Request) -> _Submission:
    sub = _Submission()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        form = await request.form(max_files=2000, max_fields=100)
        fields: dict[str, Any] = {}
        for i, (k, v) in enumerate(form.multi_items()):
            if k == "assets":
                if not isinstance(v, UploadFile):
                    raise UploadError("each asset must be a file part", f"assets[{i}]")
                sub.files.append((v.filename or "", v.file, f"assets[{len(sub.files)}]"))
            elif k in fields:
                raise UploadError("given twice", k)
            else:
                fields[k] = v
        script = fields.pop("script", None)
        if script is None:
            raise UploadError("the 'script' part is required", "script")
        if isinstance(script, UploadFile):
            raw = await script.read(int(1e9))
        else:
            raw = script.encode()
        try:
            sub.script_text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UploadError("the script is not UTF-8 text", "script") from None
        data: dict[str, Any] = {"script": sub.script_text}
        for k, v in fields.items():
            if isinstance(v, UploadFile):
                raise UploadError("expected a text field, got a file", k)
            if k in ("languages", "formats"):
                v = _split_list(v)
            elif k == "captions":
                v = {"true": True, "false": False, "": None}.get(v.lower(), v)
            if v is not None:
                data[k] = v
        try:
            sub.req = RenderRequest.model_validate(data)
        except ValidationError as e:
            raise _validation(e) from None
    elif ctype == "application/json":
        body = await request.body()
        try:
            sub.req = RenderRequest.model_validate_json(body)
        except ValidationError as e:
            raise _validation(e) from None
        if isinstance(sub.req.script, dict):
            sub.script_text = yaml.safe_dump(sub.req.script, sort_keys=False, allow_unicode=True)
        else:
            sub.script_text = sub.req.script
        for name, b64 in (sub.req.assets or {}).items():
            try:
                data_b = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError):
                raise UploadError("not valid base64", f"assets[{name!r}]") from None
            sub.files.append((name, data_b, f"assets[{name!r}]"))
    else:
        raise HTTPException(415, "send multipart/form-data or application/json")
    return sub


class _Invalid(AvatarkitError):
    """A request body that does not match the request model (answered 422)."""


def _validation(e: ValidationError) -> _Invalid:
    first = e.errors()[0]
    where = ".".join(str(x) for x in first.get("loc", ())) or "body"
    return _Invalid(f"{where}: {first.get('msg', 'invalid')}")


# ---- the app ----------------------------------------------------------------------------------------

def create_app(config: ServeConfig, store=None, workers=None) -> FastAPI:
    """The service's FastAPI app over `store` (default: `open_store(config.db)`); `workers` start and stop with it."""
    from .._version import __version__

    if store is None:
        from .store import open_store
        from .tenancy import private_db

        private_db(config.db)
        store = open_store(config.db)
    data_dir = private(Path(config.data_dir))
    limits = config.limits
    pepper = config.resolved_pepper()
    limiter = RateLimiter(config.rate)

    from ..live.app import LiveSessions

    live = LiveSessions(config.live_sessions, config.live_max_s)

    @asynccontextmanager
    async def lifespan(app):
        if workers is not None:
            workers.start()
        try:
            yield
        finally:
            await live.close_all()
            if workers is not None:
                workers.stop()

    app = FastAPI(title="avatarkit render service", version=__version__, lifespan=lifespan,
                  description="Submit a script (and its assets), follow the render job, download its artifacts.")
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_upload_bytes)
    app.state.store, app.state.config, app.state.limiter = store, config, limiter
    bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer ak_...`")

    def require(scope: str):
        def dep(cred: HTTPAuthorizationCredentials | None = Depends(bearer)) -> ApiKey:
            header = f"{cred.scheme} {cred.credentials}" if cred else None
            key = authenticate(store, header, pepper)
            if key is None:
                raise HTTPException(401, "missing, unknown or revoked API key (Authorization: Bearer ak_...)",
                                    headers={"WWW-Authenticate": "Bearer"})
            if not key.allows(scope):
                raise HTTPException(403, f"this API key lacks the scope {scope!r}")
            limiter.take(key.id, key.limits)
            return key
        return dep

    # Live presenters: the key's own avatars and voices, or the house ones, under the same scope as its jobs.
    from ..live.app import add_live_routes

    add_live_routes(app, live, auth=require("live"), scope_of=lambda key: job_scope(None, data_dir, key.id),
                    responses={k: v for k, v in ERRORS.items() if k != 400})
    app.state.live = live

    def own_job(job_id: str, key: ApiKey):
        job = store.get_job(job_id)
        if job is None or str(job.key_id) != key.id:
            # Someone else's job looks exactly like a missing one: ids are not an oracle.
            raise HTTPException(404, f"no render {job_id!r}")
        return job

    def err(status: int, message: str, headers: dict | None = None) -> JSONResponse:
        # No answer echoes input of unbounded size.
        message = message if len(message) <= MAX_DETAIL else message[:MAX_DETAIL - 1] + "…"
        return JSONResponse({"detail": message}, status_code=status, headers=headers)

    @app.exception_handler(UploadError)
    async def _upload(request, e):
        return err(400, str(e))

    @app.exception_handler(ScriptError)
    async def _script(request, e):
        return err(422, str(e))

    @app.exception_handler(_Invalid)
    async def _invalid(request, e):
        return err(422, str(e))

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request, e):
        return err(413, str(e), {"Connection": "close"})

    @app.exception_handler(LimitExceeded)
    async def _over_limit(request, e):
        return err(413, str(e))

    @app.exception_handler(RateLimited)
    async def _rate(request, e):
        return err(429, str(e), {"Retry-After": str(e.retry_after)})

    @app.exception_handler(StoreUnavailable)
    async def _store_down(request, e):
        # The server's trouble, not the request's: say so without naming the database, and invite a retry.
        log.warning("job store unavailable: %s", e)
        return err(503, "the job store is unavailable for the moment; try again shortly", {"Retry-After": "5"})

    @app.exception_handler(AvatarkitError)
    async def _other(request, e):
        return err(400, str(e))

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(request, e):
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ())) or "request"
        return err(422, f"{where}: {first.get('msg', 'invalid')}")

    def prepare(sub: _Submission, key: ApiKey, idem: str | None):
        """Save, check and parse a submission in a new job folder; create the job. Runs in a worker thread."""
        opts = _options(sub.req)
        webhook = check_webhook(sub.req.webhook_url, config.allowed_webhook_hosts, config.webhook_networks)
        check_concurrency(store, key.id, key.limits, config.rate)
        if len(sub.script_text) > 8 * limits.script_chars:
            raise LimitExceeded("script: characters of YAML", len(sub.script_text), "limits.script_chars x 8",
                                8 * limits.script_chars)
        folder = JobFolder.create(data_dir)
        try:
            saved = []
            unzip_left = config.max_unzipped_bytes     # one budget for every archive of the request
            for name, src, field in sub.files:
                if isinstance(src, bytes):
                    p = save_bytes(folder.input, name, src, config.max_upload_bytes, field)
                else:
                    src.seek(0)
                    p = save_stream(folder.input, name, iter(lambda s=src: s.read(1 << 20), b""),
                                    config.max_upload_bytes, field)
                saved.append((safe_name(name, field), sha256_file(p)))
                if p.suffix.lower() == ".zip":
                    _, used = extract_zip(folder.input, p, field, unzip_left)
                    unzip_left -= used
            check_uploads(folder.input, limits)
            script_path = folder.input / SCRIPT_NAME
            script_path.write_text(sub.script_text, encoding="utf-8")
            if opts["brand"] and not (folder.input / opts["brand"]).is_file():
                raise UploadError(f"{opts['brand']!r} is not among the uploaded assets", "brand")
            check_script(folder, script_path, opts, key)
            fingerprint = hashlib.sha256(json.dumps(
                {"script": sub.script_text, "assets": sorted(saved), "options": opts, "webhook": webhook},
                sort_keys=True).encode()).hexdigest()
            # The worker accepts only the documented request fields, so the fingerprint that tells an
            # idempotent replay from a conflicting reuse lives beside the uploads.
            (folder.root / FINGERPRINT).write_text(fingerprint, encoding="utf-8")
            request_doc = {"script": f"input/{SCRIPT_NAME}", **opts,
                           "brand": f"input/{opts['brand']}" if opts["brand"] else None}
            try:
                job, created = store.create_job(key_id=key.id, kind="render", request=request_doc,
                                                workdir=str(folder.root), idempotency_key=idem, webhook_url=webhook,
                                                max_unfinished=concurrency_cap(key.limits, config.rate))
            except TooManyUnfinished as e:
                raise RateLimited(str(e), 5) from None
        except BaseException:
            folder.remove()
            raise
        if not created:
            folder.remove()
            try:
                previous = (Path(job.workdir) / FINGERPRINT).read_text(encoding="utf-8")
            except OSError:
                previous = ""
            if previous != fingerprint or str(job.key_id) != key.id:
                raise HTTPException(409, "Idempotency-Key was already used with a different request")
        else:
            log.info("render %s created by key %s (%d assets)", job.id, key.id, len(saved))
        return job, created

    def check_script(folder: JobFolder, script_path: Path, opts: dict, key: ApiKey) -> None:
        """Everything a worker would fail on, checked now under the job's scope; errors name input files only."""
        from ..pipeline.course import check_course
        from ..script import load_script

        scope = job_scope(folder, data_dir, key.id)
        brand = folder.input / opts["brand"] if opts["brand"] else None
        try:
            with using(scope):
                # The source alone is parsed and counted first: an oversized script is refused before the
                # full check speaks to every voice and finds every face.
                base = load_script(script_path)
                check_size({base.language: base}, limits)
                check_size(check_course(script_path, brand=brand, languages=opts["languages"]), limits)
        except ScriptError as e:
            if e.file:
                e.file = public_message(e.file, folder)
            raise ScriptError(public_message(e.message, folder), file=e.file, line=e.line, field=e.field) from None
        except LimitExceeded:
            raise
        except AvatarkitError as e:
            raise _Invalid(public_message(str(e), folder)) from None
        except Exception as e:  # noqa: BLE001 - a checker slip on odd input is still the input's fault, not a 500
            log.warning("checking a submitted script raised %s", type(e).__name__, exc_info=True)
            raise _Invalid(f"script.yaml: not a script this service can render ({type(e).__name__})") from None

    @app.post("/v1/renders", status_code=201, response_model=RenderCreated, tags=["renders"],
              summary="Submit a script for rendering",
              responses={**ERRORS, 200: {"model": RenderCreated, "description": "Idempotent replay: the existing job"},
                         409: {"model": ErrorBody, "description": "Idempotency-Key reused with a different request"},
                         413: {"model": ErrorBody, "description": "Request or an uploaded file over the size limit"},
                         415: {"model": ErrorBody, "description": "Neither multipart/form-data nor JSON"}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": RenderRequest.model_json_schema()},
                  "multipart/form-data": {"schema": _MULTIPART_SCHEMA}}}})
    async def create_render(request: Request, key: ApiKey = Depends(require("renders:create")),
                            idempotency_key: str | None = Header(None, max_length=200)):
        sub = await _read_submission(request)
        job, created = await run_in_threadpool(prepare, sub, key, idempotency_key)
        body = RenderCreated(id=str(job.id), status=job.status, links=_links(str(job.id)))
        return JSONResponse(body.model_dump(), status_code=201 if created else 200)

    @app.get("/v1/renders", response_model=RenderList, tags=["renders"], summary="List this key's renders",
             responses=ERRORS)
    def list_renders(key: ApiKey = Depends(require("renders:read")), limit: int = Query(50, ge=1, le=200),
                     cursor: str | None = Query(None, max_length=200),
                     status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = None):
        try:
            jobs, nxt = store.list_jobs(key_id=key.id, limit=limit, cursor=cursor, status=status)
        except (ValueError, TypeError):
            raise HTTPException(400, f"cursor {cursor!r} is not one this service gave out") from None
        return RenderList(items=[_render(j) for j in jobs], next_cursor=nxt)

    @app.get("/v1/renders/{job_id}", response_model=Render, tags=["renders"], summary="A render's status",
             responses={**ERRORS, **NOT_FOUND})
    def get_render(job_id: str = PathParam(max_length=100), key: ApiKey = Depends(require("renders:read"))):
        return _render(own_job(job_id, key))

    @app.post("/v1/renders/{job_id}/cancel", response_model=Render, tags=["renders"], summary="Cancel a render",
              responses={**ERRORS, **NOT_FOUND})
    def cancel_render(job_id: str = PathParam(max_length=100), key: ApiKey = Depends(require("renders:cancel"))):
        own_job(job_id, key)
        job = store.cancel_job(job_id)
        log.info("render %s cancel requested by key %s", job_id, key.id)
        return _render(job)

    @app.get("/v1/renders/{job_id}/artifacts/{name:path}", tags=["renders"], summary="Download an artifact",
             response_class=FileResponse,
             responses={**ERRORS, **NOT_FOUND, 200: {"description": "The file", "content": {"application/octet-stream": {}}}})
    def get_artifact(job_id: str = PathParam(max_length=100), name: str = PathParam(max_length=300),
                     key: ApiKey = Depends(require("renders:read"))):
        job = own_job(job_id, key)
        safe_name(name, "name", typed=False)       # 400 for traversal attempts, before any lookup
        if name not in (job.artifacts or ()):
            raise HTTPException(404, f"render {job_id!r} has no artifact {name!r}")
        work = Path(job.workdir).resolve()
        path = Path(os.path.realpath(work / name))
        if not path.is_relative_to(work) or not path.is_file():
            raise HTTPException(404, f"render {job_id!r} has no artifact {name!r}")
        return FileResponse(path, filename=Path(name).name)

    @app.get("/v1/voices", response_model=list[VoiceInfo], tags=["library"], summary="Voices this key's scripts may name",
             responses=ERRORS)
    def list_voices_(key: ApiKey = Depends(require("renders:read"))):
        from ..speech.voice import list_voices

        scope = job_scope(None, data_dir, key.id)
        return [VoiceInfo(id=v.id, language=v.language, engine=v.engine, gender=v.gender, style=v.style)
                for v in list_voices(scope=scope)]

    @app.get("/v1/avatars", response_model=list[str], tags=["library"], summary="Avatars this key's scripts may name",
             responses=ERRORS)
    def list_avatars_(key: ApiKey = Depends(require("renders:read"))):
        from ..face.avatar import HOUSE_AVATARS

        own = library_contents(data_dir, key.id)["avatar"]
        return sorted({p.stem for p in HOUSE_AVATARS.glob("*.png")} | set(own))

    @app.get("/v1/health", response_model=Health, tags=["service"], summary="Liveness")
    def health():
        return Health(status="ok", version=__version__, backend=config.backend)

    return app
