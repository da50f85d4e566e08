"""Throughput of each stage alone and of the whole pipeline, on one clip, in one process.

Standalone stages: decode (PyAV), inference (per backend and batch size, at the model's size),
composite (upload, resize, refine, blend, download at full resolution), encode (per output format).
Then the pipelined run, and the same work done frame by frame with no overlap, so the pipeline's gain
and its ratio to the slowest stage it depends on are measured in the same run.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from streamseg import composite
from streamseg.backends.base import Backend
from streamseg.background import Background
from streamseg.batching import Batcher
from streamseg.io.reader import Frame, VideoInfo, VideoReader
from streamseg.io.source import Source
from streamseg.io.writer import FORMATS, format_named, open_writer
from streamseg.options import RunOptions
from streamseg.pipeline import (
    Inferred,
    auto_batch_size,
    composite_batch,
    make_compositor,
    process_batch,
    run,
)

SPREAD_LIMIT = 0.2  # repeated measurements of one stage further apart than this: warn
REPEATS = 3  # each stage alone is measured this many times; the median is reported


def median_and_spread(rates: list[float]) -> tuple[float, float]:
    """The median of repeated frames/s measurements and how far apart they are ((max - min) / median)."""
    mid = statistics.median(rates)
    return round(mid, 2), (round((max(rates) - min(rates)) / mid, 3) if mid > 0 else 0.0)


@dataclass
class BenchReport:
    clip: str
    width: int
    height: int
    frames: int
    device: str
    backend: str
    decoder: str = ""
    decode_fps: float = 0.0
    infer_fps: dict = field(default_factory=dict)  # "backend batch N at HxW" -> frames/s
    composite_fps: float = 0.0
    encode_fps: dict = field(default_factory=dict)  # format -> frames/s
    pipeline_fps: float = 0.0
    serial_fps: float = 0.0
    slowest_stage: str = ""  # of the stages the pipelined run goes through
    slowest_fps: float = 0.0
    peak_gpu_mb: float | None = None
    gpu_util: float | None = None
    spread: dict = field(default_factory=dict)  # stage -> (max - min) / median of its repeated measurements

    def limit(self, fmt: str) -> float:
        """The slower of decode and encode: what the pipeline cannot beat."""
        return min(self.decode_fps, self.encode_fps.get(fmt, float("inf")))

    def as_dict(self) -> dict:
        return asdict(self)

    def keep(self, stage: str, rates: list[float]) -> float:
        """Record a stage's repeated measurements; returns their median."""
        median, self.spread[stage] = median_and_spread(rates)
        return median

    def warnings(self, limit: float = SPREAD_LIMIT) -> list[str]:
        return [f"{stage}: repeated measurements differ by {100 * x:.0f}% (a busy machine?): "
                f"take this figure with care, or measure again on a quiet one"
                for stage, x in self.spread.items() if x > limit]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(frames: int, seconds: float) -> float:
    return round(frames / seconds, 2) if seconds > 0 else 0.0


def chunk_rates(durations: list[float], counts: list[int] | None = None) -> list[float]:
    """frames/s over REPEATS consecutive parts of a run, from each item's duration (and frame count)."""
    counts = counts or [1] * len(durations)
    parts = max(1, min(REPEATS, len(durations)))
    bounds = [round(i * len(durations) / parts) for i in range(parts + 1)]
    return [rate(sum(counts[a:b]), sum(durations[a:b])) for a, b in zip(bounds, bounds[1:])]


def bench_decode(clip: Path, device: torch.device) -> tuple[list[float], int, str]:
    """Decoding alone, with the decoder a run on `device` would choose (NVDEC where it can work): the
    whole clip REPEATS times."""
    rates, n, decoder = [], 0, ""
    for _ in range(REPEATS):
        source = Source(clip, decoder="auto", device=device)
        try:
            t = time.perf_counter()
            n = sum(isinstance(item, Frame) for item in source.items(threading.Event()))
            sync(device)
            rates.append(rate(n, time.perf_counter() - t))
            decoder = source.decoder
        finally:
            source.close()
    return rates, n, decoder


