"""Write-then-rename (streamseg.files), the one way every output and cache file is written."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from streamseg.errors import OutputError
from streamseg.files import content_hash, leftover_partials, partial_path, write_whole, written_whole


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


def test_partial_names_are_unique_to_each_writer_and_keep_the_suffix_when_asked():
    a, b = partial_path(Path("d/x.mp4")), partial_path(Path("d/x.mp4"))
    assert a != b and a.parent == Path("d")
    assert re.fullmatch(rf"\.x\.mp4\.{os.getpid()}-[0-9a-f]{{8}}\.partial", a.name)
    assert re.fullmatch(rf"\.x\.{os.getpid()}-[0-9a-f]{{8}}\.partial\.mp4", partial_path(Path("x.mp4"), True).name)


def test_a_second_writer_of_the_same_output_is_refused_while_the_first_writes(tmp_path):
    """Another process holding the output's lock: refused at once with exit 3, the first one's data untouched."""
    out = tmp_path / "same.mp4"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from streamseg.files import written_whole\n"
        f"with written_whole(Path({str(out)!r})) as tmp:\n"
        "    tmp.write_bytes(b'first'); print('writing', flush=True); sys.stdin.readline()")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "writing"
        with pytest.raises(OutputError, match=f"another streamseg run \\(pid {holder.pid}\\) is writing") as e, \
                written_whole(out) as tmp:
            tmp.write_bytes(b"second")
        assert e.value.exit_code == 3
        assert [p.read_bytes() for p in leftover_partials(out)] == [b"first"]  # the first writer's, kept
    finally:
        holder.communicate("\n", timeout=30)
    assert holder.returncode == 0 and out.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.mp4"]  # no lock or partial left


def test_a_killed_writers_partial_is_removed_by_the_next_writer(tmp_path):
    out = tmp_path / "x.mp4"
    stale = partial_path(out)
    stale.write_bytes(b"left by a run killed with SIGKILL")
    neighbour = partial_path(tmp_path / "x.1.mp4", keep_suffix=True)  # another output's: not ours to remove
    neighbour.write_bytes(b"another output")
    write_whole(out, lambda tmp: tmp.write_bytes(b"new"))
    assert out.read_bytes() == b"new" and not stale.exists() and neighbour.exists()


def test_lock_is_taken_over_when_its_holder_is_gone(tmp_path):
    out = tmp_path / "x.bin"
    (tmp_path / ".x.bin.lock").write_text("12345")  # a lock file nobody holds (its process was killed)
    write_whole(out, lambda tmp: tmp.write_bytes(b"ok"))
    assert out.read_bytes() == b"ok" and sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


def test_content_hash_tells_a_changed_file_of_the_same_size(tmp_path):
    a = tmp_path / "a"
    a.write_bytes(b"abcd")
    before = content_hash(a)
    a.write_bytes(b"abce")
    assert content_hash(a) != before
    d = tmp_path / "d"
    d.mkdir()
    (d / "0.png").write_bytes(b"x")
    folder = content_hash(d)
    (d / "0.png").write_bytes(b"y")
    assert content_hash(d) != folder
