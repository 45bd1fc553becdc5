"""numba kernels: the only module that imports numba.

Every function here is private, never validates its input and never does I/O; the
validating wrappers live in :mod:`fastloop.hashing`, :mod:`fastloop.index` and
:mod:`fastloop.loops`. Jitted functions that call each other stay in this one file,
because numba's on-disk cache does not notice an edit to a callee in another file.

Nothing is compiled at import: there are no eager signatures, and ``cache=True``
makes the second process start from the cached machine code.
"""

from __future__ import annotations

import sys

import numpy as np

from . import util

if util.LEAN_NUMBA and "scipy" not in sys.modules and "numba" not in sys.modules:
    # numba looks for SciPy's BLAS as it is imported (for np.dot and np.linalg in
    # jitted code, which these kernels never call); with SciPy installed that import
    # costs 0.17 s of CPU (scipy.linalg, numpy.f2py), taken from ffmpeg while it
    # decodes. The command line owns its process and skips it; a library call leaves
    # the caller's numba as it would be.
    sys.modules["scipy"] = None  # an import of it now fails: numba goes without BLAS
    try:
        import numba as nb
        import numba.np.arraymath  # makes the check now (numba would, later)
    finally:
        if sys.modules.get("scipy", 0) is None:
            del sys.modules["scipy"]
else:
    import numba as nb

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic, overload

