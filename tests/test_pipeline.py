"""Range tasks on an executor give the fingerprint of the local decode; merge checks seams."""

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastloop
from fastloop import pipeline
from fastloop.errors import DecodeError
from fastloop.ffmpeg.banner import VideoInfo
from fastloop.hashers import AverageHash
from fastloop.pipeline import Part, merge
from fastloop.video import Range, Video

from .conftest import live_ffmpeg_below


def _part(lo, hi, times, seed=0):
    rng = np.random.default_rng(seed)
    n = len(times)
    return Part(
        rng=Range(lo, hi),
        pts=np.asarray(times, np.float64),
        hashes=rng.integers(0, 2**63, (n, 9), dtype=np.uint64),
        contrast=np.full(n, 9, np.uint8),
        desc=rng.integers(0, 256, (n, 144), dtype=np.uint8),
    )


def _video():
    info = VideoInfo("v.mp4", 320, 180, 10.0, 2.0, "h264", "yuv420p", container="mov,mp4")
    return Video("v.mp4", info)


def test_merge_joins_parts_in_order_and_checks_every_seam():
    a = _part(None, 1.0, [0.0, 0.1, 0.9], seed=1)
    b = _part(1.0, None, [1.0, 1.5], seed=2)
    fp = merge([a, b], _video(), AverageHash(24))
    np.testing.assert_array_equal(fp.pts, [0.0, 0.1, 0.9, 1.0, 1.5])
    np.testing.assert_array_equal(fp.hashes, np.concatenate([a.hashes, b.hashes]))
    np.testing.assert_array_equal(np.asarray(fp.desc), np.concatenate([a.desc, b.desc]))
    # a frame past its range's end would be counted twice at the seam
    with pytest.raises(DecodeError, match="outside"):
        merge([_part(None, 1.0, [0.5, 1.0]), _part(1.0, None, [1.2])], _video(), AverageHash(24))
    # ranges that leave a hole between them lose frames
    with pytest.raises(DecodeError, match="do not meet"):
        merge([_part(None, 1.0, [0.5]), _part(1.5, None, [1.6])], _video(), AverageHash(24))
    with pytest.raises(DecodeError, match="time order"):
        merge([_part(None, None, [0.5, 0.2])], _video(), AverageHash(24))


@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_range_tasks_on_an_executor_equal_the_local_decode(long_clip, monkeypatch, kind):
    path, truth = long_clip
    local = fastloop.fingerprint(path)
    monkeypatch.setattr(pipeline, "TASK_RANGE_S", 15.0)  # a 45 s clip: two tasks, one seam
    assert len(pipeline.task_ranges(Video(path))) == 2
    if kind == "threads":
        pool = ThreadPoolExecutor(2)
    else:  # as on a cluster: the task and its arguments pickled to a fresh interpreter
        pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    with pool:
        split = fastloop.fingerprint(path, executor=pool)
    assert not live_ffmpeg_below(os.getpid()), "an ffmpeg outlived its task"
    assert len(split) == len(local) == len(truth)
    np.testing.assert_array_equal(split.hashes, local.hashes)
    np.testing.assert_array_equal(split.pts, local.pts)
    np.testing.assert_array_equal(split.contrast, local.contrast)
    np.testing.assert_array_equal(np.asarray(split.desc), np.asarray(local.desc))
    got = fastloop.scan(fp=split).to_dict()["loops"]
    assert got == fastloop.scan(fp=local).to_dict()["loops"] and got


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cuts=st.lists(st.floats(1.0, 44.0), min_size=1, max_size=3, unique=True))
def test_any_split_into_ranges_merges_to_the_local_fingerprint(long_clip, cuts):
    """Ranges cut anywhere (between frames or on one, off keyframes) merge back to
    the one-process fingerprint: every frame once, in order, hashed the same."""
    path, _ = long_clip
    video = Video(path)
    whole = _local_fp(path)
    bounds = sorted(round(c, 3) for c in cuts)
    ranges = [Range(s, e) for s, e in zip([None, *bounds], [*bounds, None], strict=True)]
    hasher = AverageHash(24)
    fp = merge([pipeline.fingerprint_range(video, r, hasher) for r in ranges], video, hasher)
    np.testing.assert_array_equal(fp.pts, whole.pts)
    np.testing.assert_array_equal(fp.hashes, whole.hashes)
    np.testing.assert_array_equal(np.asarray(fp.desc), np.asarray(whole.desc))


_WHOLE: dict = {}


def _local_fp(path):
    if path not in _WHOLE:
        _WHOLE[path] = fastloop.fingerprint(path, workers=1)
    return _WHOLE[path]
