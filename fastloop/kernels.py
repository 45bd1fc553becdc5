"""numba kernels: the only module that imports numba.

Every function here is private, never validates its input and never does I/O; the
validating wrappers live in :mod:`fastloop.hashing`, :mod:`fastloop.index` and
:mod:`fastloop.loops`. Jitted functions that call each other stay in this one file,
because numba's on-disk cache does not notice an edit to a callee in another file.

Nothing is compiled at import: there are no eager signatures, and ``cache=True``
makes the second process start from the cached machine code.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_JIT = {"cache": True, "nogil": True}

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)
_ONE = np.uint64(1)
_EMPTY = -1


@nb.njit(inline="always")
def _popcount(x):
    # SWAR popcount; LLVM turns this idiom into one popcnt instruction.
    x = x - ((x >> _ONE) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return np.int64((x * _H01) >> np.uint64(56))


@nb.njit(inline="always")
def _dist(h, i, j):
    d = 0
    for w in range(h.shape[1]):
        d += _popcount(h[i, w] ^ h[j, w])
    return d


@nb.njit(**_JIT)
def _ahash_batch(frames, out, contrast):
    """Average hash of ``frames`` (uint8[n, P], P = N*N) into ``out`` (uint64[n, W]).

    Bit p is set when ``P * pixel[p] > sum(frame)``: imagehash's strict ``pixel > mean``
    in integers, computed as ``pixel > sum // P`` (the same for integer pixels, and a
    comparison LLVM vectorises). Bits are packed row-major, most significant first;
    the last word is padded with zeros. ``contrast[f]`` receives max - min of the
    frame (0 = flat).
    """
    n, npix = frames.shape
    nwords = out.shape[1]
    for f in range(n):
        total = np.int32(0)  # 64 * 64 * 255 fits: int32 lets LLVM vectorise the sums
        lo = np.uint8(255)
        hi = np.uint8(0)
        for p in range(npix):
            v = frames[f, p]
            total += np.int32(v)
            lo = min(lo, v)
            hi = max(hi, v)
        contrast[f] = hi - lo if npix > 0 else 0
        t = np.int32(total // npix) if npix > 0 else np.int32(0)
        for w in range(nwords):
            base = w * 64
            m = min(64, npix - base)
            word = np.uint64(0)
            for b in range(m):
                bit = np.uint64(1) if np.int32(frames[f, base + b]) > t else np.uint64(0)
                word |= bit << np.uint64(63 - b)
            out[f, w] = word


@nb.njit(**_JIT)
def _hamming_rows(a, b, out):
    """Hamming distance between rows ``a[i]`` and ``b[i]`` (both uint64[n, W])."""
    for i in range(a.shape[0]):
        d = 0
        for w in range(a.shape[1]):
            d += _popcount(a[i, w] ^ b[i, w])
        out[i] = d


# --------------------------------------------------------------------------- hash table


@nb.njit(inline="always")
def _mix(x):
    # splitmix64 finaliser: spreads every input bit over the whole word.
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@nb.njit(inline="always")
def _row_hash(keys, i):
    h = np.uint64(0x9E3779B97F4A7C15)
    for w in range(keys.shape[1]):
        h = _mix(h ^ keys[i, w])
    return h


@nb.njit(inline="always")
def _rows_equal(keys, i, j):
    for w in range(keys.shape[1]):
        if keys[i, w] != keys[j, w]:
            return False
    return True


@nb.njit(**_JIT)
def _group_ids(keys, initial_capacity):
    """Group equal rows of ``keys`` (uint64[n, K]) with an open-addressing hash table.

    The table stores, per slot, the first row seen with that key; a hit is confirmed
    by comparing every word. It starts at ``initial_capacity`` slots (a power of two)
    and doubles whenever it is half full, so it also serves streams of unknown length.
    Returns ``ids`` (int64[n], numbered in order of first appearance) and the count.
    """
    n = keys.shape[0]
    cap = 16
    while cap < initial_capacity:
        cap *= 2
    slots = np.full(cap, _EMPTY, np.int64)
    slot_gid = np.empty(cap, np.int64)
    ids = np.empty(n, np.int64)
    used = 0
    for i in range(n):
        if 2 * (used + 1) > cap:
            cap *= 2
            new_slots = np.full(cap, _EMPTY, np.int64)
            new_gid = np.empty(cap, np.int64)
            mask = np.uint64(cap - 1)
            for s in range(slots.shape[0]):
                r = slots[s]
                if r != _EMPTY:
                    t = np.int64(_row_hash(keys, r) & mask)
                    while new_slots[t] != _EMPTY:
                        t = (t + 1) & (cap - 1)
                    new_slots[t] = r
                    new_gid[t] = slot_gid[s]
            slots = new_slots
            slot_gid = new_gid
        mask = np.uint64(cap - 1)
        s = np.int64(_row_hash(keys, i) & mask)
        while True:
            r = slots[s]
            if r == _EMPTY:
                slots[s] = i
                slot_gid[s] = used
                ids[i] = used
                used += 1
                break
            if _rows_equal(keys, r, i):
                ids[i] = slot_gid[s]
                break
            s = (s + 1) & (cap - 1)
    return ids, used


@nb.njit(**_JIT)
def _buckets_csr(ids, ngroups):
    """Counting sort of ``ids``: members of group g are ``order[start[g]:start[g+1]]``,
    in increasing row order."""
    counts = np.zeros(ngroups + 1, np.int64)
    for i in range(ids.shape[0]):
        counts[ids[i] + 1] += 1
    for g in range(ngroups):
        counts[g + 1] += counts[g]
    fill = counts[:-1].copy()
    order = np.empty(ids.shape[0], np.int64)
    for i in range(ids.shape[0]):
        g = ids[i]
        order[fill[g]] = i
        fill[g] += 1
    return counts, order


# --------------------------------------------------------------------------- near pairs


@nb.njit(inline="always")
def _diag_lookup(tkeys, thead, delta):
    mask = tkeys.shape[0] - 1
    s = np.int64(_mix(np.uint64(delta)) & np.uint64(mask))
    while True:
        k = tkeys[s]
        if k == delta:
            return s, thead[s]
        if k == _EMPTY:
            return s, _EMPTY
        s = (s + 1) & mask


@nb.njit(inline="always")
def _specific(h, valid, x, y, d0, shift, margin):
    """Does x match y by ``margin`` bits better than y's neighbours ``shift`` away?"""
    n = h.shape[0]
    if y - shift >= 0 and y - shift != x and valid[y - shift]:
        if _dist(h, x, y - shift) < d0 + margin:
            return False
    if y + shift < n and y + shift != x and valid[y + shift]:
        if _dist(h, x, y + shift) < d0 + margin:
            return False
    return True


