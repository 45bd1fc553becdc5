"""Footage of one video that plays in another: ``fastloop compare A B``.

Both videos are decoded onto one time grid: the one at the higher frame rate is
resampled to the lower rate by the ``fps`` filter (a copy made at a lower rate dropped
frames, and the nearest frames of the other are the ones it kept). Their fingerprints
are joined end to end with a flat gap between them, so the unchanged search,
grouping and verification of a single video run on the pair: a loop whose
occurrences fall on both sides is footage the two share. Loops inside one video alone
are not reported here (``fastloop scan`` finds those). A copy of a still stretch is
not claimed: as in a scan, nothing proves which moment of a still view it shows.

Each :class:`Match` is a stretch of A and the stretch of B that shows the same
footage, with both times; :func:`format_vsc` writes them in the Video Similarity
Challenge 2022 CSV (``query_id,ref_id,query_start,query_end,ref_start,ref_end,score``,
B as the query, A as the reference).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass

import numpy as np

from .fingerprint import Fingerprint
from .hashers import AverageHash, Hasher
from .loops import LoopParams
from .video import Video


@dataclass(frozen=True)
class Match:
    """Frames ``a_start .. a_start + length - 1`` of A show what frames ``b_start ..``
    of B show (frames of each video's own decode; times in seconds)."""

    a_start: int
    b_start: int
    length: int
    a_start_s: float
    a_end_s: float
    b_start_s: float
    b_end_s: float
    mean_distance: float

    def to_dict(self) -> dict:
        return {
            "a_start_frame": self.a_start,
            "b_start_frame": self.b_start,
            "length_frames": self.length,
            "a_start_s": round(self.a_start_s, 6),
            "a_end_s": round(self.a_end_s, 6),
            "b_start_s": round(self.b_start_s, 6),
            "b_end_s": round(self.b_end_s, 6),
            "mean_distance": round(self.mean_distance, 3),
        }


@dataclass
class Comparison:
    a: Fingerprint
    b: Fingerprint
    matches: list[Match]

    def to_dict(self) -> dict:
        name = lambda fp: os.path.basename(str(fp.info.get("path", "")))  # noqa: E731
        return {
            "a": name(self.a),
            "b": name(self.b),
            "fps": round(self.a.fps, 6),
            "matches": [m.to_dict() for m in self.matches],
        }


def resample(fp: Fingerprint, rate: float) -> Fingerprint:
    """``fp`` on a grid of ``rate`` frames a second, as ffmpeg's ``fps`` filter makes
    it: each grid time shows the frame on screen then (frames repeated or dropped)."""
    if not len(fp) or rate <= 0:
        return fp
    t0, t1 = float(fp.pts[0]), float(fp.pts[-1]) + (1 / fp.fps if fp.fps > 0 else 0)
    grid = t0 + np.arange(max(1, round((t1 - t0) * rate))) / rate
    src = np.clip(np.searchsorted(fp.pts, grid + 1e-6, "right") - 1, 0, len(fp) - 1)
    return Fingerprint(
        hashes=fp.hashes[src],
        pts=grid,
        contrast=fp.contrast[src],
        desc=np.asarray(fp.desc)[src],
        hash_size=fp.hash_size,
        info={**fp.info, "fps": float(rate)},
    )


def join(a: Fingerprint, b: Fingerprint, gap: int) -> Fingerprint:
    """A, ``gap`` flat frames (never evidence), then B, as one fingerprint at A's rate."""
    step = 1.0 / a.fps if a.fps > 0 else 1 / 30
    end_a = float(a.pts[-1]) + step if len(a) else 0.0
    flat_pts = end_a + step * np.arange(gap)
    b_at = end_a + step * gap - (float(b.pts[0]) if len(b) else 0.0)
    cells = a.desc.shape[1]
    return Fingerprint(
        hashes=np.concatenate([a.hashes, np.zeros((gap, a.hashes.shape[1]), np.uint64), b.hashes]),
        pts=np.concatenate([a.pts, flat_pts, b.pts + b_at]),
        contrast=np.concatenate([a.contrast, np.zeros(gap, np.uint8), b.contrast]),
        desc=np.concatenate(
            [np.asarray(a.desc), np.zeros((gap, cells), np.uint8), np.asarray(b.desc)]
        ),
        hash_size=a.hash_size,
        info={"path": "", "fps": a.fps},
    )


def matches(a: Fingerprint, b: Fingerprint, params: LoopParams | None = None) -> list[Match]:
    """The stretches of A and B that show the same footage (see the module docstring)."""
    from .loops import end_time, search
    from .verify import Judge

    params = params or LoopParams()
    judge = Judge.for_fingerprint(a, params.flat_contrast)
    gap = 4 * judge.reach + 16  # farther than any walk or window reaches
    both = join(a, b, gap)
    na, nb0 = len(a), len(a) + gap
    out = []
    for lp in search(both, params).loops:
        occ_a = [o for o in lp.occurrences if o.stop_frame <= na]
        occ_b = [o for o in lp.occurrences if o.start_frame >= nb0]
        for oa in occ_a:
            for ob in occ_b:
                lo = max(oa.offset_frames, ob.offset_frames)
                hi = min(oa.offset_frames + oa.length_frames, ob.offset_frames + ob.length_frames)
                if hi - lo < 2:
                    continue
                fa = oa.start_frame + lo - oa.offset_frames
                fb = ob.start_frame + lo - ob.offset_frames - nb0
                n = hi - lo
                out.append(
                    Match(
                        fa,
                        fb,
                        n,
                        float(a.pts[fa]),
                        end_time(a, fa + n),
                        float(b.pts[fb]),
                        end_time(b, fb + n),
                        lp.mean_distance,
                    )
                )
    out.sort(key=lambda m: (m.a_start - m.b_start, m.a_start))
    return sorted(_joined(out, a.fps), key=lambda m: (m.a_start, m.b_start))


def _joined(found: list[Match], fps: float) -> list[Match]:
    """Matches that continue one another (on the same time offset, at most two frames
    apart on both sides: a frame repeated by resampling breaks a run) as one."""
    tol = 2.0 / fps if fps > 0 else 0.07
    out: list[Match] = []
    for m in found:
        p = out[-1] if out else None
        if (
            p is not None
            and 0 <= m.a_start - (p.a_start + p.length) <= 2
            and abs((m.a_start_s - m.b_start_s) - (p.a_start_s - p.b_start_s)) <= tol
            and -2 <= m.b_start_s * fps - p.b_end_s * fps <= 2
        ):
            n = m.a_start + m.length - p.a_start
            w = p.length / (p.length + m.length)
            md = w * p.mean_distance + (1 - w) * m.mean_distance
            out[-1] = Match(
                p.a_start, p.b_start, n, p.a_start_s, m.a_end_s, p.b_start_s, m.b_end_s, md
            )
        else:
            out.append(m)
    return out


def compare(
    a: str | os.PathLike,
    b: str | os.PathLike,
    *,
    hasher: Hasher | None = None,
    params: LoopParams | None = None,
) -> Comparison:
    """Decode A and B onto one frame grid (the lower of their rates) and find the
    footage they share; frame numbers in the matches are on that grid.

    Examples
    --------
    >>> for m in compare("source.mp4", "reupload.mp4").matches:  # doctest: +SKIP
    ...     print(m.a_start_s, m.b_start_s, m.length)
    """
    import time

    from .pipeline import _local
    from .video import check_input

    hasher = hasher or AverageHash(24)
    va, vb = Video(a), Video(b)
    check_input(va.path)
    check_input(vb.path)
    # the common grid is the lower rate: a copy made at a lower rate dropped frames,
    # and the other video's frames nearest to its times are the very frames it kept
    rates = [r for r in (va.info.fps, vb.info.fps) if r > 0]
    common = min(rates) if len(rates) == 2 else None

    def decode(v: Video) -> Fingerprint:
        rate = common if common is not None and abs(v.info.fps - common) > 1e-3 else None
        return _local(v, hasher, None, None, time.perf_counter(), False, rate)

    fa, fb = decode(va), decode(vb)
    return Comparison(fa, fb, matches(fa, fb, params))


def format_vsc(comparison: Comparison) -> str:
    """The Video Similarity Challenge 2022 CSV: B is the query, A the reference."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["query_id", "ref_id", "query_start", "query_end", "ref_start", "ref_end", "score"])
    qa = os.path.splitext(os.path.basename(str(comparison.b.info.get("path", ""))))[0]
    ra = os.path.splitext(os.path.basename(str(comparison.a.info.get("path", ""))))[0]
    bits = comparison.a.hash_size**2
    for m in comparison.matches:
        score = max(0.0, 1.0 - m.mean_distance / bits)
        w.writerow(
            [
                qa,
                ra,
                f"{m.b_start_s:.3f}",
                f"{m.b_end_s:.3f}",
                f"{m.a_start_s:.3f}",
                f"{m.a_end_s:.3f}",
                f"{score:.4f}",
            ]
        )
    return out.getvalue()
