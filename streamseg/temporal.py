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

from typing import Any

import numpy as np
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


class FlowSteadier:
    """Steadies the network's matte along the motion: each frame's matte (at model resolution) is pulled toward
    the previous frame's steadied matte carried to this frame by optical flow (OpenCV's DIS, a few ms at
    256x448 on a CPU), so the outline stops shimmering where the car or the camera moves smoothly.

    The pull is trusted only where the flow is right and the mattes agree: it fades where the previous
    picture, carried by the flow, does not match this one (the flow failed: a whip pan, an occlusion, a cut),
    and where the two mattes differ a lot (the car really moved there). So a stale matte is never dragged
    onto a car that jumped (tests/test_temporal.py, the whip-pan clip of scripts/measure_footage.py).
    """

    def __init__(self, strength: float = 0.85, image_tau: float = 0.05, alpha_tau: float = 0.25) -> None:
        if not 0 <= strength < 1:
            raise ValueError(f"strength = {strength} must be in [0, 1)")
        self.strength, self.image_tau, self.alpha_tau = strength, image_tau, alpha_tau
        self.prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # grey uint8, rgb, steadied alpha
        self.flow: Any = None  # cv2.DISOpticalFlow, made on first use
        self.grid: tuple[np.ndarray, np.ndarray] | None = None  # each pixel's x and y, for the frame size

    def __call__(self, alpha_lr: torch.Tensor, small: torch.Tensor) -> torch.Tensor:
        """alpha_lr [N,1,h,w] 0..1 and small [N,3,h,w] 0..1 (the model's input picture) of consecutive frames."""
        alpha = alpha_lr.detach().float().cpu().numpy()
        rgb = small.detach().float().cpu().permute(0, 2, 3, 1).contiguous().numpy()
        out = np.empty_like(alpha)
        for k in range(len(alpha)):
            out[k, 0] = self.frame(alpha[k, 0], rgb[k])
        return torch.from_numpy(out).to(alpha_lr.device, alpha_lr.dtype)

    def frame(self, alpha: np.ndarray, rgb: np.ndarray) -> np.ndarray:
        import cv2  # here: the CLI imports this package's modules for their options and starts faster without

        grey = cv2.cvtColor((rgb * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
        if self.prev is not None and self.prev[0].shape == grey.shape:
            prev_grey, prev_rgb, prev_alpha = self.prev
            if self.flow is None:
                self.flow = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
            # where each pixel of this frame was in the previous one
            flow = self.flow.calc(grey, prev_grey, None)
            h, w = grey.shape
            if self.grid is None or self.grid[0].shape != grey.shape:
                self.grid = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            xs, ys = self.grid
            mx, my = xs + flow[..., 0], ys + flow[..., 1]
            carried_alpha = cv2.remap(prev_alpha, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            carried_rgb = cv2.remap(prev_rgb, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
            match = np.exp(-np.abs(rgb - carried_rgb).mean(2) / self.image_tau)
            agree = np.exp(-np.abs(alpha - carried_alpha) / self.alpha_tau)
            weight = self.strength * match * agree * inside
            alpha = alpha + weight * (carried_alpha - alpha)
        self.prev = (grey, rgb, alpha.astype(np.float32))
        return alpha
