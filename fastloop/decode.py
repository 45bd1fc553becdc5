"""Decoding a video to raw NxN gray frames and their timestamps, in batches.

ffmpeg (its command lines and processes live in :mod:`fastloop.ffmpeg`) scales every frame
to the hash size itself, so the pipe carries N*N bytes a frame (576 at 24x24) and
Python never touches a full frame. Timestamps come from ``-stats_enc_pre``, which
writes each frame's presentation timestamp to a side file at no measurable cost.

A file can be decoded by several ffmpeg processes at once, one per time range: one
single-threaded ffmpeg per core beats one ffmpeg with its own threads (frame
threading gains little at low resolution). Every frame belongs to exactly one range:
each worker seeks a little before its range, and frames are kept by comparing their
exact timestamps with the range bounds, so no frame is lost or doubled at a seam.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import ffmpeg
from .errors import DecodeError, FastloopError, InputError
from .ffmpeg.banner import VideoInfo
from .ffmpeg.commands import tile_frames
from .settings import FAST_MAX_GAP
from .util import hms
from .video import Range, Video

#: Largest frame ``buckets --exact`` accepts (16K x 16K); hashes never see big frames.
MAX_FRAME_PIXELS = 1 << 28
#: Frames below this many pixels are scaled by one filter thread (see ``_pipes``).
SMALL_FRAME_PIXELS = 640 * 360


def default_workers(info: VideoInfo) -> int:
    """ffmpeg processes to decode with when the caller does not say: one a core.
    (Two a core paid for long videos of tiny frames while each frame crossed ffmpeg's
    threads on its own, leaving its core idle in between; since the frames travel
    tiled, two a core are 1.13x slower on 4 h at 128x72.)"""
    del info  # the same for every video today; kept for a rule that needs it
    return os.cpu_count() or 1


def plan_ranges(video: Video, workers: int | None = None) -> list[Range]:
    """The time ranges :func:`decode` splits ``video`` into by default: one a worker
    (``None``: :func:`default_workers`), bounds on keyframes where that pays."""
    if workers is None:
        workers = default_workers(video.info)
    return video.plan(workers, keyframes=None)


ProgressFn = Callable[[int, int], None]
log = logging.getLogger("fastloop")


def lost_ranges(
    pts: np.ndarray, info: VideoInfo, max_gap: float = 1.5
) -> list[tuple[float, float]]:
    """Stretches ``[a, b)`` (seconds) where frames should be but none came: a gap over
    ``max_gap`` frame intervals between two frames, before the first frame, or between
    the last frame and the container's duration."""
    if len(pts) == 0:
        return [(0.0, info.duration_s)] if info.duration_s > 0 else []
    if info.fps > 0:
        step = 1.0 / info.fps
    elif len(pts) > 1:
        step = float(np.median(np.diff(pts)))
    else:
        return []
    out = []
    if pts[0] > max_gap * step:
        out.append((0.0, float(pts[0])))
    d = np.diff(pts)
    for i in np.nonzero(d > max_gap * step + 1e-6)[0]:
        out.append((float(pts[i]) + step, float(pts[i + 1])))
    end = float(pts[-1]) + step
    if info.duration_s > 0 and info.duration_s - end > max_gap * step:
        out.append((end, info.duration_s))
    return out


def damage_warnings(
    info: VideoInfo, pts: np.ndarray, errors: list[list[str]], max_gap: float = 1.5
) -> list[str]:
    """Warnings for a file ffmpeg found damaged: the time ranges whose frames were lost,
    or, when none was, that pictures may be corrupt. Gaps in the timestamps of a file
    ffmpeg did not complain about are variable frame rate, not damage: no warning."""
    lines = [ln for err in errors for ln in err]
    if not lines:
        return []
    first = lines[0]
    lost = lost_ranges(pts, info, max_gap)
    if not lost:
        return [
            f"ffmpeg reported {len(lines)} decoding errors, some pictures may be "
            f"damaged (first: {first})"
        ]
    out = [
        f"frames lost from {hms(a)} to {hms(b)} ({b - a:.1f} s of damaged or missing data)"
        for a, b in lost[:20]
    ]
    if len(lost) > 20:
        out.append(f"... and {len(lost) - 20} more damaged stretches")
    out.append(f"ffmpeg reported {len(lines)} decoding errors (first: {first})")
    return out


