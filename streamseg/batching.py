"""Batcher: decoded frames in, FrameBatch out, in order; a batch closes when full, at the end of the
stream, or (for live input) when its oldest frame has waited max_wait_s."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch

from streamseg.io.reader import Frame


@dataclass(frozen=True)
class FrameBatch:
    frames: torch.Tensor  # [N,H,W,3] uint8 on the host (pinned when feeding a GPU), or on the GPU (NVDEC)
    pts: list[int]  # N timestamps in the input's time base
    arrived: list[float]  # N time.monotonic() values: when each frame reached the batcher
    first_index: int  # position of frames[0] in the input
    alpha: torch.Tensor | None = None  # [N,H,W] uint8: the input's own transparency (a photo's), or None

    def __len__(self) -> int:
        return len(self.pts)


class Batcher:
    def __init__(self, batch_size: int, pin_memory: bool = False, max_wait_s: float | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size = {batch_size} must be >= 1")
        if max_wait_s is not None and max_wait_s < 0:
            raise ValueError(f"max_wait_s = {max_wait_s} must be >= 0")
        self.batch_size, self.pin_memory, self.max_wait_s = batch_size, pin_memory, max_wait_s
        self.pending: list[Frame] = []
        self.arrived: list[float] = []

    def add(self, frame: Frame) -> FrameBatch | None:
        """Queue a frame; returns a batch when it fills one (or the oldest frame is overdue)."""
        self.pending.append(frame)
        self.arrived.append(time.monotonic())
        full = len(self.pending) >= self.batch_size
        return self.flush() if full or self.wait_left() == 0 else None

    def wait_left(self) -> float | None:
        """Seconds until the pending batch must close; None when nothing waits or there is no limit."""
        if self.max_wait_s is None or not self.pending:
            return None
        return max(0.0, self.arrived[0] + self.max_wait_s - time.monotonic())

    def flush(self) -> FrameBatch | None:
        """Whatever is queued, as a (possibly short) batch; None when empty."""
        if not self.pending:
            return None
        pictures = [f.rgb for f in self.pending]
        if isinstance(pictures[0], torch.Tensor):  # decoded on the GPU (NVDEC): already where it is needed
            frames = torch.stack(cast(list[torch.Tensor], pictures))  # NVDEC decodes every frame
        else:
            frames = torch.from_numpy(np.stack(pictures))
        if self.pin_memory and frames.device.type == "cpu":
            frames = frames.pin_memory()  # lets the host-to-device copy run asynchronously
        batch = FrameBatch(frames, [f.pts for f in self.pending], self.arrived, self.pending[0].index)
        self.pending, self.arrived = [], []
        return batch
