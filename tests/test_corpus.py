"""Damaged and awkward inputs: each gets a correct output or one clear error, never a traceback, a hang,
or a half-written output; the input is never modified. docs/INPUTS.md says what each gets, and each case
checks that it still gets exactly that; after a deliberate change, rewrite the table with
`STREAMSEG_WRITE_INPUTS=1 python -m pytest tests/test_corpus.py`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import cli, decode_all
from media import encode_audio_only, encode_clip, pattern
from PIL import Image

from streamseg.colour import BT2020_HLG
from streamseg.sample import SampleSpec, write_sample

TABLE = Path(__file__).resolve().parents[1] / "docs" / "INPUTS.md"


@dataclass
class Case:
    name: str
    what: str
    make: Callable[[Path], Path]
    expect: str  # "ok", "error", or "either" (damage that decoders may conceal)
    size: tuple[int, int] | None = None  # expected output WxH when ok
    frames: int | None = None


def truncated(keep: float, faststart: bool) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        src = encode_clip(d / "src.mp4", frames=20, audio="aac",
                          container=None, options={"movflags": "+faststart"} if faststart else None)
        data = src.read_bytes()
        out = d / "truncated.mp4"
        out.write_bytes(data[: int(len(data) * keep)])
        return out
    return make


def flipped(d: Path) -> Path:
    src = encode_clip(d / "src.mp4", frames=20, width=128, height=96)
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(0)
    mid = len(data) // 2
    for i in rng.integers(mid - 2000, mid + 2000, 40):
        data[i] ^= 0xFF
    out = d / "flipped.mp4"
    out.write_bytes(bytes(data))
    return out


def zero(d: Path) -> Path:
    p = d / "zero.mp4"
    p.touch()
    return p


def image_renamed(fmt: str) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        p = d / f"photo_{fmt}.mp4"
        Image.fromarray(pattern(120, 80, 0)).save(p, format=fmt)
        return p
    return make


def text_file(d: Path) -> Path:
    p = d / "notes.mp4"
    p.write_text("hello\n" * 50)
    return p


def rotated(degrees: int) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        path = d / f"rot{degrees}.mp4"
        write_sample(path, SampleSpec(width=96, height=160, frames=3, audio="aac", rotation=degrees))
        return path
    return make


def phone_hdr(d: Path) -> Path:
    """As a recent iPhone records by default: HEVC 10-bit, BT.2020 with HLG, stored sideways, AAC, .mov."""
    path = d / "IMG_0042.MOV"
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx265", rate=30, options={"x265-params": "log-level=error"})
        v.width, v.height, v.pix_fmt = 160, 96, "yuv420p10le"
        BT2020_HLG.tag(v.codec_context)
        v.set_display_rotation(90)
        a = out.add_stream("aac", rate=48000, layout="stereo")
        for i in range(4):
            f = av.VideoFrame.from_ndarray(pattern(160, 96, i), format="rgb24")
            f = f.reformat(format="yuv420p10le", dst_colorspace="bt2020", dst_color_range="MPEG")
            f.pts, f.time_base = i, Fraction(1, 30)
            out.mux(v.encode(f))
        out.mux(v.encode(None))
        for i in range(6):
            af = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
            af.sample_rate, af.pts = 48000, i * 1024
            out.mux(a.encode(af))
        out.mux(a.encode(None))
    return path


def size_change(d: Path) -> Path:
    """A raw H.264 stream (no container, no timestamps) whose frame size changes half way."""
    a = encode_clip(d / "a.h264", width=96, height=64, frames=4, container="h264")
    b = encode_clip(d / "b.h264", width=128, height=80, frames=3, container="h264")
    p = d / "size_change.h264"
    p.write_bytes(a.read_bytes() + b.read_bytes())
    return p


def vfr(d: Path) -> Path:
    times = [Fraction(t, 1000) for t in (0, 33, 66, 150, 183, 400, 433, 466)]
    return encode_clip(d / "vfr.mp4", frames=8, fps=30, times=times, audio="aac")


def unicode_path(d: Path) -> Path:
    sub = d / "Vidéos de démo ñ 車"
    sub.mkdir()
    return encode_clip(sub / "my car – take 2.mp4", frames=3, audio="aac")


CASES = [
    Case("zero-length", "an empty .mp4", zero, "error"),
    Case("truncated (index at end)", "60% of an MP4 whose moov box is at the end", truncated(0.6, False), "error"),
    Case("truncated (index at start)", "60% of a faststart MP4: the index promises 20 frames",
         truncated(0.6, True), "error"),
    Case("flipped bytes", "40 bytes inverted in the middle of the video data", flipped, "either"),
    Case("audio only", "an AAC track in MP4, no video", lambda d: encode_audio_only(d / "audio_only.mp4"), "error"),
    Case("PNG renamed .mp4", "a still image with a video extension", image_renamed("PNG"), "error"),
    Case("JPEG renamed .mp4", "a still image with a video extension", image_renamed("JPEG"), "error"),
    Case("text renamed .mp4", "not media at all", text_file, "error"),
    Case("odd size 1919x1079", "H.264 4:4:4, odd width and height",
         lambda d: encode_clip(d / "odd.mp4", 1919, 1079, frames=2, pix_fmt="yuv444p"), "ok", (1919, 1079), 2),
    Case("10-bit", "H.264 High 10 (yuv420p10le)",
         lambda d: encode_clip(d / "ten.mp4", 160, 96, frames=3, pix_fmt="yuv420p10le"), "ok", (160, 96), 3),
    Case("4:4:4", "H.264 4:4:4 (yuv444p)",
         lambda d: encode_clip(d / "444.mp4", 160, 96, frames=3, pix_fmt="yuv444p"), "ok", (160, 96), 3),
    Case("rotated 90", "phone video stored sideways with a display matrix", rotated(90), "ok", (96, 160), 3),
    Case("rotated 180", "upside down with a display matrix", rotated(180), "ok", (96, 160), 3),
    Case("rotated 270", "stored sideways the other way", rotated(270), "ok", (96, 160), 3),
    Case("variable frame rate", "8 frames at uneven times", vfr, "ok", (96, 64), 8),
    Case("phone HDR", "iPhone-style .MOV: HEVC 10-bit, BT.2020 HLG, rotated 90, AAC", phone_hdr,
         "ok", (96, 160), 4),
    Case("8K", "7680x4320 H.264, 2 frames",
         lambda d: encode_clip(d / "8k.mp4", 7680, 4320, frames=2, options={"preset": "ultrafast"}),
         "ok", (7680, 4320), 2),
    Case("one frame", "a single-frame MP4 with audio",
         lambda d: encode_clip(d / "one.mp4", frames=1, audio="aac"), "ok", (96, 64), 1),
    Case("non-ASCII path with spaces", "a folder and file name with accents, CJK, dashes, spaces",
         unicode_path, "ok", (96, 64), 3),
    Case("raw H.264, size changes", "an elementary stream (no timestamps) going from 96x64 to 128x80",
         size_change, "ok", (96, 64), 7),
    Case("VP9 WebM + Opus", "a WebM input",
         lambda d: encode_clip(d / "in.webm", frames=4, codec="libvpx-vp9", audio="libopus"), "ok", (96, 64), 4),
    Case("ProRes MOV + PCM", "an editor's intermediate; PCM cannot go into MP4, so it is re-encoded",
         lambda d: encode_clip(d / "in.mov", frames=3, codec="prores_ks", pix_fmt="yuv422p10le", audio="pcm_s16le"),
         "ok", (96, 64), 3),
    Case("MPEG-4 AVI + MP3", "an old camera format",
         lambda d: encode_clip(d / "in.avi", frames=4, codec="mpeg4", audio="mp3"), "ok", (96, 64), 4),
    Case("audio longer than video", "3 frames, 2 s of audio",
         lambda d: encode_clip(d / "long_audio.mp4", frames=3, audio="aac", audio_seconds=2.0), "ok", (96, 64), 3),
]
RESULTS: dict[str, tuple[str, str]] = {}
WRITE = os.environ.get("STREAMSEG_WRITE_INPUTS") == "1"


def documented() -> dict[str, tuple[str, str]]:
    """docs/INPUTS.md's rows: case name -> (what it is, what streamseg did)."""
    rows = {}
    for line in TABLE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("| ") and len(cells) == 3 and cells[0] not in ("input", "---"):
            rows[cells[0]] = (cells[1], cells[2])
    return rows


