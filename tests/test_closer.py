"""The closer look at the car (streamseg.closer): where it looks, that the second look lands where the car is and
draws a finer outline, and that photos behind a UNet take it while videos and IS-Net do not."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from streamseg.closer import FEATHER, MIN_ZOOM, PAD, REACH, closer_look, near_outline, outline_look, window
from streamseg.composite import downscale, normalise
from streamseg.models import ModelSpec
from tests.conftest import cli

SPEC = ModelSpec(input_height=64, input_width=112)


def redness(x: torch.Tensor) -> torch.Tensor:
    """A 'network' that needs no training: red minus green, so its matte at any grid is the picture's own."""
    return ((x[:, :1] - x[:, 1:2]) * 2).clamp(0, 1)


def red_car(h: int = 640, w: int = 960) -> tuple[torch.Tensor, np.ndarray]:
    """A red ellipse on grey, a third of the width, off centre: pixels [1,H,W,3] uint8 and its truth [H,W] bool."""
    y, x = np.mgrid[0:h, 0:w]
    truth = ((x - 0.6 * w) / (0.17 * w)) ** 2 + ((y - 0.55 * h) / (0.12 * h)) ** 2 <= 1
    img = np.full((h, w, 3), 128, np.uint8)
    img[truth] = (200, 30, 40)
    return torch.from_numpy(img)[None], truth


def test_window_frames_the_car_at_the_grids_aspect():
    alpha = torch.zeros(1, 1, 64, 112)
    alpha[..., 20:40, 30:60] = 1
    top, left, size = window(alpha)
    assert size == pytest.approx(20 * (1 + 2 * PAD))  # the padded box is taller than the grid's aspect asks
    width = size * 112 / 64
    assert top <= 20 - 20 * PAD + 1e-6 and top + size >= 40 + 20 * PAD - 1e-6  # the car and its padding inside
    assert left <= 30 - 30 * PAD + 1e-6 and left + width >= 60 + 30 * PAD - 1e-6
    assert window(torch.zeros(1, 1, 64, 112)) is None  # no car: nothing to look at
    assert window(alpha, max_zoom=1.5)[2] == pytest.approx(64 / 1.5)  # no finer than the picture allows
    alpha[..., 4:60, 8:104] = 1  # a car that fills the frame leaves no room to zoom
    assert window(alpha) is None and 64 / (56 * (1 + 2 * PAD)) < MIN_ZOOM


def test_second_look_lands_on_the_car_and_draws_it_finer():
    pixels, truth = red_car()
    small = downscale(pixels.permute(0, 3, 1, 2), (64, 112))
    first = redness(normalise(small, SPEC))
    finer, alpha = closer_look(pixels, small, first, redness, SPEC)
    assert finer.shape[-2:] == alpha.shape[-2:] and alpha.shape[-2] > 64 * MIN_ZOOM
    # inside its window (less the fade) the matte is the network's on the finer grid exactly: it was laid where
    # that part of the picture is
    top, left, size = window(first)
    zoom = 64 / size
    y0, x0 = round(top * zoom), round(left * zoom)
    inner = (..., slice(y0 + FEATHER, y0 + 64 - FEATHER), slice(x0 + FEATHER, x0 + 112 - FEATHER))
    assert torch.allclose(alpha[inner], redness(normalise(finer, SPEC))[inner], atol=1e-5)
    # and at full size its outline is nearer the truth than the first look's

    def iou(a: torch.Tensor) -> float:
        called = F.interpolate(a, size=truth.shape, mode="bilinear", align_corners=False)[0, 0].numpy() >= 0.5
        return float((called & truth).sum() / (called | truth).sum())

    assert iou(alpha) > iou(first) + 0.005, (iou(first), iou(alpha))


