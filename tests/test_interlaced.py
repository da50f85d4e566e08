"""Interlaced input (issue 12, item 2): detected, deinterlaced with FFmpeg's bwdif before segmentation,
said on the run line and in the JSON summary, and written as progressive video."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
from conftest import cli, decode_all


def interlaced_clip(path: Path, frames: int = 10, width: int = 320, height: int = 180) -> Path:
    """25i as a camera writes it: each frame woven from two fields 1/50 s apart (a white box moving right),
    coded as fields (H.264 interlaced, top field first)."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25, options={"crf": "10", "flags": "+ildct+ilme", "x264-params": "tff=1"})
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            top, bottom = np.full((height, width, 3), 40, np.uint8), np.full((height, width, 3), 40, np.uint8)
            x = 40 + 16 * i
            top[40:140, x:x + 60] = 230
            bottom[40:140, x + 8:x + 68] = 230  # the later field: the box has moved on
            woven = top.copy()
            woven[1::2] = bottom[1::2]
            frame = av.VideoFrame.from_ndarray(woven, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


def combing(rgb: np.ndarray) -> float:
    """Mean |2 row - row above - row below| of the grey image: large where fields disagree."""
    g = rgb[..., :3].astype(np.float32).mean(-1)
    return float(np.abs(2 * g[1:-1] - g[:-2] - g[2:]).mean())


def png_frames(folder: Path) -> list[np.ndarray]:
    return [next(av.open(str(p)).decode(video=0)).to_ndarray(format="rgba") for p in sorted(folder.glob("*.png"))]


def test_interlaced_input_is_deinterlaced_and_said(tmp_path):
    clip = interlaced_clip(tmp_path / "i.mp4")
    out = tmp_path / "o.mp4"
    r = cli("run", clip, "-o", out)
    assert r.code == 0, r
    assert "deinterlaced (bwdif)" in r.err.splitlines()[0], r.err
    frames, times = decode_all(out)
    _, source_times = decode_all(clip)
    assert len(frames) == 10 and times == source_times  # one frame out per frame in, same timing
    with av.open(str(out)) as c:
        assert not any(f.interlaced_frame for f in c.decode(video=0))  # written as progressive
    summary = json.loads(cli("run", clip, "-o", tmp_path / "j.mp4", "--json", "-q").out)
    assert summary["interlaced"] is True and summary["deinterlaced"] is True


def test_fields_are_woven_away_before_segmentation(tmp_path):
    """The RGBA PNGs carry the frames the model saw: combed with --deinterlace off, not with auto."""
    clip = interlaced_clip(tmp_path / "i.mp4")
    for mode in ("auto", "off"):
        assert cli("run", clip, "-o", tmp_path / mode, "-f", "png", "-q", "--deinterlace", mode).code == 0
    auto = np.mean([combing(f) for f in png_frames(tmp_path / "auto")])
    off = np.mean([combing(f) for f in png_frames(tmp_path / "off")])
    assert auto < 0.5 * off, (auto, off)
    r = cli("run", clip, "-o", tmp_path / "x.mp4", "--deinterlace", "off")
    assert "interlaced, left as it is" in r.err.splitlines()[0], r.err


def test_progressive_input_is_left_alone_unless_asked(clip, tmp_path):
    r = cli("run", clip, "-o", tmp_path / "p.mp4", "--json")
    assert r.code == 0 and "deinterlaced" not in r.err.splitlines()[0], r.err
    assert json.loads(r.out)["deinterlaced"] is False
    r = cli("run", clip, "-o", tmp_path / "q.mp4", "--deinterlace", "on")
    assert r.code == 0 and "deinterlaced (bwdif), as asked" in r.err.splitlines()[0], r.err
    assert len(decode_all(tmp_path / "q.mp4")[0]) == 12