@pytest.fixture(scope="module", autouse=True)
def inputs_table():
    """With STREAMSEG_WRITE_INPUTS=1: once every case has run, write the table of what each got."""
    yield
    if not WRITE or len(RESULTS) != len(CASES):
        return
    rows = [f"| {c.name} | {RESULTS[c.name][0]} | {RESULTS[c.name][1]} |" for c in CASES]
    TABLE.write_text(
        "# Inputs tried and what each got\n\n"
        "Checked by `tests/test_corpus.py` on every test run (`streamseg run INPUT -o result.mp4 --bg green`):\n"
        "each case must still get exactly what its row says. Rewrite after a deliberate change with\n"
        "`STREAMSEG_WRITE_INPUTS=1 python -m pytest tests/test_corpus.py`. Every row is a correct output or one\n"
        "clear error, never a traceback, a hang or a partial output, and the input unchanged.\n\n"
        "| input | what it is | what streamseg did |\n|---|---|---|\n" + "\n".join(rows) + "\n")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_input(case: Case, tmp_path):
    src = case.make(tmp_path)
    before = digest(src)
    out = tmp_path / "result.mp4"
    r = cli("run", src, "-o", out, "-q", "--bg", "green")
    assert not r.crashed, r
    assert digest(src) == before  # the input is never modified
    assert not list(src.parent.glob(".*partial*")) and not list(tmp_path.glob(".*partial*"))
    if r.code == 0:
        frames, _ = decode_all(out)
        got = f"ok: {len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]}"
        if case.expect == "ok":
            assert (frames[0].shape[1], frames[0].shape[0]) == case.size
            assert len(frames) == case.frames
    else:
        got = f"error (exit {r.code}): " + r.err.strip().replace("streamseg: error: ", "").replace("\n", " ")
        assert "Traceback" not in r.err and r.err.count("streamseg: error:") == 1 and "fix:" in r.err
        assert not out.exists()
    assert case.expect == "either" or got.startswith(case.expect), got
    got = got.replace(str(tmp_path) + "/", "").replace("|", "/")
    RESULTS[case.name] = (case.what, got)
    if not WRITE:  # the documentation says what users get: hold the code to it
        assert documented().get(case.name) == (case.what, got), f"docs/INPUTS.md is out of date for {case.name}"
