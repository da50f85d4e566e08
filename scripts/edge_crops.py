"""Full-resolution edge crops of Carvana evaluation photos (cars never trained on), before and after, for the docs:

    git show 181baf5:streamseg/weights/default.pt > stage10.pt   # the previous default
    python scripts/edge_crops.py --before stage10.pt --after default \
        --labels "stage 10 (the previous default)|stage 11 (the default shipped now)" \
        --images 00087a6bd4dc_06.jpg,eaf9eb0b2293_03.jpg,fa006be8b6d9_13.jpg --out docs/carvana_edges.png
    python scripts/edge_crops.py --before default --after default+edges \
        --labels "default|default --edges (the edge stage)" \
        --images 00087a6bd4dc_02.jpg,0d1a9caf4350_10.jpg,4f0397cf7937_02.jpg --out docs/edge_stage.png
    python -m training.edge_refiner ship --refiner training/checkpoints/edge-refiner-v3-step1500.pt --out v3.pt
    python scripts/edge_crops.py --before isnet+edges=v3.pt --after isnet+edges \
        --labels "--model isnet, the UNet's edge network (v3, until now)|--model isnet, its own (edges-isnet.pt)" \
        --images 4a4364d7fc6d_10.jpg,d22e6a2ca6df_10.jpg,6d21aad248e4_10.jpg,42b3feca1993_10.jpg \
        --out docs/isnet_edges.png
    git show cf40db9:streamseg/weights/default.pt > cf40db9.pt   # the default when issue 23 was filed
    python scripts/edge_crops.py --before cf40db9.pt --after default+edges \
        --labels "cf40db9, when issue 23 was filed (no edge stage)|now: three looks, edge stage, decided matte" \
        --images 00087a6bd4dc_02.jpg,0d1a9caf4350_10.jpg,4f0397cf7937_02.jpg,d22e6a2ca6df_02.jpg \
        --out docs/issue23_edges.png

Each row is one photo: the whole photo with the crop marked, then for each model the crop of its cut-out over a
checkerboard at 1:1 (the matte as `streamseg run photo.jpg -f png` makes it: the default CPU backend, the
full-resolution stage included) with the true outline drawn in red. The crop is where the first model's matte
is farthest from the truth, so the picture shows the worst edge, not a chosen good one. A model named NAME+edges
runs with the edge stage (`--edges`), NAME+edges=WEIGHTS with that edge network instead of the shipped one;
NAME+edges-outline without a photo's third look (the outline network).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from training.carvana import check_not_reserved
from training.dataset import find_samples, read_mask
from training.evaluate_carvana import UserPath

CROP = 256


def checker(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.where(((y // 16) + (x // 16)) % 2 == 0, 200, 150).astype(np.float32)[..., None].repeat(3, -1)


def cutout(rgb: np.ndarray, matte: np.ndarray, truth: np.ndarray) -> np.ndarray:
    a = matte.astype(np.float32)[..., None] / 255
    out = rgb * a + checker(*rgb.shape[:2]) * (1 - a)
    edge = cv2.morphologyEx(truth.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    out[edge] = (230, 30, 30)
    return out.astype(np.uint8)


def worst_window(matte: np.ndarray, truth: np.ndarray) -> tuple[int, int]:
    """Top-left corner of the CROP window with the most matte error."""
    err = np.abs(matte.astype(np.float32) / 255 - truth)
    summed = cv2.boxFilter(err, -1, (CROP, CROP), normalize=False, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    h, w = truth.shape
    y, x = np.unravel_index(np.argmax(summed[:h - CROP + 1, :w - CROP + 1]), (h - CROP + 1, w - CROP + 1))
    return int(y), int(x)


def user_path(model: str) -> UserPath:
    """NAME, NAME+edges (with the shipped edge stage) or NAME+edges=WEIGHTS (with that edge network); a trailing
    -outline leaves a photo's third look out (the outline network, streamseg/closer.py)."""
    outline = not model.endswith("-outline")
    name, edges, weights = model.removesuffix("-outline").partition("+edges")
    return UserPath(name, edges=bool(edges), edge_weights=Path(weights[1:]) if weights.startswith("=") else None,
                    outline=outline)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("data/carvana_eval"))
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--labels", default="before|after", help="the two panel titles, separated by |")
    ap.add_argument("--images", required=True, help="comma-separated file names in DATA/train")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    paths = [user_path(m) for m in (args.before, args.after)]
    labels = args.labels.split("|")
    by_name = {s.image.name: s for s in find_samples(args.data)}
    rows = []
    for name in args.images.split(","):
        s = by_name[name]
        check_not_reserved(s.image)
        check_not_reserved(s.mask)
        rgb = np.asarray(Image.open(s.image).convert("RGB"))
        truth = read_mask(s.mask) > 0.5
        mattes = [p(rgb) for p in paths]
        y, x = worst_window(mattes[0], truth)
        thumb_h = CROP
        thumb = Image.fromarray(rgb).resize((round(rgb.shape[1] * thumb_h / rgb.shape[0]), thumb_h))
        scale = thumb_h / rgb.shape[0]
        ImageDraw.Draw(thumb).rectangle([x * scale, y * scale, (x + CROP) * scale, (y + CROP) * scale],
                                        outline=(255, 40, 40), width=2)
        win = (slice(y, y + CROP), slice(x, x + CROP))
        panels = [thumb] + [Image.fromarray(cutout(rgb[win], m[win], truth[win])) for m in mattes]
        rows.append(panels)
    for p in paths:
        p.close()
    widths = [p.width for p in rows[0]]
    sheet = Image.new("RGB", (sum(widths) + 8 * len(widths), 24 + len(rows) * (CROP + 8)), "white")
    draw = ImageDraw.Draw(sheet)
    x0 = 0
    for i, w in enumerate(widths):
        draw.text((x0 + 4, 6), (["photo (crop marked)"] + labels)[i], fill=(0, 0, 0))
        for r, panels in enumerate(rows):
            sheet.paste(panels[i], (x0, 24 + r * (CROP + 8)))
        x0 += w + 8
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
