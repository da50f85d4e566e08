"""Photographs with no car in them that no model here was trained on, to measure false matte on scenery a
model has not learnt (scripts/measure_background_matte.py --folder OUT).

    python scripts/make_carfree_photos.py --out data/carfree

From two Debian packages, downloaded with `apt-get download` into a temporary folder (nothing installed):
- gimp-help-en: the manual's photographs (JPEG, at least 240 px on the shorter side, byte-identical copies
  dropped), except its car photos, two of which training.real_photos trains on (quickie-jpeg-*, the vintage
  car; every file named *truck*, the pickup). Most are one photo of the Taj Mahal under many filters; the rest are
  roses, floppy disks, soldiers, trees and wires, a bird, a toy robot. Licence GFDL.
- stellarium-data: the landscape panels of garching, guereins, ocean and grossmugl (fields, a coast, a hill;
  not hurricane: parked cars), their transparent sky filled with a flat blue. Licence GPL-2+ and the
  landscapes' own (see the package's copyright file).
Writes OUT/NAME.jpg and OUT/sources.json. Every picture was looked at for vehicles on 2026-11-29.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path
from urllib.parse import unquote

from PIL import Image

GIMP_CARS = ("quickie-jpeg", "truck")  # the vintage car; the pickup (several files)
STELLARIUM = ("garching/garching-gl1.png", "garching/garching-gl2.png", "garching/garching-gl3.png",
              "garching/garching-gl4.png", "guereins/guereinsb.png", "ocean/ocean9.png",
              "grossmugl/grossmugl_leeberg_crop11.25_2048.png")
SKY = (150, 180, 220, 255)


def extract(package: str, tmp: Path) -> tuple[Path, str]:
    """The package's files under tmp/package, and its version."""
    subprocess.run(["apt-get", "download", package], cwd=tmp, check=True, capture_output=True)
    deb = next(tmp.glob(f"{package}_*.deb"))
    root = tmp / package
    root.mkdir()
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True).stdout
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.seek(0)
        with tarfile.open(fileobj=f) as tar:
            tar.extractall(root, filter="data")
    return root, unquote(deb.name.split("_")[1])  # apt-get download writes an epoch's colon as %3a


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sources = []
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        gimp, version = extract("gimp-help-en", tmp)
        seen: set[str] = set()
        for p in sorted(gimp.rglob("*.jpg")):
            if any(c in p.name for c in GIMP_CARS) or p.stat().st_size < 30_000:
                continue
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            if digest in seen or min(Image.open(p).size) < 240:
                continue
            seen.add(digest)
            name = f"gimp_{len(seen):03d}_{p.stem}.jpg"
            Image.open(p).convert("RGB").save(args.out / name, quality=95)
            sources.append({"name": name, "package": "gimp-help-en", "version": version,
                            "file": str(p.relative_to(gimp)), "licence": "GFDL"})
        stell, version = extract("stellarium-data", tmp)
        for rel in STELLARIUM:
            p = stell / "usr/share/stellarium/landscapes" / rel
            im = Image.open(p).convert("RGBA")
            sky = Image.new("RGBA", im.size, SKY)
            sky.alpha_composite(im)
            name = f"stellarium_{p.stem}.jpg"
            sky.convert("RGB").save(args.out / name, quality=92)
            sources.append({"name": name, "package": "stellarium-data", "version": version,
                            "file": str(p.relative_to(stell)), "licence": "see the package's copyright file"})
    (args.out / "sources.json").write_text(json.dumps(sources, indent=1))
    print(f"wrote {len(sources)} car-free photographs to {args.out}")


if __name__ == "__main__":
    main()
