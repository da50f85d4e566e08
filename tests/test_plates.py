"""Number plates covered (streamseg.plates): corners from a detector's map, kept over time, painted over."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from streamseg.errors import InputError
from streamseg.plates import PlateTracker, cover_plates, order_corners, parse_plate, plate_quads

# a plate 120x30 px turned 12 degrees, as a three-quarter view shows it, in a 640x480 frame
TRUE = order_corners(cv2.boxPoints(((300.0, 260.0), (120.0, 30.0), 12.0)))


def detector_map(corners: np.ndarray, scale: int = 4) -> np.ndarray:
    """What a perfect detector at a quarter of the frame's size gives: the share of each pixel that is plate."""
    full = np.zeros((480, 640), np.float32)
    cv2.fillConvexPoly(full, np.round(corners * 16).astype(np.int32), 1.0, shift=4)
    return cv2.resize(full, (640 // scale, 480 // scale), interpolation=cv2.INTER_AREA)


def test_plate_corners_come_back_within_a_detector_pixel():
    quads = plate_quads(detector_map(TRUE), 480, 640)
    assert len(quads) == 1
    assert np.abs(quads[0] - TRUE).max() < 4.5, (quads[0], TRUE)  # one detector pixel is 4 frame pixels


def test_blobs_that_are_not_plate_shaped_are_dropped():
    prob = np.zeros((120, 160), np.float32)
    prob[10:40, 10:40] = 1  # square: a sign, a wheel
    prob[100, 100] = 1  # a speck
    assert plate_quads(prob, 480, 640) == []


def test_a_plate_missed_for_a_few_frames_stays_covered_then_goes():
    tracker = PlateTracker(hold=3)
    assert len(tracker.update([TRUE])) == 1
    for _ in range(3):  # missed three times: still covered where it was
        held = tracker.update([])
        assert len(held) == 1 and np.abs(held[0] - TRUE).max() < 1e-4
    assert tracker.update([]) == []


def test_a_parked_plate_is_steadier_than_its_detections_and_a_second_plate_is_its_own():
    rng = np.random.default_rng(0)
    tracker = PlateTracker()
    shown = []
    for _ in range(30):
        shown.append(tracker.update([TRUE + rng.normal(0, 2, TRUE.shape).astype(np.float32)])[0])
    steps = np.abs(np.diff(np.stack(shown[10:]), axis=0)).mean()
    assert steps < 2.0 * 0.85, steps  # detections jump about 2.3 px a frame per corner on average
    other = TRUE + np.float32([250, 100])
    assert len(tracker.update([TRUE, other])) == 2


@pytest.fixture
def frame() -> np.ndarray:
    rng = np.random.default_rng(1)
    picture = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    cv2.fillConvexPoly(picture, np.round(TRUE).astype(np.int32), (235, 235, 235))
    cv2.putText(picture, "AB12 CDE", (245, 272), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (20, 20, 20), 3)  # the characters
    return picture


def inside_mask(corners: np.ndarray) -> np.ndarray:
    mask = np.zeros((480, 640), np.uint8)
    cv2.fillConvexPoly(mask, np.round(corners).astype(np.int32), 1)
    return mask > 0


def test_blur_hides_the_plate_and_leaves_the_rest(frame):
    before = frame.copy()
    cover_plates(frame, [TRUE], parse_plate("blur"))
    inside = inside_mask(TRUE)
    far = cv2.dilate(inside.astype(np.uint8), np.ones((41, 41), np.uint8)) == 0
    assert frame[inside].std() < 0.25 * before[inside].std()  # the characters' contrast is gone
    assert np.array_equal(frame[far], before[far])


def test_colour_fills_the_plate(frame):
    cover_plates(frame, [TRUE], parse_plate("#203040"))
    assert (frame[inside_mask(TRUE)] == (0x20, 0x30, 0x40)).all()


def test_a_logo_lies_in_the_plates_perspective(frame, tmp_path):
    logo = np.zeros((50, 200, 4), np.uint8)
    logo[..., 0], logo[..., 3] = 255, 255  # red, opaque
    logo[:, :100, 1] = 255  # left half yellow: which way round it lies is visible
    Image.fromarray(logo).save(tmp_path / "logo.png")
    cover_plates(frame, [TRUE], parse_plate(str(tmp_path / "logo.png")))
    left = (TRUE[0] * 3 + TRUE[1] + TRUE[2] + TRUE[3] * 3) / 8  # a point in the left part of the plate
    right = (TRUE[0] + TRUE[1] * 3 + TRUE[2] * 3 + TRUE[3]) / 8
    assert tuple(frame[int(left[1]), int(left[0])]) == (255, 255, 0)
    assert tuple(frame[int(right[1]), int(right[0])]) == (255, 0, 0)


def test_plate_option_errors_name_the_fix(tmp_path):
    assert parse_plate("colour").colour is not None
    with pytest.raises(InputError, match="blur, colour"):
        parse_plate(str(tmp_path / "missing.png"))
    (tmp_path / "bad.png").write_bytes(b"not a picture")
    with pytest.raises(InputError, match="PNG or JPEG"):
        parse_plate(str(tmp_path / "bad.png"))
