"""Distillation: train the fast UNet on your own footage, labelled by a large teacher (IS-Net).

    python -m training.distil SOURCES... --teacher isnet --out student.pt [--init default] [--every 10]
                              [--max-frames 400] [--steps 300] [--labels DIR] [--val-fraction 0.2]
    streamseg train --teacher isnet SOURCES... --out student.pt ...        (the same, from the CLI)

1. Frames: SOURCES are videos, photos or folders of them (searched recursively). Every --every-th frame of
   each video is taken, at most --max-frames in all, shared out evenly over the sources; photos are
   taken whole (EXIF orientation applied).
2. Labels: the teacher mattes each frame at full resolution; the frame (JPEG) and its soft matte (PNG,
   0..255) are stored at --label-side px on the longest side. They go to a cache folder keyed by the
   teacher's and the sources' sha256 and the sampling options (or to --labels DIR), and are reused by the
   next run with the same inputs ("reused N cached labels"); an interrupted run keeps what it labelled.
3. Held-out split, so near-duplicate frames never sit on both sides: with 3 or more clips, whole clips are
   held out; with fewer, the last --val-fraction of each clip's sampled frames, after a gap of up to
   GUARD_SECONDS (no longer than the held-out block) that is not labelled at all. Photos are held out whole,
   one by one. training.dataset splits by a hash of each file's name, so every name carries a short suffix
   (-sN) picked for the hash to fall on the side chosen here: `python -m training.train --data LABELS
   --val-fraction F` with the same F sees the same split.
4. Training: `training.train` fine-tunes --init (default: the shipped model) on the labelled training frames,
   crops of the init's input size, and exports the student (a normal UNet checkpoint: `streamseg run
   --model student.pt`, `streamseg build-engine --model student.pt`). It is scored on the held-out frames
   only at its last step, so the held-out frames never pick the model.
5. Report: Dice and IoU (at 0.5) of the init and of the student against the teacher's masks on the held-out
   frames, printed and written to STUDENT.distil.json with the sources, frame counts and times.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from streamseg import engine
from streamseg.errors import InputError, StreamsegError
from streamseg.files import write_whole
from streamseg.models import ModelSpec, load_checkpoint, save_checkpoint
from training.dataset import IMAGE_EXTS, Sample, split
from training.evaluate_real import dice_iou, predict_alpha

FORMAT = "streamseg-distil-labels/1"
GUARD_SECONDS = 0.5  # time-block split: frames this close before the held-out block are not used at all
CLIPS_FOR_CLIP_SPLIT = 3  # from this many clips on, whole clips are held out
VIDEO_EXTS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mts", ".m2ts", ".ts", ".mpg", ".mpeg", ".wmv",
              ".flv", ".3gp", ".mxf"}


@dataclass(frozen=True)
class Source:
    path: Path
    kind: str  # "video" or "photo"
    sha256: str
    frames: int = 1  # a video's frame count (1 for a photo)
    fps: float = 0.0


@dataclass(frozen=True)
class Item:
    """One frame to label: which source, which frame of it, which side of the split, its file name."""

    source: int  # index into the sources
    index: int  # frame index in decode order (0 for a photo)
    held_out: bool
    name: str = ""


# ---- sources ----------------------------------------------------------------------------------------------------


def expand(entries: list[str]) -> list[tuple[Path, str]]:
    """(path, "video" | "photo") for each file given and each video or photo under each folder given."""
    out: list[tuple[Path, str]] = []
    for entry in entries:
        path = Path(entry)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS | VIDEO_EXTS
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not found:
                raise InputError(f"no video or photo in {path}", "pass videos, photos or folders of them")
            out += [(p, "photo" if p.suffix.lower() in IMAGE_EXTS else "video") for p in found]
        elif path.is_file():
            out.append((path, "photo" if path.suffix.lower() in IMAGE_EXTS else "video"))
        else:
            raise InputError(f"source not found: {path}", "pass videos, photos or folders of them")
    seen: set[Path] = set()
    return [(p, k) for p, k in out if not (p.resolve() in seen or seen.add(p.resolve()))]


def file_sha256(path: Path, memo: dict[str, str]) -> str:
    """sha256 of the file, remembered by path, size and mtime so large footage is read once."""
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    if key not in memo:
        memo[key] = engine.file_sha256(path)
    return memo[key]


def probe(path: Path, kind: str, sha: str) -> Source:
    if kind == "photo":
        return Source(path, kind, sha)
    from streamseg.io.reader import VideoReader

    with VideoReader(path, audio=False) as reader:
        info = reader.info
        frames = info.frames or info.expected_frames
        if not frames:  # no index and no duration: count the packets
            frames = sum(1 for p in reader.container.demux(reader.stream) if p.size)
    return Source(path, kind, sha, max(1, frames), float(info.rate or 25))


def load_sources(entries: list[str], memo_path: Path) -> list[Source]:
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    sources = [probe(p, kind, file_sha256(p, memo)) for p, kind in expand(entries)]
    try:
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo_path.with_name(f"{memo_path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(memo))
        os.replace(tmp, memo_path)
    except OSError:
        pass  # only a speed-up
    return sources


# ---- the plan: which frames, which side ----------------------------------------------------------------------------


def allocate(counts: list[int], cap: int) -> list[int]:
    """Share `cap` over sources with counts[i] candidates each: equal shares, what a small source leaves
    going to the larger ones."""
    quotas = [0] * len(counts)
    remaining = cap
    order = sorted(range(len(counts)), key=lambda i: counts[i])
    for k, i in enumerate(order):
        quotas[i] = min(counts[i], round(remaining / (len(order) - k)))
        remaining -= quotas[i]
    return quotas


def name_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def plan(sources: list[Source], every: int, max_frames: int, val_fraction: float) -> tuple[list[Item], str]:
    """The frames to label, each on its side of the split, and a line saying how the split was made."""
    candidates = [list(range(0, s.frames, every)) if s.kind == "video" else [0] for s in sources]
    picked = []
    for cands, quota in zip(candidates, allocate([len(c) for c in candidates], max_frames)):
        idx = np.unique(np.linspace(0, len(cands) - 1, quota).round().astype(int)) if quota else []
        picked.append([cands[i] for i in idx])
    videos = [i for i, s in enumerate(sources) if s.kind == "video" and picked[i]]
    photos = [i for i, s in enumerate(sources) if s.kind == "photo" and picked[i]]
    held: dict[int, set[int] | bool] = {}  # source -> held-out frame indices (time blocks) or True (whole)
    guard: dict[int, set[int]] = {}
    how = []
    if len(videos) >= CLIPS_FOR_CLIP_SPLIT:
        total = sum(len(picked[i]) for i in videos)
        n_out = 0
        for i in sorted(videos, key=lambda i: name_hash(sources[i].sha256))[:-1]:  # never every clip
            if n_out >= val_fraction * total:
                break
            held[i] = True
            n_out += len(picked[i])
        how.append(f"{sum(1 for i in videos if i in held)} of {len(videos)} clips held out whole")
    elif videos:
        for i in videos:
            frames = picked[i]
            n_val = max(1, round(len(frames) * val_fraction)) if len(frames) >= 3 else 0
            gap = math.ceil(GUARD_SECONDS * sources[i].fps / every) if n_val else 0
            gap = max(0, min(gap, n_val, len(frames) - n_val - 1))  # short clips keep frames to train on
            held[i] = set(frames[len(frames) - n_val:])
            guard[i] = set(frames[len(frames) - n_val - gap:len(frames) - n_val])
        how.append(f"the last {val_fraction:.0%} of each clip held out, after a {GUARD_SECONDS:g} s gap left "
                   "unlabelled")
    if photos:
        k = max(1, round(len(photos) * val_fraction)) if len(photos) >= 2 else 0
        for i in sorted(photos, key=lambda i: name_hash(sources[i].sha256))[:k]:
            held[i] = True
        how.append(f"{k} of {len(photos)} photos held out")
    items, stems = [], set()
    for i, s in enumerate(sources):
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", s.path.stem)
        base, n = stem, 2
        while base in stems:
            base, n = f"{stem}-{n}", n + 1
        stems.add(base)
        for index in picked[i]:
            if index in guard.get(i, ()):
                continue
            side = held.get(i, False)
            out = side if isinstance(side, bool) else index in side
            prefix = f"{base}-f{index:06d}" if s.kind == "video" else base
            items.append(Item(i, index, out, split_name(prefix, out, val_fraction)))
    if not any(it.held_out for it in items) or all(it.held_out for it in items):
        raise InputError(f"{len(items)} frames are too few to hold some out for the score and train on the rest",
                         "add sources, lower --every or raise --max-frames")
    return items, "; ".join(how)


def split_name(prefix: str, held_out: bool, val_fraction: float) -> str:
    """prefix-sN with the first N for which training.dataset.split puts the name on the wanted side."""
    for n in range(100_000):
        name = f"{prefix}-s{n}"
        p = Path(name)
        if bool(split([Sample(p, p, name)], val_fraction)[1]) == held_out:
            return name
    raise AssertionError(f"no name for {prefix} lands {'in' if held_out else 'out of'} the held-out split")


# ---- labelling ----------------------------------------------------------------------------------------------------


def label_size(width: int, height: int, side: int) -> tuple[int, int]:
    """(w, h) with the longest side at most `side`, aspect kept."""
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def frames_of(source: Source, indices: set[int]):
    """(index, rgb uint8 HxWx3) for the wanted frames, upright (the repo's reader: rotation and colour)."""
    if source.kind == "photo":
        with Image.open(source.path) as img:
            yield 0, np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
        return
    from streamseg.io.reader import VideoReader

    last = max(indices)
    with VideoReader(source.path, audio=False) as reader:
        for frame in reader:
            if frame.index in indices:
                yield frame.index, np.asarray(frame.rgb)
            if frame.index >= last:
                break


def write_atomic(img: Image.Image, path: Path, **options) -> None:
    write_whole(path, lambda tmp: img.save(tmp, format="JPEG" if path.suffix == ".jpg" else "PNG", **options))


def label(items: list[Item], sources: list[Source], teacher, teacher_spec: ModelSpec, folder: Path, side: int,
          say) -> tuple[int, int]:
    """Teacher mattes for the items not yet in `folder`; returns (labelled now, reused)."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    todo = [it for it in items if not ((folder / "images" / f"{it.name}.jpg").is_file()
                                       and (folder / "masks" / f"{it.name}.png").is_file())]
    reused = len(items) - len(todo)
    if reused:
        say(f"reused {reused} cached labels in {folder}")
    count, t0 = 0, time.time()
    for i in sorted({it.source for it in todo}):
        wanted = {it.index: it for it in todo if it.source == i}
        for index, rgb in frames_of(sources[i], set(wanted)):
            it = wanted.pop(index)
            alpha = predict_alpha(teacher, teacher_spec, rgb)
            size = label_size(rgb.shape[1], rgb.shape[0], side)
            image = Image.fromarray(rgb).resize(size, Image.BILINEAR) if size != rgb.shape[1::-1] else \
                Image.fromarray(rgb)
            matte = Image.fromarray(np.asarray(alpha, np.float32)).resize(size, Image.BILINEAR)
            mask = Image.fromarray((np.clip(np.asarray(matte), 0, 1) * 255).round().astype(np.uint8))
            write_atomic(image, folder / "images" / f"{it.name}.jpg", quality=95)
            write_atomic(mask, folder / "masks" / f"{it.name}.png")  # last: its presence marks the label done
            count += 1
            if count % 10 == 0 or count == len(todo):
                rate = (time.time() - t0) / count
                say(f"labelled {count}/{len(todo)} frames ({rate:.2f} s/frame)")
        if wanted:
            say(f"note: {sources[i].path.name} ended before frame {min(wanted)}; "
                f"{len(wanted)} planned frames skipped")
            items[:] = [it for it in items if not (it.source == i and it.index in wanted)]
    wanted = {it.name for it in items}
    stale = [p for sub in ("images", "masks") for p in (folder / sub).iterdir() if p.stem not in wanted]
    for p in stale:  # from an older plan or an interrupted write: training must not see them
        p.unlink()
    return count, reused


# ---- scoring ------------------------------------------------------------------------------------------------------


def agreement(model, spec: ModelSpec, folder: Path, items: list[Item]) -> dict:
    """Mean Dice and IoU (at 0.5) of the model's masks against the teacher's on the given frames."""
    dices, ious = [], []
    for it in items:
        rgb = np.asarray(Image.open(folder / "images" / f"{it.name}.jpg").convert("RGB"))
        truth = np.asarray(Image.open(folder / "masks" / f"{it.name}.png").convert("L")) > 127
        d, i = dice_iou(predict_alpha(model, spec, rgb) > 0.5, truth)
        dices.append(d)
        ious.append(i)
    return {"dice": round(float(np.mean(dices)), 4), "iou": round(float(np.mean(ious)), 4), "frames": len(items)}


# ---- main ---------------------------------------------------------------------------------------------------------


def cache_key(teacher_sha: str, sources: list[Source], args) -> str:
    blob = {"format": FORMAT, "teacher": teacher_sha,
            "sources": [[s.path.stem, s.sha256, s.kind] for s in sources],
            "every": args.every, "max_frames": args.max_frames, "val_fraction": args.val_fraction,
            "label_side": args.label_side, "guard_s": GUARD_SECONDS}
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def main(argv: list[str] | None = None) -> dict:
    from streamseg.models.names import cache_root, resolve_model
    from training.train import main as train_main

    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="python -m training.distil", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sources", nargs="+", metavar="SOURCE", help="videos, photos, or folders of them")
    ap.add_argument("--teacher", default="isnet",
                    help="isnet | isnet-salient | default | PATH of a checkpoint (default: isnet)")
    ap.add_argument("--out", type=Path, required=True, help="the student checkpoint to write (e.g. student.pt)")
    ap.add_argument("--init", default="default", help="the UNet to start from: default | PATH (default: default)")
    ap.add_argument("--every", type=int, default=10, help="take every N-th frame of a video (default: 10)")
    ap.add_argument("--max-frames", type=int, default=400, help="at most this many frames in all (default: 400)")
    ap.add_argument("--steps", type=int, default=300, help="training steps (default: 300)")
    ap.add_argument("--batch", type=int, default=4, help="training batch (default: 4, for a CPU)")
    ap.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (default: 5e-4, fine-tuning)")
    ap.add_argument("--labels", type=Path, help="label folder (default: a cache folder keyed by the inputs)")
    ap.add_argument("--val-fraction", type=float, default=0.2, help="share of frames held out (default: 0.2)")
    ap.add_argument("--label-side", type=int, default=640, help="longest side of stored labels (default: 640)")
    ap.add_argument("--workers", type=int, default=min(2, max(0, (os.cpu_count() or 1) - 1)),
                    help="data-loading processes for training (default: one less than the cores, at most 2)")
    ap.add_argument("--run-dir", type=Path, help="training's folder (default: beside --out, OUT-STEM.distil-run)")
    args = ap.parse_intermixed_args(argv)
    if args.every < 1 or args.max_frames < 2 or args.steps < 1 or args.batch < 1 or args.label_side < 32:
        raise InputError("--every, --steps and --batch must be >= 1, --max-frames >= 2, --label-side >= 32")
    if not 0 < args.val_fraction < 1:
        raise InputError(f"--val-fraction {args.val_fraction} must be between 0 and 1")
    say = lambda msg: print(msg, flush=True)
    t_start = time.time()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    teacher_path = resolve_model(args.teacher)
    init_path = resolve_model(args.init)
    init, init_spec, _ = load_checkpoint(init_path, device)
    if init_spec.arch != "unet":
        raise InputError(f"--init {args.init} is a {init_spec.arch}; the student is a UNet",
                         "pass --init default or a UNet checkpoint")
    distil_root = cache_root() / "distil"
    teacher_sha = file_sha256(teacher_path, {})
    sources = load_sources(args.sources, distil_root / "sha256.json")
    items, how = plan(sources, args.every, args.max_frames, args.val_fraction)
    key = cache_key(teacher_sha, sources, args)
    folder = args.labels or distil_root / key
    manifest = folder / "labels.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("key") != key:
        raise InputError(f"{folder} holds labels of other sources, teacher or options",
                         "pass an empty --labels folder, or leave --labels out to use the cache")
    if not manifest.is_file() and args.labels and any((folder / "images").glob("*")):
        raise InputError(f"{folder}/images holds files but no labels.json: not a label folder of this command",
                         "pass an empty --labels folder, or leave --labels out to use the cache")
    n_held = sum(it.held_out for it in items)
    say(f"distil: teacher {args.teacher} ({teacher_path}), {len(sources)} source(s), {len(items)} frames "
        f"({len(items) - n_held} train, {n_held} held out: {how})")

    t0 = time.time()
    teacher, teacher_spec, _ = load_checkpoint(teacher_path, device)
    labelled, reused = label(items, sources, teacher, teacher_spec, folder, args.label_side, say)
    del teacher
    label_s = time.time() - t0
    manifest.write_text(json.dumps({"format": FORMAT, "key": key, "teacher": str(teacher_path),
                                    "teacher_sha256": teacher_sha, "val_fraction": args.val_fraction,
                                    "split": how, "sources": [str(s.path) for s in sources],
                                    "frames": [asdict(it) for it in items]}, indent=1))
    if labelled:
        say(f"labels: {labelled} frames in {label_s:.0f} s ({label_s / labelled:.2f} s/frame) -> {folder}")

    run_dir = args.run_dir or args.out.with_name(f"{args.out.stem}.distil-run")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    train_main(["--data", str(folder), "--init", str(init_path), "--out", str(run_dir), "--export", str(args.out),
                "--steps", str(args.steps), "--eval-every", str(args.steps), "--batch", str(args.batch),
                "--lr", str(args.lr), "--val-fraction", str(args.val_fraction),
                "--crop", f"{init_spec.input_height}x{init_spec.input_width}",
                "--input-size", f"{init_spec.input_height}x{init_spec.input_width}",
                "--workers", str(args.workers)])
    train_s = time.time() - t0

    t0 = time.time()
    held = [it for it in items if it.held_out]
    student, student_spec, _ = load_checkpoint(args.out, device)
    before = agreement(init, init_spec, folder, held)
    after = agreement(student, student_spec, folder, held)
    eval_s = time.time() - t0
    report = {
        "teacher": {"model": args.teacher, "path": str(teacher_path), "sha256": teacher_sha},
        "init": {"model": args.init, "path": str(init_path)},
        "student": str(args.out),
        "sources": [{"path": str(s.path), "kind": s.kind, "sha256": s.sha256,
                     "frames_used": sum(it.source == i for it in items)} for i, s in enumerate(sources)],
        "labels": str(folder),
        "frames": {"labelled": len(items), "labelled_now": labelled, "reused": reused, "train": len(items) - len(held),
                   "held_out": len(held)},
        "split": how,
        "sampling": {"every": args.every, "max_frames": args.max_frames, "val_fraction": args.val_fraction,
                     "label_side": args.label_side},
        "steps": args.steps, "batch": args.batch, "lr": args.lr,
        "init_vs_teacher": before, "student_vs_teacher": after,
        "seconds": {"labelling": round(label_s, 1), "training": round(train_s, 1), "scoring": round(eval_s, 1),
                    "total": round(time.time() - t_start, 1)},
        "device": str(device),
        "command": "python -m training.distil " + shlex.join(argv),
    }
    model, spec, meta = load_checkpoint(args.out)  # the student says where it came from
    meta["distilled"] = {k: report[k] for k in ("teacher", "init", "frames", "split", "steps", "init_vs_teacher",
                                                 "student_vs_teacher")}
    meta["distilled"]["sources"] = [s["path"] for s in report["sources"]]
    save_checkpoint(args.out, model, spec, meta, half=True)
    report_path = args.out.with_name(args.out.name + ".distil.json")
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    say(f"held-out agreement with the teacher ({len(held)} frames; Dice / IoU of the masks at 0.5):\n"
        f"  init    {args.init:<12} {before['dice']:.4f} / {before['iou']:.4f}\n"
        f"  student {args.out.name:<12} {after['dice']:.4f} / {after['iou']:.4f}\n"
        f"labelling {label_s:.0f} s, training {train_s:.0f} s ({args.steps} steps), total "
        f"{report['seconds']['total']:.0f} s\n"
        f"wrote {args.out} and {report_path}; use it with `streamseg run CLIP --model {args.out}`")
    if after["dice"] < before["dice"]:
        say(f"note: on the held-out frames the student agrees with the teacher less than {args.init} does: "
            "the training frames do not teach what the held-out ones need (more, more varied footage, or more "
            "--steps), or the teacher is inconsistent there; look at the labels in the label folder before "
            "using it")
    return report


if __name__ == "__main__":
    try:
        main()
    except StreamsegError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
