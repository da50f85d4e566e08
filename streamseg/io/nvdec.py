"""NVDEC decoding through PyNvVideoCodec: a file's video decoded by the GPU's video engine straight into
CUDA memory as RGB, so 1080p frames neither take CPU cores to decode nor cross PCIe as pixels.

PyAV still opens the file first (a VideoReader): it supplies the frame size, rotation, frame count and
the audio, and it refuses damaged inputs with the same messages as ever. Only the video pictures come
from NVDEC. Verified so far against a stand-in module (tests/test_nvdec_contract.py) that behaves as
PyNvVideoCodec 2.x does; not yet run on a GPU (see BENCHMARKS.md).

PyNvVideoCodec facts this relies on (2.0-2.2): the demuxer hands out one packet object, overwritten in
place, and ends with an empty packet that flushes the decoder; decoded frames carry the packet pts in
the stream's time base, in display order; the decoder reuses its frame buffers on the next Decode call;
RGB output is [H,W,3] uint8 converted as limited-range video; a failed CUDA start inside CreateDecoder
exits the process, so no decoder is created without a usable CUDA device.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType

import torch

from streamseg.colour import UNSPECIFIED, is_hd
from streamseg.errors import InputError
from streamseg.io.reader import Frame, SidePacket, VideoReader, check_complete

CODECS = {"h264": "H264", "hevc": "HEVC", "vp9": "VP9", "vp8": "VP8"}  # AV1: not on Hopper's NVDEC
PIXEL_FORMATS = {"yuv420p", "yuv420p10le"}  # limited range 4:2:0 (yuvj420p is full range: wrong colours)


def load_module() -> ModuleType | str:
    """PyNvVideoCodec, or why it cannot be used (it raises RuntimeError, not ImportError, without a driver)."""
    try:
        return importlib.import_module("PyNvVideoCodec")
    except ModuleNotFoundError:
        return "PyNvVideoCodec is not installed (pip install PyNvVideoCodec)"
    except Exception as e:  # noqa: BLE001  no driver, old driver, missing libnvcuvid...
        return f"PyNvVideoCodec cannot load ({str(e).splitlines()[0] if str(e) else type(e).__name__})"


def unavailable(reader: VideoReader, device: torch.device) -> str | None:
    """Why NVDEC cannot decode this input on this device, or None when it can."""
    info = reader.info
    if device.type != "cuda":
        return "no CUDA device in use"
    if reader.live:
        return "live input (NVDEC here reads files)"
    if info.codec not in CODECS:
        return f"{info.codec} video (NVDEC here: {', '.join(CODECS)})"
    if info.pix_fmt not in PIXEL_FORMATS or (info.codec == "h264" and info.pix_fmt != "yuv420p"):
        return f"{info.pix_fmt} pixels (NVDEC here: 8-bit 4:2:0, and 10-bit for HEVC/VP9)"
    w, h = reader.stored_size
    if w % 2 or h % 2:
        return "odd frame size"
    if reader.stream.codec_context.colorspace == UNSPECIFIED and not is_hd(w, h):
        return "untagged SD colour (NVDEC would take BT.709, players BT.601)"
    module = load_module()
    return module if isinstance(module, str) else None


def version() -> str:
    module = load_module()
    return "" if isinstance(module, str) else getattr(module, "__version__", "")


class NvdecReader:
    """The VideoReader interface (info, audio_stream, subtitle_streams, items(), close()) with NVDEC decoding
    the video."""

    def __init__(self, meta: VideoReader, device: torch.device) -> None:
        module = load_module()
        if isinstance(module, str):
            raise InputError(f"cannot decode with NVDEC: {module}", "use --decoder pyav")
        self.meta = meta
        self.source, self.name, self.live = meta.source, meta.name, meta.live
        self.info, self.audio_stream, self.subtitle_streams = meta.info, meta.audio_stream, meta.subtitle_streams
        self.demuxer = module.CreateDemuxer(str(meta.source))
        stream = torch.cuda.current_stream(device).cuda_stream if device.type == "cuda" else 0
        self.decoder = module.CreateDecoder(
            gpuid=device.index or 0, codec=self.demuxer.GetNvCodecId(),
            cudacontext=0,  # 0: the device's primary context, the one torch uses
            cudastream=stream,  # frames are ready on torch's stream without a host sync
            usedevicememory=True,  # (the default, 0, would return frames in host memory)
            outputColorType=module.OutputColorType.RGB)

    def frames(self) -> Iterator[Frame]:
        info, k, index = self.info, self.info.rotation // 90, 0
        try:
            for packet in self.demuxer:  # the last packet is empty: it flushes the decoder
                for picture in self.decoder.Decode(packet):
                    rgb = torch.from_dlpack(picture).clone()  # [H,W,3] uint8; the decoder reuses its buffers
                    if k:
                        rgb = torch.rot90(rgb, k, dims=(0, 1)).contiguous()
                    yield Frame(rgb=rgb, pts=int(picture.timestamp), index=index)
                    index += 1
        except Exception as e:  # noqa: BLE001  PyNvVCException(Unsupported) derive from Exception alone
            raise InputError(f"{self.name}: NVDEC failed after {index} frames ({e})",
                             "use --decoder pyav") from None
        check_complete(self.name, index, info)

    def items(self) -> Iterator[Frame | SidePacket]:
        """NVDEC's frames with PyAV's audio and subtitle packets, interleaved by time."""
        audio = self.meta.side_packets()
        pending = next(audio, None)
        for frame in self.frames():
            seconds = float(frame.pts * self.info.time_base)
            while pending is not None and pending.seconds <= seconds:
                yield pending
                pending = next(audio, None)
            yield frame
        while pending is not None:
            yield pending
            pending = next(audio, None)

    def close(self) -> None:
        self.decoder = self.demuxer = None  # frees the decoder's GPU memory
        self.meta.close()
