"""Signed webhooks: the service tells a caller's URL that a job ended.

The body is JSON; the header `Avatarkit-Signature: t=<unix s>,v1=<hex>`
carries an HMAC-SHA256 over `b"<t>." + body` with the shared secret, so a
receiver can check both origin and freshness (`verify`). Delivery goes
only to http(s) URLs whose host the service's configuration allows (none
unless configured), never follows redirects (which could point anywhere),
and retries connection errors, 429 and 5xx with exponential backoff. The
secret is never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import AvatarkitError

log = logging.getLogger("avatarkit.serve.webhooks")

HEADER = "Avatarkit-Signature"


class WebhookError(AvatarkitError):
    """A webhook URL the service will not call (scheme, or a host not allowed)."""


@dataclass(frozen=True)
class WebhookConfig:
    """Where webhooks may go and how they are signed: `allowed_hosts` (exact host names, lower case; empty: none)."""

    secret: bytes = b""
    allowed_hosts: tuple[str, ...] = ()
    attempts: int = 5
    backoff_s: float = 1.0
    timeout_s: float = 10.0


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The `Avatarkit-Signature` header value for `body` sent at `timestamp` (UNIX s): "t=<ts>,v1=<hex>"."""
    mac = hmac.new(secret, f"{int(timestamp)}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={int(timestamp)},v1={mac}"


def verify(secret: bytes, body: bytes, header: str, *, tolerance_s: float = 300.0, now: float | None = None) -> bool:
    """True if `header` signs `body` with `secret` and its time is within `tolerance_s` seconds of `now`."""
    try:
        parts = dict(p.strip().split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return False
    expected = sign(secret, body, ts).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


def check_url(url: str, allowed_hosts: tuple[str, ...] | list[str]) -> str:
    """Return `url` if the service may call it (http or https, host in `allowed_hosts`); else raise `WebhookError`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise WebhookError(f"webhook_url: only http and https URLs are allowed, got {parts.scheme or 'none'!r}")
    host = (parts.hostname or "").lower()
    if not host:
        raise WebhookError("webhook_url: has no host")
    if parts.username or parts.password:
        raise WebhookError("webhook_url: must not carry credentials")
    if host not in {h.lower() for h in allowed_hosts}:
        raise WebhookError(f"webhook_url: host {host!r} is not in the service's allowed webhook hosts")
    return url


def deliver(url: str, payload: dict, secret: bytes, attempts: int = 5, backoff: float = 1.0, *,
            allowed_hosts: tuple[str, ...] | list[str] = (), timeout_s: float = 10.0, sleep=time.sleep) -> bool:
    """POST `payload` as signed JSON to `url`; retry up to `attempts` times (waits `backoff` × 2^k seconds).

    Returns True on a 2xx answer, False when every attempt failed or the
    receiver refused it (4xx other than 408/429 is not retried). Raises
    `WebhookError` for a URL that `check_url` rejects.
    """
    import httpx

    check_url(url, allowed_hosts)
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    delivery = uuid.uuid4().hex
    host = urlsplit(url).hostname
    with httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False) as client:
        for k in range(max(1, attempts)):
            # Signed afresh each try: a receiver rejecting stale timestamps still accepts a late retry.
            headers = {"Content-Type": "application/json", "User-Agent": "avatarkit-webhook/1",
                       "Avatarkit-Delivery": delivery, HEADER: sign(secret, body, int(time.time()))}
            try:
                r = client.post(url, content=body, headers=headers)
                if 200 <= r.status_code < 300:
                    log.info("webhook %s to %s delivered (attempt %d)", delivery, host, k + 1)
                    return True
                retryable = r.status_code in (408, 429) or r.status_code >= 500
                log.warning("webhook %s to %s: HTTP %d (attempt %d)", delivery, host, r.status_code, k + 1)
                if not retryable:
                    return False
            except httpx.HTTPError as e:
                log.warning("webhook %s to %s: %s (attempt %d)", delivery, host, type(e).__name__, k + 1)
            if k + 1 < attempts:
                sleep(backoff * (2 ** k))
    return False
