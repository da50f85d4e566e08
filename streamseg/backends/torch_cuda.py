"""The CUDA backend: PyTorch on the GPU in FP16 with channels_last, replayed from CUDA graphs.

At a few milliseconds per batch, launching the UNet's ~60 kernels one by one costs as much as running
them; a CUDA graph captured once per input shape (batch size x height x width) launches them all at once.
"""

from __future__ import annotations

from pathlib import Path

import torch

from streamseg.backends.base import Backend
from streamseg.models import channels_last, load_checkpoint


class CudaBackend(Backend):
    name = "cuda"
    precision = "fp16"

    def __init__(self, model_path: Path, device: str = "cuda", graphs: bool = True) -> None:
        self.device = torch.device(device)
        model, self.spec, self.meta = load_checkpoint(model_path, self.device)
        self.model = channels_last(model.half())
        self.use_graphs = graphs
        self.graphs: dict[tuple[int, ...], tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}

    def describe(self) -> str:
        return super().describe() + (", CUDA graphs" if self.use_graphs else "")

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, torch.float16).contiguous(memory_format=torch.channels_last)
        if not self.use_graphs:
            return self.model(x).float()
        key = tuple(x.shape)
        if key not in self.graphs:
            self.graphs[key] = self._capture(x)
        graph, static_in, static_out = self.graphs[key]
        static_in.copy_(x)
        graph.replay()
        return static_out.float()  # a new tensor: the next replay overwrites static_out

    def _capture(self, x: torch.Tensor) -> tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]:
        static_in = x.clone()
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):  # warm-up on a side stream, as capture requires (cuDNN picks kernels)
            for _ in range(3):
                self.model(static_in)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self.model(static_in)
        return graph, static_in, static_out

    def close(self) -> None:
        self.graphs.clear()
