"""Signed webhooks: the service tells a caller's URL that a job ended.

The body is JSON; the header `Avatarkit-Signature: t=<unix s>,v1=<hex>`
carries an HMAC-SHA256 over `b"<t>." + body` with the shared secret, so a
receiver can check both origin and freshness (`verify`). Delivery goes
only to http(s) URLs whose host the service's configuration allows (none
unless configured), and only to a public address: the host is resolved when
the webhook is sent, every address it resolves to must be global (or inside
one of the configured `networks`), and the request goes to the address that
was checked, so a name that re-resolves to 127.0.0.1 or 169.254.169.254
between check and connect (DNS rebinding) reaches nothing. Delivery never
follows redirects (which could point anywhere) and retries connection
errors, 429 and 5xx with exponential backoff. The secret is never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ..errors import AvatarkitError

log = logging.getLogger("avatarkit.serve.webhooks")

HEADER = "Avatarkit-Signature"


class WebhookError(AvatarkitError):
    """A webhook URL the service will not call (scheme, or a host not allowed)."""


@dataclass(frozen=True)
class WebhookConfig:
    """Where webhooks may go and how they are signed: `allowed_hosts` (exact host names, lower case; empty: none),
    and `networks` (CIDR) whose private addresses they may reach besides public ones."""

    secret: bytes = b""
    allowed_hosts: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
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


def check_url(url: str, allowed_hosts: tuple[str, ...] | list[str], networks=()) -> str:
    """Return `url` if the service may call it (http or https, host in `allowed_hosts`); else raise `WebhookError`.

    A host written as an address must be public or inside `networks`; a host
    name's addresses are checked when the webhook is sent (`resolve`).
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise WebhookError("webhook_url: not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookError(f"webhook_url: only http and https URLs are allowed, got {parts.scheme or 'none'!r}")
    host = (parts.hostname or "").lower()
    if not host:
        raise WebhookError("webhook_url: has no host")
    if parts.username or parts.password:
        raise WebhookError("webhook_url: must not carry credentials")
    if host not in {h.lower() for h in allowed_hosts}:
        raise WebhookError(f"webhook_url: host {host[:100]!r} is not in the service's allowed webhook hosts")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and not _reachable(literal, networks):
        raise WebhookError(f"webhook_url: {host} is not a public address")
    return url


def _reachable(addr, networks) -> bool:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if any(addr in ipaddress.ip_network(n, strict=False) for n in networks):
        return True
    return addr.is_global and not addr.is_multicast


def resolve(host: str, port: int, networks=()) -> str:
    """The address to send to: `host` resolved now, every address it has checked; `WebhookError` if any is
    private, loopback, link-local or otherwise not public (outside `networks`), or if it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise WebhookError(f"webhook_url: host {host!r} does not resolve") from None
    addrs = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addrs:
        raise WebhookError(f"webhook_url: host {host!r} does not resolve")
    for a in addrs:
        if not _reachable(a, networks):
            raise WebhookError(f"webhook_url: host {host!r} resolves to a non-public address")
    return str(addrs[0])


def deliver(url: str, payload: dict, secret: bytes, attempts: int = 5, backoff: float = 1.0, *,
            allowed_hosts: tuple[str, ...] | list[str] = (), networks=(), timeout_s: float = 10.0,
            sleep=time.sleep) -> bool:
    """POST `payload` as signed JSON to `url`; retry up to `attempts` times (waits `backoff` × 2^k seconds).

    Returns True on a 2xx answer, False when every attempt failed or the
    receiver refused it (4xx other than 408/429 is not retried). Raises
    `WebhookError` for a URL that `check_url` rejects or a host that
    resolves to an address it may not reach (`resolve`), checked each try.
    """
    import httpx

    check_url(url, allowed_hosts, networks)
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    delivery = uuid.uuid4().hex
    parts = urlsplit(url)
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    with httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False) as client:
        for k in range(max(1, attempts)):
            # Signed afresh each try: a receiver rejecting stale timestamps still accepts a late retry.
            headers = {"Content-Type": "application/json", "User-Agent": "avatarkit-webhook/1",
                       "Avatarkit-Delivery": delivery, HEADER: sign(secret, body, int(time.time())),
                       "Host": parts.netloc.rsplit("@", 1)[-1]}
            # Connect to the address just checked; TLS still verifies the certificate for the host name.
            addr = resolve(host, port, networks)
            netloc = f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"
            pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
            try:
                r = client.post(pinned, content=body, headers=headers, extensions={"sni_hostname": host})
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
