"""Sample clips made on the spot: a drawn car driving past a drawn street, with an engine-like sound.

`streamseg sample car.mp4` writes one to try the tool on; the tests and benchmarks make theirs here too,
and can ask for the true car mask of every frame.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from streamseg.colour import BT709
from streamseg.io.streams import add_audio_stream, add_video_stream
from streamseg.synthetic import Car, place, street, studio


@dataclass(frozen=True)
class SampleSpec:
    width: int = 1280
    height: int = 720
    frames: int = 75
    fps: int = 25
    seed: int = 0
    audio: str | None = "aac"  # audio codec, None for a silent clip
    vfr: bool = False  # irregular frame times, as phones record
    rotation: int = 0  # display-matrix rotation to store (the picture is stored turned back)
    codec: str = "libx264"
    pix_fmt: str = "yuv420p"
    scene: str = "street"  # or "studio"
    travel: float = 0.38  # how far the car drives over the clip, in frame widths (0: parked)
    noise: float = 0.0  # sensor noise added to each frame (standard deviation, 0..1 scale)
    parked: float = 0.0  # a second car parked behind, up to the right, this wide (in frame widths; 0: none)


def parked_car(spec: SampleSpec, bg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`bg` with the second car of `spec.parked` drawn on it, and that car's mask [H,W] 0..1 (all 0 if none)."""
    if not spec.parked:
        return bg, np.zeros(bg.shape[:2], np.float32)
    rng = np.random.default_rng(spec.seed + 1000)
    while True:
        car = Car.random(rng)
        if car.view == "side":
            break
    rgb, a = car.render(int(spec.width * spec.parked), 0.0, rng)
    x, ground = int(spec.width * 0.97) - rgb.shape[1], int(spec.height * 0.5)
    return place(bg, rgb, a, x, ground - rgb.shape[0], rng, shadow=0.5, reflect=0.1)


def car_frames(spec: SampleSpec):
    """Yield (rgb [H,W,3] uint8, true mask [H,W] float 0..1) for each frame."""
    rng = np.random.default_rng(spec.seed)
    bg = (street if spec.scene == "street" else studio)(rng, spec.height, spec.width)
    bg, _ = parked_car(spec, bg)
    while True:
        car = Car.random(rng)
        if car.view == "side":
            break
    car_w = int(spec.width * 0.55)
    phases = 6  # the rim pattern repeats, so a few wheel positions drawn once cover the clip
    sprites = [car.render(car_w, 2 * math.pi * k / (phases * car.spokes), np.random.default_rng(spec.seed))
               for k in range(phases)]
    car_h = sprites[0][0].shape[0]
    ground = int(spec.height * 0.92)
    for i in range(spec.frames):
        t = i / max(1, spec.frames - 1)
        x = int(spec.width * (0.02 + spec.travel * t))
        rgb, a = sprites[i % phases] if spec.travel else sprites[0]  # a parked car's wheels stand still
        img, mask = place(bg, rgb, a, x, ground - car_h, rng, shadow=0.55, reflect=0.12)
        if spec.noise:
            img = img + rng.normal(0, spec.noise, img.shape)
        yield (np.clip(img, 0, 1) * 255).round().astype(np.uint8), mask


def frame_times(spec: SampleSpec) -> list[Fraction]:
    """Presentation time of each frame in seconds; jittered and uneven for VFR clips."""
    if not spec.vfr:
        return [Fraction(i, spec.fps) for i in range(spec.frames)]
    rng = np.random.default_rng(spec.seed + 1)
    steps = rng.choice([1, 1, 1, 2, 3], size=spec.frames)  # gaps of 1-3 frame periods
    return [Fraction(int(s), spec.fps) for s in np.concatenate([[0], np.cumsum(steps[:-1])])]


