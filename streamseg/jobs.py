"""Many inputs in one run (videos and photos alike): expand paths, folders and globs into jobs, spread
them over devices, and keep a JSON-lines manifest (one record per finished input) that `--resume` reads
to skip completed work.

A failed input is recorded and the others go on. Each device gets one worker with its own backend; the
workers take the next job from a shared queue, so short clips do not leave a device idle.
"""

from __future__ import annotations

import datetime
import functools
import glob
import json
import os
import queue
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from streamseg import photo
from streamseg.backends.base import Backend
from streamseg.errors import InputError, Interrupted, StreamsegError
from streamseg.files import content_hash
from streamseg.io.reader import VIDEO_EXTS, VideoInfo, is_stream
from streamseg.io.writer import OutputFormat, check_output, default_output, output_error
from streamseg.options import RunOptions
from streamseg.photo import PHOTO_EXTS, PhotoSummary, is_photo
from streamseg.pipeline import RunSummary, run
from streamseg.threads import Worker, wait_all


@dataclass(frozen=True)
class Job:
    source: str
    output: str


OUTPUT_NAME = re.compile(r"_(streamseg|matte)$")  # INPUT_streamseg.jpg, INPUT_matte.mp4: default output names


def is_output_name(path: Path) -> bool:
    """Named as streamseg names its outputs, or hidden (a partial output, a lock): not an input for a folder scan."""
    return path.name.startswith(".") or bool(OUTPUT_NAME.search(path.stem))


@dataclass(frozen=True)
class Sources:
    files: list[str]
    skipped: list[str]  # earlier outputs found by a folder scan or a glob, left out


def expand_sources(entries: list[str]) -> Sources:
    """Files as given, folders as the videos and photos directly inside them, globs as their sorted matches;
    from folders and globs, streamseg's own earlier outputs are left out (named files are taken as given)."""
    out: list[str] = []
    skipped: list[str] = []

    def scanned(paths: list[str]) -> list[str]:
        skipped.extend(p for p in paths if is_output_name(Path(p)))
        return [p for p in paths if not is_output_name(Path(p))]

    for entry in entries:
        path = Path(entry)
        if is_stream(entry) or path.is_file():
            out.append(entry)
        elif path.is_dir():
            out += scanned(sorted(str(p) for p in path.iterdir()
                                  if p.suffix.lower() in VIDEO_EXTS | PHOTO_EXTS and p.is_file()))
        elif any(c in entry for c in "*?["):
            matches = sorted(glob.glob(entry))
            if not matches:
                raise InputError(f"no file matches {entry!r}", "check the pattern (quote it so the shell leaves it)")
            out += scanned(matches)
        else:
            out.append(entry)  # missing: its run reports it
    if not out:
        raise InputError(f"no video or photo found in {', '.join(entries)}"
                         + (f" (only {len(skipped)} earlier streamseg outputs)" if skipped else ""),
                         f"folders are searched for {sorted(VIDEO_EXTS | PHOTO_EXTS)}")
    return Sources(out, skipped)


def output_for(source: str, fmt: OutputFormat, folder: Path | None = None) -> Path:
    """The default output of an input: INPUT_streamseg.<ext> (INPUT_matte...) beside it, or in `folder`."""
    if is_photo(source):
        return photo.default_output(Path(source), fmt.layers, folder)
    return default_output(Path(source), fmt, folder)


def check_job(job: Job, fmt: OutputFormat, overwrite: bool) -> None:
    """Refuse, before any work, a job whose input is missing or whose output may not be written."""
    if not is_stream(job.source) and not Path(job.source).exists():
        raise InputError(f"input not found: {job.source}", "check the path")
    if is_photo(job.source):
        photo.check_output(Path(job.source), Path(job.output), fmt.layers, overwrite)
    else:
        check_output(job.source, job.output, fmt, overwrite)


def plan_jobs(sources: list[str], output_dir: Path | None, fmt: OutputFormat) -> list[Job]:
    jobs = [Job(s, str(output_for(s, fmt, output_dir))) for s in sources]
    outputs = [j.output for j in jobs]
    clash = {o for o in outputs if outputs.count(o) > 1}
    if clash:
        raise InputError(f"several inputs would write {sorted(clash)[0]}", "give the inputs distinct names")
    return jobs


class Manifest:
    """JSON lines, appended and flushed as each input finishes, so a crash loses nothing recorded."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()

    def records(self) -> dict[str, dict]:
        """The latest record per input."""
        latest: dict[str, dict] = {}
        if self.path.is_file():  # not a device: /dev/full, say, reads zeros for ever
            for line in self.path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:  # a line cut short by a crash
                    continue
                latest[rec.get("input", "")] = rec
        return latest

    def append(self, record: dict) -> None:
        """Raises OutputError (no space, permission) and never leaves an empty manifest behind."""
        with self.lock:
            existed = self.path.exists()
            try:
                with open(self.path, "a") as f:
                    f.write(json.dumps(record) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as e:
                if not existed and self.path.is_file() and self.path.stat().st_size == 0:
                    self.path.unlink()
                raise output_error(self.path, e) from None


def is_complete(record: dict | None, job: Job) -> bool:
    """Done before, and the file at the job's output name is the very one the manifest records writing
    there: same size and sha256. A user's file, or an output changed since, cannot match by chance, and
    a record without a hash proves nothing. Resume skips such jobs and replaces nothing else: what a run
    left unfinished is never under the final name (files.PartialOutput), so any other file there is
    someone's and needs --overwrite."""
    if not record or record.get("status") != "ok" or record.get("output") != job.output or not record.get("sha256"):
        return False
    out = Path(job.output)
    return out.exists() and output_bytes(out) == record.get("bytes") and content_hash(out) == record["sha256"]


