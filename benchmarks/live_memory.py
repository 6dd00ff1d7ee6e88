"""Live presenter memory over time, in one process, part by part: where does a long session's memory grow?

    python benchmarks/live_memory.py --part peer --minutes 10          # the whole sender, to a Python receiver
    python benchmarks/live_memory.py --part session --minutes 5        # frames only (speaking), no WebRTC
    python benchmarks/live_memory.py --part encode --arena-max 2       # frames + VP8 + Opus, two malloc arenas

Parts, each a superset of the one before:

* `session` - `LiveSession.next_frame` at 25 fps on the wall clock (`--idle`: never speaks; otherwise a new
  sentence whenever the last ended);
* `frames`  - plus `LivePeer._make`: 4:2:0 conversion and the PyAV video and audio frames, made on the
  peer's own frame thread;
* `encode`  - plus aiortc's own encoders (VP8, or H.264 with `--codec h264`, and Opus) called from the
  event loop's default executor, as `RTCRtpSender` calls them;
* `peer`    - a real `LivePeer` answering a Python aiortc receiver in a child process (which decodes, sends
  RTCP feedback and, unless `--no-channel`, keeps the presenter talking over the data channel).

Every `--every` seconds this process's memory is sampled: RSS, PSS and anonymous memory
(/proc/self/smaps_rollup), glibc's `mallinfo2` (bytes malloc holds from the OS, in use, free), threads.
`--no-ort-arena` makes onnxruntime's sessions (Piper's) without their CPU memory arena, an experiment: the
arena grows in 32 and 64 MB blocks that are never given back. `--trim` calls `malloc_trim(0)` before each
sample, which tells memory that malloc holds but could give back (fragmentation) from memory in use (a leak).
`--arena-max N` re-runs the script under MALLOC_ARENA_MAX=N.
The slope is a least-squares line through the RSS samples after `--warm` seconds. Prints one JSON line per
sample and a summary; `--out` writes them as JSON. Needs Piper's voice and the house presenter; the outputs
are AI-generated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from live_latency import SENTENCES  # noqa: E402  (the same sentences as the browser benchmark; its folder is on the path)

from avatarkit.utils.memory import malloc_bytes, memory_trimmer  # noqa: E402

TRIM = memory_trimmer()


def sample() -> dict:
    """This process's memory now, in MB."""
    out = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        if key in ("Rss", "Pss", "Anonymous"):
            out[key.lower()] = int(value.split()[0]) / 1024
    m = malloc_bytes()
    if m is not None:
        # arena: heap malloc holds (all arenas); in_use / free: of that; mmap: big blocks mapped on their own.
        out.update({f"malloc_{k}": v / 1048576 for k, v in m.items()})
    out["threads"] = len(os.listdir("/proc/self/task"))
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()}


def mappings() -> dict[str, tuple[int, str]]:
    """Resident kB of each mapping of this process (by start address), with its size and name."""
    out, key = {}, None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and ":" not in head[0]:
            lo, hi = (int(x, 16) for x in head[0].split("-"))
            # glibc's thread arenas are 64 MB-aligned reservations; name anonymous mappings by what they look like
            name = head[5] if len(head) > 5 else ("arena?" if lo % (64 << 20) == 0 else "anon")
            key = head[0].split("-")[0]
            out[key] = [0, f"{(hi - lo) >> 10} kB {head[1]} {name}"]
        elif head[0] == "Rss:" and key is not None:
            out[key][0] = int(head[1])
    return {k: tuple(v) for k, v in out.items()}


def slope_mb_per_min(t, y, warm: float) -> float | None:
    t, y = np.asarray(t, float), np.asarray(y, float)
    keep = t >= warm
    return float(np.polyfit(t[keep], y[keep], 1)[0] * 60) if keep.sum() >= 3 else None


# -- the parts -----------------------------------------------------------------


def _session(args):
    from avatarkit.live import LiveConfig, LiveSession

    if args.no_ort_arena:
        import onnxruntime as ort

        options = ort.SessionOptions

        def without_arena():
            o = options()
            o.enable_cpu_mem_arena = False
            return o

        ort.SessionOptions = without_arena

    w, h = (int(x) for x in args.size.split("x"))
    return LiveSession(LiveConfig(voice=args.voice, width=w, height=h))


