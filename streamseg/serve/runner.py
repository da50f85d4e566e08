"""The service's work: a queue of jobs, a bounded number of worker threads running them on the one warm
Segmenter, and a janitor removing results older than --keep-hours.

`convert_upload` and `load_segmenter` are the only places that call the Python API (streamseg.api), with the
same option names the JSON API takes (OPTION_NAMES).
"""

from __future__ import annotations

import contextlib
import queue
import shutil
import sys
import threading
import time
import traceback
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamseg.api import OPTIONS
from streamseg.errors import InputError, StreamsegError
from streamseg.serve.table import Job, JobTable
from streamseg.serve.uploads import UploadError

if TYPE_CHECKING:
    from streamseg.api import Progress, Segmenter

# the Python API's option names (streamseg.OPTIONS) are the JSON API's form fields and the page's
OPTION_NAMES = OPTIONS
SERVICE_OWNS = ("model", "backend")  # fixed by the warm Segmenter: a job may name them only as they are
FORMATS = {"photo": (None, "png", "matte"), "photos": (None, "png", "matte"),
           "video": (None, "mp4", "mov", "webm", "png", "matte")}
ALPHA_FORMATS = {"png", "mov", "webm", "matte"}  # no backdrop: nothing to draw a shadow or reflection on
MAX_QUEUED = 100
PREVIEW_SIDE = 1280  # the page's pictures are scaled down to this


def load_segmenter(model: str, backend: str, device: str | None) -> Segmenter:
    """The warm model, loaded once for the service's life."""
    from streamseg.api import Segmenter

    return Segmenter(model=model, backend=backend, device=device)


def convert_upload(segmenter: Segmenter, src: Path, out: Path | None, options: Mapping[str, Any],
                   progress: Callable[[Progress], None], cancel: threading.Event) -> dict[str, Any]:
    """One job's run through the Python API on the service's warm model; its summary as a dict."""
    from streamseg.api import convert

    summary = convert(src, out, segmenter=segmenter, overwrite=True, progress=progress, cancel=cancel,
                      **{k: v for k, v in options.items() if k not in SERVICE_OWNS})
    return summary.as_dict()


