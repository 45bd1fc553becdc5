"""Every numba kernel against its plain numpy reference in tests/reference.py."""

import itertools

import imagehash
import numpy as np
import pytest
from PIL import Image

import fastloop
from fastloop import kernels
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


def test_exact_buckets():
    h = np.array([[5], [1], [5], [2], [1], [5]], np.uint64)
    assert [b.tolist() for b in exact_buckets(h)] == [[0, 2, 5], [1, 4]]
    assert [b.tolist() for b in exact_buckets(h, min_size=3)] == [[0, 2, 5]]
    assert exact_buckets(np.empty((0, 1), np.uint64)) == []


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


def _random_desc(n=120, cells=144, seed=9):
    rng = np.random.default_rng(seed)
    desc = np.cumsum(rng.integers(-6, 7, (n, cells)), axis=0) + 128
    return np.clip(desc, 0, 255).astype(np.uint8)


def test_gap_and_motion_match_reference():
    desc = _random_desc()
    valid = np.ones(len(desc), bool)
    valid[[5, 40]] = False
    top = np.zeros(desc.shape[1], np.uint8)
    # ties at the k-th level (coarse steps), the whole row (k = cells), one cell
    coarse = (desc // 16 * 16).astype(np.uint8)
    for d in (desc, coarse):
        for k in (1, 6, d.shape[1]):
            for x, y in [(0, 1), (3, 90), (50, 50), (10, 119), (7, 8)]:
                assert kernels._gap(d, x, y, k, top) == ref.gap(d, x, y, k)
    out = np.empty(len(desc), np.int64)
    kernels._motion(desc, valid, 6, 6, out)
    np.testing.assert_array_equal(out, ref.motion(desc, valid, 6, 6))


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
