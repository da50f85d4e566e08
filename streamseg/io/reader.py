"""VideoReader: a file, URL or pipe in; upright RGB frames with their timestamps, and the audio and subtitle
packets, out.

Video, audio and subtitles are demuxed in one pass (a live source can only be read once), so the audio and
the subtitles travel beside the frames to the writer instead of being read a second time.
"""

from __future__ import annotations

import itertools
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast, get_args

import av
import av.filter
import numpy as np

from streamseg.colour import BT709, Colour
from streamseg.errors import InputError
from streamseg.io.animated import is_animated_picture, to_temporary_video

if TYPE_CHECKING:
    import torch

STDIN = ("-", "pipe:", "pipe:0")  # how a source names standard input
Deinterlace = Literal["auto", "on", "off"]  # auto: when the video is coded as fields
DEINTERLACE_MODES: tuple[Deinterlace, ...] = get_args(Deinterlace)
Decoder = Literal["auto", "nvdec", "pyav"]  # what decodes the video (io/source.py chooses; auto: NVDEC where it can)
DECODERS: tuple[Decoder, ...] = get_args(Decoder)
# the file names a folder scan takes as videos; .gif too: a GIF is read as a video (an animated one has frames
# and their times), in a folder as on its own
VIDEO_EXTS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mts", ".m2ts", ".ts", ".mpg", ".mpeg",
              ".wmv", ".flv", ".3gp", ".mxf", ".gif"}
MAX_PIXELS = 8192 * 8192  # beyond 8K, and beyond what H.264 and ProRes can encode


@dataclass(frozen=True)
class Frame:
    rgb: np.ndarray | torch.Tensor  # [H,W,3] uint8, upright; a CUDA tensor when NVDEC decoded it
    pts: int  # in VideoInfo.time_base
    index: int  # 0-based decode order position


@dataclass(frozen=True)
class SidePacket:
    """A packet that travels beside the frames to the writer, which copies (or re-encodes) it into the
    output stream it keeps for the input stream `stream`."""

    packet: av.Packet  # compressed, as demuxed from the input's first audio stream or a subtitle stream
    seconds: float  # its presentation time
    stream: int  # the input stream's index

    @staticmethod
    def of(packet: av.Packet) -> SidePacket:
        ts = packet.pts if packet.pts is not None else packet.dts
        seconds = float(ts * packet.time_base) if ts is not None and packet.time_base else 0.0
        return SidePacket(packet, seconds, packet.stream.index)


@dataclass(frozen=True)
class VideoInfo:
    width: int  # as displayed, after rotation
    height: int
    rate: Fraction  # average frame rate; timing itself comes from each frame's pts
    time_base: Fraction
    frames: int  # from the MP4/MOV index, which is exact (0 elsewhere: AVI headers, for one, are not)
    duration_s: float  # 0 when unknown (live)
    codec: str
    pix_fmt: str
    rotation: int  # degrees counter-clockwise the stored picture is turned for display
    audio_codec: str | None
    live: bool = False  # a URL or pipe: read once, no length known
    colour: Colour = BT709  # from the first frame
    interlaced: bool = False  # the first frame is coded as two fields
    dropped: tuple[str, ...] = ()  # the input's streams the output does not carry, each with the reason
    copied: tuple[str, ...] = ()  # its subtitle streams the output carries as they are (the writer decides)
    deinterlaced: bool = False  # frames go through FFmpeg's bwdif before anything else sees them

    @property
    def expected_frames(self) -> int:
        """Exact where the index says, else an estimate from the duration (for progress only). N frames at
        rate r span N/r seconds, and a container's duration only adds to that (a longer audio track, the
        last frame's display time), so the estimate rounds down."""
        return self.frames or int(self.duration_s * float(self.rate) + 1e-6)

    def describe_frames(self) -> str:
        """For the run line: '75 frames', 'about 75 frames' (estimated), or 'live'."""
        if self.live:
            return "live"
        if not self.expected_frames:
            return "? frames"
        return f"{'' if self.frames else 'about '}{self.expected_frames} frames"

    @property
    def frame_step(self) -> int:
        """One frame period in time-base units, at the average rate."""
        return max(1, round(1 / (self.rate * self.time_base))) if self.rate else 1


def check_complete(name: str, decoded: int, info: VideoInfo) -> None:
    """Decoding stopped early where the file's index says there are more frames: damaged or truncated."""
    if info.frames and decoded < info.frames * 0.99 - 1:
        raise InputError(f"{name} is truncated or damaged: decoded {decoded} of {info.frames} frames",
                         "re-export or re-download the input")


