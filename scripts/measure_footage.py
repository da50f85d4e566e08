"""Score footage the way a user gets it: each clip through `streamseg run CLIP -f png` (the RGBA sequence, so the
matte comes back exactly) and its alpha against the true masks, per clip (issue 27).

    python scripts/measure_footage.py --clips data/carvana_clips [--vehicles all] [--code DIR] [--json OUT.json]
                                      [-- RUN ARGS]

Per clip: IoU and Dice of matte >= 0.5 against the subject's true mask (means over frames); temporal error: the
matte's change from one frame to the next where the truth does not change (sum of |alpha_t - alpha_t-1| over
those pixels), as a share of the true car's area, averaged over the frames: flicker and a matte that drags or
jumps, not the motion the car really makes; and the run's frames/s as `streamseg run --json` reports it.
Extra arguments after `--` go to `streamseg run` as they are (e.g. `-- --no-smooth`). `--code DIR` runs the
streamseg of another checkout (e.g. a `git worktree` of an older commit), with its own defaults: today's code
against an older one in one sitting; --vehicles is passed only when given.

Real footage (training.real_footage: a `boxes.json`) gets IoU, Dice and temporal error where it has masks (CDnet's
highway: the pixels its truth leaves unmarked do not count; run with the clip's own `vehicles`, all, unless
--vehicles is given), and otherwise is scored by what needs none. The warping error (Lai et al., ECCV 2018): the
mean of |alpha_t - W(alpha_t-1)| over the pixels where the input's optical flow is consistent both ways (Sundaram
et al.'s test), W carrying the previous matte along the flow from frame t back to t-1, in percent, averaged over
the frames: what changes beyond the motion the footage shows. The flow is OpenCV's Farneback on the input frames,
not the DIS flow the steadier uses, so the measure is not the steadier's own. Where the followed car's box is
known: the matte's bounding box against it (IoU: the car kept whole, nothing else with it), the share of the box
the matte covers (about 0.6-0.85 for a whole car, less where it is missing or see-through) and the matte outside
the box (grown by 10%) as a share of the box's area (other cars, road, haze).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image


def clip_scores(alpha: np.ndarray, truth: np.ndarray, scored: np.ndarray | None = None) -> dict:
    """alpha [T,H,W] float 0..1, truth [T,H,W] bool -> IoU, Dice, temporal error (means over frames); `scored`
    [T,H,W] bool: the pixels that count (CDnet leaves the outline of its cars unmarked)."""
    pred = alpha >= 0.5
    if scored is not None:
        pred, truth = pred & scored, truth & scored
    inter = (pred & truth).sum((1, 2))
    union = (pred | truth).sum((1, 2))
    total = pred.sum((1, 2)) + truth.sum((1, 2))
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    dice = np.where(total > 0, 2 * inter / np.maximum(total, 1), 1.0)
    steady = truth[1:] == truth[:-1]
    if scored is not None:
        steady &= scored[1:] & scored[:-1]
    change = (np.abs(alpha[1:] - alpha[:-1]) * steady).sum((1, 2))
    area = np.maximum(truth[1:].sum((1, 2)), 1)
    return {"iou": float(iou.mean()), "dice": float(dice.mean()), "temporal_error": float((change / area).mean()),
            "worst_frame_iou": float(iou.min())}


def input_frames(clip: Path) -> np.ndarray:
    """The clip's frames as the run decoded them, grey [T,H,W] uint8 (for the flow)."""
    with av.open(str(clip)) as c:
        return np.stack([f.to_ndarray(format="gray") for f in c.decode(video=0)])


