"""Every heuristic of loops.py and verify.py (and the settings helpers they rest on) on
hand-built inputs: no ffmpeg, no video file. The expected answers are derived here
from the inputs and the documented rules, so a regression fails by name."""

from __future__ import annotations

import inspect
import itertools
import math
import time
from fractions import Fraction

import numpy as np
import pytest

from fastloop import kernels, loops, settings
from fastloop import verify as verify_mod
from fastloop.fingerprint import Fingerprint
from fastloop.hashing import hash_frames
from fastloop.loops import Loop, LoopParams, Occurrence, footage_loops
from fastloop.settings import (
    FLAT_CONTRAST,
    FLOOR,
    MIN_SPECIFIC,
    RUN_EXCESS,
    RUN_RATIO,
    SPECIFIC_SHARE,
    piece_frames,
)
from fastloop.verify import Judge

from . import reference as ref

FPS = 30.0
CELLS = 144


def _exact(x: float) -> Fraction:
    """A setting or a rate as the decimal it was written as."""
    return Fraction(str(x))


def _nearest(x: Fraction) -> int:
    """The nearest integer (the grids below avoid ties)."""
    assert x.denominator == 1 or (2 * x).denominator != 1, "a tie: pick another value"
    return math.floor(x + Fraction(1, 2))


def _fingerprint(desc=None, hashes=None, contrast=None, fps=FPS, n=None) -> Fingerprint:
    n = n if n is not None else len(desc if desc is not None else hashes)
    if hashes is None:
        hashes = np.zeros((n, 9), np.uint64)
    if contrast is None:
        contrast = np.full(n, 100, np.uint8)
    pts = np.arange(n) / fps
    return Fingerprint(hashes, pts, contrast, 24, desc, info={"fps": fps})


# --------------------------------------------------------------------------- settings helpers

RATES = [1.0, 7.0, 10.0, 23.976, 24.0, 25.0, 29.97, 30.0, 50.0, 59.94, 60.0, 120.0]


@pytest.mark.parametrize("fps", RATES)
@pytest.mark.parametrize("seconds", [0.0, 0.01, 0.1, 0.2, 0.3, 1.0, 1.1, 2.0, 7.3])
def test_frames_for_is_the_exact_ceiling_at_least_two(seconds, fps):
    # 1.1 s at 50 fps is 55 frames, although 1.1 * 50 is 55.00000000000001 in floats
    exact = _exact(seconds) * _exact(fps)
    assert settings.frames_for(seconds, fps) == max(2, math.ceil(exact))


@pytest.mark.parametrize("fps", [0.0, -1.0])
def test_rate_helpers_without_a_rate(fps):
    assert settings.frames_for(1.0, fps) == 2
    assert settings.piece_frames(fps) == 3
    assert settings.shift_frames(fps) == 3
    # seconds_frames assumes 30 fps
    assert settings.seconds_frames(2.0, fps, 1) == 60
    assert settings.seconds_frames(2.0, fps, 100) == 100


@pytest.mark.parametrize("fps", RATES)
def test_piece_and_shift_frames_are_the_nearest_frame_count(fps):
    piece = _exact(settings.PIECE_S) * _exact(fps)
    shift = _exact(settings.SHIFT_S) * _exact(fps)
    assert settings.piece_frames(fps) == max(3, _nearest(piece))
    assert settings.shift_frames(fps) == max(1, _nearest(shift))


@pytest.mark.parametrize("fps", RATES)
@pytest.mark.parametrize("at_least", [1, 6, 500])
def test_seconds_frames(fps, at_least):
    for seconds in (0.123, settings.MAX_STATIC_S, 3.333):
        expect = max(at_least, _nearest(_exact(seconds) * _exact(fps)))
        assert settings.seconds_frames(seconds, fps, at_least) == expect


def test_worst_cells_levels_and_default_distance():
    for cells in (4, 16, 36, 64, 100, 144, 256, 1024):
        expect = max(1, _nearest(_exact(settings.WORST_SHARE) * cells))
        assert settings.worst_cells(cells) == expect
    for x in (0.0, FLOOR, settings.AGREE, settings.MIN_MOTION, 2.3):
        for k in (1, 6, 9):
            assert settings.levels(x, k) == _nearest(_exact(x) * k)
    for size in range(4, 65):
        share = _exact(settings.MAX_DISTANCE_SHARE) * size * size
        assert settings.default_max_distance(size) == max(2, _nearest(share))
    # the numbers the settings' comments quote
    assert settings.worst_cells(144) == 6
    assert settings.default_max_distance(24) == 46
    assert LoopParams().resolved_distance(24) == settings.default_max_distance(24)
    assert LoopParams(max_distance=7).resolved_distance(24) == 7


# --------------------------------------------------------------------------- Judge basics


