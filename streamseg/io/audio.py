"""AudioPassthrough: the input's audio packets into an output container.

Packets are copied unchanged where the output container can hold the codec, and re-encoded only where
it cannot (WebM holds only Opus or Vorbis; MP4 cannot hold PCM). The pipeline hands packets over in
time order with the video, so the two stay interleaved and memory stays flat on long inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import av

from streamseg.io.streams import add_audio_stream


@dataclass(frozen=True)
class ContainerAudio:
    copies: tuple[str, ...]  # audio codecs the container takes as they are
    encoder: str  # what anything else is re-encoded with


# every container an output is written in: the writers' formats (FORMATS), PNG's audio.wav, live streams
CONTAINER_AUDIO = {
    "mp4": ContainerAudio(("aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"), "aac"),
    "mov": ContainerAudio(("aac", "pcm_s16le", "pcm_s24le", "pcm_s16be", "pcm_s24be", "pcm_f32le", "alac", "mp3",
                           "ac3"), "aac"),
    "webm": ContainerAudio(("opus", "vorbis"), "libopus"),
    "wav": ContainerAudio(("pcm_s16le", "pcm_s24le", "pcm_f32le"), "pcm_s16le"),
    "mpegts": ContainerAudio(("aac", "mp3", "ac3", "opus"), "aac"),
    "flv": ContainerAudio(("aac", "mp3"), "aac"),
}


class AudioPassthrough:
    def __init__(self, in_stream: av.audio.stream.AudioStream, output: av.container.OutputContainer,
                 container_kind: str) -> None:
        self.in_stream, self.output = in_stream, output
        name = in_stream.codec_context.name
        takes = CONTAINER_AUDIO[container_kind]
        self.copy = name in takes.copies
        if self.copy:
            self.out_stream = output.add_stream_from_template(in_stream)
        else:
            codec = takes.encoder
            rate = in_stream.codec_context.sample_rate or 48000
            if codec == "libopus" and rate not in (av.codec.Codec("libopus", "w").audio_rates or ()):
                rate = 48000
            self.out_stream = add_audio_stream(output, codec, rate, in_stream.codec_context.layout.name)
            if codec == "aac":
                self.out_stream.bit_rate = 192_000
        self.mode = f"copy {name}" if self.copy else f"re-encode {name} -> {self.out_stream.codec_context.name}"
        self.offset: int | None = None  # re-encoding: where the input's audio starts, in output samples
        self.samples = 0  # re-encoding: samples encoded so far

    def write(self, packet: av.Packet) -> None:
        if self.copy:
            packet.stream = self.out_stream  # PyAV rescales its timestamps to the output stream
            self.output.mux(packet)
            return
        if self.offset is None:  # audio that starts after the video must still start after it
            start = float(packet.pts * packet.time_base) if packet.pts is not None and packet.time_base else 0.0
            self.offset = round(max(0.0, start) * self.out_stream.codec_context.sample_rate)
        for frame in cast(list[av.AudioFrame], packet.decode()):  # an audio stream's packet
            frame.pts = None  # the encoder's resampler keeps its own sample clock, from 0
            self._mux(self.out_stream.encode(frame))

    def _mux(self, packets: list[av.Packet]) -> None:
        for p in packets:  # the encoder leaves pts unset: place each packet after the last, from the offset
            if p.pts is None and p.duration:
                p.pts = p.dts = (self.offset or 0) + self.samples  # in 1/sample rate, the encoder's time base
                self.samples += p.duration
            self.output.mux(p)

    def flush(self) -> None:
        if not self.copy:
            self._mux(self.out_stream.encode(None))
