"""Compose photo-like training images: Blender-rendered cars (with their shadows) over real photographs.

    python -m training.compose --rendered data/rendered --out data/photoreal --count 4000 --seed 0
    python -m training.compose --photos data/photos_isnet --out data/photoreal_cutouts --count 900 --seed 5

Writes `images/NAME.png` + `masks/NAME.png` (0/255, car only), the layout `training.dataset` reads, and
`sources.json` (every background photograph, stamp and render used). Each image is:
- a real photograph (random crop, scale, flip, colour) from installed packages: Debian wallpapers
  (/usr/share/backgrounds, mate-backgrounds' nature photos, plasma-workspace-wallpapers' photos),
  scikit-image's photos without vehicles, and photographic ground/wall textures of the TORCS tracks
  (asphalt, grass, gravel, facades; never their car/bus/camper textures);
- a car rendered by `training.rendered`: its shadow (alpha outside the car mask) darkens the
  background, then the car is alpha-composited; the mask is the car alone;
- or (`--photos data/photos_isnet`) a real car cut out of one of `training.real_photos`' photographs by its
  IS-Net mask, with a soft contact shadow under it: real paint, glass and chrome over many more scenes than
  its own photo (copy-paste augmentation). Only photos of the training split are used, so the photos that
  `training.train` and `training.ship` hold out stay unseen;
- 0-3 distractors labelled background: tuxpaint stamps of people, animals, plants, food, household
  things, signs, ... (never the vehicles/military/space folders, nor anything vehicle-like by name);
  some are put in front of the car, and the part of the car they hide leaves the mask;
- camera effects: colour jitter, blur, noise, JPEG artefacts.
About 5% of the images have no car (mask all zero). `Layout` (the options --car-free, --max-cars for streets,
--ground for a car low under the scenery, --shadowless and --stamp-shadows so that a shadow neither makes nor
is needed for a car) changes that mix; left at their defaults, the earlier sets come out byte for byte.

Reserved for evaluation and never read (asserted on every file opened): /usr/share/doc/labelme-examples,
/usr/share/doc/opencv-doc, anything of the PyPI package CarSegmentPro, the tuxpaint vehicles stamps, and every
file the evaluation set (training.realcars) reads, the photographs it pastes vehicles on included.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import io
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from training.carvana import is_reserved_car
from training.rendered import Rendered, rendered_samples

RESERVED = ("/usr/share/doc/labelme-examples", "/usr/share/doc/opencv-doc", "/usr/share/tuxpaint/stamps/vehicles")
RESERVED_WORDS = ("carsegmentpro", "carsegment_pro", "carsegment-pro")

STAMPS = Path("/usr/share/tuxpaint/stamps")
STAMP_FOLDERS = ("animals", "clothes", "food", "hobbies", "household", "medical", "naturalforces", "people",
                 "plants", "seasonal", "sports", "town")
VEHICLE_WORDS = re.compile(
    r"car|truck|bus|bike|cycle|boat|ship|plane|train|tractor|van|taxi|jeep|rocket|tank|sled|sleigh|scooter|"
    r"wagon|cart|submarine|heli|jet|kart|motor|vehicle|canoe|kayak|yacht|sail|ferry|airship|balloon|ufo|"
    r"shuttle|lander|wreck|dock|stryker|bradley|raptor|rail|skate|stroller|pram|wheel|tram|lorry|ambulance|"
    r"fire_?engine|digger|bulldozer|crane|limo|caravan|camper|glider|zeppelin|raft|rowing|auto",
    re.I)

PHOTO_DIRS = [Path("/usr/share/backgrounds"), Path("/usr/share/backgrounds/mate/nature")]
PLASMA = Path("/usr/share/wallpapers")
PLASMA_PHOTOS = ("BytheWater", "ColorfulCups", "DarkestHour", "FallenLeaf", "Grey", "Kite",
                 "OneStandsOut", "Path", "summer_1am")
# abstract (not photographic) images in /usr/share/backgrounds
NOT_PHOTOS = ("analogpattern", "Picture_0B", "Picture_1A", "umang")
# (not EveningGlow: rowing boats; not scikit-image's astronaut: a space shuttle; nor its motorcycles)
SKIMAGE_PHOTOS = ("chelsea.png", "coffee.png", "grass.png", "gravel.png", "brick.png")
TORCS_TRACKS = Path("/usr/share/games/torcs/tracks")
TRACK_TEXTURE = re.compile(r"^(asphalt|road|grass|gravel|rock|wall|concrete|conc|house\d*(facade|brick|base|side))",
                           re.I)


@functools.cache
def evaluation_files() -> frozenset[str]:
    """The evaluation set's own list (its car images and the photographs it pastes stamps on)."""
    from training.realcars import evaluation_sources

    return frozenset(str(p.resolve()) for p in evaluation_sources())


