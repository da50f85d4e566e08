"""The throughput benchmark, as a script: the same as `streamseg bench` (see `--help`).

    python scripts/benchmark.py --size 1920x1080 --frames 300 --json > bench.json
    python scripts/benchmark.py --soak 20000 --size 640x360      # memory over a long run
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamseg.cli import main  # noqa: E402

if __name__ == "__main__":
    main(["bench", *sys.argv[1:]])
