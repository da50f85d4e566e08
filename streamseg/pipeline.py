"""The run: decode -> batch -> infer -> composite -> encode (+ audio, subtitles), as threads joined by bounded queues.

This is the only module that owns threads and queues. Decoding and encoding run in their own threads
(PyAV releases the GIL while it works) so they overlap with inference; each frame queue is bounded, so
a slow stage makes the others wait instead of filling memory (in real-time mode the decoder drops
frames instead of waiting, and counts them). Audio and subtitle packets go from the decoder straight to
the encoder thread, which interleaves them with the frames by time. End of stream and errors travel down the same
queues; the first error stops every stage, the writer drops its temporary output, and the error is
raised once from `run`.
"""

from __future__ import annotations

import collections
import queue
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace

import torch

from streamseg import composite
from streamseg.backends.base import Backend, compute_threads
from streamseg.background import Background
from streamseg.batching import Batcher, FrameBatch
from streamseg.closer import closer_looks
from streamseg.composite import Compositor, Layers
from streamseg.edges import EdgeStage, edge_stage_for, redraws
from streamseg.errors import InputError, Interrupted, StreamsegError
from streamseg.io.reader import SidePacket, VideoInfo
from streamseg.io.source import Source
from streamseg.io.writer import PngSequenceWriter, VideoWriter, open_writer
from streamseg.models import SIZE_MULTIPLE
from streamseg.options import RunOptions
from streamseg.plates import PlateMasker, open_plate_masker
from streamseg.studio import StudioStage
from streamseg.temporal import FlowSteadier, TemporalSmoother
from streamseg.threads import Worker, wait_all
from streamseg.vehicles import SubjectTracker, Vehicles

END = object()  # end of stream marker, sent downstream once
TIMEOUT = object()  # nothing arrived in time
# a stateful step on the network's matte: (alpha_lr [N,1,h,w], the model's input picture [N,3,h,w]) -> alpha_lr
MatteFilter = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
BATCH_PIXELS = 8 * 1920 * 1080  # a batch's full-resolution working set stays that of 8 HD frames


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
    dropped_streams: list = field(default_factory=list)  # the input's streams the output does not carry, and why
    copied_streams: list = field(default_factory=list)  # its subtitle streams the output carries as they are
    vehicles: str = "every vehicle"  # which vehicles the output holds (streamseg.vehicles)
    plates: str = ""  # with --plate: how many frames had a plate covered (streamseg.plates)
    edges: bool = False  # the outline was redrawn at full resolution (--edges, streamseg.edges; not small frames)

    def as_dict(self) -> dict:
        return asdict(self)


class _Stop(Exception):
    """Raised inside a stage when another stage has failed."""


class Stage(Worker):
    """A thread that runs `work`, passing failures to the flow instead of printing them."""

    def __init__(self, name: str, work: Callable[[], None], flow: Flow) -> None:
        super().__init__(name, self.guarded)
        self.work, self.flow = work, flow

    def guarded(self) -> None:
        try:
            self.work()
        except _Stop:
            pass
        except BaseException as e:  # noqa: BLE001  every failure ends the run, reported once
            self.flow.fail(e)


class Flow:
    """What the stages of one pipeline share: the stop flag, the first error, and blocking queue helpers."""

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


def make_compositor(device: torch.device, layers: Layers, refine: bool = True, smooth: bool = True,
                    shadow_colour: tuple[int, int, int] = (0, 0, 0), edges: EdgeStage | None = None) -> Compositor:
    """The fused CPU compositor for frames on the CPU, the tensor one elsewhere (same results within
    one grey level: tests/test_cpu_compositor.py). The edge stage redraws the guided filter's matte, so
    it is handed over only with refine."""
    smoother = TemporalSmoother() if smooth else None
    edges = edges if refine else None
    if device.type == "cpu":
        from streamseg.cpu_compositor import CpuCompositor

        return CpuCompositor(layers, refine, smoother, shadow_colour, edges)
    return composite.TensorCompositor(layers, refine, smoother, shadow_colour, edges)


