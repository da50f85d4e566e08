"""The FastAPI application: the page, the JSON API under /api, the token guard and the JSON errors.

Every failure a client can meet is `{"error": problem, "fix": fix}` with its HTTP status (400 bad options,
401 no token, 404 no such job, 409 not finished, 413 too large, 415 wrong type, 503 queue full, 507 disk full,
500 a bug, whose traceback goes to the service's log only).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import secrets
import shutil
import socket
import sys
import time
import traceback
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from streamseg.errors import InputError, OutputError, StreamsegError
from streamseg.serve.runner import FORMATS, OPTION_NAMES, Runner, load_segmenter, parse_options
from streamseg.serve.table import Job, JobTable, new_id
from streamseg.serve.uploads import FormReader, UploadError, remove_quietly, unpack_photos

STATIC = Path(__file__).parent / "static"
FORM_OVERHEAD = 1 << 20  # the multipart framing and option fields beside the files
FREE_SPACE_RESERVE = 64 << 20  # an upload is refused (507) when it would leave less than this free
UNZIPPED_FACTOR = 4  # a zip may unpack to this many times --max-upload-mb
OPEN_PATHS = ("/static/", "/openapi.json", "/docs")  # the page's code and the API's description: no data


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    jobs: int = 1
    max_upload_mb: float = 1024.0
    keep_hours: float = 24.0
    data: Path = Path("serve")
    model: str = "default"
    backend: str = "auto"
    device: str | None = None

    @property
    def upload_limit(self) -> int:
        return int(self.max_upload_mb * 2**20)

    @property
    def keep_seconds(self) -> float:
        return self.keep_hours * 3600


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_config(config: ServeConfig) -> None:
    """Safe by default: another address than loopback is reachable by others, so it needs a token."""
    if config.token is not None and not config.token.strip():
        raise InputError("--token is empty", "pass a long random token, e.g. from `python -c 'import secrets; "
                                             "print(secrets.token_urlsafe())'`")
    if not is_loopback(config.host) and config.token is None:
        raise InputError(f"--host {config.host} lets other machines reach the service, and no --token was given",
                         "pass --token (or set STREAMSEG_TOKEN), or leave out --host to bind 127.0.0.1 only")


def error(status: int, problem: str, fix: str | None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": problem, "fix": fix}, status_code=status, headers=headers)


class TokenGuard:
    """With a token set, every request but the page's static code must carry it: `Authorization: Bearer T`
    (what the page sends), `X-Streamseg-Token: T`, or `?token=T` (how the page's address brings it)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.token is None or scope["path"].startswith(OPEN_PATHS):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = [headers.get("x-streamseg-token", "")]
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            given.append(value.strip())
        given += parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [])
        if any(secrets.compare_digest(g.encode(), self.token.encode()) for g in given if g):
            await self.app(scope, receive, send)
            return
        response = error(401, "this service needs its token", "send the header 'Authorization: Bearer TOKEN', or "
                         "open the page as /?token=TOKEN", headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


class Service:
    """The job table, the runner and the settings behind one application."""

    def __init__(self, config: ServeConfig, segmenter: Any, say: Callable[[str], None]) -> None:
        self.config, self.segmenter, self.say = config, segmenter, say
        config.data.mkdir(parents=True, exist_ok=True)
        self._lock_file = lock_data(config.data)
        self.table = JobTable(config.data)
        for note in self.table.load():
            say(f"streamseg: {note}")
        self.runner = Runner(self.table, segmenter, config.jobs, config.keep_seconds, say)

    def start(self) -> None:
        self.runner.start()

    def stop(self) -> None:
        self.runner.stop()
        for job in list(self.table.jobs.values()):  # what was still waiting or running when stopped
            if job.status in ("queued", "running"):
                self.table.update(job, status="failed", finished=time.time(),
                                  error={"error": "stopped: the service shut down", "fix": "upload it again"})
        self._lock_file.close()


def lock_data(data: Path) -> IO[str]:
    """One service per data folder: two would each fail the other's jobs on start and race on jobs.json."""
    handle = (data / ".lock").open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise OutputError(f"another streamseg serve is using {data}", "stop it, or pass another --data") from None
    return handle


def create_app(service: Service) -> FastAPI:
    config, table, runner = service.config, service.table, service.runner

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            await run_in_threadpool(service.stop)

    app = FastAPI(title="streamseg", summary="Remove the background from car photos and videos",
                  version="0.1.0", lifespan=lifespan)
    app.add_middleware(TokenGuard, token=config.token)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(UploadError)
    async def upload_error(request: Request, e: UploadError) -> JSONResponse:
        return error(e.status, e.problem, e.fix)

    @app.exception_handler(StreamsegError)
    async def streamseg_error(request: Request, e: StreamsegError) -> JSONResponse:
        return error(400 if isinstance(e, InputError) else 507 if isinstance(e, OutputError) else 500,
                     e.problem, e.fix)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        fix = "see /docs for the API" if e.status_code in (404, 405) else None
        return error(e.status_code, str(e.detail), fix)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())
        return error(400, problems, "see /docs for the API")

    @app.exception_handler(Exception)
    async def bug(request: Request, e: Exception) -> JSONResponse:
        traceback.print_exception(e, file=sys.stderr)
        return error(500, f"internal error: {type(e).__name__}", "see the service's log, and report it")

    def find(job_id: str) -> Job:
        job = table.get(job_id)
        if job is None:
            raise UploadError(404, f"no job {job_id[:40]!r}", "results are removed after the service's --keep-hours; "
                              "upload the file again")
        return job

    def public(job: Job) -> dict[str, Any]:
        return job.public(config.keep_seconds)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/api/info")
    async def info() -> dict[str, Any]:
        """What this service runs and takes: the model, the limits, the option names and formats."""
        from streamseg.background import COLOURS, STUDIO

        return {"model": config.model, "runs_on": describe_segmenter(service.segmenter, config),
                "jobs": config.jobs, "max_upload_mb": config.max_upload_mb, "keep_hours": config.keep_hours,
                "options": list(OPTION_NAMES), "formats": {k: [f or "auto" for f in v] for k, v in FORMATS.items()},
                "backdrops": [STUDIO, *COLOURS]}

    @app.post("/api/jobs", status_code=202, openapi_extra=UPLOAD_SCHEMA)
    async def upload(request: Request) -> dict[str, Any]:
        """Upload a photo, a zip of photos or a video (the form field `file`) with the options as form fields;
        the job is queued. Poll GET /api/jobs/{id} (or ?wait=SECONDS), then GET its result."""
        limit = config.upload_limit
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
            raise UploadError(413, f"the upload is larger than this service takes ({config.max_upload_mb:g} MB)",
                              "send a smaller file, or restart the service with a larger --max-upload-mb")
        free = shutil.disk_usage(config.data).free
        if free < int(declared or 0) + FREE_SPACE_RESERVE:
            raise UploadError(507, f"the disk holding {config.data} has {free / 2**20:.0f} MB free, too little for "
                              "this upload", "free space there, or restart the service with --data on a larger "
                              "disk (results are removed after --keep-hours)")
        job_id = new_id()
        folder = table.jobs_dir / job_id
        folder.mkdir()
        reader: FormReader | None = None
        try:
            reader = FormReader(request.headers.get("content-type", ""), folder, limit)
            body = 0
            async for chunk in request.stream():
                body += len(chunk)
                if body > limit + FORM_OVERHEAD:
                    raise UploadError(413, f"the upload is larger than this service takes "
                                      f"({config.max_upload_mb:g} MB)", "send a smaller file, or restart the "
                                      "service with a larger --max-upload-mb")
                reader.feed(chunk)
            reader.finish()
            if "file" not in reader.files:
                raise UploadError(400, "no file in the upload", "send it as the form field file "
                                  "(curl -F file=@car.mp4)")
            upload = reader.files["file"]
            if upload.kind == "photos":
                photos = folder / "input" / "photos"
                photos.mkdir()
                await run_in_threadpool(unpack_photos, upload.path, photos, limit * UNZIPPED_FACTOR)
                upload.path.unlink()
            backdrop = reader.files.get("bg_file")
            options = parse_options(reader.fields, upload.kind, config.model, backdrop is not None,
                                    (config.backend, getattr(service.segmenter, "backend_name", config.backend)))
            job = Job(id=job_id, kind=upload.kind, name=upload.name, options=options,
                      backdrop=str(backdrop.path.relative_to(folder)) if backdrop else None)
            table.add(job)
            try:
                runner.submit(job)
            except UploadError:
                table.remove(job)
                raise
        except BaseException:
            if reader is not None:
                reader.close()
            remove_quietly(folder)
            raise
        service.say(f"streamseg: job {job.id}: {upload.name} ({upload.kind}, {upload.size / 2**20:.1f} MB) queued")
        return public(job)

    @app.get("/api/jobs")
    async def jobs() -> list[dict[str, Any]]:
        """Every job the service still has, newest first."""
        with table.lock:
            listed = sorted(table.jobs.values(), key=lambda j: j.created, reverse=True)
        return [public(job) for job in listed]

    @app.get("/api/jobs/{job_id}")
    async def status(job_id: str, wait: float = Query(0, ge=0, le=600,
                                                      description="seconds to wait for the job to finish")
                     ) -> dict[str, Any]:
        """The job: status queued|running|done|failed, progress, error, links to its result and previews."""
        job = find(job_id)
        if wait:
            await run_in_threadpool(table.wait, job, wait)
        return public(job)

    @app.get("/api/jobs/{job_id}/result", response_class=FileResponse)
    async def result(job_id: str) -> FileResponse:
        """The finished result (a photo, a video, or a zip for several photos or a PNG sequence)."""
        job = find(job_id)
        if job.status != "done" or job.result is None:
            if job.status == "failed":
                raise UploadError(409, f"the job failed: {(job.error or {}).get('error')}",
                                  (job.error or {}).get("fix") or "upload it again")
            raise UploadError(409, f"the job is {job.status}", f"wait for it: GET /api/jobs/{job.id}?wait=60")
        return FileResponse(table.folder(job) / job.result, filename=job.result_name)

    @app.get("/api/jobs/{job_id}/preview", response_class=FileResponse)
    async def preview(job_id: str) -> FileResponse:
        """The result (a photo) or its first composited frame (a video), scaled down for the page."""
        return picture(find(job_id), "preview")

    @app.get("/api/jobs/{job_id}/before", response_class=FileResponse)
    async def before(job_id: str) -> FileResponse:
        """A photo as uploaded, upright and scaled down."""
        return picture(find(job_id), "before")

    def picture(job: Job, which: str) -> FileResponse:
        name = getattr(job, which)
        if name is None:
            raise UploadError(404, f"the job has no {which} picture yet", f"wait for links.{which} in its status")
        return FileResponse(table.folder(job) / name, headers={"Cache-Control": "no-store"})

    @app.delete("/api/jobs/{job_id}")
    async def delete(job_id: str) -> dict[str, str]:
        """Cancel the job if it is queued or running, and remove it with its result."""
        job = find(job_id)
        runner.cancel(job)
        table.remove(job)
        return {"deleted": job.id}

    return app