@dataclass
class Decoded:
    """What a decode returns besides the frames it handed out: the kept frames'
    timestamps (seconds from the start of the file), per range which of its frames
    were kept, and what went wrong without stopping it."""

    pts: np.ndarray
    keep: list[np.ndarray]
    warnings: list[str]


def decode(
    video: Video | str | os.PathLike,
    size: int,
    on_frames: Callable[[int, np.ndarray], None],
    *,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    full_frame: bool = False,
    ranges: list[Range] | None = None,
    on_start: Callable[[list[str]], None] | None = None,
    on_stop: Callable[[], None] | None = None,
    fast: bool = False,
    crop: tuple[int, int, int, int] | None = None,
    threads: int | None = None,
) -> Decoded:
    """Decode ``video`` to gray ``size`` x ``size`` frames, calling
    ``on_frames(range_index, frames)`` with uint8[n, size*size] batches from one
    reader thread per range (frames of one range arrive in order). A batch is lent:
    its memory is read into again once ``on_frames`` returns, so a caller that keeps
    frames keeps a copy.

    ``ranges`` overrides the split (a resumed scan decodes what is missing);
    ``on_start(stats_paths)`` receives each range's timestamp file as ffmpeg writes it
    (complete lines are final), and ``on_stop()`` runs once the children are gone but
    before those files are, on every exit path: a checkpoint can save what was done.

    After the call, ``Decoded.keep[r]`` says which of range r's frames belong to it
    (a worker starts a little before its range) and ``Decoded.pts`` holds the kept
    frames' timestamps in seconds, ranges in order. The ffmpeg children are killed and
    reaped on every exit path: error, KeyboardInterrupt, or an exception raised by
    ``on_frames``. The command lines and ffmpeg's warnings are logged (at INFO) to the
    ``fastloop`` logger.

    ``fast`` decodes only the frames other frames refer to (``FAST_INPUT``);
    progress is then counted in frame intervals of video time, not frames received.
    ``crop`` (``w, h, x, y``) hashes only that part of the picture (a copy's black
    bars off, see :func:`fastloop.compare.bars`). ``threads``: ffmpeg's decoding
    threads (default: 1 when there are several ranges, else ffmpeg's choice).
    """
    if not isinstance(video, Video):
        video = Video(video)
    if ranges is None:
        ranges = plan_ranges(video, workers) if not full_frame else [Range()]
    tmp = tempfile.mkdtemp(prefix="fastloop-")
    if threads is None and len(ranges) > 1:
        threads = 1
    # timestamps written as they come where they are read during the decode: by a
    # checkpoint, and by --fast's progress
    live = on_start is not None or (fast and progress is not None)
    work = _pipes(video, size, ranges, tmp, full_frame, fast, crop, threads, live)
    stop = threading.Event()
    try:
        for w in work:
            w.start()
        if on_start is not None:
            on_start([w.stats for w in work])
        counter = _Counter(video.info, ranges, work, progress, fast)
        for r, w in enumerate(work):
            w.thread = threading.Thread(
                target=w.pump, args=(counter.sink(r, on_frames), stop), daemon=True
            )
            w.thread.start()
        unchecked = {r for r, rng in enumerate(ranges) if rng.start_s is not None}
        for w in work:
            assert w.thread is not None
            while w.thread.is_alive():
                w.thread.join(0.2)
                _check_seeks(ranges, work, unchecked)
            if w.error is not None:
                raise w.error
        for w in work:
            assert w.proc is not None
            w.proc.wait()
        return _outcome(video, ranges, work, fast)
    finally:
        stop.set()
        for w in work:
            w.kill()
        for w in work:
            if w.thread is not None:
                w.thread.join(5)
        try:
            if on_stop is not None:
                on_stop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def read_margins(info: VideoInfo, ranges: list[Range]) -> tuple[list[float], list[float]]:
    """Seconds each range's ffmpeg reads before its start and past its end: none
    where the bound is a keyframe (the seek lands on it; ``-to`` cuts the decoded
    frames, in presentation order, so those before the keyframe all come out first,
    open GOP or not), else the seek margin and ``end_margin``'s tail."""
    margin = info.split_margin_s or ffmpeg.commands.SEEK_MARGIN_S
    tail = ffmpeg.commands.end_margin(info.fps, margin)
    early = [0.0 if rng.exact else margin for rng in ranges]
    late = [0.0 if nxt.exact else tail for nxt in ranges[1:]] + [tail]
    return early, late


