"""VideoWriter and PngSequenceWriter: processed frames (+ the input's audio) out, in the format asked for.

Every writer writes under a temporary name beside the final one and renames only in `close()`, so an
error, Ctrl-C or full disk never leaves a half-written file under the final name; `abort()` removes
the temporary output.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from streamseg.errors import InputError, OutputError
from streamseg.io.audio import AudioPassthrough
from streamseg.io.reader import VideoInfo


@dataclass(frozen=True)
class OutputFormat:
    name: str
    suffix: str  # "" for a folder
    layers: str  # "rgb": composite, "rgba": input frame + matte as alpha, "matte": the matte as grey
    container: str | None = None  # FFmpeg muxer; None for an image sequence
    codec: str = "png"
    pix_fmt: str = "rgba"
    codec_options: dict = field(default_factory=dict)
    container_options: dict = field(default_factory=dict)
    description: str = ""


FORMATS = {
    f.name: f
    for f in (
        OutputFormat("mp4", ".mp4", "rgb", "mp4", "libx264", "yuv420p", {"crf": "18", "preset": "fast"},
                     {"movflags": "+faststart"}, "composite over the background, H.264 MP4"),
        OutputFormat("mov", ".mov", "rgba", "mov", "prores_ks", "yuva444p10le",
                     {"profile": "4", "vendor": "apl0", "alpha_bits": "16"}, {},
                     "car with alpha, ProRes 4444 MOV (yuva444p10le) for editors"),
        OutputFormat("webm", ".webm", "rgba", "webm", "libvpx-vp9", "yuva420p",
                     {"crf": "30", "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"}, {},
                     "car with alpha, VP9 WebM (yuva420p), audio as Opus"),
        OutputFormat("png", "", "rgba", None, description="car with alpha, RGBA PNG sequence (+ audio.wav)"),
        OutputFormat("matte", ".mp4", "matte", "mp4", "libx264", "yuv420p", {"crf": "12", "preset": "fast"},
                     {"movflags": "+faststart"}, "the matte alone as a grey H.264 MP4"),
    )
}
SUFFIX_FORMAT = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".webm": "webm"}


def choose_format(output: Path | None, name: str | None) -> OutputFormat:
    """The format named by --format, else by the output's extension, else composite MP4."""
    if name:
        if name not in FORMATS:
            raise InputError(f"unknown format {name!r}", f"use one of: {', '.join(FORMATS)}")
        return FORMATS[name]
    if output is None:
        return FORMATS["mp4"]
    if output.suffix == "":
        return FORMATS["png"]
    if output.suffix.lower() in SUFFIX_FORMAT:
        return FORMATS[SUFFIX_FORMAT[output.suffix.lower()]]
    raise InputError(f"cannot tell the output format from {output.name!r}",
                     f"use an extension of {', '.join(SUFFIX_FORMAT)} or a folder, or pass --format")


def default_output(input_path: Path, fmt: OutputFormat) -> Path:
    tag = "matte" if fmt.name == "matte" else "streamseg"
    suffix = fmt.suffix if fmt.suffix else "_png"
    return input_path.with_name(f"{input_path.stem}_{tag}{suffix}")


def partial_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.partial")


def pixel_format(fmt: OutputFormat, info: VideoInfo) -> str:
    """H.264 4:2:0 cannot store odd sizes; 4:4:4 can, so an odd-sized input keeps its exact size."""
    if fmt.pix_fmt == "yuv420p" and (info.width % 2 or info.height % 2):
        return "yuv444p"
    return fmt.pix_fmt


def output_error(path: Path, e: Exception) -> OutputError:
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return OutputError(f"no space left writing {path} ({os.strerror(e.errno)})",
                           "free some space or write elsewhere with -o")
    if isinstance(e, PermissionError):
        return OutputError(f"cannot write {path}: permission denied", "choose a writable place with -o")
    return OutputError(f"writing {path} failed: {e}", "check the output place and the disk")


