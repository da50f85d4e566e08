"""The plate detector's recall and precision on held-out photos, through the product's own path (issue 26).

    python -m training.evaluate_plates --model streamseg/weights/plates.pt --data data/plates_eval \
        --json runs/plates_eval.json

Each photo goes at full size through `streamseg.plates.PlateMasker.detect` on the CPU backend (the detector
at its input size, its map turned into plate corners); what would be painted is each quad grown as
`cover_plates` grows it. Counted per plate:
- found (recall): at least COVERED of the marked plate's box lies under the paint, so its characters are hidden;
- a true detection (precision, on photos with every plate marked): at least half of the quad lies in a marked
  plate's box (grown by a quarter of its size: the marks are axis-aligned boxes, a plate seen from the side is not).
Recall is also given by the plate's width in the photo: under 40 px few plates are readable, so "readable"
counts plates 40 px wide or more. Several thresholds on the detector's map are scored in one pass.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from streamseg.backends.cpu import CpuBackend
from streamseg.plates import PlateCover, PlateMasker, plate_quads

COVERED = 0.8  # of a plate's box under the paint: its characters are hidden
GROW = 0.08  # as cover_plates grows a quad
READABLE = 40  # px: narrower plates are rarely legible
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6)


def paint_mask(quads: list[np.ndarray], height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    for quad in quads:
        centre = quad.mean(0)
        grown = centre + (quad - centre) * (1 + 2 * GROW)
        cv2.fillConvexPoly(mask, np.round(grown).astype(np.int32), 1)
    return mask


def score_photo(prob: np.ndarray, boxes: list[list[float]], height: int, width: int, threshold: float) -> dict:
    quads = plate_quads(prob, height, width, threshold)
    paint = paint_mask(quads, height, width)
    plates = []
    for x0, y0, x1, y1 in boxes:
        xa, ya = int(max(0, np.floor(x0))), int(max(0, np.floor(y0)))
        xb, yb = int(min(width, np.ceil(x1))), int(min(height, np.ceil(y1)))
        under = float(paint[ya:yb, xa:xb].mean()) if xb > xa and yb > ya else 0.0
        plates.append({"width": round(x1 - x0, 1), "covered": round(under, 3), "found": under >= COVERED})
    marked = np.zeros((height, width), np.uint8)
    for x0, y0, x1, y1 in boxes:
        gx, gy = (x1 - x0) / 4, (y1 - y0) / 4
        cv2.rectangle(marked, (int(x0 - gx), int(y0 - gy)), (int(np.ceil(x1 + gx)), int(np.ceil(y1 + gy))), 1, -1)
    true = 0
    for quad in quads:
        own = paint_mask([quad], height, width)
        true += int((own & marked).sum() >= 0.5 * max(1, own.sum()))
    return {"plates": plates, "detections": len(quads), "true_detections": true}


def summarise(rows: list[dict]) -> dict:
    plates = [p for r in rows for p in r["plates"]]
    readable = [p for p in plates if p["width"] >= READABLE]
    every = [r for r in rows if r["every_plate"]]
    detections = sum(r["detections"] for r in every)
    out = {"photos": len(rows), "plates": len(plates),
           "recall": round(sum(p["found"] for p in plates) / max(1, len(plates)), 4),
           "readable_plates": len(readable),
           "recall_readable": round(sum(p["found"] for p in readable) / max(1, len(readable)), 4),
           "precision": round(sum(r["true_detections"] for r in every) / max(1, detections), 4),
           "detections": detections, "photos_every_plate": len(every)}
    for lo, hi in ((0, 40), (40, 80), (80, 1e9)):
        band = [p for p in plates if lo <= p["width"] < hi]
        out[f"recall_{lo}_{int(min(hi, 9999))}px"] = round(sum(p["found"] for p in band) / max(1, len(band)), 4)
    return out


def evaluate(model: Path, data: Path, every: int = 1) -> tuple[dict, dict[float, list[dict]]]:
    """Every `every`-th photo (1: all)."""
    entries = dict(sorted(json.loads((data / "boxes.json").read_text())["images"].items())[::every])
    masker = PlateMasker(CpuBackend(model), PlateCover(blur=True))
    images = {p.stem: p for p in (data / "images").iterdir()}
    rows: dict[float, list[dict]] = {t: [] for t in THRESHOLDS}
    for name, entry in sorted(entries.items()):
        with Image.open(images[name]) as im:  # as stored, not turned by EXIF: the boxes are in its pixels
            rgb = np.asarray(im.convert("RGB"))
        height, width = rgb.shape[:2]
        prob = masker.probabilities(torch.from_numpy(np.ascontiguousarray(rgb))[None])[0]
        for t in THRESHOLDS:
            row = score_photo(prob, entry["boxes"], height, width, t)
            rows[t].append({"image": name, "every_plate": entry["every_plate"], **row})
    summary = {str(t): {"all": summarise(r), **{source: summarise([x for x in r if x["image"].startswith(source)])
                                                for source in ("oi_", "openalpr_")}}
               for t, r in rows.items()}
    return summary, rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("streamseg/weights/plates.pt"))
    ap.add_argument("--data", type=Path, default=Path("data/plates_eval"))
    ap.add_argument("--json", type=Path, help="write the summaries and every photo's counts here")
    ap.add_argument("--every", type=int, default=1, help="score every N-th photo only (a quick look)")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    summary, rows = evaluate(args.model, args.data, args.every)
    for t, parts in summary.items():
        for part, s in parts.items():
            print(f"threshold {t} {part}: {json.dumps(s)}")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "photos": {str(t): r for t, r in rows.items()}}))


if __name__ == "__main__":
    main()
