"""A Python client of the render service (`avatarkit serve`), over httpx.

`Client(base_url, api_key)` submits a script with its assets, follows the
job and downloads what it made. Every refusal by the server is raised as a
`ServiceError` (an `AvatarkitError`) carrying the HTTP status and the
server's one-line message; `RateLimitedError` also carries `retry_after`.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Iterator

import httpx

from ..errors import AvatarkitError

DONE = ("succeeded", "failed", "cancelled")


class ServiceError(AvatarkitError):
    """The service refused a request: `status` is the HTTP status (0: no answer), the message is the server's."""

    def __init__(self, message: str, status: int = 0):
        self.status = status
        super().__init__(message)


class RateLimitedError(ServiceError):
    """429 from the service; `retry_after` is the seconds it asked to wait."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message, 429)
        self.retry_after = retry_after


class Client:
    """A connection to one render service with one API key; `timeout` is per HTTP request, in seconds."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 60.0, *, transport: httpx.BaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport,
                                  headers={"Authorization": f"Bearer {api_key}", "User-Agent": "avatarkit-client"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method: str, url: str, **kw) -> httpx.Response:
        try:
            r = self._http.request(method, url, **kw)
        except httpx.HTTPError as e:
            raise ServiceError(f"{self.base_url}: {type(e).__name__}: {e}") from None
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text[:300] or r.reason_phrase
            msg = f"{method} {url}: {r.status_code} {detail}"
            if r.status_code == 429:
                raise RateLimitedError(msg, float(r.headers.get("Retry-After", "1")))
            raise ServiceError(msg, r.status_code)
        return r

    def submit(self, script: str | Path, assets=(), languages: str | list[str] = "all",
               formats: list[str] = ("mp4",), resolution: tuple[int, int] | None = None, captions: bool | None = None,
               brand: str | None = None, idempotency_key: str | None = None, webhook_url: str | None = None) -> dict:
        """Upload `script` (a path, or YAML text) and `assets` (paths; each is sent under its name relative
        to the script's folder when inside it, else its bare name); return `{id, status, links}`."""
        text_given = isinstance(script, str) and "\n" in script
        base = None if text_given else Path(script).resolve().parent
        data = {"languages": languages if isinstance(languages, str) else ",".join(languages),
                "formats": ",".join(formats)}
        if resolution:
            data["resolution"] = f"{resolution[0]}x{resolution[1]}"
        if captions is not None:
            data["captions"] = "true" if captions else "false"
        if brand:
            data["brand"] = brand
        if webhook_url:
            data["webhook_url"] = webhook_url
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        with ExitStack() as stack:
            if text_given:
                files = [("script", ("script.yaml", script.encode(), "application/yaml"))]
            else:
                files = [("script", (Path(script).name, stack.enter_context(open(script, "rb")), "application/yaml"))]
            for a in assets:
                p = Path(a).resolve()
                name = p.relative_to(base).as_posix() if base and p.is_relative_to(base) else p.name
                files.append(("assets", (name, stack.enter_context(open(p, "rb")), "application/octet-stream")))
            return self._call("POST", "/v1/renders", data=data, files=files, headers=headers).json()

    def get(self, id: str) -> dict:
        """The job's status, progress, artifacts (with URLs), error and attempts."""
        return self._call("GET", f"/v1/renders/{id}").json()

    def wait(self, id: str, timeout: float = 3600.0, poll: float = 2.0) -> dict:
        """Poll every `poll` seconds until the job is succeeded, failed or cancelled; `ServiceError` after `timeout` seconds."""
        end = time.monotonic() + timeout
        while True:
            job = self.get(id)
            if job["status"] in DONE:
                return job
            if time.monotonic() >= end:
                raise ServiceError(f"render {id} still {job['status']} after {timeout:g} s")
            time.sleep(poll)

    def list(self, status: str | None = None, page_size: int = 50) -> Iterator[dict]:
        """Every job of this key, newest first, fetched `page_size` at a time."""
        cursor = None
        while True:
            params = {"limit": page_size}
            if status:
                params["status"] = status
            if cursor:
                params["cursor"] = cursor
            page = self._call("GET", "/v1/renders", params=params).json()
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def cancel(self, id: str) -> dict:
        """Ask the service to cancel the job; returns its state after the request."""
        return self._call("POST", f"/v1/renders/{id}/cancel").json()

    def download(self, id: str, name: str, dest: str | Path) -> Path:
        """Stream the artifact `name` to `dest` (a file, or a folder to put it in); return the file's path."""
        dest = Path(dest)
        if dest.is_dir():
            dest = dest / Path(name).name
        tmp = dest.with_name(f".{dest.name}.partial")
        url = f"/v1/renders/{id}/artifacts/{name}"
        try:
            with self._http.stream("GET", url) as r:
                if r.status_code >= 400:
                    r.read()
                    try:
                        detail = r.json().get("detail", r.text)
                    except ValueError:
                        detail = r.text[:300]
                    raise ServiceError(f"GET {url}: {r.status_code} {detail}", r.status_code)
                with open(tmp, "wb") as f:
                    for block in r.iter_bytes(1 << 20):
                        f.write(block)
            tmp.replace(dest)
        except httpx.HTTPError as e:
            raise ServiceError(f"{self.base_url}: {type(e).__name__}: {e}") from None
        finally:
            tmp.unlink(missing_ok=True)
        return dest
