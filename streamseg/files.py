"""Write-then-rename, in one place: a file appears under its final name only when it is complete, so an
interruption, a full disk or a crash never leaves something that looks finished and is not.

Each output is written by one run at a time: the writer holds a lock on `.NAME.lock` beside it from the
first byte to the rename, and writes under a name no other run can choose (`.NAME.<pid>-<random>.partial`).
A second run aiming at the same output is refused at once (OutputError, exit 3) instead of both writing
one file. The lock is an flock, so a run that is killed releases it; whoever takes it next removes the
partial files such a run left behind, since no live run can own them.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from streamseg.errors import OutputError


def partial_path(final: Path, keep_suffix: bool = False) -> Path:
    """Where `final` is written first, unique to this run: .NAME.<pid>-<hex>.partial, or
    .STEM.<pid>-<hex>.partial.SUFFIX for writers that choose the format by the extension (FFmpeg muxers,
    OpenVINO, AOTInductor)."""
    tag = f"{os.getpid()}-{secrets.token_hex(4)}"
    if keep_suffix:
        return final.with_name(f".{final.stem}.{tag}.partial{final.suffix}")
    return final.with_name(f".{final.name}.{tag}.partial")


def leftover_partials(final: Path) -> list[Path]:
    """Partial files of `final` in either naming, from any run (and the fixed names of older versions),
    matched exactly so that another output's partials (say of `x.1.mp4` beside `x.mp4`) never are."""
    tag = r"(\.\d+-[0-9a-f]{8})?"
    name, stem, suffix = (re.escape(s) for s in (final.name, final.stem, final.suffix))
    pattern = re.compile(rf"\.{name}{tag}\.partial|\.{stem}{tag}\.partial{suffix}")
    if not final.parent.is_dir():
        return []
    return sorted(p for p in final.parent.iterdir() if pattern.fullmatch(p.name))


def output_error(path: Path | str, e: Exception) -> OutputError:
    """An OSError as the user's problem: no space, no permission, or what the system said."""
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return OutputError(f"no space left writing {path} ({os.strerror(e.errno)})",
                           "free some space or write elsewhere with -o")
    if isinstance(e, OSError) and e.errno == errno.EROFS:
        return OutputError(f"cannot write {path}: read-only file system", "choose a writable place with -o")
    if isinstance(e, PermissionError):
        return OutputError(f"cannot write {path}: permission denied", "choose a writable place with -o")
    return OutputError(f"writing {path} failed: {e}", "check the output place and the disk")


def make_folder(path: Path) -> None:
    """Create an output folder (and its parents) that does not exist yet, as every run does for -o."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{path} exists and is not a folder", "choose another -o") from None
    except OSError as e:
        raise output_error(path, e) from None


def check_target(source: Path | None, output: Path, overwrite: bool,
                 replaceable: Callable[[Path], None] = lambda existing: None) -> None:
    """The rules every output obeys, checked before any work (videos and photos alike): never the input
    itself (`source`; None for a stream), into a folder that exists and may be written, and an existing
    file only with `overwrite`. `replaceable(output)` raises when what exists there is not the kind of
    thing this output may replace."""
    if source is not None and output.exists() and output.resolve() == source.resolve():
        raise OutputError(f"the output {output} is the input itself", "choose another name with -o")
    parent = output.parent
    if not parent.is_dir():
        raise OutputError(f"the output folder {parent} does not exist", "create it, or choose another -o")
    if os.statvfs(parent).f_flag & os.ST_RDONLY:
        raise OutputError(f"cannot write {output}: read-only file system", "choose a writable place with -o")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"the output folder {parent} is not writable", "choose a writable place with -o")
    if output.exists():
        replaceable(output)
        if not overwrite:
            raise OutputError(f"{output} already exists", "pass --overwrite to replace it, or choose another -o")


class OutputLock:
    """The right to write `final`, held until release(). Raises OutputError (exit 3) when another live
    process holds it."""

    def __init__(self, final: Path) -> None:
        self.final = Path(final)
        self.path = self.final.with_name(f".{self.final.name}.lock")
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise output_error(final, e) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                os.close(fd)
                raise OutputError(f"another streamseg run{f' (pid {holder})' if holder else ''} is writing "
                                  f"{final}", "wait for it to finish, or choose another -o") from None
            # the holder before us may have removed the lock file after we opened it: then ours is an
            # orphan that nobody else will see, so open the current one again
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self.fd: int | None = fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        for stale in leftover_partials(self.final):  # a killed run's; a live one would hold the lock
            remove(stale)

    def release(self) -> None:
        if self.fd is None:
            return
        self.path.unlink(missing_ok=True)  # while still holding it, so no one locks a file we remove
        os.close(self.fd)
        self.fd = None


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class PartialOutput:
    """An output being written: the lock on its name, and the run-unique path the data goes to first.
    publish() renames it into place (replacing an earlier output, file or folder); discard() drops it."""

    def __init__(self, final: Path, keep_suffix: bool = False) -> None:
        self.final = Path(final)
        self.lock = OutputLock(self.final)
        self.path = partial_path(self.final, keep_suffix)

    def publish(self) -> None:
        try:
            if self.path.is_dir() and self.final.is_dir():  # a PNG sequence replacing our earlier one
                shutil.rmtree(self.final)
            os.replace(self.path, self.final)
        finally:
            self.discard()

    def discard(self) -> None:
        try:
            remove(self.path)
        finally:
            self.lock.release()


@contextmanager
def written_whole(final: Path, keep_suffix: bool = False) -> Iterator[Path]:
    """`with written_whole(out) as tmp: write(tmp)`: renamed to `out` when the block succeeds, removed
    when it fails; an OSError becomes an OutputError naming `out`."""
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = PartialOutput(final, keep_suffix)
    except OSError as e:
        raise output_error(final, e) from None
    try:
        yield partial.path
        partial.publish()
    except OSError as e:
        raise output_error(final, e) from None
    finally:
        partial.discard()


def write_whole(final: Path, write: Callable[[Path], object], keep_suffix: bool = False) -> None:
    """written_whole for a single call: write(tmp), then rename."""
    with written_whole(final, keep_suffix) as tmp:
        write(tmp)


def content_hash(path: Path) -> str:
    """sha256 of a file, or of a folder's files (names and contents, in name order): how a manifest
    proves an output is the one it wrote, which a user's file cannot match by chance."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            digest.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
