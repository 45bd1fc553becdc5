"""The loop map and the sweep chart (matplotlib, imported only when drawing).

The loop map is a time-by-time picture of every matched pair of frames in the whole
video (copies are lines parallel to the diagonal) above a timeline of each loop's
occurrences, one cell per pixel however many occurrences there are; the sweep chart
is the blog's chart of bucket metrics and loops found against the hash size.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ..util import hms
from .frames import require_plot

#: Colours of loops 1, 2, ... in the loop map and the report (matplotlib's tab10).
LOOP_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
#: Frame pairs one loop may add to the map one by one; above it, occurrences that
#: start in the same pixel are binned together and each copy is drawn as a segment
#: sampled at pixel resolution.
PAIR_BUDGET = 2_000_000


# --- the loop map -----------------------------------------------------------------


def _duration(fp) -> float:
    if not len(fp.pts):
        return 1.0
    step = 1.0 / fp.fps if fp.fps > 0 else 0.0
    return max(float(fp.pts[-1]) + step, float(fp.info.get("duration_s") or 0.0), 1e-6)


def _frame_pixels(pts: np.ndarray, duration: float, bins: int) -> np.ndarray:
    return np.clip((np.asarray(pts) / duration * bins).astype(np.int64), 0, bins - 1)


def _loop_samples(starts: np.ndarray, length: int, pix: np.ndarray, bins: int, budget: int):
    """Yield (a, b, weight) chunks of matched frame pairs of one loop, a < b."""
    n = len(pix)
    starts = starts[starts < n]
    weights = np.ones(len(starts))
    k = len(starts)
    if k * (k - 1) // 2 * length > budget:
        # many occurrences: those starting in the same pixel are one, weighted
        _, first, counts = np.unique(
            pix[np.clip(starts, 0, n - 1)], return_index=True, return_counts=True
        )
        starts, weights = starts[first], counts.astype(np.float64)
        k = len(starts)
    npairs = k * (k - 1) // 2
    if npairs == 0:
        return
    if npairs * length <= budget:
        offsets = np.arange(length)  # frame by frame
    else:
        # each copy as a segment, sampled twice per pixel it spans
        s0 = int(np.clip(starts[0], 0, n - 1))
        span = int(pix[min(s0 + length - 1, n - 1)] - pix[s0])
        m = int(min(length, max(2, 2 * span + 1)))
        offsets = np.unique(np.linspace(0, length - 1, m).round().astype(np.int64))
    per = length / len(offsets)
    x, y = np.triu_indices(k, 1)
    step = max(1, budget // len(offsets))
    for c in range(0, len(x), step):
        xs, ys = x[c : c + step], y[c : c + step]
        a = (starts[xs, None] + offsets).ravel()
        b = (starts[ys, None] + offsets).ravel()
        w = np.repeat(weights[xs] * weights[ys] * per, len(offsets))
        ok = (a >= 0) & (b >= 0) & (a < n) & (b < n)
        yield a[ok], b[ok], w[ok]


def match_histogram(
    result, bins: int = 720, *, budget: int = PAIR_BUDGET
) -> tuple[np.ndarray, np.ndarray]:
    """Matched frame pairs of all loops binned into a ``bins`` x ``bins`` time grid.

    Every pair of occurrences of a loop matches frame by frame: frame ``s_x + k``
    with frame ``s_y + k``. Cell ``[r, c]`` counts the pairs with the first frame in
    time bin ``r`` and the second in time bin ``c`` (and the reverse: the grid is
    symmetric), so a copy is a diagonal line off the main diagonal, at the copy's
    offset. Time, not frame number, is binned, so variable frame rates draw straight.
    Work per loop is capped: see :data:`PAIR_BUDGET`.

    Returns
    -------
    counts : float64[bins, bins]
        Frame pairs per cell.
    owner : int32[bins, bins]
        0-based index of a loop with pairs in that cell, -1 for none.

    Examples
    --------
    >>> counts, owner = match_histogram(fastloop.scan("clip.mp4"), 100)  # doctest: +SKIP
    >>> bool(counts[16, 48])  # doctest: +SKIP
    True

    (frame 137, at 4.6 s of 27.5 s, matches frame 400 at 13.3 s.)
    """
    fp = result.fingerprint
    pix = _frame_pixels(fp.pts, _duration(fp), bins)
    counts = np.zeros(bins * bins)
    owner = np.full(bins * bins, -1, np.int32)
    for li, lp in enumerate(result.loops):
        # where footage frame 0 would be in each occurrence: pairs drawn along the
        # whole footage (a trimmed play adds a few pairs past its cut; a picture)
        starts = np.array([o.start_frame - o.offset_frames for o in lp.occurrences], np.int64)
        for a, b, w in _loop_samples(starts, lp.length_frames, pix, bins, budget):
            cells = np.concatenate([pix[a] * bins + pix[b], pix[b] * bins + pix[a]])
            ww = np.concatenate([w, w])
            counts += np.bincount(cells, ww, minlength=bins * bins)
            owner[cells] = li
    return counts.reshape(bins, bins), owner.reshape(bins, bins)


def occurrence_strip(result, bins: int, rows: int) -> np.ndarray:
    """int32[rows, bins]: index of the loop occupying each time pixel, -1 for none.

    Loop ``i`` is drawn in row ``i % rows``; an occurrence shorter than a pixel
    still takes one.
    """
    fp = result.fingerprint
    duration = _duration(fp)
    n = len(fp)
    strip = np.full((rows, bins), -1, np.int32)
    for li, lp in enumerate(result.loops):
        starts = np.array([o.start_frame for o in lp.occurrences], np.int64)
        lengths = np.array([o.length_frames for o in lp.occurrences], np.int64)
        ends = np.minimum(starts + lengths - 1, n - 1)
        c0 = _frame_pixels(fp.pts[starts], duration, bins)
        c1 = np.maximum(_frame_pixels(fp.pts[ends], duration, bins), c0)
        cover = np.zeros(bins + 1, np.int64)
        np.add.at(cover, c0, 1)
        np.add.at(cover, c1 + 1, -1)
        strip[li % rows, np.cumsum(cover[:-1]) > 0] = li
    return strip


def _rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], np.float64) / 255


#: Tick steps for time axes, in seconds.
TIME_STEPS = (
    0.1,
    0.2,
    0.5,
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
)


def _time_axis(axis, duration: float, ticks: int = 7) -> None:
    """Ticks at round times (at most ``ticks``), labelled MM:SS, or HH:MM:SS past an hour."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    step = next((s for s in TIME_STEPS if duration / s <= ticks), TIME_STEPS[-1])

    def label(t: float, _pos) -> str:
        if t < 0:
            return ""
        text = hms(t)
        if duration >= 3600:
            return text[:8]
        return text[3:10] if step < 1 else text[3:8]

    axis.set_major_locator(MultipleLocator(step))
    axis.set_major_formatter(FuncFormatter(label))


