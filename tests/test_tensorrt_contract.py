"""The TensorRT path against a stand-in `tensorrt` module (TensorRT cannot be installed here).

The stand-in records every call, so these tests check what streamseg asks of TensorRT: how the network
is created and parsed, the optimization profile, the FP16 flag (TensorRT 10) or its absence (11, strongly
typed), the timing cache round trip, the sidecar, and at run time the shapes, the torch-owned buffer
addresses and the CUDA stream. Its "engine" really reads the input and writes the output through those
addresses (alpha = 0.5 * red + 0.25), so a wrong buffer, dtype or size shows in the result. The last test
type-checks the two modules against the published TensorRT stubs (tensorrt-stubs) with mypy.
"""

from __future__ import annotations

import ast
import ctypes
import importlib.machinery
import importlib.metadata
import json
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import cli

from streamseg.backends.registry import BACKENDS
from streamseg.backends.tensorrt import TensorRTBackend
from streamseg.engine import (
    BuildTarget,
    EngineProfile,
    TensorRTUnavailable,
    build_engine,
    engine_is_current,
    file_sha256,
    sidecar_path,
)
from streamseg.errors import InputError
from streamseg.export import export_onnx
from streamseg.models import ModelSpec, UNet, save_checkpoint

TRT10, TRT11 = "10.13.0.35", "11.0.0.1"
STREAM = 0xC0FFEE
PROFILE = EngineProfile(height=64, width=112, min_batch=1, opt_batch=4, max_batch=8)


def stand_in_tensorrt(version: str, calls: list, io_dtype: str = "HALF") -> types.ModuleType:
    """A `tensorrt` module with the parts of the TensorRT 10/11 Python API streamseg uses."""
    trt = types.ModuleType("tensorrt")
    trt.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None, origin="stand-in")
    trt.__version__ = version
    numpy_dtypes = {"HALF": np.float16, "FLOAT": np.float32}

    def record(name, *args):
        calls.append((name, *args))

    class Logger:
        WARNING = "WARNING"

        def __init__(self, severity):
            record("Logger", severity)

    class BuilderFlag:
        TF32 = "TF32"

    if version.startswith("10."):
        BuilderFlag.FP16 = "FP16"  # removed in TensorRT 11

    class NetworkDefinitionCreationFlag:
        STRONGLY_TYPED = 1

    class DataType:
        HALF, FLOAT = "HALF", "FLOAT"

    class TensorIOMode:
        INPUT, OUTPUT = "INPUT", "OUTPUT"

    class Dims(tuple):
        pass

    class TimingCache:
        def __init__(self, data: bytes):
            self.data = data

        def serialize(self) -> bytes:
            return self.data + b"+new timings"

    class OptimizationProfile:
        def set_shape(self, name, low, opt, high):
            record("set_shape", name, tuple(low), tuple(opt), tuple(high))
            self.shapes = [low, opt, high]

    class BuilderConfig:
        def set_flag(self, flag):
            record("set_flag", flag)

        def add_optimization_profile(self, profile):
            self.profile = profile
            return 0

        def create_timing_cache(self, data):
            record("create_timing_cache", bytes(data))
            return TimingCache(bytes(data))

        def set_timing_cache(self, cache, ignore_mismatch):
            self.cache = cache
            return True

        def get_timing_cache(self):
            return self.cache

    class Network:
        pass

    class OnnxParser:
        num_errors = 0

        def __init__(self, network, logger):
            pass

        def parse(self, data):
            record("parse", bytes(data))
            return True

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            record("create_network", flags)
            return Network()

        def create_builder_config(self):
            return BuilderConfig()

        def create_optimization_profile(self):
            return OptimizationProfile()

        def build_serialized_network(self, network, config):
            record("build_serialized_network")
            # the "plan" carries the profile, so the runtime below reports what was built
            return json.dumps({"shapes": [list(s) for s in config.profile.shapes]}).encode()

    class ExecutionContext:
        def __init__(self):
            self.addresses = {}

        def set_input_shape(self, name, shape):
            record("set_input_shape", name, tuple(shape))
            self.shape = tuple(shape)
            return True

        def set_tensor_address(self, name, address):
            record("set_tensor_address", name, address)
            self.addresses[name] = address

        def execute_async_v3(self, stream):
            record("execute_async_v3", stream)
            dtype = numpy_dtypes[io_dtype]
            n, _, h, w = self.shape
            size = n * 3 * h * w * np.dtype(dtype).itemsize
            frames = np.frombuffer(ctypes.string_at(self.addresses["frames"], size), dtype).reshape(self.shape)
            alpha = np.ascontiguousarray(frames[:, :1] * 0.5 + 0.25, dtype=dtype)
            ctypes.memmove(self.addresses["alpha"], alpha.ctypes.data, alpha.nbytes)
            return True

    class Engine:
        num_io_tensors = 2

        def __init__(self, shapes):
            self.shapes = [Dims(s) for s in shapes]

        def get_tensor_name(self, index):
            return ["frames", "alpha"][index]

        def get_tensor_mode(self, name):
            return TensorIOMode.INPUT if name == "frames" else TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name):
            return getattr(DataType, io_dtype)

        def get_tensor_profile_shape(self, name, profile_index):
            return self.shapes

        def create_execution_context(self):
            return ExecutionContext()

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            record("deserialize_cuda_engine", bytes(data))
            return Engine(json.loads(bytes(data))["shapes"])

    for value in (Logger, BuilderFlag, NetworkDefinitionCreationFlag, DataType, TensorIOMode, Dims, OnnxParser,
                  Builder, Runtime):
        setattr(trt, value.__name__, value)
    return trt


