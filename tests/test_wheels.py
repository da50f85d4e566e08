"""The floor line through the wheels (issue 26): the contact points found on the matte's lower contour, the
floor line fitted through them (tilted in a three-quarter view), the contact shadow and the reflection drawn
along it. On drawn cars whose wheels stand on known points, in side, front and three-quarter views."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamseg.background import studio_sweep
from streamseg.studio import Studio, StudioLook, shrink

H, W = 360, 640
UP = 8  # drawn at 8x and averaged down: anti-aliased edges, so sub-pixel positions move the matte

# a view: the body's outline (x, y) and the tyres as (contact x, contact y, half width, half height): an ellipse
# standing on its contact point. The body's lower edge is lifted above every contact, as a car's sills are.
VIEWS = {
    "side": ([(140, 268), (140, 215), (230, 205), (280, 160), (420, 160), (470, 205), (500, 215), (500, 268)],
             [(210, 290, 32, 32), (430, 290, 32, 32)]),
    "front": ([(220, 262), (222, 190), (260, 140), (380, 140), (418, 190), (420, 262)],
              [(250, 290, 18, 30), (390, 290, 18, 30)]),
    # the near front wheel lowest, the near rear higher (further away), the far wheels higher still and smaller
    "three_quarter": ([(150, 255), (155, 200), (250, 180), (320, 130), (470, 130), (530, 175), (540, 238)],
                      [(200, 300, 26, 34), (470, 284, 22, 30), (262, 270, 18, 25), (528, 262, 15, 21)]),
}
FAR = [(262, 270), (528, 262)]  # the three-quarter view's far wheels


def drawn(view: str, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """RGBA [H,W,4] uint8: the view's car (red body, near-black tyres) moved by (dx, dy) pixels."""
    body, tyres = VIEWS[view]
    alpha = np.zeros((H * UP, W * UP), np.uint8)
    dark = np.zeros_like(alpha)
    pts = np.round((np.array(body, np.float64) + (dx, dy)) * UP).astype(np.int32)
    cv2.fillPoly(alpha, [pts], 255)
    for x, y, rx, ry in tyres:
        centre = (round((x + dx) * UP), round((y + dy - ry) * UP))
        for layer in (alpha, dark):
            cv2.ellipse(layer, centre, (rx * UP, ry * UP), 0, 0, 360, 255, -1)
    small = [cv2.resize(m, (W, H), interpolation=cv2.INTER_AREA) for m in (alpha, dark)]
    t = small[1][..., None].astype(np.float32) / 255
    rgb = np.array([200, 30, 30]) * (1 - t) + np.array([20, 20, 20]) * t
    return np.dstack([np.round(rgb), small[0]]).astype(np.uint8)


SHADOW = StudioLook(shadow=True)


def grounded(view: str, look: StudioLook = SHADOW):
    car = drawn(view)
    return car, Studio(look).ground(shrink(car[..., 3]), (W, H), (W, H), 0.0)


@pytest.mark.parametrize("view", VIEWS)
def test_each_wheels_contact_point_is_found(view):
    _, ground = grounded(view)
    want = np.array([(x, y) for x, y, _, _ in VIEWS[view][1]], np.float64)
    got = ground.contacts
    assert len(got) == len(want), f"{len(got)} contact points found, {len(want)} wheels: {got.round(1)}"
    for x, y in want:
        miss = np.hypot(*(got - (x, y)).T).min()
        assert miss < 3, f"the wheel standing on ({x}, {y}) measured {miss:.1f} px away: {got.round(1)}"


@pytest.mark.parametrize("view", VIEWS)
def test_the_floor_line_runs_through_the_contacts_and_no_shadow_is_above_it(view):
    car, ground = grounded(view)
    for x, y, _, _ in VIEWS[view][1]:
        assert abs(ground.floor[x] - y) < 3, f"the floor line is at {ground.floor[x]:.1f} under the wheel at {y}"
    backdrop = studio_sweep(H, W)
    darker = (Studio(StudioLook())(car, backdrop).astype(int)
              - Studio(StudioLook(shadow=True))(car, backdrop).astype(int)).mean(axis=2)
    above = np.arange(H)[:, None] + 0.5 < ground.floor[None]
    assert (darker[above] == 0).all(), f"shadow above the floor line at {np.argwhere(above & (darker != 0))[:5]}"
    assert darker[~above].max() > 40, "no shadow drawn"


def test_the_far_wheels_get_a_contact_shadow():
    """In a three-quarter view the far wheels stand higher in the picture: with one level line under the
    lowest wheel they got none (they seemed to float); on the floor line through them they get their own."""
    _, ground = grounded("three_quarter")
    first, band = ground.shadow
    near = band[300 + 1 - first:300 + 4 - first, 200 - 3:200 + 4].mean()
    for x, y in FAR:
        patch = band[y + 1 - first:y + 4 - first, x - 3:x + 4]
        assert patch.shape[0] == 3 and patch.mean() > 0.3, f"far wheel at ({x}, {y}): darkening {patch.mean():.2f}"
        assert patch.mean() > 0.5 * near, "the far wheel's shadow is much fainter than the near wheel's"
    between = band[290 - first, 330:420].mean()  # under the body, between the wheels: the dark under the car
    assert between > 0.1, f"no shadow under the body ({between:.2f})"


def test_the_reflection_is_mirrored_about_the_tilted_floor_line():
    """Below the near rear wheel, which stands higher than the near front one, the tyre's dark mirror image
    starts right under its contact (a level line through the lowest wheel left a gap there)."""
    car, ground = grounded("three_quarter", StudioLook(reflection=True))
    backdrop = studio_sweep(H, W)
    plain = Studio(StudioLook())(car, backdrop).astype(int)
    mirrored = Studio(StudioLook(reflection=True))(car, backdrop).astype(int)
    change = np.abs(plain - mirrored).sum(axis=2)
    above = np.arange(H)[:, None] + 0.5 < ground.floor[None]
    assert (change[above] == 0).all(), "the reflection reached above the floor line"
    under = (mirrored - plain)[284 + 2:284 + 6, 470 - 4:470 + 5].mean()
    assert under < -20, f"no dark tyre mirrored right under the near rear wheel ({under:.1f} levels)"


def test_a_parked_car_stands_still_on_its_floor_line():
    """The matte trembles by up to a pixel from frame to frame; the floor line must move less than a pixel
    per frame and stay on the wheels."""
    studio = Studio(StudioLook(shadow=True))
    rng = np.random.default_rng(7)
    floors = []
    for k in range(30):
        car = drawn("three_quarter", *rng.uniform(-1, 1, 2))
        floors.append(studio.ground(shrink(car[..., 3]), (W, H), (W, H), k / 25).floor)
    columns = slice(180, 550)  # under the car
    moves = [np.abs(a - b)[columns].max() for a, b in zip(floors, floors[1:])]
    assert max(moves) < 1.0, f"the floor line moves by {max(moves):.2f} px in a frame"
    for x, y, _, _ in VIEWS["three_quarter"][1]:
        assert abs(floors[-1][x] - y) < 3


def test_the_floor_line_follows_a_car_coming_closer():
    """Steady is not stuck: a car rolling down the picture by 2 px a frame keeps its wheels on the line."""
    studio = Studio(StudioLook(shadow=True))
    for k in range(25):
        ground = studio.ground(shrink(drawn("side", dy=2 * k - 24)[..., 3]), (W, H), (W, H), k / 25)
        if k > 5:
            assert abs(ground.floor[210] - (290 + 2 * k - 24)) < 3, f"frame {k}: the floor line lags the wheels"
