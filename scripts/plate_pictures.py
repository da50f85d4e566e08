"""Before and after of `--plate` on real photographs the plate detector never trained on (issue 26), for the docs:

    python scripts/plate_pictures.py --data data/plates_eval --photos oi_ID,oi_ID --out docs/masked_plate.png

Each row: the photo as it is, then `--plate blur` over the studio backdrop, then `--plate LOGO` (a drawn dealer's
logo laid in the plate's perspective) over the white cyclorama, each made by `streamseg.Segmenter` as
`streamseg run` makes it. The photos are held-out Open Images photographs from unknowncz/LP_recognition
(CC BY 4.0; `python -m training.plates` writes them), a crop around the car.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from streamseg.api import Segmenter

HEIGHT = 300  # of each panel


def dealer_logo(path: Path) -> Path:
    """A flat two-colour logo with a word on it, as a dealer would supply."""
    logo = Image.new("RGBA", (400, 100), (16, 40, 90, 255))
    draw = ImageDraw.Draw(logo)
    draw.rectangle([0, 0, 399, 99], outline=(240, 190, 40, 255), width=8)
    draw.text((200, 50), "AUTOHAUS", fill=(255, 255, 255, 255), anchor="mm", font=ImageFont.load_default(46))
    logo.save(path)
    return path


def panel(picture: np.ndarray) -> Image.Image:
    image = Image.fromarray(picture)
    return image.resize((round(image.width * HEIGHT / image.height), HEIGHT), Image.Resampling.LANCZOS)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("data/plates_eval"))
    ap.add_argument("--photos", required=True, help="names in DATA/images, comma-separated")
    ap.add_argument("--out", type=Path, default=Path("docs/masked_plate.png"))
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, Segmenter(backend="cpu") as seg:
        logo = dealer_logo(Path(tmp) / "logo.png")
        for name in args.photos.split(","):
            photo = np.asarray(Image.open(args.data / "images" / f"{name}.jpg").convert("RGB"))
            blurred = seg.composite(photo, bg="studio", plate="blur")
            covered = seg.composite(photo, bg="cyclorama", plate=str(logo))
            panels = [panel(p) for p in (photo, blurred, covered)]
            row = Image.new("RGB", (sum(p.width for p in panels) + 16, HEIGHT), "white")
            x = 0
            for p in panels:
                row.paste(p, (x, 0))
                x += p.width + 8
            rows.append(row)
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height + 8 for r in rows) - 8), "white")
    y = 0
    for row in rows:
        sheet.paste(row, (0, y))
        y += row.height + 8
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({sheet.width}x{sheet.height})")


if __name__ == "__main__":
    main()
