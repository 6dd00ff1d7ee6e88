"""Content Credentials (C2PA): every MP4 and JPEG avatarkit writes is signed, and `avatarkit verify` checks them.

Real outputs (a small render, a lip sync, a dub) are read back with c2pa's
own Reader; a tampered copy and a file with no manifest fail the real CLI;
the local self-signed certificate is made once and reused; a configured
certificate signs instead; LMS packages keep the manifests and say so.
"""

from __future__ import annotations

import datetime
import json
import logging
import struct
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from avatarkit import __version__
from avatarkit.cli import app
from avatarkit.media import provenance
from avatarkit.media.provenance import SOURCE_TYPE, Origin, ProvenanceError, sign_file, verify
from avatarkit.media.writer import AI_NOTICE
from avatarkit.utils.files import sha256_file

from .audiofiles import speech, write_audio
from .conftest import SAMPLES

TINY_SCRIPT = """\
avatarkit: 1
title: Provenance test
language: en
defaults:
  avatar: {avatar}
  voice: en-us-joe
  background: studio
  resolution: 320x180
  fps: 25
scenes:
  - id: one
    segments:
      - text: Hello and welcome.
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A real render of a one-phrase script at 320x180."""
    import avatarkit

    d = tmp_path_factory.mktemp("prov")
    script = d / "tiny.yaml"
    script.write_text(TINY_SCRIPT.format(avatar=SAMPLES / "avatar.png"), encoding="utf-8")
    return avatarkit.render(script, out_dir=d / "out")


@pytest.fixture
def fresh_identity(monkeypatch, tmp_path):
    """An empty avatarkit home, no certificate configured, and no identity cached in this process."""
    for k in (provenance.ENV_CERT, provenance.ENV_KEY, provenance.ENV_ALG, provenance.ENV_TSA, provenance.ENV_TRUST):
        monkeypatch.delenv(k, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("AVATARKIT_HOME", str(home))
    monkeypatch.setattr(provenance, "_IDENTITIES", {})
    return home


def _manifest(path: Path) -> tuple[str, dict]:
    """c2pa's own reading of a file: its validation state and active manifest."""
    import c2pa

    ctx = c2pa.Context.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}})
    with c2pa.Reader(str(path), context=ctx) as reader:
        store = json.loads(reader.json())
        return reader.get_validation_state(), store["manifests"][store["active_manifest"]]


def _assertion(manifest: dict, label: str) -> dict:
    return next(a["data"] for a in manifest["assertions"] if a["label"] == label)


def _boxes(path: Path) -> list[str]:
    data, i, out = path.read_bytes(), 0, []
    while i < len(data):
        size, kind = struct.unpack(">I4s", data[i:i + 8])
        size = struct.unpack(">Q", data[i + 8:i + 16])[0] if size == 1 else (size or len(data) - i)
        out.append(kind.decode("latin-1"))
        i += size
    return out


def _tamper(src: Path, dest: Path) -> Path:
    """A copy of an MP4 with a few bytes of its media data changed (the container still parses)."""
    data = bytearray(src.read_bytes())
    at = data.find(b"mdat") + 200
    data[at:at + 4] = bytes(b ^ 0x5A for b in data[at:at + 4])
    dest.write_bytes(bytes(data))
    return dest