@pytest.fixture
def gpu(monkeypatch):
    """PyTorch reports a compute capability 9.0 GPU, and a current stream whose handle is STREAM."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "stand-in GPU")
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: types.SimpleNamespace(cuda_stream=STREAM))


@pytest.fixture
def use_tensorrt(monkeypatch, gpu):
    """use_tensorrt(version, io_dtype) -> the list the stand-in records its calls in."""

    def install(version: str = TRT10, io_dtype: str = "HALF") -> list:
        calls: list = []
        monkeypatch.setitem(sys.modules, "tensorrt", stand_in_tensorrt(version, calls, io_dtype))
        return calls

    return install


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A tiny checkpoint (input 64x112) and its FP16 and FP32 ONNX exports."""
    folder = tmp_path_factory.mktemp("trt")
    torch.manual_seed(0)
    save_checkpoint(folder / "tiny.pt", UNet(4), ModelSpec(width=4, input_height=64, input_width=112))
    for precision in ("fp16", "fp32"):
        export_onnx(folder / "tiny.pt", folder / f"tiny-{precision}.onnx", fp16=precision == "fp16")
    return folder


def named(calls: list, name: str) -> list[tuple]:
    return [c[1:] for c in calls if c[0] == name]


@pytest.mark.parametrize("version,precision,fp16_flag,strongly_typed", [
    (TRT10, "fp16", True, False),
    (TRT10, "fp32", False, False),
    (TRT11, "fp16", False, True),  # no BuilderFlag.FP16: the precision is in the graph
])
def test_build(use_tensorrt, model_dir, tmp_path, version, precision, fp16_flag, strongly_typed):
    calls = use_tensorrt(version)
    onnx_path = model_dir / f"tiny-{precision}.onnx"
    timing_cache = tmp_path / "timing.cache"
    timing_cache.write_bytes(b"old timings")
    engine = build_engine(onnx_path, tmp_path / "engines" / "tiny.engine", PROFILE, timing_cache)

    assert named(calls, "create_network") == [(1 << 1 if strongly_typed else 0,)]
    assert named(calls, "parse") == [(onnx_path.read_bytes(),)]
    assert named(calls, "set_shape") == [("frames", (1, 3, 64, 64), (4, 3, 64, 112), (8, 3, 112, 112))]
    assert named(calls, "set_flag") == ([("FP16",)] if fp16_flag else [])
    assert named(calls, "create_timing_cache") == [(b"old timings",)]
    assert timing_cache.read_bytes() == b"old timings+new timings"
    assert engine == tmp_path / "engines" / "tiny.engine"
    assert json.loads(engine.read_bytes())["shapes"][2] == [8, 3, 112, 112]
    assert not list(engine.parent.glob(".*partial"))

    side = json.loads(sidecar_path(engine).read_text())
    graph = json.loads(sidecar_path(onnx_path).read_text())
    assert side["onnx_sha256"] == file_sha256(onnx_path) == graph["onnx_sha256"]
    assert (side["tensorrt_version"], side["gpu_capability"]) == (version, "9.0")
    assert side["strongly_typed"] is strongly_typed and side["precision"] == precision
    assert side["profile"] == PROFILE.to_dict()
    assert side["preprocessing"] == graph["preprocessing"] and side["spec"] == graph["spec"]


