"""Photos (issue 11, first part): stills in every common format, upright, full size, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import cli
from PIL import Image, ImageOps


def picture(width: int = 320, height: int = 200) -> Image.Image:
    """A street-like picture with a dark car-ish block, different in every corner (so a turn shows)."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 120)], -1).astype(np.uint8)
    rgb[height // 2:height // 2 + 40, width // 4:width // 4 + 120] = (20, 20, 30)
    return Image.fromarray(rgb)


@pytest.mark.parametrize("ext,out_ext", [(".jpg", ".jpg"), (".png", ".png"), (".webp", ".webp"),
                                         (".tif", ".tif"), (".bmp", ".png")])
def test_each_format_round_trips(tmp_path, ext, out_ext):
    """Each format in, a composite out at full size, turned upright where the format carries an EXIF
    orientation (BMP has none)."""
    src = tmp_path / f"car{ext}"
    stored = picture()
    if ext == ".bmp":
        stored.save(src)
    else:
        exif = stored.getexif()
        exif[0x0112] = 6  # shown turned 90 degrees clockwise
        stored.save(src, exif=exif)
    r = cli("run", src, "--json")
    assert r.code == 0, r
    out = tmp_path / f"car_streamseg{out_ext}"
    assert json.loads(r.out)["output"] == str(out)
    with Image.open(out) as im:
        assert im.size == ((320, 200) if ext == ".bmp" else (200, 320)) and im.mode == "RGB"


def test_heic_from_a_phone_is_read_upright(tmp_path):
    """HEIC stores the camera's rotation as a transform that libheif applies (pillow-heif writes it from
    the EXIF orientation given when saving)."""
    import subprocess
    import sys

    src = tmp_path / "IMG_0001.heic"
    stored = picture(320, 200)
    stored.save(tmp_path / "stored.png")
    # written by another process, so this one has not registered pillow-heif with Pillow: streamseg must
    write = ("import pillow_heif, sys; from PIL import Image; pillow_heif.register_heif_opener(); "
             "im = Image.open(sys.argv[1]); exif = im.getexif(); exif[0x0112] = 6; "  # turned 90 degrees clockwise
             "im.save(sys.argv[2], exif=exif.tobytes(), quality=95)")
    subprocess.run([sys.executable, "-c", write, str(tmp_path / "stored.png"), str(src)], check=True)
    r = cli("run", src, "-f", "png", "-o", tmp_path / "cut.png")
    assert r.code == 0, r
    cut = np.asarray(Image.open(tmp_path / "cut.png")).astype(int)
    upright = np.asarray(stored.transpose(Image.Transpose.ROTATE_270)).astype(int)
    assert cut.shape == (320, 200, 4) and np.abs(cut[..., :3] - upright).mean() < 3  # lossy, but upright
    r = cli("run", src, "--json")
    assert r.code == 0 and json.loads(r.out)["output"] == str(tmp_path / "IMG_0001_streamseg.jpg")


def test_exif_orientation_is_applied_and_the_cut_out_keeps_the_pixels(tmp_path):
    src = tmp_path / "phone.png"
    stored = picture(320, 200)
    exif = stored.getexif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    stored.save(src, exif=exif)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(src)).convert("RGB"))
    assert upright.shape == (320, 200, 3)
    r = cli("run", src, "-f", "png", "-o", tmp_path / "cut.png")
    assert r.code == 0, r
    cut = np.asarray(Image.open(tmp_path / "cut.png"))
    assert cut.shape == (320, 200, 4) and np.array_equal(cut[..., :3], upright)  # alpha added, nothing moved
    assert 0 < cut[..., 3].mean() < 255


def test_full_resolution_is_kept(tmp_path):
    src = tmp_path / "big.jpg"
    picture(3000, 2000).save(src, quality=90)
    r = cli("run", src, "-o", tmp_path / "big_out.jpg", "--json", "-q")
    assert r.code == 0, r
    assert Image.open(tmp_path / "big_out.jpg").size == (3000, 2000)
    assert json.loads(r.out)["colour"] == "sRGB (no embedded profile)"


