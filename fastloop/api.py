"""The library API: fingerprint a video, find its loops, the blog's buckets and sweep.

Heavy modules (numba kernels, the ffmpeg pipe) are imported inside the functions, so
``import fastloop`` stays cheap.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .fingerprint import Descriptors, Fingerprint
from .hashing import check_hash_size, words_for
from .loops import Loop, LoopParams
from .settings import FAST_MAX_FILL
from .util import display_path

ProgressFn = Callable[[int, int], None]


def _check_size(hash_size: int) -> int:
    try:
        return check_hash_size(hash_size)
    except (TypeError, ValueError) as exc:
        from .errors import InputError

        raise InputError(str(exc)) from exc


def fingerprint(
    path: str | os.PathLike,
    hash_size: int = 24,
    progress: ProgressFn | None = None,
    *,
    workers: int | None = None,
    log: Callable[[str], None] | None = None,
    cache: str | os.PathLike | None = None,
    fast: bool = False,
) -> Fingerprint:
    """Decode a video and average-hash every frame.

    ffmpeg scales each frame to ``hash_size`` x ``hash_size`` gray; numba hashes the
    frames in batches as they arrive, so memory holds hashes, never frames. Long files
    are decoded by one ffmpeg per core, each on its own time range.

    Parameters
    ----------
    path : str or PathLike
        A local video file.
    hash_size : int, default 24
        N of the N x N average hash (4..64).
    progress : callable(done, total), optional
        Called from worker threads after every batch; ``total`` is an estimate.
    workers : int, optional
        ffmpeg processes to decode with (default: one per core).
    cache : str or PathLike, optional
        A folder for checkpoints (see :mod:`fastloop.cache`): the fingerprint is
        written as it goes, an interrupted call resumes where it stopped, and a
        finished one is returned at once.
    fast : bool, default False
        Decode only the frames that other frames refer to, without deblocking
        (``-skip_frame noref -skip_loop_filter all``): typically 1.3-2x faster on
        H.264 with B-frames. Every frame still gets a hash: a frame that was not
        decoded takes its nearest decoded neighbour's, and ``Fingerprint.decoded``
        says which is which. Streams without timestamps are decoded in full.

    Returns
    -------
    Fingerprint

    Examples
    --------
    >>> fp = fingerprint("clip.mp4")  # doctest: +SKIP
    >>> fp.hashes.shape
    (1800, 9)
    """
    size = _check_size(hash_size)
    t0 = time.perf_counter()
    if not fast:
        return _decode_and_hash(path, size, progress, workers, log, cache, t0, False)
    from concurrent.futures import ThreadPoolExecutor

    from .errors import DecodeError
    from .video import Video, check_input

    check_input(path)
    video = Video(path)
    stop = threading.Event()
    with ThreadPoolExecutor(1, thread_name_prefix="fastloop-packets") as pool:
        lister = pool.submit(video.packets, stop)
        try:
            fp = _decode_and_hash(video, size, progress, workers, log, cache, t0, True)
            try:
                packets = lister.result()
            except DecodeError:
                packets = None
        finally:
            stop.set()
    dense = _onto_grid(fp, packets) if packets is not None else None
    if dense is not None:
        return dense
    fp = _decode_and_hash(video, size, progress, workers, log, cache, t0, False)
    fp.warnings.append(
        "--fast: the frames' timestamps do not match the stream's packets: "
        "every frame was decoded instead"
    )
    return fp


def _decode_and_hash(video, size, progress, workers, log, cache, t0, fast) -> Fingerprint:
    from .decode import _SeekMissed
    from .video import Video

    if not isinstance(video, Video):
        video = Video(video)
    if cache is not None:
        return _fingerprint_cached(video, size, progress, workers, log, cache, t0, fast)
    try:
        return _fingerprint_once(video, size, progress, workers, log, t0, fast)
    except _SeekMissed:
        return _fingerprint_once(video, size, progress, 1, log, t0, fast)


def _onto_grid(fp: Fingerprint, packets) -> Fingerprint | None:
    """The fingerprint of a ``--fast`` decode on the video's full frame grid (see
    :func:`~fastloop.fingerprint.fill_grid`); None when the decoded frames' times do
    not fit the packets' (then the caller decodes everything)."""
    from .fingerprint import fill_grid

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


