"""Studio-grade cut-outs measured: the Carvana evaluation cars (`training.carvana`, whole cars never trained on) at
full resolution, through the path users get.

    python -m training.evaluate_carvana --data data/carvana_eval --model default [--model isnet] [--views 1,5,9,13]
                                        [--backend auto] [--no-refine] [--no-edges | --both] [--json OUT.jsonl]
                                        [--markdown OUT.md] [--over data/scenery] [--width 767]
                                        [--vehicles subject|all]

Each photo goes through the backend and compositor that `streamseg run photo.jpg -f matte` uses (the default CPU
backend with its precision, the guided filter and the edge stage; `--no-edges`: without it, as `streamseg run
--no-edges` and videos), keeping the vehicles `streamseg run` keeps by default (`--vehicles subject`: the car and
what lies near it; `all`: whatever the network calls car), and the matte is scored against the hand-made mask at
1918x1280:
- Dice of matte >= 0.5;
- Boundary IoU (Cheng et al., CVPR 2021) with d = 0.5% of the image diagonal (12 px here): the IoU of the two
  masks' inner bands of width d, so it measures the outline alone;
- far false matte: the share of all pixels with matte >= 0.5 farther than 2% of the diagonal (46 px) from the true
  car (wall lettering, floor reflections, haze), in percent.
- SAD: the sum over the photo of |matte - mask|, in thousands (the matting benchmarks' measure): the matte itself,
  a half-transparent car or haze included, not only where it crosses 0.5;
- half-transparent: the share of all pixels with 0.1 < matte < 0.9, in percent (the mask has none).
Prints a row per car (mean over its views) and the means; --json writes a row per image.

`--over DIR` scores the same cars out of the studio: each photo's car, cut out by its exact mask, is laid over
one of DIR's photographs (car-free scenery, `scripts/make_scenery_photos.py`), scaled to cover 1918x1280, the
i-th photo over the (i mod N)-th. A large photograph that is not a studio, with an exact truth (the edge pixels
still hold a little of the studio's grey, the car's own shadow is gone).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from streamseg.vehicles import VEHICLES, Vehicles
from training.carvana import car_of, check_not_reserved, view_of
from training.dataset import find_samples, read_mask

BOUNDARY_D = 0.005  # of the diagonal
FAR_D = 0.02


def inner_band(mask: np.ndarray, d: float) -> np.ndarray:
    """Pixels of `mask` within d of its outline (its edge with the background, image borders excluded)."""
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    return mask & (inside <= d)


def boundary_iou(pred: np.ndarray, truth: np.ndarray, d: float) -> float:
    a, b = inner_band(pred, d), inner_band(truth, d)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def far_false_matte(pred: np.ndarray, truth: np.ndarray, d: float) -> float:
    """Share of the pixels called car that lie farther than d from the true car."""
    outside = cv2.distanceTransform((~truth).astype(np.uint8), cv2.DIST_L2, 5)
    return float((pred & (outside > d)).sum() / pred.size)


def scores(matte: np.ndarray, truth: np.ndarray) -> dict:
    """matte: HxW uint8 0..255 (or float 0..1); truth: HxW bool. Dice, Boundary IoU and far false matte judge the
    matte >= 0.5; SAD (the sum of |matte - truth|, in thousands, as alphamatting.com's) and the half-transparent
    share (0.1 < matte < 0.9, in percent: a car seen through, a haze beside it) judge the matte itself."""
    alpha = matte.astype(np.float32) / 255 if matte.dtype == np.uint8 else matte.astype(np.float32)
    pred = alpha >= 0.5
    h, w = truth.shape
    diag = float(np.hypot(h, w))
    inter = np.logical_and(pred, truth).sum()
    total = pred.sum() + truth.sum()
    return {"dice": float(2 * inter / total) if total else 1.0,
            "boundary_iou": boundary_iou(pred, truth, BOUNDARY_D * diag),
            "far_false_pct": 100 * far_false_matte(pred, truth, FAR_D * diag),
            "sad_k": float(np.abs(alpha - truth).sum() / 1000),
            "half_pct": float(100 * ((alpha > 0.1) & (alpha < 0.9)).mean())}


class UserPath:
    """A checkpoint as `streamseg run photo -f matte` runs it: the chosen backend, the compositor, refinement and
    (as for a photo, unless `edges` is False) the edge stage, keeping the subject vehicle unless `vehicles` is all.
    `edge_weights`, `outline_weights`: another edge or outline network than the shipped one (a candidate to measure);
    `outline` False: a photo's third look left out (closer.py), to see what it adds."""

    def __init__(self, model: str, backend: str = "auto", refine: bool = True, vehicles: Vehicles = "subject",
                 edges: bool = True, edge_weights: Path | None = None, outline_weights: Path | None = None,
                 outline: bool = True) -> None:
        from streamseg.backends.registry import create_backend
        from streamseg.models.names import resolve_model
        from streamseg.pipeline import make_compositor

        if model.startswith("isnet+gate="):  # IS-Net gated by another UNet than the default (`--model isnet`)
            from streamseg.models.gate import ensure_gated
            from streamseg.models.names import models_dir

            car = Path(model.partition("=")[2])
            path = models_dir() / f"isnet-car-{car.stem}.pt"
            ensure_gated(resolve_model("isnet-salient"), resolve_model(car), path)
        else:
            path = resolve_model(model)
        from streamseg.edges import EdgeStage, edge_stage_for

        self.backend = create_backend(backend, path)
        # the edge stage (streamseg.edges; a photo's default); it redraws the guided filter's matte, so only after it
        self.edges: EdgeStage | None = None
        if edges and refine:
            self.edges = edge_stage_for(self.backend, outline, edge_weights, outline_weights)
        self.compositor = make_compositor(self.backend.device, "matte", refine, smooth=False, edges=self.edges)
        self.label = (f"{model}{'' if refine else ' (no refine)'}{'' if self.edges else ' --no-edges'}"
                      f"{'' if outline or not self.edges else ' (no third look)'}"
                      f"{' --vehicles all' if vehicles == 'all' else ''}")
        self.vehicles = vehicles  # "subject": each photo keeps its subject vehicle only (streamseg.vehicles)

    def __call__(self, rgb: np.ndarray, vehicles: Vehicles | None = None) -> np.ndarray:
        """HxWx3 uint8 -> its matte, HxW uint8; `vehicles` for this photo instead of the path's own."""
        from streamseg.batching import FrameBatch
        from streamseg.pipeline import matte_filters, process_batch

        batch = FrameBatch(torch.from_numpy(np.array(rgb))[None], [0], [time.monotonic()], 0)  # writable
        filters = matte_filters(smooth=False, vehicles=vehicles or self.vehicles)
        return process_batch(batch, self.backend, None, self.compositor, None, filters,
                             still=True)[0, ..., 0].cpu().numpy()

    def close(self) -> None:
        self.backend.close()
        if self.edges is not None:
            self.edges.close()


def over(rgb: np.ndarray, mask: np.ndarray, backdrop: Path) -> np.ndarray:
    """The car (`mask` 0..1) cut out of `rgb` and laid over `backdrop`, scaled to cover and centred."""
    check_not_reserved(backdrop)
    h, w = mask.shape
    bg = Image.open(backdrop).convert("RGB")
    s = max(w / bg.width, h / bg.height)
    bg = bg.resize((max(w, round(bg.width * s)), max(h, round(bg.height * s))), Image.LANCZOS)
    x, y = (bg.width - w) // 2, (bg.height - h) // 2
    back = np.asarray(bg, np.float32)[y:y + h, x:x + w]
    a = mask[..., None].astype(np.float32)
    return (rgb * a + back * (1 - a) + 0.5).astype(np.uint8)


def shrunk(rgb: np.ndarray, mask: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The photo and its mask as a smaller photo of the same car: `width` px wide (antialiased, as a camera or
    an editor would give it)."""
    h, w = mask.shape
    size = (width, round(h * width / w))
    small = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))
    return small, np.asarray(Image.fromarray(mask.astype(np.float32)).resize(size, Image.Resampling.BOX))


def evaluate(data: Path, paths: list[UserPath], views: set[int] | None = None,
             backdrops: list[Path] | None = None, width: int | None = None,
             sink: Path | None = None) -> list[dict]:
    """The rows, one per photo and path; each is also appended to `sink` (JSON lines) as soon as it is scored, so
    that a long run (every view under IS-Net: over an hour here) keeps what it measured if it is stopped."""
    rows = []
    samples = [s for s in find_samples(data) if views is None or view_of(s.image) in views]
    with open(sink, "w") if sink else contextlib.nullcontext() as out:
        for i, s in enumerate(samples):
            check_not_reserved(s.image)
            check_not_reserved(s.mask)
            rgb = np.asarray(Image.open(s.image).convert("RGB"))
            mask = read_mask(s.mask)
            truth = mask > 0.5
            if backdrops:
                rgb = over(rgb, mask, backdrops[i % len(backdrops)])
            if width:
                rgb, mask = shrunk(rgb, mask, width)
                truth = mask > 0.5
            for path in paths:
                t = time.perf_counter()
                matte = path(rgb)
                row = {"image": s.image.name, "car": car_of(s.image), "model": path.label,
                       "seconds": round(time.perf_counter() - t, 3), **scores(matte, truth)}
                rows.append(row)
                if out:
                    out.write(json.dumps(row) + "\n")
                    out.flush()
            print(f"\r{i + 1}/{len(samples)}", end="", flush=True)
    print()
    return rows


KEYS = ("dice", "boundary_iou", "far_false_pct", "sad_k", "half_pct")  # what scores() gives, in table order


def mean_cell(rows: Iterable[dict], keys: tuple[str, ...] = KEYS) -> str:
    """A table cell: the rows' mean of each key, "a / b / c" ("-" for no rows)."""
    rows = list(rows)
    if not rows:
        return "-"
    return " / ".join(f"{np.mean([r[k] for r in rows]):.{4 if k == 'dice' else 1 if k == 'sad_k' else 3}f}"
                      for k in keys)


def summary(rows: list[dict]) -> str:
    labels = list(dict.fromkeys(r["model"] for r in rows))
    cars = sorted({r["car"] for r in rows})
    head = "| car | " + " | ".join(f"{m}: Dice / BIoU / far % / SAD / half %" for m in labels) + " |"
    lines = [head, "|---" * (len(labels) + 1) + "|"]
    for car in cars:
        lines.append(f"| {car} | " + " | ".join(mean_cell([r for r in rows if r["car"] == car and r["model"] == m])
                                              for m in labels) + " |")
    lines.append(f"| **mean ({len(cars)} cars, {len(rows) // len(labels)} images)** | " +
                 " | ".join(f"**{mean_cell([r for r in rows if r['model'] == m])}**" for m in labels) + " |")
    lines.append("| worst image | " + " | ".join(
        "{image}: {dice:.4f} / {boundary_iou:.3f} / {far_false_pct:.3f}".format(
            **min((r for r in rows if r["model"] == m), key=lambda r: r["dice"])) for m in labels) + " |")
    lines.append("| seconds per image | " + " | ".join(
        f"{np.mean([r['seconds'] for r in rows if r['model'] == m]):.2f}" for m in labels) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("data/carvana_eval"))
    ap.add_argument("--model", action="append",
                    help="default, isnet (IS-Net kept where the default finds a car), isnet-salient (IS-Net alone), "
                         "isnet+gate=PATH (kept where that UNet finds a car) or a checkpoint; repeatable")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--no-refine", action="store_true")
    ap.add_argument("--edges", action=argparse.BooleanOptionalAction, default=True,
                    help="with the full-resolution edge stage, as a photo's default (--no-edges: without)")
    ap.add_argument("--edge-weights", type=Path, help="this edge network instead of the shipped one (a candidate)")
    ap.add_argument("--outline-weights", type=Path,
                    help="this outline network (photos' third look) instead of the shipped one (a candidate)")
    ap.add_argument("--no-outline", action="store_true", help="without photos' third look (closer.py)")
    ap.add_argument("--both", action="store_true", help="each model without and with the edge stage")
    ap.add_argument("--views", help="comma-separated view numbers (1-16); all by default")
    ap.add_argument("--json", type=Path, help="a row per image (JSON lines), written as each is scored")
    ap.add_argument("--markdown", type=Path)
    ap.add_argument("--over", type=Path, help="lay each car over these car-free photographs (data/scenery)")
    ap.add_argument("--width", type=int, help="score the photos shrunk to this width (the scores' distances with "
                                              "them): how the stage does on smaller photos")
    ap.add_argument("--vehicles", choices=VEHICLES, default="subject",
                    help="which vehicles the matte keeps, as `streamseg run --vehicles` (its default: subject)")
    args = ap.parse_args(argv)
    views = {int(v) for v in args.views.split(",")} if args.views else None
    edges = [False, True] if args.both else [args.edges]
    paths = [UserPath(m, args.backend, not args.no_refine, args.vehicles, edges=e, edge_weights=args.edge_weights,
                      outline_weights=args.outline_weights, outline=not args.no_outline)
             for m in (args.model or ["default"]) for e in edges]
    try:
        backdrops = sorted(args.over.glob("*.jpg")) if args.over else None
        rows = evaluate(args.data, paths, views, backdrops, args.width, args.json)
    finally:
        for p in paths:
            p.close()
    text = summary(rows)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
