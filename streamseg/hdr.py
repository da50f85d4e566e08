"""SDR pictures (backdrops: sRGB images, colours, BT.709 video) placed into an HDR or BT.2020 output,
after ITU-R BT.2408: SDR reference white goes to 203 cd/m2 (HLG signal 0.75, PQ 0.58) and colours are
moved from BT.709 into BT.2020 primaries. Unmapped, an HLG output would show a white backdrop at the
display's peak (1000 cd/m2) and with oversaturated colours.

The HLG inverse OOTF is applied per channel (the standard's is on luminance): close for the neutral,
light backdrops this is used for.
"""

from __future__ import annotations

import torch

from streamseg.colour import (
    BT709_TO_BT2020,
    HLG_PEAK_NITS,
    PQ_PEAK_NITS,
    PRIMARIES_BT2020,
    REFERENCE_WHITE_NITS,
    TRC_HLG,
    TRC_PQ,
    Colour,
)


def needs_mapping(colour: Colour) -> bool:
    return colour.is_hdr or colour.primaries == PRIMARIES_BT2020


def sdr_to_output(rgb: torch.Tensor, colour: Colour) -> torch.Tensor:
    """[N,3,H,W] BT.709 SDR signal in 0..1 -> the output's signal; unchanged where the output is SDR
    with BT.709 or BT.601 primaries."""
    if not needs_mapping(colour):
        return rgb
    light = rgb.clamp(0, 1) ** 2.4  # BT.1886 display light, 1 = SDR reference white
    if colour.primaries == PRIMARIES_BT2020:
        to_bt2020 = torch.tensor(BT709_TO_BT2020).to(light)
        light = torch.einsum("ij,njhw->nihw", to_bt2020, light).clamp_(min=0)
    if colour.trc == TRC_HLG:
        scene = (light * (REFERENCE_WHITE_NITS / HLG_PEAK_NITS)) ** (1 / 1.2)  # inverse OOTF (system gamma 1.2)
        a, b, c = 0.17883277, 0.28466892, 0.55991073
        log_part = a * torch.log((12 * scene - b).clamp(min=1e-6)) + c
        return torch.where(scene <= 1 / 12, (3 * scene).sqrt(), log_part)
    if colour.trc == TRC_PQ:
        ym = (light * (REFERENCE_WHITE_NITS / PQ_PEAK_NITS)).clamp(0, 1) ** 0.1593017578125
        return ((0.8359375 + 18.8515625 * ym) / (1 + 18.6875 * ym)) ** 78.84375
    return light ** (1 / 2.4)  # BT.2020 primaries, SDR transfer
