"""Image + mask pairs for training and evaluation.

Two layouts are read:
- Carvana: `train/<id>.jpg` with `train_masks/<id>_mask.gif` (ids are `<car>_<view>`);
- plain:   `images/<name>.<ext>` with `masks/<name>.<ext>` (what `training.synthetic` writes).

The held-out split is chosen by a hash of the group name (the car, for Carvana, so no view of a
held-out car is ever trained on), so it is the same on every machine and every run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from training.carvana import check_not_reserved

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
MASK_EXTS = IMAGE_EXTS | {".gif"}


@dataclass(frozen=True)
class Sample:
    image: Path
    mask: Path
    group: str  # samples of one group share a split


def find_samples(root: Path) -> list[Sample]:
    root = Path(root)
    if (root / "train").is_dir() and (root / "train_masks").is_dir():
        samples = []
        for img in sorted((root / "train").iterdir()):
            if img.suffix.lower() in IMAGE_EXTS:
                mask = root / "train_masks" / f"{img.stem}_mask.gif"
                if mask.exists():
                    samples.append(Sample(img, mask, img.stem.rsplit("_", 1)[0]))
    elif (root / "images").is_dir() and (root / "masks").is_dir():
        masks = {p.stem: p for p in (root / "masks").iterdir() if p.suffix.lower() in MASK_EXTS}
        samples = [Sample(p, masks[p.stem], p.stem) for p in sorted((root / "images").iterdir())
                   if p.suffix.lower() in IMAGE_EXTS and p.stem in masks]
    else:
        raise FileNotFoundError(
            f"{root} has neither train/ + train_masks/ (Carvana) nor images/ + masks/; "
            "make one with: python -m training.synthetic --out DIR")
    if not samples:
        raise FileNotFoundError(f"{root}: no image has a matching mask")
    return samples


def split(samples: list[Sample], val_fraction: float) -> tuple[list[Sample], list[Sample]]:
    """Deterministic train/val split by group hash."""
    def held_out(group: str) -> bool:
        h = int(hashlib.sha1(group.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        return h < val_fraction

    train = [s for s in samples if not held_out(s.group)]
    val = [s for s in samples if held_out(s.group)]
    return train, val


def read_mask(path: Path) -> np.ndarray:
    """Mask as float32 [H,W] in 0..1, whether stored as 0/1 (Carvana GIF) or 0/255."""
    m = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
    return m / (255.0 if m.max() > 1 else 1.0)


class SegmentationDataset(Dataset):
    """Yields (image [3,H,W] float in 0..1, mask [1,H,W] float in 0..1).

    With `augment`, a random scale, crop of `crop` (h, w), flip and colour jitter, as in training;
    without, the whole image resized to `resize` (h, w), as the model sees a frame at inference.
    `whole`: the share of training crops that are the whole image resized to `crop` (the frame as the
    pipeline shows it) instead of a zoomed-in window; the zoom alone shows every car 1.0-1.6x (1.3x on
    average) larger than inference does. `frame` (h, w): the size the image is scaled to cover before that zoom
    and the crop (default: the crop's own), so a network can learn cars larger than its crop shows them whole.
    """

    def __init__(self, samples: list[Sample], crop: tuple[int, int] = (256, 256),
                 resize: tuple[int, int] | None = None, augment: bool = True, seed: int = 0,
                 recolour: float = 0.0, whole: float = 0.0, frame: tuple[int, int] | None = None) -> None:
        self.samples, self.crop, self.resize, self.augment = samples, crop, resize, augment
        self.seed, self.recolour, self.whole, self.frame = seed, recolour, whole, frame or crop

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        s = self.samples[i]
        check_not_reserved(s.image)  # a reserved Carvana car, wherever a copy of it sits, is never read
        check_not_reserved(s.mask)
        img = Image.open(s.image).convert("RGB")
        mask = Image.fromarray((read_mask(s.mask) * 255).astype(np.uint8))
        if mask.size != img.size:
            raise ValueError(f"{s.mask} is {mask.size}, its image {s.image} is {img.size}")
        if self.augment:
            img, mask = self._augment(img, mask, np.random.default_rng())
        elif self.resize:
            h, w = self.resize
            img, mask = img.resize((w, h), Image.BILINEAR), mask.resize((w, h), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)
        y = torch.from_numpy(np.asarray(mask, dtype=np.float32) / 255)[None]
        return x, y

    def _augment(self, img: Image.Image, mask: Image.Image, rng: np.random.Generator):
        ch, cw = self.crop
        w, h = img.size
        if self.whole and rng.random() < self.whole:
            img, mask = img.resize((cw, ch), Image.BILINEAR), mask.resize((cw, ch), Image.BILINEAR)
        else:
            fh, fw = self.frame
            scale = max(fh / h, fw / w, ch / h, cw / w) * rng.uniform(1.0, 1.6)
            nw, nh = max(cw, round(w * scale)), max(ch, round(h * scale))
            img, mask = img.resize((nw, nh), Image.BILINEAR), mask.resize((nw, nh), Image.BILINEAR)
            x0, y0 = int(rng.integers(0, nw - cw + 1)), int(rng.integers(0, nh - ch + 1))
            box = (x0, y0, x0 + cw, y0 + ch)
            img, mask = img.crop(box), mask.crop(box)
        if rng.random() < 0.5:
            img, mask = img.transpose(Image.FLIP_LEFT_RIGHT), mask.transpose(Image.FLIP_LEFT_RIGHT)
        arr = np.asarray(img, dtype=np.float32)
        if rng.random() < self.recolour:
            arr = recolour(arr, np.asarray(mask, dtype=np.float32)[..., None] / 255, rng)
        arr = arr * rng.uniform(0.8, 1.2) * rng.uniform(0.92, 1.08, 3) + rng.uniform(-15, 15)
        gray = arr.mean(axis=2, keepdims=True)
        arr = gray + (arr - gray) * rng.uniform(0.7, 1.3)  # saturation
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        return img, mask


def recolour(arr: np.ndarray, car: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Repaint the car: its hue turned by a random angle and its saturation scaled, blended by the mask.

    Real paint comes in every colour; the renders' paints follow road traffic (mostly white, black, grey), so
    without this a green bus or a teal pickup is a colour the model never saw on a car. Grey pixels (tyres,
    glass, chrome) stay grey: turning the hue of a colourless pixel changes nothing."""
    grey = arr.mean(axis=2, keepdims=True)
    angle = rng.uniform(0, 2 * np.pi)
    # rotation about the grey axis of RGB space: a hue turn that keeps each pixel's mean level
    axis = np.ones(3) / np.sqrt(3)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)
    turned = grey + ((arr - grey) @ rot.T) * rng.uniform(0.8, 2.0)
    return arr + (np.clip(turned, 0, 255) - arr) * car
