"""Before and after of the studio look on one photo, made by `streamseg run` itself, for the docs:

    python scripts/studio_pictures.py data/realcars/images/csp_car1.png --model isnet --out docs/studio_look.png

Panels: the car over the studio backdrop as it was (no shadow), with the contact shadow (today's
default), and with shadow and reflection; all with --fit --size 960x540, so the car stands at the same
place in each. Each panel is labelled with the options that made it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

PANELS = [("no shadow (before)", ["--no-shadow"]), ("contact shadow (default)", []),
          ("shadow + --reflection", ["--reflection"])]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("photo", type=Path)
    ap.add_argument("--model", default="default")
    ap.add_argument("--size", default="960x540")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    tiles = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (label, extra) in enumerate(PANELS):
            out = Path(tmp) / f"{k}.png"
            cmd = [sys.executable, "-m", "streamseg", "run", str(args.photo), "-o", str(out), "--model", args.model,
                   "--fit", "--size", args.size, *extra]
            subprocess.run(cmd, check=True)
            im = Image.open(out).convert("RGB")
            ImageDraw.Draw(im).text((12, 10), label, fill=(40, 40, 40))
            tiles.append(np.asarray(im))
    Image.fromarray(np.concatenate(tiles, axis=0)).save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
