"""From near-duplicate runs to loops: a stretch of footage and every place it occurs.

A copy shows up as a run of matching frame pairs along a diagonal (constant offset
``delta = j - i``). Runs are accepted as evidence only when they are long enough,
close enough, and *specific in time*: each frame must match its partner clearly
better than the partner's neighbours a few frames away. A static camera, a freeze,
a black stretch or a slow pan matches its neighbours as well as any partner and so
never counts; footage that moves, repeated in the same order, does.

Accepted runs join frames into classes of "the same picture" (union-find); each
frame's root is the earliest frame of its class. A stretch is a maximal run of
copied frames whose roots advance one by one; stretches with the same root interval
are occurrences of one loop, so a clip played k times back to back is ONE loop with
k occurrences, and a part copied elsewhere becomes its own loop with all its places.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .fingerprint import Fingerprint

#: Frames whose NxN gray picture spans at most this many levels are "flat" (black,
#: white, one colour): their hash is all zeros or noise, never evidence.
FLAT_CONTRAST = 4
#: Default --max-distance as a share of the hash's bits (46 bits at 24x24). Copies of
#: ordinary footage differ by 1-19 bits, but noise-like footage (lavfi cellauto at
#: crf 23) by up to 60; unrelated footage by 80 and more. Look-alikes that this lets
#: through are the verification stage's job (fastloop.verify).
MAX_DISTANCE_SHARE = 0.08
#: A run's mean distance may be at most this share of max_distance.
MEAN_DISTANCE_SHARE = 0.9
#: Frames tolerated in a row inside a run that fail to match (noise, a dropped frame).
MAX_MISS = 4
#: Specificity: compare a pair with the partner shifted by this many seconds...
SHIFT_S = 0.2
#: ...and require the shifted comparison to be worse by this share of the bits...
SPECIFIC_MARGIN_SHARE = 0.01
#: ...on at least this share of the run's frames.
SPECIFIC_SHARE = 0.2
#: A run that loses the vote of the diagonals beside it (slow footage, heavy
#: compression) still stands when it is specific on this share of its frames and
#: its mean distance is at most this share of max_distance (junk: 20-30 bits of 46).
RESCUE_SPECIFIC_SHARE = 0.5
RESCUE_DISTANCE_SHARE = 0.25
#: A run stops after this many seconds of matches that are not specific in time.
MAX_STATIC_S = 1.0


def default_max_distance(hash_size: int) -> int:
    """Default Hamming threshold for a hash size (scaled with the number of bits)."""
    return max(2, round(MAX_DISTANCE_SHARE * hash_size * hash_size))


@dataclass(frozen=True)
class Occurrence:
    """One place a loop occurs: its first frame (0-based) and that frame's time."""

    start_frame: int
    start_s: float

    def to_dict(self) -> dict:
        return {"start_frame": self.start_frame, "start_s": round(self.start_s, 6)}


@dataclass(frozen=True)
class Loop:
    """A stretch of ``length_frames`` frames shown at every one of ``occurrences``."""

    length_frames: int
    length_s: float
    mean_distance: float
    occurrences: tuple[Occurrence, ...]

    def to_dict(self) -> dict:
        return {
            "length_frames": self.length_frames,
            "length_s": round(self.length_s, 6),
            "mean_distance": round(self.mean_distance, 3),
            "occurrences": [o.to_dict() for o in self.occurrences],
        }

    def pairs(self):
        """Every matched frame pair (i, j), i < j, the loop claims."""
        starts = [o.start_frame for o in self.occurrences]
        for x in range(len(starts)):
            for y in range(x + 1, len(starts)):
                for k in range(self.length_frames):
                    yield starts[x] + k, starts[y] + k


