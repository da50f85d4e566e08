"""The CPU backend: the embedded default model in float32 PyTorch; works on any machine."""

from __future__ import annotations

from pathlib import Path

import torch

from streamseg.backends.base import Backend
from streamseg.models import channels_last, load_checkpoint


class CpuBackend(Backend):
    name = "cpu"
    precision = "fp32"

    def __init__(self, model_path: Path) -> None:
        self.device = torch.device("cpu")
        model, self.spec, self.meta = load_checkpoint(model_path, self.device)
        self.model = channels_last(model)  # faster oneDNN convolutions

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.contiguous(memory_format=torch.channels_last)).contiguous()
