"""The `streamseg` command: run, info, sample, train.

This is the only place that prints for the user, turns errors into messages and exit codes, and
handles signals; everything below raises StreamsegError.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
from dataclasses import asdict
from pathlib import Path

import click

from streamseg.errors import InputError, Interrupted, StreamsegError

FORMAT_NAMES = ("mp4", "mov", "webm", "png", "matte")


def fail(e: StreamsegError) -> None:
    click.echo(f"streamseg: error: {e}", err=True)
    sys.exit(e.exit_code)


def user_errors(command):
    """Every failure ends as one message and an exit code: StreamsegError as it says, Ctrl-C as 130,
    anything else as an internal error (its traceback only with STREAMSEG_DEBUG=1)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except StreamsegError as e:
            fail(e)
        except KeyboardInterrupt:
            fail(Interrupted("interrupted"))
        except Exception as e:  # noqa: BLE001  a bug: say so plainly instead of a traceback
            if os.environ.get("STREAMSEG_DEBUG"):
                raise
            fail(StreamsegError(f"internal error: {type(e).__name__}: {e}",
                                "run again with STREAMSEG_DEBUG=1 to see where, and report it"))

    return wrapper


def on_sigterm(signum, frame) -> None:  # noqa: ARG001
    raise KeyboardInterrupt  # stops the run the same way Ctrl-C does


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="streamseg")
def main() -> None:
    """Remove the background from car videos: composite over a backdrop, or deliver an alpha matte."""


@main.command()
@click.argument("input", type=click.Path(path_type=Path))
@click.option("--bg", "background", default="studio", show_default=True,
              help="Backdrop: image, video (looped), #RRGGBB, or green|blue|white|black|grey|studio.")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Output file (or folder for png). Default: INPUT_streamseg.<ext> beside the input.")
@click.option("-f", "--format", "format_name", type=click.Choice(FORMAT_NAMES),
              help="mp4: composite H.264; mov: ProRes 4444 with alpha; webm: VP9 with alpha; "
                   "png: RGBA sequence; matte: the matte alone. Default: from -o's extension, else mp4.")
