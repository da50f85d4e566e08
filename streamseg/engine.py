"""TensorRT engines: build one from an exported ONNX graph, and reuse it while it still fits.

An engine is only valid for the exact graph, TensorRT version and GPU architecture it was built for,
so each `NAME.engine` has a sidecar `NAME.engine.json` recording those (and the shapes it accepts and
how to feed it); `engine_is_current` compares the sidecar with what is here now. TensorRT is imported
inside the functions that need it, so this module imports on any machine.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from streamseg.artifacts import file_sha256, sidecar_path, stale
from streamseg.errors import InputError, StreamsegError
from streamseg.files import write_whole
from streamseg.models import SIZE_MULTIPLE

ENGINE_FORMAT = "streamseg-engine/1"
ENGINE_LABELS = {"onnx_sha256": "ONNX sha256", "tensorrt_version": "TensorRT version",
                 "gpu_capability": "GPU compute capability", "profile": "input shapes"}
INSTALL_FIX = "pip install 'streamseg[tensorrt]' on a machine with an NVIDIA GPU, or use --backend cuda or cpu"


class TensorRTUnavailable(InputError):
    """TensorRT or a CUDA GPU is missing here."""


class EngineError(StreamsegError):
    """TensorRT is here but could not build, load or run an engine."""


def read_sidecar(path: Path) -> dict:
    side = sidecar_path(path)
    try:
        return json.loads(side.read_text())
    except (OSError, ValueError):
        raise InputError(f"{side} is missing or unreadable: it says how {path.name} was made",
                         "export again: `streamseg export` or `streamseg build-engine`") from None


def write_file(path: Path, data: bytes | memoryview) -> None:
    """Write under a temporary name and rename, so an interrupted write never looks like a finished file."""
    write_whole(path, lambda tmp: tmp.write_bytes(data))


def default_cache_dir() -> Path:
    """Where the tensorrt backend keeps its engines: $STREAMSEG_CACHE/engines, else ~/.cache/streamseg/engines."""
    from streamseg.models.names import cache_root

    return cache_root() / "engines"


def tensorrt_version() -> str:
    """The installed TensorRT's version; raises TensorRTUnavailable when it cannot be imported."""
    try:
        import tensorrt as trt
    except ImportError as e:  # includes a bindings wheel whose libraries are missing
        raise TensorRTUnavailable(f"TensorRT cannot be imported here ({e})", INSTALL_FIX) from None
    if not hasattr(trt, "Builder"):  # a bare `tensorrt/` folder, e.g. only tensorrt-stubs installed
        raise TensorRTUnavailable("the installed `tensorrt` package has no Python bindings", INSTALL_FIX)
    return trt.__version__


@dataclass(frozen=True)
class BuildTarget:
    """What an engine is tied to besides its graph."""

    tensorrt_version: str
    gpu_capability: str  # e.g. "9.0" for Hopper
    gpu_name: str = ""  # recorded for people; not compared

    @classmethod
    def here(cls, device: torch.device | None = None) -> BuildTarget:
        version = tensorrt_version()
        if not torch.cuda.is_available():
            raise TensorRTUnavailable("TensorRT needs a CUDA GPU and PyTorch sees none", INSTALL_FIX)
        major, minor = torch.cuda.get_device_capability(device)
        return cls(version, f"{major}.{minor}", torch.cuda.get_device_name(device))


@dataclass(frozen=True)
class EngineProfile:
    """The input shapes an engine accepts: batch from min to max (tuned for opt), and height and width each
    from min(height, width) to max(height, width), because portrait frames use the model size turned
    (composite.model_size); tuned for height x width."""

    height: int
    width: int
    min_batch: int = 1
    opt_batch: int = 8
    max_batch: int = 16
    channels: int = 3  # the picture's; 4 for the edge stage (picture and matte)

    def __post_init__(self) -> None:
        if not 1 <= self.min_batch <= self.opt_batch <= self.max_batch:
            raise InputError(f"batch sizes min {self.min_batch}, opt {self.opt_batch}, max {self.max_batch} "
                             "must satisfy 1 <= min <= opt <= max", "e.g. --min-batch 1 --opt-batch 8 --max-batch 16")
        for name in ("height", "width"):
            value = getattr(self, name)
            if value <= 0 or value % SIZE_MULTIPLE:
                raise InputError(f"{name} = {value} must be a positive multiple of {SIZE_MULTIPLE}",
                                 f"e.g. --{name} {max(SIZE_MULTIPLE, round(value / SIZE_MULTIPLE) * SIZE_MULTIPLE)}")

    def shapes(self) -> dict[str, tuple[int, int, int, int]]:
        low, high = min(self.height, self.width), max(self.height, self.width)
        c = self.channels
        return {"min": (self.min_batch, c, low, low), "opt": (self.opt_batch, c, self.height, self.width),
                "max": (self.max_batch, c, high, high)}

    def to_dict(self) -> dict:
        return {**asdict(self), **{k: list(v) for k, v in self.shapes().items()}}