@nb.njit(inline="always")
def _extend(h, valid, i, j, step, ext_d, max_miss, max_neutral, shift, margin, max_static):
    """Walk from pair (i, j) along its diagonal in direction ``step`` (+1 or -1).

    A step is a hit when both frames are valid and within ``ext_d`` bits, neutral when
    both are invalid (flat: black frames inside a copy), a miss otherwise. The walk
    stops after ``max_miss`` misses or ``max_neutral`` neutral steps in a row (a cut),
    or after ``max_static`` hits in a row that are not specific in time (see
    ``_specific``), so that a quiet scene, where every frame matches every other,
    costs ``max_static`` steps per seed instead of its whole length. Either way the
    run ends at its last *specific* hit: a static view that both places share says
    nothing about where the copy ends (on a fixed traffic camera, ending at the last
    plain hit claimed frames past the cut). The count of
    unspecific hits goes down by one at each specific hit rather than to zero, so
    noise that makes a few random pairs look specific cannot keep a walk going.
    Returns the offset of the end and the number and distance sum of hits up to it.
    """
    n = h.shape[0]
    k = 0
    last_spec = 0
    misses = 0
    neutral = 0
    static = 0
    hits = 0
    dsum = 0
    spec_hits = 0
    spec_dsum = 0
    while True:
        k += 1
        x = i + step * k
        y = j + step * k
        if x < 0 or y < 0 or x >= n or y >= n:
            break
        if valid[x] and valid[y]:
            d = _dist(h, x, y)
            if d <= ext_d:
                misses = 0
                neutral = 0
                hits += 1
                dsum += d
                if _specific(h, valid, x, y, d, shift, margin):
                    static = max(0, static - 1)
                    last_spec = k
                    spec_hits = hits
                    spec_dsum = dsum
                else:
                    static += 1
                    if static > max_static:
                        break
                continue
            misses += 1
            if misses > max_miss:
                break
        elif not valid[x] and not valid[y]:
            neutral += 1
            if neutral > max_neutral:
                break
        else:
            misses += 1
            if misses > max_miss:
                break
    return last_spec, spec_hits, spec_dsum


