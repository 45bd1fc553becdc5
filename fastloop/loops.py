"""From near-duplicate frames to loops: a stretch of footage and every place it plays.

1. **Proposals.** Copies are looked for along diagonals (frame i shows frame
   i + delta), seeded by exact keys without comparing all pairs: each 64-bit word of
   the average hash, and *motion keys*, the few cells of the gray descriptor that
   changed most in 0.2 s. The hash finds copies of footage that moves as a whole;
   motion keys find a hand moving in front of a still shelf, where every frame has
   the same hash and hash buckets hold the whole clip.
2. **Judgement on the gray descriptor** (12x12 block means of the 24x24 gray the pipe
   already carries; see :mod:`fastloop.verify`): a pair counts when frame i is
   clearly closer to its partner than to the partner's neighbours 0.2 s away, by a
   ratio. A still view, a freeze or a static camera matches every moment of itself
   and never counts; a look-alike (another person at the same table) differs where
   it differs, and the worst cells of the descriptor show it. A run is walked along
   its diagonal through still moments and ends at a visible cut, or at its last
   specific frame where no cut shows.
3. **Frame classes.** Each accepted run joins its frames with their partners
   (union-find): a class is one picture of the footage, wherever it plays.
4. **Footage.** Classes are chained in the order the video shows them: each class's
   most frequent successor, when that successor agrees it is the most frequent
   predecessor. A clip played k times makes a cycle of classes (the cuts close it),
   opened at its least seen step, the cut. A path is a loop's footage; every stretch
   of the video that walks along it one class per frame is an occurrence, with its
   own length and offset. So a clip played 344 times with different trims is ONE
   loop with 344 occurrences, found in work proportional to the frames, never to
   the pairs of occurrences.
5. **Cuts.** Each occurrence grows over its cuts onto the frames beside it that show
   the footage's picture there (:meth:`~fastloop.verify.Judge.grow_plays`): a frame
   that few plays show can be left out of every class.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from .fingerprint import Fingerprint
from .settings import (
    FLAT_CONTRAST,
    LINKS,
    MIN_LENGTH_S,
    MIN_SPECIFIC,
    SPECIFIC_SHARE,
    default_max_distance,
    piece_frames,
    whole_frames,
)
from .verify import Judge


@dataclass(frozen=True)
class Occurrence:
    """One place a loop plays: video frames ``start_frame .. start_frame +
    length_frames - 1`` show footage frames ``offset_frames ..`` of the loop."""

    start_frame: int
    start_s: float
    length_frames: int
    offset_frames: int = 0

    @property
    def stop_frame(self) -> int:
        return self.start_frame + self.length_frames

    def to_dict(self) -> dict:
        return {
            "start_frame": self.start_frame,
            "start_s": round(self.start_s, 6),
            "length_frames": self.length_frames,
            "offset_frames": self.offset_frames,
        }


@dataclass(frozen=True)
class Loop:
    """``length_frames`` frames of footage and every place (occurrence) they play."""

    length_frames: int
    length_s: float
    mean_distance: float
    occurrences: tuple[Occurrence, ...]

    @property
    def frames(self) -> int:
        """Video frames that play this loop's footage, over all occurrences."""
        return sum(o.length_frames for o in self.occurrences)

    @property
    def period_frames(self) -> int:
        """Median distance between the starts of consecutive occurrences."""
        starts = [o.start_frame for o in self.occurrences]
        return int(np.median(np.diff(starts))) if len(starts) > 1 else 0

    def to_dict(self) -> dict:
        return {
            "length_frames": self.length_frames,
            "length_s": round(self.length_s, 6),
            "mean_distance": round(self.mean_distance, 3),
            "occurrences": [o.to_dict() for o in self.occurrences],
        }


@dataclass
class LoopParams:
    """Thresholds of the loop search; ``None`` means the default for the hash size."""

    max_distance: int | None = None
    min_length_s: float = MIN_LENGTH_S
    flat_contrast: int = FLAT_CONTRAST
    links: int = LINKS

    def resolved_distance(self, hash_size: int) -> int:
        if self.max_distance is None:
            return default_max_distance(hash_size)
        return int(self.max_distance)


@dataclass
class LoopSearch:
    """Loops plus the evidence they were grouped from (for plots and debugging)."""

    loops: list[Loop]
    #: the accepted runs, (a, b, delta) arrays: frames a..b-1 show a+delta..b-1+delta
    matched: tuple = ()
    #: every run proposed, before judgement
    proposed: dict = field(default_factory=dict)


