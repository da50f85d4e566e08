"""Throughput of each stage alone and of the whole pipeline, on one clip, in one process.

Standalone stages: decode (PyAV), inference (per backend and batch size, at the model's size),
composite (upload, resize, refine, blend, download at full resolution), encode (per output format).
Then the pipelined run, and the same work done frame by frame with no overlap, so the pipeline's gain
and its ratio to the slowest stage it depends on are measured in the same run.
"""

from __future__ import annotations

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
from streamseg.io.reader import Frame, VideoReader
from streamseg.io.source import Source
from streamseg.io.writer import FORMATS, open_writer
from streamseg.pipeline import RunOptions, make_compositor, process_batch, run


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
    infer_fps: dict = field(default_factory=dict)  # "backend/bN/HxW" -> frames/s
    composite_fps: float = 0.0
    encode_fps: dict = field(default_factory=dict)  # format -> frames/s
    pipeline_fps: float = 0.0
    serial_fps: float = 0.0
    slowest_stage: str = ""  # of the stages the pipelined run goes through
    slowest_fps: float = 0.0
    peak_gpu_mb: float | None = None
    gpu_util: float | None = None

    def limit(self, fmt: str) -> float:
        """The slower of decode and encode: what the pipeline cannot beat."""
        return min(self.decode_fps, self.encode_fps.get(fmt, float("inf")))

    def as_dict(self) -> dict:
        return asdict(self)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(frames: int, seconds: float) -> float:
    return round(frames / seconds, 2) if seconds > 0 else 0.0


def bench_decode(clip: Path, device: torch.device) -> tuple[float, int, str]:
    """Decoding alone, with the decoder a run on `device` would choose (NVDEC where it can work)."""
    source = Source(clip, decoder="auto", device=device)
    try:
        t = time.perf_counter()
        n = sum(isinstance(item, Frame) for item in source.items(threading.Event()))
        sync(device)
        return rate(n, time.perf_counter() - t), n, source.decoder
    finally:
        source.close()


def bench_infer(backend: Backend, batch: int, size: tuple[int, int], seconds: float = 3.0) -> float:
    x = torch.rand(batch, 3, *size, device=backend.device)
    for _ in range(2):  # warm-up: kernel selection, graph capture, allocator
        backend(x)
    sync(backend.device)
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds or n < 3:
        backend(x)
        n += 1
    sync(backend.device)
    return rate(n * batch, time.perf_counter() - t)


def decoded_frames(clip: Path, limit: int) -> list:
    with VideoReader(clip) as reader:
        frames = []
        for f in reader:
            frames.append(f)
            if len(frames) >= limit:
                break
        return frames, reader.info


def bench_composite(frames, info, backend: Backend, batch: int) -> float:
    """Everything around the network: upload, resize, refine, blend, download (network replaced by
    the downscaled luma, which costs nothing)."""
    dev = backend.device
    bg = Background("studio", info.height, info.width, dev)
    batcher = Batcher(batch, pin_memory=dev.type == "cuda")
    batches = [b for f in frames if (b := batcher.add(f)) is not None]
    if not batches:
        batches = [batcher.flush()]

    def once(b):
        x = composite.to_planar(b.frames.to(dev, non_blocking=True))
        small = composite.downscale(x, composite.model_size(*x.shape[-2:], backend.spec))
        alpha = composite.refine(small.mean(1, keepdim=True), small, x)
        return composite.compose(x, alpha, "rgb", bg.batch(len(b))).cpu()

    once(batches[0])
    sync(dev)
    t = time.perf_counter()
    n = 0
    for b in batches:
        once(b)
        n += len(b)
    sync(dev)
    return rate(n, time.perf_counter() - t)


def bench_encode(frames, info, fmt_name: str, workdir: Path) -> float:
    fmt = FORMATS[fmt_name]
    images = []
    for f in frames:
        img = torch.from_numpy(f.rgb)
        if fmt.layers == "rgba":
            img = torch.cat([img, torch.full_like(img[..., :1], 200)], dim=2)
        images.append((img.numpy(), f.pts))
    out = workdir / f"enc_{fmt_name}{fmt.suffix or '_png'}"
    writer = open_writer(out, fmt, info, None)
    t = time.perf_counter()
    for img, pts in images:
        writer.write(img, pts)
    writer.close()
    return rate(len(images), time.perf_counter() - t)


