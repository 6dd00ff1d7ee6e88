"""Load on the render service over loopback HTTP: many short *real* render jobs, then again with a worker killed.

    python benchmarks/serve_load.py                 # 200 jobs, 2 worker processes, then the same with a kill
    python benchmarks/serve_load.py --jobs 40       # a quicker run

Each job is a one-sentence script (eSpeak voice, 160x160, 25 fps, about
2 s of video) submitted through the Python client from 16 threads at once,
with an idempotency key. The service is `avatarkit serve`'s app under
uvicorn on 127.0.0.1 with SQLite and local worker processes. Reported:
throughput (jobs per second and seconds of video per second), latency
from submit to succeeded (p50, p95, max), and the checks that no job was
lost or finished twice (every job `succeeded`, one `succeeded` event each,
its MP4 downloadable). In the fault run one worker process is SIGKILLed
while rendering; its job's lease expires and another worker renders it
again. Results go to benchmarks/results/serve_load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """title: Load {i}
defaults: {{avatar: avatar.png, voice: en-espeak, resolution: 160x160, background: studio}}
scenes:
  - segments: ["Job number {i} is ready."]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(jobs: int, workers: int, kill: bool, tmp: Path) -> dict:
    import uvicorn

    from avatarkit.serve.app import create_app
    from avatarkit.serve.client import Client
    from avatarkit.serve.config import RateDefaults, ServeConfig
    from avatarkit.serve.keys import create_key
    from avatarkit.serve.store import open_store
    from avatarkit.serve.worker import LocalWorkers

    store = open_store(f"sqlite:///{tmp / 'jobs.db'}")
    pool = LocalWorkers(store, n=workers, lease_s=6.0, poll_s=0.2)
    config = ServeConfig(db=f"sqlite:///{tmp / 'jobs.db'}", data_dir=str(tmp / "data"), workers=workers,
                         rate=RateDefaults(per_s=1000, burst=1000, max_concurrent=10_000))
    app = create_app(config, store=store, workers=pool)
    _, secret = create_key(store, "load", ["renders:create", "renders:read"], config.resolved_pepper(), {})
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    client = Client(f"http://127.0.0.1:{port}", secret, timeout=120)
    src = tmp / "src"
    src.mkdir()
    (src / "avatar.png").write_bytes((ROOT / "samples" / "avatar.png").read_bytes())
    submitted: dict[int, tuple[str, float]] = {}

    def submit(i: int) -> None:
        p = src / f"load{i}.yaml"
        p.write_text(SCRIPT.format(i=i), encoding="utf-8")
        job = client.submit(p, assets=[src / "avatar.png"], formats=["mp4"], idempotency_key=f"load-{i}")
        submitted[i] = (job["id"], time.time())

    t0 = time.time()
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(submit, range(jobs)))
    submit_s = time.time() - t0
    killed = None
    if kill:
        # Kill a worker process while it renders a job, somewhere between a third and two thirds of the run.
        target = random.randint(jobs // 3, 2 * jobs // 3)
        while killed is None:
            finished = sum(store.get_job(jid).status == "succeeded" for jid, _ in submitted.values())
            running = store.list_jobs(key_id=None, status="running", limit=10)[0] if finished >= target else []
            if running and running[0].worker:
                killed = int(running[0].worker.split(":")[1])
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.1)
    done: dict[str, float] = {}
    while len(done) < jobs and time.time() - t0 < 60 * 30:
        for jid, _ in submitted.values():
            if jid in done:
                continue
            j = store.get_job(jid)
            if j.status in ("succeeded", "failed", "cancelled"):
                done[jid] = j.updated
        time.sleep(0.2)
    wall = time.time() - t0
    final = {jid: store.get_job(jid) for jid, _ in submitted.values()}
    statuses = [j.status for j in final.values()]
    succeeded_events = [sum(e["status"] == "succeeded" for e in store.events(jid)) for jid in final]
    latencies = sorted(done[jid] - t for jid, t in submitted.values() if jid in done)
    video_s = 0.0
    for jid, j in list(final.items())[:5] + list(final.items())[-5:]:
        client.download(jid, j.artifacts[0], tmp / "dl.mp4")
    for j in final.values():
        import av

        with av.open(str(Path(j.workdir) / j.artifacts[0])) as c:
            video_s += float(c.duration) / 1e6
    server.should_exit = True
    pool.stop(10)
    store.close()
    return {
        "jobs": jobs, "workers": workers, "killed_worker": killed, "submit_s": round(submit_s, 2),
        "wall_s": round(wall, 1), "jobs_per_s": round(jobs / wall, 3), "video_s": round(video_s, 1),
        "video_s_per_wall_s": round(video_s / wall, 3),
        "latency_s": {"p50": round(statistics.median(latencies), 1),
                      "p95": round(latencies[int(0.95 * (len(latencies) - 1))], 1), "max": round(latencies[-1], 1)},
        "succeeded": statuses.count("succeeded"), "other": [s for s in statuses if s != "succeeded"],
        "finished_twice": sum(n != 1 for n in succeeded_events),
        "attempts_2": sum(j.attempts > 1 for j in final.values()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    rows = {}
    for kill in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            rows["fault" if kill else "load"] = r = run(args.jobs, args.workers, kill, Path(tmp))
        print(json.dumps(r), flush=True)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "serve_load.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
