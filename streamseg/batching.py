"""Batcher: decoded frames in, FrameBatch out, in order, with a short tail batch at the end."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from streamseg.io.reader import Frame


@dataclass(frozen=True)
class FrameBatch:
    frames: torch.Tensor  # [N,H,W,3] uint8 on the host (pinned when feeding a GPU)
    pts: list[int]  # N timestamps in the input's time base
    first_index: int  # position of frames[0] in the input

    def __len__(self) -> int:
        return len(self.pts)


class Batcher:
    def __init__(self, batch_size: int, pin_memory: bool = False) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size = {batch_size} must be >= 1")
        self.batch_size, self.pin_memory = batch_size, pin_memory
        self.pending: list[Frame] = []

    def add(self, frame: Frame) -> FrameBatch | None:
        """Queue a frame; returns a full batch when there is one."""
        self.pending.append(frame)
        return self.flush() if len(self.pending) >= self.batch_size else None

    def flush(self) -> FrameBatch | None:
        """Whatever is queued, as a (possibly short) batch; None when empty."""
        if not self.pending:
            return None
        frames = torch.from_numpy(np.stack([f.rgb for f in self.pending]))
        if self.pin_memory:
            frames = frames.pin_memory()  # lets the host-to-device copy run asynchronously
        batch = FrameBatch(frames, [f.pts for f in self.pending], self.pending[0].index)
        self.pending = []
        return batch
