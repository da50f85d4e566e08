"""How large a picture this machine can take, checked from the file's header before anything is decoded."""

from __future__ import annotations

from pathlib import Path

from streamseg.errors import InputError

BYTES_PER_PIXEL = 30  # peak memory of a photo run per pixel: at most 27 measured (--fit --reflection, BENCHMARKS.md)
MAX_MEGAPIXELS = 200  # a 100 MP camera is fine; a decompression bomb is not


def frame_size(size: str | tuple[int, int], name: str = "size") -> tuple[int, int]:
    """A frame size, "WIDTHxHEIGHT" or (width, height): even, at least 64x64 (`name`: the option, for messages:
    --size on the command line, size in Python)."""
    if isinstance(size, str):
        w, _, h = size.lower().partition("x")
        if not (w.isdigit() and h.isdigit()):
            raise InputError(f"{name} {size!r} is not WIDTHxHEIGHT", f"e.g. {name} 1920x1080")
        size = (int(w), int(h))
    width, height = (int(v) for v in size)
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise InputError(f"{name} {width}x{height} must be even and at least 64x64", f"e.g. {name} 1280x720")
    return width, height


def available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def pixel_limit() -> int:
    """The most pixels a picture may have here: what half of the memory now available holds at BYTES_PER_PIXEL,
    and never more than MAX_MEGAPIXELS."""
    cap = MAX_MEGAPIXELS * 1_000_000
    available = available_memory()
    return cap if available is None else min(cap, available // 2 // BYTES_PER_PIXEL)


def check_size(name: str, width: int, height: int) -> None:
    """InputError (exit 2) naming the size and the limit, for a picture this machine cannot take."""
    limit = pixel_limit()
    if width * height > limit:
        raise InputError(f"{name} is too large ({width}x{height}, {width * height / 1e6:.0f} MP; the limit on this "
                         f"machine is {limit / 1e6:.0f} MP)", "scale it down, or run it on a machine with more memory")
