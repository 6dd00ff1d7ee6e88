"""LMS packages played in headless Chromium under real runtimes: scorm-again for SCORM 1.2 and 2004, an LRS stub for cmi5.

Each test launches a package the way an LMS does, drives the player with
the keyboard and the language menu, closes it, checks what the LMS or LRS
recorded, then launches it again from what was stored and checks that the
player resumes at the bookmark. The videos are two 6 s renditions (English
and Arabic) with a completion threshold of half the video, played at 3x.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from avatarkit.export import export_package
from tests.lms.harness import LMS_DIR, LRS, SCORM_AGAIN, Server, cmi5_launch_url, lrs_server, make_rendition

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("needs Chromium at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)
if importlib.util.find_spec("playwright") is None:
    pytest.skip("needs Playwright for Python (pip install playwright; no browser download)", allow_module_level=True)
if not SCORM_AGAIN.exists():
    pytest.skip("needs scorm-again in tests/lms (npm ci --prefix tests/lms)", allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402

RATE = 3.0
THRESHOLD = 0.5
DURATION = 6.0


@pytest.fixture(scope="module")
def renditions(tmp_path_factory):
    d = tmp_path_factory.mktemp("renditions")
    en = make_rendition(d, "en", "Safety basics", ["Welcome", "to", "the", "safety", "course", "today"], seconds=DURATION)
    ar = make_rendition(d, "ar", "أساسيات السلامة", ["مرحبا", "بكم", "في", "دورة", "السلامة", "اليوم"], seconds=DURATION, hue=90)
    return [en, ar]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--autoplay-policy=no-user-gesture-required"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, f"script errors in the player: {errors}"


def _site(tmp_path: Path, renditions, fmt: str) -> Path:
    """The web root: the test LMS page, scorm-again, and the package unpacked under /<fmt>/."""
    root = tmp_path / "www"
    (root / "node_modules/scorm-again/dist").mkdir(parents=True)
    shutil.copy(LMS_DIR / "lms.html", root)
    shutil.copy(SCORM_AGAIN, root / "node_modules/scorm-again/dist")
    if fmt == "html":
        export_package(renditions, root / fmt, format=fmt, course_id="safety-101", completion=THRESHOLD)
    else:
        pkg = export_package(renditions, tmp_path / f"{fmt}.zip", format=fmt, course_id="safety-101", completion=THRESHOLD)
        zipfile.ZipFile(pkg).extractall(root / fmt)
    return root


def _video(frame, expr: str):
    return frame.evaluate(f"(() => {{ const v = document.getElementById('ak-video'); return {expr}; }})()")


def _wait(frame, expr: str, timeout: float = 8000):
    frame.wait_for_function(f"(() => {{ const v = document.getElementById('ak-video'); return {expr}; }})()", timeout=timeout)


def _press(page, key: str):
    page.keyboard.press(key)


def _sco(page, fmt: str):
    """The SCO's frame inside the test LMS page, once it shows the package's player."""
    frame = page.locator("#sco").element_handle().content_frame()
    frame.wait_for_url(f"**/{fmt}/index.html")
    return frame


def _ready(frame, adapter: str):
    frame.wait_for_function("window.avatarkitPlayer !== undefined")
    assert frame.evaluate("avatarkitPlayer.adapter()") == adapter
    _wait(frame, "v.readyState >= 1")


def _watch_session(page, frame) -> dict:
    """Drive one viewing as a learner would and return what the player saw.

    Seek to 5 s and play to the end (1 s watched, no completion), jump back
    to the start and play until the player reports completion: with 5-6 s
    already watched this happens after 2 s, not 3 s, since completion counts
    the union of watched intervals. Then pause and switch to Arabic.
    """
    assert frame.evaluate("document.documentElement.dir") == "ltr"
    labels = frame.eval_on_selector_all(".ak-controls button", "bs => bs.map(b => b.getAttribute('aria-label'))")
    assert all(labels) and len(labels) == 6
    assert frame.eval_on_selector("#ak-seek", "s => s.getAttribute('aria-valuetext')").startswith("0:00")
    assert frame.evaluate("Array.from(document.getElementById('ak-video').textTracks).map(t => t.language + ':' + t.mode)") == \
        ["en:showing", "ar:disabled"]
    assert "AI-generated" in frame.inner_text("#ak-notice")

    frame.focus("#ak-play")
    _press(page, "m")
    frame.wait_for_function("document.getElementById('ak-mute').getAttribute('aria-pressed') === 'true'", timeout=2000)
    assert _video(frame, "v.muted") and frame.get_attribute("#ak-mute", "aria-label") == "Unmute"
    frame.evaluate(f"document.getElementById('ak-video').playbackRate = {RATE}")
    _press(page, "ArrowRight")                      # 0 -> 5 s, not watched
    _wait(frame, "Math.abs(v.currentTime - 5) < 0.05 && !v.seeking")
    _press(page, "k")
    _wait(frame, "v.ended")
    assert "Completed" not in frame.inner_text("#ak-status")
    spans = frame.evaluate("avatarkitPlayer.state().watched.spans")
    assert len(spans) == 1 and spans[0][0] == pytest.approx(5 / 6, abs=0.02) and spans[0][1] == pytest.approx(1.0, abs=1e-3)

    _press(page, "j")                               # 6 -> 0 s
    _wait(frame, "v.currentTime < 0.05 && !v.seeking")
    _press(page, "k")
    frame.wait_for_function("document.getElementById('ak-status').textContent.includes('Completed')", timeout=8000)
    _press(page, "k")
    _wait(frame, "v.paused && document.getElementById('ak-play').getAttribute('aria-label') === 'Play'")
    state = frame.evaluate("(() => { const s = avatarkitPlayer.state(); "
                           "return {t: s.position, spans: s.watched.spans, share: s.watched.share}; })()")
    assert THRESHOLD <= state["share"] < 1.0
    assert state["spans"][0][0] == pytest.approx(0.0, abs=0.01) and state["spans"][-1][1] == pytest.approx(1.0, abs=1e-3)
    assert 2.0 <= state["t"] < 5.0, state           # completed before 3 s of the start were watched again

    # Language switch keeps the position, flips the page to right-to-left, and shows the Arabic captions.
    frame.select_option("#ak-lang", "ar")
    _wait(frame, "v.currentSrc.endsWith('media/ar/video.mp4') && v.readyState >= 1 && !v.seeking")
    assert _video(frame, "v.currentTime") == pytest.approx(state["t"], abs=0.05)
    assert frame.evaluate("[document.documentElement.dir, document.documentElement.lang]") == ["rtl", "ar"]
    assert frame.inner_text("#ak-title") == "أساسيات السلامة"
    tracks = "Array.from(document.getElementById('ak-video').textTracks).map(t => t.language + ':' + t.mode)"
    assert frame.evaluate(tracks) == ["en:disabled", "ar:showing"]
    frame.focus("#ak-play")
    _press(page, "c")
    assert frame.evaluate(tracks) == ["en:disabled", "ar:disabled"] and frame.get_attribute("#ak-cc", "aria-pressed") == "false"
    _press(page, "c")
    assert frame.evaluate(tracks) == ["en:disabled", "ar:showing"]
    _wait(frame, "v.textTracks[1].cues && v.textTracks[1].cues.length === 6")
    return {"position": _video(frame, "v.currentTime"), "share": state["share"]}


def _resumed(frame, position: float):
    """The reopened player is in Arabic at the bookmark, and says so."""
    _wait(frame, f"Math.abs(v.currentTime - {position}) < 0.15 && !v.seeking")
    assert frame.evaluate("document.documentElement.dir") == "rtl"
    assert _video(frame, "v.currentSrc").endswith("media/ar/video.mp4")
    assert "Completed" in frame.inner_text("#ak-status")


def _plausible_seconds(text: str, fmt: str, wall: float) -> float:
    if fmt == "scorm12":
        m = re.fullmatch(r"(\d{2,4}):(\d{2}):(\d{2}(?:\.\d{1,2})?)", text)
        assert m, text
        s = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
    else:
        m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?", text)
        assert m and text != "PT", text
        s = int(m[1] or 0) * 3600 + int(m[2] or 0) * 60 + float(m[3] or 0)
    assert 1.0 < s <= wall + 0.5, (text, wall)
    return s


@pytest.mark.parametrize("fmt", ["scorm12", "scorm2004"])
def test_scorm_package_in_scorm_again(page, renditions, tmp_path, fmt):
    root = _site(tmp_path, renditions, fmt)
    v12 = fmt == "scorm12"
    with Server(root) as srv:
        page.goto(f"{srv.url}/lms.html")
        started = time.monotonic()
        page.evaluate("([f, u]) => lms.launch(f, u, null)", [fmt, f"/{fmt}/index.html"])
        frame = _sco(page, fmt)
        _ready(frame, fmt)
        seen = _watch_session(page, frame)
        page.evaluate("lms.unload()")
        page.wait_for_function("lms.calls.some(c => c[0] === 'LMSFinish' || c[0] === 'Terminate')", timeout=5000)
        wall = time.monotonic() - started

        calls = page.evaluate("lms.calls")
        names = [c[0] for c in calls]
        assert names[0] == ("LMSInitialize" if v12 else "Initialize") and names[-1] == ("LMSFinish" if v12 else "Terminate")
        assert names.count("LMSCommit" if v12 else "Commit") >= 2
        sets = [(c[1], c[2]) for c in calls if c[0] == "set"]
        status = "cmi.core.lesson_status" if v12 else "cmi.completion_status"
        assert [v for k, v in sets if k == status] == ["incomplete", "completed"]
        exits = [v for k, v in sets if k == ("cmi.core.exit" if v12 else "cmi.exit")]
        assert exits[0] == "suspend" or exits[-1] in ("", "normal")
        assert exits[-1] == ("" if v12 else "normal")

        get = lambda el: page.evaluate("e => lms.value(e)", el)  # noqa: E731
        assert get(status) == "completed"
        location = float(get("cmi.core.lesson_location" if v12 else "cmi.location"))
        assert location == pytest.approx(seen["position"], abs=0.11)
        _plausible_seconds([v for k, v in sets if k.endswith("session_time")][-1], fmt, wall)
        suspend = get("cmi.suspend_data")
        assert re.fullmatch(r"1\|ar\|1\|\d+-\d+(,\d+-\d+)*", suspend) and len(suspend) < 64
        if not v12:
            assert float(get("cmi.progress_measure")) == pytest.approx(seen["share"], abs=0.002)

        # The LMS relaunches the SCO with what it stored: the player resumes at the bookmark, still completed.
        stored = page.evaluate("lms.persisted()")
        page.goto(f"{srv.url}/lms.html")
        page.evaluate("([f, u, s]) => lms.launch(f, u, s)", [fmt, f"/{fmt}/index.html", stored])
        frame = _sco(page, fmt)
        _ready(frame, fmt)
        _resumed(frame, location)
        assert frame.evaluate("avatarkitPlayer.state().watched.share") == pytest.approx(seen["share"], abs=2e-4)
        sets = [(c[1], c[2]) for c in page.evaluate("lms.calls") if c[0] == "set"]
        assert (status, "incomplete") not in sets


def test_cmi5_package_with_lrs(page, renditions, tmp_path):
    root = _site(tmp_path, renditions, "cmi5")
    lrs = LRS(activity_id="urn:avatarkit:course:safety-101/au")
    with Server(root) as srv, lrs_server(lrs) as lrs_srv:
        au = f"{srv.url}/cmi5/index.html"
        page.goto(cmi5_launch_url(au, lrs, lrs_srv.url))
        _ready(page.main_frame, "cmi5")
        page.wait_for_function("document.getElementById('ak-status') && true")
        deadline = time.monotonic() + 5
        while "http://adlnet.gov/expapi/verbs/initialized" not in lrs.verbs() and time.monotonic() < deadline:
            time.sleep(0.05)
        seen = _watch_session(page, page.main_frame)
        page.goto("about:blank")
        deadline = time.monotonic() + 5
        while "http://adlnet.gov/expapi/verbs/terminated" not in lrs.verbs() and time.monotonic() < deadline:
            time.sleep(0.05)

        assert not lrs.errors
        st = list(lrs.statements)
        verbs = [s["verb"]["id"] for s in st]
        video = "https://w3id.org/xapi/video/verbs/"
        assert verbs[0] == "http://adlnet.gov/expapi/verbs/initialized" and verbs[-1] == "http://adlnet.gov/expapi/verbs/terminated"
        for verb in ("played", "paused", "seeked"):
            assert video + verb in verbs
        for s in st:
            assert s["actor"] == lrs.actor and s["context"]["registration"] == lrs.registration
            assert s["context"]["extensions"]["https://w3id.org/xapi/cmi5/context/extensions/sessionid"] == lrs.session_id
            assert s["context"]["contextActivities"]["grouping"] == [{"id": lrs.publisher_id}]
            assert re.fullmatch(r"[0-9a-f-]{36}", s["id"])
        cats = lambda s: [c["id"] for c in s["context"]["contextActivities"]["category"]]  # noqa: E731
        completed = [s for s in st if s["verb"]["id"] == "http://adlnet.gov/expapi/verbs/completed"]
        cmi5_done = [s for s in completed if "https://w3id.org/xapi/cmi5/context/categories/cmi5" in cats(s)]
        video_done = [s for s in completed if "https://w3id.org/xapi/video" in cats(s)]
        assert len(cmi5_done) == 1 and len(video_done) == 1
        assert cmi5_done[0]["object"]["id"] == lrs.activity_id
        assert "https://w3id.org/xapi/cmi5/context/categories/moveon" in cats(cmi5_done[0])
        assert cmi5_done[0]["result"]["completion"] is True
        assert video_done[0]["object"]["id"] == lrs.activity_id + "/video"
        assert video_done[0]["object"]["definition"]["type"] == "https://w3id.org/xapi/video/activity-type/video"
        assert video_done[0]["result"]["extensions"]["https://w3id.org/xapi/video/extensions/progress"] >= THRESHOLD
        assert verbs.index(video_done[0]["verb"]["id"]) < verbs.index("http://adlnet.gov/expapi/verbs/terminated")
        seeks = [s["result"]["extensions"] for s in st if s["verb"]["id"] == video + "seeked"]
        assert any(x["https://w3id.org/xapi/video/extensions/time-from"] == pytest.approx(0, abs=0.05)
                   and x["https://w3id.org/xapi/video/extensions/time-to"] == pytest.approx(5, abs=0.05) for x in seeks)
        for s in st:
            if s["verb"]["id"].startswith(video):
                assert "https://w3id.org/xapi/cmi5/context/categories/cmi5" not in cats(s)
                assert s["context"]["extensions"]["https://w3id.org/xapi/video/extensions/length"] == pytest.approx(DURATION, abs=0.01)
        terminated = st[-1]
        assert "https://w3id.org/xapi/cmi5/context/categories/cmi5" in cats(terminated)
        bookmark = json.loads(lrs.state["avatarkit-bookmark"])
        assert bookmark["completed"] is True and bookmark["position"] == pytest.approx(seen["position"], abs=0.11)

        # A second launch of the same registration resumes from the State API and does not complete again.
        before = len(lrs.statements)
        page.goto(cmi5_launch_url(au, lrs, lrs_srv.url))
        _ready(page.main_frame, "cmi5")
        _resumed(page.main_frame, bookmark["position"])
        page.goto("about:blank")
        deadline = time.monotonic() + 5
        while lrs.verbs()[before:].count("http://adlnet.gov/expapi/verbs/terminated") < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        again = lrs.verbs()[before:]
        assert again[0] == "http://adlnet.gov/expapi/verbs/initialized" and again[-1] == "http://adlnet.gov/expapi/verbs/terminated"
        assert "http://adlnet.gov/expapi/verbs/completed" not in again


def test_html_package_resumes_from_local_storage(page, renditions, tmp_path):
    root = _site(tmp_path, renditions, "html")
    with Server(root) as srv:
        page.goto(f"{srv.url}/html/index.html")
        _ready(page.main_frame, "local")
        seen = _watch_session(page, page.main_frame)
        page.focus("#ak-play")
        page.keyboard.press("f")
        page.wait_for_function("document.fullscreenElement && document.fullscreenElement.id === 'ak-stage'", timeout=3000)
        page.keyboard.press("f")
        page.wait_for_function("!document.fullscreenElement", timeout=3000)
        page.reload()
        _ready(page.main_frame, "local")
        _resumed(page.main_frame, seen["position"])


def test_html_folder_opened_from_disk_still_has_captions(page, renditions, tmp_path):
    """Browsers refuse caption files on file: pages; the standalone package's embedded copy fills the track instead."""
    site = export_package(renditions, tmp_path / "site", format="html", course_id="safety-101", completion=THRESHOLD)
    page.goto((site / "index.html").as_uri())
    _ready(page.main_frame, "local")
    _wait(page.main_frame, "v.textTracks[0].cues && v.textTracks[0].cues.length === 6")
    assert _video(page.main_frame, "v.textTracks[0].cues[1].text") == "to"
    assert _video(page.main_frame, "v.textTracks[0].cues[1].startTime") == pytest.approx(1.0, abs=1e-3)


