"""Per-key rate limits, the per-key cap on unfinished jobs, and the request-size limit.

The rate limit is a token bucket per key (in this process's memory): `per_s`
tokens refill each second up to `burst`, and each request takes one. The
body limit is enforced by an ASGI middleware that counts bytes as they
arrive, so an oversized upload is refused after at most `max_bytes` have
been read, never buffered whole.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass

from ..errors import AvatarkitError
from .config import RateDefaults


class RateLimited(AvatarkitError):
    """Too many requests or unfinished jobs for one key; `retry_after` in seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class BodyTooLarge(AvatarkitError):
    """A request body or an uploaded file over the configured limit (bytes)."""


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """Token buckets keyed by API key id; `clock` (seconds) is injectable for tests."""

    def __init__(self, defaults: RateDefaults, clock=time.monotonic):
        self.defaults = defaults
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def _rate(self, limits: dict) -> tuple[float, float]:
        per_s = float(limits.get("per_s", self.defaults.per_s))
        burst = float(limits.get("burst", self.defaults.burst))
        return max(per_s, 1e-6), max(burst, 1.0)

    def take(self, key_id: str, limits: dict | None = None) -> None:
        """Take one token for `key_id`, or raise `RateLimited` with the whole seconds until one is free."""
        per_s, burst = self._rate(limits or {})
        now = self.clock()
        with self._lock:
            b = self._buckets.get(key_id)
            if b is None:
                b = self._buckets[key_id] = _Bucket(burst, now)
            b.tokens = min(burst, b.tokens + (now - b.stamp) * per_s)
            b.stamp = now
            if b.tokens < 1.0:
                wait = math.ceil((1.0 - b.tokens) / per_s)
                raise RateLimited(f"rate limit of {per_s:g} requests/s (burst {burst:g}) reached; retry in {wait} s", wait)
            b.tokens -= 1.0


def concurrency_cap(limits: dict | None, defaults: RateDefaults) -> int:
    """How many queued and running jobs a key may have: its own limit, else the server's default."""
    return int((limits or {}).get("max_concurrent", defaults.max_concurrent))


def check_concurrency(store, key_id: str, limits: dict | None, defaults: RateDefaults) -> None:
    """Raise `RateLimited` when `key_id` already has its cap of queued or running jobs.

    A quick refusal before a submission's uploads are saved; the cap itself holds because
    `JobStore.create_job` counts again in the transaction that adds the job."""
    cap = concurrency_cap(limits, defaults)
    n = 0
    for status in ("queued", "running"):
        jobs, _ = store.list_jobs(key_id=key_id, limit=max(1, min(cap, 1000)), status=status)
        n += len(jobs)
    if n >= cap:
        raise RateLimited(f"this key already has {n} unfinished jobs (limit {cap}); wait for one to finish", 5)


class BodyLimitMiddleware:
    """ASGI middleware: 413 when Content-Length or the bytes actually received exceed `max_bytes`."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    return await _send_413(send, self.max_bytes)
        seen = 0

        async def counted():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(f"request body is over the limit of {self.max_bytes // (1024 * 1024)} MB")
            return msg

        return await self.app(scope, counted, send)


async def _send_413(send, max_bytes: int) -> None:
    body = json.dumps({"detail": f"request body is over the limit of {max_bytes / (1024 * 1024):g} MB"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
