"""Real photographs with number plates marked by people, for the plate detector of `--plate` (issue 26).

    # fetch github:unknowncz/LP_recognition, github:RobertLucian/license-plate-dataset, github:openalpr/benchmarks
    python -m training.plates --mirrors /work/.mirror --out data/plates --held-out data/plates_eval

Writes two sets in the images/ + masks/ layout `training.train` reads (the mask: every marked plate's box filled
with 255), and `boxes.json` beside each (per image: the boxes [x0, y0, x1, y1] and whether every plate in it
is marked), which the recall/precision table counts by:
- `--out` (training): Open Images photographs of cars with every visible plate boxed (unknowncz/LP_recognition,
  "Google Licence Plates" from Roboflow, CC BY 4.0 by its README.dataset.txt), four fifths of them by photo id,
  and a Romanian dash camera's frames (RobertLucian/license-plate-dataset, MIT; four videos, too alike to
  hold out).
- `--held-out` (never trained on): the other fifth of the Open Images photos (every plate boxed: precision and
  recall), and openalpr/benchmarks' end-to-end set (US, EU and Brazilian cars close up, one plate boxed per
  photo even where other cars show theirs: recall only; AGPL-3.0, used to evaluate, not redistributed).
The LP_recognition repository puts 261 photos in both its train/ and valid/ folders, so photos are kept once
by their Open Images id and split by a hash of it, not by those folders.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from training.git_copy import GitCopy
from training.train import parse_size


@dataclass(frozen=True)
class Source:
    repository: str
    commit: str
    licence: str

    def open(self, mirrors: Path) -> GitCopy:
        """The copy `fetch` put under `mirrors` (owner+name/repo)."""
        return GitCopy(mirrors / self.repository.replace("/", "+") / "repo", self.commit, self.repository)


OPEN_IMAGES = Source("unknowncz/LP_recognition", "ecd25180ff577a39e4cf06cabb123771d503422c",
                     "CC BY 4.0 (LP_Detection/README.dataset.txt; Open Images photographs)")
DASH_CAM = Source("RobertLucian/license-plate-dataset", "f00f309e4564e7f386fd7641569d861e2910d65f", "MIT (LICENSE)")
OPENALPR = Source("openalpr/benchmarks", "9790ed20d475be1e940a7e2a3f492a97c2ebed9b", "AGPL-3.0 (LICENSE)")
HELD_OUT = 0.2  # of the Open Images photos, by a hash of the photo id


def held_out(photo_id: str) -> bool:
    return int(hashlib.sha1(photo_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < HELD_OUT


def voc_boxes(xml: bytes) -> list[list[float]]:
    root = ET.fromstring(xml)
    return [[float(o.findtext(f"bndbox/{k}", "0")) for k in ("xmin", "ymin", "xmax", "ymax")]
            for o in root.iter("object")]


def open_images(repo: GitCopy) -> dict[str, tuple[str, list[list[float]]]]:
    """photo id -> (image path, boxes), each photo once."""
    images = {Path(p).stem: p for folder in ("LP_Detection/train", "LP_Detection/valid")
              for p in repo.names(folder) if p.endswith(".jpg")}
    photos: dict[str, tuple[str, list[list[float]]]] = {}
    for folder in ("LP_Detection/trainlabels", "LP_Detection/validlabels"):
        for path in repo.names(folder):
            stem = Path(path).stem
            photo_id = stem.split("_jpg")[0]
            if photo_id not in photos and stem in images:
                photos[photo_id] = (images[stem], voc_boxes(repo.read(path)))
    return photos


def dash_cam(repo: GitCopy) -> list[tuple[str, str, list[list[float]]]]:
    rows = []
    for split in ("train", "valid"):
        for path in repo.names(f"dataset/{split}/annots"):
            image = f"dataset/{split}/images/{Path(path).stem}.jpg"
            rows.append((f"dashcam_{Path(path).stem.replace('#t=', '_t')}", image, voc_boxes(repo.read(path))))
    return rows


def openalpr(repo: GitCopy) -> list[tuple[str, str, list[list[float]]]]:
    rows = []
    for region in ("us", "eu", "br"):
        for path in repo.names(f"endtoend/{region}"):
            if not path.endswith(".txt"):
                continue
            for line in repo.read(path).decode().splitlines():
                name, x, y, w, h = line.split("\t")[:5]
                box = [float(x), float(y), float(x) + float(w), float(y) + float(h)]
                rows.append((f"openalpr_{region}_{Path(name).stem}", f"endtoend/{region}/{name}", [box]))
    return rows


def write(out: Path, name: str, image: bytes, boxes: list[list[float]],
          size: tuple[int, int] | None = None) -> tuple[tuple[int, int], list[list[float]]]:
    """The image and its mask of filled boxes; the image's size and the boxes as written.

    Without `size`, the image as it is (JPEG bytes, or PNG for other formats). With `size` (h, w), the
    picture as the detector sees a frame: stretched to h x w (w x h for a portrait picture, as
    `composite.model_size` turns it), so the training crops show plates at the size they have at inference,
    and loading a training sample is cheap."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    picture = Image.open(io.BytesIO(image))
    if size is not None:
        h, w = size if picture.width >= picture.height else size[::-1]
        sx, sy = w / picture.width, h / picture.height
        boxes = [[x0 * sx, y0 * sy, x1 * sx, y1 * sy] for x0, y0, x1, y1 in boxes]
        picture = picture.convert("RGB").resize((w, h), Image.Resampling.BOX)
        picture.save(out / "images" / f"{name}.jpg", quality=95)
    elif picture.format == "JPEG":
        (out / "images" / f"{name}.jpg").write_bytes(image)
    else:
        picture.convert("RGB").save(out / "images" / f"{name}.png")
    mask = Image.new("L", picture.size, 0)
    draw = ImageDraw.Draw(mask)
    for x0, y0, x1, y1 in boxes:
        draw.rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], fill=255)  # at least a pixel, however small
    mask.save(out / "masks" / f"{name}.png")
    return picture.size, boxes


