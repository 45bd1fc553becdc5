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


def describe(frames: np.ndarray) -> np.ndarray:
    """Gray descriptor the obvious way: 2x2 block means (rounded half up) for an even
    size of 8 or more, else the frame itself, row-major."""
    n, size, _ = frames.shape
    f = 2 if size >= 8 and size % 2 == 0 else 1
    m = size // f
    s = frames.astype(np.int64).reshape(n, m, f, m, f).sum(axis=(2, 4))
    return ((s + (f * f) // 2) // (f * f)).reshape(n, m * m).astype(np.uint8)


def gap(desc: np.ndarray, x: int, y: int, k: int) -> int:
    """Sum of the k largest |desc[x] - desc[y]|, by sorting."""
    d = np.abs(desc[x].astype(np.int64) - desc[y].astype(np.int64))
    return int(np.sort(d)[::-1][:k].sum())


def motion(desc, valid, shift, k) -> np.ndarray:
    n = len(desc)
    out = np.full(n, -1, np.int64)
    for x in range(n):
        if not valid[x]:
            continue
        for s in (shift, 2 * shift, 4 * shift):
            g = [gap(desc, x, y, k) for y in (x - s, x + s) if 0 <= y < n and valid[y]]
            if g:
                out[x] = max(out[x], min(g))
    return out


def near(desc, valid, shift, k) -> np.ndarray:
    """Per frame, the gap to the nearer of its neighbours ``shift`` frames away that
    are not flat (-1: flat itself, or none)."""
    n = len(desc)
    out = np.full(n, -1, np.int64)
    for x in range(n):
        g = [gap(desc, x, y, k) for y in (x - shift, x + shift) if 0 <= y < n and valid[y]]
        if valid[x] and g:
            out[x] = min(g)
    return out


def motion_cells(desc, valid, shift, threshold) -> list:
    """Per frame, the set of the three (cell, sign) codes that changed most since
    ``shift`` frames before (at least ``threshold`` levels), or None."""
    out = []
    for x in range(len(desc)):
        if x < shift or not valid[x] or not valid[x - shift]:
            out.append(None)
            continue
        v = desc[x].astype(np.int64) - desc[x - shift].astype(np.int64)
        a = np.abs(v)
        order = np.argsort(-a, kind="stable")[:3]
        if a[order[-1]] < threshold:
            out.append(None)
            continue
        out.append(frozenset(2 * int(c) + int(v[c] > 0) for c in order))
    return out


def diagonal_votes(desc, valid, ra, rb, rd, k) -> np.ndarray:
    n = len(desc)
    votes = np.zeros(len(ra), np.int64)
    for r, (a, b, d) in enumerate(zip(ra, rb, rd, strict=True)):
        stride = max(1, (b - a) // 64)  # long runs are sampled, each vote weighted
        for x in range(a, b, stride):
            y = x + d
            if y - 1 < 0 or y + 1 >= n or not valid[x] or not valid[y]:
                continue
            d0 = gap(desc, x, y, k)
            side = min(gap(desc, x, y - 1, k), gap(desc, x, y + 1, k))
            votes[r] += stride * (int(d0 < side) - int(side < d0))
    return votes


def footage(succ, pred, weight, jump):
    """Paths of classes by following successors; a cycle is opened after its step
    with the least weight (then the largest jump), found by listing the cycle."""
    m = len(succ)
    comp = [-1] * m
    pos = [0] * m
    c = 0
    for u in range(m):
        if pred[u] == -1:
            v, p = u, 0
            while v != -1:
                comp[v], pos[v] = c, p
                p += 1
                v = succ[v]
            c += 1
    for u in range(m):
        if comp[u] != -1:
            continue
        cyc = [u]
        while succ[cyc[-1]] != u:
            cyc.append(succ[cyc[-1]])
        weakest = min(cyc, key=lambda w: (weight[w], -jump[w], cyc.index(w)))
        head = succ[weakest]
        i = cyc.index(head)
        for p, v in enumerate(cyc[i:] + cyc[:i]):
            comp[v], pos[v] = c, p
        c += 1
    return np.array(comp), np.array(pos)


def smooth_footage(n: int, size: int, seed: int, step: float = 6.0) -> np.ndarray:
    """uint8[n, size, size] frames of a textured picture panning one pixel a frame
    (and swaying up and down), so that every frame differs from its neighbours 0.2 s
    (6 frames) away and no picture ever comes back: a path that revisits a crop would
    make true copies the truth does not know about."""
    rng = np.random.default_rng(seed)
    big = rng.normal(0, 1, (size * 8, n + size + 8))
    k = np.ones(5) / 5
    for axis in (0, 1):
        big = np.apply_along_axis(lambda v: np.convolve(v, k, "same"), axis, big)
    big = (big - big.min()) / (big.max() - big.min()) * 200 + 20
    out = np.empty((n, size, size), np.uint8)
    for i in range(n):
        y = int(size * 3 + size * 2 * np.sin(i * step / 30.0 / 3.1))
        out[i] = big[y : y + size, i + 4 : i + 4 + size].astype(np.uint8)
    return out


# --------------------------------------------------------------------------- judging and runs


def run_gaps(desc, ra, rb, rd, k) -> np.ndarray:
    """The gap of every pair x -> x + d of every run, runs one after another."""
    return np.array(
        [gap(desc, x, x + d, k) for a, b, d in zip(ra, rb, rd, strict=True) for x in range(a, b)],
        np.int64,
    )


def cuts(desc, valid, k, size) -> np.ndarray:
    """A cut between x - 1 and x: a change of at least ``size`` that is also at least 3
    times the change one frame before (none known at the start, or after a flat
    frame); a flat frame next to a picture is a cut, two flat frames are not."""
    n = len(desc)
    out = np.zeros(n, bool)
    before = None
    for x in range(1, n):
        if not (valid[x] and valid[x - 1]):
            out[x] = bool(valid[x]) != bool(valid[x - 1])
            before = None
            continue
        g = gap(desc, x, x - 1, k)
        out[x] = g >= size and (before is None or g >= 3 * before)
        before = g
    return out


def _nearby(n, valid, x, zs):
    """The frames of ``zs`` that exist, are not x and are not flat."""
    return [z for z in zs if 0 <= z < n and z != x and valid[z]]


def off_diagonal(desc, valid, x, y, d0, k, margin) -> bool:
    """Is x closer, by more than ``margin``, to a frame one or two beside y than d0?"""
    zs = _nearby(len(desc), valid, x, (y - 1, y + 1, y - 2, y + 2))
    return any(gap(desc, x, z, k) + margin < d0 for z in zs)


def judge(desc, valid, x, y, shift, k, agree, ratio10, floor, min_motion, d0=-1, ladder=True):
    """(d0, state) of the pair (x, y), from ``kernels._judge``'s docstring: at the first
    time scale (1, 2, 4 times ``shift``) where y's neighbours that far are at least
    ``min_motion`` from x, the pair is specific (2) when they are ``ratio10 / 10``
    times farther than max(d0, floor) and no frame 1, 2, 4, ... (< that scale) beside
    y is closer to x by more than ``floor``; agreeing but beside (3) when only that
    last check fails; else agreeing (1, d0 <= agree) or differing (0)."""
    n = len(desc)
    if d0 < 0:
        d0 = gap(desc, x, y, k)
    for scale in (1, 2, 4):
        s = shift * scale
        near = [gap(desc, x, z, k) for z in _nearby(n, valid, x, (y - s, y + s))]
        if not near or min(near) < min_motion:
            continue
        if 10 * min(near) >= ratio10 * max(d0, floor):
            offsets = [2**i for i in range(s.bit_length()) if 2**i < s]
            beside = [z for o in offsets for z in _nearby(n, valid, x, (y - o, y + o))]
            if not ladder or all(gap(desc, x, z, k) + floor >= d0 for z in beside):
                return d0, 2
            if d0 <= agree:
                return d0, 3
        break
    return d0, int(d0 <= agree)


def bridge(desc, valid, ra, rb, rd, noise, k, agree, excess=3):
    """Runs (sorted by delta, then a) merged along their diagonal: a run that starts
    inside the merged run before it extends it; one that starts after it joins it
    when every frame between them is flat on both sides, or on neither and agrees
    within min(agree, excess * max(k, the larger noise)) without a frame one or two
    beside matching better. The merged run keeps the noise of the runs bridged
    into it (an overlapping run adds none)."""
    merged: list[list[int]] = []  # [a, b, d, noise]
    for a, b, d, nz in zip(ra.tolist(), rb.tolist(), rd.tolist(), noise.tolist(), strict=True):
        if merged and merged[-1][2] == d:
            last = merged[-1]
            if a <= last[1]:
                last[1] = max(last[1], b)
                continue
            limit = min(agree, excess * max(k, last[3], nz))

            def joins(x, d=d, limit=limit):
                y = x + d
                if not valid[x] and not valid[y]:
                    return True
                if not (valid[x] and valid[y]):
                    return False
                g = gap(desc, x, y, k)
                return g <= limit and not off_diagonal(desc, valid, x, y, g, k, 0)

            if all(joins(x) for x in range(last[1], a)):
                last[1] = b
                last[3] = max(last[3], nz)
                continue
        merged.append([a, b, d, nz])
    out = np.array([m[:3] for m in merged], np.int64).reshape(-1, 3)
    return out[:, 0], out[:, 1], out[:, 2]


def frame_roots_windowed(n: int, runs, window: int):
    """``kernels._frame_roots`` with its refusal, by explicit class lists: pairs joined
    in run order (a run stops at the first partner outside the video); a join is
    refused when it would put two frames less than ``window`` apart in one class.
    Returns (earliest frame of each frame's class, class sizes)."""
    label = list(range(n))
    members = {x: [x] for x in range(n)}
    for a, b, d in runs:
        for x in range(a, b):
            y = x + d
            if not 0 <= y < n:
                break
            p, q = label[x], label[y]
            if p == q:
                continue
            if window > 0 and any(abs(i - j) < window for i in members[p] for j in members[q]):
                continue
            for i in members[q]:
                label[i] = p
            members[p] += members.pop(q)
    roots = np.array([min(members[label[x]]) for x in range(n)])
    size = np.array([len(members[label[x]]) for x in range(n)])
    return roots, size
