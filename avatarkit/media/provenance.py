"""Content Credentials (C2PA): every MP4 and JPEG avatarkit writes carries a signed manifest.

The manifest says, in a form any C2PA validator reads, that the file is
AI-generated (an IPTC digital source type of `trainedAlgorithmicMedia`),
what made it (avatarkit and its version), with which voices and avatars (a
footage avatar's consent record included) and, where the user supplied
source media (a recording, the clip being dubbed), their SHA-256 hashes.
It is embedded by `c2pa-python` (the C2PA reference library): in an MP4 as a
`uuid` box ahead of the index, so the file stays fast-start, bound to the
bytes by a BMFF hash; in a JPEG as APP11 segments.

Signing uses the certificate the user configures (`AVATARKIT_C2PA_CERT` and
`AVATARKIT_C2PA_KEY`, or `$AVATARKIT_HOME/c2pa.yaml`); without one, a small
local CA and a signing certificate are made once under
`$AVATARKIT_HOME/c2pa/local/` and reused. Validators then report the
signer as untrusted, but the manifest and its binding to the bytes still
validate. No timestamp authority is asked (avatarkit works offline) unless
one is configured.

    with signed_output(path, origin) as raw:   # write the file to `raw`
        ...
    creds = verify(path)                        # what the manifest says, and whether it holds

See docs/provenance.md.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import shutil
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import AvatarkitError
from ..utils.files import atomic_path, avatarkit_home, sha256_file

log = logging.getLogger("avatarkit.provenance")

SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
# IPTC digital source types that mean "made by a generative model" (in whole or in part).
AI_SOURCE_TYPES = {SOURCE_TYPE, "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia",
                   "http://cv.iptc.org/newscodes/digitalsourcetype/compositeSynthetic"}
ASSERTION = "org.avatarkit.synthesis"     # our own assertion: voices, avatars, consent, source hashes
GENERATOR = "avatarkit"
MIME = {".mp4": "video/mp4", ".m4v": "video/mp4", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
ENV_CERT, ENV_KEY, ENV_ALG, ENV_TSA, ENV_TRUST = (
    "AVATARKIT_C2PA_CERT", "AVATARKIT_C2PA_KEY", "AVATARKIT_C2PA_ALG", "AVATARKIT_C2PA_TSA_URL", "AVATARKIT_C2PA_TRUST")
SETTINGS_FILE = "c2pa.yaml"
LOCAL_DIR = "c2pa/local"
_ALGS = ("es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519")
_LOCAL_DAYS = 5 * 365
# Offline: never fetch a remote manifest or ask an OCSP responder; no thumbnail inside the manifest.
_OFFLINE = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
            "builder": {"thumbnail": {"enabled": False}}}


class ProvenanceError(AvatarkitError):
    """Content Credentials that cannot be made or read: a bad certificate setting, a file that is not media."""


# ---- what a manifest says ---------------------------------------------------------------------------


@dataclass
class Origin:
    """What went into a file: the facts its manifest records.

    `kind` is what made it ("render", "lipsync", "dub"); `voices`, `avatars`
    and `sources` are lists of small dicts (see `voice_entry`,
    `avatar_entry`, `source_entry`), names only, never a full path.
    """

    kind: str
    title: str = ""
    voices: list[dict] = field(default_factory=list)
    avatars: list[dict] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)

    def manifest(self, title: str) -> dict:
        """The manifest definition (c2pa-python's JSON form) for a file named `title`."""
        from .._version import __version__
        from .writer import AI_NOTICE

        return {
            "claim_generator_info": [{"name": GENERATOR, "version": __version__}],
            "title": title,
            "assertions": [
                {"label": "c2pa.actions.v2", "data": {"actions": [{
                    "action": "c2pa.created", "digitalSourceType": SOURCE_TYPE,
                    "softwareAgent": {"name": GENERATOR, "version": __version__},
                    "description": _DESCRIPTIONS.get(self.kind, "AI-generated media"),
                }]}},
                {"label": ASSERTION, "data": {
                    "notice": AI_NOTICE, "kind": self.kind, "title": self.title,
                    "voices": self.voices, "avatars": self.avatars, "sources": self.sources,
                }},
            ],
        }


_DESCRIPTIONS = {
    "render": "A presenter video rendered from a script: synthetic voice and animated face.",
    "lipsync": "An avatar animated to speak a supplied recording.",
    "dub": "A video whose speaker's mouth was repainted to speak new audio.",
}


def voice_entry(voice) -> dict:
    """A catalogue `Voice` as the manifest lists it: id, engine, language, name."""
    return {k: v for k, v in {"id": voice.id, "engine": voice.engine, "language": voice.language,
                              "name": getattr(voice, "name", "")}.items() if v}


def avatar_entry(avatar) -> dict:
    """An avatar as the manifest lists it: a photo by name and SHA-256; a footage avatar by name, with its
    footage's SHA-256 and its consent record (`consent.id`: the record's id, else `sha256:` + the consent
    document's SHA-256, with the time it was recorded)."""
    from ..face.avatar import Avatar, is_avatar_folder, open_avatar

    if not isinstance(avatar, Avatar):
        path = Path(avatar)
        if not is_avatar_folder(path):
            entry = {"name": path.name, "kind": "photo"}
            if path.is_file():
                entry["sha256"] = sha256_file(path)
            return entry
        avatar = open_avatar(path)
    meta = avatar.meta
    entry = {"name": avatar.name, "kind": meta.get("kind", "footage")}
    if (footage := meta.get("footage") or {}).get("sha256"):
        entry["footage_sha256"] = footage["sha256"]
    consent = meta.get("consent") or {}
    if consent:
        cid = consent.get("id") or (f"sha256:{consent['sha256']}" if consent.get("sha256") else None)
        entry["consent"] = {k: v for k, v in {"id": cid, "recorded": consent.get("recorded")}.items() if v}
    return entry


def source_entry(role: str, path: str | Path, sha256: str | None = None) -> dict:
    """Source media the user supplied (`role`: "recording", "video", "audio"), by name and SHA-256."""
    path = Path(path)
    return {"role": role, "name": path.name, "sha256": sha256 or sha256_file(path)}


def render_origin(script, voices: Iterable, recordings: Iterable[str | Path] = ()) -> Origin:
    """The `Origin` of a script's render: its voices, every scene's avatar and the recordings it speaks."""
    avatars, seen = [], set()
    for sc in script.scenes:
        if sc.avatar not in seen:
            seen.add(sc.avatar)
            avatars.append(avatar_entry(sc.avatar))
    unique = list(dict.fromkeys(Path(p) for p in recordings))
    return Origin("render", script.title, sorted((voice_entry(v) for v in voices), key=lambda e: e["id"]),
                  avatars, [source_entry("recording", p) for p in unique])


# ---- signing identity ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """A signing certificate chain (PEM, the signer first) with its private key and algorithm."""

    chain: bytes
    key: bytes
    alg: str
    tsa_url: str | None
    origin: str                 # where it came from: an env var, the settings file, or the local folder
    local: bool = False         # avatarkit's own self-signed certificate


_IDENTITIES: dict[tuple, Identity] = {}
_LOCK = threading.Lock()


def signing_identity() -> Identity:
    """The identity that signs: the configured certificate, else the local one (made at first use).

    Configured by `AVATARKIT_C2PA_CERT` and `AVATARKIT_C2PA_KEY` (PEM files;
    `AVATARKIT_C2PA_ALG` and `AVATARKIT_C2PA_TSA_URL` optional), else by
    `$AVATARKIT_HOME/c2pa.yaml` (`cert`, `key`, `alg`, `tsa_url`; paths
    relative to the file). Raises `ProvenanceError` naming the setting at fault.
    """
    home = avatarkit_home()
    settings = home / SETTINGS_FILE
    env = tuple(os.environ.get(k) for k in (ENV_CERT, ENV_KEY, ENV_ALG, ENV_TSA))
    try:
        stamp = settings.stat().st_mtime_ns
    except OSError:
        stamp = None
    key = (env, str(home), stamp)
    with _LOCK:
        ident = _IDENTITIES.get(key)
        if ident is None or (ident.local and not _local_current(home)):
            ident = _IDENTITIES[key] = _load_identity(home, settings, env, stamp)
        return ident


def _load_identity(home: Path, settings: Path, env: tuple, stamp) -> Identity:
    cert, key, alg, tsa = env
    if cert or key:
        if not (cert and key):
            missing = ENV_KEY if cert else ENV_CERT
            raise ProvenanceError(f"{missing} is not set: a Content Credentials certificate needs both "
                                  f"{ENV_CERT} (PEM chain) and {ENV_KEY} (PEM private key)")
        return _identity(Path(cert), Path(key), alg, tsa, ENV_CERT, f"environment ({ENV_CERT})")
    if stamp is not None:
        import yaml

        try:
            data = yaml.safe_load(settings.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ProvenanceError(f"{settings}: cannot read the Content Credentials settings ({e})") from None
        if not isinstance(data, dict) or not data.get("cert") or not data.get("key"):
            raise ProvenanceError(f"{settings}: expected `cert:` and `key:` (PEM files), optionally `alg:` and `tsa_url:`")
        base = settings.parent
        return _identity(base / str(data["cert"]), base / str(data["key"]), data.get("alg") or alg,
                         data.get("tsa_url") or tsa, f"{settings}: cert", str(settings))
    return _local_identity(home)


def _identity(cert: Path, key: Path, alg: str | None, tsa: str | None, where: str, origin: str,
              local: bool = False) -> Identity:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        chain = cert.read_bytes()
        key_pem = key.read_bytes()
    except OSError as e:
        raise ProvenanceError(f"{where}: cannot read {e.filename} ({e.strerror})") from None
    try:
        certs = x509.load_pem_x509_certificates(chain)
    except ValueError:
        raise ProvenanceError(f"{where}: {cert} is not a PEM certificate chain (signer first, then its CA)") from None
    try:
        private = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as e:
        raise ProvenanceError(f"{where}: {key} is not an unencrypted PEM private key ({e})") from None
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    if certs[0].public_key().public_bytes(serialization.Encoding.DER, pub) != \
            private.public_key().public_bytes(serialization.Encoding.DER, pub):
        raise ProvenanceError(f"{where}: the private key {key} does not belong to the first certificate in {cert}")
    now = datetime.datetime.now(datetime.timezone.utc)
    if not certs[0].not_valid_before_utc <= now <= certs[0].not_valid_after_utc:
        raise ProvenanceError(f"{where}: the certificate in {cert} is not valid now "
                              f"({certs[0].not_valid_before_utc:%Y-%m-%d} to {certs[0].not_valid_after_utc:%Y-%m-%d})")
    alg = (alg or _alg_for(private)).lower()
    if alg not in _ALGS:
        raise ProvenanceError(f"unknown signing algorithm {alg!r} (from {origin}); expected one of {', '.join(_ALGS)}")
    if tsa and not tsa.startswith(("http://", "https://")):
        raise ProvenanceError(f"{ENV_TSA}: {tsa!r} is not an http(s) URL of a timestamp authority")
    return Identity(chain, key_pem, alg, tsa or None, origin, local)


def _alg_for(private) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(private, ec.EllipticCurvePrivateKey):
        return {256: "es256", 384: "es384", 521: "es512"}.get(private.curve.key_size, "es256")
    if isinstance(private, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise ProvenanceError(f"unsupported private key type {type(private).__name__}; use EC (P-256/384/521), RSA or Ed25519")


def local_folder(home: Path | None = None) -> Path:
    """Where avatarkit keeps its own self-signed signing certificate."""
    return (home or avatarkit_home()) / LOCAL_DIR


def _local_current(home: Path) -> bool:
    """Whether the local certificate is there and valid for at least another day."""
    from cryptography import x509

    try:
        leaf = x509.load_pem_x509_certificates((local_folder(home) / "signer.pem").read_bytes())[0]
    except (OSError, ValueError, IndexError):
        return False
    return leaf.not_valid_after_utc > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)


def _local_identity(home: Path) -> Identity:
    folder = local_folder(home)
    if not _local_current(home):
        _make_local(folder)
    return _identity(folder / "signer.pem", folder / "signer.key", None, os.environ.get(ENV_TSA),
                     str(folder), f"local self-signed certificate ({folder})", local=True)


def _make_local(folder: Path) -> None:
    """Make a local CA and a signing certificate it issues (EC P-256) in `folder`, once, safely under races.

    The CA's key is thrown away once the signer is issued: the folder holds
    `signer.pem` (signer then CA), `signer.key` (mode 600) and `ca.pem` (to
    add as a trust anchor where a validator should trust this machine).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

    now = datetime.datetime.now(datetime.timezone.utc)
    begin, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=_LOCAL_DAYS)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "avatarkit (local, self-signed)")])

    def usage(**on) -> x509.KeyUsage:
        flags = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                               "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
        return x509.KeyUsage(**{**flags, **on})

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("avatarkit local CA")).issuer_name(name("avatarkit local CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(begin).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    document_signing = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
    leaf = (x509.CertificateBuilder().subject_name(name("avatarkit local signer")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(begin).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, document_signing]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.{threading.get_ident()}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        (tmp / "signer.pem").write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
        fd = os.open(tmp / "signer.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (tmp / "ca.pem").write_bytes(ca.public_bytes(pem))
        if folder.exists():                 # expired: keep the old one aside rather than lose it
            if _local_current(folder.parent.parent):
                return                      # another process renewed it meanwhile
            os.replace(folder, folder.with_name(f"{folder.name}.expired-{now:%Y%m%d%H%M%S}"))
        try:
            os.rename(tmp, folder)
        except OSError:
            if not (folder / "signer.pem").is_file():
                raise
            return                          # another process made it first: use theirs
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.warning("avatarkit made a local self-signed certificate to sign Content Credentials (C2PA) in %s; "
                "validators will call the signer untrusted. Set %s and %s to sign with your organisation's "
                "certificate (see docs/provenance.md).", folder, ENV_CERT, ENV_KEY)


def check_signing() -> Identity:
    """Fail early (`ProvenanceError`) if the configured certificate cannot sign; make the local one if needed."""
    return signing_identity()


# ---- signing ----------------------------------------------------------------------------------------------


def mime_type(path: str | Path) -> str:
    """The MIME type avatarkit signs a file as, by its name (MP4 or JPEG)."""
    mime = MIME.get(Path(path).suffix.lower())
    if mime is None:
        raise ProvenanceError(f"{path}: avatarkit signs MP4 and JPEG files, not {Path(path).suffix or 'this file'}")
    return mime


def _context(trust: bool = False):
    import c2pa

    settings = json.loads(json.dumps(_OFFLINE))
    anchors = os.environ.get(ENV_TRUST)
    if trust and anchors:
        try:
            settings["trust"] = {"user_anchors": Path(anchors).read_text(encoding="utf-8")}
        except OSError as e:
            raise ProvenanceError(f"{ENV_TRUST}: cannot read {anchors} ({e.strerror})") from None
    return c2pa.Context.from_dict(settings)


def sign_file(src: str | Path, dest: str | Path, origin: Origin) -> None:
    """Write `src` with a signed manifest of `origin` to `dest` (atomically); `src` is left as it was.

    The format is `dest`'s (MP4 or JPEG). `dest` may be `src`.
    """
    import c2pa

    src, dest = Path(src), Path(dest)
    mime = mime_type(dest)
    ident = signing_identity()
    info = c2pa.C2paSignerInfo(ident.alg.encode(), ident.chain, ident.key, ident.tsa_url.encode() if ident.tsa_url else None)
    try:
        with c2pa.Signer.from_info(info) as signer, _context() as ctx, \
                c2pa.Builder(origin.manifest(dest.name), ctx) as builder, atomic_path(dest) as tmp:
            with open(src, "rb") as source, open(tmp, "w+b") as out:
                builder.sign(signer, mime, source, out)
    except c2pa.C2paError as e:
        raise ProvenanceError(f"{dest}: signing its Content Credentials failed ({e}); "
                              f"certificate from {ident.origin}") from None


def unsigned_path(path: str | Path) -> Path:
    """A hidden sibling of `path` (same suffix) to write the file to before it is signed into place."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{os.getpid()}.unsigned{path.suffix}")


@contextmanager
def signed_output(path: str | Path, origin: Origin) -> Iterator[Path]:
    """Yield a temporary path to write `path`'s content to; when the block ends cleanly, sign it into `path`.

    Nothing appears at `path` until the signed file is complete; the
    unsigned file is always removed.
    """
    raw = unsigned_path(path)
    try:
        yield raw
        sign_file(raw, path, origin)
    finally:
        raw.unlink(missing_ok=True)


# ---- verifying ---------------------------------------------------------------------------------------------


@dataclass
class Credentials:
    """What a file's Content Credentials say, and whether they still hold.

    `present`: the file has a manifest. `valid`: its signature checks out
    and its hashes match the file's bytes (`state` "Valid" or "Trusted").
    `trusted`: the signer chains to a trust anchor (c2pa's list, or
    `AVATARKIT_C2PA_TRUST`); a local self-signed signer is valid, not trusted.
    `problems` lists the validator's failure codes other than trust.
    """

    path: Path
    present: bool
    valid: bool = False
    trusted: bool = False
    state: str = "missing"
    generator: str = ""
    source_type: str = ""
    ai_generated: bool = False
    kind: str = ""
    title: str = ""
    voices: list[dict] = field(default_factory=list)
    avatars: list[dict] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    signer: str = ""
    issuer: str = ""
    signed_at: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """A manifest that is there and holds."""
        return self.present and self.valid

    @property
    def consent_ids(self) -> list[str]:
        return [a["consent"]["id"] for a in self.avatars if (a.get("consent") or {}).get("id")]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        d["ok"], d["consent_ids"] = self.ok, self.consent_ids
        return d


def _sniff(path: Path) -> str:
    """The MIME type of a media file by its first bytes (then its name); `ProvenanceError` if it is not one."""
    import c2pa

    with open(path, "rb") as f:
        head = f.read(16)
    if head[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if head[4:8] == b"ftyp":
        return "video/mp4"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    ext = path.suffix.lower().lstrip(".")
    if ext and ext not in ("mp4", "m4v", "mov", "jpg", "jpeg", "png") and ext in c2pa.Reader.get_supported_mime_types():
        return ext
    raise ProvenanceError(f"{path}: not a media file (expected an MP4 video or a JPEG image)")


def verify(path: str | Path) -> Credentials:
    """Read and check the Content Credentials of the file at `path`.

    Raises `ProvenanceError` for a missing file or one that is not media;
    a file without a manifest gives `present=False`, one whose manifest no
    longer matches its bytes `valid=False` with the reasons in `problems`.
    """
    import c2pa

    path = Path(path)
    if not path.is_file():
        raise ProvenanceError(f"{path}: file not found" if not path.exists() else f"{path}: not a file")
    mime = _sniff(path)
    try:
        with _context(trust=True) as ctx, open(path, "rb") as stream:
            reader = c2pa.Reader.try_create(mime, stream, None, ctx)
            if reader is None:
                return Credentials(path, present=False)
            with reader:
                store = json.loads(reader.json())
    except c2pa.C2paError as e:
        if "ManifestNotFound" in type(e).__name__:
            return Credentials(path, present=False)
        with open(path, "rb") as f:
            signed = b"c2pa" in f.read(_HEAD)     # a manifest is there (near the start), but broken
        if not signed:
            raise ProvenanceError(f"{path}: not a readable {'MP4 video' if 'mp4' in mime else mime} ({e})") from None
        return Credentials(path, present=True, state="Invalid", problems=[f"unreadable manifest: {e}"])
    return _credentials(path, store)


_HEAD = 8 << 20


def _credentials(path: Path, store: dict) -> Credentials:
    manifest = (store.get("manifests") or {}).get(store.get("active_manifest") or "") or {}
    state = store.get("validation_state") or ("Invalid" if store.get("validation_status") else "Valid")
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    failures = [f.get("code", "") for f in results.get("failure", [])] or \
        [s.get("code", "") for s in store.get("validation_status") or []]
    problems = [c for c in failures if not c.startswith("signingCredential.untrusted")]
    info = (manifest.get("claim_generator_info") or [{}])[0]
    gen = " ".join(x for x in (info.get("name", ""), info.get("version", "")) if x) or manifest.get("claim_generator", "")
    ours: dict = {}
    source_type = ""
    for a in manifest.get("assertions") or []:
        label = a.get("label", "")
        if label == ASSERTION:
            ours = a.get("data") or {}
        elif label.split(".v")[0] == "c2pa.actions":
            for act in (a.get("data") or {}).get("actions") or []:
                if act.get("action") == "c2pa.created" and act.get("digitalSourceType"):
                    source_type = source_type or act["digitalSourceType"]
    sig = manifest.get("signature_info") or {}
    return Credentials(
        path, present=True, valid=state in ("Valid", "Trusted"), trusted=state == "Trusted", state=state,
        generator=gen, source_type=source_type, ai_generated=source_type in AI_SOURCE_TYPES,
        kind=ours.get("kind", ""), title=ours.get("title", "") or manifest.get("title", ""),
        voices=list(ours.get("voices") or []), avatars=list(ours.get("avatars") or []),
        sources=list(ours.get("sources") or []),
        signer=sig.get("common_name", ""), issuer=sig.get("issuer", ""), signed_at=sig.get("time", ""),
        problems=problems if state not in ("Valid", "Trusted") else [])


__all__ = ["AI_SOURCE_TYPES", "ASSERTION", "Credentials", "Identity", "Origin", "ProvenanceError", "SOURCE_TYPE",
           "avatar_entry", "check_signing", "local_folder", "mime_type", "render_origin", "sign_file",
           "signed_output", "signing_identity", "source_entry", "unsigned_path", "verify", "voice_entry"]
