"""The Python API: `Segmenter` for pictures in memory, `convert` for files, folders and streams.

`streamseg run` is a thin caller of `convert`, so a program gets every guarantee the command gives (the
input is never replaced, an existing output only with overwrite=True, outputs written under a temporary
name and renamed) and the same option names: `OPTIONS` lists the ones that shape the result, shared by
`Segmenter`, `convert` and the service's JSON API. Failures raise StreamsegError (InputError: exit 2,
OutputError: 3, Interrupted: 130), each with `.problem` and `.fix`.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from PIL import Image, ImageOps

from streamseg.backends.base import Backend
from streamseg.errors import InputError

if TYPE_CHECKING:
    import torch

    from streamseg.composite import Layers
    from streamseg.edges import EdgeStage
    from streamseg.io.reader import VideoInfo
    from streamseg.io.writer import OutputFormat
    from streamseg.jobs import Job, Manifest
    from streamseg.options import RunOptions
    from streamseg.photo import PhotoSummary
    from streamseg.pipeline import RunSummary
    from streamseg.plates import PlateCover
    from streamseg.studio import StudioLook

# the options that shape a result, by the names every interface uses (Python, CLI flags, service JSON)
OPTIONS = ("bg", "fmt", "model", "backend", "refine", "edges", "smooth", "vehicles", "plate", "shadow", "reflection",
           "fit", "size")
Picture = TypeVar("Picture", Image.Image, np.ndarray, bytes)
Log = Callable[[str], None]
MANIFEST = "streamseg-manifest.jsonl"  # its default name, in the outputs' folder


@dataclass(frozen=True)
class Progress:
    """Where a conversion is: `done` of `total` frames of `input` (total None when unknown, as for a live
    stream; a photo is one frame), and `inputs_done` of `inputs`. `record`: set when an input of several
    has finished (its manifest record: input, output, status ok|failed|skipped, error)."""
    input: str
    done: int
    total: int | None
    inputs_done: int
    inputs: int
    record: dict | None = None


@dataclass
class BatchSummary:
    """Several inputs: one record per input (as in the manifest), where the outputs went, and the manifest."""
    records: list[dict]
    folder: str  # the outputs' folder, or "" for beside each input
    manifest: str
    left_out: int = 0  # earlier streamseg outputs a folder scan did not take as inputs

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.records)

    @property
    def failed(self) -> int:
        return self.count("failed")

    def as_dict(self) -> dict:
        return asdict(self)


def choice(name: str, value: Any, allowed: Sequence[Any]) -> Any:
    if value not in allowed:
        raise InputError(f"{name}={value!r} is not one of {', '.join(map(str, allowed))}",
                         f"pass {name}={allowed[0]!r}")
    return value


def studio_look(layers: Layers, bg: str, *, shadow: bool | None, reflection: bool, fit: bool,
                size: tuple[int, int] | str | None) -> StudioLook:
    """The look asked for: the shadow is on by default over the drawn backdrops (studio, ...); shadow and
    reflection are drawn on the backdrop, so they need a composite."""
    from streamseg.background import preset
    from streamseg.limits import frame_size
    from streamseg.studio import StudioLook

    if layers != "rgb" and (shadow or reflection):
        name = "shadow" if shadow else "reflection"
        raise InputError(f"--{name} is drawn on the backdrop, and this output has none (a cut-out or a matte)",
                         f"leave out --{name} ({name}=True), or write a composite (leave out -f, or choose mp4)")
    drawn = preset(str(bg))
    if shadow is None:
        shadow = layers == "rgb" and drawn is not None  # a drawn backdrop has a floor to shade
    return StudioLook(shadow=shadow, reflection=reflection, fit=fit, size=None if size is None else frame_size(size),
                      shadow_colour=drawn.shadow if drawn is not None else (0, 0, 0))


class SerializedBackend(Backend):
    """A backend shared between threads: one inference call at a time, under the owner's lock. Closing it
    leaves the backend open (its Segmenter owns it)."""

    def __init__(self, backend: Backend, lock: threading.Lock) -> None:
        self.inner, self.lock = backend, lock
        self.name, self.device, self.spec = backend.name, backend.device, backend.spec
        self.precision = backend.precision

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with self.lock:
            return self.inner(x)

    def describe(self) -> str:
        return self.inner.describe()

    def close(self) -> None:
        """The Segmenter closes the backend."""


def open_backend(name: str, model_path: Path, device: str | None = None, log: Log | None = None) -> Backend:
    from streamseg.backends.registry import create_backend

    if name == "openvino" and log is not None:
        from streamseg.backends.openvino import is_converted

        if not is_converted(model_path):  # IS-Net takes about a minute: say why nothing moves yet
            log(f"streamseg: converting {model_path.stem} for OpenVINO (once; kept in the cache) ...")
    try:
        return create_backend(name, model_path, device)
    except ValueError as e:  # not a checkpoint
        raise InputError(str(e), "pass model='default' or 'isnet', or a streamseg checkpoint") from None


class Segmenter:
    """The model, loaded once: cut the car out of pictures in memory.

        with Segmenter() as seg:
            cut = seg.cutout(Image.open("car.jpg"))         # PIL in -> PIL out (RGBA)
            matte = seg.matte(np.asarray(...))              # HxWx3 uint8 in -> HxW uint8 out
            jpeg = seg.composite(open("car.jpg", "rb").read(), bg="white")   # bytes in -> bytes out

    Each method takes a PIL image, an HxWx3 (or HxWx4: its alpha is kept as the photo's transparency) uint8
    array, or an encoded image's bytes, and gives back the same kind; a list gives a list. Pictures go
    through exactly what `streamseg run photo.jpg` does (EXIF turn and colour profile for PIL images and
    bytes, full resolution, the subject vehicle, the studio look); `plate="blur"` (or "colour", "#RRGGBB", a
    logo's path) covers their number plates, as `--plate` does. Safe to share between threads: the
    networks run one call at a time under the Segmenter's lock, the rest in parallel.
    """

    def __init__(self, model: str | Path = "default", backend: str = "auto", device: str | None = None, *,
                 refine: bool = True, edges: bool = True, vehicles: str = "subject") -> None:
        from streamseg.backends.registry import resolve
        from streamseg.models.names import resolve_model
        from streamseg.vehicles import VEHICLES

        self.refine, self.vehicles = refine, choice("vehicles", vehicles, VEHICLES)
        self.model_path = resolve_model(model)
        self.backend_name = resolve(backend)
        self.auto = backend == "auto"
        self.lock = threading.Lock()
        self.backend = SerializedBackend(open_backend(self.backend_name, self.model_path, device), self.lock)
        self.plate_detector: SerializedBackend | None = None  # opened by the first call with a plate option
        self.edges = edges and refine  # the full-resolution edge stage, on by default as for a photo (streamseg.edges)
        self.edge_stage: EdgeStage | None = None  # opened by the first picture
        self.edge_backend: Backend | None = None  # its network, which the Segmenter closes
        self.outline_backend: Backend | None = None  # and the outline network that looks before it

    def matte(self, img: Picture | list[Picture]) -> Any:
        """The matte: grey, 255 on the car (PIL "L", HxW uint8, or PNG bytes)."""
        return self._each(img, "matte", "studio", studio_look("matte", "", shadow=None, reflection=False,
                                                               fit=False, size=None), None)

    def cutout(self, img: Picture | list[Picture], *, fit: bool = False,
               size: tuple[int, int] | str | None = None, plate: str | Path | None = None) -> Any:
        """The car with the matte as alpha (PIL "RGBA", HxWx4 uint8, or PNG bytes)."""
        return self._each(img, "rgba", "studio", studio_look("rgba", "", shadow=None, reflection=False, fit=fit,
                                                              size=size), plate)

    def composite(self, img: Picture | list[Picture], bg: str | Path = "studio", *, shadow: bool | None = None,
                  reflection: bool = False, fit: bool = False, size: tuple[int, int] | str | None = None,
                  plate: str | Path | None = None) -> Any:
        """The car over `bg` (an image's path, #RRGGBB, or green|blue|white|black|grey|studio), with the studio
        look (PIL "RGB", HxWx3 uint8, or bytes in the input's format where it is JPEG, PNG, WebP or TIFF)."""
        return self._each(img, "rgb", str(bg), studio_look("rgb", str(bg), shadow=shadow, reflection=reflection,
                                                           fit=fit, size=size), plate)

    def _each(self, img: Any, layers: Layers, bg: str, look: StudioLook, plate: str | Path | None) -> Any:
        plates = self._plates(plate)
        if isinstance(img, list):
            return [self._one(i, layers, bg, look, plates) for i in img]
        return self._one(img, layers, bg, look, plates)

    def _one(self, img: Any, layers: Layers, bg: str, look: StudioLook, plates: PlateCover | None) -> Any:
        from streamseg.photo import render
        from streamseg.plates import PlateMasker

        rgb, alpha, kind = picture_in(img)
        # a tracker of its own for each picture: pictures stand alone
        masker = None if plates is None or self.plate_detector is None else PlateMasker(self.plate_detector, plates)
        pixels, _ = render(rgb, alpha, layers, self.backend, background=bg, refine=self.refine, look=look,
                           vehicles=self.vehicles, plates=masker, edges=self._edges(*rgb.shape[:2]), name="the picture")
        return picture_out(pixels, kind, layers)

    def _plates(self, plate: str | Path | None) -> PlateCover | None:
        """How to cover plates, checked; the plate detector is opened by the first call that asks for it."""
        how = plate_cover(plate)
        if how is not None:
            with self.lock:
                if self.plate_detector is None:
                    from streamseg.plates import open_plate_masker

                    detector = open_plate_masker(how, self.backend_name, str(self.backend.device)).backend
                    self.plate_detector = SerializedBackend(detector, self.lock)
        return how

    def _edges(self, height: int, width: int) -> EdgeStage | None:
        """The edge stage, opened by the first picture large enough for it (its network runs under the Segmenter's
        lock)."""
        from streamseg.edges import redraws

        if self.edges and redraws(height, width):
            with self.lock:
                if self.edge_stage is None:
                    from streamseg.edges import EdgeStage, edge_stage_for

                    opened = edge_stage_for(self.backend, photos=True)
                    self.edge_backend, self.outline_backend = opened.backend, opened.outline
                    self.edge_stage = EdgeStage(SerializedBackend(self.edge_backend, self.lock),
                                                None if opened.outline is None
                                                else SerializedBackend(opened.outline, self.lock))
        return self.edge_stage

    def describe(self) -> str:
        return f"{self.model_path.stem} on {self.backend.describe()}"

    def close(self) -> None:
        self.backend.inner.close()
        if self.edge_backend is not None:
            self.edge_backend.close()
        if self.outline_backend is not None:
            self.outline_backend.close()
        if self.plate_detector is not None:
            self.plate_detector.inner.close()

    def __enter__(self) -> Segmenter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def plate_cover(plate: str | Path | None) -> PlateCover | None:
    """plate=None (plates left as they are), "blur", "colour", "#RRGGBB" or a logo image's path."""
    from streamseg.plates import parse_plate

    return None if plate is None else parse_plate(str(plate))


def picture_in(img: Any) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(rgb [H,W,3] uint8, alpha [H,W] or None, what to give back: "pil", "array", or "bytes:FORMAT")."""
    from streamseg.photo import decode_photo, picture_pixels

    if isinstance(img, Image.Image):
        upright = ImageOps.exif_transpose(img) or img
        rgb, _, alpha = picture_pixels(upright, "the picture", img.info.get("icc_profile"))
        return np.array(rgb), alpha, "pil"
    if isinstance(img, (bytes, bytearray, memoryview)):
        data = bytes(img)
        try:
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format or "PNG"
        except Exception:  # noqa: BLE001  decode_photo says what is wrong with it
            fmt = "PNG"
        rgb, _, alpha = decode_photo(data, "the picture")
        return rgb, alpha, f"bytes:{fmt}"
    if isinstance(img, np.ndarray):
        if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
            raise InputError(f"an array of shape {img.shape} and dtype {img.dtype} is not a picture",
                             "pass HxWx3 (RGB) or HxWx4 (RGBA) uint8, e.g. np.asarray(Image.open(path).convert('RGB'))")
        if img.ndim == 2:
            return np.repeat(img[..., None], 3, axis=2), None, "array"
        alpha = img[..., 3].copy() if img.shape[2] == 4 and img[..., 3].min() < 255 else None
        return img[..., :3].copy(), alpha, "array"  # a copy: the caller's array may be read-only or change
    raise InputError(f"a {type(img).__name__} is not a picture", "pass a PIL image, a uint8 array or an image's bytes")


def picture_out(pixels: np.ndarray, kind: str, layers: Layers) -> Any:
    if kind == "array":
        return pixels
    picture = Image.fromarray(pixels)
    if kind == "pil":
        return picture
    from streamseg.photo import SAVE_AS, save_options

    fmt = kind.split(":", 1)[1]
    if layers != "rgb" or fmt not in set(SAVE_AS.values()):
        fmt = "PNG"  # a cut-out needs alpha, and a matte is kept lossless
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **save_options(fmt))
    return buffer.getvalue()


def convert(src: str | Path | Sequence[str | Path], out: str | Path | None = None, *,
            segmenter: Segmenter | None = None, bg: str | Path = "studio", fmt: str | None = None,
            model: str | Path = "default", backend: str = "auto", refine: bool = True,
            edges: bool | None = None, smooth: bool = True, vehicles: str = "subject", plate: str | Path | None = None,
            shadow: bool | None = None, reflection: bool = False, fit: bool = False,
            size: tuple[int, int] | str | None = None, overwrite: bool = False, resume: bool = False,
            manifest: str | Path | None = None, devices: str | None = None, ray: str | None = None,
            ray_workers: int = 2, batch_size: int | None = None, decoder: str = "auto", deinterlace: str = "auto",
            max_latency_ms: float | None = None, realtime: bool = False, reconnects: int = 3, timeout: float = 10.0,
            progress: Callable[[Progress], None] | None = None, log: Log | None = None,
            finish: threading.Event | None = None, cancel: threading.Event | None = None
            ) -> RunSummary | PhotoSummary | BatchSummary:
    """Convert a video, photo, folder, glob or live stream (or a list of them), as `streamseg run` does.

    out: the output file; a folder for several inputs (or a PNG sequence); a stream URL; None: INPUT_streamseg.<ext>
    beside each input. fmt: None (a composite: MP4 for video, the photo's own format for a photo), "mp4",
    "mov", "webm", "png" (RGBA: a cut-out photo, or a PNG sequence) or "matte". `segmenter`: run on an
    already loaded model (`model` and `backend` are then its own). The other options are the CLI's flags.

    Returns a RunSummary (one video), PhotoSummary (one photo) or BatchSummary (several inputs, a manifest,
    devices or Ray: one record each; a failed input is recorded there, not raised). `progress(Progress)` is
    called as frames are written and inputs finish; `log(line)` gets the lines the CLI prints; setting
    `finish` ends a live input and finishes its output; setting `cancel` abandons the work (Interrupted,
    partial outputs removed). Raises StreamsegError before any work for a bad input, option or output.
    """
    from streamseg.backends.registry import resolve
    from streamseg.files import make_folder
    from streamseg.io.reader import DECODERS, DEINTERLACE_MODES, is_stream
    from streamseg.io.writer import FORMAT_NAMES, choose_format, format_named
    from streamseg.jobs import Job, Manifest, expand_sources, output_for
    from streamseg.models.names import resolve_model
    from streamseg.options import RunOptions
    from streamseg.photo import is_photo
    from streamseg.vehicles import VEHICLES

    sources = [str(src)] if isinstance(src, (str, Path)) else [str(s) for s in src]
    if not sources:
        raise InputError("no input given", "name a video, photo, folder or stream")
    if fmt is not None:
        choice("fmt", fmt, FORMAT_NAMES)
    if batch_size is not None and not 1 <= batch_size <= 256:
        raise InputError(f"batch_size={batch_size} is not from 1 to 256", "pass None (auto) or 1..256")
    say = log or (lambda line: None)
    output = None if out is None else str(out)
    entry = Path(sources[0])
    single = len(sources) == 1 and (is_stream(sources[0]) or entry.is_file() or
                                    not (entry.is_dir() or any(c in sources[0] for c in "*?[")))  # not a folder/glob
    photo_alone = single and is_photo(sources[0])
    if photo_alone:  # a photo's output format comes from its name; -f picks what it holds
        if fmt not in (None, "mp4", "png", "matte"):
            raise InputError(f"the {fmt} format is for video; {entry.name} is a photo",
                             "leave out -f (fmt) for a composite, or use png (a cut-out) or matte")
        form = format_named(fmt or "mp4")
    else:
        form = choose_format(output if single else None, fmt)
    opts = RunOptions(
        fmt=form, background=str(bg), batch_size=batch_size, refine=refine, edges=edges,
        vehicles=choice("vehicles", vehicles, VEHICLES), smooth=smooth, max_latency_ms=max_latency_ms,
        plate=plate_cover(plate),
        realtime=realtime, reconnects=reconnects, timeout_s=timeout, decoder=choice("decoder", decoder, DECODERS),
        deinterlace=choice("deinterlace", deinterlace, DEINTERLACE_MODES),
        look=studio_look(form.layers, str(bg), shadow=shadow, reflection=reflection, fit=fit, size=size),
        backend=segmenter.backend_name if segmenter else resolve(backend),
        auto_backend=segmenter.auto if segmenter else backend == "auto",
        model_path=segmenter.model_path if segmenter else resolve_model(model), overwrite=overwrite)
    if single and not (manifest or devices or ray or resume):
        source = sources[0]
        if output is None and is_stream(source):
            raise InputError("a live source needs an output (a file, or a stream URL)", "e.g. -o out.mp4 or -o udp://...")
        job = Job(source, output if output is not None else str(output_for(source, form)))
        if not is_stream(job.output):
            make_folder(Path(job.output).parent)  # as a folder run creates its -o
        return convert_one(job, opts, segmenter, progress=progress, log=say, finish=finish, cancel=cancel)
    if segmenter is not None and (devices or ray):
        raise InputError("devices and ray open a model per worker; a segmenter is one model",
                         "leave out segmenter, or devices and ray")
    if any(is_stream(s) for s in sources):
        raise InputError("a live stream can only be processed on its own, without a manifest, devices, ray or resume",
                         "run one streamseg per stream")
    if single and output is not None and Path(output).suffix and not Path(output).is_dir():
        folder = None  # one input to a named file, recorded in a manifest
        make_folder(Path(output).parent)
        book = Manifest(Path(manifest) if manifest else Path(output).parent / MANIFEST)
        jobs, left_out = [Job(sources[0], output)], 0
    else:
        found = expand_sources(sources)
        folder = Path(output) if output is not None else None
        if folder is not None:
            if folder.suffix and not folder.is_dir():
                raise InputError(f"-o {output}: several inputs need a folder for their outputs", "pass -o FOLDER/")
            make_folder(folder)
        book = Manifest(Path(manifest) if manifest else (folder or Path.cwd()) / MANIFEST)
        jobs, earlier = plan_inputs(found.files, folder, form, book)
        left_out = len(found.skipped) + earlier
    return convert_many(jobs, opts, segmenter, book, folder=folder, left_out=left_out, resume=resume,
                        devices=devices, ray=ray, ray_workers=ray_workers, progress=progress, log=say)


def plan_inputs(files: list[str], folder: Path | None, form: OutputFormat, book: Manifest) -> tuple[list[Job], int]:
    """The jobs of several inputs, leaving out files the manifest records as outputs of earlier runs."""
    from streamseg.io.reader import is_stream
    from streamseg.jobs import plan_jobs

    written = {Path(rec["output"]).resolve() for rec in book.records().values()  # earlier outputs are not inputs
               if rec.get("output") and not is_stream(rec["output"])}
    inputs = [f for f in files if is_stream(f) or Path(f).resolve() not in written]
    if not inputs:
        raise InputError(f"every input is an output of an earlier run (listed in {book.path})",
                         "name the inputs, or use another manifest")
    return plan_jobs(inputs, folder, form), len(files) - len(inputs)


def convert_one(job: Job, opts: RunOptions, segmenter: Segmenter | None, *,
                progress: Callable[[Progress], None] | None, log: Log, finish: threading.Event | None,
                cancel: threading.Event | None) -> RunSummary | PhotoSummary:
    """One input to one output, through the same job code as a folder's inputs; raises on failure."""
    from streamseg.edges import run_note
    from streamseg.io.reader import source_name
    from streamseg.jobs import run_job
    from streamseg.photo import PhotoSummary, is_photo

    model_path = opts.model()
    engine = segmenter.backend if segmenter else open_backend(opts.backend, model_path, log=log)
    total: int | None = 1 if is_photo(job.source) else None
    done = 0

    def announce(info: VideoInfo, decoder: str) -> None:
        nonlocal total
        total = None if info.live else (info.expected_frames or None)
        log(f"streamseg: {source_name(job.source)} ({info.width}x{info.height}, {float(info.rate):.3g} fps, "
            f"{info.describe_frames()}) -> {job.output} [{opts.fmt.description}]; model "
            f"{describe_model(model_path, engine.spec)}; backend {engine.describe()}"
            f"{' (auto)' if opts.auto_backend else ''}; decoder {decoder}{fields(info)}{opts.look.describe()}")
        if info.copied:
            log(f"streamseg: copied into the output: {', '.join(info.copied)}")
        for dropped in info.dropped:  # each with the reason
            log(f"streamseg: not carried into the output: {dropped}")
        if progress:
            progress(Progress(job.source, 0, total, 0, 1))

    def frames(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(Progress(job.source, done, total, 0, 1))

    try:
        summary = run_job(job, engine, opts, progress=frames, announce=announce, finish=finish, cancel=cancel)
    finally:
        engine.close()
    asked = opts.edges and opts.refine  # --edges, --no-edges or neither, for the run line
    if isinstance(summary, PhotoSummary):
        log(f"streamseg: {Path(job.source).name} ({summary.width}x{summary.height}, {summary.colour}) -> "
            f"{job.output} [{summary.format}]; model {describe_model(model_path, engine.spec)}; backend "
            f"{summary.backend}{' (auto)' if opts.auto_backend else ''}{opts.look.describe()}; kept "
            f"{summary.vehicles}{'; ' + summary.plates if summary.plates else ''}"
            f"{run_note(asked, summary.edges)}; {summary.seconds:.1f}s")
    else:
        extra = f", {summary.dropped} dropped" if summary.dropped else ""
        extra += f", {summary.reconnects} reconnects" if summary.reconnects else ""
        extra += f"; {summary.source_end}" if summary.source_end else ""
        log(f"streamseg: wrote {summary.output}: {summary.frames} frames in {summary.seconds:.1f}s "
            f"({summary.fps:.1f} frames/s{extra}); kept {summary.vehicles}"
            f"{'; ' + summary.plates if summary.plates else ''}{run_note(asked, summary.edges)}")
    if progress:
        progress(Progress(job.source, done, total if total is not None else done, 1, 1))
    return summary


def convert_many(jobs: list[Job], opts: RunOptions, segmenter: Segmenter | None, book: Manifest, *,
                 folder: Path | None, left_out: int, resume: bool, devices: str | None, ray: str | None,
                 ray_workers: int, progress: Callable[[Progress], None] | None, log: Log) -> BatchSummary:
    """Several inputs: a record each in the manifest; one input failing does not stop the others."""
    from streamseg.backends.registry import parse_devices
    from streamseg.jobs import run_jobs

    log(f"streamseg: {len(jobs)} inputs -> {folder or 'beside each input'}; manifest {book.path}"
        + (f"; left out {left_out} earlier streamseg outputs" if left_out else ""))
    records: list[dict] = []
    lock = threading.Lock()

    def report(rec: dict) -> None:
        with lock:
            records.append(rec)
            n = len(records)
        if progress:
            progress(Progress(rec["input"], rec.get("frames") or 0, rec.get("frames"), n, len(jobs), rec))
        detail = rec.get("error") if rec["status"] == "failed" else f"{rec.get('frames')} frames"
        log(f"  [{n}/{len(jobs)}] {rec['status']:7s} {Path(rec['input']).name}: {detail}")

    if ray:
        from streamseg.ray_runner import run_on_ray

        run_on_ray(jobs, opts, address=ray, workers=ray_workers, manifest=book, resume=resume, report=report)
    else:
        model_path = opts.model()

        def make_backend(device: str | None) -> Backend:
            return segmenter.backend if segmenter else open_backend(opts.backend, model_path, device)

        run_jobs(jobs, opts, make_backend=make_backend, devices=[None] if segmenter else parse_devices(devices),
                 manifest=book, resume=resume, report=report)
    summary = BatchSummary(records, str(folder or ""), str(book.path), left_out)
    log(f"streamseg: {summary.count('ok')} done, {summary.count('skipped')} skipped (already done), "
        f"{summary.failed} failed")
    return summary


def fields(info: VideoInfo) -> str:
    """For the run line: what was done about an interlaced input."""
    if info.deinterlaced:
        return "; deinterlaced (bwdif)" + ("" if info.interlaced else ", as asked")
    return "; interlaced, left as it is (--deinterlace off)" if info.interlaced else ""


def describe_model(path: Path, spec: Any) -> str:
    """For the run line: which model, what it is and where it came from."""
    gate = " kept to the car by a UNet" if spec.gate else ""
    return f"{path.stem} ({spec.arch}{gate}, input {spec.input_height}x{spec.input_width}, {path})"
