"""Live presenters: clauses cut from streamed text, the session's frames and sound, barge-in, bad input, and the
WebRTC page played in headless Chromium."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from avatarkit.compose.text import LabelStamp
from avatarkit.eval.metrics import mouth_opening
from avatarkit.face.detect import FaceError, detect_landmarks
from avatarkit.live import ClauseCutter, LiveConfig, LiveError, LiveSession
from avatarkit.live.clauses import PAUSE_MS, SLACK
from avatarkit.live.session import FADE_FRAMES, SAMPLE_RATE

SIZE = dict(width=480, height=270)


# -- clauses ------------------------------------------------------------------------------------------------------


def test_clauses_cut_at_punctuation_and_bound_the_first():
    c = ClauseCutter(first_words=4, clause_words=8)
    out = c.feed("Hello there, my friend. ") + c.flush()
    assert [x.text for x in out] == ["Hello there,", "my friend."]
    assert [x.pause_ms for x in out] == [PAUSE_MS["clause"], PAUSE_MS["sentence"]]
    # No punctuation: the first clause is cut after first_words once enough words follow, later ones longer.
    words = " ".join(f"w{i}" for i in range(30))
    out = c.feed(words + " ") + c.flush()
    assert len(out[0].text.split()) == 4 and all(len(x.text.split()) <= 8 + SLACK for x in out[1:])
    assert " ".join(x.text for x in out) == words


def test_clauses_from_a_token_stream_equal_the_whole_text():
    text = "Our price rose 3.5 percent, which is a lot. Do you agree? Yes!"
    whole = ClauseCutter()
    expect = whole.feed(text) + whole.flush()
    streamed = ClauseCutter()
    got = []
    for i in range(0, len(text), 3):          # three characters at a time, like an LLM's tokens
        got += streamed.feed(text[i:i + 3])
    got += streamed.flush()
    assert got == expect
    assert [x.text for x in got] == ["Our price rose 3.5 percent,", "which is a lot.", "Do you agree?", "Yes!"]


def test_punctuation_a_few_words_past_the_limit_ends_the_clause():
    c = ClauseCutter(first_words=8)
    out = c.feed("Please read each section before you start the quiz.") + c.flush()
    assert [x.text for x in out] == ["Please read each section before you start the quiz."]


def test_the_first_clause_ends_at_a_phrase_break_where_the_language_has_them():
    def cut(text, language="en-US", step=None):
        c = ClauseCutter(language=language)
        if step is None:
            out = c.feed(text) + c.flush()
        else:
            out = [x for i in range(0, len(text), step) for x in c.feed(text[i:i + step])] + c.flush()
        return [(x.text, x.end, x.pause_ms) for x in out]

    text = "Please read each section before you start the quiz. Remember to lock your screen when you leave."
    got = cut(text)
    assert got == [("Please read each section", "phrase", PAUSE_MS["phrase"]),
                   ("before you start the quiz.", "sentence", PAUSE_MS["sentence"]),
                   # Only a message's first clause is cut early: later ones are made while earlier ones play.
                   ("Remember to lock your screen when you leave.", "sentence", PAUSE_MS["sentence"])]
    # A token stream (three characters at a time, a word at a time) cuts where the whole text does.
    assert cut(text, step=3) == got and cut(text, step=7) == got
    # Not before HEAD_WORDS words, not when the sentence ends within TAIL_WORDS of the break, not at a preposition,
    # and punctuation that comes first wins.
    assert [x[0] for x in cut("Read it and go on.")] == ["Read it and go on."]
    assert [x[0] for x in cut("Check the list and go.")] == ["Check the list and go."]
    assert [x[0] for x in cut("Check the list and sign it now.")] == ["Check the list", "and sign it now."]
    assert [x[0] for x in cut("Click on the button to start the quiz.")] == ["Click on the button to start the quiz."]
    assert [x[0] for x in cut("Hello, and thank you for joining us.")] == ["Hello,", "and thank you for joining us."]
    # German has its own list; a language without one, or none given, keeps the whole first clause.
    assert [x[0] for x in cut("Bitte lesen Sie jeden Abschnitt, bevor Sie beginnen.", "de-DE")][0] == \
        "Bitte lesen Sie jeden Abschnitt,"
    assert [x[0] for x in cut("Lesen Sie jeden Abschnitt bevor Sie das Quiz starten.", "de-DE")][0] == \
        "Lesen Sie jeden Abschnitt"
    assert [x[0] for x in cut("Il faut lire chaque section jusqu'à la fin du quiz.", "fr-FR")][0] == \
        "Il faut lire chaque section"
    # Only words count: a bullet's dash is not one of the three before the break.
    assert [x[0] for x in cut("- Read it and then go home.")] == ["- Read it and then go home."]
    # A message that ends without punctuation ends a sentence (its pause, its trailing silence), not a cut.
    assert cut("Hello there") == [("Hello there", "sentence", PAUSE_MS["sentence"])]
    assert len(cut("Please read each section before you start the quiz.", "ja-JP")) == 1
    assert len(cut("Please read each section before you start the quiz.", None)) == 1


# -- the session --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def session():
    s = LiveSession(LiveConfig(**SIZE))
    yield s
    s.close()


def _run(s: LiveSession, n: int) -> list:
    out = []
    for _ in range(n):
        f = s.next_frame()
        out.append((f.index, f.rgb.copy(), f.audio.copy(), f.speaking))
    return out


def _opening(rgb: np.ndarray) -> float:
    # Each frame read on its own (not tracked), so a reading never depends on what an earlier test tracked.
    try:
        lm = detect_landmarks(rgb)
    except FaceError as e:
        raise AssertionError(f"MediaPipe found no face in a live frame: {e}") from None
    return float(mouth_opening(lm[None])[0])


def test_idle_then_speech_then_idle(session):
    events = []
    session.on_event = events.append
    idle = _run(session, 10)
    assert all(not sp and not np.any(a) for _, _, a, sp in idle)
    assert all(a.shape == (1920,) and a.dtype == np.float32 for _, _, a, _ in idle)
    session.say("Hello, and welcome to the course.")
    assert session.wait_ready(30)
    frames = _run(session, 150)
    speaking = [f for f in frames if f[3]]
    assert speaking and speaking[0][0] == frames[0][0], "a ready clause starts at the very next frame"
    assert not frames[-1][3], "the face is idle again after the message"
    sound = np.concatenate([f[2] for f in speaking])
    assert np.sqrt(np.mean(sound ** 2)) > 0.02 and np.abs(sound).max() <= 1.0
    assert [e["text"] for e in events if e["event"] == "speaking"] == ["Hello,", "and welcome to the course."]
    assert events[-1]["event"] == "idle"
    # MediaPipe on our own frames: the mouth opens while speaking, and stays near shut while idle.
    idle_open = max(_opening(f[1]) for f in idle[::3])
    loud = np.argsort([-np.abs(f[2]).max() for f in speaking])[:5]
    speak_open = max(_opening(speaking[k][1]) for k in loud)
    assert speak_open > idle_open + 0.08, (speak_open, idle_open)
    # Frames are consecutive on one clock.
    assert [f[0] for f in idle + frames] == list(range(idle[0][0], idle[0][0] + 160))


def test_a_clause_cut_mid_sentence_ends_without_the_voices_trailing_silence(session):
    from avatarkit.live.clauses import Clause

    spf = session.spf

    def tail_ms(end):
        utt = session._synthesize(Clause("Please read each section", 0, end))
        last = utt.phones[-1].end
        assert utt.num_samples % spf == 0 and last <= utt.num_samples
        return 1000 * (utt.num_samples - last) / SAMPLE_RATE, utt

    whole, _ = tail_ms("sentence")
    cut, utt = tail_ms("phrase")
    # 30 ms kept after the last phone, then silence up to the frame's end (< one 40 ms frame).
    assert cut < 30 + 1000 / session.config.fps and cut <= whole, (cut, whole)
    kept = utt.phones[-1].end + 30 * SAMPLE_RATE // 1000
    assert not np.any(utt.audio[kept:]) and np.any(utt.audio[kept - 480:kept - 240])


def test_the_trim_fades_after_the_last_phone_never_into_it():
    from avatarkit.live.session import _without_trailing_silence
    from avatarkit.speech.utterance import Phone, Utterance

    ms = SAMPLE_RATE // 1000
    utt = Utterance(np.ones(500 * ms, np.float32), SAMPLE_RATE, phones=[Phone("a", 0, 200 * ms), Phone("b", 200 * ms, 300 * ms)])
    out = _without_trailing_silence(utt).audio
    assert out.size == 330 * ms                                   # 30 ms kept after the last phone
    assert np.all(out[:320 * ms] == 1.0)                          # untouched up to the 10 ms fade
    fade = out[320 * ms:]
    assert np.all(np.diff(fade) <= 0) and fade[0] == 1.0 and fade[-1] == 0.0
    # Sound that ends 4 ms after its last phone: faded over those 4 ms only, the phone itself untouched.
    short = Utterance(np.ones(304 * ms, np.float32), SAMPLE_RATE, phones=[Phone("a", 0, 300 * ms)])
    out = _without_trailing_silence(short).audio
    assert out.size == 304 * ms and np.all(out[:300 * ms] == 1.0) and out[-1] == 0.0


def test_where_a_first_clause_may_end_follows_the_voice_or_the_config(session):
    text = "Please read each section before you start the quiz."
    assert session.first_clause == "phrase"          # Piper: the rest is made long before the first part plays
    assert [x.text for x in session.cutter.feed(text) + session.cutter.flush()][0] == "Please read each section"
    with LiveSession(LiveConfig(**SIZE, first_clause="punctuation")) as s:
        assert [x.text for x in s.cutter.feed(text) + s.cutter.flush()] == [text]
    with pytest.raises(LiveError, match="first_clause 'word': expected one of phrase, punctuation"):
        LiveConfig(first_clause="word")


def test_every_frame_carries_the_ai_label(session):
    from avatarkit.compose.scene import SceneCompositor
    from avatarkit.script.model import Background

    f = session.next_frame().rgb.copy()
    plain = SceneCompositor(session.rig, Background("studio"), "full", SIZE["width"], SIZE["height"], label=False)
    av = session.bound.render_frame(session._idle_values(session.index - 1))
    ref = plain.compose(av)
    x0, y0, x1, y1 = LabelStamp(SIZE["width"], SIZE["height"]).box
    diff = np.abs(f.astype(int) - ref.astype(int)).max(-1)
    inside = diff[y0:y1, x0:x1]
    assert inside.mean() > 10, "no label where the AI-generated label belongs"
    outside = diff.copy()
    outside[y0:y1, x0:x1] = 0
    assert outside.max() <= 2


def test_interrupt_stops_sound_and_mouth_within_the_fade(session):
    events = []
    session.on_event = events.append
    session.say("This is a long message that keeps going, and going, so there is something to interrupt here.")
    assert session.wait_ready(30)
    _run(session, 20)
    session.interrupt()
    after = _run(session, FADE_FRAMES + 40)
    first = np.abs(after[0][2])
    assert first[:100].max() > 0 and first[-1] == 0 and first[-100:].max() < first[:100].max(), "no ramp down"
    assert not np.any(np.concatenate([f[2] for f in after[1:]])), "sound after the fade"
    assert not any(f[3] for f in after[FADE_FRAMES:]), "still speaking after the fade"
    assert sum(e["event"] == "speaking" for e in events) == 1, "queued clauses were dropped"
    assert not session.busy


def test_the_peer_makes_every_frame_into_its_own_av_frames():
    """`LivePeer._make` converts into buffers it reuses every frame; each frame it made must keep its own picture
    and sound (PyAV copies them) after later frames are made."""
    import cv2

    from avatarkit.live.webrtc import LivePeer

    session = LiveSession(LiveConfig(**SIZE))     # its own: closing the peer closes the session
    seen, make = [], session.next_frame

    def spy():
        f = make()
        seen.append((f.rgb.copy(), f.audio.copy()))
        return f

    async def go():
        peer = LivePeer(session)
        try:
            return [peer._make() for _ in range(40)]
        finally:
            await peer.close()

    session.say("Hello there.")
    assert session.wait_ready(30)
    session.next_frame = spy
    made = asyncio.run(go())
    assert session.closed
    assert any(np.any(a) for _, a in seen), "some of the frames carry speech"
    for (video, sounds), (rgb, audio) in zip(made, seen):
        assert np.array_equal(video.to_ndarray(), cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420))
        pcm = np.concatenate([a.to_ndarray()[0] for a in sounds])
        assert np.array_equal(pcm, (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16))


def test_bad_text_is_refused_or_reported_and_the_session_goes_on(session):
    events = []
    session.on_event = events.append
    with pytest.raises(LiveError, match="message_chars"):
        session.say("x" * (session.config.message_chars + 1))
    # Text waiting to be spoken is bounded too: three long messages at once are more than the queue takes.
    long = "This sentence is here to fill the queue. " * 40
    with pytest.raises(LiveError, match="queue_chars"):
        for _ in range(4):
            session.say(long[:session.config.message_chars])
    session.interrupt()
    session.say("你好，世界。")                  # an English voice cannot read Chinese
    assert session.wait_ready(30)
    errors = [e for e in events if e["event"] == "error"]
    assert errors and "cannot read" in errors[0]["message"] and "en-us-joe" in errors[0]["message"]
    session.say("Still here.")
    assert session.wait_ready(30)
    assert any(f[3] for f in _run(session, 10))


def test_unknown_and_confined_avatars_get_the_same_answer(tmp_path):
    from avatarkit.script.scope import Confined

    photo = Path(__file__).resolve().parents[1] / "samples" / "avatar.png"
    with pytest.raises(LiveError, match="no such avatar"):
        LiveSession(LiveConfig(avatar="nobody", **SIZE))
    confined = Confined(roots=(tmp_path,), avatars=tmp_path)
    with pytest.raises(LiveError) as a:
        LiveSession(LiveConfig(avatar=str(photo), **SIZE), scope=confined)
    with pytest.raises(LiveError) as b:
        LiveSession(LiveConfig(avatar=str(tmp_path / "missing.png"), **SIZE), scope=confined)
    # The same words for a real file and for a missing one, and neither name echoed.
    assert str(a.value) == str(b.value) and "not a path" in str(a.value) and "avatar.png" not in str(a.value)
    with pytest.raises(LiveError, match="1920"):
        LiveConfig(width=4000)
    with pytest.raises(LiveError, match="unknown field"):
        LiveConfig.from_dict({"avatr": "x"})


# -- over HTTP ----------------------------------------------------------------------------------------------------


def _offer_sdp() -> str:
    async def make():
        from aiortc import RTCPeerConnection

        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
        pc.createDataChannel("text")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        await pc.close()
        return sdp

    return asyncio.run(make())


def test_service_sessions_need_the_live_scope_and_confine_names(tmp_path, monkeypatch):
    from tests.test_serve_api import Service

    monkeypatch.setenv("AVATARKIT_HOME", str(tmp_path / "home"))
    svc = Service(tmp_path, live_sessions=1)
    offer = {"sdp": _offer_sdp(), "type": "offer"}
    with svc.http:
        assert svc.http.post("/v1/sessions", json=offer).status_code == 401
        assert svc.http.post("/v1/sessions", json=offer, headers=svc.key()).status_code == 403
        live = svc.key(scopes=("live",))
        r = svc.http.post("/v1/sessions", json={**offer, "avatar": "/etc/passwd"}, headers=live)
        assert r.status_code == 422 and "/etc" not in r.text and "not a path" in r.text
        r = svc.http.post("/v1/sessions", json={**offer, "avatar": "someone-elses"}, headers=live)
        assert r.status_code == 422 and "no such avatar" in r.text
        r = svc.http.post("/v1/sessions", json={**offer, "voice": "piper:/etc/model.onnx"}, headers=live)
        assert r.status_code == 422 and "not a path" in r.text
        assert svc.http.post("/v1/sessions", json={"sdp": "hello", "type": "offer"}, headers=live).status_code == 422
        r = svc.http.post("/v1/sessions", json={**offer, "width": 4000}, headers=live)
        assert r.status_code == 422 and "unknown field 'width'" in r.text
        r = svc.http.post("/v1/sessions", json=offer, headers=live)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["type"] == "answer" and body["sdp"].startswith("v=0") and "m=video" in body["sdp"]
        busy = svc.http.post("/v1/sessions", json=offer, headers=live)
        assert busy.status_code == 503 and "live sessions it takes at once" in busy.text
        other = svc.key(scopes=("live",))
        assert svc.http.delete(f"/v1/sessions/{body['id']}", headers=other).status_code == 404
        assert svc.http.delete(f"/v1/sessions/{body['id']}", headers=live).json()["status"] == "ended"
        assert svc.http.delete(f"/v1/sessions/{body['id']}", headers=live).status_code == 404
        assert not svc.app.state.live.seats
        # A client that takes the answer and never connects does not keep the seat.
        svc.app.state.live.connect_s = 1.0
        assert svc.http.post("/v1/sessions", json=offer, headers=live).status_code == 201
        end = time.time() + 20
        while svc.app.state.live.seats and time.time() < end:
            time.sleep(0.2)
        assert not svc.app.state.live.seats


# -- in a real browser --------------------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
browser_needed = pytest.mark.skipif(not CHROMIUM.exists() or importlib.util.find_spec("playwright") is None,
                                    reason="needs Chromium at /usr/bin/chromium and Playwright for Python")


@pytest.fixture
def live_server():
    import uvicorn

    from avatarkit.live.app import LiveSessions, create_live_app

    sessions = LiveSessions(1, defaults=LiveConfig(**SIZE))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    server = uvicorn.Server(uvicorn.Config(create_live_app(sessions), host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    while not server.started:
        time.sleep(0.05)
    yield port, sessions
    server.should_exit = True
    t.join(timeout=20)


@browser_needed
def test_the_page_plays_the_presenter_over_webrtc(live_server):
    from playwright.sync_api import sync_playwright

    port, sessions = live_server
    stats = """async () => { const r = await window.avatarkitLive.pc.getStats(); const o = {};
        r.forEach(s => { if (s.type === 'inbound-rtp') o[s.kind] = [s.framesDecoded, s.totalSamplesReceived]; });
        return o; }"""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--autoplay-policy=no-user-gesture-required", "--disable-features=WebRtcHideLocalIpsWithMdns"])
        page = b.new_page()
        page.goto(f"http://127.0.0.1:{port}/live")
        page.wait_for_function("window.avatarkitLive.channel && window.avatarkitLive.channel.readyState === 'open'",
                               timeout=60_000)
        assert "AI-generated" in page.content()
        # A second page is refused while the one seat is taken.
        other = b.new_page()
        other.goto(f"http://127.0.0.1:{port}/live")
        other.wait_for_function("document.getElementById('status').textContent.startsWith('refused')", timeout=60_000)
        assert "live sessions it takes at once" in other.evaluate("document.getElementById('status').textContent")
        other.close()
        page.evaluate("window.avatarkitLive.send({say: 'Hello, and welcome.'})")
        page.evaluate("window.avatarkitLive.send({sing: 'la'})")
        page.wait_for_function("window.avatarkitLive.events.some(e => e.event === 'idle')", timeout=30_000)
        events = page.evaluate("window.avatarkitLive.events")
        assert [e["text"] for e in events if e["event"] == "speaking"] == ["Hello,", "and welcome."]
        assert any(e["event"] == "error" and "say" in e["message"] for e in events)
        a = page.evaluate(stats)
        time.sleep(2.0)
        z = page.evaluate(stats)
        fps = (z["video"][0] - a["video"][0]) / 2.0
        audio_s = (z["audio"][1] - a["audio"][1]) / 48_000
        assert 20 <= fps <= 30 and 1.6 <= audio_s <= 2.4, (fps, audio_s)
        page.close()                        # a closed tab ends the session and frees its seat
        end = time.time() + 40
        while sessions.seats and time.time() < end:
            time.sleep(0.2)
        assert not sessions.seats
        b.close()


def test_the_live_command_serves_the_page_on_localhost():
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    bad = subprocess.run([sys.executable, "-m", "avatarkit", "live", "--no-open", "--size", "big"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "WIDTHxHEIGHT" in bad.stderr
    proc = subprocess.Popen([sys.executable, "-m", "avatarkit", "live", "--no-open", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        page = None
        for _ in range(300):
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/live", timeout=1).read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert page is not None and "AI-generated" in page and "RTCPeerConnection" in page
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/sessions", data=b'{"type": "offer"}',
                                     headers={"Content-Type": "application/json"}, method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 422 and "WebRTC offer" in e.value.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_a_live_process_makes_its_voices_without_the_onnx_arena():
    """Piper's onnxruntime arena grows in steps it never gives back; a process serving live sessions (hours of
    speech) makes its speech sessions without it, and renders keep it."""
    from avatarkit.live.app import LiveSessions
    from avatarkit.speech.engines import base

    try:
        base.keep_onnx_arena(True)       # what renders use
        LiveSessions(1)
        assert base._ARENA is False
        import onnxruntime as ort

        made = []
        real = ort.SessionOptions

        class Spy(real):
            def __init__(self):
                super().__init__()
                made.append(self)

        ort.SessionOptions = Spy
        try:
            from avatarkit.speech.engines.piper import resolve_model_path
            from avatarkit.speech.voice import get_voice

            model = resolve_model_path(str(get_voice("en-us-joe").settings.get("model", "")), voice_id="en-us-joe")
            base.onnx_session(str(model))
        finally:
            ort.SessionOptions = real
        assert made and made[-1].enable_cpu_mem_arena is False
    finally:
        base.keep_onnx_arena(True)