def test_outline_look_sees_the_car_at_its_networks_size_and_draws_it_finer_still():
    """The third look (the outline network, trained on cars twice as large): a window of that network's input size
    (turned for a portrait grid), on a grid finer than the closer look's, nearer the truth again."""
    pixels, truth = red_car()
    small = downscale(pixels.permute(0, 3, 1, 2), (64, 112))
    first = redness(normalise(small, SPEC))
    small2, second = closer_look(pixels, small, first, redness, SPEC)
    seen: list[tuple[int, int]] = []

    def network(x: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(x.shape[-2:]))
        return redness(x)

    outline = ModelSpec(input_height=128, input_width=224)
    finer, third = outline_look(pixels, small2, second, network, outline, SPEC)
    assert seen == [(128, 224)] and finer.shape[-2:] == third.shape[-2:]
    assert third.shape[-2] > second.shape[-2] * 1.5  # its window is twice the first look's, the car as large

    def iou(a: torch.Tensor) -> float:
        called = F.interpolate(a, size=truth.shape, mode="bilinear", align_corners=False)[0, 0].numpy() >= 0.5
        return float((called & truth).sum() / (called | truth).sum())

    assert iou(third) > iou(second) + 0.002, (iou(second), iou(third))
    # a portrait picture: the window turned
    seen.clear()
    tall = pixels.transpose(1, 2).contiguous()
    small_t = downscale(tall.permute(0, 3, 1, 2), (112, 64))
    outline_look(tall, small_t, redness(normalise(small_t, SPEC)), network, outline, SPEC)
    assert seen == [(224, 128)]


def test_the_outline_network_looks_only_where_the_closer_look_zoomed_in():
    """closer_looks: a car with room around it gets the closer look and then the outline network's; a car that fills
    the picture gets neither (the outline network alone lost 0.03 Dice on the real-car set's photograph), and a
    picture with fewer pixels than the outline network's scale (twice the closer look's grid) only the closer look
    (the street photos lost 0.007 Dice to a third look that saw no finer than the second)."""
    from streamseg.closer import closer_looks

    calls: list[str] = []

    class Backend:  # a backend as closer_looks calls it: a spec, and the normalised picture -> its matte
        def __init__(self, name: str, spec: ModelSpec) -> None:
            self.name, self.spec = name, spec

        def __call__(self, x: torch.Tensor) -> torch.Tensor:
            calls.append(self.name)
            return redness(x)

        def release(self) -> None:
            calls.append(f"{self.name} released")

    net, outline = Backend("first", SPEC), Backend("outline", ModelSpec(input_height=128, input_width=224))
    pixels, _ = red_car()
    small = downscale(pixels.permute(0, 3, 1, 2), (64, 112))
    finer, alpha = closer_looks(pixels, small, redness(normalise(small, SPEC)), net, outline)
    # each network's buffers freed after its last call on the photo, before the full-resolution stages
    assert calls == ["first", "first released", "outline", "outline released"] and alpha.shape[-2] > 128
    calls.clear()
    filled = torch.full_like(pixels, 128)
    filled[..., 0] = 200  # red everywhere: the car fills the picture
    small = downscale(filled.permute(0, 3, 1, 2), (64, 112))
    first = redness(normalise(small, SPEC))
    finer, alpha = closer_looks(filled, small, first, net, outline)
    assert "outline" not in calls and finer is small and alpha is first
    calls.clear()
    pixels, _ = red_car(300, 450)  # the same car in a smaller picture: zoomed in, but not twice over
    small = downscale(pixels.permute(0, 3, 1, 2), (64, 112))
    finer, alpha = closer_looks(pixels, small, redness(normalise(small, SPEC)), net, outline)
    assert calls == ["first", "first released"] and finer is not small and 2 * finer.shape[-2] > 300, finer.shape


def test_second_look_moves_the_outline_only():
    """What is car is the first look's: a second look that loses the car whole (as the zoomed network now and then
    lost a dark bumper) changes the matte only within REACH of the first look's outline."""
    pixels, _ = red_car()
    small = downscale(pixels.permute(0, 3, 1, 2), (64, 112))
    first = redness(normalise(small, SPEC))
    _, alpha = closer_look(pixels, small, first, lambda x: torch.zeros_like(x[:, :1]), SPEC)
    up = F.interpolate(first, size=alpha.shape[-2:], mode="bilinear", align_corners=False)
    deep = near_outline(up, REACH + 1) == 0
    assert torch.equal(alpha[deep], up[deep]) and (up[deep] > 0.99).sum() > 1000  # the car's middle is kept
    assert (alpha < 0.5).sum() > (up < 0.5).sum()  # and its outline moved where the second look said


def test_near_outline_is_a_band_each_side_of_the_half_level():
    alpha = torch.zeros(1, 1, 40, 40)
    alpha[..., 10:30, 10:30] = 1
    near = near_outline(alpha, 3)[0, 0]
    assert near[10, 20] == 1 and near[7, 20] == 1 and near[12, 20] == 1  # on it, 3 px out, 2 px in
    assert near[6, 20] == 0 and near[20, 20] == 0 and near[13, 20] == 0  # beyond reach either side


