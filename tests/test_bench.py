"""`streamseg bench`: plain wording, a warning when a stage's repeated measurements disagree, clear errors."""

from __future__ import annotations

import pytest
from conftest import cli

from streamseg.bench import BenchReport, chunk_rates, format_report, median_and_spread


def report(pipeline: float, serial: float, spread: dict | None = None) -> BenchReport:
    r = BenchReport(clip="c.mp4", width=1920, height=1080, frames=100, device="cpu", backend="openvino (bf16)",
                    decoder="pyav", decode_fps=236.4, infer_fps={"openvino batch 1 at 256x448": 41.3},
                    composite_fps=30.2, encode_fps={"mp4": 35.0}, pipeline_fps=pipeline, serial_fps=serial,
                    slowest_stage="composite", slowest_fps=30.2)
    r.spread = spread or {}
    return r


def test_a_slower_pipeline_is_called_slower():
    text = format_report(report(pipeline=7.5, serial=10.0))
    assert "the pipeline is slower, 25% below it" in text
    assert "x faster" not in text and "0.75x" not in text


def test_a_faster_pipeline_says_how_much():
    text = format_report(report(pipeline=13.0, serial=8.0))
    assert "the pipeline is 1.62x as fast" in text
    assert "decode and mp4 encode alone would allow at most 35.0 frames/s; the run reaches 37% of that" in text


def test_stage_rows_line_up():
    rows = [line for line in format_report(report(13.0, 8.0)).splitlines() if line.endswith(" frames/s")
            and line.startswith("  ")]
    assert len(rows) == 4 and len({line.index("frames/s") for line in rows}) == 1, rows


def test_disagreeing_measurements_are_warned_about():
    assert median_and_spread([10.0, 10.5, 9.8]) == (10.0, 0.07)
    quiet = format_report(report(13.0, 8.0, {"decode": 0.07}))
    busy = format_report(report(13.0, 8.0, {"decode": 0.07, "encode mp4": 0.35}))
    assert "warning" not in quiet
    assert "warning: encode mp4: repeated measurements differ by 35%" in busy and "decode:" not in busy


def test_chunk_rates_split_a_run_in_three():
    assert chunk_rates([0.1] * 6) == [10.0, 10.0, 10.0]
    assert chunk_rates([0.1, 0.1, 0.4], [1, 1, 2]) == [10.0, 10.0, 5.0]


@pytest.mark.parametrize("args,message", [
    (["--size", "foo"], "--size 'foo' is not WIDTHxHEIGHT"),
    (["--size", "63x64"], "must be even and at least 64x64"),
    (["--batch-sizes", "1,x"], "--batch-sizes '1,x' is not a list of numbers"),
    (["--input", "nosuch.mp4"], "input not found: nosuch.mp4"),
])
def test_bad_options_are_named(args, message):
    r = cli("bench", *args)
    assert r.code == 2 and not r.crashed, r
    assert message in r.err, r.err


def test_bench_runs_end_to_end_on_a_tiny_clip():
    r = cli("bench", "--size", "128x72", "--frames", "12", "--batch-sizes", "1", "--formats", "mp4")
    assert r.code == 0, r
    assert "each stage alone" in r.out and "whole run (pipelined, mp4)" in r.out, r.out
