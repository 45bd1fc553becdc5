"""Second stage: confirm each candidate loop on a few frames decoded again, larger.

A 24x24 average hash is relaxed on purpose (compression noise must not break a
match), so it also matches look-alikes: two people at the same table, a scene whose
brightness changed (the hash ignores global brightness). The hash proposes, this
module disposes: for a few frames of each loop, the frame and its copies are fetched
by seeking, at 128x128 gray, and compared block by block. A re-encoded copy differs by
compression noise only (measured: at most 8.3 gray levels in any 8x8 block, even at
crf 35), a look-alike by the thing that differs: 28-31 for lavfi testsrc2 footage
that repeats but for its frame counter, 30-70 for people on a fixed camera.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import DecodeError
from .fingerprint import Fingerprint
from .loops import Loop

#: Pictures are compared at this size...
VERIFY_SIZE = (128, 128)
#: ...in 8x8 blocks; a pair is a copy when no block's mean |difference| exceeds this.
MAX_BLOCK_DIFF = 16.0
#: Frames sampled per loop, SAMPLE_STEP frames apart; occurrences compared all with all...
FRAMES_PER_LOOP = 5
SAMPLE_STEP = 3
CHECK_OCCURRENCES = 6
#: ...and, when some disagree, how many more are checked one by one.
MAX_CHECKED = 500
#: Occurrences whose boundaries are re-examined (the first one and these many more).
OCCURRENCES_PER_LOOP = 3
#: Boundaries are re-examined frame by frame this far (seconds) on both sides...
REFINE_WINDOW_S = 1.5
#: ...and a frame beyond one joins a loop only if it matches its partner by this many
#: gray levels (worst block) better than the partner's neighbours 0.2 s away.
SPECIFIC_MARGIN = 4.0


@dataclass(frozen=True)
class Verdict:
    """What verification measured for one loop."""

    confirmed: bool
    block_diff: float  # median over the sampled pairs of the worst block difference
    pairs: int
    #: False when frames could not be fetched (a damaged stretch): the hash's word stands
    checked: bool = True


def block_diff(a: np.ndarray, b: np.ndarray, block: int = 8) -> float:
    """Largest mean absolute difference over ``block`` x ``block`` tiles of a and b."""
    h, w = a.shape
    d = np.abs(a.astype(np.int16) - b.astype(np.int16)).astype(np.float32)
    d = d[: h - h % block, : w - w % block]
    tiles = d.reshape(h // block, block, w // block, block).mean(axis=(1, 3))
    return float(tiles.max())


def _mean_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _sample_offsets(fp: Fingerprint, lp: Loop) -> np.ndarray:
    """Offsets into the loop of ``FRAMES_PER_LOOP`` frames a few frames apart, where
    the picture moves most (most telling). Close together, because fetching a frame
    costs decoding from the keyframe before it: one short stretch per occurrence."""
    start = lp.occurrences[0].start_frame
    n = lp.length_frames
    if n <= FRAMES_PER_LOOP:
        return np.arange(n)
    from .hashing import hamming

    step = max(1, min(SAMPLE_STEP, (n - 1) // (FRAMES_PER_LOOP - 1)))
    span = step * (FRAMES_PER_LOOP - 1)
    # keep off the boundaries, which the hash may have placed a frame or two off
    edge = min(SNAP_FRAMES + 2, max(0, (n - 1 - span) // 2))
    h = fp.hashes[start : start + n]
    motion = np.zeros(n, np.int64)
    motion[1:] = hamming(h[1:], h[:-1])
    motion[fp.contrast[start : start + n] <= 4] = -n * 576
    motion[:edge] = motion[n - edge :] = -n * 576
    score = np.convolve(motion, np.ones(span + 1, np.int64), "valid")  # window sums
    first = int(np.argmax(score))
    return first + step * np.arange(FRAMES_PER_LOOP)


def _picks(lp: Loop) -> list:
    occ = lp.occurrences
    rest = list(occ[1:][:: max(1, (len(occ) - 1) // OCCURRENCES_PER_LOOP)])
    return [occ[0], *rest][: OCCURRENCES_PER_LOOP + 1]


def _window_ok(path, fp, info, starts, offsets, shift) -> tuple[np.ndarray, np.ndarray]:
    """For each offset k: ``agree[k]``, frame ``starts[0] + k`` and ``starts[p] + k``
    show the same picture at 128x128 for every sampled occurrence p, and ``specific[k]``,
    each agrees clearly better than with the partner's neighbours ``shift`` frames
    away (a still view agrees with every moment of itself)."""

    n = len(fp)
    grabbed = []
    masks = [((s + offsets) >= 0) & ((s + offsets) < n) for s in starts]
    todo = [i for i, m in enumerate(masks) if m.any()]
    got = dict(
        zip(
            todo,
            _grab_all(path, info, [fp.pts[(starts[i] + offsets)[masks[i]]] for i in todo]),
            strict=True,
        )
    )
    for i, inside in enumerate(masks):
        frames = np.zeros((len(offsets), VERIFY_SIZE[1], VERIFY_SIZE[0]), np.uint8)
        if i in got:
            frames[inside] = got[i]
        grabbed.append((frames, inside))
    (f0, in0) = grabbed[0]
    m = len(offsets)
    agree = np.ones(m, bool)
    specific = np.ones(m, bool)
    for fj, inj in grabbed[1:]:
        for k in range(m):
            if not (in0[k] and inj[k]):
                agree[k] = specific[k] = False
                continue
            d0 = block_diff(f0[k], fj[k])
            agree[k] &= d0 <= MAX_BLOCK_DIFF
            near = [
                block_diff(f0[k], fj[q]) for q in (k - shift, k + shift) if 0 <= q < m and inj[q]
            ]
            specific[k] &= bool(near) and min(near) >= d0 + SPECIFIC_MARGIN
    return agree, specific


#: A boundary frame whose pairs differ by this many bits (share of max_distance) more
#: than the loop's mean distance is suspect: a look-alike may have lengthened the run.
EDGE_EXCESS_SHARE = 0.25


def _trim(fp: Fingerprint, lp: Loop, max_distance: int) -> Loop:
    """The loop without the frames at either end whose pairs differ by the hash by
    ``EDGE_EXCESS_SHARE`` of max_distance more than the loop's median frame does.

    Periodic footage (a test pattern, a conveyor) matches a copy's surroundings by
    the hash at the edge of max_distance, so a run can start or end far outside the
    copy - farther than :func:`refine` looks. What is trimmed here wrongly, refine
    grows back on the pictures."""
    from .hashing import hamming
    from .loops import loop_at

    starts = np.array([o.start_frame for o in _picks(lp)], np.int64)
    n = lp.length_frames
    k = np.arange(n)
    d = np.zeros(n, np.int64)
    for s in starts[1:]:
        d = np.maximum(d, hamming(fp.hashes[starts[0] + k], fp.hashes[s + k]))
    bad = d > np.median(d) + EDGE_EXCESS_SHARE * max_distance
    if not bad[0] and not bad[-1]:
        return lp
    good = np.flatnonzero(~bad)
    lo, hi = int(good[0]), int(good[-1]) + 1
    if hi - lo < 2:
        return lp
    return loop_at(fp, [o.start_frame + lo for o in lp.occurrences], hi - lo, lp.mean_distance)


def _sharp(
    fp: Fingerprint,
    starts: np.ndarray,
    offset: int,
    max_distance: int,
    force: bool = False,
    edge: int = 0,
    typical: float = 0.0,
) -> bool:
    """Is frame ``offset`` (relative to each start) different footage in every sampled
    occurrence, by the hash, and frame ``edge`` (the loop's own frame at that
    boundary) as close as the loop's ``typical`` distance? Then the boundary is a
    clean cut: nothing to refine. Never when ``force``: after ``--fast`` (a skipped
    frame carries its neighbour's hash) or when verification moved an occurrence."""
    from .hashing import hamming

    idx = starts + offset
    if force or (idx < 0).any() or (idx >= len(fp)).any():
        # at the video's first or last frame there is no other side to look at: the
        # hash may have started the loop early on a look-alike, so it is checked
        return False
    if (fp.contrast[idx] <= 4).any():
        return False  # a flat frame says nothing
    d = hamming(fp.hashes[idx[0]], fp.hashes[idx[1:]])
    if not (d > max_distance).all():
        return False
    # periodic footage (a test pattern) matches a few frames past a copy's end by the
    # hash, at the edge of max_distance: a run that ends on such frames is looked at
    own = starts + edge
    d_edge = hamming(fp.hashes[own[0]], fp.hashes[own[1:]])
    if not (d_edge <= typical + EDGE_EXCESS_SHARE * max_distance).all():
        return False
    # and the loop's own frame at the boundary is specific in time by the hash: a
    # test pattern whose only change is a counter the hash cannot see matches past a
    # copy's end as well as inside it
    from .loops import SHIFT_S, SPECIFIC_MARGIN_SHARE

    shift = max(1, round(SHIFT_S * fp.fps)) if fp.fps > 0 else 3
    margin = max(1, round(SPECIFIC_MARGIN_SHARE * fp.hash_size * fp.hash_size))
    n = len(fp)
    for p, e in zip(own[1:].tolist(), d_edge.tolist(), strict=True):
        near = [q for q in (p - shift, p + shift) if 0 <= q < n and q != own[0]]
        if not near or hamming(fp.hashes[own[0]], fp.hashes[near]).min() < e + margin:
            return False
    return True


def refine(
    path, fp: Fingerprint, lp: Loop, info, max_distance: int | None = None, force: bool = False
) -> Loop:
    """Put a loop's boundaries back within a frame by comparing 128x128 frames around them.

    The hash stage ends a run at its last frame that is specific in time at 24x24.
    Around each boundary (``REFINE_WINDOW_S`` both ways) the sampled occurrences'
    frames are compared one by one with the first occurrence's, at 128x128: the loop
    grows while every pair agrees *and* is specific in time (a small moving thing is
    visible here that the hash missed), and shrinks where a pair disagrees. A still
    view at a boundary is not claimed: on a fixed camera the empty road after a cut
    looks the same in both places, and claiming it would call honest frames copies.
    Occurrences never grow into each other. A boundary where the hash already shows
    different footage on the other side in every sampled occurrence (a clean cut) is
    left as it is, without fetching frames - unless ``force`` (after ``--fast``, or
    when verification moved an occurrence: the hash's boundaries are then a guess,
    and frames up to ``SNAP_FRAMES`` outside them may join on agreement alone).
    """
    from .loops import Occurrence, default_max_distance

    if max_distance is None:
        max_distance = default_max_distance(fp.hash_size)

    fps = fp.fps if fp.fps > 0 else 30.0
    w = max(3, round(REFINE_WINDOW_S * fps))
    shift = max(1, round(0.2 * fps))
    picks = _picks(lp)
    starts = np.array([o.start_frame for o in picks], np.int64)
    all_starts = np.array([o.start_frame for o in lp.occurrences], np.int64)
    n = len(fp)
    length = lp.length_frames
    max_len = int(np.diff(all_starts).min()) if len(all_starts) > 1 else length
    # a forced boundary is first looked for in a narrow window (cheaper to fetch),
    # and in the wide one when it is not found there or keeps growing to its edge
    windows = [min(w, SNAP_FRAMES + shift + 2), w] if force else [w]
    grow_front = 0
    if not _sharp(fp, starts, -1, max_distance, force, 0, lp.mean_distance):
        for i, win in enumerate(windows):
            got = _front(path, fp, info, starts, length, win, shift, force)
            if got is not None and (not got[1] or i == len(windows) - 1):
                break
        # nothing agrees near the start: the loop starts farther in (a look-alike
        # that the hash cannot tell from the copy lengthened it); look there
        base = 0
        while got is None and base + 2 * w < length:
            base += w
            got = _front(path, fp, info, starts + base, length - base, w, shift, force)
            if got is not None:
                got = (got[0] - base, False)
        if got is None:
            return lp  # nothing agrees anywhere: leave it to verification
        grow_front = min(got[0], int(all_starts.min()))
        # grown to the window's edge: slow footage (a slow zoom) whose run the hash
        # ended early goes on agreeing; follow it, a window at a time
        while got[1] and 0 < grow_front < int(all_starts.min()) and grow_front < max_len:
            got = _front(path, fp, info, starts - grow_front, 1, w, shift, False)
            if got is None or got[0] <= 0:
                break
            grow_front = min(grow_front + got[0], int(all_starts.min()))
    grow_back = 0
    if not _sharp(fp, starts, length, max_distance, force, length - 1, lp.mean_distance):
        for i, win in enumerate(windows):
            got = _back(path, fp, info, starts, length, win, shift, force)
            if got is not None and (not got[1] or i == len(windows) - 1):
                break
        base = 0  # the same at the end
        while got is None and base + 2 * w < length + grow_front:
            base += w
            got = _back(path, fp, info, starts, length - base, w, shift, force)
            if got is not None:
                got = (got[0] - base, False)
        if got is None:
            return lp
        grow_back = got[0]
        while got[1] and 0 < grow_back and length + grow_front + grow_back < max_len:
            end = length + grow_back  # the same at the end
            got = _back(path, fp, info, starts + end - 1, 1, w, shift, False)
            if got is None or got[0] <= 0:
                break
            grow_back += got[0]
    new_len = length + grow_front + grow_back
    new_len = min(new_len, max_len, n - int(all_starts.max() - grow_front))
    if new_len <= 0:
        return lp
    occ = tuple(
        Occurrence(int(o.start_frame - grow_front), float(fp.pts[o.start_frame - grow_front]))
        for o in lp.occurrences
    )
    s0 = occ[0].start_frame
    end = s0 + new_len
    end_s = float(fp.pts[end]) if end < n else float(fp.pts[-1]) + 1.0 / fps
    return Loop(new_len, end_s - occ[0].start_s, lp.mean_distance, occ)


def _front(path, fp, info, starts, length, w, shift, force):
    """How many frames the loop grows at its start (negative: shrinks), and whether
    it grew to the window's edge; None when nothing agrees near the start."""
    offs = np.arange(-w, min(w, length))
    agree, specific = _window_ok(path, fp, info, starts, offs, shift)
    # an uncertain boundary may also lie a frame or two outside: look from there
    k = w - min(SNAP_FRAMES, w) if force else w  # w: the index of offset 0
    while k < len(offs) and not agree[k]:
        k += 1
    if k == len(offs):
        return None
    while k > 0 and k - 1 < w and agree[k - 1] and specific[k - 1]:
        k -= 1
    # then frames that agree without being specific (slow footage) join if a cut
    # comes within `shift` frames: a still view on both sides goes on agreeing
    # (twice as far when the boundary is a guess: --fast may leave a run well short)
    reach = 2 * shift if force else shift
    j = k - 1
    while j >= 0 and j >= k - reach and agree[j]:
        j -= 1
    if 0 <= j < k - 1 and j >= k - reach:
        k = j + 1
    return int(-offs[k]), k == 0


def _back(path, fp, info, starts, length, w, shift, force):
    """The same at the loop's end: frames it grows there, and whether to the edge."""
    last = length - 1
    offs = np.arange(max(-w, -last), w + 1)
    zero = int(np.flatnonzero(offs == 0)[0])
    agree, specific = _window_ok(path, fp, info, starts + last, offs, shift)
    k = min(zero + SNAP_FRAMES, len(offs) - 1) if force else zero
    while k >= 0 and not agree[k]:
        k -= 1
    if k < 0:
        return None
    while k + 1 < len(offs) and k + 1 > zero and agree[k + 1] and specific[k + 1]:
        k += 1
    reach = 2 * shift if force else shift  # agreeing frames up to a cut join (see _front)
    j = k + 1
    while j < len(offs) and j <= k + reach and agree[j]:
        j += 1
    if k + 1 < j < len(offs) and j <= k + reach:
        k = j - 1
    return int(offs[k]), k == len(offs) - 1


def _grab_all(path, info, requests: list[np.ndarray]) -> list[np.ndarray]:
    """Frames for several lists of timestamps, one single-threaded ffmpeg per list,
    as many at a time as there are cores (one decoder per core beats one decoder
    with threads; each seek decodes up to a whole group of pictures)."""
    from concurrent.futures import ThreadPoolExecutor

    from .decode import grab

    workers = max(1, min(len(requests), os.cpu_count() or 1))
    if workers == 1:
        return [grab(path, t, VERIFY_SIZE, info=info)[0] for t in requests]
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(grab, path, t, VERIFY_SIZE, info=info, threads=1) for t in requests]
        return [f.result()[0] for f in futures]


