"""TemporalSmoother: steadies the matte from frame to frame without making it lag behind motion.

A per-frame model's matte flickers a little where nothing moves (sensor noise and compression change
its input slightly). Each pixel's matte is pulled toward the previous frame's, but only as far as the
picture there is unchanged and the two mattes already agree: where the car (or the camera) moves, the
picture changes and the new matte is taken as it is.
"""

from __future__ import annotations

import torch


class TemporalSmoother:
    def __init__(self, strength: float = 0.7, image_sigma: float = 0.04, alpha_tau: float = 0.2) -> None:
        if not 0 <= strength < 1:
            raise ValueError(f"strength = {strength} must be in [0, 1)")
        self.strength, self.image_sigma, self.alpha_tau = strength, image_sigma, alpha_tau
        self.prev_alpha: torch.Tensor | None = None
        self.prev_image: torch.Tensor | None = None

    def __call__(self, alpha: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """alpha [N,1,h,w] and image [N,3,h,w] (model resolution) of consecutive frames, in order."""
        out = []
        for a, im in zip(alpha.split(1), image.split(1)):
            prev_a, prev_im = self.prev_alpha, self.prev_image
            if prev_a is not None and prev_a.shape == a.shape:
                still = torch.exp(-(im - prev_im).abs().mean(1, keepdim=True) / self.image_sigma)
                agree = torch.exp(-(a - prev_a).abs() / self.alpha_tau)
                a = torch.lerp(a, prev_a, self.strength * still * agree)
            self.prev_alpha, self.prev_image = a, im
            out.append(a)
        return torch.cat(out)
