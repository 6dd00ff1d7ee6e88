"""The render service's settings: one dataclass, saved to and loaded from YAML.

Everything the HTTP service needs to know that is not per request: where the
job database and job folders live, how many workers run, size limits
(megabytes), which hosts webhooks may call, and the default rate limits
given to API keys that do not carry their own.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from ..errors import AvatarkitError
from ..utils.files import avatarkit_home


class ConfigError(AvatarkitError):
    """A service configuration file that cannot be read or has a bad field."""


def serve_home() -> Path:
    """The service's folder: `$AVATARKIT_HOME/serve` (default `~/.avatarkit/serve`)."""
    return avatarkit_home() / "serve"


@dataclass
class RateDefaults:
    """Limits of a key that sets none: `per_s` requests refilled per second up to `burst`, and `max_concurrent` unfinished jobs."""

    per_s: float = 2.0
    burst: int = 20
    max_concurrent: int = 4


@dataclass
class JobLimits:
    """What one job may ask for; every input is checked against these at submit, before any work starts.

    Counts are per language of the script (`script_chars` is the spoken and
    shown text; a minute of speech is about 900 characters). Seconds are of
    one uploaded recording or video, pixels of one image, video frame or
    slide page. `worker_mb` is the resident memory a worker may reach while
    rendering a job; a job that passes it fails, once, without a retry.
    """

    script_chars: int = 60_000
    segments: int = 2_000
    scenes: int = 200
    languages: int = 30
    audio_s: float = 3_600.0
    image_pixels: int = 40_000_000
    video_s: float = 1_800.0
    video_pixels: int = 3840 * 2160
    pages: int = 300
    worker_mb: int = 6_144

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                raise ConfigError(f"limits.{f.name}: expected a positive number, got {v!r}")


@dataclass
class ServeConfig:
    """Settings of the render service.

    `db` is a store URL (`sqlite:///path` or `postgresql://...`); `data_dir`
    holds one folder per job; `max_upload_mb` caps each uploaded file and the
    whole request body (megabytes); `max_unzipped_mb` caps what the zip
    assets of one request may expand to, together. Webhooks may only call `allowed_webhook_hosts` (exact host
    names); URLs are never fetched server side while
    `allow_remote_assets` is False (it is the only supported value today).
    `pepper` is mixed into API-key hashes; an empty value means the one in
    `serve_home()/pepper`, created on first use. A webhook is delivered only
    to a public address, checked when it is sent, unless its address is in
    one of `webhook_networks` (CIDR, e.g. `10.0.0.0/8` for an internal
    receiver). `limits` bound what one job may ask for (`JobLimits`).
    `live_sessions` live presenters (`POST /v1/sessions`, keys with the
    `live` scope) run at once, each for at most `live_max_s` seconds.
    """

    db: str = ""
    data_dir: str = ""
    workers: int = 2
    lease_s: float = 30.0              # how long a worker's claim lasts unrenewed: a killed worker's job waits this long
    backend: str = "local"
    max_upload_mb: float = 100.0
    max_unzipped_mb: float = 500.0
    allowed_webhook_hosts: list[str] = field(default_factory=list)
    allow_remote_assets: bool = False
    rate: RateDefaults = field(default_factory=RateDefaults)
    pepper: str = ""
    webhook_secret: str = ""           # signs webhook bodies; empty: derived from the pepper
    webhook_networks: list[str] = field(default_factory=list)
    limits: JobLimits = field(default_factory=JobLimits)
    live_sessions: int = 1             # live presenters at once (each takes about a core); 0: none
    live_max_s: float = 3600.0         # longest live session, seconds

    def __post_init__(self) -> None:
        if not self.db:
            self.db = f"sqlite:///{serve_home() / 'jobs.db'}"
        if not self.data_dir:
            self.data_dir = str(serve_home() / "jobs")
        if isinstance(self.rate, dict):
            self.rate = RateDefaults(**self.rate)
        if isinstance(self.limits, dict):
            known = {f.name for f in fields(JobLimits)}
            unknown = set(self.limits) - known
            if unknown:
                raise ConfigError(f"limits: unknown field(s) {', '.join(sorted(unknown))}; expected {', '.join(sorted(known))}")
            self.limits = JobLimits(**self.limits)
        import ipaddress

        for net in self.webhook_networks:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ConfigError(f"webhook_networks: {net!r} is not a network like 10.0.0.0/8") from None
        if self.backend not in ("local", "ray"):
            raise ConfigError(f"backend {self.backend!r} must be 'local' or 'ray'")
        if self.workers < 0 or self.max_upload_mb <= 0 or self.max_unzipped_mb <= 0:
            raise ConfigError("workers must be >= 0 and the size limits > 0")
        if self.live_sessions < 0 or not 10 <= self.live_max_s <= 86_400:
            raise ConfigError("live_sessions must be >= 0 and live_max_s between 10 and 86400 seconds")
        if not 3 <= self.lease_s <= 3600:
            raise ConfigError(f"lease_s {self.lease_s!r}: a lease lasts between 3 and 3600 seconds")
        if self.allow_remote_assets:
            raise ConfigError("allow_remote_assets: fetching assets from URLs is not supported; upload them instead")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_unzipped_bytes(self) -> int:
        return int(self.max_unzipped_mb * 1024 * 1024)

    def save(self, path: str | Path) -> Path:
        """Write the settings as YAML (the pepper included: keep the file private)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(asdict(self), sort_keys=False), encoding="utf-8")
        os.chmod(path, 0o600)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ServeConfig:
        """Read settings written by `save` (or by hand); unknown fields are an error naming them."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"{path}: cannot read service settings: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: service settings must be a YAML mapping")
        known = {f.name for f in fields(cls)}
        for k in data:
            if k not in known:
                raise ConfigError(f"{path}: unknown field {k!r}; expected one of {', '.join(sorted(known))}")
        try:
            return cls(**data)
        except TypeError as e:
            raise ConfigError(f"{path}: {e}") from None

    def resolved_pepper(self) -> bytes:
        """The key-hash pepper: the configured one, else a random one kept in `serve_home()/pepper`."""
        if self.pepper:
            return self.pepper.encode()
        p = serve_home() / "pepper"
        if not p.is_file():
            p.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(os.urandom(32).hex())
        return p.read_text().strip().encode()

    def resolved_webhook_secret(self) -> bytes:
        """The webhook signing secret: the configured one, else one derived from the pepper (never the pepper itself)."""
        if self.webhook_secret:
            return self.webhook_secret.encode()
        import hashlib
        import hmac

        return hmac.new(self.resolved_pepper(), b"avatarkit webhook signing", hashlib.sha256).hexdigest().encode()