#: An occurrence's start may be off by this many frames: after ``--fast`` (its
#: partner frames were not decoded), or in slow footage under heavy compression, where
#: the hash cannot tell a frame's copy from the copy's neighbour. Verification
#: moves it where the pictures differ least (mean |difference| at 128x128, which
#: tells a frame from its neighbour where the hash cannot) - only when that is a
#: dip (lower than both sides) and better than where it is by this factor:
SNAP_FRAMES = 2
SNAP_GAIN = 0.98


def _occurrence_scores(path, fp, info, lp: Loop, offs, which, snap: int = 0):
    """scores[a, b]: median worst-block difference between occurrences which[a] and
    which[b] over the sampled offsets. With ``snap``, each occurrence after the first
    is first moved by up to ``snap`` frames to where it matches the first best (see
    ``SNAP_GAIN``); ``shifts[a]`` says by how much."""
    occ = lp.occurrences
    n = len(fp)
    wide = np.arange(offs[0] - snap, offs[-1] + snap + 1)
    idx = [np.clip(occ[i].start_frame + wide, 0, n - 1) for i in which]
    frames = _grab_all(path, info, [fp.pts[np.unique(k)] for k in idx])
    # row of each wanted frame in its grab (a clipped index repeats a frame)
    rows = [np.searchsorted(np.unique(k), k) for k in idx]
    at = offs - wide[0]  # positions of the sampled offsets in ``wide``
    shifts = np.zeros(len(which), np.int64)
    pics = []
    for a in range(len(which)):
        if a and snap:
            # every grabbed frame takes part (the samples and the frames between)
            every = range(snap, len(wide) - snap)
            cost = np.array(
                [
                    np.median(
                        [
                            _mean_diff(frames[0][rows[0][p]], frames[a][rows[a][p + e]])
                            for p in every
                        ]
                    )
                    for e in range(-snap, snap + 1)
                ]
            )
            e = int(np.argmin(cost))
            # clearly better than where it is, and a dip, not the end of a slope
            dip = all(cost[e] < cost[q] for q in (e - 1, e + 1) if 0 <= q < len(cost))
            if e != snap and dip and cost[e] < SNAP_GAIN * cost[snap]:
                shifts[a] = e - snap
        pics.append([frames[a][rows[a][p + shifts[a]]] for p in at])
    m = len(which)
    scores = np.zeros((m, m))
    for a in range(m):
        for b in range(a + 1, m):
            d = np.median([block_diff(x, y) for x, y in zip(pics[a], pics[b], strict=True)])
            scores[a, b] = scores[b, a] = d
    return scores, shifts


