"""Live input on loopback: a stream this test serves itself, in and out; reconnects; real-time dropping;
stdin, a named pipe, HLS over HTTP. Latency is measured by the pipeline (frame decoded -> frame written)
and reported."""

from __future__ import annotations

import functools
import http.server
import json
import multiprocessing as mp
import os
import subprocess
import sys
import threading
import time
from fractions import Fraction

import av
import pytest
from conftest import cli, decode_all
from media import encode_clip

from streamseg.sample import StreamServer, free_port, pattern


def run_json(*args) -> dict:
    r = cli(*args, "--json", "-q")
    assert r.code == 0, r
    return json.loads(r.out.strip().splitlines()[-1])


def test_live_stream_in_file_out_with_latency(tmp_path):
    out = tmp_path / "live.mp4"
    with StreamServer([50], fps=25) as server:
        summary = run_json("run", server.url, "-o", out, "--batch-size", "4", "--max-latency-ms", "80",
                           "--reconnects", "0")
    frames, times = decode_all(out)
    assert summary["frames"] == len(frames) == 50 and summary["dropped"] == 0
    assert times == sorted(times) and times[-1] == pytest.approx(49 / 25, abs=0.05)
    with av.open(str(out)) as c:
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"  # the stream's audio, kept
    lat = summary["latency_ms"]
    # measured, and bounded: a batch waits at most 80 ms, then inference and encoding follow
    assert 0 < lat["p50"] <= lat["p95"] <= lat["max"] < 10_000
    print(f"\nlive loopback: added latency p50 {lat['p50']} ms, p95 {lat['p95']} ms, max {lat['max']} ms "
          f"({summary['backend']})")


def receive(url: str, result) -> None:
    with av.open(url + "?listen=1", timeout=(60, 30)) as c:
        result.put(sum(1 for _ in c.decode(video=0)))


def test_file_in_live_stream_out(clip):
    port = free_port()
    ctx = mp.get_context("spawn")
    result = ctx.Queue()
    receiver = ctx.Process(target=receive, args=(f"tcp://127.0.0.1:{port}", result), daemon=True)
    receiver.start()
    time.sleep(3)  # the receiver starts listening
    summary = run_json("run", clip, "-o", f"tcp://127.0.0.1:{port}", "--bg", "green")
    receiver.join(timeout=60)
    assert summary["frames"] == 12
    assert result.get(timeout=5) == 12  # every composited frame arrived over the stream


def test_alpha_formats_cannot_be_streamed(clip):
    r = cli("run", clip, "-o", "udp://127.0.0.1:9", "-f", "mov")
    assert r.code == 2 and "cannot be streamed" in r.err


def test_reconnects_after_the_source_drops(tmp_path):
    out = tmp_path / "re.mp4"
    with StreamServer([20, 15], fps=50) as server:  # the source goes away after 20 frames, then returns
        summary = run_json("run", server.url, "-o", out, "--reconnects", "3", "--batch-size", "4")
    frames, times = decode_all(out)
    assert summary["reconnects"] == 1
    assert len(frames) == summary["frames"] == 35
    assert all(b > a for a, b in zip(times, times[1:]))  # timing continues across the reconnect
    assert "ended" in summary["source_end"] or "failed" in summary["source_end"]


def test_realtime_mode_drops_and_counts(tmp_path):
    """A source far faster than this CPU's model: real-time mode keeps up by dropping, and says so."""
    out = tmp_path / "rt.mp4"
    with StreamServer([150], fps=150) as server:
        summary = run_json("run", server.url, "-o", out, "--realtime", "--batch-size", "2", "--reconnects", "0")
    frames, _ = decode_all(out)
    assert summary["dropped"] > 0
    assert len(frames) == summary["frames"] and summary["frames"] + summary["dropped"] == 150


