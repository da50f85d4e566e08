"""GPU verification, in one run on the GPU machine (also runs on a CPU, slowly, as a smoke test):

1. builds what can be built there: the compiled engine (AOTInductor, FP16), and a TensorRT engine if
   TensorRT is installed;
2. checks every backend against the FP32 CPU reference on the same random input;
3. prints a table of inference frames/s per backend and batch size, at 256x256 and at the production
   input size, and the compiled engine's speed-up over eager FP16 PyTorch;
4. with --pipeline, runs `streamseg bench` on a generated 1080p H.264 clip (decode, inference, composite,
   encode, end to end, frame-by-frame baseline).

    python scripts/gpu_check.py --json $OUT/gpu_check.json [--pipeline]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamseg.backends.registry import BACKENDS  # noqa: E402
from streamseg.bench import bench_infer  # noqa: E402
from streamseg.models import load_checkpoint  # noqa: E402
from streamseg.weights import default_model_path  # noqa: E402

TOLERANCE = {"fp32": 1e-4, "fp16": 2e-2}  # max |alpha - reference| on probabilities in 0..1


def parity(backend, reference, size: tuple[int, int]) -> float:
    x = torch.rand(4, 3, *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference(x)
    got = backend(x.to(backend.device)).cpu()
    return float((got - expected).abs().max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=default_model_path())
    ap.add_argument("--batches", default="1,4,8,16,32")
    ap.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    ap.add_argument("--pipeline", action="store_true", help="also the 1080p pipeline benchmark (needs PyAV)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    gpu = torch.cuda.is_available()
    device = "cuda" if gpu else "cpu"
    report = {"host": platform.node(), "torch": str(torch.__version__),
              "gpu": torch.cuda.get_device_name(0) if gpu else None, "date": time.strftime("%Y-%m-%d %H:%M"),
              "parity": {}, "infer_fps": {}, "build_s": {}}
    reference, spec, _ = load_checkpoint(args.model)
    production = (spec.input_height, spec.input_width)
    names = ["cuda", "compiled", "tensorrt"] if gpu else ["cpu", "compiled"]
    backends = {}
    for name in names:
        why = BACKENDS[name].missing()
        if why:
            report["parity"][name] = f"skipped: {why}"
            continue
        t = time.perf_counter()
        backends[name] = BACKENDS[name].create(args.model, device)
        report["build_s"][name] = round(time.perf_counter() - t, 1)
        print(f"{name}: ready in {report['build_s'][name]} s ({backends[name].describe()})", flush=True)
    if gpu:  # eager FP16 without graphs: the baseline the compiled engine is measured against
        from streamseg.backends.torch_cuda import CudaBackend

        backends["cuda-eager"] = CudaBackend(args.model, graphs=False)
    for name, b in backends.items():
        err = parity(b, reference, production)
        ok = err <= TOLERANCE[b.precision]
        report["parity"][name] = {"max_abs_diff": err, "tolerance": TOLERANCE[b.precision], "ok": ok}
        print(f"parity {name:10s} max |diff| {err:.2e} (tolerance {TOLERANCE[b.precision]}) {'ok' if ok else 'FAIL'}")
    sizes = [(256, 256), production]
    print(f"\n{'backend':12s} {'batch':>5s} " + " ".join(f"{h}x{w:<9d}" for h, w in sizes))
    for name, b in backends.items():
        for bs in [int(v) for v in args.batches.split(",")]:
            row = [bench_infer(b, bs, size, args.seconds) for size in sizes]
            for size, fps in zip(sizes, row):
                report["infer_fps"][f"{name}/b{bs}/{size[0]}x{size[1]}"] = fps
            print(f"{name:12s} {bs:5d} " + " ".join(f"{fps:<13.0f}" for fps in row), flush=True)
    if "compiled" in backends and "cuda-eager" in backends:
        for size in sizes:
            key = f"{size[0]}x{size[1]}"
            best = max(v for k, v in report["infer_fps"].items() if k.startswith("compiled/") and k.endswith(key))
            base = max(v for k, v in report["infer_fps"].items() if k.startswith("cuda-eager/") and k.endswith(key))
            report[f"compiled_over_eager_{key}"] = round(best / base, 2)
            print(f"compiled / eager FP16 at {key}: {best / base:.2f}x (target >= 1.5x)")
    if args.pipeline:
        from streamseg.bench import benchmark, format_report
        from streamseg.sample import SampleSpec, write_sample

        with tempfile.TemporaryDirectory() as tmp:
            clip = Path(tmp) / "1080p.mp4"
            write_sample(clip, SampleSpec(width=1920, height=1080, frames=300, fps=30))
            main_backend = backends.get("tensorrt") or backends.get("compiled") or next(iter(backends.values()))
            bench = benchmark(clip, main_backend, [8, 16], ["mp4"], log=print)
            print(format_report(bench))
            report["pipeline"] = bench.as_dict()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
