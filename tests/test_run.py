"""`streamseg run` end to end on real files: every output format, audio, timing, rotation, correctness."""

from __future__ import annotations

import json
import re
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import audio_packets, cli, decode_all
from PIL import Image

from streamseg.sample import SampleSpec, frame_times, write_sample


def erode(mask: np.ndarray, r: int) -> np.ndarray:
    m = torch.from_numpy(mask.astype(np.float32))[None, None]
    return (-F.max_pool2d(-m, 2 * r + 1, stride=1, padding=r))[0, 0].numpy() > 0.5


def test_composite_takes_car_from_input_and_background_from_image(clip_with_truth, studio_png, tmp_path):
    """The must-show check: car pixels come from the input, background pixels from the --bg image."""
    clip, masks = clip_with_truth
    out = tmp_path / "out.mp4"
    r = cli("run", clip, "--bg", studio_png, "-o", out, "-q")
    assert r.code == 0, r
    inp, _ = decode_all(clip)
    res, _ = decode_all(out)
    bg = np.asarray(Image.open(studio_png).convert("RGB").resize((640, 384), Image.BILINEAR))[12:372]
    assert len(res) == len(inp) == len(masks)
    for frame_in, frame_out, mask in zip(inp, res, masks):
        car = erode(mask > 0.99, 6)  # away from edges, where the matte blends
        back = erode(mask < 0.01, 6)
        assert car.sum() > 5000 and back.sum() > 50000
        car_err = np.abs(frame_out[car].astype(int) - frame_in[car]).mean()
        back_err = np.abs(frame_out[back].astype(int) - bg[back]).mean()
        # a wrong pick would differ by tens of levels on average; codec noise is a few
        assert car_err < 6, car_err
        assert back_err < 6, back_err
        # and the two sources really are different there, so the check can fail
        assert np.abs(frame_in[back].astype(int) - bg[back]).mean() > 30


@pytest.mark.parametrize("fmt,suffix,codec,alpha_fmt", [
    ("mov", ".mov", None, "yuva444p12le"),  # ProRes 4444 decodes to 12-bit with alpha
    ("webm", ".webm", "libvpx-vp9", "yuva420p"),  # FFmpeg's native vp9 decoder drops alpha
])
def test_alpha_outputs_carry_the_matte(clip, tmp_path, fmt, suffix, codec, alpha_fmt):
    matte_path = tmp_path / "matte.mp4"
    assert cli("run", clip, "-f", "matte", "-o", matte_path, "-q").code == 0
    out = tmp_path / f"out{suffix}"
    r = cli("run", clip, "-o", out, "-q")
    assert r.code == 0, r
    rgba, times = decode_all(out, "rgba", codec)
    matte, _ = decode_all(matte_path, "gray")
    inp, in_times = decode_all(clip)
    assert len(rgba) == len(inp)
    np.testing.assert_allclose(times, in_times, atol=1e-3)
    for frame, m, src in zip(rgba, matte, inp):
        alpha = frame[..., 3].astype(int)
        assert np.abs(alpha - m).mean() < 4  # the alpha plane is the matte
        assert (alpha > 200).mean() > 0.05 and (alpha < 50).mean() > 0.3  # and it is a real matte, car and not
        assert np.abs(frame[..., :3].astype(int) - src)[alpha > 200].mean() < 6  # colour is the input's


def test_png_sequence(clip, tmp_path):
    out = tmp_path / "frames"
    r = cli("run", clip, "-o", out, "-q")
    assert r.code == 0, r
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 12
    img = np.asarray(Image.open(pngs[5]))
    assert img.shape == (144, 256, 4) and img[..., 3].min() < 30 and img[..., 3].max() > 225
    meta = json.loads((out / "streamseg.json").read_text())
    assert meta["frames"] == 12 and len(meta["times"]) == 12
    with av.open(str(out / "audio.wav")) as c:
        assert c.streams.audio[0].codec_context.name == "pcm_s16le"
        assert c.streams.audio[0].sample_rate == 48000
    assert not list(tmp_path.glob(".*partial*"))


