"""The UNet that separates car from background.

The architecture of the Carvana-style car-segmentation reference: two 3x3 conv+ReLU per level,
max-pool down, bilinear 2x up, concatenation with the skip of the same size, two convs, and a final
3x3 conv to one channel. Widths double per level from `width` (32 in the reference: 32-64-128-256 and
a 512 bottleneck). One definition serves training, export and every backend.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

LEVELS = 4  # pooling steps, so inputs must be a multiple of 2**LEVELS
SIZE_MULTIPLE = 2**LEVELS


@dataclass(frozen=True)
class ModelSpec:
    """What a checkpoint needs besides its weights to be rebuilt and fed correctly."""

    width: int = 32  # channels of the first level; the reference uses 32
    input_height: int = 256  # the size frames are resized to before inference
    input_width: int = 256
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)  # on RGB in [0, 1]
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        for name in ("input_height", "input_width"):
            value = getattr(self, name)
            if value <= 0 or value % SIZE_MULTIPLE:
                raise ValueError(f"{name} = {value} must be a positive multiple of {SIZE_MULTIPLE}")
        if self.width <= 0:
            raise ValueError(f"width = {self.width} must be > 0")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelSpec:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("mean", "std"):
            if k in known:
                known[k] = tuple(known[k])
        return cls(**known)


def double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """RGB in [N,3,H,W] (normalised float), car probability out [N,1,H,W] in [0, 1]."""

    def __init__(self, width: int = 32) -> None:
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
        for m in self.modules():
            # He initialisation for ReLU: with PyTorch's default (smaller) one, this 18-conv net without
            # normalisation barely trained (loss flat after 150 steps; He init: -30%)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for block, skip in zip(self.up, reversed(skips)):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)


def save_checkpoint(path, model: UNet, spec: ModelSpec, meta: dict | None = None, half: bool = False) -> None:
    """Weights + spec + free-form metadata (metrics, how it was trained) in one torch file."""
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu()
             for k, v in model.state_dict().items()}
    torch.save({"format": "streamseg-unet/1", "spec": spec.to_dict(), "state_dict": state, "meta": meta or {}},
               path)


def load_checkpoint(path, device: str | torch.device = "cpu") -> tuple[UNet, ModelSpec, dict]:
    """The model in float32 eval mode on `device`, its spec and its metadata."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != "streamseg-unet/1":
        raise ValueError(f"{path} is not a streamseg model checkpoint (expected format streamseg-unet/1)")
    spec = ModelSpec.from_dict(blob["spec"])
    model = UNet(spec.width)
    model.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()})
    return model.to(device).eval(), spec, blob.get("meta", {})