@nb.njit(**_JIT)
def _near_runs(
    h, valid, min_gap, seed_d, ext_d, max_miss, max_neutral, links, shift, margin, max_static
):
    """Find diagonal runs of near-duplicate frames without all-pairs work.

    Seeds come from multi-index hashing: for each 64-bit word of the hash, frames
    whose word is exactly equal share a bucket. Within a bucket (members in time
    order) each valid frame is paired with at most ``links`` later members at least
    ``min_gap`` frames after it, so a bucket of 100,000 look-alike frames costs
    100,000 * links checks, not 10^10; a clip looped k times still links each copy to
    the next ones. A candidate (p, m) seeds only when it is within ``seed_d`` bits,
    no known run on its diagonal covers it, and it is specific in time: p matches m
    by at least ``margin`` bits better than it matches m - shift and m + shift (in a
    quiet scene every frame matches every other, and extending each such pair would
    cost the length of the scene). A seed is extended both ways (see ``_extend``)
    into a run ``[a, b)`` on diagonal ``delta``: frames ``a..b-1`` match
    ``a+delta..b-1+delta``.

    Returns arrays (a, b, delta, hits, dist_sum) of every run found, short ones too
    (they stop the same run from being extended again).
    """
    n, nwords = h.shape
    rcap = 1024
    ra = np.empty(rcap, np.int64)
    rb = np.empty(rcap, np.int64)
    rd = np.empty(rcap, np.int64)
    rhits = np.empty(rcap, np.int64)
    rdsum = np.empty(rcap, np.int64)
    rnext = np.empty(rcap, np.int64)
    nruns = 0
    tcap = 1024
    tkeys = np.full(tcap, _EMPTY, np.int64)
    thead = np.full(tcap, _EMPTY, np.int64)
    tused = 0
    col = np.empty((n, 1), np.uint64)
    for w in range(nwords):
        for i in range(n):
            col[i, 0] = h[i, w]
        ids, ngroups = _group_ids(col, 2 * n)
        start, order = _buckets_csr(ids, ngroups)
        for g in range(ngroups):
            lo = start[g]
            hi = start[g + 1]
            if hi - lo < 2:
                continue
            q = lo
            for pi in range(lo, hi):
                p = order[pi]
                if not valid[p]:
                    continue
                if q <= pi:
                    q = pi + 1
                while q < hi and order[q] < p + min_gap:
                    q += 1
                taken = 0
                qi = q
                while qi < hi and taken < links:
                    m = order[qi]
                    qi += 1
                    if not valid[m]:
                        continue
                    taken += 1
                    delta = m - p
                    slot, r = _diag_lookup(tkeys, thead, delta)
                    covered = False
                    while r != _EMPTY:
                        if ra[r] <= p and p < rb[r]:
                            covered = True
                            break
                        r = rnext[r]
                    if covered:
                        continue
                    d0 = _dist(h, p, m)
                    if d0 > seed_d or not _specific(h, valid, p, m, d0, shift, margin):
                        continue
                    # the next pair on the diagonal must agree: one lucky pair in a
                    # quiet scene is common, two in a row are not
                    if m + 1 < n and valid[p + 1] and valid[m + 1]:
                        d1 = _dist(h, p + 1, m + 1)
                        if d1 > seed_d or not _specific(h, valid, p + 1, m + 1, d1, shift, margin):
                            continue
                    fw, fh, fs = _extend(
                        h, valid, p, m, 1, ext_d, max_miss, max_neutral, shift, margin, max_static
                    )
                    bw, bh, bs = _extend(
                        h, valid, p, m, -1, ext_d, max_miss, max_neutral, shift, margin, max_static
                    )
                    if nruns == rcap:
                        rcap *= 2
                        ra = np.concatenate((ra, np.empty(rcap - nruns, np.int64)))
                        rb = np.concatenate((rb, np.empty(rcap - nruns, np.int64)))
                        rd = np.concatenate((rd, np.empty(rcap - nruns, np.int64)))
                        rhits = np.concatenate((rhits, np.empty(rcap - nruns, np.int64)))
                        rdsum = np.concatenate((rdsum, np.empty(rcap - nruns, np.int64)))
                        rnext = np.concatenate((rnext, np.empty(rcap - nruns, np.int64)))
                    ra[nruns] = p - bw
                    rb[nruns] = p + fw + 1
                    rd[nruns] = delta
                    rhits[nruns] = fh + bh + 1
                    rdsum[nruns] = fs + bs + _dist(h, p, m)
                    if tkeys[slot] == _EMPTY:
                        tkeys[slot] = delta
                        tused += 1
                        rnext[nruns] = _EMPTY
                    else:
                        rnext[nruns] = thead[slot]
                    thead[slot] = nruns
                    nruns += 1
                    if 2 * tused > tcap:
                        tcap *= 2
                        nk = np.full(tcap, _EMPTY, np.int64)
                        nh = np.full(tcap, _EMPTY, np.int64)
                        for s in range(tkeys.shape[0]):
                            if tkeys[s] != _EMPTY:
                                t = np.int64(_mix(np.uint64(tkeys[s])) & np.uint64(tcap - 1))
                                while nk[t] != _EMPTY:
                                    t = (t + 1) & (tcap - 1)
                                nk[t] = tkeys[s]
                                nh[t] = thead[s]
                        tkeys = nk
                        thead = nh
    return ra[:nruns], rb[:nruns], rd[:nruns], rhits[:nruns], rdsum[:nruns]


