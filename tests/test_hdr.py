"""SDR backdrops placed into HDR outputs (BT.2408): reference white at HLG 0.75 / PQ 0.58, BT.709
colours moved into BT.2020, SDR outputs untouched."""

from __future__ import annotations

import pytest
import torch

from streamseg.background import Background
from streamseg.colour import BT601, BT709, BT2020_HLG, BT2020_PQ, MATRIX_BT2020_NCL, PRIMARIES_BT2020, TRC_BT709, Colour
from streamseg.hdr import sdr_to_output

HLG = BT2020_HLG
PQ = BT2020_PQ


def grey(level: float) -> torch.Tensor:
    return torch.full((1, 3, 2, 2), level)


@pytest.mark.parametrize("colour,white", [(HLG, 0.75), (PQ, 0.58)])
def test_reference_white_and_black(colour, white):
    assert sdr_to_output(grey(1.0), colour) == pytest.approx(torch.full((1, 3, 2, 2), white), abs=0.005)
    assert sdr_to_output(grey(0.0), colour).abs().max() < 1e-3
    ramp = sdr_to_output(torch.linspace(0, 1, 11).view(1, 1, 1, 11).expand(1, 3, 1, 11), colour)
    assert (ramp.diff(dim=-1) > 0).all()  # monotonic: no level folds over


def test_bt709_red_lands_inside_bt2020():
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    out = sdr_to_output(red, Colour(MATRIX_BT2020_NCL, PRIMARIES_BT2020, TRC_BT709)).flatten()  # BT.2020 SDR
    assert out[0] > out[1] > 0 and out[2] > 0  # less saturated in the wider gamut
    assert out[0] == pytest.approx(0.6274 ** (1 / 2.4), abs=1e-3)


@pytest.mark.parametrize("colour", [BT709, BT601])
def test_sdr_outputs_are_untouched(colour):
    x = torch.rand(1, 3, 4, 4)
    assert torch.equal(sdr_to_output(x, colour), x)


def test_background_maps_into_the_output():
    bg = Background("white", 4, 4, torch.device("cpu"), HLG).batch(1)
    assert bg.flatten()[:3].float() == pytest.approx(torch.full((3,), 0.75 * 255), abs=1)
    assert Background("white", 4, 4, torch.device("cpu")).batch(1).min() == 255
