"""Write-then-rename (streamseg.files), the one way every output and cache file is written."""

from __future__ import annotations

import errno

import pytest

from streamseg.errors import OutputError
from streamseg.files import partial_path, write_whole, written_whole


def test_a_whole_write_appears_under_its_name(tmp_path):
    out = tmp_path / "sub" / "a.bin"
    write_whole(out, lambda tmp: tmp.write_bytes(b"data"))
    assert out.read_bytes() == b"data" and list(out.parent.iterdir()) == [out]


def test_a_failed_write_leaves_nothing(tmp_path):
    out = tmp_path / "a.bin"
    with pytest.raises(RuntimeError), written_whole(out) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_no_space_is_an_output_error(tmp_path):
    def full(tmp):
        tmp.write_bytes(b"x")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError, match="no space left writing"):
        write_whole(tmp_path / "a.bin", full)
    assert list(tmp_path.iterdir()) == []


def test_partial_names():
    from pathlib import Path

    assert partial_path(Path("d/x.mp4")) == Path("d/.x.mp4.partial")
    assert partial_path(Path("d/x.mp4"), keep_suffix=True) == Path("d/.x.partial.mp4")
