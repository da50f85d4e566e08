"""ONNX export (streamseg/export.py): onnxruntime on the CPU must compute what PyTorch computes, at
other batch sizes and frame sizes than the one traced, and the sidecar must describe the file.

Tolerances (max absolute difference of the alpha, which lies in 0..1, against the FP32 PyTorch model):
FP32 graph 1e-4; FP16 graph 5e-3 (FP16 keeps about 3 significant digits; the tiny random model here
measures about 1e-4).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import cli

from streamseg.errors import InputError
from streamseg.export import OPSET, export_onnx, trace_size
from streamseg.models import ModelSpec, UNet, load_checkpoint, save_checkpoint

onnx = pytest.importorskip("onnx", reason="pip install -e '.[export]'")
ort = pytest.importorskip("onnxruntime", reason="pip install -e '.[export]'")

FP32_TOLERANCE = 1e-4
FP16_TOLERANCE = 5e-3
SPEC = ModelSpec(width=4, input_height=64, input_width=112, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
# the traced size, then other batch sizes and a portrait size: the dynamic axes must really be dynamic
SHAPES = [(1, 3, 64, 112), (3, 3, 64, 112), (2, 3, 96, 48)]


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "context"])
def checkpoint(tmp_path_factory, request):
    """A tiny UNet, plain and with the context branch (its output weights made non-zero, so the branch
    counts: at zero it would export as nothing)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("export") / "tiny.pt"
    model = UNet(SPEC.width, context=request.param)
    if model.context is not None:
        torch.nn.init.normal_(model.context.out.weight, std=0.3)
    save_checkpoint(path, model, replace(SPEC, context=request.param), {"held_out": {"dice": 0.5}})
    return path


@pytest.fixture(scope="module")
def exported(checkpoint):
    """{"fp32": path, "fp16": path}"""
    return {p: export_onnx(checkpoint, checkpoint.parent / f"tiny-{p}.onnx", fp16=p == "fp16")
            for p in ("fp32", "fp16")}


def max_difference(onnx_path, checkpoint, shape, dtype) -> float:
    model, _, _ = load_checkpoint(checkpoint)
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(sum(shape)))
    with torch.no_grad():
        expected = model(x).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["alpha"], {"frames": x.numpy().astype(dtype)})
    assert got.shape == (shape[0], 1, shape[2], shape[3]) and got.dtype == dtype
    return float(np.abs(got.astype(np.float32) - expected).max())


@pytest.mark.parametrize("shape", SHAPES)
def test_fp32_graph_matches_pytorch(exported, checkpoint, shape):
    assert max_difference(exported["fp32"], checkpoint, shape, np.float32) <= FP32_TOLERANCE


@pytest.mark.parametrize("shape", SHAPES)
def test_fp16_graph_matches_pytorch(exported, checkpoint, shape):
    assert max_difference(exported["fp16"], checkpoint, shape, np.float16) <= FP16_TOLERANCE


def test_fp16_graph_is_half_throughout(exported):
    """TensorRT 11 builds strongly typed networks: any FP32 tensor left in the graph would run in FP32."""
    graph = onnx.shape_inference.infer_shapes(onnx.load(str(exported["fp16"]))).graph
    half, single = onnx.TensorProto.FLOAT16, onnx.TensorProto.FLOAT
    assert {v.type.tensor_type.elem_type for v in [*graph.input, *graph.output]} == {half}
    assert {t.data_type for t in graph.initializer if t.data_type in (half, single)} == {half}
    assert single not in {v.type.tensor_type.elem_type for v in graph.value_info}
    casts = [a.i for n in graph.node if n.op_type == "Cast" for a in n.attribute if a.name == "to"]
    assert single not in casts


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_dynamic_axes_and_names(exported, precision):
    graph = onnx.load(str(exported[precision])).graph
    for value, channels in ((graph.input[0], 3), (graph.output[0], 1)):
        dims = value.type.tensor_type.shape.dim
        assert [d.dim_param for d in dims] == ["batch", "", "height", "width"]
        assert dims[1].dim_value == channels
    assert (graph.input[0].name, graph.output[0].name) == ("frames", "alpha")


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_sidecar(exported, checkpoint, precision):
    path = exported[precision]
    side = json.loads(path.with_name(path.name + ".json").read_text())
    dtype = "float16" if precision == "fp16" else "float32"
    assert side["onnx_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert side["checkpoint"]["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert side["precision"] == precision
    assert side["input"] == {"name": "frames", "shape": ["batch", 3, "height", "width"], "dtype": dtype}
    assert side["output"]["name"] == "alpha" and side["output"]["dtype"] == dtype
    pre = side["preprocessing"]
    assert (pre["input_height"], pre["input_width"]) == (64, 112)
    assert pre["channel_order"] == "RGB" and pre["value_range"] == [0.0, 1.0] and pre["dtype"] == dtype
    assert pre["mean"] == list(SPEC.mean) and pre["std"] == list(SPEC.std)
    assert ModelSpec.from_dict(side["spec"]) == load_checkpoint(checkpoint)[1]
    assert side["size_multiple"] == 16
    assert side["opset"] == OPSET >= 17
    assert onnx.load(str(path)).opset_import[0].version == OPSET
    assert side["torch"] == torch.__version__


def test_large_input_is_traced_small_and_exact_at_its_size(tmp_path):
    """A model whose input is larger than export traces at (tracing FP16 on the CPU is slow: IS-Net at 1024
    took minutes) is still the same network at its own size and at others."""
    torch.manual_seed(1)
    spec = replace(SPEC, input_height=512, input_width=896)
    save_checkpoint(tmp_path / "big.pt", UNet(spec.width), spec)
    assert trace_size(512, 896) == (160, 256) and trace_size(64, 112) == (64, 112)
    path = export_onnx(tmp_path / "big.pt", tmp_path / "big.onnx", fp16=True)
    for shape in ((1, 3, 512, 896), (2, 3, 160, 256), (1, 3, 96, 48)):
        assert max_difference(path, tmp_path / "big.pt", shape, np.float16) <= FP16_TOLERANCE


def test_command_line(checkpoint, tmp_path):
    out = tmp_path / "sub" / "cli.onnx"
    r = cli("export", "--model", checkpoint, "--out", out, "--fp16")
    assert r.code == 0 and "wrote" in r.out, r
    assert out.is_file() and (tmp_path / "sub" / "cli.onnx.json").is_file()
    assert not list(out.parent.glob(".*partial"))


def test_bad_checkpoint(tmp_path):
    with pytest.raises(InputError, match="model not found"):
        export_onnx(tmp_path / "missing.pt", tmp_path / "x.onnx")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not a streamseg model checkpoint"):
        export_onnx(tmp_path / "other.pt", tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()
