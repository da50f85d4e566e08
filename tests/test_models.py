"""Model names (default|isnet|PATH), the model cache, `streamseg models fetch|list`, and IS-Net in a run."""

from __future__ import annotations

import json

import pytest
from conftest import cli, decode_all

from streamseg.errors import InputError
from streamseg.models.fetch import SOURCES, sha256
from streamseg.models.names import installed_path, resolve_model
from streamseg.weights import default_model_path


def test_names_resolve_and_missing_models_say_how_to_install(tmp_path, monkeypatch):
    assert resolve_model("default") == resolve_model(None) == default_model_path()
    assert resolve_model(default_model_path()) == default_model_path()
    monkeypatch.setenv("STREAMSEG_CACHE", str(tmp_path))
    assert installed_path("isnet-salient") == tmp_path / "models" / "isnet.pt"  # what `models fetch isnet` writes
    assert installed_path("isnet") == tmp_path / "models" / "isnet-car.pt"  # made from it and the default
    with pytest.raises(InputError, match="not installed") as e:
        resolve_model("isnet")
    assert "streamseg models fetch isnet" in e.value.fix
    with pytest.raises(InputError, match="model not found"):
        resolve_model(tmp_path / "nosuch.pt")
    for name in ("isnet", "isnet-salient"):
        r = cli("run", "x.mp4", "--model", name)
        assert r.code == 2 and "not installed" in r.err and "streamseg models fetch isnet" in r.err, r


