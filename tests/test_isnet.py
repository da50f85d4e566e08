"""IS-Net in PyTorch against the ONNX file it takes its weights from: the weight mapping, parity with
onnxruntime at 1024x1024, checkpoints, and our own ONNX export."""

from __future__ import annotations

import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter

from streamseg.models import isnet as isnet_mod
from streamseg.models import load_checkpoint, save_checkpoint
from streamseg.models.isnet import ISNet, isnet_spec, load_onnx_weights, onnx_parameters, upsample_like

# measured on car_image(): 2.6e-4 (the graph computes in FP16, this module in FP32); 1 pixel in 1M differs at 0.5
PARITY_ATOL = 5e-3


def car_image(size: int = 1024, seed: int = 0) -> np.ndarray:
    """A natural-looking HxWx3 uint8 scene made on the spot: sky gradient, noisy road, a shaded red car with
    windows and wheels, slightly blurred."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, size)[:, None, None]
    sky = (1 - y) * np.array([70, 130, 210]) + y * np.array([225, 235, 245])
    road = np.array([95, 95, 100]) + 25 * rng.standard_normal((size, size, 1))
    img = np.where(y < 0.55, sky, road) + 6 * rng.standard_normal((size, size, 3))
    pic = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(pic)
    s = size / 1024
    d.rounded_rectangle([150 * s, 480 * s, 880 * s, 690 * s], radius=60 * s, fill=(170, 25, 30))
    d.polygon([(300 * s, 490 * s), (400 * s, 340 * s), (680 * s, 340 * s), (790 * s, 490 * s)], fill=(150, 20, 25))
    d.polygon([(330 * s, 480 * s), (415 * s, 360 * s), (530 * s, 360 * s), (530 * s, 480 * s)], fill=(40, 55, 75))
    d.polygon([(550 * s, 480 * s), (550 * s, 360 * s), (665 * s, 360 * s), (750 * s, 480 * s)], fill=(40, 55, 75))
    for cx in (300, 730):
        d.ellipse([(cx - 80) * s, 610 * s, (cx + 80) * s, 770 * s], fill=(20, 20, 20))
        d.ellipse([(cx - 35) * s, 655 * s, (cx + 35) * s, 725 * s], fill=(150, 150, 155))
    out = np.asarray(pic.filter(ImageFilter.GaussianBlur(1.2)), dtype=np.float32)
    shade = 1 - 0.25 * np.linspace(0, 1, size)[None, :, None]  # light from the left
    return np.clip(out * shade, 0, 255).astype(np.uint8)


def normalise(img: np.ndarray) -> np.ndarray:
    """What the ONNX file expects, via our spec: (x - mean) / std on [0, 1] RGB == (v - 128) / 256."""
    spec = isnet_spec()
    x = (img.astype(np.float32) / 255 - np.array(spec.mean, np.float32)) / np.array(spec.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def session(path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # on a shared 2-core machine one thread is as fast and fairer
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def model(isnet_onnx) -> ISNet:
    m = ISNet().eval()
    load_onnx_weights(m, isnet_onnx)
    return m


def conv_key(node_name: str) -> str:
    """A Conv node's name, which carries the reference's module path (e.g. /stage4d/rebnconv2d/conv_s1/Conv),
    -> our module's state_dict prefix. Derived from the reference's naming, independently of onnx_parameters."""
    enc_depth = {1: 7, 2: 6, 3: 5, 4: 4, 5: 4, 6: 4}  # stage k and its decoder twin stage kd are RSU-k's depth
    *parts, op = node_name.strip("/").split("/")
    assert op == "Conv", node_name
    if parts == ["conv_in"]:
        return "conv_in"
    if m := re.fullmatch(r"side(\d)", parts[0]):
        return f"side.{int(m[1]) - 1}"
    m = re.fullmatch(r"stage(\d)(d?)", parts[0])
    assert m, node_name
    k, depth = int(m[1]), enc_depth[int(m[1])]
    stage = f"decoder.{5 - k}" if m[2] else f"encoder.{k - 1}"
    conv = re.fullmatch(r"rebnconv(in|\d)(d?)", parts[1])
    assert conv and parts[2:] == ["conv_s1"], node_name
    if conv[1] == "in":
        return f"{stage}.inp"
    i = int(conv[1])
    if conv[2]:
        return f"{stage}.dec.{depth - 1 - i}"
    return f"{stage}.bottom" if i == depth else f"{stage}.enc.{i - 1}"


def test_mapping_is_complete_and_matches_the_graph(isnet_onnx):
    graph = onnx.load(str(isnet_onnx), load_external_data=False).graph
    table = onnx_parameters()
    state = ISNet().state_dict()
    weights = isnet_mod.weight_initializers(graph)
    # every state_dict entry filled exactly once, every weight initializer used, nothing else
    assert sorted(table.values()) == sorted(state) and len(set(table.values())) == len(table)
    assert set(table) == set(weights) and len(weights) == 238
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    assert all(tuple(weights[o].dims) == shapes[k] for o, k in table.items())
    # each Conv node of the graph reads the weights the table gives to the module its name says it is
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert len(convs) == 119 and not [n for n in graph.node if n.op_type == "BatchNormalization"]
    for node in convs:
        key = conv_key(node.name)
        assert (table[node.input[1]], table[node.input[2]]) == (f"{key}.weight", f"{key}.bias"), node.name


def test_load_rejects_an_incomplete_mapping(isnet_onnx, monkeypatch):
    full = onnx_parameters()
    dropped = dict(list(full.items())[:-1])
    monkeypatch.setattr(isnet_mod, "onnx_parameters", lambda model=None: dropped)
    with pytest.raises(ValueError, match="not used.*not filled"):
        load_onnx_weights(ISNet(), isnet_onnx)


def test_parity_with_onnxruntime(model, isnet_onnx):
    x = normalise(car_image())
    want = session(isnet_onnx).run(None, {"input": x})  # mask, side2..6 masks, the six maps the sides read
    with torch.inference_mode():
        got = model(torch.from_numpy(x)).numpy()
    assert got.shape == want[0].shape == (1, 1, 1024, 1024)
    fg = want[0] > 0.5
    assert 0.05 < fg.mean() < 0.6, "the scene should have a clear foreground, else agreement means little"
    diff = np.abs(got - want[0]).max()
    assert diff < PARITY_ATOL, f"max |torch - onnxruntime| = {diff:.2e}"
    assert ((got > 0.5) == fg).mean() > 0.999
    # the heads forward does not run (side2..6), on the graph's own feature maps: cheap, and checks their weights
    with torch.inference_mode():
        for k in range(1, 6):
            side = torch.sigmoid(upsample_like(model.side[k](torch.from_numpy(want[6 + k])), torch.from_numpy(x)))
            assert np.abs(side.numpy() - want[k]).max() < PARITY_ATOL, f"side{k + 1}"


def small_car(height: int, width: int, seed: int) -> torch.Tensor:
    img = Image.fromarray(car_image(256, seed)).resize((width, height), Image.BILINEAR)
    return torch.from_numpy(normalise(np.asarray(img)))


def test_checkpoint_roundtrip(model, tmp_path):
    # half=True as `streamseg models fetch isnet` saves it: the weights are FP16 already, so nothing is lost
    save_checkpoint(tmp_path / "isnet.pt", model, isnet_spec(), {"source": "test"}, half=True)
    loaded, spec, meta = load_checkpoint(tmp_path / "isnet.pt")
    assert spec == isnet_spec() and meta == {"source": "test"} and isinstance(loaded, ISNet)
    x = small_car(144, 208, seed=1)  # not a multiple of 32: the ceil-mode pools give odd sizes deep down
    with torch.inference_mode():
        want = model(x)
        torch.testing.assert_close(loaded(x), want, rtol=0, atol=1e-6)
        torch.testing.assert_close(model.side_outputs(x)[0], want, rtol=0, atol=0)  # forward is side 1


def test_own_onnx_export_runs_in_onnxruntime(model, tmp_path):
    # as streamseg.export does it; traced on noise and compared on other inputs and sizes, so anything that
    # depends on the values or the size of the example (rather than being computed from them) shows
    path = tmp_path / "isnet.onnx"
    dynamic = {0: "batch", 2: "height", 3: "width"}
    torch.onnx.export(model, (torch.rand(1, 3, 256, 256),), str(path), dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": dynamic, "output": dynamic})
    sess = session(path)
    for x in (small_car(256, 256, seed=2), small_car(128, 192, seed=3)):
        (got,) = sess.run(None, {"input": x.numpy()})
        with torch.inference_mode():
            want = model(x).numpy()
        assert got.shape == want.shape == (1, 1, *x.shape[2:])
        diff = np.abs(got - want).max()
        assert diff < 1e-4, f"max |onnxruntime - torch| = {diff:.2e} at {tuple(x.shape)}"
