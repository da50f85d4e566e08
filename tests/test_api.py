"""The Python API (issue 25): Segmenter and convert give what `streamseg run` gives, with its guarantees."""

from __future__ import annotations

import io
import json
import re
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import cli
from PIL import Image

from streamseg import (
    BatchSummary,
    InputError,
    OutputError,
    PhotoSummary,
    Progress,
    RunSummary,
    Segmenter,
    StreamsegError,
    convert,
)

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(scope="module")
def seg():
    with Segmenter() as s:
        yield s


@pytest.fixture(scope="module")
def car_png(clip, tmp_path_factory) -> Path:
    """A frame of the sample clip (a drawn car on a street) as a PNG photo."""
    with av.open(str(clip)) as c:
        frame = next(c.decode(video=0)).to_image()
    path = tmp_path_factory.mktemp("api") / "car.png"
    frame.save(path)
    return path


def test_pictures_in_memory_give_the_clis_pixels(seg, car_png, tmp_path):
    for args, name in ((["--bg", "green"], "green.png"), ([], "studio.png"), (["-f", "png"], "cut.png"),
                       (["-f", "matte"], "matte.png")):
        r = cli("run", car_png, "-o", tmp_path / name, *args)
        assert r.code == 0, r
    written = {name: np.asarray(Image.open(tmp_path / name)) for name in
               ("green.png", "studio.png", "cut.png", "matte.png")}
    rgb = np.asarray(Image.open(car_png).convert("RGB"))
    assert np.array_equal(seg.composite(rgb, bg="green"), written["green.png"])  # array in, array out
    assert np.array_equal(seg.composite(rgb), written["studio.png"])  # the studio look: shadow by default
    cut = seg.cutout(Image.open(car_png))  # PIL in, PIL out
    assert isinstance(cut, Image.Image) and cut.mode == "RGBA"
    assert np.array_equal(np.asarray(cut), written["cut.png"])
    matte = seg.matte(car_png.read_bytes())  # bytes in, bytes out
    assert isinstance(matte, bytes)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(matte))), written["matte.png"])
    assert 0 < written["matte.png"].mean() < 255, "a matte with a car and a background"
    pair = seg.matte([rgb, rgb])  # a list in, a list out
    assert isinstance(pair, list) and len(pair) == 2 and np.array_equal(pair[1], written["matte.png"])


def test_bytes_come_back_in_the_inputs_format(seg, car_png):
    buffer = io.BytesIO()
    Image.open(car_png).convert("RGB").save(buffer, format="JPEG", quality=92)
    out = seg.composite(buffer.getvalue(), bg="white")
    assert Image.open(io.BytesIO(out)).format == "JPEG"
    assert Image.open(io.BytesIO(seg.cutout(buffer.getvalue()))).format == "PNG", "a cut-out needs alpha"


def test_a_segmenter_shared_by_threads_gives_each_its_own_answer(seg, car_png):
    rgb = np.asarray(Image.open(car_png).convert("RGB"))
    flipped = np.ascontiguousarray(rgb[:, ::-1])
    expected = [seg.matte(rgb), seg.matte(flipped)]
    results: dict[int, np.ndarray] = {}

    def work(k: int) -> None:
        results[k] = seg.matte(rgb if k % 2 == 0 else flipped)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(6):
        assert np.array_equal(results[k], expected[k % 2]), k


@pytest.mark.parametrize("bad,named", [(np.zeros((64, 64, 3), np.float32), "dtype float32"),
                                       (np.zeros((64, 64, 2), np.uint8), "shape (64, 64, 2)"),
                                       (b"not an image", "cannot read the picture"),
                                       ("car.jpg", "a str is not a picture")])
def test_what_is_not_a_picture_is_an_input_error(seg, bad, named):
    with pytest.raises(InputError) as e:
        seg.matte(bad)
    assert named in e.value.problem and e.value.fix and e.value.exit_code == 2