def test_default_output_name_is_beside_input(clip, tmp_path):
    src = tmp_path / "my car.mp4"  # a space in the name too
    src.write_bytes(clip.read_bytes())
    r = cli("run", src, "-q", "--bg", "#1e90ff")
    assert r.code == 0, r
    assert (tmp_path / "my car_streamseg.mp4").exists()
    assert src.read_bytes() == clip.read_bytes()  # the input is untouched


def test_audio_packets_copied_unchanged_into_mp4_and_mov(clip, tmp_path):
    source = audio_packets(clip)
    assert len(source) > 10
    for name in ("a.mp4", "a.mov"):
        assert cli("run", clip, "-o", tmp_path / name, "-q").code == 0
        assert audio_packets(tmp_path / name) == source


def test_webm_audio_is_opus(clip, tmp_path):
    out = tmp_path / "a.webm"
    assert cli("run", clip, "-o", out, "-q").code == 0
    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        assert a.codec_context.name == "opus"
        seconds = sum(f.samples for f in c.decode(a)) / a.sample_rate
    assert abs(seconds - 12 / 25) < 0.1


def test_re_encoded_audio_keeps_its_start(tmp_path):
    """PCM in a MOV, starting 0.5 s after the video: re-encoded (AAC into MP4, Opus into WebM), it must
    still start at 0.5 s, or sound and picture drift apart by that much."""
    src = tmp_path / "late_audio.mov"
    with av.open(str(src), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 96, 64, "yuv420p"
        a = out.add_stream("pcm_s16le", rate=48000, layout="stereo")
        for i in range(25):
            f = av.VideoFrame.from_ndarray(np.full((64, 96, 3), 10 * i, np.uint8), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 25)
            out.mux(v.encode(f))
        out.mux(v.encode(None))
        for k in range(12):  # 0.5 s .. 0.756 s
            af = av.AudioFrame.from_ndarray(np.zeros((1, 2048), np.int16), format="s16", layout="stereo")
            af.sample_rate, af.pts = 48000, 24000 + 1024 * k
            out.mux(a.encode(af))
        out.mux(a.encode(None))
    for name, codec in (("o.mp4", "aac"), ("o.webm", "opus")):
        assert cli("run", src, "-o", tmp_path / name, "-q").code == 0
        with av.open(str(tmp_path / name)) as c:
            s = c.streams.audio[0]
            times = [float(p.pts * s.time_base) for p in c.demux(s) if p.pts is not None]
        assert s.codec_context.name == codec and times[0] == pytest.approx(0.5, abs=0.03), (name, times[:3])


def test_variable_frame_rate_timestamps_are_kept(media, tmp_path):
    src = media / "vfr.mp4"
    spec = SampleSpec(width=192, height=112, frames=15, fps=30, vfr=True, seed=5)
    write_sample(src, spec)
    out = tmp_path / "vfr_out.mp4"
    assert cli("run", src, "-o", out, "-q").code == 0
    _, t_in = decode_all(src)
    _, t_out = decode_all(out)
    expected = [float(t) for t in frame_times(spec)]
    assert len(set(np.round(np.diff(expected), 4))) > 1  # really irregular
    np.testing.assert_allclose(t_in, expected, atol=1e-3)
    np.testing.assert_allclose(t_out, t_in, atol=1e-3)


def test_rotated_phone_video_comes_out_upright(media, tmp_path):
    upright = media / "upright.mp4"
    rotated = media / "rotated.mp4"
    write_sample(upright, SampleSpec(width=144, height=256, frames=4, seed=7, audio=None))
    write_sample(rotated, SampleSpec(width=144, height=256, frames=4, seed=7, audio=None, rotation=90))
    with av.open(str(rotated)) as c:  # stored sideways, with a display matrix
        assert (c.streams.video[0].width, c.streams.video[0].height) == (256, 144)
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    assert cli("run", upright, "-o", a, "-q", "--bg", "green").code == 0
    assert cli("run", rotated, "-o", b, "-q", "--bg", "green").code == 0
    fa, _ = decode_all(a)
    fb, _ = decode_all(b)
    assert fa[0].shape == fb[0].shape == (256, 144, 3)
    assert np.abs(fa[2].astype(int) - fb[2]).mean() < 4


def test_json_summary(clip, tmp_path):
    r = cli("run", clip, "-o", tmp_path / "j.mp4", "--json", "-q")
    assert r.code == 0, r
    summary = json.loads(r.out)
    assert summary["frames"] == 12 and summary["backend"].startswith("openvino") and summary["fps"] > 0
    assert summary["device"] == "cpu" and summary["audio"] == "aac"


def test_background_video_loops(clip, media, tmp_path):
    bg = media / "bgvid.mp4"
    write_sample(bg, SampleSpec(width=320, height=180, frames=5, audio=None, scene="studio", seed=9))
    out = tmp_path / "v.mp4"
    r = cli("run", clip, "--bg", bg, "-o", out, "-q")  # 12 frames over a 5-frame background
    assert r.code == 0, r
    frames, _ = decode_all(out)
    assert len(frames) == 12


def test_info_reports_backend_and_model():
    r = cli("info", "--json")
    assert r.code == 0, r
    report = json.loads(r.out)
    assert report["streamseg_backend_auto"] in ("openvino", "cuda", "tensorrt")
    assert report["codecs"]["libx264"] == "yes"
    assert report["model"]["held_out"]["dice"] > 0.9


def test_info_says_the_model_scores_in_words():
    r = cli("info")
    assert r.code == 0, r
    assert re.search(r"held-out Dice 0\.\d{3}, IoU 0\.\d{3} on \d+ images", r.out), r.out
    assert "{" not in r.out, r.out  # no raw Python dict


def test_frame_timing_of_sample_is_exact(clip):
    _, times = decode_all(clip)
    assert times == pytest.approx([float(Fraction(i, 25)) for i in range(12)], abs=1e-4)


@pytest.mark.parametrize("name,exact", [("clip.mkv", False), ("clip.mp4", True)])
def test_run_line_frame_count(tmp_path, name, exact):
    """MKV has no frame count in its index: the run line estimates it from the duration (here longer than the
    video by its audio) and says so; it said 26 for these 25 frames."""
    from media import encode_clip

    src = encode_clip(tmp_path / name, frames=25, fps=25, audio="aac")
    r = cli("run", src, "-o", tmp_path / "out.mp4", "-f", "matte")
    assert r.code == 0, r
    assert f", {'' if exact else 'about '}25 frames)" in r.err, r.err
    assert "wrote" in r.err and ": 25 frames" in r.err


def test_sample_shows_progress(tmp_path):
    """A 1080p sample takes tens of seconds: the frames drawn are shown as they go."""
    r = cli("sample", tmp_path / "s.mp4", "--size", "128x72", "--seconds", "0.4")
    assert r.code == 0, r
    assert "10/10" in r.err and "frame" in r.err, r.err
    assert (tmp_path / "s.mp4").is_file()


def test_json_failure_is_a_json_object_even_when_quiet(tmp_path):
    r = cli("run", tmp_path / "nosuch.mp4", "--json", "-q")
    assert r.code == 2, r
    report = json.loads(r.out)
    assert report["status"] == "failed" and "input not found" in report["error"] and report["exit_code"] == 2


def test_start_and_end_lines_name_the_output_alike(clip, tmp_path):
    out = tmp_path / "sub" / "named.mp4"
    out.parent.mkdir()
    r = cli("run", clip, "-o", out)
    assert r.code == 0, r
    start, end = [line for line in r.err.splitlines() if line.startswith("streamseg:")][:2]
    assert f"-> {out} [" in start and f"wrote {out}:" in end, r.err


def test_readme_layout_names_every_command():
    from pathlib import Path

    from streamseg.cli import main

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = readme.index("streamseg/cli.py ")
    listing = readme[start:readme.index("streamseg/pipeline.py", start)]
    missing = [name for name in main.commands if name not in listing]
    assert not missing, missing
    for sub in main.commands["models"].commands:  # and the subcommands of `models`
        assert sub in listing, sub