def _pipes(
    video: Video, size, ranges, tmp, full_frame, fast, crop, threads, live=False
) -> list[ffmpeg.FramePipe]:
    """One ffmpeg (not started yet) per range, its timestamps and log in ``tmp``
    (``live``: written as they come, for a caller that reads them during the decode).
    Scaled frames travel tiled (:func:`~fastloop.ffmpeg.commands.tile_frames`)."""
    info = video.info
    if full_frame:
        if info.width <= 0 or info.height <= 0:
            raise InputError(f"{video.name}: unknown frame size")
        if info.width * info.height > MAX_FRAME_PIXELS:
            raise InputError(
                f"{video.name}: {info.width}x{info.height} frames are too large "
                f"for --exact (over {MAX_FRAME_PIXELS:,} pixels)"
            )
        frame_bytes = info.width * info.height
    else:
        frame_bytes = size * size
    tile = 1 if full_frame else tile_frames(frame_bytes)
    loglevel = "level+warning" if log.isEnabledFor(logging.INFO) else "level+error"
    # one decode of small frames (a short clip, a stream that cannot be split): its
    # decoder may use every core, its filters one (measured: 1.29x faster at 128x72,
    # 0.93x at 1080p, where the scaling itself is work)
    small = 0 < info.width * info.height < SMALL_FRAME_PIXELS
    filter_threads = 1 if threads is None and small and not full_frame else None
    early, late = read_margins(info, ranges)
    work = []
    for r, rng in enumerate(ranges):
        stats = os.path.join(tmp, f"pts{r}.txt")
        args = ffmpeg.decode_args(
            video.exe,
            video.url,
            size,
            stats,
            start_s=rng.start_s,
            end_s=rng.end_s,
            threads=threads,
            loglevel=loglevel,
            full_frame=(info.width, info.height) if full_frame else None,
            fast=fast,
            crop=crop,
            origin=info.start_s,
            margin=early[r],
            tail=late[r],
            filter_threads=filter_threads,
            tile=tile,
            live=live,
        )
        log.info("%s", " ".join(args))
        err = os.path.join(tmp, f"err{r}.txt")
        work.append(ffmpeg.FramePipe(args, stats, err, frame_bytes, tile))
    return work


class _Counter:
    """Progress over all ranges, reported after each batch: frames received, or with
    ``fast`` (frames are skipped) video time decoded, in nominal frames."""

    def __init__(self, info: VideoInfo, ranges, work, progress: ProgressFn | None, fast: bool):
        self.info, self.ranges, self.work, self.progress = info, ranges, work, progress
        self.by_time = fast and info.fps > 0
        self.total = info.frames_estimate
        self.done = 0
        self.reached = [0.0] * len(ranges)  # by_time: seconds of each range decoded
        self.lock = threading.Lock()

    def sink(self, r: int, on_frames) -> Callable[[np.ndarray], None]:
        def call(frames: np.ndarray) -> None:
            on_frames(r, frames)
            if self.progress is not None:
                self.count(r, len(frames))

        return call

    def count(self, r: int, n: int) -> None:
        with self.lock:
            if not self.by_time:
                self.done += n
                self.progress(self.done, self.total)
                return
            t = ffmpeg.last_timestamp(self.work[r].stats)
            if t is not None:
                lo = self.ranges[r].start_s
                lo = lo if lo is not None else self.info.start_s
                self.reached[r] = max(self.reached[r], t - lo)
            done = round(sum(self.reached) * self.info.fps)
            self.progress(min(self.total, done), self.total)


#: What H.264 and MPEG-2 decoders say when they start inside a GOP.
_GOP_ENTRY = re.compile(
    r"co located POCs unavailable|reference picture missing|Missing reference picture"
    r"|mmco: unref short failure|Last message repeated|non-existing PPS|no frame!"
    r"|Warning MVs not available|ac-tex damaged|invalid mb type in I-frame"
)


