"""Subtitle streams are copied where the output container holds their codec (issue 12, item 4): mov_text
into MP4 and MOV, WebVTT into WebM, with the same texts at the same times; any other is named with the
reason (tests/test_streams_dropped.py: SubRip into MP4)."""

from __future__ import annotations

import json
import types

import av
import pytest
from conftest import audio_packets, cli, decode_all
from media import encode_clip, subtitle_cues, with_subtitles

from streamseg.io.subtitles import why_dropped

CUES = [(0.08, 0.2, "A red car"), (0.24, 0.36, "Zoom: é")]  # inside a 10-frame clip at 25 fps
FRAME_S = 1 / 25


@pytest.mark.parametrize(("codec", "suffix", "video", "audio"), [("mov_text", ".mp4", "libx264", "aac"),
                                                                  ("webvtt", ".webm", "libvpx-vp9", "libopus")])
def test_subtitles_copied_with_their_times(tmp_path, codec, suffix, video, audio):
    clip = encode_clip(tmp_path / f"clip{suffix}", frames=10, codec=video, audio=audio)
    src = with_subtitles(clip, tmp_path / f"subs{suffix}", codec, CUES)
    out = tmp_path / f"out{suffix}"
    r = cli("run", src, "-o", out, "--json")
    assert r.code == 0, r
    assert f"copied into the output: subtitle #2 ({codec}, eng)" in r.err
    summary = json.loads(r.out)
    assert summary["copied_streams"] == [f"subtitle #2 ({codec}, eng)"] and summary["dropped_streams"] == []
    got = subtitle_cues(out)
    assert [text for *_, text in got] == [text for *_, text in CUES]
    for (start, end, _), (want_start, want_end, _) in zip(got, subtitle_cues(src)):
        assert abs(start - want_start) < FRAME_S and abs(end - want_end) < FRAME_S, (got, CUES)
    with av.open(str(out)) as c:
        assert c.streams.subtitles[0].codec_context.name == codec
        assert c.streams.subtitles[0].metadata.get("language") == "eng"
    # the rest as without subtitles: every frame, the audio packets unchanged
    assert len(decode_all(out)[0]) == len(decode_all(clip)[0]) == 10
    assert audio_packets(out) == audio_packets(clip) != []


def why(codec: str, container: str) -> str | None:
    """why_dropped for a stream of `codec` (enough of a PyAV stream for it)."""
    stream = types.SimpleNamespace(codec_context=types.SimpleNamespace(codec=av.codec.Codec(codec)))
    return why_dropped(stream, container)


def test_the_reason_a_subtitle_stream_is_dropped():
    assert why("mov_text", "mp4") is None and why("mov_text", "mov") is None and why("webvtt", "webm") is None
    assert why("subrip", "mp4") == "MP4 holds mov_text subtitles only; convert with ffmpeg -c:s mov_text"
    assert why("mov_text", "webm") == "WebM holds webvtt subtitles only; convert with ffmpeg -c:s webvtt"
    assert why("dvd_subtitle", "mp4") == "image subtitles; MP4 holds text subtitles (mov_text) only"
    assert why("mov_text", "png") == "a PNG sequence carries no subtitles"
    assert why("mov_text", "mpegts") == "a live MPEG-TS stream carries no subtitles"
