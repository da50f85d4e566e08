"""Peak memory of `streamseg run` on large photos (issue 24 item 4): one fresh process per photo and look, its
peak resident memory read from the kernel (wait4), and the bytes a pixel above a 1-megapixel run's peak
(what loading the model and the runtimes costs).

    python scripts/measure_photo_memory.py                      # 12, 50, 100 MP; default look, --fit --reflection
    python scripts/measure_photo_memory.py --megapixels 12 --code /tmp/old   # another checkout's code

The photos are drawn (a gradient street and a dark car-sized block, JPEG quality 90) into a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

LOOKS = {"default": [], "fit-reflection": ["--fit", "--reflection"], "cut-out": ["-f", "png"], "edges": ["--edges"]}


def draw_photo(path: Path, megapixels: float) -> tuple[int, int]:
    """A 4:3 picture of about `megapixels`, drawn a row at a time (so drawing it costs no more than it)."""
    width = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    height = int(round(width * 3 / 4))
    img = np.empty((height, width, 3), np.uint8)
    ramp = (np.arange(width) * 255 // width).astype(np.uint8)
    for r in range(height):
        img[r, :, 0], img[r, :, 1], img[r, :, 2] = ramp, r * 255 // height, 120
    img[height // 2:height // 2 + height // 5, width // 4:3 * width // 4] = (30, 30, 40)
    Image.fromarray(img).save(path, quality=90)
    return width, height


def peak_mb(photo: Path, look: list[str], out: Path, code: Path | None) -> tuple[float, float]:
    """(peak resident MB, seconds) of one `streamseg run` in a fresh process."""
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    args = [sys.executable, "-m", "streamseg", "run", str(photo), "-o", str(out), "--overwrite", "-q", *look]
    started = time.perf_counter()
    child = subprocess.Popen(args, env=env, cwd=code or None, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"streamseg failed on {photo.name} {' '.join(look)}: {child.stderr.read().decode()}")
    return usage.ru_maxrss / 1024, seconds  # Linux reports kilobytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--megapixels", default="12,50,100")
    ap.add_argument("--looks", default="default,fit-reflection", help=f"some of {', '.join(LOOKS)}")
    ap.add_argument("--code", type=Path, help="run this checkout's streamseg instead of the installed one")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="streamseg-photos-") as tmp:
        base_photo = Path(tmp) / "base.jpg"
        draw_photo(base_photo, 1)
        for look in args.looks.split(","):
            out = Path(tmp) / ("out.png" if look == "cut-out" else "out.jpg")
            base, _ = peak_mb(base_photo, LOOKS[look], out, args.code)
            for mp in (float(m) for m in args.megapixels.split(",")):
                photo = Path(tmp) / f"{mp:g}mp.jpg"
                if not photo.exists():
                    draw_photo(photo, mp)
                mb, seconds = peak_mb(photo, LOOKS[look], out, args.code)
                rows.append({"look": look, "megapixels": mp, "peak_mb": round(mb), "seconds": round(seconds, 1),
                             "bytes_per_pixel": round((mb - base) * 2 ** 20 / (mp * 1e6 - 1e6), 1)})
                print(f"{look:15s} {mp:5g} MP: peak {mb:6.0f} MB, {rows[-1]['bytes_per_pixel']:5.1f} bytes a pixel "
                      f"above a 1 MP run ({base:.0f} MB), {seconds:.1f} s", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