def _check_seeks(ranges: list[Range], work: list[ffmpeg.FramePipe], unchecked: set[int]) -> None:
    """Raise :class:`_SeekMissed` as soon as a range's first frame is known to come
    after the range's start (a seek in a file without an index that landed late),
    not once the whole file is decoded: the caller decodes it again in one piece."""
    for r in list(unchecked):
        first = ffmpeg.first_timestamp(work[r].stats)
        if first is None:
            continue
        unchecked.discard(r)
        rng = ranges[r]
        assert rng.start_s is not None
        if rng.missed(first):
            raise _SeekMissed(rng.start_s, first)


def _outcome(video: Video, ranges, work, fast: bool) -> Decoded:
    """What the finished children produced: an error if they failed or decoded
    nothing, else the kept frames' times and the warnings (damage, several streams)."""
    info = video.info
    if log.isEnabledFor(logging.INFO):
        for w in work:
            for line in w.errors(warnings=True):
                log.info("ffmpeg: %s", line)
    if sum(w.frames for w in work) == 0 and all(
        w.proc.returncode == 0 or "received no packets" in w.stderr_tail() for w in work
    ):
        raise InputError(f"{video.name}: no video frames could be decoded (the stream is empty)")
    warnings: list[str] = []
    for w in work:
        if w.proc.returncode != 0:
            raise DecodeError(
                f"{video.name}: ffmpeg failed (exit {w.proc.returncode})",
                w.stderr_tail(),
                w.proc.returncode,
            )
        if w.truncated_bytes:
            warnings.append(f"dropped {w.truncated_bytes} bytes of an incomplete last frame")
    if info.video_streams > 1:
        warnings.append(
            f"{info.video_streams} video streams: using the first "
            f"({info.codec}, {info.width}x{info.height})"
        )
    dec = _assemble(info, ranges, work, warnings)
    # a seek into a file without an index lands inside a GOP, and one onto an
    # open-GOP keyframe meets B-frames that refer to the GOP before: the decoder
    # reports the references it misses (and shows no such frame; the range before
    # decodes them). Those lines of a range that starts by a seek are not damage.
    errors = [
        [ln for ln in w.errors() if not (rng.start_s is not None and _GOP_ENTRY.search(ln))]
        for rng, w in zip(ranges, work, strict=True)
    ]
    dec.warnings.extend(damage_warnings(info, dec.pts, errors, FAST_MAX_GAP if fast else 1.5))
    return dec


def _assemble(
    info: VideoInfo, ranges: list[Range], work: list[ffmpeg.FramePipe], warnings
) -> Decoded:
    pts_all = []
    keep = []
    for rng, w in zip(ranges, work, strict=True):
        pts, tb = w.timestamps if w.timestamps is not None else ffmpeg.read_timestamps(w.stats)
        if len(pts) != w.frames:
            # A frame without its timestamp line (or the reverse): should not happen,
            # but never pair a frame with another frame's time.
            if len(pts) > w.frames:
                pts = pts[: w.frames]
            else:
                raise DecodeError(f"ffmpeg reported {len(pts)} timestamps for {w.frames} frames")
        # The same double arithmetic as ffmpeg's ``t`` in the select filter, so the
        # seam between two ranges is decided identically on both sides.
        secs = pts.astype(np.float64)
        secs *= float(tb)
        k = np.ones(len(secs), bool)
        if rng.start_s is not None:
            k = secs >= rng.start_s
            if not len(secs) or rng.missed(float(secs[0])):
                raise _SeekMissed(rng.start_s, float(secs[0]) if len(secs) else -1.0)
        # in place where the range keeps all its frames after its pre-roll (always,
        # but for times that step back): fresh memory is slow to touch
        first = int(np.argmax(k)) if len(k) else 0
        kept = secs[first:] if k[first:].all() else secs[k]
        kept -= info.start_s
        pts_all.append(kept)
        keep.append(k)
    pts = np.concatenate(pts_all) if pts_all else np.empty(0)
    if len(pts) > 1 and np.any(pts[1:] < pts[:-1]):
        warnings.append("timestamps go backwards: frames are numbered in output order")
    return Decoded(pts=pts, keep=keep, warnings=warnings)


class _SeekMissed(FastloopError):
    """A worker's seek landed after its range start; the caller decodes serially."""

    def __init__(self, want: float, got: float):
        super().__init__(f"seek to {want:.3f}s landed at {got:.3f}s")
