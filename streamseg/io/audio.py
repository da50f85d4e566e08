"""AudioPassthrough: the input's first audio stream into an output container, interleaved with the video.

Packets are copied unchanged where the output container can hold the codec, and re-encoded only where
it cannot (WebM holds only Opus or Vorbis; MP4 cannot hold PCM). The writer asks for audio up to each
video timestamp, so the two stay interleaved and memory stays flat on long inputs.
"""

from __future__ import annotations

from pathlib import Path

import av

# Audio codecs each container takes as-is; anything else is re-encoded to the first listed.
CONTAINER_AUDIO = {
    "mp4": ("aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"),
    "mov": ("aac", "pcm_s16le", "pcm_s24le", "pcm_s16be", "pcm_s24be", "pcm_f32le", "alac", "mp3", "ac3"),
    "webm": ("opus", "vorbis"),
    "wav": ("pcm_s16le", "pcm_s24le", "pcm_f32le"),
}
TRANSCODE_TO = {"mp4": "aac", "mov": "aac", "webm": "libopus", "wav": "pcm_s16le"}


class AudioPassthrough:
    def __init__(self, source: Path, output: av.container.OutputContainer, container_kind: str) -> None:
        self.input = av.open(str(source))
        self.in_stream = self.input.streams.audio[0]
        name = self.in_stream.codec_context.name
        self.copy = name in CONTAINER_AUDIO[container_kind]
        if self.copy:
            self.out_stream = output.add_stream_from_template(self.in_stream)
        else:
            codec = TRANSCODE_TO[container_kind]
            rate = self.in_stream.codec_context.sample_rate or 48000
            if codec == "libopus" and rate not in av.codec.Codec("libopus", "w").audio_rates:
                rate = 48000
            self.out_stream = output.add_stream(codec, rate=rate, layout=self.in_stream.codec_context.layout.name)
            if codec == "aac":
                self.out_stream.bit_rate = 192_000
        self.output = output
        self.packets = self.input.demux(self.in_stream)
        self.pending: av.Packet | None = None
        self.done = False
        self.mode = f"{'copy' if self.copy else 're-encode'} {name}" + (
            "" if self.copy else f" -> {self.out_stream.codec_context.name}")

    def mux_until(self, seconds: float | None) -> None:
        """Write audio up to `seconds` of input time (None: all that is left)."""
        while not self.done:
            packet = self.pending or next(self.packets, None)
            self.pending = None
            if packet is None:
                self.done = True
                break
            if packet.dts is None and packet.pts is None:  # demuxer's end-of-stream marker
                continue
            ts = packet.pts if packet.pts is not None else packet.dts
            if seconds is not None and ts * packet.time_base > seconds:
                self.pending = packet
                return
            self._write(packet)
        if seconds is None and not self.copy:
            for out in self.out_stream.encode(None):
                self.output.mux(out)

    def _write(self, packet: av.Packet) -> None:
        if self.copy:
            packet.stream = self.out_stream
            self.output.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None  # let the encoder's resampler keep its own clock
            for out in self.out_stream.encode(frame):
                self.output.mux(out)

    def close(self) -> None:
        self.input.close()

