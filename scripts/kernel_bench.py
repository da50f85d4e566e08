"""Milliseconds per frame of the CPU compositor's compiled kernels alone, one thread (issue 10).

    python scripts/kernel_bench.py [--size 1920x1080] [--model-size 256x448]

Random pixels (the kernels' cost does not depend on them): the guided filter's coefficients at the model's
resolution, their horizontal widening to the frame, and the full-resolution pass over the frame for each
kind of backdrop, with and without the smoothing and a band of contact shadow. Median of 20 calls.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from streamseg import cpu_compositor as cc


def millis(call, n: int = 20) -> float:
    call()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1920x1080", help="frame WxH")
    ap.add_argument("--model-size", default="256x448", help="model input HxW")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    h, w = (int(v) for v in args.model_size.split("x"))
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (height, width, 3), np.uint8)
    alpha, guide = rng.random((h, w), np.float32), rng.random((3, h, w), np.float32)
    picture = rng.integers(0, 256, (height, width, 3), np.uint8)
    prev, matte = rng.random((height, width), np.float32), np.empty((height, width), np.float32)
    out = np.empty((height, width, 3), np.uint8)
    band = (rng.random((height // 9, width)) * 0.3).astype(np.float32)
    cc.warm_up()
    eps = np.float32(1e-4)
    coef = np.concatenate([cc._coefficients(alpha, guide, 1, eps), rng.random((1, h, w), np.float32)])
    wide = cc._widen(coef, width)
    print(f"coefficients at {h}x{w}: {millis(lambda: cc._coefficients(alpha, guide, 1, eps)):.2f} ms")
    print(f"widen to {width}: {millis(lambda: cc._widen(coef, width)):.2f} ms")
    cases = [("picture backdrop, shadow band, smoothing", picture, band, True),
             ("picture backdrop, smoothing", picture, cc.NO_SHADE, True),
             ("one colour, smoothing", picture[:1, :1], cc.NO_SHADE, True),
             ("picture backdrop, no smoothing", picture, cc.NO_SHADE, False)]
    for name, bg, shade, smooth in cases:
        ms = millis(lambda bg=bg, shade=shade, smooth=smooth: cc._fused(
            frame, wide, smooth, prev, np.float32(0.5), np.float32(0.2), bg, shade,
            height - 2 * len(band), np.zeros(3, np.float32), 0, out, matte, False, 0, height))
        print(f"full-resolution pass at {width}x{height}, {name}: {ms:.2f} ms")


if __name__ == "__main__":
    main()