def bench_infer(backend: Backend, batch: int, size: tuple[int, int], seconds: float = 3.0) -> list[float]:
    x = torch.rand(batch, 3, *size, device=backend.device)
    for _ in range(2):  # warm-up: kernel selection, graph capture, allocator
        backend(x)
    sync(backend.device)
    rates = []
    for _ in range(REPEATS):
        n, t = 0, time.perf_counter()
        while time.perf_counter() - t < seconds / REPEATS or n < 3:
            backend(x)
            n += 1
        sync(backend.device)
        rates.append(rate(n * batch, time.perf_counter() - t))
    return rates


def decoded_frames(clip: Path, limit: int) -> tuple[list[Frame], VideoInfo]:
    with VideoReader(clip) as reader:
        frames: list[Frame] = []
        for f in reader:
            frames.append(f)
            if len(frames) >= limit:
                break
        return frames, reader.info


def bench_composite(frames, info, backend: Backend, batch: int) -> list[float]:
    """Everything around the network, as a run does it on this device: upload, resize, refine, smooth,
    blend, download (the network replaced by the downscaled luma, which costs nothing)."""
    dev = backend.device
    bg = Background("studio", info.height, info.width, dev)
    batcher = Batcher(batch, pin_memory=dev.type == "cuda")
    batches = [b for f in frames if (b := batcher.add(f)) is not None]
    if not batches:
        tail = batcher.flush()
        batches = [tail] if tail is not None else []
    compositor = make_compositor(dev, "rgb")

    def once(b):
        pixels = b.frames.to(dev, non_blocking=True)
        small = composite.downscale(pixels.permute(0, 3, 1, 2), composite.model_size(*pixels.shape[1:3], backend.spec))
        return composite_batch(Inferred(b, pixels, small, small.mean(1, keepdim=True)), bg, compositor)

    once(batches[0])
    sync(dev)
    durations = []
    for b in batches:
        t = time.perf_counter()
        once(b)
        sync(dev)
        durations.append(time.perf_counter() - t)
    return chunk_rates(durations, [len(b) for b in batches])


def bench_encode(frames, info, fmt_name: str, workdir: Path) -> list[float]:
    """Encoding alone, the frames written whole REPEATS times (an encoder buffers frames, so parts of one
    run are not comparable)."""
    fmt = format_named(fmt_name)
    images = []
    for f in frames:
        img = torch.from_numpy(f.rgb)
        if fmt.layers == "rgba":
            img = torch.cat([img, torch.full_like(img[..., :1], 200)], dim=2)
        images.append((img.numpy(), f.pts))
    rates = []
    for k in range(REPEATS):
        writer = open_writer(workdir / f"enc{k}_{fmt_name}{fmt.suffix or '_png'}", fmt, info, None)
        t = time.perf_counter()
        for image, pts in images:
            writer.write(image, pts)
        writer.close()
        rates.append(rate(len(images), time.perf_counter() - t))
    return rates


def bench_serial(clip: Path, backend: Backend, workdir: Path, fmt_name: str = "mp4") -> float:
    """The same work frame by frame in one thread: decode, infer, composite, encode, repeat."""
    fmt = format_named(fmt_name)
    with VideoReader(clip) as reader:
        info = reader.info
        bg = Background("studio", info.height, info.width, backend.device)
        writer = open_writer(workdir / f"serial{fmt.suffix}", fmt, info, None)
        batcher = Batcher(1)
        compositor = make_compositor(backend.device, fmt.layers)
        t = time.perf_counter()
        n = 0
        for frame in reader:
            batch = batcher.add(frame)
            assert batch is not None  # a batch of one closes at once
            out = process_batch(batch, backend, bg, compositor)
            writer.write(out[0].numpy(), frame.pts)
            n += 1
        writer.close()
        return rate(n, time.perf_counter() - t)


