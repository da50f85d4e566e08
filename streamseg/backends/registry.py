"""Backend name -> how to tell whether it can run here, and how to make it.

`auto` takes the first that can run, in AUTO_ORDER (names.py), and the run prints which it took.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from streamseg.backends.base import Backend
from streamseg.backends.names import AUTO_ORDER, BACKEND_NAMES, BackendName
from streamseg.errors import InputError


def _cuda_missing() -> str | None:
    return None if torch.cuda.is_available() else "no CUDA GPU visible to PyTorch"


def _tensorrt_missing() -> str | None:
    found = importlib.util.find_spec("tensorrt")
    # origin None: a bare `tensorrt/` folder (e.g. only tensorrt-stubs installed), not the bindings
    if found is None or found.origin is None:
        return "TensorRT is not installed (pip install 'streamseg[tensorrt]' on a machine with an NVIDIA GPU)"
    return _cuda_missing()


def _tensorrt(model_path: Path, device: str | None) -> Backend:
    from streamseg.backends.tensorrt import TensorRTBackend

    return TensorRTBackend(model_path, device=device or "cuda")


def _compiled(model_path: Path, device: str | None) -> Backend:
    from streamseg.backends.compiled import CompiledBackend

    return CompiledBackend(model_path, device=device)


def _compiled_missing() -> str | None:
    from streamseg.aot import compiler_missing

    return compiler_missing()


def _cpu(model_path: Path, device: str | None) -> Backend:
    from streamseg.backends.cpu import CpuBackend

    if device not in (None, "cpu"):
        raise InputError(f"the cpu backend cannot run on device {device!r}", "use --devices cpu, or a GPU backend")
    return CpuBackend(model_path)


def _openvino_missing() -> str | None:
    if importlib.util.find_spec("openvino") is None:
        return "OpenVINO is not installed (pip install openvino)"
    return None


def _openvino(model_path: Path, device: str | None) -> Backend:
    from streamseg.backends.openvino import OpenVinoBackend

    if device not in (None, "cpu"):
        raise InputError(f"the openvino backend runs on the CPU, not {device!r}", "use --devices cpu")
    return OpenVinoBackend(model_path)


def _cuda(model_path: Path, device: str | None) -> Backend:
    from streamseg.backends.torch_cuda import CudaBackend

    return CudaBackend(model_path, device=device or "cuda")


@dataclass(frozen=True)
class BackendEntry:
    name: BackendName
    description: str
    missing: Callable[[], str | None]  # None when it can run here, else why not
    create: Callable[[Path, str | None], Backend]  # (model, device such as "cuda:1"; None: default)
    gpu: bool = False  # runs on a GPU (a Ray worker then asks for one)


BACKENDS: dict[BackendName, BackendEntry] = {
    e.name: e
    for e in (
        BackendEntry("tensorrt", "TensorRT engine, FP16, built once per GPU and TensorRT version and cached",
                     _tensorrt_missing, _tensorrt, gpu=True),
        BackendEntry("compiled", "AOTInductor package (torch.export), FP16 on a GPU; built once and cached",
                     _compiled_missing, _compiled, gpu=torch.cuda.is_available()),
        BackendEntry("cuda", "PyTorch on the GPU, FP16, channels_last, CUDA graphs", _cuda_missing, _cuda, gpu=True),
        BackendEntry("openvino", "OpenVINO on the CPU: BF16 where the CPU has it natively, else FP32; "
                     "converted once and cached", _openvino_missing, _openvino),
        BackendEntry("cpu", "PyTorch on the CPU, FP32 (works anywhere; the reference)", lambda: None, _cpu),
    )
}
def uses_gpu(name: BackendName) -> bool:
    """Whether the (resolved) backend runs on a GPU."""
    return BACKENDS[name].gpu


def known(name: str) -> BackendName:
    """`name` as a backend's name; raises InputError for any other."""
    for candidate in BACKEND_NAMES:
        if name == candidate:
            return candidate
    raise InputError(f"unknown backend {name!r}", f"use one of: auto, {', '.join(BACKENDS)}")


def resolve(name: str) -> BackendName:
    """The concrete backend `name` stands for here; raises InputError when it cannot run."""
    if name == "auto":
        return next(n for n in AUTO_ORDER if BACKENDS[n].missing() is None)
    backend = known(name)
    why = BACKENDS[backend].missing()
    if why:
        raise InputError(f"backend {backend!r} cannot run here: {why}", "use --backend auto or cpu")
    return backend


def create_backend(name: str, model_path: Path, device: str | None = None) -> Backend:
    return BACKENDS[resolve(name)].create(model_path, device)


def parse_devices(text: str | None) -> list[str | None]:
    """--devices "0,1" -> ["cuda:0", "cuda:1"]; "cpu" -> ["cpu"]; None -> [None] (the backend's default)."""
    if not text:
        return [None]
    devices: list[str | None] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part.isdigit():
            index = int(part)
            if torch.cuda.is_available() and index >= torch.cuda.device_count():
                raise InputError(f"--devices {text}: there is no GPU {index} ({torch.cuda.device_count()} here)",
                                 "list the GPUs with `nvidia-smi -L`")
            devices.append(f"cuda:{index}")
        elif part == "cpu" or part.startswith("cuda"):
            devices.append(part)
        else:
            raise InputError(f"--devices {text}: {part!r} is not a GPU number or cpu", "e.g. --devices 0,1")
    return devices
