"""Many videos on many workers: range tasks of every video at once, results as they finish.

:func:`scan_many` is what a platform checking uploads runs: it probes each video
(here, in the caller), submits every range of every video to one executor (a Dask
cluster's ``client.get_executor()``, a process pool), and yields each video's
:class:`~fastloop.api.ScanResult` as soon as its last range is in, merged and
searched here (the serial part). A video that fails yields one :class:`Failure`
record; the rest of the batch goes on. Range tasks write nothing, so a task that a
cluster reruns (its worker died) costs time, never a wrong or doubled result.

:func:`dask_executor` turns the CLI's ``--dask`` value into an executor: ``local``
or ``local:N`` for a LocalCluster of N single-threaded worker processes (one decode
per core), anything else is a scheduler address.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass

from .errors import FastloopError, InputError
from .hashers import AverageHash, Hasher
from .loops import LoopParams
from .pipeline import fingerprint_many
from .util import display_path
from .video import Video


@dataclass(frozen=True)
class Failure:
    """A video of the batch that could not be scanned, and why (one line)."""

    path: str
    error: str

    def to_dict(self) -> dict:
        return {"video": os.path.basename(self.path), "error": self.error}


def _warm_worker(size: int) -> str:  # runs on each worker
    AverageHash(size).warm()
    return "ok"


def scan_many(
    paths: Iterable[str | os.PathLike],
    executor: Executor,
    *,
    hasher: Hasher | None = None,
    params: LoopParams | None = None,
    fast: bool = False,
    cache: str | os.PathLike | None = None,
) -> Iterator[object]:
    """Scan every video, its ranges on ``executor``; yield a ScanResult or a
    :class:`Failure` per video, in the order they finish. ``cache``: a folder every
    worker sees, where each range's part is kept; a batch run again (the client was
    lost) decodes only the ranges it had not done.

    Examples
    --------
    >>> from distributed import Client  # doctest: +SKIP
    >>> with Client("tcp://scheduler:8786") as client:  # doctest: +SKIP
    ...     for r in scan_many(uploads, client.get_executor()):
    ...         print(r.to_dict()["video"], getattr(r, "looped", None))
    """
    from .api import ScanResult
    from .loops import search

    hasher = hasher or AverageHash(24)
    params = params or LoopParams()
    videos = [Video(p) for p in paths]
    for video, fp in fingerprint_many(videos, hasher, executor, fast, cache=cache):
        if isinstance(fp, Exception):
            yield Failure(video.path, _one_line(fp))
            continue
        t = time.perf_counter()
        loops = search(fp, params).loops
        timing = {k: fp.info["timing"][k] for k in ("decode_s", "hash_s")}
        timing["match_s"] = time.perf_counter() - t
        timing["total_s"] = timing["decode_s"] + timing["match_s"]
        yield ScanResult(fp, loops, params, timing)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, FastloopError):
        return str(exc)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}".rstrip(": ")


@contextlib.contextmanager
def dask_executor(address: str, hash_size: int = 24):
    """An executor on a Dask cluster, for as long as the ``with`` block runs.

    ``local`` or ``local:N``: a LocalCluster of N worker processes (default: one per
    core), one thread each, so that each decodes one range at a time; otherwise the
    address of a running scheduler (``tcp://host:8786``). Every worker loads the hash
    kernel once, before the first task.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--dask needs Dask: pip install 'fastloop[dask]'") from None
    cluster = None
    if address == "local" or address.startswith("local:"):
        n = address.partition(":")[2]
        if n and not n.isdigit():
            raise InputError(f"--dask {address}: local:N wants a number of workers")
        workers = int(n) if n else os.cpu_count() or 1
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout="20s")
        except OSError as exc:
            raise InputError(
                f"--dask {display_path(address)}: no scheduler there ({exc})"
            ) from None
    try:
        client.run(_warm_worker, hash_size)
        yield client.get_executor()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