def bench_serial(clip: Path, backend: Backend, workdir: Path, fmt_name: str = "mp4") -> float:
    """The same work frame by frame in one thread: decode, infer, composite, encode, repeat."""
    fmt = FORMATS[fmt_name]
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
    with tempfile.TemporaryDirectory(prefix="streamseg-bench-") as tmp:
        work = Path(tmp)
        log("decode ...")
        decode_fps, n, decoder = bench_decode(clip, dev)
        frames, info = decoded_frames(clip, encode_frames)
        report = BenchReport(clip=str(clip), width=info.width, height=info.height, frames=n,
                             device=str(dev), backend=backend.describe(), decoder=decoder, decode_fps=decode_fps)
        size = composite.model_size(info.height, info.width, backend.spec)
        for b in [backend, *(extra_backends or [])]:
            for bs in batch_sizes:
                log(f"inference {b.name} batch {bs} ...")
                report.infer_fps[f"{b.name}/b{bs}/{size[0]}x{size[1]}"] = bench_infer(b, bs, size)
                if size != (256, 256):
                    report.infer_fps[f"{b.name}/b{bs}/256x256"] = bench_infer(b, bs, (256, 256))
        log("composite ...")
        report.composite_fps = bench_composite(frames, info, backend, max(batch_sizes))
        for fmt in formats:
            log(f"encode {fmt} ...")
            report.encode_fps[fmt] = bench_encode(frames, info, fmt, work)
        del frames
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        log("pipeline ...")
        opts = RunOptions(clip, work / "pipeline.mp4", FORMATS["mp4"], batch_size=max(batch_sizes))
        summary, report.gpu_util = GpuSampler(dev).measure(lambda: run(opts, backend))
        report.pipeline_fps = summary.fps
        if dev.type == "cuda":
            report.peak_gpu_mb = round(torch.cuda.max_memory_allocated(dev) / 2**20, 1)
        stages = {"decode": report.decode_fps, "composite": report.composite_fps,
                  "encode mp4": report.encode_fps.get("mp4", float("inf")),
                  "inference": report.infer_fps[f"{backend.name}/b{max(batch_sizes)}/{size[0]}x{size[1]}"]}
        report.slowest_stage = min(stages, key=stages.get)
        report.slowest_fps = stages[report.slowest_stage]
        if serial:
            log("frame by frame, no overlap ...")
            report.serial_fps = bench_serial(clip, backend, work)
    return report


def format_report(r: BenchReport) -> str:
    lines = [f"clip {r.clip}: {r.width}x{r.height}, {r.frames} frames; device {r.device}; backend {r.backend}",
             f"  decode                 {r.decode_fps:8.1f} frames/s ({r.decoder})"]
    for k, v in r.infer_fps.items():
        lines.append(f"  inference {k:22s} {v:8.1f} frames/s")
    lines.append(f"  composite (no model)   {r.composite_fps:8.1f} frames/s")
    for k, v in r.encode_fps.items():
        lines.append(f"  encode {k:15s} {v:8.1f} frames/s")
    limit = r.limit("mp4")
    lines.append(f"  pipeline (mp4)         {r.pipeline_fps:8.1f} frames/s   "
                 f"= {r.pipeline_fps / limit:.2f} x min(decode, encode mp4) = {limit:.1f}")
    lines.append(f"  pipeline / slowest stage it runs ({r.slowest_stage}, {r.slowest_fps:.1f}): "
                 f"{r.pipeline_fps / r.slowest_fps:.2f}")
    if r.serial_fps:
        lines.append(f"  frame by frame, no overlap {r.serial_fps:8.1f} frames/s; "
                     f"pipeline is {r.pipeline_fps / r.serial_fps:.2f}x faster")
    if r.peak_gpu_mb is not None:
        lines.append(f"  peak GPU memory {r.peak_gpu_mb:.0f} MB, GPU utilisation {r.gpu_util}%")
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

    def __init__(self, interval: float = 0.5) -> None:
        import threading

        self.interval, self.samples = interval, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t0 = time.perf_counter()
        while not self.stop.is_set():
            self.samples.append((round(time.perf_counter() - t0, 2), round(rss_mb(), 1)))
            self.stop.wait(self.interval)

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
        opts = RunOptions(src.url, Path(tmp) / "soak.mp4", FORMATS["mp4"], reconnects=0, batch_size=8)
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
