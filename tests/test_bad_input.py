"""Bad input: one clear message, a non-zero exit, no traceback, nothing left under the output name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli, decode_all
from media import encode_audio_only

from streamseg.sample import SampleSpec, write_sample


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "partial" in p.name or p.name.startswith("out"))


def expect_error(args, code: int, *words: str, folder: Path | None = None):
    r = cli(*args)
    assert not r.crashed, r
    assert r.code == code, r
    message = r.err.lower()
    assert message.count("streamseg: error:") == 1 and "traceback" not in message
    for w in words:
        assert w.lower() in message, (w, r.err)
    assert "fix:" in message  # always says what to do
    if folder is not None:
        assert leftovers(folder) == []
    return r


def test_missing_input(tmp_path):
    expect_error(["run", tmp_path / "nope.mp4", "-o", tmp_path / "out.mp4"], 2, "not found", folder=tmp_path)


def test_not_a_video(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n" * 100)
    expect_error(["run", bad, "-o", tmp_path / "out.mp4"], 2, "cannot read", folder=tmp_path)


def test_empty_file(tmp_path):
    bad = tmp_path / "empty.mp4"
    bad.touch()
    expect_error(["run", bad, "-o", tmp_path / "out.mp4"], 2, "empty", folder=tmp_path)


def test_no_video_stream(tmp_path):
    audio_only = encode_audio_only(tmp_path / "sound.m4a")
    expect_error(["run", audio_only, "-o", tmp_path / "out.mp4"], 2, "no video stream", folder=tmp_path)


def test_truncated_file_with_index_at_end(clip, tmp_path):
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])  # the sample keeps its index (moov) at the end: it is lost
    expect_error(["run", cut, "-o", tmp_path / "out.mp4"], 2, "cut.mp4", folder=tmp_path)


def test_truncated_file_with_index_at_start(clip, tmp_path):
    """An index that promises more frames than the data holds: caught after decoding, output removed."""
    faststart = tmp_path / "fast.mp4"
    assert cli("run", clip, "-f", "matte", "-o", faststart, "-q").code == 0  # our MP4s are faststart
    data = faststart.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    expect_error(["run", cut, "-o", tmp_path / "out.mp4"], 2, "truncated")
    assert not (tmp_path / "out.mp4").exists() and not list(tmp_path.glob(".*partial"))


def test_corrupt_header(clip, tmp_path):
    data = bytearray(clip.read_bytes())
    data[:64] = bytes(64)  # the file-type box and the start of the rest are gone
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    expect_error(["run", bad, "-o", tmp_path / "out.mp4"], 2, "bad.mp4", folder=tmp_path)


@pytest.mark.parametrize("bg,words", [
    ("nonexistent.png", ["background file not found: nonexistent.png"]),
    ("#12345", ["is not a colour"]),
    ("sunsetorange", ["neither a file nor a colour"]),
    ("BROKEN", ["cannot read background image"]),
])
def test_unusable_background(clip, tmp_path, bg, words):
    if bg == "BROKEN":
        bg = tmp_path / "broken.png"
        bg.write_text("not an image")
    expect_error(["run", clip, "--bg", bg, "-o", tmp_path / "out.mp4"], 2, *words)
    assert not (tmp_path / "out.mp4").exists()


def test_a_missing_output_folder_is_created_for_a_file_as_for_a_folder_run(clip, tmp_path):
    """Issue 24 item 9: `-o nodir/x.mp4` and `-o nodir/` agree (both create the folder); a file in the way is exit 3."""
    from test_photos import picture

    r = cli("run", clip, "-o", tmp_path / "no" / "such" / "out.mp4", "--bg", "green")
    assert r.code == 0 and (tmp_path / "no" / "such" / "out.mp4").is_file(), r
    picture().save(tmp_path / "c.jpg")
    r = cli("run", tmp_path / "c.jpg", "-o", tmp_path / "new" / "c.png", "-f", "png")
    assert r.code == 0 and (tmp_path / "new" / "c.png").is_file(), r
    picture().save(tmp_path / "d.jpg")
    r = cli("run", tmp_path / "c.jpg", tmp_path / "d.jpg", "-o", tmp_path / "batch" / "out")  # several: a folder
    assert r.code == 0 and (tmp_path / "batch" / "out" / "d_streamseg.jpg").is_file(), r
    (tmp_path / "file").write_text("in the way")
    expect_error(["run", clip, "-o", tmp_path / "file" / "out.mp4"], 3, "not a folder")


def test_output_folder_not_writable(clip, tmp_path):
    if os.geteuid() == 0:  # root writes anywhere chmod allows; /sys refuses even root
        target = Path("/sys/streamseg-out.mp4")
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target = locked / "out.mp4"
    expect_error(["run", clip, "-o", target], 3, "not writable" if os.geteuid() else "permission denied")
    assert not target.exists()


def test_output_is_input(clip, tmp_path):
    src = tmp_path / "in.mp4"
    src.write_bytes(clip.read_bytes())
    expect_error(["run", src, "-o", src], 3, "is the input")
    expect_error(["run", src, "-o", tmp_path / "." / "in.mp4", "--overwrite"], 3, "is the input")
    assert src.read_bytes() == clip.read_bytes()


def test_existing_output_needs_overwrite(clip, tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    expect_error(["run", clip, "-o", out], 3, "already exists", "--overwrite")
    assert out.read_bytes() == b"precious"
    assert cli("run", clip, "-o", out, "--overwrite", "-q").code == 0
    assert out.stat().st_size > 1000


def test_png_sequence_never_replaces_a_foreign_folder(clip, tmp_path):
    folder = tmp_path / "holiday_photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"x")
    expect_error(["run", clip, "-o", folder, "--overwrite"], 2, "not a streamseg png sequence")
    assert (folder / "a.jpg").exists()


def test_unknown_output_extension(clip, tmp_path):
    expect_error(["run", clip, "-o", tmp_path / "out.avi"], 2, "cannot tell the output format")


def test_odd_frame_size_keeps_exact_size(tmp_path):
    src = tmp_path / "odd.mp4"
    write_sample(src, SampleSpec(width=255, height=143, frames=4, pix_fmt="yuv444p"))
    for fmt, suffix in (("mp4", ".mp4"), ("matte", ".mp4"), ("mov", ".mov"), ("webm", ".webm")):
        out = tmp_path / f"odd_{fmt}{suffix}"
        r = cli("run", src, "-f", fmt, "-o", out, "-q")
        assert r.code == 0, (fmt, r)
        frames, _ = decode_all(out)
        assert len(frames) == 4 and frames[0].shape == (143, 255, 3), fmt


def test_tiny_frames_rejected(tmp_path):
    src = tmp_path / "tiny.mp4"
    write_sample(src, SampleSpec(width=8, height=8, frames=2, audio=None, codec="mpeg4"))
    expect_error(["run", src, "-o", tmp_path / "out.mp4"], 2, "at least 16x16", folder=tmp_path)


def test_real_process_exit_code_and_no_traceback(tmp_path):
    """The installed console script, as a user runs it."""
    bad = tmp_path / "notes.mp4"
    bad.write_text("hello")
    p = subprocess.run([sys.executable, "-m", "streamseg", "run", str(bad)], capture_output=True, text=True)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr and "cannot read notes.mp4" in p.stderr


@pytest.mark.parametrize("name,fmt", [("out.mov", "webm"), ("out.webm", "mov"), ("out.mp4", "png"), ("out.mp4", "mov")])
def test_output_name_and_format_must_agree(clip, tmp_path, name, fmt):
    expect_error(["run", clip, "-o", tmp_path / name, "-f", fmt], 2, f"-f {fmt} writes")
    assert not (tmp_path / name).exists()


def test_matching_name_and_format_are_accepted(clip, tmp_path):
    assert cli("run", clip, "-o", tmp_path / "m.mp4", "-f", "matte", "-q").code == 0


@pytest.mark.parametrize("fmt", ["matte", "mp4"])
def test_an_output_named_for_a_container_we_do_not_write_is_refused(clip, tmp_path, fmt):
    """-o out.mkv -f matte wrote an MP4 under the .mkv name; now it is refused before any work."""
    r = cli("run", clip, "-o", tmp_path / "out.mkv", "-f", fmt)
    assert r.code == 2 and "names a .mkv file but -f" in r.err and "name the output out.mp4" in r.err, r
    assert not list(tmp_path.iterdir())
