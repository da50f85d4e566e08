"""The run: decode -> batch -> infer -> composite -> encode (+ audio), as threads joined by bounded queues.

This is the only module that owns threads and queues. Decoding and encoding run in their own threads
(PyAV releases the GIL while it works) so they overlap with inference; each frame queue is bounded, so
a slow stage makes the others wait instead of filling memory (in real-time mode the decoder drops
frames instead of waiting, and counts them). Audio packets go from the decoder straight to the encoder
thread, which interleaves them with the frames by time. End of stream and errors travel down the same
queues; the first error stops every stage, the writer drops its temporary output, and the error is
raised once from `run`.
"""

from __future__ import annotations

import collections
import queue
import statistics
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from streamseg import composite
from streamseg.backends.base import Backend, compute_threads
from streamseg.background import Background
from streamseg.batching import Batcher, FrameBatch
from streamseg.errors import InputError, Interrupted, StreamsegError
from streamseg.io.reader import AudioPacket, VideoInfo
from streamseg.io.source import Source
from streamseg.io.writer import OutputFormat, open_writer
from streamseg.models import SIZE_MULTIPLE
from streamseg.temporal import TemporalSmoother

END = object()  # end of stream marker, sent downstream once
TIMEOUT = object()  # nothing arrived in time
BATCH_PIXELS = 8 * 1920 * 1080  # a batch's full-resolution working set stays that of 8 HD frames


@dataclass(frozen=True)
class RunOptions:
    source: Path | str  # file, URL, pipe: or - (stdin)
    output: Path | str  # file or folder, or a URL for a live stream
    fmt: OutputFormat
    background: str = "studio"
    batch_size: int | None = None  # None: auto_batch_size for the device
    refine: bool = True
    smooth: bool = True  # temporal smoothing of the matte (streamseg.temporal)
    queue_size: int = 4  # batches in flight between two stages
    max_latency_ms: float | None = None  # close a batch when its oldest frame waited this long
    realtime: bool = False  # drop frames rather than fall behind a live source
    reconnects: int = 3  # for live sources that drop
    reconnect_delay: float = 0.5  # seconds before the first retry, doubling after
    timeout: float = 10.0  # seconds to open or read a stream before giving up
    decoder: str = "auto"  # auto (NVDEC where it can work, else PyAV), nvdec or pyav
    deinterlace: str = "auto"  # auto (when the video is interlaced), on or off


@dataclass
class RunSummary:
    input: str
    output: str
    format: str
    frames: int
    seconds: float
    fps: float
    backend: str
    device: str
    decoder: str
    width: int
    height: int
    audio: str | None
    dropped: int = 0  # frames skipped in real-time mode
    reconnects: int = 0
    source_end: str = ""  # for live sources: how the input ended
    latency_ms: dict = field(default_factory=dict)  # frame decoded -> frame written: p50, p95, max
    stages: dict = field(default_factory=dict)  # seconds each stage spent working
    interlaced: bool = False  # the input's frames are coded as fields
    deinterlaced: bool = False  # and were deinterlaced (bwdif) before segmentation
    dropped_streams: list = field(default_factory=list)  # the input's streams the output does not carry


class _Stop(Exception):
    """Raised inside a stage when another stage has failed."""


class Stage(threading.Thread):
    """A thread that runs `work`, passing failures to the run instead of printing them."""

    def __init__(self, name: str, work: Callable[[], None], run: _Run) -> None:
        super().__init__(name=name, daemon=True)
        self.work, self.run_ = work, run

    def run(self) -> None:
        try:
            self.work()
        except _Stop:
            pass
        except BaseException as e:  # noqa: BLE001  every failure ends the run, reported once
            self.run_.fail(e)


