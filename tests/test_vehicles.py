"""--vehicles subject|all: the subject car kept, a second car dropped (subject) or kept (all), in videos and
photos, through the real model; and the tracker's rules on drawn mattes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from streamseg.sample import SampleSpec, car_frames, parked_car, write_sample
from streamseg.synthetic import street
from streamseg.vehicles import SubjectTracker
from tests.conftest import cli, decode_all

# a car driving in front and a second one parked up to the right, apart from it
TWO_CARS = SampleSpec(width=640, height=360, frames=10, fps=25, seed=3, parked=0.3, travel=0.15, audio=None)


@pytest.fixture(scope="module")
def two_cars(tmp_path_factory) -> tuple[Path, list[np.ndarray], np.ndarray]:
    """The clip, the driving car's true masks, and the parked car's mask."""
    path = tmp_path_factory.mktemp("vehicles") / "two.mp4"
    masks = write_sample(path, TWO_CARS, keep_masks=True)
    rng = np.random.default_rng(TWO_CARS.seed)
    _, parked = parked_car(TWO_CARS, street(rng, TWO_CARS.height, TWO_CARS.width))
    return path, masks, parked > 0.5


def mean_over(matte: np.ndarray, mask: np.ndarray) -> float:
    return float(matte[mask].mean() / 255)


@pytest.mark.parametrize("vehicles", ["subject", "all"])
def test_two_cars_in_a_video(two_cars, tmp_path, vehicles):
    path, masks, parked = two_cars
    out = tmp_path / "matte.mp4"
    r = cli("run", str(path), "-o", str(out), "-f", "matte", "--vehicles", vehicles)
    assert r.code == 0, r.out
    frames, _ = decode_all(out, "gray")
    assert len(frames) == len(masks)
    for matte, mask in zip(frames, masks):
        assert mean_over(matte, mask > 0.5) > 0.85  # the driving car, whole, either way
        if vehicles == "subject":
            assert mean_over(matte, parked) < 0.05  # the parked car is background
        else:
            assert mean_over(matte, parked) > 0.6  # every vehicle is kept
    expected = "kept the subject vehicle; others removed in 10 of 10 frames" if vehicles == "subject" \
        else "kept every vehicle"
    assert expected in r.err


def test_subject_is_the_default_for_photos(two_cars, tmp_path):
    _, masks, parked = two_cars
    rgb, _ = next(car_frames(TWO_CARS))
    photo = tmp_path / "lot.png"
    Image.fromarray(rgb).save(photo)
    r = cli("run", str(photo), "-o", str(tmp_path / "matte.png"), "-f", "matte")
    assert r.code == 0, r.out
    matte = np.asarray(Image.open(tmp_path / "matte.png").convert("L"))
    assert mean_over(matte, masks[0] > 0.5) > 0.85
    assert mean_over(matte, parked) < 0.05
    assert "kept the subject vehicle" in r.err


def blob(h: int, w: int, y: int, x: int, ry: int, rx: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (((yy - y) / ry) ** 2 + ((xx - x) / rx) ** 2 <= 1).astype(np.float32)


def test_the_subject_is_followed_not_the_most_prominent():
    """The first frame's subject is its large, central car; a bigger, more central car that comes in later,
    apart from it, stays background: the subject is followed, not chosen again each frame."""
    tracker = SubjectTracker()
    h, w = 64, 112
    out = tracker.keep(blob(h, w, 32, 40, 12, 20) + blob(h, w, 8, 100, 4, 6))
    assert out[32, 40] == 1 and out[8, 100] == 0  # large and central wins
    for step in range(1, 6):  # the subject drifts left; a bigger car stands right of the centre
        x = 40 - 2 * step
        out = tracker.keep(np.clip(blob(h, w, 32, x, 12, 20) + blob(h, w, 34, 85, 20, 22), 0, 1))
        assert out[32, x] == 1 and out[34, 85] == 0, step
    assert tracker.cleared == 6 and tracker.found == 2


def test_a_cut_chooses_afresh_and_split_pieces_stay():
    tracker = SubjectTracker()
    h, w = 64, 112
    tracker.keep(blob(h, w, 32, 30, 12, 20))
    # the old subject is gone (a cut): the new frame's subject is its most prominent vehicle
    frame = blob(h, w, 32, 80, 14, 24) + blob(h, w, 8, 10, 5, 8)
    out = tracker.keep(frame)
    assert out[32, 80] == 1 and out[8, 10] == 0
    # a piece split off the subject by a thin gap (a mirror behind a post) stays with it
    frame = blob(h, w, 32, 80, 14, 24)
    frame[:, 96:98] = 0
    out = tracker.keep(frame)
    assert out[32, 100] == 1 and out[32, 75] == 1


def test_a_car_that_comes_to_touch_the_subject_stays_out():
    """A car passing behind the subject joins its region for a few frames: it is split off again, by which
    vehicle each pixel was nearer to in the frame before."""
    tracker = SubjectTracker()
    h, w = 64, 112
    for step in range(10):
        x = 100 - 4 * step  # the passer drives left (4 px a frame here: 17 at 1080p), into the subject's end
        frame = np.clip(blob(h, w, 36, 40, 14, 26) + blob(h, w, 24, x, 8, 14), 0, 1)
        out = tracker.keep(frame)
        assert out[36, 40] == 1
        assert out[24, x] == 0, step
