"""Every numba kernel against its plain numpy reference in tests/reference.py."""

import imagehash
import numpy as np
import pytest
from PIL import Image

import fastloop
from fastloop import kernels
from fastloop.hashing import ahash_with_contrast
from fastloop.index import exact_buckets, group_ids, near_runs

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
    got, contrast = ahash_with_contrast(flat)
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
    kernels._ahash_batch(np.concatenate([f, g]), out, contrast)
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


def _pairs_of_runs(runs, h, valid, d):
    pairs = set()
    for a, b, delta in zip(runs["a"], runs["b"], runs["delta"], strict=True):
        for x in range(a, b):
            y = x + delta
            if valid[x] and valid[y] and ref.hamming(h[x : x + 1], h[y : y + 1])[0] <= d:
                pairs.add((int(x), int(y)))
    return pairs


def test_near_runs_find_every_planted_pair():
    rng = np.random.default_rng(3)
    base = ref.random_walk_hashes(400, 2, flips=12, seed=3)
    h = base.copy()
    h[250:300] = ref.add_noise(base[60:110], 3, rng)  # a copy with 3 noisy bits a frame
    h[330:360] = ref.add_noise(base[10:40], 4, rng)
    valid = np.ones(len(h), bool)
    valid[270] = False  # a flat frame inside the copy
    d = 8
    runs = near_runs(h, valid, min_gap=20, max_distance=d, links=8)
    expect = ref.near_pairs(h, valid, 20, d)
    got = _pairs_of_runs(runs, h, valid, d)
    # multi-index hashing on 2 words with d = 8 is not exhaustive by the pigeonhole
    # argument, but the diagonal extension recovers every pair that lies on a run
    planted = {(x, x + 190) for x in range(60, 110) if x != 80} | {
        (x, x + 320) for x in range(10, 40)
    }
    assert planted <= expect
    assert planted <= got
    assert got <= expect | set()  # nothing beyond the threshold


def test_near_runs_exhaustive_when_pigeonhole_holds():
    # d < number of words: any pair within d bits shares an exact word
    rng = np.random.default_rng(4)
    h = ref.random_walk_hashes(300, 9, flips=60, seed=4)
    h[200:240] = ref.add_noise(h[20:60], 2, rng)
    valid = np.ones(len(h), bool)
    runs = near_runs(h, valid, min_gap=5, max_distance=8, max_miss=0, links=64)
    got = _pairs_of_runs(runs, h, valid, 8)
    assert got == ref.near_pairs(h, valid, 5, 8)


def test_near_runs_quiet_bucket_is_bounded():
    # 20,000 frames drawn from 3 values: one bucket per value, each huge; each frame
    # links to `links` later members, so the work (and the run count) stays linear
    rng = np.random.default_rng(5)
    values = rng.integers(0, 2**63, (3, 9), dtype=np.uint64)
    h = values[rng.integers(0, 3, 20000)]
    runs = near_runs(h, np.ones(len(h), bool), min_gap=30, max_distance=20, links=4)
    assert len(runs["a"]) <= 20000 * 4


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
    roots, size = kernels._frame_roots(n, a, b, d)
    expect = ref.frame_roots(n, runs)
    np.testing.assert_array_equal(roots, expect)
    np.testing.assert_array_equal(size, np.bincount(expect, minlength=n)[expect])


def test_specificity_against_reference():
    rng = np.random.default_rng(7)
    h = ref.random_walk_hashes(300, 9, flips=20, seed=7)
    h[200:260] = ref.add_noise(h[50:110], 2, rng)
    valid = np.ones(len(h), bool)
    a, b, d = np.array([50, 120]), np.array([110, 170]), np.array([150, 10])
    spec, votes = kernels._specificity(h, valid, a, b, d, 3, 6)
    for r in range(2):
        s = v = 0
        for x in range(a[r], b[r]):
            y = x + d[r]
            d0 = ref.hamming(h[x : x + 1], h[y : y + 1])[0]
            dm = ref.hamming(h[x : x + 1], h[y - 3 : y - 2])[0] if y - 3 != x else 1 << 30
            dp = ref.hamming(h[x : x + 1], h[y + 3 : y + 4])[0]
            s += min(dm, dp) - d0 >= 6
            side = min(
                ref.hamming(h[x : x + 1], h[y - 1 : y])[0],
                ref.hamming(h[x : x + 1], h[y + 1 : y + 2])[0],
            )
            v += int(d0 < side) - int(side < d0)
        assert spec[r] == s and votes[r] == v
    assert spec[0] == 60 and votes[0] == 60  # the planted copy is specific on every frame