@dataclass(frozen=True)
class Inferred:
    """A batch after the network, on its way to the compositor."""
    batch: FrameBatch
    pixels: torch.Tensor  # [N,H,W,3] uint8 on the backend's device
    small: torch.Tensor  # [N,3,h,w] float 0..1: the model's input picture
    alpha_lr: torch.Tensor  # [N,1,h,w] 0..1: the network's matte


def first_look(pixels: torch.Tensor, backend: Backend) -> tuple[torch.Tensor, torch.Tensor]:
    """[N,H,W,3] uint8 on the backend's device -> the picture at the network's input size [N,3,h,w] 0..1 and
    the network's matte of it [N,1,h,w]."""
    h, w = pixels.shape[1:3]
    small = composite.downscale(pixels.permute(0, 3, 1, 2), composite.model_size(h, w, backend.spec))
    return small, backend(composite.normalise(small, backend.spec))


def infer_batch(batch: FrameBatch, backend: Backend) -> Inferred:
    pixels = batch.frames.to(backend.device, non_blocking=True)
    return Inferred(batch, pixels, *first_look(pixels, backend))


def matte_filters(smooth: bool, vehicles: Vehicles) -> list[MatteFilter]:
    """What happens to the network's matte before the full-resolution stage, in order, each keeping its
    state from frame to frame of one run: steadied along the motion (--smooth), then kept to the subject
    vehicle (--vehicles subject)."""
    return ([FlowSteadier()] if smooth else []) + ([SubjectTracker()] if vehicles == "subject" else [])


def composite_batch(x: Inferred, background: Background | None, compositor: Compositor,
                    studio: StudioStage | None = None, filters: Sequence[MatteFilter] = (),
                    plates: PlateMasker | None = None) -> torch.Tensor:
    """The images to encode, [N,H,W,C] uint8 on the host. Number plates are covered first (--plate), on the
    frame the compositor takes the car's colours from; the matte filters go next, so the compositor
    and the shadow see the matte they leave. With a studio stage, the compositor draws its shadow
    (`shade`), or hands it the cut-out to place and lay over the backdrop (`lay_out`); both measure the
    shadow on the same matte, the one the compositor gets."""
    filmed = None  # the frames as filmed, where the edge stage draws the outline from them (Compositor.__call__)
    if plates is not None:
        if compositor.edges is not None:
            filmed = x.pixels.clone()  # the plates are covered in place on the CPU
        x = replace(x, pixels=plates(x.pixels))
    for f in filters:
        x = replace(x, alpha_lr=f(x.alpha_lr, x.small))
    bg = background.batch(len(x.batch)) if background is not None else None
    if studio is None:
        images = keep_transparency(compositor(x.pixels, x.small, x.alpha_lr, bg, filmed=filmed), x.batch.alpha, bg)
    else:
        h, w = x.pixels.shape[1:3]
        shade = studio.shade(x.alpha_lr, x.batch.pts, w, h)
        images = keep_transparency(compositor(x.pixels, x.small, x.alpha_lr, bg, shade, filmed), x.batch.alpha, bg)
        images = studio.lay_out(images, bg, x.batch.pts, x.alpha_lr)
    if images.device.type != "cuda":
        return images
    host = torch.empty(images.shape, dtype=images.dtype, pin_memory=True)  # cached by torch's host allocator
    host.copy_(images, non_blocking=True)  # DMA straight into page-locked memory
    torch.cuda.current_stream(images.device).synchronize()
    return host


