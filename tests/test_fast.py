"""``--fast``: only reference frames decoded, the rest filled in, loops still exact.

The videos force B-frames (``b-adapt=0``: x264 otherwise picks them by content and
may use none), so that there is something to skip; each test checks it was skipped.
"""

import json
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

import fastloop
from fastloop.cli import cli
from fastloop.fast import fill_grid
from fastloop.ffmpeg import find_ffmpeg
from fastloop.fingerprint import Fingerprint
from fastloop.synth import make_video, score
from fastloop.video import Video

from .conftest import copy_spans
from .test_loops import NEGATIVE, POSITIVE

BFRAMES = dict(extra_args=["-x264-params", "b-adapt=0:scenecut=0"])


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fast")
    made = {}

    def get(name, case):
        if name not in made:
            kw = {**case, **BFRAMES}
            path = str(folder / f"{len(made)}.mp4")
            made[name] = (path, make_video(path, kw.pop("segments"), **kw))
        return made[name]

    return get


def test_fill_grid_against_reference():
    rng = np.random.default_rng(3)
    grid = np.cumsum(rng.uniform(0.02, 0.05, 400))
    keep = np.sort(rng.choice(400, 170, replace=False))
    src, decoded, unmatched = fill_grid(grid[keep], grid)
    assert unmatched == 0
    np.testing.assert_array_equal(decoded, np.isin(np.arange(400), keep))
    for i in range(400):
        dist = np.abs(grid[keep] - grid[i])
        want = int(np.flatnonzero(dist == dist.min())[0])  # nearest, earlier on a tie
        assert src[i] == want
    # a time that is on no grid point is counted, not placed
    _, decoded2, unmatched2 = fill_grid(np.array([grid[3], grid[5] + 0.011]), grid)
    assert unmatched2 == 1 and decoded2.sum() == 1


def test_packet_times_are_the_frames(videos):
    path, truth = videos("one splice", POSITIVE["one splice"])
    fp = fastloop.fingerprint(path)
    packets = Video(path).packets()
    np.testing.assert_allclose(packets.pts, fp.pts, atol=1e-9)
    assert packets.key[0] and 1 <= packets.key.sum() <= len(truth) // 250 + 1


def test_fast_fingerprint_decodes_less_and_fills_in(videos, tmp_path):
    path, truth = videos("one splice", POSITIVE["one splice"])
    full = fastloop.fingerprint(path)
    fast = fastloop.fingerprint(path, fast=True)
    assert len(fast) == len(full) == len(truth)
    np.testing.assert_allclose(fast.pts, full.pts)
    share = fast.decoded.mean()
    assert 0.2 < share < 0.7, share  # B-frames were skipped
    # decoded frames hash exactly as in a full decode (the deblocking is kept)
    np.testing.assert_array_equal(fast.hashes[fast.decoded], full.hashes[fast.decoded])
    # a skipped frame carries the hash of its nearest decoded neighbour
    idx = np.flatnonzero(fast.decoded)
    for i in np.flatnonzero(~fast.decoded)[:50]:
        near = idx[np.abs(idx - i) == np.abs(idx - i).min()]
        assert any((fast.hashes[i] == full.hashes[j]).all() for j in near)
    fast.save(tmp_path / "f.npz")
    back = Fingerprint.load(tmp_path / "f.npz")
    np.testing.assert_array_equal(back.decoded, fast.decoded)


def _open(name: str, measured: str):
    """A case ``--fast`` does not yet get right (precision stays 1.000): skipped
    frames take descriptors interpolated between decoded ones, and the test pattern's
    jumps and some short pieces are not interpolated well enough."""
    reason = f"open: --fast misses copied frames here ({measured}, precision 1.000)"
    return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=reason))


@pytest.mark.parametrize(
    "name",
    [
        "one splice",
        _open("one stretch, three places", "recall 0.989"),
        "clip looped 8 times",
        "slow footage",
        "variable frame rate",
        "copy among freezes, black and stills",
        _open("a copy whose original another copy splits", "recall 0.908"),
        "copies in look-alike footage (testsrc2)",
        "slow zoom (mandelbrot)",
        _open("overlapping copies in look-alike footage", "recall 0.74"),
    ],
)
def test_fast_scan_finds_every_copied_frame(videos, name):
    path, truth = videos(name, POSITIVE[name])
    result = fastloop.scan(path, fast=True)
    assert result.fingerprint.filled.any()
    s = score(result.loops, truth)
    assert s["recall"] >= 0.99, s
    assert s["precision"] >= 0.995, s
    for lp in result.loops:
        for o in lp.occurrences:
            assert o.start_s == pytest.approx(result.fingerprint.pts[o.start_frame])


@pytest.mark.parametrize(
    "name", ["honest footage", "slow honest footage", "look-alike footage (testsrc2)"]
)
def test_fast_scan_finds_nothing_in_honest_footage(videos, name):
    path, _ = videos(name, NEGATIVE[name])
    result = fastloop.scan(path, fast=True)
    assert result.fingerprint.filled.any()
    assert result.loops == []


def test_fast_cli_json_and_fallback(videos, tmp_path):
    path, truth = videos("one splice", POSITIVE["one splice"])
    run = CliRunner().invoke(cli, ["--no-progress", "scan", "--fast", "--format", "json", path])
    assert run.exit_code == 0, run.output
    doc = json.loads(run.stdout)
    ((src, dst, _),) = copy_spans(truth)
    assert [o["start_frame"] for o in doc["loops"][0]["occurrences"]] == [src, dst]
    # a raw H.264 stream has no timestamps to place frames by: decoded in full, said so
    raw = str(tmp_path / "raw.h264")
    subprocess.run(
        [find_ffmpeg(), "-v", "error", "-i", path, "-c", "copy", "-bsf:v", "h264_mp4toannexb", raw],
        check=True,
    )
    run = CliRunner().invoke(cli, ["--no-progress", "scan", "--fast", raw])
    assert run.exit_code == 0, run.output
    assert "every frame was decoded instead" in run.stderr
    assert "1 loop" in run.stdout


def test_fast_cache_is_kept_apart(videos, tmp_path):
    path, _ = videos("one splice", POSITIVE["one splice"])
    fast = fastloop.fingerprint(path, fast=True, cache=tmp_path)
    full = fastloop.fingerprint(path, cache=tmp_path)
    assert fast.decoded is not None and full.decoded is None
    again = fastloop.fingerprint(path, fast=True, cache=tmp_path)  # from the cache
    np.testing.assert_array_equal(again.hashes, fast.hashes)
    assert again.info["timing"]["decode_s"] == 0.0


def test_fast_keeps_a_second_copy_distinct(videos):
    path, truth = videos("part of a copy copied again", POSITIVE["part of a copy copied again"])
    result = fastloop.scan(path, fast=True)
    s = score(result.loops, truth)
    assert s["recall"] >= 0.99 and s["precision"] >= 0.995, s
    spans = [
        tuple((o.start_frame, lp.length_frames) for o in lp.occurrences) for lp in result.loops
    ]
    assert len(spans) == len(set(spans))
