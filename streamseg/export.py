"""Export a streamseg checkpoint (any model: the UNet or IS-Net) to ONNX, the input TensorRT builds its
engines from.

    streamseg export --fp16 --out engines/default-fp16.onnx
    streamseg export --model isnet --out engines/isnet-fp32.onnx

Input "frames" [N,3,H,W] and output "alpha" [N,1,H,W], with N, H and W dynamic (H and W must be multiples
of 16, which ONNX cannot express; the sidecar says so). --fp16 converts the model to half precision
before export, so every tensor in the graph is FP16: TensorRT 11 builds strongly typed networks only and
takes its precision from the graph. A JSON sidecar NAME.onnx.json records how to feed the graph
(preprocessing), the model spec, the file's sha256, the opset and the torch version.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from streamseg.artifacts import file_sha256, sidecar_path
from streamseg.errors import InputError
from streamseg.files import written_whole
from streamseg.models import SIZE_MULTIPLE, ModelSpec, load_checkpoint

INPUT_NAME = "frames"
OUTPUT_NAME = "alpha"
OPSET = 17  # the legacy exporter's well-trodden opset; TensorRT 10 and 11 parse it
SIDECAR_FORMAT = "streamseg-onnx/1"


def preprocessing(spec: ModelSpec, dtype: str) -> dict:
    """How frames must be prepared for the graph (what streamseg.composite does before a backend)."""
    return {
        "input_height": spec.input_height,
        "input_width": spec.input_width,
        "portrait": "height and width swap for portrait frames",
        "layout": "NCHW",
        "channel_order": "RGB",
        "value_range": [0.0, 1.0],  # before normalisation: uint8 / 255
        "mean": list(spec.mean),
        "std": list(spec.std),
        "normalise": "(x - mean) / std per channel",
        "dtype": dtype,
    }


def trace_size(height: int, width: int, longest: int = 256) -> tuple[int, int]:
    """The example's size for tracing: the model's input scaled so its longer side is at most `longest`, in
    multiples of 32. Tracing runs the network once on the CPU, where FP16 convolutions have no fast kernels
    (IS-Net at 1024x1024 took minutes); every axis is dynamic and sizes are read from shapes, so a smaller
    example records the same graph (tests/test_export.py compares it with PyTorch at other sizes)."""
    if max(height, width) <= longest:
        return height, width
    scale = longest / max(height, width)
    return max(32, round(height * scale / 32) * 32), max(32, round(width * scale / 32) * 32)


def export_onnx(ckpt: Path, out: Path, fp16: bool = False, opset: int = OPSET) -> Path:
    """Write `out` (ONNX) and `out`.json (sidecar) from checkpoint `ckpt`; returns `out`."""
    ckpt, out = Path(ckpt), Path(out)
    if not ckpt.is_file():
        raise InputError(f"model not found: {ckpt}", "pass --model default|isnet or a streamseg checkpoint")
    try:
        model, spec, meta = load_checkpoint(ckpt)
    except ValueError as e:
        raise InputError(str(e), "pass --model default|isnet or a streamseg checkpoint") from None
    dtype = torch.float16 if fp16 else torch.float32
    model = model.to(dtype)
    example = torch.rand(1, spec.channels, *trace_size(spec.input_height, spec.input_width), dtype=dtype)
    dynamic = {0: "batch", 2: "height", 3: "width"}
    try:
        with written_whole(out) as partial, warnings.catch_warnings():
            # torch >= 2.9 calls the TorchScript exporter legacy; it needs no onnxscript and exports this
            # plain conv net exactly (tests/test_export.py compares it with PyTorch)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(model, (example,), str(partial), dynamo=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: dynamic, OUTPUT_NAME: dynamic})
    except ImportError as e:
        raise InputError(f"ONNX export needs a package that is missing: {e}",
                         "pip install 'streamseg[export]'") from None
    type_name = "float16" if fp16 else "float32"
    sidecar = {
        "format": SIDECAR_FORMAT,
        "onnx_sha256": file_sha256(out),
        "precision": "fp16" if fp16 else "fp32",
        "input": {"name": INPUT_NAME, "shape": ["batch", spec.channels, "height", "width"], "dtype": type_name},
        "output": {"name": OUTPUT_NAME, "shape": ["batch", 1, "height", "width"], "dtype": type_name,
                   "meaning": "car probability in 0..1"},
        "size_multiple": SIZE_MULTIPLE,
        "preprocessing": preprocessing(spec, type_name),
        "spec": spec.to_dict(),
        "checkpoint": {"path": str(ckpt), "sha256": file_sha256(ckpt), "held_out": meta.get("held_out")},
        "opset": opset,
        "torch": torch.__version__,
    }
    sidecar_path(out).write_text(json.dumps(sidecar, indent=2) + "\n")
    return out
