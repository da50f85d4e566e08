"""A public repository's files at one commit, read from a local copy (a clone, or the bare git directory that the
library's `fetch` makes) by repository path, for the data builders.

One `git cat-file --batch` process serves every file: a `git show` per file took minutes for a few thousand.
Every path is checked before it is read against the names of the sources in ../shared/reserved_sources.txt, so
no builder can open one of them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

# what names the sources reserved for independent checks (DAVIS, the Kaggle car-segmentation set's photos)
RESERVED_MARKS = ("davis", "480p", "intelecai", "img_20201123_")


class GitCopy:
    def __init__(self, root: Path, revision: str = "HEAD", repository: str = "the repository") -> None:
        self.root = Path(root)
        if (self.root / ".git").exists():
            self.git = ["git", "-C", str(self.root)]
        elif (self.root / "HEAD").is_file():
            self.git = ["git", "--git-dir", str(self.root)]
        else:
            raise SystemExit(f"{root} is neither a clone nor a bare git directory of {repository}")
        found = subprocess.run([*self.git, "rev-parse", "--verify", "-q", f"{revision}^{{commit}}"],
                               capture_output=True, text=True)
        if found.returncode:
            raise SystemExit(f"{root}: no commit {revision}; fetch github:{repository} again")
        self.commit = found.stdout.strip()
        self._batch: subprocess.Popen | None = None

    def names(self, folder: str) -> list[str]:
        """Repository paths of the files under `folder` (names only: listing reads no file)."""
        return subprocess.run([*self.git, "ls-tree", "-r", "--name-only", self.commit, "--", f"{folder}/"],
                              capture_output=True, text=True, check=True).stdout.splitlines()

    def read(self, path: str) -> bytes:
        where = f"{self.root}/{path}".lower()
        assert not any(m in where for m in RESERVED_MARKS), f"reserved source, must never be read: {self.root}/{path}"
        if self._batch is None:
            self._batch = subprocess.Popen([*self.git, "cat-file", "--batch"], stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE)
        assert self._batch.stdin is not None and self._batch.stdout is not None
        self._batch.stdin.write(f"{self.commit}:{path}\n".encode())
        self._batch.stdin.flush()
        header = self._batch.stdout.readline().split()
        if len(header) != 3 or header[1] != b"blob":
            raise SystemExit(f"{path}: not in {self.root} at {self.commit}")
        data = self._batch.stdout.read(int(header[2]))
        self._batch.stdout.read(1)  # the newline after each blob
        return data

    def close(self) -> None:
        if self._batch is not None:
            self._batch.communicate()
            self._batch = None
