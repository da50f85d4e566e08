"""The NVDEC path against a stand-in `PyNvVideoCodec` (NVDEC needs an NVIDIA GPU; none here).

The stand-in behaves as PyNvVideoCodec 2.x does where streamseg depends on it: the demuxer hands out
ONE packet object, overwritten in place, and ends with an empty packet that flushes the decoder; the
decoder returns frames in display order carrying the packet pts, as [H,W,3] RGB through DLPack, from a
buffer pool it overwrites on the next Decode call. It decodes for real (with FFmpeg), so a missed copy,
a wrong timestamp, rotation or audio interleaving shows as a difference from the PyAV reader.
"""

from __future__ import annotations

import sys
import types
from dataclasses import replace

import av
import numpy as np
import pytest
import torch
from conftest import cli, decode_all
from media import encode_clip

from streamseg.backends.registry import create_backend
from streamseg.io import nvdec
from streamseg.io.nvdec import NvdecReader
from streamseg.io.reader import Frame, SidePacket, VideoReader
from streamseg.io.source import Source
from streamseg.io.writer import FORMATS
from streamseg.options import RunOptions
from streamseg.pipeline import run
from streamseg.sample import SampleSpec, write_sample
from streamseg.weights import default_model_path


class PacketData:
    bsl, pts, payload = 0, 0, b""


class Demuxer:
    def __init__(self, path: str) -> None:
        self.container = av.open(path)
        self.stream = self.container.streams.video[0]
        self.packet = PacketData()  # the one object every iteration returns

    def GetNvCodecId(self) -> str:  # noqa: N802  (PyNvVideoCodec's names)
        return self.stream.codec_context.name.upper()

    def __iter__(self):
        for p in self.container.demux(self.stream):
            if p.size:
                self.packet.bsl, self.packet.pts, self.packet.payload = p.size, p.pts, bytes(p)
                yield self.packet
        self.packet.bsl, self.packet.pts, self.packet.payload = 0, 0, b""
        yield self.packet  # end of stream: flushes the decoder


class Picture:
    def __init__(self, buffer: np.ndarray, timestamp: int) -> None:
        self.buffer, self.timestamp = buffer, timestamp

    def __dlpack__(self, **kwargs):
        return self.buffer.__dlpack__()

    def __dlpack_device__(self):
        return self.buffer.__dlpack_device__()


class Decoder:
    def __init__(self, source_stream, **kwargs) -> None:
        self.kwargs = kwargs
        self.ctx = av.CodecContext.create(source_stream.codec_context.name, "r")
        self.ctx.extradata = source_stream.codec_context.extradata
        self.pool: list[np.ndarray] = []

    def Decode(self, packet: PacketData) -> list[Picture]:  # noqa: N802
        if packet.bsl:
            p = av.Packet(packet.payload)
            p.pts = packet.pts
            frames = self.ctx.decode(p)
        else:
            frames = self.ctx.decode(None)
        out = []
        for i, f in enumerate(frames):  # the pool is refilled from its start on every call
            rgb = f.to_ndarray(format="rgb24")
            if i == len(self.pool):
                self.pool.append(np.empty_like(rgb))
            self.pool[i][...] = rgb
            out.append(Picture(self.pool[i], f.pts))
        return out


def stand_in(calls: list) -> types.ModuleType:
    m = types.ModuleType("PyNvVideoCodec")
    m.__version__ = "2.2.4-stand-in"
    m.OutputColorType = types.SimpleNamespace(NATIVE="NATIVE", RGB="RGB", RGBP="RGBP")
    demuxers = []

    def create_demuxer(path):
        demuxers.append(Demuxer(path))
        calls.append(("CreateDemuxer", path))
        return demuxers[-1]

    def create_decoder(**kwargs):
        calls.append(("CreateDecoder", kwargs))
        return Decoder(demuxers[-1].stream, **kwargs)

    m.CreateDemuxer, m.CreateDecoder = create_demuxer, create_decoder
    return m


@pytest.fixture
def calls(monkeypatch) -> list:
    calls: list = []
    monkeypatch.setitem(sys.modules, "PyNvVideoCodec", stand_in(calls))
    return calls


@pytest.fixture(scope="module")
def rotated(media):
    """Phone-style: stored landscape with 90 degrees of rotation metadata, B-frames, AAC audio."""
    path = media / "nvdec_rotated.mp4"
    write_sample(path, SampleSpec(width=192, height=112, frames=10, fps=25, rotation=90))
    return path


