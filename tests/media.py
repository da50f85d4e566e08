"""Small media files for tests, encoded with PyAV from arrays (no car drawing, so any size is cheap)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from streamseg.sample import pattern


def encode_clip(path: Path, width: int = 96, height: int = 64, frames: int = 5, fps: int = 25,
                codec: str = "libx264", pix_fmt: str = "yuv420p", container: str | None = None,
                audio: str | None = None, audio_seconds: float | None = None, options: dict | None = None,
                times: list[Fraction] | None = None) -> Path:
    """Encode `frames` pattern frames (at `times` seconds if given) and optionally a tone."""
    with av.open(str(path), "w", format=container) as out:
        v = out.add_stream(codec, rate=fps, options=options or {})
        v.width, v.height, v.pix_fmt = width, height, pix_fmt
        tb = Fraction(1, fps * 100)
        v.codec_context.time_base = tb
        a = out.add_stream(audio, rate=48000, layout="stereo") if audio else None
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(pattern(width, height, i), format="rgb24")
            t = times[i] if times else Fraction(i, fps)
            f.pts, f.time_base = int(t / tb), tb
            out.mux(v.encode(f))
        out.mux(v.encode(None))
        if a is not None:
            seconds = audio_seconds if audio_seconds is not None else frames / fps
            fmt = a.codec_context.codec.audio_formats[0].name
            n = int(seconds * 48000)
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(n) / 48000)).astype(np.float32)
            for start in range(0, n, 1024):
                block = np.stack([tone[start:start + 1024]] * 2)
                if fmt.startswith("s16"):
                    block = (block * 32767).astype(np.int16)
                elif fmt.startswith("s32"):
                    block = (block * 2**31 * 0.99).astype(np.int32)
                if not fmt.endswith("p"):
                    block = block.T.reshape(1, -1)
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format=fmt, layout="stereo")
                af.sample_rate, af.pts = 48000, start
                out.mux(a.encode(af))
            out.mux(a.encode(None))
    return path


def encode_audio_only(path: Path, frames: int = 30) -> Path:
    """An AAC track alone (no video), `frames` x 1024 samples of silence."""
    with av.open(str(path), "w", format="mp4") as out:
        s = out.add_stream("aac", rate=48000, layout="stereo")
        for i in range(frames):
            f = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
            f.sample_rate, f.pts = 48000, i * 1024
            out.mux(s.encode(f))
        out.mux(s.encode(None))
    return path
