"""Drawn footage of real cars with exact masks on every frame: the Carvana evaluation cars cut out by their
hand-made masks and filmed by a moving camera over photographs, with a second car passing (issue 27).

    python -m training.carvana_clips --cars data/carvana960_eval --backgrounds data/scenery --out data/carvana_clips

No public car footage with per-frame masks of the filmed vehicle was found outside the reserved sources, so
this is the evaluation set for footage (scripts/measure_footage.py scores it): real paint, glass, wheels and
outlines (the evaluation cars, never trained on), moving as a filmed car moves. Each clip (854x480, 25 fps,
H.264) is one car, one turntable view, on one background photograph, in one of these camera moves:
- `pan`: the camera pans across the scene following the car, which drifts a little in the frame;
- `track`: a tracking shot: the car stays put, the background streams past with motion blur;
- `zoom`: the camera pushes in on a parked car;
- `fast`: a whip pan past a parked car: it jumps 50 px a frame for five frames (a stale matte would show);
and in every clip a second evaluation car drives by behind the subject, smaller (farther away), apart from it
at first and partly behind it later. The truth is the subject car alone (minus what passes in front of it):
`masks.npz` holds it per clip, uint8 0/255 [frames, H, W]; `clips.json` lists car, view, background, move.

Reads only the evaluation split `training.carvana` wrote (its cars are never trained on; the reserved cars are
asserted absent on every file opened).
"""

from __future__ import annotations

import argparse
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageFilter

from training.carvana import car_of, check_not_reserved, view_of
from training.compose import contact_shadow, is_reserved
from training.dataset import find_samples, read_mask

WIDTH, HEIGHT, FPS, FRAMES = 854, 480, 25, 40
MOVES = ("pan", "track", "zoom", "fast")


def cutout(sample, width: int) -> tuple[np.ndarray, np.ndarray]:
    """A Carvana photo's car, cropped to its mask and scaled to `width`: RGB float 0..255 and coverage 0..1
    (the hand-made mask, feathered by a pixel so the pasted outline is not jagged)."""
    check_not_reserved(sample.image)
    check_not_reserved(sample.mask)
    rgb = Image.open(sample.image).convert("RGB")
    mask = read_mask(sample.mask) > 0.5
    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    scale = width / (box[2] - box[0])
    size = (width, max(1, round((box[3] - box[1]) * scale)))
    car = rgb.crop(box).resize(size, Image.LANCZOS)
    cov = Image.fromarray(mask[box[1]:box[3], box[0]:box[2]].astype(np.uint8) * 255).resize(size, Image.LANCZOS)
    cov = cov.filter(ImageFilter.GaussianBlur(0.6))
    return np.asarray(car, np.float32), np.asarray(cov, np.float32) / 255


def paste(canvas: np.ndarray, rgb: np.ndarray, cov: np.ndarray, x: float, y: float,
          shadow: bool = True) -> np.ndarray:
    """Alpha-composite a cut-out with its top-left at (x, y) (rounded), its contact shadow first; returns the
    car's coverage on the canvas [H,W] 0..1."""
    h, w = canvas.shape[:2]
    x0, y0 = round(x), round(y)
    ch, cw = cov.shape
    ys, xs = slice(max(y0, 0), min(y0 + ch, h)), slice(max(x0, 0), min(x0 + cw, w))
    placed = np.zeros((h, w), np.float32)
    if ys.start >= ys.stop or xs.start >= xs.stop:
        return placed
    cys, cxs = slice(ys.start - y0, ys.stop - y0), slice(xs.start - x0, xs.stop - x0)
    if shadow:
        dark = contact_shadow(cov)[cys, cxs, None]
        canvas[ys, xs] *= 1 - 0.6 * dark
    a = cov[cys, cxs, None]
    canvas[ys, xs] = canvas[ys, xs] * (1 - a) + rgb[cys, cxs] * a
    placed[ys, xs] = cov[cys, cxs]
    return placed


def background_strip(path: Path, height: int, width: int) -> np.ndarray:
    """The photograph scaled to cover height x width (the camera's whole travel), float 0..255."""
    assert not is_reserved(path), path
    im = Image.open(path).convert("RGB")
    s = max(height / im.height, width / im.width)
    im = im.resize((max(width, round(im.width * s)), max(height, round(im.height * s))), Image.LANCZOS)
    return np.asarray(im, np.float32)[:height, :width]


def camera_path(move: str, t: float) -> tuple[float, float, float]:
    """Camera (x offset in frame widths, zoom, motion blur in px) at time t in 0..1."""
    if move == "pan":
        return 0.35 * t, 1.0, 2.0
    if move == "track":
        return 0.9 * t, 1.0, 12.0
    if move == "zoom":
        return 0.1 * t, 1.0 + 0.5 * t, 0.0
    # fast: still, then a whip pan over frames 15-20, then still
    k = min(max((t * (FRAMES - 1) - 15) / 5, 0), 1)
    return 0.3 * k, 1.0, 30.0 if 0 < k < 1 else 0.0


