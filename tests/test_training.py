"""Training code on tiny data: both dataset layouts, the split, a few real optimisation steps, evaluation."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from streamseg.models import ModelSpec, UNet, load_checkpoint, save_checkpoint
from training import evaluate, synthetic, train
from training.dataset import SegmentationDataset, find_samples, read_mask, split


def make_carvana(root, cars=6, views=4, size=(48, 64)):
    (root / "train").mkdir(parents=True)
    (root / "train_masks").mkdir()
    rng = np.random.default_rng(0)
    for c in range(cars):
        for v in range(1, views + 1):
            cid = f"car{c:02d}_{v:02d}"
            Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(root / "train" / f"{cid}.jpg")
            m = np.zeros(size, np.uint8)
            m[10:30, 10:50] = 1  # Carvana masks are 0/1 palette GIFs
            Image.fromarray(m, mode="L").convert("P").save(root / "train_masks" / f"{cid}_mask.gif")


def test_carvana_layout_and_split_keeps_cars_together(tmp_path):
    make_carvana(tmp_path)
    samples = find_samples(tmp_path)
    assert len(samples) == 24
    tr, va = split(samples, 0.3)
    assert {s.group for s in tr}.isdisjoint({s.group for s in va})  # no view of a held-out car is trained on
    assert split(samples, 0.3) == (tr, va)  # same split every time
    m = read_mask(samples[0].mask)
    assert m.max() == 1.0 and m.min() == 0.0 and m[20, 20] == 1.0


def test_plain_layout_from_synthetic_writer(tmp_path):
    synthetic.main(["--out", str(tmp_path), "--count", "6", "--height", "64", "--width", "112", "--workers", "1"])
    samples = find_samples(tmp_path)
    assert len(samples) == 6
    ds = SegmentationDataset(samples, crop=(32, 32), augment=True)
    x, y = ds[0]
    assert x.shape == (3, 32, 32) and y.shape == (1, 32, 32)
    ds = SegmentationDataset(samples, resize=(64, 112), augment=False)
    x, y = ds[1]
    assert x.shape == (3, 64, 112) and 0 < y.mean() < 1  # a car and background


def test_missing_layout_is_explained(tmp_path):
    try:
        find_samples(tmp_path)
    except FileNotFoundError as e:
        assert "training.synthetic" in str(e)
    else:
        raise AssertionError("expected FileNotFoundError")


def test_train_steps_reduce_loss_and_export(tmp_path, capsys):
    data = tmp_path / "data"
    synthetic.main(["--out", str(data), "--count", "24", "--height", "64", "--width", "112", "--workers", "1"])
    out = tmp_path / "run"
    exported = tmp_path / "tiny.pt"
    start = tmp_path / "start.pt"  # a known starting point, so what the steps did can be measured
    torch.manual_seed(0)
    save_checkpoint(start, UNet(width=4), ModelSpec(width=4, input_height=64, input_width=112))
    train.main(["--data", str(data), "--out", str(out), "--init", str(start), "--steps", "30", "--batch", "4",
                "--crop", "64x64", "--input-size", "64x112", "--eval-every", "15", "--workers", "0",
                "--val-fraction", "0.25", "--lr", "3e-3", "--export", str(exported)])
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [15, 30]
    assert all(0 <= e["dice"] <= 1 and 0 <= e["iou"] <= e["dice"] + 1e-6 for e in log)
    model, spec, meta = load_checkpoint(exported)
    assert spec.width == 4 and (spec.input_height, spec.input_width) == (64, 112)
    assert meta["held_out"]["dice"] == max(e["dice"] for e in log)
    assert meta["command"].startswith("python -m training.train")
    assert next(iter(torch.load(exported, weights_only=True)["state_dict"].values())).dtype == torch.float16
    # the steps learned something: the weights moved, and the model fits the data better than where it began
    began, _, _ = load_checkpoint(start)
    moved = max((a.float() - b.float()).abs().max().item()
                for a, b in zip(model.state_dict().values(), began.state_dict().values()))
    assert moved > 1e-3, moved
    assert data_loss(model.float(), data) < data_loss(began, data)
    # resume continues from the saved step rather than starting over
    train.main(["--data", str(data), "--out", str(out), "--width", "4", "--steps", "40", "--batch", "4",
                "--crop", "64x64", "--input-size", "64x112", "--eval-every", "10", "--workers", "0",
                "--val-fraction", "0.25", "--resume"])
    assert "resumed at step 30" in capsys.readouterr().out
    evaluate.main(["--data", str(data), "--model", str(exported), "--val-fraction", "0.25"])
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scores["images"] > 0 and 0 <= scores["dice"] <= 1


def data_loss(model: torch.nn.Module, data) -> float:
    """Mean binary cross-entropy of `model` over every image of `data` at 64x112."""
    ds = SegmentationDataset(find_samples(data), resize=(64, 112), augment=False)
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    y = torch.stack([ds[i][1] for i in range(len(ds))])
    with torch.inference_mode():
        prob = model.eval()(evaluate.normalise(x, ModelSpec(width=4, input_height=64, input_width=112)))
    return torch.nn.functional.binary_cross_entropy(prob.clamp(1e-6, 1 - 1e-6), y).item()


def test_loss_is_lower_for_better_predictions():
    target = torch.zeros(2, 1, 8, 8)
    target[:, :, 2:6, 2:6] = 1
    good = (target * 2 - 1) * 6
    assert train.loss_fn(good, target) < train.loss_fn(torch.zeros_like(target), target) < train.loss_fn(-good, target)


def test_edge_weight_counts_the_outline_more_than_the_inside():
    """--edge-weight: an outline one pixel too wide costs more with it; a wrong pixel far inside costs the same."""
    target = torch.zeros(1, 1, 32, 32)
    target[..., 8:24, 8:24] = 1
    right = (target * 2 - 1) * 6
    wide = right.clone()
    wide[..., 7, 8:24] = 6  # the top edge one row too high
    hole = right.clone()
    hole[..., 16, 16] = -6  # one pixel wrong, far from the outline
    extra = {name: (train.loss_fn(pred, target, 4.0) - train.loss_fn(right, target, 4.0)).item() /
             (train.loss_fn(pred, target) - train.loss_fn(right, target)).item()
             for name, pred in (("outline", wide), ("inside", hole))}
    assert extra["outline"] > 2 * extra["inside"], extra


def test_bottom_weight_counts_the_lower_outline_more_than_the_top():
    """--bottom-weight: the car's lower edge drawn three rows too low (a shadow under the sill taken as car) costs
    more with it; the same error at the roof costs the same with or without it."""
    target = torch.zeros(1, 1, 40, 40)
    target[..., 10:25, 8:30] = 1
    right = (target * 2 - 1) * 6
    low = right.clone()
    low[..., 25:28, 8:30] = 6  # the bottom three rows too low
    high = right.clone()
    high[..., 7:10, 8:30] = 6  # the top three rows too high

    def cost(pred, bottom_weight):
        return (train.loss_fn(pred, target, 0.0, bottom_weight)
                - train.loss_fn(right, target, 0.0, bottom_weight)).item()

    assert cost(low, 3.0) > 2 * cost(low, 0.0)
    assert cost(high, 3.0) == pytest.approx(cost(high, 0.0))


def test_dice_iou_values():
    t = torch.zeros(1, 1, 4, 4)
    t[..., :2, :] = 1  # 8 pixels
    p = torch.zeros(1, 1, 4, 4)
    p[..., :1, :] = 1  # 4 of them
    d, i = evaluate.dice_iou(p, t)
    assert abs(d.item() - 2 * 4 / 12) < 1e-6 and abs(i.item() - 4 / 8) < 1e-6


def test_recolour_turns_the_cars_hue_and_leaves_the_rest():
    from training.dataset import recolour

    rng = np.random.default_rng(3)
    arr = np.zeros((8, 8, 3), np.float32)
    arr[:, :4] = (200, 40, 40)  # a red car on the left
    arr[:, 4:] = (40, 160, 40)  # green grass on the right
    car = np.zeros((8, 8, 1), np.float32)
    car[:, :4] = 1
    out = recolour(arr, car, rng)
    assert np.array_equal(out[:, 4:], arr[:, 4:]), "the background must keep its colour"
    assert np.abs(out[:, :4] - arr[:, :4]).max() > 30, "the car must be repainted"
    grey = np.full((2, 2, 3), 90, np.float32)
    assert np.allclose(recolour(grey, np.ones((2, 2, 1), np.float32), rng), grey), "grey parts stay grey"


def test_mixed_precision_choice():
    from training.train import mixed_precision

    assert mixed_precision(torch.device("cpu"), "off") is None
    assert mixed_precision(torch.device("cpu"), "on") == torch.bfloat16
    assert mixed_precision(torch.device("cuda"), "auto") == torch.float16


def test_read_acc_turns_axes_and_keeps_material_colours(tmp_path):
    """The AC3D reader of the Blender renderer (runs without Blender): Y-up to Z-up, kids' offsets
    applied, quads fanned into triangles, each object's colour from its surfaces' MATERIAL."""
    from training.blender_cars import read_acc

    ac = tmp_path / "box.ac"
    ac.write_text("""AC3Db