class _Run:
    """Shared state of one run: the stop flag, the first error, and blocking queue helpers."""

    def __init__(self, stop_input: threading.Event, cancel: threading.Event | None) -> None:
        self.stop = threading.Event()
        self.stop_input = stop_input  # stops reading the input; the stages after it drain
        self.cancel = cancel  # set from another thread: abandon the run as Ctrl-C would
        self.error: BaseException | None = None
        self.lock = threading.Lock()

    def fail(self, e: BaseException) -> None:
        with self.lock:
            if self.error is None:
                self.error = e
        self.stop.set()
        self.stop_input.set()

    def put(self, q: queue.Queue, item) -> None:
        while True:
            if self.stop.is_set():
                raise _Stop
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def get(self, q: queue.Queue, timeout: float | None = None):
        """The next item, or TIMEOUT once `timeout` seconds have passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.stop.is_set():
                raise _Stop
            if self.cancel is not None and self.cancel.is_set():
                raise KeyboardInterrupt
            wait = 0.1 if deadline is None else min(0.1, max(0.0, deadline - time.monotonic()))
            try:
                return q.get(timeout=wait) if wait > 0 else q.get_nowait()
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    return TIMEOUT


def auto_batch_size(device: torch.device) -> int:
    """1 on the CPU (batching only adds latency and memory there: 15.0 against 10.9 frames/s for 8 on a
    720p clip, BENCHMARKS.md), 8 on a GPU (fills it)."""
    return 1 if device.type == "cpu" else 8


def batch_frames(batch_size: int | None, info: VideoInfo, device: torch.device) -> int:
    """The batch size asked for (None: auto for `device`), made smaller for very large frames (8K: 1)
    so memory stays bounded."""
    size = batch_size or auto_batch_size(device)
    return max(1, min(size, BATCH_PIXELS // (info.width * info.height)))


def check_frame_size(info: VideoInfo, name: str) -> None:
    if info.width < SIZE_MULTIPLE or info.height < SIZE_MULTIPLE:
        raise InputError(f"{name} is {info.width}x{info.height}; frames must be at least "
                         f"{SIZE_MULTIPLE}x{SIZE_MULTIPLE}", "use a larger video")


def make_compositor(device: torch.device, layers: str, refine: bool = True, smooth: bool = True):
    """The fused CPU compositor for frames on the CPU, the tensor one elsewhere (same results within
    one grey level: tests/test_cpu_compositor.py)."""
    smoother = TemporalSmoother() if smooth else None
    if device.type == "cpu":
        from streamseg.cpu_compositor import CpuCompositor

        return CpuCompositor(layers, refine, smoother)
    return composite.TensorCompositor(layers, refine, smoother)


@dataclass(frozen=True)
class Inferred:
    """A batch after the network, on its way to the compositor."""
    batch: FrameBatch
    pixels: torch.Tensor  # [N,H,W,3] uint8 on the backend's device
    small: torch.Tensor  # [N,3,h,w] float 0..1: the model's input picture
    alpha_lr: torch.Tensor  # [N,1,h,w] 0..1: the network's matte


def infer_batch(batch: FrameBatch, backend: Backend) -> Inferred:
    pixels = batch.frames.to(backend.device, non_blocking=True)
    h, w = pixels.shape[1:3]
    small = composite.downscale(pixels.permute(0, 3, 1, 2), composite.model_size(h, w, backend.spec))
    return Inferred(batch, pixels, small, backend(composite.normalise(small, backend.spec)))


def composite_batch(x: Inferred, background: Background | None, compositor) -> torch.Tensor:
    """The images to encode, [N,H,W,C] uint8 on the host."""
    bg = background.batch(len(x.batch)) if background is not None else None
    images = compositor(x.pixels, x.small, x.alpha_lr, bg)
    if images.device.type != "cuda":
        return images
    host = torch.empty(images.shape, dtype=images.dtype, pin_memory=True)  # cached by torch's host allocator
    host.copy_(images, non_blocking=True)  # DMA straight into page-locked memory
    torch.cuda.current_stream(images.device).synchronize()
    return host


def process_batch(batch: FrameBatch, backend: Backend, background: Background | None, compositor) -> torch.Tensor:
    """One batch through the model and the compositor, in this thread: [N,H,W,3] uint8 -> [N,H,W,C] uint8."""
    return composite_batch(infer_batch(batch, backend), background, compositor)

def run(opts: RunOptions, backend: Backend, progress: Callable[[int], None] | None = None,
        announce: Callable[[VideoInfo, str], None] | None = None, finish: threading.Event | None = None,
        cancel: threading.Event | None = None) -> RunSummary:
    """Process one input into one output; raises StreamsegError (or Interrupted) on failure.

    `announce(info, decoder)` is called once input, background and output are open, before any frame
    is processed. Setting `finish` ends the input early but finishes the output properly (how a live
    recording is stopped); setting `cancel` abandons the run like Ctrl-C (how a batch is stopped).
    """
    threads = torch.get_num_threads()
    if backend.device.type == "cpu":  # leave cores to FFmpeg's decoder and encoder threads
        torch.set_num_threads(compute_threads())
    try:
        return _run(opts, backend, progress, announce, finish, cancel)
    finally:
        torch.set_num_threads(threads)


def _run(opts: RunOptions, backend: Backend, progress: Callable[[int], None] | None,
         announce: Callable[[VideoInfo, str], None] | None, finish: threading.Event | None,
         cancel: threading.Event | None) -> RunSummary:
    source = Source(opts.source, opts.reconnects, opts.reconnect_delay, opts.timeout, opts.decoder, backend.device,
                    opts.deinterlace)
    info = source.info
    background = writer = None
    stop_input = finish or threading.Event()
    state = _Run(stop_input, cancel)
    started = time.perf_counter()
    busy = {"decode": 0.0, "infer": 0.0, "composite": 0.0, "encode": 0.0}
    counts = {"in": 0, "out": 0, "dropped": 0}
    latencies: collections.deque[float] = collections.deque(maxlen=100_000)
    try:
        check_frame_size(info, source.reader.name)
        if opts.fmt.layers == "rgb":
            background = Background(opts.background, info.height, info.width, backend.device, info.colour)
        writer = open_writer(opts.output, opts.fmt, info, source.audio_stream)
        # real time: at most one batch waits before inference and one after, so a late frame is
        # dropped at once instead of aging in a queue
        depth = 1 if opts.realtime else opts.queue_size
        batch_size = batch_frames(opts.batch_size, info, backend.device)
        decoded: queue.Queue = queue.Queue(maxsize=depth * batch_size)
        inferred: queue.Queue = queue.Queue(maxsize=depth)
        finished: queue.Queue = queue.Queue(maxsize=depth)
        audio: queue.Queue = queue.Queue()  # compressed audio: small, and bounded by the input's interleaving
        if announce:
            announce(info, source.decoder)

        def decode() -> None:
            for item in timed(source.items(stop_input), busy, "decode"):
                if isinstance(item, AudioPacket):
                    audio.put(item)
                    continue
                if opts.realtime:
                    try:
                        decoded.put_nowait(item)
                    except queue.Full:  # behind a live source: skip this frame rather than lag
                        counts["dropped"] += 1
                        continue
                else:
                    state.put(decoded, item)
                counts["in"] += 1
            state.put(decoded, END)

        def encode() -> None:
            waiting: collections.deque[AudioPacket] = collections.deque()

            def audio_until(seconds: float | None) -> None:
                while True:
                    try:
                        waiting.append(audio.get_nowait())
                    except queue.Empty:
                        break
                while waiting and (seconds is None or waiting[0].seconds <= seconds):
                    writer.write_audio(waiting.popleft().packet)

            while True:
                item = state.get(finished)
                if item is END:
                    audio_until(None)  # the decoder queued all audio before it sent END
                    return
                images, batch = item
                t = time.perf_counter()
                for image, p in zip(images.numpy(), batch.pts):
                    audio_until(float(p * info.time_base))
                    writer.write(image, p)
                    counts["out"] += 1  # frames really written: the guard after the run compares
                now = time.monotonic()
                latencies.extend(now - a for a in batch.arrived)
                busy["encode"] += time.perf_counter() - t
                if progress:
                    progress(len(batch))

        compositor = make_compositor(backend.device, opts.fmt.layers, opts.refine, opts.smooth)

        def compose() -> None:  # its own thread: on a CPU it overlaps the next batch's inference
            while True:
                item = state.get(inferred)
                if item is END:
                    state.put(finished, END)
                    return
                t = time.perf_counter()
                images = composite_batch(item, background, compositor)
                busy["composite"] += time.perf_counter() - t
                state.put(finished, (images, item.batch))

        stages = [Stage("decode", decode, state), Stage("composite", compose, state), Stage("encode", encode, state)]
        for s in stages:
            s.start()
        max_wait = opts.max_latency_ms / 1000 if opts.max_latency_ms is not None else None
        batcher = Batcher(batch_size, pin_memory=backend.device.type == "cuda",
                          max_wait=max_wait)
        try:
            while True:
                item = state.get(decoded, batcher.wait_left())
                batch = batcher.flush() if item in (END, TIMEOUT) else batcher.add(item)
                if batch is not None:
                    t = time.perf_counter()
                    out = infer_batch(batch, backend)
                    busy["infer"] += time.perf_counter() - t
                    state.put(inferred, out)
                if item is END:
                    state.put(inferred, END)
                    break
        except _Stop:
            pass
        except BaseException as e:  # noqa: BLE001  includes KeyboardInterrupt: stop the others first
            state.fail(e)
        for s in stages:
            while s.is_alive():
                try:
                    s.join(timeout=0.2)
                except BaseException as e:  # noqa: BLE001  a second Ctrl-C while stopping
                    state.fail(e)
        if state.error is not None:
            raise state.error
        if counts["out"] != counts["in"]:
            raise StreamsegError(f"wrote {counts['out']} frames but decoded {counts['in']}")
        writer.close()
        writer = None
    except KeyboardInterrupt:
        raise Interrupted("interrupted; the partial output was removed") from None
    finally:
        state.stop.set()
        if writer is not None:
            writer.abort()
        if background is not None:
            background.close()
        source.close()
    seconds = time.perf_counter() - started
    return RunSummary(
        input=str(opts.source), output=str(opts.output), format=opts.fmt.name, frames=counts["out"],
        seconds=round(seconds, 3), fps=round(counts["out"] / seconds, 2) if seconds else 0.0,
        backend=backend.describe(), device=str(backend.device), decoder=source.decoder,
        width=info.width, height=info.height,
        audio=info.audio_codec, dropped=counts["dropped"], reconnects=source.reconnected,
        source_end=source.ended if info.live else "", latency_ms=latency_summary(latencies),
        stages={k: round(v, 3) for k, v in busy.items()}, interlaced=info.interlaced, deinterlaced=info.deinterlaced,
        dropped_streams=list(info.dropped),
    )


def latency_summary(seconds: Iterable[float]) -> dict:
    values = sorted(seconds)
    if not values:
        return {}
    ms = [v * 1000 for v in values]
    return {"p50": round(statistics.median(ms), 1), "p95": round(ms[int(0.95 * (len(ms) - 1))], 1),
            "max": round(ms[-1], 1)}


def timed(items: Iterable, busy: dict, key: str):
    """Iterate `items`, adding the time spent producing each to busy[key]."""
    it = iter(items)
    while True:
        t = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            busy[key] += time.perf_counter() - t
            return
        busy[key] += time.perf_counter() - t
        yield item
