"""Helpers for the service's tests: a real uvicorn on a free loopback port in a thread, and a plain HTTP client
(urllib: real requests, multipart bodies built by hand)."""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Running:
    url: str
    service: Any
    log: list[str] = field(default_factory=list)

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 80


@contextmanager
def running_service(data: Path, segmenter: Any = None, *, host: str = "127.0.0.1", **settings: Any
                    ) -> Iterator[Running]:
    """`streamseg serve`'s application on real uvicorn, on a free port of `host`, in a background thread."""
    import uvicorn

    from streamseg.serve.app import ServeConfig, Service, create_app, listen

    config = ServeConfig(host=host, port=0, data=data, **settings)
    log: list[str] = []
    service = Service(config, segmenter, log.append)
    sock = listen(host, 0)
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning", access_log=False,
                                           lifespan="on", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.02)
    try:
        yield Running(f"http://127.0.0.1:{sock.getsockname()[1]}", service, log)
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(url: str, method: str = "GET", body: bytes | Iterable[bytes] | None = None,
            headers: dict[str, str] | None = None, timeout: float = 60) -> Reply:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        chunked = body is not None and not isinstance(body, bytes)
        conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        response = conn.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


def multipart(files: dict[str, tuple[str, bytes]], fields: dict[str, str] | None = None) -> tuple[bytes, str]:
    """A multipart/form-data body: files as field -> (file name, bytes), and plain fields."""
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, value in (fields or {}).items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").encode()
    for name, (filename, data) in files.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def upload(base: str, filename: str, data: bytes, fields: dict[str, str] | None = None,
           headers: dict[str, str] | None = None, extra_files: dict[str, tuple[str, bytes]] | None = None,
           chunked: bool = False) -> Reply:
    body, content_type = multipart({"file": (filename, data), **(extra_files or {})}, fields)
    sent: bytes | Iterable[bytes] = body
    if chunked:  # no Content-Length: the service can only count the bytes as they come
        sent = (body[i:i + 8192] for i in range(0, len(body), 8192))
    return request(f"{base}/api/jobs", "POST", sent, {"Content-Type": content_type, **(headers or {})})


def wait_done(base: str, job_id: str, headers: dict[str, str] | None = None, seconds: float = 120) -> dict:
    reply = request(f"{base}/api/jobs/{job_id}?wait={seconds}", headers=headers, timeout=seconds + 10)
    job = reply.json()
    assert job["status"] in ("done", "failed"), job
    return job
