"""Second stage: confirm each candidate loop on a few frames decoded again, larger.

A 24x24 average hash is relaxed on purpose (compression noise must not break a
match), so it also matches look-alikes: two people at the same table, a scene whose
brightness changed (the hash ignores global brightness). The hash proposes, this
module disposes: for a few frames of each loop, the frame and its copy are fetched by
seeking, at 64x64 gray, and compared block by block. A re-encoded copy differs by
compression noise only (measured: at most 5 gray levels in any 8x8 block, even at
crf 35), a look-alike by the thing that differs (30 and more).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .fingerprint import Fingerprint
from .loops import Loop

#: Pictures are compared at this size...
VERIFY_SIZE = (64, 64)
#: ...in 8x8 blocks; a pair is a copy when no block's mean |difference| exceeds this.
MAX_BLOCK_DIFF = 14.0
#: Frames sampled per loop and occurrences compared with the first one.
FRAMES_PER_LOOP = 3
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


def block_diff(a: np.ndarray, b: np.ndarray, block: int = 8) -> float:
    """Largest mean absolute difference over ``block`` x ``block`` tiles of a and b."""
    h, w = a.shape
    d = np.abs(a.astype(np.int16) - b.astype(np.int16)).astype(np.float32)
    d = d[: h - h % block, : w - w % block]
    tiles = d.reshape(h // block, block, w // block, block).mean(axis=(1, 3))
    return float(tiles.max())


def _sample_offsets(fp: Fingerprint, lp: Loop) -> np.ndarray:
    """Offsets into the loop where the picture moves most (most telling), spread out."""
    start = lp.occurrences[0].start_frame
    n = lp.length_frames
    if n <= FRAMES_PER_LOOP:
        return np.arange(n)
    from .hashing import hamming

    h = fp.hashes[start : start + n]
    motion = np.zeros(n, np.int64)
    motion[1:] = hamming(h[1:], h[:-1])
    motion[fp.contrast[start : start + n] <= 4] = -1
    parts = np.array_split(np.arange(n), FRAMES_PER_LOOP)
    return np.array([p[np.argmax(motion[p])] for p in parts])


def _picks(lp: Loop) -> list:
    occ = lp.occurrences
    rest = list(occ[1:][:: max(1, (len(occ) - 1) // OCCURRENCES_PER_LOOP)])
    return [occ[0], *rest][: OCCURRENCES_PER_LOOP + 1]


def _window_ok(path, fp, info, starts, offsets, shift) -> tuple[np.ndarray, np.ndarray]:
    """For each offset k: ``agree[k]``, frame ``starts[0] + k`` and ``starts[p] + k``
    show the same picture at 64x64 for every sampled occurrence p, and ``specific[k]``,
    each agrees clearly better than with the partner's neighbours ``shift`` frames
    away (a still view agrees with every moment of itself)."""
    from .decode import grab

    n = len(fp)
    grabbed = []
    for s in starts:
        idx = s + offsets
        inside = (idx >= 0) & (idx < n)
        frames = np.zeros((len(offsets), VERIFY_SIZE[1], VERIFY_SIZE[0]), np.uint8)
        if inside.any():
            got, _ = grab(path, fp.pts[idx[inside]], VERIFY_SIZE, info=info)
            frames[inside] = got
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


def refine(path, fp: Fingerprint, lp: Loop, info) -> Loop:
    """Put a loop's boundaries back within a frame by comparing 64x64 frames around them.

    The hash stage ends a run at its last frame that is specific in time at 24x24.
    Around each boundary (``REFINE_WINDOW_S`` both ways) the sampled occurrences'
    frames are compared one by one with the first occurrence's, at 64x64: the loop
    grows while every pair agrees *and* is specific in time (a small moving thing is
    visible here that the hash missed), and shrinks where a pair disagrees. A still
    view at a boundary is not claimed: on a fixed camera the empty road after a cut
    looks the same in both places, and claiming it would call honest frames copies.
    Occurrences never grow into each other.
    """
    from .loops import Occurrence

    fps = fp.fps if fp.fps > 0 else 30.0
    w = max(3, round(REFINE_WINDOW_S * fps))
    shift = max(1, round(0.2 * fps))
    picks = _picks(lp)
    starts = np.array([o.start_frame for o in picks], np.int64)
    all_starts = np.array([o.start_frame for o in lp.occurrences], np.int64)
    n = len(fp)
    length = lp.length_frames
    max_len = int(np.diff(all_starts).min()) if len(all_starts) > 1 else length
    # start boundary: offsets -w .. +w relative to the current start
    offs = np.arange(-w, min(w, length))
    agree, specific = _window_ok(path, fp, info, starts, offs, shift)
    k = w  # index of offset 0
    while k < len(offs) and not agree[k]:
        k += 1
    if k == len(offs):
        return lp  # nothing agrees near the start: leave it to verification
    while k > 0 and k - 1 < w and agree[k - 1] and specific[k - 1]:
        k -= 1
    grow_front = min(int(-offs[k]), int(all_starts.min()))
    # end boundary: offsets around the current last frame
    last = length - 1
    offs = np.arange(max(-w, -last), w + 1)
    zero = int(np.flatnonzero(offs == 0)[0])
    agree, specific = _window_ok(path, fp, info, starts + last, offs, shift)
    k = zero
    while k >= 0 and not agree[k]:
        k -= 1
    if k < 0:
        return lp
    while k + 1 < len(offs) and k + 1 > zero and agree[k + 1] and specific[k + 1]:
        k += 1
    grow_back = int(offs[k])
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


def verify_loops(
    path: str | os.PathLike,
    fp: Fingerprint,
    loops: list[Loop],
    *,
    log: Callable[[str], None] | None = None,
    refine_boundaries: bool = True,
) -> list[tuple[Loop, Verdict]]:
    """Compare sampled frames of every loop's occurrences at 64x64 (see module doc),
    and put confirmed loops' boundaries back within a frame (:func:`refine`)."""
    from .decode import grab
    from .media import probe

    info = probe(path)
    out = []
    for lp in loops:
        offs = _sample_offsets(fp, lp)
        occ = lp.occurrences
        grabbed = []
        for o in _picks(lp):
            frames = o.start_frame + offs
            frames, _ = grab(path, fp.pts[frames], VERIFY_SIZE, info=info)
            grabbed.append(frames)
        scores = [
            block_diff(a, b)
            for other in grabbed[1:]
            for a, b in zip(grabbed[0], other, strict=True)
        ]
        worst = float(np.median(scores)) if scores else float("inf")
        verdict = Verdict(worst <= MAX_BLOCK_DIFF, worst, len(scores))
        if log:
            state = "confirmed" if verdict.confirmed else "rejected"
            log(
                f"verify: loop at frame {occ[0].start_frame} ({lp.length_frames} frames, "
                f"{len(occ)} places): {state}, block difference {worst:.1f}"
            )
        if verdict.confirmed and refine_boundaries:
            before = (lp.occurrences[0].start_frame, lp.length_frames)
            lp = refine(path, fp, lp, info)
            if log and before != (lp.occurrences[0].start_frame, lp.length_frames):
                log(
                    f"verify: boundaries refined from frame {before[0]} + {before[1]} "
                    f"to {lp.occurrences[0].start_frame} + {lp.length_frames}"
                )
        out.append((lp, verdict))
    return out
