"""Pure tensor ops between the decoder and the encoder: model input, matte refinement, blending; and the
`Compositor` interface that both compositors (TensorCompositor here, cpu_compositor.CpuCompositor) implement.

Everything here runs on whatever device its tensors are on (the GPU where there is one), so frames are
uploaded once and only finished images come back. A compositor makes the output at the input's size: the
composite (drawing the studio's contact shadow in the same pass, when it is handed one), the cut-out or the
matte; studio.StudioStage does the rest of the studio look (fit, size, reflection) on the cut-out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

import torch
import torch.nn.functional as F

from streamseg.models import ModelSpec
from streamseg.studio import Shade, darken
from streamseg.temporal import TemporalSmoother

if TYPE_CHECKING:
    from streamseg.edges import EdgeStage

# what an output holds: the car over the background, the frame with the matte as alpha, or the matte as grey
Layers = Literal["rgb", "rgba", "matte"]


def model_size(height: int, width: int, spec: ModelSpec) -> tuple[int, int]:
    """The model's input size for a frame: its trained size, turned to match portrait frames."""
    h, w = spec.input_height, spec.input_width
    if (height > width) != (h > w):
        h, w = w, h
    return h, w


def to_planar(frames: torch.Tensor) -> torch.Tensor:
    """[N,H,W,3] uint8 -> [N,3,H,W] float in 0..1, channels_last in memory (a view of the pixel
    layout, so no transpose is paid here nor when the result goes back to [N,H,W,C])."""
    return frames.permute(0, 3, 1, 2).float().div_(255)


