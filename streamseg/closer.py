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
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from streamseg.composite import downscale, model_size, normalise
from streamseg.models import ModelSpec

if TYPE_CHECKING:
    from streamseg.backends.base import Backend

PAD = 0.08  # of the car's box, each side: context around the car for the second look
MIN_ZOOM = 1.1  # a car that fills the frame gains nothing from a second look
FEATHER = 8  # grid px over which the second look fades into the first where its window ends inside the picture
REACH = 6  # grid px (about 20 at 1918x1280) from the first look's outline: where the second look may redraw


def window(alpha_lr: torch.Tensor, max_zoom: float = float("inf"),
           height: int | None = None) -> tuple[float, float, float] | None:
    """Where to look again, in the first look's grid units: (top, left, height) of a window of the grid's own
    aspect around everything called car in the batch, padded by PAD, zooming at most `max_zoom` and kept inside
    the picture; None when there is no car or it leaves no room for MIN_ZOOM. The zoom is the network's window
    (`height` px tall: the grid's own height by default) over the window's height in grid units."""
    h, w = alpha_lr.shape[-2:]
    height = height or h
    car = (alpha_lr >= 0.5).flatten(0, 1).any(0)  # [h,w]: car in any frame of the batch
    rows, cols = car.any(1).nonzero(), car.any(0).nonzero()
    if not len(rows):
        return None
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    bh, bw = (y1 - y0) * (1 + 2 * PAD), (x1 - x0) * (1 + 2 * PAD)
    # the window's height (its width size * w / h), never more than the grid's: a network whose window is larger
    # than the grid (the outline network's) sees at least the whole picture
    size = min(h, max(bh, bw * h / w, height / max_zoom))
    if height / size < MIN_ZOOM:
        return None
    top = min(max(0.0, (y0 + y1 - size) / 2), h - size)
    left = min(max(0.0, (x0 + x1 - size * w / h) / 2), w - size * w / h)
    return top, left, size


def closer_look(pixels: torch.Tensor, small: torch.Tensor, alpha_lr: torch.Tensor,
                net: Callable[[torch.Tensor], torch.Tensor], spec: ModelSpec, size: tuple[int, int] | None = None,
                reach: int = REACH) -> tuple[torch.Tensor, torch.Tensor]:
    """pixels [N,H,W,3] uint8 (on the network's device), small [N,3,h,w] and alpha_lr [N,1,h,w] (the look before)
    -> (small, alpha_lr) on a finer grid, the car's window redrawn by `net` (a backend: the normalised picture
    of model `spec` -> its matte), within `reach` grid px of the look before's outline; that look elsewhere.
    `size`: the window `net` takes, (h, w) of the grid's aspect (default: the grid's own size, as the first look's
    network takes)."""
    h, w = alpha_lr.shape[-2:]
    wh, ww = size or (h, w)
    if wh > pixels.shape[1] or ww > pixels.shape[2]:  # a window larger than the picture: nothing finer to see
        return small, alpha_lr
    # never finer than the picture itself: a small car in a large photo would ask for a grid larger than the photo
    found = window(alpha_lr, min(pixels.shape[1] / h, pixels.shape[2] / w), wh)
    if found is None:
        return small, alpha_lr
    top, left, height = found
    zoom = wh / height
    grid = (max(wh, round(h * zoom)), max(ww, round(w * zoom)))
    y0, x0 = min(round(top * zoom), grid[0] - wh), min(round(left * zoom), grid[1] - ww)
    finer = downscale(pixels.permute(0, 3, 1, 2), grid)
    second = net(normalise(finer[..., y0:y0 + wh, x0:x0 + ww], spec)).to(alpha_lr.dtype)
    alpha = F.interpolate(alpha_lr, size=grid, mode="bilinear", align_corners=False)
    # fade over FEATHER px where the window ends inside the picture (its edge lacks context); not at the border
    weight = fade(wh, y0 > 0, y0 + wh < grid[0], alpha)[:, None] * fade(ww, x0 > 0, x0 + ww < grid[1], alpha)[None, :]
    part = alpha[..., y0:y0 + wh, x0:x0 + ww]
    # the second look moves the outline; what is car is the first look's (which saw the car at the scale it was
    # trained on): zoomed in, the network now and then lost a dark bumper or a door whole (Dice 0.98 -> 0.94)
    weight = weight * near_outline(part, reach)
    alpha[..., y0:y0 + wh, x0:x0 + ww] = part + (second - part) * weight
    return finer, alpha


def outline_look(pixels: torch.Tensor, small: torch.Tensor, alpha: torch.Tensor,
                 net: Callable[[torch.Tensor], torch.Tensor], spec: ModelSpec,
                 first: ModelSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """The third look, after the closer look: the outline network (model `spec`: the first look's network `first`
    trained on cars as much larger as its input is) on a window of its own input size, laid within the same reach
    of the photo as the closer look's. Arguments and result as closer_look's."""
    scale = spec.input_height / first.input_height
    size = model_size(alpha.shape[-2], alpha.shape[-1], spec)
    return closer_look(pixels, small, alpha, net, spec, size, round(REACH * scale))


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


def closer_looks(pixels: torch.Tensor, small: torch.Tensor, alpha_lr: torch.Tensor, net: Backend,
                 outline: Backend | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A photo's looks after the first (arguments and result as closer_look's): the closer look by the first look's
    network `net`, then the third look by the outline network where the closer look zoomed in and the picture holds
    the car at the outline network's own scale (twice the closer look's: what it was trained on). A car that fills
    the picture takes neither (with the outline network's look alone csp_car1, the real-car set's photograph, lost
    0.03 Dice), and a picture under twice the closer look's grid not the third (the street photos, 1000x563: it
    would see the car smaller than it was trained to, and no finer than the closer look did; 0.584 -> 0.577)."""
    finer, alpha = closer_look(pixels, small, alpha_lr, net, net.spec)
    net.release()  # the first network's last call on this photo
    if outline is None or finer is small:  # no outline network (videos), or the closer look did not zoom in
        return finer, alpha
    if pixels.shape[1] < outline.spec.input_height / net.spec.input_height * finer.shape[-2]:
        return finer, alpha  # the picture holds the car smaller than the outline network's scale
    try:
        return outline_look(pixels, finer, alpha, outline, outline.spec, net.spec)
    finally:
        outline.release()  # one look a photo: its buffers would otherwise sit under the edge stage's peak
