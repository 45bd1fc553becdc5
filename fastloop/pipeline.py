"""From a video file to its fingerprint: decoded once, hashed as the frames arrive.

Three ways to run the same decode-and-hash, picked by :func:`fingerprint`:

- **local** (the default): one ffmpeg per core, each on its own time range, in this
  process; batches are hashed as they arrive (the kernels release the GIL), and
  each range writes its hashes and descriptors into its own stretch of one array
  made beforehand (:class:`~fastloop.fingerprint.RangeRows`), slid together in place
  at the end, so memory holds each once (a day: 186 MB of hashes, 373 MB of
  descriptors, mapped from disk where memory is short).
- **checkpointed** (``cache=``): the same, with every batch written to a
  :class:`~fastloop.checkpoint.Checkpoint` as it goes: an interrupted run resumes.
- **range tasks** (``executor=``): :func:`fingerprint_range` is a pure, picklable
  function of (video, range, hasher) that returns a :class:`Part`;
  ``executor.submit`` runs it anywhere (threads, processes, a Dask cluster through
  ``client.get_executor()``) on ranges of about :data:`TASK_RANGE_S`, and
  :func:`merge` joins the parts, checking every seam. The local way is not written
  as threads running range tasks: a task returns its part whole, and the merge would
  hold a day's parts and the merged arrays at once (1.5-2x the memory), where the
  local way streams.

``--fast`` (:mod:`fastloop.fast`) works on top of any of them.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from .errors import DecodeError, FastloopError, InputError
from .fingerprint import Descriptors, Fingerprint, RangeRows, spills
from .hashers import AverageHash, Hasher
from .util import display_path
from .video import Range, Video

log = logging.getLogger("fastloop")

ProgressFn = Callable[[int, int], None]
#: Length of one range task (seconds of video): a 1080p day spreads over 144 tasks
#: (longer for small frames, see :func:`task_ranges`).
TASK_RANGE_S = 600.0
#: Fewest ranges a long video of small frames is split into, for the cluster's cores.
MIN_TASKS = 16


def fingerprint(
    video: Video,
    hasher: Hasher,
    *,
    progress: ProgressFn | None = None,
    workers: int | None = None,
    cache: str | os.PathLike | None = None,
    fast: bool = False,
    executor: Executor | None = None,
) -> Fingerprint:
    """Decode ``video`` once and hash every frame (see the module docstring);
    :func:`fastloop.fingerprint` documents the parameters."""
    from .video import check_input

    t0 = time.perf_counter()
    check_input(video.path)
    if not fast:
        return _decode_and_hash(video, hasher, progress, workers, cache, executor, t0, False)
    from concurrent.futures import ThreadPoolExecutor

    from .fast import onto_grid

    stop = threading.Event()
    with ThreadPoolExecutor(1, thread_name_prefix="fastloop-packets") as pool:
        lister = pool.submit(video.packets, stop)
        try:
            fp = _decode_and_hash(video, hasher, progress, workers, cache, executor, t0, True)
            try:
                packets = lister.result()
            except DecodeError:
                packets = None
        finally:
            stop.set()
    dense = onto_grid(fp, packets) if packets is not None else None
    if dense is not None:
        return dense
    fp = _decode_and_hash(video, hasher, progress, workers, cache, executor, t0, False)
    fp.warnings.append(
        "--fast: the frames' timestamps do not match the stream's packets: "
        "every frame was decoded instead"
    )
    return fp


def _decode_and_hash(video, hasher, progress, workers, cache, executor, t0, fast) -> Fingerprint:
    from .decode import _SeekMissed

    if executor is not None:
        return _by_tasks(video, hasher, progress, executor, t0, fast, cache)
    if cache is not None:
        return _checkpointed(video, hasher, progress, workers, cache, t0, fast)
    try:
        return _local(video, hasher, progress, workers, t0, fast)
    except _SeekMissed:
        pass
    # out of the handler: its traceback would hold the first attempt's rows
    return _local(video, hasher, progress, 1, t0, fast)


def _meta(video: Video, hasher: Hasher, t0: float, hash_s: float) -> dict:
    meta = video.info.to_dict()
    if hasher.name != "ahash":
        meta["hasher"] = hasher.name
    meta["timing"] = {"decode_s": time.perf_counter() - t0, "hash_s": hash_s}
    return meta


def _warm(hasher: Hasher) -> threading.Event:
    """Load numba and the hash kernel's cached code in a thread, while ffmpeg starts;
    the event is set when it is done (or failed: the first hash then says why). The
    timestamp parser's code loads beside it (see ``ffmpeg.logs.PrintedTimes``)."""
    from .ffmpeg.logs import warm_parser

    ready = in_background(hasher.warm)
    in_background(warm_parser)
    return ready