@click.option("--backend", default="auto", show_default=True, help="auto, tensorrt, cuda or cpu.")
@click.option("--model", type=click.Path(path_type=Path), help="Model checkpoint (default: the shipped one).")
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(1, 256))
@click.option("--no-refine", is_flag=True, help="Plain bilinear upsampling of the matte, no edge refinement.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or messages, errors only.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@user_errors
def run(input: Path, background: str, output: Path | None, format_name: str | None, backend: str,
        model: Path | None, batch_size: int, no_refine: bool, overwrite: bool, quiet: bool, as_json: bool) -> None:
    """Segment the car in INPUT and write it over a background or with an alpha matte."""
    from streamseg.backends.registry import create_backend, resolve
    from streamseg.io.writer import check_output, choose_format, default_output
    from streamseg.pipeline import RunOptions
    from streamseg.pipeline import run as run_pipeline
    from streamseg.weights import default_model_path

    signal.signal(signal.SIGTERM, on_sigterm)
    fmt = choose_format(output, format_name)
    output = output or default_output(input, fmt)
    if not input.exists():
        raise InputError(f"input not found: {input}", "check the path")
    check_output(input, output, fmt, overwrite)
    model_path = model or default_model_path()
    if not model_path.exists():
        raise InputError(f"model not found: {model_path}", "pass --model with a streamseg checkpoint")
    chosen = resolve(backend)
    say = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    try:
        engine = create_backend(chosen, model_path)
    except ValueError as e:  # not a checkpoint
        raise InputError(str(e), "pass --model with a streamseg checkpoint") from None
    with engine:
        bars = []

        def announce(info) -> None:
            say(f"streamseg: {input.name} ({info.width}x{info.height}, {float(info.rate):.3g} fps, "
                f"{info.expected_frames or '?'} frames) -> {output.name} [{fmt.description}]; backend "
                f"{engine.describe()}{' (auto)' if backend == 'auto' else ''}")
            if not quiet and sys.stderr.isatty():
                from tqdm import tqdm

                bars.append(tqdm(total=info.expected_frames or None, unit="frame", dynamic_ncols=True, smoothing=0.1))

        opts = RunOptions(input=input, output=output, fmt=fmt, background=background,
                          batch_size=batch_size, refine=not no_refine)
        try:
            summary = run_pipeline(opts, engine, progress=lambda n: bars and bars[0].update(n),
                                   announce=announce)
        finally:
            for bar in bars:
                bar.close()
    say(f"streamseg: wrote {summary.output}: {summary.frames} frames in {summary.seconds:.1f}s "
        f"({summary.fps:.1f} frames/s)")
    if as_json:
        click.echo(json.dumps(asdict(summary)))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable.")
@user_errors
def info(as_json: bool) -> None:
    """What streamseg will use on this machine: backends, device, codecs, model."""
    import av
    import torch

    from streamseg.backends.registry import AUTO_ORDER, BACKENDS, resolve
    from streamseg.model import load_checkpoint
    from streamseg.weights import default_model_path

    backends = {name: (BACKENDS[name].missing() or "available") if name in BACKENDS else "not built in"
                for name in AUTO_ORDER}
    codecs = {}
    for name in ("libx264", "prores_ks", "libvpx-vp9", "png", "aac", "libopus", "h264_cuvid", "h264_nvenc"):
        try:
            av.codec.Codec(name, "r" if name.endswith("cuvid") else "w")
            codecs[name] = "yes"
        except Exception:  # noqa: BLE001  PyAV raises several types for a missing codec
            codecs[name] = "no"
    path = default_model_path()
    _, spec, meta = load_checkpoint(path)
    report = {
        "streamseg_backend_auto": resolve("auto"), "backends": backends,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__, "pyav": av.__version__, "ffmpeg": av.ffmpeg_version_info,
        "codecs": codecs, "model": {"path": str(path), **spec.to_dict(), "held_out": meta.get("held_out")},
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"backend (auto): {report['streamseg_backend_auto']}   device: {report['device']}")
    for name, state in backends.items():
        click.echo(f"  {name:9s} {state}")
    click.echo(f"torch {torch.__version__}, PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info})")
    click.echo("codecs: " + ", ".join(f"{k} {v}" for k, v in codecs.items()))
    click.echo(f"model: {path} (width {spec.width}, input {spec.input_height}x{spec.input_width}, "
               f"held-out {meta.get('held_out')})")


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
    from streamseg.io.writer import output_error
    from streamseg.sample import SampleSpec, write_sample

    w, _, h = size.lower().partition("x")
    try:
        width, height = int(w), int(h)
    except ValueError:
        raise InputError(f"--size {size!r} is not WIDTHxHEIGHT", "e.g. --size 1920x1080") from None
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise InputError(f"--size {size} must be even and at least 64x64", "e.g. --size 1280x720")
    if output.exists() and not overwrite:
        raise InputError(f"{output} already exists", "pass --overwrite or choose another name")
    partial = output.with_name(f".{output.stem}.partial{output.suffix}")  # the suffix names the container
    try:
        write_sample(partial, SampleSpec(width=width, height=height, frames=max(1, round(seconds * fps)),
                                         fps=fps, seed=seed))
        os.replace(partial, output)
    except OSError as e:
        raise output_error(output, e) from None
    finally:
        partial.unlink(missing_ok=True)
    click.echo(f"wrote {output}")


@main.command()
@click.option("--input", "clip", type=click.Path(path_type=Path), help="Clip to measure (default: a generated one).")
@click.option("--size", default="1920x1080", show_default=True, help="WIDTHxHEIGHT of the generated clip.")
@click.option("--frames", default=120, show_default=True, type=click.IntRange(8, 100000))
@click.option("--backend", default="auto", show_default=True)
@click.option("--compare", multiple=True, help="Also measure inference on these backends.")
@click.option("--batch-sizes", default="1,8", show_default=True, help="Comma-separated.")
@click.option("--formats", default="mp4,mov,webm", show_default=True, help="Encoders to measure.")
@click.option("--no-serial", is_flag=True, help="Skip the frame-by-frame baseline.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@user_errors
def bench(clip: Path | None, size: str, frames: int, backend: str, compare: tuple[str, ...], batch_sizes: str,
          formats: str, no_serial: bool, as_json: bool) -> None:
    """Frames/s of decode, inference, composite, encode alone and of the whole pipeline."""
    import tempfile

    from streamseg.backends.registry import create_backend
    from streamseg.bench import benchmark, format_report
    from streamseg.sample import SampleSpec, write_sample
    from streamseg.weights import default_model_path

    sizes = [int(b) for b in batch_sizes.split(",")]
    fmts = [f for f in formats.split(",") if f]
    unknown = [f for f in fmts if f not in FORMAT_NAMES]
    if unknown:
        raise InputError(f"unknown format(s) {unknown}", f"use some of {', '.join(FORMAT_NAMES)}")
    log = lambda msg: click.echo(f"bench: {msg}", err=True)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="streamseg-clip-") as tmp:
        if clip is None:
            w, _, h = size.lower().partition("x")
            clip = Path(tmp) / "bench.mp4"
            log(f"writing a {w}x{h} clip of {frames} frames ...")
            write_sample(clip, SampleSpec(width=int(w), height=int(h), frames=frames, fps=30))
        engine = create_backend(backend, default_model_path())
        extra = [create_backend(name, default_model_path()) for name in compare]
        report = benchmark(clip, engine, sizes, fmts, extra, serial=not no_serial, log=log)
    click.echo(json.dumps(report.as_dict(), indent=2) if as_json else format_report(report))


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
@user_errors
def train(ctx: click.Context) -> None:
    """Train a model (arguments of `python -m training.train`; needs a source checkout)."""
    try:
        from training.train import main as train_main
    except ImportError:
        raise InputError("training code is not installed",
                         "run from a source checkout: pip install -e '.[train]'") from None
    train_main(ctx.args)


@main.command("build-engine")
@click.option("--model", type=click.Path(path_type=Path), help="Checkpoint to export (default: the shipped one).")
@click.option("--onnx", "onnx_path", type=click.Path(path_type=Path),
              help="Build from this exported ONNX file (sidecar ONNX.json beside it) instead of exporting.")
@click.option("--out", type=click.Path(path_type=Path),
              help="Engine file. Default: engines/<model>-<fp16|fp32>.engine, or beside --onnx.")
@click.option("--min-batch", default=1, show_default=True, type=click.IntRange(1))
@click.option("--opt-batch", default=8, show_default=True, type=click.IntRange(1), help="Batch size tuned for.")
@click.option("--max-batch", default=16, show_default=True, type=click.IntRange(1))
@click.option("--height", type=click.IntRange(16), help="Input height tuned for (default: the model's).")
@click.option("--width", type=click.IntRange(16), help="Input width tuned for (default: the model's).")
@click.option("--fp16/--fp32", default=True, show_default=True,
              help="Precision of the exported graph (TensorRT 11 takes it from the graph).")
@click.option("--timing-cache", type=click.Path(path_type=Path),
              help="Tactic timings reused across builds. Default: timing.cache beside the engine.")
@user_errors
def build_engine_command(model: Path | None, onnx_path: Path | None, out: Path | None, min_batch: int,
                         opt_batch: int, max_batch: int, height: int | None, width: int | None, fp16: bool,
                         timing_cache: Path | None) -> None:
    """Export the model to ONNX and build a TensorRT engine from it (needs TensorRT and an NVIDIA GPU)."""
    from streamseg.engine import export_and_build

    export_and_build(out=out, model=model, onnx_path=onnx_path, fp16=fp16,
                     batch=(min_batch, opt_batch, max_batch), size=(height, width),
                     timing_cache=timing_cache, say=click.echo)


if __name__ == "__main__":
    main()