@dataclass
class LoopParams:
    """Thresholds of the loop search; ``None`` means the default for the hash size."""

    max_distance: int | None = None
    min_length_s: float = 1.0
    flat_contrast: int = FLAT_CONTRAST
    max_miss: int = MAX_MISS
    links: int = 4

    def resolved_distance(self, hash_size: int) -> int:
        if self.max_distance is None:
            return default_max_distance(hash_size)
        return int(self.max_distance)


@dataclass
class LoopSearch:
    """Loops plus the intermediate evidence (for plots, sweeps and debugging)."""

    loops: list[Loop]
    runs: dict[str, np.ndarray] = field(default_factory=dict)
    accepted: np.ndarray = field(default_factory=lambda: np.empty(0, bool))
    #: the runs the loops were grouped from, (a, b, delta) arrays, after bridging
    matched: tuple = ()


def _frames_for(seconds: float, fps: float) -> int:
    return max(2, math.ceil(seconds * fps - 1e-9)) if fps > 0 else 2


def candidate_frames(min_length_s: float, fps: float, share: float) -> int:
    """Shortest candidate, in frames: ``share`` of the minimum length."""
    return max(2, math.ceil(_frames_for(min_length_s, fps) * share))


def loop_at(fp: Fingerprint, starts, length: int, mean_distance: float = 0.0) -> Loop:
    """The loop of ``length`` frames at frames ``starts`` (sorted), with its times."""
    n = len(fp)
    s0 = int(starts[0])
    end = s0 + length
    end_s = (
        float(fp.pts[end]) if end < n else float(fp.pts[-1]) + (1.0 / fp.fps if fp.fps > 0 else 0.0)
    )
    occ = tuple(Occurrence(int(s), float(fp.pts[s])) for s in starts)
    return Loop(int(length), end_s - float(fp.pts[s0]), mean_distance, occ)


