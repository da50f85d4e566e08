"""Drawn number plates with exact positions, the second half of the plate detector's training data (issue 26).

    python -m training.drawn_plates --out data/plates_drawn --count 800 --scenery data/scenery
    python -m training.drawn_plates --negatives data/plates_negatives --carvana data/carvana --count 300

The photographs with marked plates (`training.plates`) show a few thousand plates of a few countries, marked
by axis-aligned boxes. These add plates of many styles (long European white, US 2:1, yellow, dark, coloured
characters), steep perspective and blur, each with its exact four corners:
- half of the pictures: a drawn car (`streamseg.synthetic`) seen from the front or the rear over a drawn or
  photographed background, its plate on the bumper where the drawing leaves a plate's place;
- half: a car-free scenery photograph (`scripts/make_scenery_photos.py`) with one to three plates laid on it,
  so a plate is told by its own look, not by the drawn car around it.
Written in the images/ + masks/ layout at the detector's input size (384x672), like `training.plates --train-size`.

`--negatives`: pictures with no plate at all, so that wheels, lights and badges are not taken for one (the
first detector covered the wheels of drawn cars seen from the side): real cars seen exactly from the side in
the Carvana studio (views 05 and 13 of the training cars, `training.carvana`; no plate shows from there; Kaggle
competition data, no licence stated) and drawn cars from the side over drawn or photographed backgrounds.
"""

from __future__ import annotations

import argparse
import string
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from streamseg.synthetic import Car, camera, scene

STYLES = (  # (plate, characters, width / height)
    ((245, 245, 240), (20, 20, 20), 4.7),  # European
    ((250, 210, 40), (20, 20, 20), 4.7),  # yellow (British rear, Dutch)
    ((240, 240, 245), (30, 40, 120), 2.0),  # US: blue characters
    ((240, 240, 240), (150, 20, 30), 2.0),  # US: red characters
    ((25, 25, 28), (235, 235, 235), 4.0),  # dark with white characters
    ((245, 245, 240), (20, 20, 20), 3.3),  # shorter European and Asian
)
FONTS = (cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN)
SIZE = (384, 672)


def plate_picture(rng: np.random.Generator) -> np.ndarray:
    """A flat plate, [h,w,3] uint8: its colour, rim, and a random registration."""
    ground, ink, aspect = STYLES[rng.integers(len(STYLES))]
    h = 120
    w = int(h * aspect)
    plate = np.empty((h, w, 3), np.uint8)
    plate[:] = np.clip(np.array(ground) + rng.normal(0, 8, 3), 0, 255)
    cv2.rectangle(plate, (3, 3), (w - 4, h - 4), tuple(int(v) for v in ink), int(rng.integers(2, 7)))
    if aspect > 3 and rng.random() < 0.5:  # the blue band of European plates
        cv2.rectangle(plate, (4, 4), (int(h * 0.33), h - 5), (30, 60, 170), -1)
    letters = string.ascii_uppercase + string.digits
    count = int(rng.integers(5, 9)) if aspect > 3 else int(rng.integers(4, 7))
    text = "".join(rng.choice(list(letters), count))
    if rng.random() < 0.5:
        text = text[: count // 2] + " " + text[count // 2:]
    font = FONTS[rng.integers(len(FONTS))]
    left = int(h * 0.4) if aspect > 3 else int(h * 0.15)
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, 2)
    scale = min((w - left - 12) / tw, h * 0.62 / th)
    thickness = max(2, int(scale * rng.uniform(1.8, 3.2)))
    cv2.putText(plate, text, (left, int(h / 2 + th * scale / 2)), font, scale, tuple(int(v) for v in ink),
                thickness, cv2.LINE_AA)
    return plate