def _ca_and_signer(folder: Path, org: str) -> tuple[Path, Path, Path]:
    """An organisation's CA and a document-signing certificate it issued (PEM files: chain, key, CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])

    def usage(**on):
        flags = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                               "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
        return x509.KeyUsage(**{**flags, **on})

    ca_key, key = ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP384R1())
    ca = (x509.CertificateBuilder().subject_name(name(f"{org} Root")).issuer_name(name(f"{org} Root"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA384()))
    leaf = (x509.CertificateBuilder().subject_name(name(f"{org} media signer")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA384()))
    pem = serialization.Encoding.PEM
    folder.mkdir(parents=True, exist_ok=True)
    chain, key_file, ca_file = folder / "chain.pem", folder / "signer.key", folder / "ca.pem"
    chain.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    key_file.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    ca_file.write_bytes(ca.public_bytes(pem))
    return chain, key_file, ca_file


def _jpeg(path: Path) -> Path:
    Image.fromarray(np.full((90, 160, 3), 120, np.uint8)).save(path, format="JPEG", quality=85)
    return path


# -- a real render ------------------------------------------------------------------------------------------

def test_render_mp4_and_thumbnail_carry_valid_credentials(tiny):
    for path in (tiny.video, tiny.thumbnail):
        state, m = _manifest(path)
        assert state in ("Valid", "Trusted"), (path, state)     # signature and hash binding hold
        assert m["claim_generator_info"][0]["name"] == "avatarkit"
        assert m["claim_generator_info"][0]["version"] == __version__
        created = _assertion(m, "c2pa.actions.v2")["actions"][0]
        assert created["action"] == "c2pa.created" and created["digitalSourceType"] == SOURCE_TYPE
        ours = _assertion(m, provenance.ASSERTION)
        assert ours["kind"] == "render" and ours["title"] == "Provenance test" and ours["notice"] == AI_NOTICE
        assert [v["id"] for v in ours["voices"]] == ["en-us-joe"] and ours["voices"][0]["engine"] == "piper"
        assert ours["avatars"] == [{"name": "avatar.png", "kind": "photo", "sha256": sha256_file(SAMPLES / "avatar.png")}]
        assert ours["sources"] == []
        assert str(SAMPLES) not in json.dumps(m)            # names, never the machine's paths
    assert _manifest(tiny.video)[1]["title"] == tiny.video.name
    c = verify(tiny.video)
    assert c.ok and c.ai_generated and c.kind == "render" and c.generator == f"avatarkit {__version__}"
    assert list(tiny.video.parent.glob(".*")) == []          # no unsigned or partial file left behind


def test_signed_render_stays_fast_start_playable_and_labelled(tiny):
    boxes = _boxes(tiny.video)
    assert boxes.index("uuid") < boxes.index("moov") < boxes.index("mdat")   # manifest first, index before data
    with av.open(str(tiny.video)) as c:
        assert c.metadata.get("comment") == AI_NOTICE
        frames = sum(1 for _ in c.decode(video=0))
    with av.open(str(tiny.video)) as c:
        samples = sum(f.samples for f in c.decode(audio=0))
    assert frames == tiny.frames and abs(samples / 48000 - tiny.duration) < 0.1
    with Image.open(tiny.thumbnail) as im:
        im.load()
        assert im.info.get("comment") == AI_NOTICE.encode() and im.size == (320, 180)
    assert "AI-generated" in tiny.vtt.read_text(encoding="utf-8")


# -- avatarkit verify ---------------------------------------------------------------------------------------

def test_verify_command_shows_the_manifest_and_passes(tiny):
    r = CliRunner().invoke(app, ["verify", str(tiny.video), str(tiny.thumbnail)])
    assert r.exit_code == 0, r.output
    for text in ("Content Credentials valid", f"avatarkit {__version__}", "trainedAlgorithmicMedia (AI-generated)",
                 "en-us-joe (piper, en-US)", "avatar.png (photo)", "signer", "valid        yes"):
        assert text in r.output
    r = CliRunner().invoke(app, ["verify", "--json", str(tiny.video)])
    assert r.exit_code == 0
    [found] = json.loads(r.stdout)
    assert found["ok"] and found["source_type"] == SOURCE_TYPE and found["voices"][0]["id"] == "en-us-joe"


def test_a_tampered_mp4_fails_verify(tiny, tmp_path):
    bad = _tamper(tiny.video, tmp_path / "tampered.mp4")
    c = verify(bad)
    assert c.present and not c.valid and not c.ok
    assert any("hash" in p.lower() for p in c.problems), c.problems
    r = CliRunner().invoke(app, ["verify", str(bad)])
    assert r.exit_code == 1 and "INVALID" in r.output and "no longer matches" in r.output
    # A changed byte in the thumbnail's picture data fails too.
    data = bytearray(tiny.thumbnail.read_bytes())
    data[-40] ^= 0xFF
    (tmp_path / "t.jpg").write_bytes(bytes(data))
    assert CliRunner().invoke(app, ["verify", str(tmp_path / "t.jpg")]).exit_code == 1


def test_a_file_without_a_manifest_fails_verify(tmp_path):
    from avatarkit.media.writer import VideoWriter

    with VideoWriter(tmp_path / "plain.mp4", 64, 64, 25, 48000) as w:
        for _ in range(5):
            w.write_frame(np.zeros((64, 64, 3), np.uint8))
        w.write_audio(np.zeros(48000 // 5, np.float32))
    for path in (tmp_path / "plain.mp4", _jpeg(tmp_path / "plain.jpg")):
        c = verify(path)
        assert not c.present and not c.ok
        r = CliRunner().invoke(app, ["verify", str(path)])
        assert r.exit_code == 1 and "no Content Credentials" in r.output


def test_verify_bad_input_is_one_clear_line(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "fake.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    for path, says in ((tmp_path / "missing.mp4", "file not found"), (tmp_path / "notes.txt", "not a media file"),
                       (tmp_path / "fake.mp4", "not a readable MP4"), (tmp_path, "not a file")):
        with pytest.raises(ProvenanceError, match=says):
            verify(path)
        r = CliRunner().invoke(app, ["verify", str(path)])
        text = " ".join(r.output.split())       # the console wraps long lines at the terminal's width
        assert r.exit_code == 2 and text.startswith("error:") and says in text and "Traceback" not in text, text
        assert r.exception is None or isinstance(r.exception, SystemExit)


# -- signing identity ---------------------------------------------------------------------------------------

def test_local_certificate_is_made_once_and_reused(fresh_identity, tmp_path, caplog, monkeypatch):
    home = fresh_identity
    caplog.set_level(logging.WARNING, logger="avatarkit.provenance")
    o = Origin("render", "t")
    sign_file(_jpeg(tmp_path / "a.jpg"), tmp_path / "a.jpg", o)
    folder = provenance.local_folder(home)
    chain = (folder / "signer.pem").read_bytes()
    assert (folder / "signer.key").stat().st_mode & 0o077 == 0          # the key is the owner's alone
    assert (folder / "ca.pem").is_file()
    made = [r for r in caplog.records if "self-signed" in r.getMessage()]
    assert len(made) == 1 and str(folder) in made[0].getMessage()
    # A second file, and a second process (nothing cached), reuse it without a word.
    sign_file(_jpeg(tmp_path / "b.jpg"), tmp_path / "b.jpg", o)
    provenance._IDENTITIES.clear()
    sign_file(_jpeg(tmp_path / "c.jpg"), tmp_path / "c.jpg", o)
    assert (folder / "signer.pem").read_bytes() == chain
    assert len([r for r in caplog.records if "self-signed" in r.getMessage()]) == 1
    assert [p.name for p in (home / "c2pa").iterdir()] == ["local"]
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        c = verify(tmp_path / name)
        assert c.ok and not c.trusted and c.signer == "avatarkit local signer"
    # Trusting the local CA (as an organisation's validator would) makes the signer trusted.
    monkeypatch.setenv(provenance.ENV_TRUST, str(folder / "ca.pem"))
    assert verify(tmp_path / "a.jpg").trusted


def test_a_configured_certificate_signs(fresh_identity, tmp_path, monkeypatch, tiny):
    chain, key, ca = _ca_and_signer(tmp_path / "org", "Example Org")
    monkeypatch.setenv(provenance.ENV_CERT, str(chain))
    monkeypatch.setenv(provenance.ENV_KEY, str(key))
    ident = provenance.signing_identity()
    assert ident.alg == "es384" and not ident.local
    out = tmp_path / "signed.mp4"
    sign_file(tiny.video, out, Origin("render", "re-signed"))
    c = verify(out)
    assert c.ok and c.signer == "Example Org media signer" and c.issuer == "Example Org" and not c.trusted
    monkeypatch.setenv(provenance.ENV_TRUST, str(ca))
    assert verify(out).trusted
    assert not provenance.local_folder(fresh_identity).exists()      # no local certificate was made
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == tiny.frames


def test_a_settings_file_configures_the_certificate(fresh_identity, tmp_path):
    home = fresh_identity
    chain, key, _ = _ca_and_signer(home / "certs", "Settings Org")
    (home / "c2pa.yaml").write_text("cert: certs/chain.pem\nkey: certs/signer.key\n")
    sign_file(_jpeg(tmp_path / "a.jpg"), tmp_path / "a.jpg", Origin("render"))
    assert verify(tmp_path / "a.jpg").signer == "Settings Org media signer"


def test_bad_certificate_settings_fail_early_and_clearly(fresh_identity, tmp_path, monkeypatch, short_script):
    chain, key, _ = _ca_and_signer(tmp_path / "org", "Example Org")
    other_chain, _, _ = _ca_and_signer(tmp_path / "other", "Other Org")
    monkeypatch.setenv(provenance.ENV_CERT, str(chain))
    with pytest.raises(ProvenanceError, match=provenance.ENV_KEY):
        provenance.check_signing()
    monkeypatch.setenv(provenance.ENV_KEY, str(key))
    monkeypatch.setenv(provenance.ENV_CERT, str(other_chain))
    with pytest.raises(ProvenanceError, match="does not belong"):
        provenance.check_signing()
    monkeypatch.setenv(provenance.ENV_CERT, str(tmp_path / "nope.pem"))
    with pytest.raises(ProvenanceError, match="nope.pem"):
        provenance.check_signing()
    # A render refuses before any work, naming the setting.
    from avatarkit.pipeline.core import Pipeline

    out = tmp_path / "out"
    with pytest.raises(ProvenanceError, match=provenance.ENV_CERT):
        Pipeline().prepare(short_script, out)
    assert not list(out.glob("*.mp4"))


# -- lip sync and dub ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    """A lip sync of 4 s of speech at 320x240 (the footage the dub's avatar is made from)."""
    import avatarkit

    d = tmp_path_factory.mktemp("talk")
    audio, sr, _ = speech(4)
    wav = write_audio(d / "talk.wav", audio, sr)
    out = d / "talk.mp4"
    avatarkit.lipsync(SAMPLES / "avatar.png", wav, out, resolution=(320, 240), fps=25, captions=False)
    return out, wav


def test_lipsync_output_records_the_recording(talk):
    out, wav = talk
    state, m = _manifest(out)
    assert state in ("Valid", "Trusted")
    ours = _assertion(m, provenance.ASSERTION)
    assert ours["kind"] == "lipsync" and ours["voices"] == []
    assert ours["sources"] == [{"role": "recording", "name": "talk.wav", "sha256": sha256_file(wav)}]
    assert ours["avatars"][0]["name"] == "avatar.png"
    assert list(out.parent.glob(".*")) == []


def test_dub_output_records_sources_and_consent(talk, tmp_path):
    from avatarkit.face.avatar import add_avatar
    from avatarkit.models.mouth_diffusion import MouthDiffusionConfig
    from avatarkit.recordings.dub import dub
    from avatarkit.training.mouth import TrainSettings, train

    footage, _ = talk
    home = tmp_path / "avatars"
    home.mkdir()
    consent = tmp_path / "consent.txt"
    consent.write_text("I agree to my likeness being used for training videos.")
    a = add_avatar("talk", footage, consent, home=home)
    tiny_model = MouthDiffusionConfig(size=32, patch=2, block_out_channels=(8, 16), norm_num_groups=4,
                                      attention=False, steps=1)
    train(a, TrainSettings(steps=2, size=32, batch=4, preview_every=2, checkpoint_every=2), config=tiny_model)
    new, sr, _ = speech(2, voice="en-us+f3")
    wav = write_audio(tmp_path / "new.wav", new, sr)
    out = tmp_path / "dubbed.mp4"
    dub(footage, out, audio=wav, home=home, captions=False)
    c = verify(out)
    assert c.ok and c.kind == "dub" and c.ai_generated
    assert c.consent_ids == [f"sha256:{sha256_file(consent)}"]
    assert c.avatars[0]["name"] == "talk" and c.avatars[0]["footage_sha256"] == sha256_file(footage)
    assert {(s["role"], s["sha256"]) for s in c.sources} == {("video", sha256_file(footage)), ("audio", sha256_file(wav))}
    r = CliRunner().invoke(app, ["verify", str(out)])
    assert r.exit_code == 0 and f"sha256:{sha256_file(consent)}" in r.output


# -- LMS packages -------------------------------------------------------------------------------------------

def test_packages_keep_the_manifest_and_the_player_says_verified(tiny, tmp_path):
    from avatarkit.export import Rendition, export_package
    from avatarkit.media.writer import VideoWriter

    signed = Rendition("en", tiny.video, tiny.vtt, "Provenance test", tiny.duration, thumbnail=tiny.thumbnail)
    pkg = export_package([signed], tmp_path / "p.zip", format="scorm2004", course_id="prov")
    with zipfile.ZipFile(pkg) as zf:
        video = zf.read("media/en/video.mp4")
        poster = zf.read("media/en/poster.jpg")
        course = json.loads(zf.read("course.json"))
        page = zf.read("index.html").decode("utf-8")
    assert video == tiny.video.read_bytes() and poster == tiny.thumbnail.read_bytes()   # byte for byte
    (tmp_path / "x.mp4").write_bytes(video)
    assert verify(tmp_path / "x.mp4").ok
    assert course["renditions"][0]["credentials"]["verified"] is True
    assert '<span class="ak-cred" id="ak-cred"> · Content Credentials verified</span>' in page
    # A video without Content Credentials (or whose manifest broke) is labelled AI-generated alone.
    with VideoWriter(tmp_path / "plain.mp4", 64, 64, 25, 48000) as w:
        w.write_frame(np.zeros((64, 64, 3), np.uint8))
        w.write_audio(np.zeros(1920, np.float32))
    plain = Rendition("de", tmp_path / "plain.mp4", tiny.vtt, "Ohne", 0.04)
    broken = Rendition("fr", _tamper(tiny.video, tmp_path / "broken.mp4"), tiny.vtt, "Cassé", tiny.duration)
    site = export_package([plain, broken, signed], tmp_path / "site", format="html", course_id="prov")
    course = json.loads((site / "course.json").read_text())
    assert [r["credentials"]["verified"] for r in course["renditions"]] == [False, False, True]
    page = (site / "index.html").read_text()
    assert 'id="ak-notice" role="note">' in page and 'id="ak-cred" hidden>' in page
    assert "rendition.credentials.verified" in (site / "player.js").read_text()


def test_signing_is_cheap_next_to_the_render(tiny, tmp_path):
    """Signing is one hash pass and one copy of the file: milliseconds here (a 60 s 720p MP4: see docs/provenance.md)."""
    import time

    provenance.check_signing()
    t0 = time.perf_counter()
    sign_file(tiny.video, tmp_path / "again.mp4", Origin("render"))
    took = time.perf_counter() - t0
    assert verify(tmp_path / "again.mp4").ok
    assert took < 0.05 * tiny.wall_s + 0.5, (took, tiny.wall_s)
