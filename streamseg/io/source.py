"""Source: one input's frames and audio and subtitle packets, across reconnects when a live source drops, decoded by
PyAV or (for files on a GPU, where PyNvVideoCodec can) by NVDEC.

Timestamps continue across a reconnect (the new connection's clock is shifted to follow on from the
last frame), so the output's timing stays monotonic and its length matches what was received.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import torch

from streamseg.errors import InputError
from streamseg.io import nvdec
from streamseg.io.nvdec import NvdecReader
from streamseg.io.reader import Decoder, Deinterlace, Frame, SidePacket, VideoReader, is_pipe


class Source:
    def __init__(self, source: str | Path, reconnects: int = 0, delay_s: float = 0.5, timeout_s: float = 10.0,
                 decoder: Decoder = "auto", device: torch.device | None = None,
                 deinterlace: Deinterlace = "auto") -> None:
        self.source, self.delay_s, self.timeout_s, self.deinterlace = source, delay_s, timeout_s, deinterlace
        pyav = VideoReader(source, timeout_s=timeout_s, deinterlace=deinterlace)
        self.reader: VideoReader | NvdecReader
        self.reader, self.decoder = self._choose_decoder(pyav, decoder, device or torch.device("cpu"))
        self.info = self.reader.info
        self.audio_stream, self.subtitle_streams = self.reader.audio_stream, self.reader.subtitle_streams
        self.reconnects = reconnects if self.reader.live and not is_pipe(source) else 0
        self.reconnected = 0  # how many times it did
        self.ended = ""  # why a live source stopped: "", or what happened at the last attempt

    @staticmethod
    def _choose_decoder(reader: VideoReader, decoder: Decoder,
                        device: torch.device) -> tuple[VideoReader | NvdecReader, str]:
        """NVDEC in place of PyAV's `reader` where asked for (or, with auto, where it can work); returns
        the reader and what decodes and, when a GPU run falls back to PyAV, why."""
        if decoder == "pyav":
            return reader, "pyav"
        why = nvdec.unavailable(reader, device)
        if why is None and reader.info.deinterlaced:
            why = "the video is deinterlaced, by FFmpeg on the CPU"
        if why is None:
            try:
                return NvdecReader(reader, device), f"nvdec (PyNvVideoCodec {nvdec.version()})"
            except Exception as e:  # noqa: BLE001  whatever the library raises: fall back, or say it
                why = f"PyNvVideoCodec failed to start ({e})"
        if decoder == "nvdec":
            reader.close()
            raise InputError(f"cannot decode {reader.name} with NVDEC: {why}", "use --decoder auto or pyav")
        return reader, "pyav" if device.type != "cuda" else f"pyav (NVDEC: {why})"

    def _reconnect(self, stop: threading.Event) -> VideoReader | None:
        for attempt in range(self.reconnects - self.reconnected):
            if stop.wait(self.delay_s * 2**attempt):  # back off: 0.5 s, 1 s, 2 s, ...
                return None
            try:
                reader = VideoReader(self.source, timeout_s=self.timeout_s, deinterlace=self.deinterlace)
            except InputError as e:
                self.ended = f"reconnect {attempt + 1} failed: {e.problem}"
                continue
            self.reconnected += 1
            return reader
        return None

    def items(self, stop: threading.Event) -> Iterator[Frame | SidePacket]:
        """Frames (pts in the first connection's time base) and audio and subtitle packets, until the end, `stop`,
        or a live source that cannot be reached again."""
        tb0, step = self.info.time_base, self.info.frame_step
        reader, index, next_pts = self.reader, 0, 0
        while True:
            shift = None  # this connection's pts -> output pts: new = (pts - first) * scale + base
            scale = reader.info.time_base / tb0
            try:
                for item in reader.items():
                    if stop.is_set():
                        return
                    if isinstance(item, SidePacket):
                        if reader is self.reader:
                            yield item
                        elif shift is not None:  # a later connection: follow its video's shift
                            yield self._shift_side(item, float(shift[1] * tb0 - shift[0] * reader.info.time_base))
                        continue  # (packets before a reconnection's first frame have no place yet)
                    if shift is None:
                        shift = (item.pts, next_pts if reader is not self.reader else item.pts)
                    pts = round((item.pts - shift[0]) * scale) + shift[1]
                    next_pts = pts + step
                    yield replace(item, pts=pts, index=index)
                    index += 1
                self.ended = "the source ended"
            except InputError as e:
                if not self.info.live:
                    raise
                # live: what arrived is kept and the output finished, whether or not it is tried again
                self.ended = f"the source dropped: {e.problem}"
            finally:
                if reader is not self.reader:
                    reader.close()
            if not self.reconnects:
                return
            again = self._reconnect(stop)
            if again is None:
                return
            reader = again

    @staticmethod
    def _shift_side(item: SidePacket, delta: float) -> SidePacket:
        """The packet `delta` seconds later."""
        p = item.packet
        offset = round(delta / p.time_base)
        if p.pts is not None:
            p.pts += offset
        if p.dts is not None:
            p.dts += offset
        return SidePacket(p, item.seconds + delta, item.stream)

    def close(self) -> None:
        self.reader.close()