def lay_plate(img: np.ndarray, mask: np.ndarray, centre: tuple[float, float], width: float,
              rng: np.random.Generator, turn: float = 0.6) -> None:
    """Draw a random plate into img [H,W,3] uint8 and its area into mask [H,W] uint8 (both in place), centred
    at `centre`, `width` px wide, seen from up to `turn` (radians) aside: a homography of its four corners."""
    plate = plate_picture(rng)
    ph, pw = plate.shape[:2]
    height = width * ph / pw
    yaw, roll = rng.uniform(-turn, turn), rng.uniform(-0.12, 0.12)
    half_w, half_h = width / 2 * np.cos(yaw), height / 2
    near = 1 + abs(np.sin(yaw)) * rng.uniform(0.05, 0.25)  # the nearer side looks taller
    hl, hr = (half_h * near, half_h) if yaw > 0 else (half_h, half_h * near)
    corners = np.array([[-half_w, -hl], [half_w, -hr], [half_w, hr], [-half_w, hl]])
    rot = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]])
    corners = (corners @ rot.T + np.array(centre)).astype(np.float32)
    warp = cv2.getPerspectiveTransform(np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32), corners)
    H, W = img.shape[:2]
    drawn = cv2.warpPerspective(plate, warp, (W, H), flags=cv2.INTER_AREA)
    inside = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), warp, (W, H), flags=cv2.INTER_AREA)
    shade = rng.uniform(0.55, 1.1)  # in shadow or sun
    a = inside[..., None].astype(np.float32) / 255
    img[:] = np.clip(img * (1 - a) + drawn * shade * a, 0, 255).astype(np.uint8)
    np.maximum(mask, inside, out=mask)


def car_picture(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A drawn car from the front or rear with its plate: (image, plate mask) at SIZE."""
    while True:
        car = Car.random(rng)
        if car.view != "side":
            break
    img, car_mask = scene(rng, *SIZE, car=car)
    img = np.array(img)
    plates = np.zeros(SIZE, np.uint8)
    ys, xs = np.nonzero(car_mask > 127)
    if len(xs) > 50:
        cw = xs.max() - xs.min() + 1
        centre = ((xs.min() + xs.max()) / 2, ys.max() - (car.clearance + 0.08) * cw / 0.42)
        lay_plate(img, plates, centre, cw * rng.uniform(0.2, 0.27), rng, turn=0.3)
    return img, plates


def scenery_picture(rng: np.random.Generator, photos: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """A scenery photograph with one to three plates on it: (image, plate mask) at SIZE."""
    with Image.open(photos[rng.integers(len(photos))]) as im:
        img = np.array(im.convert("RGB").resize(SIZE[::-1], Image.Resampling.BILINEAR))
    plates = np.zeros(SIZE, np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        width = SIZE[1] * rng.uniform(0.03, 0.25)
        lay_plate(img, plates, (rng.uniform(0.1, 0.9) * SIZE[1], rng.uniform(0.15, 0.9) * SIZE[0]), width, rng)
    return np.asarray(camera(rng, img.astype(np.float32) / 255)), plates


def negatives(out: Path, count: int, carvana: Path, seed: int = 1) -> None:
    """Half Carvana side views, half drawn side views, each with an empty mask."""
    from training.carvana import check_not_reserved

    rng = np.random.default_rng(seed)
    sides = sorted(p for p in (carvana / "train").iterdir() if p.stem.endswith(("_05", "_13")))
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    empty = Image.new("L", SIZE[::-1], 0)
    for i in range(count):
        if i % 2 == 0 and sides:
            path = sides[int(rng.integers(len(sides)))]
            check_not_reserved(path)
            with Image.open(path) as im:
                img = np.asarray(im.convert("RGB").resize(SIZE[::-1], Image.Resampling.BOX))
        else:
            while True:
                car = Car.random(rng)
                if car.view == "side":
                    break
            img = scene(rng, *SIZE, car=car)[0]
        Image.fromarray(img).save(out / "images" / f"negative_{i:05d}.jpg", quality=92)
        empty.save(out / "masks" / f"negative_{i:05d}.png")


def build(out: Path, count: int, scenery: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    photos = sorted(p for p in scenery.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        img, plates = car_picture(rng) if i % 2 == 0 or not photos else scenery_picture(rng, photos)
        Image.fromarray(img).save(out / "images" / f"drawn_{i:05d}.jpg", quality=92)
        Image.fromarray(((plates > 127) * 255).astype(np.uint8)).save(out / "masks" / f"drawn_{i:05d}.png")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("data/plates_drawn"))
    ap.add_argument("--count", type=int, default=800)
    ap.add_argument("--scenery", type=Path, default=Path("data/scenery"),
                    help="car-free photographs (scripts/make_scenery_photos.py)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--negatives", type=Path, help="write pictures without a plate here instead (see above)")
    ap.add_argument("--carvana", type=Path, default=Path("data/carvana"),
                    help="for --negatives: training.carvana's copy")
    args = ap.parse_args(argv)
    if args.negatives:
        negatives(args.negatives, args.count, args.carvana, args.seed + 1)
    else:
        build(args.out, args.count, args.scenery, args.seed)


if __name__ == "__main__":
    main()