def _play_a_little(page, frame) -> float:
    """Play about 1.5 s of video (not enough to complete), pause, and return the position."""
    frame.evaluate(f"(() => {{ const v = document.getElementById('ak-video'); v.muted = true; v.playbackRate = {RATE}; }})()")
    frame.focus("#ak-play")
    _press(page, " ")                               # Space on the focused play button
    _wait(frame, "v.currentTime > 1.5")
    _press(page, "k")
    _wait(frame, "v.paused && document.getElementById('ak-play').getAttribute('aria-label') === 'Play'")
    assert "Completed" not in frame.inner_text("#ak-status")
    return _video(frame, "v.currentTime")


@pytest.mark.parametrize("fmt", ["scorm12", "scorm2004"])
def test_scorm_unfinished_session_suspends_and_resumes(page, renditions, tmp_path, fmt):
    root = _site(tmp_path, renditions, fmt)
    v12 = fmt == "scorm12"
    with Server(root) as srv:
        page.goto(f"{srv.url}/lms.html")
        page.evaluate("([f, u]) => lms.launch(f, u, null)", [fmt, f"/{fmt}/index.html"])
        frame = _sco(page, fmt)
        _ready(frame, fmt)
        position = _play_a_little(page, frame)
        page.evaluate("lms.unload()")
        page.wait_for_function("lms.calls.some(c => c[0] === 'LMSFinish' || c[0] === 'Terminate')", timeout=5000)
        get = lambda el: page.evaluate("e => lms.value(e)", el)  # noqa: E731
        assert get("cmi.core.lesson_status" if v12 else "cmi.completion_status") == "incomplete"
        exits = [c[2] for c in page.evaluate("lms.calls") if c[0] == "set" and c[1].endswith(".exit")]
        assert exits and set(exits) == {"suspend"}
        if not v12:
            assert 0.2 < float(get("cmi.progress_measure")) < THRESHOLD
        stored = page.evaluate("lms.persisted()")
        assert (stored["core"]["entry"] if v12 else stored["entry"]) == "resume"

        page.goto(f"{srv.url}/lms.html")
        page.evaluate("([f, u, s]) => lms.launch(f, u, s)", [fmt, f"/{fmt}/index.html", stored])
        frame = _sco(page, fmt)
        _ready(frame, fmt)
        _wait(frame, f"Math.abs(v.currentTime - {position}) < 0.15 && !v.seeking")
        assert frame.inner_text("#ak-status").startswith("Resuming at 0:0")
        assert frame.evaluate("document.documentElement.dir") == "ltr"