@nb.njit(**_JIT)
def _specificity(h, valid, ra, rb, rd, shift, margin):
    """Per run, how specific in time its matches are.

    ``spec[r]`` counts the frames x of run r that match their partner y = x + delta
    clearly better than the partner's neighbours ``shift`` frames away:
    ``min(dist(x, y - shift), dist(x, y + shift)) - dist(x, y) >= margin``. A static
    scene or a slow pan matches its neighbours as well as any partner and scores 0.
    ``votes[r]`` counts frames where diagonal delta is strictly closer than both
    delta - 1 and delta + 1, minus frames where one of those is strictly closer: a
    copy's own diagonal wins, so a run one frame off a true copy (footage moving
    slowly matches its copy's neighbour too) is told apart. A vote per frame, not a
    sum, so a few frames at a cut cannot decide it.
    """
    n = h.shape[0]
    spec = np.zeros(ra.shape[0], np.int64)
    votes = np.zeros(ra.shape[0], np.int64)
    for r in range(ra.shape[0]):
        c = 0
        for x in range(ra[r], rb[r]):
            y = x + rd[r]
            if y + 1 >= n or not valid[x] or not valid[y]:
                continue
            d0 = _dist(h, x, y)
            side = min(_dist(h, x, y - 1), _dist(h, x, y + 1))
            if d0 < side:
                votes[r] += 1
            elif side < d0:
                votes[r] -= 1
            dn = 1 << 30
            if y - shift >= 0 and y - shift != x and valid[y - shift]:
                dn = min(dn, _dist(h, x, y - shift))
            if y + shift < n and valid[y + shift]:
                dn = min(dn, _dist(h, x, y + shift))
            if dn - d0 >= margin:
                c += 1
        spec[r] = c
    return spec, votes


