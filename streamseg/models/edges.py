"""The full-resolution edge stage's network (issue 23): it redraws the car's outline at the frame's own size.

The coarse network sees the frame at 256x448, so on a 1918x1280 photo its outline lies a median 4 px and up to
20 px off the true one (scripts/matte_bounds.py); the guided filter that brings its matte to full size moves the
outline onto colour edges but cannot decide what the coarse matte left undecided. This network follows
BackgroundMattingV2's refiner (Lin et al., CVPR 2021): a small CNN that sees the full-resolution picture and
the guided-filter matte around an uncertain pixel (about 70 px: a three-level UNet at full, 1/2 and 1/4 size,
dilated at 1/4) and corrects the matte's logit. Trained on the exact 1918x1280 Carvana masks
(training/edge_refiner.py); its last layer starts at zero, so an untrained one is the guided filter exactly.
streamseg.edges runs it on tiles of the uncertain band only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _convs(cin: int, cout: int, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=dilation, dilation=dilation), nn.ReLU(inplace=True))


class EdgeRefiner(nn.Module):
    """x [N,4,H,W]: the picture (RGB 0..1) and the guided-filter matte (0..1) -> refined matte [N,1,H,W] 0..1.
    H and W must be multiples of 4."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = width
        self.enc0, self.enc1, self.enc2 = _convs(4, w), _convs(w, 2 * w), _convs(2 * w, 3 * w, dilation=2)
        self.dec1 = nn.Sequential(nn.Conv2d(5 * w, 2 * w, 3, padding=1), nn.ReLU(inplace=True))
        self.dec0 = nn.Sequential(nn.Conv2d(3 * w, w, 3, padding=1), nn.ReLU(inplace=True))
        self.head = nn.Conv2d(w, 1, 3, padding=1)
        assert self.head.bias is not None
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = x[:, 3:4]
        e0 = self.enc0(x - 0.5)
        e1 = self.enc1(F.max_pool2d(e0, 2))
        e2 = self.enc2(F.max_pool2d(e1, 2))
        d1 = self.dec1(torch.cat([F.interpolate(e2, scale_factor=2.0, mode="bilinear"), e1], 1))
        d0 = self.dec0(torch.cat([F.interpolate(d1, scale_factor=2.0, mode="bilinear"), e0], 1))
        a = alpha.clamp(1e-3, 1 - 1e-3)
        return torch.sigmoid(torch.log(a / (1 - a)) + self.head(d0))  # the logit, written out for every exporter