#: Threads of :func:`in_background` still running: joined when the interpreter exits.
_BACKGROUND: set[threading.Thread] = set()


@atexit.register
def _join_background() -> None:
    """Wait for code still loading (or compiling, the first time) in the background:
    a daemon thread stopped inside LLVM as the interpreter exits aborts the process
    ("terminate called without an active exception", exit -6) after a scan of a few
    frames that finished before the search's code had loaded."""
    for thread in list(_BACKGROUND):
        thread.join()


def in_background(work: Callable[[], object]) -> threading.Event:
    """Run ``work`` in a daemon thread at the lowest CPU priority (Linux sets it per
    thread), the event set when it is done. For loading code while ffmpeg decodes:
    both cores are ffmpeg's, and numba's 0.5 s of loading taken from them slowed a
    one-hour scan by 9% (8 alternated rounds); at low priority it runs where ffmpeg
    waits, and where the decode is short, once it is over. An error is left for the
    real call that follows to raise. The interpreter's exit waits for it."""
    done = threading.Event()

    def run() -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):
            pass
        try:
            work()
        except Exception:
            pass
        finally:
            done.set()
            _BACKGROUND.discard(threading.current_thread())

    thread = threading.Thread(target=run, daemon=True, name="fastloop-warm")
    _BACKGROUND.add(thread)
    thread.start()
    return done


#: Raw frames held while numba loads (about half a second; longer the first time,
#: when it compiles), rather than left in ffmpeg's pipe: a full pipe stops ffmpeg.
BACKLOG_BYTES = 64 << 20


def check_budget(info, hasher: Hasher | int, memory_bytes: int | None = None) -> None:
    """Refuse, before any allocation, a video whose hashes would not fit in memory."""
    if isinstance(hasher, int):
        hasher = AverageHash(hasher)
    if memory_bytes is None:
        try:
            memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
            return
    per_frame = hasher.words * 8 + 1 + 8  # hash words, contrast, timestamp
    need = 2 * info.frames_estimate * per_frame  # a merge of parts holds them twice
    if need > 0.8 * memory_bytes:
        size = hasher.size
        raise InputError(
            f"{display_path(info.path)}: ~{info.frames_estimate:,} frames need "
            f"{need / 2**30:.1f} GiB for {size}x{size} hashes, more than this machine's "
            f"{memory_bytes / 2**30:.1f} GiB: use a smaller --hash-size or split the video"
        )


# --------------------------------------------------------------------------- local


