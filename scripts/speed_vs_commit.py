"""Frames/s of `streamseg run` on one clip: this checkout against an older commit, in one sitting.

    python scripts/speed_vs_commit.py CLIP --old e098ef8 --rounds 3 [--extra-args "--no-smooth"]

This machine's speed drifts from hour to hour, so only a ratio measured in one sitting counts: the old and
the new code run alternately, `rounds` times each, on the same clip, with their default settings (the old
commit's code from a temporary git worktree, the same Python environment). Prints each run and the medians;
--json writes them too.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_once(code: Path, clip: Path, out: Path, extra: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code)}  # this tree's streamseg first on the path
    cmd = [sys.executable, "-m", "streamseg", "run", str(clip), "-o", str(out), "--overwrite", "--json", "-q", *extra]
    done = subprocess.run(cmd, cwd=code, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed in {code}: {done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip", type=Path)
    ap.add_argument("--old", default="e098ef8", help="the commit to compare with")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--extra-args", default="", help="options for both runs")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    extra = shlex.split(args.extra_args)
    clip = args.clip.resolve()
    results: dict[str, list[float]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory(prefix="streamseg-old-") as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), args.old], check=True,
                       capture_output=True)
        try:
            for k in range(args.rounds):
                for name, code in (("old", old), ("new", ROOT)):
                    summary = run_once(code, clip, Path(tmp) / f"{name}.mp4", extra)
                    results[name].append(summary["fps"])
                    print(f"round {k + 1} {name} ({args.old if name == 'old' else 'this checkout'}): "
                          f"{summary['fps']:.2f} frames/s, backend {summary['backend'].split(';')[0]}", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], capture_output=True)
    old_fps, new_fps = statistics.median(results["old"]), statistics.median(results["new"])
    print(f"median: old {old_fps:.2f} frames/s, new {new_fps:.2f} frames/s, ratio {new_fps / old_fps:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"clip": str(clip), "old_commit": args.old, "runs": results,
                                         "median_old": old_fps, "median_new": new_fps,
                                         "ratio": round(new_fps / old_fps, 2)}, indent=2) + "\n")


if __name__ == "__main__":
    main()