def _check(path, fp, info, lp: Loop) -> tuple[Loop | None, Verdict]:
    """Confirm the occurrences of one loop; drop those that are look-alikes.

    Up to ``CHECK_OCCURRENCES`` occurrences (spread over the loop) are compared with
    each other. When all agree the loop stands; otherwise every occurrence (up to
    ``MAX_CHECKED``) is compared with the largest group that agrees, and only that
    group and the occurrences matching it remain. A loop left with fewer than two
    occurrences is rejected.
    """
    occ = lp.occurrences
    k = len(occ)
    snap = SNAP_FRAMES
    sample = np.unique(np.linspace(0, k - 1, min(k, CHECK_OCCURRENCES)).round().astype(int))
    offs = _sample_offsets(fp, lp)
    scores, shifts = _occurrence_scores(path, fp, info, lp, offs, sample, snap)
    moved = dict(zip(sample.tolist(), shifts.tolist(), strict=True))
    ok = scores <= MAX_BLOCK_DIFF
    best = int(ok.sum(axis=1).argmax())  # the occurrence most others agree with
    group = sample[ok[best]]
    worst = float(scores[best][ok[best]].max()) if ok[best].any() else float("inf")
    if len(group) == len(sample) and len(sample) == k:
        return _moved(lp, fp, range(k), moved), Verdict(True, worst, len(sample))
    keep = set(group.tolist())
    if len(group) < len(sample) or fp.decoded is not None:
        # --fast: every occurrence may sit a frame off, each is checked and moved
        rest = [i for i in range(k) if i not in set(sample.tolist())][:MAX_CHECKED]
        ref = int(sample[best]) if len(group) < len(sample) else int(sample[0])
        for i in rest:
            pair = np.array([ref, i])
            sc, sh = _occurrence_scores(path, fp, info, lp, offs, pair, snap)
            if sc[0, 1] <= MAX_BLOCK_DIFF:
                keep.add(i)
                moved[i] = int(sh[1]) + moved.get(ref, 0)
    else:
        keep.update(range(k))  # every sampled occurrence agrees: trust the others
    if len(keep) < 2:
        return None, Verdict(False, float(np.median(scores[np.triu_indices(len(sample), 1)])), 0)
    return _moved(lp, fp, sorted(keep), moved), Verdict(True, worst, len(sample))