def downscale(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased (area-like) resize, so thin structures do not alias away; uint8 in, float 0..1 out.
    PyTorch's uint8 path for this is several times faster on the CPU than the float one."""
    if x.shape[-2:] != size:
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    return x.float().div_(255) if x.dtype == torch.uint8 else x


def normalise(x: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
    mean = torch.tensor(spec.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


def box(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window, edges replicated; shifted sums beat avg_pool2d on the CPU."""
    h, w = x.shape[-2:]
    p = F.pad(x, (r, r, r, r), mode="replicate")
    rows = p[..., 0:h, :].clone()
    for i in range(1, 2 * r + 1):
        rows += p[..., i:i + h, :]
    cols = rows[..., 0:w].clone()
    for j in range(1, 2 * r + 1):
        cols += rows[..., j:j + w]
    return cols.div_((2 * r + 1) ** 2)


def refine(alpha_lr: torch.Tensor, guide_lr: torch.Tensor, guide_hr: torch.Tensor,
           radius: int = 1, eps: float = 1e-4) -> torch.Tensor:
    """Fast colour guided filter (He & Sun 2015): fit alpha ~ a . rgb + b in small windows at model
    resolution, then apply the upsampled a, b to the full-resolution frame, so the matte follows the
    frame's real edges instead of the blur of a 4x upsampling. On the synthetic scenes this halves the
    matte error at the outline (tests/test_composite.py); a grey guide and larger windows did worse.

    alpha_lr [N,1,h,w], guide_lr [N,3,h,w], guide_hr [N,3,H,W] (all float32) -> alpha [N,1,H,W] in 0..1.
    """
    return apply_coefficients(guided_coefficients(alpha_lr, guide_lr, radius, eps), guide_hr)


def guided_coefficients(alpha_lr: torch.Tensor, guide_lr: torch.Tensor, radius: int = 1,
                        eps: float = 1e-4) -> torch.Tensor:
    """The model-resolution half of `refine`: [N,4,h,w] = window means of a (3 channels) and b."""
    i, p = guide_lr.contiguous(), alpha_lr.contiguous()  # plain layout: channel slices stay cheap
    # one box pass over everything that needs a local mean: I (3), p (1), I*p (3), I_a*I_b (6)
    pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    stats = box(torch.cat([i, p, i * p, *(i[:, a:a + 1] * i[:, b:b + 1] for a, b in pairs)], 1), radius)
    mean_i, mean_p, mean_ip, mean_ii = stats[:, 0:3], stats[:, 3:4], stats[:, 4:7], stats[:, 7:13]
    cov_ip = mean_ip - mean_i * mean_p  # [N,3,h,w]
    var = [mean_ii[:, k:k + 1] - mean_i[:, a:a + 1] * mean_i[:, b:b + 1] for k, (a, b) in enumerate(pairs)]
    rr, rg, rb, gg, gb, bb = var[0] + eps, var[1], var[2], var[3] + eps, var[4], var[5] + eps
    # a = (Sigma + eps I)^-1 cov_ip per pixel, with the 3x3 inverse written out (adjugate / determinant)
    inv_rr, inv_rg, inv_rb = gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb
    inv_gg, inv_gb, inv_bb = rr * bb - rb * rb, rb * rg - rr * gb, rr * gg - rg * rg
    det = rr * inv_rr + rg * inv_rg + rb * inv_rb
    cr, cg, cb = cov_ip[:, 0:1], cov_ip[:, 1:2], cov_ip[:, 2:3]
    a = torch.cat([inv_rr * cr + inv_rg * cg + inv_rb * cb,
                   inv_rg * cr + inv_gg * cg + inv_gb * cb,
                   inv_rb * cr + inv_gb * cg + inv_bb * cb], dim=1) / det
    b = mean_p - (a * mean_i).sum(1, keepdim=True)
    return box(torch.cat([a, b], 1), radius)


def apply_coefficients(ab_lr: torch.Tensor, guide_hr: torch.Tensor) -> torch.Tensor:
    """The full-resolution half of `refine`: alpha = a . rgb + b with a, b upsampled, clamped to 0..1."""
    ab = F.interpolate(ab_lr, size=guide_hr.shape[-2:], mode="bilinear", align_corners=False)
    q = ab[:, 3:4] + ab[:, 0:1] * guide_hr[:, 0:1]
    q.addcmul_(ab[:, 1:2], guide_hr[:, 1:2]).addcmul_(ab[:, 2:3], guide_hr[:, 2:3])
    return q.clamp_(0, 1)


def upsample(alpha_lr: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(alpha_lr, size=size, mode="bilinear", align_corners=False).clamp_(0, 1)


def compose(frames: torch.Tensor, alpha: torch.Tensor, layers: Layers, background: torch.Tensor | None) -> torch.Tensor:
    """The images the writer encodes, [N,H,W,C] uint8.

    frames [N,3,H,W] float 0..1; alpha [N,1,H,W] 0..1; background [N or 1,3,H,W] float 0..1 for "rgb".
    layers: "rgb" (car over background), "rgba" (car with the matte as alpha), "matte" (grey matte).
    """
    if layers == "rgb":
        if background is None:
            raise ValueError("a composite (layers 'rgb') needs a background")
        out = torch.lerp(background.expand_as(frames), frames, alpha.expand_as(frames))
    elif layers == "rgba":
        out = torch.cat([frames, alpha], dim=1)
    elif layers == "matte":
        out = alpha.expand(-1, 3, -1, -1)
    else:
        raise ValueError(f"layers = {layers!r} must be rgb, rgba or matte")
    out = out.mul(255).round_().clamp_(0, 255).to(torch.uint8, memory_format=torch.channels_last)
    return out.permute(0, 2, 3, 1).contiguous()  # a no-op copy: channels_last is already [N,H,W,C]

class Compositor(Protocol):
    """Matte and composite one run's frames at full resolution, carrying any state (the smoother's) from
    batch to batch. Both implementations give the same pixels within one grey level
    (tests/test_cpu_compositor.py)."""

    edges: EdgeStage | None  # the full-resolution edge stage, if it runs

    def __call__(self, pixels: torch.Tensor, small: torch.Tensor, alpha_lr: torch.Tensor,
                 background: torch.Tensor | None, shade: list[Shade] | None = None,
                 filmed: torch.Tensor | None = None) -> torch.Tensor:
        """pixels [N,H,W,3] uint8, small [N,3,h,w] float 0..1 (the model's input picture), alpha_lr
        [N,1,h,w] 0..1 (the network's matte), background [N or 1, H or 1, W or 1, 3] uint8 (rgb only;
        background.Background.batch) -> [N,H,W,C] uint8. `shade`: per frame, the contact shadow to draw on
        the background (studio.Studio.shade), or None. `filmed`: the frames before their number plates were
        covered on `pixels`, for the matte to be drawn from (the edge stage reaches 70 px: a covered plate
        moved the outline around it); None: `pixels`."""
        ...


class TensorCompositor:
    """Matte and composite with the tensor ops above, on the frames' device (the GPU path, and the
    reference the fused CPU path is held to); carries the smoother's state from batch to batch."""

    def __init__(self, layers: Layers, refine: bool, smoother: TemporalSmoother | None,
                 shadow_colour: tuple[int, int, int] = (0, 0, 0), edges: EdgeStage | None = None) -> None:
        self.layers, self.refine, self.smoother = layers, refine, smoother
        self.shadow_colour = shadow_colour  # the colour `shade` darkens the backdrop towards
        self.edges = edges  # make_compositor hands it over only with refine: it redraws the guided filter's matte

    def __call__(self, pixels: torch.Tensor, small: torch.Tensor, alpha_lr: torch.Tensor,
                 background: torch.Tensor | None, shade: list[Shade] | None = None,
                 filmed: torch.Tensor | None = None) -> torch.Tensor:
        """As Compositor.__call__."""
        h, w = pixels.shape[1:3]
        frames = to_planar(pixels)  # [N,3,H,W] float 0..1
        guide = frames if filmed is None else to_planar(filmed)  # the matte is drawn from the frame as filmed
        alpha = refine(alpha_lr, small, guide) if self.refine else upsample(alpha_lr, (h, w))
        if self.smoother is not None:
            alpha = self.smoother(alpha, small)
        if self.edges is not None:  # after the smoother, as the fused CPU compositor has it
            alpha = self.edges(pixels if filmed is None else filmed, alpha)
        back = to_planar(background) if background is not None else None  # [N or 1,3,H or 1,W or 1]
        if shade is not None and back is not None:
            back = shaded(back, shade, frames.shape[0], h, w, self.shadow_colour)
        return compose(frames, alpha, self.layers, back)


def shaded(background: torch.Tensor, shade: list[Shade], n: int, h: int, w: int,
           colour: tuple[int, int, int] = (0, 0, 0)) -> torch.Tensor:
    """[n,3,h,w]: the background of each frame darkened by its shadow towards `colour` (studio.darken)."""
    out = background.expand(n, 3, h, w).clone()
    full = torch.tensor(colour, dtype=out.dtype, device=out.device).view(3, 1, 1) / 255
    for k, (first, band) in enumerate(shade):
        if len(band):
            dark = torch.from_numpy(band[:h - first]).to(out.device)
            out[k, :, first:first + len(dark)] = darken(out[k, :, first:first + len(dark)], dark, full)
    return out
