"""The OpenVINO backend: the CPU runtime chosen by measurement (scripts/cpu_runtimes.py, BENCHMARKS.md).

The model is converted from the checkpoint once (OpenVINO IR, FP32 weights) and cached beside the
engines, keyed by the checkpoint's sha256 and the OpenVINO version; each input shape is compiled on
first use. Precision: "auto" runs in BF16 where the CPU computes it natively (AMX / AVX-512 BF16: about
4x faster than FP32 here, mattes within Dice 0.005 on the evaluation set) and FP32 elsewhere; "fp32"
forces full precision.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch

from streamseg.artifacts import file_sha256, sidecar_path, stale
from streamseg.backends.base import Backend, compute_threads
from streamseg.backends.names import Precision
from streamseg.engine import default_cache_dir, write_file
from streamseg.errors import InputError
from streamseg.files import written_whole
from streamseg.models import load_checkpoint

PrecisionChoice = Literal["auto", "fp32", "bf16"]  # auto: BF16 where the CPU computes it natively
PRECISIONS: tuple[PrecisionChoice, ...] = get_args(PrecisionChoice)


def ir_path(model_path: Path, cache_dir: Path, version: str) -> Path:
    release = version.split("-")[0]  # "2026.4.1-22982-e213a147257-releases/2026/4" -> "2026.4.1"
    return cache_dir / f"{model_path.stem}-{file_sha256(model_path)[:16]}-openvino{release}.xml"


def is_converted(model_path: Path, cache_dir: Path | None = None) -> bool:
    """Whether the model's OpenVINO form is already in the cache (else the first run converts it)."""
    import openvino as ov

    return is_current(ir_path(Path(model_path), cache_dir or default_cache_dir(), ov.__version__), model_path)


def is_current(xml: Path, model_path: Path) -> bool:
    """The cached IR was converted from this checkpoint by this OpenVINO (its sidecar says so)."""
    import openvino as ov

    return stale(xml, "OpenVINO model", lambda: {"checkpoint_sha256": file_sha256(Path(model_path)),
                                                 "openvino": ov.__version__}) is None


def convert(model_path: Path, xml: Path) -> None:
    """The checkpoint as OpenVINO IR (FP32 weights), written whole, with a sidecar."""
    import openvino as ov

    model, spec, _ = load_checkpoint(model_path)
    with warnings.catch_warnings():  # the tracer's deprecation notices say nothing to a user
        warnings.simplefilter("ignore")
        example = torch.rand(1, spec.channels, spec.input_height, spec.input_width)
        converted = ov.convert_model(model.eval(), example_input=example)
    with written_whole(xml, keep_suffix=True) as partial:  # the weights (.bin) are written beside it
        ov.save_model(converted, str(partial), compress_to_fp16=False)
        partial.with_suffix(".bin").replace(xml.with_suffix(".bin"))  # before the .xml names it whole
    write_file(sidecar_path(xml), (json.dumps({
        "checkpoint": str(model_path), "checkpoint_sha256": file_sha256(Path(model_path)),
        "openvino": ov.__version__, "spec": spec.to_dict()}, indent=2) + "\n").encode())


class OpenVinoBackend(Backend):
    name = "openvino"

    def __init__(self, model_path: Path, precision: PrecisionChoice = "auto", cache_dir: Path | None = None,
                 threads: int | None = None) -> None:
        import openvino as ov

        if precision not in PRECISIONS:
            raise InputError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}", "use auto or fp32")
        self.device = torch.device("cpu")
        _, self.spec, self.meta = load_checkpoint(model_path)
        self.core = ov.Core()
        cache = cache_dir or default_cache_dir()
        xml = ir_path(Path(model_path), cache, ov.__version__)
        if is_current(xml, Path(model_path)):
            self.message = f"OpenVINO model cached ({xml.name})"
        else:
            convert(Path(model_path), xml)
            self.message = f"OpenVINO model converted and cached ({xml.name})"
        self.model = self.core.read_model(str(xml))
        self.config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"}
        if precision == "auto":
            native = "BF16" in self.core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
            precision = "bf16" if native else "fp32"
        self.config["INFERENCE_PRECISION_HINT"] = "f32" if precision == "fp32" else "bf16"
        self.config["INFERENCE_NUM_THREADS"] = threads or compute_threads()
        # (batch or -1, height, width) -> infer request. Batch 1, what a CPU run uses, is compiled for that
        # shape (15% faster than a dynamic batch here); other batch sizes share one dynamic-batch compile,
        # since a live run's deadline closes batches of every length and a compile each would stall it.
        self.requests: dict[tuple[int, int, int], Any] = {}  # openvino.InferRequest
        self.precision = self._compile((1, self.spec.input_height, self.spec.input_width))

    def _compile(self, key: tuple[int, int, int]) -> Precision:
        """Compile the model for (batch or -1, height, width); returns the precision OpenVINO runs it in."""
        model = self.model.clone()
        model.reshape({0: [key[0], self.spec.channels, key[1], key[2]]})
        compiled = self.core.compile_model(model, "CPU", self.config)
        self.requests[key] = compiled.create_infer_request()
        hint = str(compiled.get_property("INFERENCE_PRECISION_HINT"))  # e.g. "<Type: 'bfloat16'>"
        return "bf16" if "bfloat16" in hint else "fp16" if "float16" in hint else "fp32"

    def describe(self) -> str:
        return f"{super().describe()}; {self.message}"

    def release(self) -> None:
        # an infer request holds its activations for as long as it lives (the outline network's at 512x896:
        # about 110 MB); compiled again on the next call, 0.1 s
        self.requests.clear()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        key = (1 if x.shape[0] == 1 else -1, x.shape[2], x.shape[3])
        if key not in self.requests:
            self._compile(key)
        request = self.requests[key]
        out = request.infer({0: np.ascontiguousarray(x.detach().float().numpy())})
        return torch.from_numpy(np.array(out[0]))
