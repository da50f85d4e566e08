"""VideoWriter and PngSequenceWriter: processed frames (+ the input's audio and subtitles) out, in the format asked for.

Every writer writes under a temporary name beside the final one and renames only in `close()`, so an
error, Ctrl-C or full disk never leaves a half-written file under the final name; `abort()` removes
the temporary output.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import av
import numpy as np
from PIL import Image

from streamseg.errors import InputError
from streamseg.files import PartialOutput, check_target, output_error
from streamseg.io.audio import AudioPassthrough
from streamseg.io.reader import VIDEO_EXTS, SidePacket, VideoInfo, is_stream
from streamseg.io.streams import add_video_stream
from streamseg.io.subtitles import SubtitleCopy

if TYPE_CHECKING:
    from streamseg.composite import Layers


FormatName = Literal["mp4", "mov", "webm", "png", "matte"]


@dataclass(frozen=True)
class OutputFormat:
    """One row of FORMATS, the table every other list of output formats is derived from (the CLI's -f
    choices and help, the extensions that choose a format, bench's encoders)."""

    name: FormatName
    suffix: str  # "" for a folder
    layers: Layers  # "rgb": composite, "rgba": input frame + matte as alpha, "matte": the matte as grey
    container: str | None = None  # FFmpeg muxer; None for an image sequence
    codec: str = "png"
    pix_fmt: str = "rgba"
    codec_options: dict = field(default_factory=dict)
    container_options: dict = field(default_factory=dict)
    description: str = ""
    brief: str = ""  # for --format's help
    extensions: tuple[str, ...] = ()  # an output file named so is written in this format (without -f)
    tag: str = "streamseg"  # default output name: INPUT_<tag><suffix>


FORMATS = {
    f.name: f
    for f in (
        OutputFormat("mp4", ".mp4", "rgb", "mp4", "libx264", "yuv420p", {"crf": "18", "preset": "fast"},
                     {"movflags": "+faststart"}, "composite over the background, H.264 MP4",
                     brief="composite H.264", extensions=(".mp4", ".m4v")),
        OutputFormat("mov", ".mov", "rgba", "mov", "prores_ks", "yuva444p10le",
                     {"profile": "4", "vendor": "apl0", "alpha_bits": "16"}, {},
                     "car with alpha, ProRes 4444 MOV for editors (10-bit colour and alpha; "
                     "ffprobe shows yuva444p12le, the ProRes decoder's format)",
                     brief="ProRes 4444 with alpha", extensions=(".mov",)),
        OutputFormat("webm", ".webm", "rgba", "webm", "libvpx-vp9", "yuva420p",
                     {"crf": "30", "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"}, {},
                     "car with alpha, VP9 WebM (yuva420p), audio as Opus",
                     brief="VP9 with alpha", extensions=(".webm",)),
        OutputFormat("png", "", "rgba", None, description="car with alpha, RGBA PNG sequence (+ audio.wav)",
                     brief="RGBA sequence"),  # chosen by an -o without an extension (a folder)
        OutputFormat("matte", ".mp4", "matte", "mp4", "libx264", "yuv420p", {"crf": "12", "preset": "fast"},
                     {"movflags": "+faststart"}, "the matte alone as a grey H.264 MP4",
                     brief="the matte alone", tag="matte"),
    )
}
FORMAT_NAMES: tuple[FormatName, ...] = get_args(FormatName)
SUFFIX_FORMAT: dict[str, FormatName] = {ext: f.name for f in FORMATS.values() for ext in f.extensions}
# video file names of containers streamseg does not write: with -f, such a name would hold another container
FOREIGN_SUFFIXES = VIDEO_EXTS - SUFFIX_FORMAT.keys()


def format_help() -> str:
    """--format's help, from the table."""
    return "; ".join(f"{f.name}: {f.brief}" for f in FORMATS.values()) + "."


def format_named(name: str) -> OutputFormat:
    """The format called `name`; raises InputError for any other."""
    for fmt in FORMATS.values():
        if fmt.name == name:
            return fmt
    raise InputError(f"unknown format {name!r}", f"use one of: {', '.join(FORMATS)}")


def choose_format(output: Path | str | None, name: str | None) -> OutputFormat:
    """The format named by --format, else by the output's extension, else composite MP4."""
    if name:
        fmt = format_named(name)
        suffix = "" if output is None or is_stream(output) else Path(output).suffix.lower()
        foreign = suffix in FOREIGN_SUFFIXES  # e.g. .mkv: no format of ours writes it
        if foreign or (suffix in SUFFIX_FORMAT and FORMATS[SUFFIX_FORMAT[suffix]].container != fmt.container):
            # a file named .mov holding WebM (or MP4 named .mkv) misleads every player and editor
            writes = "a folder of PNGs" if fmt.container is None else f"{fmt.suffix} ({fmt.container})"
            raise InputError(f"-o {Path(str(output)).name} names a {suffix} file but -f {name} writes {writes}",
                             f"name the output {Path(str(output)).stem}{fmt.suffix or '/'}"
                             + ("" if foreign else ", or leave out -f"))
        return fmt
    if output is None or is_stream(output):
        return FORMATS["mp4"]
    output = Path(output)
    if output.suffix == "":
        return FORMATS["png"]
    if output.suffix.lower() in SUFFIX_FORMAT:
        return FORMATS[SUFFIX_FORMAT[output.suffix.lower()]]
    raise InputError(f"cannot tell the output format from {output.name!r}",
                     f"use an extension of {', '.join(SUFFIX_FORMAT)} or a folder, or pass --format")


def default_output(input_path: Path, fmt: OutputFormat, folder: Path | None = None) -> Path:
    """INPUT_streamseg.mp4 (INPUT_matte.mp4, INPUT_streamseg_png/...) beside the input, or in `folder`."""
    suffix = fmt.suffix if fmt.suffix else f"_{fmt.name}"  # a folder
    return (folder or input_path.parent) / f"{input_path.stem}_{fmt.tag}{suffix}"


def pixel_format(fmt: OutputFormat, info: VideoInfo) -> str:
    """H.264 4:2:0 cannot store odd sizes; 4:4:4 can, so an odd-sized input keeps its exact size."""
    if fmt.pix_fmt == "yuv420p" and (info.width % 2 or info.height % 2):
        return "yuv444p"
    return fmt.pix_fmt


class SideOut:
    """What both writers do with the packets beside the frames: the input's audio (self.audio: an
    AudioPassthrough or None) and its subtitles (self.subtitles), each to the stream kept for it."""

    target: Path | str
    audio: AudioPassthrough | None
    subtitles: SubtitleCopy

    def write_side(self, item: SidePacket) -> None:
        try:
            if self.audio is not None and item.stream == self.audio.in_stream.index:
                self.audio.write(item.packet)
            else:
                self.subtitles.write(item)
        except (OSError, av.error.FFmpegError) as e:
            raise output_error(self.target, e) from None


class VideoWriter(SideOut):
    """Encodes RGB or RGBA frames at their input timestamps into MP4, MOV or WebM (or, to a URL, a live
    MPEG-TS or FLV stream), with the input's audio and the subtitles the container holds."""

    def __init__(self, target: Path | str, fmt: OutputFormat, info: VideoInfo,
                 audio: av.audio.stream.AudioStream | None, subtitles: Sequence[av.stream.Stream] = ()) -> None:
        self.target, self.fmt, self.info = target, fmt, info
        self.live = is_stream(target)
        self.partial = None if self.live else PartialOutput(Path(target))  # raises if another run writes it
        self.tmp = None if self.partial is None else self.partial.path
        container, codec_options, container_options = fmt.container, dict(fmt.codec_options), fmt.container_options
        if self.live:  # low delay: no B-frames, a keyframe every 2 s so viewers can join
            container = "flv" if str(target).startswith("rtmp") else "mpegts"
            codec_options.update(tune="zerolatency", preset="veryfast", g=str(max(1, round(2 * info.rate))), bf="0")
            container_options = {}
        if container is None:
            raise ValueError(f"the {fmt.name} format is an image sequence, for PngSequenceWriter")
        try:
            self.container = av.open(str(target) if self.live else str(self.tmp), "w", format=container,
                                     options=container_options, timeout=10.0 if self.live else None)
        except (OSError, av.error.FFmpegError) as e:
            self.abort()
            raise output_error(target, e) from None
        try:
            self.stream = add_video_stream(self.container, fmt.codec, info.rate, codec_options)
            self.stream.width, self.stream.height = info.width, info.height
            self.pix_fmt = self.stream.pix_fmt = pixel_format(fmt, info)
            self.stream.codec_context.time_base = info.time_base  # keep the input's clock, VFR included
            self.stream.time_base = info.time_base
            self.stream.thread_type = "AUTO"
            info.colour.tag(self.stream.codec_context)  # the input's colour description, kept
            self.audio = AudioPassthrough(audio, self.container, container) if audio is not None else None
            self.subtitles = SubtitleCopy(subtitles, self.container, container)
        except BaseException:
            self.abort()
            raise
        self.last_pts: int | None = None
        self.frames = 0

    def write(self, image: np.ndarray, pts: int) -> None:
        """image: [H,W,3] (rgb, matte) or [H,W,4] (rgba) uint8; pts in the input's time base."""
        layout = "rgba" if image.shape[2] == 4 else "rgb24"
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=layout)
        # to YUV with the matrix the stream is tagged with (untagged BT.601 showed HD greens 20 levels off)
        frame = self.info.colour.from_rgb(frame, self.pix_fmt)
        if self.last_pts is not None and pts <= self.last_pts:  # encoders need strictly rising pts
            pts = self.last_pts + 1
        frame.pts, frame.time_base = pts, self.info.time_base
        self.last_pts = pts
        try:
            self.container.mux(self.stream.encode(frame))
        except (OSError, av.error.FFmpegError) as e:
            raise output_error(self.target, e) from None
        self.frames += 1

    def close(self) -> Path | str:
        """Flush the encoders, finish the file and move it to its final name."""
        try:
            self.container.mux(self.stream.encode(None))
            if self.audio is not None:
                self.audio.flush()
            self.container.close()
            if self.partial is not None:
                self.partial.publish()
        except (OSError, av.error.FFmpegError) as e:
            self.abort()
            raise output_error(self.target, e) from None
        return self.target

    def abort(self) -> None:
        """Drop everything written so far."""
        try:
            if getattr(self, "container", None) is not None:
                self.container.close()
        except Exception:  # noqa: BLE001  already failing: the cleanup below matters more
            pass
        if self.partial is not None:
            self.partial.discard()


