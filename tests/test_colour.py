"""Colours survive the trip: the reader turns YUV into the RGB a player shows, and the writer's YUV is
shown by a player as the RGB it was given (a car's paint is what dealers sell)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from streamseg.colour import (
    BT601,
    BT709,
    BT2020_HLG,
    MATRIX_BT709,
    MATRIX_BT2020_NCL,
    MATRIX_SMPTE170M,
    PRIMARIES_BT709,
    RANGE_LIMITED,
    TRC_BT709,
    Colour,
)
from streamseg.io.reader import VideoReader
from streamseg.io.writer import FORMATS, open_writer

PAINT = np.array([[200, 30, 40], [30, 144, 255], [40, 180, 60], [240, 240, 240], [20, 20, 20], [250, 200, 0]],
                 np.uint8)


def patches(width: int, height: int) -> np.ndarray:
    img = np.zeros((height, width, 3), np.uint8)
    for i, c in enumerate(PAINT):
        img[:, i * width // len(PAINT):(i + 1) * width // len(PAINT)] = c
    return img


def centres(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    return np.array([rgb[h // 2, (2 * i + 1) * w // (2 * len(PAINT))] for i in range(len(PAINT))], int)


def camera_clip(path: Path, width: int, height: int, matrix: str, tagged: bool,
                tags: Colour | None = None, pix_fmt: str = "yuv420p") -> Path:
    """What a camera writes: YUV made with `matrix`, tagged with it (or with `tags`) or not."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25, options={"crf": "1"})
        v.width, v.height, v.pix_fmt = width, height, pix_fmt
        code = {"itu709": MATRIX_BT709, "smpte170m": MATRIX_SMPTE170M, "bt2020": MATRIX_BT2020_NCL}[matrix]
        if tagged:
            ctx = v.codec_context
            ctx.colorspace, ctx.color_primaries, ctx.color_trc = (tags.matrix, tags.primaries, tags.trc) if tags \
                else (code, code, code)
            ctx.color_range = RANGE_LIMITED
        f = av.VideoFrame.from_ndarray(patches(width, height), format="rgb24")
        f = f.reformat(format=pix_fmt, dst_colorspace=matrix, dst_color_range="MPEG")
        for i in range(2):
            f.pts = i
            out.mux(v.encode(f))
        out.mux(v.encode(None))
    return path


@pytest.mark.parametrize("width,height,matrix,tagged", [
    (1280, 64, "itu709", True), (1280, 64, "itu709", False),  # HD: untagged means BT.709
    (320, 64, "smpte170m", False), (320, 64, "itu709", True),  # SD: untagged means BT.601
])
def test_reader_gives_the_colours_a_player_shows(tmp_path, width, height, matrix, tagged):
    clip = camera_clip(tmp_path / "cam.mp4", width, height, matrix, tagged)
    with VideoReader(clip) as r:
        rgb = next(iter(r)).rgb
    assert np.abs(centres(rgb) - PAINT).max() <= 3, centres(rgb).tolist()


@pytest.mark.parametrize("fmt", ["mp4", "mov", "webm"])
def test_writer_output_shows_the_colours_it_was_given(tmp_path, fmt):
    clip = camera_clip(tmp_path / "cam.mp4", 1280, 64, "itu709", True)
    with VideoReader(clip) as r:
        info = r.info
    out = tmp_path / f"out{FORMATS[fmt].suffix}"
    image = patches(1280, 64)
    if FORMATS[fmt].layers == "rgba":
        image = np.concatenate([image, np.full((64, 1280, 1), 255, np.uint8)], axis=2)
    writer = open_writer(out, FORMATS[fmt], info, None)
    writer.write(image, 0)
    writer.close()
    with av.open(str(out)) as c:
        frame = next(c.decode(video=0))
        assert frame.colorspace == c.streams.video[0].codec_context.colorspace == MATRIX_BT709  # tagged BT.709
        # primaries and transfer too, as decoded from the bitstream (ProRes keeps them in each frame's header)
        assert (frame.color_primaries, frame.color_trc) == (PRIMARIES_BT709, TRC_BT709), (frame.color_primaries,
                                                                                        frame.color_trc)
        shown = frame.to_ndarray(format="rgb24")  # as a player: by the tag
        if fmt == "mov":  # the format's description names what ffprobe and editors will report
            assert frame.format.name in FORMATS[fmt].description, frame.format.name
    assert np.abs(centres(shown) - PAINT).max() <= 4, centres(shown).tolist()


@pytest.mark.parametrize("matrix,tags,pix_fmt", [
    ("bt2020", BT2020_HLG, "yuv420p10le"),  # a phone's HDR: BT.2020, HLG, 10 bits
    ("smpte170m", BT601, "yuv420p"),  # SD, BT.601
    ("itu709", BT709, "yuv420p"),
])
def test_output_keeps_the_inputs_colour_description(tmp_path, matrix, tags, pix_fmt):
    clip = camera_clip(tmp_path / "cam.mp4", 1280, 64, matrix, True, tags, pix_fmt)
    with VideoReader(clip) as r:
        info, rgb = r.info, next(iter(r)).rgb
    assert info.colour == tags
    assert np.abs(centres(rgb) - PAINT).max() <= 3, centres(rgb).tolist()
    out = tmp_path / "out.mp4"
    writer = open_writer(out, FORMATS["mp4"], info, None)
    writer.write(rgb, 0)
    writer.close()
    with VideoReader(out) as r:  # tagged as the input was, so a player shows the car's colours unchanged
        assert r.info.colour == info.colour
        back = next(iter(r)).rgb
    assert np.abs(centres(back) - centres(rgb)).max() <= 3, centres(back).tolist()
