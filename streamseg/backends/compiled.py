"""The compiled backend: the model as an AOTInductor package (streamseg.aot), the engine to use on a GPU
where TensorRT is absent. Built on first use (minutes) and cached; FP16 on a GPU, FP32 on a CPU."""

from __future__ import annotations

from pathlib import Path

import torch

from streamseg.aot import ensure_package, precision_for
from streamseg.backends.base import Backend
from streamseg.engine import EngineProfile, default_cache_dir
from streamseg.errors import InputError
from streamseg.models import load_checkpoint


class CompiledBackend(Backend):
    name = "compiled"

    def __init__(self, model_path: Path, device: str | None = None, cache_dir: Path | None = None,
                 profile: EngineProfile | None = None) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        _, self.spec, self.meta = load_checkpoint(model_path)
        self.profile = profile or EngineProfile(self.spec.input_height, self.spec.input_width,
                                                channels=self.spec.channels)
        self.precision = precision_for(self.device, fp16=True)
        self.dtype = torch.float16 if self.precision == "fp16" else torch.float32
        path, self.message = ensure_package(Path(model_path), cache_dir or default_cache_dir(), self.device,
                                            self.profile)
        index = self.device.index if self.device.type == "cuda" and self.device.index is not None else -1
        self.runner = torch._inductor.aoti_load_package(str(path), device_index=index)

    def describe(self) -> str:
        return f"{super().describe()}; {self.message}"

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        low = min(self.profile.height, self.profile.width)
        high = max(self.profile.height, self.profile.width)
        if not all(low <= s <= high for s in x.shape[-2:]):
            raise InputError(f"input size {tuple(x.shape[-2:])} is outside the compiled engine's {low}..{high}",
                             "rebuild it for this size with `streamseg build-engine --engine compiled`")
        x = x.to(self.device, self.dtype).contiguous(memory_format=torch.channels_last)
        parts = [self.runner(part) for part in x.split(self.profile.max_batch)]
        return (parts[0] if len(parts) == 1 else torch.cat(parts)).float()
