"""VideoReader: a video file (or anything FFmpeg opens) in, upright RGB frames with their timestamps out."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from streamseg.errors import InputError

MAX_PIXELS = 8192 * 8192  # beyond 8K, and beyond what H.264 and ProRes can encode


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
    frames: int  # from the MP4/MOV index, which is exact (0 elsewhere: AVI headers, for one, are not)
    duration: float  # seconds, 0 when unknown
    codec: str
    pix_fmt: str
    rotation: int  # degrees counter-clockwise the stored picture is turned for display
    audio_codec: str | None

    @property
    def expected_frames(self) -> int:
        """Exact where the index says, else an estimate from the duration (for progress only)."""
        return self.frames or round(self.duration * float(self.rate))


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
        demuxer = self.container.format.name
        if demuxer == "image2" or demuxer.endswith("_pipe"):  # png_pipe, jpeg_pipe, webp_pipe...
            self.container.close()
            raise InputError(f"{self.path.name} is a still image ({demuxer.removesuffix('_pipe')}), not a video",
                             "give it its image extension; streamseg processes videos")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"  # frame threading: slice threading gives little on H.264
        ctx = self.stream.codec_context
        if not ctx.width or not ctx.height:
            self.close()
            raise InputError(f"{self.path.name}: the video stream has no frame size (damaged header)",
                             "re-export the file")
        if ctx.width * ctx.height > MAX_PIXELS:
            self.close()
            raise InputError(f"{self.path.name} is {ctx.width}x{ctx.height}, larger than streamseg handles "
                             f"({MAX_PIXELS // 10**6} megapixels)", "scale it down first")
        self.decoded = self.container.decode(self.stream)
        try:
            self.first: av.VideoFrame | None = self._first_frame()
        except InputError:
            self.close()
            raise
        rotation = int(round((self.first.rotation or 0) / 90)) * 90 % 360
        w, h = ctx.width, ctx.height
        if rotation % 180:
            w, h = h, w
        rate = self.stream.average_rate or self.stream.guessed_rate or Fraction(25)
        duration = float(self.stream.duration * self.stream.time_base) if self.stream.duration else (
            self.container.duration / av.time_base if self.container.duration else 0.0)
        audio = self.container.streams.audio
        self.info = VideoInfo(
            width=w, height=h, rate=Fraction(rate), time_base=Fraction(self.stream.time_base or Fraction(1, 90000)),
            frames=self.stream.frames if "mp4" in demuxer else 0, duration=duration, codec=ctx.name,
            pix_fmt=ctx.pix_fmt or "unknown",
            rotation=rotation, audio_codec=audio[0].codec_context.name if audio else None,
        )

    def _first_frame(self) -> av.VideoFrame:
        """Decode the first frame now: it carries the rotation (as side data), and a file that cannot
        give even one frame is refused before any output is opened. Kept for __iter__, so no seek is
        needed and unseekable inputs (raw streams, pipes) work."""
        try:
            frame = next(self.decoded, None)
        except av.error.FFmpegError as e:
            raise InputError(f"{self.path.name}: cannot decode the first frame ({e.strerror or e})",
                             "the file is damaged; re-export it") from None
        if frame is None:
            raise InputError(f"{self.path.name}: the video stream has no decodable frame",
                             "the file is damaged or empty; re-export it")
        return frame

    def __iter__(self) -> Iterator[Frame]:
        info = self.info
        k = info.rotation // 90
        ctx = self.stream.codec_context
        stored = (ctx.width, ctx.height)
        last_pts, index = None, 0
        step = max(1, round(1 / (info.rate * info.time_base))) if info.rate else 1
        if self.first is None:
            raise RuntimeError("a VideoReader is read once; open another to read again")
        frames = itertools.chain([self.first], self.decoded)
        self.first = None
        try:
            for frame in frames:
                pts = frame.pts
                if pts is None:  # some streams (raw, some AVI) carry no pts: count frames instead
                    pts = 0 if last_pts is None else last_pts + step
                last_pts = pts
                if (frame.width, frame.height) != stored:  # size changed mid-stream: keep the first, as FFmpeg does
                    frame = frame.reformat(width=stored[0], height=stored[1])
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
