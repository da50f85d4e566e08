"""The CUDA backend: PyTorch on the GPU in FP16 with channels_last."""

from __future__ import annotations

from pathlib import Path

import torch

from streamseg.backends.base import Backend
from streamseg.model import load_checkpoint


class CudaBackend(Backend):
    name = "cuda"
    precision = "fp16"

    def __init__(self, model_path: Path, device: str = "cuda") -> None:
        self.device = torch.device(device)
        model, self.spec, self.meta = load_checkpoint(model_path, self.device)
        self.model = model.half().to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, torch.float16).contiguous(memory_format=torch.channels_last)
        return self.model(x).float().contiguous()
