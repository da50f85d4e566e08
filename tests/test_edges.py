"""The full-resolution edge stage (streamseg.edges, `--edges`): it redraws the band and nothing else, its tiles meet
without seams, every CPU backend runs it alike, and photos, videos, the API and the service take the option."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from streamseg.backends.cpu import CpuBackend
from streamseg.composite import to_planar
from streamseg.edges import (
    FEATHER,
    GROW,
    MIN_PIXELS,
    EdgeStage,
    band,
    decided,
    edges_model_path,
    inside,
    open_edge_stage,
)
from streamseg.models import ModelSpec, save_checkpoint
from streamseg.models.edges import EdgeRefiner
from tests.conftest import cli


def soft_ellipse(h: int = 480, w: int = 720) -> tuple[torch.Tensor, torch.Tensor]:
    """A red shape on a grey wall and floor, and a hazy matte of it: pixels [1,H,W,3] uint8, matte [1,1,H,W]."""
    y, x = np.mgrid[0:h, 0:w]
    inside = ((x - w / 2) / (w * 0.35)) ** 2 + ((y - h / 2) / (h * 0.25)) ** 2
    img = np.full((h, w, 3), 170, np.uint8)
    img[h * 2 // 3:] = 120
    img[inside <= 1] = (150, 20, 30)
    matte = np.clip((1.15 - inside) / 0.3, 0, 1).astype(np.float32)  # 0..1 over a band some 10 px wide
    return torch.from_numpy(img)[None], torch.from_numpy(matte)[None, None]


def test_band_is_the_unsure_pixels_widened():
    alpha = torch.zeros(1, 1, 100, 100)
    alpha[..., 50:, :] = 1
    alpha[..., 50, 40] = 0.5
    where = band(alpha, grow=10)[0, 0]
    assert where[40:61, 30:51].all() and where.sum() == 21 * 21  # one unsure pixel, grown by 10 each way
    assert not band(alpha, grow=0)[0, 0, 50, 41]


def test_untrained_stage_leaves_the_matte_as_it_is(tmp_path):
    """A fresh network's correction is zero: any tile put back in the wrong place, or band pixel taken from the
    wrong tile, would show."""
    path = tmp_path / "fresh.pt"
    save_checkpoint(path, EdgeRefiner(8), ModelSpec(arch="edges", width=8, input_height=96, input_width=96))
    frame, matte = soft_ellipse(603, 701)  # sizes that are no multiple of a tile (and above MIN_PIXELS)
    stage = EdgeStage(CpuBackend(path))
    stage.decide = 1.0  # the network's own chance as the matte
    out = stage(frame, matte)
    assert torch.allclose(out, matte, atol=1e-3)


def test_where_the_network_is_unsure_the_matte_is_decided(tmp_path):
    """The network gives the chance that a pixel is car, and a half-transparent matte where it is unsure shows the
    car see-through or a haze beside it: the stage's matte is steeper than the chance, with the same outline."""
    path = tmp_path / "fresh.pt"
    save_checkpoint(path, EdgeRefiner(8), ModelSpec(arch="edges", width=8, input_height=96, input_width=96))
    frame, matte = soft_ellipse()  # a hazy matte some 10 px wide; a fresh network's chance is that matte
    out = EdgeStage(CpuBackend(path))(frame, matte)
    deep = band(matte, grow=GROW - FEATHER)  # where the redrawn matte is taken whole
    assert torch.equal(out[deep] >= 0.5, matte[deep] >= 0.5)  # the outline where it was
    hazy = ((matte > 0.1) & (matte < 0.9))[deep].sum()
    assert ((out > 0.1) & (out < 0.9))[deep].sum() < 0.5 * hazy  # measured 0.38 of it