@nb.njit(**_JIT)
def _diagonal_offsets(h, usable, ra, rb, rd, radius, margin, votes):
    """Where a run's diagonal really lies when not every frame was decoded (``--fast``).

    For every usable frame x of run r, the usable frames y within ``radius + 2`` of
    x + delta are compared with x; with the best (offset o1) and the second best
    (o2), x votes in ``votes[r, o - delta + radius]`` for offset o:

    - o = o1 when the best beats every other by ``margin`` bits: both frames of the
      copy's own pair were decoded, and the pair differs by compression noise only;
    - o = the midpoint when o1 and o2 are two apart, nearly tied, and the frame
      between them was not decoded: they are the missing partner's two neighbours.

    Otherwise x abstains; offsets beyond ``radius`` are not counted.
    """
    n = h.shape[0]
    for r in range(ra.shape[0]):
        for x in range(ra[r], rb[r]):
            if not usable[x]:
                continue
            best = 1 << 30
            second = 1 << 30
            o1 = 0
            o2 = 0
            for off in range(rd[r] - radius - 2, rd[r] + radius + 3):
                y = x + off
                if off <= 0 or y >= n or not usable[y]:
                    continue
                d = _dist(h, x, y)
                if d < best:
                    second = best
                    o2 = o1
                    best = d
                    o1 = off
                elif d < second:
                    second = d
                    o2 = off
            if best == (1 << 30):
                continue
            vote = -1
            if second - best >= margin:
                vote = o1
            elif second < (1 << 30) and abs(o1 - o2) == 2:
                mid = (o1 + o2) // 2
                if x + mid < n and not usable[x + mid]:
                    vote = mid
            if vote >= 0 and abs(vote - rd[r]) <= radius:
                votes[r, vote - rd[r] + radius] += 1


@nb.njit(**_JIT)
def _pair_distances(h, ra, rb, rd, out_sum, out_n):
    """Sum and count of distances over every valid pair of each run."""
    n = h.shape[0]
    for r in range(ra.shape[0]):
        s = 0
        c = 0
        for x in range(ra[r], rb[r]):
            y = x + rd[r]
            if y < n:
                s += _dist(h, x, y)
                c += 1
        out_sum[r] = s
        out_n[r] = c


@nb.njit(**_JIT)
def _bridge(h, valid, ra, rb, rd, ext_d):
    """Merge runs on one diagonal whose gap matches throughout.

    Runs must be sorted by (delta, a). A quiet stretch inside a copy stops the
    extension (see ``_extend``), so a copy with a still moment in the middle arrives
    as two runs on one diagonal; when every frame pair between them is within
    ``ext_d`` bits (or flat on both sides) they are one copy. Returns the merged
    (a, b, delta) arrays.
    """
    m = ra.shape[0]
    oa = np.empty(m, np.int64)
    ob = np.empty(m, np.int64)
    od = np.empty(m, np.int64)
    k = -1
    for r in range(m):
        if k >= 0 and od[k] == rd[r]:
            if ra[r] <= ob[k]:
                ob[k] = max(ob[k], rb[r])
                continue
            ok = True
            for x in range(ob[k], ra[r]):
                y = x + rd[r]
                if valid[x] and valid[y]:
                    if _dist(h, x, y) > ext_d:
                        ok = False
                        break
                elif valid[x] or valid[y]:
                    ok = False
                    break
            if ok:
                ob[k] = rb[r]
                continue
        k += 1
        oa[k] = ra[r]
        ob[k] = rb[r]
        od[k] = rd[r]
    return oa[: k + 1], ob[: k + 1], od[: k + 1]


# --------------------------------------------------------------------------- frame classes


@nb.njit(inline="always")
def _find(parent, x):
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@nb.njit(**_JIT)
def _frame_roots(n, ra, rb, rd):
    """Union-find over frames: every frame of run r is joined with its partner.

    Returns, per frame, the earliest frame showing the same picture (itself when it
    has no copy) and the size of its class.
    """
    parent = np.arange(n)
    for r in range(ra.shape[0]):
        for x in range(ra[r], rb[r]):
            y = x + rd[r]
            if y >= n:
                break
            a = _find(parent, x)
            b = _find(parent, y)
            if a < b:
                parent[b] = a
            elif b < a:
                parent[a] = b
    size = np.zeros(n, np.int64)
    for x in range(n):
        parent[x] = _find(parent, x)
        size[parent[x]] += 1
    out = np.empty(n, np.int64)
    for x in range(n):
        out[x] = size[parent[x]]
    return parent, out