def test_new_timing_cache_is_written(use_tensorrt, model_dir, tmp_path):
    calls = use_tensorrt()
    build_engine(model_dir / "tiny-fp16.onnx", tmp_path / "tiny.engine", PROFILE, tmp_path / "timing.cache")
    assert named(calls, "create_timing_cache") == [(b"",)]
    assert (tmp_path / "timing.cache").read_bytes() == b"+new timings"


def test_engine_is_current(use_tensorrt, model_dir, tmp_path):
    use_tensorrt(TRT10)
    onnx_path = tmp_path / "tiny.onnx"
    onnx_path.write_bytes((model_dir / "tiny-fp16.onnx").read_bytes())
    sidecar_path(onnx_path).write_text(sidecar_path(model_dir / "tiny-fp16.onnx").read_text())
    engine = tmp_path / "tiny.engine"
    assert engine_is_current(engine, onnx_path) == (False, f"no engine at {engine} yet")
    build_engine(onnx_path, engine, PROFILE)
    here = BuildTarget(TRT10, "9.0")

    current, reason = engine_is_current(engine, onnx_path)  # what is here: the stand-in and the 9.0 GPU
    assert current, reason
    assert engine_is_current(engine, onnx_path, PROFILE, here)[0]
    for target, what in ((BuildTarget(TRT11, "9.0"), "TensorRT version"),
                         (BuildTarget(TRT10, "8.9"), "GPU compute capability")):
        current, reason = engine_is_current(engine, onnx_path, target=target)
        assert not current and what in reason and reason.startswith("stale")
    current, reason = engine_is_current(engine, onnx_path, EngineProfile(64, 112, max_batch=32), here)
    assert not current and "input shapes" in reason
    with open(onnx_path, "ab") as f:
        f.write(b"\0")
    current, reason = engine_is_current(engine, onnx_path, target=here)
    assert not current and "ONNX sha256" in reason


@pytest.mark.parametrize("io_dtype", ["HALF", "FLOAT"])
def test_runtime(use_tensorrt, model_dir, tmp_path, io_dtype):
    calls = use_tensorrt(TRT10, io_dtype)
    with TensorRTBackend(model_dir / "tiny.pt", cache_dir=tmp_path, device="cpu", profile=PROFILE) as backend:
        assert backend.engine_message.startswith("built TensorRT engine") and "no engine at" in backend.engine_message
        assert named(calls, "deserialize_cuda_engine") == [(next(tmp_path.glob("*.engine")).read_bytes(),)]
        calls.clear()
        dtype = torch.float16 if io_dtype == "HALF" else torch.float32
        x = torch.rand(3, 3, 64, 112)
        alpha = backend(x)

        assert alpha.shape == (3, 1, 64, 112) and alpha.dtype == torch.float32
        torch.testing.assert_close(alpha, (x[:, :1].to(dtype) * 0.5 + 0.25).float(), rtol=0, atol=1e-3)
        assert named(calls, "set_input_shape") == [("frames", (3, 3, 64, 112))]
        assert [name for name, _ in named(calls, "set_tensor_address")] == ["frames", "alpha"]
        assert named(calls, "execute_async_v3") == [(STREAM,)]
        if io_dtype == "FLOAT":  # nothing to convert: the engine got exactly these tensors
            addresses = dict(named(calls, "set_tensor_address"))
            assert addresses == {"frames": x.data_ptr(), "alpha": alpha.data_ptr()}

        calls.clear()
        x16 = torch.rand(2, 3, 112, 64).to(dtype)  # portrait, and already in the engine's dtype
        backend(x16)
        assert dict(named(calls, "set_tensor_address"))["frames"] == x16.data_ptr()
        assert named(calls, "set_input_shape") == [("frames", (2, 3, 112, 64))]