def is_reserved(path: Path | str) -> bool:
    """Reserved for evaluation: whole packages/folders, anything named like CarSegmentPro, and every file
    the evaluation set reads, its backgrounds included (a training image on the same photograph as a test
    scene would flatter the score)."""
    p = str(Path(path).resolve())
    return (any(p.startswith(r) for r in RESERVED) or any(w in p.lower() for w in RESERVED_WORDS)
            or p in evaluation_files() or is_reserved_car(p))


def open_image(path: Path | str) -> Image.Image:
    """Every file read by this module goes through here."""
    assert not is_reserved(path), f"reserved for evaluation, must not be read: {path}"
    im = Image.open(path)
    im.load()
    return im


def background_paths() -> list[Path]:
    paths: list[Path] = []
    for d in PHOTO_DIRS:
        if d.is_dir():
            paths += sorted(p for p in d.glob("*.jpg") if not any(n in p.name for n in NOT_PHOTOS))
    for name in PLASMA_PHOTOS:
        folder = PLASMA / name / "contents/images"
        if folder.is_dir():  # one wallpaper in many sizes: take the one nearest 1280 wide
            sizes = sorted(folder.glob("*.jpg"), key=lambda p: abs(int(p.stem.split("x")[0]) - 1280))
            paths += sizes[:1]
    try:
        import skimage

        root = Path(skimage.__file__).parent / "data"
        paths += [root / n for n in SKIMAGE_PHOTOS if (root / n).exists()]
    except ImportError:
        pass
    return [p for p in paths if not is_reserved(p)]


def texture_paths() -> list[Path]:
    """Photographic ground and wall textures of the TORCS tracks (no vehicle texture)."""
    if not TORCS_TRACKS.is_dir():
        return []
    out = []
    for p in sorted(TORCS_TRACKS.glob("*/*/*.png")):
        if TRACK_TEXTURE.match(p.name) and not VEHICLE_WORDS.search(p.stem) and p.stat().st_size > 30_000:
            out.append(p)
    return [p for p in out if not is_reserved(p)]


def stamp_paths() -> list[Path]:
    out = []
    for folder in STAMP_FOLDERS:
        d = STAMPS / folder
        if d.is_dir():
            out += sorted(p for p in d.rglob("*.png") if not VEHICLE_WORDS.search(p.stem)
                          and not VEHICLE_WORDS.search(str(p.parent.relative_to(STAMPS))))
    return [p for p in out if not is_reserved(p)]


# ------------------------------------------------------------------------------------------------


class Pools:
    """Images loaded once per process (downscaled)."""

    def __init__(self, backgrounds: Path | None = None) -> None:
        self.photo_paths = background_paths() if backgrounds is None else \
            [p for p in sorted(backgrounds.glob("*.jpg")) if not is_reserved(p)]
        self.texture_paths = texture_paths()
        self.stamp_path_list = stamp_paths()
        if not self.photo_paths:
            fix = f"python scripts/make_scenery_photos.py --out {backgrounds}" if backgrounds else \
                "apt-get install mate-backgrounds plasma-workspace-wallpapers"
            raise SystemExit(f"no background photographs in {backgrounds or 'the installed wallpapers'}: {fix}")
        self._cache: dict[Path, np.ndarray] = {}

    def image(self, path: Path, max_side: int, mode: str) -> np.ndarray:
        key = (path, max_side, mode)
        if key not in self._cache:
            im = open_image(path).convert(mode)
            s = max_side / max(im.size)
            if s < 1:
                im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.LANCZOS)
            self._cache[key] = np.asarray(im)
        return self._cache[key]


