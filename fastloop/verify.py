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


def verify_loops(
    path: str | os.PathLike,
    fp: Fingerprint,
    loops: list[Loop],
    *,
    log: Callable[[str], None] | None = None,
) -> list[tuple[Loop, Verdict]]:
    """Compare sampled frames of every loop's occurrences at 64x64; see module doc."""
    from .decode import grab
    from .media import probe

    info = probe(path)
    out = []
    for lp in loops:
        offs = _sample_offsets(fp, lp)
        occ = lp.occurrences
        picks = [occ[0]] + list(occ[1:][:: max(1, (len(occ) - 1) // OCCURRENCES_PER_LOOP)])
        picks = picks[: OCCURRENCES_PER_LOOP + 1]
        grabbed = []
        for o in picks:
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
        out.append((lp, verdict))
    return out