def search(
    fp: Fingerprint,
    params: LoopParams | None = None,
    *,
    candidate_share: float = 1.0,
    exclude: list[Loop] | None = None,
) -> LoopSearch:
    """Find the loops of a fingerprint; see the module docstring for the method.

    ``candidate_share`` < 1 keeps candidates down to that share of the minimum
    length, for a caller that refines boundaries on the video and applies the
    minimum length itself (see :mod:`fastloop.verify`); such a caller also gets the
    pieces of a copy that are shorter still (down to ``PIECE_S``) where they touch a
    longer candidate (see :func:`_pieces`). ``exclude``: loops that verification
    rejected; the runs behind them take no part, so a look-alike cannot pull a
    true copy's frames into its class (see :func:`claimed`).
    """
    from .index import near_runs
    from .kernels import _bridge, _frame_roots, _pair_distances, _specificity

    p = params or LoopParams()
    n = len(fp)
    bits = fp.hash_size * fp.hash_size
    dmax = p.resolved_distance(fp.hash_size)
    fps = fp.fps
    min_len = _frames_for(p.min_length_s, fps)
    cand_len = candidate_frames(p.min_length_s, fps, candidate_share)
    h = np.ascontiguousarray(fp.hashes)
    valid = np.ascontiguousarray(fp.contrast > p.flat_contrast)
    shift = max(1, round(SHIFT_S * fps)) if fps > 0 else 3
    margin = max(1, round(SPECIFIC_MARGIN_SHARE * bits))
    runs = near_runs(
        h,
        valid,
        min_gap=min_len,
        max_distance=dmax,
        max_miss=p.max_miss,
        links=p.links,
        shift=shift,
        margin=margin,
        max_static=max(shift, round(MAX_STATIC_S * fps)),
    )
    a, b, delta = runs["a"], runs["b"], runs["delta"]
    length = b - a
    piece_len = cand_len
    if candidate_share < 1.0:
        piece_len = min(cand_len, max(3, math.ceil(PIECE_S * fps)) if fps > 0 else 3)
    ok = length >= piece_len
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_d = runs["dist_sum"] / np.maximum(runs["hits"], 1)
    ok &= mean_d <= MEAN_DISTANCE_SHARE * dmax
    idx = np.flatnonzero(ok)
    vote = np.zeros(len(a), np.int64)
    # clear evidence, enough for a run that loses the vote of the diagonals beside it
    clear = np.zeros(len(a), bool)
    if len(idx):
        spec, votes = _specificity(h, valid, a[idx], b[idx], delta[idx], shift, margin)
        ok[idx] = spec >= SPECIFIC_SHARE * length[idx]
        vote[idx] = votes
        clear[idx] = (spec >= RESCUE_SPECIFIC_SHARE * length[idx]) & (
            mean_d[idx] <= RESCUE_DISTANCE_SHARE * dmax
        )
    acc = np.flatnonzero(ok)
    # pieces shorter than a candidate are judged apart, so that they cannot change
    # which of the longer runs stand
    short = acc[(length[acc] < cand_len) & clear[acc]]  # a piece must be clear evidence
    acc = acc[length[acc] >= cand_len]
    if fp.decoded is None and len(acc):
        acc = acc[_own_diagonals(a[acc], b[acc], delta[acc], vote[acc], clear[acc])]
    if len(short) and len(acc):
        if fp.decoded is None:
            short = short[
                _own_diagonals(a[short], b[short], delta[short], vote[short], clear[short])
            ]
        short = short[_pieces(a[acc], b[acc], delta[acc], a[short], b[short], delta[short])]
        acc = np.sort(np.concatenate([acc, short]))
    ok[:] = False
    ok[acc] = True
    runs["accepted"] = ok
    if not len(acc):
        return LoopSearch([], runs, ok)
    ra, rb, rd = a[acc], b[acc], delta[acc]
    if fp.decoded is not None:
        reach = max(2 * FAST_RADIUS, shift)
        ra, rb, rd = _onto_true_diagonal(h, valid & fp.decoded, ra, rb, rd, margin, reach)
        if not len(ra):
            return LoopSearch([], runs, ok)
    if exclude:
        keep = ~claimed(ra, rb, rd, exclude, 0 if fp.decoded is None else 2 * FAST_RADIUS)
        ra, rb, rd = ra[keep], rb[keep], rd[keep]
        if not len(ra):
            return LoopSearch([], runs, ok)
    order = np.lexsort((ra, rd))
    ma, mb, md = _bridge(h, valid, ra[order], rb[order], rd[order], dmax)
    bridged = (ma, mb, md)
    roots, size = _frame_roots(n, ma, mb, md)
    loops = _group(fp, roots, size, piece_len)
    if piece_len < cand_len:
        loops = touching(loops, cand_len)
    # mean distance per loop, over its pairs (first occurrence against the others)
    out = []
    for lp in loops:
        starts = np.array([o.start_frame for o in lp.occurrences], np.int64)
        ra = np.full(len(starts) - 1, starts[0])
        rd = starts[1:] - starts[0]
        s = np.zeros(len(ra), np.int64)
        c = np.zeros(len(ra), np.int64)
        _pair_distances(h, ra, ra + lp.length_frames, rd, s, c)
        md = float(s.sum() / max(1, c.sum()))
        out.append(Loop(lp.length_frames, lp.length_s, md, lp.occurrences))
    return LoopSearch(out, runs, ok, bridged)


def run_loops(fp: Fingerprint, ra, rb, rd) -> list[Loop]:
    """Each run ``a..b-1`` matching ``a+delta..`` as a loop of its own, two places."""
    from .kernels import _pair_distances

    s = np.zeros(len(ra), np.int64)
    c = np.zeros(len(ra), np.int64)
    _pair_distances(np.ascontiguousarray(fp.hashes), ra, rb, rd, s, c)
    return [
        loop_at(fp, (a, a + d), b - a, total / max(1, count))
        for a, b, d, total, count in zip(*(x.tolist() for x in (ra, rb, rd, s, c)), strict=True)
        if b + d <= len(fp)
    ]


