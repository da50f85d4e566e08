"""Number plates covered (streamseg.plates): corners from a detector's map, kept over time, painted over; and
`--plate` through the real runs (photo, video, the Python API) with the shipped detector."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from streamseg.errors import InputError
from streamseg.plates import PlateTracker, cover_plates, order_corners, parse_plate, plate_quads
from streamseg.synthetic import Car, scene
from tests.conftest import cli, decode_all
from tests.media import draw_plate

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
    prob[10:14, 10:90] = 1  # 20 times as long as high: a line of text, a kerb
    prob[100, 100] = 1  # a speck
    assert plate_quads(prob, 480, 640) == []
    prob[60:80, 100:120] = 1  # square: a two-line plate, or one cut by the frame's edge, is kept
    assert len(plate_quads(prob, 480, 640)) == 1


def test_pieces_of_one_plate_are_one_plate():
    prob = detector_map(TRUE)
    prob[:, 85:87] = 0  # a dark character breaks the detector's map of a large plate in two
    quads = plate_quads(prob, 480, 640)
    assert len(quads) == 1 and np.abs(quads[0] - TRUE).max() < 4.5


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


# -- the shipped detector, through the real runs ------------------------------------------------------------
FPS = 25


def plated_car(seed: int = 4, width: int = 1000, height: int = 540) -> tuple[np.ndarray, np.ndarray]:
    """A drawn car seen from the rear in a drawn scene, its plate drawn where a plate sits (on the bumper, about
    a quarter of the car's width), and the plate's corners."""
    rng = np.random.default_rng(seed)
    while True:
        car = Car.random(rng)
        if car.view != "side":
            break
    picture, mask = scene(rng, height, width, car=car)
    ys, xs = np.nonzero(mask > 127)
    span = xs.max() - xs.min() + 1
    centre = ((xs.min() + xs.max()) / 2, ys.max() - (car.clearance + 0.08) * span / 0.42)
    corners = order_corners(cv2.boxPoints(((float(centre[0]), float(centre[1])), (0.24 * span, 0.05 * span), 3.0)))
    return draw_plate(np.array(picture), corners), corners


def plate_area(corners: np.ndarray, shape: tuple[int, ...], grow: int = 0) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, np.round(corners).astype(np.int32), 1)
    return (cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) if grow else mask) > 0


@pytest.fixture(scope="module")
def plate_photo(tmp_path_factory) -> tuple[Path, np.ndarray]:
    picture, corners = plated_car()
    path = tmp_path_factory.mktemp("plates") / "car.png"
    Image.fromarray(picture[:, :960]).save(path)
    return path, corners


def test_the_shipped_detector_fills_a_plate_in_a_photo_and_nothing_else(plate_photo, tmp_path):
    path, corners = plate_photo
    # a cut-out: its colour is the frame's own where the car is, whatever the matte's opacity there
    r = cli("run", str(path), "-o", str(tmp_path / "filled.png"), "-f", "png", "--plate", "colour")
    assert r.code == 0, r.err
    assert "plates filled on 1 of 1 frames" in r.err
    assert cli("run", str(path), "-o", str(tmp_path / "plain.png"), "-f", "png").code == 0
    filled, plain = (np.asarray(Image.open(tmp_path / n)).astype(int) for n in ("filled.png", "plain.png"))
    plate = plate_area(corners, filled.shape)
    assert (np.abs(filled[plate][:, :3] - 40).max(1) <= 6).mean() > 0.97  # the dark grey fill, all over the plate
    assert plain[plate][:, :3].mean() > 150  # without --plate the white plate is there
    far = ~plate_area(corners, filled.shape, grow=24)
    assert np.abs(filled[far] - plain[far]).max() <= 2  # and nothing else changed
    # the matte is drawn from the photo as taken (the edge stage, on for photos, reaches 70 px around the plate)
    assert np.array_equal(filled[..., 3], plain[..., 3])


def test_a_plate_is_blurred_in_every_frame_of_a_video_through_the_api(tmp_path):
    from streamseg.api import convert

    picture, corners = plated_car()
    frames = 12
    path = tmp_path / "car.mp4"
    with av.open(str(path), "w") as out:  # the camera pans 3 px a frame: the plate moves across the picture
        stream = out.add_stream("libx264", rate=FPS, options={"crf": "12"})
        stream.width, stream.height, stream.pix_fmt = 960, 540, "yuv420p"
        for i in range(frames):
            window = np.ascontiguousarray(picture[:, 3 * i:3 * i + 960])
            out.mux(stream.encode(av.VideoFrame.from_ndarray(window, format="rgb24")))
        out.mux(stream.encode())
    summary = convert(path, tmp_path / "out.mp4", plate="blur")
    assert summary.plates == f"plates blurred on {frames} of {frames} frames"
    written, _ = decode_all(tmp_path / "out.mp4", "rgb24")
    assert len(written) == frames
    for i, image in enumerate(written):
        plate = plate_area(corners - np.float32([3 * i, 0]), image.shape)
        grey_out, grey_in = image[plate].mean(1), picture[:, 3 * i:3 * i + 960][plate].mean(1)
        assert grey_out.std() < 0.3 * grey_in.std(), (i, grey_out.std(), grey_in.std())  # the characters are gone


def test_the_python_api_and_the_command_take_the_same_plate_option(plate_photo):
    from streamseg.api import OPTIONS, Segmenter, convert

    path, corners = plate_photo
    assert "plate" in OPTIONS
    with Segmenter(backend="cpu") as seg:
        out = seg.cutout(np.asarray(Image.open(path)), plate="#ff0000")
    plate = plate_area(corners, out.shape)
    assert (np.abs(out[plate][:, :3].astype(int) - (255, 0, 0)).max(1) <= 6).mean() > 0.97
    with pytest.raises(InputError, match="blur, colour"):
        convert(path, path.with_name("x.png"), plate="nope")
    r = cli("run", str(path), "--plate", "nope")
    assert r.code == 2 and "--plate 'nope'" in r.err