def _fingerprint_cached(video, size, progress, workers, log, cache, t0, fast) -> Fingerprint:
    from .cache import Checkpoint
    from .decode import _SeekMissed, decode
    from .hashing import hash_frames
    from .video import check_input

    check_input(video.path)
    ck = Checkpoint(cache, video.path, size, "fast" if fast else "")
    done = ck.finished()
    if done is not None:
        if log:
            log(f"cache: {display_path(ck.final_path)} is complete, no decode needed")
        done.info.setdefault("timing", {})
        done.info["timing"] = {"decode_s": 0.0, "hash_s": 0.0}
        return done
    info = video.info
    check_budget(info, size)
    _warm_kernels(size)
    if workers is None:
        workers = os.cpu_count() or 1
    for attempt in range(2):
        plan = ck.plan(video.plan(workers if attempt == 0 else 1))
        todo = ck.todo(plan)
        already = ck.frames_done(plan)
        if log and already:
            log(f"cache: resuming after {already} frames from {display_path(ck.dir)}")
        ck.begin(todo)
        hash_time = [0.0]

        def on_frames(i: int, frames: np.ndarray, hash_time=hash_time) -> None:
            t = time.perf_counter()
            h, c, d = hash_frames(frames.reshape(len(frames), size, size))
            hash_time[0] += time.perf_counter() - t
            ck.add(i, h, c, d)

        def report(d: int, total: int, already=already) -> None:
            if progress is not None:
                progress(d + already, total)

        try:
            dec = decode(
                video,
                size,
                on_frames,
                progress=report,
                log=log,
                ranges=[rng for _, rng in todo],
                on_start=ck.on_start,
                on_stop=ck.flush_all,
                fast=fast,
            )
        except _SeekMissed:
            if attempt:
                raise
            ck.clear()  # this file cannot be split by seeking: start over in one range
            continue
        meta = info.to_dict()
        meta["timing"] = {"decode_s": time.perf_counter() - t0, "hash_s": hash_time[0]}
        fp = ck.finish(plan, meta, info.start_s)
        fp.warnings = dec.warnings
        return fp
    raise AssertionError("unreachable")  # pragma: no cover


def _warm_kernels(size: int) -> None:
    """Load numba and the hash kernel's cached code in a thread, while ffmpeg starts:
    otherwise the first batch waits for it and ffmpeg stalls on a full pipe."""

    def warm() -> None:
        try:
            from .hashing import hash_frames

            hash_frames(np.zeros((1, size, size), np.uint8))
        except Exception:
            pass

    threading.Thread(target=warm, daemon=True).start()


def check_budget(info, hash_size: int, memory_bytes: int | None = None) -> None:
    """Refuse, before any allocation, a video whose hashes would not fit in memory."""
    from .errors import InputError

    if memory_bytes is None:
        try:
            memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
            return
    per_frame = words_for(hash_size) * 8 + 1 + 8  # hash words, contrast, timestamp
    need = 2 * info.frames_estimate * per_frame  # the final concatenation doubles it
    if need > 0.8 * memory_bytes:
        raise InputError(
            f"{display_path(info.path)}: ~{info.frames_estimate:,} frames need "
            f"{need / 2**30:.1f} GiB for {hash_size}x{hash_size} hashes, more than this machine's "
            f"{memory_bytes / 2**30:.1f} GiB: use a smaller --hash-size or split the video"
        )


