"""The compiled engine where TensorRT is absent: the model captured with torch.export and compiled ahead
of time by AOTInductor into a .pt2 package (fused Triton kernels on the GPU in FP16; C++ on the CPU),
built by `streamseg build-engine --engine compiled` and cached like TensorRT engines.

A package is tied to its checkpoint, the torch version and the device (GPU architecture), so its
sidecar records those and `package_is_current` compares them. Batch, height and width are dynamic
within the profile (height and width in steps of 16), so one package serves portrait frames too.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from streamseg.artifacts import file_sha256, sidecar_path, stale
from streamseg.backends.names import Precision
from streamseg.engine import EngineProfile, write_file
from streamseg.errors import InputError
from streamseg.files import written_whole
from streamseg.models import SIZE_MULTIPLE, channels_last, load_checkpoint

PACKAGE_FORMAT = "streamseg-aoti/1"


def compiler_missing() -> str | None:
    """AOTInductor compiles C++ (and, on a GPU, Triton) code at build time."""
    if not (shutil.which("c++") or shutil.which("g++")):
        return "AOTInductor needs a C++ compiler (apt install g++)"
    return None


def target_here(device: torch.device) -> dict:
    cap = None
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        cap = f"{major}.{minor}"
    return {"torch": str(torch.__version__), "device_type": device.type, "gpu_capability": cap}


def precision_for(device: torch.device, fp16: bool) -> Precision:
    return "fp16" if fp16 and device.type == "cuda" else "fp32"  # FP16 convolutions are slow on CPUs


def build_package(model_path: Path, out: Path, device: torch.device, profile: EngineProfile,
                  fp16: bool = True) -> Path:
    """Export and compile checkpoint `model_path` for `device` into `out` (.pt2) with a sidecar."""
    why = compiler_missing()
    if why:
        raise InputError(f"cannot build a compiled engine here: {why}", "install a C++ compiler, or use --backend cuda")
    precision = precision_for(device, fp16)
    dtype = torch.float16 if precision == "fp16" else torch.float32
    model, spec, _ = load_checkpoint(model_path, device)
    model = channels_last(model.to(dtype))
    low, high = min(profile.height, profile.width), max(profile.height, profile.width)
    batch = torch.export.Dim("batch", min=profile.min_batch, max=profile.max_batch)
    h16 = torch.export.Dim("h16", min=low // SIZE_MULTIPLE, max=high // SIZE_MULTIPLE)
    w16 = torch.export.Dim("w16", min=low // SIZE_MULTIPLE, max=high // SIZE_MULTIPLE)
    example = torch.rand(max(2, profile.opt_batch), spec.channels, profile.height, profile.width, device=device,
                         dtype=dtype)
    with torch.no_grad():
        exported = torch.export.export(model, (example.contiguous(memory_format=torch.channels_last),),
                                       dynamic_shapes={"x": {0: batch, 2: SIZE_MULTIPLE * h16,
                                                             3: SIZE_MULTIPLE * w16}})
        with written_whole(out, keep_suffix=True) as partial:  # the packager wants its .pt2 suffix
            torch._inductor.aoti_compile_and_package(exported, package_path=str(partial))
    sidecar = {"format": PACKAGE_FORMAT, "model": str(model_path), "model_sha256": file_sha256(model_path),
               **target_here(device), "precision": precision, "profile": profile.to_dict(), "spec": spec.to_dict()}
    write_file(sidecar_path(out), (json.dumps(sidecar, indent=2) + "\n").encode())
    return out


def package_is_current(path: Path, model_path: Path, device: torch.device, profile: EngineProfile,
                       fp16: bool = True) -> tuple[bool, str]:
    why = stale(path, "compiled engine", lambda: {"model_sha256": file_sha256(model_path), **target_here(device),
                                                  "precision": precision_for(device, fp16),
                                                  "profile": profile.to_dict()})
    if why:
        return False, why
    return True, f"current: same model, torch {torch.__version__}, {device.type}"


def ensure_package(model_path: Path, cache_dir: Path, device: torch.device, profile: EngineProfile,
                   fp16: bool = True) -> tuple[Path, str]:
    """A compiled engine for this checkpoint, torch and device: cached when current, else built."""
    name = f"{model_path.stem}-{file_sha256(model_path)[:12]}-{device.type}-{precision_for(device, fp16)}"
    path = cache_dir / f"{name}.pt2"
    current, reason = package_is_current(path, model_path, device, profile, fp16)
    if current:
        return path, f"reused compiled engine {path} ({reason})"
    build_package(model_path, path, device, profile, fp16)
    return path, f"built compiled engine {path} ({reason})"