#: ``--fast``: a run's true diagonal is looked for this many frames either side.
FAST_RADIUS = 2
#: The shortest piece of a copy looked for next to a longer one, in seconds.
PIECE_S = 0.2


def _pieces(la, lb, ld, sa, sb, sd) -> np.ndarray:
    """Which short runs ``(sa, sb, sd)`` are pieces of a longer copy: they touch (on
    either side, within 2 frames) the frames of a long run ``(la, lb, ld)``, and
    every long run they touch lies on another diagonal, more than ``2 * FAST_RADIUS``
    frames away.

    A copy whose original was split by another insertion (or that was itself cut
    short by one) has its partner in two places: the piece with the other partner
    may be shorter than any candidate, yet it belongs to a copied stretch. A short
    run touching a long one on (nearly) the same diagonal is that copy seen a few
    frames off (a still moment), or the rest of it, which bridging joins.
    """
    # frames of each long run, on both sides: [start, stop) and its delta
    lo = np.concatenate([la, la + ld])
    hi = np.concatenate([lb, lb + ld])
    dd = np.concatenate([ld, ld])
    order = np.argsort(lo, kind="stable")
    lo, hi, dd = lo[order], hi[order], dd[order]
    width = int((hi - lo).max()) if len(lo) else 0
    out = np.zeros(len(sa), bool)
    for i, (a, b, d) in enumerate(zip(sa.tolist(), sb.tolist(), sd.tolist(), strict=True)):
        deltas = []
        for x, y in ((a, b), (a + d, b + d)):
            # long spans that reach into [x - 2, y + 2)
            k0 = int(np.searchsorted(lo, x - 2 - width, "left"))
            k1 = int(np.searchsorted(lo, y + 2, "left"))
            for k in range(k0, k1):
                if hi[k] > x - 2:
                    deltas.append(int(dd[k]))
        out[i] = bool(deltas) and all(abs(e - d) > 2 * FAST_RADIUS for e in deltas)
    return out


def touching(loops: list[Loop], min_len: int) -> list[Loop]:
    """The loops of at least ``min_len`` frames, and the shorter ones that are pieces
    of a longer copied stretch: a copy whose original was split by another insertion
    has its partner in two places, and the piece with the second partner may be short.

    A short loop stands when its occurrences are at least ``min_len`` frames apart
    (as any two ends of a run are) and one of them brings frames the long loops do
    not cover (at least half its own), in a stretch of at least ``min_len`` frames
    that all the loops cover (occurrences up to 2 frames apart make one stretch).
    """
    long = [lp for lp in loops if lp.length_frames >= min_len]
    short = [lp for lp in loops if lp.length_frames < min_len]
    if not short:
        return loops

    def merged_spans(group):
        spans = sorted(
            (o.start_frame, o.start_frame + lp.length_frames)
            for lp in group
            for o in lp.occurrences
        )
        out: list[list[int]] = []
        for a, b in spans:
            if out and a <= out[-1][1] + 2:
                out[-1][1] = max(out[-1][1], b)
            else:
                out.append([a, b])
        return out

    every = merged_spans(loops)
    every_starts = np.array([m[0] for m in every], np.int64)
    covered = merged_spans(long)

    def new_frames(a: int, b: int) -> int:
        return (b - a) - sum(max(0, min(b, y) - max(a, x)) for x, y in covered)

    out = list(long)
    for lp in short:
        starts = sorted(o.start_frame for o in lp.occurrences)
        if (np.diff(starts) < min_len).any():
            continue
        n = lp.length_frames
        for s in starts:
            m = every[int(np.searchsorted(every_starts, s, "right")) - 1]
            if m[1] - m[0] >= min_len and 2 * new_frames(s, s + n) >= n:
                out.append(lp)
                break
    return sorted(out, key=lambda lp: lp.occurrences[0].start_frame)


