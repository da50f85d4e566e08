"""The UNet that separates car from background.

The architecture of the Carvana-style car-segmentation reference: two 3x3 conv+ReLU per level,
max-pool down, bilinear 2x up, concatenation with the skip of the same size, two convs, and a final
3x3 conv to one channel. Widths double per level from `width` (32 in the reference: 32-64-128-256 and
a 512 bottleneck). One definition serves training, export and every backend.

One addition, optional (`context=True`): a branch at the bottleneck that sees wider than the plain UNet.
Its receptive field is about 190 pixels of a 256x448 input, narrower than a car that fills the frame, so
the middle of a bus's flank is judged from paint and windows alone. The branch adds dilated convolutions
(3x the reach at that level) and the picture's mean features, through a zero-initialised 1x1 convolution:
a trained UNet given the branch computes exactly what it did, and training starts from there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from streamseg.models.spec import LEVELS


def double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.ReLU(inplace=True),
    )


class Context(nn.Module):
    """x + out(dilated convs of x + the picture's mean features); `out` starts at zero (see above)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = channels // 2
        self.spatial = nn.Sequential(
            nn.Conv2d(channels, half, 3, padding=2, dilation=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(half, half, 3, padding=4, dilation=4),
            nn.ReLU(inplace=True),
        )
        self.whole = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, half, 1), nn.ReLU(inplace=True))
        self.out = nn.Conv2d(half, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.out(self.spatial(x) + self.whole(x))


class UNet(nn.Module):
    """RGB in [N,3,H,W] (normalised float), car probability out [N,1,H,W] in [0, 1]."""

    def __init__(self, width: int = 32, context: bool = False) -> None:
        super().__init__()
        widths = [width * 2**i for i in range(LEVELS + 1)]  # e.g. 32, 64, 128, 256, 512
        self.down = nn.ModuleList()
        cin = 3
        for w in widths[:-1]:
            self.down.append(double_conv(cin, w))
            cin = w
        self.bottleneck = double_conv(widths[-2], widths[-1])
        self.up = nn.ModuleList(
            double_conv(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(LEVELS))
        )
        self.head = nn.Conv2d(widths[0], 1, 3, padding=1)
        self.context = Context(widths[-1]) if context else None
        for m in self.modules():
            # He initialisation for ReLU: with PyTorch's default (smaller) one, this 18-conv net without
            # normalisation barely trained (loss flat after 150 steps; He init: -30%)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:  # every conv here has one
                    nn.init.zeros_(m.bias)
        if self.context is not None:
            nn.init.zeros_(self.context.out.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        if self.context is not None:
            x = self.context(x)
        for block, skip in zip(self.up, reversed(skips)):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)
