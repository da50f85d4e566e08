"""Side-by-side composites of one photo by several models, as `streamseg run` would make them (same
backend, guided-filter refinement and blending), for the docs:

    python scripts/model_pictures.py /usr/share/doc/opencv-doc/opencv4/html/white_car.jpg \
        --model default --model isnet --bg studio --out docs/models_white_car.png

Each panel is labelled with the model's name. The input photo is the first panel.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageOps

from streamseg.backends.registry import create_backend
from streamseg.background import Background
from streamseg.batching import FrameBatch
from streamseg.models.names import resolve_model
from streamseg.pipeline import make_compositor, process_batch


def composite(rgb: np.ndarray, model: str, bg: str) -> np.ndarray:
    """The photo's composite over `bg` by `model` on the CPU backend, [H,W,3] uint8."""
    h, w = rgb.shape[:2]
    with create_backend("cpu", resolve_model(model)) as backend:
        batch = FrameBatch(torch.from_numpy(rgb)[None], [0], [0.0], 0)
        out = process_batch(batch, backend, Background(bg, h, w, backend.device),
                            make_compositor(backend.device, "rgb", smooth=False))
    return out[0].numpy()


def labelled(img: np.ndarray, text: str, height: int) -> Image.Image:
    panel = Image.fromarray(img)
    panel = panel.resize((round(panel.width * height / panel.height), height), Image.LANCZOS)
    draw = ImageDraw.Draw(panel)
    draw.rectangle((0, 0, 8 + 7 * len(text), 20), fill=(0, 0, 0))
    draw.text((4, 4), text, fill=(255, 255, 255))
    return panel


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("image", type=Path)
    ap.add_argument("--model", action="append", required=True, help="default|isnet|PATH; repeatable")
    ap.add_argument("--label", action="append", help="panel label per --model (default: the name)")
    ap.add_argument("--bg", default="studio")
    ap.add_argument("--height", type=int, default=360, help="panel height in the picture")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    photo = ImageOps.exif_transpose(Image.open(args.image)).convert("RGB")
    rgb = np.array(photo)
    labels = args.label or args.model
    panels = [labelled(rgb, "input", args.height)]
    panels += [labelled(composite(rgb, m, args.bg), label, args.height) for m, label in zip(args.model, labels)]
    sheet = Image.new("RGB", (sum(p.width for p in panels) + 4 * (len(panels) - 1), args.height), (255, 255, 255))
    x = 0
    for p in panels:
        sheet.paste(p, (x, 0))
        x += p.width + 4
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({sheet.width}x{sheet.height})")


if __name__ == "__main__":
    main()
