"""Write-then-rename, in one place: a file appears under its final name only when it is complete, so an
interruption, a full disk or a crash never leaves something that looks finished and is not."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from streamseg.errors import OutputError


def partial_path(final: Path, keep_suffix: bool = False) -> Path:
    """Where `final` is written first: .NAME.partial, or .STEM.partial.SUFFIX for writers that choose the
    format by the extension (FFmpeg muxers, OpenVINO, AOTInductor)."""
    if keep_suffix:
        return final.with_name(f".{final.stem}.partial{final.suffix}")
    return final.with_name(f".{final.name}.partial")


def output_error(path: Path | str, e: Exception) -> OutputError:
    """An OSError as the user's problem: no space, no permission, or what the system said."""
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return OutputError(f"no space left writing {path} ({os.strerror(e.errno)})",
                           "free some space or write elsewhere with -o")
    if isinstance(e, PermissionError):
        return OutputError(f"cannot write {path}: permission denied", "choose a writable place with -o")
    return OutputError(f"writing {path} failed: {e}", "check the output place and the disk")


@contextmanager
def written_whole(final: Path, keep_suffix: bool = False) -> Iterator[Path]:
    """`with written_whole(out) as tmp: write(tmp)`: renamed to `out` when the block succeeds, removed
    when it fails; an OSError becomes an OutputError naming `out`."""
    final = Path(final)
    tmp = partial_path(final, keep_suffix)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        tmp.replace(final)
    except OSError as e:
        raise output_error(final, e) from None
    finally:
        tmp.unlink(missing_ok=True)


def write_whole(final: Path, write: Callable[[Path], object], keep_suffix: bool = False) -> None:
    """written_whole for a single call: write(tmp), then rename."""
    with written_whole(final, keep_suffix) as tmp:
        write(tmp)
