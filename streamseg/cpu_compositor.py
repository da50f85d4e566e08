"""CpuCompositor: the full-resolution half of the compositor, for frames on the CPU, in one fused pass.

On a GPU, composite.py's tensor ops are fast. On a CPU each of them is a trip through memory over
millions of float pixels (a 1080p frame as float RGB is 25 MB), and the full-resolution work cost more
than the network. Here, one compiled loop (numba) reads each pixel of the uint8 frame once and does all
of it: the bilinear upsampling of the guided filter's coefficients (and of the smoother's stillness
map), the refined matte, the temporal smoothing, and the blend over the background (darkened under the
studio's contact shadow by studio.darken, compiled into the loop), rounding to uint8.
The stillness map comes from temporal.py, shared with the GPU path. The guided filter's coefficients
are computed here by a twin of composite.guided_coefficients (held to it by the tests): the products in
one compiled loop, the window means by OpenCV's box filter, the 3x3 solve in another loop; each call
releases the GIL, where torch's dozens of small ops take it back between each. At 1080p on one thread
(scripts/kernel_bench.py, 2026-11-29): coefficients 6 ms, the full-resolution pass 8 ms.
tests/test_cpu_compositor.py holds the two paths within one grey level.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numba
import numpy as np
import torch

from streamseg.composite import Layers
from streamseg.edges import EdgeStage
from streamseg.studio import Shade, darken
from streamseg.temporal import TemporalSmoother

LAYERS = {"rgb": 0, "rgba": 1, "matte": 2}
MATTE_ONLY = 3  # the kernel's layers code for the matte alone (before the edge stage redraws it)
NO_SHADE = np.zeros((0, 1), np.float32)
CHANNELS = {"rgb": 3, "rgba": 4, "matte": 3}
# the one function that draws the contact shadow, compiled into the fused loop: a separate pass over the
# shadow's rows in numpy cost 0.7-4 ms a 720p frame on the main thread, inline it costs nothing measurable.
# numba's cache of _fused does not see edits to studio.darken: clear __pycache__ after changing it
_darken = numba.njit(inline="always")(darken)


@numba.njit(cache=True, nogil=True)
def _taps(n_out, n_in):  # pragma: no cover (compiled)
    """Bilinear taps, align_corners=False as torch's interpolate and OpenCV's resize: source index
    (dst + 0.5) * n_in / n_out - 0.5, clamped at the edges. -> (i0, i1, weight of i1)."""
    scale = np.float32(n_in / n_out)
    i0 = np.empty(n_out, np.int64)
    i1 = np.empty(n_out, np.int64)
    t = np.empty(n_out, np.float32)
    for x in range(n_out):
        s = max((x + np.float32(0.5)) * scale - np.float32(0.5), np.float32(0))
        i = min(int(s), n_in - 1)
        i0[x], i1[x], t[x] = i, min(i + 1, n_in - 1), s - i
    return i0, i1, t


@numba.njit(fastmath=True, cache=True, nogil=True)
def _moments(alpha, guide):  # pragma: no cover (compiled)
    """The guided filter's 13 per-pixel products, interleaved [h,w,13]: I (3), p, I*p (3), I_a*I_b for
    the 6 pairs (alpha [h,w], guide [3,h,w])."""
    h, w = alpha.shape
    out = np.empty((h, w, 13), np.float32)
    for i in range(h):
        for j in range(w):
            r, g, b, p = guide[0, i, j], guide[1, i, j], guide[2, i, j], alpha[i, j]
            s = out[i, j]
            s[0], s[1], s[2], s[3] = r, g, b, p
            s[4], s[5], s[6] = r * p, g * p, b * p
            s[7], s[8], s[9] = r * r, r * g, r * b
            s[10], s[11], s[12] = g * g, g * b, b * b
    return out


@numba.njit(fastmath=True, error_model="numpy", cache=True, nogil=True)
def _solve(m, eps):  # pragma: no cover (compiled)
    """Per pixel, the 3x3 system of the colour guided filter from the windowed means m [h,w,13]:
    -> [h,w,4] (a for R, G, B; b)."""
    h, w = m.shape[0], m.shape[1]
    ab = np.empty((h, w, 4), np.float32)
    one = np.float32(1)
    for i in range(h):
        for j in range(w):
            v = m[i, j]
            mr, mg, mb, mp = v[0], v[1], v[2], v[3]
            cr, cg, cb = v[4] - mr * mp, v[5] - mg * mp, v[6] - mb * mp
            rr, rg, rb = v[7] - mr * mr + eps, v[8] - mr * mg, v[9] - mr * mb
            gg, gb, bb = v[10] - mg * mg + eps, v[11] - mg * mb, v[12] - mb * mb + eps
            irr = gg * bb - gb * gb
            irg = gb * rb - rg * bb
            irb = rg * gb - gg * rb
            igg = rr * bb - rb * rb
            igb = rb * rg - rr * gb
            ibb = rr * gg - rg * rg
            inv_det = one / (rr * irr + rg * irg + rb * irb)
            ar = (irr * cr + irg * cg + irb * cb) * inv_det
            ag = (irg * cr + igg * cg + igb * cb) * inv_det
            ac = (irb * cr + igb * cg + ibb * cb) * inv_det
            o = ab[i, j]
            o[0], o[1], o[2] = ar, ag, ac
            o[3] = mp - (ar * mr + ag * mg + ac * mb)
    return ab


def _coefficients(alpha: np.ndarray, guide: np.ndarray, r: int, eps: np.float32) -> np.ndarray:
    """composite.guided_coefficients for one frame: alpha [h,w], guide [3,h,w] 0..1 -> [4,h,w], with
    a per grey level (divided by 255) so it applies to the uint8 frame directly. The window means are
    OpenCV's box filter (SIMD, edges replicated as composite.box; it releases the GIL too): 4x faster
    than a numba loop here, and the whole pass 14 -> 6 ms at 256x448."""
    window = (2 * r + 1, 2 * r + 1)
    m = cv2.boxFilter(_moments(alpha, guide), -1, window, borderType=cv2.BORDER_REPLICATE)
    ab = cv2.boxFilter(_solve(m, eps), -1, window, borderType=cv2.BORDER_REPLICATE)
    ab[..., :3] *= np.float32(1 / 255)
    return np.ascontiguousarray(ab.transpose(2, 0, 1))


@numba.njit(fastmath=True, cache=True, nogil=True)
def _widen(coef, width):  # pragma: no cover (compiled)
    """[C,h,w] -> [C,h,width]: the horizontal half of the bilinear upsampling, done once per model row
    (4x fewer rows than the frame has) so the per-pixel pass below only blends two rows."""
    x0, x1, t = _taps(width, coef.shape[2])
    out = np.empty((coef.shape[0], coef.shape[1], width), np.float32)
    for r in range(coef.shape[0] * coef.shape[1]):
        c, i = r // coef.shape[1], r % coef.shape[1]
        for x in range(width):
            out[c, i, x] = (1 - t[x]) * coef[c, i, x0[x]] + t[x] * coef[c, i, x1[x]]
    return out


@numba.njit(fastmath=True, cache=True, nogil=True)
def _blend(out, frame, matte, back):  # pragma: no cover (compiled)
    """out = back + matte * (frame - back), rounded to uint8; flat rows of 3W (back uint8 or float)."""
    zero, top, half = np.float32(0), np.float32(255), np.float32(0.5)
    for i in range(out.shape[0]):
        k = np.float32(back[i])
        out[i] = np.uint8(min(max(k + matte[i] * (np.float32(frame[i]) - k), zero), top) + half)


@numba.njit(fastmath=True, error_model="numpy", cache=True, nogil=True)
def _fused(frame, wide, smooth, prev, strength, tau, bg, shade, shade_first, shadow_rgb, layers, out, alpha_out,
           given, first, last):  # pragma: no cover
    """frame uint8 [H,W,3]; wide float32 [5,h,W] (coefficients widened to the frame: a per grey level
    (3), b, stillness, the last read when `smooth`); prev float32 [H,W] (the previous matte, read when
    `smooth`); bg uint8 [1 or H,1 or W,3]; shade float32 [rows,W]: the backdrop's darkening (a contact
    shadow) in rows shade_first.. (rgb only), towards shadow_rgb float32 [3] (0..255); layers 0 rgb / 1 rgba /
    2 matte / 3 none (the matte alone).
    Writes rows first..last-1 of out uint8 [H,W,C] and alpha_out float32 [H,W]; with `given`, alpha_out is read
    instead (a matte redrawn since: the edge stage's) and only out is written."""
    height, width = frame.shape[0], frame.shape[1]
    y0, y1, ty = _taps(height, wide.shape[1])
    half, one, zero, top = np.float32(0.5), np.float32(1), np.float32(0), np.float32(255)
    inv_tau = one / (tau * np.float32(64))
    q3, k3 = np.empty(3 * width, np.float32), np.empty(3 * width, np.float32)  # per-row scratch
    no_shade = np.zeros(width, np.float32)
    built = np.int64(-1)  # the backdrop row whose plain colour k3 holds
    for y in range(first, last):
        t = ty[y]
        u = one - t
        # whole-row slices and branch-free inner loops, so LLVM vectorises them
        i0, i1 = y0[y], y1[y]
        r0, r1, g0, g1, b0, b1 = wide[0, i0], wide[0, i1], wide[1, i0], wide[1, i1], wide[2, i0], wide[2, i1]
        c0, c1 = wide[3, i0], wide[3, i1]  # b
        s0, s1 = (wide[4, i0], wide[4, i1]) if smooth else (c0, c1)  # stillness (only when smoothing)
        fr, q, p = frame[y], alpha_out[y], prev[y]
        if given:
            pass
        elif smooth:  # the matte, then the smoothing in a loop of its own: each vectorises alone (4 ms less)
            for x in range(width):
                v = (u * c0[x] + t * c1[x] + (u * r0[x] + t * r1[x]) * np.float32(fr[x, 0])
                     + (u * g0[x] + t * g1[x]) * np.float32(fr[x, 1])
                     + (u * b0[x] + t * b1[x]) * np.float32(fr[x, 2]))
                q[x] = min(max(v, zero), one)
            for x in range(width):
                v = q[x]
                d = p[x] - v
                # exp(-|d|/tau) as (1 + |d|/(64 tau))^-64: six squarings that vectorise, within 0.002
                e = one + abs(d) * inv_tau
                e *= e
                e *= e
                e *= e
                e *= e
                e *= e
                e *= e
                q[x] = v + strength * (u * s0[x] + t * s1[x]) * d / e
        else:
            for x in range(width):
                v = (u * c0[x] + t * c1[x] + (u * r0[x] + t * r1[x]) * np.float32(fr[x, 0])
                     + (u * g0[x] + t * g1[x]) * np.float32(fr[x, 1])
                     + (u * b0[x] + t * b1[x]) * np.float32(fr[x, 2]))
                q[x] = min(max(v, zero), one)
        o = out[y]
        if layers == 0:
            # the row as one flat run of 3W bytes, the matte spread over it first: a loop over interleaved
            # channels does not vectorise, a flat one does (the blend 2x faster)
            for x in range(width):
                q3[3 * x] = q3[3 * x + 1] = q3[3 * x + 2] = q[x]
            row = min(np.int64(y), bg.shape[0] - 1)
            b = bg[row]
            srow = y - shade_first
            shaded = 0 <= srow < shade.shape[0]
            if shaded or b.shape[0] == 1:  # a floor-shadow row, or one colour (built once, not per row)
                if shaded or built != row:
                    sh = shade[srow] if shaded else no_shade
                    for x in range(width):
                        for c in range(3):  # the backdrop, darkened by the contact shadow
                            k3[3 * x + c] = _darken(np.float32(b[min(np.int64(x), b.shape[0] - 1), c]), sh[x],
                                                    shadow_rgb[c])
                    built = -1 if shaded else row
                _blend(o.reshape(3 * width), fr.reshape(3 * width), q3, k3)
            else:
                _blend(o.reshape(3 * width), fr.reshape(3 * width), q3, b.reshape(3 * width))
        elif layers == 1:
            for x in range(width):
                o[x, 0], o[x, 1], o[x, 2] = fr[x, 0], fr[x, 1], fr[x, 2]
                o[x, 3] = np.uint8(q[x] * top + half)
        elif layers == 2:
            for x in range(width):
                m = np.uint8(q[x] * top + half)
                o[x, 0], o[x, 1], o[x, 2] = m, m, m


def warm_up() -> None:
    """Compile (first run: seconds) or load from numba's cache every kernel now, with the argument types
    a run uses, so that a run never stalls for it mid-way, where a Ctrl-C would wait on the compiler."""
    frame, out = np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8)
    coef = _coefficients(np.zeros((2, 2), np.float32), np.zeros((3, 2, 2), np.float32), 1, np.float32(1e-4))
    wide = _widen(np.concatenate([coef, coef[:1]]), 4)
    alpha = np.zeros((4, 4), np.float32)
    for smooth in (False, True):
        _fused(frame, wide, smooth, alpha, np.float32(0.5), np.float32(0.2), np.zeros((1, 1, 3), np.uint8),
               NO_SHADE, 0, np.zeros(3, np.float32), 0, out, np.zeros((4, 4), np.float32), False, 0, 4)