def test_stdin_input(clip, tmp_path):
    out = tmp_path / "stdin.mp4"
    with open(clip, "rb") as f:
        p = subprocess.run([sys.executable, "-m", "streamseg", "run", "-", "-o", str(out), "-q"], stdin=f,
                           capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    frames, _ = decode_all(out)
    assert len(frames) == 12


def test_named_pipe_input(clip, tmp_path):
    fifo = tmp_path / "camera.fifo"
    os.mkfifo(fifo)
    out = tmp_path / "fifo.mp4"

    def feed() -> None:  # as a capture program would: write the stream into the pipe, then close it
        with open(fifo, "wb") as f:
            f.write(clip.read_bytes())

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    summary = run_json("run", fifo, "-o", out)  # no reconnect: a closed pipe has ended
    writer.join(timeout=30)
    frames, _ = decode_all(out)
    assert summary["frames"] == len(frames) == 12 and summary["reconnects"] == 0


def test_hls_over_http_input(tmp_path):
    """An HLS playlist and its segments (2 s each by default), served over HTTP on loopback."""
    site = tmp_path / "hls"
    site.mkdir()
    encode_clip(site / "index.m3u8", frames=30, fps=10, container="hls", audio="aac", options={"g": "5"})
    assert len(list(site.glob("*.ts"))) > 1  # really segmented
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.m3u8"
        summary = run_json("run", url, "-o", tmp_path / "hls.mp4", "--reconnects", "0")
    finally:
        server.shutdown()
    frames, _ = decode_all(tmp_path / "hls.mp4")
    assert summary["frames"] == len(frames) == 30 and summary["audio"] == "aac"


def send_udp(port: int, frames: int, ready=None) -> None:
    """MPEG-TS over UDP at 25 frames/s, as an encoder multicasts it; then silence (UDP has no end). `ready` (an
    Event) is set once the sender has started and opened its output, just before the first frame."""
    out = av.open(f"udp://127.0.0.1:{port}?pkt_size=1316", "w", format="mpegts")
    v = out.add_stream("libx264", rate=25, options={"tune": "zerolatency", "preset": "ultrafast", "g": "5"})
    v.width, v.height, v.pix_fmt = 160, 96, "yuv420p"
    if ready is not None:
        ready.set()
    for i in range(frames):
        f = av.VideoFrame.from_ndarray(pattern(160, 96, i), format="rgb24")
        f.pts, f.time_base = i, Fraction(1, 25)
        out.mux(v.encode(f))
        time.sleep(0.04)
    out.mux(v.encode(None))
    out.close()


def test_udp_input_that_goes_quiet_keeps_what_arrived(tmp_path):
    port = free_port()
    spawn = mp.get_context("spawn")
    ready = spawn.Event()
    # 6 s of frames, and the run starts once the sender does: a spawned sender took over 3 s to start on a busy
    # 2-core machine, and the run, listening from the start, gave up before the first packet (CI, 2026-12-06)
    sender = spawn.Process(target=send_udp, args=(port, 150, ready), daemon=True)
    sender.start()
    assert ready.wait(60), "the UDP sender did not start"
    out = tmp_path / "udp.mp4"
    summary = run_json("run", f"udp://127.0.0.1:{port}", "-o", out, "--reconnects", "0", "--timeout", "3")
    sender.join(timeout=30)
    frames, _ = decode_all(out)
    assert 0 < summary["frames"] == len(frames) <= 150
    assert "nothing arrived for 3 s" in summary["source_end"]


def test_unreachable_stream_is_a_clear_error(tmp_path):
    r = cli("run", f"tcp://127.0.0.1:{free_port()}", "-o", tmp_path / "x.mp4")
    assert r.code == 2 and "cannot open stream" in r.err and "fix:" in r.err
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_ends_a_live_recording_cleanly(tmp_path):
    """For a live source, the first Ctrl-C stops reading and finishes the file: a complete, playable
    recording of what arrived, exit 0."""
    import os
    import signal

    out = tmp_path / "rec.mp4"
    with StreamServer([400], fps=25) as server:
        p = subprocess.Popen([sys.executable, "-m", "streamseg", "run", server.url, "-o", str(out),
                              "--reconnects", "0", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert "streamseg:" in p.stderr.readline()  # running
        time.sleep(2.0)
        p.send_signal(signal.SIGINT)
        out_text, err = p.communicate(timeout=120)
        server.proc.kill()
    assert p.returncode == 0, err
    summary = json.loads(out_text.strip().splitlines()[-1])
    frames, _ = decode_all(out)
    assert 0 < summary["frames"] == len(frames) < 400
    assert "finishing the output" in err
