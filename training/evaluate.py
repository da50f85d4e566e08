"""Dice and IoU of a model on the held-out split of a dataset.

    python -m training.evaluate --data data/synth [--model streamseg/weights/default.pt]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from streamseg.models import ModelSpec, UNet, load_checkpoint
from training.dataset import SegmentationDataset, find_samples, split


def normalise(x: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
    mean = torch.tensor(spec.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def dice_iou(prob: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image Dice and IoU of thresholded masks, [N] each; an image with neither is a perfect 1."""
    p = (prob > threshold).flatten(1).float()
    t = (target > 0.5).flatten(1).float()
    inter = (p * t).sum(1)
    total = p.sum(1) + t.sum(1)
    union = total - inter
    dice = torch.where(total > 0, 2 * inter / total.clamp(min=1), torch.ones_like(total))
    iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
    return dice, iou


@torch.inference_mode()
def evaluate(model: UNet, spec: ModelSpec, loader: DataLoader, device: torch.device) -> dict:
    model.eval()
    dices, ious = [], []
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        with torch.autocast(device.type, enabled=device.type == "cuda"):
            prob = model(normalise(x, spec)).float()
        d, i = dice_iou(prob, y)
        dices.append(d.cpu())
        ious.append(i.cpu())
    d, i = torch.cat(dices), torch.cat(ious)
    return {"dice": round(d.mean().item(), 4), "iou": round(i.mean().item(), 4), "images": len(d)}


def held_out_loader(data: Path | list[Path], spec: ModelSpec, val_fraction: float, batch: int = 8) -> DataLoader:
    """The held-out split of one source, or of several together."""
    roots = data if isinstance(data, list) else [data]
    val = [s for root in roots for s in split(find_samples(root), val_fraction)[1]]
    if not val:
        raise SystemExit(f"{data}: the held-out split is empty; use more images or a larger --val-fraction")
    ds = SegmentationDataset(val, resize=(spec.input_height, spec.input_width), augment=False)
    return DataLoader(ds, batch_size=batch, num_workers=0)


def main(argv: list[str] | None = None) -> None:
    from streamseg.weights import default_model_path

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--model", type=Path, default=None, help="checkpoint (default: the shipped model)")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    args = ap.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, spec, _ = load_checkpoint(args.model or default_model_path(), device)
    print(json.dumps(evaluate(model, spec, held_out_loader(args.data, spec, args.val_fraction), device)))


if __name__ == "__main__":
    main()
