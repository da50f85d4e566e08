"""Per-image Dice and IoU of one or more models on the real-car evaluation set (`training.realcars`).

    python -m training.evaluate_real --data data/realcars --model default [--model isnet] [--model PATH]
                                     [--markdown OUT.md]

Each image is fed as the video pipeline feeds a frame (streamseg.composite: antialiased resize to the model's
input size, turned for portrait images, normalised), the probability is upsampled bilinearly to the image and
thresholded at 0.5. Prints one row per image with ground truth, then the mean over the single-vehicle images
and over all images with truth. A named model that is not installed (e.g. isnet) is skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from streamseg.composite import downscale, model_size, normalise, upsample
from streamseg.models import ModelSpec

THRESHOLD = 0.5


def predict_alpha(model: nn.Module, spec: ModelSpec, rgb: np.ndarray, device: torch.device | str | None = None
                  ) -> np.ndarray:
    """The model's foreground probability for one HxWx3 uint8 RGB image: float32 HxW in 0..1.

    Resized to the spec's input size (turned for portrait images of a non-square model) with the pipeline's
    antialiased downscale and normalisation; the output is upsampled bilinearly to the image size."""
    if device is None:
        device = next(model.parameters()).device
    h, w = rgb.shape[:2]
    frames = torch.from_numpy(np.array(rgb, dtype=np.uint8)).to(device)[None]  # [1,H,W,3], a writable copy
    small = downscale(frames.permute(0, 3, 1, 2), model_size(h, w, spec))
    with torch.inference_mode():
        prob = model(normalise(small, spec)).float()
        alpha = upsample(prob, (h, w))
    return alpha[0, 0].cpu().numpy().astype(np.float32)


def predict_mask(model: nn.Module, spec: ModelSpec, rgb: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """predict_alpha thresholded: bool HxW."""
    return predict_alpha(model, spec, rgb) > threshold


def dice_iou(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Dice = 2|A&B| / (|A|+|B|), IoU = |A&B| / |A|B|, of two boolean masks; both empty counts as a perfect 1."""
    a, b = np.asarray(pred, bool), np.asarray(truth, bool)
    if a.shape != b.shape:
        raise ValueError(f"masks differ in shape: {a.shape} vs {b.shape}")
    inter = np.logical_and(a, b).sum()
    total = a.sum() + b.sum()
    union = total - inter
    return (float(2 * inter / total) if total else 1.0), (float(inter / union) if union else 1.0)


def load_index(data: Path) -> list[dict]:
    index = data / "index.json"
    if not index.is_file():
        raise SystemExit(f"{index} not found: build the set with `python -m training.realcars --out {data}`")
    return json.loads(index.read_text())["images"]


def load_models(choices: list[str], device: torch.device) -> list[tuple[str, nn.Module, ModelSpec]]:
    from streamseg.errors import InputError
    from streamseg.models import load_checkpoint
    from streamseg.models.names import NAMED, resolve_model

    models = []
    for choice in choices:
        try:
            path = resolve_model(choice)
        except InputError as e:
            if choice in NAMED:
                print(f"note: skipping --model {choice}: {e}", file=sys.stderr)
                continue
            raise SystemExit(f"error: {e}") from None
        model, spec, _ = load_checkpoint(path, device)
        models.append((choice if choice in NAMED else Path(choice).stem, model, spec))
    if not models:
        raise SystemExit("error: no model to evaluate")
    return models


def evaluate(data: Path, models: list[tuple[str, nn.Module, ModelSpec]],
             where: Callable[[dict], bool] | None = None) -> list[dict]:
    """One row per image with ground truth (and, given `where`, whose index entry it accepts): name, source,
    single_vehicle and {model: (dice, iou)}."""
    rows = []
    for e in load_index(data):
        if not e["has_truth"] or (where is not None and not where(e)):
            continue
        rgb = np.asarray(Image.open(data / e["image"]).convert("RGB"))
        truth = np.asarray(Image.open(data / e["mask"]).convert("L")) > 127
        scores = {label: dice_iou(predict_mask(model, spec, rgb), truth) for label, model, spec in models}
        rows.append({"image": e["name"], "source": e["source"], "single_vehicle": e["single_vehicle"],
                     "scene": e.get("scene", ""), "scores": scores})
    return rows


def main_subject(entry: dict) -> bool:
    """Whether an index entry (or a row of `evaluate`) is a single vehicle that is the picture's main subject."""
    return bool(entry["single_vehicle"]) and entry.get("scene") != "salient"


def means(rows: list[dict], labels: list[str]) -> dict[str, dict[str, tuple[float, float, int]]]:
    """{group: {model: (dice, iou, n)}} over the rows with truth. The headline group is single vehicles
    that are the picture's main subject; those beside a more salient object and the pictures of several vehicles
    (street photos, every vehicle marked) are reported apart."""
    single = [r for r in rows if r["single_vehicle"]]
    groups = {"single vehicle, main subject": [r for r in rows if main_subject(r)],
              "single vehicle beside a more salient object": [r for r in single if r.get("scene") == "salient"],
              "several vehicles, every one marked": [r for r in rows if not r["single_vehicle"]],
              "all": rows}
    out: dict[str, dict[str, tuple[float, float, int]]] = {}
    for group, rs in groups.items():
        out[group] = {}
        for label in labels:
            d = [r["scores"][label][0] for r in rs]
            i = [r["scores"][label][1] for r in rs]
            out[group][label] = (float(np.mean(d)) if d else float("nan"), float(np.mean(i)) if i else float("nan"),
                                 len(rs))
    return out


def table(rows: list[dict], labels: list[str]) -> str:
    """A markdown table: the rows, then the means of `means`' groups."""
    head = ["image", "source", "single", "scene"] + [f"{m} {k}" for m in labels for k in ("Dice", "IoU")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["image"], r["source"], "yes" if r["single_vehicle"] else "no", r.get("scene", "")]
        cells += [f"{v:.3f}" for m in labels for v in r["scores"][m]]
        lines.append("| " + " | ".join(cells) + " |")
    for group, by_model in means(rows, labels).items():
        n = next(iter(by_model.values()))[2]
        cells = [f"**mean, {group}** ({n})", "", "", ""]
        cells += [f"**{v:.3f}**" for m in labels for v in by_model[m][:2]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="the folder `python -m training.realcars` wrote")
    ap.add_argument("--model", action="append", default=None,
                    help="default | isnet | PATH of a checkpoint; repeat to compare (default: default)")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the table to this file")
    args = ap.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    models = load_models(args.model or ["default"], device)
    labels = [m[0] for m in models]
    rows = evaluate(args.data, models)
    skipped = sum(not e["has_truth"] for e in load_index(args.data))
    text = table(rows, labels)
    note = f"\n\n{len(rows)} images with ground truth; {skipped} without (pictures only) not scored."
    print(text + note)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(f"Real-car evaluation set ({args.data}), threshold {THRESHOLD}\n\n{text}{note}\n")


if __name__ == "__main__":
    main()
