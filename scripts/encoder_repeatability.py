"""Does the H.264 encoder give the same bytes for the same frames? Encodes a clip's frames N times with
streamseg's VideoWriter, each time from a fresh thread (as the pipeline's encoder thread is), and counts the
distinct bitstreams.

    python scripts/encoder_repeatability.py clip.mp4 [--times 30]

Found 2026-11-29: x264 as PyAV 18 bundles it reads memory nobody wrote. The 6-frame 96x64 output of a
test run (the matte) gave 6 distinct bitstreams in 30 encodes here; under `MALLOC_PERTURB_=165` (glibc then
fills new memory with a fixed byte) it gave one. A 25-frame 256x144 sample gave one either way. So runs of
the pipeline on the same clip can differ by a differently coded block, in one process or across a Ray
worker; the pixels handed to the encoder are the same.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import threading
from pathlib import Path

import numpy as np

from streamseg.io.reader import VideoReader
from streamseg.io.writer import FORMATS, VideoWriter


def scribble(rng: np.random.Generator) -> None:
    """Allocate, fill with random bytes and free some blocks of memory, as a run's other work does."""
    blocks = [np.frombuffer(rng.bytes(int(n)), np.uint8).copy() for n in rng.integers(1_000, 400_000, 64)]
    del blocks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip", type=Path)
    ap.add_argument("--times", type=int, default=30)
    args = ap.parse_args()
    with VideoReader(args.clip, audio=False) as reader:
        info = reader.info
        frames = [(np.array(f.rgb), f.pts) for f in reader]
    digests: dict[str, int] = {}
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.times):
            path = Path(tmp) / f"{k}.mp4"

            def encode(path: Path = path) -> None:
                scribble(rng)  # leave this thread's free memory holding something different each time
                writer = VideoWriter(path, FORMATS["mp4"], info, None)
                for rgb, pts in frames:
                    writer.write(rgb, pts)
                writer.close()

            thread = threading.Thread(target=encode)
            thread.start()
            thread.join()
            digest = hashlib.md5(path.read_bytes()).hexdigest()
            digests[digest] = digests.get(digest, 0) + 1
    print(f"{len(frames)} frames encoded {args.times} times: {len(digests)} distinct bitstream(s)",
          sorted(digests.values(), reverse=True))


if __name__ == "__main__":
    main()