_HELPER: ThreadPoolExecutor | None = None


def _helper() -> ThreadPoolExecutor:
    """One thread shared by every compositor of the process, for the other half of each frame."""
    global _HELPER
    if _HELPER is None:
        _HELPER = ThreadPoolExecutor(1, thread_name_prefix="composite-half")
    return _HELPER


def _halves(frame, wide, smooth, prev, strength, tau, bg, shade, shade_first, shadow_rgb, layers, out, matte,
            given) -> None:
    """_fused over a whole frame, the bottom half in a second thread (the kernel releases the GIL): while the
    network thread waits for work, both cores composite."""
    height = frame.shape[0]
    args = (frame, wide, smooth, prev, strength, tau, bg, shade, shade_first, shadow_rgb, layers, out, matte, given)
    lower = _helper().submit(_fused, *args, height // 2, height)
    _fused(*args, 0, height // 2)
    lower.result()


class CpuCompositor:
    """Matte and composite for one run on the CPU; carries the smoother's state from batch to batch."""

    def __init__(self, layers: Layers, refine: bool, smoother: TemporalSmoother | None,
                 shadow_colour: tuple[int, int, int] = (0, 0, 0), edges: EdgeStage | None = None) -> None:
        if layers not in LAYERS:
            raise ValueError(f"layers = {layers!r} must be rgb, rgba or matte")
        self.layers, self.refine, self.smoother = layers, refine, smoother
        self.shadow_rgb = np.asarray(shadow_colour, np.float32)  # the colour `shade` darkens the backdrop towards
        self.prev_alpha: np.ndarray | None = None
        self._spare: np.ndarray | None = None
        # the edge stage redraws the smoothed matte between two passes: the matte alone, then the blend of the
        # redrawn one (the tensor compositor's order); make_compositor hands it over only with refine
        self.edges = edges
        warm_up()

    def __call__(self, pixels: torch.Tensor, small: torch.Tensor, alpha_lr: torch.Tensor,
                 background: torch.Tensor | None, shade: list[Shade] | None = None,
                 filmed: torch.Tensor | None = None) -> torch.Tensor:
        """As composite.Compositor.__call__: what composite.compose(...) after composite.refine(...) and
        TemporalSmoother would give."""
        n, height, width = pixels.shape[:3]
        small_np = small.contiguous().numpy()
        alpha_np = alpha_lr.contiguous().numpy()
        bg_all = np.zeros((1, 1, 1, 3), np.uint8)  # unused unless rgb
        if background is not None:
            bg_all = background.numpy()  # [N or 1, H or 1, W or 1, 3]: the kernel broadcasts a colour
        out = np.empty((n, height, width, CHANNELS[self.layers]), np.uint8)
        frames = pixels.numpy()
        for k in range(n):
            if self.refine:
                coef = _coefficients(alpha_np[k, 0], small_np[k], 1, np.float32(1e-4))
            else:  # plain upsampling: a = 0, b = the matte
                coef = np.concatenate([np.zeros_like(small_np[k]), alpha_np[k]])
            smoother = self.smoother
            still = smoother.stillness(small[k:k + 1]) if smoother is not None else None
            smooth = still is not None and self.prev_alpha is not None and self.prev_alpha.shape == (height, width)
            if still is not None and smooth:
                coef = np.concatenate([coef, still[0].numpy()])
            bg = bg_all[min(k, len(bg_all) - 1)]
            alpha = self._spare if self._spare is not None and self._spare.shape == (height, width) \
                else np.empty((height, width), np.float32)
            shade_first, band = shade[k] if shade is not None else (0, NO_SHADE)
            args = (frames[k], _widen(coef, width), smooth, self.prev_alpha if smooth else alpha,
                    np.float32(smoother.strength if smoother and smooth else 0),
                    np.float32(smoother.alpha_tau if smoother and smooth else 1), bg, band, shade_first,
                    self.shadow_rgb)
            if self.edges is None or not self.edges.takes(height, width):  # one pass: no outline to redraw
                _halves(*args, LAYERS[self.layers], out[k], alpha, False)
            else:
                seen = pixels if filmed is None else filmed  # the matte is drawn from the frame as filmed
                _halves(seen[k].numpy(), *args[1:], MATTE_ONLY, out[k], alpha, False)
                redrawn = self.edges(seen[k:k + 1], torch.from_numpy(alpha)[None, None])
                _halves(*args, LAYERS[self.layers], out[k], redrawn[0, 0].contiguous().numpy(), True)
            self._spare = self.prev_alpha  # two mattes alternate: no fresh 8 MB per 1080p frame
            self.prev_alpha = alpha
        return torch.from_numpy(out)