def to_rgb(frame: av.VideoFrame, colour: Colour) -> np.ndarray:
    """[H,W,3] uint8 RGB, converted with the input's colour matrix."""
    return frame.to_ndarray(format="rgb24", src_colorspace=colour.matrix_name)


def is_pipe(source: str | Path) -> bool:
    """stdin (-, pipe:0) or a named pipe (FIFO): once its writer closes it, it has ended for good."""
    s = str(source)
    if s in STDIN:
        return True
    try:
        return "://" not in s and stat.S_ISFIFO(os.stat(s).st_mode)
    except (OSError, ValueError):
        return False


def is_stream(source: str | Path) -> bool:
    """A URL (rtsp://, udp://, http://...), a pipe (pipe:N, stdin as -, a named pipe): read once, as it
    comes."""
    s = str(source)
    return "://" in s or s.startswith("pipe:") or is_pipe(s)


def source_name(source: str | Path) -> str:
    s = str(source)
    return "stdin" if s in STDIN else (s if is_stream(s) else Path(s).name)


def open_input(source: str | Path, timeout_s: float = 10.0) -> av.container.InputContainer:
    """Open a media file, URL or pipe, with errors that name the problem and the fix."""
    name = source_name(source)
    if is_stream(source):
        target = sys.stdin.buffer if str(source) in STDIN else str(source)
        try:  # timeout: (open, read) in seconds, so a dead source does not hang the run
            # fpsprobesize: estimate the rate from 3 frames, not 20 (which would hold back the start)
            return av.open(target, "r", metadata_errors="replace", timeout=(timeout_s, timeout_s),
                           options={"fpsprobesize": "3"})
        except av.error.FFmpegError as e:
            raise InputError(f"cannot open stream {name} ({e.strerror or e})",
                             "check the URL and that the source is sending") from None
    p = Path(source)
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


def describe_stream(s: av.stream.Stream) -> str:
    """e.g. 'subtitle #2 (subrip, eng)'."""
    codec = s.codec_context.name if s.codec_context else getattr(s, "codec_tag", "") or "unknown"
    language = (s.metadata or {}).get("language")
    return f"{s.type} #{s.index} ({codec}{', ' + language if language else ''})"


def frame_rate(stream: av.video.stream.VideoStream) -> Fraction:
    """The stream's average frame rate, or FFmpeg's guess (r_frame_rate) where the average is missing or
    more than 2x away from it: an MKV remuxed by PyAV carried 2,500 against 25 (its codec's time base),
    and the run line said "2.5e+03 fps, about 1000 frames" for 10. A variable-rate phone clip keeps its
    average (within 2x of the guess)."""
    average, guess = stream.average_rate, stream.guessed_rate
    if average and guess and not 0.5 <= average / guess <= 2:
        return Fraction(guess)
    return Fraction(average or guess or 25)