def test_runtime_reuses_cached_engine_and_splits_large_batches(use_tensorrt, model_dir, tmp_path):
    calls = use_tensorrt()
    TensorRTBackend(model_dir / "tiny.pt", cache_dir=tmp_path, device="cpu", profile=PROFILE).close()
    assert len(named(calls, "build_serialized_network")) == 1
    backend = TensorRTBackend(model_dir / "tiny.pt", cache_dir=tmp_path, device="cpu", profile=PROFILE)
    assert len(named(calls, "build_serialized_network")) == 1
    assert backend.engine_message.startswith("reused TensorRT engine") and "current" in backend.engine_message
    assert "tensorrt (fp16) on cpu; reused" in backend.describe()

    calls.clear()
    x = torch.rand(10, 3, 64, 112)  # above the engine's maximum batch of 8
    alpha = backend(x)
    assert alpha.shape == (10, 1, 64, 112)
    torch.testing.assert_close(alpha, (x[:, :1].half() * 0.5 + 0.25).float(), rtol=0, atol=1e-3)
    assert [s[0] for _, s in named(calls, "set_input_shape")] == [8, 2]

    with pytest.raises(InputError, match="outside the engine's range"):
        backend(torch.rand(1, 3, 128, 112))


def test_build_engine_command(use_tensorrt, model_dir, tmp_path):
    calls = use_tensorrt(TRT11)
    out = tmp_path / "engines" / "tiny.engine"
    r = cli("build-engine", "--model", model_dir / "tiny.pt", "--out", out, "--max-batch", "4", "--opt-batch", "2")
    assert r.code == 0, r
    assert "exported" in r.out and f"built {out}" in r.out
    assert out.is_file() and (tmp_path / "engines" / "tiny.onnx").is_file()
    assert (tmp_path / "engines" / "timing.cache").is_file()
    assert named(calls, "set_shape") == [("frames", (1, 3, 64, 64), (2, 3, 64, 112), (4, 3, 112, 112))]
    assert json.loads(sidecar_path(out).read_text())["precision"] == "fp16"


def test_build_engine_command_for_isnet(use_tensorrt, isnet_onnx, tmp_path, monkeypatch):
    """IS-Net takes the same road: FP16 ONNX export of our PyTorch IS-Net, parsed, profiled at its own
    1024x1024 input, its spec and preprocessing in the sidecar."""
    monkeypatch.setenv("STREAMSEG_CACHE", str(tmp_path / "cache"))
    assert cli("models", "fetch", "isnet", "--from", isnet_onnx).code == 0
    calls = use_tensorrt(TRT11)
    out = tmp_path / "isnet.engine"
    # isnet-salient: IS-Net alone (`isnet` adds the default UNet as its gate, which doubles the CPU's FP16 trace)
    r = cli("build-engine", "--model", "isnet-salient", "--out", out, "--max-batch", "2", "--opt-batch", "1")
    assert r.code == 0, r
    import onnx

    graph = onnx.load(str(tmp_path / "isnet.onnx"), load_external_data=False)
    assert named(calls, "parse")[0][0] == (tmp_path / "isnet.onnx").read_bytes()
    assert graph.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    # the whole network: the ONNX file's 119 convolutions less the five side heads the mask does not use
    assert sum(n.op_type == "Conv" for n in graph.graph.node) == 114
    assert named(calls, "set_shape") == [("frames", (1, 3, 1024, 1024), (1, 3, 1024, 1024), (2, 3, 1024, 1024))]
    side = json.loads(sidecar_path(out).read_text())
    assert side["spec"]["arch"] == "isnet" and side["preprocessing"]["mean"] == [128 / 255] * 3