MATERIAL "white" rgb 1 1 1  amb 1 1 1  emis 0 0 0  spec 0 0 0  shi 1  trans 0
MATERIAL "red" rgb 0.8 0.1 0.1  amb 1 1 1  emis 0 0 0  spec 0 0 0  shi 1  trans 0
OBJECT world
kids 1
OBJECT poly
name "side"
loc 1 0 0
numvert 4
0 0 0
2 0 0
2 1 0
0 1 0
numsurf 1
SURF 0x20
mat 1
refs 4
0 0 0
1 1 0
2 1 1
3 0 1
kids 0
""")
    [side] = read_acc(ac)
    assert side["name"] == "side" and side["rgb"] == (0.8, 0.1, 0.1)
    assert side["verts"] == [(1, 0, 0), (3, 0, 0), (3, 0, 1), (1, 0, 1)]  # moved by loc, y up -> z up
    assert side["faces"] == [(0, 1, 2), (0, 2, 3)]


def test_context_branch_grows_from_a_plain_unet_and_ships_interpolated(tmp_path, capsys):
    """--context on a plain --init: the branch joins at zero, trains, and training.ship's WiSE interpolation
    between the plain start and the grown result scales only the branch's output (alpha 0: the start)."""
    from training import ship

    data = tmp_path / "data"
    synthetic.main(["--out", str(data), "--count", "16", "--height", "64", "--width", "112", "--workers", "1"])
    start, run, out = tmp_path / "start.pt", tmp_path / "run", tmp_path / "shipped.pt"
    torch.manual_seed(0)
    save_checkpoint(start, UNet(width=4), ModelSpec(width=4, input_height=64, input_width=112))
    train.main(["--data", str(data), "--out", str(run), "--init", str(start), "--context", "--steps", "6",
                "--batch", "4", "--crop", "64x64", "--input-size", "64x112", "--eval-every", "6", "--workers", "0",
                "--val-fraction", "0.25", "--lr", "3e-3"])
    grown, spec, _ = load_checkpoint(run / "best.pt")
    assert spec.context and grown.context.out.weight.abs().max() > 0  # trained away from zero
    ship.main(["--run", str(run), "--out", str(out), "--drawn", str(data), "--drawn-test", str(data), "--photo",
               str(data), "--alphas", "0", "--init", str(start), "--min-drawn", "0"])
    shipped, spec, _ = load_checkpoint(out)
    plain, _, _ = load_checkpoint(start)
    assert spec.context and shipped.context.out.weight.abs().max() == 0
    x = torch.rand(1, 3, 64, 112)
    with torch.no_grad():  # alpha 0 is the start model itself (FP16 weights as shipped)
        assert (shipped(x) - plain(x)).abs().max() < 2e-3


