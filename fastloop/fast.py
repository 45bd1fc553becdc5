"""``--fast``: decode only the frames other frames refer to, then fill in the rest.

ffmpeg's ``-skip_frame noref`` skips the frames no other frame refers to (most
B-frames), which saves decoding on H.264/HEVC with B-frames and nothing without.
The skipped frames still get a fingerprint: :meth:`Video.packets
<fastloop.video.Video.packets>` lists every frame's time without decoding, and
:func:`onto_grid` puts the decoded frames on that grid, a skipped frame taking its
nearest decoded neighbour's hash and gray levels interpolated in time.
"""

from __future__ import annotations

import numpy as np

from .fingerprint import Fingerprint
from .settings import FAST_MAX_FILL


def fill_grid(
    pts: np.ndarray, grid: np.ndarray, tolerance_share: float = 0.25
) -> tuple[np.ndarray, np.ndarray, int]:
    """Place decoded frames on the full frame grid of a video (``--fast``).

    ``pts`` are the times of the frames that were decoded, ``grid`` (sorted) the times
    of all the video's frames. Returns ``(source, decoded, unmatched)``: for every
    grid frame the index of the decoded frame that stands for it (itself when it was
    decoded, else the nearest in time, the earlier on a tie), a mask of the grid
    frames that were decoded, and how many decoded frames matched no grid time
    (within ``tolerance_share`` of the grid's median frame interval).

    Examples
    --------
    >>> fill_grid(np.array([0.0, 0.2]), np.array([0.0, 0.1, 0.2, 0.3]))[0].tolist()
    [0, 0, 1, 1]
    """
    pts = np.asarray(pts, np.float64)
    grid = np.asarray(grid, np.float64)
    n = len(grid)
    if n == 0 or len(pts) == 0:
        return np.zeros(n, np.int64), np.zeros(n, bool), len(pts)
    step = float(np.median(np.diff(grid))) if n > 1 else 1.0
    tol = tolerance_share * step if step > 0 else 1e-6
    j = np.clip(np.searchsorted(grid, pts), 1, max(1, n - 1)) if n > 1 else np.zeros(len(pts), int)
    if n > 1:
        j = np.where(np.abs(grid[j - 1] - pts) <= np.abs(grid[j] - pts), j - 1, j)
    ok = np.abs(grid[j] - pts) <= tol
    owner = np.full(n, -1, np.int64)
    src = np.flatnonzero(ok)[::-1]  # the first decoded frame wins a grid time
    owner[j[src]] = src
    decoded = owner >= 0
    where = np.flatnonzero(decoded)
    if len(where) == 0:
        return np.zeros(n, np.int64), decoded, len(pts)
    i = np.arange(n)
    after = np.searchsorted(where, i)  # first decoded grid frame at or after i
    nxt = where[np.minimum(after, len(where) - 1)]
    prv = where[np.maximum(after - 1, 0)]
    prv = np.where(decoded, i, prv)
    take_next = (prv > i) | ((nxt >= i) & (grid[nxt] - grid[i] < grid[i] - grid[prv]))
    pick = np.where(take_next, nxt, prv)
    return owner[pick], decoded, int((~ok).sum())


def onto_grid(fp: Fingerprint, packets) -> Fingerprint | None:
    """The fingerprint of a ``--fast`` decode on the video's full frame grid (see
    :func:`~fastloop.fingerprint.fill_grid`); None when the decoded frames' times do
    not fit the packets' (then the caller decodes everything)."""
    grid = packets.pts
    src, decoded, unmatched = fill_grid(fp.pts, grid)
    if len(fp) == 0 or unmatched > 0.01 * len(fp) or decoded.sum() < 0.95 * len(fp):
        return None
    contrast = fp.contrast[src]
    gap = np.abs(np.arange(len(grid)) - np.flatnonzero(decoded)[_nearest_rank(decoded)])
    contrast[gap > FAST_MAX_FILL] = 0
    info = dict(fp.info)
    info["fast"] = {"decoded_frames": int(decoded.sum()), "frames": len(grid)}
    if decoded.all():  # no B-frames to skip: an ordinary fingerprint
        fp.info = info
        return fp
    return Fingerprint(
        hashes=fp.hashes[src],
        pts=grid,
        contrast=contrast,
        desc=_interpolated(fp.desc, src, decoded, grid),
        hash_size=fp.hash_size,
        info=info,
        warnings=fp.warnings,
        decoded=decoded,
    )


def _interpolated(desc, src, decoded, grid, chunk: int = 1 << 18) -> np.ndarray:
    """Gray descriptors on the full frame grid (``--fast``): a decoded frame keeps its
    own, a skipped one the mean of the decoded frames before and after it, weighted by
    time. Where footage moves smoothly that is close to the frame's own picture, so
    copies are judged as at full rate; across a cut it is a blend that matches
    neither side, so the cut is not moved onto a skipped frame."""
    n = len(grid)
    where = np.flatnonzero(decoded)
    out = np.empty((n, desc.shape[1]), np.uint8)
    for lo in range(0, n, chunk):
        i = np.arange(lo, min(n, lo + chunk))
        nxt = np.minimum(np.searchsorted(where, i), len(where) - 1)
        prv = np.where(decoded[i], nxt, np.maximum(nxt - 1, 0))
        p, q = where[prv], where[nxt]
        span = grid[q] - grid[p]
        w = np.where(span > 0, (grid[i] - grid[p]) / np.where(span > 0, span, 1), 0.0)
        w = np.clip(w, 0.0, 1.0)[:, None]
        mix = (1 - w) * desc[src[p]] + w * desc[src[q]]
        out[i] = np.rint(mix).astype(np.uint8)
    return out


def _nearest_rank(decoded: np.ndarray) -> np.ndarray:
    """For every frame, the rank (among decoded frames) of the nearest decoded one."""
    where = np.flatnonzero(decoded)
    i = np.arange(len(decoded))
    after = np.minimum(np.searchsorted(where, i), len(where) - 1)
    before = np.maximum(after - 1, 0)
    return np.where(np.abs(where[before] - i) < np.abs(where[after] - i), before, after)
