"""Slow, obvious numpy/Python versions of every kernel, for the tests to compare with."""

from __future__ import annotations

import numpy as np


def ahash(frames: np.ndarray) -> np.ndarray:
    """Average hash the obvious way: bits by numpy comparison, packed with packbits."""
    n, size, _ = frames.shape
    npix = size * size
    flat = frames.reshape(n, npix).astype(np.int64)
    bits = flat * npix > flat.sum(axis=1, keepdims=True)
    words = (npix + 63) // 64
    padded = np.zeros((n, words * 64), bool)
    padded[:, :npix] = bits
    packed = np.packbits(padded, axis=1)  # big-endian bit order: MSB first
    return packed.view(">u8").astype(np.uint64).reshape(n, words)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x = np.bitwise_xor(a, b)
    return np.array(
        [sum(bin(int(w)).count("1") for w in row) for row in x.reshape(-1, x.shape[-1])]
    )


def group_ids(keys: np.ndarray) -> np.ndarray:
    seen: dict[tuple, int] = {}
    return np.array([seen.setdefault(tuple(r.tolist()), len(seen)) for r in keys], np.int64)


def near_pairs(h: np.ndarray, valid: np.ndarray, min_gap: int, d: int) -> set[tuple[int, int]]:
    """All pairs (i, j), j - i >= min_gap, both valid, within d bits: O(n^2)."""
    out = set()
    n = len(h)
    for i in range(n):
        if not valid[i]:
            continue
        for j in range(i + min_gap, n):
            if valid[j] and hamming(h[i : i + 1], h[j : j + 1])[0] <= d:
                out.add((i, j))
    return out


def frame_roots(n: int, runs: list[tuple[int, int, int]]) -> np.ndarray:
    """Earliest frame of each frame's class, by repeated relaxation (no union-find)."""
    root = np.arange(n)
    changed = True
    while changed:
        changed = False
        for a, b, d in runs:
            for x in range(a, min(b, n - d)):
                m = min(root[x], root[x + d])
                if root[x] != m or root[x + d] != m:
                    root[x] = root[x + d] = m
                    changed = True
        for x in range(n):
            if root[root[x]] != root[x]:
                root[x] = root[root[x]]
                changed = True
    return root


def random_walk_hashes(n: int, words: int, flips: int, seed: int) -> np.ndarray:
    """Hashes of 'footage': each frame flips ``flips`` random bits of the previous one."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, words * 64).astype(bool)
    out = np.empty((n, words * 64), bool)
    for i in range(n):
        idx = rng.integers(0, words * 64, flips)
        bits[idx] ^= True
        out[i] = bits
    return np.packbits(out, axis=1).view(">u8").astype(np.uint64)


def add_noise(h: np.ndarray, bits: int, rng: np.random.Generator) -> np.ndarray:
    """Flip ``bits`` random bits in every row (compression noise)."""
    h = h.copy()
    nbits = h.shape[1] * 64
    for row in h:
        for b in rng.choice(nbits, bits, replace=False):
            row[b // 64] ^= np.uint64(1) << np.uint64(63 - b % 64)
    return h


def diagonal_offsets(h, usable, ra, rb, rd, radius, margin):
    """Per run and offset within ``radius`` of its diagonal, the frames that vote for
    it: their strictly best partner (by ``margin`` bits) is there, or their two best
    partners are two apart, nearly tied, around a frame that was not decoded."""
    n = len(h)
    votes = np.zeros((len(ra), 2 * radius + 1), np.int64)
    for r, (a, b, d) in enumerate(zip(ra, rb, rd, strict=True)):
        for x in range(a, b):
            if not usable[x]:
                continue
            cands = [o for o in range(d - radius - 2, d + radius + 3) if o > 0 and x + o < n]
            cands = [o for o in cands if usable[x + o]]
            if not cands:
                continue
            dist = hamming(np.repeat(h[x : x + 1], len(cands), 0), h[[x + o for o in cands]])
            order = np.argsort(dist, kind="stable")
            o1 = cands[order[0]]
            vote = None
            if len(cands) == 1 or dist[order[1]] - dist[order[0]] >= margin:
                vote = o1
            else:
                o2 = cands[order[1]]
                mid = (o1 + o2) // 2
                if abs(o1 - o2) == 2 and not usable[x + mid]:
                    vote = mid
            if vote is not None and abs(vote - d) <= radius:
                votes[r, vote - d + radius] += 1
    return votes
