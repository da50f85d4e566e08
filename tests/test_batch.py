"""Many inputs in one run: a corrupt file among good ones, the manifest, --resume, several workers, Ray."""

from __future__ import annotations

import ctypes
import json
import shutil

import numpy as np
import pytest
from conftest import cli, decode_all
from media import encode_clip


@pytest.fixture()
def folder(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        encode_clip(src / f"car{i}.mp4", width=96, height=64, frames=4 + i, audio="aac")
    (src / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(500))  # a header and nothing else
    (src / "notes.txt").write_text("not a video: folders are searched for video extensions only")
    return src


def manifest_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_corrupt_file_does_not_stop_the_others_and_resume_redoes_nothing_complete(folder, tmp_path):
    out = tmp_path / "out"
    r = cli("run", folder, "-o", out, "--bg", "green")
    assert r.code == 1 and "1 of 4 inputs failed" in r.err, r
    records = manifest_lines(out / "streamseg-manifest.jsonl")
    by_name = {rec["input"].rsplit("/", 1)[-1]: rec for rec in records}
    assert sorted(by_name) == ["broken.mp4", "car0.mp4", "car1.mp4", "car2.mp4"]
    assert by_name["broken.mp4"]["status"] == "failed" and "broken.mp4" in by_name["broken.mp4"]["error"]
    for i in range(3):
        rec = by_name[f"car{i}.mp4"]
        assert rec["status"] == "ok" and rec["frames"] == 4 + i and rec["fps"] > 0
        assert len(decode_all(out / f"car{i}_streamseg.mp4")[0]) == 4 + i
    assert not (out / "broken_streamseg.mp4").exists()
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp4")}

    # resume: the complete ones are skipped untouched; only the failed one is tried again
    r = cli("run", folder, "-o", out, "--bg", "green", "--resume")
    assert r.code == 1 and "3 skipped" in r.err, r
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp4")} == mtimes
    new = manifest_lines(out / "streamseg-manifest.jsonl")[len(records):]
    assert [rec["input"].rsplit("/", 1)[-1] for rec in new] == ["broken.mp4"]

    # mended, and one output changed since: resume redoes the mended one and keeps the changed file (it is
    # no longer the one streamseg wrote: someone's, tests/test_faults.py); --overwrite redoes it too
    shutil.copy(folder / "car0.mp4", folder / "broken.mp4")
    (out / "car1_streamseg.mp4").write_bytes(b"cut short")
    r = cli("run", folder, "-o", out, "--bg", "green", "--resume")
    assert r.code == 1, r
    latest = manifest_lines(out / "streamseg-manifest.jsonl")[len(records) + 1:]
    statuses = {rec["input"].rsplit("/", 1)[-1]: rec["status"] for rec in latest}
    assert statuses == {"broken.mp4": "ok", "car1.mp4": "failed"}
    assert (out / "car1_streamseg.mp4").read_bytes() == b"cut short"
    r = cli("run", folder, "-o", out, "--bg", "green", "--resume", "--overwrite")
    assert r.code == 0 and "3 skipped" in r.err, r
    assert len(decode_all(out / "car1_streamseg.mp4")[0]) == 5


def test_glob_and_several_workers(folder, tmp_path):
    out = tmp_path / "out"
    r = cli("run", str(folder / "car*.mp4"), "-o", out, "--devices", "cpu,cpu", "--json", "-q")
    assert r.code == 0, r
    records = [json.loads(line) for line in r.out.splitlines()]
    assert len(records) == 3 and {rec["status"] for rec in records} == {"ok"}
    assert {rec["device"] for rec in records} == {"cpu"}


def test_every_worker_takes_jobs(tmp_path, monkeypatch):
    """Two devices, two workers at once: each job waits until the other worker holds one too, so a
    run that only starts the first worker cannot finish (the barrier breaks)."""
    import threading

    from streamseg import jobs
    from streamseg.io.writer import FORMATS
    from streamseg.options import RunOptions

    both = threading.Barrier(2, timeout=20)
    seen = []

    class Device:
        def __init__(self, name):
            self.device = name

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

    def process(job, backend, opts, *, cancel=None):
        seen.append(backend.device)
        both.wait()
        return {"input": job.source, "output": job.output, "device": backend.device, "status": "ok"}

    monkeypatch.setattr(jobs, "process", process)
    plan = [jobs.Job(f"in{k}.mp4", str(tmp_path / f"out{k}.mp4")) for k in range(4)]
    records = jobs.run_jobs(plan, RunOptions(fmt=FORMATS["mp4"]), make_backend=Device, devices=["dev-a", "dev-b"],
                            manifest=jobs.Manifest(tmp_path / "m.jsonl"), resume=False)
    assert len(records) == 4 and sorted(set(seen)) == ["dev-a", "dev-b"]


def test_outputs_must_go_to_a_folder(folder, tmp_path):
    r = cli("run", folder, "-o", tmp_path / "one.mp4")
    assert r.code == 2 and "need a folder" in r.err


@pytest.fixture()
def repeatable_x264(monkeypatch):
    """x264 as PyAV bundles it reads memory nobody wrote (scripts/encoder_repeatability.py), so the same frames
    may code differently from run to run: a block or two off. glibc's malloc perturbation fills new memory with
    a fixed byte, which makes every encode repeatable; set here in this process (mallopt) and for the Ray
    workers the run starts (their environment)."""
    monkeypatch.setenv("MALLOC_PERTURB_", "165")
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # glibc only
    if mallopt is None:
        pytest.skip("needs glibc's mallopt to make x264 repeatable")
    m_perturb = -6
    mallopt(m_perturb, 165)
    yield
    mallopt(m_perturb, 0)


def test_ray_local_gives_the_same_outputs(folder, tmp_path, repeatable_x264):
    pytest.importorskip("ray", reason="pip install 'streamseg[ray]'")
    from PIL import Image
    from test_photos import picture

    (folder / "broken.mp4").unlink()
    picture().save(folder / "still.jpg")  # photos and videos go through the same jobs
    plain, on_ray = tmp_path / "plain", tmp_path / "ray"
    assert cli("run", folder, "-o", plain, "-q").code == 0
    r = cli("run", folder, "-o", on_ray, "-q", "--ray", "local", "--ray-workers", "2")
    assert r.code == 0, r
    records = manifest_lines(on_ray / "streamseg-manifest.jsonl")
    assert sorted(rec["status"] for rec in records) == ["ok"] * 4
    a, b = (np.asarray(Image.open(d / "still_streamseg.jpg")).astype(int) for d in (plain, on_ray))
    assert a.shape == b.shape and np.abs(a - b).mean() < 1
    for i in range(3):
        a, _ = decode_all(plain / f"car{i}_streamseg.mp4")
        b, _ = decode_all(on_ray / f"car{i}_streamseg.mp4")
        assert len(a) == len(b) == 4 + i
        # the same up to float rounding: Ray gives each worker one thread, which changes summation order,
        # and x264 may then decide a block differently; a real difference would be everywhere
        diff = np.abs(np.stack(a).astype(int) - np.stack(b))
        assert diff.mean() < 0.5 and (diff > 8).mean() < 1e-3


@pytest.mark.parametrize("runner", [[], ["--ray", "local", "--ray-workers", "1"]], ids=["local", "ray"])
def test_resume_never_replaces_a_file_it_did_not_write(folder, tmp_path, runner):
    """--resume redoes only outputs its manifest says it wrote; a user's file at an output name is kept."""
    if runner:
        pytest.importorskip("ray", reason="pip install 'streamseg[ray]'")
    out = tmp_path / "out"
    out.mkdir()
    theirs = out / "car1_streamseg.mp4"
    theirs.write_text("keep")
    r = cli("run", folder / "car0.mp4", folder / "car1.mp4", "-o", out, "--resume", "-q", *runner)
    assert r.code == 1, r
    assert theirs.read_text() == "keep"
    by_name = {rec["input"].rsplit("/", 1)[-1]: rec for rec in manifest_lines(out / "streamseg-manifest.jsonl")}
    assert by_name["car0.mp4"]["status"] == "ok"
    assert by_name["car1.mp4"]["status"] == "failed" and "already exists" in by_name["car1.mp4"]["error"]


def test_manifest_on_a_full_disk_is_an_output_error(folder, tmp_path):
    """/dev/full fails every write with ENOSPC: the documented message and exit 3, not an internal error."""
    r = cli("run", folder / "car0.mp4", folder / "car1.mp4", "-o", tmp_path / "out", "--manifest", "/dev/full", "-q")
    assert r.code == 3 and "no space left" in r.err and "internal error" not in r.err, r


def test_full_disk_leaves_no_empty_manifest(folder, tmp_path):
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)")
    with pytest.raises(OSError):  # fill the disk
        (disk / "filler").write_bytes(bytes(128 * 1024))
    try:
        r = cli("run", folder / "car0.mp4", folder / "car1.mp4", "-o", tmp_path / "out",
                "--manifest", disk / "m.jsonl", "-q")
        assert r.code == 3 and "no space left" in r.err, r
        assert not (disk / "m.jsonl").exists()
    finally:
        subprocess.run(["umount", str(disk)], check=False)
