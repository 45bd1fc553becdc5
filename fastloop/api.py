"""The library API: fingerprint a video, find its loops, the blog's buckets and sweep.

A thin facade: decoding and hashing live in :mod:`fastloop.pipeline`, the search in
:mod:`fastloop.loops`, the outputs in :mod:`fastloop.outputs`. Heavy modules (numba
kernels, ffmpeg-python) are imported inside the functions, so ``import fastloop``
stays cheap. Messages go to the ``logging.getLogger("fastloop")`` logger.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from .fingerprint import Fingerprint
from .hashers import Hasher
from .hashing import check_hash_size
from .loops import Loop, LoopParams

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
    cache: str | os.PathLike | None = None,
    fast: bool = False,
    executor: Executor | None = None,
    hasher: Hasher | None = None,
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
        ffmpeg processes to decode with (default: one per core, two per core for a
        video of 2 hours or more with frames under 320x240).
    cache : str or PathLike, optional
        A folder for checkpoints (see :mod:`fastloop.checkpoint`): the fingerprint is
        written as it goes, an interrupted call resumes where it stopped, and a
        finished one is returned at once.
    fast : bool, default False
        Decode only the frames that other frames refer to (``-skip_frame noref``):
        fewer frames to decode on H.264/HEVC with B-frames, no gain without them (see
        ``bench/FAST.md`` for what it saves). Every frame still gets a hash: a frame
        that was not decoded takes its nearest decoded neighbour's, and
        ``Fingerprint.decoded`` says which is which. Streams without timestamps are
        decoded in full.
    executor : concurrent.futures.Executor, optional
        Run the decode as range tasks of about 10 minutes on this executor (a process
        pool, or a Dask cluster's ``client.get_executor()``) and merge the parts: see
        :mod:`fastloop.pipeline`. ``workers`` and ``cache`` do not apply.
    hasher : Hasher, optional
        What each frame becomes (:mod:`fastloop.hashers`); default
        ``AverageHash(hash_size)``.

    Returns
    -------
    Fingerprint

    Examples
    --------
    >>> fp = fingerprint("clip.mp4")  # doctest: +SKIP
    >>> fp.hashes.shape
    (1800, 9)
    """
    from . import pipeline
    from .hashers import AverageHash
    from .video import Video

    if hasher is None:
        hasher = AverageHash(_check_size(hash_size))
    return pipeline.fingerprint(
        Video(path),
        hasher,
        progress=progress,
        workers=workers,
        cache=cache,
        fast=fast,
        executor=executor,
    )


@dataclass
class ScanResult:
    """The answer for one video: its loops and how long each stage took."""

    fingerprint: Fingerprint
    loops: list[Loop]
    params: LoopParams
    timing: dict = field(default_factory=dict)
    #: with ``scan --against STORE``: (stored entry, matches) of every stored video
    #: that shares footage with this one; None when no store was asked
    shared: list | None = None

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
        doc = {
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
        if self.shared is not None:
            doc["shared_with"] = [
                {"video": e.name, "key": e.key, "matches": [m.to_dict() for m in ms]}
                for e, ms in self.shared
            ]
        return doc


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
    cache: str | os.PathLike | None = None,
    fast: bool = False,
    executor: Executor | None = None,
    hasher: Hasher | None = None,
    **kwargs,
) -> ScanResult:
    """Fingerprint ``path`` (or take ``fp``) and find its loops.

    The hash proposes copies and the gray descriptor kept in the fingerprint confirms
    them and puts their boundaries on the frame (see :mod:`fastloop.verify`): the
    video is decoded once, and a fingerprint alone (``fp=``) gives the same loops.
    ``fast``, ``executor``, ``hasher``: see :func:`fingerprint`.

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
        from .loops import warm
        from .pipeline import in_background

        in_background(warm)  # the search's code loads while ffmpeg decodes
        fp = fingerprint(
            path,
            hash_size,
            progress,
            workers=workers,
            cache=cache,
            fast=fast,
            executor=executor,
            hasher=hasher,
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

    decode(path, 0, on_frames, progress=progress, full_frame=True)
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
