"""--bg: colours, images (cover + centre crop), looping videos, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from streamseg.background import PRESETS, Background, parse_colour
from streamseg.errors import InputError
from streamseg.sample import SampleSpec, write_sample


def test_colours():
    assert parse_colour("#1e90ff") == (30, 144, 255)
    assert parse_colour("#fff") == (255, 255, 255)
    assert parse_colour("Green") == (0, 177, 64)
    assert parse_colour("#12345") is None and parse_colour("red-ish") is None


def test_colour_background_broadcasts():
    bg = Background("#ff0000", 20, 30, torch.device("cpu"))
    b = bg.batch(4)
    assert b.shape == (1, 1, 1, 3) and b.dtype == torch.uint8 and b[0, 0, 0].tolist() == [255, 0, 0]


def test_image_covers_and_centre_crops(tmp_path):
    img = np.zeros((100, 400, 3), np.uint8)
    img[:, 150:250] = 255  # a white band in the middle
    Image.fromarray(img).save(tmp_path / "wide.png")
    bg = Background(str(tmp_path / "wide.png"), 100, 100, torch.device("cpu")).batch(1)
    assert bg.shape == (1, 100, 100, 3) and bg.dtype == torch.uint8
    assert bg[0, 50, 50, 0] > 252 and bg[0, 50, 2, 0] > 252  # the band fills the centre crop


def test_video_background_loops(tmp_path):
    path = tmp_path / "bg.mp4"
    write_sample(path, SampleSpec(width=64, height=48, frames=3, audio=None))
    bg = Background(str(path), 24, 32, torch.device("cpu"))
    first = bg.batch(3)
    again = bg.batch(3)
    assert first.shape == (3, 24, 32, 3) and first.dtype == torch.uint8
    torch.testing.assert_close(first, again)  # after 3 frames it starts over
    first = first.int()
    assert (first[0] - first[1]).abs().max() > 12 and (first[1] - first[2]).abs().max() > 12  # it plays
    bg.close()
    split = Background(str(path), 24, 32, torch.device("cpu"))  # batches that straddle the loop point
    split.batch(2)
    torch.testing.assert_close(split.batch(2).int(), first[[2, 0]])
    split.close()


def test_bad_backgrounds(tmp_path):
    with pytest.raises(InputError, match="neither a file nor a colour"):
        Background("no-such-thing", 10, 10, torch.device("cpu"))
    (tmp_path / "x.png").write_text("nope")
    with pytest.raises(InputError, match="cannot read background image"):
        Background(str(tmp_path / "x.png"), 10, 10, torch.device("cpu"))
    (tmp_path / "x.bin").write_text("nope")
    with pytest.raises(InputError, match="cannot use background"):
        Background(str(tmp_path / "x.bin"), 10, 10, torch.device("cpu"))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_drawn_backdrops_fill_any_size_with_a_floor_darker_or_lit_apart_from_the_wall(name):
    bg = Background(name.upper(), 71, 130, torch.device("cpu")).batch(1)  # odd sizes; names in any case
    assert bg.shape == (1, 71, 130, 3) and bg.dtype == torch.uint8
    bg = bg.float()
    floor = PRESETS[name].floor
    wall, ground = bg[0, : int(71 * floor) - 4].mean(), bg[0, int(71 * floor) + 6:].mean()
    assert abs(float(wall - ground)) > 2.5, "the floor is told apart from the wall"
    others = [Background(o, 71, 130, torch.device("cpu")).batch(1).float() for o in PRESETS if o != name]
    assert all((bg - o).abs().mean() > 8 for o in others), "each preset is its own picture"


def test_a_drawn_backdrop_gets_the_contact_shadow_by_default(clip, tmp_path):
    from conftest import cli

    from streamseg.api import studio_look

    assert studio_look("rgb", "showroom", shadow=None, reflection=False, fit=False, size=None).shadow
    assert not studio_look("rgb", "green", shadow=None, reflection=False, fit=False, size=None).shadow
    r = cli("run", clip, "--bg", "forecourt", "-o", tmp_path / "f.mp4", "--json")
    assert r.code == 0 and "studio: shadow" in r.err, r