class _Talker:
    """Says the next sentence whenever the session is quiet (polled, as the benchmark's page does)."""

    def __init__(self, session, idle: bool):
        self.session, self.idle, self.k, self.last = session, idle, 0, 0.0

    def poll(self):
        if self.idle or self.session.busy or time.monotonic() - self.last < 0.5:
            return
        self.session.say(SENTENCES[self.k % len(SENTENCES)])
        self.k += 1
        self.last = time.monotonic()


async def _pace(step, fps: int, stop: asyncio.Event):
    """Call `step()` (a coroutine) 25 times a second on the loop's clock until `stop`."""
    loop = asyncio.get_running_loop()
    t0, n = loop.time(), 0
    while not stop.is_set():
        await step()
        n += 1
        wait = t0 + n / fps - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)


async def run_local(args, stop: asyncio.Event, ready: asyncio.Event) -> dict:
    """`session`, `frames` or `encode`: frames made on a frame thread, encoded in the default executor."""
    import concurrent.futures

    from avatarkit.live.webrtc import LivePeer

    loop = asyncio.get_running_loop()
    session = await loop.run_in_executor(None, _session, args)
    talker = _Talker(session, args.idle)
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="live-frames")
    peer = LivePeer(session) if args.part != "session" else None
    video_enc = audio_enc = None
    if args.part == "encode":
        from aiortc.codecs import get_encoder
        from aiortc.rtcrtpparameters import RTCRtpCodecParameters

        mime = "video/H264" if args.codec == "h264" else "video/VP8"
        video_enc = get_encoder(RTCRtpCodecParameters(mimeType=mime, clockRate=90000))
        audio_enc = get_encoder(RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2))
    counts = {"frames": 0, "video_bytes": 0}
    ready.set()

    async def step():
        talker.poll()
        if peer is None:
            await loop.run_in_executor(pool, session.next_frame)
        else:
            video, sounds = await loop.run_in_executor(pool, peer._make)
            if video_enc is not None:
                payloads, _ = await loop.run_in_executor(None, video_enc.encode, video, False)
                counts["video_bytes"] += sum(map(len, payloads))
                for a in sounds:
                    await loop.run_in_executor(None, audio_enc.encode, a, False)
        counts["frames"] += 1

    try:
        await _pace(step, 25, stop)
    finally:
        await loop.run_in_executor(pool, session.close)
        pool.shutdown()
        if peer is not None:
            await peer.pc.close()
    return counts


