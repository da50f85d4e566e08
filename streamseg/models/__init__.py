"""Every model in one place: the architectures (unet.py, isnet.py, edges.py), their spec (spec.py), the checkpoint
format they share, and the names a user picks them by (`--model default|isnet|PATH`, names.py)."""

from __future__ import annotations

import torch
from torch import nn

from streamseg.models.spec import ARCHS, LEVELS, SIZE_MULTIPLE, ModelSpec
from streamseg.models.unet import UNet

CHECKPOINT_FORMATS = ("streamseg-model/1", "streamseg-unet/1")  # the second: UNet-only files before IS-Net

__all__ = ["ARCHS", "LEVELS", "SIZE_MULTIPLE", "ModelSpec", "UNet", "build_model", "channels_last",
           "load_checkpoint", "save_checkpoint"]


def build_model(spec: ModelSpec) -> nn.Module:
    """An untrained network of the spec's architecture."""
    if spec.gate is not None:
        from dataclasses import replace

        from streamseg.models.gate import CarGated

        return CarGated(build_model(replace(spec, gate=None)), build_model(spec.gate), spec, spec.gate)
    if spec.arch == "edges":
        from streamseg.models.edges import EdgeRefiner

        return EdgeRefiner(spec.width, spec.levels)
    if spec.arch == "isnet":
        from streamseg.models.isnet import ISNet

        return ISNet()
    return UNet(spec.width, spec.context)


def channels_last(model: nn.Module) -> nn.Module:
    """The model's 4-D weights in channels-last order (faster convolutions in oneDNN, cuDNN and Inductor)."""
    # Module.to takes memory_format at run time, but torch's stubs leave it out of every overload
    return model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]


def save_checkpoint(path, model: nn.Module, spec: ModelSpec, meta: dict | None = None, half: bool = False) -> None:
    """Weights + spec + free-form metadata (metrics, how it was made) in one torch file."""
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu()
             for k, v in model.state_dict().items()}
    torch.save({"format": CHECKPOINT_FORMATS[0], "spec": spec.to_dict(), "state_dict": state, "meta": meta or {}},
               path)


def load_checkpoint(path, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelSpec, dict]:
    """The model in float32 eval mode on `device`, its spec and its metadata."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") not in CHECKPOINT_FORMATS:
        raise ValueError(f"{path} is not a streamseg model checkpoint (expected format {CHECKPOINT_FORMATS[0]})")
    spec = ModelSpec.from_dict(blob["spec"])
    model = build_model(spec)
    model.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()})
    return model.to(device).eval(), spec, blob.get("meta", {})