def keep_transparency(images: torch.Tensor, alpha: torch.Tensor | None, bg: torch.Tensor | None) -> torch.Tensor:
    """Where the input itself is transparent there is no car: the matte times the input's alpha. images
    [N,H,W,C] uint8 as the compositor made them: a cut-out (C = 4) gets its alpha multiplied, a matte its grey,
    and a composite over `bg` ([N or 1, H or 1, W or 1, 3] uint8) moves back towards the backdrop by the same
    amount."""
    if alpha is None:
        return images
    t = alpha.to(images.device).float().div(255)[..., None]  # [N,H,W,1]
    out = images.float()
    if images.shape[-1] == 4:
        out[..., 3:] *= t
    elif bg is None:  # the matte
        out *= t
    else:
        back = bg.to(images.device).float().expand(images.shape[0], *images.shape[1:3], 3)
        out = back + (out - back) * t
    return out.round_().clamp_(0, 255).to(torch.uint8)


def process_batch(batch: FrameBatch, backend: Backend, background: Background | None, compositor: Compositor,
                  studio: StudioStage | None = None, filters: Sequence[MatteFilter] = (),
                  plates: PlateMasker | None = None, still: bool = False) -> torch.Tensor:
    """One batch through the model and the compositor, in this thread: [N,H,W,3] uint8 -> [N,H,W,C] uint8.
    `still`: a photo, where a UNet takes a second look at the car before the edge stage redraws its outline."""
    x = infer_batch(batch, backend)
    if still and looks_closer(backend, compositor, *x.pixels.shape[1:3]):
        outline = compositor.edges.outline if compositor.edges is not None else None
        small, alpha_lr = closer_looks(x.pixels, x.small, x.alpha_lr, backend, outline)
        x = replace(x, small=small, alpha_lr=alpha_lr)
    return composite_batch(x, background, compositor, studio, filters, plates)


def looks_closer(backend: Backend, compositor: Compositor, height: int, width: int) -> bool:
    """Whether a photo gets the second look at its car (streamseg.closer): where the edge stage redraws the
    outline, behind a UNet (IS-Net sees 1024x1024 already, and its edge network learnt its first look)."""
    return compositor.edges is not None and redraws(height, width) and backend.spec.arch == "unet"


def run(opts: RunOptions, backend: Backend, progress: Callable[[int], None] | None = None,
        announce: Callable[[VideoInfo, str], None] | None = None, finish: threading.Event | None = None,
        cancel: threading.Event | None = None) -> RunSummary:
    """Process one input into one output; raises StreamsegError (or Interrupted) on failure.

    `announce(info, decoder)` is called once input, background and output are open, before any frame
    is processed. Setting `finish` ends the input early but finishes the output properly (how a live
    recording is stopped); setting `cancel` abandons the run like Ctrl-C (how a batch is stopped).
    """
    pipeline = Pipeline(opts, backend, progress, finish, cancel)
    try:
        pipeline.open()
        if announce:
            announce(pipeline.info, pipeline.source.decoder)
        pipeline.stream()
    except KeyboardInterrupt:
        raise Interrupted("interrupted; the partial output was removed") from None
    finally:
        pipeline.close()
    return pipeline.summary()


