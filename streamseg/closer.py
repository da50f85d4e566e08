"""A closer look at the car (issue 23): a photo's car seen a second time, filling the model's input.

The network sees a 1918x1280 studio photo at 448x256, where a car 60-70% of the width is about 300 px across; its
outline is then a median 4 px off at full size. The second look downscales the photo to a grid `zoom` times the
model's input (the same squash as the first look, so the car has the proportions the network knows), runs the
network on the window of that grid around the car (its box from the first look, padded by PAD), and lays the
result over the first look's matte brought to the grid, within REACH of the first look's outline: the second look
moves the outline, the first decides what is car. The compositor and the edge stage then take the finer matte as
they take the first (any grid size: the guided filter fits its coefficients there).

Only where it pays: photos that the edge stage redraws (streamseg.edges.redraws), behind a UNet (IS-Net sees
1024x1024 already), and a car that leaves room for zoom >= MIN_ZOOM. Chosen on view 3 of the Carvana evaluation
cars (`python -m training.edge_refiner eval --views 3 --closer`, PyTorch); on views 2 and 10 through the user path
(`python -m training.evaluate_carvana --views 2,10`) the default with the edge stage went from Dice 0.9848 /
Boundary IoU 0.479 to 0.9860 / 0.508 (MODEL_CARD.md, "The closer look"). Tiling the car at a zoom of 2 was worse: a
network that sees part of a car guesses at the rest.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from streamseg.composite import downscale, normalise
from streamseg.models import ModelSpec

PAD = 0.08  # of the car's box, each side: context around the car for the second look
MIN_ZOOM = 1.1  # a car that fills the frame gains nothing from a second look
FEATHER = 8  # grid px over which the second look fades into the first where its window ends inside the picture
REACH = 6  # grid px (about 20 at 1918x1280) from the first look's outline: where the second look may redraw


def window(alpha_lr: torch.Tensor, max_zoom: float = float("inf")) -> tuple[float, float, float] | None:
    """Where to look again, in the first look's grid units: (top, left, height) of a window of the grid's own
    aspect around everything called car in the batch, padded by PAD, zooming at most `max_zoom` and kept inside
    the picture; None when there is no car or it leaves no room for MIN_ZOOM."""
    h, w = alpha_lr.shape[-2:]
    car = (alpha_lr >= 0.5).flatten(0, 1).any(0)  # [h,w]: car in any frame of the batch
    rows, cols = car.any(1).nonzero(), car.any(0).nonzero()
    if not len(rows):
        return None
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    bh, bw = (y1 - y0) * (1 + 2 * PAD), (x1 - x0) * (1 + 2 * PAD)
    size = max(bh, bw * h / w, h / max_zoom)  # the window's height, its width size * w / h
    if h / size < MIN_ZOOM:
        return None
    top = min(max(0.0, (y0 + y1 - size) / 2), h - size)
    left = min(max(0.0, (x0 + x1 - size * w / h) / 2), w - size * w / h)
    return top, left, size


def closer_look(pixels: torch.Tensor, small: torch.Tensor, alpha_lr: torch.Tensor,
                net: Callable[[torch.Tensor], torch.Tensor], spec: ModelSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """pixels [N,H,W,3] uint8 (on the network's device), small [N,3,h,w] and alpha_lr [N,1,h,w] (the first look)
    -> (small, alpha_lr) on a finer grid, the car's window redrawn by `net` (a backend: the normalised picture
    of model `spec` -> its matte); the first look where it leaves."""
    # never finer than the picture itself: a small car in a large photo would ask for a grid larger than the photo
    found = window(alpha_lr, min(pixels.shape[1] / alpha_lr.shape[-2], pixels.shape[2] / alpha_lr.shape[-1]))
    if found is None:
        return small, alpha_lr
    top, left, size = found
    h, w = alpha_lr.shape[-2:]
    zoom = h / size
    grid = (round(h * zoom), round(w * zoom))
    y0, x0 = min(round(top * zoom), grid[0] - h), min(round(left * zoom), grid[1] - w)
    finer = downscale(pixels.permute(0, 3, 1, 2), grid)
    second = net(normalise(finer[..., y0:y0 + h, x0:x0 + w], spec)).to(alpha_lr.dtype)
    alpha = F.interpolate(alpha_lr, size=grid, mode="bilinear", align_corners=False)
    # fade over FEATHER px where the window ends inside the picture (its edge lacks context); not at the border
    weight = fade(h, y0 > 0, y0 + h < grid[0], alpha)[:, None] * fade(w, x0 > 0, x0 + w < grid[1], alpha)[None, :]
    part = alpha[..., y0:y0 + h, x0:x0 + w]
    # the second look moves the outline; what is car is the first look's (which saw the car at the scale it was
    # trained on): zoomed in, the network now and then lost a dark bumper or a door whole (Dice 0.98 -> 0.94)
    weight = weight * near_outline(part)
    alpha[..., y0:y0 + h, x0:x0 + w] = part + (second - part) * weight
    return finer, alpha


def fade(n: int, start: bool, end: bool, like: torch.Tensor) -> torch.Tensor:
    """[n] weights: 1, rising from 0 over FEATHER px at the start and falling over FEATHER px at the end where
    asked (dtype and device of `like`)."""
    ramp = torch.arange(1, FEATHER + 1, dtype=like.dtype, device=like.device) / (FEATHER + 1)
    out = torch.ones(n, dtype=like.dtype, device=like.device)
    if start:
        out[:FEATHER] = ramp
    if end:
        out[-FEATHER:] = torch.minimum(out[-FEATHER:], ramp.flip(0))
    return out


def near_outline(alpha: torch.Tensor, reach: int = REACH) -> torch.Tensor:
    """[N,1,h,w] 0..1 -> 1.0 within `reach` px of its outline (matte 0.5), 0.0 elsewhere."""
    car = (alpha >= 0.5).to(alpha.dtype)
    k = 2 * reach + 1
    outside = F.max_pool2d(car, k, 1, reach)  # car within reach
    inside = 1 - F.max_pool2d(1 - car, k, 1, reach)  # car all round, as far as reach
    return outside - inside
