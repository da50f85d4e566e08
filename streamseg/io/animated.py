"""Animated WebP read as a video, as an animated GIF is.

FFmpeg (so PyAV) cannot decode animated WebP: its WebP decoder has no animation support. Pillow can, so
Pillow decodes the frames (each composed onto the canvas as the animation shows it) and they are written,
with their own durations, to a lossless temporary video (FFV1 in Matroska) that the reader then opens like
any other file. The temporary file lies in the system's temporary folder, never beside the input, and is
removed when the reader closes.
"""

from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image

from streamseg.errors import InputError
from streamseg.limits import check_size

ANIMATED_EXTS = {".webp"}  # pictures that may be animated and that FFmpeg cannot decode as such


def is_animated_picture(source: str | Path) -> bool:
    """A local WebP file with more than one frame."""
    path = Path(str(source))
    if path.suffix.lower() not in ANIMATED_EXTS or not path.is_file():
        return False
    try:
        with Image.open(path) as im:
            return getattr(im, "n_frames", 1) > 1
    except (OSError, SyntaxError, ValueError):
        return False  # not readable as a picture: the reader that opens it says why


def to_temporary_video(path: Path) -> Path:
    """The animation as a lossless video in a new temporary file (the caller removes it)."""
    fd, name = tempfile.mkstemp(prefix="streamseg-animated-", suffix=".mkv")
    os.close(fd)
    out_path = Path(name)
    try:
        with Image.open(path) as im, av.open(name, "w", format="matroska") as out:
            check_size(path.name, *im.size)
            durations = []  # ms per frame; WebP's default is 100
            for k in range(getattr(im, "n_frames", 1)):
                im.seek(k)
                im.load()  # Pillow fills in a WebP frame's duration when it decodes the frame
                durations.append(max(1, int(im.info.get("duration") or 100)))
            # the nominal rate (what the run line and the frame count estimate use): the animation's average
            rate = Fraction(1000 * len(durations), sum(durations)).limit_denominator(1001)
            stream = out.add_stream("ffv1", rate=rate)
            stream.width, stream.height, stream.pix_fmt = im.width, im.height, "bgr0"
            stream.codec_context.time_base = Fraction(1, 1000)
            pts = 0
            for k, duration in enumerate(durations):
                im.seek(k)
                frame = av.VideoFrame.from_image(im.convert("RGB")).reformat(format="bgr0")
                frame.pts, frame.time_base = pts, Fraction(1, 1000)
                for packet in stream.encode(frame):  # intra-only: this frame's packet, now
                    packet.duration = duration  # so the container's duration counts the last frame's too
                    out.mux(packet)
                pts += duration
            out.mux(stream.encode(None))
    except InputError:
        out_path.unlink(missing_ok=True)
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        out_path.unlink(missing_ok=True)
        raise InputError(f"cannot read the animation {path.name} ({e})",
                         "the file is damaged or truncated; re-export it") from None
    return out_path
