"""The studio look (streamseg/studio.py): contact shadow, floor reflection and --fit, on drawn cut-outs
whose floor line and box are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from streamseg.background import studio_sweep
from streamseg.studio import OneEuro, Studio, StudioLook, car_box, fitted_box

H, W = 540, 960
FLOOR = 400  # the tyres of the drawn car stand on this pixel edge


def drawn_car(x0: float = 300.0, floor: float = FLOOR, width: float = 360.0, colour=(200, 30, 30)) -> np.ndarray:
    """RGBA cut-out: a body and two tyres standing on `floor`, anti-aliased (sub-pixel positions move it)."""
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32) + 0.5
    r = 0.12 * width
    body = np.clip(np.minimum.reduce([xs - x0, x0 + width - xs, ys - (floor - 0.55 * width * 0.6),
                                      floor - r * 0.8 - ys]) + 0.5, 0, 1)
    tyres = np.zeros_like(body)
    for cx in (x0 + 0.2 * width, x0 + 0.8 * width):
        tyres = np.maximum(tyres, np.clip(r - np.hypot(xs - cx, ys - (floor - r)) + 0.5, 0, 1))
    alpha = np.maximum(body, tyres)
    rgb = np.where(tyres[..., None] > body[..., None], np.array([20, 20, 20]), np.array(colour))
    return np.dstack([rgb, np.round(alpha * 255)]).astype(np.uint8)


@pytest.fixture(scope="module")
def backdrop() -> np.ndarray:
    return studio_sweep(H, W)


def test_shadow_darkens_the_floor_under_the_car_and_nothing_above_the_floor_line(backdrop):
    car = drawn_car()
    plain = Studio(StudioLook())(car, backdrop).astype(int)
    shadowed = Studio(StudioLook(shadow=True))(car, backdrop).astype(int)
    darker = (plain - shadowed).mean(axis=2)
    assert (darker[:FLOOR] == 0).all(), "the shadow reached above the floor line"
    under_tyre = darker[FLOOR:FLOOR + 6, 300 + 72 - 10:300 + 72 + 10]
    assert under_tyre.min() > 40, f"too faint under the tyre: {under_tyre.min()}"
    under_body = darker[FLOOR + 2, 300 + 180]
    assert 5 < under_body < under_tyre.min(), "the body's edge is higher than the tyres: less shadow"
    assert darker[FLOOR + 2, 20] == 0 and darker[FLOOR + 2, W - 20] == 0, "shadow far beside the car"
    assert darker[FLOOR + 2:FLOOR + 60, 480].mean() > darker[FLOOR + 60:FLOOR + 120, 480].mean() > 0, \
        "the shadow must fade with distance"


def test_reflection_is_a_fading_mirror_of_the_car_below_the_floor_line(backdrop):
    car = drawn_car(colour=(220, 20, 20))
    plain = Studio(StudioLook())(car, backdrop).astype(int)
    mirrored = Studio(StudioLook(reflection=True))(car, backdrop).astype(int)
    change = np.abs(plain - mirrored).sum(axis=2)
    assert (change[:FLOOR] == 0).all(), "the reflection reached above the floor line"
    # below the line the red body's mirror image tints the floor red (between the tyres, the mirrored gap first)
    red = mirrored[FLOOR + 40, 480] - plain[FLOOR + 40, 480]
    assert red[1] < -5 and red[0] > red[1] + 5, red
    assert change[FLOOR + 40, 480] > change[FLOOR + 65, 480], "the reflection must fade"
    assert change[FLOOR + 40, 100] == 0, "no reflection where the car is not"


def test_fit_puts_the_box_in_place_on_every_frame_and_holds_a_steady_shot_still():
    look = StudioLook(fit=True, size=(1280, 720))
    studio = Studio(look)
    rng = np.random.default_rng(0)
    boxes, placements = [], []
    for k in range(40):  # a parked car, its matte's edges trembling by up to 0.4 px from frame to frame
        cut = drawn_car(x0=300 + rng.uniform(-0.4, 0.4), floor=FLOOR + rng.uniform(-0.4, 0.4),
                        width=360 + rng.uniform(-0.4, 0.4))
        placed = studio.place(cut, 1280, 720, k / 25)
        boxes.append(car_box(placed[..., 3]))
        placements.append(studio.last_fit @ np.array([[300, 660], [280, 400], [1, 1]]))  # the true box, placed
    want = fitted_box(1280, 720, look, aspect=boxes[0].width / boxes[0].height)
    for b in boxes:
        assert max(abs(b.x0 - want.x0), abs(b.x1 - want.x1), abs(b.y1 - want.y1)) < 3, (b, want)
    # the placement itself holds still: the matte's own trembling is not amplified into a wobble
    moves = [np.abs(a - b).max() for a, b in zip(placements[5:], placements[6:])]
    assert max(moves) < 1.0, f"the fitted car wobbles by {max(moves):.2f} px"


def test_fit_follows_a_moving_car():
    look = StudioLook(fit=True, size=(1280, 720))
    studio = Studio(look)
    for k in range(50):  # the car drives 3 px per frame across the input
        placed = studio.place(drawn_car(x0=200 + 3 * k), 1280, 720, k / 25)
        b = car_box(placed[..., 3])
        assert abs((b.x0 + b.x1) / 2 - 640) < 4, f"frame {k}: the fit lags the car ({(b.x0 + b.x1) / 2:.1f})"


def test_one_euro_smooths_noise_but_follows_steps():
    f = OneEuro(min_cutoff=0.2, beta=0.01)
    rng = np.random.default_rng(1)
    still = [f(np.array([100 + rng.normal(0, 0.5)]), k / 25)[0] for k in range(50)]
    assert np.std(np.diff(still[10:])) < 0.1
    moved = [f(np.array([300.0]), (50 + k) / 25)[0] for k in range(25)]
    assert abs(moved[-1] - 300) < 2, "after a second the filter must have followed the jump"


def test_without_a_car_the_backdrop_is_left_alone(backdrop):
    empty = np.zeros((H, W, 4), np.uint8)
    out = Studio(StudioLook(shadow=True, reflection=True, fit=True))(empty, backdrop)
    assert np.array_equal(out, backdrop)


def test_the_compositors_shadow_matches_the_studio_stage(backdrop):
    """The fast path: the shadow measured on the network's low-resolution matte and applied by the
    compositor in its one pass, against the studio stage's own (measured on the full matte)."""
    import torch

    from streamseg import composite
    from streamseg.cpu_compositor import CpuCompositor

    car = drawn_car()
    alpha_lr = torch.from_numpy(car[..., 3].astype(np.float32) / 255)[None, None]
    alpha_lr = torch.nn.functional.interpolate(alpha_lr, size=(H // 4, W // 4), mode="area")
    pixels = torch.from_numpy(np.ascontiguousarray(car[..., :3]))[None]
    small = composite.downscale(pixels.permute(0, 3, 1, 2), (H // 4, W // 4))
    bg = torch.from_numpy(np.ascontiguousarray(backdrop))[None]  # [1,H,W,3] uint8, as Background.batch gives
    want = Studio(StudioLook(shadow=True))(car, backdrop).astype(int)
    plain = Studio(StudioLook())(car, backdrop).astype(int)
    for make in (lambda: CpuCompositor("rgb", False, None), lambda: composite.TensorCompositor("rgb", False, None)):
        shade = [Studio(StudioLook(shadow=True)).shade(alpha_lr[0, 0].numpy(), W, H)]
        base = make()(pixels, small, alpha_lr, bg)[0].numpy().astype(int)
        got = make()(pixels, small, alpha_lr, bg, shade)[0].numpy().astype(int)
        floor = slice(FLOOR, FLOOR + 100)
        assert (base - got)[floor].mean() > 3, "the compositor did not darken the floor"
        assert np.abs((base - got) - (plain - want))[floor].mean() < 3, "the two shadows differ"
        assert np.array_equal(got[:FLOOR - 4], base[:FLOOR - 4]), "the shadow reached above the floor line"


# ---- through the command line: videos and photos


def test_run_has_a_shadow_over_the_studio_backdrop_by_default(clip, tmp_path):
    from conftest import cli, decode_all

    plain, shadowed = tmp_path / "plain.mp4", tmp_path / "shadow.mp4"
    assert cli("run", clip, "-o", plain, "--no-shadow").code == 0
    r = cli("run", clip, "-o", shadowed)
    assert r.code == 0 and "studio: shadow" in r.err, r.err
    a, _ = decode_all(plain)
    b, _ = decode_all(shadowed)
    darker = np.mean([(x.astype(int) - y.astype(int)).mean() for x, y in zip(a, b)])
    assert darker > 0.3, f"the default run drew no shadow ({darker:.2f} levels)"
    r = cli("run", clip, "-o", tmp_path / "green.mp4", "--bg", "green")
    assert r.code == 0 and "studio:" not in r.err, "the shadow is on by default only over the studio backdrop"


def test_run_fit_and_size_place_the_car_in_a_frame_of_that_size(clip, tmp_path):
    import av
    from conftest import cli

    out = tmp_path / "fit.mp4"
    r = cli("run", clip, "-o", out, "--fit", "--size", "320x240", "--reflection")
    assert r.code == 0, r.err
    assert "studio: shadow, reflection, fit, 320x240" in r.err
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert (s.width, s.height, s.frames) == (320, 240, 12)
    cut = tmp_path / "fit.webm"
    assert cli("run", clip, "-o", cut, "--fit", "--size", "320x240").code == 0
    from conftest import decode_all

    frames, _ = decode_all(cut, fmt="rgba", codec="libvpx-vp9")
    assert frames[0].shape == (240, 320, 4)
    bottoms = [np.flatnonzero(f[..., 3].max(axis=1) >= 128).max() for f in frames]
    assert max(abs(b - 0.84 * 240) for b in bottoms) <= 4, f"the car does not stand on the fit floor: {bottoms}"


def test_shadow_on_a_cut_out_is_refused(clip, tmp_path):
    from conftest import cli

    r = cli("run", clip, "-o", tmp_path / "x.webm", "--shadow")
    assert r.code == 2 and "--shadow is drawn on the backdrop" in r.err
    assert not (tmp_path / "x.webm").exists()


def test_photo_with_fit_and_size(tmp_path):
    from conftest import cli
    from PIL import Image
    from test_photos import picture

    src = tmp_path / "car.jpg"
    picture(640, 400).save(src)
    r = cli("run", src, "-o", tmp_path / "out.jpg", "--fit", "--size", "800x600", "--reflection")
    assert r.code == 0 and "studio: shadow, reflection, fit, 800x600" in r.err, r.err
    assert Image.open(tmp_path / "out.jpg").size == (800, 600)
    r = cli("run", src, "-o", tmp_path / "cut.png", "-f", "png", "--size", "320x200")
    assert r.code == 0 and Image.open(tmp_path / "cut.png").size == (320, 200)
