"""Temporal smoothing: calmer where nothing moves, no lag where something does."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from streamseg.temporal import FlowSteadier, TemporalSmoother


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


# -- FlowSteadier: steadied along the motion, never dragged onto a car that jumped ------------------------------


def textured(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth random texture [h,w,3] 0..1 that optical flow can follow."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((h // 8, w // 8, 3)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def scene(x: int, h: int = 128, w: int = 224) -> tuple[np.ndarray, np.ndarray]:
    """The picture [1,3,h,w] with a textured 'car' (60x100) whose left edge is at x, and its mask [h,w]."""
    img = textured(h, w, 1)
    car = textured(60, 100, 2) * 0.6 + 0.4
    img[40:100, x:x + 100] = car
    mask = np.zeros((h, w), np.float32)
    mask[40:100, x:x + 100] = 1
    return img, mask


def run_steadier(xs: list[int], noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The car at each x in turn, its mask given as the network's matte with an outline that wobbles;
    returns (steadied mattes, the mattes given, true masks), each [T,h,w]."""
    rng = np.random.default_rng(seed)
    steadier = FlowSteadier()
    given, out, truth = [], [], []
    for x in xs:
        img, mask = scene(x)
        # a network's matte: a soft outline that wobbles by up to `noise` px from frame to frame
        dx, dy = rng.uniform(-noise, noise, 2)
        shifted = cv2.warpAffine(mask, np.float32([[1, 0, dx], [0, 1, dy]]), mask.shape[::-1])
        alpha = cv2.GaussianBlur(shifted, (0, 0), 1.0).astype(np.float32)
        res = steadier(torch.from_numpy(alpha)[None, None], torch.from_numpy(img).permute(2, 0, 1)[None])
        given.append(alpha)
        out.append(res[0, 0].numpy())
        truth.append(mask)
    return np.stack(out), np.stack(given), np.stack(truth)


def flicker(alpha: np.ndarray, truth: np.ndarray) -> float:
    """Frame-to-frame matte change where the truth does not change."""
    steady = truth[1:] == truth[:-1]
    return float((np.abs(alpha[1:] - alpha[:-1]) * steady).sum() / steady.sum())


def test_flow_steadier_calms_a_moving_outline():
    out, given, truth = run_steadier(list(range(20, 80, 3)), noise=1.5)
    assert flicker(out, truth) < 0.9 * flicker(given, truth)  # measured 0.86


def test_flow_steadier_never_drags_a_stale_matte_onto_a_jump():
    """A whip pan: the car jumps 60 px between two frames. The new matte is taken as it is: no trace of the
    old position, nothing missing at the new one."""
    out, given, truth = run_steadier([20, 22, 24, 84, 86], noise=0.0)
    old_only = (truth[2] > 0.5) & (truth[3] < 0.5)
    stale = (out[3] - given[3])[old_only]
    assert stale.max() < 0.1 and stale.mean() < 0.002, (stale.max(), stale.mean())  # measured 0.058, 0.0001
    assert (given[3] - out[3])[truth[3] > 0.5].max() < 0.1