def jitter_colour(rng, img: np.ndarray, strength: float = 1.0) -> np.ndarray:
    x = img.astype(np.float32) / 255
    gain = rng.uniform(0.75, 1.25) ** strength
    gamma = rng.uniform(0.8, 1.25) ** strength
    tint = 1 + rng.normal(0, 0.05 * strength, 3)
    sat = rng.uniform(0.7, 1.25) ** strength
    x = np.clip(x * gain * tint, 0, 1) ** gamma
    grey = x.mean(axis=2, keepdims=True)
    x = np.clip(grey + (x - grey) * sat, 0, 1)
    return x * 255


def background(rng, pools: Pools, h: int, w: int, used: Counter, wide: bool = False) -> np.ndarray:
    use_tex = pools.texture_paths and rng.random() < 0.2
    path = pools.texture_paths[rng.integers(len(pools.texture_paths))] if use_tex else \
        pools.photo_paths[rng.integers(len(pools.photo_paths))]
    used[str(path)] += 1
    src = pools.image(path, 1280, "RGB")
    sh, sw = src.shape[:2]
    # crop: a random window of the photo with the output's aspect, 35-100% of what fits (`wide`: 70-100%, so
    # a landscape keeps its horizon and sky)
    fit = min(sh / h, sw / w)
    scale = fit * rng.uniform(0.7 if wide else 0.35, 1.0)
    ch, cw = max(8, int(h * scale)), max(8, int(w * scale))
    if use_tex and rng.random() < 0.5 and sh >= 8:  # textures: tile to look like ground / a wall
        reps = (int(np.ceil(ch * 2 / sh)) + 1, int(np.ceil(cw * 2 / sw)) + 1, 1)
        src = np.tile(src, reps)
        sh, sw = src.shape[:2]
    y0, x0 = rng.integers(0, max(1, sh - ch + 1)), rng.integers(0, max(1, sw - cw + 1))
    crop = Image.fromarray(src[y0:y0 + ch, x0:x0 + cw]).resize((w, h), Image.BILINEAR)
    out = np.asarray(crop)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return jitter_colour(rng, out)


def paste(canvas: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, x: int, y: int) -> tuple[slice, slice, np.ndarray]:
    """Alpha-blend rgb/alpha (h,w) onto canvas at (x, y), clipped; returns the canvas window and the alpha used."""
    H, W = canvas.shape[:2]
    h, w = alpha.shape
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x0 >= x1 or y0 >= y1:
        return slice(0, 0), slice(0, 0), np.zeros((0, 0), np.float32)
    a = alpha[y0 - y:y1 - y, x0 - x:x1 - x, None]
    canvas[y0:y1, x0:x1] = canvas[y0:y1, x0:x1] * (1 - a) + rgb[y0 - y:y1 - y, x0 - x:x1 - x] * a
    return slice(y0, y1), slice(x0, x1), a[..., 0]


def photo_cutouts(photos: Path, val_fraction: float = 0.1) -> list[Rendered]:
    """The training-split photos of `training.real_photos` (images/NAME.jpg + masks/NAME.png) as cut-out
    sources. Held out as `training.dataset.split` holds them out (by name, `val_fraction` as training's
    default), and a photo whose car touches three or four borders is skipped (nothing to cut it out of)."""
    from training.dataset import find_samples, split

    train, _ = split(find_samples(photos), val_fraction)
    out = []
    for s in train:
        m = np.asarray(open_image(s.mask).convert("L")) > 127
        if not m.any() or sum(mask_edges(m).values()) >= 3:
            continue
        out.append(Rendered(s.image.stem, s.image, s.mask, {"width": m.shape[1], "height": m.shape[0],
                                                             "photo": True}))
    return out


