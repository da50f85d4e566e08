"""Byte-level fuzzing of a small valid clip: every mutation gets an output or one clean error.

Hypothesis drives the mutations with a fixed seed (derandomize), so CI runs the same bounded set every
time; run with HYPOTHESIS_PROFILE=long for a longer search on a developer machine.
"""

from __future__ import annotations

import os

import pytest
from conftest import cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from media import encode_clip

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("long", max_examples=500, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "valid.mp4"
    return encode_clip(path, width=96, height=64, frames=6, audio="aac").read_bytes()


mutation = st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255))


@given(flips=st.lists(mutation, min_size=1, max_size=30), cut=st.one_of(st.none(), st.floats(0.05, 1.0)))
def test_mutated_clip(valid, tmp_path_factory, flips, cut):
    data = bytearray(valid)
    for where, value in flips:
        data[int(where * len(data))] = value
    if cut is not None:
        data = data[: max(1, int(len(data) * cut))]
    work = tmp_path_factory.mktemp("case")
    src = work / "in.mp4"
    src.write_bytes(bytes(data))
    out = work / "out.mp4"
    r = cli("run", src, "-o", out, "-q", "--bg", "green")
    assert not r.crashed, r
    assert src.read_bytes() == bytes(data)
    assert [p.name for p in work.iterdir() if "partial" in p.name] == []
    if r.code == 0:
        assert out.stat().st_size > 0
    else:
        assert r.code == 2, r  # a damaged input is an input error
        assert r.err.count("streamseg: error:") == 1 and "fix:" in r.err and "Traceback" not in r.err
        assert not out.exists()
