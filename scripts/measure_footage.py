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
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image


def clip_scores(alpha: np.ndarray, truth: np.ndarray) -> dict:
    """alpha [T,H,W] float 0..1, truth [T,H,W] bool -> IoU, Dice, temporal error (means over frames)."""
    pred = alpha >= 0.5
    inter = (pred & truth).sum((1, 2))
    union = (pred | truth).sum((1, 2))
    total = pred.sum((1, 2)) + truth.sum((1, 2))
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    dice = np.where(total > 0, 2 * inter / np.maximum(total, 1), 1.0)
    steady = truth[1:] == truth[:-1]
    change = (np.abs(alpha[1:] - alpha[:-1]) * steady).sum((1, 2))
    area = np.maximum(truth[1:].sum((1, 2)), 1)
    return {"iou": float(iou.mean()), "dice": float(dice.mean()), "temporal_error": float((change / area).mean()),
            "worst_frame_iou": float(iou.min())}


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


if __name__ == "__main__":
    main()
