"""Render TORCS car models (or FlightGear's road vehicles: --vehicles flightgear, or its 120 textured road-traffic
models: --vehicles flightgear-traffic, or Kenney's 20 glTF toy vehicles: --vehicles kenney) with Blender (Cycles,
CPU, headless) into photo-like RGBA cut-outs.

    python -m training.rendered --out data/rendered --count 1500 --seed 1 [--jobs 1] [--chunk 20]

Needs the Debian packages `blender` and `torcs-data`. For each sample `NAME` it writes, into --out:
`NAME.png` (RGBA: car + its shadow over transparency), `NAME_mask.png` (car only, 0/255) and
`NAME.json` (car, view, paint, light, ...); then `index.jsonl` with one line per finished sample.
The scene script is `training/blender_cars.py`; it runs in chunks of --chunk samples per Blender
process, to amortise Blender's start-up. Resumable: samples with all three files are skipped.
Deterministic: sample i of seed S is always the same car, view, paint and light.

`rendered_samples(root)` lists what is there (also while a render is still running); it is what the
dataset builder (`training.compose`) reads.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

TORCS_CARS = Path("/usr/share/games/torcs/cars")
FG_MODELS = Path("/usr/share/games/flightgear/Models")
# FlightGear's road vehicles (the keys of blender_cars.FG_VEHICLES; kept here so this needs no bpy)
FG_VEHICLES = {"fg-bus": "Transport/110Bus.ac", "fg-firetruck": "Airport/Vehicle/hoskosh-ti-1500.ac",
               "fg-pickup": "Military/humvee-pickup-odrab-low-poly.ac"}
# FlightGear's road traffic (scripts/install_flightgear_traffic.sh puts it here): the models listed in TRAFFIC
FG_TRAFFIC = Path("data/sources/flightgear-traffic/Scenery/Models")
TRAFFIC = Path(__file__).with_name("flightgear_traffic.txt")
# the product is for cars: cars are drawn most often, then pickups and vans, then the big vehicles
TRAFFIC_WEIGHTS = {"car": 3.0, "pickup": 1.5, "van": 1.2, "bus": 1.0, "firetruck": 0.8, "truck": 0.6}
# Kenney's Car Kit (scripts/install_kenney_carkit.sh puts it here): its two open-wheel racers are the only ones
# besides TORCS' formula car, so they are drawn more often; the tractors less (not road vehicles)
KENNEY = Path("data/sources/kenney-carkit")
KENNEY_WEIGHTS = {"race": 3.0, "raceFuture": 3.0, "tractor": 0.4, "tractorPolice": 0.4, "tractorShovel": 0.4}
SCRIPT = Path(__file__).with_name("blender_cars.py")
# road-car-like models are drawn more often than the buggy, the formula car and the beetle
CAR_WEIGHTS = {"buggy": 0.4, "car1-ow1": 0.3, "baja-bug": 0.6, "p406": 1.6, "155-DTM": 1.3, "acura-nsx-sz": 1.3}
# (width, height, weight)
SIZES = [(448, 288, 8), (320, 320, 1), (288, 384, 1)]


@dataclass(frozen=True)
class Rendered:
    name: str
    rgba: Path
    mask: Path
    meta: dict


def check_tools(vehicles: str = "torcs") -> str:
    blender = shutil.which("blender")
    if blender is None:
        raise SystemExit("blender is not installed: apt-get install blender (Debian package `blender`)")
    if vehicles == "torcs" and (not TORCS_CARS.is_dir() or not list_cars()):
        raise SystemExit(f"no TORCS cars under {TORCS_CARS}: apt-get install torcs-data")
    if vehicles == "flightgear" and not list_flightgear():
        raise SystemExit(f"no FlightGear vehicles under {FG_MODELS}: apt-get install flightgear-data-models")
    if vehicles == "flightgear-traffic" and not list_traffic():
        raise SystemExit(f"no FlightGear traffic under {FG_TRAFFIC}: bash scripts/install_flightgear_traffic.sh")
    if vehicles == "kenney" and not list_kenney():
        raise SystemExit(f"no Kenney vehicles under {KENNEY}: bash scripts/install_kenney_carkit.sh")
    return blender


def list_traffic() -> dict[str, tuple[str, Path]]:
    """{name: (kind, model path)} of the TRAFFIC models that are installed."""
    found = {}
    for line in TRAFFIC.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            kind, rel = line.split()
            path = FG_TRAFFIC / rel
            if path.exists():
                found[f"fgt-{path.stem}"] = (kind, path.resolve())
    return found


def list_kenney() -> dict[str, Path]:
    """{name: .glb path} of the Kenney vehicles that are installed (not its loose wheels)."""
    return {f"kenney-{p.stem}": p.resolve() for p in sorted(KENNEY.glob("*.glb")) if not p.stem.startswith("wheel")}


def list_flightgear() -> list[str]:
    return sorted(name for name, rel in FG_VEHICLES.items() if (FG_MODELS / rel).exists())


def list_cars() -> list[str]:
    return sorted(p.name for p in TORCS_CARS.iterdir()
                  if (p / f"{p.name}.acc").exists() and (p / f"{p.name}.xml").exists())


def plan(out: Path, count: int, seed: int, samples: int = 16, vehicles: str = "torcs",
         only: list[str] | None = None) -> list[dict]:
    """The specs of samples 0..count-1 of `seed` (the same whatever `count`); `only`: just these vehicles."""
    traffic = list_traffic() if vehicles == "flightgear-traffic" else {}
    kenney = list_kenney() if vehicles == "kenney" else {}
    listed = {"torcs": list_cars, "flightgear": list_flightgear, "flightgear-traffic": lambda: sorted(traffic),
              "kenney": lambda: sorted(kenney)}
    cars = listed[vehicles]()
    if only:
        unknown = sorted(set(only) - set(cars))
        if unknown:
            raise SystemExit(f"no {vehicles} vehicle named {', '.join(unknown)}; there are: {', '.join(cars)}")
        cars = [c for c in cars if c in only]
    if traffic:
        weights = [TRAFFIC_WEIGHTS[traffic[c][0]] for c in cars]
    elif kenney:
        weights = [KENNEY_WEIGHTS.get(kenney[c].stem, 1.0) for c in cars]
    else:
        weights = [CAR_WEIGHTS.get(c, 1.0) for c in cars]
    specs = []
    for i in range(count):
        rng = random.Random(f"{seed}:{i}")
        car = rng.choices(cars, weights=weights)[0]
        w, h, _ = rng.choices(SIZES, weights=[s[2] for s in SIZES])[0]
        spec = {"name": f"s{seed}_{i:05d}", "out": str(out.resolve()), "car": car, "seed": rng.randrange(2**31),
                "width": w, "height": h, "samples": samples}
        if traffic:
            spec["kind"], spec["model"] = traffic[car][0], str(traffic[car][1])
        if kenney:
            spec["gltf"] = str(kenney[car])
        specs.append(spec)
    return specs


def is_done(out: Path, name: str) -> bool:
    return all((out / f"{name}{suffix}").exists() for suffix in (".png", "_mask.png", ".json"))


def rendered_samples(root: Path) -> list[Rendered]:
    """Finished samples under `root` (each with its RGBA, mask and metadata), sorted by name."""
    root = Path(root)
    found = []
    for meta_path in sorted(root.glob("*.json")):
        name = meta_path.stem
        rgba, mask = root / f"{name}.png", root / f"{name}_mask.png"
        if rgba.exists() and mask.exists():
            try:
                meta = json.loads(meta_path.read_text())
            except json.JSONDecodeError:
                continue
            found.append(Rendered(name, rgba, mask, meta))
    return found


def write_index(out: Path) -> int:
    lines = []
    for r in rendered_samples(out):
        m = r.meta
        light = m.get("light", {})
        lines.append(json.dumps({
            "name": r.name, "car": m.get("car"), "size": [m.get("width"), m.get("height")],
            "view": m.get("view"), "paint": m.get("paint"),
            "sun": {k: light.get(k) for k in ("mode", "sun", "sun_elevation", "sun_azimuth", "hdri")},
            "camera": m.get("camera")}))
    tmp = out / "index.jsonl.tmp"
    tmp.write_text("".join(line + "\n" for line in lines))
    tmp.replace(out / "index.jsonl")
    return len(lines)


def run_chunk(blender: str, specs: list[dict], threads: int, log) -> int:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(specs, f)
        spec_file = f.name
    env = dict(os.environ, BLENDER_THREADS=str(threads))
    cmd = [blender, "-b", "--factory-startup", "-noaudio", "-P", str(SCRIPT), "--", "--specs", spec_file]
    done = 0
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        tail: list[str] = []
        for line in proc.stdout:
            if line.startswith("RENDERED"):
                done += 1
                log(line.strip())
            elif not line.startswith("Fra:"):
                tail = (tail + [line.rstrip()])[-30:]
        rc = proc.wait()
        if rc != 0:
            log(f"blender exited with {rc}; last output:\n" + "\n".join(tail))
    finally:
        os.unlink(spec_file)
    return done


def render(out: Path, count: int, seed: int, jobs: int = 1, chunk: int = 20, samples: int = 16,
           vehicles: str = "torcs", only: list[str] | None = None) -> None:
    blender = check_tools(vehicles)
    out.mkdir(parents=True, exist_ok=True)
    todo = [s for s in plan(out, count, seed, samples, vehicles, only) if not is_done(out, s["name"])]
    print(f"{count - len(todo)} of {count} already rendered; {len(todo)} to go in {out}", flush=True)
    chunks = [todo[k:k + chunk] for k in range(0, len(todo), chunk)]
    threads = max(1, (os.cpu_count() or 2) // max(1, jobs))
    t0 = time.time()
    state = {"done": 0}

    def log(msg: str) -> None:
        if msg.startswith("RENDERED"):
            state["done"] += 1
            n = state["done"]
            rate = (time.time() - t0) / n
            msg = f"[{n}/{len(todo)}] {msg[9:]}  {rate:.1f} s/image, ETA {rate * (len(todo) - n) / 60:.0f} min"
        print(msg, flush=True)

    def work(specs: list[dict]) -> int:
        n = run_chunk(blender, specs, threads, log)
        write_index(out)
        return n

    if jobs > 1:
        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(work, chunks))
    else:
        for c in chunks:
            work(c)
    n = write_index(out)
    missing = [s["name"] for s in plan(out, count, seed, samples, vehicles, only) if not is_done(out, s["name"])]
    print(f"done: {n} samples indexed in {out / 'index.jsonl'}; {len(missing)} of this plan missing "
          f"({time.time() - t0:.0f} s)", flush=True)
    if missing:
        sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="Blender processes at once (threads split between them)")
    ap.add_argument("--chunk", type=int, default=20, help="samples per Blender process")
    ap.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")
    ap.add_argument("--vehicles", choices=["torcs", "flightgear", "flightgear-traffic", "kenney"], default="torcs",
                    help="TORCS's 17 cars (torcs-data), FlightGear's bus, fire truck and pickup "
                         "(flightgear-data-models), FlightGear's 120 road-traffic models "
                         "(scripts/install_flightgear_traffic.sh), or Kenney's 20 toy vehicles "
                         "(scripts/install_kenney_carkit.sh)")
    ap.add_argument("--only", default=None,
                    help="comma-separated vehicle names: render just these (e.g. car1-ow1, TORCS' formula car)")
    args = ap.parse_args(argv)
    render(args.out, args.count, args.seed, args.jobs, args.chunk, args.samples, args.vehicles,
           args.only.split(",") if args.only else None)


if __name__ == "__main__":
    main()