def end_time(fp: Fingerprint, frame: int) -> float:
    """Time at which frame ``frame - 1`` ends: the next frame's time, or the last
    frame's time plus one frame interval."""
    n = len(fp)
    if frame < n:
        return float(fp.pts[frame])
    step = 1.0 / fp.fps if fp.fps > 0 else 0.0
    return float(fp.pts[-1]) + step if n else 0.0


def search(
    fp: Fingerprint, params: LoopParams | None = None, *, parallel_from: int | None = None
) -> LoopSearch:
    """Find the loops of a fingerprint; see the module docstring for the method.

    Examples
    --------
    >>> found = search(Fingerprint.load("clip.npz"))  # doctest: +SKIP
    >>> [(lp.length_frames, len(lp.occurrences)) for lp in found.loops]
    [(120, 3)]
    """
    p = params or LoopParams()
    n = len(fp)
    fps = fp.fps
    if n < 4:
        return LoopSearch([])
    judge = Judge.for_fingerprint(fp, p.flat_contrast, parallel_from)
    min_len = whole_frames(p.min_length_s, fps)
    piece = piece_frames(fps)
    cells = judge.prepare(defer_cells=True)  # filled beside the first key's walk
    a, b, d, spec, dsum, at, gaps = judge.propose(
        cells,
        np.ascontiguousarray(fp.hashes),
        min(min_len, max(2, n // 2)),
        p.resolved_distance(fp.hash_size),
        p.links,
    )
    del cells  # 12 bytes a frame, needed by the proposals alone: not kept through the rest
    proposed = {"a": a, "b": b, "delta": d, "specific": spec}
    length = b - a
    ok = (length >= piece) & (spec >= np.maximum(MIN_SPECIFIC, SPECIFIC_SHARE * length))
    ok[ok] = judge.clear_copies(a[ok], b[ok], d[ok], (gaps, at[ok]))
    del gaps, at
    a, b, d, noise = a[ok], b[ok], d[ok], dsum[ok] // np.maximum(spec[ok], 1)
    keep = _own_diagonals(a, b, d, judge.diagonal_votes(a, b, d), judge.reach)
    a, b, d = judge.bridge(a[keep], b[keep], d[keep], noise[keep])
    if not len(a):
        return LoopSearch([], (a, b, d), proposed)
    loops = footage_loops(fp, a, b, d, min_len, judge)
    return LoopSearch(loops, (a, b, d), proposed)


def warm() -> None:
    """Load the search's kernels (numba's cached machine code, about 0.1 s) by
    searching a small made-up fingerprint, with the types a real one has: a scan runs
    this beside the decode, so that the search after it starts at once."""
    from .hashing import hash_frames

    frames = np.random.default_rng(0).integers(0, 256, (360, 24, 24), dtype=np.uint8)
    frames[240:320] = frames[40:120]  # a stretch played again: every step runs
    h, c, d = hash_frames(frames)
    fp = Fingerprint(hashes=h, pts=np.arange(360) / 30.0, contrast=c, hash_size=24, desc=d)
    search(fp)
    # the paths of a long video, where work is shared among the cores: a clip played
    # six times (after the first key, few frames are left open)
    looped = np.tile(frames[:60], (6, 1, 1))
    h, c, d = hash_frames(looped)
    fp = Fingerprint(hashes=h, pts=np.arange(360) / 30.0, contrast=c, hash_size=24, desc=d)
    search(fp, parallel_from=0)


def _own_diagonals(ra, rb, rd, votes, reach: int) -> np.ndarray:
    """Which runs stand: a run that overlaps another run on a diagonal at most
    ``reach`` frames away is the same copy seen a few frames off (slow footage, or a
    hand moving slowly, matches its copy's neighbours too, up to the widest time
    scale the judge uses); of such a group only the run whose diagonal wins the
    per-frame vote best stands."""
    keep = np.ones(len(ra), bool)
    if not len(ra):
        return keep
    order = np.argsort(rd, kind="stable")
    sd = rd[order]
    for i in range(len(ra)):
        lo = np.searchsorted(sd, rd[i] - reach, "left")
        hi = np.searchsorted(sd, rd[i] + reach, "right")
        for j in order[lo:hi].tolist():
            if j == i or rd[j] == rd[i] or not (ra[j] < rb[i] and rb[j] > ra[i]):
                continue
            better = (votes[j], rb[j] - ra[j], -j) > (votes[i], rb[i] - ra[i], -i)
            if better:
                keep[i] = False
                break
    return keep


def _best_step(node, count, gap, m: int) -> np.ndarray:
    """For each of ``m`` classes, the index of its most seen step among those whose
    ``node`` it is (ties: the smallest picture change), -1 where it has none."""
    o = np.lexsort((gap, -count, node))
    first = np.ones(len(o), bool)
    first[1:] = node[o][1:] != node[o][:-1]
    best = np.full(m, -1, np.int64)
    best[node[o][first]] = o[first]
    return best


def _without_lone_cuts(pu, pv, count, node, cuts, m: int):
    """The steps between classes less those seen once, across a cut: a copy spliced
    in right after its original's last frame, or another copy's, steps from that
    frame's class to the copy's first once only, and chained there the two copies
    would be one footage (the frames after the first one's end then fit nowhere). A
    loop's own cut is seen at every play, and its inner steps at every play too."""
    if not len(pu):
        return pu, pv, count
    x = np.flatnonzero(cuts[1:] & (node[:-1] >= 0) & (node[1:] >= 0))
    at = np.unique(node[x].astype(np.int64) * m + node[x + 1])
    lone = (count == 1) & np.isin(pu.astype(np.int64) * m + pv, at)
    return pu[~lone], pv[~lone], count[~lone]


def _late_cut_pieces(ra, rb, rd, cuts, min_len: int):
    """The runs cut into pieces where both of their sides cut at once, in the order
    given, except that pieces shorter than ``min_len`` that such a cut bounds go last.

    Two plays of a loop trimmed one frame apart pair one frame off past a cut, and
    where the footage moves slowly there that pairing is as close as a true copy and
    the best match around: nothing in the pair tells. The plays around them tell:
    once every longer piece has tied their frames together, joining a frame to its
    neighbour's picture puts two frames a frame apart in one class, which
    ``_frame_roots`` refuses. A true short piece past a cut joins all the same."""
    first, late = [], []
    for a, b, d in zip(ra.tolist(), rb.tolist(), rd.tolist(), strict=True):
        inner = np.flatnonzero(cuts[a + 1 : b] & cuts[a + 1 + d : b + d]) + a + 1
        bounds = [a, *inner.tolist(), b]
        for i, (s, e) in enumerate(itertools.pairwise(bounds)):
            at_cut = i > 0 or i < len(bounds) - 2
            (late if at_cut and e - s < min_len else first).append((s, e, d))
    # three contiguous columns, however many rows: the kernel that takes them is
    # compiled (and cached) for one array layout only
    pa, pb, pd = np.array(first + late, dtype=np.int64).reshape(-1, 3).T.copy()
    return pa, pb, pd


def footage_loops(fp: Fingerprint, ra, rb, rd, min_len: int, judge: Judge) -> list[Loop]:
    """Group the frames of accepted runs into loops (see the module docstring, 3-5).

    (Longer than most functions: a sequence of whole-array steps, each freeing the
    per-frame arrays of the one before as soon as it can: a day's search peaks here,
    and split into functions the arrays would outlive their step in the callers.)
    """
    from .kernels import _class_steps, _footage, _frame_roots, _stretch_sums

    n = len(fp)
    piece = piece_frames(fp.fps)
    # the surest runs first: those whose diagonal beats its neighbours on most frames
    # (a run one frame off, in slow footage, can be long), then the longest
    length = rb - ra
    votes = judge.diagonal_votes(ra, rb, rd)
    order = np.lexsort((-length, -votes / np.maximum(length, 1)))
    pa, pb, pd = _late_cut_pieces(ra[order], rb[order], rd[order], judge.cuts(), min_len)
    roots, size = _frame_roots(n, pa, pb, pd, min_len)
    copied = size >= 2
    del size
    # every class is a node, numbered in the order of its first frame (int32: these
    # arrays hold one number a frame)
    heads = np.flatnonzero(copied & (roots == np.arange(n, dtype=roots.dtype)))
    node = np.full(n, -1, np.int32)
    node[heads] = np.arange(len(heads))
    node = node[roots]
    node[~copied] = -1
    # the hash distances the loops report, taken now so that roots (one int32 a
    # frame) is gone before the arrays below
    dist = judge.hash_distance_to_roots(fp, roots, copied)
    del roots
    m = len(heads)
    # steps between classes, as the video shows them, counted (sorted by class, then
    # successor)
    pu, pv, count = _class_steps(node, m)
    pu, pv, count = _without_lone_cuts(pu, pv, count, node, judge.cuts(), m)
    succ = np.full(m, -1, np.int64)
    pred = np.full(m, -1, np.int64)
    weight = np.zeros(m, np.int64)
    jump = np.zeros(m, np.int64)
    if len(pu):
        gap = judge.gaps(heads[pu], heads[pv])
        # most seen successor of each class (then the smallest picture change), and
        # most seen predecessor of each; a step stands when both agree
        best_succ = _best_step(pu, count, gap, m)
        best_pred = _best_step(pv, count, gap, m)
        e = best_succ[best_succ >= 0]
        mutual = e[best_pred[pv[e]] == e]
        succ[pu[mutual]] = pv[mutual]
        pred[pv[mutual]] = pu[mutual]
        weight[pu[mutual]] = count[mutual]
        jump[pu[mutual]] = gap[mutual]
    comp, pos = _footage(succ, pred, weight, jump)
    # occurrences: stretches of the video that walk one class per frame along a path
    np.maximum(node, 0, out=node)  # frames not copied get -1 below
    fc = comp.astype(np.int32)[node]
    fc[~copied] = -1
    fpos = pos.astype(np.int32)[node]
    fpos[~copied] = -1
    del node
    cont = np.zeros(n, bool)
    cont[1:] = copied[1:] & (fc[1:] == fc[:-1]) & (fpos[1:] == fpos[:-1] + 1)
    starts = np.flatnonzero(copied & ~cont)
    # a stretch ends where continuity breaks, not at the next start
    brk = np.flatnonzero(copied & ~np.append(cont[1:], False))
    ends = brk[np.searchsorted(brk, starts)] + 1
    loop_of = fc[starts]
    order = np.lexsort((starts, loop_of))
    starts, ends, loop_of = starts[order], ends[order], loop_of[order]
    bounds = np.flatnonzero(np.diff(loop_of)) + 1
    # per stretch, the sum of its frames' distances and how many frames have one
    # (a kernel: no n-sized running sums, nor int64 copies of the distances)
    occ_sum, occ_count = _stretch_sums(dist, starts, ends)
    del dist
    plays = []
    claimed = np.zeros(n, bool)
    for group in np.split(np.arange(len(starts)), bounds):
        if len(group) < 2:
            continue
        s, e, ds, dc = starts[group], ends[group], occ_sum[group], occ_count[group]
        # a stretch shorter than 0.2 s right beside another play of the same footage
        # is what is left of a cut whose frames the classes could not place (a frame
        # or two of slow footage around it): not a play of its own
        close = s[1:] - e[:-1] <= piece
        near = np.concatenate((close, [False])) | np.concatenate(([False], close))
        shown = ~(((e - s) < piece) & near)
        s, e, ds, dc = s[shown], e[shown], ds[shown], dc[shown]
        off = fpos[s]
        if len(s) < 2 or int((off + (e - s)).max() - off.min()) < min_len:
            continue  # too short a footage: its frames are free for the others to grow on
        for a, b in zip(s.tolist(), e.tolist(), strict=True):
            claimed[a:b] = True
        plays.append((s, e, off, ds, dc))
    del fpos
    loops = []
    for s, e, off, ds, dc in plays:
        # the frames at the cuts the classes left out (Judge.grow_plays)
        s, e, off = judge.grow_plays(s, e, off, claimed, 2 * min_len, min_len)
        lo = int(off.min())
        length = int((off + (e - s)).max()) - lo
        if len(s) < 2 or length < min_len:
            for a, b in zip(s.tolist(), e.tolist(), strict=True):
                claimed[a:b] = False  # free for the loops after it
            continue
        occ = tuple(
            Occurrence(int(a), float(fp.pts[a]), int(b - a), int(o - lo))
            for a, b, o in zip(s.tolist(), e.tolist(), off.tolist(), strict=True)
        )
        seen = int(dc.sum())
        md = float(ds.sum()) / seen if seen else 0.0
        length_s = length / fp.fps if fp.fps > 0 else float(length)
        loops.append(Loop(length, length_s, md, occ))
    loops.sort(key=lambda lp: lp.occurrences[0].start_frame)
    return loops