def _local(video, hasher, progress, workers, t0, fast, crop=None) -> Fingerprint:
    from .decode import decode, plan_ranges

    info = video.info
    check_budget(info, hasher)
    ranges = plan_ranges(video, workers)
    # every range writes its rows where they stay (see RangeRows): hashes and
    # contrast in memory, descriptors too unless they would not fit comfortably
    spill = spills(info.frames_estimate * hasher.cells)
    rows = RangeRows(
        room_for(info, ranges),
        [
            ((hasher.words,), np.uint64, False),
            ((), np.uint8, False),
            ((hasher.cells,), np.uint8, spill),
        ],
    )
    hash_time = [0.0]
    lock = threading.Lock()

    into = getattr(hasher, "hash_into", None)

    def hash_batch(r: int, frames: np.ndarray) -> None:
        t = time.perf_counter()
        where = rows.room(r, len(frames)) if into is not None else None
        if where is not None:
            into(frames, where)  # where the rows stay: no copy, no array a batch
            rows.wrote(r, len(frames))
        else:
            rows.add(r, hasher.hash(frames))
        with lock:
            hash_time[0] += time.perf_counter() - t

    # batches that came before the kernel was loaded, per range, in order (one
    # thread per range: a range's next batch hashes its backlog first)
    backlog: dict[int, list[np.ndarray]] = {}
    held = [0]

    def on_frames(r: int, frames: np.ndarray) -> None:
        if not ready.is_set() and held[0] + frames.nbytes <= BACKLOG_BYTES:
            backlog.setdefault(r, []).append(frames.copy())  # a batch is lent
            with lock:
                held[0] += frames.nbytes
            return
        ready.wait()
        for waiting in backlog.pop(r, []):
            hash_batch(r, waiting)
        hash_batch(r, frames)

    ready = _warm(hasher)
    try:
        dec = decode(
            video,
            hasher.size,
            on_frames,
            workers=workers,
            ranges=ranges,
            progress=progress,
            fast=fast,
            crop=crop,
        )
        ready.wait()
        for r in sorted(backlog):
            for waiting in backlog.pop(r):
                hash_batch(r, waiting)
    except BaseException:
        # the traceback keeps this frame alive: let go of the rows (a retry would
        # hold two videos' worth) and of any file they are mapped from
        rows.close()
        backlog.clear()
        raise
    hashes, contrast, desc = rows.finish(dec.keep)
    meta = _meta(video, hasher, t0, hash_time[0])
    if crop is not None:
        meta["crop"] = "{}:{}:{}:{}".format(*crop)
    fp = Fingerprint(
        hashes=hashes,
        pts=dec.pts,
        contrast=contrast,
        desc=desc,
        hash_size=hasher.size,
        info=meta,
        warnings=dec.warnings,
    )
    _trim_heap()
    return fp


def room_for(info, ranges: list[Range]) -> list[int]:
    """Rows to set aside for each range's frames (see :class:`RangeRows`): its span
    and the margin its decode starts early by, at the stated frame rate. Tight for
    every range but the last, 2% and 2 s more: the kept frames of the next range
    slide down over the room left unused, and room touched only then is fresh memory
    (0.2 s for a third of a day's half). The last range's room, which nothing
    slides over, is half as much again, and more than its frames costs nothing: only
    rows written take memory. A range with more frames than its room (a variable
    frame rate above the stated one) keeps the rest aside until the end. 0 where the
    rate or duration is unknown."""
    if info.fps <= 0 or info.duration_s <= 0:
        return [0] * len(ranges)
    end = info.start_s + info.duration_s
    margin = info.split_margin_s or 0.0
    out = []
    for r, rng in enumerate(ranges):
        lo = info.start_s if rng.start_s is None else rng.start_s - margin
        hi = end if rng.end_s is None else rng.end_s
        frames = max(hi - lo, 0.0) * info.fps
        if r + 1 < len(ranges):
            out.append(math.ceil(frames * 1.02 + 2 * info.fps + 16))
        else:
            out.append(math.ceil(frames * 1.5 + 8 * info.fps + 64))
    return out