def loop_map(result, *, size_px: int = 720, title: str | None = None, max_rows: int = 10):
    """The loop map of a whole video as a matplotlib Figure.

    (Longer than most functions: matplotlib's figure set-up, axis by axis, reads
    best in one place.)

    Top: a time-by-time dot plot of matched frames. The main diagonal (grey) is every
    frame matching itself; each copy is a line parallel to it, offset by the copy's
    distance in time, coloured by loop. It is a 2-D histogram drawn at one cell per
    screen pixel (:func:`match_histogram`), so it reads the same for a 30-second clip
    and a 24-hour video with thousands of occurrences. Bottom: a timeline strip with
    every occurrence of every loop in its loop's colour.

    Examples
    --------
    >>> loop_map(fastloop.scan("clip.mp4")).savefig("map.png")  # doctest: +SKIP
    """
    require_plot("the loop map")
    from matplotlib.figure import Figure

    fp = result.fingerprint
    duration = _duration(fp)
    nloops = len(result.loops)
    rows = max(1, min(nloops, max_rows))
    dpi = 100
    left, right, top, gap, bottom = 80, 30, 40, 70, 50
    strip_px = 18 * rows + 10
    width = left + size_px + right
    height = top + size_px + gap + strip_px + bottom
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    ax = fig.add_axes(
        (left / width, (bottom + strip_px + gap) / height, size_px / width, size_px / height)
    )
    sx = fig.add_axes((left / width, bottom / height, size_px / width, strip_px / height))

    counts, owner = match_histogram(result, size_px)
    # thicken lines to 3 px (max over a 3x3 neighbourhood) so single pairs show
    grown = np.pad(owner, 1, constant_values=-1)
    hit = np.pad(counts, 1)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            sl = (slice(1 + dy, size_px + 1 + dy), slice(1 + dx, size_px + 1 + dx))
            take = (owner < 0) & (grown[sl] >= 0)
            owner = np.where(take, grown[sl], owner)
            counts = np.maximum(counts, np.where(take, hit[sl], 0))
    colours = np.array([_rgb(LOOP_COLOURS[i % len(LOOP_COLOURS)]) for i in range(max(nloops, 1))])
    img = np.ones((size_px, size_px, 3))
    diag = np.arange(size_px)
    img[diag, diag] = 0.65
    hit = owner >= 0
    if hit.any():
        level = np.log1p(counts[hit])
        alpha = 0.55 + 0.45 * level / max(level.max(), 1e-9)
        img[hit] = 1 - alpha[:, None] * (1 - colours[owner[hit]])
    ax.imshow(
        img,
        origin="lower",
        extent=(0, duration, 0, duration),
        interpolation="nearest",
        aspect="auto",
    )
    for axis in (ax.xaxis, ax.yaxis, sx.xaxis):
        _time_axis(axis, duration)
    ax.set_ylabel("time of the other frame")
    ax.tick_params(labelbottom=True)
    name = os.path.basename(str(fp.info.get("path", "")))
    if title is None:
        if nloops:
            occ = sum(len(lp.occurrences) for lp in result.loops)
            title = (
                f"{name}: {nloops} loop{'s' if nloops != 1 else ''}, {occ} occurrences, "
                f"{result.repeated_s:.1f} s repeated"
            )
        else:
            title = f"{name}: no loops found"
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("time (grey diagonal: every frame matches itself; coloured lines: copies)")

    strip = occurrence_strip(result, size_px, rows)
    simg = np.ones((rows, size_px, 3))
    on = strip >= 0
    simg[on] = colours[strip[on]]
    sx.imshow(simg, extent=(0, duration, rows, 0), aspect="auto", interpolation="nearest")
    sx.set_xlabel("time")
    if nloops <= max_rows:
        sx.set_yticks(np.arange(rows) + 0.5, [f"loop {i + 1}" for i in range(rows)], fontsize=8)
        for i, lab in enumerate(sx.get_yticklabels()):
            lab.set_color(LOOP_COLOURS[i % len(LOOP_COLOURS)])
    else:
        sx.set_yticks([])
        sx.set_ylabel(f"{nloops} loops", fontsize=8)
    sx.set_title("occurrences", fontsize=9, loc="left")
    return fig