def test_render_plan_for_kenney_vehicles_names_each_model_and_skips_loose_wheels(tmp_path, monkeypatch):
    from training import rendered

    for name in ("race", "sedan", "tractor", "wheelDark"):
        (tmp_path / f"{name}.glb").write_bytes(b"glTF")
    monkeypatch.setattr(rendered, "KENNEY", tmp_path)
    specs = rendered.plan(tmp_path / "out", 400, seed=4, vehicles="kenney")
    cars = [s["car"] for s in specs]
    assert set(cars) == {"kenney-race", "kenney-sedan", "kenney-tractor"}  # the loose wheel is no vehicle
    assert all(s["gltf"] == str((tmp_path / f"{s['car'][7:]}.glb").resolve()) for s in specs)
    # the open-wheel racer is drawn more often than a sedan, the tractor less
    assert cars.count("kenney-race") > 2 * cars.count("kenney-sedan") > 4 * cars.count("kenney-tractor")
    assert specs == rendered.plan(tmp_path / "out", 400, seed=4, vehicles="kenney")  # deterministic


def test_render_plan_only_draws_the_named_vehicles(monkeypatch):
    """training.rendered --only car1-ow1: every sample is the formula car (drawn 0.3 as often otherwise), and
    a name that is no vehicle is an error that lists the real ones."""
    from training import rendered

    monkeypatch.setattr(rendered, "list_cars", lambda: ["155-DTM", "car1-ow1", "p406"])
    specs = rendered.plan(Path("out"), 30, seed=5, vehicles="torcs", only=["car1-ow1"])
    assert [s["car"] for s in specs] == ["car1-ow1"] * 30
    with pytest.raises(SystemExit, match="no torcs vehicle named indycar; there are: 155-DTM, car1-ow1, p406"):
        rendered.plan(Path("out"), 3, seed=5, vehicles="torcs", only=["indycar"])


def grey_background(tmp_path, monkeypatch, compose):
    """training.compose's background pool replaced by one grey photo (and no textures)."""
    grey = tmp_path / "grey.jpg"
    Image.fromarray(np.full((300, 500, 3), 128, np.uint8)).save(grey)
    monkeypatch.setattr(compose, "background_paths", lambda: [grey])
    monkeypatch.setattr(compose, "texture_paths", lambda: [])


def yellow_stamp(tmp_path, monkeypatch, compose, size: int) -> None:
    """training.compose's distractors replaced by one yellow square stamp, `size` pixels with a 5-pixel margin."""
    stamp = tmp_path / "ball.png"
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[5:size - 5, 5:size - 5] = (250, 200, 0, 255)
    Image.fromarray(rgba).save(stamp)
    monkeypatch.setattr(compose, "stamp_paths", lambda: [stamp])


def red_car_render(tmp_path, monkeypatch, compose, rows: slice, cols: slice, shadow_rows: slice | None = None,
                   shadow_cols: slice | None = None) -> Path:
    """training.compose's renders replaced by one 448x288 render: a red car at rows x cols (its mask), and where
    given, a shadow caught on the ground (black, alpha 220, outside the mask). Returns the render folder."""
    render = tmp_path / "r"
    render.mkdir()
    rgba = np.zeros((288, 448, 4), np.uint8)
    if shadow_rows is not None:
        rgba[shadow_rows, shadow_cols, 3] = 220
    rgba[rows, cols] = (230, 20, 20, 255)
    Image.fromarray(rgba).save(render / "red.png")
    Image.fromarray(np.where(rgba[..., 0] > 0, 255, 0).astype(np.uint8)).save(render / "red_mask.png")
    red = compose.Rendered("red", render / "red.png", render / "red_mask.png", {"width": 448, "height": 288})
    monkeypatch.setattr(compose, "rendered_samples", lambda _: [red])
    return render


