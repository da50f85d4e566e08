"""Photos: one still image through the same model and compositor as a video frame, at full resolution.

JPEG, PNG, WebP, TIFF and BMP in; EXIF orientation applied; an embedded ICC profile converted to sRGB (the
model and the backdrops are sRGB), and the summary says which. Out: the composite (JPEG, PNG, WebP or TIFF
by the output's extension), an RGBA cut-out (`-f png`), or the matte (`-f matte`), written under a
temporary name and renamed when complete.
"""

from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from streamseg.backends.base import Backend
from streamseg.background import Background
from streamseg.batching import FrameBatch
from streamseg.composite import Compositor, Layers
from streamseg.edges import EdgeStage, edge_stage_for, redraws
from streamseg.errors import InputError
from streamseg.files import check_target, write_whole
from streamseg.io.animated import is_animated_picture
from streamseg.limits import check_size
from streamseg.models import SIZE_MULTIPLE
from streamseg.options import RunOptions
from streamseg.plates import PlateMasker, open_plate_masker
from streamseg.studio import StudioLook, StudioStage
from streamseg.vehicles import Vehicles

HEIF_EXTS = {".heic", ".heif"}  # phones' format, read through pillow-heif
PHOTO_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"} | HEIF_EXTS
SAVE_AS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}
# -f -> what a photo's output holds
LAYERS: dict[str | None, Layers] = {None: "rgb", "mp4": "rgb", "png": "rgba", "matte": "matte"}
Image.MAX_IMAGE_PIXELS = None  # limits.check_size reads the size from the header first, against this machine


def is_photo(source: str | Path) -> bool:
    """A still picture, by its extension; an animated one (WebP, like GIF) is a video."""
    return Path(str(source)).suffix.lower() in PHOTO_EXTS and not is_animated_picture(source)


@dataclass
class PhotoSummary:
    input: str
    output: str
    format: str  # "composite", "cut-out" or "matte"
    width: int
    height: int
    colour: str  # what was done about the photo's colour space
    seconds: float
    backend: str
    device: str
    vehicles: str = "every vehicle"  # which vehicles the output holds (streamseg.vehicles)
    edges: bool = False  # the outline was redrawn at full resolution (streamseg.edges; not on small photos)
    plates: str = ""  # with --plate: whether a plate was covered (streamseg.plates)

    def as_dict(self) -> dict:
        return {**asdict(self), "frames": 1}


def read_photo(path: Path) -> tuple[np.ndarray, str, np.ndarray | None]:
    """[H,W,3] uint8 sRGB, upright; a note on its colour space (and transparency); and the photo's own alpha
    [H,W] uint8 where it has any transparent pixel, else None."""
    if not path.is_file():
        raise InputError(f"input not found: {path}", "check the path")
    return decode_photo(path, path.name)


def decode_photo(data: Path | bytes, name: str) -> tuple[np.ndarray, str, np.ndarray | None]:
    """read_photo for a file or its bytes (`name` is what messages call it)."""
    if isinstance(data, Path) and data.suffix.lower() in HEIF_EXTS or isinstance(data, bytes):
        import pillow_heif

        pillow_heif.register_heif_opener()  # libheif applies the stored rotation and resets EXIF's to 1
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as im:
            check_size(name, *im.size)  # from the header: a bomb is refused before it is decoded
            frames = getattr(im, "n_frames", 1)
            if frames > 1:  # its first frame alone would be a wrong answer: `is_photo` sends these to the video path
                raise InputError(f"{name} is animated ({frames} frames), not a photo",
                                 f"run it as a video: streamseg run {name}")
            im.load()  # a truncated or damaged file fails here, not half-way through the work
            ImageOps.exif_transpose(im, in_place=True)  # in place: a 100 MP copy is 400 MB
            rgb, note, alpha = picture_pixels(im, name, im.info.get("icc_profile"))
        # Pillow's pixels are freed with the image: only now the one writable copy (peak 7 bytes a pixel, not 17)
        return (rgb if rgb.flags.writeable else np.array(rgb)), note, alpha
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InputError(f"cannot read {name} as an image ({e})",
                         "the file is damaged, truncated or not an image; re-export it") from None


def picture_pixels(im: Image.Image, name: str, icc: bytes | None = None) -> tuple[np.ndarray, str, np.ndarray | None]:
    """A decoded, upright picture -> (sRGB [H,W,3] uint8, a note on its colour, its alpha [H,W] uint8 or None)."""
    if im.mode not in ("RGB", "RGBA", "L", "LA", "P", "CMYK", "I;16", "I", "F"):
        raise InputError(f"{name} has pixel mode {im.mode}, which streamseg does not read", "save it as 8-bit RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")  # Pillow's way for a palette's transparency
    rgb = im if im.mode == "RGB" else im.convert("RGB") if im.mode not in ("I;16", "I", "F") else to_8bit(im)
    alpha = None
    if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        alpha = np.asarray(im.convert("RGBA"))[..., 3].copy()
        alpha = None if alpha.min() == 255 else alpha
    note = "sRGB (no embedded profile)"
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            profile = ImageCms.getProfileDescription(source).strip() or "embedded profile"
            if "srgb" not in profile.lower():
                rgb = ImageCms.profileToProfile(rgb, source, ImageCms.createProfile("sRGB"), outputMode="RGB") or rgb
                note = f"converted from {profile} to sRGB"
            else:
                note = f"sRGB ({profile})"
        except (ImageCms.PyCMSError, OSError) as e:
            note = f"embedded ICC profile unreadable ({e}); taken as sRGB"
    if alpha is not None:
        note += f"; its transparency kept ({(alpha < 255).mean():.0%} of it transparent: the matte times its alpha)"
    return np.asarray(rgb), note, alpha  # read-only, sharing one buffer with nothing else