def _receiver(conn, channel: bool, codec: str) -> None:
    """The child process: a WebRTC receiver that decodes both tracks and keeps the presenter talking."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    async def main():
        pc = RTCPeerConnection()
        counts = {"video": 0, "audio": 0, "events": 0}
        pc.addTransceiver("audio", direction="recvonly")
        video = pc.addTransceiver("video", direction="recvonly")
        if codec == "h264":
            from aiortc.rtcrtpsender import RTCRtpSender

            video.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs
                                       if c.mimeType in ("video/H264", "video/rtx")])
        done = asyncio.Event()

        @pc.on("track")
        def on_track(track):
            async def consume():
                while True:
                    try:
                        await track.recv()
                    except Exception:
                        return
                    counts[track.kind] += 1
            asyncio.ensure_future(consume())

        if channel:
            dc = pc.createDataChannel("text")
            k = [0]

            def say():
                dc.send(json.dumps({"say": SENTENCES[k[0] % len(SENTENCES)]}))
                k[0] += 1

            @dc.on("open")
            def on_open():
                say()

            @dc.on("message")
            def on_message(message):
                counts["events"] += 1
                if json.loads(message).get("event") == "idle":
                    asyncio.get_running_loop().call_later(0.5, say)

        await pc.setLocalDescription(await pc.createOffer())
        conn.send(pc.localDescription.sdp)
        answer = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)   # "stop"
        done.set()
        conn.send(counts)
        await pc.close()

    asyncio.run(main())


async def run_peer(args, stop: asyncio.Event, ready: asyncio.Event) -> dict:
    """`peer`: a real LivePeer, its receiver in a child process."""
    from avatarkit.live.webrtc import LivePeer

    loop = asyncio.get_running_loop()
    session = await loop.run_in_executor(None, _session, args)
    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.get_context("spawn").Process(target=_receiver, args=(theirs, not args.no_channel,
                                                                                  args.codec), daemon=True)
    child.start()
    trims = []
    trim = session.trim_memory

    def timed_trim():
        t = time.perf_counter()
        trim()
        trims.append(time.perf_counter() - t)

    session.trim_memory = timed_trim
    peer = LivePeer(session, connect_s=60.0)
    offer = await loop.run_in_executor(None, ours.recv)
    answer = await peer.answer(offer)
    ours.send(answer["sdp"])
    ready.set()
    talker = _Talker(session, args.idle or not args.no_channel)   # with a channel the receiver does the talking
    while not stop.is_set():
        talker.poll()
        await asyncio.sleep(0.25)
    ours.send("stop")
    counts = await loop.run_in_executor(None, ours.recv)
    counts.update(frames_sent=peer.frames_sent, late_resets=peer.late_resets, trims=len(trims),
                  trim_ms={"median": round(1000 * float(np.median(trims)), 3) if trims else None,
                           "max": round(1000 * max(trims), 3) if trims else None})
    await peer.close()
    child.join(10)
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("session", "frames", "encode", "peer"), default="peer")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    ap.add_argument("--warm", type=float, default=120.0, help="seconds left out of the slope")
    ap.add_argument("--idle", action="store_true", help="never speak")
    ap.add_argument("--no-channel", action="store_true", help="peer: no data channel (speech started in-process)")
    ap.add_argument("--codec", choices=("vp8", "h264"), default="vp8")
    ap.add_argument("--maps", action="store_true", help="name the mappings that grew most after the warm-up")
    ap.add_argument("--no-ort-arena", action="store_true", help="onnxruntime without its CPU memory arena")
    ap.add_argument("--trim", action="store_true", help="malloc_trim(0) before each sample")
    ap.add_argument("--arena-max", type=int, default=0, help="re-run under MALLOC_ARENA_MAX=N")
    ap.add_argument("--voice", default="en-us-joe")
    ap.add_argument("--size", default="960x540")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.arena_max and os.environ.get("MALLOC_ARENA_MAX") != str(args.arena_max):
        os.environ["MALLOC_ARENA_MAX"] = str(args.arena_max)
        os.execv(sys.executable, [sys.executable, *sys.argv])

    samples: list[dict] = []
    stop, ready = asyncio.Event(), asyncio.Event()
    t0 = [0.0]
    maps = [None, None]    # mappings after the warm-up and at the end (--maps)

    async def sampler():
        t0[0] = time.monotonic()
        end = t0[0] + args.minutes * 60
        while True:
            if args.trim:
                TRIM()
            s = {"t": round(time.monotonic() - t0[0], 1), **sample()}
            if args.maps and (s["t"] >= args.warm and maps[0] is None or time.monotonic() >= end):
                maps[0 if maps[0] is None else 1] = mappings()
            samples.append(s)
            print(json.dumps(s), flush=True)
            if time.monotonic() >= end:
                break
            await asyncio.sleep(min(args.every, max(0.0, end - time.monotonic())))
        stop.set()

    async def body():
        run = run_peer if args.part == "peer" else run_local
        task = asyncio.ensure_future(run(args, stop, ready))
        await ready.wait()           # the clock starts once the session is made and warm
        await asyncio.sleep(2.0)
        await sampler()
        return await task

    counts = asyncio.run(body())
    t = [s["t"] for s in samples]
    summary = {"part": args.part, "idle": args.idle, "codec": args.codec, "channel": not args.no_channel,
               "trim": args.trim, "ort_arena": not args.no_ort_arena, "arena_max": os.environ.get("MALLOC_ARENA_MAX"),
               "minutes": args.minutes,
               "counts": counts,
               "rss_mb": {"start": samples[0]["rss"], "end": samples[-1]["rss"], "max": max(s["rss"] for s in samples)},
               "slope_mb_per_min": {k: slope_mb_per_min(t, [s[k] for s in samples], args.warm)
                                    for k in ("rss", "pss", "anonymous", "malloc_arena", "malloc_in_use")
                                    if k in samples[0]}}
    if maps[0] is not None and maps[1] is not None:
        grew = sorted(((maps[1][k][0] - maps[0].get(k, (0, ""))[0], k, maps[1][k][1]) for k in maps[1]), reverse=True)
        summary["mappings_grown_kb"] = [f"{d:+d} kB at {k}: {what}" for d, k, what in grew[:8] if d]
        summary["mappings_kb"] = {"after_warm_up": sum(v[0] for v in maps[0].values()),
                                  "end": sum(v[0] for v in maps[1].values())}
    print(json.dumps(summary), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"summary": summary, "samples": samples}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