def test_cmi5_learner_language_preference_and_unfinished_resume(page, renditions, tmp_path):
    root = _site(tmp_path, renditions, "cmi5")
    lrs = LRS(activity_id="urn:avatarkit:course:safety-101/au", language_preference="fr-FR,ar,en")
    with Server(root) as srv, lrs_server(lrs) as lrs_srv:
        au = f"{srv.url}/cmi5/index.html"
        page.goto(cmi5_launch_url(au, lrs, lrs_srv.url))
        _ready(page.main_frame, "cmi5")
        # The learner's preferences name French first, which the course lacks, then Arabic.
        _wait(page.main_frame, "v.currentSrc.endsWith('media/ar/video.mp4')")
        assert page.evaluate("document.documentElement.dir") == "rtl"
        position = _play_a_little(page, page.main_frame)
        page.goto("about:blank")
        deadline = time.monotonic() + 5
        while "http://adlnet.gov/expapi/verbs/terminated" not in lrs.verbs() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "http://adlnet.gov/expapi/verbs/completed" not in lrs.verbs()
        bookmark = json.loads(lrs.state["avatarkit-bookmark"])
        assert bookmark["completed"] is False and bookmark["position"] == pytest.approx(position, abs=0.11)
        assert bookmark["state"].startswith("1|ar|")

        page.goto(cmi5_launch_url(au, lrs, lrs_srv.url))
        _ready(page.main_frame, "cmi5")
        _wait(page.main_frame, f"Math.abs(v.currentTime - {position}) < 0.15 && !v.seeking && v.currentSrc.endsWith('media/ar/video.mp4')")
        assert not lrs.errors