def _fingerprint_once(video, size, progress, workers, log, t0, fast) -> Fingerprint:
    from .decode import decode
    from .hashing import hash_frames as hash_fn

    parts: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    hash_time = [0.0]
    lock = threading.Lock()

    def on_frames(r: int, frames: np.ndarray) -> None:
        t = time.perf_counter()
        h, c, d = hash_fn(frames.reshape(len(frames), size, size))
        parts.setdefault(r, []).append((h, c))
        desc.add(r, d)
        with lock:
            hash_time[0] += time.perf_counter() - t

    info = video.info
    check_budget(info, size)
    _warm_kernels(size)
    desc = Descriptors(size, info.frames_estimate)
    try:
        dec = decode(
            video,
            size,
            on_frames,
            workers=workers,
            progress=progress,
            log=log,
            fast=fast,
        )
    except BaseException:
        desc.close()
        raise
    # keep each range's own frames, batch by batch, into one array made beforehand,
    # each batch freed once copied: the hashes exist once, plus one batch
    total = sum(int(k.sum()) for k in dec.keep)
    hashes = np.empty((total, words_for(size)), np.uint64)
    contrast = np.empty(total, np.uint8)
    put = 0
    for r, keep in enumerate(dec.keep):
        at = 0
        batches = parts.pop(r, [])
        batches.reverse()
        while batches:
            h, c = batches.pop()
            k = keep[at : at + len(h)]
            at += len(h)
            if not k.all():
                h, c = h[k], c[k]
            hashes[put : put + len(h)] = h
            contrast[put : put + len(h)] = c
            put += len(h)
            del h, c
    meta = info.to_dict()
    meta["timing"] = {"decode_s": time.perf_counter() - t0, "hash_s": hash_time[0]}
    return Fingerprint(
        hashes=hashes[:put],
        pts=dec.pts,
        contrast=contrast[:put],
        desc=desc.finish(dec.keep),
        hash_size=size,
        info=meta,
        warnings=dec.warnings,
    )


@dataclass
class ScanResult:
    """The answer for one video: its loops and how long each stage took."""

    fingerprint: Fingerprint
    loops: list[Loop]
    params: LoopParams
    timing: dict = field(default_factory=dict)

    @property
    def looped(self) -> bool:
        return bool(self.loops)

    @property
    def repeated_s(self) -> float:
        """Seconds of video that repeat footage shown before (every play of a loop's
        footage beyond its first)."""
        fps = self.fingerprint.fps or 30.0
        return sum(max(0, lp.frames - lp.length_frames) for lp in self.loops) / fps

    def to_dict(self) -> dict:
        """The JSON output contract of ``fastloop scan --format json``."""
        info = self.fingerprint.info
        return {
            "video": os.path.basename(str(info.get("path", ""))),
            "frames": len(self.fingerprint),
            "fps": round(self.fingerprint.fps, 6),
            "duration_s": round(float(info.get("duration_s") or _duration(self.fingerprint)), 6),
            "width": int(info.get("width", 0)),
            "height": int(info.get("height", 0)),
            "hash_size": self.fingerprint.hash_size,
            "looped": self.looped,
            "loops": [lp.to_dict() for lp in self.loops],
            "timing": {k: round(v, 4) for k, v in self.timing.items()},
        }


def _duration(fp: Fingerprint) -> float:
    if len(fp.pts) == 0:
        return 0.0
    step = 1.0 / fp.fps if fp.fps > 0 else 0.0
    return float(fp.pts[-1] + step)


def find_loops(fp: Fingerprint, params: LoopParams | None = None, **kwargs) -> list[Loop]:
    """Loops of an already computed fingerprint (no decoding).

    Keyword arguments are :class:`~fastloop.loops.LoopParams` fields, e.g.
    ``max_distance=20, min_length_s=2.0``.

    Examples
    --------
    >>> loops = find_loops(Fingerprint.load("clip.npz"), min_length_s=2)  # doctest: +SKIP
    """
    from .loops import search

    params = params or LoopParams(**kwargs)
    return search(fp, params).loops


