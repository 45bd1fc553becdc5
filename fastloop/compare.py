"""Footage of one video that plays in another: ``fastloop compare A B``.

Each video is decoded once, at its own rate, with its black bars cut off first
(letterbox, pillarbox: :func:`bars`, ffmpeg's ``cropdetect`` on the keyframes). Their
fingerprints are joined end to end with a flat gap between them, so the unchanged
search, grouping and verification of a single video run on the pair: a loop whose
occurrences fall on both sides is footage the two share. Loops inside one video alone
are not reported here (``fastloop scan`` finds those). A copy of a still stretch is
not claimed: as in a scan, nothing proves which moment of a still view it shows.

Re-uploads change more than the picture's edges, and each change is undone on the
fingerprints, without decoding again:

- **another frame rate**: the video at the higher rate is resampled to the lower one,
  at :data:`PHASES` phases (which frames a lower-rate copy kept depends on where its
  clock started), and the matches of all phases are joined;
- **mirrored**: B's fingerprint is mirrored (:func:`mirror`: a permutation of the hash
  bits and of the gray cells) and searched too;
- **a logo or a caption** over part of the picture flips the hash bits under it only;
  the judge compares the worst cells against the partner's neighbours, which carry
  the same logo, so the copy still stands out.

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
    mirrored: bool = False

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
            "mirrored": self.mirrored,
        }


@dataclass
class Comparison:
    a: Fingerprint
    b: Fingerprint
    matches: list[Match]
    #: The picture each video was cut to before hashing (``w, h, x, y``): its black
    #: bars removed (letterbox, pillarbox); None where it had none.
    crops: tuple = (None, None)

    def to_dict(self) -> dict:
        name = lambda fp: os.path.basename(str(fp.info.get("path", "")))  # noqa: E731
        return {
            "a": name(self.a),
            "b": name(self.b),
            "fps": round(self.a.fps, 6),
            "crop_a": _crop_text(self.crops[0]),
            "crop_b": _crop_text(self.crops[1]),
            "matches": [m.to_dict() for m in self.matches],
            "loops": [self._loop(m, name(self.a), name(self.b)) for m in self.matches],
        }

    def _loop(self, m: Match, a: str, b: str) -> dict:
        """A match in a scan's loop model: one stretch of footage and its two
        occurrences, each tagged with its video, in that video's own frames (where
        the two rates differ, the footage's ``length_frames`` counts the lower one)."""

        def occ(video: str, fp: Fingerprint, start: int, start_s: float, end_s: float) -> dict:
            return {
                "video": video,
                "start_frame": start,
                "start_s": round(start_s, 6),
                "end_s": round(end_s, 6),
                "length_frames": int(np.searchsorted(fp.pts, end_s - 1e-6) - start),
                "offset_frames": 0,
                "mirrored": m.mirrored and fp is self.b,
            }

        return {
            "length_frames": m.length,
            "length_s": round(m.a_end_s - m.a_start_s, 6),
            "mean_distance": round(m.mean_distance, 3),
            "occurrences": [
                occ(a, self.a, m.a_start, m.a_start_s, m.a_end_s),
                occ(b, self.b, m.b_start, m.b_start_s, m.b_end_s),
            ],
        }


def _crop_text(crop) -> str | None:
    return None if crop is None else "{}:{}:{}:{}".format(*crop)


def resample(fp: Fingerprint, rate: float, phase: float = 0.0) -> tuple[Fingerprint, np.ndarray]:
    """``fp`` on a grid of ``rate`` frames a second starting ``phase`` seconds after
    its first frame, as ffmpeg's ``fps`` filter makes it: each grid time shows the
    frame on screen then (frames repeated or dropped). Returns the resampled
    fingerprint and, per grid frame, the frame of ``fp`` it shows."""
    if not len(fp) or rate <= 0:
        return fp, np.arange(len(fp))
    t0, t1 = float(fp.pts[0]), float(fp.pts[-1]) + (1 / fp.fps if fp.fps > 0 else 0)
    grid = t0 + phase + np.arange(max(1, round((t1 - t0 - phase) * rate))) / rate
    src = np.clip(np.searchsorted(fp.pts, grid + 1e-6, "right") - 1, 0, len(fp) - 1)
    out = Fingerprint(
        hashes=fp.hashes[src],
        pts=grid,
        contrast=fp.contrast[src],
        desc=np.asarray(fp.desc)[src],
        hash_size=fp.hash_size,
        info={**fp.info, "fps": float(rate)},
    )
    return out, src