class GpuSampler:
    """Samples GPU utilisation with NVML while a stage runs (when nvidia-ml-py is installed)."""

    def __init__(self, device: torch.device) -> None:
        self.samples: list[int] = []
        self.handle = None
        if device.type == "cuda":
            try:
                import pynvml

                pynvml.nvmlInit()
                self.handle = pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
                self.nvml = pynvml
            except Exception:  # noqa: BLE001  no NVML: utilisation is simply not reported
                self.handle = None

    def measure(self, work: Callable[[], object]):
        import threading

        if self.handle is None:
            return work(), None
        stop = threading.Event()

        def poll():
            while not stop.wait(0.05):
                self.samples.append(self.nvml.nvmlDeviceGetUtilizationRates(self.handle).gpu)

        th = threading.Thread(target=poll, daemon=True)
        th.start()
        try:
            result = work()
        finally:
            stop.set()
            th.join()
        return result, round(sum(self.samples) / max(1, len(self.samples)), 1)


def benchmark(clip: Path, backend: Backend, batch_sizes: list[int], formats: list[str],
              extra_backends: list[Backend] | None = None, serial: bool = True,
              encode_frames: int = 120, log: Callable[[str], None] = lambda s: None) -> BenchReport:
    dev = backend.device
    run_batch = auto_batch_size(dev)  # what `streamseg run` uses here
    with tempfile.TemporaryDirectory(prefix="streamseg-bench-") as tmp:
        work = Path(tmp)
        log("decode ...")
        rates, n, decoder = bench_decode(clip, dev)
        frames, info = decoded_frames(clip, encode_frames)
        report = BenchReport(clip=str(clip), width=info.width, height=info.height, frames=n,
                             device=str(dev), backend=backend.describe(), decoder=decoder)
        report.decode_fps = report.keep("decode", rates)
        size = composite.model_size(info.height, info.width, backend.spec)
        for b in [backend, *(extra_backends or [])]:
            for bs in sorted({*batch_sizes, run_batch}):
                for hw in [size] + ([(256, 256)] if size != (256, 256) else []):
                    log(f"inference {b.name} batch {bs} at {hw[0]}x{hw[1]} ...")
                    key = infer_key(b.name, bs, hw)
                    report.infer_fps[key] = report.keep(f"inference {key}", bench_infer(b, bs, hw))
        log("composite ...")
        report.composite_fps = report.keep("composite", bench_composite(frames, info, backend, run_batch))
        for fmt in formats:
            log(f"encode {fmt} ...")
            report.encode_fps[fmt] = report.keep(f"encode {fmt}", bench_encode(frames, info, fmt, work))
        del frames
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        log("pipeline ...")
        opts = RunOptions(source=clip, output=work / "pipeline.mp4", fmt=FORMATS["mp4"])  # batch size: auto
        summary, report.gpu_util = GpuSampler(dev).measure(lambda: run(opts, backend))
        report.pipeline_fps = summary.fps
        if dev.type == "cuda":
            report.peak_gpu_mb = round(torch.cuda.max_memory_allocated(dev) / 2**20, 1)
        stages = {"decode": report.decode_fps, "composite": report.composite_fps,
                  "encode mp4": report.encode_fps.get("mp4", float("inf")),
                  "inference": report.infer_fps[infer_key(backend.name, run_batch, size)]}
        report.slowest_stage = min(stages, key=stages.__getitem__)
        report.slowest_fps = stages[report.slowest_stage]
        if serial:
            log("frame by frame, no overlap ...")
            report.serial_fps = bench_serial(clip, backend, work)
    return report


def infer_key(backend: str, batch: int, size: tuple[int, int]) -> str:
    return f"{backend} batch {batch} at {size[0]}x{size[1]}"


