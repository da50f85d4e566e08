"""Shared fixtures: tiny media made on the spot (nothing is downloaded) and CLI helpers."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from streamseg.cli import main
from streamseg.sample import SampleSpec, write_sample

# GPU tests skip where there is no GPU, unless STREAMSEG_REQUIRE_GPU=1 (a GPU machine's run): then they run
# and fail, so a GPU run cannot pass by skipping them
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available() and os.environ.get("STREAMSEG_REQUIRE_GPU") != "1",
                               reason="no GPU (STREAMSEG_REQUIRE_GPU=1 turns this skip into a failure)")
DEVICES = ["cpu", pytest.param("cuda", marks=needs_gpu)]


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clip(media) -> Path:
    """256x144, 12 frames at 25 fps, AAC stereo: the clip most tests run on."""
    path = media / "clip.mp4"
    write_sample(path, SampleSpec(width=256, height=144, frames=12, fps=25))
    return path


@pytest.fixture(scope="session")
def clip_with_truth(media) -> tuple[Path, list[np.ndarray]]:
    """A larger clip with the true car mask of every frame."""
    path = media / "truth.mp4"
    masks = write_sample(path, SampleSpec(width=640, height=360, frames=8, fps=25, seed=3), keep_masks=True)
    return path, masks


@pytest.fixture(scope="session")
def studio_png(media) -> Path:
    """A background image with a strong, position-dependent pattern (so misplacement shows)."""
    from PIL import Image

    y, x = np.mgrid[0:300, 0:500]
    img = np.stack([(x * 255 // 499), (y * 255 // 299), np.full_like(x, 90)], -1).astype(np.uint8)
    path = media / "studio.png"
    Image.fromarray(img).save(path)
    return path


def cli(*args: str) -> CliResult:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)
    return CliResult(result.exit_code, result.stdout, result.stderr, result.exception)


class CliResult:
    def __init__(self, code: int, out: str, err: str, exception) -> None:
        self.code, self.out, self.err = code, out, err
        # SystemExit is how the CLI ends; anything else escaping is a crash
        self.crashed = exception is not None and not isinstance(exception, SystemExit)
        self.exception = exception

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, err={self.err!r}, exception={self.exception!r})"


def decode_all(path: Path, fmt: str = "rgb24", codec: str | None = None) -> tuple[list[np.ndarray], list[float]]:
    """Every frame of the first video stream and its time in seconds (codec: force a decoder)."""
    frames, times = [], []
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        if codec:
            ctx = av.codec.CodecContext.create(codec, "r")
            ctx.extradata = v.codec_context.extradata
            decoded = (f for p in c.demux(v) for f in ctx.decode(p))
            tb = v.time_base
        else:
            decoded = c.decode(v)
            tb = None
        for f in decoded:
            frames.append(f.to_ndarray(format=fmt))
            times.append(float(f.pts * (tb or f.time_base)))
    return frames, times


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return []
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


@pytest.fixture(scope="session")
def isnet_onnx() -> Path:
    """IS-Net's ONNX file as `streamseg models fetch isnet` installs it. CI fetches it first, so this fails
    rather than skips when it is missing: the parity and quality tests must run."""
    from streamseg.models.names import models_dir

    path = models_dir() / "isnet.onnx"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `streamseg models fetch isnet` before the tests")
    return path


@pytest.fixture(scope="session")
def warm_segmenter():
    """One loaded model for the service's tests (test_serve*.py), as the service keeps one between jobs."""
    from streamseg import Segmenter

    with Segmenter() as seg:
        yield seg
