"""Write a synthetic training set: images/<id>.jpg + masks/<id>.png, the layout `training.dataset` reads.

    python -m training.synthetic --out data/synth --count 4000 --seed 0

The scenes come from `streamseg.synthetic` (see its docstring for what is drawn and why). Real
background photographs are taken from scikit-image, scikit-learn and, where installed, the Debian
packages mate-backgrounds and plasma-workspace-wallpapers.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from PIL import Image

from streamseg.synthetic import scene


def _write_one(args: tuple[Path, int, int, int, int]) -> None:
    out, seed, i, height, width = args
    rng = np.random.default_rng([seed, i])  # each image reproducible on its own
    img, mask = scene(rng, height, width)
    Image.fromarray(img).save(out / "images" / f"{i:06d}.jpg", quality=95)
    Image.fromarray(mask).save(out / "masks" / f"{i:06d}.png")


def write_dataset(out: Path, count: int, seed: int, height: int, width: int, workers: int = 1) -> None:
    from multiprocessing import Pool

    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    jobs = [(out, seed, i, height, width) for i in range(count)]
    if workers > 1:
        with Pool(workers) as pool:
            pool.map(_write_one, jobs, chunksize=16)
    else:
        for job in jobs:
            _write_one(job)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--count", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=448)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    write_dataset(args.out, args.count, args.seed, args.height, args.width, args.workers)
    print(f"wrote {args.count} scenes to {args.out}")


if __name__ == "__main__":
    main()