class VideoReader:
    """Decodes the first video stream (frame-threaded) to upright RGB; with `audio`, also passes on the
    packets of the first audio stream and of the subtitle streams, in demux order.

    Raises InputError when the source is not a usable video, and when a file's decoding stops early
    (damaged or truncated), so a run never silently writes fewer frames than the input has.
    """

    def __init__(self, source: str | Path, audio: bool = True, timeout_s: float = 10.0,
                 deinterlace: Deinterlace = "auto") -> None:
        if deinterlace not in DEINTERLACE_MODES:
            raise InputError(f"--deinterlace {deinterlace!r} is not one of {', '.join(DEINTERLACE_MODES)}",
                             "use auto (when the video is interlaced), on or off")
        self.source, self.name, self.live = source, source_name(source), is_stream(source)
        self.timeout_s, self.deinterlace = timeout_s, deinterlace
        # an animated WebP: FFmpeg cannot decode it, so it is read from a temporary video (io/animated.py)
        self.temporary = to_temporary_video(Path(source)) if is_animated_picture(source) else None
        try:
            self.container = open_input(self.temporary or source, timeout_s)
        except BaseException:
            self._remove_temporary()
            raise
        try:
            self._open_streams(audio)
        except BaseException:
            self.container.close()
            self._remove_temporary()
            raise

    def _remove_temporary(self) -> None:
        if self.temporary is not None:
            self.temporary.unlink(missing_ok=True)
            self.temporary = None

    def _open_streams(self, audio: bool) -> None:
        c = self.container
        if not c.streams.video:
            raise InputError(f"{self.name} has no video stream", "pass a file that contains video")
        demuxer = c.format.name
        if demuxer == "image2" or demuxer.endswith("_pipe"):  # png_pipe, jpeg_pipe, webp_pipe...
            raise InputError(f"{self.name} is a still image ({demuxer.removesuffix('_pipe')}), not a video",
                             "give it its image extension; streamseg processes videos")
        self.stream = c.streams.video[0]
        # Files: frame threading (fastest). Live: slice threading, because frame threading holds back
        # one frame per thread (a second of delay at 4 fps) and live streams are sliced for it.
        self.stream.thread_type = "SLICE" if self.live else "AUTO"
        ctx = self.stream.codec_context
        if not ctx.width or not ctx.height:
            raise InputError(f"{self.name}: the video stream has no frame size (damaged header)",
                             "re-export the file")
        if ctx.width * ctx.height > MAX_PIXELS:
            raise InputError(f"{self.name} is {ctx.width}x{ctx.height}, larger than streamseg handles "
                             f"({MAX_PIXELS // 10**6} megapixels)", "scale it down first")
        self.audio_stream = c.streams.audio[0] if audio and c.streams.audio else None
        # all of them: which the output can hold depends on its container, so the writer chooses
        self.subtitle_streams = list(c.streams.subtitles) if audio else []
        self.stored_size = (ctx.width, ctx.height)
        self.items_ = self._demux()
        # what was demuxed while looking for the first frame, replayed first; None once read
        self.head: list[av.VideoFrame | SidePacket] | None = []
        first = self._first_frame()
        rotation = int(round((first.rotation or 0) / 90)) * 90 % 360
        w, h = ctx.width, ctx.height
        if rotation % 180:
            w, h = h, w
        rate = frame_rate(self.stream)
        time_base = self.stream.time_base
        duration = float(self.stream.duration * time_base) if self.stream.duration and time_base else (
            c.duration / av.time_base if c.duration else 0.0)
        self.info = VideoInfo(
            width=w, height=h, rate=Fraction(rate), time_base=Fraction(self.stream.time_base or Fraction(1, 90000)),
            frames=self.stream.frames if "mp4" in demuxer else 0, duration_s=0.0 if self.live else duration,
            codec=ctx.name, pix_fmt=ctx.pix_fmt or "unknown", rotation=rotation,
            audio_codec=self.audio_stream.codec_context.name if self.audio_stream else None, live=self.live,
            colour=Colour.of(first), interlaced=bool(first.interlaced_frame), dropped=self._dropped_streams(),
            deinterlaced=self.deinterlace == "on" or (self.deinterlace == "auto" and bool(first.interlaced_frame)),
        )

    def _dropped_streams(self) -> tuple[str, ...]:
        """What no output carries, with the reason: streams past the first video and the first audio,
        data and attachments, e.g. 'video #1 (h264): streamseg processes the first video stream only'.
        (Subtitles are the writer's to name: whether they fit depends on the output container.)"""
        kept = {self.stream.index, self.audio_stream.index if self.audio_stream else -1}
        kept |= {s.index for s in self.subtitle_streams}
        dropped = []
        for s in self.container.streams:
            if s.index in kept:
                continue
            why = {"video": "streamseg processes the first video stream only",
                   "audio": "streamseg carries the first audio stream only"}.get(
                       s.type, f"streamseg carries no {s.type} streams")
            dropped.append(f"{describe_stream(s)}: {why}")
        return tuple(dropped)

    def side_streams(self) -> list[av.stream.Stream]:
        """The streams whose packets travel beside the frames: the first audio, the subtitles."""
        return [s for s in (self.audio_stream, *self.subtitle_streams) if s is not None]

    def _demux(self) -> Iterator[av.VideoFrame | SidePacket]:
        for packet in self.container.demux(self.stream, *self.side_streams()):
            if packet.stream is self.stream:
                # the empty packets at the end flush the decoder; the video stream's decode to video frames
                yield from cast(list[av.VideoFrame], packet.decode())
            elif packet.size:
                yield SidePacket.of(packet)

    def _first_frame(self) -> av.VideoFrame:
        """Decode up to the first frame now: it carries the rotation (as side data), and a source that
        cannot give even one frame is refused before any output is opened. What was read on the way is
        replayed by items(), so no seek is needed and unseekable inputs (streams, pipes) work."""
        head: list[av.VideoFrame | SidePacket] = []
        self.head = head
        try:
            for item in self.items_:
                head.append(item)
                if isinstance(item, av.VideoFrame):
                    return item
        except av.error.FFmpegError as e:
            raise InputError(f"{self.name}: cannot decode the first frame ({e.strerror or e})",
                             "the source is damaged; re-export it") from None
        raise InputError(f"{self.name}: the video stream has no decodable frame",
                         "the file is damaged or empty; re-export it")

    def items(self) -> Iterator[Frame | SidePacket]:
        """Frames (upright, at the first frame's size) and audio and subtitle packets, in the order they come.
        Readable once."""
        if self.head is None:
            raise RuntimeError("a VideoReader is read once; open another to read again")
        info, k, stored = self.info, self.info.rotation // 90, self.stored_size
        last_pts, index = None, 0
        items: Iterator[av.VideoFrame | SidePacket] = itertools.chain(self.head, self.items_)
        self.head = None
        if info.deinterlaced:
            items = self._deinterlaced(items)
        try:
            for item in items:
                if isinstance(item, SidePacket):
                    yield item
                    continue
                pts = item.pts
                if pts is None:  # some streams (raw, some AVI) carry no pts: count frames instead
                    pts = 0 if last_pts is None else last_pts + info.frame_step
                last_pts = pts
                if (item.width, item.height) != stored:  # size changed mid-stream: keep the first, as FFmpeg does
                    item = item.reformat(width=stored[0], height=stored[1])
                rgb = to_rgb(item, info.colour)
                if k:
                    rgb = np.ascontiguousarray(np.rot90(rgb, k))
                yield Frame(rgb=rgb, pts=pts, index=index)
                index += 1
        except av.error.FFmpegError as e:
            if self.live:  # a stream that stops is not a damaged file
                why = (f"nothing arrived for {self.timeout_s:g} s" if isinstance(e, av.error.ExitError)
                       else e.strerror or str(e))
                raise InputError(f"{self.name} stopped after {index} frames ({why})",
                                 "check the source; --reconnects sets how often it is tried again") from None
            raise InputError(f"{self.name} is damaged: decoding failed after {index} frames "
                             f"({e.strerror or e})", "re-export or re-download the input") from None
        check_complete(self.name, index, info)

    def _deinterlaced(self, items: Iterator) -> Iterator:
        """Video frames through FFmpeg's bwdif (one frame out per frame in, so the rate and the count stay;
        with auto only the frames coded as fields), side packets as they are."""
        graph = av.filter.Graph()
        source = graph.add_buffer(template=self.stream)
        deint = "interlaced" if self.deinterlace == "auto" else "all"
        bwdif = graph.add("bwdif", f"mode=send_frame:parity=auto:deint={deint}")
        source.link_to(bwdif)
        bwdif.link_to(graph.add("buffersink"))
        graph.configure()
        scale = None  # bwdif halves the time base (it could send fields): back to the stream's

        def pull() -> Iterator[av.VideoFrame]:
            nonlocal scale
            while True:
                try:
                    frame = graph.pull()
                except (av.error.BlockingIOError, av.error.EOFError):
                    return
                if frame.pts is not None and frame.time_base is not None:
                    scale = scale or frame.time_base / self.info.time_base
                    frame.pts = round(frame.pts * scale)
                yield cast(av.VideoFrame, frame)  # the graph holds video alone

        for item in items:
            if isinstance(item, av.VideoFrame):
                graph.push(item)
                yield from pull()
            else:
                yield item
        graph.push(None)  # the last frame waits for a next one that never comes: flush it
        yield from pull()

    def side_packets(self) -> Iterator[SidePacket]:
        """The audio and subtitle packets alone, video packets skipped undecoded (for a decoder that reads
        the video itself). Readable once, instead of items()."""
        if self.head is None:
            raise RuntimeError("a VideoReader is read once; open another to read again")
        head, self.head = self.head, None
        yield from (item for item in head if isinstance(item, SidePacket))
        if not self.side_streams():
            return
        try:
            for packet in self.container.demux(*self.side_streams()):  # carries on from where head stopped
                if packet.size:
                    yield SidePacket.of(packet)
        except av.error.FFmpegError as e:
            raise InputError(f"{self.name}: reading its audio or subtitles failed ({e.strerror or e})",
                             "re-export or re-download the input") from None

    def __iter__(self) -> Iterator[Frame]:
        """The frames alone."""
        return (item for item in self.items() if isinstance(item, Frame))

    def close(self) -> None:
        self.container.close()
        self._remove_temporary()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
