"""Which vehicles stay in the matte: the subject the footage is about, or every vehicle.

A dealer filming one car on a lot wants that car, not the cars parked beside it; traffic footage wants them
all. The network finds every vehicle, so the choice is made on its matte at model resolution (cheap: about
256x448), before the full-resolution stage, the studio shadow and the compositing see it:

- `all`: the matte as the network gave it.
- `subject`: each frame's matte is split into separate vehicles (connected regions of matte >= 0.5). In
  the first frame the subject is the vehicle that is large and central (`prominence`: its area, weighed by
  its distance from the picture's centre); from then on it is the vehicle that overlaps the previous
  frame's subject most, so a car that passes behind stays background while it is apart from the subject.
  Where nothing overlaps (a cut, or the subject left the picture) the choice is made afresh. The matte is
  kept on the subject and a thin fringe around it (its soft edge) and cleared elsewhere.

A vehicle that comes to touch the subject (a car passing behind it) joins its region; the region is then
split between the last frame's subject and the last frame's other vehicles, each pixel to the nearer (the
seam lags the passing car's motion, so a car passing fast while touching bleeds in at its leading edge). Two
vehicles that touch from the first frame on are one region to these rules (the network has no notion of
instances), so a car parked right behind the subject stays with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import torch

Vehicles = Literal["subject", "all"]
VEHICLES: tuple[Vehicles, ...] = ("subject", "all")

MIN_AREA = 0.002  # of the picture: smaller regions are specks, not vehicles, and are not counted
FRINGE = 0.012  # of the picture's diagonal: the soft edge kept around the subject
PIECES = 0.02  # of the diagonal: parts of the subject the matte split off (a mirror, a wheel behind a post)


def regions(alpha: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Label image of matte >= 0.5 (8-connected) and the labels of regions large enough to be vehicles."""
    import cv2  # here, not above: the CLI imports this module for its choices and starts faster without

    count, labels, stats, _ = cv2.connectedComponentsWithStats((alpha >= 0.5).astype(np.uint8), connectivity=8)
    least = MIN_AREA * alpha.size
    return labels, [k for k in range(1, count) if stats[k, cv2.CC_STAT_AREA] >= least]


def prominence(mask: np.ndarray) -> float:
    """How much a region looks like the picture's subject: its area, less the farther it lies from the
    centre (a car filling the middle beats a larger crowd of pixels at the edge)."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    dy, dx = ys.mean() / h - 0.5, xs.mean() / w - 0.5
    return float(len(ys) * np.exp(-(dx * dx + dy * dy) / (2 * 0.3 ** 2)))


def grow(mask: np.ndarray, radius: int) -> np.ndarray:
    """`mask` (bool) widened by a disc of `radius` px."""
    import cv2

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def distance_to(mask: np.ndarray) -> np.ndarray:
    """Each pixel's distance (px) to the nearest pixel of `mask` (bool, not empty)."""
    import cv2

    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)


class SubjectTracker:
    """Keeps the subject vehicle in consecutive frames' mattes ([N,1,h,w] 0..1 at model resolution), in
    order; one per run. `found`: the most vehicles one frame held; `cleared`: frames where others were
    removed."""

    def __init__(self) -> None:
        self.prev: np.ndarray | None = None  # the last frame's subject, bool [h,w]
        self.prev_others: np.ndarray | None = None  # and what was cleared from it
        self.found = 0
        self.cleared = 0
        self.frames = 0

    def __call__(self, alpha_lr: torch.Tensor, small: torch.Tensor | None = None) -> torch.Tensor:
        """alpha_lr [N,1,h,w] of consecutive frames -> the same with only the subject kept (`small`, the
        picture, is not needed: a matte filter's signature)."""
        import torch

        out = alpha_lr.detach().float().cpu().numpy().copy()
        for k in range(len(out)):
            out[k, 0] = self.keep(out[k, 0])
        return torch.from_numpy(out).to(alpha_lr.device, alpha_lr.dtype)

    def keep(self, alpha: np.ndarray) -> np.ndarray:
        """One frame's matte [h,w] with everything but the subject cleared."""
        self.frames += 1
        labels, found = regions(alpha)
        if not found or (self.prev is not None and self.prev.shape != alpha.shape):  # nothing to follow
            self.prev = self.prev_others = None
        if not found:
            return alpha
        subject = self.choose(labels, found)
        if self.prev is not None and self.prev_others is not None and self.prev_others.any():
            # a car that touches the subject joins its region: split the region between the last frame's
            # subject and the last frame's other vehicles, each pixel to the nearer
            split = subject & (distance_to(self.prev) <= distance_to(self.prev_others))
            subject = split if split.any() else subject
        diagonal = float(np.hypot(*alpha.shape))
        # pieces the matte split off the subject stay with it
        near = grow(subject, max(1, round(PIECES * diagonal)))
        others = 0
        for k in found:
            piece = labels == k
            if (piece & subject).any():
                continue
            if (piece & near).any() and piece.sum() < 0.25 * subject.sum():
                subject |= piece
            else:
                others += 1
        self.found = max(self.found, 1 + others)
        self.prev = subject
        self.prev_others = (alpha >= 0.5) & ~subject
        keep = grow(subject, max(1, round(FRINGE * diagonal)))
        if (alpha[~keep] >= 0.5).any():
            self.cleared += 1
        return alpha * keep

    def choose(self, labels: np.ndarray, found: list[int]) -> np.ndarray:
        if self.prev is not None:
            overlap = {k: int((self.prev & (labels == k)).sum()) for k in found}
            best = max(overlap, key=lambda k: overlap[k])
            if overlap[best] > 0:
                return labels == best
        return max((labels == k for k in found), key=prominence)

    def describe(self) -> str:
        """For the run line: which vehicles the output holds."""
        if self.found <= 1:
            return "the subject vehicle (no other vehicle seen)"
        return (f"the subject vehicle; others removed in {self.cleared} of {self.frames} frames "
                f"(at most {self.found} vehicles in one)")