def parse_bool(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise UploadError(400, f"{name}={text!r} is not true or false", f"send {name}=true or {name}=false")


def parse_options(fields: Mapping[str, str], kind: str, model: str, backdrop: bool,
                  backends: tuple[str, ...] = ("auto",)) -> dict[str, Any]:
    """Form fields -> the Python API's keyword arguments, checked before the job is queued (400 on a bad one).
    A backdrop comes as a named colour or the uploaded bg_file (`backdrop`: bg reads "bg_file" then, and the
    job's own copy is passed at run time), never as a path on the server."""
    from streamseg.background import COLOURS, PRESETS, STUDIO, parse_colour, preset
    from streamseg.vehicles import VEHICLES

    unknown = sorted(set(fields) - set(OPTION_NAMES))
    if unknown:
        raise UploadError(400, f"unknown option(s): {', '.join(unknown)}", f"options are: {', '.join(OPTION_NAMES)}")
    text = {k: v.strip() for k, v in fields.items() if v.strip() not in ("", "auto")}
    bg = text.get("bg", STUDIO)
    if backdrop:
        bg = "bg_file"
    elif preset(bg) is None and parse_colour(bg) is None:
        raise UploadError(400, f"bg={bg!r} is not a backdrop this service knows",
                          f"send one of {', '.join(PRESETS)} (drawn), {', '.join(COLOURS)}, a colour like #1e90ff, "
                          "or an image as the file field bg_file")
    fmt = text.get("fmt")
    if fmt not in FORMATS[kind]:
        raise UploadError(400, f"fmt={fmt} is not an output for a {kind}",
                          f"send one of: {', '.join(f or 'auto' for f in FORMATS[kind])}")
    options: dict[str, Any] = {"bg": bg, "fmt": fmt}
    options["shadow"] = parse_bool("shadow", text["shadow"]) if "shadow" in text else None
    for name, default in (("reflection", False), ("fit", False), ("refine", True), ("smooth", True)):
        options[name] = parse_bool(name, text[name]) if name in text else default
    options["edges"] = parse_bool("edges", text["edges"]) if text.get("edges") else None  # None: photos only
    if fmt in ALPHA_FORMATS and (options["shadow"] or options["reflection"]):
        raise UploadError(400, f"shadow and reflection are drawn on the backdrop, and fmt={fmt} has none",
                          "leave them out, or choose a composite (fmt=auto or mp4)")
    size = text.get("size")
    if size is not None:
        w, _, h = size.lower().partition("x")
        if not (w.isdigit() and h.isdigit() and 64 <= int(w) <= 8192 and 64 <= int(h) <= 8192):
            raise UploadError(400, f"size={size!r} is not WIDTHxHEIGHT", "e.g. size=1920x1080 (64 to 8192 each)")
    options["size"] = size
    vehicles = text.get("vehicles", "subject")
    if vehicles not in VEHICLES:
        raise UploadError(400, f"vehicles={vehicles!r}", f"send one of: {', '.join(VEHICLES)}")
    options["vehicles"] = vehicles
    plate = text.get("plate")
    if plate is not None and plate.lower() not in ("blur", "colour", "color") and parse_colour(plate) is None:
        raise UploadError(400, f"plate={plate!r} is not a way to cover number plates this service knows",
                          "send plate=blur, plate=colour or a colour like plate=#203040 (a logo needs the command "
                          "line or the Python API)")
    options["plate"] = plate
    if text.get("model", model) != model:
        raise UploadError(400, f"model={text['model']!r}: this service keeps the model {model!r} loaded",
                          f"leave model out, or start another service with --model {text['model']}")
    options["model"] = model
    if text.get("backend", backends[0]) not in backends:
        raise UploadError(400, f"backend={text['backend']!r}: this service runs on {backends[-1]}",
                          f"leave backend out, or start another service with --backend {text['backend']}")
    options["backend"] = backends[-1]
    return options


class QueueFull(UploadError):
    def __init__(self) -> None:
        super().__init__(503, f"{MAX_QUEUED} jobs are already waiting", "try again when some have finished")


class Runner:
    """Runs queued jobs on `workers` threads (the number running at once), one Segmenter shared by all (its
    lock serialises inference; decoding, compositing and encoding overlap)."""

    def __init__(self, table: JobTable, segmenter: Segmenter | None, workers: int, keep_seconds: float,
                 say: Callable[[str], None]) -> None:
        self.table, self.segmenter, self.keep_seconds, self.say = table, segmenter, keep_seconds, say
        self.queue: queue.Queue[Job | None] = queue.Queue()
        self.cancels: dict[str, threading.Event] = {}
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._work, name=f"streamseg-serve-{i}", daemon=True)
                        for i in range(workers)]
        self.threads.append(threading.Thread(target=self._sweep, name="streamseg-serve-janitor", daemon=True))

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Abandon running jobs (their partial outputs are removed by the API) and join the threads."""
        self.stopping.set()
        for event in list(self.cancels.values()):
            event.set()
        for _ in self.threads:
            self.queue.put(None)
        for t in self.threads:
            t.join(timeout)

    def submit(self, job: Job) -> None:
        if self.queue.qsize() >= MAX_QUEUED:
            raise QueueFull()
        self.cancels[job.id] = threading.Event()
        self.queue.put(job)

    def cancel(self, job: Job) -> None:
        if (event := self.cancels.get(job.id)) is not None:
            event.set()

    def _work(self) -> None:
        while (job := self.queue.get()) is not None:
            cancel = self.cancels.get(job.id)
            if cancel is None or cancel.is_set() or self.table.get(job.id) is None:
                continue  # removed while it waited
            try:
                self._run(job, cancel)
            finally:
                self.cancels.pop(job.id, None)

    def _run(self, job: Job, cancel: threading.Event) -> None:
        folder = self.table.folder(job)
        self.table.update(job, status="running", started=time.time())
        try:
            if self.segmenter is None:
                raise StreamsegError("the service has no model loaded", "restart it")
            changes = run_job(job, folder, self.segmenter, self._progress(job), cancel)
            self.table.update(job, status="done", finished=time.time(), **changes)
            self.say(f"streamseg: job {job.id} ({job.name}) done in {time.time() - (job.started or 0):.1f}s")
        except StreamsegError as e:
            self.table.update(job, status="failed", finished=time.time(), error={"error": e.problem, "fix": e.fix})
            self.say(f"streamseg: job {job.id} ({job.name}) failed: {e.problem}")
        except Exception as e:  # noqa: BLE001  a bug: the job says so plainly, the log has the traceback
            traceback.print_exc(file=sys.stderr)
            self.table.update(job, status="failed", finished=time.time(),
                              error={"error": f"internal error: {type(e).__name__}: {e}",
                                     "fix": "see the service's log, and report it"})
        finally:
            shutil.rmtree(folder / "input", ignore_errors=True)  # the upload is not kept once the job has run
            shutil.rmtree(folder / "backdrop", ignore_errors=True)
            if self.table.get(job.id) is None:  # deleted while it ran: whatever the run still wrote goes too
                shutil.rmtree(folder, ignore_errors=True)

    def _progress(self, job: Job) -> Callable[[Progress], None]:
        def report(p: Progress) -> None:
            with self.table.lock:  # not saved: a restart fails unfinished jobs anyway
                job.progress = {"input": Path(p.input).name, "done": p.done, "total": p.total,
                                "inputs_done": p.inputs_done, "inputs": p.inputs}
        return report

    def _sweep(self) -> None:
        interval = min(60.0, max(0.2, self.keep_seconds / 4))
        while True:  # at once (results that expired while the service was stopped), then every interval
            for job in self.table.expired(self.keep_seconds):
                self.table.remove(job)
                self.say(f"streamseg: job {job.id} ({job.name}) removed after --keep-hours")
            if self.stopping.wait(interval):
                return


def run_job(job: Job, folder: Path, segmenter: Segmenter, progress: Callable[[Progress], None],
            cancel: threading.Event) -> dict[str, Any]:
    """The job's upload (DATA/jobs/ID/input) through the API; what the table records of the outcome."""
    inputs = [p for p in (folder / "input").iterdir()] if (folder / "input").is_dir() else []
    if len(inputs) != 1:
        raise InputError("the job's upload is missing", "upload it again")
    src = inputs[0]  # a zip's photos: the folder input/photos
    result = folder / "result"
    shutil.rmtree(result, ignore_errors=True)
    result.mkdir()
    changes: dict[str, Any] = {}
    options = dict(job.options)
    if job.backdrop:
        options["bg"] = str(folder / job.backdrop)
    if job.kind == "photos":
        summary = convert_upload(segmenter, src, result / "photos", options, progress, cancel)
        changes["records"] = [{k: (Path(v).name if k in ("input", "output") and v else v) for k, v in r.items()}
                              for r in summary.get("records", [])]
        zip_folder(result / "photos", result / "photos.zip")
        shutil.rmtree(result / "photos")
        return {**changes, "result": "result/photos.zip", "result_name": f"{Path(job.name).stem}_streamseg.zip"}
    if job.kind == "photo":
        make_preview(src, folder / "before.jpg", "JPEG")
        changes["before"] = "before.jpg"
    else:
        with contextlib.suppress(StreamsegError):  # the run itself says what is wrong with the video
            first_frame_preview(src, folder / "preview.png", segmenter, options)
            changes["preview"] = "preview.png"
    # written beside the upload under the API's own name (INPUT_streamseg.EXT), then moved into result/
    summary = convert_upload(segmenter, src, None, options, progress, cancel)
    output = result / Path(summary["output"]).name
    Path(summary["output"]).rename(output)
    if output.is_dir():  # a PNG sequence: one download
        zip_folder(output, result / f"{output.name}.zip")
        shutil.rmtree(output)
        output = result / f"{output.name}.zip"
    if job.kind == "photo":
        make_preview(output, folder / "preview.png", "PNG")
        changes["preview"] = "preview.png"
    return {**changes, "result": str(output.relative_to(folder)), "result_name": output.name}