def scan(
    path: str | os.PathLike | None = None,
    hash_size: int = 24,
    progress: ProgressFn | None = None,
    *,
    fp: Fingerprint | None = None,
    params: LoopParams | None = None,
    workers: int | None = None,
    log: Callable[[str], None] | None = None,
    cache: str | os.PathLike | None = None,
    fast: bool = False,
    **kwargs,
) -> ScanResult:
    """Fingerprint ``path`` (or take ``fp``) and find its loops.

    The hash proposes copies and the gray descriptor kept in the fingerprint confirms
    them and puts their boundaries on the frame (see :mod:`fastloop.verify`): the
    video is decoded once, and a fingerprint alone (``fp=``) gives the same loops.
    ``fast`` decodes fewer frames (see :func:`fingerprint`).

    Examples
    --------
    >>> result = scan("clip.mp4")  # doctest: +SKIP
    >>> result.looped, [len(lp.occurrences) for lp in result.loops]
    (True, [3])
    """
    from .loops import search

    params = params or LoopParams(**kwargs)
    timing = {}
    t0 = time.perf_counter()
    if fp is None:
        if path is None:
            raise TypeError("scan() needs a path or a fingerprint")
        fp = fingerprint(
            path, hash_size, progress, workers=workers, log=log, cache=cache, fast=fast
        )
        tm = fp.info.get("timing", {})
        timing["decode_s"] = tm.get("decode_s", 0.0)
        timing["hash_s"] = tm.get("hash_s", 0.0)
    if not fp.has_desc:
        from .errors import InputError

        raise InputError("this fingerprint has no gray descriptors: make it again")
    t1 = time.perf_counter()
    loops = search(fp, params).loops
    t2 = time.perf_counter()
    timing["match_s"] = t2 - t1
    timing["total_s"] = t2 - t0
    return ScanResult(fp, loops, params, timing)


def buckets(fp: Fingerprint, min_size: int = 2) -> list[np.ndarray]:
    """Groups of frames with exactly equal hashes (the blog's method), largest first.

    Examples
    --------
    >>> [b.tolist() for b in buckets(fingerprint("clip.mp4"))][:1]  # doctest: +SKIP
    [[120, 121, 122]]
    """
    from .index import exact_buckets

    return exact_buckets(fp.hashes, min_size)


def full_frame_buckets(
    path: str | os.PathLike,
    progress: ProgressFn | None = None,
    *,
    min_size: int = 2,
    log: Callable[[str], None] | None = None,
) -> tuple[list[np.ndarray], int]:
    """The blog's first attempt: groups of frames whose full gray pictures are
    byte-identical (a 128-bit BLAKE2 digest per frame, grouped in the numba table).

    Returns the groups (largest first) and the number of frames.
    """
    import hashlib

    from .decode import decode
    from .index import exact_buckets

    digests: list[np.ndarray] = []

    def on_frames(r: int, frames: np.ndarray) -> None:
        d = np.empty((len(frames), 2), np.uint64)
        for i, f in enumerate(frames):
            d[i] = np.frombuffer(hashlib.blake2b(f.data, digest_size=16).digest(), np.uint64)
        digests.append(d)

    decode(path, 0, on_frames, progress=progress, full_frame=True, log=log)
    keys = np.concatenate(digests) if digests else np.empty((0, 2), np.uint64)
    return exact_buckets(keys, min_size), len(keys)


def sweep(
    path: str | os.PathLike,
    sizes: Sequence[int] = (8, 12, 16, 20, 24, 32, 48, 64),
    progress: ProgressFn | None = None,
    *,
    truth: np.ndarray | None = None,
    params: LoopParams | None = None,
    workers: int | None = None,
) -> list[dict]:
    """The blog's parameter search: per hash size, bucket metrics and loops found.

    With ``truth`` (for every frame, the source frame it shows; see
    :func:`fastloop.synth.score`) each row also gets frame recall and precision.

    Examples
    --------
    >>> for row in sweep("clip.mp4", sizes=[8, 24]):  # doctest: +SKIP
    ...     print(row["hash_size"], row["buckets"], row["loops"])
    """
    from .index import bucket_stats
    from .loops import search

    rows = []
    for size in sizes:
        fp = fingerprint(path, _check_size(size), progress, workers=workers)
        row = {"hash_size": size, **bucket_stats(fp.hashes)}
        p = LoopParams(**(vars(params) if params else {}))
        if params is not None and params.max_distance is not None:
            # a distance in bits at one size means another share at the next
            p.max_distance = None
        loops = search(fp, p).loops
        row["loops"] = len(loops)
        if truth is not None:
            from .synth import score

            row.update(score(loops, truth))
        rows.append(row)
    return rows