def format_report(r: BenchReport) -> str:
    """The report in plain words: each stage alone, then the pipeline against what bounds it."""
    rows = [(f"decode ({r.decoder})", r.decode_fps)]
    rows += [(f"inference {k}", v) for k, v in r.infer_fps.items()]
    rows += [("composite (everything but the network)", r.composite_fps)]
    rows += [(f"encode {k}", v) for k, v in r.encode_fps.items()]
    width = max(len(name) for name, _ in rows) + 2
    lines = [f"clip {r.clip}: {r.width}x{r.height}, {r.frames} frames; device {r.device}; backend {r.backend}",
             f"each stage alone (median of {REPEATS} measurements):"]
    lines += [f"  {name:{width}s}{fps:9.1f} frames/s" for name, fps in rows]
    lines.append(f"whole run (pipelined, mp4): {r.pipeline_fps:.1f} frames/s")
    limit = r.limit("mp4")
    lines.append(f"  decode and mp4 encode alone would allow at most {limit:.1f} frames/s; "
                 f"the run reaches {100 * r.pipeline_fps / limit:.0f}% of that")
    lines.append(f"  the slowest stage it runs is {r.slowest_stage} ({r.slowest_fps:.1f} frames/s alone); "
                 f"the run reaches {100 * r.pipeline_fps / r.slowest_fps:.0f}% of it")
    if r.serial_fps:
        ratio = r.pipeline_fps / r.serial_fps
        verdict = (f"the pipeline is {ratio:.2f}x as fast" if ratio >= 1 else
                   f"the pipeline is slower, {100 * (1 - ratio):.0f}% below it")
        lines.append(f"  frame by frame with no overlap: {r.serial_fps:.1f} frames/s; {verdict}")
    if r.peak_gpu_mb is not None:
        lines.append(f"  peak GPU memory {r.peak_gpu_mb:.0f} MB, GPU utilisation {r.gpu_util}%")
    lines += [f"warning: {w}" for w in r.warnings()]
    return "\n".join(lines)


def rss_mb() -> float:
    """This process's resident memory now (Linux), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class MemorySampler:
    """Samples resident memory on a thread while a run goes on."""

    def __init__(self, interval_s: float = 0.5) -> None:
        import threading

        self.interval_s = interval_s
        self.samples: list[tuple[float, float]] = []  # (seconds since start, resident MB)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t0 = time.perf_counter()
        while not self.stop.is_set():
            self.samples.append((round(time.perf_counter() - t0, 2), round(rss_mb(), 1)))
            self.stop.wait(self.interval_s)

    def __enter__(self) -> MemorySampler:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def soak(backend: Backend, frames: int, width: int = 640, height: int = 360, log=lambda s: None) -> dict:
    """A long generated live stream (H.264 over TCP from a child process, as fast as the pipeline takes
    it) through the whole pipeline, with resident memory sampled over time. Flat means: the last fifth
    of the run uses no more memory than the second fifth (after warm-up)."""
    from streamseg.sample import StreamServer

    with tempfile.TemporaryDirectory(prefix="streamseg-soak-") as tmp, \
            StreamServer([frames], fps=30, width=width, height=height, realtime=False, record_times=False) as src:
        opts = RunOptions(source=src.url, output=Path(tmp) / "soak.mp4", fmt=FORMATS["mp4"], reconnects=0,
                          batch_size=8)
        log(f"soak: {frames} frames of {width}x{height} from {src.url} ...")
        with MemorySampler() as mem:
            summary = run(opts, backend)
    rss = [r for _, r in mem.samples]
    fifth = max(1, len(rss) // 5)
    early, late = rss[fifth:2 * fifth] or rss, rss[-fifth:]
    return {
        "frames": summary.frames, "seconds": summary.seconds, "fps": summary.fps, "size": f"{width}x{height}",
        "backend": summary.backend, "rss_mb": {"start": rss[0], "peak": max(rss), "final": rss[-1]},
        "growth_mb": round(sum(late) / len(late) - sum(early) / len(early), 1),
        "samples": mem.samples[:: max(1, len(mem.samples) // 60)],  # about 60 points over the run
    }