def _moved(lp: Loop, fp: Fingerprint, keep, moved: dict) -> Loop:
    """The loop with occurrences ``keep`` only, each moved by ``moved[i]`` frames."""
    from .loops import Occurrence

    occ = []
    for i in keep:
        s = lp.occurrences[i].start_frame + moved.get(i, 0)
        s = min(max(s, 0), len(fp) - lp.length_frames)
        occ.append(Occurrence(int(s), float(fp.pts[s])))
    occ = sorted(set(occ), key=lambda o: o.start_frame)
    return Loop(lp.length_frames, lp.length_s, lp.mean_distance, tuple(occ))


def verify_loops(
    path: str | os.PathLike,
    fp: Fingerprint,
    loops: list[Loop],
    *,
    log: Callable[[str], None] | None = None,
    refine_boundaries: bool = True,
    max_distance: int | None = None,
) -> list[tuple[Loop, Verdict]]:
    """Confirm every loop's occurrences on frames fetched again at 128x128 (see the
    module doc and :func:`_check`), and put confirmed loops' boundaries back within a
    frame (:func:`refine`). Rejected loops come back with ``confirmed`` False."""
    from .loops import default_max_distance
    from .media import probe

    info = probe(path)
    dmax = max_distance or default_max_distance(fp.hash_size)
    out = []
    for lp in loops:
        try:
            checked, verdict = _check(path, fp, info, lp)
        except DecodeError as exc:
            # a whole scan is not thrown away because one stretch cannot be fetched
            # again: the loop is kept as the hash found it, and said to be unchecked
            if log:
                log(f"verify: loop at frame {lp.occurrences[0].start_frame} not checked: {exc}")
            out.append((lp, Verdict(True, float("nan"), 0, checked=False)))
            continue
        if log:
            state = "confirmed" if verdict.confirmed else "rejected"
            dropped = len(lp.occurrences) - (len(checked.occurrences) if checked else 0)
            log(
                f"verify: loop at frame {lp.occurrences[0].start_frame} ({lp.length_frames} "
                f"frames, {len(lp.occurrences)} places): {state}, block difference "
                f"{verdict.block_diff:.1f}"
                + (f", {dropped} look-alike places dropped" if checked and dropped else "")
            )
        if checked is None:
            out.append((lp, verdict))
            continue
        # occurrences moved, or look-alike places dropped: the hash's boundaries came
        # from a group that is not the one confirmed, so both ends are looked at again
        moved = {o.start_frame for o in checked.occurrences} != {
            o.start_frame for o in lp.occurrences
        }
        lp = checked
        if refine_boundaries:
            before = (lp.occurrences[0].start_frame, lp.length_frames)
            trimmed = _trim(fp, lp, dmax)
            moved |= trimmed is not lp
            lp = trimmed
            try:
                force = moved or fp.decoded is not None
                lp = refine(path, fp, lp, info, max_distance, force=force)
            except DecodeError:
                pass  # keep the boundaries the hash found
            if log and before != (lp.occurrences[0].start_frame, lp.length_frames):
                log(
                    f"verify: boundaries refined from frame {before[0]} + {before[1]} "
                    f"to {lp.occurrences[0].start_frame} + {lp.length_frames}"
                )
        out.append((lp, verdict))
    return out
