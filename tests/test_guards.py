"""Behaviour nothing else held to (issue 12's list): the Batcher, --devices, the over-8K refusal, the
internal-error path, the frame-count guard, smoothing on by default, --no-refine, the SDR backdrop in an
HDR output through a run, STREAMSEG_CACHE, the live batch deadline and `bench --soak`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import cli, decode_all

from streamseg.backends.registry import parse_devices
from streamseg.batching import Batcher
from streamseg.errors import InputError, StreamsegError
from streamseg.io.reader import Frame


def frame(i: int) -> Frame:
    return Frame(np.full((4, 6, 3), i, np.uint8), pts=i * 10, index=i)


def test_batcher_fills_flushes_and_keeps_order():
    b = Batcher(3)
    assert b.add(frame(0)) is None and b.add(frame(1)) is None
    full = b.add(frame(2))
    assert full is not None and full.pts == [0, 10, 20] and full.first_index == 0
    assert full.frames.shape == (3, 4, 6, 3) and full.frames[2, 0, 0, 0] == 2
    assert b.add(frame(3)) is None
    tail = b.flush()
    assert tail is not None and tail.pts == [30] and tail.first_index == 3 and len(tail) == 1
    assert b.flush() is None
    with pytest.raises(ValueError):
        Batcher(0)


def test_batcher_deadline_closes_a_short_batch():
    b = Batcher(8, max_wait_s=0.05)
    assert b.add(frame(0)) is None
    assert 0 < b.wait_left() <= 0.05
    time.sleep(0.06)
    assert b.wait_left() == 0
    late = b.add(frame(1))  # the oldest frame is overdue: the batch closes now, short
    assert late is not None and late.pts == [0, 10]
    assert Batcher(8).wait_left() is None


def test_devices_parsing():
    assert parse_devices(None) == [None] and parse_devices("") == [None]
    assert parse_devices("cpu") == ["cpu"] and parse_devices("cpu, cpu") == ["cpu", "cpu"]
    assert parse_devices("cuda:1") == ["cuda:1"]
    if not torch.cuda.is_available():
        assert parse_devices("0,1") == ["cuda:0", "cuda:1"]
    with pytest.raises(InputError, match="'gpu' is not a GPU number or cpu"):
        parse_devices("gpu")


def test_larger_than_8k_is_refused(tmp_path):
    path = tmp_path / "huge.mov"
    with av.open(str(path), "w") as out:  # one flat PNG frame of 16400x4100 (67.2 megapixels)
        v = out.add_stream("png", rate=1)
        v.width, v.height, v.pix_fmt = 16400, 4100, "rgb24"
        f = av.VideoFrame.from_ndarray(np.zeros((4100, 16400, 3), np.uint8), format="rgb24")
        out.mux(v.encode(f))
        out.mux(v.encode(None))
    r = cli("run", path, "-o", tmp_path / "o.mp4")
    assert r.code == 2 and "larger than streamseg handles" in r.err and "scale it down" in r.err, r


def test_a_bug_is_reported_as_an_internal_error(clip, tmp_path, monkeypatch):
    from streamseg import pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(pipeline, "infer_batch", broken)
    r = cli("run", clip, "-o", tmp_path / "o.mp4")
    assert r.code == 1 and not r.crashed, r
    assert "internal error: RuntimeError: boom" in r.err and "STREAMSEG_DEBUG=1" in r.err
    assert "Traceback" not in r.err and not (tmp_path / "o.mp4").exists()


def test_frames_lost_between_decoder_and_encoder_fail_the_run(clip, tmp_path, monkeypatch):
    from streamseg import pipeline
    from streamseg.backends.cpu import CpuBackend
    from streamseg.io.writer import FORMATS
    from streamseg.options import RunOptions
    from streamseg.weights import default_model_path

    real = pipeline.composite_batch
    seen = {"n": 0}

    def loses_a_frame(x, background, compositor, studio=None, filters=(), plates=None):  # the third comes back empty
        images = real(x, background, compositor, studio, filters, plates)
        seen["n"] += 1
        return images[:0] if seen["n"] == 3 else images

    monkeypatch.setattr(pipeline, "composite_batch", loses_a_frame)
    with pytest.raises(StreamsegError, match="wrote 11 frames but decoded 12"):
        opts = RunOptions(source=clip, output=tmp_path / "o.mp4", fmt=FORMATS["mp4"])
        pipeline.run(opts, CpuBackend(default_model_path()))
    assert not (tmp_path / "o.mp4").exists()


def test_smoothing_is_on_by_default_and_no_refine_changes_the_matte(clip, tmp_path):
    outs = {}
    for name, extra in {"default": [], "smooth": ["--smooth"], "no-smooth": ["--no-smooth"],
                        "no-refine": ["--no-refine"]}.items():
        out = tmp_path / f"{name}"
        assert cli("run", clip, "-o", out, "-f", "png", "-q", *extra).code == 0
        outs[name] = np.stack([np.asarray(av.open(str(p)).decode(video=0).__next__().to_ndarray(format="rgba"))
                               for p in sorted(out.glob("*.png"))])
    assert np.array_equal(outs["default"], outs["smooth"])
    assert not np.array_equal(outs["default"], outs["no-smooth"])
    assert not np.array_equal(outs["default"][..., 3], outs["no-refine"][..., 3])
    assert np.array_equal(outs["default"][..., :3], outs["no-refine"][..., :3])  # only the matte differs


def test_sdr_backdrop_is_mapped_into_an_hdr_output_by_a_run(tmp_path):
    from test_colour import camera_clip

    from streamseg.colour import BT2020_HLG

    clip = camera_clip(tmp_path / "hlg.mp4", 256, 144, "bt2020", True, BT2020_HLG, "yuv420p10le")
    first = {}
    for bg in ("white", "black"):
        out = tmp_path / f"{bg}.mp4"
        assert cli("run", clip, "--bg", bg, "-o", out, "-q").code == 0
        first[bg] = decode_all(out)[0][0].astype(int)
    # where the backdrop shows is where a black one changes the picture: wherever the model puts the car
    shown = (first["white"] - first["black"]).min(axis=2) > 100
    assert shown.mean() > 0.05, shown.mean()
    # SDR white placed at HLG reference white (0.75 of the signal), not at the signal's peak
    white = float(np.median(first["white"][shown]))
    assert abs(white - 0.75 * 255) < 12, white


def test_streamseg_cache_holds_the_converted_model(clip, tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMSEG_CACHE", str(tmp_path / "cache"))
    first = cli("run", clip, "-o", tmp_path / "o.mp4", "--backend", "openvino")
    assert first.code == 0 and "converting default for OpenVINO" in first.err, first
    assert list((tmp_path / "cache" / "engines").glob("default-*-openvino*.xml"))
    again = cli("run", clip, "-o", tmp_path / "p.mp4", "--backend", "openvino")
    assert again.code == 0 and "converting" not in again.err and "OpenVINO model cached" in again.err


def test_live_batch_deadline_reaches_the_batcher(clip, tmp_path, monkeypatch):
    """--max-latency-ms becomes the Batcher's deadline (whose effect test_batcher_deadline_closes_a_short_batch
    checks), in seconds; without it there is none."""
    from streamseg import pipeline

    seen = []

    class Recording(Batcher):
        def __init__(self, batch_size, pin_memory=False, max_wait_s=None):
            seen.append(max_wait_s)
            super().__init__(batch_size, pin_memory, max_wait_s)

    monkeypatch.setattr(pipeline, "Batcher", Recording)
    assert cli("run", clip, "-o", tmp_path / "a.mp4", "-q", "--batch-size", "16", "--max-latency-ms", "60").code == 0
    assert cli("run", clip, "-o", tmp_path / "b.mp4", "-q").code == 0
    assert seen == [pytest.approx(0.06), None]


def test_soak_reports_memory(tmp_path):
    r = cli("bench", "--soak", "40", "--size", "128x72", "--json")
    assert r.code == 0, r
    report = json.loads(r.out)
    assert report["frames"] == 40 and report["rss_mb"]["peak"] >= report["rss_mb"]["start"] > 0
    assert Path(tmp_path).exists()


def test_format_tables_agree():
    """The writer's table is the one list of output formats: its Literal names, the extensions that choose a
    format, and an audio rule for every container it writes."""
    from streamseg.io.audio import CONTAINER_AUDIO
    from streamseg.io.writer import FORMAT_NAMES, FORMATS, SUFFIX_FORMAT, format_help

    assert tuple(FORMATS) == FORMAT_NAMES
    assert SUFFIX_FORMAT == {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".webm": "webm"}
    assert {f.container for f in FORMATS.values() if f.container} <= set(CONTAINER_AUDIO)
    assert all(f"{name}: " in format_help() for name in FORMAT_NAMES)


def test_ray_asks_for_a_gpu_for_every_gpu_backend():
    from streamseg.backends.names import BACKEND_NAMES
    from streamseg.backends.registry import BACKENDS, uses_gpu

    assert uses_gpu("tensorrt") and uses_gpu("cuda")
    assert not uses_gpu("openvino") and not uses_gpu("cpu")
    assert set(BACKENDS) == {"tensorrt", "compiled", "cuda", "openvino", "cpu"}
    assert tuple(BACKENDS) == BACKEND_NAMES  # the registry and the names table (CLI help) agree
