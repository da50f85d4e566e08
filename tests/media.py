"""Small media files for tests, encoded with PyAV from arrays (no car drawing, so any size is cheap)."""

from __future__ import annotations

import struct
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


# an ASS header, which FFmpeg's mov_text encoder must be opened with (the text itself is muxed, not encoded)
ASS_HEADER = b"[Script Info]\nScriptType: v4.00+\n"


def with_subtitles(clip: Path, path: Path, codec: str, cues: list[tuple[float, float, str]],
                   container: str | None = None, language: str = "eng") -> Path:
    """`clip`'s streams copied into `path`, plus a subtitle stream of `codec` (mov_text, webvtt, subrip)
    whose packets are muxed by hand, one per cue (start s, end s, text): nothing encodes the text."""
    with av.open(str(clip)) as src, av.open(str(path), "w", format=container) as out:
        copies = {s.index: out.add_stream_from_template(s) for s in src.streams}
        subs = out.add_stream(codec)
        subs.codec_context.subtitle_header = ASS_HEADER
        subs.metadata["language"] = language
        for p in src.demux():
            if p.size:
                p.stream = copies[p.stream.index]
                out.mux(p)
        for start, end, text in cues:
            data = text.encode()
            if codec == "mov_text":  # a 3GPP text sample: 16-bit big-endian length, then UTF-8
                data = struct.pack(">H", len(data)) + data
            packet = av.Packet(data)
            packet.pts = packet.dts = round(start * 1000)
            packet.duration, packet.time_base = round((end - start) * 1000), Fraction(1, 1000)
            packet.stream = subs
            out.mux(packet)
    return path


def subtitle_cues(path: Path) -> list[tuple[float, float, str]]:
    """The first subtitle stream's cues (start s, end s, text), the empty ones left out (MP4 fills the
    gaps between cues with them)."""
    with av.open(str(path)) as c:
        s = c.streams.subtitles[0]
        cues = []
        for p in c.demux(s):
            data = bytes(p)[2:] if s.codec_context.name == "mov_text" else bytes(p)
            if p.size and data and p.pts is not None and p.time_base is not None:
                start = float(p.pts * p.time_base)
                cues.append((start, start + float(p.duration * p.time_base), data.decode()))
        return cues


def draw_plate(frame: np.ndarray, corners: np.ndarray, text: str = "AB 123 CD") -> np.ndarray:
    """A number plate drawn into frame [H,W,3] uint8 (in place) at corners [4,2] (clockwise from the top left):
    black characters on white inside a black rim, laid in the plate's perspective as a camera sees it."""
    import cv2

    plate = np.full((110, 520, 3), 245, np.uint8)
    cv2.rectangle(plate, (3, 3), (516, 106), (20, 20, 20), 4)
    cv2.putText(plate, text, (24, 86), cv2.FONT_HERSHEY_DUPLEX, 2.6, (15, 15, 15), 7, cv2.LINE_AA)
    warp = cv2.getPerspectiveTransform(np.array([[0, 0], [520, 0], [520, 110], [0, 110]], np.float32),
                                       np.asarray(corners, np.float32))
    height, width = frame.shape[:2]
    drawn = cv2.warpPerspective(plate, warp, (width, height), flags=cv2.INTER_AREA)
    inside = cv2.warpPerspective(np.ones((110, 520), np.float32), warp, (width, height))[..., None]
    frame[:] = (frame * (1 - inside) + drawn * inside).round().astype(np.uint8)
    return frame