class Pipeline:
    """One run: a method per stage (decode, batch + infer, composite, encode), each in its own thread
    but batch + infer, which runs in the caller's; the queues between them and the counters as attributes."""

    def __init__(self, opts: RunOptions, backend: Backend, progress: Callable[[int], None] | None,
                 finish: threading.Event | None, cancel: threading.Event | None) -> None:
        self.opts, self.backend, self.progress = opts, backend, progress
        self.source = Source(opts.source, reconnects=opts.reconnects, delay_s=opts.reconnect_delay_s,
                             timeout_s=opts.timeout_s, decoder=opts.decoder, device=backend.device,
                             deinterlace=opts.deinterlace)
        self.info = self.source.info
        self.stop_input = finish or threading.Event()  # set: stop reading; the stages after it drain
        self.flow = Flow(self.stop_input, cancel)
        self.background: Background | None = None
        self.studio: StudioStage | None = None
        self.plates: PlateMasker | None = None
        self.edges: EdgeStage | None = None
        self.writer: VideoWriter | PngSequenceWriter | None = None
        self.started = time.perf_counter()
        self.busy = {"decode": 0.0, "infer": 0.0, "composite": 0.0, "encode": 0.0}  # seconds working
        self.frames_in = self.frames_out = self.dropped = 0
        self.latencies: collections.deque[float] = collections.deque(maxlen=100_000)
        self.ended_at: float | None = None
        self.torch_threads = torch.get_num_threads()

    def open(self) -> None:
        """Background, output and queues; raises before any frame is processed when one cannot open."""
        opts, info, dev = self.opts, self.info, self.backend.device
        if dev.type == "cpu":  # leave cores to FFmpeg's decoder and encoder threads (restored by close)
            torch.set_num_threads(compute_threads())
        check_frame_size(info, self.source.reader.name)
        look = opts.look
        self.studio = StudioStage(look, opts.fmt.layers, float(info.time_base)) if look.active else None
        width, height = look.size or (info.width, info.height)  # the output frame
        if opts.fmt.layers == "rgb":
            self.background = Background(opts.background, height, width, dev, info.colour)
        self.writer = open_writer(opts.output, opts.fmt, replace(info, width=width, height=height),
                                  self.source.audio_stream, self.source.subtitle_streams)
        # which subtitles the output holds is known now that its container is open
        subtitles = self.writer.subtitles
        self.info = replace(info, dropped=info.dropped + subtitles.dropped, copied=subtitles.copied)
        # real time: at most one batch waits before inference and one after, so a late frame is
        # dropped at once instead of aging in a queue
        depth = 1 if opts.realtime else opts.queue_size
        self.batch_size = batch_frames(opts.batch_size, info, dev)
        self.decoded: queue.Queue = queue.Queue(maxsize=depth * self.batch_size)
        self.inferred: queue.Queue = queue.Queue(maxsize=depth)
        self.composited: queue.Queue = queue.Queue(maxsize=depth)
        self.side: queue.Queue = queue.Queue()  # audio, subtitle packets: small, bounded by the input's interleaving
        layers = "rgba" if self.studio is not None and self.studio.cutout else opts.fmt.layers
        if opts.edge_stage(photo=False):
            self.edges = edge_stage_for(self.backend)
        self.compositor = make_compositor(dev, layers, opts.refine, opts.smooth, look.shadow_colour, self.edges)
        self.filters = matte_filters(opts.smooth, opts.vehicles)
        if opts.plate is not None:
            self.plates = open_plate_masker(opts.plate, self.backend.name, str(dev))

    def stream(self) -> None:
        """All stages until the end of the input (or the first error, raised here once)."""
        flow = self.flow
        stages = [Stage(name, work, flow) for name, work in
                  (("decode", self.decode), ("composite", self.compose), ("encode", self.encode))]
        for s in stages:
            s.start()
        try:
            self.batch_and_infer()
        except _Stop:
            pass
        except BaseException as e:  # noqa: BLE001  includes KeyboardInterrupt: stop the others first
            flow.fail(e)
        wait_all(stages, flow.fail)  # a Ctrl-C while stopping: keep waiting, so the writer is cleaned up
        if flow.error is not None:
            raise flow.error
        if self.frames_out != self.frames_in:
            raise StreamsegError(f"wrote {self.frames_out} frames but decoded {self.frames_in}")
        assert self.writer is not None  # open() made it
        self.writer.close()
        self.writer = None
        self.ended_at = time.perf_counter()

    def decode(self) -> None:
        for item in timed(self.source.items(self.stop_input), self.busy, "decode"):
            if isinstance(item, SidePacket):
                self.side.put(item)
                continue
            if self.opts.realtime:
                try:
                    self.decoded.put_nowait(item)
                except queue.Full:  # behind a live source: skip this frame rather than lag
                    self.dropped += 1
                    continue
            else:
                self.flow.put(self.decoded, item)
            self.frames_in += 1
        self.flow.put(self.decoded, END)

    def batch_and_infer(self) -> None:
        opts = self.opts
        max_wait_s = opts.max_latency_ms / 1000 if opts.max_latency_ms is not None else None
        batcher = Batcher(self.batch_size, pin_memory=self.backend.device.type == "cuda", max_wait_s=max_wait_s)
        while True:
            item = self.flow.get(self.decoded, batcher.wait_left())
            batch = batcher.flush() if item in (END, TIMEOUT) else batcher.add(item)
            if batch is not None:
                t = time.perf_counter()
                out = infer_batch(batch, self.backend)
                self.busy["infer"] += time.perf_counter() - t
                self.flow.put(self.inferred, out)
            if item is END:
                self.flow.put(self.inferred, END)
                return

    def compose(self) -> None:
        """Its own thread: on a CPU it overlaps the next batch's inference."""
        while True:
            item = self.flow.get(self.inferred)
            if item is END:
                self.flow.put(self.composited, END)
                return
            t = time.perf_counter()
            images = composite_batch(item, self.background, self.compositor, self.studio, self.filters, self.plates)
            self.busy["composite"] += time.perf_counter() - t
            self.flow.put(self.composited, (images, item.batch))

    def encode(self) -> None:
        writer = self.writer
        assert writer is not None  # open() made it
        waiting: collections.deque[SidePacket] = collections.deque()
        while True:
            item = self.flow.get(self.composited)
            if item is END:
                self._side_until(None, waiting)  # the decoder queued all of them before it sent END
                return
            images, batch = item
            t = time.perf_counter()
            for image, p in zip(images.numpy(), batch.pts):
                self._side_until(float(p * self.info.time_base), waiting)
                writer.write(image, p)
                self.frames_out += 1  # frames really written: run() compares them with those decoded
            now = time.monotonic()
            self.latencies.extend(now - a for a in batch.arrived)
            self.busy["encode"] += time.perf_counter() - t
            if self.progress:
                self.progress(len(batch))

    def _side_until(self, seconds: float | None, waiting: collections.deque[SidePacket]) -> None:
        """Write the audio and subtitle packets due before `seconds` (all of them for None), interleaved
        with the frames by time."""
        while True:
            try:
                waiting.append(self.side.get_nowait())
            except queue.Empty:
                break
        while waiting and (seconds is None or waiting[0].seconds <= seconds) and self.writer is not None:
            self.writer.write_side(waiting.popleft())

    def close(self) -> None:
        """Stop every stage; drop an unfinished output; release the input and the background."""
        self.flow.stop.set()
        torch.set_num_threads(self.torch_threads)
        if self.writer is not None:
            self.writer.abort()
        if self.background is not None:
            self.background.close()
        if self.plates is not None:
            self.plates.close()
        if self.edges is not None:
            self.edges.close()
        self.source.close()

    def summary(self) -> RunSummary:
        info, opts, source = self.info, self.opts, self.source
        seconds = (self.ended_at or time.perf_counter()) - self.started
        return RunSummary(
            input=str(opts.source), output=str(opts.output), format=opts.fmt.name, frames=self.frames_out,
            seconds=round(seconds, 3), fps=round(self.frames_out / seconds, 2) if seconds else 0.0,
            backend=self.backend.describe(), device=str(self.backend.device), decoder=source.decoder,
            width=info.width, height=info.height, audio=info.audio_codec, dropped=self.dropped,
            reconnects=source.reconnected, source_end=source.ended if info.live else "",
            latency_ms=latency_summary(self.latencies), stages={k: round(v, 3) for k, v in self.busy.items()},
            interlaced=info.interlaced, deinterlaced=info.deinterlaced, dropped_streams=list(info.dropped),
            copied_streams=list(info.copied),
            vehicles=kept(self.filters), plates=self.plates.describe() if self.plates is not None else "",
            edges=self.edges is not None and self.edges.redrawn > 0,
        )


def kept(filters: Sequence[MatteFilter]) -> str:
    """For the run line: which vehicles the output holds."""
    return next((f.describe() for f in filters if isinstance(f, SubjectTracker)), "every vehicle")


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
