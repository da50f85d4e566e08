"""False matte on photographs with no car at all: the fraction of pixels a model calls car (threshold 0.5).

    python scripts/measure_background_matte.py --model default [--model PATH] [--folder DIR ...]

Groups: `trained`, the background photographs training.compose pastes cars on (every training image saw
them); `unseen`, the landscape photographs the real-car evaluation set pastes its stamps on (reserved: never
trained on, so they show how the model does on scenery it has not learnt; measured here only, never used
to choose weights); and each --folder of car-free photos, e.g. the 138 that `python
scripts/make_carfree_photos.py --out data/carfree` takes from two Debian packages (never trained on).
Each photo is shown whole, at most 900 px on its longer side, fed as the video pipeline feeds a frame
(training.evaluate_real.predict_alpha).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.evaluate_real import THRESHOLD, load_models, predict_alpha  # noqa: E402

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp"}


def groups(folders: list[Path]) -> dict[str, list[Path]]:
    from training import compose, realcars

    out = {"trained": compose.background_paths(),
           "unseen": [realcars.BACKGROUND_ROOT / n for n in realcars.BACKGROUNDS + realcars.PORTRAIT_BACKGROUNDS]}
    for f in folders:
        out[str(f)] = sorted(p for p in f.iterdir() if p.suffix.lower() in IMAGE_EXTS)
    return {k: v for k, v in out.items() if v}


def car_fraction(model, spec, path: Path) -> float:
    im = Image.open(path).convert("RGB")
    im.thumbnail((900, 900))
    return float((predict_alpha(model, spec, np.asarray(im)) > THRESHOLD).mean())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", help="default|isnet|PATH; repeatable (default: default)")
    ap.add_argument("--folder", type=Path, action="append", default=[], help="a folder of car-free photos")
    args = ap.parse_args(argv)
    models = load_models(args.model or ["default"], torch.device("cpu"))
    photos = groups(args.folder)
    print("| model | photos | n | mean fraction called car | photos above 5% |\n|---|---|---|---|---|")
    for label, model, spec in models:
        for name, paths in photos.items():
            fr = np.array([car_fraction(model, spec, p) for p in paths])
            print(f"| {label} | {name} | {len(fr)} | {fr.mean():.3f} | {int((fr > 0.05).sum())} |", flush=True)


if __name__ == "__main__":
    main()
