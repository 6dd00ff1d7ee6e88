"""Make the sample brand kit's assets: a logo (logo.png) and a music loop (music.m4a).

Both are drawn and synthesised here, so the samples carry no third-party
media. Run: `python samples/make_brand.py samples/` (deterministic output).
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

SR = 48_000


def make_logo(path: Path) -> None:
    """A 620x200 transparent logo: a rounded mark and the word "northwind"."""
    from avatarkit.compose.typeset import TextStyle, render_block

    img = Image.new("RGBA", (620, 200), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((10, 30, 150, 170), radius=36, fill=(31, 95, 174, 255))
    d.polygon([(45, 135), (80, 65), (115, 135)], fill=(242, 169, 0, 255))
    d.ellipse((70, 95, 90, 115), fill=(255, 255, 255, 255))
    word = render_block("northwind", TextStyle(size=80, color="#ffffff", weight=700), 2000)
    rgba = Image.fromarray(word.rgba)
    img.alpha_composite(rgba, (170, (200 - rgba.height) // 2))
    img.save(path, optimize=True)


def make_music(path: Path, seconds: float = 16.0) -> None:
    """A calm four-chord pad (C, Am, F, G), four seconds each, that loops without a seam."""
    t = np.arange(int(seconds * SR)) / SR
    chords = [(261.63, 329.63, 392.00), (220.00, 261.63, 329.63), (174.61, 220.00, 261.63), (196.00, 246.94, 293.66)]
    out = np.zeros_like(t)
    per = seconds / len(chords)
    for k, chord in enumerate(chords):
        # Each chord swells in and out over its bar, overlapping its neighbours.
        centre = (k + 0.5) * per
        d = np.minimum(np.abs(t - centre), seconds - np.abs(t - centre))
        env = np.clip(1.0 - d / per, 0.0, 1.0) ** 1.5
        for f in chord:
            for h, a in ((1, 1.0), (2, 0.25), (3, 0.08)):
                out += env * a * np.sin(2 * np.pi * f * h * t + k) / len(chord)
    bass = sum(np.sin(2 * np.pi * c[0] / 2 * t) * np.clip(1 - np.minimum(np.abs(t - (k + .5) * per),
               seconds - np.abs(t - (k + .5) * per)) / per, 0, 1) for k, c in enumerate(chords))
    out = out + 0.5 * bass
    out = (0.3 * out / np.abs(out).max()).astype(np.float32)
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=SR)
        s.layout = "mono"
        s.bit_rate = 64_000
        frame = av.AudioFrame.from_ndarray(out.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = SR
        frame.pts = 0
        frame.time_base = Fraction(1, SR)
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode():
            c.mux(p)


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "samples")
    make_logo(folder / "logo.png")
    make_music(folder / "music.m4a")
    print(f"wrote {folder / 'logo.png'} and {folder / 'music.m4a'}")
