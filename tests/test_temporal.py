"""Temporal smoothing: calmer where nothing moves, no lag where something does."""

from __future__ import annotations

import torch

from streamseg.temporal import TemporalSmoother


def test_steadies_a_still_scene():
    torch.manual_seed(0)
    image = torch.rand(1, 3, 16, 16).expand(20, -1, -1, -1)  # the same picture 20 times
    base = torch.zeros(1, 1, 32, 32)
    base[..., 8:24, 8:24] = 1
    alpha = (base + 0.05 * torch.randn(20, 1, 32, 32)).clamp(0, 1)  # a matte that jitters
    out = TemporalSmoother()(alpha, image)
    assert out.diff(dim=0).abs().mean() < 0.6 * alpha.diff(dim=0).abs().mean()


def test_follows_motion_at_once():
    first, second = torch.zeros(1, 3, 16, 16), torch.ones(1, 3, 16, 16)  # everything changed
    alpha = torch.stack([torch.zeros(1, 32, 32), torch.ones(1, 32, 32)])
    out = TemporalSmoother()(alpha, torch.cat([first, second]))
    assert out[1].min() > 0.99  # the new matte, not a blend with the old


def test_state_carries_across_batches():
    s = TemporalSmoother()
    image = torch.rand(1, 3, 8, 8)
    s(torch.zeros(1, 1, 16, 16), image)
    out = s(torch.full((1, 1, 16, 16), 0.1), image)  # same picture, small matte change: pulled back
    assert 0 < out.mean() < 0.1
