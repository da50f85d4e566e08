"""The full-resolution edge stage's network (issue 23): it redraws the car's outline at the frame's own size.

The coarse network sees the frame at 256x448, so on a 1918x1280 photo its outline lies a median 4 px and up to
20 px off the true one (scripts/matte_bounds.py); the guided filter that brings its matte to full size moves the
outline onto colour edges but cannot decide what the coarse matte left undecided. This network follows
BackgroundMattingV2's refiner (Lin et al., CVPR 2021): a small CNN that sees the full-resolution picture and
the guided-filter matte around an uncertain pixel (the shipped one about 140 px across: a four-level UNet at
full, 1/2, 1/4 and 1/8 size, dilated from 1/4 on; the earlier three-level one saw about 60 px) and corrects the
matte's logit. Trained on the exact 1918x1280 Carvana masks
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


MARGINS = {3: 32, 4: 72}  # px the network reaches each side (30 and 70, measured by gradient), rounded up


def margin(levels: int) -> int:
    """px of context each side of a tile the network needs: the stage cuts its tiles with this margin and training
    trims it from the loss, so a tile's middle is what one convolution over the whole picture gives."""
    if levels not in MARGINS:
        raise ValueError(f"levels = {levels}: the edge network comes with {sorted(MARGINS)} levels")
    return MARGINS[levels]


class EdgeRefiner(nn.Module):
    """x [N,4,H,W]: the picture (RGB 0..1) and the guided-filter matte (0..1) -> refined matte [N,1,H,W] 0..1.
    H and W must be multiples of 2**(levels - 1). `levels` sizes the reach: a UNet at full, 1/2, 1/4 ... size,
    dilated from 1/4 on (three levels: about 60 px across; four: about 140)."""

    def __init__(self, width: int = 16, levels: int = 3) -> None:
        super().__init__()
        margin(levels)  # a depth with a known reach
        self.levels = levels
        chans = [width * (k + 1) for k in range(levels)]  # w, 2w, 3w, ...
        for k in range(levels):  # enc0, enc1, ...; dec0, dec1, ... (the names of the three-level weights)
            setattr(self, f"enc{k}", _convs(chans[k - 1] if k else 4, chans[k], dilation=2 if k >= 2 else 1))
        for k in range(levels - 1):
            setattr(self, f"dec{k}", nn.Sequential(nn.Conv2d(chans[k + 1] + chans[k], chans[k], 3, padding=1),
                                                   nn.ReLU(inplace=True)))
        self.head = nn.Conv2d(width, 1, 3, padding=1)
        assert self.head.bias is not None
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = x[:, 3:4]
        skips = [self.get_submodule("enc0")(x - 0.5)]
        for k in range(1, self.levels):
            skips.append(self.get_submodule(f"enc{k}")(F.max_pool2d(skips[-1], 2)))
        d = skips.pop()
        for k in range(self.levels - 2, -1, -1):
            up = F.interpolate(d, scale_factor=2.0, mode="bilinear")
            d = self.get_submodule(f"dec{k}")(torch.cat([up, skips[k]], 1))
        a = alpha.clamp(1e-3, 1 - 1e-3)
        return torch.sigmoid(torch.log(a / (1 - a)) + self.head(d))  # the logit, written out for every exporter
