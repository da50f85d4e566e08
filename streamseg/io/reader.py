"""VideoReader: a video file (or anything FFmpeg opens) in, upright RGB frames with their timestamps out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from streamseg.errors import InputError


@dataclass(frozen=True)
class Frame:
    rgb: np.ndarray  # [H,W,3] uint8, upright (rotation metadata already applied)
    pts: int  # in VideoInfo.time_base
    index: int  # 0-based decode order position


@dataclass(frozen=True)
class VideoInfo:
    width: int  # as displayed, after rotation
    height: int
    rate: Fraction  # average frame rate; timing itself comes from each frame's pts
    time_base: Fraction
    frames: int  # from the header (0 when the container does not say)
    duration: float  # seconds, 0 when unknown
    codec: str
    pix_fmt: str
    rotation: int  # degrees counter-clockwise the stored picture is turned for display
    audio_codec: str | None


def open_input(path: str | Path) -> av.container.InputContainer:
    """Open a media file with errors that name the problem and the fix."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"input not found: {p}", "check the path")
    if p.is_dir():
        raise InputError(f"input is a folder, not a video: {p}", "pass a video file")
    if p.stat().st_size == 0:
        raise InputError(f"input is empty (0 bytes): {p}", "re-export or re-download the file")
    try:
        return av.open(str(p), metadata_errors="replace")
    except PermissionError:
        raise InputError(f"input is not readable: {p}", "check its permissions") from None
    except av.error.FFmpegError as e:
        raise InputError(f"cannot read {p.name} as a video ({e.strerror or e})",
                         "the file is not a video, or is damaged or truncated; re-export it") from None


class VideoReader:
    """Decodes the first video stream of a file, frame-threaded, to upright RGB.

    Raises InputError when the file is not a usable video, and when decoding stops early (a
    damaged or truncated file), so a run never silently writes fewer frames than the input has.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.container = open_input(self.path)
        if not self.container.streams.video:
            self.container.close()
            raise InputError(f"{self.path.name} has no video stream", "pass a file that contains video")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"  # frame threading: slice threading gives little on H.264
        ctx = self.stream.codec_context
        if not ctx.width or not ctx.height:
            self.close()
            raise InputError(f"{self.path.name}: the video stream has no frame size (damaged header)",
                             "re-export the file")
        rotation = self._rotation()
        w, h = ctx.width, ctx.height
        if rotation % 180:
            w, h = h, w
        rate = self.stream.average_rate or self.stream.guessed_rate or Fraction(25)
        duration = float(self.stream.duration * self.stream.time_base) if self.stream.duration else (
            self.container.duration / av.time_base if self.container.duration else 0.0)
        audio = self.container.streams.audio
        self.info = VideoInfo(
            width=w, height=h, rate=Fraction(rate), time_base=Fraction(self.stream.time_base or Fraction(1, 90000)),
            frames=self.stream.frames or 0, duration=duration, codec=ctx.name, pix_fmt=ctx.pix_fmt or "unknown",
            rotation=rotation, audio_codec=audio[0].codec_context.name if audio else None,
        )

    def _rotation(self) -> int:
        """Display rotation from the stream's display matrix, snapped to a multiple of 90."""
        try:
            for frame in self.container.decode(self.stream):  # side data is attached to frames
                rotation = int(round((frame.rotation or 0) / 90)) * 90 % 360
                break
            else:
                raise InputError(f"{self.path.name}: the video stream has no decodable frame",
                                 "the file is damaged or empty; re-export it")
        except av.error.FFmpegError as e:
            raise InputError(f"{self.path.name}: cannot decode the first frame ({e.strerror or e})",
                             "the file is damaged; re-export it") from None
        finally:
            self.container.seek(0)
        return rotation

    def __iter__(self) -> Iterator[Frame]:
        info = self.info
        k = info.rotation // 90
        last_pts, index = None, 0
        step = max(1, round(1 / (info.rate * info.time_base))) if info.rate else 1
        try:
            for frame in self.container.decode(self.stream):
                pts = frame.pts
                if pts is None:  # some streams (raw, some AVI) carry no pts: count frames instead
                    pts = 0 if last_pts is None else last_pts + step
                last_pts = pts
                rgb = frame.to_ndarray(format="rgb24")
                if k:
                    rgb = np.ascontiguousarray(np.rot90(rgb, k))
                yield Frame(rgb=rgb, pts=pts, index=index)
                index += 1
        except av.error.FFmpegError as e:
            raise InputError(f"{self.path.name} is damaged: decoding failed after {index} frames "
                             f"({e.strerror or e})", "re-export or re-download the input") from None
        if info.frames and index < info.frames * 0.99 - 1:
            raise InputError(f"{self.path.name} is truncated or damaged: decoded {index} of {info.frames} frames",
                             "re-export or re-download the input")

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