def test_matte_of_a_photo(tmp_path):
    src = tmp_path / "m.png"
    picture().save(src)
    assert cli("run", src, "-f", "matte").code == 0
    with Image.open(tmp_path / "m_matte.png") as im:
        assert im.mode == "L" and im.size == (320, 200)


def test_damaged_photo_is_a_clear_error(tmp_path):
    src = tmp_path / "cut_short.jpg"
    picture().save(tmp_path / "whole.jpg")
    src.write_bytes((tmp_path / "whole.jpg").read_bytes()[:400])
    r = cli("run", src)
    assert r.code == 2 and not r.crashed, r
    assert "cannot read cut_short.jpg as an image" in r.err and "fix:" in r.err
    assert not list(tmp_path.glob("cut_short_streamseg*")) and not list(tmp_path.glob(".*partial*"))


@pytest.mark.parametrize("args,message", [
    (["-f", "webm"], "the webm format is for video"),
    (["-f", "png", "-o", "cut.jpg"], "JPEG has no alpha channel"),
    (["-o", "out.mp4"], "a photo's output must be an image"),
])
def test_photo_output_mistakes_are_named(tmp_path, args, message):
    src = tmp_path / "p.png"
    picture().save(src)
    r = cli("run", src, *[str(tmp_path / a) if a.endswith((".jpg", ".mp4")) else a for a in args])
    assert r.code == 2 and message in r.err, r


def test_a_folder_of_photos_and_videos_goes_through_one_manifest_and_resume(clip, tmp_path):
    import shutil

    src, out = tmp_path / "set", tmp_path / "out"
    src.mkdir()
    picture().save(src / "a.jpg")
    picture(200, 320).save(src / "b.png")
    picture().save(src / "c.webp")
    (src / "damaged.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))  # a JPEG header and nothing else
    shutil.copy(clip, src / "drive.mp4")
    r = cli("run", src, "-o", out, "--json")
    assert r.code == 1 and "1 of 5 inputs failed" in r.err, r
    records = {json.loads(line)["input"].rsplit("/", 1)[-1]: json.loads(line)
               for line in (out / "streamseg-manifest.jsonl").read_text().splitlines()}
    assert records["damaged.jpg"]["status"] == "failed" and "damaged.jpg" in records["damaged.jpg"]["error"]
    for name, output in [("a.jpg", "a_streamseg.jpg"), ("b.png", "b_streamseg.png"), ("c.webp", "c_streamseg.webp"),
                         ("drive.mp4", "drive_streamseg.mp4")]:
        assert records[name]["status"] == "ok" and (out / output).is_file(), name
        assert records[name]["output"] == str(out / output)
    assert records["a.jpg"]["frames"] == 1 and Image.open(out / "b_streamseg.png").size == (200, 320)
    (src / "damaged.jpg").unlink()
    r = cli("run", src, "-o", out, "--resume", "--json")
    assert r.code == 0, r
    statuses = sorted(json.loads(line)["status"] for line in r.out.splitlines())
    assert statuses == ["skipped"] * 4, "--resume must skip photos already done"
    r = cli("run", src, "-o", tmp_path / "cut", "-f", "png")
    assert r.code == 0 and Image.open(tmp_path / "cut" / "a_streamseg.png").mode == "RGBA"


def test_a_photo_set_shows_one_progress_bar(tmp_path, capsys):
    import sys

    from streamseg.api import convert
    from streamseg.cli import ProgressBar

    for k in range(6):
        picture().save(tmp_path / f"p{k}.jpg")
    bar = ProgressBar(show=True, as_json=False)
    try:
        convert([str(tmp_path / f"p{k}.jpg") for k in range(6)], tmp_path / "out", bg="green", progress=bar.update,
                log=bar.wrap(lambda m: print(m, file=sys.stderr)))
    finally:
        bar.close()
    err = capsys.readouterr().err
    assert "6/6" in err and "[1/6]" not in err, err
    assert err.count("0/6") == 1, "one bar over the set, not one per photo"
