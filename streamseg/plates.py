"""Number plates covered: where a plate is (four corners), kept over time, and painted over (issue 26).

A plate detector gives a plate probability map; `plate_quads` turns each plate-shaped blob of it into the
plate's four corners in the frame; `PlateTracker` keeps each plate from frame to frame, steadies its corners and
keeps covering it for a while after the detector misses it (a plate seen in one frame and missed in the next
is still covered: a missed plate is a privacy failure, a plate covered a few frames too long is not);
`cover_plates` blurs it, fills it with a colour, or lays the dealer's logo over it in the plate's perspective.

The detector itself (a small UNet trained on `training.plates`) is not shipped yet; this module takes any map.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from streamseg.errors import InputError

MIN_AREA = 0.00002  # of the frame: smaller blobs are noise (a 1080p plate 20 px wide is about 0.00005)
ASPECTS = (1.3, 7.0)  # plate width / height: square US-style plates to long EU ones, seen a little from the side


@dataclass(frozen=True)
class PlateCover:
    """What a plate becomes: `blur`, a fill colour (RGB), or a logo image (RGBA uint8) warped onto it."""
    blur: bool = False
    colour: tuple[int, int, int] | None = None
    logo: np.ndarray | None = field(default=None, compare=False)


def parse_plate(value: str) -> PlateCover:
    """`--plate blur|colour|#RRGGBB|IMAGE` (`colour` is a neutral dark grey)."""
    from streamseg.background import parse_colour

    text = str(value).strip()
    if text.lower() == "blur":
        return PlateCover(blur=True)
    if text.lower() in ("colour", "color"):
        return PlateCover(colour=(40, 40, 40))
    rgb = parse_colour(text)
    if rgb is not None:
        return PlateCover(colour=rgb)
    path = Path(text)
    if not path.is_file():
        raise InputError(f"--plate {text!r} is not blur, colour, a colour like #203040 nor an image file",
                             "pass blur, colour, #RRGGBB, or the path of the logo to lay over each plate")
    from PIL import Image

    try:
        logo = np.asarray(Image.open(path).convert("RGBA"))
    except OSError as e:
        raise InputError(f"--plate {text}: not an image this program can read ({e})",
                             "pass a PNG or JPEG logo") from e
    return PlateCover(logo=logo)


def plate_quads(prob: np.ndarray, height: int, width: int, threshold: float = 0.5) -> list[np.ndarray]:
    """prob [h,w] 0..1 at the detector's size -> each plate's corners in a height x width frame, float32 [4,2]
    (x, y) clockwise from the top left. A blob is kept when its area and its rectangle's aspect are a plate's."""
    h, w = prob.shape
    count, labels, stats, _ = cv2.connectedComponentsWithStats((prob >= threshold).astype(np.uint8), connectivity=8)
    quads = []
    for k in range(1, count):
        if stats[k, cv2.CC_STAT_AREA] < max(2, MIN_AREA * h * w):
            continue
        ys, xs = np.nonzero(labels == k)
        points = np.stack([(xs + 0.5) * width / w, (ys + 0.5) * height / h], 1).astype(np.float32)
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(points)
        rw, rh = float(rw) + width / w, float(rh) + height / h  # pixel centres -> the blob's outer edge
        long_side, short_side = max(rw, rh), max(min(rw, rh), 1e-6)
        if not ASPECTS[0] <= long_side / short_side <= ASPECTS[1]:
            continue
        quads.append(order_corners(cv2.boxPoints(((cx, cy), (rw, rh), angle))))
    return quads


def order_corners(points: np.ndarray) -> np.ndarray:
    """Four points -> top left, top right, bottom right, bottom left (image coordinates, y down)."""
    p = np.asarray(points, np.float32)
    s, d = p.sum(1), p[:, 0] - p[:, 1]
    return np.stack([p[np.argmin(s)], p[np.argmax(d)], p[np.argmax(s)], p[np.argmin(d)]])


@dataclass
class Track:
    corners: np.ndarray  # [4,2]
    missed: int = 0


class PlateTracker:
    """Plates kept from frame to frame: a detection joins the nearest plate whose centre is within `reach`
    plate widths, and its corners move there by `follow` of the way (steady on a parked car); a plate the
    detector misses is still covered for `hold` frames where it was last seen."""

    def __init__(self, hold: int = 12, follow: float = 0.6, reach: float = 1.0) -> None:
        self.hold, self.follow, self.reach = hold, follow, reach
        self.tracks: list[Track] = []

    def update(self, quads: list[np.ndarray]) -> list[np.ndarray]:
        free = list(range(len(self.tracks)))
        for quad in quads:
            centre, size = quad.mean(0), float(np.linalg.norm(quad[1] - quad[0]))
            near = [(float(np.linalg.norm(self.tracks[i].corners.mean(0) - centre)), i) for i in free]
            dist, i = min(near, default=(np.inf, -1))
            if dist <= self.reach * max(size, 1.0):
                track = self.tracks[i]
                track.corners = track.corners + self.follow * (quad - track.corners)
                track.missed = 0
                free.remove(i)
            else:
                self.tracks.append(Track(quad.copy()))
        for i in free:
            self.tracks[i].missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.hold]
        return [t.corners for t in self.tracks]


def cover_plates(frame: np.ndarray, quads: list[np.ndarray], how: PlateCover, grow: float = 0.08) -> np.ndarray:
    """Paint each plate of frame [H,W,3] uint8 (in place, returned): the quad widened by `grow` of its size on
    every side, so a corner a pixel or two off still hides the characters."""
    height, width = frame.shape[:2]
    for quad in quads:
        centre = quad.mean(0)
        q = (centre + (quad - centre) * (1 + 2 * grow)).astype(np.float32)
        x0, y0 = np.floor(q.min(0)).astype(int)
        x1, y1 = np.ceil(q.max(0)).astype(int) + 1
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if x1 <= x0 or y1 <= y0:
            continue
        window = frame[y0:y1, x0:x1]
        local = q - np.array([x0, y0], np.float32)
        inside = np.zeros(window.shape[:2], np.uint8)
        cv2.fillConvexPoly(inside, np.round(local * 16).astype(np.int32), 1, cv2.LINE_AA, shift=4)
        if how.logo is not None:
            lh, lw = how.logo.shape[:2]
            warp = cv2.getPerspectiveTransform(np.array([[0, 0], [lw, 0], [lw, lh], [0, lh]], np.float32), local)
            logo = cv2.warpPerspective(how.logo, warp, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
            a = logo[..., 3:4].astype(np.float32) / 255 * inside[..., None]
            window[:] = (window * (1 - a) + logo[..., :3] * a).round().astype(np.uint8)
            continue
        if how.blur:
            side = max(3, int(max(x1 - x0, y1 - y0) / 3) | 1)  # a third of the plate: no character survives
            paint = cv2.GaussianBlur(cv2.blur(window, (side, side)), (0, 0), side / 3)
        else:
            paint = np.empty_like(window)
            paint[:] = how.colour or (40, 40, 40)
        window[inside > 0] = paint[inside > 0]
    return frame
