"""Streams the output does not carry are named with the reason (issue 12, item 4): on the run line and in the
summary. (Subtitles the output can hold are copied: tests/test_subtitles.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import av
from conftest import cli


def with_extra_streams(clip: Path, path: Path) -> Path:
    """An MKV holding the clip's video twice and an English SubRip track (packets copied, not encoded)."""
    srt = path.with_suffix(".srt")
    srt.write_text("1\n00:00:00,000 --> 00:00:00,400\nA red car\n\n")
    with av.open(str(clip)) as vin, av.open(str(srt)) as sin, av.open(str(path), "w") as out:
        video = vin.streams.video[0]
        first, second = out.add_stream_from_template(video), out.add_stream_from_template(video)
        subs = out.add_stream_from_template(sin.streams.subtitles[0])
        subs.metadata["language"] = "eng"
        for p in vin.demux(video):
            if p.size:
                copy = av.Packet(bytes(p))
                copy.pts, copy.dts, copy.time_base = p.pts, p.dts, p.time_base
                p.stream, copy.stream = first, second
                out.mux(p)
                out.mux(copy)
        for p in sin.demux():
            if p.size:
                p.stream = subs
                out.mux(p)
    return path


def test_dropped_streams_are_named_with_the_reason(clip, tmp_path):
    src = with_extra_streams(clip, tmp_path / "multi.mkv")
    r = cli("run", src, "-o", tmp_path / "o.mp4", "--json")
    assert r.code == 0, r
    dropped = ["video #1 (h264): streamseg processes the first video stream only",
               "subtitle #2 (srt, eng): MP4 holds mov_text subtitles only; convert with ffmpeg -c:s mov_text"]
    # the remuxed MKV's average rate says 2,500 (its codec's time base): the run line says the clip's 25
    assert f"(256x144, 25 fps, about {json.loads(r.out)['frames']} frames)" in r.err, r.err
    lines = [x for x in r.err.splitlines() if "not carried into the output" in x]
    assert lines == [f"streamseg: not carried into the output: {d}" for d in dropped], r.err
    assert json.loads(r.out)["dropped_streams"] == dropped
    assert json.loads(r.out)["copied_streams"] == []
    with av.open(str(tmp_path / "o.mp4")) as out:
        assert [s.type for s in out.streams] == ["video"]


def test_a_png_sequence_says_it_carries_no_subtitles(clip, tmp_path):
    src = with_extra_streams(clip, tmp_path / "multi.mkv")
    r = cli("run", src, "-o", tmp_path / "frames", "--json")
    assert r.code == 0, r
    assert "subtitle #2 (srt, eng): a PNG sequence carries no subtitles" in json.loads(r.out)["dropped_streams"]


def test_nothing_is_said_when_nothing_is_dropped(clip, tmp_path):
    r = cli("run", clip, "-o", tmp_path / "o.mp4", "--json")
    assert r.code == 0 and "not carried" not in r.err
    assert json.loads(r.out)["dropped_streams"] == []