@pytest.mark.parametrize("name", ["clip", "rotated"])
def test_nvdec_frames_timestamps_and_audio_match_pyav(calls, request, name):
    path = request.getfixturevalue(name)
    with VideoReader(path) as ref:
        expected = list(ref.items())
    reader = NvdecReader(VideoReader(path), torch.device("cpu"))
    try:
        got = list(reader.items())
    finally:
        reader.close()
    frames = [i for i in got if isinstance(i, Frame)]
    want = [i for i in expected if isinstance(i, Frame)]
    assert [f.pts for f in frames] == [f.pts for f in want] == sorted(f.pts for f in want)
    assert [f.index for f in frames] == list(range(len(want)))
    for f, w in zip(frames, want):
        assert isinstance(f.rgb, torch.Tensor) and f.rgb.shape == w.rgb.shape
        assert np.array_equal(f.rgb.numpy(), w.rgb)  # a missed copy would leave every frame the last one
    audio = [bytes(i.packet) for i in got if isinstance(i, SidePacket)]
    assert audio and audio == [bytes(i.packet) for i in expected if isinstance(i, SidePacket)]
    # interleaved by time: no audio packet comes after a frame that starts later than it
    tb = reader.info.time_base
    last_frame = -1.0
    for item in got:
        if isinstance(item, Frame):
            last_frame = float(item.pts * tb)
        else:
            assert item.seconds >= last_frame - 0.1


def test_decoder_is_asked_for_rgb_in_device_memory_on_the_primary_context(calls, clip):
    NvdecReader(VideoReader(clip), torch.device("cpu")).close()
    (create, path), (decoder, kwargs) = calls
    assert (create, path, decoder) == ("CreateDemuxer", str(clip), "CreateDecoder")
    assert kwargs == {"gpuid": 0, "codec": "H264", "cudacontext": 0, "cudastream": 0,
                      "usedevicememory": True, "outputColorType": "RGB"}


def test_run_with_nvdec_writes_what_the_pyav_run_writes(calls, clip, tmp_path, monkeypatch):
    monkeypatch.setattr(nvdec, "unavailable", lambda reader, device: None)  # (it needs CUDA otherwise)
    backend = create_backend("cpu", default_model_path())
    opts = RunOptions(source=clip, output=tmp_path / "pyav.mp4", fmt=FORMATS["mp4"], decoder="pyav")
    a = run(opts, backend)
    b = run(replace(opts, output=tmp_path / "nvdec.mp4", decoder="nvdec"), backend)
    assert (a.decoder, b.decoder) == ("pyav", "nvdec (PyNvVideoCodec 2.2.4-stand-in)")
    fa, ta = decode_all(tmp_path / "pyav.mp4")
    fb, tb = decode_all(tmp_path / "nvdec.mp4")
    assert ta == tb and len(fa) == len(fb) == 12
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb))


def test_unavailable_says_why(calls, clip, media, monkeypatch):
    cuda = torch.device("cuda")  # (a device object needs no GPU; nothing is run on it)
    with VideoReader(clip) as r:
        assert nvdec.unavailable(r, torch.device("cpu")) == "no CUDA device in use"
        assert nvdec.unavailable(r, cuda) is None
    mpeg4 = encode_clip(media / "nvdec.avi", codec="mpeg4", container="avi")
    odd = encode_clip(media / "nvdec_odd.mp4", width=97, height=64, pix_fmt="yuv444p")
    with VideoReader(mpeg4) as r:
        assert nvdec.unavailable(r, cuda).startswith("mpeg4 video")
    with VideoReader(odd) as r:
        assert "yuv444p" in nvdec.unavailable(r, cuda)
    with VideoReader(encode_clip(media / "nvdec_sd.mp4")) as r:  # no colour tag: players take BT.601
        assert nvdec.unavailable(r, cuda).startswith("untagged SD colour")
    monkeypatch.setitem(sys.modules, "PyNvVideoCodec", None)  # not installed
    with VideoReader(clip) as r:
        assert nvdec.unavailable(r, cuda) == "PyNvVideoCodec is not installed (pip install PyNvVideoCodec)"


def test_auto_falls_back_to_pyav_and_says_why(clip, monkeypatch):
    monkeypatch.setitem(sys.modules, "PyNvVideoCodec", None)
    source = Source(clip, decoder="auto", device=torch.device("cuda"))
    try:
        assert source.decoder == "pyav (NVDEC: PyNvVideoCodec is not installed (pip install PyNvVideoCodec))"
        assert isinstance(source.reader, VideoReader)
    finally:
        source.close()


def test_asking_for_nvdec_where_it_cannot_work_is_a_clear_error(clip, tmp_path):
    r = cli("run", str(clip), "-o", str(tmp_path / "out.mp4"), "--decoder", "nvdec", "--backend", "cpu")
    assert r.code == 2 and "cannot decode clip.mp4 with NVDEC: no CUDA device in use" in r.err
    assert "--decoder auto or pyav" in r.err and not (tmp_path / "out.mp4").exists()
