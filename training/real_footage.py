"""Real car footage, filmed as people film cars, for the footage measurements of issue 27 (evaluation only).

    python -m training.real_footage --mirrors /work/.mirror --out data/real_footage
    python scripts/measure_footage.py --clips data/real_footage

Public footage of a filmed car with hand-made per-frame masks is rare outside the reserved sources (searched
2026-12-06, see training/camvid_clip.py, and again on the second session of that day). One clip has them: CDnet
2014's `highway` (Goyette et al., changedetection.net; a fixed camera over a motorway, every moving car marked on
every frame: 255 car, 170 unknown at their outlines, 50 their shadows, 0 the rest), committed whole in a
frame-differencing repository; it is traffic, so it is run with `--vehicles all` (its `vehicles` in clips.json).
Seven come from object-tracking benchmarks whose sequences are committed in tracker repositories, with the
followed car's box on every frame (OTB: Wu et al., 2013/2015; TLP: Moudgil and Gandhi, 2018); two are demo videos
without any truth. Those are scored by what needs no mask: a warping error (Lai et al., ECCV 2018: the matte
against the previous frame's matte carried along the input's optical flow, where the flow is consistent both
ways) and, where boxes exist, whether the matte is the followed car (its bounding box against the true box). None
of them is from DAVIS or the other reserved sources (GitCopy asserts it on every file it reads).

Each clip: the first FRAMES frames of the sequence, at most WIDTH px wide, as `<clip>.mp4` (x264 CRF 20, 30
frames/s: the benchmarks give no rate); `boxes.json` holds the true boxes ([x, y, w, h] in the clip's pixels, null
where the car is marked occluded); `masks.npz` the per-frame masks where they exist (uint8: 255 car, 128 not
scored, 0 background: CDnet's shadows are background, its unknown outline pixels not scored); `clips.json` lists
what each clip shows and where it came from.

Licences: none of these repositories licenses the footage. CDnet, OTB and TLP are research benchmarks; TLP's and
Lab4D's clips are cut from YouTube videos whose owners keep the copyright. So they are used only to measure,
never to train, and never committed: this command rebuilds them from the repositories at the commits below
(`fetch github:OWNER/NAME` brings each into /work/.mirror).
"""

from __future__ import annotations

import argparse
import io
import json
import re
from pathlib import Path

import av
import numpy as np
from PIL import Image

from training.carvana_clips import write_clip
from training.git_copy import GitCopy

FRAMES = 150
WIDTH = 854
FPS = 30

# name, repository, commit, path, truth ("otb" x,y,w,h / "tlp" frame,x,y,w,h,occluded / "cdnet" masks / None),
# what it shows
SOURCES = (
    ("cdnet_highway", "ZZZZZZZJJHHH/FrameDifference", "07919e2e14a9e0473d26f4b079b22a7d0949a276", "highway", "cdnet",
     "a fixed camera over a motorway in sunshine: cars drive through with their hard shadows; traffic, all marked"),
    ("tlp_carchase2", "mishless/kalman-filter-project", "f1308fb0ac3a53dbf187125b008cd3f159bef094",
     "data/TinyTLP/CarChase2", "tlp", "a helicopter follows a silver sedan on a freeway; the car large and central"),
    ("tlp_carchase1", "namansinghal98/Computer-Vision-Object-Tracking", "3b409492f1efdfd6fc278a630492f51713d6bc93",
     "data/CarChase1", "tlp", "a news helicopter follows a sedan in a police chase; a TV banner at the bottom"),
    ("tlp_driftcar1", "namansinghal98/Computer-Vision-Object-Tracking", "3b409492f1efdfd6fc278a630492f51713d6bc93",
     "data/DriftCar1", "tlp", "a camera pans with a drifting car on a track; two in-car insets at the bottom"),
    ("otb_car4", "mishless/kalman-filter-project", "f1308fb0ac3a53dbf187125b008cd3f159bef094",
     "data/Car4", "otb", "a camera car follows a minivan and passes under a bridge (grey)"),
    ("otb_blurcar2", "baowenqi/opticalFlowTracker", "29c23f3ce642ab0afd0d77d9d643ae8eea0b91f3",
     "data/BlurCar2", "otb", "a hand-held camera in a car follows a white sedan in city traffic: shake, blur"),
    ("otb_suv", "luxiaolei/FCNT_TF", "33b9d8dbc022e5353a65797238d89b80fec90d36",
     "data/Suv", "otb", "a camera on a building pans with an SUV that passes behind a tree (grey)"),
    ("otb_car1", "mishless/kalman-filter-project", "f1308fb0ac3a53dbf187125b008cd3f159bef094",
     "data/car", "otb", "a camera car follows a small car far ahead on a road (grey)"),
    ("lab4d_car_turnaround2", "lab4d-org/lab4d", "e62976600bcc4b6f4f08cf059701c1c603c9c34a",
     "docs/source/_static/media_resized/car-turnaround-2.mp4", None,
     "a hand-held camera follows a drift car circling in front of a brick wall and trees"),
    ("kcf_street_taxi", "CanCanLogo/Brilliant_CV_KCF", "9383998605b12d60a55d6caeb5eb306c8483aeac",
     "data/car.mp4", None, "a phone on a street, a taxi and an SUV drive past office towers (not followed)"),
)


def mirror_of(mirrors: Path, repository: str) -> Path:
    root = mirrors / repository.replace("/", "+") / "repo"
    return root / ".git" if (root / ".git").exists() else root