def test_photo_cutouts_paste_only_the_masked_car_from_training_split_photos(tmp_path, monkeypatch):
    """Copy-paste of real photos (training.compose --photos): held-out photos and a car touching three borders
    are not used; what lands in an image is the masked car (red), not its photo (green), and the mask is it."""
    from training import compose

    photos = tmp_path / "photos"
    (photos / "images").mkdir(parents=True)
    (photos / "masks").mkdir()
    names = [f"photo_{i:03d}" for i in range(30)]
    for name in names:
        img = np.zeros((120, 200, 3), np.uint8)
        img[:] = (0, 200, 0)  # the photo around the car: green
        m = np.zeros((120, 200), np.uint8)
        if name == "photo_007":
            m[0:120, 0:150] = 255  # touches top, bottom and left: cannot be cut out
        else:
            m[40:90, 30:170] = 255
        img[m > 0] = (220, 20, 20)  # the car: red
        Image.fromarray(img).save(photos / "images" / f"{name}.jpg", quality=95)
        Image.fromarray(m).save(photos / "masks" / f"{name}.png")
    train_split, held_out = split(find_samples(photos), 0.1)
    assert held_out, "the fixture must hold some photos out"
    used = {r.name for r in compose.photo_cutouts(photos)}
    assert used == {s.group for s in train_split} - {"photo_007"}

    grey_background(tmp_path, monkeypatch, compose)
    monkeypatch.setattr(compose, "stamp_paths", lambda: [])
    out = tmp_path / "out"
    sources = compose.build(None, out, 12, seed=3, photos=photos)
    assert sources["photos"] == str(photos) and sources["renders_used"] >= 1
    cars = 0
    for p in sorted((out / "images").glob("*.png")):
        rgb = np.asarray(Image.open(p).convert("RGB")).astype(int)
        mask = np.asarray(Image.open(out / "masks" / p.name)) > 127
        r, g = rgb[..., 0], rgb[..., 1]
        assert ((g - r) > 60).mean() < 0.002, f"{p.name}: the photo around the car was pasted"
        if mask.any():
            cars += 1
            assert (r - g)[mask].mean() > 80, f"{p.name}: the mask is not on the red car"
            assert ((r - g) > 80)[~mask].mean() < 0.01, f"{p.name}: car outside the mask"
    assert cars >= 8


def test_car_free_images_each_get_a_distractor(tmp_path, monkeypatch):
    """training.compose --car-free 1.0: no car in any mask, and something salient (a stamp) in every image."""
    from training import compose

    grey_background(tmp_path, monkeypatch, compose)
    yellow_stamp(tmp_path, monkeypatch, compose, 40)
    render = tmp_path / "r"
    render.mkdir()
    never_read = compose.Rendered("car", render / "a.png", render / "b.png", {})  # no car is drawn
    monkeypatch.setattr(compose, "rendered_samples", lambda _: [never_read])
    out = tmp_path / "out"
    compose.build(render, out, 12, seed=0, layout=compose.Layout(car_free=1.0))
    for p in sorted((out / "images").glob("*.png")):
        assert not (np.asarray(Image.open(out / "masks" / p.name)) > 0).any(), p.name
        rgb = np.asarray(Image.open(p).convert("RGB")).astype(int)
        assert ((rgb[..., 0] - rgb[..., 2]) > 100).mean() > 0.002, f"{p.name}: no distractor"


def test_backgrounds_folder_replaces_the_installed_wallpapers(tmp_path, monkeypatch):
    """training.compose --backgrounds DIR: every image's background comes from DIR's photographs (blue), none
    from the installed wallpapers (grey), and sources.json says which were used."""
    from training import compose

    grey_background(tmp_path, monkeypatch, compose)
    monkeypatch.setattr(compose, "stamp_paths", lambda: [])
    folder = tmp_path / "scenery"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((300, 500, 3), (20, 40 + 10 * i, 220), np.uint8)).save(folder / f"s{i}.jpg")
    render = tmp_path / "r"
    render.mkdir()
    never_read = compose.Rendered("car", render / "a.png", render / "b.png", {})
    monkeypatch.setattr(compose, "rendered_samples", lambda _: [never_read])
    out = tmp_path / "out"
    sources = compose.build(render, out, 10, seed=0, backgrounds=folder, layout=compose.Layout(car_free=1.0))
    assert set(sources["backgrounds_used"]) <= {str(p) for p in folder.glob("*.jpg")}
    for p in sorted((out / "images").glob("*.png")):
        rgb = np.asarray(Image.open(p).convert("RGB")).astype(int)
        assert ((rgb[..., 2] - rgb[..., 0]) > 80).mean() > 0.95, f"{p.name}: not on the folder's photographs"


def test_street_images_hold_several_whole_cars_every_one_in_the_mask(tmp_path, monkeypatch):
    """training.compose --max-cars 5: images with more than one car (a street), each car whole and all of them
    in the mask; --max-cars 1 (every set made before it) keeps one car per image."""
    import cv2

    from training import compose

    grey_background(tmp_path, monkeypatch, compose)
    monkeypatch.setattr(compose, "stamp_paths", lambda: [])
    render = red_car_render(tmp_path, monkeypatch, compose, slice(120, 200), slice(100, 340))  # inside the frame

    def cars_per_image(max_cars: int) -> list[int]:
        out = tmp_path / f"out{max_cars}"
        compose.build(render, out, 16, seed=0, layout=compose.Layout(car_free=0.0, max_cars=max_cars))
        counts = []
        for p in sorted((out / "images").glob("*.png")):
            rgb = np.asarray(Image.open(p).convert("RGB")).astype(int)
            mask = np.asarray(Image.open(out / "masks" / p.name)) > 127
            redness = (rgb[..., 0] - rgb[..., 1]) > 80
            assert redness[~mask].mean() < 0.01, f"{p.name}: a car outside the mask"
            assert (~redness[mask]).mean() < 0.05, f"{p.name}: mask where there is no car"
            counts.append(cv2.connectedComponents(mask.astype(np.uint8))[0] - 1)
        return counts

    assert set(cars_per_image(1)) == {1}
    several = cars_per_image(5)
    assert max(several) >= 3 and sum(c >= 2 for c in several) >= 3, several  # some hide behind the first


