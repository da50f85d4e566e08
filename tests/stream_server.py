"""A live H.264 + AAC MPEG-TS stream served over TCP on loopback, from a separate process (as a camera
or encoder would), for the live-input tests. Run in a child process: PyAV's listening socket blocks in C.
"""

from __future__ import annotations

import multiprocessing as mp
import socket
import time
from fractions import Fraction

import av
import numpy as np
from media import pattern


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port: int, sessions: list[int], fps: int, times_out, ready, width: int = 160, height: int = 96) -> None:
    """For each entry of `sessions`, accept one client and send that many frames in real time at `fps`
    (with audio), then close the connection. Sends (frame number, wall time) for each frame sent."""
    n = 0
    for frames in sessions:
        ready.set()  # about to listen: the socket is bound a few milliseconds later
        out = av.open(f"tcp://127.0.0.1:{port}?listen=1", "w", format="mpegts")
        v = out.add_stream("libx264", rate=fps, options={"tune": "zerolatency", "preset": "ultrafast", "g": "10"})
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        a = out.add_stream("aac", rate=48000, layout="stereo")
        t0 = time.monotonic()
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(pattern(width, height, n), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, fps)
            out.mux(v.encode(f))
            samples = 48000 // fps
            af = av.AudioFrame.from_ndarray(np.zeros((2, samples), np.float32), format="fltp", layout="stereo")
            af.sample_rate, af.pts = 48000, i * samples
            out.mux(a.encode(af))
            times_out.put((n, time.time()))
            n += 1
            time.sleep(max(0.0, t0 + (i + 1) / fps - time.monotonic()))
        out.mux(v.encode(None))
        out.mux(a.encode(None))
        out.close()


class StreamServer:
    """`with StreamServer([30]) as s:` serves one 30-frame session at s.url."""

    def __init__(self, sessions: list[int], fps: int = 25) -> None:
        self.port = free_port()
        self.url = f"tcp://127.0.0.1:{self.port}"
        ctx = mp.get_context("spawn")
        self.times, self.ready = ctx.Queue(), ctx.Event()
        self.proc = ctx.Process(target=serve, args=(self.port, sessions, fps, self.times, self.ready), daemon=True)

    def __enter__(self) -> StreamServer:
        self.proc.start()
        if not self.ready.wait(60):
            raise RuntimeError("the stream server did not start")
        time.sleep(0.5)  # (probing the port would be taken as the first client)
        return self

    def sent(self) -> dict[int, float]:
        out = {}
        while not self.times.empty():
            n, t = self.times.get()
            out[n] = t
        return out

    def __exit__(self, *exc) -> None:
        self.proc.join(timeout=30)
        if self.proc.is_alive():
            self.proc.kill()
