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
    assert installed_path("isnet") == tmp_path / "models" / "isnet.pt"
    with pytest.raises(InputError, match="not installed") as e:
        resolve_model("isnet")
    assert "streamseg models fetch isnet" in e.value.fix
    with pytest.raises(InputError, match="model not found"):
        resolve_model(tmp_path / "nosuch.pt")
    r = cli("run", "x.mp4", "--model", "isnet")
    assert r.code == 2 and "not installed" in r.err, r


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

    _, spec, meta = load_checkpoint(resolve_model("isnet"))
    assert spec.arch == "isnet" and (spec.input_height, spec.input_width) == (1024, 1024)
    assert meta["onnx_sha256"] == SOURCES["isnet"].sha256 and "MIT" in meta["licence"]
    assert not list((tmp_path / "models").glob(".*partial"))

    rows = {m["name"]: m for m in json.loads(cli("models", "list", "--json").out)}
    assert rows["isnet"]["installed"] and rows["default"]["installed"]


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
    assert "model isnet (isnet, input 1024x1024" in r.err
    frames, _ = decode_all(out)
    assert len(frames) == 2
    matte = frames[0][..., 0] > 127
    truth = masks[0] > 0.5
    dice = 2 * (matte & truth).sum() / (matte.sum() + truth.sum())
    # IS-Net is a salient-object model: in the street scene it takes the buildings, in the studio the car
    assert dice > 0.8, dice