@pytest.mark.parametrize("fps", [FPS, 50.0, 0.0])
def test_judge_for_fingerprint(fps):
    desc = np.zeros((6, CELLS), np.uint8)
    contrast = np.array([0, 3, 4, 5, 6, 255], np.uint8)
    if fps > 0:
        fp = _fingerprint(desc, contrast=contrast, fps=fps)
    else:  # one timestamp for every frame and no probed rate: no rate at all
        fp = Fingerprint(np.zeros((6, 9), np.uint64), np.zeros(6), contrast, 24, desc)
        assert fp.fps == 0
    judge = Judge.for_fingerprint(fp, 4)
    # a frame is a picture when its contrast is strictly above flat_contrast
    assert judge.valid.tolist() == [False, False, False, True, True, True]
    assert Judge.for_fingerprint(fp, 5).valid.tolist() == [False] * 4 + [True] * 2
    assert judge.desc is fp.desc
    assert judge.shift == settings.shift_frames(fps)
    assert judge.k == settings.worst_cells(CELLS)
    assert judge.fps == fps
    assert judge.reach == max(kernels._SCALES) * judge.shift


def test_judge_gaps_match_numpy():
    rng = np.random.default_rng(1)
    desc = rng.integers(0, 256, (50, CELLS), dtype=np.uint8)
    desc[0], desc[1] = 0, 255  # the largest difference: no wrap-around in uint8
    judge = Judge(desc, np.ones(50, bool), 6, 6, FPS)
    x = np.concatenate([[0, 1, 3], rng.integers(0, 50, 100)])
    y = np.concatenate([[1, 0, 3], rng.integers(0, 50, 100)])
    got = judge.gaps(x, y)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, [ref.gap(desc, a, b, 6) for a, b in zip(x, y, strict=True)])
    assert got[:3].tolist() == [6 * 255, 6 * 255, 0]
    judge.k = 1
    assert judge.gaps(np.array([0]), np.array([1])).tolist() == [255]
    assert judge.gaps(np.zeros(0, int), np.zeros(0, int)).shape == (0,)


def test_walk_args_are_propose_parameters_in_order(monkeypatch):
    # every threshold distinct (none of them equals another by accident), then
    # matched by name with the parameters of _propose_key that follow ``links``
    monkeypatch.setattr(verify_mod, "FLOOR", 1.5)
    monkeypatch.setattr(verify_mod, "MAX_NEUTRAL_S", 3.0)
    fps, k = 50.0, 9
    judge = Judge(np.zeros((4, 225), np.uint8), np.ones(4, bool), 10, k, fps)
    expect = {
        "shift": 10,
        "k": k,
        "agree": round(settings.AGREE * k),
        "ratio10": round(settings.RATIO * 10),
        "floor": round(1.5 * k),
        "min_motion": round(settings.MIN_MOTION * k),
        "max_miss": settings.MAX_MISS,
        "max_static": round(settings.MAX_STATIC_S * fps),
        "max_neutral": round(3.0 * fps),
        "seed_ratio10": round(RUN_RATIO * 10),
    }
    assert len(set(list(expect.values())[1:])) == len(expect) - 1
    names = list(inspect.signature(kernels._propose_key.py_func).parameters)
    after = names[names.index("links") + 1 :]
    assert dict(zip(after, judge.walk_args(), strict=True)) == expect