UPLOAD_SCHEMA: dict[str, Any] = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": "a photo (jpg, png, webp, tif, bmp, heic), a zip of photos, or a video "
                                "(mp4, mov, m4v, webm, mkv, avi, gif)"},
        "bg_file": {"type": "string", "format": "binary", "description": "a backdrop image (instead of bg)"},
        "bg": {"type": "string", "default": "studio", "description": "studio, white, grey, black, green, blue or "
                                                                    "#RRGGBB"},
        "fmt": {"type": "string", "enum": ["auto", "mp4", "mov", "webm", "png", "matte"], "default": "auto"},
        "shadow": {"type": "string", "enum": ["auto", "true", "false"], "default": "auto"},
        "reflection": {"type": "boolean", "default": False},
        "fit": {"type": "boolean", "default": False},
        "size": {"type": "string", "description": "WIDTHxHEIGHT, e.g. 1920x1080"},
        "vehicles": {"type": "string", "enum": ["subject", "all"], "default": "subject"},
        "plate": {"type": "string", "description": "number plates: blur, colour (dark grey) or #RRGGBB; left out: "
                                                   "as they are"},
        "refine": {"type": "boolean", "default": True},
        "edges": {"type": "boolean",
                  "description": "the outline redrawn at full resolution by the edge network; left out: on photos "
                                 "of 0.3 megapixels and more, not on videos"},
        "smooth": {"type": "boolean", "default": True},
        "model": {"type": "string", "description": "must be the model the service was started with"},
        "backend": {"type": "string", "description": "must be the backend the service was started with"}}}}}}}


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, opened before the model loads so a busy port fails at once (port 0: any free)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {e.strerror or e}",
                         "choose another --port (0 takes any free one), or stop what holds it") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run_server(config: ServeConfig, say: Callable[[str], None]) -> None:
    """`streamseg serve`: check the settings, listen, load the model once, serve until Ctrl-C or SIGTERM."""
    import uvicorn

    check_config(config)
    sock = listen(config.host, config.port)
    port = sock.getsockname()[1]
    say(f"streamseg: loading the model {config.model} ...")
    segmenter = load_segmenter(config.model, config.backend, config.device)
    try:
        service = Service(config, segmenter, say)
        app = create_app(service)
        host = f"[{config.host}]" if ":" in config.host else config.host
        url = f"http://{host}:{port}/"
        say(f"streamseg: serving {url} (the page; the API under /api, described at /docs) with "
            f"{describe_segmenter(segmenter, config)}; {config.jobs} job(s) at a time; uploads up to "
            f"{config.max_upload_mb:g} MB; results kept {config.keep_hours:g} h in {config.data}"
            + ("; token required (open the page as /?token=TOKEN)" if config.token else ""))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                               timeout_graceful_shutdown=5))
        server.run(sockets=[sock])
    finally:
        sock.close()
        with contextlib.suppress(Exception):
            segmenter.close()


def describe_segmenter(segmenter: Any, config: ServeConfig) -> str:
    """What the warm model runs on, as the Segmenter says (model and backend)."""
    return segmenter.describe() if segmenter is not None else f"model {config.model} (not loaded)"


def default_data() -> Path:
    from streamseg.models.names import cache_root

    return cache_root() / "serve"


def default_jobs() -> int:
    """1 on a CPU (one job already uses every core), 2 on a GPU (one decodes and encodes while the other infers)."""
    import torch

    return 2 if torch.cuda.is_available() else 1