_JIT = {"cache": True, "nogil": True}
#: Eight flag bytes read as one word (``_ahash_rest``) are in this order.
_LITTLE_ENDIAN = sys.byteorder == "little"

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)
_ONE = np.uint64(1)
_EMPTY = -1
#: Time scales (multiples of the 0.2 s shift) at which a pair is judged specific: the
#: next one is tried where footage moves too little at the one before (slow footage).
_SCALES = (1, 2, 4)
#: A frame covered by this many runs seeds no more: union-find joins the rest of its
#: copies through them (two, so that one look-alike run cannot block a true one).
_ENOUGH = 3
#: A key's table holds only the buckets of open frames when at most 1 in this many is.
_OPEN_SHARE = 8
#: A specific pair in a run may differ by at most this many times the run's mean gap.
_EXCESS = 3


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
def _ahash_batch(frames, out, contrast, desc, pool):
    """Average hash of ``frames`` (uint8[n, P], P = N*N) into ``out`` (uint64[n, W]).

    Bit p is set when ``P * pixel[p] > sum(frame)``: imagehash's strict ``pixel > mean``
    in integers, computed as ``pixel > sum // P`` (the same for integer pixels, and a
    comparison LLVM vectorises). Bits are packed row-major, most significant first;
    the last word is padded with zeros. ``contrast[f]`` receives max - min of the
    frame (0 = flat). ``desc[f]`` receives the gray levels the hash throws away, as
    the rounded means of ``pool`` x ``pool`` blocks, row-major (uint8[n, (N/pool)^2]).

    Every step runs in vectors (hashing was most of a day's CPU outside ffmpeg): the
    sum and the extremes in a loop LLVM vectorises; 64 pixels at a time become a word
    by one compare into a mask (``_above_bits``; ``_ahash_rest`` packs what does not
    fill a word); at 24x24 each pair of rows becomes 12 cells in one vector step
    (``_pool2_rows24``), else the rows are added, then neighbouring columns. 77 ns a
    24x24 frame, where the plain loops took 230.
    """
    n, npix = frames.shape
    nwords = out.shape[1]
    size = np.int64(np.sqrt(npix) + 0.5)
    cells = size // pool
    half = (pool * pool) // 2
    # past npix: stays 0, the padding bits (and room for every pixel whatever ``out``'s
    # width: pixels past its words are flagged and never read)
    flags = np.zeros(64 * max(nwords, (npix + 63) // 64), np.uint8)
    flags64 = flags.view(np.uint64)
    rows = np.empty(size, np.uint16)
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
        t = np.uint8(total // npix) if npix > 0 else np.uint8(0)
        # whole words of 64 pixels: one compare into a mask, its bits reversed
        whole = min(npix // 64, nwords) if _LITTLE_ENDIAN else 0
        for w in range(whole):
            out[f, w] = _above_bits(frames, f, 64 * w, t)
        if whole < nwords:
            _ahash_rest(frames, f, t, out, whole, flags, flags64)
        if pool == 2 and size == 24:
            for cy in range(cells):
                _pool2_rows24(frames, f, 48 * cy, desc, 12 * cy)
            continue
        if pool == 2:
            for cy in range(cells):
                r0 = 2 * cy * size
                for c in range(size):
                    rows[c] = np.uint16(frames[f, r0 + c]) + np.uint16(frames[f, r0 + size + c])
                for cx in range(cells):
                    s = rows[2 * cx] + rows[2 * cx + 1] + np.uint16(2)
                    desc[f, cy * cells + cx] = s >> np.uint16(2)
            continue
        for cy in range(cells):
            for cx in range(cells):
                s = 0
                for dy in range(pool):
                    row = (cy * pool + dy) * size + cx * pool
                    for dx in range(pool):
                        s += np.int32(frames[f, row + dx])
                desc[f, cy * cells + cx] = (s + half) // (pool * pool)


@nb.njit(inline="always")
def _ahash_rest(frames, f, t, out, first, flags, flags64):
    """Words ``first..`` of frame f's hash, whose pixels do not fill whole words of 64
    (the last one padded with zeros: ``flags`` past the pixels stay 0): the
    comparisons go to one byte a pixel, and eight of those bytes, read as one
    little-endian word, become eight bits by one multiplication."""
    npix = frames.shape[1]
    nwords = out.shape[1]
    for p in range(64 * first, npix):
        flags[p] = np.uint8(1) if frames[f, p] > t else np.uint8(0)
    for w in range(first, nwords):
        word = np.uint64(0)
        for q in range(8):
            if _LITTLE_ENDIAN:
                # byte j of the word (pixel 8q + j) lands on bit 7 - j of the top byte
                x = flags64[8 * w + q] * np.uint64(0x8040201008040201)
                byte = x >> np.uint64(56)
            else:  # pragma: no cover - no big-endian machine runs numba today
                byte = np.uint64(0)
                for j in range(8):
                    byte = (byte << np.uint64(1)) | np.uint64(flags[64 * w + 8 * q + j])
            word = (word << np.uint64(8)) | byte
        out[f, w] = word


@nb.njit(**_JIT)
def _hamming_rows(a, b, out):
    """Hamming distance between rows ``a[i]`` and ``b[i]`` (both uint64[n, W])."""
    for i in range(a.shape[0]):
        d = 0
        for w in range(a.shape[1]):
            d += _popcount(a[i, w] ^ b[i, w])
        out[i] = d


@nb.njit(**_JIT)
def _root_distances(hashes, roots, copied, out):
    """``out[x]``: the Hamming distance of frame x's hash to its class's first frame,
    ``roots[x]``; -1 where x is not copied or is that frame itself. One pass, no
    array a slice (numpy's gathers of a day's hashes, 65,536 frames at a time, were
    fresh memory each time: 0.2 s)."""
    for x in range(roots.shape[0]):
        r = roots[x]
        if copied[x] and r != x:
            out[x] = _dist(hashes, x, r)
        else:
            out[x] = -1


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
    Returns ``ids`` (int32[n], numbered in order of first appearance: n < 2^31, and
    half the memory of int64 for a day of frames) and the count.
    """
    n = keys.shape[0]
    cap = 16
    while cap < initial_capacity:
        cap *= 2
    # int32 slots: a day of distinct keys needs 8 million of them
    slots = np.full(cap, _EMPTY, np.int32)
    slot_gid = np.empty(cap, np.int32)
    ids = np.empty(n, np.int32)
    used = 0
    for i in range(n):
        if 2 * (used + 1) > cap:
            cap *= 2
            new_slots = np.full(cap, _EMPTY, np.int32)
            new_gid = np.empty(cap, np.int32)
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


@nb.njit(inline="always")
def _key_of(hashes, sub, w, which, base, i):
    """Key of frame i in ``_propose_key``'s bucket table ``w``: word w of its hash where
    ``which`` < 0, else motion key ``which`` of the cells ``sub`` (``_motion_key``)."""
    if which < 0:
        return hashes[i, w]
    return _motion_key(sub, i, which, base)


@nb.njit(**_JIT)
def _group_keys(hashes, sub, w, which, base, initial_capacity):
    """``_group_ids`` of the keys ``_key_of`` gives, one a frame, computed as the table
    reads them instead of stored as a column (8 bytes a frame: 20 MB for a day).

    The table keeps each key beside its group (-1: empty slot), so a probe compares
    with the table alone: a looped video's few thousand keys stay in cache."""
    n = hashes.shape[0]
    cap = 16
    while cap < initial_capacity:
        cap *= 2
    slot_key = np.empty(cap, np.uint64)
    slot_gid = np.full(cap, _EMPTY, np.int32)
    ids = np.empty(n, np.int32)
    seed = np.uint64(0x9E3779B97F4A7C15)
    used = 0
    for i in range(n):
        if 2 * (used + 1) > cap:
            cap *= 2
            new_key = np.empty(cap, np.uint64)
            new_gid = np.full(cap, _EMPTY, np.int32)
            mask = np.uint64(cap - 1)
            for s in range(slot_gid.shape[0]):
                if slot_gid[s] != _EMPTY:
                    t = np.int64(_mix(seed ^ slot_key[s]) & mask)
                    while new_gid[t] != _EMPTY:
                        t = (t + 1) & (cap - 1)
                    new_key[t] = slot_key[s]
                    new_gid[t] = slot_gid[s]
            slot_key = new_key
            slot_gid = new_gid
        mask = np.uint64(cap - 1)
        key = _key_of(hashes, sub, w, which, base, i)
        s = np.int64(_mix(seed ^ key) & mask)
        while True:
            g = slot_gid[s]
            if g == _EMPTY:
                slot_key[s] = key
                slot_gid[s] = used
                ids[i] = used
                used += 1
                break
            if slot_key[s] == key:
                ids[i] = g
                break
            s = (s + 1) & (cap - 1)
    return ids, used


@nb.njit(**_JIT)
def _open_frames(tied, gone, n):
    """How many of the first ``n`` frames are neither tied nor gone (bitsets of
    ``_propose_state``): the frames a key's buckets can still seed from."""
    count = 0
    for i in range(tied.shape[0]):
        count += _popcount(~(tied[i] | gone[i]))
    # the bits past n in the last word are neither
    return count - (64 * tied.shape[0] - n)


@nb.njit(**_JIT)
def _few_open(tied, gone, n):
    """Are so few frames open (``_open_frames``) that ``_open_buckets`` pays? Once the
    first key has tied a looped video's plays together, some 1 frame in 2,000 is."""
    return _OPEN_SHARE * _open_frames(tied, gone, n) <= n


@nb.njit(**_JIT)
def _open_buckets(hashes, sub, w, which, base, tied, gone):
    """``_buckets_csr`` of ``_group_keys`` restricted to the buckets that hold a frame
    neither tied nor gone (the only ones ``_propose_key`` does not skip), numbered in
    the same order (of first appearance): the same seeds, for a quarter of the work
    once most frames are tied. Keys are read once for those frames (a small table),
    then once for every frame (kept where the table has them); 0 is no key."""
    n = hashes.shape[0]
    cap = 64
    slot_key = np.empty(cap, np.uint64)
    slot_gid = np.full(cap, _EMPTY, np.int32)  # -1 empty, -2 seen but not numbered
    seed = np.uint64(0x9E3779B97F4A7C15)
    used = 0
    for word in range(tied.shape[0]):
        free = ~(tied[word] | gone[word])
        if free == 0:
            continue
        for bit in range(64):
            x = word * 64 + bit
            if x >= n or not (free >> np.uint64(bit)) & _ONE:
                continue
            key = _key_of(hashes, sub, w, which, base, x)
            if key == 0:
                continue
            if 2 * (used + 1) > cap:
                cap *= 2
                new_key = np.empty(cap, np.uint64)
                new_gid = np.full(cap, _EMPTY, np.int32)
                mask = np.uint64(cap - 1)
                for s in range(slot_gid.shape[0]):
                    if slot_gid[s] != _EMPTY:
                        t = np.int64(_mix(seed ^ slot_key[s]) & mask)
                        while new_gid[t] != _EMPTY:
                            t = (t + 1) & (cap - 1)
                        new_key[t] = slot_key[s]
                        new_gid[t] = -2
                slot_key = new_key
                slot_gid = new_gid
            mask = np.uint64(cap - 1)
            s = np.int64(_mix(seed ^ key) & mask)
            while slot_gid[s] != _EMPTY and slot_key[s] != key:
                s = (s + 1) & (cap - 1)
            if slot_gid[s] == _EMPTY:
                slot_key[s] = key
                slot_gid[s] = -2
                used += 1
    member = np.empty(n if used else 0, np.int32)
    group = np.empty(n if used else 0, np.int32)
    m = 0
    ngroups = 0
    mask = np.uint64(cap - 1)
    for i in range(n if used else 0):
        key = _key_of(hashes, sub, w, which, base, i)
        if key == 0:
            continue
        s = np.int64(_mix(seed ^ key) & mask)
        while slot_gid[s] != _EMPTY and slot_key[s] != key:
            s = (s + 1) & (cap - 1)
        g = slot_gid[s]
        if g == _EMPTY:
            continue
        if g == -2:
            g = ngroups
            slot_gid[s] = g
            ngroups += 1
        member[m] = i
        group[m] = g
        m += 1
    start, at = _buckets_csr(group[:m], ngroups)
    order = np.empty(m, np.int32)
    for j in range(m):
        order[j] = member[at[j]]
    return start, order


@nb.njit(**_JIT)
def _buckets_csr(ids, ngroups):
    """Counting sort of ``ids``: members of group g are ``order[start[g]:start[g+1]]``,
    in increasing row order. Both are int32 (n < 2^31): the proposals sort a day of
    frames once per key, and int64 would double these transients."""
    start = np.zeros(ngroups + 1, np.int32)
    for i in range(ids.shape[0]):
        start[ids[i] + 1] += 1
    for g in range(ngroups):
        start[g + 1] += start[g]
    # start[g] serves as group g's fill cursor (no copy of it): filled, it has moved
    # on to where group g + 1 starts, so every entry is shifted back by one after
    order = np.empty(ids.shape[0], np.int32)
    for i in range(ids.shape[0]):
        g = ids[i]
        order[start[g]] = i
        start[g] += 1
    for g in range(ngroups, 0, -1):
        start[g] = start[g - 1]
    start[0] = 0
    return start, order


# --------------------------------------------------------------------------- near pairs


# The gap between two frames is the search's inner loop: a looped day computes some
# 25 million of them (motion, cuts, walks, checks). Its vector steps are spelled out
# for LLVM (below), which does not find them in plain loops: numba widens every
# count to 64 bits, so a count of 144 byte compares became 18 eight-lane adds.
_LANES = 64  # bytes per vector step; the scratch space is a whole number of them


def _splat(builder, value, vty):
    """``value`` (an integer of the vector's element type) in every lane of ``vty``."""
    one = builder.insert_element(ir.Constant(vty, None), value, ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), vty.count), [0] * vty.count)
    return builder.shuffle_vector(one, ir.Constant(vty, ir.Undefined), zeros)


def _bytes(ty, ndim: int, dtype=types.uint8) -> bool:
    """Is ``ty`` a C-contiguous array of ``dtype`` (uint8 unless said) and ``ndim``
    axes (what the vector steps read whole)? Anything else is refused when a kernel is
    compiled, not read wrongly."""
    return (
        isinstance(ty, types.Array) and ty.dtype == dtype and ty.layout == "C" and ty.ndim == ndim
    )


def _llvm_fn(builder, name, ret, *args):
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(ret, list(args)), name)


def _byte_vector_at(context, builder, aryty, ary, index, width, bits=8):
    """A pointer to ``width`` entries of an integer array (``bits`` wide, bytes unless
    said) from entry ``index`` of its data, and the vector type."""
    data = context.make_array(aryty)(context, builder, ary).data
    vty = ir.VectorType(ir.IntType(bits), width)
    return builder.bitcast(builder.gep(data, [index]), vty.as_pointer()), vty


def _row_at(context, builder, aryty, ary, r, col):
    """Entry offset of ``ary[r, col]`` in a C-contiguous uint8 array."""
    row = builder.extract_value(context.make_array(aryty)(context, builder, ary).strides, 0)
    return builder.add(builder.mul(r, row), col)


def _abs_diff_step(width):
    @intrinsic
    def abs_diff(typingctx, desc, x, y, s, top):
        """``top[s:s+W] = |desc[x, s:s+W] - desc[y, s:s+W]|`` (W = width bytes, all
        within a row of a C-contiguous uint8 ``desc``); returns their maximum."""
        if not (_bytes(desc, 2) and _bytes(top, 1)):
            return None
        sig = types.uint8(desc, types.int64, types.int64, types.int64, top)

        def codegen(context, builder, signature, args):
            d, x, y, s, t = args
            dty = signature.args[0]
            px, vty = _byte_vector_at(
                context, builder, dty, d, _row_at(context, builder, dty, d, x, s), width
            )
            py, _ = _byte_vector_at(
                context, builder, dty, d, _row_at(context, builder, dty, d, y, s), width
            )
            a = builder.load(px, align=1)
            b = builder.load(py, align=1)
            hi = builder.call(_llvm_fn(builder, f"llvm.umax.v{width}i8", vty, vty, vty), [a, b])
            lo = builder.call(_llvm_fn(builder, f"llvm.umin.v{width}i8", vty, vty, vty), [a, b])
            diff = builder.sub(hi, lo)
            pt, _ = _byte_vector_at(context, builder, signature.args[4], t, s, width)
            builder.store(diff, pt, align=1)
            most = _llvm_fn(builder, f"llvm.vector.reduce.umax.v{width}i8", ir.IntType(8), vty)
            return builder.call(most, [diff])

        return sig, codegen

    return abs_diff


_abs_diff_64 = _abs_diff_step(64)
_abs_diff_16 = _abs_diff_step(16)


def _top_step(body):
    """An intrinsic ``(top, s, level) -> int64`` over the 64 bytes ``top[s:s+64]`` of a
    uint8 array: ``body(builder, bytes, level in every lane, vector type)``."""

    @intrinsic
    def step(typingctx, top, s, level):
        if not _bytes(top, 1):
            return None
        sig = types.int64(top, types.int64, types.uint8)

        def codegen(context, builder, signature, args):
            t, s, lv = args
            pt, vty = _byte_vector_at(context, builder, signature.args[0], t, s, _LANES)
            return body(builder, builder.load(pt, align=1), _splat(builder, lv, vty), vty)

        return sig, codegen

    return step


def _count_body(builder, v, level, vty):
    """How many bytes are at least the level: one compare into a mask, its popcount."""
    bits = builder.bitcast(builder.icmp_unsigned(">=", v, level), ir.IntType(_LANES))
    popcount = _llvm_fn(builder, f"llvm.ctpop.i{_LANES}", ir.IntType(_LANES), ir.IntType(_LANES))
    return builder.zext(builder.call(popcount, [bits]), ir.IntType(64))


def _sum_body(builder, v, level, vty):
    """The sum of what the bytes exceed the level by (``max(v - level, 0)``)."""
    over = builder.call(_llvm_fn(builder, f"llvm.usub.sat.v{_LANES}i8", vty, vty, vty), [v, level])
    wide = ir.VectorType(ir.IntType(16), _LANES)  # 64 * 255 fits in 16 bits
    add = _llvm_fn(builder, f"llvm.vector.reduce.add.v{_LANES}i16", ir.IntType(16), wide)
    return builder.zext(builder.call(add, [builder.zext(over, wide)]), ir.IntType(64))


_count_at_least = _top_step(_count_body)
_sum_above = _top_step(_sum_body)


def _pool2_step(width):
    @intrinsic
    def pool2(typingctx, frames, f, p, desc, o):
        """``desc[f, o:o+W/2]`` = the rounded means of the 2 x 2 blocks of the two
        rows of W = ``width`` pixels from ``frames[f, p]`` (C-contiguous uint8 arrays):
        the rows added, then neighbouring columns, in vectors (a plain loop took
        130 ns a 24x24 frame, the most of its hash)."""
        if not (_bytes(frames, 2) and _bytes(desc, 2)):
            return None
        sig = types.void(frames, types.int64, types.int64, desc, types.int64)

        def codegen(context, builder, signature, args):
            fr, f, p, d, o = args
            fty, dty = signature.args[0], signature.args[3]
            at = _row_at(context, builder, fty, fr, f, p)
            below = builder.add(at, ir.Constant(ir.IntType(64), width))
            wide = ir.VectorType(ir.IntType(16), width)
            sums = None
            for start in (at, below):
                ptr, _ = _byte_vector_at(context, builder, fty, fr, start, width)
                row = builder.zext(builder.load(ptr, align=1), wide)
                sums = row if sums is None else builder.add(sums, row)
            half = width // 2
            undef = ir.Constant(wide, ir.Undefined)
            pick = ir.VectorType(ir.IntType(32), half)
            even = builder.shuffle_vector(sums, undef, ir.Constant(pick, list(range(0, width, 2))))
            odd = builder.shuffle_vector(sums, undef, ir.Constant(pick, list(range(1, width, 2))))
            two = _splat(
                builder, ir.Constant(ir.IntType(16), 2), ir.VectorType(ir.IntType(16), half)
            )
            means = builder.lshr(builder.add(builder.add(even, odd), two), two)
            out, oty = _byte_vector_at(
                context, builder, dty, d, _row_at(context, builder, dty, d, f, o), half
            )
            builder.store(builder.trunc(means, oty), out, align=1)
            return context.get_dummy_value()

        return sig, codegen

    return pool2


_pool2_rows24 = _pool2_step(24)


@intrinsic
def _equal_bits(typingctx, ary, lo, b):
    """The mask of ``ary[lo:lo+64] == b`` (a C-contiguous int32 array, those entries
    within it): entry lo + j on bit j. One compare of 64 lanes."""
    if not _bytes(ary, 1, types.int32):
        return None
    sig = types.uint64(ary, types.int64, types.int32)

    def codegen(context, builder, signature, args):
        a, lo, b = args
        ptr, vty = _byte_vector_at(context, builder, signature.args[0], a, lo, 64, 32)
        same = builder.icmp_signed("==", builder.load(ptr, align=4), _splat(builder, b, vty))
        return builder.bitcast(same, ir.IntType(64))

    return sig, codegen


@nb.njit(inline="always")
def _holds(ary, lo, hi, b):
    """Does ``ary[lo:hi]`` (int32, C-contiguous) hold ``b``? 64 entries a compare
    where they lie within the array (union-find's check around a frame: a plain loop
    took 39 ns a frame, 5x more, most of the grouping on a looped day)."""
    s = lo
    while s < hi and s + 64 <= ary.shape[0]:
        mask = _equal_bits(ary, s, b)
        if hi - s < 64:
            mask &= (np.uint64(1) << np.uint64(hi - s)) - np.uint64(1)
        if mask:
            return True
        s += 64
    for f in range(s, hi):
        if ary[f] == b:
            return True
    return False


@intrinsic
def _above_bits(typingctx, frames, f, p, level):
    """The 64 bits of pixels ``frames[f, p:p+64] > level`` (a C-contiguous uint8
    array, the pixels within row f), pixel p the most significant: one compare into a
    mask (pixel p + j on bit j), its bits reversed. What ``_ahash_batch`` packed a
    byte a pixel and eight bytes a multiplication, 5x slower."""
    if not _bytes(frames, 2):
        return None
    sig = types.uint64(frames, types.int64, types.int64, types.uint8)

    def codegen(context, builder, signature, args):
        fr, f, p, lv = args
        at = _row_at(context, builder, signature.args[0], fr, f, p)
        ptr, vty = _byte_vector_at(context, builder, signature.args[0], fr, at, 64)
        above = builder.icmp_unsigned(">", builder.load(ptr, align=1), _splat(builder, lv, vty))
        word = builder.bitcast(above, ir.IntType(64))
        rev = _llvm_fn(builder, "llvm.bitreverse.i64", ir.IntType(64), ir.IntType(64))
        return builder.call(rev, [word])

    return sig, codegen


def _diffs(desc, x, y, top):
    """``top[:cells] = |desc[x] - desc[y]|`` per cell; returns their maximum. Compiled
    from the overload below (vector steps for a C-contiguous ``desc``)."""
    raise NotImplementedError("jitted only")


@overload(_diffs)
def _diffs_impl(desc, x, y, top):
    if _bytes(desc, 2) and _bytes(top, 1):

        def vector(desc, x, y, top):
            c = desc.shape[1]
            hi = np.uint8(0)
            s = 0
            while s + 64 <= c:
                hi = max(hi, _abs_diff_64(desc, x, y, s, top))
                s += 64
            while s + 16 <= c:
                hi = max(hi, _abs_diff_16(desc, x, y, s, top))
                s += 16
            return max(hi, _diffs_from(desc, x, y, top, s))

        return vector

    def plain(desc, x, y, top):
        return _diffs_from(desc, x, y, top, 0)

    return plain


@nb.njit(inline="always")
def _diffs_from(desc, x, y, top, lo):
    """``_diffs`` of cells ``lo`` on, one at a time: the rest after the vector steps,
    or a whole row that is not one block of memory."""
    hi = np.uint8(0)
    for i in range(lo, desc.shape[1]):
        a = desc[x, i]
        b = desc[y, i]
        v = max(a, b) - min(a, b)
        top[i] = v
        hi = max(hi, v)
    return hi


@nb.njit(**_JIT)
def _count_top(top, level):
    """How many bytes of ``top`` are at least ``level`` (1-255: the zeros past the
    cells never count)."""
    count = np.int64(0)
    lv = np.uint8(level)
    for s in range(0, top.shape[0] - (_LANES - 1), _LANES):
        count += _count_at_least(top, s, lv)
    return count


@nb.njit(**_JIT)
def _top_sum(top, k, hi):
    """The sum of the ``k`` largest bytes of ``top`` (its cells' differences, the
    largest ``hi``).

    The k-th largest difference ``t`` is found by search on counts of cells at or
    above a level, three levels a step (a quarter of the range left each time: the
    three counts are independent, so they cost about what one does), and the sum is
    ``k * t`` plus what the cells above ``t`` exceed it by. Not a running top-k,
    which branches on every cell (3x slower)."""
    lo = np.int64(0)  # at least k cells are >= lo
    up = np.int64(hi) + 1  # fewer than k cells are >= up
    while up - lo > 1:
        q = (up - lo) >> 2
        if q == 0:
            mid = (lo + up) >> 1
            if _count_top(top, mid) >= k:
                lo = mid
            else:
                up = mid
            continue
        l1 = lo + q
        l2 = l1 + q
        l3 = l2 + q
        c1 = np.int64(0)
        c2 = np.int64(0)
        c3 = np.int64(0)
        for s in range(0, top.shape[0] - (_LANES - 1), _LANES):
            c1 += _count_at_least(top, s, np.uint8(l1))
            c2 += _count_at_least(top, s, np.uint8(l2))
            c3 += _count_at_least(top, s, np.uint8(l3))
        if c3 >= k:
            lo = l3
        elif c2 >= k:
            lo = l2
            up = l3
        elif c1 >= k:
            lo = l1
            up = l2
        else:
            up = l1
    over = np.int64(0)
    for s in range(0, top.shape[0] - (_LANES - 1), _LANES):
        over += _sum_above(top, s, np.uint8(lo))
    return over + np.int64(k) * lo


@nb.njit(inline="always")
def _gap(desc, x, y, k, top):
    """Sum of the ``k`` largest absolute differences between the gray descriptors of
    frames x and y (``top``: scratch space from ``_scratch``): where a look-alike or
    a moving hand differs, however small that region is, and not the mean, which a
    still background dilutes."""
    return _top_sum(top, k, _diffs(desc, x, y, top))


@nb.njit(**_JIT)
def _gap_at_least(desc, x, y, k, top, t):
    """``_gap(desc, x, y, k, top) >= t``, mostly without the gap: when ``k`` cells
    differ by ``t / k`` or more, their sum alone reaches ``t``; when no cell differs
    by ``t / k``, the sum cannot. A judge asks this of a partner's neighbours, which
    in moving footage are far away; the gap is computed only where both fail."""
    if t <= 0:
        return True
    hi = _diffs(desc, x, y, top)
    level = (t + k - 1) // k
    if level > hi:
        return False
    if _count_top(top, level) >= k:
        return True
    return _top_sum(top, k, hi) >= t


@nb.njit(**_JIT)
def scratch(cells):
    """The scratch space ``_gap`` needs for descriptors of ``cells`` cells: a whole
    number of vector steps, zero past the cells. The vector steps read whole steps of
    it and never past its end: a shorter one would leave cells uncounted. (Jitted:
    the kernels make their own, and a caller outside numba takes the same.)"""
    return np.zeros((cells + _LANES - 1) // _LANES * _LANES, np.uint8)


@nb.njit(inline="always")
def _scratch(desc):
    """``scratch`` for ``desc``'s rows."""
    return scratch(desc.shape[1])


@nb.njit(**_JIT)
def _motion(desc, valid, shift, k, out, near, lo=0, hi=-1):
    """``out[x]``: how much frame x differs from its neighbours ``shift`` frames away
    (the smaller of the two gaps), at the scale among 1, 2 and 4 times ``shift`` where
    that is largest; -1 where x is flat or has no valid neighbour. ``near[x]``: the
    same at 1 times ``shift`` alone (what ``_judge`` bounds its first test with).
    Only frames ``lo`` to ``hi`` (-1: the last) are filled: pieces of a day run on
    several cores.

    Each gap is computed once: the gap from x back to x - s is the one x - s had
    forward to x, kept in a ring of the last ``4 * shift`` frames' forward gaps (a
    piece starts that many frames early to fill it)."""
    n = desc.shape[0]
    top = _scratch(desc)
    nscales = len(_SCALES)
    ring = 4 * shift + 1
    fwd = np.full((nscales, ring), -1, np.int64)
    end = n if hi < 0 else min(hi, n)
    for x in range(max(0, lo - (ring - 1)), end):
        best = -1
        first = -1
        for si in range(nscales):
            s = shift * _SCALES[si]
            g = -1
            y = x + s
            if valid[x] and y < n and valid[y]:
                g = _gap(desc, x, y, k, top)
            back = fwd[si, (x - s) % ring] if x >= s else -1
            fwd[si, x % ring] = g
            if valid[x]:
                cur = back
                if g >= 0 and (cur < 0 or g < cur):
                    cur = g
                best = max(best, cur)
                if si == 0:
                    first = cur
        if x >= lo:
            out[x] = best
            near[x] = first if valid[x] else -1


@nb.njit(**_JIT)
def _judge(
    desc, valid, near, x, y, shift, k, top, agree, ratio10, floor, min_motion, d0=-1, ladder=True
):
    """Compare frame x with its candidate partner y on the gray descriptor (``d0``:
    their gap when the caller has it already; ``ladder``: check the frames nearer y,
    which a walk skips in the steady middle of a run, see ``_walk``; ``near``: y's
    gap to its nearer neighbour ``shift`` frames away, ``_motion``'s, or empty).

    Returns (d0, state): d0 the gap between them; state 2 when the pair is specific
    in time (y's neighbours ``shift`` frames away are at least ``ratio10 / 10`` times
    farther from x than y is, and by ``min_motion`` at least: x shows y's moment, not
    merely y's scene; in slow footage, neighbours 2 or 4 times farther away; and no
    frame nearer y than that matches x better), 3 when it agrees and would be specific
    but a frame beside y matches better (no evidence of where the copy lies, no cut
    either: slow footage under noise, or a run beside its diagonal), 1 when it merely
    agrees (d0 <=
    ``agree``: compression noise, or a still view that both places share), 0 when it
    differs."""
    n = desc.shape[0]
    if d0 < 0:
        d0 = _gap(desc, x, y, k, top)
    # the nearest time scale at which y's moment moves: 0.2 s, else 0.4 s, else 0.8 s
    # (slow footage); a still view or a freeze moves at none and is never specific
    for scale in _SCALES:
        s = shift * scale
        # dn, the nearer neighbour's gap, must reach min_motion (moves) and
        # ratio10 / 10 times d0 (clear): where every neighbour is that far, both hold
        # and dn itself is not needed (most steps of a walk through moving footage)
        need = max(min_motion, (ratio10 * max(d0, floor) + 9) // 10)
        seen = False
        far = True
        if (
            s == shift
            and y < near.shape[0]
            and near[y] - d0 >= need
            and near[y] >= 0
            and x != y - s
            and x != y + s
        ):
            # the gap is a norm (the sum of the k largest differences): x is at least
            # near[y] - d0 from each of y's neighbours, and y has one (near >= 0); the
            # two gaps are not needed (most steps of a walk through moving footage)
            seen = True
        else:
            for z in (y - s, y + s):
                if 0 <= z < n and z != x and valid[z]:
                    seen = True
                    if not _gap_at_least(desc, x, z, k, top, need):
                        far = False
                        break
        moves = seen and far
        clear = moves
        if not moves:
            dn = -1
            for z in (y - s, y + s):
                if 0 <= z < n and z != x and valid[z]:
                    g = _gap(desc, x, z, k, top)
                    if dn < 0 or g < dn:
                        dn = g
            moves = dn >= min_motion
            clear = 10 * dn >= ratio10 * max(d0, floor)
        if moves:
            if clear:
                # y must also be x's best match along its own timeline within that
                # scale: a neighbour across a cut is far from anything, so a pair a
                # few frames off its copy would pass the ratio on the other side.
                # Offsets 1, 2, 4, ... suffice: one of them lies nearer the true
                # partner than y does, and footage is closer there.
                best = True
                o = 1
                while ladder and o < s and best:
                    for z in (y - o, y + o):
                        if 0 <= z < n and z != x and valid[z]:
                            if not _gap_at_least(desc, x, z, k, top, d0 - floor):
                                best = False  # its gap + floor < d0
                    o *= 2
                if best:
                    return d0, 2
                if d0 <= agree:
                    return d0, 3
            break
    if d0 <= agree:
        return d0, 1
    return d0, 0


@nb.njit(**_JIT)
def _off_diagonal(desc, valid, x, y, d0, k, top, margin):
    """Is x closer, by ``margin``, to a frame one or two beside y than to y? Then the
    pair is a frame or two off: slow footage agrees with its copy a frame or two off
    too, and a run that crosses a cut into plays trimmed differently goes on beside
    its diagonal."""
    n = desc.shape[0]
    for z in (y - 1, y + 1, y - 2, y + 2):
        if 0 <= z < n and z != x and valid[z]:
            if not _gap_at_least(desc, x, z, k, top, d0 - margin):
                return True  # its gap + margin < d0
    return False


@nb.njit(inline="always")
def _walk(
    desc,
    valid,
    near,
    cuts,
    i,
    j,
    step,
    seed_d0,
    shift,
    k,
    top,
    agree,
    ratio10,
    floor,
    min_motion,
    max_miss,
    max_static,
    max_neutral,
    trace,
):
    """Walk from pair (i, j) along its diagonal in direction ``step`` (+1 or -1),
    writing the gap of the pair at step s into ``trace[s - 1]`` (-1 where either
    frame is flat: no gap is taken there).

    The walk goes through frames that agree (a still moment inside a copy) and stops
    after ``max_miss`` frames in a row that differ (a cut), ``max_neutral`` flat
    pairs, or ``max_static`` agreeing frames in a row that are not specific (a still
    view matches every moment of itself: where it ends says nothing). The run ends at
    its last specific frame, or, when the walk stopped at a visible cut no more than
    ``shift`` frames after it, at the last frame before the cut. A pair counts as
    specific, or agreeing, only while its gap stays within ``_EXCESS`` times the run's
    mean gap so far (``seed_d0`` is the seed's): the run's own compression noise;
    right after both pictures jump at once (a cut on both sides), within 2 times.
    Returns (end offset, specific frames, sum of d0 over them).

    (Longer than most functions, as :func:`_propose_key` is: one loop whose state lives
    in locals; split up, every piece would take the same dozen arrays and thresholds,
    and numba's on-disk cache does not see an edit to a callee in another function's
    cache entry.)
    """
    n = desc.shape[0]
    kk = 0
    last_spec = 0
    last_agree = 0  # last agreeing frame with no differing one since last_spec
    broken = False
    misses = 0
    off = 0
    cut_at = 0  # the step at which both sides last cut (0: none)
    spec_since_cut = shift  # specific frames since then
    neutral = 0
    static = 0
    nspec = 0
    dsum = 0
    cut = False
    while True:
        kk += 1
        x = i + step * kk
        y = j + step * kk
        if x < 0 or y < 0 or x >= n or y >= n:
            break
        if valid[x] and valid[y]:
            # in the steady middle of a run (its pairs at its own noise level) the
            # frames nearer the partner need no checking: a run slips off its
            # diagonal only where its gap rises, as at a cut
            d0 = _gap(desc, x, y, k, top)
            trace[kk - 1] = d0
            # a cut on both sides between the last frame and this one?
            both_cut = (cuts[x] and cuts[y]) if step > 0 else (cuts[x + 1] and cuts[y + 1])
            if both_cut:
                cut_at = kk
                spec_since_cut = 0
            steady = (
                nspec >= 2 * shift
                and spec_since_cut >= shift
                and 2 * d0 * (nspec + 1) <= 3 * (dsum + seed_d0)
            )
            d0, state = _judge(
                desc, valid, near, x, y, shift, k, top, agree, ratio10, floor, min_motion, d0,
                not steady,
            )  # fmt: skip
            if state > 0 and d0 > floor and d0 * (nspec + 1) > _EXCESS * (dsum + seed_d0):
                # far above the run's own noise: fast footage a few frames off, or
                # another play past a cut, matches better than its neighbours do
                state = 0
            if state > 0 and both_cut and d0 * (nspec + 1) > 2 * (dsum + seed_d0):
                # both timelines cut at this frame (two plays of a loop cut at one
                # place, trimmed differently): what follows is a new pair, a copy
                # only at the run's own noise (a copied scene cut stays at it)
                state = 0
            if state == 2:
                misses = 0
                neutral = 0
                static = 0
                spec_since_cut += 1
                last_spec = kk
                last_agree = kk
                broken = False
                nspec += 1
                dsum += d0
                continue
            if state == 3:
                # beside the diagonal: now and then under noise, for long on a run
                # that is a frame or two off its copy
                off += 1
                if off > shift:
                    break
                state = 1
            else:
                off = 0
            if state == 1:
                misses = 0
                static += 1
                if not broken:
                    last_agree = kk
                if static > max_static:
                    break
                continue
            misses += 1
            broken = True
            if misses > max_miss:
                cut = True
                break
        elif not valid[x] and not valid[y]:
            trace[kk - 1] = -1
            neutral += 1
            if not broken:
                last_agree = kk
            if neutral > max_neutral:
                break
        else:
            trace[kk - 1] = -1
            misses += 1
            broken = True
            if misses > max_miss:
                cut = True
                break
    end = last_spec
    # agreeing frames after the last specific one stand only when a cut follows them
    # at once: where nothing visible ends the copy, a still view says nothing
    if cut and last_agree == kk - misses and last_agree - last_spec <= shift:
        end = last_agree
    if cut_at > 0 and spec_since_cut < shift:
        # past the last cut on both sides the new pairing did not prove itself over
        # 0.2 s of specific frames (footage a frame apart looks alike at a cut)
        end = min(end, cut_at - 1)
    return end, nspec, dsum


@nb.njit(**_JIT)
def _propose_state(valid, motion, min_motion):
    """What ``_propose_key`` keeps from one key to the next, per frame: how many runs
    cover it on either side, counted up to _ENOUGH (all that is ever asked of it: one
    byte a frame), the first _ENOUGH - 1 of them (the whole list wherever a seed is
    still tried: the run that ties a frame, its _ENOUGH-th, is never looked up
    through it), and as bits small enough to stay in cache (the inner loop runs some
    70 times per frame of a looped video and mostly stops at them): tied
    (covered_by >= _ENOUGH), gone (not valid), able (valid and moving: may seed)."""
    n = valid.shape[0]
    covered_by = np.zeros(n, np.uint8)
    cover = np.full((n, _ENOUGH - 1), -1, np.int32)
    tied = np.zeros((n + 63) // 64, np.uint64)
    gone = np.zeros((n + 63) // 64, np.uint64)
    able = np.zeros((n + 63) // 64, np.uint64)
    for x in range(n):
        if not valid[x]:
            gone[x >> 6] |= np.uint64(1) << np.uint64(x & 63)
        elif motion[x] >= min_motion:
            able[x >> 6] |= np.uint64(1) << np.uint64(x & 63)
    return covered_by, cover, tied, gone, able


@nb.njit(**_JIT)
def _propose_key(
    start,
    order,
    hashes,
    sub,
    w,
    which,
    nkeys,
    desc,
    valid,
    near,
    cuts,
    state,
    runs,
    nruns,
    gaps,
    ngaps,
    min_gap,
    seed_d,
    links,
    shift,
    k,
    agree,
    ratio10,
    floor,
    min_motion,
    max_miss,
    max_static,
    max_neutral,
    seed_ratio10,
):
    """Diagonal runs of copied frames, without all-pairs work: the seeds and runs of
    one key (``Judge.propose`` takes the keys in order: each one's seeds depend on the
    runs found before, and it may group the next key's buckets meanwhile, as this
    releases the GIL).

    Seeds come from exact keys: every word of ``hashes`` and every key of the motion
    cells (uint16[n, 3 * spans] from ``_motion_cells``, four keys a span, see
    ``_motion_key``; 0 = no key; ``sub``: the span's columns) is a bucket table
    (``start``, ``order`` from ``_buckets_csr`` or ``_open_buckets``), and within a
    bucket (members in time order) each moving frame is paired with the ``links``
    next members at least ``min_gap`` frames after it (a clip looped k times links
    each play to the next ones) and ``links`` more drawn at random among the later
    ones while no run covers it yet (a copy far away in a bucket crowded by a still
    view is hit by some of its many frames), so a bucket of 100,000 frames costs
    100,000 * 2 * links checks, not 10^10, and a clip played k times costs about
    k * links runs, not k^2. A pair seeds when its hashes are within ``seed_d`` bits,
    no run found before covers it, and it and the next pair are specific in time on
    the gray descriptor (see ``_judge``, which ``near`` from ``_motion`` spares most
    gaps), the first by ``seed_ratio10``. A seed is
    walked both ways (see ``_walk``) into a run ``[a, b)`` on diagonal ``delta``:
    frames ``a..b-1`` show ``a+delta..``.

    Appends the runs to ``runs`` (int64[:, 6]: a, b, delta, specific frames, d0 sum
    over them, where their gaps start in ``gaps``; its first ``nruns`` rows used),
    the gap of every pair of each run, in order, to ``gaps`` (its first ``ngaps``
    used; both grow as needed), and to the per-frame ``state``
    (``_propose_state``). Returns (runs, nruns, gaps, ngaps).

    (Longer than most functions: the bucket loop, the seed checks and the run
    bookkeeping share their state in locals, which numba keeps in registers; a
    piece moved out would take a dozen arrays as arguments.)
    """
    n = desc.shape[0]
    base = 2 * desc.shape[1] + 1
    top = _scratch(desc)
    covered_by, cover, tied, gone, able = state
    traces = np.empty((2, n), np.int32)  # the walks' gaps, forward and back: touched
    # only as far as the longest walk goes
    ngroups = start.shape[0] - 1
    for g in range(ngroups):
        lo = np.int64(start[g])
        hi = np.int64(start[g + 1])
        if hi - lo < 2 or _key_of(hashes, sub, w, which, base, order[lo]) == 0:
            continue
        # a bucket whose members are all tied to enough places already (or not
        # valid) has no pair left to try: most buckets of a looped video, once
        # the first keys have seeded its plays
        open_ = False
        for pi in range(lo, hi):
            p = np.int64(order[pi])
            if not ((tied[p >> 6] | gone[p >> 6]) >> np.uint64(p & 63)) & np.uint64(1):
                open_ = True
                break
        if not open_:
            continue
        q = lo
        for pi in range(lo, hi):
            p = np.int64(order[pi])
            if not (able[p >> 6] >> np.uint64(p & 63)) & np.uint64(1):
                continue
            if q <= pi:
                q = pi + 1
            while q < hi and order[q] < p + min_gap:
                q += 1
            taken = 0
            qi = q
            rnd = _mix(np.uint64(p * nkeys + w + 1))
            while taken < 2 * links:
                if taken < links:
                    # the next members: the next plays of a loop
                    if qi >= hi:
                        taken = links
                        continue
                    m = np.int64(order[qi])
                    qi += 1
                else:
                    # members anywhere later: a copy far away in a crowded bucket
                    # (a still shelf) is hit by a few of its many frames. Only for
                    # a frame no run covers yet: one partner joins it to all its
                    # copies, and a clip played k times must not cost k^2 runs
                    if qi >= hi or covered_by[p] > 0:
                        break
                    rnd = _mix(rnd)
                    m = np.int64(order[qi + np.int64(rnd % np.uint64(hi - qi))])
                taken += 1
                if (gone[m >> 6] >> np.uint64(m & 63)) & np.uint64(1) or m + 1 >= n:
                    continue
                if (tied[p >> 6] >> np.uint64(p & 63)) & np.uint64(1) and (
                    tied[m >> 6] >> np.uint64(m & 63)
                ) & np.uint64(1):
                    continue  # both already tied to other places: nothing new
                if _dist(hashes, p, m) > seed_d:
                    continue
                delta = m - p
                # a run on this diagonal through p already? It is among the
                # runs of whichever of p and m has fewer than _ENOUGH
                x = p if covered_by[p] < _ENOUGH else m
                covered = False
                for c in range(covered_by[x]):
                    r = cover[x, c]
                    if runs[r, 2] == delta and runs[r, 0] <= p and p < runs[r, 1]:
                        covered = True
                        break
                if covered:
                    continue
                # a seed must be strong evidence: its partner's neighbours
                # ``seed_ratio10 / 10`` times farther (a copy has many such
                # frames; a pair a few frames off next to a cut has none)
                d0, state = _judge(
                    desc, valid, near, p, m, shift, k, top, agree, seed_ratio10, floor,
                    min_motion, -1, True,
                )  # fmt: skip
                if state != 2 or d0 > agree or not (valid[p + 1] and valid[m + 1]):
                    continue
                if cuts[p + 1] and cuts[m + 1]:
                    # the next pair, which confirms a seed, lies past a cut on
                    # both sides: it belongs to another pairing
                    continue
                if _off_diagonal(desc, valid, p, m, d0, k, top, 0):
                    continue
                _d1, state1 = _judge(
                    desc, valid, near, p + 1, m + 1, shift, k, top, agree, ratio10, floor,
                    min_motion, -1, True,
                )  # fmt: skip
                if state1 == 0:
                    continue
                # walk forward, then backward from the seed
                reach = np.zeros(2, np.int64)
                nspec = 1
                total = d0
                for side in range(2):
                    e, sp, sm = _walk(
                        desc, valid, near, cuts, p, m, 1 - 2 * side, d0, shift, k, top, agree,
                        ratio10, floor, min_motion, max_miss, max_static, max_neutral,
                        traces[side],
                    )  # fmt: skip
                    reach[side] = e
                    nspec += sp
                    total += sm
                if nruns == runs.shape[0]:
                    runs = np.concatenate((runs, np.empty_like(runs)))
                runs[nruns, 0] = p - reach[1]
                runs[nruns, 1] = p + reach[0] + 1
                # the gap of every pair of the run, in order, as the walks took them
                # (the copy check needs them all: taken again, a day's 6 million)
                while ngaps + reach[0] + reach[1] + 1 > gaps.shape[0]:
                    gaps = np.concatenate((gaps, np.empty_like(gaps)))
                runs[nruns, 5] = ngaps
                for x in range(runs[nruns, 0], runs[nruns, 1]):
                    at = x - p  # the walks' step
                    g = d0 if at == 0 else (traces[0, at - 1] if at > 0 else traces[1, -at - 1])
                    if g < 0:  # a flat frame: the walk took no gap
                        g = _gap(desc, x, x + delta, k, top)
                    gaps[ngaps] = g
                    ngaps += 1
                for x in range(runs[nruns, 0], runs[nruns, 1]):
                    for y in (x, x + delta):
                        cb = covered_by[y]
                        if cb < _ENOUGH - 1:
                            cover[y, cb] = nruns
                        if cb < _ENOUGH:
                            covered_by[y] = cb + 1
                            if cb + 1 == _ENOUGH:
                                tied[y >> 6] |= np.uint64(1) << np.uint64(y & 63)
                runs[nruns, 2] = delta
                runs[nruns, 3] = nspec
                runs[nruns, 4] = total
                nruns += 1
    return runs, nruns, gaps, ngaps


@nb.njit(**_JIT)
def _cuts(desc, valid, k, size, out, lo=0, hi=-1):
    """``out[x]``: is there a cut between frames x - 1 and x? A change of ``size`` or
    more that is also 3 times the change one frame before (fast footage changes a lot
    every frame; a cut changes much more than the frames before it did). A change
    between a flat frame and a picture is a cut too. Only frames ``lo`` to ``hi``
    (-1: the last) are filled; a piece starts a frame early for the change before."""
    n = desc.shape[0]
    top = _scratch(desc)
    if lo == 0 and n > 0:
        out[0] = False
    before = -1
    for x in range(max(1, lo - 1), n if hi < 0 else min(hi, n)):
        if not (valid[x] and valid[x - 1]):
            if x >= lo:
                out[x] = valid[x] != valid[x - 1]
            before = -1
            continue
        g = _gap(desc, x, x - 1, k, top)
        if x >= lo:
            out[x] = g >= size and (before < 0 or g >= 3 * before)
        before = g


_NO_CELL = np.uint16(0xFFFF)


@nb.njit(**_JIT)
def _motion_cells(desc, valid, shift, threshold, out, lo=0, hi=-1):
    """Where a frame moves: for frame x, the three cells whose gray level changed
    most since frame x - ``shift`` (at least ``threshold`` levels; of equal changes,
    the first cells), each coded as ``2 * cell + (1 if it got brighter)``. A hand
    moving in front of a still shelf changes a few cells by tens of levels; its copy
    changes the same cells the same way, while the shelf's other moments change
    other cells or none. ``out[x]`` (uint16[n, 3]) receives the three codes in
    increasing order, or ``_NO_CELL`` three times where fewer than three cells moved.
    6 bytes a frame: the keys made of them (``_motion_key``) are derived when a bucket
    table needs them. Only frames ``lo`` to ``hi`` (-1: the last) are filled: pieces
    of a day run on several cores.

    Each cell's change and place are packed in one number (the change in the high
    bits, 65535 - the cell in the low ones: a descriptor has at most 64 x 64 cells),
    so that the three strongest are three passes of a maximum the vector unit takes
    8 cells at a time: several times faster than keeping a running top three, which
    branches on every cell."""
    n, cells = desc.shape
    packed = np.empty(cells, np.uint32)
    least = np.uint32(max(threshold, 1)) << np.uint32(16)  # a cell that did not change is none
    for x in range(lo, n if hi < 0 else min(hi, n)):
        for c in range(3):
            out[x, c] = _NO_CELL
        if x < shift or not valid[x] or not valid[x - shift]:
            continue
        m0 = np.uint32(0)
        for c in range(cells):
            a = desc[x, c]
            b = desc[x - shift, c]
            v = (np.uint32(max(a, b) - min(a, b)) << np.uint32(16)) | np.uint32(65535 - c)
            packed[c] = v
            m0 = max(m0, v)
        if m0 < least:
            continue
        m1 = np.uint32(0)
        for c in range(cells):
            v = packed[c]
            m1 = max(m1, v if v != m0 else np.uint32(0))
        if m1 < least:
            continue
        m2 = np.uint32(0)
        for c in range(cells):
            v = packed[c]
            m2 = max(m2, v if v != m0 and v != m1 else np.uint32(0))
        if m2 < least:
            continue
        b0 = 65535 - np.int64(m0 & np.uint32(65535))
        b1 = 65535 - np.int64(m1 & np.uint32(65535))
        b2 = 65535 - np.int64(m2 & np.uint32(65535))
        b0 = 2 * b0 + (1 if desc[x, b0] > desc[x - shift, b0] else 0)
        b1 = 2 * b1 + (1 if desc[x, b1] > desc[x - shift, b1] else 0)
        b2 = 2 * b2 + (1 if desc[x, b2] > desc[x - shift, b2] else 0)
        # sorted, so that a key does not depend on their rank
        first = min(b0, min(b1, b2))
        last = max(b0, max(b1, b2))
        out[x, 0] = first
        out[x, 1] = b0 + b1 + b2 - first - last
        out[x, 2] = last


@nb.njit(inline="always")
def _motion_key(cells, x, which, base):
    """Key ``which`` (0-3) of frame x from ``_motion_cells`` output: 0 is the set of
    its three cells, 1-3 each pair of them (so that two cells swapping rank under
    noise keep most keys); ``base`` is 2 * cells + 1. 0 = no key."""
    lo = cells[x, 0]
    if lo == _NO_CELL:
        return np.uint64(0)
    a = np.uint64(lo)
    m = np.uint64(cells[x, 1])
    h = np.uint64(cells[x, 2])
    b = np.uint64(base)
    if which == 0:
        return ((a * b + m) * b + h) + np.uint64(1)
    if which == 1:
        return ((np.uint64(1) * b + a) * b + m) << np.uint64(20)
    if which == 2:
        return ((np.uint64(2) * b + a) * b + h) << np.uint64(20)
    return ((np.uint64(3) * b + m) * b + h) << np.uint64(20)


@nb.njit(**_JIT)
def _motion_keys(cells, base, out):
    """All keys of ``_motion_cells`` output (uint64[n, 4 * spans]): what the bucket
    tables of ``_propose_key`` see, spelled out for tests."""
    spans = cells.shape[1] // 3
    for x in range(cells.shape[0]):
        for s in range(spans):
            for w in range(4):
                out[x, 4 * s + w] = _motion_key(cells[:, 3 * s : 3 * s + 3], x, w, base)


@nb.njit(**_JIT)
def _diagonal_votes(desc, valid, ra, rb, rd, k):
    """Per run, frames where its diagonal is strictly closer on the descriptor than
    both diagonals beside it, minus frames where one of those is strictly closer: a
    copy's own diagonal wins, a run one frame off (slow footage matches its copy's
    neighbour too) loses. A vote per frame, so a few frames cannot decide it."""
    n = desc.shape[0]
    top = _scratch(desc)
    votes = np.zeros(ra.shape[0], np.int64)
    for r in range(ra.shape[0]):
        # a long run is sampled (about 64 frames, weighted): the vote is a majority
        stride = max(1, (rb[r] - ra[r]) // 64)
        for x in range(ra[r], rb[r], stride):
            y = x + rd[r]
            if y - 1 < 0 or y + 1 >= n or not valid[x] or not valid[y]:
                continue
            d0 = _gap(desc, x, y, k, top)
            side = min(_gap(desc, x, y - 1, k, top), _gap(desc, x, y + 1, k, top))
            if d0 < side:
                votes[r] += stride
            elif side < d0:
                votes[r] -= stride
    return votes


@nb.njit(**_JIT)
def _bridge(desc, valid, ra, rb, rd, noise, k, agree):
    """Merge runs on one diagonal that overlap, or whose gap agrees throughout at the
    level of their own compression noise (a still moment inside a copy stops a walk:
    the copy arrives as two runs). Runs must be sorted by (delta, a); ``noise[r]`` is
    run r's mean gap over its specific frames. Returns the merged (a, b, delta)."""
    m = ra.shape[0]
    top = _scratch(desc)
    oa = np.empty(m, np.int64)
    ob = np.empty(m, np.int64)
    od = np.empty(m, np.int64)
    on = np.empty(m, np.int64)
    j = -1
    for r in range(m):
        if j >= 0 and od[j] == rd[r]:
            if ra[r] <= ob[j]:
                ob[j] = max(ob[j], rb[r])
                continue
            limit = min(agree, _EXCESS * max(k, max(on[j], noise[r])))
            ok = True
            for x in range(ob[j], ra[r]):
                y = x + rd[r]
                if valid[x] and valid[y]:
                    if _gap(desc, x, y, k, top) > limit or _off_diagonal(
                        desc, valid, x, y, _gap(desc, x, y, k, top), k, top, 0
                    ):
                        ok = False
                        break
                elif valid[x] or valid[y]:
                    ok = False
                    break
            if ok:
                ob[j] = rb[r]
                on[j] = max(on[j], noise[r])
                continue
        j += 1
        oa[j] = ra[r]
        ob[j] = rb[r]
        od[j] = rd[r]
        on[j] = noise[r]
    return oa[: j + 1], ob[: j + 1], od[: j + 1]


@nb.njit(**_JIT)
def _run_gaps(desc, ra, rb, rd, k, out):
    """The gap of every pair of every run, runs one after another, into ``out``."""
    top = _scratch(desc)
    i = 0
    for r in range(ra.shape[0]):
        for x in range(ra[r], rb[r]):
            out[i] = _gap(desc, x, x + rd[r], k, top)
            i += 1


@nb.njit(**_JIT)
def _run_gap_counts(d0, at, length):
    """``np.bincount`` of the gaps of the runs (run r's are ``d0[at[r]:at[r] +
    length[r]]``), all together."""
    top = 0
    for r in range(at.shape[0]):
        for i in range(at[r], at[r] + length[r]):
            top = max(top, np.int64(d0[i]))
    counts = np.zeros(top + 1, np.int64)
    for r in range(at.shape[0]):
        for i in range(at[r], at[r] + length[r]):
            counts[d0[i]] += 1
    return counts


@nb.njit(**_JIT)
def _run_verdicts(d0, at, length, ra, rd, motion, floor, limit, ratio, out):
    """Per run (its gaps ``d0[at[r]:at[r] + length[r]]``, from a walk or ``_run_gaps``, frames
    ``ra[r]..`` shown again ``rd[r]`` later): is its median gap at most ``limit``, and
    is the 75th percentile (numpy's linear one) of its frames' motion (the larger of
    the two frames', ``motion``) over their gap (at least ``floor``) at least
    ``ratio``? Exactly ``np.median(g) <= limit and np.percentile(m / max(g, floor),
    75) >= ratio``, without sorting a run: the median from counts of the gaps (small
    integers), the percentile from the values on either side of ``ratio``."""
    for r in range(ra.shape[0]):
        lo_end = at[r]
        hi_end = at[r] + length[r]
        m = length[r]
        if m <= 0:
            out[r] = False
            continue
        # the median: the two middle values of the run's gaps, found in counts
        top = 0
        for i in range(lo_end, hi_end):
            top = max(top, np.int64(d0[i]))
        counts = np.zeros(top + 1, np.int64)
        for i in range(lo_end, hi_end):
            counts[d0[i]] += 1
        want1 = (m - 1) // 2
        want2 = m // 2
        seen = 0
        v1 = -1
        v2 = -1
        for v in range(top + 1):
            seen += counts[v]
            if v1 < 0 and seen > want1:
                v1 = v
            if seen > want2:
                v2 = v
                break
        if (v1 + v2) / 2 > limit:
            out[r] = False
            continue
        # the percentile: sorted ratios q_0 <= .. <= q_m-1 at index 0.75 * (m - 1);
        # how many lie below ``ratio``, the largest of those, the smallest of the rest
        below = 0
        under = -np.inf
        over = np.inf
        x = ra[r]
        for i in range(lo_end, hi_end):
            moves = max(motion[x], motion[x + rd[r]])
            q = np.float64(moves) / np.float64(max(np.int64(d0[i]), floor))
            if q < ratio:
                below += 1
                under = max(under, q)
            else:
                over = min(over, q)
            x += 1
        virtual = 0.75 * (m - 1)  # numpy's index (0.75 m + 0.25 - 1: the same double)
        i0 = np.int64(np.floor(virtual))
        t = virtual - i0
        if m == 1:
            ok = below == 0
        elif below <= i0:
            ok = True  # both values the percentile lies between are at least ratio
        elif below >= i0 + 2:
            ok = False  # both below it
        else:
            # q_i0 is the largest below, q_i0+1 the smallest above: numpy's _lerp
            diff = over - under
            p = under + diff * t if t < 0.5 else over - diff * (1.0 - t)
            ok = p >= ratio
        out[r] = ok


# --------------------------------------------------------------------------- frame classes


@nb.njit(**_JIT)
def _frame_roots(n, ra, rb, rd, window):
    """Union-find over frames: every frame of run r is joined with its partner, runs
    taken in the order given (the most reliable first).

    A class is one picture of the footage, so two of its frames are never closer than
    a copy can be: a join that would put frames less than ``window`` apart in one
    class is refused (0: no check). A pair a few frames off its copy's diagonal, at
    the edge of a run where a cut blurs it, would otherwise merge neighbouring
    pictures of the footage, and every play after it. The check walks the smaller
    class's members (small into large: O(n log n) members seen in all, each a scan of
    2 x ``window`` entries), pointing each at the larger class's root as it goes:
    one walk of a list whose members lie far apart in memory, not two.

    Every frame points at its class's root at all times (the smaller class's members,
    walked for the check anyway, are pointed at the larger's root): a frame's class
    is one read, and the check around a member is a scan of neighbouring entries, not
    a chain of reads far apart in memory (2.6x faster on a looped day).

    Returns, per frame, the earliest frame showing the same picture (itself when it
    has no copy) and the size of its class.
    """
    # int32: a day is 2.6 million frames, and every array here is one a frame
    root = np.arange(n, dtype=np.int32)
    size = np.ones(n, np.int32)
    # members of a class, a circular list through any of them: two lists merge by
    # swapping one successor of each, so no list needs its tail
    nxt = np.arange(n, dtype=np.int32)
    for r in range(ra.shape[0]):
        for x in range(ra[r], rb[r]):
            y = x + rd[r]
            if y >= n or y < 0:
                break
            a = root[x]
            b = root[y]
            if a == b:
                continue
            if size[a] > size[b]:
                a, b = b, a
            # one walk of the smaller class: each member checked, then pointed at
            # b (its neighbours within the window are never its own class's: a
            # class's members are a window apart), and on a clash the members
            # already pointed at b pointed back
            clash = False
            m = a
            while True:
                if window > 0 and _holds(root, max(0, m - window + 1), min(n, m + window), b):
                    clash = True
                    break
                root[m] = b
                m = nxt[m]
                if m == a:
                    break
            if clash:
                u = a
                while u != m:
                    root[u] = a
                    u = nxt[u]
                continue
            size[b] += size[a]
            nxt[a], nxt[b] = nxt[b], nxt[a]
    first = nxt  # no longer needed as lists: each root's earliest frame
    first[:] = -1
    for x in range(n):
        if first[root[x]] < 0:
            first[root[x]] = x
    # the results in place of root and size: entry x is read (for its root) before it
    # is written, and a root's own entries are written with themselves
    for x in range(n):
        r = root[x]
        size[x] = size[r]
        root[x] = first[r]
    return root, size


@nb.njit(**_JIT)
def _class_steps(node, m):
    """The steps between classes as the video shows them: frame x to frame x + 1 where
    both are copies (``node`` >= 0: their class, one of ``m``) of different classes.

    Returns each distinct step (u, v), sorted by u then v, and how many times the
    video takes it: ``np.unique(u * m + v, return_counts=True)``, without an int64 key
    a step (a looped video steps on nearly every frame): the steps are bucketed by u
    in int32 (a counting sort), then each class's few successors are sorted."""
    n = node.shape[0]
    start = np.zeros(m + 1, np.int32)
    for x in range(n - 1):
        u = node[x]
        v = node[x + 1]
        if u >= 0 and v >= 0 and u != v:
            start[u + 1] += 1
    for u in range(m):
        start[u + 1] += start[u]
    succ = np.empty(start[m], np.int32)
    # start[u] as u's fill cursor, then shifted back (as in _buckets_csr)
    for x in range(n - 1):
        u = node[x]
        v = node[x + 1]
        if u >= 0 and v >= 0 and u != v:
            succ[start[u]] = v
            start[u] += 1
    for u in range(m, 0, -1):
        start[u] = start[u - 1]
    start[0] = 0
    distinct = 0
    for u in range(m):
        seg = succ[start[u] : start[u + 1]]
        seg.sort()
        for i in range(seg.shape[0]):
            if i == 0 or seg[i] != seg[i - 1]:
                distinct += 1
    pu = np.empty(distinct, np.int64)
    pv = np.empty(distinct, np.int64)
    count = np.zeros(distinct, np.int64)
    j = -1
    for u in range(m):
        for i in range(start[u], start[u + 1]):
            if i == start[u] or succ[i] != succ[i - 1]:
                j += 1
                pu[j] = u
                pv[j] = succ[i]
            count[j] += 1
    return pu, pv, count


@nb.njit(**_JIT)
def _footage(succ, pred, weight, jump):
    """Lay frame classes out as footage: paths of classes, one per loop.

    ``succ[u]``/``pred[u]`` are each class's agreed next and previous class (-1: none),
    ``weight[u]`` how many times the step u -> succ[u] was seen, ``jump[u]`` how much
    the picture changes across it. A path starts at a class with no predecessor; a
    cycle (a clip played back to back, cut at the same place every time) is opened at
    its least seen step, the largest picture change among equals: that is the cut.
    Returns, per class, its loop (path) number and its position along the path.
    """
    m = succ.shape[0]
    comp = np.full(m, -1, np.int64)
    pos = np.zeros(m, np.int64)
    c = 0
    for u in range(m):
        if pred[u] == -1 and comp[u] == -1:
            v = u
            p = 0
            while v != -1 and comp[v] == -1:
                comp[v] = c
                pos[v] = p
                p += 1
                v = succ[v]
            c += 1
    for u in range(m):
        if comp[u] != -1:
            continue
        # u lies on a cycle: find its weakest step
        best = u
        v = succ[u]
        while v != u:
            if weight[v] < weight[best] or (weight[v] == weight[best] and jump[v] > jump[best]):
                best = v
            v = succ[v]
        head = succ[best]
        v = head
        p = 0
        while comp[v] == -1:
            comp[v] = c
            pos[v] = p
            p += 1
            v = succ[v]
        c += 1
    return comp, pos


@nb.njit(**_JIT)
def _stretch_sums(dist, starts, ends):
    """Per stretch of frames ``starts[i] .. ends[i] - 1``: the sum of ``dist`` over
    its frames that have one (``dist >= 0``) and how many do, both int64. Work and
    memory in the stretches alone (no running sums over every frame)."""
    m = starts.shape[0]
    total = np.zeros(m, np.int64)
    count = np.zeros(m, np.int64)
    for i in range(m):
        t = np.int64(0)
        c = np.int64(0)
        for x in range(starts[i], ends[i]):
            if dist[x] >= 0:
                t += dist[x]
                c += 1
        total[i] = t
        count[i] = c
    return total, count


# --------------------------------------------------------------------------- timestamps


@nb.njit(**_JIT)
def _printed_pts(data, end, values, ok, count):
    """The integers after each ``pts:`` of ``data[:end]`` (whole ``metadata`` lines,
    ``frame:N pts:P pts_time:T``), written to ``values`` from index ``count`` on, and
    ``ok`` False where no digit follows (``NOPTS``: value 0), as
    ``ffmpeg.logs._printed_values`` reads them, in one pass and no array a column.
    Returns the new count, or -1 when ``values`` has no room for the next one (call
    again with more room: nothing past ``count`` is final)."""
    i = 3
    while i < end:
        # "pts:" ends at i (58 ':', 115 's', 116 't', 112 'p')
        if data[i] == 58 and data[i - 1] == 115 and data[i - 2] == 116 and data[i - 3] == 112:
            if count >= values.shape[0]:
                return -1
            at = i + 1
            neg = at < end and data[at] == 45  # '-'
            if neg:
                at += 1
            v = np.int64(0)
            nd = 0
            while nd < 20 and at + nd < end:  # int64 has 19 digits
                c = np.int64(data[at + nd]) - 48
                if c < 0 or c > 9:
                    break
                v = v * 10 + c
                nd += 1
            values[count] = -v if neg else v
            ok[count] = nd > 0
            count += 1
            i = at + nd
        else:
            i += 1
    return count