def engine_sound(seconds: float, rate: int = 48000, seed: int = 0) -> np.ndarray:
    """[2, samples] float32: an idling engine, harmonics of a slowly wandering firing frequency."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    f0 = 38 + 4 * np.sin(2 * np.pi * 0.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.15 + rng.normal(0, 0.01, n)
    return np.stack([wave, np.roll(wave, 40)]).astype(np.float32)


def write_sample(path: Path, spec: SampleSpec = SampleSpec(), keep_masks: bool = False,
                 progress: Callable[[int], object] | None = None):
    """Write the clip; returns the true masks ([frames] of [H,W] float) when keep_masks, else None.
    `progress(1)` is called after each frame."""
    time_base = Fraction(1, spec.fps * 100)
    masks = []
    with av.open(str(path), "w") as out:
        stream = add_video_stream(out, spec.codec, spec.fps)
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, spec.pix_fmt
        if spec.rotation % 180:  # stored sideways
            stream.width, stream.height = spec.height, spec.width
        stream.codec_context.time_base = time_base
        BT709.tag(stream.codec_context)  # BT.709, limited range, and tagged so, as cameras write HD
        if spec.codec == "libx264":
            stream.options = {"crf": "16", "preset": "veryfast"}
        if spec.rotation:
            stream.set_display_rotation(spec.rotation)
        audio = None
        if spec.audio:
            audio = add_audio_stream(out, spec.audio, 48000, "stereo")
        times = frame_times(spec)
        for (rgb, mask), t in zip(car_frames(spec), times):
            if spec.rotation:  # store the picture turned back, so the display rotation makes it upright
                rgb = np.ascontiguousarray(np.rot90(rgb, -(spec.rotation // 90)))
            frame = BT709.from_rgb(av.VideoFrame.from_ndarray(rgb, format="rgb24"), spec.pix_fmt)
            frame.pts, frame.time_base = int(t / time_base), time_base
            out.mux(stream.encode(frame))
            if keep_masks:
                masks.append(mask)
            if progress:
                progress(1)
        out.mux(stream.encode(None))
        if audio is not None:
            seconds = float(times[-1]) + 1 / spec.fps
            sound = engine_sound(seconds, seed=spec.seed)
            formats = audio.codec_context.codec.audio_formats
            if not formats:
                raise ValueError(f"the {spec.audio} encoder names no sample format")
            fmt = formats[0].name
            chunk = 1024
            for start in range(0, sound.shape[1], chunk):
                block = sound[:, start:start + chunk]
                if fmt in ("s16", "s16p"):
                    block = (block * 32767).astype(np.int16)
                if not fmt.endswith("p"):  # packed formats interleave channels
                    block = block.T.reshape(1, -1)
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format=fmt, layout="stereo")
                af.sample_rate, af.pts = 48000, start
                out.mux(audio.encode(af))
            out.mux(audio.encode(None))
    return masks if keep_masks else None


def pattern(width: int, height: int, i: int) -> np.ndarray:
    """A moving gradient with a bright box: cheap at any size, different in every frame."""
    y, x = np.ogrid[:height, :width]
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = (x * 255 // max(1, width - 1) + 9 * i) % 256
    img[..., 1] = (y * 255 // max(1, height - 1)) % 256
    img[..., 2] = 80
    x0 = (i * width // 10) % max(1, width - width // 4)
    img[height // 3: 2 * height // 3, x0: x0 + width // 4] = 230
    return img


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_stream(port: int, sessions: list[int], fps: int, times_out, ready, width: int = 160, height: int = 96,
                 realtime: bool = True) -> None:
    """For each entry of `sessions`, accept one client on 127.0.0.1:`port` and send that many pattern
    frames (H.264 + silent AAC in MPEG-TS) at `fps` in real time (or as fast as it can), then close the
    connection. Puts (frame number, wall time) on `times_out` for each frame sent (unless None)."""
    n = 0
    for frames in sessions:
        ready.set()  # about to listen: the socket is bound a few milliseconds later
        # flush_packets: send each frame as it is muxed, as a camera does (not in 32 KB bursts)
        out = av.open(f"tcp://127.0.0.1:{port}?listen=1", "w", format="mpegts", options={"flush_packets": "1"})
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
            if times_out is not None:
                times_out.put((n, time.time()))
            n += 1
            if realtime:
                time.sleep(max(0.0, t0 + (i + 1) / fps - time.monotonic()))
        out.mux(v.encode(None))
        out.mux(a.encode(None))
        out.close()


class StreamServer:
    """`with StreamServer([30]) as s:` serves one 30-frame session at s.url, from a child process (as a
    camera or encoder would; PyAV's listening socket blocks in C, so it cannot be a thread)."""

    def __init__(self, sessions: list[int], fps: int = 25, width: int = 160, height: int = 96,
                 realtime: bool = True, record_times: bool = True) -> None:
        self.port = free_port()
        self.url = f"tcp://127.0.0.1:{self.port}"
        ctx = mp.get_context("spawn")
        self.times = ctx.Queue() if record_times else None
        self.ready = ctx.Event()
        self.proc = ctx.Process(target=serve_stream, daemon=True,
                                args=(self.port, sessions, fps, self.times, self.ready, width, height, realtime))

    def __enter__(self) -> StreamServer:
        self.proc.start()
        if not self.ready.wait(60):
            raise RuntimeError("the stream server did not start")
        time.sleep(0.5)  # (probing the port would be taken as the first client)
        return self

    def sent(self) -> dict[int, float]:
        out = {}
        while self.times is not None and not self.times.empty():
            n, t = self.times.get()
            out[n] = t
        return out

    def __exit__(self, *exc) -> None:
        self.proc.join(timeout=30)
        if self.proc.is_alive():
            self.proc.kill()