def to_8bit(im: Image.Image) -> Image.Image:
    """16-bit or float greyscale to 8-bit RGB by its range."""
    a = np.asarray(im, dtype=np.float32)
    scale = 65535.0 if im.mode in ("I;16", "I") else 1.0
    return Image.fromarray((np.clip(a / scale, 0, 1) * 255 + 0.5).astype(np.uint8)).convert("RGB")


def default_output(source: Path, layers: Layers, folder: Path | None = None) -> Path:
    """photo_streamseg.jpg beside the input or in `folder` (a composite keeps JPEG for a JPEG); PNG for
    cut-outs and mattes."""
    tag = "matte" if layers == "matte" else "streamseg"
    suffix = source.suffix.lower() if layers == "rgb" and source.suffix.lower() in SAVE_AS else \
        ".jpg" if layers == "rgb" and source.suffix.lower() in HEIF_EXTS else ".png"
    return (folder or source.parent) / f"{source.stem}_{tag}{suffix}"


def check_output(source: Path, output: Path, layers: Layers, overwrite: bool) -> None:
    """A photo's output is an image that can hold what it is asked to (then the rules of every output)."""
    suffix = output.suffix.lower()
    if suffix not in SAVE_AS:
        raise InputError(f"a photo's output must be an image: {output.name}",
                         f"use one of {', '.join(sorted(SAVE_AS))}")
    if layers == "rgba" and SAVE_AS[suffix] == "JPEG":
        raise InputError(f"JPEG has no alpha channel for a cut-out: {output.name}", "name the output .png")
    check_target(source, output, overwrite)


def render(rgb: np.ndarray, alpha: np.ndarray | None, layers: Layers, backend: Backend, *, background: str = "studio",
           refine: bool = True, look: StudioLook | None = None, vehicles: Vehicles = "subject",
           plates: PlateMasker | None = None, edges: EdgeStage | None = None,
           name: str = "the photo") -> tuple[np.ndarray, str]:
    """One picture through the model, the compositor and the studio look, as a video frame goes: rgb [H,W,3]
    uint8 sRGB (and its own alpha [H,W] or None) -> the output's pixels ([H',W',3] composite, [H',W',4] cut-out,
    [H',W'] matte, uint8) and which vehicles they hold. `plates` covers its number plates (--plate); `edges`
    redraws the matte's outline at full resolution (streamseg.edges).
    The file path and the Python API both come here."""
    from streamseg.pipeline import kept, make_compositor, matte_filters, process_batch

    h, w = rgb.shape[:2]
    if h < SIZE_MULTIPLE or w < SIZE_MULTIPLE:
        raise InputError(f"{name} is {w}x{h}; photos must be at least {SIZE_MULTIPLE}x{SIZE_MULTIPLE}",
                         "use a larger image")
    look = look or StudioLook()
    studio = StudioStage(look, layers, time_base=1.0) if look.active else None
    out_w, out_h = look.size or (w, h)
    bg = Background(background, out_h, out_w, backend.device) if layers == "rgb" else None
    try:
        batch = FrameBatch(torch.from_numpy(np.ascontiguousarray(rgb))[None], [0], [time.monotonic()], 0,
                           None if alpha is None else torch.from_numpy(np.ascontiguousarray(alpha))[None])
        layers_made: Layers = "rgba" if studio and studio.cutout else layers  # a cut-out when the studio places it
        compositor: Compositor = make_compositor(backend.device, layers_made, refine, smooth=False,
                                                 shadow_colour=look.shadow_colour, edges=edges)
        filters = matte_filters(smooth=False, vehicles=vehicles)  # one frame: nothing to steady
        image = process_batch(batch, backend, bg, compositor, studio, filters, plates, still=True)
    finally:
        if bg is not None:
            bg.close()
    pixels = image[0].cpu().numpy()
    return (pixels[..., 0].copy() if layers == "matte" else pixels), kept(filters)


def save_options(kind: str) -> dict:
    """How each format is written: JPEG and WebP at quality 95."""
    return {"quality": 95} if kind in ("JPEG", "WEBP") else {}


def run_photo(source: Path, output: Path, opts: RunOptions, backend: Backend) -> PhotoSummary:
    """One photo file to one output file (the output appears only when complete)."""
    started = time.perf_counter()
    rgb, note, alpha = read_photo(source)
    layers = opts.fmt.layers
    plates = None if opts.plate is None else open_plate_masker(opts.plate, backend.name, str(backend.device))
    # the edge stage (on by default for photos) is opened only for a photo large enough for it to work on
    stage = opts.edge_stage(photo=True) and redraws(*rgb.shape[:2])
    edges = edge_stage_for(backend, photos=True) if stage else None
    try:
        pixels, vehicles = render(rgb, alpha, layers, backend, background=opts.background, refine=opts.refine,
                                  look=opts.look, vehicles=opts.vehicles, plates=plates, edges=edges,
                                  name=source.name)
    finally:
        if plates is not None:
            plates.close()
        if edges is not None:
            edges.close()
    picture = Image.fromarray(pixels)
    kind = SAVE_AS[output.suffix.lower()]
    write_whole(output, lambda tmp: picture.save(tmp, format=kind, **save_options(kind)))
    h, w = rgb.shape[:2]
    return PhotoSummary(input=str(source), output=str(output),
                        format={"rgb": "composite", "rgba": "cut-out", "matte": "matte"}[layers],
                        width=w, height=h, colour=note, seconds=round(time.perf_counter() - started, 3),
                        backend=backend.describe(), device=str(backend.device), vehicles=vehicles,
                        edges=edges is not None and edges.redrawn > 0,
                        plates=plates.describe() if plates is not None else "")
