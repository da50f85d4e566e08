"""SubtitleCopy: the input's subtitle streams into an output container, copied as they are.

A stream is copied (its packets remuxed, timestamps kept) where the output container holds its codec; any
other is named with the reason. Text is not converted between subtitle codecs (SubRip or ASS into
mov_text or WebVTT): the pipeline hands over packets in time order with the video, as it does audio.
"""

from __future__ import annotations

from collections.abc import Sequence

import av

from streamseg.io.reader import SidePacket, describe_stream

# the one subtitle codec each output container holds: FFmpeg's MP4 and MOV muxers take text as mov_text
# (3GPP timed text) only, its WebM muxer WebVTT only
CONTAINER_SUBTITLES = {"mp4": "mov_text", "mov": "mov_text", "webm": "webvtt"}
# the outputs that hold no subtitles at all ("png": a folder of PNGs; MPEG-TS and FLV: live streams)
NO_SUBTITLES = {"png": "a PNG sequence carries no subtitles", "mpegts": "a live MPEG-TS stream carries no subtitles",
                "flv": "a live FLV stream carries no subtitles"}
LABELS = {"mp4": "MP4", "mov": "MOV", "webm": "WebM"}


def why_dropped(stream: av.stream.Stream, container: str) -> str | None:
    """None where `container` holds `stream`'s subtitles as they are; else why the output goes without."""
    if container in NO_SUBTITLES:
        return NO_SUBTITLES[container]
    target = CONTAINER_SUBTITLES[container]
    codec = stream.codec_context.codec if stream.codec_context else None
    if codec is not None and codec.name == target:
        return None
    label = LABELS[container]
    if codec is not None and codec.bitmap_sub:  # DVD, Blu-ray (PGS), DVB: pictures, which no text codec holds
        return f"image subtitles; {label} holds text subtitles ({target}) only"
    return f"{label} holds {target} subtitles only; convert with ffmpeg -c:s {target}"


class SubtitleCopy:
    """The output streams for the input's subtitle streams that `container` holds; `copied` and `dropped`
    name them (the dropped with the reason) for the run line and the summary."""

    def __init__(self, streams: Sequence[av.stream.Stream], output: av.container.OutputContainer | None,
                 container: str) -> None:
        self.output = output
        self.out_streams: dict[int, av.stream.Stream] = {}  # input stream index -> its copy in `output`
        self.copied: tuple[str, ...] = ()
        self.dropped: tuple[str, ...] = ()
        for s in streams:
            why = why_dropped(s, container)
            if why is None and output is not None:
                out = self.out_streams[s.index] = output.add_stream_from_template(s)
                for key in ("language", "title"):  # the template leaves the metadata behind
                    if key in s.metadata:
                        out.metadata[key] = s.metadata[key]
                self.copied += (describe_stream(s),)
            else:
                self.dropped += (f"{describe_stream(s)}: {why}",)

    def write(self, item: SidePacket) -> None:
        out = self.out_streams.get(item.stream)
        if out is not None and self.output is not None:
            item.packet.stream = out  # PyAV rescales its timestamps to the output stream, as for audio
            self.output.mux(item.packet)
