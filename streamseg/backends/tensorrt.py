"""The TensorRT backend: the model as a TensorRT engine (FP16), built once per GPU and TensorRT version
and cached (streamseg.engine.ensure_engine).

PyTorch owns all GPU memory: the engine reads the input tensor and writes an output tensor that torch
allocated, through their data_ptr(), on torch's current CUDA stream, so it is ordered with the torch work
before and after it without synchronising.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from streamseg.backends.base import Backend
from streamseg.engine import EngineError, EngineProfile, default_cache_dir, ensure_engine
from streamseg.errors import InputError
from streamseg.models import load_checkpoint

if TYPE_CHECKING:
    import tensorrt as trt


def torch_dtype(dtype: trt.DataType) -> torch.dtype:
    import tensorrt as trt

    known = {trt.DataType.HALF: torch.float16, trt.DataType.FLOAT: torch.float32}
    if dtype not in known:
        raise EngineError(f"the engine uses {dtype} tensors; streamseg feeds float16 or float32",
                          "rebuild it with `streamseg build-engine`")
    return known[dtype]


class TensorRTBackend(Backend):
    name = "tensorrt"
    precision = "fp16"

    def __init__(self, model_path: Path, cache_dir: Path | None = None, device: str = "cuda",
                 profile: EngineProfile | None = None) -> None:
        self.device = torch.device(device)
        _, self.spec, self.meta = load_checkpoint(model_path)
        profile = profile or EngineProfile(self.spec.input_height, self.spec.input_width,
                                          channels=self.spec.channels)
        # first, as it raises a clear error where TensorRT or the GPU is missing
        engine_path, self.engine_message = ensure_engine(Path(model_path), cache_dir or default_cache_dir(),
                                                         profile, fp16=True, device=self.device)
        import tensorrt as trt

        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if self.engine is None:
            raise EngineError(f"TensorRT could not load {engine_path}",
                              f"delete it and run again to rebuild it (cache: {engine_path.parent})")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise EngineError(f"{engine_path} has inputs {inputs} and outputs {outputs}; expected one each",
                              "rebuild it with `streamseg build-engine`")
        self.input_name, self.output_name = inputs[0], outputs[0]
        self.input_dtype = torch_dtype(self.engine.get_tensor_dtype(self.input_name))
        self.output_dtype = torch_dtype(self.engine.get_tensor_dtype(self.output_name))
        low, _, high = self.engine.get_tensor_profile_shape(self.input_name, 0)
        self.min_shape: tuple[int, ...] = tuple(low[:])  # Dims -> tuple
        self.max_shape: tuple[int, ...] = tuple(high[:])

    def describe(self) -> str:
        return f"{super().describe()}; {self.engine_message}"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x [N,3,h,w] float32 normalised -> alpha [N,1,h,w] float32; batches larger than the engine's
        maximum run in parts."""
        parts = [self.run_engine(part) for part in x.split(self.max_shape[0])]
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def run_engine(self, x: torch.Tensor) -> torch.Tensor:
        shape = tuple(x.shape)
        if len(shape) != 4 or any(not lo <= s <= hi for lo, s, hi in zip(self.min_shape, shape, self.max_shape)):
            raise InputError(f"input shape {shape} is outside the engine's range {self.min_shape} .. {self.max_shape}",
                             f"feed frames resized to the model's input size {self.spec.input_height}x"
                             f"{self.spec.input_width} (turned for portrait frames)")
        x = x.to(self.device, self.input_dtype).contiguous()
        alpha = torch.empty((shape[0], 1, shape[2], shape[3]), dtype=self.output_dtype, device=self.device)
        if not self.context.set_input_shape(self.input_name, shape):
            raise InputError(f"TensorRT refused input shape {shape}",
                             "rebuild the engine with `streamseg build-engine`")
        self.context.set_tensor_address(self.input_name, x.data_ptr())
        self.context.set_tensor_address(self.output_name, alpha.data_ptr())
        # x may be freed when this returns: torch's allocator only reuses it for work queued later on this
        # same stream, i.e. after the engine has read it
        if not self.context.execute_async_v3(torch.cuda.current_stream(self.device).cuda_stream):
            raise EngineError("TensorRT failed to run the engine", "see TensorRT's messages above")
        return alpha.float()

    def close(self) -> None:
        # the context before the engine before the runtime, as TensorRT requires
        for name in ("context", "engine", "runtime"):
            if hasattr(self, name):
                delattr(self, name)