def test_ground_puts_the_car_low_under_the_scenery(tmp_path, monkeypatch):
    """training.compose --ground: the car low in the frame and a wide view of the photograph, so its sky (the
    top 45%, blue) is in every image; without it the car sits higher and some crops miss the sky."""
    import cv2

    from training import compose

    photo = tmp_path / "landscape.jpg"
    land = np.full((400, 600, 3), (120, 90, 60), np.uint8)
    land[:180] = (40, 90, 230)
    Image.fromarray(land).save(photo)
    monkeypatch.setattr(compose, "background_paths", lambda: [photo])
    monkeypatch.setattr(compose, "texture_paths", lambda: [])
    monkeypatch.setattr(compose, "stamp_paths", lambda: [])
    render = red_car_render(tmp_path, monkeypatch, compose, slice(120, 180), slice(120, 320))

    def heights_and_sky(ground: bool) -> tuple[list[float], list[float]]:
        out = tmp_path / f"out{ground}"
        compose.build(render, out, 16, seed=0, layout=compose.Layout(car_free=0.0, ground=ground))
        ys, sky = [], []
        for p in sorted((out / "images").glob("*.png")):
            rgb = cv2.GaussianBlur(np.asarray(Image.open(p).convert("RGB")), (5, 5), 0).astype(int)
            mask = np.asarray(Image.open(out / "masks" / p.name)) > 127
            ys.append(float(np.nonzero(mask)[0].mean()) / mask.shape[0])
            sky.append(float(((rgb[..., 2] - rgb[..., 0]) > 100).mean()))
        return ys, sky

    ys, sky = heights_and_sky(True)
    assert min(ys) > 0.53 and min(sky) > 0.01, (ys, sky)
    ys, sky = heights_and_sky(False)
    assert min(ys) < 0.5 and min(sky) < 0.005, (ys, sky)


def test_shadows_belong_to_cars_and_distractors_alike(tmp_path, monkeypatch):
    """training.compose --shadowless 1.0: no car darkens the ground under it (a pasted cut-out has no shadow);
    --stamp-shadows 1.0: every distractor stands on a contact shadow. Neither option: cars do, stamps don't."""
    from training import compose

    grey_background(tmp_path, monkeypatch, compose)
    yellow_stamp(tmp_path, monkeypatch, compose, 60)
    render = red_car_render(tmp_path, monkeypatch, compose, slice(120, 180), slice(120, 320),
                            shadow_rows=slice(180, 200), shadow_cols=slice(110, 330))

    def dark_share(layout) -> float:
        """Share of the pixels that are neither stamp nor car and much darker than the grey photo."""
        out = tmp_path / f"out{hash(layout)}"
        compose.build(render, out, 16, seed=0, layout=layout)
        dark = []
        for p in sorted((out / "images").glob("*.png")):
            rgb = np.asarray(Image.open(p).convert("RGB")).astype(int)
            grey = np.median(rgb, axis=(0, 1))
            coloured = (rgb.max(axis=2) - rgb.min(axis=2)) > 60
            dark.append(((rgb.mean(axis=2) < grey.mean() * 0.75) & ~coloured).mean())
        return float(np.mean(dark))

    assert dark_share(compose.Layout(car_free=0.0)) > 0.01
    assert dark_share(compose.Layout(car_free=0.0, shadowless=1.0)) < 0.001
    assert dark_share(compose.Layout(car_free=1.0)) < 0.0001
    assert dark_share(compose.Layout(car_free=1.0, stamp_shadows=1.0)) > 0.0006  # a thin band under each


def test_whole_frame_crops_show_the_frame_as_inference_does(tmp_path):
    """training.train --whole 1.0: every training crop is the whole image resized to the crop (maybe mirrored),
    as the pipeline shows a frame; without it the crops zoom in and the car's area changes."""
    root = tmp_path / "d"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    img = np.full((144, 256, 3), 90, np.uint8)
    mask = np.zeros((144, 256), np.uint8)
    mask[20:60, 30:110] = 255
    img[mask > 0] = (200, 30, 30)
    Image.fromarray(img).save(root / "images" / "a.png")
    Image.fromarray(mask).save(root / "masks" / "a.png")
    frame = np.asarray(Image.fromarray(mask).resize((224, 128), Image.BILINEAR)).astype(np.float32) / 255
    samples = find_samples(root)

    def masks(whole: float) -> list[np.ndarray]:
        ds = SegmentationDataset(samples, crop=(128, 224), augment=True, whole=whole)
        return [ds[0][1][0].numpy() for _ in range(12)]

    for m in masks(1.0):
        assert min(np.abs(m - frame).max(), np.abs(m - frame[:, ::-1]).max()) < 1e-6
    areas = [float(m.sum()) for m in masks(0.0)]
    assert max(areas) > frame.sum() * 1.2, areas