def build_engine(onnx_path: Path, out_path: Path, profile: EngineProfile, timing_cache: Path | None = None,
                 device: torch.device | None = None) -> Path:
    """Build a TensorRT engine from an ONNX file written by streamseg.export (sidecar beside it).

    FP16: TensorRT 10 gets the FP16 builder flag; TensorRT 11 has no such flag (only strongly typed
    networks), so there the precision comes from the graph, which --fp16 export makes half throughout.
    The timing cache file (tactic timings) is read first and written back, so rebuilds take seconds.
    """
    target = BuildTarget.here(device)
    import tensorrt as trt

    graph = read_sidecar(onnx_path)
    if graph.get("onnx_sha256") != file_sha256(onnx_path):
        raise InputError(f"{onnx_path} does not match its sidecar (changed after export?)",
                         "re-export it with `streamseg export`")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    strongly_typed = not hasattr(trt.BuilderFlag, "FP16")  # TensorRT 11 and later
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if strongly_typed else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise InputError(f"TensorRT {target.tensorrt_version} cannot parse {onnx_path}: {errors}",
                         "re-export it with `streamseg export` (a newer --opset may help)")

    config = builder.create_builder_config()
    shapes = profile.shapes()
    optimization_profile = builder.create_optimization_profile()
    optimization_profile.set_shape(graph["input"]["name"], trt.Dims(list(shapes["min"])),
                                   trt.Dims(list(shapes["opt"])), trt.Dims(list(shapes["max"])))
    config.add_optimization_profile(optimization_profile)
    if graph["precision"] == "fp16" and not strongly_typed:
        config.set_flag(trt.BuilderFlag.FP16)
    cached = timing_cache.read_bytes() if timing_cache is not None and timing_cache.is_file() else b""
    if not config.set_timing_cache(config.create_timing_cache(cached), ignore_mismatch=False):
        # a cache from another GPU or TensorRT version is refused; start a fresh one rather than fail
        config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineError(f"TensorRT {target.tensorrt_version} could not build an engine from {onnx_path}",
                          "see TensorRT's messages above; try a smaller --max-batch or --fp32")
    write_file(out_path, memoryview(serialized))
    if timing_cache is not None:
        write_file(timing_cache, memoryview(config.get_timing_cache().serialize()))
    sidecar = {
        "format": ENGINE_FORMAT,
        "onnx": str(onnx_path),
        "onnx_sha256": graph["onnx_sha256"],
        "tensorrt_version": target.tensorrt_version,
        "gpu_capability": target.gpu_capability,
        "gpu_name": target.gpu_name,
        "strongly_typed": strongly_typed,
        "precision": graph["precision"],
        "profile": profile.to_dict(),
        "input": graph["input"],
        "output": graph["output"],
        "preprocessing": graph["preprocessing"],
        "spec": graph["spec"],
    }
    write_file(sidecar_path(out_path), (json.dumps(sidecar, indent=2) + "\n").encode())
    return out_path


def engine_is_current(engine_path: Path, onnx_path: Path, profile: EngineProfile | None = None,
                      target: BuildTarget | None = None) -> tuple[bool, str]:
    """Whether `engine_path` was built from this ONNX file with this TensorRT for this GPU architecture
    (and, when given, this profile); the reason says what differs."""
    if engine_path.is_file() and not onnx_path.is_file():
        return False, f"no ONNX file at {onnx_path} to compare with"
    here = target or BuildTarget.here()

    def now() -> dict[str, object]:
        values: dict[str, object] = {"onnx_sha256": file_sha256(onnx_path), "tensorrt_version": here.tensorrt_version,
                                     "gpu_capability": here.gpu_capability}
        if profile is not None:
            values["profile"] = profile.to_dict()
        return values

    why = stale(engine_path, "engine", now, ENGINE_LABELS)
    if why:
        return False, why
    return True, (f"current: same ONNX, TensorRT {here.tensorrt_version}, "
                  f"GPU compute capability {here.gpu_capability}")


