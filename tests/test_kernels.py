"""Every numba kernel against its plain numpy reference in tests/reference.py."""

import collections
import hashlib
import itertools
import math

import imagehash
import numpy as np
import pytest
from PIL import Image

import fastloop
from fastloop import kernels
from fastloop.hashers import AverageHash
from fastloop.hashing import hash_frames
from fastloop.index import exact_buckets, group_ids

from . import reference as ref

SIZES = [4, 7, 8, 12, 16, 20, 24, 32, 48, 64]


@pytest.mark.parametrize("size", SIZES)
def test_ahash_matches_reference_on_random_frames(size):
    rng = np.random.default_rng(size)
    frames = rng.integers(0, 256, (50, size, size), dtype=np.uint8)
    np.testing.assert_array_equal(fastloop.ahash(frames), ref.ahash(frames))


@pytest.mark.parametrize("size", [8, 24])
def test_ahash_edge_cases(size):
    zero = np.zeros((0, size, size), np.uint8)
    assert fastloop.ahash(zero).shape == (0, (size * size + 63) // 64)
    flat = np.stack(
        [np.full((size, size), v, np.uint8) for v in (0, 255, 17)]
        + [np.eye(size, dtype=np.uint8) * 255]
    )
    got, contrast, _ = hash_frames(flat)
    np.testing.assert_array_equal(got, ref.ahash(flat))
    assert not got[:3].any(), "flat frames must hash to all zeros"
    assert contrast.tolist() == [0, 0, 0, 255]
    one = flat[3:4]
    np.testing.assert_array_equal(fastloop.ahash(one), ref.ahash(one))


def test_ahash_strict_mean_in_integers():
    # a pixel equal to the mean gives bit 0 (imagehash's strict ``>``); the kernel
    # compares N*N*pixel with the sum, so there is no float rounding to get wrong
    f = np.array([[10, 20, 30, 40]], np.uint8)  # 2x2, mean 25: bits 0011
    g = np.array([[25, 25, 25, 29]], np.uint8)  # mean 26: only 29 is above
    out = np.empty((2, 1), np.uint64)
    contrast = np.empty(2, np.uint8)
    desc = np.empty((2, 4), np.uint8)
    kernels._ahash_batch(np.concatenate([f, g]), out, contrast, desc, 1)
    assert out[:, 0].tolist() == [0b0011 << 60, 0b0001 << 60]
    frames = np.full((1, 4, 4), 25, np.uint8)
    frames[0, 3, 3] = 41  # sum 416 = 16 * 26: 25 < 26 < 41
    assert fastloop.ahash(frames)[0, 0] == np.uint64(1 << 48)


def test_ahash_8x8_equals_imagehash():
    rng = np.random.default_rng(8)
    frames = rng.integers(0, 256, (40, 8, 8), dtype=np.uint8)
    frames[0] = 0
    frames[1, :, :4] = 200
    got = fastloop.ahash(frames)
    for f, h in zip(frames, got, strict=True):
        expect = str(imagehash.average_hash(Image.fromarray(f), hash_size=8))
        assert f"{int(h[0]):016x}" == expect


def test_ahash_validates_input():
    with pytest.raises(TypeError, match="uint8"):
        fastloop.ahash(np.zeros((1, 8, 8), np.float32))
    with pytest.raises(ValueError, match="shape"):
        fastloop.ahash(np.zeros((1, 8, 9), np.uint8))
    with pytest.raises(ValueError, match="between 4 and 64"):
        fastloop.ahash(np.zeros((1, 3, 3), np.uint8))


def test_hamming_matches_reference_and_broadcasts():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 2**63, (30, 9), dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, (30, 9), dtype=np.uint64)
    np.testing.assert_array_equal(fastloop.hamming(a, b), ref.hamming(a, b))
    np.testing.assert_array_equal(
        fastloop.hamming(a, b[0]), ref.hamming(a, np.broadcast_to(b[0], a.shape))
    )
    assert fastloop.hamming(a[0], a[0]) == 0
    full = np.full((1, 2), np.iinfo(np.uint64).max, np.uint64)
    assert fastloop.hamming(full, np.zeros_like(full))[0] == 128
    with pytest.raises(ValueError, match="words"):
        fastloop.hamming(a, b[:, :3])
    with pytest.raises(TypeError):
        fastloop.hamming(a.astype(np.int64), b)


def test_group_ids_match_dict_reference_and_grow():
    rng = np.random.default_rng(2)
    keys = rng.integers(0, 40, (5000, 3)).astype(np.uint64)  # many repeats
    ids, count = group_ids(keys)
    np.testing.assert_array_equal(ids, ref.group_ids(keys))
    assert count == len(set(map(tuple, keys.tolist())))
    # a table that starts tiny must grow and give the same answer
    ids2, count2 = kernels._group_ids(np.ascontiguousarray(keys), 16)
    np.testing.assert_array_equal(ids2, ids)
    assert count2 == count


def test_group_ids_full_compare_on_colliding_slots():
    # keys that differ only in the last word still land in different groups
    keys = np.zeros((6, 9), np.uint64)
    keys[1::2, 8] = 1
    ids, count = group_ids(keys)
    assert count == 2 and ids.tolist() == [0, 1, 0, 1, 0, 1]
    assert group_ids(np.empty((0, 9), np.uint64))[1] == 0


def test_buckets_csr_is_a_stable_counting_sort():
    rng = np.random.default_rng(3)
    for keys in (
        rng.integers(0, 7, (3000, 1)),  # few large groups
        rng.integers(0, 2000, (3000, 1)),  # mostly distinct
        np.zeros((1, 1)),
    ):
        ids, count = kernels._group_ids(np.ascontiguousarray(keys, np.uint64), 16)
        assert ids.dtype == np.int32
        start, order = kernels._buckets_csr(ids, count)
        # int32 (half of int64: the proposals sort a day of frames once per key)
        assert start.dtype == np.int32 and order.dtype == np.int32
        expect = np.concatenate(([0], np.cumsum(np.bincount(ids, minlength=count))))
        np.testing.assert_array_equal(start, expect)
        np.testing.assert_array_equal(order, np.argsort(ids, kind="stable"))
    start, order = kernels._buckets_csr(np.empty(0, np.int32), 0)
    assert start.tolist() == [0] and len(order) == 0