def make_preview(src: Path, dst: Path, fmt: str) -> None:
    """A photo scaled down for the page, upright."""
    from PIL import Image, ImageOps

    with Image.open(src) as im:
        picture = ImageOps.exif_transpose(im)
        picture.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
        if fmt == "JPEG":
            picture = picture.convert("RGB")
        picture.save(dst, fmt)


def first_frame_preview(src: Path, dst: Path, segmenter: Segmenter, options: Mapping[str, Any]) -> None:
    """The video's first frame as the job will make it, shown while the rest runs."""
    from PIL import Image

    from streamseg.io.reader import Frame, VideoReader

    reader = VideoReader(src, audio=False)
    try:
        frame = next(item for item in reader.items() if isinstance(item, Frame))
    finally:
        reader.close()
    rgb = frame.rgb if not hasattr(frame.rgb, "cpu") else frame.rgb.cpu().numpy()
    fmt = options.get("fmt")
    if fmt == "matte":
        out = segmenter.matte(rgb)
    elif fmt in ALPHA_FORMATS:
        out = segmenter.cutout(rgb, plate=options.get("plate"))
    else:
        out = segmenter.composite(rgb, bg=options["bg"], shadow=options["shadow"], reflection=options["reflection"],
                                  fit=options["fit"], size=options["size"], plate=options.get("plate"))
    picture = Image.fromarray(out)
    picture.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    picture.save(dst, "PNG")


def zip_folder(folder: Path, archive: Path) -> None:
    partial = archive.with_name(f".{archive.name}.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as z:  # PNGs, JPEGs: already compressed
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(folder))
    partial.replace(archive)
