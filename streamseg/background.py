"""Background: what the car is composited over, at the frame size, on the compute device.

`--bg` takes a colour (`#RRGGBB`, `#RGB` or a name), a backdrop drawn at the frame's size (the `studio`
sweep, a white `cyclorama`, a dark `showroom`, an outdoor `forecourt`: PRESETS), an image (resized to cover
the frame and centre-cropped), or a video (same, looped for as long as the input runs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from streamseg.colour import Colour
from streamseg.composite import to_planar
from streamseg.errors import InputError, StreamsegError
from streamseg.hdr import sdr_to_output
from streamseg.io.reader import VideoReader
from streamseg.limits import check_size

COLOURS = {
    "green": "#00b140",  # chroma-key green
    "blue": "#0047bb",  # chroma-key blue
    "white": "#ffffff",
    "black": "#000000",
    "grey": "#808080",
    "gray": "#808080",
}
STUDIO = "studio"  # a soft light-grey sweep, the default backdrop
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def studio_sweep(height: int, width: int) -> np.ndarray:
    """A light studio wall fading into a slightly darker floor, with a gentle vignette."""
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    wall = np.array([238, 240, 243]) / 0.93
    out = np.empty((height, width, 3), np.uint8)
    for row in range(height):  # a row at a time: the whole picture in float64 took 24 bytes a pixel (100 MP: 2.4 GB)
        level = 0.93 - 0.18 * np.clip((y[row] - 0.55) / 0.45, 0, 1) - 0.06 * x[0] ** 2
        out[row] = (level[:, None] * wall).clip(0, 255).astype(np.uint8)
    return out


def _rows(height: int, width: int, row: Callable[[float, np.ndarray], np.ndarray]) -> np.ndarray:
    """A drawn backdrop, a row at a time (so a 100 MP one costs its 3 bytes a pixel, no float copy):
    row(y in 0..1 from the top, x in -1..1 [W]) -> [W,3] float 0..255."""
    x = np.linspace(-1, 1, width, dtype=np.float32)
    out = np.empty((height, width, 3), np.uint8)
    for r in range(height):
        out[r] = np.clip(row((r + 0.5) / height, x) + 0.5, 0, 255).astype(np.uint8)
    return out


def _smooth(t: np.ndarray | float) -> np.ndarray | float:
    t = np.clip(t, 0, 1)
    return t * t * (3 - 2 * t)


def cyclorama(height: int, width: int) -> np.ndarray:
    """A white infinity cove: the wall curves into the floor with no line, the floor a touch greyer."""
    white, floor = np.array([250, 250, 251], np.float32), np.array([232, 233, 236], np.float32)

    def row(y: float, x: np.ndarray) -> np.ndarray:
        t = float(_smooth((y - 0.45) / 0.35))  # the cove: wall to floor over a third of the height
        level = 1 - 0.025 * x ** 2 * (1 - t)
        return (white + (floor - white) * t) * level[:, None]
    return _rows(height, width, row)


def showroom(height: int, width: int) -> np.ndarray:
    """A dark showroom: charcoal wall with two soft pools of light, a polished near-black floor from 58%
    of the height down, lit faintly where the light falls."""
    wall, floor = np.array([44, 46, 51], np.float32), np.array([24, 25, 28], np.float32)

    def row(y: float, x: np.ndarray) -> np.ndarray:
        if y < 0.58:
            pools = np.exp(-((np.abs(x) - 0.45) ** 2) / 0.06 - (y - 0.25) ** 2 / 0.05)
            return wall[None] * (0.8 + 0.9 * pools[:, None])
        d = y - 0.58
        sheen = np.exp(-(x ** 2) / 0.5 - (d - 0.12) ** 2 / 0.01) * 0.6 + np.exp(-d / 0.01) * 0.5  # floor's edge lit
        return floor[None] * (1 + sheen[:, None])
    return _rows(height, width, row)


def forecourt(height: int, width: int) -> np.ndarray:
    """An outdoor forecourt: a pale sky, a band of distant hedge, light concrete paving with joints in
    perspective from 52% of the height down."""
    sky_top, sky_low = np.array([150, 185, 222], np.float32), np.array([214, 226, 238], np.float32)
    hedge, paving = np.array([70, 92, 64], np.float32), np.array([178, 176, 170], np.float32)
    horizon = 0.52

    def row(y: float, x: np.ndarray) -> np.ndarray:
        if y < horizon - 0.06:
            t = y / (horizon - 0.06)
            return np.broadcast_to(sky_top + (sky_low - sky_top) * t, (len(x), 3)).copy()
        if y < horizon:
            bumps = 0.85 + 0.15 * np.sin(x * 37.0) * np.sin(x * 11.0)
            return hedge[None] * bumps[:, None]
        depth = (y - horizon) / (1 - horizon)  # 0 at the horizon, 1 at the bottom edge
        level = 0.82 + 0.18 * depth
        u = x / max(depth, 1e-3)  # across the ground, in perspective
        joints = (np.abs(((u * 3.0) % 1.0) - 0.5) > 0.485) & (depth > 0.05)  # none where they would alias
        rows = np.abs((((1 / max(depth, 1e-3)) * 1.2) % 1.0) - 0.5) > 0.47 if depth > 0.08 else False
        out = paving[None] * level * np.ones((len(x), 1), np.float32)
        out[joints | rows] *= 0.86
        return out
    return _rows(height, width, row)


@dataclass(frozen=True)
class Preset:
    """A backdrop drawn in the package, for any output size, and the studio look that goes with it."""
    draw: Callable[[int, int], np.ndarray]  # (height, width) -> [H,W,3] uint8
    floor: float  # where the floor meets the wall, as a share of the height from the top
    shadow: tuple[int, int, int]  # the colour of full shadow on this floor
    about: str


PRESETS = {
    STUDIO: Preset(studio_sweep, 0.55, (0, 0, 0), "a soft light-grey studio sweep (the default)"),
    "cyclorama": Preset(cyclorama, 0.62, (70, 72, 80), "a white infinity cove"),
    "showroom": Preset(showroom, 0.58, (4, 4, 6), "a dark showroom, polished floor"),
    "forecourt": Preset(forecourt, 0.52, (30, 32, 36), "an outdoor forecourt, concrete paving"),
}
HELP = (f"pass an image, a video, a colour like #1e90ff, one of: {', '.join(COLOURS)}, or a drawn backdrop: "
        f"{', '.join(PRESETS)}")


def preset(spec: str) -> Preset | None:
    return PRESETS.get(str(spec).lower())


def parse_colour(text: str) -> tuple[int, int, int] | None:
    text = COLOURS.get(text.lower(), text)
    if not text.startswith("#"):
        return None
    digits = text[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    if len(digits) != 6:
        return None
    try:
        return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    except ValueError:
        return None


def cover(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[1,3,h,w] float -> [1,3,height,width]: scale to cover the frame, crop the centre."""
    h, w = image.shape[-2:]
    scale = max(height / h, width / w)
    nh, nw = max(height, round(h * scale)), max(width, round(w * scale))
    image = F.interpolate(image, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    y0, x0 = (nh - height) // 2, (nw - width) // 2
    return image[..., y0:y0 + height, x0:x0 + width]


class Background:
    """Call `batch(n)` for the next n frames' background, [n or 1, H or 1, W or 1, 3] uint8 on `device` (a
    colour is one pixel, broadcast), in the output's colour (`colour`: an HDR or BT.2020 output gets the SDR
    backdrop mapped into it). Pixels, as the frames are: a drawn backdrop costs its 3 bytes a pixel, not a
    float copy of 12 and another in each compositor (a 100 MP photo: 0.3 GB instead of 2.7)."""

    def __init__(self, spec: str, height: int, width: int, device: torch.device,
                 colour: Colour | None = None) -> None:
        self.spec, self.height, self.width, self.device = spec, height, width, device
        self.colour = colour
        self.video: VideoReader | None = None  # a video backdrop's reader, reopened to loop
        self.static: torch.Tensor | None = None
        rgb = parse_colour(spec)
        if rgb is not None:
            self.kind = "colour"
            self.static = pixels(self._mapped(torch.tensor(rgb, dtype=torch.float32, device=device).view(1, 3, 1, 1)
                                              / 255))
            return
        if (drawn := preset(spec)) is not None:
            self.kind = "drawn"
            picture = torch.from_numpy(drawn.draw(height, width))[None].to(device)
            self.static = picture if colour is None else pixels(self._mapped(to_planar(picture)))
            return
        path = Path(spec)
        if not path.exists():
            if spec.startswith("#"):
                raise InputError(f"background {spec!r} is not a colour (#RRGGBB or #RGB)", HELP)
            if path.suffix or "/" in spec:  # meant as a file
                raise InputError(f"background file not found: {spec}", "check the path; " + HELP)
            raise InputError(f"background {spec!r} is neither a file nor a colour", HELP)
        if path.suffix.lower() in IMAGE_EXTS:
            self.kind = "image"
            image = torch.from_numpy(np.array(self._read_image(path)))[None].to(device)
            self.static = pixels(cover(self._mapped(to_planar(image)), height, width))
        else:
            self.kind = "video"
            try:
                self.video = VideoReader(path, audio=False)
            except StreamsegError as e:
                raise InputError(f"cannot use background {path.name}: {e.problem}", HELP) from None
            self.frames = iter(self.video)

    @staticmethod
    def _read_image(path: Path) -> np.ndarray:
        try:
            with Image.open(path) as im:
                check_size(f"background image {path.name}", *im.size)
                return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        except (UnidentifiedImageError, OSError) as e:
            raise InputError(f"cannot read background image {path.name} ({e})", HELP) from None

    def _mapped(self, rgb: torch.Tensor) -> torch.Tensor:
        return rgb if self.colour is None else sdr_to_output(rgb, self.colour)

    def _next_video_frame(self) -> np.ndarray:
        frame = next(self.frames, None)
        if frame is None:  # loop: open it again (works for files that cannot seek, too)
            if self.video is not None:
                self.video.close()
            self.video = VideoReader(self.spec, audio=False)
            self.frames = iter(self.video)
            frame = next(self.frames)
        return cast(np.ndarray, frame.rgb)  # PyAV decodes into host memory

    def batch(self, n: int) -> torch.Tensor:
        if self.static is not None:
            return self.static
        stack = torch.from_numpy(np.stack([self._next_video_frame() for _ in range(n)])).to(self.device)
        return pixels(cover(self._mapped(to_planar(stack)), self.height, self.width))

    def close(self) -> None:
        if self.video:
            self.video.close()


def pixels(planar_float: torch.Tensor) -> torch.Tensor:
    """[N,3,H,W] float 0..1 -> [N,H,W,3] uint8, rounded."""
    return planar_float.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
