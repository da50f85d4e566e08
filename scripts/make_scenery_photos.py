"""Background photographs of scenery and salient things that are not cars, for training.compose
--backgrounds OUT: the installed wallpapers it uses by default are 37 photos, mostly close-ups and abstracts,
and the model learnt them by heart (scripts/measure_background_matte.py) while calling mountains, buildings
and skies car on photos it never saw.

    python scripts/make_scenery_photos.py --out data/scenery

From three Debian packages, downloaded with `apt-get download` into a temporary folder (nothing installed):
- gcompris-qt-data: the photographs inside its Qt resource bundles (JPEG, PNG and WebP streams are stored
  there uncompressed, so they are cut out by their signatures): animals in their habitat (erase,
  explore_world_animals, explore_farm_animals), monuments and landscapes (explore_monuments, details),
  fish, tools, solar panels and more monuments (categorization). Not its drawings (lang) and not the
  paintings of `details`; not the monuments with cars parked in front (see EXCLUDED). Licence GPL-3+, the
  photos (mostly from Wikimedia Commons) each CC-BY-SA, CC-BY, CC0, GFDL or public domain per its copyright file.
- tuxpaint-data: its template photographs (a cliff, a corn maze, the sea, rocks, trees, sheep in a field)
  and the San Francisco skyline at dusk. Licence GPL-2+.
- palapeli-data: its 5 puzzle photographs (a castle, a bridge at night, citrus fruits, a bee, a chameleon).
  Licence GPL-2+.
None of these is in the real-car evaluation set; no vehicle is among them (every picture was looked at on
2026-11-29; the exclusions below are the ones with cars). Writes OUT/NAME.jpg (at most 1280 px) and
OUT/sources.json.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from make_carfree_photos import extract  # noqa: E402  (scripts/ is not a package)

BUNDLES = ("erase", "explore_world_animals", "explore_farm_animals", "explore_monuments", "details",
           "categorization")
# looked at by eye for gcompris-qt-data 3.1-2: cars parked in front (Colosseum twice, Trier, a Vienna church
# with a bus), a street of 1930s traffic in black and white, and the paintings (Van Gogh) of `details`
EXCLUDED = {"explore_monuments_038", "explore_monuments_043", "explore_monuments_048", "categorization_121",
            "categorization_138",
            "details_030", "details_044", "details_052", "details_062", "details_071", "details_081",
            "details_094", "details_120"}
LOOKED_AT = {"gcompris-qt-data": "3.1-2", "tuxpaint-data": "1:0.9.28-sdl2-1", "palapeli-data": "4:22.12.3-1"}
# the photographs that are plain files (GCompris' are inside its bundles)
PHOTOS = {"tuxpaint-data": ["usr/share/tuxpaint/templates/*.jpg",
                            "usr/share/tuxpaint/starters/skyline-sf-dusk-back.jpeg"],
          "palapeli-data": ["usr/share/palapeli/collection/*.jpg"]}
MIN_SIDE = 200  # GCompris also keeps thumbnails; below this a crop is mostly blur
SIGNATURES = {".jpg": re.compile(rb"\xff\xd8\xff"), ".png": re.compile(rb"\x89PNG\r\n\x1a\n"),
              ".webp": re.compile(rb"RIFF....WEBP", re.S)}


def carve(bundle: bytes) -> list[bytes]:
    """The image files stored in a Qt resource bundle, in the order they are stored."""
    starts = sorted((m.start(), ext) for ext, sig in SIGNATURES.items() for m in sig.finditer(bundle))
    found = []
    for k, (s, ext) in enumerate(starts):
        if ext == ".webp":
            end = s + 8 + int.from_bytes(bundle[s + 4:s + 8], "little")
        elif ext == ".png":
            end = bundle.find(b"IEND", s) + 8
        else:  # a JPEG ends at its last end-of-image marker before the next file starts
            nxt = starts[k + 1][0] if k + 1 < len(starts) else len(bundle)
            end = bundle.rfind(b"\xff\xd9", s, nxt) + 2
        found.append(bundle[s:end])
    return found


def decode(data: bytes) -> Image.Image | None:
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
        return im.convert("RGB")
    except Exception:  # a thumbnail cut short, an icon: not a photograph we want
        return None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sources, seen = [], set()

    def keep(name: str, im: Image.Image | None, package: str) -> None:
        if im is None or min(im.size) < MIN_SIDE or name in EXCLUDED:
            return
        digest = hashlib.sha256(im.tobytes()).hexdigest()
        if digest in seen:
            return
        seen.add(digest)
        im.thumbnail((1280, 1280), Image.LANCZOS)
        im.save(args.out / f"{name}.jpg", quality=92)
        sources.append({"file": f"{name}.jpg", "package": package})

    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        versions = {}
        for package in LOOKED_AT:
            root, versions[package] = extract(package, tmp)
            if versions[package] != LOOKED_AT[package]:
                print(f"warning: {package} {versions[package]} is not the version looked at for vehicles "
                      f"({LOOKED_AT[package]}): look at {args.out} again", file=sys.stderr)
            if package == "gcompris-qt-data":
                for bundle in BUNDLES:
                    path = next(root.glob(f"usr/share/gcompris-qt/rcc/{bundle}.rcc"))
                    for i, data in enumerate(carve(path.read_bytes())):
                        keep(f"{bundle}_{i:03d}", decode(data), package)
            else:
                for pattern in PHOTOS[package]:
                    for p in sorted(root.glob(pattern)):
                        keep(f"{package.split('-')[0]}_{p.stem}", decode(p.read_bytes()), package)
    (args.out / "sources.json").write_text(json.dumps({"packages": versions, "files": sources}, indent=1))
    print(f"wrote {len(sources)} photographs to {args.out}")


if __name__ == "__main__":
    main()