def output_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir())
    return path.stat().st_size


def fingerprint(output: Path) -> dict:
    """What a manifest records of an output it wrote, so that resume can tell it from any other file."""
    return {"bytes": output_bytes(output), "sha256": content_hash(output)}


def run_job(job: Job, backend: Backend, opts: RunOptions, *, progress: Callable[[int], None] | None = None,
            announce: Callable[[VideoInfo, str], None] | None = None, finish: threading.Event | None = None,
            cancel: threading.Event | None = None) -> RunSummary | PhotoSummary:
    """One input to its output, videos and photos alike: the output checked, then the work; raises
    StreamsegError. `progress`, `announce`, `finish` and `cancel` as pipeline.run has them (a photo is one
    frame: progress(1) when written)."""
    check_job(job, opts.fmt, opts.overwrite)
    if is_photo(job.source):
        summary = photo.run_photo(Path(job.source), Path(job.output), opts, backend)
        if progress:
            progress(1)
        return summary
    output = job.output if is_stream(job.output) else Path(job.output)
    return run(replace(opts, source=job.source, output=output), backend, progress=progress, announce=announce,
               finish=finish, cancel=cancel)


def process(job: Job, backend: Backend, opts: RunOptions, *, cancel: threading.Event | None = None) -> dict:
    """One job to a manifest record; failures become records, not exceptions (Interrupted excepted)."""
    record: dict[str, Any] = {"input": job.source, "output": job.output, "device": str(backend.device)}
    try:
        summary = run_job(job, backend, opts, cancel=cancel)
        fps = summary.fps if isinstance(summary, RunSummary) else None
        frames = summary.frames if isinstance(summary, RunSummary) else 1
        record.update(status="ok", frames=frames, fps=fps, seconds=summary.seconds,
                      **fingerprint(Path(job.output)), error=None)
    except Interrupted:
        raise
    except StreamsegError as e:
        record.update(status="failed", error=e.problem)
    record["finished_at"] = datetime.datetime.now().isoformat(timespec="seconds")
    return record


def pending(jobs: list[Job], manifest: Manifest, resume: bool,
            report: Callable[[dict], None] = lambda r: None) -> tuple[list[Job], list[dict]]:
    """(the jobs still to run, the records of those --resume skips: done, and their output is whole)."""
    done = manifest.records() if resume else {}
    todo, skipped = [], []
    for job in jobs:
        if resume and is_complete(done.get(job.source), job):
            skipped.append({**done[job.source], "status": "skipped"})
            report(skipped[-1])
        else:
            todo.append(job)
    return todo, skipped


def run_jobs(jobs: list[Job], opts: RunOptions, *, make_backend: Callable[[str | None], Backend],
             devices: list[str | None], manifest: Manifest, resume: bool,
             report: Callable[[dict], None] = lambda r: None) -> list[dict]:
    """Run every job, one worker per device; returns their records (skipped ones included)."""
    remaining, results = pending(jobs, manifest, resume, report)
    todo: queue.Queue[Job] = queue.Queue()
    for job in remaining:
        todo.put(job)
    errors: list[BaseException] = []
    fatal: list[StreamsegError] = []  # the manifest cannot be written: stop everything
    cancel = threading.Event()

    def worker(device: str | None) -> None:
        try:
            with make_backend(device) as backend:
                while not cancel.is_set():
                    try:
                        job = todo.get_nowait()
                    except queue.Empty:
                        return
                    rec = process(job, backend, opts, cancel=cancel)
                    try:
                        manifest.append(rec)
                    except StreamsegError as e:
                        fatal.append(e)
                        cancel.set()
                        return
                    results.append(rec)
                    report(rec)
        except Interrupted:
            pass
        except BaseException as e:  # noqa: BLE001  a device that cannot start: the others carry on
            errors.append(e)

    workers = [Worker(f"device-{d}", functools.partial(worker, d)) for d in devices]
    for w in workers:
        w.start()
    # Ctrl-C: stop every worker and wait until each has removed its partial output
    if wait_all(workers, lambda e: cancel.set()):
        raise Interrupted("interrupted; finished inputs are in the manifest, partial outputs were removed")
    if fatal:
        raise fatal[0]
    if not todo.empty():  # every worker died: report why
        raise errors[0] if errors else StreamsegError("no worker could run the jobs")
    return results
