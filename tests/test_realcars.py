"""The real-car evaluation code on synthetic data (no source package needed): Dice/IoU maths, the single-image
prediction (sizes, portrait turn, upsampling), the mask derivations and the missing-package message."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from streamseg.models import ModelSpec
from training import realcars
from training.evaluate_real import dice_iou, means, predict_alpha, predict_mask, table


def test_dice_iou_maths():
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[0:4, 0:5] = True  # 20 px
    b[2:6, 0:5] = True  # 20 px, 10 shared
    d, i = dice_iou(a, b)
    assert d == pytest.approx(2 * 10 / 40)
    assert i == pytest.approx(10 / 30)
    assert dice_iou(a, a) == (1.0, 1.0)
    assert dice_iou(a, ~a) == (0.0, 0.0)
    assert dice_iou(np.zeros((3, 3)), np.zeros((3, 3))) == (1.0, 1.0)  # nothing to find, nothing found
    with pytest.raises(ValueError):
        dice_iou(a, b[:5])


class RedDetector(nn.Module):
    """A stand-in model: probability ~1 where the (normalised) red channel beats green; records its input."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(50.0))
        self.seen: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(tuple(x.shape))
        return torch.sigmoid(self.scale * (x[:, 0:1] - x[:, 1:2]))


def scene(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 1] = 200  # green background
    truth = np.zeros((h, w), bool)
    truth[h // 4:3 * h // 4, w // 5:3 * w // 5] = True
    img[truth] = (220, 30, 30)  # a red "car"
    return img, truth


@pytest.mark.parametrize("h,w,expect", [(90, 160, (32, 64)), (160, 90, (64, 32))])
def test_predict_alpha_follows_the_pipeline(h, w, expect):
    spec = ModelSpec(input_height=32, input_width=64, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    model = RedDetector().eval()
    img, truth = scene(h, w)
    alpha = predict_alpha(model, spec, img)
    assert model.seen == [(1, 3, *expect)]  # resized to the spec, turned for the portrait image
    assert alpha.shape == (h, w) and alpha.dtype == np.float32
    assert 0 <= alpha.min() and alpha.max() <= 1
    assert dice_iou(predict_mask(model, spec, img), truth)[0] > 0.95
    assert dice_iou(alpha > 0.5, ~truth)[0] < 0.05


def test_means_and_table():
    rows = [{"image": "a", "source": "s", "single_vehicle": True, "scene": "subject", "scores": {"m": (1.0, 1.0)}},
            {"image": "b", "source": "s", "single_vehicle": False, "scene": "", "scores": {"m": (0.5, 0.25)}},
            {"image": "c", "source": "s", "single_vehicle": True, "scene": "salient", "scores": {"m": (0.2, 0.1)}}]
    m = means(rows, ["m"])
    assert m["single vehicle, main subject"]["m"] == (1.0, 1.0, 1)
    assert m["single vehicle beside a more salient object"]["m"] == (0.2, 0.1, 1)
    assert m["several vehicles, every one marked"]["m"] == (0.5, 0.25, 1)
    assert m["all"]["m"][2] == 3 and abs(m["all"]["m"][0] - 1.7 / 3) < 1e-9
    text = table(rows, ["m"])
    assert "| a | s | yes | subject | 1.000 | 1.000 |" in text and "**0.567**" in text


def test_cutout_mask_recovers_a_white_background_cutout():
    pytest.importorskip("scipy")
    rng = np.random.default_rng(0)
    h, w = 120, 200
    y, x = np.mgrid[0:h, 0:w]
    original = np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 128)], -1).astype(np.uint8)
    original[:30] = 250  # a near-white sky: no information there
    car = ((x - 100) / 70) ** 2 + ((y - 75) / 35) ** 2 < 1
    original[car] = rng.integers(0, 120, (int(car.sum()), 3))
    original[70:74, 95:105] = 255  # a white highlight inside the car: enclosed, so car
    cut = original.copy()
    cut[~car] = 255
    buf = io.BytesIO()
    Image.fromarray(cut).save(buf, "JPEG", quality=90)  # as the package ships it
    cut = np.asarray(Image.open(buf).convert("RGB"))
    mask = realcars.cutout_mask(original, cut)
    assert dice_iou(mask, car)[0] > 0.98


def test_polygon_mask_unions_vehicles_and_lets_later_shapes_occlude():
    shapes = [{"label": "bus", "points": [[0, 0], [9, 0], [9, 9], [0, 9]], "shape_type": "polygon"},
              {"label": "track", "points": [[20, 0], [29, 0], [29, 9], [20, 9]], "shape_type": "polygon"},
              {"label": "person", "points": [[5, 0], [9, 0], [9, 9], [5, 9]], "shape_type": "polygon"}]
    mask = realcars.polygon_mask(shapes, 10, 30)
    assert mask[:, 0:5].all() and not mask[:, 5:10].any() and mask[:, 20:30].all() and not mask[:, 10:20].any()


def test_missing_source_names_package_and_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(realcars, "TUX_ROOT", tmp_path / "nowhere")
    with pytest.raises(realcars.MissingSource, match=r"tuxpaint-stamps-default.*apt-get install tuxpaint-stamps"):
        realcars.check_sources()


def test_reserved_sources_are_listed():
    files = realcars.evaluation_sources()
    assert realcars.BACKGROUND_ROOT / realcars.BACKGROUNDS[0] in files
    assert realcars.is_reserved(realcars.TUX_ROOT / "vehicles" / "auto" / "sedan.png")
    assert not realcars.is_reserved("/usr/share/backgrounds/some_other_photo.jpg")