def save_loop_map(result, path: str | os.PathLike, **kwargs) -> str:
    """Draw :func:`loop_map` to a PNG file; returns the path.

    Examples
    --------
    >>> save_loop_map(fastloop.scan("clip.mp4"), "map.png")  # doctest: +SKIP
    'map.png'
    """
    fig = loop_map(result, **kwargs)
    path = os.fspath(path)
    fig.savefig(path, format="png")
    return path


# --- the sweep chart --------------------------------------------------------------


def sweep_plot(rows: Sequence[dict], *, title: str = ""):
    """The blog's chart of a hash-size sweep as a matplotlib Figure.

    Top: the number of buckets (groups of frames with exactly equal hashes) against
    the hash size. Middle: the mean and the largest bucket size (log scale): small
    hashes lump unrelated frames together, large ones split even copies apart.
    Bottom: loops found, and with a ground truth, frame recall and precision.

    Parameters
    ----------
    rows : list of dict
        As returned by :func:`fastloop.sweep`: keys ``hash_size``, ``buckets``,
        ``mean_size``, ``largest``, ``loops`` and optionally ``recall``, ``precision``.

    Examples
    --------
    >>> sweep_plot(fastloop.sweep("clip.mp4", sizes=[8, 16, 24])).savefig("s.png")  # doctest: +SKIP
    """
    require_plot("the sweep chart")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if not rows:
        raise InputError("nothing to plot: the sweep has no rows")
    sizes = np.array([r["hash_size"] for r in rows])
    fig = Figure(figsize=(7.2, 8.0), dpi=100, layout="constrained")
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True)
    ax1.plot(sizes, [r["buckets"] for r in rows], "o-", color="#1f77b4")
    ax1.set_ylabel("number of buckets")
    ax1.set_title(title or "hash size sweep", fontsize=11)
    ax2.plot(sizes, [r["mean_size"] for r in rows], "o-", color="#2ca02c", label="mean")
    ax2.plot(sizes, [r["largest"] for r in rows], "s--", color="#d62728", label="largest")
    ax2.set_yscale("log")
    ax2.set_ylabel("bucket size (frames)")
    ax2.legend(fontsize=8)
    ax3.bar(sizes, [r["loops"] for r in rows], width=1.6, color="#9467bd", label="loops found")
    ax3.set_ylabel("loops found")
    ax3.set_xlabel("hash size N (N x N bits)")
    ax3.set_xticks(sizes)
    if all("recall" in r for r in rows):
        tw = ax3.twinx()
        tw.plot(sizes, [r["recall"] for r in rows], "o-", color="#ff7f0e", label="recall")
        tw.plot(sizes, [r["precision"] for r in rows], "^-", color="#17becf", label="precision")
        tw.set_ylim(-0.02, 1.05)
        tw.set_ylabel("recall, precision")
        h1, l1 = ax3.get_legend_handles_labels()
        h2, l2 = tw.get_legend_handles_labels()
        tw.legend(h1 + h2, l1 + l2, fontsize=8, loc="lower right")
    for ax in (ax1, ax2, ax3):
        ax.grid(alpha=0.3)
    top = max(r["loops"] for r in rows)
    ax3.set_ylim(0, max(1, math.ceil(top * 1.2)))
    ax3.yaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


def save_sweep_plot(rows: Sequence[dict], path: str | os.PathLike, **kwargs) -> str:
    """Draw :func:`sweep_plot` to a PNG file; returns the path."""
    fig = sweep_plot(rows, **kwargs)
    path = os.fspath(path)
    fig.savefig(path, format="png")
    return path