def parse_boxes(text: str, kind: str) -> list[list[float] | None]:
    boxes: list[list[float] | None] = []
    for line in text.strip().splitlines():
        v = [float(x) for x in re.split(r"[,\s]+", line.strip()) if x]
        if kind == "tlp":  # frame, x, y, w, h, occluded
            boxes.append(None if v[5] else v[1:5])
        else:
            boxes.append(v[:4] if v[2] > 0 and v[3] > 0 else None)
    return boxes


def cdnet_range(repo: GitCopy, path: str) -> range:
    """FRAMES consecutive frame numbers within the stretch CDnet marks (temporalROI.txt: first and last): those
    where the marked cars are largest (highway: 771-920, cars 11% of the picture; its first 150 frames hold
    only far, small cars, 0.4%)."""
    first, last = (int(v) for v in repo.read(f"{path}/temporalROI.txt").split())
    share = np.array([(np.asarray(Image.open(io.BytesIO(repo.read(f"{path}/groundtruth/gt{k:06d}.png")))) == 255).mean()
                      for k in range(first, last + 1)])
    start = first + int(np.convolve(share, np.ones(FRAMES), "valid").argmax())
    return range(start, start + FRAMES)


def cdnet_clip(repo: GitCopy, path: str) -> tuple[list[np.ndarray], np.ndarray]:
    """The frames of `cdnet_range` and their masks, [T,H,W] uint8: 255 car (CDnet 255, moving), 128 not scored
    (170, unknown), 0 background (shadows too)."""
    frames, masks = [], []
    for k in cdnet_range(repo, path):
        frames.append(np.asarray(Image.open(io.BytesIO(repo.read(f"{path}/input/in{k:06d}.jpg"))).convert("RGB")))
        gt = np.asarray(Image.open(io.BytesIO(repo.read(f"{path}/groundtruth/gt{k:06d}.png"))).convert("L"))
        masks.append(np.where(gt == 255, 255, np.where(gt == 170, 128, 0)).astype(np.uint8))
    return frames, np.stack(masks)


def frames_of(repo: GitCopy, path: str, truth: str | None) -> list[np.ndarray]:
    if truth is None:  # a video file
        with av.open(io.BytesIO(repo.read(path))) as c:
            return [f.to_ndarray(format="rgb24") for _, f in zip(range(FRAMES), c.decode(video=0))]
    names = sorted(n for n in repo.names(f"{path}/img") if n.lower().endswith(".jpg"))[:FRAMES]
    return [np.asarray(Image.open(io.BytesIO(repo.read(n))).convert("RGB")) for n in names]


def build(mirrors: Path, out: Path, only: set[str] | None = None) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    rows, all_boxes, all_masks = [], {}, {}
    for name, repository, commit, path, truth, what in SOURCES:
        if only and name not in only:
            continue
        repo = GitCopy(mirror_of(mirrors, repository), commit, repository)
        # CDnet's frames and masks in one pass (choosing its stretch reads every mask once)
        frames, masks = cdnet_clip(repo, path) if truth == "cdnet" else (frames_of(repo, path, truth), None)
        h, w = frames[0].shape[:2]
        scale = min(1.0, WIDTH / w)
        size = (round(w * scale / 2) * 2, round(h * scale / 2) * 2)  # even, as yuv420p needs
        small = [np.asarray(Image.fromarray(f).resize(size, Image.Resampling.LANCZOS)) if size != (w, h) else f
                 for f in frames]
        write_clip(out / f"{name}.mp4", ((f, np.zeros(1, bool)) for f in small), FPS)  # no masks to keep
        if masks is not None:
            if size != (w, h):
                raise ValueError(f"{name}: masks are kept at the footage's own size ({w}x{h})")
            all_masks[name] = masks
        elif truth is not None:
            boxes = parse_boxes(repo.read(f"{path}/groundtruth_rect.txt").decode(), truth)[:len(frames)]
            sx, sy = size[0] / w, size[1] / h
            all_boxes[name] = [None if b is None else [b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy] for b in boxes]
        repo.close()
        rows.append({"clip": name, "move": what,
                     "car": {"cdnet": "every moving car", None: "-"}.get(truth, "the followed car"),
                     "truth": {"cdnet": "masks", None: "none"}.get(truth, "boxes"),
                     **({"vehicles": "all"} if truth == "cdnet" else {}),
                     "frames": len(frames), "width": size[0], "height": size[1],
                     "source": {"repository": repository, "commit": commit, "path": path}})
        print(json.dumps(rows[-1]), flush=True)
    (out / "boxes.json").write_text(json.dumps(all_boxes))
    np.savez_compressed(out / "masks.npz", **all_masks)
    licence = ("none given for the footage: CDnet, OTB and TLP are research benchmarks, TLP and Lab4D clips are cut "
               "from YouTube videos; evaluation only, never trained on or committed")
    (out / "clips.json").write_text(json.dumps({"licence": licence, "clips": rows}, indent=1))
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"),
                    help="where `fetch` put the repositories (OWNER+NAME/repo)")
    ap.add_argument("--out", type=Path, default=Path("data/real_footage"))
    ap.add_argument("--only", help="comma-separated clip names")
    args = ap.parse_args(argv)
    build(args.mirrors, args.out, set(args.only.split(",")) if args.only else None)


if __name__ == "__main__":
    main()