@pytest.mark.parametrize("options,message", [
    (["--min-batch", "9", "--max-batch", "4"], "1 <= min <= opt <= max"),
    (["--height", "100"], "height = 100 must be a positive multiple of 16"),
])
def test_build_engine_command_bad_options(use_tensorrt, model_dir, tmp_path, options, message):
    use_tensorrt()
    r = cli("build-engine", "--model", model_dir / "tiny.pt", "--out", tmp_path / "x.engine", *options)
    assert r.code == 2 and message in r.err and "fix:" in r.err, r
    assert not list(tmp_path.iterdir())  # refused before exporting anything


def test_without_tensorrt(monkeypatch, gpu, model_dir, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # `import tensorrt` fails
    r = cli("build-engine", "--model", model_dir / "tiny.pt", "--out", tmp_path / "x.engine")
    assert r.code == 2 and "TensorRT cannot be imported" in r.err and "streamseg[tensorrt]" in r.err, r
    assert not list(tmp_path.iterdir())  # failed before exporting anything
    with pytest.raises(TensorRTUnavailable, match="fix: pip install 'streamseg.tensorrt.'"):
        TensorRTBackend(model_dir / "tiny.pt", cache_dir=tmp_path, device="cpu")


def test_registry_entry(monkeypatch):
    entry = BACKENDS["tensorrt"]
    monkeypatch.setitem(sys.modules, "tensorrt", stand_in_tensorrt(TRT10, []))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "no CUDA GPU" in entry.missing()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert entry.missing() is None
    bare = types.ModuleType("tensorrt")  # what tensorrt-stubs alone installs: a folder without bindings
    bare.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None, is_package=True)
    monkeypatch.setitem(sys.modules, "tensorrt", bare)
    assert "TensorRT is not installed" in entry.missing()


def test_types_against_tensorrt_stubs(tmp_path):
    """mypy with the published stubs: every TensorRT call in engine.py and backends/tensorrt.py exists
    with these argument types (as of the stubs' TensorRT version).

    tensorrt-stubs cannot be used as installed: its .pyi files sit in a plain `tensorrt/` folder (no
    py.typed, so mypy skips them) and a few generated signatures are not valid Python (a parameter
    named `in`, a required parameter after defaults). So they are copied, those signatures loosened to
    (*args, **kwargs), and given to mypy through mypy_path.
    """
    pytest.importorskip("mypy", reason="pip install mypy")
    try:
        dist = importlib.metadata.distribution("tensorrt-stubs")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("tensorrt-stubs is not installed (pip install --no-deps tensorrt-stubs: "
                    "its dependency, tensorrt itself, does not install here)")
    stubs = tmp_path / "stubs"
    for file in dist.files or []:
        if file.suffix == ".pyi":
            lines = Path(dist.locate_file(file)).read_text().splitlines()
            lines = [line for line in lines if not line.startswith("import tensorrt_libs")]
            while True:
                try:
                    ast.parse("\n".join(lines))
                    break
                except SyntaxError as e:
                    bad = re.match(r"(\s*def \w+)\(.*\)(\s*->.*)?:\s*$", lines[e.lineno - 1])
                    assert bad, f"cannot repair {file}:{e.lineno}: {lines[e.lineno - 1]}"
                    lines[e.lineno - 1] = f"{bad.group(1)}(self, *args, **kwargs){bad.group(2) or ''}:"
            (stubs / file).parent.mkdir(parents=True, exist_ok=True)
            (stubs / file).write_text("\n".join(lines) + "\n")
    config = tmp_path / "mypy.ini"
    config.write_text(f"[mypy]\nmypy_path = {stubs}\ncache_dir = {tmp_path / 'cache'}\n"
                      "[mypy-torch.*,training.*]\nfollow_imports = skip\n"  # torch's own types: slow, not the point
                      "[mypy-tensorrt.*,tensorrt_bindings.*]\nignore_errors = True\n"
                      # as pyproject.toml: the untyped optional runtimes that `import streamseg`'s API reaches
                      "[mypy-openvino.*,openvino,numba,numba.*,pynvml,PyNvVideoCodec,ray,ray.*]\n"
                      "ignore_missing_imports = True\n")
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(config),
                             "streamseg/engine.py", "streamseg/backends/tensorrt.py"],
                            cwd=repo, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout
