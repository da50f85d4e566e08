"""The small interface every inference backend implements."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod

import torch

from streamseg.backends.names import Precision
from streamseg.models import ModelSpec


def compute_threads() -> int:
    """Threads for inference and compositing on the CPU: half the cores, so decoding and encoding (FFmpeg's
    own threads) keep the rest. On 2 cores, 1 compute thread ran 1080p at 12.0 frames/s against 10.6 with
    2 that fought the encoder (BENCHMARKS.md)."""
    return max(1, (os.cpu_count() or 2) // 2)


class Backend(ABC):
    """Runs the network: normalised frames in, car probability out, on `self.device`.

    __call__: x [N,3,h,w] float32 on self.device (h, w multiples of 16) -> alpha [N,1,h,w] float32 in 0..1.
    """

    name: str
    device: torch.device
    spec: ModelSpec
    precision: Precision

    @abstractmethod
    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def close(self) -> None:
        """Release device resources; the backend is unusable afterwards."""

    def release(self) -> None:
        """Free the working memory its calls keep between calls (a runtime's buffers), for a network called once
        a photo; the next call makes it again. Nothing to free by default: PyTorch frees it after each call."""

    def describe(self) -> str:
        return f"{self.name} ({self.precision}) on {self.device}"

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