class PngSequenceWriter(SideOut):
    """RGBA PNGs 000000.png... in a folder, with audio.wav and streamseg.json (each frame's time)."""

    MARKER = "streamseg.json"

    def __init__(self, path: Path | str, fmt: OutputFormat, info: VideoInfo,
                 audio: av.audio.stream.AudioStream | None, subtitles: Sequence[av.stream.Stream] = ()) -> None:
        self.path, self.fmt, self.info = Path(path), fmt, info
        self.subtitles = SubtitleCopy(subtitles, None, "png")
        self.target = self.path
        self.partial = PartialOutput(self.path)  # raises if another run writes it
        self.tmp = self.partial.path
        self.wav: av.container.OutputContainer | None = None
        self.audio = None
        try:
            self.tmp.mkdir(parents=False)
            if audio is not None:
                self.wav = av.open(str(self.tmp / "audio.wav"), "w", format="wav")
                self.audio = AudioPassthrough(audio, self.wav, "wav")
        except (OSError, av.error.FFmpegError) as e:
            self.abort()
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
            if self.audio is not None:
                self.audio.flush()
            if self.wav is not None:
                self.wav.close()
            (self.tmp / self.MARKER).write_text(json.dumps(
                {"frames": self.frames, "rate": str(self.info.rate), "times": self.times}))
            self.partial.publish()  # replaces only our own earlier output (see check_output)
        except (OSError, av.error.FFmpegError) as e:
            self.abort()
            raise output_error(self.path, e) from None
        return self.path

    def abort(self) -> None:
        try:
            if self.wav is not None:
                self.wav.close()
        except Exception:  # noqa: BLE001  already failing
            pass
        self.partial.discard()


def open_writer(target: Path | str, fmt: OutputFormat, info: VideoInfo,
                audio: av.audio.stream.AudioStream | None = None,
                subtitles: Sequence[av.stream.Stream] = ()) -> VideoWriter | PngSequenceWriter:
    cls = PngSequenceWriter if fmt.container is None else VideoWriter
    return cls(target, fmt, info, audio, subtitles)


def check_output(source: Path | str, output: Path | str, fmt: OutputFormat, overwrite: bool) -> None:
    """Refuse, before any work, outputs that would destroy the input or someone's files."""
    if is_stream(output):
        if fmt.layers == "rgba" or fmt.container is None:
            raise InputError(f"the {fmt.name} format cannot be streamed to {output}",
                             "stream the composite (-f mp4) or the matte (-f matte)")
        return

    def replaceable(existing: Path) -> None:
        if fmt.container is None and not (existing / PngSequenceWriter.MARKER).exists():
            raise InputError(f"{existing} exists and is not a streamseg PNG sequence",
                             "choose another -o; streamseg replaces only its own output folders")
        if fmt.container is not None and existing.is_dir():
            raise InputError(f"{existing} is a folder", "choose a file name with -o")

    check_target(None if is_stream(source) else Path(source), Path(output), overwrite, replaceable)
