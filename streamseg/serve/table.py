"""The service's job table: one record per upload, persisted as JSON beside the results so that a restart
loses no finished result.

A job's folder is `DATA/jobs/<id>/`. Ids come from `secrets.token_urlsafe` (unguessable), and an id from a
request is never used as a path as it is: it must match ID_PATTERN and be in the table first.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from streamseg.errors import OutputError

Status = Literal["queued", "running", "done", "failed"]
Kind = Literal["photo", "photos", "video"]
ID_BYTES = 18  # 144 random bits -> 24 URL-safe characters
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{24}")
TABLE_NAME = "jobs.json"
INTERRUPTED = "interrupted by a restart"


def new_id() -> str:
    return secrets.token_urlsafe(ID_BYTES)


def valid_id(text: str) -> bool:
    return ID_PATTERN.fullmatch(text) is not None


@dataclass
class Job:
    id: str
    kind: Kind
    name: str  # the upload's file name, for display and the download's name only (never a path)
    options: dict[str, Any]
    status: Status = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    progress: dict[str, Any] = field(default_factory=dict)  # done, total, inputs_done, inputs (the API's Progress)
    error: dict[str, str | None] | None = None  # {"error": problem, "fix": fix}
    result: str | None = None  # a file name inside the job's folder
    result_name: str | None = None  # the name the download is offered under
    preview: str | None = None  # the composited first frame or photo, for the page
    before: str | None = None  # a photo as uploaded (upright, scaled down), for the page's before/after slider
    records: list[dict[str, Any]] | None = None  # a zip of photos: each photo's outcome
    backdrop: str | None = None  # an uploaded backdrop image, inside the job's folder (options["bg"] = "bg_file")

    def public(self, keep_seconds: float) -> dict[str, Any]:
        """What the API shows: no paths, the links instead."""
        out = asdict(self)
        for key in ("result", "preview", "before", "backdrop"):
            out.pop(key)
        base = f"/api/jobs/{self.id}"
        out["links"] = {"self": base, **({"result": f"{base}/result"} if self.result else {}),
                        **({"preview": f"{base}/preview"} if self.preview else {}),
                        **({"before": f"{base}/before"} if self.before else {})}
        out["expires"] = self.finished + keep_seconds if self.finished is not None else None
        return out


class JobTable:
    """The jobs by id, behind one lock; `save()` writes them atomically to DATA/jobs.json."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.jobs_dir = data / "jobs"
        self.path = data / TABLE_NAME
        self.lock = threading.RLock()
        self.jobs: dict[str, Job] = {}
        self.changed = threading.Condition(self.lock)  # notified on every status change (for ?wait=)

    def load(self) -> list[str]:
        """Read the table back; a job that was queued or running when the service stopped is failed, and its
        upload removed. Folders of jobs the table does not know (a crash between the two writes) are removed.
        Returns what it did, for the log."""
        notes: list[str] = []
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            try:
                rows = json.loads(self.path.read_text())
                jobs = [Job(**row) for row in rows]
            except (OSError, ValueError, TypeError) as e:
                # keep every folder: the results are still there, and a person can look at the file
                bad = self.path.with_name(TABLE_NAME + ".unreadable")
                os.replace(self.path, bad)
                return [f"could not read the job table ({e}); kept it as {bad} and started with an empty table"]
            for job in jobs:
                if not valid_id(job.id):
                    continue
                if job.status in ("queued", "running"):
                    job.status, job.finished = "failed", time.time()
                    job.error = {"error": INTERRUPTED, "fix": "upload it again"}
                    shutil.rmtree(self.jobs_dir / job.id / "input", ignore_errors=True)
                    notes.append(f"job {job.id} ({job.name}) was {INTERRUPTED}")
                self.jobs[job.id] = job
        for folder in self.jobs_dir.iterdir():
            if folder.is_dir() and valid_id(folder.name) and folder.name not in self.jobs:
                shutil.rmtree(folder, ignore_errors=True)
        self.save()
        return notes

    def save(self) -> None:
        with self.lock:
            rows = [asdict(job) for job in self.jobs.values()]
            temp = self.path.with_name(f".{TABLE_NAME}.{os.getpid()}.partial")
            try:
                temp.write_text(json.dumps(rows, indent=1))
                os.replace(temp, self.path)
            except OSError as e:
                with contextlib.suppress(OSError):
                    temp.unlink()
                raise OutputError(f"cannot write the job table {self.path}: {e.strerror or e}",
                                  "free space on that disk, or start with --data on another one") from None
            self.changed.notify_all()

    def add(self, job: Job) -> None:
        with self.lock:
            self.jobs[job.id] = job
            self.save()

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or None for an id that is malformed or unknown."""
        if not valid_id(job_id):
            return None
        with self.lock:
            return self.jobs.get(job_id)

    def folder(self, job: Job) -> Path:
        # the id came from the table, which only holds ids made by new_id or checked by valid_id
        return self.jobs_dir / job.id

    def update(self, job: Job, **changes: Any) -> None:
        with self.lock:
            for key, value in changes.items():
                setattr(job, key, value)
            if job.id in self.jobs:  # not one deleted meanwhile
                self.save()
            else:
                self.changed.notify_all()

    def remove(self, job: Job) -> None:
        with self.lock:
            self.jobs.pop(job.id, None)
            self.save()
        shutil.rmtree(self.folder(job), ignore_errors=True)

    def expired(self, keep_seconds: float, now: float | None = None) -> list[Job]:
        now = time.time() if now is None else now
        with self.lock:
            return [job for job in self.jobs.values()
                    if job.finished is not None and now - job.finished >= keep_seconds]

    def wait(self, job: Job, timeout: float) -> None:
        """Until the job is finished or `timeout` seconds have passed."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while job.status in ("queued", "running") and (left := deadline - time.monotonic()) > 0:
                self.changed.wait(left)