def test_group_keys_match_group_ids_of_the_key_columns():
    # the proposals group each key column without storing it: hash words and motion keys
    rng = np.random.default_rng(5)
    desc = _random_desc(n=400, cells=16, seed=5)  # keys repeated, distinct, and none (0)
    valid = np.ones(len(desc), bool)
    cells = np.empty((len(desc), 6), np.uint16)
    for i, span in enumerate((3, 6)):
        kernels._motion_cells(desc, valid, span, 8, cells[:, 3 * i : 3 * i + 3])
    base = 2 * desc.shape[1] + 1
    keys = np.empty((len(desc), 8), np.uint64)
    kernels._motion_keys(cells, base, keys)
    hashes = rng.integers(0, 30, (len(desc), 2)).astype(np.uint64)
    for w in range(2 + 8):
        which = -1 if w < 2 else (w - 2) % 4
        span = 3 * ((w - 2) // 4) if w >= 2 else 0
        column = hashes[:, w] if w < 2 else keys[:, w - 2]
        for cap in (16, 4096):  # a table that grows, and one that does not
            ids, count = kernels._group_keys(hashes, cells[:, span : span + 3], w, which, base, cap)
            expect, ecount = kernels._group_ids(np.ascontiguousarray(column[:, None]), cap)
            np.testing.assert_array_equal(ids, expect)
            assert count == ecount and ids.dtype == np.int32


def _bits(flags):
    """uint64 bitset of a bool array, as ``_propose_state`` keeps them."""
    words = np.zeros((len(flags) + 63) // 64, np.uint64)
    for x in np.flatnonzero(flags):
        words[x >> 6] |= np.uint64(1) << np.uint64(x & 63)
    return words


def test_open_buckets_are_the_buckets_that_hold_an_open_frame():
    # the seeds of _propose_key come from buckets with a frame neither tied nor gone; the
    # restricted grouping must give exactly those, members and order alike
    rng = np.random.default_rng(6)
    n = 700  # not a multiple of 64: the last word's spare bits are no frames
    desc = _random_desc(n=n, cells=16, seed=6)
    cells = np.empty((n, 3), np.uint16)
    kernels._motion_cells(desc, np.ones(n, bool), 3, 8, cells)
    hashes = rng.integers(0, 40, (n, 1)).astype(np.uint64)
    hashes[rng.random(n) < 0.1] = 0  # no key
    base = 2 * desc.shape[1] + 1
    for share in (0.0, 0.01, 0.3, 1.0):
        tied = rng.random(n) >= share
        gone = rng.random(n) < 0.05
        tb, gb = _bits(tied), _bits(gone)
        assert kernels._open_frames(tb, gb, n) == int((~tied & ~gone).sum())
        for w, which in ((0, -1), (1, 0), (2, 2)):
            ids, count = kernels._group_keys(hashes, cells, w, which, base, 16)
            start, order = kernels._buckets_csr(ids, count)
            keys = np.array([kernels._key_of(hashes, cells, w, which, base, x) for x in range(n)])
            want = []
            for g in range(count):
                members = order[start[g] : start[g + 1]]
                if keys[members[0]] != 0 and (~tied[members] & ~gone[members]).any():
                    want.append(members.tolist())
            got_start, got_order = kernels._open_buckets(hashes, cells, w, which, base, tb, gb)
            got = [
                got_order[got_start[g] : got_start[g + 1]].tolist()
                for g in range(len(got_start) - 1)
            ]
            assert got == want, (share, w)
            assert (len(want) > 0) == (share > 0.0)


def test_motion_cells_and_cuts_in_pieces_equal_the_whole():
    # a day is judged in pieces on several cores: every piece must give what the
    # whole does, ties between equal changes included (coarse levels)
    desc = _random_desc(n=300, cells=36, seed=12)
    coarse = (desc // 8 * 8).astype(np.uint8)
    valid = np.ones(len(desc), bool)
    valid[[40, 41, 200]] = False
    for d in (desc, coarse):
        whole, near = np.empty(len(d), np.int64), np.empty(len(d), np.int64)
        kernels._motion(d, valid, 4, 3, whole, near)
        np.testing.assert_array_equal(whole, ref.motion(d, valid, 4, 3))
        np.testing.assert_array_equal(near, ref.near(d, valid, 4, 3))
        cells = np.empty((len(d), 3), np.uint16)
        kernels._motion_cells(d, valid, 4, 8, cells)
        for x, c in enumerate(ref.motion_cells(d, valid, 4, 8)):
            assert cells[x].tolist() == (sorted(c) if c else [kernels._NO_CELL] * 3), x
        cuts = np.zeros(len(d), bool)
        kernels._cuts(d, valid, 3, 40, cuts)
        np.testing.assert_array_equal(cuts, ref.cuts(d, valid, 3, 40))
        assert 0 < cuts.sum() < len(d) - 10  # cuts and not
        for bounds in ([0, 1, 17, 150, 300], [0, 299, 300], [0, 5, 41, 42, 300]):
            parts = np.full(len(d), -7, np.int64)
            pnear = np.full(len(d), -7, np.int64)
            pc = np.zeros((len(d), 3), np.uint16)
            pcuts = np.ones(len(d), bool)
            for lo, hi in itertools.pairwise(bounds):
                kernels._motion(d, valid, 4, 3, parts, pnear, lo, hi)
                kernels._motion_cells(d, valid, 4, 8, pc, lo, hi)
                kernels._cuts(d, valid, 3, 40, pcuts, lo, hi)
            np.testing.assert_array_equal(parts, whole)
            np.testing.assert_array_equal(pnear, near)
            np.testing.assert_array_equal(pc, cells)
            np.testing.assert_array_equal(pcuts, cuts)


def test_class_steps_match_unique_of_the_step_keys():
    rng = np.random.default_rng(7)
    for m in (1, 5, 40):
        node = rng.integers(-1, m, 300).astype(np.int32)  # -1: a frame not copied
        node[100:200] = np.arange(100) % m  # a clip played again and again
        pu, pv, count = kernels._class_steps(node, m)
        u, v = node[:-1].astype(np.int64), node[1:].astype(np.int64)
        step = (u >= 0) & (v >= 0) & (u != v)
        pairs, expect = np.unique(u[step] * m + v[step], return_counts=True)
        np.testing.assert_array_equal(pu, pairs // m)
        np.testing.assert_array_equal(pv, pairs % m)
        np.testing.assert_array_equal(count, expect)
        assert pu.dtype == pv.dtype == count.dtype == np.int64
    for node, m in ((np.full(9, -1, np.int32), 0), (np.zeros(5, np.int32), 1)):
        assert [len(x) for x in kernels._class_steps(node, m)] == [0, 0, 0]


def test_group_ids_keep_int64_in_the_public_wrapper():
    ids, count = group_ids(np.array([[3], [1], [3]], np.uint64))
    assert ids.dtype == np.int64 and ids.tolist() == [0, 1, 0] and count == 2
    assert group_ids(np.empty((0, 1), np.uint64))[0].dtype == np.int64


def test_stretch_sums_match_running_sums():
    rng = np.random.default_rng(4)
    n = 500
    dist = rng.integers(-1, 40, n).astype(np.int16)  # -1: no distance
    bounds = np.sort(rng.choice(np.arange(1, n), 60, replace=False))
    starts, ends = bounds[0::2].copy(), bounds[1::2].copy()
    ends[-1] = n  # a stretch that runs to the last frame
    total, count = kernels._stretch_sums(dist, starts, ends)
    known = dist >= 0
    csum = np.concatenate(([0], np.cumsum(np.where(known, dist, 0), dtype=np.int64)))
    ccount = np.concatenate(([0], np.cumsum(known, dtype=np.int64)))
    np.testing.assert_array_equal(total, csum[ends] - csum[starts])
    np.testing.assert_array_equal(count, ccount[ends] - ccount[starts])
    assert total.dtype == np.int64 and count.dtype == np.int64
    empty = np.empty(0, np.int64)
    assert [len(x) for x in kernels._stretch_sums(dist, empty, empty)] == [0, 0]


def test_exact_buckets():
    h = np.array([[5], [1], [5], [2], [1], [5]], np.uint64)
    assert [b.tolist() for b in exact_buckets(h)] == [[0, 2, 5], [1, 4]]
    assert [b.tolist() for b in exact_buckets(h, min_size=3)] == [[0, 2, 5]]
    assert exact_buckets(np.empty((0, 1), np.uint64)) == []
    assert all(b.dtype == np.int64 for b in exact_buckets(h))


def test_frame_roots_match_relaxation():
    rng = np.random.default_rng(6)
    n = 200
    runs = [
        (int(a), int(a + rng.integers(1, 30)), int(rng.integers(5, 80)))
        for a in rng.integers(0, 150, 12)
    ]
    a = np.array([r[0] for r in runs])
    b = np.array([r[1] for r in runs])
    d = np.array([r[2] for r in runs])
    roots, size = kernels._frame_roots(n, a, b, d, 0)
    expect = ref.frame_roots(n, runs)
    np.testing.assert_array_equal(roots, expect)
    np.testing.assert_array_equal(size, np.bincount(expect, minlength=n)[expect])


def test_frame_roots_refuse_a_class_with_frames_closer_than_a_copy():
    # frames 100..139 copy 0..39 (delta 100); a stray pair joins frame 5 to frame 107,
    # which would put 5 and 7 (two pictures 2 frames apart) in one class: refused
    a, b, d = np.array([0, 5]), np.array([40, 6]), np.array([100, 102])
    roots, size = kernels._frame_roots(200, a, b, d, 30)
    assert roots[100:140].tolist() == list(range(40))
    assert roots[5] == 5 and size[5] == 2
    loose, _ = kernels._frame_roots(200, a, b, d, 0)
    assert loose[7] == loose[5]  # without the check the pictures merge


@pytest.mark.parametrize("size", SIZES)
def test_descriptor_matches_reference(size):
    rng = np.random.default_rng(100 + size)
    frames = rng.integers(0, 256, (20, size, size), dtype=np.uint8)
    frames[0] = 255
    np.testing.assert_array_equal(hash_frames(frames)[2], ref.describe(frames))


def test_hash_frames_into_given_rows_writes_what_it_returns(tmp_path):
    # a scan hands the hasher the stretch of its rows a batch goes to (views of
    # larger arrays, a memory-mapped one among them): the same rows as made anew,
    # and nothing written outside the stretch
    rng = np.random.default_rng(17)
    frames = rng.integers(0, 256, (30, 24, 24), dtype=np.uint8)
    want = hash_frames(frames)
    big = (np.zeros((50, 9), np.uint64), np.zeros(50, np.uint8), np.zeros((50, 144), np.uint8))
    views = tuple(a[10:40] for a in big)
    got = hash_frames(frames, views)
    for g, v, w, a in zip(got, views, want, big, strict=True):
        assert g is v
        np.testing.assert_array_equal(v, w)
        assert not a[:10].any() and not a[40:].any()
    spilled = np.memmap(tmp_path / "desc", np.uint8, "w+", shape=(40, 144))
    AverageHash(24).hash_into(frames.reshape(30, -1), (big[0][:30], big[1][:30], spilled[5:35]))
    np.testing.assert_array_equal(spilled[5:35], want[2])
    # arrays of the wrong shape or type are refused, not written past
    with pytest.raises(ValueError, match="desc"):
        hash_frames(frames, (views[0], views[1], np.zeros((30, 100), np.uint8)))
    with pytest.raises(ValueError, match="hashes"):
        hash_frames(frames, (views[0].astype(np.int64), views[1], views[2]))


def _random_desc(n=120, cells=144, seed=9):
    rng = np.random.default_rng(seed)
    desc = np.cumsum(rng.integers(-6, 7, (n, cells)), axis=0) + 128
    return np.clip(desc, 0, 255).astype(np.uint8)


def test_gap_and_motion_match_reference():
    desc = _random_desc()
    valid = np.ones(len(desc), bool)
    valid[[5, 40]] = False
    top = kernels.scratch(desc.shape[1])
    # ties at the k-th level (coarse steps), the whole row (k = cells), one cell
    coarse = (desc // 16 * 16).astype(np.uint8)
    for d in (desc, coarse):
        for k in (1, 6, d.shape[1]):
            for x, y in [(0, 1), (3, 90), (50, 50), (10, 119), (7, 8)]:
                assert kernels._gap(d, x, y, k, top) == ref.gap(d, x, y, k)
    out, near = np.empty(len(desc), np.int64), np.empty(len(desc), np.int64)
    kernels._motion(desc, valid, 6, 6, out, near)
    np.testing.assert_array_equal(out, ref.motion(desc, valid, 6, 6))
    np.testing.assert_array_equal(near, ref.near(desc, valid, 6, 6))


def test_gap_of_any_width_and_layout_matches_reference():
    # the gap runs in vector steps of 64 and 16 cells and a plain rest: widths at and
    # around each step, differences of 0 and 255 (the saturating ends), many ties,
    # and a descriptor that is not one block of memory (the plain path)
    rng = np.random.default_rng(31)
    for cells in (1, 5, 15, 16, 17, 63, 64, 65, 80, 127, 128, 144, 150, 200, 256):
        desc = rng.integers(0, 256, (6, cells)).astype(np.uint8)
        desc[1] = 255 - desc[0]
        desc[2] = np.where(rng.random(cells) < 0.5, 0, 255)
        desc[3] = desc[0] // 64 * 64  # four levels: ties at the k-th
        desc[4] = 0
        desc[5] = 255
        strided = np.repeat(desc, 2, axis=1)[:, ::2]
        assert not strided.flags.c_contiguous
        top = kernels.scratch(cells)
        for d in (desc, strided):
            for k in sorted({1, 2, 6, cells // 2 or 1, cells}):
                for x in range(6):
                    for y in range(6):
                        g = ref.gap(desc, x, y, k)
                        assert kernels._gap(d, x, y, k, top) == g, (cells, k, x, y)
                        for t in (g - 1, g, g + 1):
                            assert kernels._gap_at_least(d, x, y, k, top, t) == (g >= t)


def test_gap_at_least_is_the_gap_compared():
    # the judge asks whether a neighbour is at least t away, mostly without the gap;
    # every threshold from below zero to above any gap, ties at the k-th level too
    desc = _random_desc()
    coarse = (desc // 16 * 16).astype(np.uint8)
    top = kernels.scratch(desc.shape[1])
    for d in (desc, coarse):
        for k in (1, 6, d.shape[1]):
            for x, y in [(0, 1), (3, 90), (50, 50), (10, 119), (7, 8)]:
                g = ref.gap(d, x, y, k)
                for t in sorted({-5, 0, 1, g - 1, g, g + 1, g // 2, 2 * g + 3, 255 * k + 1}):
                    assert kernels._gap_at_least(d, x, y, k, top, t) == (g >= t), (k, x, y, t)


def test_motion_keys_match_the_three_strongest_cells():
    desc = _random_desc(seed=10)
    desc[60:70] = desc[20:30]  # a copy: the same motion, so the same keys
    valid = np.ones(len(desc), bool)
    valid[33] = False
    got = np.empty((len(desc), 3), np.uint16)
    kernels._motion_cells(desc, valid, 3, 12, got)
    cells = ref.motion_cells(desc, valid, 3, 12)
    for x, c in enumerate(cells):
        want = sorted(c) if c is not None else [kernels._NO_CELL] * 3
        assert got[x].tolist() == want, x
    keys = np.zeros((len(desc), 4), np.uint64)
    kernels._motion_keys(got, 2 * desc.shape[1] + 1, keys)
    for x, c in enumerate(cells):
        assert (keys[x] == 0).all() == (c is None), x
    # the same set of cells gives the same keys, different sets different set-keys,
    # and two sets sharing a pair in the same ranks share that pair's key
    by_set = {}
    for x, c in enumerate(cells):
        if c is not None:
            by_set.setdefault(c, set()).add(int(keys[x, 0]))
    assert all(len(v) == 1 for v in by_set.values())
    assert len({next(iter(v)) for v in by_set.values()}) == len(by_set)
    pair_keys = {}
    for x, c in enumerate(cells):
        if c is not None:
            lo, mid, hi = sorted(c)
            for w, pair in ((1, (lo, mid)), (2, (lo, hi)), (3, (mid, hi))):
                pair_keys.setdefault((w, pair), set()).add(int(keys[x, w]))
    assert all(len(v) == 1 for v in pair_keys.values())
    assert len({next(iter(v)) for v in pair_keys.values()}) == len(pair_keys)
    np.testing.assert_array_equal(keys[63:70], keys[23:30])


def test_diagonal_votes_match_reference():
    desc = _random_desc(seed=11)
    desc[80:110] = desc[10:40]
    valid = np.ones(len(desc), bool)
    a, b, d = np.array([10, 12, 50]), np.array([40, 38, 60]), np.array([70, 69, 3])
    got = kernels._diagonal_votes(desc, valid, a, b, d, 6)
    np.testing.assert_array_equal(got, ref.diagonal_votes(desc, valid, a, b, d, 6))
    assert got[0] == 30 and got[1] < 0  # the copy's own diagonal wins, one off loses


def test_footage_paths_and_cycles_match_reference():
    rng = np.random.default_rng(12)
    for _ in range(30):
        m = int(rng.integers(1, 40))
        perm = rng.permutation(m)
        succ = np.full(m, -1, np.int64)
        pred = np.full(m, -1, np.int64)
        # chain random slices of the permutation, some closed into cycles
        cuts = np.sort(rng.choice(np.arange(1, m), min(m - 1, 3), replace=False)) if m > 1 else []
        for part in np.split(perm, cuts):
            for u, v in itertools.pairwise(part):
                succ[u], pred[v] = v, u
            if len(part) > 1 and rng.random() < 0.5:
                succ[part[-1]], pred[part[0]] = part[0], part[-1]
        weight = rng.integers(1, 4, m)
        jump = rng.integers(0, 50, m)
        comp, pos = kernels._footage(succ, pred, weight, jump)
        ec, ep = ref.footage(succ, pred, weight, jump)
        np.testing.assert_array_equal(pos, ep)
        # the same partition into paths (numbered in the same order of discovery)
        np.testing.assert_array_equal(comp, ec)


def test_propose_finds_planted_copies_on_the_descriptor():
    frames = ref.smooth_footage(600, 24, seed=13)
    video = np.concatenate([frames[:300], frames[100:160], frames[300:400], frames[40:90]])
    rng = np.random.default_rng(13)
    noisy = np.clip(video.astype(np.int16) + rng.integers(-2, 3, video.shape), 0, 255)
    fp = fastloop.Fingerprint(
        *(lambda h, c, d: (h, np.arange(len(h)) / 30.0, c, 24, d))(
            *hash_frames(noisy.astype(np.uint8))
        )
    )
    found = fastloop.loops.search(fp)
    a, b, d = found.matched
    pairs = {
        (int(x), int(x + dd)) for x0, x1, dd in zip(a, b, d, strict=True) for x in range(x0, x1)
    }
    planted = {(x, x + 200) for x in range(100, 160)} | {(x, x + 420) for x in range(40, 90)}
    assert planted <= pairs
    assert pairs <= planted  # nothing else: the footage never repeats


# --------------------------------------------------------------------------- judging and runs

#: The thresholds of the judge at 30 fps and 144 cells, as ``Judge.walk_args`` spells
#: them (sums over the 6 worst cells): shift, k, agree, ratio10, floor, min_motion.
_SHIFT, _K, _AGREE, _RATIO10, _FLOOR, _MIN_MOTION = 6, 6, 36, 16, 6, 30


def _walked(rng, n, step, cells=144):
    """int64[n, cells]: footage that moves every frame (a random walk of the levels)."""
    return np.cumsum(rng.integers(-step, step + 1, (n, cells)), axis=0) + 128


def _copy_desc(seed, step=4):
    """Descriptor of a video: footage A (120 frames), A[30:90] again under +-1 level of
    noise at 120..179 (delta 90), a still view of A[60] (60 frames: 180..239), other
    footage (80 frames)."""
    rng = np.random.default_rng(seed)
    a = _walked(rng, 120, step)
    other = _walked(rng, 80, step)
    still = np.repeat(a[60:61], 60, axis=0)
    copy = a[30:90] + rng.integers(-1, 2, (60, a.shape[1]))
    return np.clip(np.concatenate([a, copy, still, other]), 0, 255).astype(np.uint8)


def test_run_gaps_match_reference():
    desc = _copy_desc(20)
    a, b, d = np.array([30, 0, 5, 100]), np.array([90, 1, 5, 140]), np.array([90, 7, 50, -60])
    for k in (1, 6, desc.shape[1]):
        out = np.full(int((b - a).sum()), -7, np.int32)
        kernels._run_gaps(desc, a, b, d, k, out)
        np.testing.assert_array_equal(out, ref.run_gaps(desc, a, b, d, k))
    # the copy's pairs differ by its noise (at most 1 level a cell), the rest by more
    out = np.empty(60, np.int32)
    kernels._run_gaps(desc, a[:1], b[:1], d[:1], _K, out)
    assert out.max() <= _K
    kernels._run_gaps(desc, a[:1], b[:1], d[:1] + 1, _K, out)
    assert out.min() > _K


def test_run_verdicts_are_numpys_median_and_percentile():
    # runs of 0 to 9 pairs and long ones; gaps with ties, motion with flat frames (-1)
    # and ratios landing exactly on the threshold; a limit and ratio at which the
    # verdicts split
    from fastloop.verify import _median_of_counts

    rng = np.random.default_rng(5)
    for trial in range(300):
        lengths = rng.integers(0, 10 if trial % 3 else 400, rng.integers(1, 8))
        n = int(lengths.sum()) + 500
        d0 = rng.integers(0, rng.integers(1, 60), int(lengths.sum())).astype(np.int16)
        motion = rng.integers(-1, 200, n).astype(np.int32)
        if trial % 4 == 0:
            motion = (motion // 20 * 20).astype(np.int32)  # ratios exactly 4.0 often
            d0 = (d0 // 5 * 5).astype(np.int16)
        if trial % 4 == 1:
            # two kinds of frame, still and moving: the percentile falls between
            # ratios far apart, or on either of them
            motion = np.where(rng.random(n) < rng.random(), 0, 200).astype(np.int32)
            d0[:] = 10
        ra = rng.integers(0, 200, len(lengths))
        rd = rng.integers(1, 300, len(lengths))
        ends = np.cumsum(lengths)
        floor, ratio = int(rng.integers(1, 8)), float(rng.choice([2.0, 4.0, 3.7]))
        limit = float(rng.choice([5.0, 12.5, 20.0]))
        # the runs' gaps where a pool of them holds them: in another order, among
        # gaps of runs not asked about
        order = rng.permutation(len(lengths))
        pool, at = [], np.empty(len(lengths), np.int64)
        for r in order:
            pool.append(rng.integers(0, 99, rng.integers(0, 4)).astype(np.int16))
            at[r] = sum(map(len, pool))
            pool.append(d0[ends[r] - lengths[r] : ends[r]])
        pool = np.concatenate(pool)
        out = np.empty(len(lengths), bool)
        kernels._run_verdicts(pool, at, lengths, ra, rd, motion, floor, limit, ratio, out)
        if len(d0):
            np.testing.assert_array_equal(
                kernels._run_gap_counts(pool, at, lengths), np.bincount(d0)
            )
        for r, (lo, hi) in enumerate(zip(ends - lengths, ends, strict=True)):
            if hi == lo:
                assert not out[r]
                continue
            x = np.arange(ra[r], ra[r] + hi - lo)
            q = np.maximum(motion[x], motion[x + rd[r]]) / np.maximum(d0[lo:hi], floor)
            want = np.median(d0[lo:hi]) <= limit and np.percentile(q, 75) >= ratio
            assert out[r] == want, (trial, r)
        if len(d0):
            assert _median_of_counts(np.bincount(d0)) == np.median(d0)


@pytest.mark.parametrize("seed", range(4))
def test_cuts_match_reference(seed):
    rng = np.random.default_rng(seed)
    desc = _walked(rng, 300, 3)
    # jumps to other footage, a stretch of fast footage, flat frames
    for at in rng.choice(np.arange(10, 290), 6, replace=False):
        desc[at:] += rng.integers(-40, 41, desc.shape[1])
    desc[150:170] += np.cumsum(rng.integers(-30, 31, (20, desc.shape[1])), axis=0)
    desc = np.clip(desc, 0, 255).astype(np.uint8)
    valid = np.ones(len(desc), bool)
    valid[[0, 40, 41, 42, 200, 299]] = False
    for k, size in ((1, 10), (_K, 2 * _MIN_MOTION), (_K, 120), (desc.shape[1], 500)):
        out = np.ones(len(desc), bool)
        kernels._cuts(desc, valid, k, size, out)
        expect = ref.cuts(desc, valid, k, size)
        np.testing.assert_array_equal(out, expect)
        assert expect.any() and not expect.all()


def test_cuts_on_constructed_changes():
    # still picture; a jump at 10; from 21 fast footage that flickers by the same change
    # every frame (not a cut, except its first change); a flat frame at 30
    desc = np.full((40, 16), 100, np.uint8)
    desc[10:] = 150
    desc[21:30:2] = 180
    valid = np.ones(40, bool)
    valid[30] = False
    out = np.zeros(40, bool)
    kernels._cuts(desc, valid, 2, 20, out)
    assert np.flatnonzero(out).tolist() == [10, 21, 30, 31]
    # a change under ``size`` is no cut however sudden; a flat frame beside a flat one neither
    kernels._cuts(desc, valid, 2, 2 * 50 * 2, out)
    assert np.flatnonzero(out).tolist() == [30, 31]
    valid[31] = False
    kernels._cuts(desc, valid, 2, 20, out)
    assert 31 not in np.flatnonzero(out).tolist() and out[32]


def test_cuts_compare_with_the_change_just_before():
    # k = 2, size 20: a change of 20 levels (gap 40 >= size), then exactly 3 times
    # that (a cut), then 3 times less one level (no cut)
    desc = np.full((12, 4), 100, np.uint8)
    desc[1:] += 20
    desc[2:] += 60
    desc[3:] -= 59 * 3
    out = np.zeros(12, bool)
    kernels._cuts(desc, valid := np.ones(12, bool), 2, 20, out)
    assert out[:4].tolist() == [False, True, True, False]
    # after a flat frame nothing is known of the change before: a change of ``size``
    # is a cut, however much the frames changed before the flat one
    desc[5:] = 250
    desc[7:] = 120
    desc[8:] = 100
    valid[6] = False
    kernels._cuts(desc, valid, 2, 20, out)
    assert out[4:9].tolist() == [False, True, True, True, True]
    np.testing.assert_array_equal(out, ref.cuts(desc, valid, 2, 20))


def test_off_diagonal_matches_reference():
    desc = _copy_desc(21)
    valid = np.ones(len(desc), bool)
    valid[[61, 150]] = False
    top = kernels.scratch(desc.shape[1])
    seen = set()
    for x in range(0, 120, 3):
        for y in (x + 90, x + 91, x + 92, x + 89, 0, 1, len(desc) - 1):
            if not 0 <= y < len(desc):
                continue
            for margin in (0, _FLOOR):
                d0 = ref.gap(desc, x, y, _K)
                got = kernels._off_diagonal(desc, valid, x, y, d0, _K, top, margin)
                assert got == ref.off_diagonal(desc, valid, x, y, d0, _K, margin), (x, y)
                seen.add(bool(got))
    assert seen == {True, False}
    # a pair one frame off its copy is off the diagonal; the copy itself is not
    d0 = ref.gap(desc, 50, 141, _K)
    assert kernels._off_diagonal(desc, valid, 50, 141, d0, _K, top, 0)
    d0 = ref.gap(desc, 50, 140, _K)
    assert not kernels._off_diagonal(desc, valid, 50, 140, d0, _K, top, 0)


def test_judge_matches_reference():
    desc = _copy_desc(22)
    n = len(desc)
    valid = np.ones(n, bool)
    valid[[5, 150, 151, 185]] = False
    top = kernels.scratch(desc.shape[1])
    rng = np.random.default_rng(22)
    states = collections.Counter()
    bounded = 0  # pairs whose partner's neighbours ``near`` alone shows far
    for shift in (1, 3, _SHIFT):
        # without the partners' gaps to their neighbours, and with them (the judge
        # then mostly skips the gaps to those neighbours: the same verdicts)
        nears = (np.empty(0, np.int64), ref.near(desc, valid, shift, _K))
        for _ in range(150):
            x = int(rng.integers(0, 120))
            close = x + 90 + int(rng.integers(-3, 4))
            y = min(n - 1, close) if rng.random() < 0.7 else int(rng.integers(0, n))
            for ladder, d0 in ((True, -1), (False, -1), (True, ref.gap(desc, x, y, _K))):
                args = (shift, _K, top, _AGREE, _RATIO10, _FLOOR, _MIN_MOTION, d0, ladder)
                expect = ref.judge(
                    desc, valid, x, y, shift, _K, _AGREE, _RATIO10, _FLOOR, _MIN_MOTION, d0, ladder
                )
                for near in nears:
                    got = kernels._judge(desc, valid, near, x, y, *args)
                    assert tuple(got) == expect, (x, y, shift, ladder, len(near))
                states[expect[1]] += 1
                need = max(_MIN_MOTION, math.ceil(_RATIO10 * max(expect[0], _FLOOR) / 10))
                bounded += abs(x - y) != shift and nears[1][y] - expect[0] >= need
    assert set(states) == {0, 1, 2, 3}  # every verdict was exercised
    assert bounded > 30


def test_judge_verdicts_on_constructed_pairs():
    desc = _copy_desc(23)
    valid = np.ones(len(desc), bool)
    top = kernels.scratch(desc.shape[1])
    near = ref.near(desc, valid, _SHIFT, _K)
    args = (_SHIFT, _K, top, _AGREE, _RATIO10, _FLOOR, _MIN_MOTION, -1, True)

    def state(x, y):
        return kernels._judge(desc, valid, near, x, y, *args)[1]

    assert state(50, 140) == 2  # the copy: specific
    assert state(50, 10) == 0  # other moments differ
    # the middle of the still view of A[60] (nothing moves within 4 shifts of it) matches
    # A[60] and its copy: agrees, never specific
    assert state(60, 210) == 1
    assert state(150, 210) == 1
    # the copy's frame A[60] itself is specific: its partner's moment moves
    assert state(60, 150) == 2


def _walk(desc, valid, p, m, step, max_static=60, max_neutral=60):
    cuts = np.zeros(len(desc), bool)
    kernels._cuts(desc, valid, _K, 2 * _MIN_MOTION, cuts)
    top = kernels.scratch(desc.shape[1])
    d0 = ref.gap(desc, p, m, _K)
    outs = []
    # without the frames' gaps to their neighbours, and with them: the same walk
    for near in (np.empty(0, np.int64), ref.near(desc, valid, _SHIFT, _K)):
        trace = np.full(len(desc), -7, np.int32)
        out = kernels._walk(
            desc, valid, near, cuts, p, m, step, d0, _SHIFT, _K, top, _AGREE, _RATIO10,
            _FLOOR, _MIN_MOTION, 0, max_static, max_neutral, trace,
        )  # fmt: skip
        # the gap of every pair the run holds, as the walk took it (-1: a flat frame)
        for s in range(1, out[0] + 1):
            x, y = p + step * s, m + step * s
            want = ref.gap(desc, x, y, _K) if valid[x] and valid[y] else -1
            assert trace[s - 1] == want, (p, m, step, s)
        outs.append(tuple(out))
    assert outs[0] == outs[1]
    return outs[0]


def test_walk_ends_where_the_copy_ends():
    desc = _copy_desc(24)
    valid = np.ones(len(desc), bool)
    # A[30:90] plays again at 120..179: from the seed (50, 140) the walk reaches frame
    # 89 forward and frame 30 backward, every frame specific, d0 summed over them
    fwd = _walk(desc, valid, 50, 140, 1)
    back = _walk(desc, valid, 50, 140, -1)
    gaps = {x: ref.gap(desc, x, x + 90, _K) for x in range(30, 90)}
    assert tuple(fwd) == (89 - 50, 89 - 50, sum(gaps[x] for x in range(51, 90)))
    assert tuple(back) == (50 - 30, 50 - 30, sum(gaps[x] for x in range(30, 50)))
    # a frame flat on one side breaks the copy there; flat on both sides does not
    valid[70] = False
    assert _walk(desc, valid, 50, 140, 1)[0] == 69 - 50
    valid[160] = False
    assert _walk(desc, valid, 50, 140, 1)[0] == 89 - 50
    assert _walk(desc, valid, 50, 140, 1, max_neutral=0)[0] == 69 - 50


def test_walk_crosses_a_still_view_only_up_to_max_static():
    # footage frozen for 60 frames (40..99), played twice (delta 120): every frozen pair
    # agrees and none is specific, so the walk crosses the freeze only when it may go
    # 60 agreeing frames without a specific one
    rng = np.random.default_rng(25)
    f = _walked(rng, 120, 4)
    f[40:100] = f[40]
    video = np.concatenate([f, f + rng.integers(-1, 2, f.shape), _walked(rng, 60, 4)])
    desc = np.clip(video, 0, 255).astype(np.uint8)
    valid = np.ones(len(desc), bool)
    state = [
        ref.judge(desc, valid, x, x + 120, _SHIFT, _K, _AGREE, _RATIO10, _FLOOR, _MIN_MOTION)[1]
        for x in range(120)
    ]
    assert set(state[40:100]) == {1}
    last_before = max(x for x in range(40) if state[x] == 2)
    assert _walk(desc, valid, 20, 140, 1, max_static=59)[0] == last_before - 20
    end, spec, _ = _walk(desc, valid, 20, 140, 1, max_static=60)
    assert end == 119 - 20
    assert spec == sum(s == 2 for s in state[21:])


def test_bridge_matches_reference():
    joined = refused = 0
    for seed in range(12):
        desc = _copy_desc(seed)
        n = len(desc)
        rng = np.random.default_rng(seed)
        valid = np.ones(n, bool)
        valid[rng.choice(n, 4, replace=False)] = False
        if seed % 2:
            valid[[60, 150]] = False  # one frame of the copy flat on both sides
        runs = []
        for d in (90, 91, 89, int(rng.integers(100, 150))):
            for s in np.sort(rng.choice(np.arange(20, 100), 4, replace=False)).tolist():
                e = s + int(rng.integers(1, 15))
                if e + d < n:
                    runs.append((s, e, d))
        runs.sort(key=lambda r: (r[2], r[0]))
        a, b, d = (np.array(c, np.int64) for c in zip(*runs, strict=True))
        noise = rng.integers(0, 20, len(a)).astype(np.int64)
        for agree in (12, _AGREE):
            got = kernels._bridge(desc, valid, a, b, d, noise, _K, agree)
            expect = ref.bridge(desc, valid, a, b, d, noise, _K, agree)
            for g, e in zip(got, expect, strict=True):
                np.testing.assert_array_equal(g, e)
            # both outcomes of a gap between consecutive runs on one diagonal occur
            for i in range(1, len(a)):
                if d[i] == d[i - 1] and a[i] > b[:i][d[:i] == d[i]].max():
                    same = ((got[0] <= a[i - 1]) & (a[i] < got[1]) & (got[2] == d[i])).any()
                    joined += int(same)
                    refused += int(not same)
    assert joined and refused


def test_bridge_joins_a_copy_across_agreeing_frames_only():
    desc = _copy_desc(26)
    valid = np.ones(len(desc), bool)
    # two runs of the copy (delta 90), frames 55..59 between them
    a, b, d = np.array([30, 60]), np.array([55, 90]), np.array([90, 90])
    noise = np.array([_K, _K])
    got = kernels._bridge(desc, valid, a, b, d, noise, _K, _AGREE)
    assert [x.tolist() for x in got] == [[30], [90], [90]]
    # a frame in between that differs (a look-alike, not the copy) keeps them apart
    desc[145] = 255 - desc[145]
    got = kernels._bridge(desc, valid, a, b, d, noise, _K, _AGREE)
    assert [x.tolist() for x in got] == [[30, 60], [55, 90], [90, 90]]
    # so do runs on different diagonals; overlapping runs merge whatever lies between
    got = kernels._bridge(desc, valid, a, b, np.array([90, 91]), noise, _K, _AGREE)
    assert len(got[0]) == 2
    got = kernels._bridge(desc, valid, np.array([30, 50]), b, d, noise, _K, _AGREE)
    assert [x.tolist() for x in got] == [[30], [90], [90]]


def test_bridge_limit_follows_the_runs_noise():
    # copied footage (delta 100) that moves 12 levels a cell a frame, with frames 20..24
    # between two runs and 40..44 between the second and a third; across those, the
    # copy differs by 24 (4 levels on 6 cells): more than 3 times a noise of 6 (k),
    # at most 3 times a noise of 8
    rng = np.random.default_rng(30)
    foot = _walked(rng, 100, 12)
    video = np.concatenate([foot, foot])
    video[120:125, :6] += 4
    video[140:145, :6] += 4
    desc = np.clip(video, 0, 255).astype(np.uint8)
    valid = np.ones(len(desc), bool)
    assert {ref.gap(desc, x, x + 100, _K) for x in (*range(20, 25), *range(40, 45))} == {24}
    a, b, d = np.array([0, 25, 45]), np.array([20, 40, 60]), np.full(3, 100)

    def bridged(noise):
        got = kernels._bridge(desc, valid, a, b, d, np.array(noise), _K, _AGREE)
        expect = ref.bridge(desc, valid, a, b, d, np.array(noise), _K, _AGREE)
        for g, e in zip(got, expect, strict=True):
            np.testing.assert_array_equal(g, e)
        return list(zip(got[0].tolist(), got[1].tolist(), strict=True))

    assert bridged([6, 6, 6]) == [(0, 20), (25, 40), (45, 60)]
    # the later run's noise counts; the merged run keeps the larger noise for the next
    assert bridged([6, 8, 6]) == [(0, 60)]
    assert bridged([8, 6, 6]) == [(0, 60)]
    assert bridged([6, 6, 8]) == [(0, 20), (25, 60)]
    # the noise never lets a gap over ``agree`` through
    got = kernels._bridge(desc, valid, a, b, d, np.array([20, 20, 20]), _K, 23)
    assert len(got[0]) == 3


def test_judge_bridge_sorts_the_runs_first():
    from fastloop.verify import Judge

    desc = _copy_desc(27)
    judge = Judge(desc, np.ones(len(desc), bool), _SHIFT, _K, 30.0)
    a, b, d = np.array([60, 0, 30]), np.array([90, 5, 55]), np.array([90, 7, 90])
    noise = np.full(3, _K)
    got = judge.bridge(a, b, d, noise)
    assert [x.tolist() for x in got] == [[0, 30], [5, 90], [7, 90]]


def test_frame_roots_with_window_match_reference():
    rng = np.random.default_rng(28)
    for _ in range(20):
        n = 150
        runs = [
            (int(s), int(s + rng.integers(1, 25)), int(rng.integers(-60, 80)))
            for s in rng.integers(0, 130, 10)
        ]
        runs = [(s, e, d) for s, e, d in runs if d != 0 and 0 <= s + d < n]
        a, b, d = (np.array(c, np.int64).reshape(-1) for c in zip(*runs, strict=True))
        for window in (0, 3, 30):
            roots, size = kernels._frame_roots(n, a, b, d, window)
            er, es = ref.frame_roots_windowed(n, runs, window)
            np.testing.assert_array_equal(roots, er)
            np.testing.assert_array_equal(size, es)


# --------------------------------------------------------------------------- golden 24x24 hashes


def _golden_frames() -> dict[str, np.ndarray]:
    """Fixed 24x24 gray frames, built here without randomness but for the seeded noise."""
    y, x = np.mgrid[:24, :24]
    corner = np.zeros((24, 24), np.uint8)
    corner[0, 0] = 255
    last = np.zeros((24, 24), np.uint8)
    last[23, 23] = 255
    return {
        "horizontal": (10 * x).astype(np.uint8),
        "vertical": (10 * y).astype(np.uint8),
        "checker": ((x + y) % 2 * 255).astype(np.uint8),
        "diagonal": (5 * (x + y)).astype(np.uint8),
        "corner": corner,
        "last": last,
        "noise": np.random.default_rng(0).integers(0, 256, (24, 24), dtype=np.uint8),
    }


def _plain_hex(frame: np.ndarray) -> str:
    """The 24x24 average hash by its definition: bit = pixel > mean of the frame,
    pixels row-major, first pixel the most significant bit; as hex digits."""
    mean = frame.astype(np.float64).mean()
    bits = "".join("1" if v > mean else "0" for v in frame.ravel().tolist())
    return "".join(f"{int(bits[i : i + 4], 2):x}" for i in range(0, len(bits), 4))


def _words_hex(words: np.ndarray) -> str:
    return "".join(f"{int(w):016x}" for w in words)


@pytest.mark.parametrize("name", sorted(_golden_frames()))
def test_golden_24x24_hash_equals_the_plain_definition_and_imagehash(name):
    frame = _golden_frames()[name]
    got = fastloop.ahash(frame[None])[0]
    assert got.shape == (9,) and got.dtype == np.uint64
    assert _words_hex(got) == _plain_hex(frame)
    assert _words_hex(got) == str(imagehash.average_hash(Image.fromarray(frame), hash_size=24))


def test_golden_24x24_hashes_written_out():
    frames = _golden_frames()
    h = {name: _words_hex(fastloop.ahash(f[None])[0]) for name, f in frames.items()}
    # one row of 24 pixels is 6 hex digits: columns 12..23 (120..230) are above the
    # mean 115; rows 12..23 likewise; a checkerboard's odd pixels of even rows
    assert h["horizontal"] == "000fff" * 24
    assert h["vertical"] == "000000" * 12 + "ffffff" * 12
    assert h["checker"] == ("555555" + "aaaaaa") * 12
    # one bright pixel: the first is the top bit of word 0, the last the low bit of word 8
    assert h["corner"] == "8" + "0" * 143
    assert h["last"] == "0" * 143 + "1"
    _, contrast, desc = hash_frames(np.stack([frames["corner"], frames["checker"]]))
    assert contrast.tolist() == [255, 255]
    # the descriptor keeps the 2x2 block means, rounded half up: (255 + 2) // 4 and
    # (510 + 2) // 4
    assert desc[0, 0] == 64 and not desc[0, 1:].any() and set(desc[1].tolist()) == {128}


def test_golden_24x24_noise_hash_digest():
    # the packed words of the seeded noise frame, little-endian bytes: a change of bit
    # order, of word order or of packing changes this digest even if the reference
    # above were changed the same way
    words = fastloop.ahash(_golden_frames()["noise"][None])[0]
    digest = hashlib.sha1(words.astype("<u8").tobytes()).hexdigest()
    assert digest == "06f30731b0588e79d4f316c70bf2fcf5960fa21f"


def test_printed_pts_matches_the_numpy_reader():
    # metadata lines with printed, missing (NOPTS), negative and 19-digit times, and
    # junk between them ("pts:" with no digit, a colon at the start); parsed whole and
    # with room for a few values at a time (-1: called again with more room)
    from fastloop.ffmpeg.logs import _printed_values

    rng = np.random.default_rng(31)
    for trial in range(60):
        lines = [b"x:pts:\n"] if trial % 3 == 0 else []
        for i in range(int(rng.integers(0, 40))):
            kind = rng.integers(0, 5)
            if kind == 0:
                p = b"NOPTS"
            elif kind == 1:
                p = b"%d" % -int(rng.integers(0, 10**6))
            elif kind == 2:
                p = b"%d" % int(rng.integers(10**17, 9 * 10**18))
            else:
                p = b"%d" % int(rng.integers(0, 10**9))
            lines.append(b"frame:%-4d pts:%-7s pts_time:1.5\nfastloop=1\n" % (i, p))
        text = b"".join(lines)
        want, want_ok = _printed_values(text)
        data = np.frombuffer(bytearray(text), np.uint8)
        room = int(rng.integers(1, 5)) if trial % 2 else len(want) + 1
        values, ok = np.full(room, -7, np.int64), np.zeros(room, bool)
        count = kernels._printed_pts(data, len(text), values, ok, 0)
        while count < 0:
            values, ok = np.concatenate((values, values)), np.concatenate((ok, ok))
            count = kernels._printed_pts(data, len(text), values, ok, 0)
        assert count == len(want)
        np.testing.assert_array_equal(values[:count], want)
        np.testing.assert_array_equal(ok[:count], want_ok)
    # only the first ``end`` bytes are read: a time cut short there ends there
    line = bytearray(b"frame:0 pts:12345 pts_time:1\n")
    values, ok = np.zeros(2, np.int64), np.zeros(2, bool)
    assert kernels._printed_pts(np.frombuffer(line, np.uint8), 15, values, ok, 0) == 1
    assert values[0] == 123 and ok[0]


def test_holds_matches_numpy():
    # union-find's check around a frame, 64 entries a compare where they lie within
    # the array, one at a time past its last 64: every start and length near those
    # edges, spans of more than 64, empty spans, values absent and at either end
    rng = np.random.default_rng(41)
    seen = collections.Counter()
    for n in (1, 63, 64, 65, 130, 200):
        ary = rng.integers(0, 12, n).astype(np.int32)
        for lo in sorted({0, 1, n // 2, max(0, n - 65), max(0, n - 64), max(0, n - 1), n}):
            for hi in sorted({lo, lo + 1, lo + 63, lo + 64, lo + 65, lo + 140, n}):
                hi = min(hi, n)
                for b in (ary[lo] if lo < n else 0, ary[hi - 1] if hi > lo else 0, 99):
                    want = bool((ary[lo:hi] == b).any())
                    assert kernels._holds(ary, lo, hi, np.int32(b)) == want, (n, lo, hi, b)
                    seen[want] += 1
    assert seen[True] > 50 and seen[False] > 50