def build(mirrors: Path, out: Path, held: Path, train_size: tuple[int, int] | None = None) -> dict:
    sets: dict[Path, dict] = {out: {}, held: {}}
    photos, dash, alpr = (source.open(mirrors) for source in (OPEN_IMAGES, DASH_CAM, OPENALPR))
    for photo_id, (path, boxes) in sorted(open_images(photos).items()):
        target = held if held_out(photo_id) else out
        size, boxes = write(target, f"oi_{photo_id}", photos.read(path), boxes, train_size if target is out else None)
        sets[target][f"oi_{photo_id}"] = {"boxes": boxes, "every_plate": True, "size": size}
    for repo, rows, target, every in ((dash, dash_cam(dash), out, True), (alpr, openalpr(alpr), held, False)):
        for name, path, boxes in rows:
            size, boxes = write(target, name, repo.read(path), boxes, train_size if target is out else None)
            sets[target][name] = {"boxes": boxes, "every_plate": every, "size": size}
    for repo in (photos, dash, alpr):
        repo.close()
    for target, entries in sets.items():
        used = (OPEN_IMAGES, DASH_CAM) if target is out else (OPEN_IMAGES, OPENALPR)
        (target / "boxes.json").write_text(json.dumps({
            "sources": [s.__dict__ for s in used], "images": entries}, indent=0))
    return {str(t): {"images": len(e), "plates": int(sum(len(v["boxes"]) for v in e.values()))}
            for t, e in sets.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"), help="where `fetch` put the repositories")
    ap.add_argument("--out", type=Path, default=Path("data/plates"))
    ap.add_argument("--held-out", type=Path, default=Path("data/plates_eval"))
    ap.add_argument("--train-size", type=parse_size, default=(384, 672),
                    help="HxW the training pictures are stretched to: the plate detector's input size (the held-out "
                         "set stays at full size, scored as the product runs)")
    args = ap.parse_args(argv)
    print(json.dumps(build(args.mirrors, args.out, args.held_out, args.train_size)))


if __name__ == "__main__":
    main()
