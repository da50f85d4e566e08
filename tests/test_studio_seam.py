"""One compositor/studio seam (issue 25): the contact shadow is measured once, on the network's low-resolution
matte mapped into the output frame, and drawn by one function, whichever path the options take (the
compositor's own pass for the shadow alone, the cut-out path for --fit, --size and --reflection)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_studio import FLOOR, H, W, drawn_car

from streamseg import composite
from streamseg.background import Background
from streamseg.batching import FrameBatch
from streamseg.cpu_compositor import CpuCompositor
from streamseg.pipeline import Inferred, composite_batch
from streamseg.studio import StudioLook, StudioStage

LR = (128, 224)  # the network's matte: coarser than a quarter of the frame, and not an exact fraction of it
COMPOSITORS = {"cpu": CpuCompositor, "tensor": composite.TensorCompositor}


def inferred(frames: int = 1) -> Inferred:
    """The drawn car over a grey street as the decoded frames, and its true matte at the network's size as
    a perfect network's output: the compositor then refines it against the frame's own edges, so the
    full-resolution matte is not the low-resolution one upsampled (as with a real network)."""
    car = drawn_car()
    a = car[..., 3:].astype(np.float32) / 255
    frame = np.round(car[..., :3] * a + np.array([90, 95, 100]) * (1 - a)).astype(np.uint8)
    pixels = torch.from_numpy(np.stack([frame] * frames))
    truth = torch.from_numpy(car[..., 3].astype(np.float32) / 255)[None, None].repeat(frames, 1, 1, 1)
    alpha_lr = composite.downscale(truth, LR)
    small = composite.downscale(pixels.permute(0, 3, 1, 2), LR)
    batch = FrameBatch(pixels, list(range(frames)), [0.0] * frames, 0)
    return Inferred(batch, pixels, small, alpha_lr)


def run(look: StudioLook, kind: str, x: Inferred | None = None) -> np.ndarray:
    """The composite of the drawn car over the studio backdrop with this look, as a run makes it: [H',W',3] int."""
    x = x or inferred()
    studio = StudioStage(look, "rgb", 1 / 25) if look.active else None
    layers = "rgba" if studio is not None and studio.cutout else "rgb"
    width, height = look.size or (W, H)
    bg = Background("studio", height, width, torch.device("cpu"))
    out = composite_batch(x, bg, COMPOSITORS[kind](layers, True, None, look.shadow_colour), studio)
    return out[-1].numpy().astype(int)


@pytest.mark.parametrize("kind", COMPOSITORS)
def test_a_reflection_of_no_opacity_leaves_the_shadow_as_it_was(kind):
    """--reflection takes the cut-out path; the shadow it draws must be the shadow-only path's, measured on
    the same matte (before issue 25 it was re-measured on the refined full-resolution cut-out)."""
    plain = run(StudioLook(), kind)
    shadow = run(StudioLook(shadow=True), kind)
    both = run(StudioLook(shadow=True, reflection=True, reflection_opacity=0), kind)
    assert (plain - shadow)[FLOOR:FLOOR + 60].mean() > 3, "no shadow drawn"
    diff = np.abs(both - shadow)
    assert diff.max() <= 2, f"the shadow changed with --reflection: {diff.max()} levels, {(diff > 2).sum()} px"


@pytest.mark.parametrize("kind", COMPOSITORS)
def test_the_cut_out_path_draws_the_shadow_the_compositor_draws(kind):
    """--size at the input's own size goes through the cut-out path (place, then lay over the backdrop);
    without it the compositor draws the shadow in its pass. One measurement, one drawing: one picture."""
    fused = run(StudioLook(shadow=True), kind)
    cut = run(StudioLook(shadow=True, size=(W, H)), kind)
    diff = np.abs(cut - fused)
    assert diff.max() <= 2, f"{diff.max()} levels apart, {(diff > 2).sum()} px"


def test_with_fit_the_shadow_is_measured_where_the_car_was_placed():
    """--fit moves the car: the shadow (measured on the low-resolution matte, taken through the same fit
    transform) starts at the placed car's floor line and lies under the placed car only."""
    look = StudioLook(fit=True, size=(640, 360))
    x = inferred(frames=3)
    plain = run(look, "cpu", x)
    shadowed = run(StudioLook(shadow=True, fit=True, size=(640, 360)), "cpu", x)
    darker = (plain - shadowed).mean(axis=2)
    floor = look.fit_floor * 360  # where the fit puts the car's lowest point
    rows = np.flatnonzero(darker.max(axis=1) > 1)
    assert abs(rows[0] - floor) <= 2, f"the shadow starts at row {rows[0]}, the placed car stands on {floor:.1f}"
    assert (darker[:int(floor) - 2] <= 1).all(), "the shadow reached above the placed car's floor line"
    cols = np.flatnonzero(darker[int(floor) + 2] > 5)
    placed = (640 * (1 - look.fit_width) / 2, 640 * (1 + look.fit_width) / 2)  # the fitted box across
    spread = look.shadow_spread * (placed[1] - placed[0])  # the ambient shadow's reach beyond the car
    assert placed[0] - spread < cols[0] and cols[-1] < placed[1] + spread, (cols[0], cols[-1], placed)
    assert abs((cols[0] + cols[-1]) / 2 - 320) < 4, "the shadow is not centred under the placed car"
    assert cols[-1] - cols[0] > 0.6 * (placed[1] - placed[0]), "the shadow does not reach both tyres"


@pytest.mark.parametrize("kind", COMPOSITORS)
def test_the_shadow_takes_the_backdrops_colour_on_every_path(kind):
    """A drawn backdrop names the colour of full shadow on its floor (background.PRESETS): the shadow moves
    the floor towards it, the same in the compositor's pass and the cut-out path."""
    plain = run(StudioLook(), kind)
    red = StudioLook(shadow=True, shadow_colour=(230, 20, 20))
    fused = run(red, kind)
    cut = run(StudioLook(shadow=True, shadow_colour=(230, 20, 20), reflection=True, reflection_opacity=0), kind)
    floor = (slice(FLOOR, FLOOR + 40), slice(W // 3, 2 * W // 3))
    warmer = (fused[floor][..., 0] - fused[floor][..., 1]).mean() - (plain[floor][..., 0] - plain[floor][..., 1]).mean()
    assert warmer > 20, f"the shadow did not move the floor towards its colour ({warmer:.1f} levels)"
    assert np.abs(cut - fused).max() <= 2, "the cut-out path drew another shadow"
    black = run(StudioLook(shadow=True), kind)
    assert (black[floor].mean(-1) < plain[floor].mean(-1) - 3).mean() > 0.5, "black shadow: the floor darker"
