"""The sensitive half: judging candidate copies on the gray descriptor, no decode.

The average hash is relaxed on purpose (compression noise must not break a match), so
it also matches look-alikes, and it is too coarse to place a copy in time where only a
hand moves: a hand in front of a still shelf changes a handful of the 576 bits, about
as much as compression noise does. The pipe already carries every frame's 24x24 gray;
the fingerprint keeps its 12x12 block means (144 bytes a frame) and this module judges
pairs of frames on them:

- **gap**: the mean of the worst 4% of cells (6 of 144) of |a - b|. A re-encoded copy
  differs by compression noise, 1-3 levels (measured at x264 crf 23-28); a look-alike
  by the thing that differs, however small: a person or a hand, tens of levels. The
  mean over all cells would dilute it in the still background.
- **specific in time**: the partner's neighbours 0.2 s away must be ``RATIO`` times
  farther (and by ``MIN_MOTION`` levels at least) than the partner is. Distance alone
  separates nothing (two still moments of one room are as close as a copy); a ratio
  adapts to each clip's noise where a fixed margin does not.
- **agree**: a gap of at most ``AGREE`` levels: a still moment inside a copy, which
  a run walks through but which proves nothing on its own.

The thresholds (in :mod:`fastloop.settings`) are in gray levels per cell; the kernels
compare sums over the worst cells in integers.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from .settings import (
    AGREE,
    FLOOR,
    KEY_LEVELS,
    MAX_MISS,
    MAX_NEUTRAL_S,
    MAX_STATIC_S,
    MIN_MOTION,
    RATIO,
    RUN_EXCESS,
    RUN_RATIO,
    levels,
    seconds_frames,
    shift_frames,
    worst_cells,
)

#: A play grows onto a frame specific to the footage's picture there when its gap is
#: at most this many times the play's own gaps at that end (a run's walk: _EXCESS)...
GROW_EXCESS = 3.0
#: ...or onto a frame that merely agrees (slow footage at a cut) at most this many.
GROW_AGREE = 1.5

#: From this many frames on, :meth:`Judge.prepare` and :meth:`Judge.propose` use a
#: second core (below, starting threads costs about what they save).
PARALLEL_FRAMES = 100_000


#: Tables of open buckets made ahead of their key's walk, each on a core of its own.
LOOKAHEAD = 2


@dataclass
class Judge:
    """The descriptor of one fingerprint and the thresholds derived from its frame
    rate and size (see the module docstring)."""

    desc: np.ndarray
    valid: np.ndarray
    shift: int
    k: int
    fps: float
    _motion: np.ndarray | None = None
    _near: np.ndarray | None = None
    _cuts: np.ndarray | None = None
    _pair_args: tuple | None = None
    #: the motion cells being filled beside the first key's walk (see prepare)
    _cells_pending: Future | None = None
    #: work of this many frames or more is shared among the cores (None:
    #: PARALLEL_FRAMES; 0 makes a small search take the day's paths, to load them)
    parallel_from: int | None = None

    @classmethod
    def for_fingerprint(cls, fp, flat_contrast: int, parallel_from: int | None = None) -> Judge:
        cells = fp.desc.shape[1]
        fps = fp.fps
        return cls(
            desc=fp.desc,
            valid=np.ascontiguousarray(fp.contrast > flat_contrast),
            shift=shift_frames(fps),
            k=worst_cells(cells),
            fps=fps,
            parallel_from=parallel_from,
        )

    def _shared(self, n: int) -> bool:
        """Is work over ``n`` frames (or pairs) shared among the cores?"""
        least = PARALLEL_FRAMES if self.parallel_from is None else self.parallel_from
        return (os.cpu_count() or 1) >= 2 and n >= least

    @property
    def reach(self) -> int:
        """How far off its diagonal a run can be and still look specific: the widest
        time scale the judge uses (``kernels._SCALES``), in frames."""
        from .kernels import _SCALES

        return max(_SCALES) * self.shift

    def levels(self, x: float) -> int:
        """``x`` gray levels per cell as a sum over the worst cells."""
        return levels(x, self.k)

    @property
    def motion(self) -> np.ndarray:
        """Per frame, the gap to its neighbours ``shift`` frames away, or 2 or 4 times
        that where footage moves slowly (-1: flat; see ``kernels._motion``)."""
        if self._motion is None:
            self._fill_motion()
        return self._motion

    @property
    def near(self) -> np.ndarray:
        """Per frame, the gap to its nearer neighbour ``shift`` frames away (-1: flat
        or none): with it ``kernels._judge`` mostly knows a partner's neighbours are
        far without taking their gaps."""
        if self._near is None:
            self._fill_motion()
        return self._near

    def _fill_motion(self) -> None:
        from .kernels import _motion

        n = len(self.valid)
        motion, near = np.empty(n, np.int32), np.empty(n, np.int32)
        _motion(self.desc, self.valid, self.shift, self.k, motion, near)
        if self._motion is None:  # a motion given (tests) is kept
            self._motion = motion
        self._near = near

    def cuts(self) -> np.ndarray:
        """Per frame, is there a cut between it and the frame before (see
        ``kernels._cuts``)?"""
        if self._cuts is None:
            self._cuts = np.zeros(len(self.valid), np.bool_)
            self._cut_piece(self._cuts, 0, -1)
        return self._cuts

    def _cut_piece(self, out: np.ndarray, lo: int, hi: int) -> None:
        from .kernels import _cuts

        if len(out):
            _cuts(self.desc, self.valid, self.k, 2 * self.levels(MIN_MOTION), out, lo, hi)

    def prepare(self, defer_cells: bool = False) -> np.ndarray:
        """The per-frame facts the search starts from, computed on every core (the
        kernels release the GIL): motion, cuts and the motion cells, each in pieces
        of frames. Returns the motion cells.

        ``defer_cells``: on a long video the cells are filled on a thread of their
        own, returned unfilled: only the motion keys read them, and :meth:`propose`
        waits for them before the first of those. They are made while the first
        key's walk runs on one core and leaves the other idle."""
        n = len(self.valid)
        workers = min(os.cpu_count() or 1, 4)
        if not self._shared(n):
            self.motion, self.cuts()
            return self.motion_cells()
        from concurrent.futures import ThreadPoolExecutor

        from .kernels import _motion

        out = np.empty((n, 6), np.uint16)
        motion, near = np.empty(n, np.int32), np.empty(n, np.int32)
        cuts = np.zeros(n, np.bool_)
        bounds = np.linspace(0, n, 2 * workers + 1).astype(np.int64)
        pieces = list(itertools.pairwise(bounds.tolist()))
        with ThreadPoolExecutor(workers, thread_name_prefix="fastloop-judge") as pool:
            tasks = [
                pool.submit(
                    _motion, self.desc, self.valid, self.shift, self.k, motion, near, lo, hi
                )
                for lo, hi in pieces
            ]
            tasks += [pool.submit(self._cut_piece, cuts, lo, hi) for lo, hi in pieces]
            if not defer_cells:
                tasks += [pool.submit(self.motion_cells, out, lo, hi) for lo, hi in pieces]
            for t in tasks:
                t.result()
        self._motion, self._near, self._cuts = motion, near, cuts
        if defer_cells:
            filler = ThreadPoolExecutor(1, thread_name_prefix="fastloop-cells")
            self._cells_pending = filler.submit(self.motion_cells, out)
            filler.shutdown(wait=False)  # its thread ends with the fill
        return out

    def propose(self, cells: np.ndarray, hashes: np.ndarray, min_gap: int, seed_d: int, links: int):
        """Diagonal runs of copied frames seeded by the bucket tables of ``hashes`` and
        ``cells`` (:meth:`prepare`), key after key (see ``kernels._propose_key``):
        arrays (a, b, delta, specific frames, d0 sum, where the run's gaps start in
        the last), and the gap of every pair of every run, as the walks took them
        (what :meth:`clear_copies` would take again).

        Once few frames are left open (not yet tied to enough places), a key's table
        holds only the buckets of open frames (``kernels._open_buckets``), the only
        ones a key still seeds from. On a long video each key's whole table is
        grouped on a second core while the key before is walked: the grouping is a
        third of the work on a looped day (1.2 of 3.7 s), and its result is the same
        whoever computes it."""
        from concurrent.futures import ThreadPoolExecutor

        from .kernels import (
            _buckets_csr,
            _few_open,
            _group_keys,
            _open_buckets,
            _propose_key,
            _propose_state,
        )

        tail = (min_gap, seed_d, links, *self.walk_args())
        n = len(self.valid)
        nwords = hashes.shape[1]
        nkeys = nwords + 4 * (cells.shape[1] // 3)  # the hash's words are keys too
        base = 2 * self.desc.shape[1] + 1

        pending = self._cells_pending

        def source(w: int) -> tuple[int, np.ndarray]:
            # key w: word w of the hash (-1), else motion key ``which`` of a span,
            # whose cells may still be filling (see prepare): waited for here, by
            # whichever thread reads them first
            if w < nwords:
                return -1, cells[:, 0:3]
            if pending is not None:
                pending.result()
            span = 3 * ((w - nwords) // 4)
            return (w - nwords) % 4, cells[:, span : span + 3]

        def buckets(w: int) -> tuple[np.ndarray, np.ndarray]:
            which, sub = source(w)
            # the table grows as needed: a looped video has few distinct keys, and a
            # small table stays in cache
            ids, ngroups = _group_keys(hashes, sub, w, which, base, 4096)
            return _buckets_csr(ids, ngroups)

        state = _propose_state(self.valid, self.motion, self.levels(MIN_MOTION))
        tied, gone = state[2], state[3]
        cuts, near = self.cuts(), self.near
        runs = np.empty((1024, 6), np.int64)
        nruns = 0
        # the runs' gaps, int16 where a gap (a sum of k cells of at most 255) fits
        gaps = np.empty(1 << 16, _gap_type(self.k))
        ngaps = 0
        shared = self._shared(n)

        def open_buckets(w: int, tied: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            which, sub = source(w)
            return _open_buckets(hashes, sub, w, which, base, tied, gone)

        with ThreadPoolExecutor(LOOKAHEAD, thread_name_prefix="fastloop-keys") as pool:
            ahead = None  # the next key's whole table
            opened: dict = {}  # the next keys' tables of open buckets
            for w in range(nkeys):
                which, sub = source(w)
                if _few_open(tied, gone, n):
                    # the buckets of the few open frames (they depend on the runs of
                    # the keys before)
                    if ahead is not None:
                        ahead.cancel()
                    ahead = None
                    made = opened.pop(w, None)
                    start, order = made.result() if made is not None else open_buckets(w, tied)
                    if shared:
                        # the next keys' tables on the other cores meanwhile, from the
                        # frames open now: a frame only ever closes, so they hold every
                        # bucket open when their key is walked, and the walk skips the
                        # others (the same seeds, in the same order); a looped day's
                        # few open frames make this mostly a pass over every frame
                        now = tied.copy()
                        for nxt in range(w + 1, min(w + 1 + LOOKAHEAD, nkeys)):
                            if nxt not in opened:
                                opened[nxt] = pool.submit(open_buckets, nxt, now)
                else:
                    start, order = ahead.result() if ahead is not None else buckets(w)
                    # the next key's whole table on the other core during this walk
                    # (not used if this walk leaves few frames open)
                    ahead = pool.submit(buckets, w + 1) if shared and w + 1 < nkeys else None
                runs, nruns, gaps, ngaps = _propose_key(
                    start, order, hashes, sub, w, which, nkeys, self.desc, self.valid, near,
                    cuts, state, runs, nruns, gaps, ngaps, *tail,
                )  # fmt: skip
                del start, order
        self._cells_filled()
        out = np.ascontiguousarray(runs[:nruns].T)
        return out[0], out[1], out[2], out[3], out[4], out[5], gaps[:ngaps]

    def _cells_filled(self) -> None:
        """Wait for motion cells :meth:`prepare` left filling (nothing if none)."""
        pending, self._cells_pending = self._cells_pending, None
        if pending is not None:
            pending.result()

    def motion_cells(self, out: np.ndarray | None = None, lo: int = 0, hi: int = -1) -> np.ndarray:
        """uint16[n, 6]: where each frame moves (see ``kernels._motion_cells``), since
        ``shift`` frames before and since ``reach`` frames before (a hand that moves
        a few levels in 0.2 s moves tens of levels in 0.8 s); ``_propose_key`` makes its
        keys of them. ``lo``, ``hi``: fill only those frames of ``out``."""
        from .kernels import _motion_cells

        if out is None:
            out = np.empty((len(self.valid), 6), np.uint16)
        for i, span in enumerate((self.shift, self.reach)):
            part = out[:, 3 * i : 3 * i + 3]
            _motion_cells(self.desc, self.valid, span, KEY_LEVELS, part, lo, hi)
        return out

    def walk_args(self) -> tuple:
        """The thresholds ``kernels._propose_key`` takes after ``links``, in order."""
        return (
            self.shift,
            self.k,
            self.levels(AGREE),
            round(RATIO * 10),
            self.levels(FLOOR),
            self.levels(MIN_MOTION),
            MAX_MISS,
            seconds_frames(MAX_STATIC_S, self.fps, self.shift),
            seconds_frames(MAX_NEUTRAL_S, self.fps, self.shift),
            round(RUN_RATIO * 10),
        )

    def gaps(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Gap (sum over the worst cells) between frames x[i] and y[i]."""
        d = np.abs(self.desc[x].astype(np.int16) - self.desc[y].astype(np.int16))
        if not len(d):
            return np.zeros(0, np.int64)
        return np.sort(d, axis=1)[:, -self.k :].sum(axis=1).astype(np.int64)

    def clear_copies(self, a, b, d, walked=None) -> np.ndarray:
        """Which runs ``a..b-1 -> +d`` are clearly copies (see RUN_EXCESS, RUN_RATIO):
        a look-alike's pictures differ by more than the video's compression noise,
        or its frames hardly move beyond that difference. ``walked``: (gaps, where
        each run's start in them), as :meth:`propose` gave them; else taken here."""
        from .kernels import _run_gap_counts, _run_gaps, _run_verdicts

        length = b - a
        if not len(a):
            return np.zeros(0, bool)
        if walked is not None:
            d0, at = walked
        else:
            # one number a pair (a looped day has some 7 million)
            d0 = np.empty(int(length.sum()), _gap_type(self.k))
            ends = np.cumsum(length)
            at = ends - length
            if not self._shared(len(d0)):
                _run_gaps(self.desc, a, b, d, self.k, d0)
            else:
                # two halves of the runs, each into its own stretch of d0, on two cores
                h = int(np.searchsorted(ends, ends[-1] // 2)) + 1
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(1, thread_name_prefix="fastloop-gaps") as pool:
                    half = pool.submit(
                        _run_gaps, self.desc, a[h:], b[h:], d[h:], self.k, d0[ends[h - 1] :]
                    )
                    _run_gaps(self.desc, a[:h], b[:h], d[:h], self.k, d0[: ends[h - 1]])
                    half.result()
        floor = self.levels(FLOOR)
        noise = max(_median_of_counts(_run_gap_counts(d0, at, length)), floor)
        out = np.empty(len(a), bool)
        _run_verdicts(d0, at, length, a, d, self.motion, floor, RUN_EXCESS * noise, RUN_RATIO, out)
        return out

    def pair_state(self, x: int, y: int) -> int:
        """How frame ``x`` matches frame ``y`` (``kernels._judge``): 2 specific in
        time, 1 or 3 agreeing only, 0 different; 0 where either is flat."""
        from .kernels import _judge, scratch

        if not (self.valid[x] and self.valid[y]):
            return 0
        if self._pair_args is None:  # the scratch space and thresholds, made once
            shift, k, agree, ratio10, floor, min_motion = self.walk_args()[:6]
            top = scratch(self.desc.shape[1])
            self._pair_args = (shift, k, top, agree, ratio10, floor, min_motion)
        return int(_judge(self.desc, self.valid, self.near, int(x), int(y), *self._pair_args)[1])

    def grow_plays(self, s, e, off, claimed: np.ndarray, limit: int, window: int):
        """The plays of one loop (video frames ``s[i]..e[i]-1`` show footage frames
        ``off[i]..``) grown frame by frame over their cuts, onto frames no play
        holds (``claimed``, updated): the classes place a frame only where runs tied
        it to its copies, and at a cut a frame shown by few plays can be left out of
        every class (a clip trimmed differently at each cut: its first frames open
        only some plays), or fall in a class of its own beside the footage's.

        A play takes the frame before its start (after its end) when that frame
        shows the footage's picture there, judged against the frames two other
        plays show at that offset as a run's walk judges its next pair: specific in
        time and within ``GROW_EXCESS`` times the play's own gaps at that end (the
        next frame of slow footage is specific too, when the play is all that shows
        it), or agreeing for a few frames at a cut and as close as the play's own
        frames (``GROW_AGREE`` times their gaps). Past the footage's first (last)
        frame, the frames beside the plays that reach it make a new footage frame
        when they are copies of one another (the side with more of them first: at
        a cut of a clip played back to back, the frame is the end of one play or
        the start of the next). Work in the plays times the frames grown (``limit``
        new footage frames at most), never in pairs of plays. Where no other play
        of the loop shows such a frame, a frame beside any play of the video (at
        least ``window`` frames away) that is a specific copy of it makes a new
        play: a copy's source split by another splice goes on there. Returns new
        (s, e, off) arrays."""
        s, e, off = (np.array(v, np.int64) for v in (s, e, off))
        n = len(self.valid)
        still = seconds_frames(MAX_STATIC_S, self.fps, self.shift)
        floor = self.levels(FLOOR)
        lo = base = int(off.min())
        hi = int((off + e - s).max())
        pad = limit + 1
        # two frames showing each footage frame, from two plays: the longest plays
        # write last, so a footage frame's references come from the surest plays
        ref = np.full((2, hi - lo + 2 * pad), -1, np.int64)
        cuts = self.cuts()

        def fill() -> None:
            ref[:] = -1
            for i in np.argsort(e - s, kind="stable").tolist():
                a, b = off[i] - base + pad, off[i] + e[i] - s[i] - base + pad
                ref[1, a:b] = np.where(ref[0, a:b] >= 0, ref[0, a:b], ref[1, a:b])
                ref[0, a:b] = np.arange(s[i], e[i])

        fill()

        def refs(q: int) -> np.ndarray:
            r = ref[:, q - base + pad]
            return r[r >= 0]

        def noise(i: int, back: bool) -> float:
            # the play's own gaps to the other plays over its first (last) frames
            k = np.arange(min(8, e[i] - s[i]))
            xs = s[i] + k if back else e[i] - 1 - k
            qs = (off[i] + k if back else off[i] + e[i] - s[i] - 1 - k) - base + pad
            r = np.where(ref[0, qs] == xs, ref[1, qs], ref[0, qs])
            ok = r >= 0
            return float(self.gaps(xs[ok], r[ok]).mean()) if ok.any() else -1.0

        def judge(x: int, ys: np.ndarray, gauge: float) -> int:
            # 2 specific to one of ys and close enough to it, 1 agreeing with one and
            # as close to it as the play is to its own, else 0
            if gauge < 0 or not len(ys) or not self.valid[x]:
                return 0
            best = 0
            gaps = self.gaps(np.full(len(ys), x), ys).tolist()
            for y, gap in zip(ys.tolist(), gaps, strict=True):
                st = self.pair_state(x, y)
                if st == 2 and gap <= GROW_EXCESS * max(gauge, floor):
                    return 2
                if st and gap <= GROW_AGREE * max(gauge, floor):
                    best = 1
            return best

        def walk(i: int, back: bool) -> bool:
            step = -1 if back else 1
            x = s[i] - 1 if back else e[i]
            q = off[i] - 1 if back else off[i] + e[i] - s[i]
            if not (0 <= x < n and lo <= q < hi) or claimed[x]:
                return False  # plays back to back: the most common case, at once
            gauge = noise(i, back)
            took = waiting = 0
            while 0 <= x < n and lo <= q < hi and not claimed[x] and waiting <= still:
                st = judge(x, refs(q), gauge)
                if st == 0:
                    break
                waiting += 1
                if st == 2:
                    took += waiting
                    waiting = 0
                x += step
                q += step
            if waiting and waiting <= self.shift:
                # a few agreeing frames up to a cut (or another play, or the video's
                # end), not a still view: x is the frame the walk stopped at
                inside = 0 <= x < n
                if not inside or claimed[x] or cuts[x + 1 if back else x]:
                    took += waiting
            if not took:
                return False
            if back:
                claimed[s[i] - took : s[i]] = True
                s[i] -= took
                off[i] -= took
            else:
                claimed[e[i] : e[i] + took] = True
                e[i] += took
            return True

        def candidates(back: bool):
            # a new footage frame before ``lo`` (after ``hi``): the frames beside the
            # plays that reach that end, copies of one another
            at = np.flatnonzero(off == lo) if back else np.flatnonzero(off + e - s == hi)
            xs = s[at] - 1 if back else e[at]
            ok = (xs >= 0) & (xs < n)
            at, xs = at[ok], xs[ok]
            ok = ~claimed[xs] & self.valid[xs]
            at, xs = at[ok], xs[ok]
            for c in range(min(3, len(xs))):
                gauge = noise(int(at[c]), back)
                states = [judge(int(xs[j]), xs[c : c + 1], gauge) if j != c else 0
                          for j in range(len(xs))]  # fmt: skip
                mates = [j for j, st in enumerate(states) if st == 2]
                if not mates and vague[back] < self.shift:
                    # agreeing only (slow footage, or a pattern that repeats, as a
                    # conveyor does): three plays at least, for a few frames at most
                    mates = [j for j, st in enumerate(states) if st]
                    mates = mates if len(mates) >= 2 else []
                if mates:
                    return at[[c, *mates]], xs[c], xs[mates[0]], states[mates[0]] != 2, -1
            # no other play of this loop shows it: a copy's source split by another
            # splice goes on after that other copy, beside another loop's play
            for c in range(min(3, len(xs))):
                if cuts[xs[c] + 1 if back else xs[c]]:
                    continue  # the copy's source goes on without a cut, or not at all
                y = stranger(int(xs[c]), noise(int(at[c]), back), back)
                if y >= 0:
                    return at[[c]], xs[c], y, False, y
            return None

        pool: list[np.ndarray] = []

        def stranger(x: int, gauge: float, back: bool) -> int:
            # a frame beside some play (of any loop), far from x, that x is a
            # specific copy of: the closest of them
            if gauge < 0:
                return -1
            if not pool:
                edge = np.zeros(n, bool)
                edge[1:] |= claimed[:-1]
                edge[:-1] |= claimed[1:]
                pool.append(np.flatnonzero(edge & ~claimed & self.valid))
            ys = pool[0][~claimed[pool[0]] & (np.abs(pool[0] - x) >= window)]
            if not len(ys):
                return -1
            g = self.gaps(np.full(len(ys), x), ys)
            near = np.flatnonzero(g <= GROW_EXCESS * max(gauge, floor))
            step = -1 if back else 1
            for y in ys[near[np.argsort(g[near], kind="stable")]][:4].tolist():
                if self.pair_state(x, y) != 2 or self.pair_state(y, x) != 2:
                    continue
                # and the frame after each (before, going back) too: two frames of a
                # source a splice cut in two are as close as a copy, but the frames
                # beyond them are not
                x2, y2 = x + step, y + step
                if not (0 <= min(x2, y2) and max(x2, y2) < n) or claimed[x2] or claimed[y2]:
                    continue
                if self.pair_state(x2, y2) and int(
                    self.gaps(np.array([x2]), np.array([y2]))[0]
                ) <= GROW_EXCESS * max(gauge, floor):
                    return y
            return -1

        def fit(x: np.ndarray, q: np.ndarray) -> float:
            # mean gap of frames x to the footage's pictures at offsets q (shown by
            # other plays)
            at = q - base + pad
            r = np.where(ref[0, at] == x, ref[1, at], ref[0, at])
            ok = (r >= 0) & (r != x)
            return float(self.gaps(x[ok], r[ok]).mean()) if ok.any() else np.inf

        # a short piece right beside a longer play whose offsets it does not continue,
        # in slow footage placed a frame or two off: moved to continue that play when
        # it fits the footage there about as well (at a cut between two plays it does
        # not: the pictures differ)
        order = np.argsort(s, kind="stable").tolist()
        seated = False
        for i, j in itertools.pairwise(order):
            if e[i] != s[j] or off[j] == off[i] + e[i] - s[i]:
                continue
            short = i if e[i] - s[i] < e[j] - s[j] else j
            if e[short] - s[short] >= self.shift * 3:
                continue
            x = np.arange(s[short], e[short])
            moved = off[j] - (e[i] - s[i]) if short == i else off[i] + e[i] - s[i]
            if moved < lo or moved + len(x) > hi:
                continue
            now, then = fit(x, off[short] + x - s[short]), fit(x, moved + x - s[short])
            if np.isfinite(now) and np.isfinite(then) and then <= GROW_AGREE * max(now, floor):
                off[short] = moved
                seated = True
        if seated:
            fill()

        vague = {True: 0, False: 0}
        again = range(len(s))
        for _ in range(2 * limit + 1):
            for i in again:
                walk(i, True)
                walk(i, False)
            found = {side: candidates(side) for side in (True, False)}
            sides = [side for side in (True, False) if found[side] is not None]
            if not sides:
                break
            back = max(sides, key=lambda side: len(found[side][0]))
            take, r0, r1, unsure, new = found[back]
            vague[back] += unsure
            if back:
                lo -= 1
                s[take] -= 1
                off[take] -= 1
                claimed[s[take]] = True
            else:
                claimed[e[take]] = True
                e[take] += 1
                hi += 1
            if new >= 0:  # a play of its own, one frame long for now
                s, e = np.append(s, new), np.append(e, new + 1)
                off = np.append(off, lo if back else hi - 1)
                claimed[new] = True
            ref[0, (lo if back else hi - 1) - base + pad] = r0
            ref[1, (lo if back else hi - 1) - base + pad] = r1
            # only plays at that end can go on into the new footage frame
            again = np.flatnonzero(off == lo if back else off + e - s == hi).tolist()
            if lo - base + pad <= 0 or hi - base + pad >= ref.shape[1]:
                break
        # two pieces of one play, the frame between them grown over: one play again
        order = np.argsort(s, kind="stable")
        s, e, off = s[order], e[order], off[order]
        joined = np.zeros(len(s), bool)
        joined[1:] = (s[1:] == e[:-1]) & (off[1:] == off[:-1] + (e[:-1] - s[:-1]))
        head = np.flatnonzero(~joined)
        last = np.append(head[1:], len(s)) - 1
        return s[head], e[last], off[head]

    def diagonal_votes(self, a, b, d) -> np.ndarray:
        from .kernels import _diagonal_votes

        return _diagonal_votes(self.desc, self.valid, a, b, d, self.k)

    def bridge(self, a, b, d, noise):
        """Runs on one diagonal merged where they overlap or their gap agrees;
        ``noise``: each run's mean gap over its specific frames."""
        from .kernels import _bridge

        order = np.lexsort((a, d))
        return _bridge(
            self.desc,
            self.valid,
            a[order],
            b[order],
            d[order],
            noise[order],
            self.k,
            self.levels(AGREE),
        )

    @staticmethod
    def hash_distance_to_roots(fp, roots, copied) -> np.ndarray:
        """Per frame, the Hamming distance of its hash to its class's first frame (-1
        for frames that are not copies, and for that first frame itself); int16."""
        from .kernels import _root_distances

        out = np.empty(len(roots), np.int16)
        _root_distances(np.ascontiguousarray(fp.hashes), roots, copied, out)  # warm()'s types
        return out


def _gap_type(k: int) -> type:
    """The smallest integer type that holds a gap over ``k`` cells."""
    return np.int16 if k * 255 <= np.iinfo(np.int16).max else np.int32


def _median_of_counts(counts: np.ndarray) -> float:
    """``np.median`` of the values whose counts ``np.bincount`` gave (some: a run's
    gaps are small integers, and a day has 7 million of them)."""
    total = int(counts.sum())
    cum = np.cumsum(counts)
    lo = int(np.searchsorted(cum, (total - 1) // 2, side="right"))
    hi = int(np.searchsorted(cum, total // 2, side="right"))
    return (lo + hi) / 2
