"""The writer's I420 path: frames drawn straight into the encoder's buffers, and boxes converted alone."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from avatarkit.media.writer import VideoWriter, even_box, i420_box, put_i420_box, to_i420


def _picture(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth colour picture (chroma subsampling leaves it nearly as it was)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(30, 220, (h // 16 + 2, w // 16 + 2, 3), dtype=np.uint8)
    return np.ascontiguousarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC))


@pytest.mark.parametrize("ahead", [0, 3])
def test_frames_drawn_into_the_encoder_buffers_come_back_in_order(tmp_path, ahead):
    path = tmp_path / "y.mp4"
    pics = [_picture(96, 160, i) for i in range(12)]
    with VideoWriter(path, 160, 96, 25, ahead=ahead, crf=10) as w:
        for p in pics:
            buf = w.frame_buffer()
            assert buf.shape == (144, 160) and buf.dtype == np.uint8
            to_i420(p, buf)
            w.write_yuv(buf)
            w.write_audio(np.zeros(1920, np.float32))
        with pytest.raises(ValueError, match="I420 frame of shape"):
            w.write_yuv(np.zeros((96, 160), np.uint8))
    with av.open(str(path)) as c:
        got = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(got) == 12
    for i, g in enumerate(got):      # each frame is its own picture, in order
        psnr = [cv2.PSNR(p, g) for p in pics]
        assert int(np.argmax(psnr)) == i and psnr[i] > 30


def test_a_box_converts_alone_as_the_whole_frame_would():
    rgb = _picture(120, 200, 1)
    yuv = to_i420(rgb)
    box = (38, 22, 142, 96)
    whole = cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420)
    np.testing.assert_array_equal(i420_box(yuv, box), whole[22:96, 38:142])
    # Writing a box changes its pixels and nothing else, in all three planes.
    other = _picture(120, 200, 2)
    out = yuv.copy()
    put_i420_box(out, box, other[22:96, 38:142])
    expect_rgb = rgb.copy()
    expect_rgb[22:96, 38:142] = other[22:96, 38:142]
    expect = to_i420(expect_rgb)
    np.testing.assert_array_equal(out, expect)
    assert even_box((37, 21, 141, 95), 200, 120) == (36, 20, 142, 96)
    assert even_box((-3, 5, 250, 119), 200, 120) == (0, 4, 200, 120)