def test_convert_refuses_to_replace_a_file_or_the_input(clip, tmp_path):
    out = tmp_path / "mine.mp4"
    out.write_bytes(b"the user's own file")
    with pytest.raises(OutputError) as e:
        convert(clip, out)
    assert "already exists" in e.value.problem and "overwrite" in (e.value.fix or "")
    assert out.read_bytes() == b"the user's own file"
    before = clip.read_bytes()
    with pytest.raises(StreamsegError) as e:
        convert(clip, clip, overwrite=True)
    assert "is the input itself" in e.value.problem and clip.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "nothing half-written left"


def test_convert_gives_typed_summaries_and_progress(clip, car_png, tmp_path):
    seen: list[Progress] = []
    video = convert(clip, tmp_path / "v.mp4", bg="blue", progress=seen.append)
    assert isinstance(video, RunSummary) and video.frames == 12
    frames = [p.done for p in seen]
    assert frames == sorted(frames) and frames[-1] == 12 and seen[-1].total == 12 and seen[-1].inputs_done == 1
    assert json.loads(json.dumps(video.as_dict()))["frames"] == 12
    still = convert(car_png, tmp_path / "p.png", fmt="png")
    assert isinstance(still, PhotoSummary) and still.format == "cut-out"
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(car_png.read_bytes())
    (folder / "b.mp4").write_bytes(clip.read_bytes())
    (folder / "c.jpg").write_bytes(b"damaged")
    many = convert(folder, tmp_path / "out", bg="green")
    assert isinstance(many, BatchSummary) and many.failed == 1 and many.count("ok") == 2
    assert Path(many.manifest).is_file() and len(Path(many.manifest).read_text().splitlines()) == 3


def test_convert_with_a_loaded_segmenter_runs_on_its_model(seg, clip, tmp_path):
    summary = convert(clip, tmp_path / "o.mp4", segmenter=seg, fmt="matte")
    assert isinstance(summary, RunSummary) and summary.backend == seg.backend.describe()
    with pytest.raises(InputError):
        convert(clip, tmp_path / "o2.mp4", segmenter=seg, devices="cpu,cpu")


def test_options_are_checked_with_their_python_names(clip, tmp_path):
    for kwargs, named in (({"fmt": "gif"}, "fmt='gif'"), ({"vehicles": "cars"}, "vehicles='cars'"),
                          ({"size": "wide"}, "size 'wide'"), ({"batch_size": 0}, "batch_size=0")):
        with pytest.raises(InputError) as e:
            convert(clip, tmp_path / "x.mp4", **kwargs)
        assert named in e.value.problem, e.value.problem
    assert not (tmp_path / "x.mp4").exists()


def test_a_single_input_honours_manifest_and_devices(car_png, tmp_path):
    out = tmp_path / "one" / "car_out.png"
    r = cli("run", car_png, "-o", out, "--manifest", tmp_path / "m.jsonl", "--devices", "cpu", "--json")
    assert r.code == 0, r
    record = json.loads((tmp_path / "m.jsonl").read_text())
    assert record["output"] == str(out) and record["status"] == "ok" and record["device"] == "cpu"
    assert Image.open(out).size == Image.open(car_png).size
    r = cli("run", car_png, "-o", out, "--manifest", tmp_path / "m.jsonl", "--resume", "--json")
    assert r.code == 0 and json.loads(r.out.splitlines()[-1])["status"] == "skipped", r


def python_examples() -> list[str]:
    """The ```python blocks of the README's "Python" section."""
    text = README.read_text()
    section = text.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_readmes_python_examples_run(clip, car_png, tmp_path, monkeypatch, capsys):
    examples = python_examples()
    assert examples, "the README has a Python section with examples"
    monkeypatch.chdir(tmp_path)
    Path("car.mp4").write_bytes(clip.read_bytes())
    Image.open(car_png).convert("RGB").save("car.jpg", quality=95)
    for code in examples:
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102
    out = capsys.readouterr().out
    assert "already exists" in out, out
    assert Image.open("car_cutout.png").mode == "RGBA" and Path("car_studio.mp4").is_file()