def mirror(fp: Fingerprint) -> Fingerprint:
    """``fp`` of the same video flipped left to right, without decoding it again: a
    mirrored frame's average hash is its hash with each row's bits reversed (the mean
    does not move), and its block means are the blocks reversed in each row."""
    n, size = len(fp), fp.hash_size
    bits = np.unpackbits(fp.hashes.astype(">u8").view(np.uint8), axis=1)[:, : size * size]
    bits = bits.reshape(n, size, size)[:, :, ::-1].reshape(n, size * size)
    packed = np.packbits(bits, axis=1)
    words = np.zeros((n, fp.hashes.shape[1] * 8), np.uint8)
    words[:, : packed.shape[1]] = packed
    desc = np.asarray(fp.desc)
    side = round(desc.shape[1] ** 0.5)
    return Fingerprint(
        hashes=words.view(">u8").astype(np.uint64),
        pts=fp.pts,
        contrast=fp.contrast,
        desc=np.ascontiguousarray(desc.reshape(n, side, side)[:, :, ::-1].reshape(n, -1)),
        hash_size=size,
        info=dict(fp.info),
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


def _union(found: list[Match], fps: float) -> list[Match]:
    """Matches of one footage found on several grids (phases of a resampled video)
    and on overlapping stretches, as one: same direction, same time offset (within two
    frames), overlapping or at most two frames apart in A."""
    tol = 2.0 / fps if fps > 0 else 0.07
    offset = lambda m: m.a_start_s - m.b_start_s  # noqa: E731
    out: list[Match] = []
    for m in sorted(found, key=lambda m: (m.mirrored, offset(m), m.a_start_s)):
        hit = None
        for i in range(len(out) - 1, -1, -1):
            p = out[i]
            if p.mirrored != m.mirrored or abs(offset(p) - offset(m)) > tol:
                continue
            if m.a_start_s <= p.a_end_s + tol and p.a_start_s <= m.a_end_s + tol:
                hit = i
                break
        if hit is None:
            out.append(m)
            continue
        p = out[hit]
        first = p if p.a_start_s <= m.a_start_s else m
        end = p if p.a_end_s >= m.a_end_s else m
        length = max(p.length, m.length, round((end.a_end_s - first.a_start_s) * fps))
        w = p.length / (p.length + m.length)
        out[hit] = Match(
            first.a_start,
            first.b_start,
            length,
            first.a_start_s,
            end.a_end_s,
            first.b_start_s,
            end.b_end_s,
            w * p.mean_distance + (1 - w) * m.mean_distance,
            p.mirrored,
        )
    return sorted(out, key=lambda m: (m.a_start, m.b_start))


def _native(
    m: Match, fa: Fingerprint, fb: Fingerprint, src_a: np.ndarray, src_b: np.ndarray, mirrored: bool
) -> Match:
    """A match on resampled grids, in each video's own frames and their times."""
    from .loops import end_time

    a0, a1 = int(src_a[m.a_start]), int(src_a[m.a_start + m.length - 1]) + 1
    b0, b1 = int(src_b[m.b_start]), int(src_b[m.b_start + m.length - 1]) + 1
    return Match(
        a0,
        b0,
        m.length,
        float(fa.pts[a0]),
        end_time(fa, a1),
        float(fb.pts[b0]),
        end_time(fb, b1),
        m.mean_distance,
        mirrored,
    )


#: Grids tried for the video at the higher frame rate: a copy made at a lower rate
#: kept one frame of every few, and which ones depends on where its clock started;
#: on a grid of the wrong phase every few frames are their neighbours, which the
#: judge (rightly) does not take for copies.
PHASES = 4


def compare(
    a: str | os.PathLike,
    b: str | os.PathLike,
    *,
    hasher: Hasher | None = None,
    params: LoopParams | None = None,
    normalise: bool = True,
) -> Comparison:
    """Decode A and B once each and find the footage they share, also where B is
    mirrored, letterboxed or pillarboxed, or at another frame rate (``normalise``:
    False compares the pictures as they are). Frame numbers in the matches are each
    video's own; a match's ``length`` counts frames at the lower rate.

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
    crops = (bars(va) if normalise else None, bars(vb) if normalise else None)

    def decode(v: Video, crop) -> Fingerprint:
        return _local(v, hasher, None, None, time.perf_counter(), False, crop=crop)

    fa, fb = decode(va, crops[0]), decode(vb, crops[1])
    return Comparison(fa, fb, shared(fa, fb, params, normalise), crops)


def shared(
    fa: Fingerprint, fb: Fingerprint, params: LoopParams | None = None, normalise: bool = True
) -> list[Match]:
    """The footage two fingerprints share, whatever their frame rates, B also
    mirrored, the cells still in either left out (see the module docstring): what
    :func:`compare` and a store's lookup report."""
    still = overlay_mask(fa, fb) if normalise else None
    sa, sb = (fa, fb) if still is None else (masked(fa, still), masked(fb, still))
    found = []
    for flipped in (False, True) if normalise else (False,):
        # mirrored once, before the grids: a resampled mirror is the mirror resampled
        for ga, src_a, gb, src_b in _grids(sa, mirror(sb) if flipped else sb):
            for m in matches(ga, gb, params):
                found.append(_native(m, fa, fb, src_a, src_b, flipped))
    rate = min(r for r in (fa.fps, fb.fps, 1e9) if r > 0)
    return _union(found, rate if rate < 1e9 else 30.0)


#: A cell of the gray descriptor whose level moves less than this (standard
#: deviation over a whole video) shows something that stays: a channel logo, a
#: caption bar, a still background.
STATIC_LEVELS = 2.0


def overlay_mask(a: Fingerprint, b: Fingerprint) -> np.ndarray | None:
    """Cells (bool[cells]) that stand still through A or through B: a logo or a bar
    one of them carries over the footage they share, and the background they may
    share. Such a cell tells no moment from another; left in, a logo of B makes every
    frame of B differ from A by as much as from A's next moments. None when no cell
    is still, or when nearly all are (nothing would be left to compare)."""
    still = np.zeros(np.asarray(a.desc).shape[1], bool)
    for fp in (a, b):
        desc = np.asarray(fp.desc)
        if len(desc) < 2:
            return None
        step = max(1, len(desc) // 4096)  # a sample is enough for a standard deviation
        still |= desc[::step].std(axis=0) < STATIC_LEVELS
    if not still.any():
        return None
    side = round(len(still) ** 0.5)
    # the same cells in both directions: B is searched mirrored too
    still = _dilate(still | still.reshape(side, side)[:, ::-1].ravel())
    return None if still.mean() > 0.75 else still


def masked(fp: Fingerprint, still: np.ndarray) -> Fingerprint:
    """``fp`` compared without the ``still`` cells: their gray levels set to zero, and
    the hash made again from the other cells (bit = cell brighter than the mean of
    the cells left, each cell's bit on its pixels), since a bright logo moves the
    mean of the whole frame and flips the bits far from it too."""
    size = fp.hash_size
    desc = np.array(fp.desc)
    desc[:, still] = 0
    side = round(len(still) ** 0.5)
    pool = size // side
    live = ~still
    mean = desc[:, live].astype(np.float32).mean(axis=1, keepdims=True)
    bits = (desc > mean) & live
    pixels = np.repeat(np.repeat(bits.reshape(-1, side, side), pool, 1), pool, 2)
    packed = np.zeros((len(desc), fp.hashes.shape[1] * 8), np.uint8)
    flat = np.packbits(pixels.reshape(len(desc), -1), axis=1)
    packed[:, : flat.shape[1]] = flat
    return Fingerprint(
        hashes=packed.view(">u8").astype(np.uint64),
        pts=fp.pts,
        contrast=fp.contrast,
        desc=desc,
        hash_size=size,
        info=dict(fp.info),
    )


def _dilate(cells: np.ndarray) -> np.ndarray:
    """The cells and their eight neighbours (a logo covers part of its border cells)."""
    side = round(len(cells) ** 0.5)
    grid = np.pad(cells.reshape(side, side), 1)
    out = np.zeros((side, side), bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            out |= grid[dy : dy + side, dx : dx + side]
    return out.ravel()


def _grids(fa: Fingerprint, fb: Fingerprint):
    """(A, frames of A, B, frames of B) on one frame grid: the lower of the two rates
    (a copy made at a lower rate dropped frames, and the other video's frames nearest
    to its times are the very frames it kept), the other video resampled at
    :data:`PHASES` phases; both as they are where their rates agree."""
    ra, rb = fa.fps, fb.fps
    ident_a, ident_b = np.arange(len(fa)), np.arange(len(fb))
    if ra <= 0 or rb <= 0 or abs(ra - rb) <= 1e-3 * max(ra, rb):
        yield fa, ident_a, fb, ident_b
        return
    common = min(ra, rb)
    high = max(ra, rb)
    for k in range(PHASES):
        phase = k / (PHASES * high)
        if ra > rb:
            ga, src_a = resample(fa, common, phase)
            yield ga, src_a, fb, ident_b
        else:
            gb, src_b = resample(fb, common, phase)
            yield fa, ident_a, gb, src_b


def bars(video: Video) -> tuple[int, int, int, int] | None:
    """The picture inside black bars (letterbox, pillarbox), as ``w, h, x, y``, or
    None where there are none: ffmpeg's ``cropdetect`` over the keyframes alone (a
    fast decode), the union of what is not black in any of them, kept when it
    removes at least :data:`MIN_BAR` of the width or height."""
    from .ffmpeg import commands, process

    info = video.info
    if info.width <= 0 or info.height <= 0:
        return None
    args = commands.cropdetect_args(video.exe, video.url)
    try:
        done = process.run(args, timeout=max(60.0, info.duration_s / 4))
    except Exception:  # a video that cannot be sampled is compared as it is
        return None
    found = [ln for ln in done.stderr.decode("utf-8", "replace").splitlines() if "crop=" in ln]
    if not found:
        return None
    try:
        w, h, x, y = (int(v) for v in found[-1].rsplit("crop=", 1)[1].split()[0].split(":"))
    except ValueError:
        return None
    if w <= 0 or h <= 0:
        return None
    if w > info.width * (1 - MIN_BAR) and h > info.height * (1 - MIN_BAR):
        return None
    return (w, h, x, y)


#: Bars narrower than this share of the picture are left alone (compression fringes,
#: a dark edge of the scene).
MIN_BAR = 0.04


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
