"""Before and after of the contact shadow under a drawn car in a three-quarter view (issue 26), for the docs:

    python scripts/studio_three_quarter.py --before /work/main --out docs/studio_three_quarter.png

The car is tests/test_wheels.py's three-quarter view (its wheels stand on known points, the far ones higher
in the picture). Each panel is drawn by a checkout's own streamseg over the studio backdrop, with the
shadow and with shadow and reflection: `--before` names the checkout of the code before (run in a child
process with that checkout first on the path), the after panels are this checkout's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parents[1]


def panels(out: Path) -> None:
    """The car with the shadow, and with shadow and reflection, by the streamseg on the path: [2,H,W,3]."""
    sys.path.insert(0, str(HERE / "tests"))
    from test_wheels import H, W, drawn

    from streamseg.background import studio_sweep
    from streamseg.studio import Studio, StudioLook

    car, backdrop = drawn("three_quarter"), studio_sweep(H, W)
    looks = [StudioLook(shadow=True), StudioLook(shadow=True, reflection=True)]
    np.save(out, np.stack([Studio(look)(car, backdrop) for look in looks]))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, required=True, help="the checkout of the code before")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--panels", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = ap.parse_args(argv)
    if args.panels:
        return panels(args.panels)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, tree in (("before: one level line under the lowest wheel", args.before),
                            ("after: the floor line through every wheel", HERE)):
            saved = Path(tmp) / "panels.npy"
            env = dict(os.environ, PYTHONPATH=str(tree))
            subprocess.run([sys.executable, __file__, "--before", str(args.before), "--panels", str(saved)],
                           check=True, env=env)
            tiles = [Image.fromarray(p) for p in np.load(saved)]
            for tile, look in zip(tiles, ("shadow", "shadow + reflection")):
                ImageDraw.Draw(tile).text((10, 8), f"{label} ({look})", fill=(30, 30, 30))
            rows.append(np.concatenate([np.asarray(t) for t in tiles], axis=1))
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
