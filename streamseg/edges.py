"""The full-resolution edge stage (issue 23): the shipped edge network (models/edges.py, weights/edges.pt) redraws
the guided-filter matte where it is unsure, at the frame's own size.

Only the uncertain band is worked on: pixels whose matte is neither clearly car nor clearly background, widened
by GROW px (the coarse outline is up to about 20 px off). The frame is cut into tiles of the network's input size
less a margin on each side (models/edges.margin: the network's reach); tiles that hold band pixels go through the
backend in batches, and the middle of each comes back where the band is, fading into the kept matte over the
band's last FEATHER px. The margin gives every pixel the context the network was trained with
(training/edge_refiner.py trims the same margin from its loss), so tiles meet without seams (the same matte as
one convolution over the whole picture). On a 1918x1280 studio photo about a third of the tiles hold band pixels.

It leaves frames under MIN_PIXELS as they are. The network has a fixed reach (about 140 px) and learnt the
outline of cars photographed at 1918x1280; on much smaller frames it made even studio photos worse. Measured on
the Carvana evaluation cars shrunk (views 2 and 10, every other photo; default model; v2, the three-level
network): Boundary IoU 0.351 -> 0.332 and far false matte 0.017 -> 0.125% at 575x384 (0.22 MP), but 0.361 ->
0.406 at 767x512 (0.39 MP), 0.355 -> 0.434 at 959x640 and 0.375 -> 0.475 at 1343x896.

It runs through the run's own backend kind (`create_backend`: PyTorch CPU or CUDA, OpenVINO, compiled,
TensorRT), as the car model does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from streamseg.backends.base import Backend
from streamseg.models.edges import margin

if TYPE_CHECKING:
    from streamseg.car_check import CarCheck

LOW = 0.02  # a matte within LOW of 0 or 1 is sure
GROW = 24  # px the unsure pixels are widened by: the band the stage may change
FEATHER = 8  # px over which the redrawn matte fades into the kept one at the band's edge
# tiles per backend call. A CPU takes one: the batch every backend compiles first; with more, OpenVINO compiles the
# network a second time (for any batch) and held 0.11 GB more for no speed (272x272 tiles, 3 a call against 1).
# A GPU takes about 0.8 MP of tiles a call (32 of 160x160, 11 of 272x272).
GPU_CHUNK_PIXELS = 32 * 160 * 160
MIN_PIXELS = 300_000  # frames smaller than this (about 670x450) are left as they are
# The network gives the chance that a pixel is car; a matte says how much of the pixel is car, and a car's outline is
# sharp (a pixel of antialiasing). Where the network is unsure, a half-transparent matte is wrong either way: the car
# seen through (a chrome bumper, dark sills) or a haze beside it. So its logit is scaled by DECIDE: chosen on training
# cars (MODEL_CARD.md, edges.pt), where it cut the matte's error against the exact masks and left the outline smooth.
DECIDE = 3.0


def redraws(height: int, width: int) -> bool:
    """Whether the stage works on a frame of this size (else it leaves the matte as it is)."""
    return height * width >= MIN_PIXELS


def poolable(mask: torch.Tensor) -> torch.Tensor:
    """A bool mask as planes max_pool2d takes: bytes on a CPU (an 8 MP photo's float planes took 0.1 GB more),
    floats elsewhere, as every GPU pools them."""
    return mask.to(torch.uint8 if mask.device.type == "cpu" else torch.float)


def edges_model_path(coarse: str = "unet") -> Path:
    """The edge network trained on the mattes of the coarse network of arch `coarse`. IS-Net has its own: its matte
    is crisp but keeps what is salient and not car (wall lettering touching the car, which the UNet's gate lets
    through), and one network trained on both kinds of matte drew the UNet's outline a little worse (MODEL_CARD)."""
    return Path(__file__).parent / "weights" / ("edges-isnet.pt" if coarse == "isnet" else "edges.pt")


def decided(chance: torch.Tensor, decide: float) -> torch.Tensor:
    """The network's chance that a pixel is car (0..1) -> the matte: the same at 0, 0.5 and 1, steeper between."""
    return torch.sigmoid(torch.logit(chance.float(), eps=1e-6) * decide).to(chance.dtype)


def band(alpha: torch.Tensor, low: float = LOW, grow: int = GROW) -> torch.Tensor:
    """alpha [N,1,H,W] 0..1 -> bool [N,1,H,W]: the unsure pixels, widened by `grow` px (a square window, as
    two one-dimensional passes)."""
    unsure = poolable((alpha > low) & (alpha < 1 - low))
    if grow:
        k = 2 * grow + 1
        unsure = F.max_pool2d(F.max_pool2d(unsure, (1, k), 1, (0, grow)), (k, 1), 1, (grow, 0))
    return unsure > 0


def inside(where: torch.Tensor, feather: int = FEATHER) -> torch.Tensor:
    """bool [N,1,H,W] -> float weights: 1 deeper than `feather` px in the region, falling to 0 at its edge and
    beyond. The band's edge is straight (a square window widened it), so a redrawn matte cut off there sharply
    would show a grey rectangle wherever it differs from the kept one."""
    k = 2 * feather + 1
    share = F.avg_pool2d(F.avg_pool2d(where.float(), (1, k), 1, (0, feather), count_include_pad=False),
                         (k, 1), 1, (feather, 0), count_include_pad=False)  # of a square window inside
    return ((share - 0.5) * 2).clamp_(0, 1) * where


def window(pixels: torch.Tensor, alpha: torch.Tensor, top: int, left: int, size: int) -> torch.Tensor:
    """The size x size window at (top, left) of the picture [1,H,W,3] uint8 and matte [1,1,H,W] as one
    [1,4,size,size] (RGB in 0..1), the picture's border pixels repeated where the window reaches beyond it (as a
    replicate-padded frame gives)."""
    h, w = alpha.shape[-2:]
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(top + size, h), min(left + size, w)
    rgb = pixels[:, y0:y1, x0:x1].permute(0, 3, 1, 2).float().div_(255)  # as composite.to_planar
    part = torch.cat([rgb, alpha[..., y0:y1, x0:x1].to(rgb.device)], 1)
    return F.pad(part, (x0 - left, left + size - x1, y0 - top, top + size - y1), mode="replicate")


class EdgeStage:
    """pixels [N,H,W,3] uint8 and their full-resolution matte [N,1,H,W] 0..1 -> the matte with its band redrawn
    (frames under MIN_PIXELS: as they are). `redrawn` and `left` count the frames each way, for the summaries."""

    def __init__(self, backend: Backend, outline: Backend | None = None) -> None:
        if backend.spec.arch != "edges" or backend.spec.input_height != backend.spec.input_width:
            raise ValueError(f"{backend.describe()} does not run a square edge network")
        self.backend = backend
        self.outline = outline  # photos behind a UNet: the outline network's look before the stage (closer.py)
        self.car: CarCheck | None = None  # photos behind IS-Net kept to the car: its matte kept near the car
        self.margin = margin(backend.spec.levels)  # px of context around each tile's middle
        self.tile = backend.spec.input_height - 2 * self.margin
        if self.tile <= 0:
            raise ValueError(f"{backend.describe()}: input {backend.spec.input_height} px leaves no tile inside its "
                             f"{self.margin} px margins")
        self.redrawn = self.left = 0
        self.decide = DECIDE  # 1.0: the network's own chance as the matte
        on_gpu = torch.device(backend.device).type == "cuda"
        self.chunk = max(1, round(GPU_CHUNK_PIXELS / backend.spec.input_height ** 2)) if on_gpu else 1  # tiles a call

    def takes(self, height: int, width: int, frames: int = 1) -> bool:
        """Whether it redraws frames of this size (`redraws`); the frames it leaves are counted here."""
        if redraws(height, width):
            return True
        self.left += frames
        return False

    def __call__(self, pixels: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        if not self.takes(alpha.shape[-2], alpha.shape[-1], len(alpha)):
            return alpha
        self.redrawn += len(alpha)
        out = torch.cat([self._one(pixels[k:k + 1], alpha[k:k + 1]) for k in range(len(alpha))])
        return out if self.car is None else self.car(pixels, out)

    def _one(self, pixels: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        # a chunk of tiles at a time, each cut out and blended back on its own: the whole frame padded, redrawn
        # and blended at once, 32 tiles a call, took an 8 MP photo's peak 0.4 GB higher
        where = band(alpha)
        h, w = alpha.shape[-2:]
        t, m, f = self.tile, self.margin, FEATHER
        active = F.max_pool2d(poolable(where), t, ceil_mode=True)[0, 0].nonzero().tolist()
        if not active:
            return alpha
        out = alpha.clone()
        for k in range(0, len(active), self.chunk):
            chunk = active[k:k + self.chunk]
            tiles = torch.cat([window(pixels, alpha, y * t - m, x * t - m, t + 2 * m) for y, x in chunk])
            chance = self.backend(tiles.to(self.backend.device))[:, :, m:m + t, m:m + t]
            redrawn = decided(chance, self.decide).to(alpha.device, alpha.dtype)
            for (y, x), piece in zip(chunk, redrawn):
                y0, x0 = y * t, x * t
                y1, x1 = min(y0 + t, h), min(x0 + t, w)
                # the fade-in weights see FEATHER px of the band beyond the tile: the same as over the whole frame
                wy, wx = max(0, y0 - f), max(0, x0 - f)
                weight = inside(where[..., wy:min(h, y1 + f), wx:min(w, x1 + f)])[..., y0 - wy:y1 - wy, x0 - wx:x1 - wx]
                kept = alpha[..., y0:y1, x0:x1]
                out[..., y0:y1, x0:x1] = kept + (piece[:, :y1 - y0, :x1 - x0] - kept) * weight
        return out

    def describe(self) -> str:
        return f"edge stage: {self.backend.describe()}"

    def close(self) -> None:
        self.backend.close()
        if self.outline is not None:
            self.outline.close()
        if self.car is not None:
            self.car.close()


def run_note(asked: bool | None, redrawn: bool) -> str:
    """For the run line: what the stage did. `asked`: --edges (True), --no-edges (False) or neither (None: the
    default, which runs it on photos)."""
    if redrawn:
        return f"; outline redrawn at full resolution ({'--edges' if asked else 'edge stage; --no-edges skips it'})"
    if asked:
        return f"; --edges left the outline as it was (pictures under {MIN_PIXELS / 1e6:.1f} MP are)"
    return ""


def outline_model_path() -> Path:
    """The outline network: the default UNet trained on cars twice as large, for photos' third look (closer.py)."""
    return Path(__file__).parent / "weights" / "outline.pt"


def open_edge_stage(backend_name: str, device: str | None = None, coarse: str = "unet", photos: bool = False,
                    edge_weights: Path | None = None, outline_weights: Path | None = None,
                    gated: bool = False) -> EdgeStage:
    """The shipped edge network for the coarse network of arch `coarse`, on the run's own backend kind and device;
    for `photos` behind a UNet, with the outline network that looks at the car before it, and behind an IS-Net
    kept to the car (`gated`), with the default's looks that find the car it keeps near (car_check.py).
    `edge_weights`, `outline_weights`: another network in the shipped one's place (a candidate that
    training.evaluate_carvana measures)."""
    from streamseg.backends.registry import create_backend

    stage = EdgeStage(create_backend(backend_name, edge_weights or edges_model_path(coarse), device))
    if photos and coarse == "unet":
        stage.outline = create_backend(backend_name, outline_weights or outline_model_path(), device)
    if photos and coarse == "isnet" and gated:
        from streamseg.car_check import CarCheck
        from streamseg.weights import default_model_path

        stage.car = CarCheck(create_backend(backend_name, default_model_path(), device),
                             create_backend(backend_name, outline_weights or outline_model_path(), device))
    return stage


def edge_stage_for(coarse: Backend, photos: bool = False, edge_weights: Path | None = None,
                   outline_weights: Path | None = None) -> EdgeStage:
    """The edge stage that goes with a coarse model's backend: the same backend kind and device, and the edge network
    trained on that model's mattes (the one place that ties the three together for photos, videos and the API);
    `photos`: with the outline network too (videos do not take the closer looks). The weights: open_edge_stage's."""
    return open_edge_stage(coarse.name, str(coarse.device), coarse.spec.arch, photos, edge_weights, outline_weights,
                           gated=coarse.spec.gate is not None)
