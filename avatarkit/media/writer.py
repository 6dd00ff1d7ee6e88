"""Streaming MP4 writer: H.264 (yuv420p) video + AAC audio through PyAV.

Frames and audio are encoded as they arrive, so memory does not grow with
the video's length. The file is written under a temporary name and renamed
into place by `close()`, so a crash never leaves a half-written MP4 where a
finished one is expected. `faststart` moves the index to the front so
browsers can start playing before the download ends.
"""

from __future__ import annotations

import os
import queue
import threading
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

AI_NOTICE = "AI-generated video (avatarkit): synthetic voice and animated face."

# ISO 639-1 -> ISO 639-2/T, the language codes MP4 track headers carry.
_ISO639_2 = dict(pair.split(":") for pair in (
    "ar:ara bg:bul bn:ben ca:cat cs:ces da:dan de:deu el:ell en:eng es:spa et:est fa:fas fi:fin fr:fra he:heb "
    "hi:hin hr:hrv hu:hun id:ind it:ita ja:jpn ko:kor lt:lit lv:lav ms:msa nl:nld no:nor nb:nob pl:pol pt:por "
    "ro:ron ru:rus sk:slk sl:slv sr:srp sv:swe sw:swa ta:tam th:tha tr:tur uk:ukr ur:urd vi:vie zh:zho").split())


def track_language(tag: str) -> str:
    """The ISO 639-2 code an MP4 track header wants for a BCP-47 tag (`de-DE` -> `deu`); `und` if unknown."""
    primary = tag.split("-")[0].lower()
    return primary if len(primary) == 3 else _ISO639_2.get(primary, "und")


def to_i420(rgb: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """An RGB frame (H, W, 3 uint8) as I420 planes (H * 3 / 2, W), BT.601 limited range; into `out` if given."""
    # OpenCV's I420 conversion is ~5x faster than swscale here; streams are tagged BT.601 to match.
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420, dst=out)