def test_crops_of_a_larger_frame_show_the_car_at_that_frames_scale(tmp_path):
    """training.train --frame HxW: crops are cut from the image scaled to cover HxW (then zoomed 1.0-1.6x), so the
    network learns cars as large as a frame of HxW shows them; without it, as large as the crop's own frame."""
    root = tmp_path / "d"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    squares = (np.indices((16, 16)).sum(0) % 2 * 255).astype(np.uint8)
    mask = np.kron(squares, np.ones((4, 4), np.uint8))  # a checkerboard of 4 px squares
    Image.fromarray(np.stack([mask] * 3, -1)).save(root / "images" / "a.png")
    Image.fromarray(mask).save(root / "masks" / "a.png")
    samples = find_samples(root)

    def square_side(frame: tuple[int, int] | None) -> float:
        """The checkerboard's squares, measured along the crops' rows: 4 px times the scale the crop was cut at."""
        ds = SegmentationDataset(samples, crop=(32, 32), augment=True, frame=frame)
        runs = []
        for _ in range(8):
            row = ds[0][1][0, 16].numpy() >= 0.5
            changes = np.flatnonzero(row[1:] != row[:-1])
            runs += list(np.diff(changes))
        return float(np.median(runs))

    assert 16 <= square_side((256, 256)) <= 26  # scale 4-6.4: 256 / 64 times the zoom
    assert square_side(None) <= 4  # scaled to cover the 32 px crop: 0.5-0.8 times, squares 2-3 px


def test_scenery_carving_finds_every_image_in_a_resource_bundle():
    """scripts/make_scenery_photos.py cuts JPEG, PNG and WebP files out of a Qt resource bundle in stored
    order, each whole (it decodes to the picture that went in)."""
    import io
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
    from make_scenery_photos import carve, decode

    pictures = []
    blob = b"qres\x00\x00\x00\x03header"
    for i, fmt in enumerate(["JPEG", "PNG", "WEBP", "JPEG"]):
        arr = np.zeros((32, 48, 3), np.uint8)
        arr[:, : 12 * (i + 1)] = (200, 30 * i, 10)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
        pictures.append(arr)
        blob += len(buf.getvalue()).to_bytes(4, "big") + buf.getvalue() + b"\x00tree"
    found = carve(blob)
    assert len(found) == 4
    for arr, data in zip(pictures, found):
        im = decode(data)
        assert im is not None and im.size == (48, 32)
        assert np.abs(np.asarray(im).astype(int) - arr).mean() < 8


def test_reserved_carvana_cars_are_never_read(tmp_path, monkeypatch):
    """The builder skips a reserved car by its name and never opens its files; the dataset and compose refuse a
    copy of one wherever it sits (the assertion fires), while other cars pass."""
    from training import carvana, compose

    reserved = sorted(carvana.reserved_cars())[0]
    free = "0123456789ab" if "0123456789ab" not in carvana.reserved_cars() else "ba9876543210"
    repo = tmp_path / "repo"
    for split_name in ("train", "val"):
        (repo / "data" / f"{split_name}_images").mkdir(parents=True)
        (repo / "data" / f"{split_name}_masks").mkdir(parents=True)
    for car, part in ((reserved, "train"), (free, "val")):
        for v in (1, 2):
            Image.new("RGB", (64, 48), "grey").save(repo / "data" / f"{part}_images" / f"{car}_{v:02d}.jpg")
            Image.new("P", (64, 48), 1).save(repo / "data" / f"{part}_masks" / f"{car}_{v:02d}_mask.gif")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"],
                   check=True)
    opened: list[str] = []
    read = carvana.CarvanaCopy.read
    monkeypatch.setattr(carvana.CarvanaCopy, "read", lambda self, name: opened.append(name) or read(self, name))
    carvana.build(repo, tmp_path / "carvana", eval_count=0)
    assert opened and not [n for n in opened if reserved in n]
    assert sorted(p.name for p in (tmp_path / "carvana" / "train").iterdir()) == [f"{free}_01.jpg", f"{free}_02.jpg"]

    with pytest.raises(AssertionError, match="reserved Carvana car"):
        read(carvana.CarvanaCopy(repo), f"data/train_images/{reserved}_01.jpg")
    copy = tmp_path / "copy"  # a copy of a reserved car in another folder: refused by its name
    (copy / "train").mkdir(parents=True)
    (copy / "train_masks").mkdir()
    for car in (free, reserved):
        Image.new("RGB", (64, 48), "grey").save(copy / "train" / f"{car}_03.jpg")
        Image.new("P", (64, 48), 1).save(copy / "train_masks" / f"{car}_03_mask.gif")
    samples = {s.group: s for s in find_samples(copy)}
    data = SegmentationDataset([samples[free], samples[reserved]], augment=False, resize=(48, 64))
    assert data[0][0].shape == (3, 48, 64)
    with pytest.raises(AssertionError, match="reserved Carvana car"):
        data[1]
    assert compose.is_reserved(copy / "train" / f"{reserved}_03.jpg")
    assert not compose.is_reserved(copy / "train" / f"{free}_03.jpg")


