"""The studio look: the cut-out car placed on the backdrop so that it stands on the floor:

- `fit`: the car scaled and moved to the same place in every frame (its box from the matte, with margins),
  in an output frame of any size (`--size`, for marketplaces);
- `shadow`: a soft contact shadow on the floor, darkest where the tyres and the body's lower edge meet it,
  fading with distance below the floor line; nothing above that line;
- `reflection`: a mirrored copy of the car on the floor, fading with distance.

Where the car stands is measured once per frame, in one place (`Studio.ground`), on one matte whatever the
options: the network's low-resolution matte after the matte filters, taken into the output frame as the car
is (through the fit transform, or scaled to `--size`). The floor line runs through the wheels' contact
points, found on that matte's lower contour (`contact_points`): tilted as the view is, so in a three-quarter
view the far wheels, higher in the picture, stand on it too. In a video the floor line and the fitted box
are steadied by a One Euro filter (Casiez et
al., CHI 2012): heavy smoothing while they stand still, so a parked car does not jitter by a pixel, and
little lag when the car moves. With the shadow alone the compositor draws it in its own pass
(`StudioStage.shade` hands it the band); with fit, a new size or the reflection the compositor makes a
cut-out, and `StudioStage.lay_out` places it and lays it over the backdrop (`blend`). Either way one
function, `darken`, draws the shadow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import cv2
import numpy as np

if TYPE_CHECKING:
    import torch

MATTE = 128  # a pixel belongs to the car where its alpha is at least this (of 255)
STRIP = 256  # rows of the frame blended at a time (studio.blend)
SCAN = 4  # a cut-out's own matte, where no network matte is given, is measured at a quarter of its size

Shade = tuple[int, np.ndarray]  # a contact shadow: (first row, darkening 0..1 [rows, W]) of the backdrop
NO_SHADOW: Shade = (0, np.zeros((0, 0), np.float32))
Pixels = TypeVar("Pixels", float, np.ndarray, "torch.Tensor")  # one value, host arrays, device tensors alike


@dataclass(frozen=True)
class StudioLook:
    """What the studio stage does, and its parameters (fractions of the car's size unless said)."""
    shadow: bool = False
    reflection: bool = False
    fit: bool = False
    size: tuple[int, int] | None = None  # output (width, height); None = the input's
    shadow_strength: float = 0.7  # darkening right under the tyres (0..1)
    shadow_colour: tuple[int, int, int] = (0, 0, 0)  # full shadow on this floor (RGB 0..255), by the backdrop
    shadow_length: float = 0.04  # how far the contact shadow reaches below the floor line
    shadow_spread: float = 0.08  # reach of the wider, fainter ambient shadow
    reflection_opacity: float = 0.25
    reflection_length: float = 0.6  # the mirrored car fades out over this share of its height
    fit_width: float = 0.70  # the fitted car's box is this share of the output width ...
    fit_height: float = 0.60  # ... unless it would then be taller than this share of its height
    fit_floor: float = 0.84  # the fitted car stands on this line (share of the output height from the top)

    @property
    def active(self) -> bool:
        return self.shadow or self.reflection or self.fit or self.size is not None

    def describe(self) -> str:
        """For the run line: '; studio: shadow, reflection, fit, 1920x1080', or nothing."""
        parts = [name for name in ("shadow", "reflection", "fit") if getattr(self, name)]
        parts += [f"{self.size[0]}x{self.size[1]}"] if self.size else []
        return f"; studio: {', '.join(parts)}" if parts else ""


@dataclass(frozen=True)
class Box:
    """The car's bounding box in pixels (x0, y0 inclusive; x1, y1 exclusive)."""
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0


def car_box(alpha: np.ndarray) -> Box | None:
    """The box of the matte's car pixels (alpha >= MATTE), in continuous coordinates (pixel k spans k..k+1),
    its edges read to a fraction of a pixel from the matte's soft border: a box then moves smoothly as the
    car does, not in whole pixels. None when there is no car."""
    rows = alpha.max(axis=1).astype(np.float32)
    cols = alpha.max(axis=0).astype(np.float32)
    ys, xs = np.flatnonzero(rows >= MATTE), np.flatnonzero(cols >= MATTE)
    if len(ys) == 0:
        return None
    return Box(_edge(cols, xs[0], -1), _edge(rows, ys[0], -1), _edge(cols, xs[-1], 1), _edge(rows, ys[-1], 1))


def _edge(profile: np.ndarray, i: int, step: int) -> float:
    """Where `profile` (max alpha per column or row) crosses MATTE between its last inside index `i` and
    the outside neighbour `i + step`, by linear interpolation between the two pixel centres."""
    j = i + step
    if j < 0 or j >= len(profile):
        return i + 0.5 + 0.5 * step  # the image's own edge
    t = float((profile[i] - MATTE) / max(profile[i] - profile[j], 1e-6))
    return i + 0.5 + step * t


class OneEuro:
    """One Euro filter of a vector of numbers in time (Casiez, Roussel, Vogel, CHI 2012): a low-pass filter
    whose cut-off rises with the speed of the signal. `min_cutoff` (Hz) sets the smoothing at rest,
    `beta` how quickly it lets go when the signal moves (units: per signal unit per second)."""

    def __init__(self, min_cutoff: float = 0.3, beta: float = 0.02, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.value: np.ndarray | None = None
        self.speed: np.ndarray | None = None
        self.seconds: float | None = None

    @staticmethod
    def _smoothing(dt: float, cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1 / (2 * math.pi * cutoff)
        return 1 / (1 + tau / dt)

    def __call__(self, value: np.ndarray, seconds: float) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        if self.value is None or self.seconds is None or seconds <= self.seconds or value.shape != self.value.shape:
            self.value, self.speed, self.seconds = value, np.zeros_like(value), seconds
            return value
        dt = seconds - self.seconds
        speed = (value - self.value) / dt
        assert self.speed is not None
        self.speed = self.speed + self._smoothing(dt, self.d_cutoff) * (speed - self.speed)
        cutoff = self.min_cutoff + self.beta * np.abs(self.speed)
        self.value = self.value + self._smoothing(dt, cutoff) * (value - self.value)
        self.seconds = seconds
        return self.value


def fit_transform(box: Box, out_width: int, out_height: int, look: StudioLook) -> np.ndarray:
    """The 2x3 affine (scale, then move) that puts `box` at the look's place in the output frame: centred
    across, its bottom on the fit floor, as wide as fit_width of the frame unless too tall."""
    scale = min(look.fit_width * out_width / max(box.width, 1.0), look.fit_height * out_height / max(box.height, 1.0))
    cx = (box.x0 + box.x1) / 2
    tx = out_width / 2 - scale * cx
    ty = look.fit_floor * out_height - scale * box.y1
    return np.array([[scale, 0, tx], [0, scale, ty]], dtype=np.float64)


def fitted_box(out_width: int, out_height: int, look: StudioLook, aspect: float) -> Box:
    """Where `fit_transform` puts a box of this width/height `aspect`: the requested place."""
    w = min(look.fit_width * out_width, look.fit_height * out_height * aspect)
    h = w / aspect
    bottom = look.fit_floor * out_height
    return Box(out_width / 2 - w / 2, bottom - h, out_width / 2 + w / 2, bottom)


def shrink(alpha: np.ndarray) -> np.ndarray:
    """A full-size matte at 1/SCAN of its size: what stands in for the network's matte where there is none."""
    return cv2.resize(alpha, (max(1, alpha.shape[1] // SCAN), max(1, alpha.shape[0] // SCAN)),
                      interpolation=cv2.INTER_AREA)


def in_output(small: np.ndarray, frame: tuple[int, int], size: tuple[int, int],
              placement: np.ndarray | None = None) -> np.ndarray:
    """A low-resolution matte (uint8) of a frame `frame` = (width, height) taken into the output frame `size`
    as the car is: through `placement` (2x3, frame pixels to output pixels, pixel edges on integers, as
    fit_transform), or else scaled to the output's size. Kept at the matte's own density, so a frame of the
    input's size keeps the matte as it is (no resampling: the default run pays nothing here)."""
    h, w = small.shape
    sx, sy = frame[0] / w, frame[1] / h  # frame pixels per matte pixel
    gw, gh = max(1, round(size[0] / sx)), max(1, round(size[1] / sy))
    if placement is None:
        if (gw, gh) == (w, h):
            return small
        placement = np.array([[size[0] / frame[0], 0, 0], [0, size[1] / frame[1], 0]])
    m = (np.diag([gw / size[0], gh / size[1], 1]) @ np.vstack([placement, [0, 0, 1]]) @ np.diag([sx, sy, 1]))[:2]
    m[:, 2] += m[:, :2] @ [0.5, 0.5] - 0.5  # pixel edges -> pixel centres, which warpAffine maps
    return cv2.warpAffine(small, m, (gw, gh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def as_uint8(matte: np.ndarray) -> np.ndarray:
    return matte if matte.dtype == np.uint8 else np.clip(matte * 255 + 0.5, 0, 255).astype(np.uint8)


def column_bottoms(small: np.ndarray, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(columns with car, the bottom edge of each column's lowest car pixel in full-size pixels) of a shrunk
    matte; `height` is the full size's. The edge is read to a fraction of a pixel from the soft border (where
    alpha crosses MATTE between the lowest car pixel and the one below it), as `car_box` reads the box: a
    tyre's lowest point then moves smoothly, not in steps of a matte pixel (4 output pixels and more)."""
    inside = small >= MATTE
    present = np.asarray(inside.any(axis=0))
    last = small.shape[0] - 1 - np.argmax(inside[::-1], axis=0)  # the lowest car pixel's row
    cols = np.arange(small.shape[1])
    here = small[last, cols].astype(np.float32)
    below = np.where(last + 1 < small.shape[0], small[np.minimum(last + 1, small.shape[0] - 1), cols], 0)
    t = np.clip((here - MATTE) / np.maximum(here - below.astype(np.float32), 1e-6), 0, 1)
    return present, (last + 0.5 + t) * height / small.shape[0]


def floor_line(small: np.ndarray, height: int) -> float | None:
    """The y (pixels) of the matte's lowest points, level: the floor where no wheels are found. A high
    quantile of the columns' lowest car pixel, so a stray speck of matte below the car does not move it."""
    present, bottoms = column_bottoms(small, height)
    if not present.any():
        return None
    return float(np.quantile(bottoms[present], 0.98))


def contact_points(small: np.ndarray, box: Box, width: int, height: int) -> np.ndarray:
    """Where the wheels stand, [k,2] (x, y) in output pixels, on a shrunk matte taken into the output frame:
    the lowest points of the car's lower contour that the body lifts it away from on both sides (a tyre's
    patch stands out below the sills, the bumpers and the wheel arches). In a side view two, in a
    three-quarter view three or four at different heights (the far wheels higher), in a front view two
    close together. Each is a local lowest point over 4% of the car's width either side, standing out by
    at least 4% of the car's height from the contour between it and any lower point (its prominence), so
    the body's own small bumps and the matte's noise are not taken for wheels."""
    present, bottoms = column_bottoms(small, height)
    per, row = width / small.shape[1], height / small.shape[0]  # output pixels per matte column / row
    profile = np.where(present, bottoms, box.y0).astype(np.float32)  # no car: as high as the car's top
    reach = max(1, round(0.04 * box.width / per))
    lowest = cv2.dilate(profile[None], np.ones((1, 2 * reach + 1), np.uint8), borderType=cv2.BORDER_CONSTANT,
                        borderValue=0)[0]
    peak = present & (profile >= lowest - 1e-3)
    rise = max(0.04 * box.height, 1.5 * row)
    found = []
    for a, b in _runs(peak):
        v = float(profile[a:b].max())
        if v - max(_dip(profile[:a][::-1], v), _dip(profile[b:], v)) < rise:
            continue
        patch = _around(profile >= v - 0.3 * row, int(a + np.argmax(profile[a:b])))
        found.append(((patch.mean() + 0.5) * per, v))
    return np.array(found, np.float64).reshape(-1, 2)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """The [start, end) of each stretch of True in a 1-d mask."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _dip(side: np.ndarray, v: float) -> float:
    """The highest the contour climbs (the smallest y) on one side of a low point at y = v, going outwards,
    before it comes lower than v again: what the low point stands out from."""
    lower = np.flatnonzero(side > v)
    part = side[:lower[0]] if len(lower) else side
    return float(part.min()) if len(part) else v


def _around(mask: np.ndarray, i: int) -> np.ndarray:
    """The indices of the stretch of True in `mask` that holds index i."""
    a, b = next((a, b) for a, b in _runs(mask) if a <= i < b)
    return np.arange(a, b)


def floor_through(contacts: np.ndarray, xs: np.ndarray, level: float) -> np.ndarray:
    """The floor's y at each x: the line through the contact points in order across the picture (one
    straight piece between each two, tilted as the view is; level beyond the outermost), or `level` where no
    wheel was found."""
    if len(contacts) == 0:
        return np.full(len(xs), level, np.float64)
    order = np.argsort(contacts[:, 0])
    return np.interp(xs, contacts[order, 0], contacts[order, 1])


def shadow_band(small: np.ndarray, box: Box, floor: np.ndarray, width: int, height: int, look: StudioLook) -> Shade:
    """The shadow, as (first row, darkening in 0..1 of shape [rows, width]), for the rows from the floor
    line's highest point down; zero above the floor line at each column (`floor`: its y per output column,
    which the wheels' contact points tilt). Per column: the contact term is strong where the car's lowest
    pixel is on the floor (a tyre's patch, the far wheels' as the near ones') and weaker where the body's
    edge is higher; a wider, fainter term spreads under the whole car (the dark under its body). Both fade
    with distance below the floor line at that column."""
    present, bottoms = column_bottoms(small, height)
    centres = (np.arange(small.shape[1]) + 0.5) * width / small.shape[1]
    gap = np.where(present, np.maximum(np.interp(centres, np.arange(width) + 0.5, floor) - bottoms, 0), np.inf)
    contact = np.exp(-gap / max(0.025 * box.height, 1.0)).astype(np.float32)  # 1 at a tyre, 0 beside the car
    ambient = present.astype(np.float32)
    per = width / small.shape[1]  # full-size pixels per measured column
    contact = _blur_row(contact, 0.015 * box.width / per)
    ambient = _blur_row(ambient, 0.5 * look.shadow_spread * box.width / per)
    contact, ambient = (cv2.resize(r[None], (width, 1), interpolation=cv2.INTER_LINEAR)[0] for r in (contact, ambient))
    top = float(floor.min())
    first = int(math.ceil(top - 0.5))  # the first pixel row whose centre is at or below the floor line
    reach = look.shadow_spread * box.width
    rows = int(min(height - first, math.ceil(3 * reach + floor.max() - top))) if first < height else 0
    # d, the distance below the line at a column, is (row - top) - (line - top): each fade exp(-d / length) is
    # a row's factor times a column's, so the band costs one multiply per pixel, not an exp (6 ms a 720p frame)
    below = np.arange(first, first + rows, dtype=np.float32) + np.float32(0.5 - top)
    lift = (floor - top).astype(np.float32)
    near, slow = max(look.shadow_length * box.width, 1.0), max(reach, 1.0)
    fast = 1 / (1 / slow + 1 / max(0.25 * reach, 1.0))  # exp(-d/R) * exp(-d/(R/4)) = exp(-d/fast)
    strength = look.shadow_strength
    band = _fade(below, lift, near, strength * contact)
    band += _fade(below, lift, slow, 0.6 * strength * ambient)  # the ambient term, which eases in: exp(-d/R) ...
    band -= _fade(below, lift, fast, 0.6 * strength * ambient)  # ... * (1 - exp(-4d/R)): no hard line
    band[below[:, None] < lift[None]] = 0  # nothing above the floor line
    return first, np.clip(band, 0, 0.9, out=band)


def _fade(below: np.ndarray, lift: np.ndarray, length: float, weight: np.ndarray) -> np.ndarray:
    """weight[x] * exp(-(below[y] - lift[x]) / length), [rows, W] float32, as an outer product. The column's
    factor is capped at exp(80) (float32 ends near exp(88)): only a line tilted by more than 80 fade lengths
    (the shortest is 1.6% of the car's width: more than the car's width) would reach the cap."""
    column = weight * np.exp(np.minimum(lift / length, 80))
    return np.outer(np.exp(-below / length), column).astype(np.float32, copy=False)


def _blur_row(row: np.ndarray, sigma: float) -> np.ndarray:
    if sigma < 0.5:
        return row
    k = 2 * math.ceil(3 * sigma) + 1  # a 1-high kernel: blur along the row only
    return cv2.GaussianBlur(row[None], (k, 1), sigmaX=sigma, borderType=cv2.BORDER_CONSTANT)[0]


def reflection_weights(floor: np.ndarray, car_height: float, height: int, look: StudioLook) -> tuple[int, np.ndarray]:
    """(first row, opacity [rows, W]) of the mirrored car below the floor line (`floor`: its y per column)."""
    top = float(floor.min())
    first = int(math.ceil(top - 0.5))
    reach = look.reflection_length * car_height
    rows = int(max(0, min(height - first, math.ceil(reach + floor.max() - top))))
    d = (np.arange(first, first + rows, dtype=np.float32) + 0.5)[:, None] - floor.astype(np.float32)[None]
    weights = look.reflection_opacity * np.clip(1 - d / max(reach, 1.0), 0, 1) ** 2
    return first, np.where(d >= 0, weights, 0).astype(np.float32)


def darken(backdrop: Pixels, dark: Pixels, shadow: Pixels) -> Pixels:
    """The contact shadow drawn: the backdrop (float, 0..1 or 0..255) moved by a shadow band's darkening
    (0..1) towards the colour of full shadow on that floor (`shadow`, same units: black unless the backdrop
    says otherwise, background.PRESETS), element by element, broadcast as the shapes allow. Every path draws
    the shadow with this function: the cut-out path in `blend` (numpy), the tensor compositor on its device
    (torch), and the fused CPU pass per pixel (numba compiles this same function into its loop: one
    definition, no extra pass)."""
    return backdrop + (shadow - backdrop) * dark


def blend(rgba: np.ndarray, backdrop: np.ndarray, shadow: Shade | None = None,
          reflection: tuple[np.ndarray, int, np.ndarray] | None = None,
          shadow_colour: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """The car over the backdrop, [H,W,3] uint8: backdrop darkened by the shadow band (`darken`), the
    mirrored car on the floor, then the car. `reflection` is (floor line's y per column, first row, opacity
    [rows, W]); both
    come from `Studio.ground`. Float work only in the floor band; the rest is OpenCV's blend, STRIP rows at
    a time, so the temporaries are a strip's (a 100 MP photo's whole-frame float weights were 0.8 GB)."""
    height, width = rgba.shape[:2]
    backdrop = np.broadcast_to(backdrop, (height, width, 3))
    out = np.empty((height, width, 3), np.uint8)
    for y0 in range(0, height, STRIP):
        y1 = min(height, y0 + STRIP)
        bg = np.array(backdrop[y0:y1], dtype=np.uint8)
        floor_band(bg, y0, rgba, shadow, reflection, shadow_colour)
        part = rgba[y0:y1]
        a = part[..., 3].astype(np.float32) * np.float32(1 / 255)
        out[y0:y1] = cv2.blendLinear(cv2.cvtColor(part, cv2.COLOR_RGBA2RGB), bg, a, 1 - a)
    return out


def floor_band(bg: np.ndarray, y0: int, rgba: np.ndarray, shadow: Shade | None,
               reflection: tuple[np.ndarray, int, np.ndarray] | None, shadow_colour: tuple[int, int, int]) -> None:
    """The shadow (`darken`) and the mirrored car drawn into `bg`, the backdrop's rows from y0 (uint8, in
    place), where they reach those rows; the mirror reads the car's rows above the floor line from `rgba`."""
    rows = [r for r in (shadow, reflection) if r is not None and len(r[-1])]
    first = max(y0, min((r[-2] for r in rows), default=y0))
    last = min(y0 + len(bg), max((r[-2] + len(r[-1]) for r in rows), default=y0))
    if first >= last:
        return
    band = bg[first - y0:last - y0].astype(np.float32)
    if shadow is not None and len(shadow[1]):
        top, dark = shadow
        lo, hi = max(first, top), min(last, top + len(dark))
        if lo < hi:  # one darkening [rows,W,1] for the 3 channels
            band[lo - first:hi - first] = darken(band[lo - first:hi - first], dark[lo - top:hi - top, :, None],
                                                 np.asarray(shadow_colour, np.float32))
    if reflection is not None and len(reflection[2]):
        floor, top, weights = reflection
        lo, hi = max(first, top), min(last, top + len(weights))
        if lo < hi:
            ys = np.arange(lo, hi)
            # each column mirrored about the floor line at that column (tilted where the wheels tilt it)
            src = np.clip(np.floor(2 * floor[None] - ys[:, None] - 1), 0, rgba.shape[0] - 1).astype(np.int32)
            mirrored = rgba[src, np.arange(rgba.shape[1])[None]]
            w = mirrored[..., 3].astype(np.float32) * np.float32(1 / 255) * weights[ys - top]
            part = band[ys - first]
            band[ys - first] = part + (mirrored[..., :3].astype(np.float32) - part) * w[..., None]
    bg[first - y0:last - y0] = np.clip(band + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Ground:
    """Where the car stands in one output frame: the steadied floor line (its y at each output column's
    centre, pixels: tilted through the wheels' contact points), the car's box, the contact shadow under it
    (NO_SHADOW when the look has none) and the wheels' contact points as measured in this frame ([k,2] x, y)."""
    floor: np.ndarray  # [W] float64
    box: Box
    shadow: Shade
    contacts: np.ndarray


class Studio:
    """The studio stage of one run: call it on each cut-out (RGBA uint8, in display order, with its time in
    seconds) and the backdrop at the output size; it keeps the floor line and the fit steady over time."""

    def __init__(self, look: StudioLook) -> None:
        self.look = look
        self.fit_filter = OneEuro(min_cutoff=0.3, beta=0.3)
        # slower to let go than the fit: the line's corners at the far wheels are steep, and a pixel's
        # tremble of a wheel across would shake them by more than a pixel a frame
        self.floor_filter = OneEuro(min_cutoff=0.3, beta=0.1)
        self.last_fit: np.ndarray | None = None

    def ground(self, matte: np.ndarray, frame: tuple[int, int], size: tuple[int, int], seconds: float,
               placement: np.ndarray | None = None) -> Ground | None:
        """The one measurement of where the car stands, whichever path draws it: on `matte`, the network's
        low-resolution matte (float 0..1 or uint8) of a frame of `frame` = (width, height), taken into the
        output frame `size` through `placement` (the fit transform; None: scaled), so the shadow and the
        reflection sit under the car where it was put. None without a car. Call it once per frame: it
        steadies the floor line over time."""
        grid = in_output(as_uint8(matte), frame, size, placement)
        out_w, out_h = size
        level = floor_line(grid, out_h)
        box = car_box(grid)
        if level is None or box is None:
            return None
        sx, sy = out_w / grid.shape[1], out_h / grid.shape[0]
        box = Box(box.x0 * sx, box.y0 * sy, box.x1 * sx, box.y1 * sy)
        contacts = contact_points(grid, box, out_w, out_h)
        # steadied at the matte's columns, not as contact points: a far wheel seen in one frame and not the
        # next changes the points' number, not the line's samples, which the filter then eases
        columns = (np.arange(grid.shape[1]) + 0.5) * sx
        measured = floor_through(contacts, columns, level)
        steady = self.floor_filter(measured, seconds)
        floor = np.interp(np.arange(out_w) + 0.5, columns, steady)
        shadow = shadow_band(grid, box, floor, out_w, out_h, self.look) if self.look.shadow else NO_SHADOW
        return Ground(floor, box, shadow, contacts)

    def shade(self, matte: np.ndarray, width: int, height: int, seconds: float = 0.0) -> Shade:
        """The contact shadow of one frame, for the compositor to draw in its own pass (the output is the
        frame, width x height); `matte` as in `ground`."""
        found = self.ground(matte, (width, height), (width, height), seconds)
        return found.shadow if found is not None else (0, np.zeros((0, width), np.float32))

    def __call__(self, rgba: np.ndarray, backdrop: np.ndarray, seconds: float = 0.0,
                 matte: np.ndarray | None = None) -> np.ndarray:
        """The cut-out placed (fit) or scaled to the backdrop's size, over it with the look's shadow and
        reflection. `matte`: the network's low-resolution matte of this frame, which `ground` measures; None
        (a cut-out alone) takes the cut-out's own alpha, shrunk."""
        look = self.look
        out_w, out_h = backdrop.shape[1], backdrop.shape[0]
        frame = (rgba.shape[1], rgba.shape[0])
        if matte is None and (look.shadow or look.reflection):
            matte = shrink(np.ascontiguousarray(rgba[..., 3]))
        placement = None
        if look.fit:
            rgba = self.place(rgba, out_w, out_h, seconds)
            placement = self.last_fit
        elif frame != (out_w, out_h):  # --size without --fit: scale the whole frame
            rgba = cv2.resize(rgba, (out_w, out_h), interpolation=cv2.INTER_AREA)
        shadow = reflection = None
        if matte is not None:
            found = self.ground(matte, frame, (out_w, out_h), seconds, placement)
            if found is not None:
                shadow = found.shadow if look.shadow else None
                if look.reflection:
                    first, weights = reflection_weights(found.floor, found.box.height, out_h, look)
                    reflection = (found.floor, first, weights)
        return blend(rgba, backdrop, shadow, reflection, look.shadow_colour)

    def place(self, rgba: np.ndarray, out_w: int, out_h: int, seconds: float) -> np.ndarray:
        """The cut-out moved and scaled so that the car's (steadied) box is at the fit's place, out_w x out_h."""
        box = car_box(np.ascontiguousarray(rgba[..., 3]))
        if box is not None:
            steady = self.fit_filter(np.array([box.x0, box.y0, box.x1, box.y1]), seconds)
            self.last_fit = fit_transform(Box(*steady), out_w, out_h, self.look)
        if self.last_fit is None:  # no car seen yet: the whole frame, scaled to fit
            s = min(out_w / rgba.shape[1], out_h / rgba.shape[0])
            self.last_fit = np.array([[s, 0, (out_w - s * rgba.shape[1]) / 2], [0, s, (out_h - s * rgba.shape[0]) / 2]])
        # box edges are pixel edges; warpAffine maps pixel centres: shift by half a pixel either side
        m = self.last_fit.copy()
        m[:, 2] += 0.5 * (m[0, 0] - 1)
        return cv2.warpAffine(rgba, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=(0, 0, 0, 0))


class StudioStage:
    """The studio look in a run: between the compositor and the encoder, batch by batch.

    With only the shadow on a composite, the compositor draws it in its own pass (`shade` hands it the
    band); with fit, a new size or the reflection, the compositor hands over the whole cut-out (`cutout`: it
    runs with layers "rgba") and `lay_out` places it and lays it over the backdrop (or returns it placed, for
    cut-out and matte outputs). Either way the shadow is measured by `Studio.ground` on the network's matte
    the compositor was given, so adding the reflection or a size does not move it."""

    def __init__(self, look: StudioLook, layers: str, time_base: float) -> None:
        self.look, self.layers, self.time_base = look, layers, time_base
        self.studio = Studio(look)
        self.cutout = look.fit or look.size is not None or (look.reflection and layers == "rgb")

    def shade(self, alpha_lr: torch.Tensor, pts: list[int], width: int, height: int) -> list[Shade] | None:
        """Per frame, the backdrop's shadow for the compositor's pass; None when it has none to draw.
        alpha_lr [N,1,h,w] 0..1: the network's matte, as the compositor gets it."""
        if self.cutout or not self.look.shadow or self.layers != "rgb":
            return None
        small = alpha_lr[:, 0].float().cpu().numpy()
        return [self.studio.shade(small[k], width, height, p * self.time_base) for k, p in enumerate(pts)]

    def lay_out(self, images: torch.Tensor, background: torch.Tensor | None, pts: list[int],
               alpha_lr: torch.Tensor) -> torch.Tensor:
        """[N,H,W,4] uint8 cut-outs (torch, any device) -> [N,H',W',C] uint8 on the host, at the output size;
        alpha_lr [N,1,h,w]: the matte the compositor cut them with, where the floor and shadow are measured."""
        import torch

        if not self.cutout:
            return images
        cut = images.cpu().numpy()
        width, height = self.look.size or (cut.shape[2], cut.shape[1])
        out = []
        mattes = alpha_lr[:, 0].float().cpu().numpy() if self.layers == "rgb" else None
        for k, p in enumerate(pts):
            seconds = p * self.time_base
            if mattes is not None:
                backdrop = self._backdrop_frame(background, k, width, height)
                out.append(self.studio(cut[k], backdrop, seconds, mattes[k]))
                continue
            placed = self.studio.place(cut[k], width, height, seconds) if self.look.fit else \
                cv2.resize(cut[k], (width, height), interpolation=cv2.INTER_AREA) \
                if (cut.shape[2], cut.shape[1]) != (width, height) else cut[k]
            out.append(placed if self.layers == "rgba" else np.repeat(placed[..., 3:], 3, axis=2))
        return torch.from_numpy(np.stack(out))

    def _backdrop_frame(self, background: torch.Tensor | None, k: int, width: int, height: int) -> np.ndarray:
        """Frame k's backdrop as [height,width,3] uint8 (a colour is 1x1: broadcast)."""
        if background is None:
            raise ValueError("a composite (layers 'rgb') needs a background")
        frames = background.cpu().numpy()  # [N or 1, H or 1, W or 1, 3] uint8
        return np.broadcast_to(frames[min(k, len(frames) - 1)], (height, width, 3))