def i420_planes(yuv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y (H, W), U and V (H / 2, W / 2) planes of an I420 frame (H * 3 / 2, W)."""
    h, w = yuv.shape[0] * 2 // 3, yuv.shape[1]
    flat = yuv.reshape(-1)
    q = h * w // 4
    return yuv[:h], flat[h * w:h * w + q].reshape(h // 2, w // 2), flat[h * w + q:].reshape(h // 2, w // 2)


def i420_box(yuv: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The RGB pixels (uint8) of the even-aligned `box` (x0, y0, x1, y1) of an I420 frame.

    Only the box is converted: a dub changes a mouth-sized part of each frame and the encoder wants I420,
    so the rest of the frame never needs to be RGB at all."""
    x0, y0, x1, y1 = box
    Y, U, V = i420_planes(yuv)
    small = np.empty(((y1 - y0) * 3 // 2, x1 - x0), np.uint8)
    sy, su, sv = i420_planes(small)
    sy[:] = Y[y0:y1, x0:x1]
    su[:] = U[y0 // 2:y1 // 2, x0 // 2:x1 // 2]
    sv[:] = V[y0 // 2:y1 // 2, x0 // 2:x1 // 2]
    return cv2.cvtColor(small, cv2.COLOR_YUV2RGB_I420)


def put_i420_box(yuv: np.ndarray, box: tuple[int, int, int, int], rgb: np.ndarray) -> None:
    """Write RGB pixels (uint8) into the even-aligned `box` of an I420 frame, in place (`to_i420`'s conversion)."""
    x0, y0, x1, y1 = box
    small = to_i420(np.ascontiguousarray(rgb))
    Y, U, V = i420_planes(yuv)
    sy, su, sv = i420_planes(small)
    Y[y0:y1, x0:x1] = sy
    U[y0 // 2:y1 // 2, x0 // 2:x1 // 2] = su
    V[y0 // 2:y1 // 2, x0 // 2:x1 // 2] = sv


def even_box(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    """`box` grown to even edges (4:2:0 chroma covers 2x2 pixels) and clipped to an even-sized frame."""
    x0, y0, x1, y1 = box
    return (max(0, x0 - x0 % 2), max(0, y0 - y0 % 2), min(width, x1 + x1 % 2), min(height, y1 + y1 % 2))


def rgb_frame(rgb: np.ndarray, pts: int) -> av.VideoFrame:
    """An RGB frame (H, W, 3 uint8) as a yuv420p `VideoFrame` at `pts` (frames), BT.601 limited range."""
    frame = av.VideoFrame.from_ndarray(to_i420(rgb), format="yuv420p")
    frame.pts = pts
    return frame


def audio_frame(samples: np.ndarray, sample_rate: int, pts: int) -> av.AudioFrame:
    """Mono float samples in [-1, 1] as an `AudioFrame` at `pts` (samples)."""
    data = np.ascontiguousarray(samples, np.float32).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(data, format="flt", layout="mono")
    frame.sample_rate = sample_rate
    frame.pts = pts
    return frame


class VideoWriter:
    """Write RGB frames (H, W, 3 uint8) and mono float audio to an MP4 file.

    `sample_rate` must be a multiple of `fps` so that every frame covers a
    whole number of audio samples. `preset`/`crf` are libx264's; `language`
    (BCP-47) tags the audio track and the file.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: int = 25,
                 sample_rate: int = 48000, *, title: str = "", preset: str = "veryfast",
                 crf: int = 21, threads: int = 0, language: str | None = None, ahead: int = 0):
        if width % 2 or height % 2:
            raise ValueError(f"frame size {width}x{height} must be even for yuv420p")
        if sample_rate % fps:
            raise ValueError(f"sample rate {sample_rate} is not a multiple of fps {fps}")
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self.width, self.height, self.fps, self.sample_rate = width, height, fps, sample_rate
        self.frames_written = 0
        self.samples_written = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._c = av.open(str(self.tmp), mode="w", format="mp4",
                          options={"movflags": "+faststart"})
        self._c.metadata["title"] = title
        self._c.metadata["comment"] = AI_NOTICE
        self._c.metadata["description"] = AI_NOTICE
        v = self._c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.options = {"preset": preset, "crf": str(crf), "threads": str(threads),
                     "x264-params": "mbtree=0:colorprim=smpte170m:transfer=smpte170m:colormatrix=smpte170m:fullrange=off"}
        v.codec_context.time_base = Fraction(1, fps)
        self._v = v
        a = self._c.add_stream("aac", rate=sample_rate)
        a.layout = "mono"
        a.bit_rate = 128_000
        if language:
            a.metadata["language"] = track_language(language)
            self._c.metadata["language"] = language
        self._a = a
        self._closed = False
        # Open both encoders and write the header now, on this thread. Left to the first `mux`, it could run
        # while the encoder thread (`ahead`) was inside the video encoder: with PyAV 18.1.1, 3 of 5 such files
        # would not open ("Invalid data").
        try:
            self._c.start_encoding()
        except BaseException:
            self._c.close()
            self.tmp.unlink(missing_ok=True)
            raise
        # With `ahead` > 0 frames are encoded on a thread of their own, up to `ahead` behind the caller, so
        # drawing the next frame overlaps encoding this one; the container is muxed under a lock.
        self._lock = threading.Lock()
        self._encoder = EncoderThread(self._encode_yuv, ahead, (height * 3 // 2, width)) if ahead > 0 else None
        self._scratch: np.ndarray | None = None

    def _encode_yuv(self, yuv: np.ndarray, pts: int) -> None:
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = pts
        packets = self._v.encode(frame)
        with self._lock:
            for packet in packets:
                self._c.mux(packet)

    def write_frame(self, rgb: np.ndarray) -> None:
        """Encode one RGB frame (queued, when the writer has an encoder thread)."""
        if self._encoder is not None:
            self._encoder.put(rgb, self.frames_written)
            self.frames_written += 1
            return
        frame = rgb_frame(rgb, self.frames_written)
        self.frames_written += 1
        for packet in self._v.encode(frame):
            self._c.mux(packet)

    def frame_buffer(self) -> np.ndarray:
        """An I420 buffer (H * 3 / 2, W) uint8 to draw the next frame into, then hand to `write_yuv`.

        With an encoder thread it is one of the thread's pool (waiting while all are queued), so a frame
        drawn straight into it reaches x264 with no RGB frame and no conversion of the whole frame."""
        if self._encoder is not None:
            return self._encoder.take()
        if self._scratch is None:
            self._scratch = np.empty((self.height * 3 // 2, self.width), np.uint8)
        return self._scratch

    def write_yuv(self, yuv: np.ndarray) -> None:
        """Encode one I420 frame from `frame_buffer` (BT.601 limited range, as `to_i420` makes)."""
        if yuv.shape != (self.height * 3 // 2, self.width):
            raise ValueError(f"I420 frame of shape {yuv.shape}, expected {(self.height * 3 // 2, self.width)}")
        pts = self.frames_written
        self.frames_written += 1
        if self._encoder is not None:
            self._encoder.put_yuv(yuv, pts)
        else:
            self._encode_yuv(yuv, pts)

    def write_audio(self, samples: np.ndarray) -> None:
        """Encode mono float32 samples in [-1, 1] at `sample_rate`."""
        if samples.size == 0:
            return
        frame = audio_frame(samples, self.sample_rate, self.samples_written)
        self.samples_written += frame.samples
        packets = self._a.encode(frame)
        with self._lock:
            for packet in packets:
                self._c.mux(packet)

    def close(self) -> Path:
        """Flush the encoders, finish the file and move it to its final name."""
        if self._closed:
            return self.path
        if self._encoder is not None:
            self._encoder.finish(lambda: None)
            self._encoder = None
        for packet in self._v.encode():
            self._c.mux(packet)
        for packet in self._a.encode():
            self._c.mux(packet)
        self._c.close()
        self._closed = True
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Stop without producing the file (after an error)."""
        if self._encoder is not None:
            self._encoder.cancel()
            self._encoder = None
        if not self._closed:
            try:
                self._c.close()
            except Exception:  # noqa: BLE001 - the file is being thrown away anyway
                pass
            self._closed = True
        self.tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()


class EncoderThread:
    """Runs `encode(yuv, pts)` on a thread of its own over a bounded queue of frames, in order.

    The frames travel in a fixed pool of YUV buffers (`ahead` + 1 of them),
    so memory is bounded and nothing is allocated per frame. An error in
    the encoder is raised in the caller at its next `put` or `finish`.
    """

    def __init__(self, encode, ahead: int, shape: tuple[int, int]):
        self._encode = encode
        self._todo: queue.Queue = queue.Queue()
        self._free: queue.Queue = queue.Queue()
        for _ in range(ahead + 1):
            self._free.put(np.empty(shape, np.uint8))
        self._error: BaseException | None = None
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="avatarkit-encoder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._todo.get()) is not None:
            if callable(job):    # the last call: flush and close the file
                if self._error is None and not self._stop:
                    try:
                        job()
                    except BaseException as e:  # noqa: BLE001 - handed to the caller, which raises it
                        self._error = e
                break
            buf, pts = job
            if self._error is None and not self._stop:
                try:
                    self._encode(buf, pts)
                except BaseException as e:  # noqa: BLE001 - handed to the caller, which raises it
                    self._error = e
            self._free.put(buf)
        # Done: drop the frame pool and the way back to the writer (a reference cycle otherwise).
        self._encode = None
        while not self._free.empty():
            self._free.get_nowait()

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def take(self) -> np.ndarray:
        """A free buffer of the pool, to fill and hand back with `put_yuv` (waits while all are queued)."""
        self._check()
        return self._free.get()

    def put_yuv(self, buf: np.ndarray, pts: int) -> None:
        """Queue a buffer from `take`, filled with an I420 frame."""
        self._check()
        self._todo.put((buf, pts))

    def put(self, rgb: np.ndarray, pts: int) -> None:
        buf = self.take()
        to_i420(rgb, buf)
        self._todo.put((buf, pts))

    def finish(self, final, wait: bool = True) -> None:
        """Run `final()` on the thread after the queued frames, then stop; with `wait`, block until then."""
        self._todo.put(final)
        if wait:
            self.join()

    def join(self) -> None:
        self._thread.join()
        self._check()

    def cancel(self) -> None:
        self._stop = True
        self._todo.put(None)
        self._thread.join()
