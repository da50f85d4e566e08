"""The run: decode -> batch -> infer -> composite -> encode, as threads joined by bounded queues.

This is the only module that owns threads and queues. Decoding and encoding run in their own threads
(PyAV releases the GIL while it works) so they overlap with inference; each queue is bounded, so a slow
stage makes the others wait instead of filling memory. End of stream and errors travel down the same
queues; the first error stops every stage, the writer drops its temporary output, and the error is
raised once from `run`.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from streamseg import composite
from streamseg.backends.base import Backend
from streamseg.background import Background
from streamseg.batching import Batcher, FrameBatch
from streamseg.errors import InputError, Interrupted, StreamsegError
from streamseg.io.reader import VideoInfo, VideoReader
from streamseg.io.writer import OutputFormat, open_writer
from streamseg.model import SIZE_MULTIPLE

END = object()  # end of stream marker, sent downstream once


@dataclass(frozen=True)
class RunOptions:
    input: Path
    output: Path
    fmt: OutputFormat
    background: str = "studio"
    batch_size: int = 8
    refine: bool = True
    queue_size: int = 4  # batches in flight between two stages


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
    width: int
    height: int
    audio: str | None
    stages: dict = field(default_factory=dict)  # seconds each stage spent working


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

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.lock = threading.Lock()

    def fail(self, e: BaseException) -> None:
        with self.lock:
            if self.error is None:
                self.error = e
        self.stop.set()

    def put(self, q: queue.Queue, item) -> None:
        while True:
            if self.stop.is_set():
                raise _Stop
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def get(self, q: queue.Queue):
        while True:
            if self.stop.is_set():
                raise _Stop
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue


BATCH_PIXELS = 8 * 1920 * 1080  # a batch's full-resolution working set stays that of 8 HD frames


def batch_frames(batch_size: int, info: VideoInfo) -> int:
    """The batch size asked for, made smaller for very large frames (8K: 1) so memory stays bounded."""
    return max(1, min(batch_size, BATCH_PIXELS // (info.width * info.height)))


def check_frame_size(info: VideoInfo, path: Path) -> None:
    if info.width < SIZE_MULTIPLE or info.height < SIZE_MULTIPLE:
        raise InputError(f"{path.name} is {info.width}x{info.height}; frames must be at least "
                         f"{SIZE_MULTIPLE}x{SIZE_MULTIPLE}", "use a larger video")


def process_batch(batch: FrameBatch, backend: Backend, background: Background | None, layers: str,
                  refine: bool) -> torch.Tensor:
    """One batch through the model and the compositor: [N,H,W,3] uint8 -> [N,H,W,C] uint8 (host)."""
    dev = backend.device
    pixels = batch.frames.to(dev, non_blocking=True)  # [N,H,W,3] uint8
    h, w = pixels.shape[1:3]
    small = composite.downscale(pixels.permute(0, 3, 1, 2), composite.model_size(h, w, backend.spec))
    frames = composite.to_planar(pixels)  # [N,3,H,W] float 0..1
    alpha_lr = backend(composite.normalise(small, backend.spec))
    alpha = composite.refine(alpha_lr, small, frames) if refine else composite.upsample(alpha_lr, (h, w))
    bg = background.batch(len(batch)) if background is not None else None
    return composite.compose(frames, alpha, layers, bg).cpu()


def run(opts: RunOptions, backend: Backend, progress: Callable[[int], None] | None = None,
        announce: Callable[[VideoInfo], None] | None = None) -> RunSummary:
    """Process one input file into one output; raises StreamsegError (or Interrupted) on failure.

    `announce(info)` is called once input, background and output are open, before any frame is processed.
    """
    reader = VideoReader(opts.input)
    info = reader.info
    background = writer = None
    state = _Run()
    started = time.perf_counter()
    busy = {"decode": 0.0, "infer+composite": 0.0, "encode": 0.0}
    try:
        check_frame_size(info, opts.input)
        if opts.fmt.layers == "rgb":
            background = Background(opts.background, info.height, info.width, backend.device)
        writer = open_writer(opts.output, opts.fmt, info, opts.input if info.audio_codec else None)
        decoded: queue.Queue = queue.Queue(maxsize=opts.queue_size * opts.batch_size)
        finished: queue.Queue = queue.Queue(maxsize=opts.queue_size)
        counts = {"in": 0, "out": 0}
        if announce:
            announce(info)

        def decode() -> None:
            for frame in timed(reader, busy, "decode"):
                state.put(decoded, frame)
                counts["in"] += 1
            state.put(decoded, END)

        def encode() -> None:
            while True:
                item = state.get(finished)
                if item is END:
                    return
                images, pts = item
                t = time.perf_counter()
                for image, p in zip(images.numpy(), pts):
                    writer.write(image, p)
                busy["encode"] += time.perf_counter() - t
                counts["out"] += len(pts)
                if progress:
                    progress(len(pts))

        stages = [Stage("decode", decode, state), Stage("encode", encode, state)]
        for s in stages:
            s.start()
        batcher = Batcher(batch_frames(opts.batch_size, info), pin_memory=backend.device.type == "cuda")
        try:
            while True:
                item = state.get(decoded)
                batch = batcher.flush() if item is END else batcher.add(item)
                if batch is not None:
                    t = time.perf_counter()
                    out = process_batch(batch, backend, background, opts.fmt.layers, opts.refine)
                    busy["infer+composite"] += time.perf_counter() - t
                    state.put(finished, (out, batch.pts))
                if item is END:
                    state.put(finished, END)
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
        reader.close()
    seconds = time.perf_counter() - started
    return RunSummary(
        input=str(opts.input), output=str(opts.output), format=opts.fmt.name, frames=counts["out"],
        seconds=round(seconds, 3), fps=round(counts["out"] / seconds, 2) if seconds else 0.0,
        backend=backend.describe(), device=str(backend.device), width=info.width, height=info.height,
        audio=info.audio_codec, stages={k: round(v, 3) for k, v in busy.items()},
    )


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