def contact_shadow(car: np.ndarray) -> np.ndarray:
    """A soft dark band under a cut-out car's lowest quarter (a photo has no shadow layer): the car's own
    silhouette squashed to a sliver, widened, blurred; 0 over the car."""
    h, w = car.shape
    ys, xs = np.nonzero(car > 0.5)
    if not len(ys):
        return np.zeros_like(car)
    y0, y1 = int(ys.min()), int(ys.max())
    low = car[y0 + (y1 - y0) * 3 // 4:y1 + 1]
    band_h = max(2, (y1 - y0) // 10)
    band = Image.fromarray((low > 0.5).astype(np.uint8) * 255).resize((w, band_h), Image.BILINEAR)
    canvas = Image.new("L", (w, h))
    canvas.paste(band, (0, int(y1 - band_h * 0.6)))
    shadow = np.asarray(canvas.filter(ImageFilter.GaussianBlur(max(2.0, band_h / 2)))).astype(np.float32) / 255
    return shadow * (1 - car)


def load_render(r: Rendered, scale: float, flip: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Car RGB (float 0..255), car coverage (0..1) and shadow alpha (0..1), resized by `scale`."""
    if r.meta.get("photo"):
        return load_cutout(r, scale, flip)
    im = open_image(r.rgba).convert("RGBA")
    mk = open_image(r.mask).convert("L")
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    rgba = np.asarray(im).astype(np.float32)
    m = np.asarray(mk).astype(np.float32) / 255
    # shadow = alpha outside the car; Cycles' shadow catcher leaves sample noise over the ground: smooth it,
    # then drop the faint haze
    a = rgba[..., 3] / 255
    shadow = np.clip(a - m, 0, 1)
    sh_img = Image.fromarray((shadow * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(2.0))
    shadow = np.clip((np.asarray(sh_img).astype(np.float32) / 255 - 0.06) / 0.94, 0, 1)
    shadow = np.maximum(shadow, 0) * (1 - m)
    # 16 Cycles samples and no denoiser: glossy paint is speckled; a 3x3 median removes most of it
    rgb = Image.fromarray(rgba[..., :3].astype(np.uint8)).filter(ImageFilter.MedianFilter(3))
    rgb = rgb.resize(size, Image.LANCZOS)
    car = Image.fromarray((m * 255).astype(np.uint8)).resize(size, Image.LANCZOS)
    shd = Image.fromarray((shadow * 255).astype(np.uint8)).resize(size, Image.BILINEAR)
    out = [np.asarray(rgb).astype(np.float32), np.asarray(car).astype(np.float32) / 255,
           np.asarray(shd).astype(np.float32) / 255]
    if flip:
        out = [o[:, ::-1] for o in out]
    return out[0], out[1], out[2]


def load_cutout(r: Rendered, scale: float, flip: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """load_render for a photo_cutouts source: the photo, its IS-Net mask feathered by a pixel (a hard
    0/1 edge would paste a jagged outline), a contact shadow."""
    im = open_image(r.rgba).convert("RGB")
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    car = open_image(r.mask).convert("L").resize(size, Image.LANCZOS).filter(ImageFilter.GaussianBlur(0.7))
    cov = np.asarray(car).astype(np.float32) / 255
    out = [np.asarray(im.resize(size, Image.LANCZOS)).astype(np.float32), cov, contact_shadow(cov)]
    if flip:
        out = [o[:, ::-1] for o in out]
    return out[0], out[1], out[2]


def render_edges(r: Rendered) -> dict:
    """Which borders of the render the car touches (it was cut by the camera frame there)."""
    return mask_edges(np.asarray(open_image(r.mask).convert("L")) > 64)


def mask_edges(m: np.ndarray) -> dict:
    """Which borders of the image a boolean car mask touches."""
    return {"left": bool(m[:, 0].any()), "right": bool(m[:, -1].any()), "top": bool(m[0].any()),
            "bottom": bool(m[-1].any())}


def stamp(rng, pools: Pools, h: int, used: Counter) -> tuple[np.ndarray, np.ndarray]:
    path = pools.stamp_path_list[rng.integers(len(pools.stamp_path_list))]
    used[str(path)] += 1
    src = pools.image(path, 512, "RGBA")
    target_h = int(h * rng.uniform(0.12, 0.6))
    s = target_h / src.shape[0]
    size = (max(2, round(src.shape[1] * s)), max(2, target_h))
    im = Image.fromarray(src).resize(size, Image.LANCZOS)
    if rng.random() < 0.5:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    arr = np.asarray(im).astype(np.float32)
    rgb = jitter_colour(rng, arr[..., :3].astype(np.uint8), 0.7)
    return rgb, arr[..., 3] / 255


def camera_effects(rng, img: np.ndarray) -> np.ndarray:
    x = img
    if rng.random() < 0.5:
        x = np.asarray(Image.fromarray(np.clip(x, 0, 255).astype(np.uint8)).filter(
            ImageFilter.GaussianBlur(rng.uniform(0.3, 1.3)))).astype(np.float32)
    x = jitter_colour(rng, np.clip(x, 0, 255).astype(np.uint8), 0.5)
    if rng.random() < 0.7:
        x = x + rng.normal(0, rng.uniform(1, 7), x.shape)
    x = np.clip(x, 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        buf = io.BytesIO()
        Image.fromarray(x).save(buf, "JPEG", quality=int(rng.integers(35, 96)))
        x = np.asarray(Image.open(buf).convert("RGB"))
    return x


def place_car(rng, renders: list[Rendered], w: int, h: int, used: dict, size: float = 1.0,
              centre_y: tuple[float, float] = (0.35, 0.75), uncut: bool = False) -> tuple | None:
    """A random render, scaled (`size` times the usual), flipped and placed: (rgb, coverage, shadow, x, y,
    car box). `uncut`: None for a render whose car its frame cuts (a far car must be whole)."""
    r = renders[rng.integers(len(renders))]
    used["renders"][r.name] += 1
    rw, rh = r.meta.get("width", 448), r.meta.get("height", 288)
    edges = render_edges(r)
    scale = (w / rw) * rng.uniform(0.7, 1.35) * size
    if uncut and any(edges.values()):
        return None
    # a car cut by the render's frame must stay cut by the output's frame (no straight cut inside)
    if edges["left"] and edges["right"]:
        scale = max(scale, w / rw)
    if edges["top"] and edges["bottom"]:
        scale = max(scale, h / rh)
    rgb, cov, shadow = load_render(r, scale, flip := bool(rng.random() < 0.5))
    if flip:
        edges["left"], edges["right"] = edges["right"], edges["left"]
    ys, xs = np.nonzero(cov > 0.5)
    if len(xs):
        cx, cy = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
    else:
        cx, cy = cov.shape[1] / 2, cov.shape[0] / 2
    # put the car's centre somewhere sensible (the render's own framing may already cut it)
    tx, ty = rng.uniform(0.2, 0.8) * w, rng.uniform(*centre_y) * h
    x, y = int(round(tx - cx)), int(round(ty - cy))
    sw_, sh_ = cov.shape[1], cov.shape[0]
    if edges["left"]:
        x = min(x, 0)
    if edges["right"]:
        x = max(x, w - sw_)
    if edges["top"]:
        y = min(y, 0)
    if edges["bottom"]:
        y = max(y, h - sh_)
    box = (x + xs.min(), y + ys.min(), x + xs.max(), y + ys.max()) if len(xs) else (0, 0, w, h)
    return rgb, cov, shadow, x, y, box


@dataclasses.dataclass(frozen=True)
class Layout:
    """How a scene is laid out. The defaults make the first sets, draw for draw; each option draws from the
    random stream only when it is set, so the sets made before it stay reproducible."""

    # share of images without a car, each then given at least one distractor, so that the most salient
    # thing in a picture is often not a car (None: 5%, none forced)
    car_free: float | None = None
    # up to this many vehicles in an image with a car, the others smaller and farther (a street, a car park)
    max_cars: int = 1
    # the car low in a wide view of the photograph, the scenery above it, as a car is filmed on the ground
    ground: bool = False
    # share of cars composited without their shadow (a cut-out pasted into a picture has none): the model
    # must not need a shadow to find a car
    shadowless: float = 0.0
    # share of distractors standing on a contact shadow, as the cars do: a shadow must not make a thing a car
    stamp_shadows: float = 0.0


def compose_one(rng, pools: Pools, renders: list[Rendered], h: int, w: int,
                used: dict, layout: Layout = Layout()) -> tuple[np.ndarray, np.ndarray]:
    """One image and its mask, laid out as `layout` says."""
    car_free, max_cars, ground = layout.car_free, layout.max_cars, layout.ground
    img = background(rng, pools, h, w, used["backgrounds"], wide=ground)
    mask = np.zeros((h, w), np.float32)
    n_stamps = rng.choice([0, 1, 1, 2, 3], p=[0.3, 0.25, 0.2, 0.15, 0.1])
    stamps = [stamp(rng, pools, h, used["stamps"]) for _ in range(n_stamps)] if pools.stamp_path_list else []
    with_car = bool(renders) and rng.random() >= (0.05 if car_free is None else car_free)
    if car_free is not None and not with_car and not stamps and pools.stamp_path_list:
        stamps = [stamp(rng, pools, h, used["stamps"])]
    front = [rng.random() < 0.4 for _ in stamps] if with_car else [False] * len(stamps)
    box = (0, 0, w, h)
    car = None
    far: list[tuple] = []
    if with_car:
        car = place_car(rng, renders, w, h, used, centre_y=(0.55, 0.8) if ground else (0.35, 0.75))
        assert car is not None  # only an `uncut` car can be refused
        box = car[5]
        # more vehicles farther away (a street, a car park): smaller, higher in the frame, behind the first
        for _ in range(int(rng.integers(0, max_cars)) if max_cars > 1 else 0):
            other = place_car(rng, renders, w, h, used, size=rng.uniform(0.3, 0.75), centre_y=(0.3, 0.65),
                              uncut=True)
            if other is not None:
                far.append(other)
    # distractors behind the car (anywhere)
    for (srgb, sa), is_front in zip(stamps, front):
        if not is_front:
            sx = int(rng.integers(-srgb.shape[1] // 3, w - srgb.shape[1] * 2 // 3 + 1))
            sy = int(rng.integers(-srgb.shape[0] // 4, h - srgb.shape[0] // 2 + 1))
            if layout.stamp_shadows and rng.random() < layout.stamp_shadows:
                paste(img, np.zeros_like(srgb), contact_shadow(sa) * rng.uniform(0.55, 0.95), sx, sy)
            paste(img, srgb, sa, sx, sy)
    # farthest (smallest) first, the first car last: each hides what is behind it, all of them are car
    for rgb, cov, shadow, x, y, _ in sorted(far, key=lambda c: c[1].size) + ([car] if car is not None else []):
        strength = rng.uniform(0.55, 0.95)
        if layout.shadowless and rng.random() < layout.shadowless:
            strength = 0.0
        black = np.zeros_like(rgb)
        paste(img, black, shadow * strength, x, y)
        # match the car's brightness a little to the scene
        k = rng.uniform(0.0, 0.35)
        bg_mean, car_mean = img.mean() + 1, (rgb * cov[..., None]).sum() / (cov.sum() * 3 + 1e-6) + 1
        rgb = np.clip(rgb * (bg_mean / car_mean) ** k, 0, 255)
        ys_, xs_, a = paste(img, rgb, cov, x, y)
        mask[ys_, xs_] = np.maximum(mask[ys_, xs_], a)
    # distractors in front of the car: overlapping its box, they hide part of it
    for (srgb, sa), is_front in zip(stamps, front):
        if is_front:
            bx0, by0, bx1, by1 = box
            sx = int(rng.uniform(bx0, bx1) - srgb.shape[1] / 2)
            sy = int(rng.uniform((by0 + by1) / 2, by1 + srgb.shape[0] * 0.3) - srgb.shape[0] / 2)
            ys_, xs_, a = paste(img, srgb, sa, sx, sy)
            mask[ys_, xs_] *= 1 - a
    out = camera_effects(rng, img)
    return out, ((mask > 0.5) * 255).astype(np.uint8)


SIZES = [((256, 448), 0.85), ((288, 512), 0.1), ((320, 320), 0.05)]


def build(rendered: Path | None, out: Path, count: int, seed: int, max_renders: int | None = None,
          photos: Path | None = None, backgrounds: Path | None = None, layout: Layout = Layout()) -> dict:
    """Cars from `rendered` (training.rendered's folder) or cut out of `photos` (training.real_photos').
    `max_renders`: use only the first N renders (by name), so a set composed while rendering goes on
    can be made again exactly. `backgrounds`: a folder of JPEG photographs to use instead of the installed
    wallpapers (scripts/make_scenery_photos.py). `layout`: how each scene is laid out (Layout)."""
    if photos is not None:
        renders = photo_cutouts(photos)
        if not renders:
            raise SystemExit(f"no training-split photos in {photos}: run python -m training.real_photos --out {photos}")
    else:
        assert rendered is not None
        renders = sorted(rendered_samples(rendered), key=lambda r: r.rgba.name)[:max_renders]
        if not renders:
            raise SystemExit(f"no rendered cars in {rendered}: run python -m training.rendered --out {rendered} ...")
    for r in renders:
        assert not is_reserved(r.rgba) and not is_reserved(r.mask)
    pools = Pools(backgrounds)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    used = {"backgrounds": Counter(), "stamps": Counter(), "renders": Counter()}
    no_car = 0
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        (h, w) = SIZES[rng.choice(len(SIZES), p=[s[1] for s in SIZES])][0]
        img, mask = compose_one(rng, pools, renders, h, w, used, layout)
        no_car += int(mask.max() == 0)
        name = f"p{seed}_{i:06d}"
        Image.fromarray(img).save(out / "images" / f"{name}.png")
        Image.fromarray(mask).save(out / "masks" / f"{name}.png")
        if (i + 1) % 100 == 0 or i + 1 == count:
            print(f"{i + 1}/{count}", flush=True)
    sources = {
        "count": count, "seed": seed, "rendered": str(rendered), "renders_available": len(renders),
        "photos": str(photos) if photos else None,
        "max_renders": max_renders, "layout": dataclasses.asdict(layout),
        "images_without_car": no_car,
        "backgrounds_available": [str(p) for p in pools.photo_paths + pools.texture_paths],
        "backgrounds_used": dict(sorted(used["backgrounds"].items())),
        "stamps_used": dict(sorted(used["stamps"].items())),
        "renders_used": len(used["renders"]),
        "reserved_never_read": list(RESERVED) + [f"*{w}*" for w in RESERVED_WORDS],
    }
    for p in list(sources["backgrounds_used"]) + list(sources["stamps_used"]):
        assert not is_reserved(p), p
    (out / "sources.json").write_text(json.dumps(sources, indent=1))
    return sources


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cars = ap.add_mutually_exclusive_group(required=True)
    cars.add_argument("--rendered", type=Path, help="training.rendered's folder: rendered cars")
    cars.add_argument("--photos", type=Path, help="training.real_photos' folder: real cars cut out of photos")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--renders", type=int, default=None, help="use only the first N renders (reproducible sets)")
    ap.add_argument("--car-free", type=float, default=None,
                    help="share of images without a car, each with at least one distractor (default 0.05, none forced)")
    ap.add_argument("--backgrounds", type=Path, default=None,
                    help="take the background photographs from this folder of JPEGs instead of the installed "
                         "wallpapers (scripts/make_scenery_photos.py makes one)")
    ap.add_argument("--max-cars", type=int, default=1,
                    help="up to this many vehicles per image with a car, the others smaller and farther (a street)")
    ap.add_argument("--ground", action="store_true",
                    help="put the car low in a wide view of the photograph, the scenery above it (as filmed)")
    ap.add_argument("--shadowless", type=float, default=0.0,
                    help="share of cars composited without their shadow (as a pasted cut-out)")
    ap.add_argument("--stamp-shadows", type=float, default=0.0,
                    help="share of distractors given a contact shadow, as the cars have")
    args = ap.parse_args(argv)
    if args.max_cars < 1:
        ap.error(f"--max-cars must be at least 1, not {args.max_cars}")
    layout = Layout(args.car_free, args.max_cars, args.ground, args.shadowless, args.stamp_shadows)
    s = build(args.rendered, args.out, args.count, args.seed, args.renders, args.photos, args.backgrounds, layout)
    print(f"wrote {args.count} images ({s['images_without_car']} without a car) to {args.out}; "
          f"{len(s['backgrounds_used'])} backgrounds, {len(s['stamps_used'])} stamps, {s['renders_used']} renders")


if __name__ == "__main__":
    main()