def warping_error(alpha: np.ndarray, grey: np.ndarray) -> float:
    """Lai et al.'s warping error of the matte [T,H,W] 0..1 along the input's flow, in percent (see above)."""
    h, w = alpha.shape[1:]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    errors = []
    for t in range(1, len(alpha)):
        flow = dict(pyr_scale=0.5, levels=4, winsize=15, iterations=3, poly_n=5, poly_sigma=1.1, flags=0)
        back = cv2.calcOpticalFlowFarneback(grey[t], grey[t - 1], None, **flow)  # t -> t-1
        fwd = cv2.calcOpticalFlowFarneback(grey[t - 1], grey[t], None, **flow)  # t-1 -> t
        mx, my = xs + back[..., 0], ys + back[..., 1]
        warped = cv2.remap(alpha[t - 1], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        there = cv2.remap(fwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        gap = ((there + back) ** 2).sum(-1)
        valid = gap < 0.01 * ((there ** 2).sum(-1) + (back ** 2).sum(-1)) + 0.5
        valid &= (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        errors.append(float(np.abs(alpha[t] - warped)[valid].mean()) if valid.any() else 0.0)
    return 100 * float(np.mean(errors))


def box_scores(alpha: np.ndarray, boxes: list) -> dict:
    """The matte [T,H,W] against the followed car's boxes ([x, y, w, h] or None per frame): means over the
    frames that have one."""
    ious, covered, outside = [], [], []
    for a, b in zip(alpha, boxes):
        if b is None:
            continue
        x, y, bw, bh = b
        pred = a >= 0.5
        area = max(bw * bh, 1.0)
        rows, cols = np.nonzero(pred.any(1))[0], np.nonzero(pred.any(0))[0]
        if len(rows):
            px0, px1, py0, py1 = cols[0], cols[-1] + 1, rows[0], rows[-1] + 1
            iw = max(0.0, min(px1, x + bw) - max(px0, x))
            ih = max(0.0, min(py1, y + bh) - max(py0, y))
            inter = iw * ih
            ious.append(inter / ((px1 - px0) * (py1 - py0) + area - inter))
        else:
            ious.append(0.0)
        inside = np.zeros_like(pred)
        inside[max(0, round(y)):round(y + bh), max(0, round(x)):round(x + bw)] = True
        covered.append(float((pred & inside).sum() / area))
        gx, gy = 0.05 * bw, 0.05 * bh
        grown = np.zeros_like(pred)
        grown[max(0, round(y - gy)):round(y + bh + gy), max(0, round(x - gx)):round(x + bw + gx)] = True
        outside.append(float((pred & ~grown).sum() / area))
    return {"box_iou": float(np.mean(ious)), "box_covered": float(np.mean(covered)),
            "outside_box": float(np.mean(outside)), "boxed_frames": len(ious)}


def run_clip(clip: Path, vehicles: str | None, extra: list[str],
             code: Path | None = None) -> tuple[np.ndarray, float]:
    """The clip's matte as `streamseg run` makes it ([T,H,W] 0..1) and the run's frames/s."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "frames"
        cmd = [sys.executable, "-m", "streamseg", "run", str(clip.resolve()), "-o", str(out), "-f", "png",
               *(["--vehicles", vehicles] if vehicles else []), "--json", "-q", *extra]
        env = {**os.environ, "PYTHONPATH": str(code.resolve())} if code else None
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=code, env=env)
        if done.returncode:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
        fps = json.loads(done.stdout.strip().splitlines()[-1])["fps"]
        frames = sorted(out.glob("*.png"))
        alpha = np.stack([np.asarray(Image.open(f))[..., 3] for f in frames]).astype(np.float32) / 255
    return alpha, fps


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=Path, default=Path("data/carvana_clips"))
    ap.add_argument("--vehicles", choices=("subject", "all"), help="default: the code's own default")
    ap.add_argument("--code", type=Path, help="a checkout whose streamseg runs (default: this one)")
    ap.add_argument("--only", help="comma-separated clip names")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    index = json.loads((args.clips / "clips.json").read_text())["clips"]
    if (args.clips / "boxes.json").exists():  # real footage: boxes, masks for some clips, or nothing
        return real_footage(args, index, extra)
    masks = np.load(args.clips / "masks.npz")
    rows = []
    for c in index:
        if args.only and c["clip"] not in args.only.split(","):
            continue
        alpha, fps = run_clip(args.clips / f"{c['clip']}.mp4", args.vehicles, extra, args.code)
        truth = masks[c["clip"]] > 127
        if alpha.shape != truth.shape:
            raise SystemExit(f"{c['clip']}: matte {alpha.shape} but truth {truth.shape}")
        rows.append({"clip": c["clip"], "move": c["move"], "car": c["car"], **clip_scores(alpha, truth), "fps": fps})
        r = rows[-1]
        print(f"| {r['clip']} | {r['car']} | {r['iou']:.3f} | {r['dice']:.3f} | {r['temporal_error']:.4f} | "
              f"{r['worst_frame_iou']:.3f} | {r['fps']:.1f} |", flush=True)
    keys = ("iou", "dice", "temporal_error", "worst_frame_iou", "fps")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    print(f"| **mean ({len(rows)} clips)** | | **{mean['iou']:.3f}** | **{mean['dice']:.3f}** | "
          f"**{mean['temporal_error']:.4f}** | {mean['worst_frame_iou']:.3f} | {mean['fps']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps({"args": extra, "vehicles": args.vehicles, "code": str(args.code or "."),
                                         "rows": rows, "mean": mean}, indent=1))


def takes_vehicles(code: Path | None) -> bool:
    """Whether that checkout's `streamseg run` has --vehicles (older code kept every vehicle)."""
    return code is None or "--vehicles" in (code / "streamseg" / "cli.py").read_text()


def real_footage(args, index: list[dict], extra: list[str]) -> None:
    boxes = json.loads((args.clips / "boxes.json").read_text())
    masks = np.load(args.clips / "masks.npz") if (args.clips / "masks.npz").exists() else {}
    scored = ("iou", "dice", "temporal_error", "box_iou", "box_covered", "outside_box", "warping_error")
    rows = []
    print("| clip | what | IoU | Dice | temporal error | box IoU | box covered | outside the box | warping error (%) "
          "| frames/s |")
    print("|---" * 10 + "|")
    for c in index:
        if args.only and c["clip"] not in args.only.split(","):
            continue
        clip = args.clips / f"{c['clip']}.mp4"
        # a clip's own choice (traffic: all) where the user gave none and the code has the option
        vehicles = args.vehicles or (c.get("vehicles") if takes_vehicles(args.code) else None)
        alpha, fps = run_clip(clip, vehicles, extra, args.code)
        row = {"clip": c["clip"], "move": c["move"], "vehicles": vehicles,
               "warping_error": warping_error(alpha, input_frames(clip)), "fps": fps,
               **(box_scores(alpha, boxes[c["clip"]]) if c["clip"] in boxes else {})}
        if c["clip"] in masks:
            truth = masks[c["clip"]]
            row.update({k: v for k, v in clip_scores(alpha, truth == 255, truth != 128).items()
                        if k != "worst_frame_iou"})
        rows.append(row)
        cells = [f"{row[k]:.3f}" if k in row else "-" for k in scored]
        print(f"| {row['clip']} | {row['move']} | {' | '.join(cells)} | {fps:.1f} |", flush=True)
    mean = {k: float(np.mean([r[k] for r in rows if k in r])) for k in (*scored, "fps") if any(k in r for r in rows)}
    print(f"| **mean ({len(rows)} clips)** | | " + " | ".join(
        f"**{mean[k]:.3f}**" if k in mean else "-" for k in scored) + f" | {mean.get('fps', 0):.1f} |")
    if args.json:
        args.json.write_text(json.dumps({"args": extra, "vehicles": args.vehicles, "code": str(args.code or "."),
                                         "rows": rows, "mean": mean}, indent=1))


if __name__ == "__main__":
    main()