def test_fetch_from_a_file_checks_it_and_installs_a_checkpoint(isnet_onnx, tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMSEG_CACHE", str(tmp_path))
    wrong = tmp_path / "wrong.onnx"
    wrong.write_bytes(b"not the model")
    r = cli("models", "fetch", "isnet", "--from", wrong)
    assert r.code == 2 and "not the expected model" in r.err, r
    assert not (tmp_path / "models" / "isnet.onnx").exists()

    r = cli("models", "fetch", "isnet", "--from", isnet_onnx)
    assert r.code == 0, r
    assert sha256(tmp_path / "models" / "isnet.onnx") == SOURCES["isnet"].sha256
    from streamseg.models import load_checkpoint

    _, spec, meta = load_checkpoint(resolve_model("isnet-salient"))
    assert spec.arch == "isnet" and (spec.input_height, spec.input_width) == (1024, 1024) and spec.gate is None
    assert meta["onnx_sha256"] == SOURCES["isnet"].sha256 and "MIT" in meta["licence"]
    assert not list((tmp_path / "models").glob(".*partial"))

    rows = {m["name"]: m for m in json.loads(cli("models", "list", "--json").out)}
    assert rows["isnet"]["installed"] and rows["isnet-salient"]["installed"] and rows["default"]["installed"]


def test_isnet_is_gated_by_the_default_model_and_remade_when_either_changes(isnet_onnx, tmp_path, monkeypatch):
    import torch

    from streamseg import weights
    from streamseg.models import UNet, load_checkpoint, save_checkpoint

    monkeypatch.setenv("STREAMSEG_CACHE", str(tmp_path))
    assert cli("models", "fetch", "isnet", "--from", isnet_onnx).code == 0
    gated = resolve_model("isnet")
    model, spec, meta = load_checkpoint(gated)
    _, default_spec, _ = load_checkpoint(default_model_path())
    assert spec.gate == default_spec and (spec.input_height, spec.input_width) == (1024, 1024)
    assert "MIT" in meta["licence"] and "default.pt" in meta["gate"]
    made = gated.stat().st_mtime_ns
    assert resolve_model("isnet") == gated and gated.stat().st_mtime_ns == made  # not remade: same sources

    other = tmp_path / "other.pt"  # a new default model: the gate is remade from it
    torch.manual_seed(0)
    save_checkpoint(other, UNet(4), default_spec.__class__(width=4, input_height=64, input_width=112))
    monkeypatch.setattr(weights, "default_model_path", lambda: other)
    _, spec, _ = load_checkpoint(resolve_model("isnet"))
    assert spec.gate is not None and spec.gate.width == 4 and gated.stat().st_mtime_ns != made


def test_run_with_isnet_on_the_cpu(isnet_onnx, media, monkeypatch):
    """IS-Net through the whole pipeline; its checkpoint is converted once per session from the ONNX."""
    from streamseg.sample import SampleSpec, write_sample

    cache = media / "isnet-cache"
    monkeypatch.setenv("STREAMSEG_CACHE", str(cache))
    assert cli("models", "fetch", "isnet", "--from", isnet_onnx).code == 0
    clip = media / "isnet-clip.mp4"
    masks = write_sample(clip, SampleSpec(width=320, height=180, frames=2, fps=25, seed=5, audio=None,
                                                     scene="studio"),
                         keep_masks=True)
    out = media / "isnet-matte.mp4"
    r = cli("run", clip, "--model", "isnet", "-f", "matte", "-o", out, "--batch-size", "1")
    assert r.code == 0, r
    assert "model isnet-car (isnet kept to the car by a UNet, input 1024x1024" in r.err
    frames, _ = decode_all(out)
    assert len(frames) == 2
    matte = frames[0][..., 0] > 127
    truth = masks[0] > 0.5
    dice = 2 * (matte & truth).sum() / (matte.sum() + truth.sum())
    # IS-Net is a salient-object model: in the street scene it takes the buildings, in the studio the car
    assert dice > 0.8, dice


@pytest.mark.parametrize("found_in", ["landscape", "portrait"])
def test_gate_keeps_the_salient_matte_only_where_a_car_is(found_in):
    """CarGated feeds the car network the picture as its own spec normalises it, in landscape and in portrait,
    and keeps the salient matte where it says car (either way), widened by GROW, and nowhere else."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from streamseg.models import ModelSpec
    from streamseg.models.gate import GROW, CarGated

    spec = ModelSpec(arch="isnet", input_height=128, input_width=128, mean=(0.5,) * 3, std=(1.0,) * 3)
    car_spec = ModelSpec(width=4, input_height=32, input_width=64, mean=(0.1, 0.2, 0.3), std=(0.5, 0.4, 0.25))

    class Everything(nn.Module):  # a salient-object network that takes the whole picture
        def forward(self, x):
            return torch.full_like(x[:, :1], 0.8)

    class CarOnTheLeft(nn.Module):  # a car network that finds a car in the left quarter, in one orientation
        def __init__(self):
            super().__init__()
            self.seen = []

        def forward(self, x):
            self.seen.append(x)
            out = torch.zeros_like(x[:, :1])
            if (x.shape[-1] > x.shape[-2]) == (found_in == "landscape"):
                out[..., : x.shape[-1] // 4] = 0.9
            return out

    car = CarOnTheLeft()
    gated = CarGated(Everything(), car, spec, car_spec)
    rgb = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (spec.mean, spec.std))
    out = gated((rgb - mean) / std)
    assert out.shape == (1, 1, 128, 128)
    car_mean, car_std = (torch.tensor(v).view(1, 3, 1, 1) for v in (car_spec.mean, car_spec.std))
    for seen, size in zip(car.seen, ((32, 64), (64, 32)), strict=True):
        small = F.interpolate(F.avg_pool2d(rgb, 2), size=size, mode="bilinear")
        assert torch.allclose(seen, (small - car_mean) / car_std, atol=1e-5)
    assert torch.allclose(out[..., :28], torch.tensor(0.8))  # the car (a quarter of 128 is 32) less the soft border
    reach = 32 + 2 * round(GROW * 32) * 4  # the car, widened and softened (the portrait map is 32 wide, 4x less)
    assert (out[..., reach + 4:] == 0).all() and out[..., 34].max() > 0
