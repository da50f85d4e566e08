"""Distillation (training.distil, `streamseg train --teacher`): frames of a clip labelled by a teacher into a
reusable cache, a held-out split by time that training.dataset agrees with, a student fine-tuned and scored
against the teacher. Small: a 128x96 clip, the shipped model as the teacher, a tiny UNet as the init."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import cli
from PIL import Image

from streamseg.models import ModelSpec, UNet, load_checkpoint, save_checkpoint
from streamseg.sample import SampleSpec, write_sample
from streamseg.weights import default_model_path
from training.dataset import find_samples, split

pytest.importorskip("training.distil")

VAL = 0.2
# "--workers 0": training runs inside this test process, where earlier tests loaded OpenVINO; torch's
# data-loading worker processes there left the process crashing (SIGSEGV) at a later subprocess. The
# command line (`streamseg train`) runs training in a process of its own, with workers.


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("distil")
    clip = root / "drive.mp4"
    write_sample(clip, SampleSpec(width=128, height=96, frames=48, fps=25, seed=1, audio=None))
    torch.manual_seed(0)
    tiny = root / "tiny.pt"
    save_checkpoint(tiny, UNet(4), ModelSpec(width=4, input_height=32, input_width=64))
    return root, clip, tiny


@pytest.fixture(scope="module")
def first(setup):
    """Teacher: the shipped model; init: a tiny random UNet; labels into the default cache."""
    from training.distil import main

    root, clip, tiny = setup
    mp = pytest.MonkeyPatch()
    mp.setenv("STREAMSEG_CACHE", str(root / "cache"))
    out = root / "student.pt"
    report = main([str(clip), "--teacher", str(default_model_path()), "--init", str(tiny), "--out", str(out),
                   "--every", "4", "--steps", "30", "--lr", "3e-3", "--val-fraction", str(VAL), "--workers", "0"])
    yield root, clip, tiny, out, report, mp
    mp.undo()


def test_labels_written_in_the_cache_and_split_by_time(first):
    root, clip, tiny, out, report, _ = first
    labels = Path(report["labels"])
    assert labels.parent == root / "cache" / "distil"
    frames = json.loads((labels / "labels.json").read_text())["frames"]
    n = report["frames"]["labelled"]
    assert n == len(frames) == report["frames"]["labelled_now"] >= 8
    assert len(list((labels / "images").glob("*.jpg"))) == len(list((labels / "masks").glob("*.png"))) == n
    mask = np.asarray(Image.open(labels / "masks" / f"{frames[0]['name']}.png"))
    assert mask.shape == (96, 128) and mask.max() > 200 and mask.min() < 50  # a real matte: car and background
    # the split training.train will make is the one planned here, and it is by time: held-out frames come after
    # every training frame, with a gap of unlabelled frames between
    train, held = split(find_samples(labels), VAL)
    planned = {f["name"] for f in frames if f["held_out"]}
    assert {s.image.stem for s in held} == planned and len(held) == report["frames"]["held_out"] >= 1
    assert len(train) == report["frames"]["train"] >= 1
    last_train = max(f["index"] for f in frames if not f["held_out"])
    first_held = min(f["index"] for f in frames if f["held_out"])
    assert first_held - last_train > 4  # --every 4: at least one sampled frame left out between


def test_student_is_a_checkpoint_scored_against_the_teacher(first, tmp_path):
    root, clip, tiny, out, report, _ = first
    model, spec, meta = load_checkpoint(out)
    assert spec.arch == "unet" and spec.width == 4 and (spec.input_height, spec.input_width) == (32, 64)
    assert meta["distilled"]["student_vs_teacher"] == report["student_vs_teacher"]
    saved = json.loads(out.with_name("student.pt.distil.json").read_text())
    for who in ("init_vs_teacher", "student_vs_teacher"):
        assert saved[who]["frames"] == report["frames"]["held_out"]
        assert 0 <= saved[who]["iou"] <= saved[who]["dice"] <= 1
    assert saved["steps"] == 30 and saved["seconds"]["total"] > 0
    assert saved["init_vs_teacher"]["dice"] < 0.5  # a tiny random UNet barely overlaps the teacher
    # (30 steps do not reliably make it better: that the scores are real is checked with teacher == init below)
    init, _, _ = load_checkpoint(tiny)
    moved = max((a - b).abs().max().item() for a, b in zip(init.parameters(), model.parameters()))
    assert moved > 5e-3  # trained, not just copied (half precision rounds by < 1e-3 here)
    result = cli("run", clip, "--model", out, "-o", tmp_path / "out.mp4", "--quiet")
    assert result.code == 0, result


def test_cli_reuses_labels_and_teacher_as_init_agrees(first):
    """Second run through `streamseg train --teacher`, same teacher and frames: nothing is labelled again. With
    the teacher as the init too, init and teacher agree (Dice ~1: the scores come from the real masks)."""
    root, clip, tiny, out, report, _ = first
    labels = Path(report["labels"])
    stamps = {p: p.stat().st_mtime_ns for p in (labels / "masks").iterdir()}
    out2 = root / "student2.pt"
    teacher = str(default_model_path())
    result = cli("train", "--teacher", teacher, clip, "--init", teacher, "--out", out2, "--every", "4",
                 "--steps", "1", "--batch", "1", "--val-fraction", str(VAL), "--workers", "0")
    assert result.code == 0, result
    assert f"reused {report['frames']['labelled']} cached labels" in result.out
    again = json.loads(out2.with_name("student2.pt.distil.json").read_text())
    assert again["frames"]["labelled_now"] == 0 and again["labels"] == report["labels"]
    assert {p: p.stat().st_mtime_ns for p in (labels / "masks").iterdir()} == stamps
    assert again["init_vs_teacher"]["dice"] > 0.95


def test_cli_train_runs_the_training_programs():
    from streamseg.cli import train_command

    assert train_command(["--data", "d", "--out", "r"])[1:] == ["-m", "training.train", "--data", "d", "--out", "r"]
    assert train_command(["--teacher", "isnet", "c.mp4"])[1:3] == ["-m", "training.distil"]
    assert train_command(["--teacher=isnet", "c.mp4"])[1:3] == ["-m", "training.distil"]


def test_runtime_package_never_imports_training():
    """training uses streamseg, never the reverse (issue 10): no import of it anywhere under streamseg/."""
    import re

    package = Path(__file__).resolve().parents[1] / "streamseg"
    offenders = [f"{p.relative_to(package)}:{n}" for p in package.rglob("*.py")
                 for n, line in enumerate(p.read_text().splitlines(), 1)
                 if re.match(r"\s*(from|import)\s+training\b", line)]
    assert not offenders, offenders
