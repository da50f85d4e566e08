"""CPU inference runtimes side by side, in one run: speed and accuracy per model, runtime and precision.

    python scripts/cpu_runtimes.py --model default --model isnet --data data/realcars [--threads 1,2]

For each model: PyTorch FP32 (the reference), onnxruntime FP32 and INT8 (static QDQ quantization, calibrated
on drawn scenes, never on evaluation images), OpenVINO FP32, BF16 and INT8 (the same QDQ graph). Speed:
frames/s at the model's input size, batch 1, per thread count. Accuracy: mean Dice on the real-car evaluation
set (training/realcars.py) and its change against PyTorch FP32; a reduced precision is worth using only where
that change is below 0.005 (issue 10). Prints a markdown table (BENCHMARKS.md keeps it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamseg import composite  # noqa: E402
from streamseg.export import export_onnx  # noqa: E402
from streamseg.models import load_checkpoint  # noqa: E402
from streamseg.models.names import resolve_model  # noqa: E402
from training.evaluate_real import dice_iou, load_index, predict_alpha  # noqa: E402

Runner = Callable[[torch.Tensor], torch.Tensor]


def calibration_inputs(spec, n: int = 8) -> list[np.ndarray]:
    """Normalised model inputs from drawn scenes (streamseg.synthetic): not evaluation images."""
    from streamseg.synthetic import scene

    rng = np.random.default_rng(11)
    out = []
    for _ in range(n):
        rgb, _ = scene(rng, spec.input_height, spec.input_width)
        x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].float() / 255
        out.append(composite.normalise(x, spec).numpy())
    return out


def onnxruntime_runner(path: Path, threads: int) -> Runner:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: torch.from_numpy(session.run(None, {name: x.numpy()})[0])


def openvino_runner(path: Path, threads: int, precision: str, shape: tuple[int, ...]) -> Runner:
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(path))
    model.reshape({0: list(shape)})
    hint = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}[precision]  # int8: the QDQ graph's own precision
    request = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
                                                "INFERENCE_PRECISION_HINT": hint}).create_infer_request()
    return lambda x: torch.from_numpy(np.array(request.infer({0: x.numpy()})[0]))


def quantize(onnx: Path, out: Path, spec) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"frames": x} for x in calibration_inputs(spec)])

        def get_next(self):
            return next(self.items, None)

    quantize_static(str(onnx), str(out), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return out


def speed(run: Runner, shape: tuple[int, ...], seconds: float) -> float:
    x = torch.rand(*shape)
    for _ in range(2):
        run(x)
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds or n < 3:
        run(x)
        n += 1
    return n / (time.perf_counter() - t)


def mean_dice(run: Runner, spec, images: list[tuple[np.ndarray, np.ndarray]]) -> float:
    return float(np.mean([dice_iou(predict_alpha(run, spec, rgb, device="cpu") > 0.5, truth)[0]
                          for rgb, truth in images]))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True, help="default|isnet|PATH; repeatable")
    ap.add_argument("--data", type=Path, default=Path("data/realcars"), help="the real-car evaluation set")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--seconds", type=float, default=3.0, help="timing per runtime")
    args = ap.parse_args(argv)
    from PIL import Image

    images = [(np.asarray(Image.open(args.data / e["image"]).convert("RGB")),
               np.asarray(Image.open(args.data / e["mask"]).convert("L")) > 127)
              for e in load_index(args.data) if e["has_truth"]]
    threads = [int(t) for t in args.threads.split(",")]
    print(f"| model | runtime | precision | {' | '.join(f'frames/s, {t} thread(s)' for t in threads)} "
          f"| mean Dice ({len(images)} images) | change |")
    print("|---|---|---|" + "---|" * len(threads) + "---|---|")
    torch.set_num_threads(max(threads))
    for name in args.model:
        for row in compare(name, threads, args.seconds, images):
            print(row, flush=True)


def compare(name: str, threads: list[int], seconds: float, images: list) -> list[str]:
    """One markdown row per runtime and precision for model `name`."""
    ckpt = resolve_model(name)
    model, spec, _ = load_checkpoint(ckpt)
    shape = (1, 3, spec.input_height, spec.input_width)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        onnx = export_onnx(ckpt, Path(tmp) / f"{ckpt.stem}.onnx")
        int8 = quantize(onnx, Path(tmp) / f"{ckpt.stem}.int8.onnx", spec)

        def pytorch(t: int) -> Runner:
            def run(x: torch.Tensor) -> torch.Tensor:
                torch.set_num_threads(t)
                with torch.inference_mode():
                    return model(x)
            return run

        configs = [("PyTorch", "fp32", pytorch),
                   ("onnxruntime", "fp32", lambda t: onnxruntime_runner(onnx, t)),
                   ("onnxruntime", "int8", lambda t: onnxruntime_runner(int8, t)),
                   ("OpenVINO", "fp32", lambda t: openvino_runner(onnx, t, "fp32", shape)),
                   ("OpenVINO", "bf16", lambda t: openvino_runner(onnx, t, "bf16", shape)),
                   ("OpenVINO", "int8", lambda t: openvino_runner(int8, t, "int8", shape))]
        reference = None
        for runtime, precision, make in configs:
            rates = [speed(make(t), shape, seconds) for t in threads]
            # the evaluation images come in several sizes: a runner that takes any shape
            dice = mean_dice(shape_free(make, max(threads), runtime, precision, onnx, int8), spec, images)
            reference = dice if reference is None else reference
            rows.append(f"| {name} | {runtime} | {precision} | {' | '.join(f'{r:.1f}' for r in rates)} "
                        f"| {dice:.4f} | {dice - reference:+.4f} |")
    return rows


def shape_free(make, threads: int, runtime: str, precision: str, onnx: Path, int8: Path) -> Runner:
    """A runner that takes any input shape (OpenVINO compiles per shape, so keep one per shape)."""
    if runtime != "OpenVINO":
        return make(threads)
    cache: dict[tuple[int, ...], Runner] = {}

    def run(x: torch.Tensor) -> torch.Tensor:
        key = tuple(x.shape)
        if key not in cache:
            cache[key] = openvino_runner(int8 if precision == "int8" else onnx, threads, precision, key)
        return cache[key](x.contiguous())
    return run


if __name__ == "__main__":
    main()
