"""How clean is the matte of the drawn sample clip? Measured against the exact masks of generated frames
(the `streamseg sample` scene: a car on a street with a kerb, its shadow and reflection on the road):

- band: mean |matte - truth| within BAND pixels of the car's true outline (edge quality);
- away: mean matte value on background pixels farther than BAND from the car (smudges under the car,
  streaks along the kerb, ghosts of windows: anything the model calls car that is not);
- dice: of the matte thresholded at 0.5.

    python scripts/measure_outline.py --model default [--model PATH ...] [--frames 6] [--size 1280x720]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
import torch.nn.functional as F

from streamseg.backends.registry import create_backend
from streamseg.batching import FrameBatch
from streamseg.models.names import resolve_model
from streamseg.pipeline import make_compositor, process_batch
from streamseg.sample import SampleSpec, car_frames


def band_masks(truth: np.ndarray, band: int) -> tuple[np.ndarray, np.ndarray]:
    """(near the outline, far from the car) boolean masks; dilation/erosion by max-pooling."""
    t = torch.from_numpy((truth > 0.5).astype(np.float32))[None, None]
    k = 2 * band + 1
    grown = F.max_pool2d(t, k, stride=1, padding=band)[0, 0].numpy() > 0
    shrunk = -F.max_pool2d(-t, k, stride=1, padding=band)[0, 0].numpy() > 0
    return grown & ~shrunk, ~grown


def measure(model: str, frames: int, width: int, height: int, band: int, seeds: list[int]) -> dict:
    near_err, away, dices = [], [], []
    with create_backend("cpu", resolve_model(model)) as backend:
        for seed in seeds:
            spec = SampleSpec(width=width, height=height, frames=frames, seed=seed, audio=None)
            for rgb, truth in car_frames(spec):
                batch = FrameBatch(torch.from_numpy(np.ascontiguousarray(rgb))[None], [0], [0.0], 0)
                one_frame = make_compositor(backend.device, "matte", smooth=False)
                matte = process_batch(batch, backend, None, one_frame)[0, ..., 0].numpy() / 255
                near, far = band_masks(truth, band)
                near_err.append(float(np.abs(matte - truth)[near].mean()))
                away.append(float(matte[far].mean()))
                p, t = matte > 0.5, truth > 0.5
                dices.append(float(2 * (p & t).sum() / max(1, p.sum() + t.sum())))
    return {"model": model, "band_error": round(float(np.mean(near_err)), 4),
            "away_false_alpha": round(float(np.mean(away)), 4), "dice": round(float(np.mean(dices)), 4),
            "frames": len(dices)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--frames", type=int, default=6, help="frames per clip (spread over the drive)")
    ap.add_argument("--seeds", default="0,1,2", help="scenes: comma-separated sample seeds")
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--band", type=int, default=6, help="pixels either side of the outline")
    args = ap.parse_args(argv)
    w, _, h = args.size.partition("x")
    seeds = [int(s) for s in args.seeds.split(",")]
    for model in args.model:
        print(json.dumps(measure(model, args.frames, int(w), int(h), args.band, seeds)), flush=True)


if __name__ == "__main__":
    main()
