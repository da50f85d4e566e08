"""The threaded pipeline: order, bounded memory, error propagation, clean shutdown on signals."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import decode_all
from PIL import Image

from streamseg.backends.cpu import CpuBackend
from streamseg.errors import Interrupted
from streamseg.io import writer as writer_module
from streamseg.io.reader import SidePacket
from streamseg.io.writer import FORMATS
from streamseg.options import RunOptions
from streamseg.pipeline import run
from streamseg.sample import SampleSpec, write_sample
from streamseg.weights import default_model_path


@pytest.fixture(scope="module")
def backend():
    return CpuBackend(default_model_path())


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    write_sample(path, SampleSpec(width=160, height=96, frames=40, fps=25, seed=2))
    return path


def outputs(folder):
    return sorted(p.name for p in folder.iterdir())


def test_batch_size_does_not_change_output_or_order(long_clip, backend, tmp_path):
    """A tail batch, several batches in flight, and batch 1 all give the same frames in the same order."""
    results = {}
    for bs in (1, 7):
        out = tmp_path / f"b{bs}"
        summary = run(RunOptions(source=long_clip, output=out, fmt=FORMATS["png"], batch_size=bs), backend)
        assert summary.frames == 40
        results[bs] = [np.asarray(Image.open(p)) for p in sorted(out.glob("*.png"))]
    assert len(results[1]) == len(results[7]) == 40
    for a, b in zip(results[1], results[7]):
        assert np.abs(a.astype(int) - b).max() <= 1
    # neighbouring frames differ (the car moves), so a swapped order would show
    assert np.abs(results[1][0].astype(int) - results[1][39]).mean() > 1


def test_timestamps_and_count_kept(long_clip, backend, tmp_path):
    out = tmp_path / "o.mp4"
    run(RunOptions(source=long_clip, output=out, fmt=FORMATS["mp4"], batch_size=6), backend)
    _, t_in = decode_all(long_clip)
    _, t_out = decode_all(out)
    assert t_out == pytest.approx(t_in, abs=1e-3)


class FailingBackend:
    """The real backend until call number `after`, then an error, as a GPU fault would be."""

    def __init__(self, inner, after: int, error: BaseException) -> None:
        self.inner, self.after, self.error, self.calls = inner, after, error, 0
        self.device, self.spec = inner.device, inner.spec

    def __call__(self, x):
        self.calls += 1
        if self.calls > self.after:
            raise self.error
        return self.inner(x)

    def describe(self) -> str:
        return "failing"


@pytest.mark.parametrize("error,expected", [
    (RuntimeError("CUDA error: an illegal memory access"), RuntimeError),
    (KeyboardInterrupt(), Interrupted),
])
def test_error_mid_run_stops_every_stage_and_leaves_nothing(long_clip, backend, tmp_path, error, expected):
    before = threading.active_count()
    out = tmp_path / "o.mp4"
    with pytest.raises(expected):
        opts = RunOptions(source=long_clip, output=out, fmt=FORMATS["mp4"], batch_size=4)
        run(opts, FailingBackend(backend, 3, error))
    assert outputs(tmp_path) == []  # neither the output nor its temporary file
    deadline = time.time() + 5
    while threading.active_count() > before and time.time() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == before  # no stage thread left behind


def limited_file_size(limit: int):
    """For a child process: files it writes may not grow past `limit` bytes (EFBIG, as a full disk)."""
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # report EFBIG instead of killing the process
    return apply


def test_full_disk_size_limited_file(long_clip, tmp_path):
    out = tmp_path / "o.mov"  # ProRes: a few MB, far over the limit
    p = subprocess.run([sys.executable, "-m", "streamseg", "run", str(long_clip), "-o", str(out)],
                       capture_output=True, text=True, preexec_fn=limited_file_size(200_000), timeout=300)
    assert p.returncode == 3, p.stderr
    assert "no space left" in p.stderr and "fix:" in p.stderr and "Traceback" not in p.stderr
    assert outputs(tmp_path) == []


def test_full_disk_small_tmpfs(long_clip, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)")
    try:
        r = subprocess.run([sys.executable, "-m", "streamseg", "run", str(long_clip), "-o", str(disk / "o.mov")],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 3, r.stderr
        assert "no space left" in r.stderr and "Traceback" not in r.stderr
        assert outputs(disk) == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_slow_encoder_applies_back_pressure(long_clip, backend, tmp_path, monkeypatch):
    """With a slow encoder, decoding waits: frames in flight stay within the queue bounds. Frames are
    counted where the pipeline reads them (Source.items), as they leave the decoder."""
    from streamseg.io.source import Source

    state = {"decoded": 0, "written": 0, "peak": 0}
    real_items = Source.items
    real_write = writer_module.VideoWriter.write

    def counting_items(self, stop):
        for item in real_items(self, stop):
            if not isinstance(item, SidePacket):
                state["decoded"] += 1
                state["peak"] = max(state["peak"], state["decoded"] - state["written"])
            yield item

    def slow_write(self, image, pts):
        time.sleep(0.03)
        real_write(self, image, pts)
        state["written"] += 1

    monkeypatch.setattr(Source, "items", counting_items)
    monkeypatch.setattr(writer_module.VideoWriter, "write", slow_write)
    opts = RunOptions(source=long_clip, output=tmp_path / "o.mp4", fmt=FORMATS["mp4"], batch_size=2, queue_size=2)
    run(opts, backend)
    b, q = opts.batch_size, opts.queue_size
    # decoded queue (q * b) + the batcher + a batch in inference + inferred queue (q batches) + a batch in
    # the compositor + finished queue (q batches) + a batch being written, + the frame that waits to be queued
    bound = q * b + b + b + q * b + b + q * b + b + 1
    assert state["decoded"] == state["written"] == 40, state
    assert state["peak"] <= bound < 40, state


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_promptly_and_removes_partial_output(tmp_path, sig):
    src = tmp_path / "in.mp4"
    write_sample(src, SampleSpec(width=320, height=192, frames=250, fps=25, seed=4))
    out = tmp_path / "out.mp4"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # as from a terminal: a shell starts background jobs with SIGINT ignored, and Python keeps that
    p = subprocess.Popen([sys.executable, "-m", "streamseg", "run", str(src), "-o", str(out), "--batch-size", "2"],
                         stderr=subprocess.PIPE, text=True, env=env,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    banner = p.stderr.readline()  # printed once everything is open and frames start to flow
    assert "streamseg:" in banner, banner
    deadline = time.time() + 30  # the partial file appears with the first frames written (later on a busy machine)
    while not (partials := list(tmp_path.glob(".out.mp4.*.partial"))) and time.time() < deadline:
        time.sleep(0.1)
    assert partials and p.poll() is None  # really mid-run
    p.send_signal(sig)
    t = time.time()
    code = p.wait(timeout=20)
    err = p.stderr.read()
    assert code == 130, err
    assert time.time() - t < 10
    assert "interrupted" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".out.mp4*"))  # neither partial nor lock
    assert src.stat().st_size > 0