def test_shipped_stage_changes_the_band_only_and_its_tiles_meet():
    stage = open_edge_stage("cpu")
    frame, matte = soft_ellipse()
    out = stage(frame, matte)
    where = band(matte)
    assert torch.equal(out[~where], matte[~where])  # sure pixels are kept exactly
    assert (out - matte).abs()[where].max() > 0.2  # it does redraw the band
    # the whole picture in one convolution: tiles give the same matte (their margin covers the network's reach)
    whole = decided(stage.backend.model(torch.cat([to_planar(frame), matte], 1)[..., :480, :720]), stage.decide)
    deep = band(matte, grow=GROW - FEATHER)[..., :480, :720]  # where the redrawn matte is taken whole
    assert (out[..., :480, :720] - whole).abs()[deep].max() < 0.02


@pytest.mark.parametrize("levels, size", [(3, 96), (4, 272)])
def test_tiles_of_any_depth_give_one_whole_picture_convolution(tmp_path, levels, size):
    """A deeper network reaches further: its tiles take a wider margin (models.edges.margin), or their middles
    would differ from one convolution over the whole picture and show seams. A strong random last layer and a
    grainy picture, so that what the network sees far off changes what it draws."""
    torch.manual_seed(levels)
    net = EdgeRefiner(8, levels)
    torch.nn.init.normal_(net.head.weight, std=5.0)
    path = tmp_path / "deep.pt"
    save_checkpoint(path, net, ModelSpec(arch="edges", width=8, levels=levels, input_height=size, input_width=size))
    stage = EdgeStage(CpuBackend(path))
    frame, matte = soft_ellipse()
    grain = torch.randint(-40, 41, frame.shape, generator=torch.Generator().manual_seed(0))
    frame = (frame.float() + grain).clamp(0, 255).to(torch.uint8)
    out = stage(frame, matte)
    whole = decided(stage.backend.model(torch.cat([to_planar(frame), matte], 1)), stage.decide)
    deep = band(matte, grow=GROW - FEATHER)
    assert (out - matte).abs()[deep].max() > 0.1  # it does redraw
    assert (out - whole).abs()[deep].max() < 1e-6  # a margin of 32 px for four levels: 4e-4


def test_a_cpu_stage_sends_one_tile_a_call():
    """On a CPU one tile a call: the batch every backend compiles first (with more, OpenVINO compiled the network
    a second time and an 8 MP photo's peak was 0.11 GB higher, for no speed)."""
    stage, calls = open_edge_stage("cpu"), []
    run = stage.backend.model.forward
    stage.backend.model.forward = lambda x: calls.append(len(x)) or run(x)
    stage(*soft_ellipse())
    assert len(calls) > 4 and set(calls) == {1}, calls


def test_small_frames_are_left_as_they_are():
    """The network learnt the outline of cars photographed at 1918x1280; on frames under MIN_PIXELS it made the
    outline worse, so they keep the guided filter's matte, and the stage counts them."""
    stage = open_edge_stage("cpu")
    w = MIN_PIXELS // 400
    small, small_matte = soft_ellipse(400, w - 8)
    assert torch.equal(stage(small, small_matte), small_matte) and (stage.redrawn, stage.left) == (0, 1)
    large, large_matte = soft_ellipse(400, w + 8)
    assert not torch.equal(stage(large, large_matte), large_matte) and (stage.redrawn, stage.left) == (1, 1)


def test_the_redrawn_band_fades_in_at_its_edge():
    """No step where the band ends: a matte redrawn to 1 everywhere rises from 0 at the band's edge over FEATHER px."""
    where = torch.zeros(1, 1, 64, 64, dtype=torch.bool)
    where[..., 16:48, 16:48] = True
    w = inside(where)[0, 0]
    assert w[:, :16].max() == 0 and w[32, 16] < 0.2 and w[32, 16 + FEATHER] == 1
    assert (w[32, 16:16 + FEATHER].diff() >= 0).all()


def test_openvino_runs_the_shipped_stage_as_pytorch_does():
    """The network's chance alike (BF16 where the CPU has it: 0.013 off), and so the same outline after the matte is
    decided (which steepens the chance, and BF16's rounding with it, by DECIDE)."""
    pytest.importorskip("openvino")
    frame, matte = soft_ellipse()
    stages = open_edge_stage("cpu"), open_edge_stage("openvino")
    reference, out = (stage(frame, matte) for stage in stages)
    assert ((out >= 0.5) != (reference >= 0.5)).float().mean() < 1e-3  # measured 56 of 345,600 pixels
    for stage in stages:
        stage.decide = 1.0
    reference, out = (stage(frame, matte) for stage in stages)
    assert (out - reference).abs().max() < 0.02