def test_carvana_scores_measure_outline_and_far_matte():
    """Boundary IoU looks at the outline only; far false matte counts only what lies far from the true car."""
    from training.evaluate_carvana import scores

    truth = np.zeros((400, 600), bool)
    truth[100:300, 150:450] = True  # diagonal 721: d = 3.6 px for the outline, 14.4 px for "far"
    same = scores(truth.astype(np.uint8) * 255, truth)
    assert same == {"dice": 1.0, "boundary_iou": 1.0, "far_false_pct": 0.0, "sad_k": 0.0, "half_pct": 0.0}
    half = truth * np.float32(0.75)  # the car half seen through: the same outline, but a matte a quarter wrong
    s = scores(half, truth)
    assert s["dice"] == 1.0 and s["sad_k"] == pytest.approx(0.25 * 200 * 300 / 1000) and s["half_pct"] == 25.0
    shifted = np.roll(truth, 3, axis=1)  # the outline off by 3 px: Dice barely moves, Boundary IoU falls hard
    s = scores(shifted.astype(np.uint8) * 255, truth)
    assert s["dice"] > 0.98 and s["boundary_iou"] < 0.75
    haze = truth.copy()
    haze[100:300, 452:460] = True  # a haze hugging the car: not far
    lettering = truth.copy()
    lettering[10:30, 10:60] = True  # wall lettering far from the car: 1,000 px of 240,000
    assert scores(haze.astype(np.uint8) * 255, truth)["far_false_pct"] == 0.0
    assert scores(lettering.astype(np.uint8) * 255, truth)["far_false_pct"] == pytest.approx(100 * 1000 / 240000)


def test_carvana_evaluation_keeps_each_row_as_it_is_scored(tmp_path):
    """A long evaluation (every view under IS-Net: over an hour) stopped part-way keeps the photos it scored."""
    from training.evaluate_carvana import evaluate

    for folder in ("train", "train_masks"):
        (tmp_path / folder).mkdir()
    truth = np.zeros((64, 96), np.uint8)
    truth[16:48, 24:72] = 1
    for view in (1, 2, 3):
        Image.fromarray(np.full((64, 96, 3), 128, np.uint8)).save(tmp_path / "train" / f"0123456789ab_{view:02d}.jpg")
        Image.fromarray(truth * 255).save(tmp_path / "train_masks" / f"0123456789ab_{view:02d}_mask.gif")

    class StopsAtTheThird:  # a path that scores two photos, then the run is stopped
        label = "candidate"
        calls = 0

        def __call__(self, rgb):
            self.calls += 1
            if self.calls == 3:
                raise KeyboardInterrupt
            return truth * 255

    sink = tmp_path / "rows.jsonl"
    with pytest.raises(KeyboardInterrupt):
        evaluate(tmp_path, [StopsAtTheThird()], sink=sink)  # type: ignore[list-item]
    rows = [json.loads(line) for line in sink.read_text().splitlines()]
    assert [r["image"] for r in rows] == ["0123456789ab_01.jpg", "0123456789ab_02.jpg"]
    assert rows[0]["dice"] == 1.0 and rows[0]["model"] == "candidate"


def test_the_all_views_tables_group_the_rows_by_view_and_car():
    """docs/carvana_all_views.md's tables: a view's row is the mean of that view's photos, and the photos with false
    matte far from the car above the issue's 0.1% are counted."""
    from scripts.carvana_views_doc import tables

    def row(image: str, dice: float, far: float) -> dict:
        return {"image": image, "car": image[:12], "dice": dice, "boundary_iou": 0.5, "far_false_pct": far}

    rows = {r["image"]: r for r in (row("aaaaaaaaaaaa_01.jpg", 0.98, 0.0), row("bbbbbbbbbbbb_01.jpg", 0.96, 0.3),
                                     row("aaaaaaaaaaaa_02.jpg", 0.90, 0.0))}
    text = tables(rows, {"aaaaaaaaaaaa_01.jpg": row("aaaaaaaaaaaa_01.jpg", 0.5, 0.0)}, "old")
    assert "| 01 | 0.9700 / 0.500 / 0.150 | 0.5000 / 0.500 / 0.000 | 1 |" in text
    assert "| 02 | 0.9000 / 0.500 / 0.000 | - | 0 |" in text
    assert "| aaaaaaaaaaaa | 0.9400 / 0.500 / 0.000 |" in text


def test_edge_refiner_starts_as_the_guided_filter_and_runs_on_the_band_only():
    from training.edge_refiner import EdgeRefiner, band, refined

    torch.manual_seed(0)
    frame = torch.rand(1, 3, 40, 60)
    gf = torch.zeros(1, 1, 40, 60)
    gf[..., 10:30, 20:40] = 1.0
    gf[..., 10:30, 19] = 0.5  # one unsure column at the car's left edge
    model = EdgeRefiner(8)
    assert torch.allclose(model(torch.cat([frame, gf], 1)), gf.clamp(1e-3, 1 - 1e-3), atol=1e-6)  # zero last layer
    where = band(gf)[0, 0]  # the unsure column widened by 24 px
    assert where[:, :44].all() and not where[:, 44:].any()
    with torch.no_grad():
        model.head.bias.fill_(20.0)  # a refiner that calls everything car: only the band may change
    out = refined(model, frame, gf)
    assert torch.equal(out[..., ~where], gf[..., ~where]) and (out[..., where] > 0.9).all()


def test_a_grown_refiner_starts_as_the_shallower_one_computes(tmp_path):
    """training.edge_refiner --grow: a fourth level added to a trained three-level refiner changes nothing until
    training moves it."""
    from training.edge_refiner import EdgeRefiner, grown

    torch.manual_seed(0)
    old = EdgeRefiner(8, 3)
    for p in old.parameters():
        torch.nn.init.normal_(p, std=0.2)
    torch.save({"width": 8, "levels": 3, "state_dict": old.state_dict()}, tmp_path / "old.pt")
    new = grown(tmp_path / "old.pt", 4)
    assert new.levels == 4
    x = torch.rand(2, 4, 64, 64)
    with torch.no_grad():
        assert torch.allclose(new(x), old(x), atol=1e-6)
    with pytest.raises(ValueError, match="levels"):
        grown(tmp_path / "old.pt", 3)