def onnx_is_current(onnx_path: Path) -> bool:
    """An exported graph whose sidecar matches it (the cache names graphs by checkpoint hash)."""
    try:
        return onnx_path.is_file() and read_sidecar(onnx_path).get("onnx_sha256") == file_sha256(onnx_path)
    except InputError:
        return False


def cached_engine_path(model_path: Path, cache_dir: Path, fp16: bool) -> Path:
    """Where the tensorrt backend looks for (and `build-engine` puts) the engine of a checkpoint."""
    return cache_dir / f"{model_path.stem}-{file_sha256(model_path)[:12]}-{'fp16' if fp16 else 'fp32'}.engine"


def ensure_engine(model_path: Path, cache_dir: Path, profile: EngineProfile, fp16: bool = True,
                  timing_cache: Path | None = None, device: torch.device | None = None) -> tuple[Path, str]:
    """An engine for checkpoint `model_path` that fits this GPU and TensorRT: the cached one when it is
    current, else freshly exported and built. Returns its path and a sentence saying which and why."""
    from streamseg.export import export_onnx

    target = BuildTarget.here(device)  # fails early, before any export, when TensorRT cannot run here
    engine_path = cached_engine_path(model_path, cache_dir, fp16)
    onnx_path = engine_path.with_suffix(".onnx")
    if not onnx_is_current(onnx_path):
        export_onnx(model_path, onnx_path, fp16)
    current, reason = engine_is_current(engine_path, onnx_path, profile, target)
    if current:
        return engine_path, f"reused TensorRT engine {engine_path} ({reason})"
    build_engine(onnx_path, engine_path, profile, timing_cache or cache_dir / "timing.cache", device)
    return engine_path, f"built TensorRT engine {engine_path} ({reason})"


def export_and_build(out: Path | None = None, model: Path | None = None, onnx_path: Path | None = None,
                     fp16: bool = True, batch: tuple[int, int, int] = (1, 8, 16),
                     size: tuple[int | None, int | None] = (None, None), timing_cache: Path | None = None,
                     say: Callable[[str], None] = lambda msg: None) -> Path:
    """What `streamseg build-engine` does: export the checkpoint to ONNX (unless `onnx_path` is given),
    then build the engine. Defaults: the shipped model, written into the cache the tensorrt backend reads
    (so a run finds it built), the model's input size, timing.cache beside the engine. `say` hears each
    step."""
    from streamseg.export import export_onnx
    from streamseg.weights import default_model_path

    BuildTarget.here()  # the export is wasted where TensorRT cannot run: say so first
    EngineProfile(size[0] or SIZE_MULTIPLE, size[1] or SIZE_MULTIPLE, *batch)  # and where the options are bad
    if onnx_path is None:
        model = model or default_model_path()
        precision = "fp16" if fp16 else "fp32"
        out = out or cached_engine_path(model, default_cache_dir(), fp16)
        onnx_path = export_onnx(model, out.with_suffix(".onnx"), fp16)
        say(f"exported {model} to {onnx_path} ({precision}, sidecar {sidecar_path(onnx_path)})")
    elif not onnx_path.is_file():
        raise InputError(f"ONNX file not found: {onnx_path}", "check the path, or leave out --onnx to export one")
    out = out or onnx_path.with_suffix(".engine")
    spec = read_sidecar(onnx_path)["spec"]
    profile = EngineProfile(size[0] or spec["input_height"], size[1] or spec["input_width"], *batch,
                            channels=4 if spec.get("arch") == "edges" else 3)
    timing_cache = timing_cache or out.parent / "timing.cache"
    reused = timing_cache.is_file()
    build_engine(onnx_path, out, profile, timing_cache)
    shapes = profile.shapes()
    say(f"built {out} (sidecar {sidecar_path(out)}) for inputs {shapes['min']} .. {shapes['max']}, "
        f"tuned for {shapes['opt']}; timing cache {timing_cache} ({'reused' if reused else 'new'})")
    return out
