"""Compositing maths and the guided-filter refinement, on exact synthetic truth."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import DEVICES

from streamseg import composite
from streamseg.models import ModelSpec
from streamseg.synthetic import scene


@pytest.mark.parametrize("device", DEVICES)
def test_compose_layers(device):
    frames = torch.rand(2, 3, 8, 10, device=device)
    alpha = torch.rand(2, 1, 8, 10, device=device)
    bg = torch.rand(1, 3, 8, 10, device=device)
    rgb = composite.compose(frames, alpha, "rgb", bg)
    expect = ((frames * alpha + bg * (1 - alpha)) * 255).round().permute(0, 2, 3, 1)
    assert rgb.dtype == torch.uint8 and rgb.shape == (2, 8, 10, 3)
    assert (rgb.float() - expect).abs().max() <= 1
    rgba = composite.compose(frames, alpha, "rgba", None)
    assert rgba.shape == (2, 8, 10, 4)
    assert (rgba[..., 3].float() - alpha[:, 0] * 255).abs().max() <= 0.5
    matte = composite.compose(frames, alpha, "matte", None)
    assert (matte[..., 0] == matte[..., 2]).all() and (matte[..., 0] == rgba[..., 3]).all()


def test_model_size_turns_for_portrait():
    spec = ModelSpec(input_height=256, input_width=448)
    assert composite.model_size(1080, 1920, spec) == (256, 448)
    assert composite.model_size(1920, 1080, spec) == (448, 256)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_refinement_follows_real_edges_better_than_upsampling(seed):
    """Low-resolution truth upsampled to full size vs the same refined with the full-size frame."""
    h, w = 540, 960
    img, mask = scene(np.random.default_rng(seed), h, w)
    frame = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255
    truth = torch.from_numpy(mask.copy())[None, None].float() / 255
    small = composite.downscale(frame, (128, 224))
    alpha_lr = composite.downscale(truth, (128, 224))  # a perfect model's output, at model size
    plain = composite.upsample(alpha_lr, (h, w))
    refined = composite.refine(alpha_lr, small, frame)
    edge = (F.max_pool2d(truth, 9, 1, 4) + F.max_pool2d(-truth, 9, 1, 4)) > 0.5  # a band around the outline
    err_plain = (plain - truth).abs()[edge].mean().item()
    err_refined = (refined - truth).abs()[edge].mean().item()
    assert err_refined < 0.8 * err_plain, (err_refined, err_plain)
    assert (refined - truth).abs().mean() <= (plain - truth).abs().mean()
