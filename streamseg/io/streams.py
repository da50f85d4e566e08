"""Typed doors into PyAV's output streams: `add_stream` is typed as returning any kind of stream (video,
audio or subtitle) unless the codec is one of the names its stubs list, so these check the kind a caller
asked for, and say so plainly when a codec name is of the wrong kind."""

from __future__ import annotations

from fractions import Fraction

import av
from av.audio.stream import AudioStream
from av.video.stream import VideoStream


def add_video_stream(container: av.container.OutputContainer, codec: str, rate: Fraction | int,
                     options: dict[str, str] | None = None) -> VideoStream:
    stream = container.add_stream(codec, rate=rate, options=options)
    if not isinstance(stream, VideoStream):
        raise ValueError(f"{codec} is not a video encoder")
    return stream


def add_audio_stream(container: av.container.OutputContainer, codec: str, rate: int, layout: str) -> AudioStream:
    stream = container.add_stream(codec, rate=rate, layout=layout)
    if not isinstance(stream, AudioStream):
        raise ValueError(f"{codec} is not an audio encoder")
    return stream
