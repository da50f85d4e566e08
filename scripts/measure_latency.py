"""Added latency of a live run: a generated H.264 stream served on loopback in real time (as a camera
sends it), through the whole pipeline into a file. Per frame, two figures:

- end to end: the frame written to the output, minus the moment the server sent it (demux, decode,
  batching, inference, compositing, encoding: all of it);
- in the pipeline: written minus reaching the batcher (what `run --json` reports as latency_ms).

Three cases show where latency comes from: a frame rate this machine keeps up with; a faster one without
real-time mode (the run falls behind, so latency grows with the length of the stream); the same with
--realtime (frames are dropped instead, and latency stays bounded).

    python scripts/measure_latency.py [--frames 100] [--size 320x180] [--slow-fps 4] [--fast-fps 25]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamseg.pipeline as pipeline  # noqa: E402
from streamseg.backends.registry import create_backend  # noqa: E402
from streamseg.io.writer import FORMATS  # noqa: E402
from streamseg.options import RunOptions
from streamseg.pipeline import latency_summary, run  # noqa: E402
from streamseg.sample import StreamServer  # noqa: E402
from streamseg.weights import default_model_path  # noqa: E402


def recording_writer(written: list):
    """open_writer, with each frame's (pts, wall time) appended to `written` as it is encoded."""
    open_writer = pipeline.open_writer

    def open_recording(*args, **kwargs):
        writer = open_writer(*args, **kwargs)
        write = writer.write

        def write_and_record(image, pts):
            write(image, pts)
            written.append((pts, time.time()))

        writer.write = write_and_record
        return writer
    return open_recording


def measure(backend, frames: int, fps: int, width: int, height: int, realtime: bool, batch: int,
            max_latency_ms: float) -> dict:
    written: list[tuple[int, float]] = []
    pipeline.open_writer = recording_writer(written)
    with tempfile.TemporaryDirectory() as tmp, StreamServer([frames], fps, width, height) as server:
        opts = RunOptions(source=server.url, output=Path(tmp) / "live.mp4", fmt=FORMATS["mp4"], batch_size=batch,
                          max_latency_ms=max_latency_ms, realtime=realtime, reconnects=0)
        s = run(opts, backend)
        sent = server.sent()
    # the server's frame i has pts i/fps after the first: that pairs each written frame with its send time
    tb = 1 / 90000  # MPEG-TS clock
    first = written[0][0]
    end_to_end = [t - sent[round((pts - first) * tb * fps)] for pts, t in written]
    return {"fps_in": fps, "realtime": realtime, "batch": batch, "max_latency_ms": max_latency_ms,
            "frames": s.frames, "dropped": s.dropped, "end_to_end_ms": latency_summary(end_to_end),
            "pipeline_ms": s.latency_ms, "backend": s.backend}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--size", default="320x180")
    p.add_argument("--slow-fps", type=int, default=4)
    p.add_argument("--fast-fps", type=int, default=25)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--max-latency-ms", type=float, default=80)
    p.add_argument("--backend", default="auto")
    a = p.parse_args()
    w, h = map(int, a.size.split("x"))
    backend = create_backend(a.backend, default_model_path())
    for fps, realtime in ((a.slow_fps, False), (a.fast_fps, False), (a.fast_fps, True)):
        print(json.dumps(measure(backend, a.frames, fps, w, h, realtime, a.batch, a.max_latency_ms)), flush=True)


if __name__ == "__main__":
    main()
