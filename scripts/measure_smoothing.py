"""Does temporal smoothing reduce matte flicker without lagging behind motion? Measured on two generated
clips with the true mask of every frame:

- parked: a parked car with sensor noise on every frame; flicker = mean |matte_t - matte_t-1|;
- driving: the car drives across; lag shows as a lower IoU against the true masks (and as error at
  the car's front and back edges).

    python scripts/measure_smoothing.py [--frames 40] [--size 640x360]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamseg.backends.registry import create_backend  # noqa: E402
from streamseg.io.writer import FORMATS  # noqa: E402
from streamseg.options import RunOptions
from streamseg.pipeline import run  # noqa: E402
from streamseg.sample import SampleSpec, write_sample  # noqa: E402
from streamseg.weights import default_model_path  # noqa: E402


def mattes(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="gray").astype(np.float32) / 255 for f in c.decode(video=0)])


def measure(frames: int, width: int, height: int, backend, noise: float = 0.02) -> dict:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = SampleSpec(width=width, height=height, frames=frames, noise=noise, audio=None, seed=11)
        clips = {"parked": replace(base, travel=0.0), "driving": replace(base, travel=0.4)}
        for name, spec in clips.items():
            clip = tmp / f"{name}.mp4"
            truth = np.stack(write_sample(clip, spec, keep_masks=True)) > 0.5
            for smooth in (False, True):
                out = tmp / f"{name}-{smooth}.mp4"
                opts = RunOptions(source=clip, output=out, fmt=FORMATS["matte"], batch_size=8)
                run(replace(opts, smooth=smooth), backend)
                m = mattes(out)
                pred = m > 0.5
                inter = (pred & truth).sum((1, 2))
                union = (pred | truth).sum((1, 2))
                results[f"{name}/{'smooth' if smooth else 'plain'}"] = {
                    "flicker": round(float(np.abs(np.diff(m, axis=0)).mean()), 5),
                    "iou": round(float((inter / np.maximum(union, 1)).mean()), 4),
                }
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--noise", type=float, default=0.02, help="sensor noise per frame (0..1 scale)")
    args = ap.parse_args()
    w, _, h = args.size.partition("x")
    with create_backend(args.backend, default_model_path()) as backend:
        print(json.dumps(measure(args.frames, int(w), int(h), backend, args.noise), indent=2))


if __name__ == "__main__":
    main()