def test_edge_refiner_bottom_weight_counts_the_lower_outline_more_than_the_top():
    """training.edge_refiner --bottom-weight: the refined matte's lower edge three rows too low (the shadow under a
    sill taken as car) costs more with it; the same error at the roof costs the same with or without it."""
    from training.edge_refiner import edge_loss

    truth = torch.zeros(1, 1, 40, 40)
    truth[..., 10:25, 8:30] = 1
    right = truth * 0.98 + 0.01
    low = right.clone()
    low[..., 25:28, 8:30] = 0.99  # the bottom three rows too low
    high = right.clone()
    high[..., 7:10, 8:30] = 0.99  # the top three rows too high

    def cost(pred, bottom_weight):
        return (edge_loss(pred, truth, bottom_weight) - edge_loss(right, truth, bottom_weight)).item()

    assert cost(low, 3.0) > 2 * cost(low, 0.0)
    assert cost(high, 3.0) == pytest.approx(cost(high, 0.0))


def test_edge_refiner_soup_is_the_mean_of_its_refiners(tmp_path):
    """training.edge_refiner soup: two runs of one network averaged weight by weight; runs of different networks
    are refused."""
    from training.edge_refiner import EdgeRefiner, load_refiner, main

    paths = []
    for seed, width in ((0, 8), (1, 8), (2, 4)):
        torch.manual_seed(seed)
        model = EdgeRefiner(width, 3)
        paths.append(tmp_path / f"r{seed}.pt")
        torch.save({"width": width, "levels": 3, "state_dict": model.state_dict()}, paths[-1])
    main(["soup", "--refiner", str(paths[0]), "--refiner", str(paths[1]), "--out", str(tmp_path / "soup.pt")])
    a, b, mean = (load_refiner(p).state_dict() for p in (paths[0], paths[1], tmp_path / "soup.pt"))
    for k in mean:
        assert torch.allclose(mean[k], (a[k] + b[k]) / 2), k
    with pytest.raises(SystemExit, match="differ"):
        main(["soup", "--refiner", str(paths[0]), "--refiner", str(paths[2]), "--out", str(tmp_path / "bad.pt")])


def test_edge_refiner_takes_its_coarse_networks_with_their_shares():
    """training.edge_refiner --coarse NAME[:SHARE]: which coarse networks draw the mattes the stage learns to correct,
    and on what share of the photos (a checkpoint's path may hold a colon)."""
    from training.edge_refiner import coarse_share

    assert coarse_share("default") == ("default", 1.0)
    assert coarse_share("isnet:0.4") == ("isnet", 0.4)
    assert coarse_share("isnet+gate=runs/a.pt:2") == ("isnet+gate=runs/a.pt", 2.0)
    assert coarse_share("C:/models/unet.pt") == ("C:/models/unet.pt", 1.0)


def test_git_copy_reads_a_bare_copy_at_its_commit_and_never_a_reserved_source(tmp_path):
    """training.git_copy: the data builders' reader of fetched repositories."""
    from training.git_copy import GitCopy

    work = tmp_path / "work"
    (work / "DAVIS" / "JPEGImages").mkdir(parents=True)
    (work / "plates.txt").write_text("AB12 CDE\n")
    (work / "DAVIS" / "JPEGImages" / "00000.jpg").write_bytes(b"a frame")
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "c"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(tmp_path / "bare")], check=True)
    copy = GitCopy(tmp_path / "bare")
    assert copy.names("DAVIS") == ["DAVIS/JPEGImages/00000.jpg"]  # listing reads no file
    assert copy.read("plates.txt") == b"AB12 CDE\n"
    with pytest.raises(AssertionError, match="reserved source"):
        copy.read("DAVIS/JPEGImages/00000.jpg")
    copy.close()


def test_carvana_user_path_measures_the_candidate_networks_it_is_given(tmp_path, monkeypatch):
    """training.evaluate_carvana --edge-weights / --outline-weights run a candidate network where the shipped one
    runs, keeping the other shipped one (a candidate edge network measured without the outline network scores a path
    no user gets); --no-outline leaves a photo's third look out."""
    from streamseg.backends import registry
    from streamseg.edges import edges_model_path, outline_model_path
    from training.evaluate_carvana import UserPath

    opened: dict[int, str] = {}  # backend -> the file it runs
    create = registry.create_backend

    def recording(name, path, *args, **kwargs):
        backend = create(name, path, *args, **kwargs)
        opened[id(backend)] = Path(path).name
        return backend

    monkeypatch.setattr(registry, "create_backend", recording)
    edges, outline = tmp_path / "edges-candidate.pt", tmp_path / "outline-candidate.pt"
    edges.write_bytes(edges_model_path().read_bytes())
    outline.write_bytes(outline_model_path().read_bytes())
    cases = [({}, ("edges.pt", "outline.pt")),
             ({"edge_weights": edges}, ("edges-candidate.pt", "outline.pt")),
             ({"outline_weights": outline}, ("edges.pt", "outline-candidate.pt")),
             ({"outline": False}, ("edges.pt", None))]
    for kwargs, running in cases:
        path = UserPath("default", backend="cpu", **kwargs)
        stage = path.edges
        assert stage is not None
        assert (opened[id(stage.backend)], stage.outline and opened[id(stage.outline)]) == running, kwargs
        path.close()
