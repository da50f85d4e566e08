"""Number plates covered: where a plate is (four corners), kept over time, and painted over (issue 26).

A plate detector gives a plate probability map; `plate_quads` turns each plate-shaped blob of it into the
plate's four corners in the frame; `PlateTracker` keeps each plate from frame to frame, steadies its corners and
keeps covering it for a while after the detector misses it (a plate seen in one frame and missed in the next
is still covered: a missed plate is a privacy failure, a plate covered a few frames too long is not);
`cover_plates` blurs it, fills it with a colour, or lays the dealer's logo over it in the plate's perspective.
`PlateMasker` joins them for a run (`--plate`): the shipped detector (`weights/plates.pt`, a width-8 UNet
trained by `training.plates` + `training.train`, MODEL_CARD.md) on each frame through the run's own backend,
then the tracker, then the cover, on the full-resolution frame before it is composited, so the composite, the
cut-out and the studio's reflection all show the covered plate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from streamseg.errors import InputError

if TYPE_CHECKING:
    import torch

    from streamseg.backends.base import Backend

PLATE_MODEL = "plates.pt"  # in streamseg/weights/
THRESHOLD = 0.3  # the detector's plate probability a pixel must reach: chosen on held-out photos (MODEL_CARD.md)
MIN_AREA = 0.00002  # of the frame: smaller blobs are noise (a 1080p plate 20 px wide is about 0.00005)
JOIN = (5, 3)  # detector pixels (w, h): pieces of the map this close are one plate
# plate width / height. From 1, not from a plate's own 1.3 or more: two-line plates, plates cut by the frame's
# edge and plates seen from the side are squarer (readable held-out plates found 0.54 -> 0.63 on a tenth of the
# photos, precision unchanged: MODEL_CARD.md); a covered badge costs little, a missed plate is a privacy failure.
# Longer than 8: a line of text.
ASPECTS = (1.0, 8.0)


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


def plate_quads(prob: np.ndarray, height: int, width: int, threshold: float = THRESHOLD) -> list[np.ndarray]:
    """prob [h,w] 0..1 at the detector's size -> each plate's corners in a height x width frame, float32 [4,2]
    (x, y) clockwise from the top left. Pieces of the map a few pixels apart are one plate (on a large plate the
    dark characters break the map into pieces); a plate is kept when its area and its rectangle's aspect are a
    plate's."""
    h, w = prob.shape
    found = (prob >= threshold).astype(np.uint8)
    joined = cv2.dilate(found, cv2.getStructuringElement(cv2.MORPH_RECT, JOIN))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    quads = []
    for k in range(1, count):
        ys, xs = np.nonzero((labels == k) & (found > 0))
        if len(xs) < max(2, MIN_AREA * h * w):
            continue
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


def plate_model_path() -> Path:
    from streamseg.weights import default_model_path

    return default_model_path().with_name(PLATE_MODEL)


class PlateMasker:
    """One run's plate covering: pixels [N,H,W,3] uint8 (frames in order) -> the same frames, plates covered.

    `backend` runs the plate detector (opened like the car model, on the same backend and device); each call
    keeps the tracker's plates, so a plate the detector misses for a few frames stays covered. `covered` counts
    the frames with a plate covered (the run line says it)."""

    def __init__(self, backend: Backend, how: PlateCover, tracker: PlateTracker | None = None,
                 threshold: float = THRESHOLD) -> None:
        self.backend, self.how, self.threshold = backend, how, threshold
        self.tracker = tracker or PlateTracker()
        self.frames = self.covered = 0

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        host = pixels.cpu()  # on the CPU the frames themselves: covered in place
        for frame, found in zip(host.numpy(), self.detect(pixels)):
            quads = self.tracker.update(found)
            if quads:
                cover_plates(frame, quads, self.how)
                self.covered += 1
        self.frames += len(host)
        return host if pixels.device.type == "cpu" else host.to(pixels.device, non_blocking=True)

    def detect(self, pixels: torch.Tensor) -> list[list[np.ndarray]]:
        """Each frame's plates as the detector finds them (before tracking): corners [4,2] in frame pixels."""
        height, width = pixels.shape[1:3]
        return [plate_quads(p, height, width, self.threshold) for p in self.probabilities(pixels)]

    def probabilities(self, pixels: torch.Tensor) -> np.ndarray:
        """The detector's plate probability map of each frame, [N,h,w] at its input size."""
        from streamseg.composite import downscale, model_size, normalise

        spec, (height, width) = self.backend.spec, pixels.shape[1:3]
        small = downscale(pixels.to(self.backend.device).permute(0, 3, 1, 2), model_size(height, width, spec))
        return self.backend(normalise(small, spec))[:, 0].float().cpu().numpy()

    def describe(self) -> str:
        how = "blurred" if self.how.blur else "covered by the logo" if self.how.logo is not None else "filled"
        return f"plates {how} on {self.covered} of {self.frames} frames"

    def close(self) -> None:
        self.backend.close()


def open_plate_masker(how: PlateCover, backend_name: str, device: str | None) -> PlateMasker:
    """The shipped plate detector on `backend_name` (the run's own backend, already resolved) and `device`."""
    from streamseg.backends.registry import create_backend

    path = plate_model_path()
    if not path.is_file():
        raise InputError(f"the plate detector {path} is missing from this installation",
                         "reinstall streamseg, or leave out --plate")
    return PlateMasker(create_backend(backend_name, path, device), how)