def _pair_claims(loops: list[Loop]) -> dict[int, list[tuple[int, int]]]:
    """For every offset between two occurrences of a loop, the frames [start, stop)
    of the earlier occurrence: the runs such a pair of places accounts for."""
    claims: dict[int, list[tuple[int, int]]] = {}
    for lp in loops:
        starts = sorted(o.start_frame for o in lp.occurrences)
        for x in range(len(starts)):
            for y in range(x + 1, len(starts)):
                claims.setdefault(starts[y] - starts[x], []).append(
                    (starts[x], starts[x] + lp.length_frames)
                )
    return claims


def _claims_on(claims, a: int, b: int, d: int, tol: int) -> list[tuple[int, int]]:
    """The claimed frames of run (a, b, d), clipped to it, sorted."""
    return sorted(
        (max(a, s), min(b, e))
        for dd in range(d - tol, d + tol + 1)
        for s, e in claims.get(dd, ())
        if s < b and e > a
    )


def unclaimed(ra, rb, rd, loops: list[Loop], min_len: int, tol: int = 0):
    """The longest part of each run ``(ra, rb, rd)`` that no pair of occurrences of
    ``loops`` covers (the same offset within ``tol`` frames), where it is at least
    ``min_len`` frames: arrays (a, b, delta) of those parts."""
    claims = _pair_claims(loops)
    out = []
    for a, b, d in zip(ra.tolist(), rb.tolist(), rd.tolist(), strict=True):
        best, at, pos = 0, a, a
        for s, e in [*_claims_on(claims, a, b, d, tol), (b, b)]:
            if s - pos > best:
                best, at = s - pos, pos
            pos = max(pos, e)
        if best >= min_len:
            out.append((at, at + best, d))
    arr = np.array(out, np.int64).reshape(-1, 3)
    return arr[:, 0], arr[:, 1], arr[:, 2]


def claimed(ra, rb, rd, loops: list[Loop], tol: int = 0) -> np.ndarray:
    """Runs that lie on a pair of occurrences of one of ``loops`` (the same offset,
    within ``tol`` frames, and overlapping the earlier occurrence)."""
    claims = _pair_claims(loops)
    return np.array(
        [
            bool(_claims_on(claims, a, b, d, tol))
            for a, b, d in zip(ra.tolist(), rb.tolist(), rd.tolist(), strict=True)
        ],
        bool,
    )


def _neighbours(ra, rb, rd, reach: int) -> list[list[int]]:
    """For each run, the other runs that overlap it (in their first frames) on a
    diagonal at most ``reach`` away: the same copy seen one or two frames off."""
    order = np.argsort(rd, kind="stable")
    sd = rd[order]
    out: list[list[int]] = [[] for _ in range(len(ra))]
    for i in range(len(ra)):
        lo = np.searchsorted(sd, rd[i] - reach, "left")
        hi = np.searchsorted(sd, rd[i] + reach, "right")
        for j in order[lo:hi].tolist():
            if j != i and ra[j] < rb[i] and rb[j] > ra[i]:
                out[i].append(j)
    return out


def _own_diagonals(ra, rb, rd, votes, clear) -> np.ndarray:
    """Which specific runs stand: those whose own diagonal wins the per-frame vote
    against the diagonals beside it (``votes`` > 0), and, where a copy's runs all
    lose it but are ``clear`` evidence (close and specific on most frames), the
    best of them. That happens in slow footage under heavy compression (B-frames):
    a frame's copy then differs from it by more bits than its neighbour does, and
    no diagonal wins; verification puts the copy on its exact frames."""
    keep = votes > 0
    near = _neighbours(ra, rb, rd, 2 * FAST_RADIUS)
    for i in np.flatnonzero(~keep & clear):
        group = [i, *(j for j in near[i] if clear[j] or votes[j] > 0)]
        if any(votes[j] > 0 for j in group):
            continue
        best = max(group, key=lambda j: (votes[j], rb[j] - ra[j], -j))
        keep[best] = True
    return np.flatnonzero(keep)