def test_the_shipped_network_is_an_edge_network():
    stage = EdgeStage(CpuBackend(edges_model_path()))
    assert stage.backend.spec.channels == 4 and stage.tile > 0
    with pytest.raises(ValueError, match="edge network"):
        from streamseg.weights import default_model_path

        EdgeStage(CpuBackend(default_model_path()))


@pytest.fixture(scope="module")
def big_clip(tmp_path_factory) -> Path:
    """A drawn car, 768x432 (above MIN_PIXELS, where the stage redraws), 2 frames."""
    from streamseg.sample import SampleSpec, write_sample

    path = tmp_path_factory.mktemp("edges") / "car.mp4"
    write_sample(path, SampleSpec(width=768, height=432, frames=2, fps=25, seed=4))
    return path


@pytest.fixture(scope="module")
def picture(big_clip) -> np.ndarray:
    """The big clip's first frame, HxWx3 uint8."""
    import av

    with av.open(str(big_clip)) as c:
        return next(c.decode(video=0)).to_ndarray(format="rgb24")


def redrawn(before: np.ndarray, after: np.ndarray) -> bool:
    """The edge stage moved the outline: many pixels change by more than the compositors' rounding (one level)."""
    changed = int((np.abs(before.astype(int) - after.astype(int)) > 8).sum())
    print(f"{changed} pixels redrawn")
    return changed > 100


def test_photos_and_videos_take_the_option(tmp_path, clip, big_clip, picture):
    """On by default for a photo, off for a video; --edges and --no-edges say otherwise."""
    photo = tmp_path / "car.png"
    Image.fromarray(picture).save(photo)
    mattes = {}
    for flags, drawn in (((), True), (("--edges",), True), (("--no-edges",), False),
                         (("--edges", "--no-refine"), False)):
        out = tmp_path / f"matte{'-'.join(flags)}.png"
        r = cli("run", photo, "-o", out, "-f", "matte", "--json", "-q", *flags)
        assert r.code == 0, r.err
        assert json.loads(r.out)["edges"] is drawn  # it redraws the guided filter's matte only
        mattes[flags] = np.asarray(Image.open(out).convert("L")).astype(int)
    assert redrawn(mattes[("--no-edges",)], mattes[()]) and np.array_equal(mattes[()], mattes[("--edges",)])
    small = tmp_path / "small.png"  # under MIN_PIXELS: the default leaves it, and says nothing of it
    Image.fromarray(picture[::2, ::2]).save(small)
    r = cli("run", small, "-o", tmp_path / "small-out.png", "-f", "matte", "--json")
    assert r.code == 0 and json.loads(r.out)["edges"] is False and "outline" not in r.err, r.err
    # the summary says whether the stage redrew: not on the 256x144 clip (under MIN_PIXELS)
    for video, args, drawn in ((big_clip, (), False), (big_clip, ("--edges",), True), (clip, ("--edges",), False)):
        r = cli("run", video, "-o", tmp_path / f"{video.stem}{len(args)}.mp4", "--json", "-q", *args)
        assert r.code == 0, r.err
        assert json.loads(r.out)["edges"] is drawn
    # and the run line says what the stage did
    for video, args, said in ((big_clip, ("--edges",), "outline redrawn at full resolution (--edges)"),
                              (clip, ("--edges",), "--edges left the outline as it was"),
                              (photo, (), "outline redrawn at full resolution (edge stage; --no-edges skips it)")):
        out = tmp_path / f"{video.stem}-said{video.suffix}"
        r = cli("run", video, "-o", out, *args)
        assert r.code == 0 and said in r.err, r.err


