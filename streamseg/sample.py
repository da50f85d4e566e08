"""Sample clips made on the spot: a drawn car driving past a drawn street, with an engine-like sound.

`streamseg sample car.mp4` writes one to try the tool on; the tests and benchmarks make theirs here too,
and can ask for the true car mask of every frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

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


def car_frames(spec: SampleSpec):
    """Yield (rgb [H,W,3] uint8, true mask [H,W] float 0..1) for each frame."""
    rng = np.random.default_rng(spec.seed)
    bg = (street if spec.scene == "street" else studio)(rng, spec.height, spec.width)
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
        x = int(spec.width * (0.02 + 0.38 * t))
        rgb, a = sprites[i % phases]
        img, mask = place(bg, rgb, a, x, ground - car_h, rng, shadow=0.55, reflect=0.12)
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


def write_sample(path: Path, spec: SampleSpec = SampleSpec(), keep_masks: bool = False):
    """Write the clip; returns the true masks ([frames] of [H,W] float) when keep_masks, else None."""
    time_base = Fraction(1, spec.fps * 100)
    masks = []
    with av.open(str(path), "w") as out:
        stream = out.add_stream(spec.codec, rate=spec.fps)
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, spec.pix_fmt
        if spec.rotation % 180:  # stored sideways
            stream.width, stream.height = spec.height, spec.width
        stream.codec_context.time_base = time_base
        if spec.codec == "libx264":
            stream.options = {"crf": "16", "preset": "veryfast"}
        if spec.rotation:
            stream.set_display_rotation(spec.rotation)
        audio = None
        if spec.audio:
            audio = out.add_stream(spec.audio, rate=48000, layout="stereo")
        times = frame_times(spec)
        for (rgb, mask), t in zip(car_frames(spec), times):
            if spec.rotation:  # store the picture turned back, so the display rotation makes it upright
                rgb = np.ascontiguousarray(np.rot90(rgb, -(spec.rotation // 90)))
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = int(t / time_base), time_base
            out.mux(stream.encode(frame))
            if keep_masks:
                masks.append(mask)
        out.mux(stream.encode(None))
        if audio is not None:
            seconds = float(times[-1]) + 1 / spec.fps
            sound = engine_sound(seconds, seed=spec.seed)
            fmt = audio.codec_context.codec.audio_formats[0].name
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
