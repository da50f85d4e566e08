"""The UNet: shapes, spec checks, checkpoints, and the shipped model."""

from __future__ import annotations

import pytest
import torch

from streamseg.models import ModelSpec, UNet, load_checkpoint, save_checkpoint
from streamseg.weights import default_model_path


@pytest.mark.parametrize("h,w", [(16, 16), (64, 112), (256, 448), (48, 80)])
def test_output_shape_and_range(h, w):
    m = UNet(4).eval()
    with torch.no_grad():
        y = m(torch.rand(2, 3, h, w))
    assert y.shape == (2, 1, h, w) and 0 <= y.min() and y.max() <= 1


def test_reference_widths():
    m = UNet(32)
    convs = [mod for mod in m.modules() if isinstance(mod, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs[:10]] == [32, 32, 64, 64, 128, 128, 256, 256, 512, 512]
    assert convs[-1].out_channels == 1 and convs[-1].kernel_size == (3, 3)


def test_spec_rejects_sizes_not_multiple_of_16():
    with pytest.raises(ValueError, match="multiple of 16"):
        ModelSpec(input_height=250)


def test_checkpoint_roundtrip(tmp_path):
    m = UNet(4).eval()
    spec = ModelSpec(width=4, input_height=64, input_width=96)
    save_checkpoint(tmp_path / "m.pt", m, spec, {"note": "x"})
    m2, spec2, meta = load_checkpoint(tmp_path / "m.pt")
    x = torch.rand(1, 3, 64, 96)
    assert spec2 == spec and meta == {"note": "x"}
    torch.testing.assert_close(m(x), m2(x))


def test_not_a_checkpoint(tmp_path):
    torch.save({"weights": 1}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a streamseg model checkpoint"):
        load_checkpoint(tmp_path / "x.pt")


def test_shipped_model_is_small_and_documented():
    path = default_model_path()
    assert path.stat().st_size < 8e6
    _, spec, meta = load_checkpoint(path)
    assert meta["held_out"]["dice"] > 0.9 and meta["command"].startswith("python -m training.train")
    card = (path.parent / "MODEL_CARD.md").read_text()
    assert f"{meta['held_out']['dice']:.4f}" in card and f"{meta['held_out']['iou']:.4f}" in card


def test_context_branch_joins_a_trained_unet_at_zero_and_counts_once_trained(tmp_path):
    torch.manual_seed(0)
    plain = UNet(4).eval()
    grown = UNet(4, context=True).eval()
    missing, unexpected = grown.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("context.") for k in missing)
    x = torch.rand(2, 3, 64, 112)
    with torch.no_grad():
        torch.testing.assert_close(grown(x), plain(x), rtol=0, atol=0)  # exactly the same network at first
        torch.nn.init.normal_(grown.context.out.weight, std=0.3)  # as training would move it
        assert (grown(x) - plain(x)).abs().max() > 1e-3
    spec = ModelSpec(width=4, context=True, input_height=64, input_width=112)
    save_checkpoint(tmp_path / "c.pt", grown, spec)
    back, spec2, _ = load_checkpoint(tmp_path / "c.pt")
    assert spec2.context and back.context is not None
    torch.testing.assert_close(back(x), grown(x))