def clip(rng: np.random.Generator, subject, passer, bg_path: Path, move: str):
    """Yield (frame uint8 [H,W,3], truth bool [H,W]) for one clip."""
    strip_w = int(WIDTH * 2.0)
    bg = background_strip(bg_path, HEIGHT, strip_w)
    car_w = int(WIDTH * rng.uniform(0.45, 0.6))
    car_rgb, car_cov = cutout(subject, car_w)
    far_w = int(car_w * rng.uniform(0.4, 0.55))
    far_rgb, far_cov = cutout(passer, far_w)
    ground = HEIGHT * rng.uniform(0.85, 0.95)
    far_ground = HEIGHT * rng.uniform(0.55, 0.65)
    for i in range(FRAMES):
        t = i / (FRAMES - 1)
        cam_x, zoom, blur = camera_path(move, t)
        # the world: background, the passing car (it drives across the world from right to left), the subject
        world = bg.copy()
        far_x = strip_w * (0.85 - 0.5 * t) - far_w / 2
        paste(world, far_rgb, far_cov, far_x, far_ground - far_cov.shape[0])
        if move in ("pan", "track"):  # the subject moves with the camera (followed), drifting a little
            car_x = WIDTH * (0.2 + cam_x) + WIDTH * 0.05 * np.sin(2 * np.pi * t)
        else:  # parked: the whip pan sweeps it across the frame, 50 px a frame
            car_x = WIDTH * 0.25
        if blur:  # the background streams past a followed car: blur the world, not the car
            world = horizontal_blur(world, int(blur))
        truth = paste(world, car_rgb, car_cov, car_x, ground - car_cov.shape[0])
        # the camera: a window of the world, zoomed about its centre
        x0 = WIDTH * cam_x
        w, h = WIDTH / zoom, HEIGHT / zoom
        cx, cy = x0 + WIDTH / 2, HEIGHT / 2
        box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        frame = Image.fromarray(world.clip(0, 255).astype(np.uint8)).resize((WIDTH, HEIGHT), Image.BILINEAR, box=box)
        mask = Image.fromarray((truth * 255).astype(np.uint8)).resize((WIDTH, HEIGHT), Image.BILINEAR, box=box)
        pixels = np.asarray(frame, np.float32) + rng.normal(0, 2.0, (HEIGHT, WIDTH, 3))
        yield pixels.clip(0, 255).astype(np.uint8), np.asarray(mask) >= 128


def horizontal_blur(img: np.ndarray, length: int) -> np.ndarray:
    """Motion blur along x over `length` px (a box filter), edges replicated."""
    if length <= 1:
        return img
    pad = np.pad(img, ((0, 0), (length, length), (0, 0)), mode="edge")
    c = np.cumsum(pad, axis=1, dtype=np.float64)
    out = (c[:, length:] - c[:, :-length]) / length
    start = length - length // 2
    return out[:, start:start + img.shape[1]].astype(np.float32)


def write_clip(path: Path, frames, fps: int = FPS) -> np.ndarray:
    """Encode the (rgb, truth) frames (x264, CRF 20, as a phone or a web upload compresses; the size of the
    first frame); returns the truth masks."""
    masks = []
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "20", "preset": "veryfast"})
        stream.codec_context.time_base = Fraction(1, fps)
        for i, (rgb, truth) in enumerate(frames):
            if i == 0:
                stream.height, stream.width = rgb.shape[:2]
                stream.pix_fmt = "yuv420p"
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            f.pts = i
            out.mux(stream.encode(f))
            masks.append(truth)
        out.mux(stream.encode(None))
    return np.stack(masks).astype(np.uint8) * 255


def build(cars: Path, backgrounds: Path, out: Path, count: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    samples = find_samples(cars)
    by_car: dict[str, list] = {}
    for s in samples:
        by_car.setdefault(car_of(s.image) or "", []).append(s)
    names = sorted(by_car)
    photos = sorted(p for p in backgrounds.glob("*.jpg") if not is_reserved(p))
    if not names or not photos:
        raise SystemExit(f"no cars in {cars} or no photographs in {backgrounds}")
    out.mkdir(parents=True, exist_ok=True)
    rows, masks = [], {}
    for k in range(count):
        car = names[k % len(names)]
        other = names[(k + 1 + int(rng.integers(len(names) - 1))) % len(names)]
        views = [s for s in by_car[car] if view_of(s.image) in (1, 2, 3, 4, 5, 13, 14, 15, 16)]
        subject = views[int(rng.integers(len(views)))]
        passer = by_car[other][int(rng.integers(len(by_car[other])))]
        move = MOVES[k % len(MOVES)]
        bg = photos[int(rng.integers(len(photos)))]
        name = f"clip{k:02d}_{move}"
        masks[name] = write_clip(out / f"{name}.mp4", clip(rng, subject, passer, bg, move))
        rows.append({"clip": name, "car": subject.image.name, "passing": passer.image.name, "background": bg.name,
                     "move": move, "frames": FRAMES, "size": f"{WIDTH}x{HEIGHT}"})
        print(f"\r{k + 1}/{count} clips", end="", flush=True)
    print()
    np.savez_compressed(out / "masks.npz", **masks)
    source = json.loads((cars / "SOURCE.json").read_text()) if (cars / "SOURCE.json").exists() else {}
    (out / "clips.json").write_text(json.dumps({"cars_from": {k: source.get(k) for k in ("repository", "commit",
                                                                                          "licence")},
                                                "backgrounds": str(backgrounds), "seed": seed, "clips": rows},
                                               indent=1))
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cars", type=Path, default=Path("data/carvana960_eval"), help="training.carvana's eval split")
    ap.add_argument("--backgrounds", type=Path, default=Path("data/scenery"), help="folder of .jpg photographs")
    ap.add_argument("--out", type=Path, default=Path("data/carvana_clips"))
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    build(args.cars, args.backgrounds, args.out, args.count, args.seed)


if __name__ == "__main__":
    main()
