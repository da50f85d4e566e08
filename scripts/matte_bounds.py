"""What limits the outline on the Carvana evaluation cars: the network, or the way its matte reaches full size?

    python scripts/matte_bounds.py --data data/carvana_eval --views 3,7,11 --count 30 [--model default]

For each photo, the true mask is shrunk (antialiased, as the pipeline shrinks a frame) to a network's input
size and brought back to 1918x1280 the two ways the compositor can: bilinear upsampling (`--no-refine`) and
the colour guided filter (the default). The scores of that perfect small matte are the best any network at
that size can reach through that path. With --model, the network's own matte at each size is scored beside it.
Scores as training.evaluate_carvana: Dice, Boundary IoU (d = 0.5% of the diagonal), far false matte (%).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from streamseg.composite import downscale, normalise, refine, upsample
from training.carvana import check_not_reserved
from training.dataset import find_samples, read_mask
from training.evaluate_carvana import scores


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("data/carvana_eval"))
    ap.add_argument("--views", default="3,7,11")
    ap.add_argument("--count", type=int, default=30)
    ap.add_argument("--sizes", default="256x448,384x576,512x768")
    ap.add_argument("--model", help="also score this network's matte at each size (default, or a checkpoint)")
    args = ap.parse_args(argv)
    views = tuple(f"_{int(v):02d}" for v in args.views.split(","))
    samples = [s for s in find_samples(args.data) if s.image.stem.endswith(views)][:args.count]
    sizes = [tuple(int(v) for v in text.split("x")) for text in args.sizes.split(",")]
    net = None
    if args.model:
        from streamseg.models import load_checkpoint
        from streamseg.models.names import resolve_model

        net, spec, _ = load_checkpoint(resolve_model(args.model))
    rows: dict[str, list[dict]] = {}
    for s in samples:
        check_not_reserved(s.image)
        check_not_reserved(s.mask)
        rgb = torch.from_numpy(np.array(Image.open(s.image).convert("RGB"))).permute(2, 0, 1)[None]
        truth = read_mask(s.mask) > 0.5
        frame = rgb.float() / 255
        for size in sizes:
            small = downscale(rgb, size)
            perfect = F.interpolate(torch.from_numpy(truth.astype(np.float32))[None, None], size=size,
                                    mode="bilinear", antialias=True)
            mattes = {"perfect": perfect}
            if net is not None:
                with torch.inference_mode():
                    mattes["network"] = net(normalise(small, spec)).float()
            for name, small_matte in mattes.items():
                for path, full in (("bilinear", upsample(small_matte, truth.shape)),
                                   ("guided filter", refine(small_matte, small, frame))):
                    rows.setdefault(f"| {size[0]}x{size[1]} | {name} | {path} |", []).append(
                        scores(full[0, 0].numpy(), truth))
    print(f"{len(samples)} photos, views {args.views}")
    print("| size | small matte | to full size | Dice | Boundary IoU | far % |")
    print("|---|---|---|---|---|---|")
    for key, found in rows.items():
        print(key, " | ".join(f"{np.mean([r[k] for r in found]):.{4 if k == 'dice' else 3}f}"
                              for k in ("dice", "boundary_iou", "far_false_pct")), "|")


if __name__ == "__main__":
    main()
