"""Synthetic car scenes with exact masks.

No real car photographs with masks can be fetched here (nothing from a model hub or website, and none
ship in a package registry), so the training data is drawn: side, front and rear views of procedurally
varied cars (sedan, hatchback, SUV, coupe, van, pickup, wagon) with shaded paint, glass with
reflections, wheels with rims, lights, door lines and mirrors, over varied backgrounds (real
photographs shipped inside scikit-image and scikit-learn where installed, plus procedural studios,
streets, showrooms and textures), with soft ground shadows and environment reflections that are *not*
car, then camera blur, noise, colour shifts and JPEG compression. The mask is the car's coverage
(windows included, shadow excluded), anti-aliased by supersampling.

Used by `training.synthetic` (training data), `streamseg sample` (a demo clip) and the tests.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SS = 3  # supersampling factor for anti-aliased car edges

# Paint colours weighted roughly by how common they are on real roads.
PAINTS = [
    ((235, 235, 232), 0.22), ((20, 20, 22), 0.18), ((150, 152, 156), 0.14), ((95, 98, 102), 0.12),
    ((160, 20, 24), 0.08), ((25, 50, 120), 0.08), ((15, 30, 60), 0.04), ((30, 70, 40), 0.03),
    ((220, 180, 20), 0.02), ((220, 100, 20), 0.02), ((90, 60, 40), 0.02), ((200, 190, 160), 0.03),
    ((120, 160, 200), 0.02),
]
BODY_TYPES = ("sedan", "hatch", "suv", "coupe", "van", "pickup", "wagon")


def rgb_triple(values) -> tuple[int, int, int]:
    """Three numbers as an (r, g, b) of ints."""
    r, g, b = (int(v) for v in values)
    return r, g, b


def chaikin(points: list[tuple[float, float]], iterations: int = 3) -> list[tuple[float, float]]:
    """Round the corners of a closed polygon by corner cutting."""
    pts = np.asarray(points, dtype=np.float64)
    for _ in range(iterations):
        nxt = np.roll(pts, -1, axis=0)
        pts = np.stack([0.75 * pts + 0.25 * nxt, 0.25 * pts + 0.75 * nxt], axis=1).reshape(-1, 2)
    return [tuple(p) for p in pts]


@dataclass(frozen=True)
class Car:
    """Shape and look of one car, in units of its length (x: 0 rear .. 1 front, y: 0 ground, up)."""

    kind: str
    paint: tuple[int, int, int]
    wheel_r: float
    clearance: float
    belt: float  # bottom of the windows
    roof: float
    hood: float  # height of the hood at the windscreen
    trunk: float  # height of the rear deck
    ws_x: float  # windscreen base
    roof_f: float  # roof front and rear ends
    roof_r: float
    rw_x: float  # rear window base
    wheel_x: tuple[float, float]
    rim_color: tuple[int, int, int]
    spokes: int
    glass_tint: tuple[int, int, int]
    view: str  # side, front, rear
    facing_left: bool
    two_tone_bumper: bool

    @classmethod
    def random(cls, rng: np.random.Generator) -> Car:
        kind = str(rng.choice(BODY_TYPES, p=[0.26, 0.16, 0.22, 0.08, 0.08, 0.08, 0.12]))
        p = np.array([w for _, w in PAINTS])
        paint = PAINTS[rng.choice(len(PAINTS), p=p / p.sum())][0]
        paint = rgb_triple(np.clip(c + rng.normal(0, 10), 0, 255) for c in paint)
        u = rng.uniform
        wheel_r = u(0.075, 0.095)
        belt = u(0.2, 0.25)
        roof = belt + u(0.12, 0.16)
        hood = belt - u(0.0, 0.04)
        trunk = belt - u(0.0, 0.03)
        ws_x, roof_f, roof_r, rw_x = u(0.66, 0.72), u(0.5, 0.56), u(0.25, 0.32), u(0.14, 0.2)
        if kind == "suv":
            wheel_r, belt = u(0.09, 0.11), u(0.25, 0.3)
            roof, hood, trunk = belt + u(0.15, 0.18), belt - u(0.0, 0.03), belt
            ws_x, roof_f, roof_r, rw_x = u(0.7, 0.76), u(0.56, 0.62), u(0.06, 0.1), u(0.02, 0.05)
        elif kind == "hatch":
            trunk, roof_r, rw_x = belt, u(0.12, 0.18), u(0.03, 0.06)
        elif kind == "wagon":
            roof_r, rw_x, trunk = u(0.06, 0.1), u(0.02, 0.05), belt
        elif kind == "coupe":
            roof = belt + u(0.09, 0.12)
            ws_x, roof_f, roof_r, rw_x = u(0.64, 0.7), u(0.45, 0.5), u(0.32, 0.38), u(0.12, 0.18)
        elif kind == "van":
            wheel_r, belt = u(0.08, 0.095), u(0.28, 0.33)
            roof, hood, trunk = belt + u(0.18, 0.24), belt - u(0.04, 0.08), belt
            ws_x, roof_f, roof_r, rw_x = u(0.84, 0.88), u(0.74, 0.8), u(0.02, 0.04), u(0.0, 0.02)
        elif kind == "pickup":
            wheel_r, belt = u(0.09, 0.105), u(0.26, 0.3)
            roof, hood, trunk = belt + u(0.13, 0.16), belt - u(0.0, 0.03), belt - u(0.0, 0.02)
            ws_x, roof_f, roof_r, rw_x = u(0.7, 0.74), u(0.6, 0.64), u(0.42, 0.46), u(0.4, 0.44)
        view = str(rng.choice(["side", "front", "rear"], p=[0.7, 0.15, 0.15]))
        rims = [(190, 192, 196), (60, 60, 64), (140, 142, 146), (210, 200, 170)]
        return cls(
            kind=kind, paint=paint, wheel_r=wheel_r, clearance=wheel_r * u(0.3, 0.5), belt=belt,
            roof=roof, hood=hood, trunk=trunk, ws_x=ws_x, roof_f=roof_f, roof_r=roof_r, rw_x=rw_x,
            wheel_x=(u(0.15, 0.2), u(0.78, 0.84)), rim_color=rims[rng.integers(len(rims))],
            spokes=int(rng.integers(5, 11)), glass_tint=rgb_triple(rng.integers(15, 70, 3)),
            view=view, facing_left=bool(rng.random() < 0.5), two_tone_bumper=bool(rng.random() < 0.3),
        )

    def aspect(self) -> float:
        """Height over width of the drawn car."""
        if self.view == "side":
            return self.roof + 0.01
        return (self.roof + 0.01) / 0.42  # seen from the front a car is about 0.42 of its length wide

    def render(self, width: int, wheel_angle: float = 0.0, rng: np.random.Generator | None = None):
        """The car as float RGB [h,w,3] in 0..1 and coverage [h,w] in 0..1, `width` pixels wide."""
        rng = rng or np.random.default_rng(0)
        if self.view == "side":
            rgb, alpha = self._side(width * SS, wheel_angle, rng)
        else:
            rgb, alpha = self._front_or_rear(width * SS, rng)
        h = max(1, rgb.shape[0] // SS)
        rgb = np.asarray(Image.fromarray(rgb).resize((width, h), Image.Resampling.BOX), dtype=np.float32) / 255
        alpha = np.asarray(Image.fromarray(alpha).resize((width, h), Image.Resampling.BOX), dtype=np.float32) / 255
        if self.facing_left:
            rgb, alpha = rgb[:, ::-1], alpha[:, ::-1]
        return np.ascontiguousarray(rgb), np.ascontiguousarray(alpha)

    # -- drawing ------------------------------------------------------------------------------
    def _shade(self, h: int, w: int, top: float, bottom: float, rng) -> np.ndarray:
        """Paint with a shoulder highlight and a darker rocker, as light from above does."""
        y = np.linspace(0, 1, h)[:, None]
        pos = (y - top) / max(bottom - top, 1e-3)
        shade = 1.05 - 0.45 * np.clip(pos, 0, 1) ** 1.5
        shade += 0.35 * np.exp(-((pos - rng.uniform(0.12, 0.3)) ** 2) / 0.004)  # specular band
        paint = np.array(self.paint, dtype=np.float32)[None, None] / 255
        lum = paint.mean()
        spec = np.clip(shade - 1, 0, None) * (1 - 0.5 * lum)
        img = paint * np.clip(shade, 0, 1.1)[..., None] + spec[..., None]
        img = img + rng.normal(0, 0.01, (1, w, 1))  # faint horizontal variation
        return np.clip(np.broadcast_to(img, (h, w, 3)), 0, 1)

    def _side(self, W: int, wheel_angle: float, rng):
        H = int(math.ceil(W * self.aspect()))
        P = lambda x, y: (x * W, H - y * W)  # noqa: E731  car units -> pixels, y up
        c, b, r = self.clearance, self.belt, self.wheel_r
        low = c + r * 0.3
        outline = [
            P(0.02, c), P(0.0, low + 0.03), P(0.005, self.trunk - 0.01), P(self.rw_x * 0.5, self.trunk),
            P(self.rw_x, b + 0.01),
            P(self.roof_r, self.roof), P(self.roof_f, self.roof), P(self.ws_x, self.hood + 0.01),
            P(0.96, self.hood - 0.03), P(1.0, low + 0.04), P(0.985, c),
        ]
        if self.kind == "pickup":  # open bed behind the cab
            outline[2:5] = [P(0.0, b), P(self.rw_x - 0.02, b), P(self.rw_x, b + 0.01)]
        if self.kind == "van":
            outline[8] = P(0.975, self.hood - 0.02)
        body = Image.new("L", (W, H), 0)
        d = ImageDraw.Draw(body)
        d.polygon(chaikin(outline, 3), fill=255)
        # mirror (part of the car)
        mx = self.ws_x - 0.02
        d.ellipse([P(mx - 0.025, b + 0.045)[0], P(0, b + 0.045)[1], P(mx + 0.02, 0)[0], P(0, b + 0.01)[1]],
                  fill=255)
        body_a = np.asarray(body, dtype=np.float32) / 255
        top_px, bottom_px = P(0, self.roof)[1] / H, P(0, c)[1] / H
        belt_px = P(0, b)[1] / H
        rgb = self._shade(H, W, belt_px - 0.05, bottom_px, rng) * body_a[..., None]
        img = Image.fromarray((rgb * 255).astype(np.uint8))
        d = ImageDraw.Draw(img)
        paint = np.array(self.paint)
        dark = tuple(int(v) for v in paint * 0.55)
        # glass: the greenhouse inset from the outline, a pillar or two, and a sky reflection
        m = 0.012
        glass = [P(self.rw_x + 0.025, b + m), P(self.roof_r + m, self.roof - m), P(self.roof_f - m, self.roof - m),
                 P(self.ws_x - 0.025, b + m)]
        if self.kind == "pickup":
            glass[0] = P(self.rw_x + 0.02, b + m)
        glass_img = Image.new("L", (W, H), 0)
        ImageDraw.Draw(glass_img).polygon(chaikin(glass, 2), fill=255)
        ga = np.asarray(glass_img, dtype=np.float32)[..., None] / 255
        yy = np.linspace(0, 1, H)[:, None, None]
        xx = np.linspace(0, 1, W)[None, :, None]
        tint = np.array(self.glass_tint, dtype=np.float32) / 255
        refl = 0.25 * np.clip(np.sin((xx * 3 - yy * 2) * math.pi + rng.uniform(0, 6)), 0, 1) ** 3
        sky = rng.uniform(0.0, 0.35) * (1 - (yy - top_px) / max(belt_px - top_px, 1e-3)).clip(0, 1)
        glass_rgb = np.clip(tint + refl + sky * np.array([0.6, 0.7, 0.85]), 0, 1)
        arr = np.asarray(img, dtype=np.float32) / 255
        arr = arr * (1 - ga) + glass_rgb * ga
        img = Image.fromarray((arr * 255).astype(np.uint8))
        d = ImageDraw.Draw(img)
        pillar_x = (self.roof_r + self.roof_f) / 2 + rng.uniform(-0.03, 0.03)
        d.polygon([P(pillar_x - 0.012, b), P(pillar_x + 0.012, b), P(pillar_x + 0.008, self.roof),
                   P(pillar_x - 0.016, self.roof)], fill=tuple(int(v) for v in paint * 0.35))
        if self.kind in ("suv", "wagon", "van"):
            qx = (self.roof_r + pillar_x) / 2
            d.polygon([P(qx - 0.01, b), P(qx + 0.01, b), P(qx + 0.01, self.roof), P(qx - 0.01, self.roof)],
                      fill=tuple(int(v) for v in paint * 0.35))
        # door seams and handles
        lw = max(1, W // 400)
        for x in (pillar_x - 0.005, self.ws_x - 0.03, (self.rw_x + pillar_x) / 2 - 0.04):
            d.line([P(x, b), P(x - 0.01, c + 0.03)], fill=dark, width=lw)
            d.rectangle([P(x + 0.03, b - 0.02), P(x + 0.06, b - 0.03)], fill=dark)
        # bumpers, lights, rocker
        if self.two_tone_bumper:
            d.rectangle([P(0, c + 0.035), P(1, c)], fill=(35, 35, 38))
        body_mask = np.asarray(body) > 127
        hl = [P(0.93, self.hood - 0.02), P(0.995, low + 0.05), P(0.985, low + 0.035), P(0.92, self.hood - 0.045)]
        d.polygon(hl, fill=(245, 245, 235))
        tl = [P(0.003, self.trunk - 0.015), P(0.04, self.trunk - 0.01), P(0.04, self.trunk - 0.04),
              P(0.003, self.trunk - 0.045)]
        d.polygon(tl, fill=(190, 20, 25))
        arr = np.asarray(img).copy()
        arr[~body_mask] = 0
        img = Image.fromarray(arr)
        d = ImageDraw.Draw(img)
        alpha = body.copy()
        da = ImageDraw.Draw(alpha)
        # wheels: arch shadow, tyre, rim with spokes, hub
        for wx in self.wheel_x:
            cx, cy = P(wx, r)
            R = r * W
            d.ellipse([cx - R * 1.12, cy - R * 1.12, cx + R * 1.12, cy + R * 1.12], fill=(12, 12, 14))
            arr = np.asarray(img).copy()
            arr[int(cy):] = np.where(body_mask[int(cy):, :, None], arr[int(cy):], 0)
            img = Image.fromarray(arr)
            d = ImageDraw.Draw(img)
            d.ellipse([cx - R, cy - R, cx + R, cy + R], fill=(22, 22, 24))
            da.ellipse([cx - R, cy - R, cx + R, cy + R], fill=255)
            rr = R * rng.uniform(0.58, 0.7)
            d.ellipse([cx - rr, cy - rr, cx + rr, cy + rr], fill=self.rim_color)
            spoke_dark = tuple(int(v * 0.35) for v in self.rim_color)
            for k in range(self.spokes):
                a = wheel_angle + 2 * math.pi * k / self.spokes
                for off in (-0.12, 0.12):
                    d.line([(cx + rr * 0.25 * math.cos(a + off), cy + rr * 0.25 * math.sin(a + off)),
                            (cx + rr * 0.92 * math.cos(a + off * 0.5), cy + rr * 0.92 * math.sin(a + off * 0.5))],
                           fill=spoke_dark, width=max(1, int(rr * 0.06)))
            hub = rr * 0.2
            d.ellipse([cx - hub, cy - hub, cx + hub, cy + hub], fill=tuple(int(v * 0.8) for v in self.rim_color))
        # the arches cut away body below the wheel tops but the tyre fills them: coverage = body | tyres,
        # minus the gap between arch and tyre bottom which shows the ground
        coverage = np.asarray(alpha, dtype=np.uint8).copy()
        for wx in self.wheel_x:
            cx, cy = P(wx, r)
            R = r * W * 1.12
            ys, xs = np.ogrid[:H, :W]
            d2 = (xs - cx) ** 2 + (ys - cy) ** 2
            gap = (d2 > (r * W) ** 2) & (d2 < R**2) & (ys > cy)
            coverage[gap] = 0
        rgb = np.asarray(img).copy()
        rgb[coverage == 0] = 0
        return rgb, coverage

    def _front_or_rear(self, W: int, rng):
        """Seen head-on: body block, glasshouse trapezoid, tyres below, lights, grille or plate."""
        H = int(math.ceil(W * self.aspect()))
        P = lambda x, y: (x * W, H - y * W / 0.42)  # noqa: E731  x across 0..1, y in car-length units
        c, b = self.clearance, self.belt
        alpha = Image.new("L", (W, H), 0)
        da = ImageDraw.Draw(alpha)
        tyre_w = 0.11
        for x0 in (0.03, 0.97 - tyre_w):
            da.rounded_rectangle([P(x0, c + 0.04), P(x0 + tyre_w, 0)], radius=W * 0.02, fill=255)
        body = [P(0.0, c + 0.02), P(0.0, b - 0.04), P(0.03, b), P(0.97, b), P(1.0, b - 0.04), P(1.0, c + 0.02)]
        da.polygon(chaikin(body, 2), fill=255)
        cabin = [P(0.06, b), P(0.17, self.roof), P(0.83, self.roof), P(0.94, b)]
        da.polygon(chaikin(cabin, 2), fill=255)
        # mirrors
        da.ellipse([P(-0.0, b + 0.03), P(0.07, b + 0.005)], fill=255)
        da.ellipse([P(0.93, b + 0.03), P(1.0, b + 0.005)], fill=255)
        a = np.asarray(alpha, dtype=np.float32) / 255
        rgb = self._shade(H, W, P(0, b)[1] / H - 0.05, P(0, c)[1] / H, rng) * a[..., None]
        img = Image.fromarray((rgb * 255).astype(np.uint8))
        d = ImageDraw.Draw(img)
        for x0 in (0.03, 0.97 - tyre_w):
            d.rounded_rectangle([P(x0, c + 0.02), P(x0 + tyre_w, 0)], radius=W * 0.02, fill=(20, 20, 22))
        glass = [P(0.1, b + 0.01), P(0.19, self.roof - 0.012), P(0.81, self.roof - 0.012), P(0.9, b + 0.01)]
        d.polygon(chaikin(glass, 2), fill=tuple(int(v) for v in self.glass_tint))
        d.polygon([P(0.2, self.roof - 0.02), P(0.4, self.roof - 0.02), P(0.3, b + 0.02), P(0.16, b + 0.02)],
                  fill=tuple(min(255, int(v) + 35) for v in self.glass_tint))
        if self.view == "front":
            d.rounded_rectangle([P(0.3, b - 0.05), P(0.7, c + 0.05)], radius=W * 0.015, fill=(25, 25, 28))
            for gy in np.linspace(c + 0.06, b - 0.06, 4):
                d.line([P(0.31, gy), P(0.69, gy)], fill=(70, 70, 74), width=max(1, W // 300))
            light = (245, 245, 235)
        else:
            d.rectangle([P(0.38, c + 0.1), P(0.62, c + 0.06)], fill=(235, 235, 230))
            light = (190, 20, 25)
        d.rounded_rectangle([P(0.05, b - 0.02), P(0.24, b - 0.055)], radius=W * 0.01, fill=light)
        d.rounded_rectangle([P(0.76, b - 0.02), P(0.95, b - 0.055)], radius=W * 0.01, fill=light)
        if self.two_tone_bumper:
            d.rectangle([P(0.0, c + 0.05), P(1.0, c + 0.02)], fill=(35, 35, 38))
        rgb = np.asarray(img).copy()
        am = np.asarray(alpha)
        rgb[am == 0] = 0
        return rgb, am


# -- backgrounds -------------------------------------------------------------------------------
# Real photographs shipped in packages: scikit-image and scikit-learn (PyPI) and, where installed, the
# Debian wallpaper packages mate-backgrounds and plasma-workspace-wallpapers (only their photographs).
PHOTO_SOURCES = (
    ("skimage", "data", ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "grass.png", "gravel.png",
                         "brick.png", "motorcycle_left.png", "motorcycle_right.png", "color.png")),
    ("sklearn.datasets", "images", ("china.jpg", "flower.jpg")),
)
DEBIAN_PHOTOS = [Path("/usr/share/backgrounds/mate/nature")] + [
    Path("/usr/share/wallpapers") / name / "contents/images"
    for name in ("BytheWater", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite",
                 "OneStandsOut", "Path", "summer_1am")]


def photo_paths() -> list[Path]:
    import importlib

    paths: list[Path] = []
    for module, subfolder, names in PHOTO_SOURCES:
        try:
            location = importlib.import_module(module).__file__
        except ImportError:
            continue
        if location is None:  # a namespace package: no folder of its own
            continue
        root = Path(location).parent / subfolder
        paths += [root / n for n in names if (root / n).exists()]
    for folder in DEBIAN_PHOTOS:
        if folder.name == "images" and folder.is_dir():  # a wallpaper in many sizes: take one
            sizes = sorted(folder.glob("*.jpg"), key=lambda p: abs(int(p.stem.split("x")[0]) - 1280))
            paths += sizes[:1]
        elif folder.is_dir():
            paths += sorted(folder.glob("*.jpg"))
    return paths


@functools.lru_cache(maxsize=1)  # read once per process
def photo_pool() -> tuple[np.ndarray, ...]:
    """Real photographs shipped inside installed packages (none is downloaded), at most 1024 px wide."""
    photos = []
    for p in photo_paths():
        im = Image.open(p).convert("RGB")
        if im.width > 1024:
            im = im.resize((1024, round(im.height * 1024 / im.width)), Image.Resampling.BILINEAR)
        photos.append(np.asarray(im))
    return tuple(photos)


def fractal_noise(rng, h: int, w: int, octaves: int = 5) -> np.ndarray:
    out = np.zeros((h, w), np.float32)
    for o in range(octaves):
        s = 2 ** (o + 2)
        small = rng.random((s, max(2, s * w // max(h, 1))), dtype=np.float32)
        out += np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)) / 2**o
    out -= out.min()
    return out / max(out.max(), 1e-6)


def random_colour(rng, lo=0, hi=255) -> np.ndarray:
    return rng.uniform(lo, hi, 3).astype(np.float32) / 255


def studio(rng, h, w) -> np.ndarray:
    horizon = rng.uniform(0.45, 0.8)
    wall, floor = random_colour(rng, 60, 250), random_colour(rng, 30, 230)
    y = np.linspace(0, 1, h)[:, None, None]
    t = np.clip((y - horizon) / rng.uniform(0.02, 0.2), 0, 1)  # soft sweep into the floor
    img = wall * (1 - 0.3 * y) * (1 - t) + floor * (0.7 + 0.3 * y) * t
    xx = np.linspace(-1, 1, w)[None, :, None]
    img = img * (1 - rng.uniform(0, 0.4) * (xx**2 + (y - 0.5) ** 2))  # vignette
    return np.broadcast_to(img, (h, w, 3)).astype(np.float32)


def street(rng, h, w) -> np.ndarray:
    horizon = int(h * rng.uniform(0.35, 0.65))
    img = np.zeros((h, w, 3), np.float32)
    y = np.linspace(0, 1, horizon)[:, None, None]
    img[:horizon] = np.array([0.45, 0.62, 0.9]) * (0.7 + 0.3 * y) * rng.uniform(0.6, 1.2)
    pil = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    d = ImageDraw.Draw(pil)
    x = 0
    while x < w:  # buildings with windows
        bw = int(rng.uniform(0.1, 0.35) * w)
        bh = int(rng.uniform(0.2, 0.95) * horizon)
        col = tuple(int(v) for v in random_colour(rng, 60, 230) * 255)
        d.rectangle([x, horizon - bh, x + bw, horizon], fill=col)
        win = tuple(int(v * 0.5) for v in col)
        step = max(4, int(rng.uniform(0.02, 0.05) * w))
        for wy in range(horizon - bh + step // 2, horizon - step, step):
            for wx in range(x + step // 2, x + bw - step // 2, step):
                d.rectangle([wx, wy, wx + step // 2, wy + step // 2], fill=win)
        x += bw + int(rng.uniform(0, 0.05) * w)
    for _ in range(int(rng.integers(0, 5))):  # trees and poles
        tx, tr = rng.uniform(0, w), rng.uniform(0.04, 0.12) * w
        d.rectangle([tx - tr * 0.08, horizon - tr * 2, tx + tr * 0.08, horizon], fill=(70, 50, 35))
        d.ellipse([tx - tr, horizon - tr * 3.2, tx + tr, horizon - tr * 1.4],
                  fill=tuple(int(v) for v in (rng.uniform(20, 70), rng.uniform(70, 140), rng.uniform(20, 60))))
    road = rng.uniform(60, 140)
    d.rectangle([0, horizon, w, h], fill=(int(road), int(road), int(road + 5)))
    d.rectangle([0, horizon, w, horizon + (h - horizon) * 0.15], fill=(170, 168, 160))  # pavement
    ly = horizon + (h - horizon) * rng.uniform(0.5, 0.9)
    for lx in range(0, w, max(8, w // 8)):
        d.rectangle([lx, ly, lx + w // 16, ly + max(1, h // 90)], fill=(230, 230, 220))
    out = np.asarray(pil, dtype=np.float32) / 255
    return out * (0.9 + 0.2 * fractal_noise(rng, h, w)[..., None])


def texture(rng, h, w) -> np.ndarray:
    n = fractal_noise(rng, h, w)[..., None]
    return random_colour(rng) * (1 - n) + random_colour(rng) * n


def photo(rng, h, w, photos) -> np.ndarray:
    src = photos[rng.integers(len(photos))]
    sh, sw = src.shape[:2]
    scale = max(h / sh, w / sw) * rng.uniform(1.0, 2.0)
    ch, cw = min(sh, int(h / scale) + 1), min(sw, int(w / scale) + 1)
    y0, x0 = rng.integers(0, sh - ch + 1), rng.integers(0, sw - cw + 1)
    crop = Image.fromarray(src[y0:y0 + ch, x0:x0 + cw]).resize((w, h), Image.Resampling.BILINEAR)
    out = np.asarray(crop, dtype=np.float32) / 255
    return out[:, ::-1] if rng.random() < 0.5 else out


def distractors(rng, img: np.ndarray) -> np.ndarray:
    """Shapes in car colours and people-like blobs, so that 'not plain' does not mean 'car'."""
    h, w = img.shape[:2]
    pil = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    d = ImageDraw.Draw(pil)
    for _ in range(int(rng.integers(0, 4))):
        col = tuple(int(v) for v in random_colour(rng) * 255)
        x, y, s = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.03, 0.2) * w
        if rng.random() < 0.5:
            d.ellipse([x - s, y - s * 0.6, x + s, y + s * 0.6], fill=col)
        elif rng.random() < 0.5:  # a person: head and body
            d.ellipse([x - s * 0.12, y - s, x + s * 0.12, y - s * 0.75], fill=col)
            d.rounded_rectangle([x - s * 0.2, y - s * 0.75, x + s * 0.2, y + s * 0.3], radius=s * 0.08, fill=col)
        else:
            pts = [(x + s * math.cos(a), y + s * math.sin(a)) for a in np.sort(rng.uniform(0, 6.28, 5))]
            d.polygon(pts, fill=col)
    return np.asarray(pil, dtype=np.float32) / 255


def background(rng, h: int, w: int, photos: Sequence[np.ndarray]) -> np.ndarray:
    kinds = [studio, street, texture] + ([lambda r, hh, ww: photo(r, hh, ww, photos)] if photos else [])
    weights = np.array([0.25, 0.3, 0.1] + ([0.35] if photos else []))
    bg = kinds[rng.choice(len(kinds), p=weights / weights.sum())](rng, h, w)
    if rng.random() < 0.5:
        bg = distractors(rng, bg)
    return np.ascontiguousarray(bg, dtype=np.float32)


# -- scenes ------------------------------------------------------------------------------------
def place(bg: np.ndarray, car_rgb: np.ndarray, car_a: np.ndarray, x: int, y: int, rng,
          shadow: float = 0.6, reflect: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """Composite a rendered car with its top-left at (x, y); returns the image and the car mask."""
    h, w = bg.shape[:2]
    ch, cw = car_a.shape
    canvas_rgb = np.zeros_like(bg)
    canvas_a = np.zeros((h, w), np.float32)
    ys, xs = slice(max(y, 0), min(y + ch, h)), slice(max(x, 0), min(x + cw, w))
    cys, cxs = slice(ys.start - y, ys.stop - y), slice(xs.start - x, xs.stop - x)
    if ys.start >= ys.stop or xs.start >= xs.stop:
        return bg.copy(), canvas_a
    canvas_rgb[ys, xs] = car_rgb[cys, cxs]
    canvas_a[ys, xs] = car_a[cys, cxs]
    # ground shadow: a soft ellipse under the car, darker at the contact line; not part of the mask
    sh = Image.new("L", (w, h), 0)
    ground = y + ch
    ImageDraw.Draw(sh).ellipse([x - cw * 0.04, ground - ch * 0.12, x + cw * 1.06, ground + ch * 0.1], fill=255)
    sh = sh.filter(ImageFilter.GaussianBlur(max(1.0, ch * 0.06)))
    out = bg * (1 - shadow * np.asarray(sh, dtype=np.float32)[..., None] / 255)
    # the environment mirrored in the paint
    env = np.asarray(Image.fromarray((np.clip(bg, 0, 1) * 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(max(1.0, w / 60))), dtype=np.float32)[::-1] / 255
    car = canvas_rgb * (1 - reflect) + env * reflect * (canvas_a[..., None] > 0)
    a = canvas_a[..., None]
    return out * (1 - a) + car * a, canvas_a


def camera(rng, img: np.ndarray) -> np.ndarray:
    """Exposure, colour cast, blur, sensor noise and JPEG, as a real camera and codec add."""
    img = img * rng.uniform(0.7, 1.25) * rng.uniform(0.9, 1.1, 3)
    img = np.clip(img + rng.normal(0, rng.uniform(0, 0.03), img.shape), 0, 1)
    pil = Image.fromarray((img * 255).astype(np.uint8))
    if rng.random() < 0.3:
        pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=int(rng.integers(60, 96)))
    return np.asarray(Image.open(buf).convert("RGB"))


def scene(rng: np.random.Generator, height: int = 256, width: int = 448,
          photos: tuple[np.ndarray, ...] | None = None, car: Car | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One image [H,W,3] uint8 and its car mask [H,W] uint8 (0..255, soft at the edges)."""
    photos = photo_pool() if photos is None else photos
    bg = background(rng, height, width, photos)
    car = car or Car.random(rng)
    span = rng.uniform(0.35, 0.95) if car.view == "side" else rng.uniform(0.2, 0.5)
    cw = int(width * span)
    rgb, a = car.render(cw, rng.uniform(0, 6.3), rng)
    if rgb.shape[0] > height * 0.95:  # too tall for the frame: shrink to fit
        cw = int(cw * height * 0.95 / rgb.shape[0])
        rgb, a = car.render(cw, rng.uniform(0, 6.3), rng)
    ch = rgb.shape[0]
    x = int(rng.uniform(-0.15 * cw, width - 0.85 * cw))
    ground = rng.uniform(0.6, 1.0) if rng.random() < 0.8 else rng.uniform(0.25, 1.0)  # mostly on the floor
    y = max(int(ground * height) - ch, -ch // 6)
    img, mask = place(bg, rgb, a, x, y, rng, shadow=rng.uniform(0.3, 0.8), reflect=rng.uniform(0.05, 0.3))
    return camera(rng, img), (np.clip(mask, 0, 1) * 255).astype(np.uint8)