class VideoWriter:
    """Encodes RGB or RGBA frames at their input timestamps into MP4, MOV or WebM, with the audio."""

    def __init__(self, path: Path, fmt: OutputFormat, info: VideoInfo, audio_source: Path | None) -> None:
        self.path, self.fmt, self.info = path, fmt, info
        self.tmp = partial_path(path)
        try:
            self.container = av.open(str(self.tmp), "w", format=fmt.container, options=fmt.container_options)
        except (OSError, av.error.FFmpegError) as e:
            raise output_error(path, e) from None
        try:
            self.stream = self.container.add_stream(fmt.codec, rate=info.rate, options=dict(fmt.codec_options))
            self.stream.width, self.stream.height = info.width, info.height
            self.stream.pix_fmt = self.pix_fmt = pixel_format(fmt, info)
            self.stream.codec_context.time_base = info.time_base  # keep the input's clock, VFR included
            self.stream.time_base = info.time_base
            self.stream.thread_type = "AUTO"
            self.audio = AudioPassthrough(audio_source, self.container, fmt.container) if audio_source else None
        except BaseException:
            self.abort()
            raise
        self.last_pts: int | None = None
        self.frames = 0

    def write(self, image: np.ndarray, pts: int) -> None:
        """image: [H,W,3] (rgb, matte) or [H,W,4] (rgba) uint8; pts in the input's time base."""
        layout = "rgba" if image.shape[2] == 4 else "rgb24"
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=layout)
        if self.last_pts is not None and pts <= self.last_pts:  # encoders need strictly rising pts
            pts = self.last_pts + 1
        frame.pts, frame.time_base = pts, self.info.time_base
        self.last_pts = pts
        try:
            packets = self.stream.encode(frame)
            if self.audio:
                self.audio.mux_until(float(Fraction(pts) * self.info.time_base))
            self.container.mux(packets)
        except (OSError, av.error.FFmpegError) as e:
            raise output_error(self.path, e) from None
        self.frames += 1

    def close(self) -> Path:
        """Flush encoders, finish the file and move it to its final name."""
        try:
            self.container.mux(self.stream.encode(None))
            if self.audio:
                self.audio.mux_until(None)
                self.audio.close()
            self.container.close()
            os.replace(self.tmp, self.path)
        except (OSError, av.error.FFmpegError) as e:
            self.abort()
            raise output_error(self.path, e) from None
        return self.path

    def abort(self) -> None:
        """Drop everything written so far."""
        for closable in (getattr(self, "audio", None), getattr(self, "container", None)):
            try:
                if closable is not None:
                    closable.close()
            except Exception:  # already failing: the cleanup below matters more
                pass
        self.tmp.unlink(missing_ok=True)


class PngSequenceWriter:
    """RGBA PNGs 000000.png... in a folder, with audio.wav and streamseg.json (each frame's time)."""

    MARKER = "streamseg.json"

    def __init__(self, path: Path, fmt: OutputFormat, info: VideoInfo, audio_source: Path | None) -> None:
        self.path, self.fmt, self.info, self.audio_source = path, fmt, info, audio_source
        self.tmp = partial_path(path)
        shutil.rmtree(self.tmp, ignore_errors=True)
        try:
            self.tmp.mkdir(parents=False)
        except OSError as e:
            raise output_error(path, e) from None
        self.times: list[float] = []
        self.frames = 0

    def write(self, image: np.ndarray, pts: int) -> None:
        try:
            Image.fromarray(image).save(self.tmp / f"{self.frames:06d}.png", compress_level=1)
        except OSError as e:
            raise output_error(self.path, e) from None
        self.times.append(float(Fraction(pts) * self.info.time_base))
        self.frames += 1

    def close(self) -> Path:
        try:
            if self.audio_source:
                with av.open(str(self.tmp / "audio.wav"), "w", format="wav") as wav:
                    audio = AudioPassthrough(self.audio_source, wav, "wav")
                    audio.mux_until(None)
                    audio.close()
            (self.tmp / self.MARKER).write_text(json.dumps(
                {"frames": self.frames, "rate": str(self.info.rate), "times": self.times}))
            if self.path.exists():  # only our own earlier output gets here (see check_output)
                shutil.rmtree(self.path)
            os.replace(self.tmp, self.path)
        except (OSError, av.error.FFmpegError) as e:
            self.abort()
            raise output_error(self.path, e) from None
        return self.path

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def open_writer(path: Path, fmt: OutputFormat, info: VideoInfo, audio_source: Path | None):
    cls = PngSequenceWriter if fmt.container is None else VideoWriter
    return cls(path, fmt, info, audio_source)


def check_output(input_path: Path, output: Path, fmt: OutputFormat, overwrite: bool) -> None:
    """Refuse, before any work, outputs that would destroy the input or someone's files."""
    if output.exists() and input_path.exists() and output.resolve() == input_path.resolve():
        raise InputError(f"the output {output} is the input itself", "choose another name with -o")
    parent = output.parent
    if not parent.is_dir():
        raise OutputError(f"the output folder {parent} does not exist", "create it, or choose another -o")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"the output folder {parent} is not writable", "choose a writable place with -o")
    if output.exists():
        if fmt.container is None and not (output / PngSequenceWriter.MARKER).exists():
            raise InputError(f"{output} exists and is not a streamseg PNG sequence",
                             "choose another -o; streamseg replaces only its own output folders")
        if not overwrite:
            raise InputError(f"{output} already exists", "pass --overwrite to replace it, or choose another -o")
        if fmt.container is not None and output.is_dir():
            raise InputError(f"{output} is a folder", "choose a file name with -o")
