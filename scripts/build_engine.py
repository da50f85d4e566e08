"""Build a TensorRT engine: the same as `streamseg build-engine`, for checkouts without the console script.

    python scripts/build_engine.py --fp16 --max-batch 16
"""

from streamseg.cli import build_engine_command

if __name__ == "__main__":
    build_engine_command(prog_name="build_engine.py")
