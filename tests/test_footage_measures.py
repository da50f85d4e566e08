"""The measures scripts/measure_footage.py scores real footage by (issue 27): where there are no masks, the warping
error is small for a matte that moves with the picture and large for one that flickers, and the box measures
tell the followed car from a matte that takes more; where there are masks, pixels the truth leaves unmarked
(CDnet's car outlines) do not count."""

from __future__ import annotations

import numpy as np

from scripts.measure_footage import box_scores, clip_scores, warping_error


def panning(frames: int = 6, step: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A textured scene panned `step` px a frame, grey [T,H,W] uint8, and a square fixed to the scene [T,H,W]."""
    rng = np.random.default_rng(0)
    scene = (rng.random((72, 160)) * 255).astype(np.uint8)
    scene = np.repeat(np.repeat(scene[::4, ::4], 4, 0), 4, 1)  # blobs the flow can follow
    grey = np.stack([scene[:, t * step:t * step + 96] for t in range(frames)])
    alpha = np.zeros(grey.shape, np.float32)
    for t in range(frames):
        alpha[t, 20:50, 40 - t * step:70 - t * step] = 1
    return grey, alpha


def test_a_matte_that_moves_with_the_picture_has_a_small_warping_error():
    grey, alpha = panning()
    flicker = alpha.copy()
    flicker[1::2] = 0  # the car gone every second frame
    steady, flickering = warping_error(alpha, grey), warping_error(flicker, grey)
    moved = 100 * np.abs(np.diff(alpha, axis=0)).mean()  # what the motion alone changes: not an error
    assert steady < 0.05 * moved and flickering > moved, (steady, moved, flickering)


def test_box_measures():
    alpha = np.zeros((2, 100, 100), np.float32)
    alpha[:, 20:60, 30:80] = 1
    boxes = [[30, 20, 50, 40], None]
    exact = box_scores(alpha, boxes)
    assert exact["box_iou"] == 1 and exact["box_covered"] == 1 and exact["outside_box"] == 0
    assert exact["boxed_frames"] == 1
    alpha[:, 80:95, 0:10] = 1  # a second thing kept with the car
    more = box_scores(alpha, boxes)
    assert more["box_iou"] < 0.7 and more["outside_box"] == 150 / 2000


def test_pixels_the_truth_leaves_unmarked_do_not_count():
    truth = np.zeros((3, 40, 40), bool)
    truth[:, 10:30, 10:30] = True
    scored = np.ones_like(truth)
    scored[:, 8:32, 8:32] = False  # a ring 2 px each side of the outline unmarked
    scored[:, 12:28, 12:28] = True
    alpha = truth.astype(np.float32)
    alpha[:, 8:32, 8:32] = 1  # a matte 2 px wider all round: only the unmarked ring differs
    alpha[1, 8:10, 8:32] = 0  # and it flickers there alone
    exact = clip_scores(alpha, truth, scored)
    assert exact["iou"] == 1 and exact["temporal_error"] == 0, exact
    counted = clip_scores(alpha, truth)
    assert counted["iou"] < 0.9 and counted["temporal_error"] > 0, counted
