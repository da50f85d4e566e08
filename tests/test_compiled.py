"""The compiled engine (AOTInductor) built for real on the CPU, and the CUDA graphs backend on a GPU:
both against the FP32 eager reference on the same random input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import needs_gpu

from streamseg.aot import ensure_package, package_is_current
from streamseg.backends.compiled import CompiledBackend
from streamseg.engine import EngineProfile, sidecar_path
from streamseg.errors import InputError
from streamseg.models import ModelSpec, UNet, load_checkpoint, save_checkpoint

PROFILE = EngineProfile(32, 48, min_batch=1, opt_batch=2, max_batch=4)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny") / "tiny.pt"
    save_checkpoint(path, UNet(4), ModelSpec(width=4, input_height=32, input_width=48))
    return path


@pytest.fixture(scope="module")
def compiled(tiny, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return CompiledBackend(tiny, device="cpu", cache_dir=cache, profile=PROFILE), cache


def test_compiled_matches_eager_across_batches_and_sizes(tiny, compiled):
    backend, _ = compiled
    reference, _, _ = load_checkpoint(tiny)
    for shape in [(1, 3, 32, 48), (3, 3, 32, 48), (2, 3, 48, 32), (6, 3, 32, 48)]:  # portrait; over max batch
        x = torch.rand(shape)
        with torch.no_grad():
            expected = reference(x)
        got = backend(x)
        assert got.shape == expected.shape and got.dtype == torch.float32
        assert (got - expected).abs().max() < 1e-4, shape  # FP32 on the CPU: same maths, fused


def test_cached_package_is_reused_and_goes_stale(tiny, compiled, tmp_path):
    backend, cache = compiled
    path, message = ensure_package(tiny, cache, torch.device("cpu"), PROFILE)
    assert message.startswith("reused") and backend.message.startswith("built")
    assert package_is_current(path, tiny, torch.device("cpu"), PROFILE)[0]
    other = EngineProfile(32, 48, 1, 2, 8)
    current, reason = package_is_current(path, tiny, torch.device("cpu"), other)
    assert not current and "profile" in reason
    side = json.loads(sidecar_path(path).read_text())
    side["torch"] = "0.0"
    sidecar_path(path).write_text(json.dumps(side))
    current, reason = package_is_current(path, tiny, torch.device("cpu"), PROFILE)
    assert not current and "torch was 0.0" in reason


def test_size_outside_the_profile_is_a_clear_error(compiled):
    backend, _ = compiled
    with pytest.raises(InputError, match="outside the compiled engine"):
        backend(torch.rand(1, 3, 64, 64))


@needs_gpu
def test_cuda_graphs_match_eager_fp32_reference(tiny):
    from streamseg.backends.torch_cuda import CudaBackend

    reference, _, _ = load_checkpoint(tiny)
    graphs, eager = CudaBackend(tiny, graphs=True), CudaBackend(tiny, graphs=False)
    for batch in (1, 4, 4, 3):  # the second 4 replays the captured graph
        x = torch.rand(batch, 3, 32, 48)
        with torch.no_grad():
            expected = reference(x)
        for backend in (graphs, eager):
            assert (backend(x.cuda()).cpu() - expected).abs().max() < 2e-2  # FP16
    assert len(graphs.graphs) == 3


def test_build_engine_compiled_command_builds_into_the_cache_a_run_reads(tiny, clip, tmp_path, monkeypatch):
    """`streamseg build-engine --engine compiled` builds into STREAMSEG_CACHE/engines; building again
    reuses it, and `streamseg run --backend compiled` runs on it without building."""
    from conftest import cli

    monkeypatch.setenv("STREAMSEG_CACHE", str(tmp_path / "cache"))
    build = ("build-engine", "--engine", "compiled", "--model", tiny, "--device", "cpu")
    r = cli(*build)
    assert r.code == 0 and "built compiled engine" in r.out and "--backend compiled" in r.out, r
    packages = list((tmp_path / "cache" / "engines").glob("*.pt2"))
    assert len(packages) == 1
    r = cli(*build)
    assert r.code == 0 and "reused" in r.out, r.out
    r = cli("run", clip, "-o", tmp_path / "out.mp4", "--backend", "compiled", "--model", tiny, "--bg", "green")
    assert r.code == 0 and "backend compiled" in r.err, r
    assert list((tmp_path / "cache" / "engines").glob("*.pt2")) == packages, "the run built its own package"
    r = cli("build-engine", "--engine", "compiled", "--model", tiny, "--out", tmp_path / "x.plan")
    assert r.code == 2 and "for TensorRT engines" in r.err
