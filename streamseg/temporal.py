"""TemporalSmoother: steadies the matte from frame to frame without making it lag behind motion.

Where nothing moves, the matte still flickers a little: sensor noise and compression change each frame
slightly, and the full-resolution refinement follows that noise at the edges. Each pixel of the matte is
pulled toward the previous frame's, but only as far as the picture there is unchanged (judged at model
resolution, where averaging keeps noise from looking like motion) and the two mattes already agree:
where the car or the camera moves, the new matte is taken as it is.

Measured (scripts/measure_smoothing.py, BENCHMARKS.md): on a parked car with sensor noise, frame-to-frame
matte change -34% to -50%; on a driving car, IoU against the true masks unchanged (no lag).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class TemporalSmoother:
    def __init__(self, strength: float = 0.7, image_sigma: float = 0.04, alpha_tau: float = 0.2) -> None:
        if not 0 <= strength < 1:
            raise ValueError(f"strength = {strength} must be in [0, 1)")
        self.strength, self.image_sigma, self.alpha_tau = strength, image_sigma, alpha_tau
        self.prev_alpha: torch.Tensor | None = None
        self.prev_image: torch.Tensor | None = None

    def __call__(self, alpha: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """alpha [N,1,H,W] (full resolution) and image [N,3,h,w] (model resolution: averaging over pixels
        keeps sensor noise from looking like motion) of consecutive frames, in order."""
        out = []
        for a, im in zip(alpha.split(1), image.split(1)):
            prev_a = self.prev_alpha
            still = self.stillness(im)
            if still is not None and prev_a is not None and prev_a.shape == a.shape:
                still = F.interpolate(still, size=a.shape[-2:], mode="bilinear", align_corners=False)
                agree = torch.exp(-(a - prev_a).abs() / self.alpha_tau)
                a = torch.lerp(a, prev_a, self.strength * still * agree)
            self.prev_alpha = a
            out.append(a)
        return torch.cat(out)

    def stillness(self, image: torch.Tensor) -> torch.Tensor | None:
        """[1,1,h,w]: 1 where this frame's picture [1,3,h,w] equals the previous one's, falling toward 0
        as it changes; None for the first frame (or after a size change). Remembers `image`."""
        prev, self.prev_image = self.prev_image, image
        if prev is None or prev.shape != image.shape:
            return None
        return torch.exp(-(image - prev).abs().mean(1, keepdim=True) / self.image_sigma)