def test_judge_cuts_motion_and_motion_cells_use_its_thresholds():
    rng = np.random.default_rng(10)
    # a still view under +-1 level of noise, and jumps of every size around the cut
    # threshold (2 * MIN_MOTION levels a worst cell), up and down
    desc = rng.integers(-1, 2, (300, CELLS)) + 128
    for i, at in enumerate(range(20, 300, 20)):
        desc[at:, :8] += (2 + 2 * i) * (-1) ** i
    desc = np.clip(desc, 0, 255).astype(np.uint8)
    valid = np.ones(300, bool)
    valid[[100, 101, 250]] = False
    judge = Judge(desc, valid, 3, 6, 15.0)
    size = 2 * settings.levels(settings.MIN_MOTION, 6)
    expect = ref.cuts(desc, valid, 6, size)
    np.testing.assert_array_equal(judge.cuts(), expect)
    assert expect.sum() > 3 and not np.array_equal(expect, ref.cuts(desc, valid, 6, size // 2))
    np.testing.assert_array_equal(judge.motion, ref.motion(desc, valid, 3, 6))
    cells = judge.motion_cells()
    for part, span in ((cells[:, :3], judge.shift), (cells[:, 3:], judge.reach)):
        for x, c in enumerate(ref.motion_cells(desc, valid, span, settings.KEY_LEVELS)):
            assert part[x].tolist() == (sorted(c) if c else [kernels._NO_CELL] * 3), (x, span)


def _assert_walked_gaps(judge, proposed):
    """The gaps the walks recorded for each run are its pairs' gaps taken again, and
    the copy check gives the same verdicts from them."""
    a, b, d, at, gaps = proposed[0], proposed[1], proposed[2], proposed[5], proposed[6]
    again = np.empty(int((b - a).sum()), np.int32)
    kernels._run_gaps(judge.desc, a, b, d, judge.k, again)
    walked = [gaps[s : s + n] for s, n in zip(at.tolist(), (b - a).tolist(), strict=True)]
    np.testing.assert_array_equal(np.concatenate(walked), again)
    np.testing.assert_array_equal(
        judge.clear_copies(a, b, d, (gaps, at)), judge.clear_copies(a, b, d)
    )


def test_walks_record_the_gaps_of_their_pairs_flat_frames_too():
    # a stretch played twice with a few flat frames inside it, both times: the walk
    # goes through them (no gap taken there), and the run's gaps must still hold
    # every pair's, as the copy check takes them
    clip = ref.smooth_footage(160, 24, seed=31)
    clip[70:74] = 128  # flat: not valid
    rng = np.random.default_rng(31)
    video = np.concatenate(
        [ref.smooth_footage(80, 24, seed=32), clip, ref.smooth_footage(60, 24, seed=33), clip]
    )
    noisy = np.clip(video.astype(np.int16) + rng.integers(-2, 3, video.shape), 0, 255)
    noisy[[80 + 70 + i for i in range(4)] + [300 + 70 + i for i in range(4)]] = 128
    h, c, d = hash_frames(noisy.astype(np.uint8))
    fp = Fingerprint(h, np.arange(len(h)) / 30.0, c, 24, d)
    p = LoopParams()
    judge = Judge.for_fingerprint(fp, p.flat_contrast)
    assert not judge.valid[150:154].any()
    proposed = judge.propose(
        judge.motion_cells(), np.ascontiguousarray(h), 10, p.resolved_distance(24), p.links
    )
    a, b = proposed[0], proposed[1]
    assert ((a <= 150) & (b >= 154)).any()  # a run through the flat frames
    _assert_walked_gaps(judge, proposed)


def _seeding_buckets(monkeypatch) -> list:
    """Records, for each key walked, the buckets that can still seed (those with a
    frame neither tied nor gone when the walk starts), in the walk's order."""
    seen = []
    walk_key = kernels._propose_key

    at = list(inspect.signature(walk_key.py_func).parameters).index("state") - 2

    def walk(start, order, *rest):
        tied, gone = rest[at][2], rest[at][3]
        bits = np.unpackbits((tied | gone).view(np.uint8), bitorder="little").astype(bool)
        buckets = [order[start[g] : start[g + 1]] for g in range(len(start) - 1)]
        seen.append([tuple(b.tolist()) for b in buckets if len(b) > 1 and not bits[b].all()])
        return walk_key(start, order, *rest)

    monkeypatch.setattr(kernels, "_propose_key", walk)
    return seen


def test_a_motion_keys_table_made_ahead_waits_for_its_cells(monkeypatch):
    # an 8x8 hash is one word: key 1 is the first motion key, and its whole table is
    # grouped on the pool during key 0's walk, while the cells are still being filled
    # beside it (slowed down here): it must wait for them, and give the same runs
    size = 8
    clip = ref.smooth_footage(150, size, seed=21)
    video = np.concatenate([ref.smooth_footage(600, size, seed=22), clip, clip])
    rng = np.random.default_rng(1)
    noisy = np.clip(video.astype(np.int16) + rng.integers(-2, 3, video.shape), 0, 255)
    h, c, d = hash_frames(noisy.astype(np.uint8))
    fp = Fingerprint(h, np.arange(len(h)) / 30.0, c, size, d)
    p = LoopParams()
    args = (10, p.resolved_distance(size), p.links)
    serial = Judge.for_fingerprint(fp, p.flat_contrast)
    cells = serial.motion_cells()
    want = serial.propose(cells, np.ascontiguousarray(h), *args)
    monkeypatch.setattr(verify_mod, "PARALLEL_FRAMES", 0)
    monkeypatch.setattr(verify_mod.os, "cpu_count", lambda: 2)
    late = Judge.for_fingerprint(fp, p.flat_contrast)
    fill = late.motion_cells

    def slow(*args):
        time.sleep(0.5)
        return fill(*args)

    late.motion_cells = slow
    deferred = late.prepare(defer_cells=True)
    whole = []
    group = kernels._group_keys

    def grouped(hashes, sub, w, which, base, cap):
        if which >= 0:
            whole.append(np.array_equal(deferred, cells))
        return group(hashes, sub, w, which, base, cap)

    monkeypatch.setattr(kernels, "_group_keys", grouped)
    runs = late.propose(deferred, np.ascontiguousarray(h), *args)
    assert whole and all(whole)
    for got, expect in zip(runs, want, strict=True):
        np.testing.assert_array_equal(got, expect)


def test_judge_on_two_cores_gives_what_the_serial_kernels_give(monkeypatch):
    # a day is judged with its facts in pieces on every core and each key's buckets
    # grouped on a second core (or only those of the frames left open, once the
    # first keys have tied a loop's plays): the same motion, cuts, cells, runs and
    # verdicts as on one core, whatever ran where
    clip = ref.smooth_footage(150, 24, seed=21)
    rng = np.random.default_rng(21)
    plays = [clip[rng.integers(0, 6) :] for _ in range(8)]  # a loop, trimmed at each cut
    video = np.concatenate([ref.smooth_footage(90, 24, seed=22), *plays])
    noisy = np.clip(video.astype(np.int16) + rng.integers(-2, 3, video.shape), 0, 255)
    h, c, d = hash_frames(noisy.astype(np.uint8))
    fp = Fingerprint(h, np.arange(len(h)) / 30.0, c, 24, d)
    p = LoopParams()
    args = (10, p.resolved_distance(24), p.links)
    # one core first (numba compiles the kernels with the real functions)
    serial = Judge.for_fingerprint(fp, p.flat_contrast)
    cells = serial.motion_cells()
    seeded = _seeding_buckets(monkeypatch)
    want = serial.propose(cells, np.ascontiguousarray(h), *args)
    assert len(want[0]) >= 7  # the plays are found
    alone = list(seeded)
    seeded.clear()
    cleared = serial.clear_copies(*want[:3])
    assert cleared.any()
    _assert_walked_gaps(serial, want)
    calls = {"full": 0, "open": 0}

    def counted(name, fn):
        def call(*args):
            calls[name] += 1
            return fn(*args)

        return call

    monkeypatch.setattr(kernels, "_group_keys", counted("full", kernels._group_keys))
    monkeypatch.setattr(kernels, "_open_buckets", counted("open", kernels._open_buckets))
    monkeypatch.setattr(verify_mod, "PARALLEL_FRAMES", 0)
    monkeypatch.setattr(verify_mod.os, "cpu_count", lambda: 2)
    split = Judge.for_fingerprint(fp, p.flat_contrast)
    np.testing.assert_array_equal(split.prepare(), cells)
    np.testing.assert_array_equal(split.motion, serial.motion)
    np.testing.assert_array_equal(split.cuts(), serial.cuts())
    runs = split.propose(cells, np.ascontiguousarray(h), *args)
    for got, expect in zip(runs, want, strict=True):
        np.testing.assert_array_equal(got, expect)
    assert calls["full"] >= 1 and calls["open"] >= 1  # both ways of grouping ran
    # every key walked the same buckets, in the same order, wherever its table was
    # made (the tables of open buckets made ahead, from the frames open earlier)
    assert seeded == alone and len(alone) > 3
    # the gaps of the runs' pairs, in two halves on two cores
    np.testing.assert_array_equal(split.clear_copies(*want[:3]), cleared)
    # the motion cells filled beside the first key's walk: the same runs, and the
    # cells whole once the proposals are made
    late = Judge.for_fingerprint(fp, p.flat_contrast)
    fill = late.motion_cells

    def slow(*args):  # a cell filled after the keys that do not read them are done
        time.sleep(0.5)
        return fill(*args)

    late.motion_cells = slow
    deferred = late.prepare(defer_cells=True)
    seen = []

    def walk(*args):  # every motion key's walk sees the cells whole
        if args[5] >= 0:
            seen.append(np.array_equal(deferred, cells))
        return walk_key(*args)

    walk_key = kernels._propose_key
    monkeypatch.setattr(kernels, "_propose_key", walk)
    runs = late.propose(deferred, np.ascontiguousarray(h), *args)
    assert seen and all(seen)
    for got, expect in zip(runs, want, strict=True):
        np.testing.assert_array_equal(got, expect)
    np.testing.assert_array_equal(deferred, cells)


def test_hash_distance_to_roots_against_numpy():
    # the kernel (kernels._root_distances) against numpy's bits of hashes ^ their
    # roots' hashes, over more than 2^16 frames (the method once worked in slices)
    rng = np.random.default_rng(2)
    n = (1 << 16) + 4000
    hashes = rng.integers(0, 2**63, (n, 9), dtype=np.uint64)
    copied = rng.random(n) < 0.6
    roots = np.arange(n, dtype=np.int32)
    pick = np.flatnonzero(copied)
    pick = pick[(pick >= 1000) & (pick % 3 > 0)]
    roots[pick] = pick % 1000  # classes reach across the slice boundary; a third of
    # the copied frames are their class's first frame (-1), in every slice
    fp = _fingerprint(hashes=hashes)
    got = Judge.hash_distance_to_roots(fp, roots, copied)
    assert got.dtype == np.int16
    bits = np.unpackbits((hashes ^ hashes[roots]).view(np.uint8), axis=1).sum(
        axis=1, dtype=np.int64
    )
    expect = np.where(copied & (roots != np.arange(n)), bits, -1)
    np.testing.assert_array_equal(got, expect)
    assert (got[~copied] == -1).all() and (got[:1000] == -1).all()  # roots: -1 too
    late = np.arange(1 << 16, n)
    assert (got[late[copied[late] & (late % 3 > 0)]] > 0).all()
    assert (got[late[late % 3 == 0]] == -1).all()


# --------------------------------------------------------------------------- clear_copies


def _clear_copies_plain(desc, motion, a, b, d, k) -> list[bool]:
    """RUN_EXCESS / RUN_RATIO by their comments: a run is a copy when its median gap is
    within RUN_EXCESS times the video's noise (the median gap over all runs' pairs, at
    least FLOOR), and on a quarter of its frames its frames move RUN_RATIO times more
    than the pair differs."""
    floor = settings.levels(FLOOR, k)
    runs = list(zip(a, b, d, strict=True))
    gaps = [[ref.gap(desc, x, x + dd, k) for x in range(aa, bb)] for aa, bb, dd in runs]
    noise = max(float(np.median(np.concatenate(gaps))), floor)
    out = []
    for (aa, bb, dd), g in zip(runs, gaps, strict=True):
        moves = [max(motion[x], motion[x + dd]) for x in range(aa, bb)]
        ratios = np.array(moves) / np.maximum(np.array(g), floor)
        out.append(np.median(g) <= RUN_EXCESS * noise and np.percentile(ratios, 75) >= RUN_RATIO)
    return out


def _runs_desc(gap_by_run, n=400, seed=3):
    """Four runs a = 40r .. 40r + 20 -> + 200 whose pairs differ by exactly
    ``gap_by_run[r]`` (a sum over the 6 worst cells: the gap spread over 6 cells), the
    frames otherwise unrelated."""
    rng = np.random.default_rng(seed)
    desc = rng.integers(60, 190, (n, CELLS)).astype(np.int64)
    a = np.array([40 * r for r in range(len(gap_by_run))])
    b, d = a + 20, np.full(len(a), 200)
    for aa, bb, dd, g in zip(a, b, d, gap_by_run, strict=True):
        desc[aa + dd : bb + dd] = desc[aa:bb]
        desc[aa + dd : bb + dd, :6] += g // 6 + (np.arange(6) < g % 6)
    return desc.astype(np.uint8), a, b, d


def _judge_with_motion(desc, motion):
    return Judge(desc, np.ones(len(desc), bool), 6, 6, FPS, _motion=np.asarray(motion, np.int32))


def test_clear_copies_median_gap_against_the_videos_noise():
    k = 6
    noise = settings.levels(1.0, k)  # three copies at 1 level a cell: the video's noise
    ok_gap = math.floor(RUN_EXCESS * noise)  # a gap RUN_EXCESS times the noise at most
    bad_gap = ok_gap + 1
    # the frames move far more than any pair differs: only the gap can decide
    motion = np.full(400, math.ceil(2 * RUN_RATIO * bad_gap))
    for suspect, verdict in ((ok_gap, True), (bad_gap, False)):
        desc, a, b, d = _runs_desc([noise, noise, noise, suspect])
        assert ref.gap(desc, a[3], a[3] + d[3], k) == suspect
        judge = _judge_with_motion(desc, motion)
        got = judge.clear_copies(a, b, d).tolist()
        assert got == [True, True, True, verdict]
        assert got == _clear_copies_plain(desc, motion, a, b, d, k)
    # the noise is the video's: where every run differs that much, all are copies
    desc, a, b, d = _runs_desc([bad_gap] * 4)
    assert _judge_with_motion(desc, motion).clear_copies(a, b, d).all()
    # and it is at least FLOOR: copies that differ by nothing do not make it zero
    desc, a, b, d = _runs_desc([0, 0, 0, ok_gap])
    assert _judge_with_motion(desc, motion).clear_copies(a, b, d)[3]
    assert _judge_with_motion(desc, motion).clear_copies(a[:0], b[:0], d[:0]).shape == (0,)


def test_clear_copies_needs_a_quarter_of_frames_moving():
    k = 6
    gap = settings.levels(1.0, k)
    desc, a, b, d = _runs_desc([gap] * 4)
    fast = math.ceil(RUN_RATIO * gap)  # exactly RUN_RATIO times the gap moves enough
    base = np.full(400, 2 * fast)
    x = np.arange(a[3], b[3])  # the last run's 20 frames
    for moving, verdict in ((6, True), (4, False), (20, True), (0, False)):
        motion = base.copy()
        motion[x], motion[x + d[3]] = 0, 0
        motion[x[:moving]] = fast  # on one side of the pair is enough
        got = _judge_with_motion(desc, motion).clear_copies(a, b, d).tolist()
        assert got == [True, True, True, verdict], moving  # 30%, 20%, all, none
        assert got == _clear_copies_plain(desc, motion, a, b, d, k)
    motion = base.copy()
    motion[x], motion[x + d[3]] = fast - 1, fast - 1  # just short of RUN_RATIO everywhere
    assert not _judge_with_motion(desc, motion).clear_copies(a, b, d)[3]
    # a pair that differs by less than FLOOR is measured against FLOOR
    desc, a, b, d = _runs_desc([gap, gap, gap, 1])
    motion = base.copy()
    motion[x], motion[x + d[3]] = fast - 1, fast - 1
    assert not _judge_with_motion(desc, motion).clear_copies(a, b, d)[3]


def test_clear_copies_matches_plain_rule_on_random_runs():
    rng = np.random.default_rng(4)
    for _ in range(10):
        gaps = rng.integers(0, 36, 4).tolist()
        desc, a, b, d = _runs_desc(gaps, seed=int(rng.integers(1000)))
        motion = rng.integers(-1, 80, 400)
        got = _judge_with_motion(desc, motion).clear_copies(a, b, d).tolist()
        assert got == _clear_copies_plain(desc, motion, a, b, d, 6)


# --------------------------------------------------------------------------- _own_diagonals


def _own_plain(ra, rb, rd, votes, reach) -> list[bool]:
    """A run stands unless a run on another diagonal at most ``reach`` away overlaps
    it in time and beats it: more votes, then longer, then listed first."""
    keep = []
    for i in range(len(ra)):
        beaten = any(
            j != i
            and rd[j] != rd[i]
            and abs(rd[j] - rd[i]) <= reach
            and ra[j] < rb[i]
            and rb[j] > ra[i]
            and (votes[j], rb[j] - ra[j], -j) > (votes[i], rb[i] - ra[i], -i)
            for j in range(len(ra))
        )
        keep.append(not beaten)
    return keep


def _own(runs, votes, reach=4):
    ra, rb, rd = (np.array(c, np.int64) for c in zip(*runs, strict=True))
    return loops._own_diagonals(ra, rb, rd, np.array(votes), reach).tolist()


def test_own_diagonals_the_better_voted_run_stands():
    copy, beside = (0, 50, 100), (10, 60, 102)
    assert _own([copy, beside], [40, 10]) == [True, False]
    assert _own([copy, beside], [10, 40]) == [False, True]  # flip the votes, flip the verdict
    # within reach (4) or not
    assert _own([copy, (10, 60, 104)], [40, 10]) == [True, False]
    assert _own([copy, (10, 60, 105)], [40, 10]) == [True, True]
    assert _own([copy, (10, 60, 96)], [40, 10]) == [True, False]
    # runs that do not overlap in time (touching is not overlapping), or share a diagonal
    assert _own([copy, (50, 60, 102)], [40, 10]) == [True, True]
    assert _own([copy, (10, 60, 100)], [40, 10]) == [True, True]
    # equal votes: the longer stands; equal length too: the one listed first
    assert _own([copy, (0, 40, 102)], [5, 5]) == [True, False]
    assert _own([(0, 40, 100), (0, 50, 102)], [5, 5]) == [False, True]
    assert _own([(0, 50, 102), (0, 50, 100)], [5, 5]) == [True, False]
    assert loops._own_diagonals(*(np.zeros(0, np.int64),) * 4, 4).shape == (0,)


def test_own_diagonals_match_plain_rule():
    rng = np.random.default_rng(5)
    for _ in range(30):
        m = int(rng.integers(1, 25))
        ra = rng.integers(0, 200, m)
        rb = ra + rng.integers(1, 60, m)
        rd = rng.integers(50, 80, m)
        votes = rng.integers(-5, 20, m)
        reach = int(rng.integers(0, 9))
        got = loops._own_diagonals(ra, rb, rd, votes, reach).tolist()
        assert got == _own_plain(ra, rb, rd, votes, reach)


# --------------------------------------------------------------------------- _best_step


def _best_plain(node, count, gap, m):
    best = np.full(m, -1)
    for u in range(m):
        mine = [i for i in range(len(node)) if node[i] == u]
        if mine:
            best[u] = min(mine, key=lambda i: (-count[i], gap[i], i))
    return best


def test_best_step_most_seen_then_smallest_change():
    node = np.array([0, 0, 0, 1, 1, 3])
    count = np.array([2, 3, 3, 1, 1, 7])
    gap = np.array([50, 90, 10, 5, 5, 0])
    # class 0: steps 1 and 2 are seen 3 times, step 2 changes the picture less;
    # class 1: a full tie, the first listed; class 2 has no step
    assert loops._best_step(node, count, gap, 4).tolist() == [2, 3, -1, 5]
    count[0] = 4  # now step 0 is the most seen, whatever its change
    assert loops._best_step(node, count, gap, 4).tolist() == [0, 3, -1, 5]
    rng = np.random.default_rng(6)
    for _ in range(30):
        size, m = int(rng.integers(1, 60)), int(rng.integers(1, 15))
        node = rng.integers(0, m, size)
        count = rng.integers(1, 4, size)
        gap = rng.integers(0, 5, size)
        got = loops._best_step(node, count, gap, m)
        np.testing.assert_array_equal(got, _best_plain(node, count, gap, m))


# --------------------------------------------------------------------------- _late_cut_pieces


def _late_plain(runs, cuts, min_len):
    first, late = [], []
    for a, b, d in runs:
        inner = [x for x in range(a + 1, b) if cuts[x] and cuts[x + d]]
        bounds = [a, *inner, b]
        for s, e in itertools.pairwise(bounds):
            # every piece of a run cut somewhere has a both-sides cut at one of its ends
            (late if inner and e - s < min_len else first).append((s, e, d))
    return first + late


def _late(runs, cuts, min_len):
    ra, rb, rd = (np.array(c, np.int64) for c in zip(*runs, strict=True))
    pa, pb, pd = loops._late_cut_pieces(ra, rb, rd, cuts, min_len)
    return list(zip(pa.tolist(), pb.tolist(), pd.tolist(), strict=True))


def test_late_cut_pieces_short_pieces_at_a_cut_go_last():
    cuts = np.zeros(200, bool)
    runs = [(0, 40, 100), (50, 55, 100)]
    cuts[[10, 110]] = True  # both sides of the first run cut at frame 10
    assert _late(runs, cuts, 15) == [(10, 40, 100), (50, 55, 100), (0, 10, 100)]
    # a long enough piece keeps its place
    assert _late(runs, cuts, 10) == [(0, 10, 100), (10, 40, 100), (50, 55, 100)]
    cuts[110] = False  # one side only: no split
    assert _late(runs, cuts, 15) == [(0, 40, 100), (50, 55, 100)]
    # a cut at the run's first frame is outside it (between a - 1 and a)
    cuts[[0, 100]] = True
    assert _late(runs, cuts, 15) == [(0, 40, 100), (50, 55, 100)]
    rng = np.random.default_rng(7)
    for _ in range(30):
        cuts = rng.random(300) < 0.08
        runs = []
        for _ in range(int(rng.integers(1, 8))):
            a = int(rng.integers(0, 150))
            runs.append((a, a + int(rng.integers(1, 40)), int(rng.integers(1, 100))))
        min_len = int(rng.integers(1, 20))
        assert _late(runs, cuts, min_len) == _late_plain(runs, cuts, min_len)


# --------------------------------------------------------------------------- search's run filter


def test_search_keeps_runs_long_and_specific_enough(monkeypatch):
    frames = ref.smooth_footage(200, 24, seed=8)
    h, c, dsc = hash_frames(frames)
    fp = Fingerprint(h, np.arange(200) / FPS, c, 24, dsc, info={"fps": FPS})
    piece = piece_frames(FPS)

    def least(length):  # SPECIFIC_SHARE of the frames, and MIN_SPECIFIC
        return max(MIN_SPECIFIC, math.ceil(_exact(SPECIFIC_SHARE) * length))

    # (a, b, specific frames, kept?)
    runs = [
        (0, piece - 1, piece - 1, False),  # shorter than a piece
        (10, 10 + piece, least(piece), True),
        (20, 20 + piece, least(piece) - 1, False),
        (30, 70, least(40), True),
        (30, 70, least(40) - 1, False),
        (40, 140, least(100), True),
        (40, 140, least(100) - 1, False),
    ]
    a = np.array([r[0] for r in runs], np.int64)
    b = np.array([r[1] for r in runs], np.int64)
    spec = np.array([r[2] for r in runs], np.int64)
    d = np.full(len(runs), 50, np.int64)
    at = np.cumsum(b - a) - (b - a)  # where each run's gaps start among them all
    gaps = np.zeros(int((b - a).sum()), np.int16)
    monkeypatch.setattr(Judge, "propose", lambda *args: (a, b, d, spec, spec * 6, at, gaps))
    judged = []

    def spy(self, ra, rb, rd, walked=None):
        judged.append((ra.tolist(), rb.tolist()))
        return np.zeros(len(ra), bool)

    monkeypatch.setattr(Judge, "clear_copies", spy)
    found = loops.search(fp)
    keep = [r[3] for r in runs]
    assert judged == [(a[keep].tolist(), b[keep].tolist())]
    assert found.loops == [] and len(found.proposed["a"]) == len(runs)


# --------------------------------------------------------------------------- footage_loops


def _played(parts, seed=9, noise=2):
    """A fingerprint of footage F (smooth, never repeating) cut into ``parts``:
    (start, stop) ranges of F, the later plays of a range with +-noise levels."""
    frames = ref.smooth_footage(700, 24, seed=seed)
    rng = np.random.default_rng(seed)
    seen, video = set(), []
    for s, e in parts:
        part = frames[s:e].astype(np.int16)
        if any(s < e2 and s2 < e for s2, e2 in seen):
            part = part + rng.integers(-noise, noise + 1, part.shape)
        seen.add((s, e))
        video.append(np.clip(part, 0, 255).astype(np.uint8))
    video = np.concatenate(video)
    h, c, desc = hash_frames(video)
    return Fingerprint(h, np.arange(len(video)) / FPS, c, 24, desc, info={"fps": FPS})


def _short_beside_layout(short, between):
    """F[0:60] played at 0, unrelated footage, F[0:60] again at 90, ``between``
    unrelated frames, then ``short`` frames F[10:10 + short] (the runs that join them:
    delta 90, and delta from 10 to the short stretch)."""
    parts = [(0, 60), (100, 130), (0, 60), (200, 200 + between), (10, 10 + short), (300, 344)]
    fp = _played(parts)
    at = 150 + between
    runs = (np.array([0, 10]), np.array([60, 10 + short]), np.array([90, at - 10]))
    return fp, runs, at


@pytest.mark.parametrize("between_extra", [0, 1])
@pytest.mark.parametrize("short_extra", [-1, 0])
def test_footage_loops_drop_a_short_stretch_beside_another_play(short_extra, between_extra):
    piece = piece_frames(FPS)
    short, between = piece + short_extra, piece + between_extra
    fp, (ra, rb, rd), at = _short_beside_layout(short, between)
    judge = Judge.for_fingerprint(fp, FLAT_CONTRAST)
    min_len = settings.frames_for(settings.MIN_LENGTH_S, FPS)
    found = footage_loops(fp, ra, rb, rd, min_len, judge)
    # a stretch shorter than a piece within a piece of another play is no play
    dropped = short < piece and between <= piece
    plays = [(0, 60, 0), (90, 60, 0)] + ([] if dropped else [(at, short, 10)])
    assert len(found) == 1
    lp = found[0]
    assert [(o.start_frame, o.length_frames, o.offset_frames) for o in lp.occurrences] == plays
    assert lp.length_frames == 60 and lp.length_s == pytest.approx(60 / FPS)
    assert lp.occurrences[1].start_s == pytest.approx(90 / FPS)
    # the mean Hamming distance of the later plays' frames to the first play's
    later = [(90 + i, i) for i in range(60)]
    if not dropped:
        later += [(at + i, 10 + i) for i in range(short)]
    dist = [
        int(np.unpackbits((fp.hashes[x] ^ fp.hashes[y]).view(np.uint8)).sum()) for x, y in later
    ]
    assert lp.mean_distance == pytest.approx(np.mean(dist))
    assert lp.mean_distance > 0  # the noise of the later plays shows


def test_footage_loops_min_length_and_offsets():
    # F[0:60] at 0; F[5:60] at 90 (a play trimmed 5 frames); F[0:40] at 175
    fp = _played([(0, 60), (100, 130), (5, 60), (200, 230), (0, 40), (300, 340)])
    ra, rb, rd = np.array([5, 0]), np.array([60, 40]), np.array([85, 175])
    judge = Judge.for_fingerprint(fp, FLAT_CONTRAST)
    (lp,) = footage_loops(fp, ra, rb, rd, 60, judge)
    occ = [(o.start_frame, o.length_frames, o.offset_frames) for o in lp.occurrences]
    assert occ == [(0, 60, 0), (90, 55, 5), (175, 40, 0)]
    assert lp.frames == 155 and lp.period_frames == int(np.median([90, 85]))
    # footage of 60 frames is no loop when loops must be 61 frames long
    assert footage_loops(fp, ra, rb, rd, 61, judge) == []


def test_end_time_and_occurrence_bounds():
    fp = Fingerprint(
        np.zeros((3, 9), np.uint64), np.array([0.0, 0.04, 0.08]), np.ones(3, np.uint8), 24,
        info={"fps": 25.0},
    )  # fmt: skip
    assert loops.end_time(fp, 1) == pytest.approx(0.04)
    assert loops.end_time(fp, 3) == pytest.approx(0.08 + 1 / 25)
    o = Occurrence(10, 0.4, 5, 2)
    assert o.stop_frame == 15 and o.to_dict()["offset_frames"] == 2
    lp = Loop(5, 0.2, 1.0, (Occurrence(0, 0, 5), Occurrence(30, 1, 5), Occurrence(50, 2, 5)))
    assert lp.period_frames == 25 and lp.frames == 15
    assert Loop(5, 0.2, 0.0, (o,)).period_frames == 0