def test_only_photos_behind_a_unet_where_the_edge_stage_redraws():
    from streamseg.pipeline import looks_closer

    stage = SimpleNamespace(edges=object())
    unet, isnet = (SimpleNamespace(spec=SimpleNamespace(arch=arch)) for arch in ("unet", "isnet"))
    assert looks_closer(unet, stage, 1280, 1918)
    assert not looks_closer(isnet, stage, 1280, 1918)  # IS-Net sees 1024x1024 and its edge network its first look
    assert not looks_closer(unet, SimpleNamespace(edges=None), 1280, 1918)  # --no-edges
    assert not looks_closer(unet, stage, 288, 512)  # under the edge stage's MIN_PIXELS


def test_photos_take_it_videos_do_not(tmp_path, monkeypatch):
    """Through the CLI: a photo large enough for the edge stage looks three times (the first look, the closer look,
    the outline network's); --no-edges and a video with --edges look once."""
    from streamseg import closer
    from streamseg.sample import SampleSpec, write_sample

    looks: list[tuple[int, int]] = []
    outlines: list[tuple[int, int]] = []

    def recording(pixels, small, alpha_lr, net, spec, *window):
        out = closer_look(pixels, small, alpha_lr, net, spec, *window)
        if not window:  # the closer look (the outline look calls it with its window)
            looks.append(tuple(out[1].shape[-2:]))
        return out

    def recording_outline(pixels, small, alpha_lr, net, spec, first):
        assert net.spec.input_height == 2 * first.input_height  # the outline network, not the first look's
        out = outline_look(pixels, small, alpha_lr, net, spec, first)
        outlines.append(tuple(out[1].shape[-2:]))
        return out

    monkeypatch.setattr(closer, "closer_look", recording)
    monkeypatch.setattr(closer, "outline_look", recording_outline)
    clip = tmp_path / "car.mp4"
    # room for the outline network: at least twice the closer look's grid (about 400 px tall here)
    write_sample(clip, SampleSpec(width=1920, height=1080, frames=2, fps=25, seed=4))
    import av

    with av.open(str(clip)) as c:
        photo = tmp_path / "car.png"
        Image.fromarray(next(c.decode(video=0)).to_ndarray(format="rgb24")).save(photo)
    for source, args, expected in ((photo, (), 1), (photo, ("--no-edges",), 0), (clip, ("--edges",), 0)):
        looks.clear()
        outlines.clear()
        r = cli("run", source, "-o", tmp_path / f"out{len(args)}{source.suffix}", "--backend", "cpu", "-q", *args)
        assert r.code == 0, r.err
        assert len(looks) == expected and len(outlines) == expected, (source.name, args, looks, outlines)
        if expected:
            assert outlines[0][0] > looks[0][0], (looks, outlines)  # the third look's grid is finer still


def test_isnet_photos_are_kept_near_the_car_the_default_looks_find():
    """car_check: IS-Net's full-resolution matte on a photo loses what lies beyond twice NEAR of the car the
    default's looks find (wall lettering touching the car: the letter C beside 4a4364d7fc6d_10), and keeps the car
    whole, however far the default's first look alone was from its outline."""
    from streamseg.car_check import NEAR, CarCheck

    released: list[str] = []

    class Backend:  # as CarCheck calls it: a spec, a device, the normalised picture -> its matte, release, close
        device = torch.device("cpu")

        def __init__(self, name: str, spec: ModelSpec) -> None:
            self.name, self.spec = name, spec

        def __call__(self, x: torch.Tensor) -> torch.Tensor:
            return redness(x)

        def release(self) -> None:
            released.append(self.name)

    pixels, truth = red_car()
    h, w = truth.shape
    ys, xs = truth.nonzero()
    letter = np.zeros_like(truth)  # a grey bar from the car's top up to the picture's top, touching the car
    letter[:ys.min() + 5, xs.min() + 40:xs.min() + 90] = True
    alpha = torch.from_numpy(truth | letter).float()[None, None]
    check = CarCheck(Backend("first", SPEC), Backend("outline", ModelSpec(input_height=128, input_width=224)))
    kept = check(pixels, alpha)[0, 0].numpy()
    reach = 2 * NEAR * np.hypot(h, w)
    far = letter & (np.arange(h)[:, None] < ys.min() - reach - 3)
    assert far.any() and kept[far].max() == 0, "the lettering far from the car is still in the matte"
    assert kept[truth].min() > 0.99, "the car lost pixels"
    assert released == ["first", "outline"]