def test_segmenter_and_service_take_the_option(picture):
    from streamseg.api import OPTIONS, Segmenter
    from streamseg.serve.runner import parse_options

    assert "edges" in OPTIONS
    with Segmenter(backend="cpu", edges=False) as plain, Segmenter(backend="cpu") as sharp:  # on, as for photos
        assert sharp.matte(picture[::2, ::2]).shape == (216, 384) and sharp.edge_stage is None  # small: not opened
        assert redrawn(plain.matte(picture), sharp.matte(picture))
        assert plain.edge_stage is None and sharp.edge_stage is not None
    assert parse_options({"edges": "true"}, "photo", "default", False)["edges"] is True
    assert parse_options({"edges": "false"}, "photo", "default", False)["edges"] is False
    assert parse_options({}, "photo", "default", False)["edges"] is None  # the default: photos only


def test_the_edge_network_exports_to_onnx_as_it_runs(tmp_path):
    """The TensorRT path starts from this export (four input channels, any tile count)."""
    ort = pytest.importorskip("onnxruntime", reason="pip install -e '.[export]'")
    from streamseg.export import export_onnx

    path = export_onnx(edges_model_path(), tmp_path / "edges.onnx")
    assert json.loads(path.with_suffix(".onnx.json").read_text())["input"]["shape"][1] == 4
    size = CpuBackend(edges_model_path()).spec.input_height  # the tile the stage feeds it
    frame, matte = soft_ellipse(size, 2 * size)
    x = torch.cat([to_planar(frame), matte], 1).reshape(1, 4, size, 2, size)
    x = x.permute(0, 3, 1, 2, 4).reshape(2, 4, size, size)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    assert np.abs(out - CpuBackend(edges_model_path())(x).numpy()).max() < 1e-3


def test_isnet_is_redrawn_by_its_own_edge_network(tmp_path, big_clip, picture, isnet_onnx, monkeypatch):
    """`--model isnet` redraws with the network trained on IS-Net's mattes (edges-isnet.pt: it also takes out the wall
    lettering IS-Net keeps), the UNet with edges.pt: in a photo, a video with --edges and the Segmenter alike."""
    from streamseg.api import Segmenter
    from streamseg.backends import registry

    opened: list[str] = []
    create = registry.create_backend

    def recording(name, path, *args, **kwargs):
        if Path(path).name.startswith("edges"):
            opened.append(Path(path).name)
        return create(name, path, *args, **kwargs)

    monkeypatch.setattr(registry, "create_backend", recording)
    assert edges_model_path("isnet") != edges_model_path() and edges_model_path("isnet").is_file()
    photo = tmp_path / "car.png"
    Image.fromarray(picture).save(photo)
    for source, args in ((photo, ()), (photo, ("--model", "isnet")), (big_clip, ("--model", "isnet", "--edges"))):
        r = cli("run", source, "-o", tmp_path / f"out{len(opened)}{source.suffix}", "--backend", "cpu", "-q", *args)
        assert r.code == 0, r.err
    with Segmenter("isnet", backend="cpu") as segmenter:
        segmenter.matte(picture)
    assert opened == ["edges.pt", "edges-isnet.pt", "edges-isnet.pt", "edges-isnet.pt"]


def test_only_photos_behind_an_isnet_kept_to_the_car_take_the_car_check():
    """car_check: `--model isnet` photos are kept near the car the default's looks find; IS-Net alone
    (`isnet-salient`: whatever is salient), videos and the UNet's photos are not."""
    from dataclasses import replace
    from types import SimpleNamespace

    from streamseg.edges import edge_stage_for

    gated = ModelSpec(arch="isnet", input_height=1024, input_width=1024, gate=ModelSpec())
    cases = {(gated, True): True, (gated, False): False, (replace(gated, gate=None), True): False,
             (ModelSpec(), True): False}
    for (spec, photos), checked in cases.items():
        stage = edge_stage_for(SimpleNamespace(name="cpu", device="cpu", spec=spec), photos=photos)
        assert (stage.car is not None) == checked, (spec.arch, spec.gate, photos)
        stage.close()