def _onto_true_diagonal(h, usable, ra, rb, rd, margin, reach):
    """``--fast``: move each run to the diagonal its decoded frames agree on, and merge
    the runs that land on one diagonal and overlap.

    A frame that was not decoded carries its neighbour's hash, so a copy matches
    on its own diagonal and the one or two beside it alike, and the vote that picks
    a copy's own diagonal at full rate cannot be taken; the decoded frames decide
    instead (:func:`~fastloop.kernels._diagonal_offsets`).
    """
    from .kernels import _diagonal_offsets

    votes = np.zeros((len(ra), 2 * FAST_RADIUS + 1), np.int64)
    _diagonal_offsets(h, usable, ra, rb, rd, FAST_RADIUS, margin, votes)
    c = votes.max(axis=1)
    est = rd - FAST_RADIUS + votes.argmax(axis=1)
    keep = c > 0
    ra, rb, c, est = ra[keep], rb[keep], c[keep], est[keep]
    # runs that overlap and lie within ``reach`` frames of each other are one copy
    # seen on neighbouring diagonals (or a still moment of it matching a few frames
    # off): the best supported run says which diagonal is true
    order = np.lexsort((ra, np.rint(est)))
    out_a, out_b, out_d = [], [], []
    used = np.zeros(len(ra), bool)
    for i in sorted(range(len(ra)), key=lambda k: -c[k]):
        if used[i]:
            continue
        d = int(np.rint(est[i]))
        lo, hi = int(ra[i]), int(rb[i])
        grown = True
        while grown:  # absorb every run that overlaps the copy so far
            grown = False
            for j in order:
                if used[j] or j == i or abs(est[j] - d) > reach:
                    continue
                if ra[j] <= hi and rb[j] >= lo:
                    used[j] = True
                    if abs(est[j] - d) <= 1:
                        lo, hi = min(lo, int(ra[j])), max(hi, int(rb[j]))
                        grown = True
        used[i] = True
        out_a.append(lo)
        out_b.append(hi)
        out_d.append(d)
    return (np.array(out_a, np.int64), np.array(out_b, np.int64), np.array(out_d, np.int64))


def _group(fp: Fingerprint, roots: np.ndarray, size: np.ndarray, min_len: int) -> list[Loop]:
    n = len(roots)
    copied = size >= 2
    cont = np.zeros(n, bool)
    cont[1:] = copied[1:] & copied[:-1] & (roots[1:] == roots[:-1] + 1)
    starts = np.flatnonzero(copied & ~cont)
    # a stretch ends where continuity breaks, not at the next start
    brk = np.flatnonzero(~np.append(cont[1:], False) & copied)
    ends = brk[np.searchsorted(brk, starts)] + 1
    r0 = roots[starts]
    r1 = r0 + (ends - starts)
    keep = (ends - starts) >= 2
    starts, r0, r1 = starts[keep], r0[keep], r1[keep]
    if not len(starts):
        return []
    # one loop per distinct root interval (exact: merging near-equal intervals
    # extrapolated a copy by a frame); its occurrences are every stretch whose root
    # interval contains it, so a part copied again is a loop of its own
    clusters = sorted({(int(a), int(b)) for a, b in zip(r0, r1, strict=True)})
    loops = []
    seen: set[tuple] = set()
    for c0, c1 in clusters:
        length = c1 - c0
        if length < min_len:
            continue
        inside = (r0 <= c0) & (r1 >= c1)
        occ_starts = np.unique(starts[inside] + (c0 - r0[inside]))
        occ_starts = occ_starts[(occ_starts >= 0) & (occ_starts + length <= n)]
        if len(occ_starts) < 2:
            continue
        key = (length, tuple(occ_starts.tolist()))
        if key in seen:
            continue
        seen.add(key)
        loops.append(loop_at(fp, occ_starts, length))
    loops.sort(key=lambda lp: lp.occurrences[0].start_frame)
    return loops