def _trim_heap() -> None:
    """Give the C heap's free pages back to the system (glibc): the decode's
    thousands of batches, freed, leave their reader threads' heaps holding some
    200 MB for a day that the search would otherwise count on top of its own."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


# --------------------------------------------------------------------------- checkpointed


def _checkpointed(video, hasher, progress, workers, cache, t0, fast) -> Fingerprint:
    from .checkpoint import Checkpoint
    from .decode import _SeekMissed, decode

    ck = Checkpoint(cache, video.path, hasher.size, _cache_variant(hasher, fast))
    done = ck.finished()
    if done is not None:
        log.info("cache: %s is complete, no decode needed", display_path(ck.final_path))
        done.info["timing"] = {"decode_s": 0.0, "hash_s": 0.0}
        return done
    info = video.info
    check_budget(info, hasher)
    _warm(hasher)
    if workers is None:
        from .decode import default_workers

        workers = default_workers(info)
    for attempt in range(2):
        plan = ck.plan(video.plan(workers if attempt == 0 else 1, keyframes=None))
        todo = ck.todo(plan)
        already = ck.frames_done(plan)
        if already:
            log.info("cache: resuming after %d frames from %s", already, display_path(ck.dir))
        ck.begin(todo)
        hash_time = [0.0]

        def on_frames(i: int, frames: np.ndarray, hash_time=hash_time) -> None:
            t = time.perf_counter()
            h, c, d = hasher.hash(frames)
            hash_time[0] += time.perf_counter() - t
            ck.add(i, h, c, d)

        def report(d: int, total: int, already=already) -> None:
            if progress is not None:
                progress(d + already, total)

        try:
            dec = decode(
                video,
                hasher.size,
                on_frames,
                progress=report,
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
        fp = ck.finish(plan, _meta(video, hasher, t0, hash_time[0]), info.start_s)
        fp.warnings = dec.warnings
        return fp
    raise AssertionError("unreachable")  # pragma: no cover


def _cache_variant(hasher: Hasher, fast: bool) -> str:
    """What besides the file and the hash size names its cache folder: ``--fast``
    (other frames) and a hash other than the average hash."""
    return "-".join(
        v for v in ("fast" if fast else "", "" if hasher.name == "ahash" else hasher.name) if v
    )


# --------------------------------------------------------------------------- range tasks


@dataclass
class Part:
    """The fingerprint of one time range: its own frames only, times in seconds from
    the start of the file (absolute, as the range bounds are)."""

    rng: Range
    pts: np.ndarray
    hashes: np.ndarray
    contrast: np.ndarray
    desc: np.ndarray
    warnings: list[str] = field(default_factory=list)
    hash_s: float = 0.0


def fingerprint_range(
    video: Video,
    rng: Range,
    hasher: Hasher,
    fast: bool = False,
    cache: str | os.PathLike | None = None,
) -> Part:
    """Decode and hash the frames of ``video`` whose time is in ``rng`` (one ffmpeg).

    Pure and picklable: it needs nothing but its arguments, so an executor may run
    it in another process or on another machine (the file must be at the same path
    there). Raises what :func:`~fastloop.decode.decode` raises. With ``cache`` (a
    folder every worker sees), a part done before is read back instead, and a part
    done now is kept there: a batch stopped by a lost client starts again from the
    ranges it had, and a range done twice writes one file (see :class:`PartCache`).
    """
    from .decode import decode

    parts = PartCache(cache, video, hasher, fast) if cache is not None else None
    if parts is not None:
        done = parts.load(rng)
        if done is not None:
            return done

    batches: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    spent = [0.0]

    def on_frames(_r: int, frames: np.ndarray) -> None:
        t = time.perf_counter()
        batches.append(hasher.hash(frames))
        spent[0] += time.perf_counter() - t

    # one decoding thread: a task runs beside others, one per core
    dec = decode(video, hasher.size, on_frames, ranges=[rng], fast=fast, threads=1)
    keep = dec.keep[0]
    h, c, d = (
        np.concatenate([b[i] for b in batches]) if batches else np.empty((0, *shape), dtype)
        for i, shape, dtype in (
            (0, (hasher.words,), np.uint64),
            (1, (), np.uint8),
            (2, (hasher.cells,), np.uint8),
        )
    )
    part = Part(
        rng=rng,
        pts=dec.pts + video.info.start_s,
        hashes=h[keep],
        contrast=c[keep],
        desc=d[keep],
        warnings=dec.warnings,
        hash_s=spent[0],
    )
    if parts is not None:
        parts.save(part)
    return part


class PartCache:
    """Range tasks' parts kept in the checkpoint folder of their video (the one
    ``--cache`` uses, keyed by the file's content, so every worker finds it under
    its own path): ``part-{start}-{end}.npz``, named by the range (times in
    microseconds), written atomically. A retried task writes the same file again."""

    def __init__(self, cache: str | os.PathLike, video: Video, hasher: Hasher, fast: bool):
        from .checkpoint import file_key

        key = file_key(video.path, hasher.size, _cache_variant(hasher, fast))
        self.dir = os.path.join(os.fspath(cache), key)

    def path(self, rng: Range) -> str:
        def us(t: float | None, open_end: str) -> str:
            return open_end if t is None else str(round(t * 1e6))

        return os.path.join(self.dir, f"part-{us(rng.start_s, 'start')}-{us(rng.end_s, 'end')}.npz")

    def load(self, rng: Range) -> Part | None:
        try:
            with np.load(self.path(rng), allow_pickle=False) as z:
                return Part(
                    rng=rng,
                    pts=z["pts"],
                    hashes=z["hashes"],
                    contrast=z["contrast"],
                    desc=z["desc"],
                    warnings=[str(w) for w in z["warnings"]],
                )
        except (OSError, KeyError, ValueError):  # absent, or cut short by a crash
            return None

    def save(self, part: Part) -> None:
        from .util import atomic_write

        os.makedirs(self.dir, exist_ok=True)
        with atomic_write(self.path(part.rng), durable=True) as fh:
            np.savez(
                fh,
                pts=part.pts,
                hashes=part.hashes,
                contrast=part.contrast,
                desc=np.asarray(part.desc),
                warnings=np.array(part.warnings, dtype=str),
            )


def merge(parts: list[Part], video: Video, hasher: Hasher, t0: float | None = None) -> Fingerprint:
    """One fingerprint from the parts of consecutive ranges, in order.

    Every seam is checked: each part's frames lie inside its own range, in time
    order, and the ranges follow one another without gap or overlap, so no frame is
    lost or counted twice. Each part is released as soon as it is copied.
    """
    for i, p in enumerate(parts):
        lo, hi = p.rng.start_s, p.rng.end_s
        if len(p.pts) and (
            (lo is not None and p.pts[0] < lo) or (hi is not None and p.pts[-1] >= hi)
        ):
            raise DecodeError(f"range {i} holds frames outside [{lo}, {hi})")
        if i and parts[i - 1].rng.end_s != lo:
            raise DecodeError(f"ranges {i - 1} and {i} do not meet")
    total = sum(len(p.pts) for p in parts)
    hashes = np.empty((total, hasher.words), np.uint64)
    contrast = np.empty(total, np.uint8)
    pts = np.empty(total, np.float64)
    desc = Descriptors(hasher.size, total)
    warnings, hash_s, at = [], 0.0, 0
    parts = list(parts)
    parts.reverse()
    while parts:
        p = parts.pop()
        n = len(p.pts)
        hashes[at : at + n], contrast[at : at + n], pts[at : at + n] = p.hashes, p.contrast, p.pts
        desc.add(0, p.desc)
        warnings.extend(p.warnings)
        hash_s += p.hash_s
        at += n
        del p
    if total > 1 and np.any(np.diff(pts) <= 0):
        raise DecodeError("the ranges' frames are not in time order")
    meta = _meta(video, hasher, t0 if t0 is not None else time.perf_counter(), hash_s)
    return Fingerprint(
        hashes=hashes,
        pts=pts - video.info.start_s,
        contrast=contrast,
        desc=desc.finish([np.ones(total, bool)]),
        hash_size=hasher.size,
        info=meta,
        warnings=list(dict.fromkeys(warnings)),
    )


def task_ranges(video: Video, range_s: float | None = None) -> list[Range]:
    """Ranges of about ``range_s`` seconds for range tasks; one range when the file
    cannot be split (see :meth:`Video.plan`).

    By default (:data:`TASK_RANGE_S`), longer where frames are small: a task pays a
    fixed cost (ffmpeg opening a day-long MP4 reads its index: 0.3 s) that 10 minutes
    of 1080p (3 minutes of decode on a core) do not notice and 10 minutes at 128x72
    (1 s of decode) do. A range then holds as much picture as 10 minutes of 1080p,
    while the video still splits into at least :data:`MIN_TASKS` ranges."""
    info = video.info
    if range_s is None:
        range_s = TASK_RANGE_S
        pixels = info.width * info.height
        if pixels > 0:
            longer = TASK_RANGE_S * (1920 * 1080) / pixels
            range_s = max(TASK_RANGE_S, min(longer, info.duration_s / MIN_TASKS))
    return video.plan(max(1, math.ceil(info.duration_s / range_s)))


def fingerprint_many(
    videos: list[Video],
    hasher: Hasher,
    executor: Executor,
    fast: bool = False,
    progress: ProgressFn | None = None,
    cache: str | os.PathLike | None = None,
) -> Iterator[tuple[Video, Fingerprint | Exception]]:
    """Every range of every video submitted to ``executor`` at once; yields each
    video with its merged fingerprint (or the exception that stopped it) as soon as
    its last range is in. A file whose seek misses its range is done again whole.
    ``progress(frames done, frames expected)`` counts over all the videos.
    ``cache``: a folder the workers share, where finished parts are kept and found
    again (see :func:`fingerprint_range`)."""
    from concurrent.futures import as_completed

    from .decode import _SeekMissed

    pending: dict = {}
    plans: list[tuple[list[Range], list[Part | None]]] = []
    started: list[float] = []
    total = done = 0

    def submit(v: int, ranges: list[Range]) -> None:
        plans[v] = (ranges, [None] * len(ranges))
        for i, rng in enumerate(ranges):
            task = executor.submit(fingerprint_range, videos[v], rng, hasher, fast, cache)
            pending[task] = (v, i)

    for v, video in enumerate(videos):
        plans.append(([], []))
        started.append(time.perf_counter())
        try:
            ranges = task_ranges(video)
            total += video.info.frames_estimate
        except FastloopError as exc:
            yield video, exc
            continue
        submit(v, ranges)
    while pending:
        fut = next(as_completed(list(pending)))
        v, i = pending.pop(fut)
        ranges, parts = plans[v]
        if not parts:  # this video failed already
            continue
        try:
            parts[i] = fut.result()
        except Exception as exc:  # a task's error, or the cluster's (a worker lost)
            _cancel(pending, v)
            if isinstance(exc, _SeekMissed) and len(ranges) > 1:
                submit(v, [Range()])  # this file cannot be split by seeking
                continue
            plans[v] = (ranges, [])
            yield videos[v], exc
            continue
        done += len(parts[i].pts)
        if progress is not None:
            progress(done, max(total, done))
        if any(p is None for p in parts):
            continue
        plans[v] = (ranges, [])  # merged below: the parts go
        try:
            yield videos[v], merge(parts, videos[v], hasher, started[v])
        except FastloopError as exc:
            yield videos[v], exc


def _cancel(pending: dict, v: int) -> None:
    for fut, (w, _) in list(pending.items()):
        if w == v:
            fut.cancel()
            del pending[fut]


def _by_tasks(video, hasher, progress, executor, t0, fast, cache=None) -> Fingerprint:
    check_budget(video.info, hasher)
    ((_, fp),) = fingerprint_many([video], hasher, executor, fast, progress, cache)
    if isinstance(fp, Exception):
        raise fp
    return fp
