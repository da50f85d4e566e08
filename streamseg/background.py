"""Background: what the car is composited over, at the frame size, on the compute device.

`--bg` takes a colour (`#RRGGBB`, `#RGB` or a name), an image (resized to cover the frame and
centre-cropped), or a video (same, looped for as long as the input runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from streamseg.colour import Colour
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
HELP = (f"pass an image, a video, a colour like #1e90ff, or one of: {', '.join(COLOURS)}, {STUDIO}")


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


def cover(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[1,3,h,w] float -> [1,3,height,width]: scale to cover the frame, crop the centre."""
    h, w = image.shape[-2:]
    scale = max(height / h, width / w)
    nh, nw = max(height, round(h * scale)), max(width, round(w * scale))
    image = F.interpolate(image, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    y0, x0 = (nh - height) // 2, (nw - width) // 2
    return image[..., y0:y0 + height, x0:x0 + width]


class Background:
    """Call `batch(n)` for the next n frames' background, [n or 1,3,H,W] float 0..1 on `device`, in the
    output's colour (`colour`: an HDR or BT.2020 output gets the SDR backdrop mapped into it)."""

    def __init__(self, spec: str, height: int, width: int, device: torch.device,
                 colour: Colour | None = None) -> None:
        self.spec, self.height, self.width, self.device = spec, height, width, device
        self.colour = colour
        self.video: VideoReader | None = None  # a video backdrop's reader, reopened to loop
        self.static: torch.Tensor | None = None
        rgb = parse_colour(spec)
        if rgb is not None:
            self.kind = "colour"
            self.static = self._mapped(torch.tensor(rgb, dtype=torch.float32, device=device).view(1, 3, 1, 1) / 255)
            return
        if spec.lower() == STUDIO:
            self.kind = "studio"
            self.static = self._upload(studio_sweep(height, width))
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
            self.static = cover(self._upload(self._read_image(path)), height, width)
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

    def _upload(self, rgb: np.ndarray) -> torch.Tensor:
        return self._mapped(torch.from_numpy(np.array(rgb)).to(self.device).permute(2, 0, 1)[None].float().div_(255))

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
        stack = np.stack([self._next_video_frame() for _ in range(n)])
        frames = torch.from_numpy(stack).to(self.device).permute(0, 3, 1, 2).float() / 255
        return cover(self._mapped(frames), self.height, self.width)

    def close(self) -> None:
        if self.video:
            self.video.close()


class Uint8Backdrop:
    """A background batch as [N or 1,H or 1,W or 1,3] uint8 on the host, for the numpy stages (the fused CPU
    compositor, the studio stage): exact for colours and the studio sweep, within half a grey level for
    pictures and videos. A static background is the same tensor batch after batch: converted once."""

    def __init__(self) -> None:
        self._last: tuple[torch.Tensor, np.ndarray] | None = None

    def __call__(self, background: torch.Tensor) -> np.ndarray:
        if self._last is None or self._last[0] is not background:
            u8 = background.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
            self._last = (background, u8.cpu().numpy())
        return self._last[1]
