"""The render service's HTTP API: submission, validation, idempotency, paging, cancel, artifacts, keys, limits, safety.

Runs the real app over the real SQLite job store in a temporary folder;
jobs are finished by a fast fake job function instead of a render.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import socket
import stat
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from avatarkit.serve.app import create_app
from avatarkit.serve.client import Client, ServiceError
from avatarkit.serve.config import RateDefaults, ServeConfig
from avatarkit.serve.keys import create_key
from avatarkit.serve.store import open_store
from avatarkit.serve.uploads import UploadError

PEPPER = "test-pepper"
SCRIPT = """\
avatarkit: 1
title: Tiny
defaults:
  avatar: {avatar}
scenes:
  - id: one
    segments:
      - text: Hello there.
"""
HOOK = "hooks.example.com"


FACE = (Path(__file__).resolve().parents[1] / "samples" / "avatar.png").read_bytes()


def png_bytes(size: int | None = None) -> bytes:
    """A PNG: the sample presenter's photo (a real face, as the service checks avatars), or a plain square of `size`."""
    if size is None:
        return FACE
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (200, 100, 50)).save(buf, "PNG")
    return buf.getvalue()


def fake_run(job, report) -> list[str]:
    """The job function of these tests: one small 'video' artifact in a subfolder, written at once."""
    out = Path(job.workdir) / "out"
    out.mkdir(exist_ok=True)
    (out / "video.en.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    report(1.0)
    return ["out/video.en.mp4"]


def job_folders(svc) -> list[Path]:
    """The job folders the service holds (its uploads, records and renders)."""
    jobs = Path(svc.config.data_dir) / "jobs"
    return sorted(jobs.iterdir()) if jobs.is_dir() else []


class Service:
    def __init__(self, tmp: Path, **cfg):
        self.store = open_store(f"sqlite:///{tmp}/jobs.db")
        rate = cfg.pop("rate", RateDefaults(per_s=1000, burst=1000, max_concurrent=1000))
        self.config = ServeConfig(db=f"sqlite:///{tmp}/jobs.db", data_dir=str(tmp / "jobs"), pepper=PEPPER,
                                  allowed_webhook_hosts=[HOOK], max_upload_mb=1, max_unzipped_mb=2, rate=rate, **cfg)
        self.app = create_app(self.config, store=self.store)
        self.http = TestClient(self.app)

    def key(self, scopes=("renders:create", "renders:read", "renders:cancel"), limits=None) -> dict:
        _, secret = create_key(self.store, "k", list(scopes), PEPPER.encode(), limits)
        return {"Authorization": f"Bearer {secret}"}

    def submit(self, auth, script=SCRIPT.format(avatar="face.png"), assets=None, headers=None, **fields):
        assets = {"face.png": png_bytes()} if assets is None else assets
        files = [("script", ("script.yaml", script.encode()))] + [("assets", (n, b)) for n, b in assets.items()]
        return self.http.post("/v1/renders", headers={**auth, **(headers or {})}, files=files, data=fields)

    def finish(self, job_id: str) -> None:
        job = self.store.claim_job("test-worker", 30)
        assert job is not None and job.id == job_id
        assert self.store.finish_job(job.id, "test-worker", fake_run(job, lambda p: True))


@pytest.fixture
def svc(tmp_path, monkeypatch) -> Service:
    monkeypatch.setenv("AVATARKIT_HOME", str(tmp_path / "home"))
    return Service(tmp_path)


@pytest.fixture
def auth(svc) -> dict:
    return svc.key()


def test_create_multipart_and_json(svc, auth):
    r = svc.submit(auth, formats="mp4,scorm2004", resolution="640x360")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "queued" and body["links"]["self"] == f"/v1/renders/{body['id']}"
    job = svc.store.get_job(body["id"])
    assert job.request == {"script": "input/script.yaml", "languages": "all", "formats": ["mp4", "scorm2004"],
                           "resolution": [640, 360], "captions": None, "brand": None}
    assert (Path(job.workdir) / "input" / "face.png").read_bytes() == png_bytes()
    doc = {"avatarkit": 1, "title": "J", "defaults": {"avatar": "pics/face.png"},
           "scenes": [{"segments": [{"text": "Hi."}]}]}
    r = svc.http.post("/v1/renders", headers=auth, json={
        "script": doc, "assets": {"pics/face.png": base64.b64encode(png_bytes()).decode()},
        "languages": ["en"], "formats": ["mp4"], "captions": True})
    assert r.status_code == 201, r.text
    job = svc.store.get_job(r.json()["id"])
    assert job.request["languages"] == ["en"] and job.request["captions"] is True
    assert (Path(job.workdir) / "input" / "pics" / "face.png").is_file()
    got = svc.http.get(f"/v1/renders/{job.id}", headers=auth).json()
    assert got["status"] == "queued" and got["progress"] == 0.0 and got["artifacts"] == [] and got["attempts"] == 0


def test_bad_script_is_422_with_file_line_field(svc, auth):
    bad = SCRIPT.format(avatar="face.png").replace("      - text: Hello there.", "      - text: Hi\n        voice: 7")
    r = svc.submit(auth, script=bad)
    assert r.status_code == 422
    assert r.json()["detail"].startswith("script.yaml:9: scenes[0].segments[0].voice: expected str"), r.json()
    r = svc.submit(auth, script=SCRIPT.format(avatar="missing.png"))
    assert r.status_code == 422 and "script.yaml:4: defaults.avatar" in r.json()["detail"]
    assert str(svc.config.data_dir) not in r.json()["detail"]          # no server paths in messages
    assert svc.store.list_jobs(key_id=None)[0] == []
    assert job_folders(svc) == []  # nothing left behind


def test_idempotency(svc, auth):
    r1 = svc.submit(auth, headers={"Idempotency-Key": "abc"})
    r2 = svc.submit(auth, headers={"Idempotency-Key": "abc"})
    assert (r1.status_code, r2.status_code) == (201, 200)
    assert r1.json()["id"] == r2.json()["id"]
    r3 = svc.submit(auth, headers={"Idempotency-Key": "abc"}, formats="scorm12")
    assert r3.status_code == 409
    other = svc.key()
    r4 = svc.submit(other, headers={"Idempotency-Key": "abc"})      # keys do not share idempotency keys
    assert r4.status_code == 201 and r4.json()["id"] != r1.json()["id"]
    assert len(job_folders(svc)) == 2


def test_pagination_and_status_filter(svc, auth):
    ids = [svc.submit(auth).json()["id"] for _ in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = svc.http.get("/v1/renders", headers=auth, params=params).json()
        seen += [j["id"] for j in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and seen == ids[::-1]
    svc.http.post(f"/v1/renders/{ids[0]}/cancel", headers=auth)
    page = svc.http.get("/v1/renders", headers=auth, params={"status": "cancelled"}).json()
    assert [j["id"] for j in page["items"]] == [ids[0]]
    assert svc.http.get("/v1/renders", headers=auth, params={"cursor": "garbage!"}).status_code == 400
    assert svc.http.get("/v1/renders", headers=auth, params={"status": "nope"}).status_code == 422


def test_cancel(svc, auth):
    job_id = svc.submit(auth).json()["id"]
    r = svc.http.post(f"/v1/renders/{job_id}/cancel", headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert svc.http.get(f"/v1/renders/{job_id}", headers=auth).json()["status"] == "cancelled"


def test_artifact_download_and_traversal(svc, auth, tmp_path):
    job_id = svc.submit(auth).json()["id"]
    svc.finish(job_id)
    got = svc.http.get(f"/v1/renders/{job_id}", headers=auth).json()
    assert got["status"] == "succeeded" and got["progress"] == 1.0
    [art] = got["artifacts"]
    assert art["name"] == "out/video.en.mp4" and art["size"] == 1036
    r = svc.http.get(art["url"], headers=auth)
    assert r.status_code == 200 and r.content == (Path(svc.store.get_job(job_id).workdir) / art["name"]).read_bytes()
    assert r.content[4:8] == b"ftyp"
    (tmp_path / "secret.txt").write_text("top secret")
    base = f"/v1/renders/{job_id}/artifacts/"
    for name in ("face.png", "script.yaml", "out/missing.mp4"):
        assert svc.http.get(base + name, headers=auth).status_code == 404, name   # uploads are not artifacts
    for name in ("..%2F..%2F..%2Fsecret.txt", "%2e%2e/%2e%2e/%2e%2e/secret.txt", "%2Fetc%2Fpasswd", "out%5C..%5Cx",
                 "out/%2e%2e/script.yaml", "%00"):
        r = svc.http.get(base + name, headers=auth)
        assert r.status_code in (400, 404), (name, r.status_code)
        assert b"top secret" not in r.content and b"root:" not in r.content


def test_auth_scopes_and_isolation(svc, auth):
    job_id = svc.submit(auth).json()["id"]
    r = svc.http.get(f"/v1/renders/{job_id}")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert svc.http.get("/v1/renders", headers={"Authorization": "Bearer ak_wrong"}).status_code == 401
    assert svc.http.get("/v1/renders", headers={"Authorization": "Basic Zm9vOmJhcg=="}).status_code == 401
    reader = svc.key(scopes=["renders:read"])
    assert svc.submit(reader).status_code == 403
    assert svc.http.post(f"/v1/renders/{job_id}/cancel", headers=reader).status_code == 403
    # Another key neither sees nor touches the job: it looks missing.
    assert svc.http.get(f"/v1/renders/{job_id}", headers=reader).status_code == 404
    assert svc.http.get("/v1/renders", headers=reader).json()["items"] == []
    admin = svc.key(scopes=["admin"])
    assert svc.http.post(f"/v1/renders/{job_id}/cancel", headers=admin).status_code == 404
    # A revoked key stops at once.
    key_id = svc.store.list_keys()[0]["id"]
    svc.store.revoke_key(key_id)
    assert svc.http.get("/v1/renders", headers=auth).status_code == 401
    assert svc.http.get("/v1/health").json()["status"] == "ok"


def test_rate_limit_and_concurrency_cap(svc):
    slow = svc.key(limits={"per_s": 0.5, "burst": 2})
    assert [svc.http.get("/v1/renders", headers=slow).status_code for _ in range(2)] == [200, 200]
    r = svc.http.get("/v1/renders", headers=slow)
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    capped = svc.key(limits={"max_concurrent": 2})
    assert [svc.submit(capped).status_code for _ in range(3)] == [201, 201, 429]
    assert int(svc.submit(capped).headers["retry-after"]) >= 1


def test_concurrency_cap_holds_for_submissions_sent_side_by_side(svc):
    # The cap was counted before the uploads were saved and the script checked, and the job created after:
    # fifteen submissions at once all passed the count (4 allowed, 15 created).
    capped = svc.key(limits={"max_concurrent": 3})
    codes: list[int] = []
    start = threading.Barrier(8)

    def send():
        start.wait()
        codes.append(svc.submit(capped).status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [201] * 3 + [429] * 5, codes
    jobs, _ = svc.store.list_jobs(key_id=svc.store.list_keys()[-1]["id"], limit=50)
    assert len(jobs) == 3
    assert len(job_folders(svc)) == 3          # the refused ones left nothing behind


def test_size_limits_413(svc, auth):
    big = png_bytes() + b"\x00" * (1024 * 1024 + 10)
    r = svc.submit(auth, assets={"face.png": big})
    assert r.status_code == 413
    # No Content-Length (chunked): the body is counted as it arrives.
    def chunks():
        yield b'{"script": "'
        for _ in range(40):
            yield b"a" * 65536
        yield b'"}'
    r = svc.http.post("/v1/renders", headers={**auth, "Content-Type": "application/json"}, content=chunks())
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    assert job_folders(svc) == []


def test_type_checked_by_extension_and_magic_bytes(svc, auth):
    jpeg = io.BytesIO()
    Image.new("RGB", (8, 8)).save(jpeg, "JPEG")
    r = svc.submit(auth, assets={"face.png": jpeg.getvalue()})
    assert r.status_code == 400 and "assets[0]" in r.json()["detail"] and "not a PNG" in r.json()["detail"]
    r = svc.submit(auth, assets={"face.png": png_bytes(), "run.sh": b"#!/bin/sh\n"})
    assert r.status_code == 400 and "assets[1]" in r.json()["detail"] and "not accepted" in r.json()["detail"]
    face = io.BytesIO()
    Image.open(io.BytesIO(png_bytes())).convert("RGB").save(face, "JPEG")
    r = svc.submit(auth, script=SCRIPT.format(avatar="face.jpg"), assets={"face.jpg": face.getvalue()})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("name", ["../face.png", "/etc/face.png", "C:/face.png", "a\\face.png", "a//face.png",
                                  "./face.png", "face\x00.png", "script.yaml"])
def test_unsafe_asset_names(svc, auth, name):
    r = svc.http.post("/v1/renders", headers=auth, json={
        "script": SCRIPT.format(avatar="face.png"), "assets": {name: base64.b64encode(png_bytes()).decode()}})
    assert r.status_code == 400, (name, r.text)
    assert r.json()["detail"].startswith(f"assets[{name!r}]")
    assert job_folders(svc) == []


def _zip(members: dict, symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in members.items():
            z.writestr(n, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "/etc/passwd")
    return buf.getvalue()


def test_zip_assets(svc, auth):
    ok = _zip({"img/face.png": png_bytes(), "notes/lexicon.yaml": "a: b\n"})
    r = svc.submit(auth, script=SCRIPT.format(avatar="img/face.png"), assets={"pack.zip": ok})
    assert r.status_code == 201, r.text
    work = Path(svc.store.get_job(r.json()["id"]).workdir) / "input"
    assert (work / "img" / "face.png").read_bytes() == png_bytes() and not (work / "pack.zip").exists()
    cases = {
        "slip": (_zip({"../../evil.png": png_bytes()}), "'..' part"),
        "absolute": (_zip({"/tmp/evil.png": png_bytes()}), "absolute"),
        "symlink": (_zip({"face.png": png_bytes()}, symlink="img/link.png"), "symbolic links"),
        "bomb": (_zip({"big.json": b"0" * (3 * 1024 * 1024)}), "zip bomb"),
        "wrong type": (_zip({"other.png": b"GIF89a...."}), "not a PNG"),
        "nested": (_zip({"inner.zip": _zip({"a.png": png_bytes()})}), "inside archives"),
    }
    for what, (data, needle) in cases.items():
        r = svc.submit(auth, assets={"face.png": png_bytes(), "pack.zip": data})
        assert r.status_code == 400, what
        assert needle in r.json()["detail"] and "assets[1]" in r.json()["detail"], (what, r.json())
    assert not (Path(svc.config.data_dir).parent / "evil.png").exists()


def test_zip_budget_is_one_per_request(svc, auth):
    # Each archive alone is within max_unzipped_mb (2 MB here); together they are not.
    text = np.frombuffer(b"ab", np.uint8)[np.random.default_rng(0).integers(0, 2, 1_200_000)].tobytes()
    packs = {f"p{i}.zip": _zip({f"notes{i}/n.yaml": text}) for i in range(2)}
    r = svc.submit(auth, assets={"face.png": png_bytes(), **packs})
    assert r.status_code == 400 and "what is left of the request's" in r.json()["detail"], r.text
    assert job_folders(svc) == []


def test_many_small_members_are_a_bomb_together(svc, auth):
    # Every member is under the per-member check's 1 MiB; the archive as a whole expands ~1000x.
    pack = _zip({f"pad/p{i}.yaml": b"a" * 200_000 for i in range(9)})
    assert len(pack) * 200 < 9 * 200_000
    r = svc.submit(auth, assets={"face.png": png_bytes(), "pad.zip": pack})
    assert r.status_code == 400 and "zip bomb" in r.json()["detail"], r.text


def test_text_assets_are_read_in_blocks_and_still_checked_whole(tmp_path):
    from avatarkit.serve.uploads import BLOCK, check_type

    # A character of three bytes across the 1 MiB block boundary is still UTF-8.
    good = tmp_path / "a.yaml"
    good.write_bytes(b"x: " + b"a" * (BLOCK - 4) + "\u20ac".encode() + b"\n")
    assert check_type(good, "a.yaml", "assets[0]") == "text"
    bad = tmp_path / "b.yaml"
    bad.write_bytes(b"x: " + b"a" * (BLOCK + 10) + b"\xff\n")
    with pytest.raises(UploadError, match="not a YAML file"):
        check_type(bad, "b.yaml", "assets[0]")
    nul = tmp_path / "c.yaml"
    nul.write_bytes(b"x: " + b"a" * (2 * BLOCK) + b"\x00")
    with pytest.raises(UploadError):
        check_type(nul, "c.yaml", "assets[0]")


def test_script_paths_must_stay_in_the_job(svc, auth, tmp_path):
    outside = tmp_path / "outside.png"
    outside.write_bytes(png_bytes())
    r = svc.submit(auth, script=SCRIPT.format(avatar=str(outside)))
    assert r.status_code == 422 and "script.yaml:4: defaults.avatar" in r.json()["detail"], r.json()
    assert "not a name relative to the script" in r.json()["detail"]
    (Path(svc.config.data_dir) / "sibling.png").write_bytes(png_bytes())
    r = svc.submit(auth, script=SCRIPT.format(avatar="../sibling.png"))
    assert r.status_code == 422 and "'..' part" in r.json()["detail"]


def test_webhook_hosts(svc, auth):
    r = svc.submit(auth, webhook_url="https://evil.example.net/hook")
    assert r.status_code == 400 and r.json()["detail"].startswith("webhook_url:")
    for url in ("file:///etc/passwd", "https://user:pw@hooks.example.com/x", "https://hooks.example.com:bad/"):
        assert svc.submit(auth, webhook_url=url).status_code == 400, url
    r = svc.submit(auth, webhook_url=f"https://{HOOK}/done")
    assert r.status_code == 201
    assert svc.store.get_job(r.json()["id"]).webhook_url == f"https://{HOOK}/done"


def test_secrets_never_logged(svc, caplog):
    caplog.set_level(logging.DEBUG)
    headers = svc.key()
    secret = headers["Authorization"].split()[1]
    job_id = svc.submit(headers).json()["id"]
    svc.http.get(f"/v1/renders/{job_id}", headers=headers)
    svc.http.get("/v1/renders", headers={"Authorization": f"Bearer {secret}x"})
    assert f"render {job_id} created" in caplog.text
    assert secret not in caplog.text and secret[3:20] not in caplog.text
    row = json.dumps(svc.store.list_keys())
    assert secret not in row and secret[3:20] not in row


def test_openapi_documents_every_route(svc):
    doc = svc.http.get("/openapi.json").json()
    ops = [(p, m, op) for p, item in doc["paths"].items() for m, op in item.items()]
    assert {p for p, _, _ in ops} == {"/v1/renders", "/v1/renders/{job_id}", "/v1/renders/{job_id}/cancel",
                                      "/v1/renders/{job_id}/artifacts/{name}", "/v1/voices", "/v1/avatars",
                                      "/v1/health", "/v1/sessions", "/v1/sessions/{sid}"}
    for p, m, op in ops:
        assert "200" in op["responses"] or "201" in op["responses"], (p, m)
        if p != "/v1/health":
            assert {"401", "403", "429"} <= set(op["responses"]), (p, m)
    body = doc["paths"]["/v1/renders"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)
    assert svc.http.get("/docs").status_code == 200


def test_client_against_a_real_server(tmp_path, monkeypatch):
    import uvicorn

    from avatarkit.serve.worker import WorkerSettings, worker_loop

    monkeypatch.setenv("AVATARKIT_HOME", str(tmp_path / "home"))
    svc = Service(tmp_path)
    secret = svc.key()["Authorization"].split()[1]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(svc.app, log_level="warning", lifespan="off"))
    serving = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    stop = threading.Event()
    working = threading.Thread(target=worker_loop, args=(WorkerSettings(svc.config.db, 10, 0.05, fake_run), stop),
                               kwargs={"store": svc.store}, daemon=True)
    serving.start()
    working.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.02)
        (tmp_path / "lesson").mkdir()
        script = tmp_path / "lesson" / "lesson.yaml"
        script.write_text(SCRIPT.format(avatar="pics/face.png"))
        (tmp_path / "lesson" / "pics").mkdir()
        (tmp_path / "lesson" / "pics" / "face.png").write_bytes(png_bytes())
        with Client(f"http://127.0.0.1:{port}", secret, timeout=10) as client:
            made = client.submit(script, [tmp_path / "lesson" / "pics" / "face.png"], languages=["en"], idempotency_key="k1")
            assert client.submit(script, [tmp_path / "lesson" / "pics" / "face.png"], languages=["en"],
                                 idempotency_key="k1")["id"] == made["id"]
            done = client.wait(made["id"], timeout=10, poll=0.05)
            assert done["status"] == "succeeded" and [a["name"] for a in done["artifacts"]] == ["out/video.en.mp4"]
            path = client.download(made["id"], "out/video.en.mp4", tmp_path)
            assert path == tmp_path / "video.en.mp4" and path.read_bytes()[4:8] == b"ftyp" and path.stat().st_size == 1036
            assert [j["id"] for j in client.list(page_size=1)] == [made["id"]]
            with pytest.raises(ServiceError) as e:
                client.submit(SCRIPT.format(avatar="nope.png") + "\n")
            assert e.value.status == 422 and "defaults.avatar" in str(e.value)
            with pytest.raises(ServiceError) as e:
                client.download(made["id"], "face.png", tmp_path)
            assert e.value.status == 404
        with Client(f"http://127.0.0.1:{port}", "ak_bad") as bad, pytest.raises(ServiceError) as e:
            bad.get(made["id"])
        assert e.value.status == 401 and "API key" in str(e.value)
    finally:
        stop.set()
        server.should_exit = True
        serving.join(10)
        working.join(10)


def test_store_outage_is_503_without_the_database_path(svc, auth, monkeypatch):
    from avatarkit.serve.store import StoreUnavailable

    def down(*a, **k):
        raise StoreUnavailable('store url: cannot connect to PostgreSQL ("/tmp/pg-x/.s.PGSQL.5432" refused)')

    monkeypatch.setattr(svc.store, "get_key_by_hash", down)
    r = svc.http.get("/v1/renders", headers=auth)
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert "/tmp" not in r.text and "PGSQL" not in r.text


def test_pictures_inside_a_pdf_are_measured_before_a_page_is_drawn(tmp_path):
    # Drawing a PDF page decodes its pictures whole; only the page count was checked.
    from avatarkit.serve.config import JobLimits
    from avatarkit.serve.intake import LimitExceeded, check_uploads

    Image.new("RGB", (3000, 2000), (200, 10, 10)).save(tmp_path / "deck.pdf", "PDF")
    check_uploads(tmp_path, JobLimits(image_pixels=6_000_000))          # exactly at the limit: accepted
    with pytest.raises(LimitExceeded, match=r"deck\.pdf: page 1: a picture's pixels is 6e\+06, over the limit "
                                            r"limits\.image_pixels"):
        check_uploads(tmp_path, JobLimits(image_pixels=5_000_000))
