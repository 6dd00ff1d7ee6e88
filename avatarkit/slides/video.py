"""A video shown as a slide: decoded as it plays, on the output's frame clock.

Output frame i (at `fps`) shows the source frame on screen at i / fps
seconds after the video's first frame: the last one whose timestamp is not
later. So a 30 fps clip in a 25 fps render drops frames evenly, a 10 fps one
repeats them, and variable frame rates play at their true speed. Only the
current and the next decoded frames are held, so an hour-long clip costs no
more memory than a short one. After the end the last frame stays.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from .model import SlideError, fit_size

# Timestamps in milliseconds (common in MP4/WebM) round a 30 fps frame's time
# by up to half a millisecond; a frame due that close to an output tick counts as shown.
_TOLERANCE_S = 1e-3


class VideoSlide:
    """Frames of the video at `path` at `fps`, each RGB uint8 fitted inside `width`x`height` pixels.

    `size` is the fitted (w, h) in pixels, known when the object is made;
    `duration` the clip's length in seconds (None when the file does not
    say). Call `frame(i)` with non-decreasing i (going back restarts the
    decoder from the start); `close()` when done. Rotation metadata of phone
    videos is applied. Raises `SlideError` naming the file.
    """

    def __init__(self, path: str | Path, fps: float, width: int, height: int):
        if fps <= 0 or width < 1 or height < 1:
            raise ValueError(f"fps {fps} and box {width}x{height} must be positive")
        self.path = Path(path)
        self.fps = float(fps)
        self.box = (int(width), int(height))
        self._container = None
        self._open()

    def _open(self) -> None:
        if not self.path.is_file():
            raise SlideError("slide video not found", file=self.path)
        try:
            self._container = av.open(str(self.path))
        except (av.FFmpegError, OSError, ValueError) as e:
            raise SlideError(f"cannot open video: {e}", file=self.path) from None
        if not self._container.streams.video:
            self.close()
            raise SlideError("file has no video stream", file=self.path)
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        self._rate = float(rate) if rate else 25.0
        self.duration = None
        if stream.duration is not None and stream.time_base is not None:
            self.duration = float(stream.duration * stream.time_base)
        elif self._container.duration:
            self.duration = self._container.duration / 1e6
        self._decoded = 0
        self._frames = self._container.decode(stream)
        first = self._next()
        if first is None:
            self.close()
            raise SlideError("video has no decodable frames", file=self.path)
        self._t0 = first[0]
        self._cur, self._nxt = first, self._next()
        self._rgb: np.ndarray | None = None
        self._last = -1
        # Display rotation is the counter-clockwise angle the frame must turn by (phone videos).
        self._turns = int(round((getattr(first[1], "rotation", 0) or 0) / 90.0)) % 4  # PyAV >= 14.3 reads it
        w, h = first[1].width, first[1].height
        if self._turns % 2:
            w, h = h, w
        self.size = fit_size(w, h, *self.box)

    def _next(self) -> tuple[float, av.VideoFrame] | None:
        try:
            frame = next(self._frames)
        except StopIteration:
            return None
        except (av.FFmpegError, OSError) as e:
            # A damaged tail: the clip ends at its last good frame.
            if self._decoded == 0:
                raise SlideError(f"cannot decode video: {e}", file=self.path) from None
            return None
        t = frame.time
        if t is None:
            t = self._decoded / self._rate
        self._decoded += 1
        return float(t), frame

    def frame(self, i: int) -> np.ndarray:
        """RGB uint8 (h, w, 3) shown at output frame `i` (read-only; the same array while the source frame is unchanged)."""
        if self._container is None:
            raise ValueError("VideoSlide is closed")
        if i < self._last:
            self.close()
            self._open()
        self._last = i
        t = self._t0 + i / self.fps
        while self._nxt is not None and self._nxt[0] <= t + _TOLERANCE_S:
            self._cur, self._nxt = self._nxt, self._next()
            self._rgb = None
        if self._rgb is None:
            self._rgb = self._convert(self._cur[1])
        return self._rgb

    def _convert(self, frame: av.VideoFrame) -> np.ndarray:
        w, h = self.size
        if self._turns % 2:
            w, h = h, w
        shrink = w < frame.width or h < frame.height
        rgb = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA" if shrink else "BICUBIC").to_ndarray()
        if self._turns:
            rgb = np.ascontiguousarray(np.rot90(rgb, self._turns))
        rgb.flags.writeable = False
        return rgb

    def close(self) -> None:
        """Release the decoder and the file."""
        if self._container is not None:
            self._container.close()
            self._container = None

    def __enter__(self) -> VideoSlide:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
