"""Real cars with exact masks: the Carvana Image Masking Challenge's training set, from a local copy of a public
repository that holds it, split by whole cars into a training set and an evaluation set; the reserved cars are
never read.

    python -m training.carvana --repo DIR --out data/carvana

DIR is a clone (work tree) or a bare git directory of ishmamahmed/Semantic-Segmentation-using-UNet-on-Carvana-Dataset
(its `data/{train,val}_images/<car>_<view>.jpg` and `data/{train,val}_masks/<car>_<view>_mask.gif`; 318 cars x 16
turntable views, 1918x1280). Writes, in `training.dataset`'s Carvana layout:
- `OUT/train/` + `OUT/train_masks/`: the cars to train on;
- `OUT_eval/train/` + `OUT_eval/train_masks/`: EVAL_CARS whole cars (all 16 views), never trained on,
  for `training.evaluate_carvana`;
- `OUT/SOURCE.json` and `OUT_eval/SOURCE.json`: repository, commit, licence note and the cars.
`--width 960` writes the same split shrunk (JPEG q95, masks 0..255), quicker to train the low-resolution network on.

The cars listed in ../shared/reserved_carvana_cars.txt are kept for an independent check: their files are
never read, in any copy (`open_carvana_file` asserts it on every file; `training.dataset` asserts it again on
every Carvana sample it yields). Licence: the repositories carry none; this is Kaggle competition data.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import re
from pathlib import Path

from PIL import Image

from training.git_copy import GitCopy

REPOSITORY = "ishmamahmed/Semantic-Segmentation-using-UNet-on-Carvana-Dataset"
LICENCE = ("none stated in the repository: Kaggle's Carvana Image Masking Challenge competition data "
           "(https://www.kaggle.com/c/carvana-image-masking-challenge), used under the competition's rules")
EVAL_CARS = 32  # whole cars kept for evaluation (the issue asks for at least 30)
RESERVED_LIST = Path(__file__).resolve().parents[2] / "shared" / "reserved_carvana_cars.txt"
CAR_ID = re.compile(r"(?<![0-9a-f])([0-9a-f]{12})_(\d\d)(_mask)?\.(jpg|gif)$")  # the car, its view


@functools.cache
def reserved_cars(path: Path = RESERVED_LIST) -> frozenset[str]:
    """The reserved car ids. Missing list: refuse to read any Carvana file rather than risk one."""
    if not path.is_file():
        raise SystemExit(f"{path} not found: the reserved Carvana cars cannot be kept apart, so nothing is read")
    ids = {line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")}
    bad = [i for i in ids if not re.fullmatch(r"[0-9a-f]{12}", i)]
    if bad or not ids:
        raise SystemExit(f"{path}: not a list of 12-hex car ids ({bad[:3]})")
    return frozenset(ids)


def car_of(name: str | Path) -> str | None:
    """The car id in a Carvana file name (`<car>_<view>.jpg`, `<car>_<view>_mask.gif`), else None."""
    m = CAR_ID.search(str(name))
    return m.group(1) if m else None


def view_of(name: str | Path) -> int | None:
    """The view (1-16) in a Carvana file name, as car_of reads the car, else None."""
    m = CAR_ID.search(str(name))
    return int(m.group(2)) if m else None


def is_reserved_car(name: str | Path) -> bool:
    car = car_of(name)
    return car is not None and car in reserved_cars()


def check_not_reserved(name: str | Path) -> None:
    """Every Carvana file is checked here before it is opened."""
    assert not is_reserved_car(name), f"reserved Carvana car, must never be read: {name}"


class CarvanaCopy:
    """A local copy of the repository, a work tree or a bare git directory; files are read by repository path."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.worktree = (self.root / "data").is_dir()
        self.copy = GitCopy(self.root, "HEAD", REPOSITORY)
        self.commit = self.copy.commit

    def names(self) -> list[str]:
        """Repository paths of the images and masks (names only: listing reads no file)."""
        return [n for n in self.copy.names("data") if car_of(n)]

    def read(self, name: str) -> bytes:
        check_not_reserved(name)
        if self.worktree:
            return (self.root / name).read_bytes()
        return self.copy.read(name)

    def close(self) -> None:
        self.copy.close()


def eval_cars(cars: list[str], count: int = EVAL_CARS) -> list[str]:
    """`count` cars chosen by a hash of their id (the same on every machine), never a reserved one."""
    free = [c for c in cars if c not in reserved_cars()]
    return sorted(sorted(free, key=lambda c: hashlib.sha1(f"carvana-eval:{c}".encode()).hexdigest())[:count])


def shrunk(data: bytes, width: int, is_mask: bool) -> bytes:
    """An image or mask at `width` pixels wide (masks keep their soft edge, 0..255 grey)."""
    im = Image.open(io.BytesIO(data))
    im = im.convert("L").point(lambda v: 255 if v else 0) if is_mask else im.convert("RGB")
    im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS if not is_mask else Image.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, format="GIF" if is_mask else "JPEG", **({} if is_mask else {"quality": 95}))
    return buf.getvalue()


def build(repo: Path, out: Path, eval_count: int = EVAL_CARS, width: int | None = None) -> dict:
    copy = CarvanaCopy(repo)
    names = copy.names()
    cars = sorted({car_of(n) for n in names} - {None})  # type: ignore[arg-type]
    held = set(eval_cars(cars, eval_count))
    kept = [n for n in names if not is_reserved_car(n)]  # reserved files are skipped by name, never opened
    outs = {False: out, True: out.with_name(out.name + "_eval")}
    counts = {False: 0, True: 0}
    for name in kept:
        car = car_of(name)
        is_eval = car in held
        base = Path(name).name
        folder = outs[is_eval] / ("train_masks" if base.endswith("_mask.gif") else "train")
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / base
        if not target.exists():
            data = copy.read(name)
            target.write_bytes(data if width is None else shrunk(data, width, base.endswith(".gif")))
        counts[is_eval] += base.endswith(".jpg")
    copy.close()
    for is_eval, folder in outs.items():
        chosen = sorted(held) if is_eval else sorted(set(cars) - held - reserved_cars())
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "SOURCE.json").write_text(json.dumps({
            "repository": REPOSITORY, "commit": copy.commit, "paths": "data/{train,val}_{images,masks}",
            "licence": LICENCE, "split": "evaluation (never trained on)" if is_eval else "training",
            "cars": chosen, "images": counts[is_eval],
            "reserved_cars_left_unread": len(reserved_cars() & set(cars))}, indent=1))
    return {"train_images": counts[False], "eval_images": counts[True], "eval_cars": len(held),
            "train_cars": len(set(cars) - held - reserved_cars()), "commit": copy.commit}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", type=Path, required=True, help=f"a clone or bare git directory of {REPOSITORY}")
    ap.add_argument("--out", type=Path, default=Path("data/carvana"))
    ap.add_argument("--eval-cars", type=int, default=EVAL_CARS)
    ap.add_argument("--width", type=int, help="shrink to this width (a quicker set for the low-resolution network)")
    args = ap.parse_args(argv)
    print(json.dumps(build(args.repo, args.out, args.eval_cars, args.width)))


if __name__ == "__main__":
    main()
