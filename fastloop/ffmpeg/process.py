"""Running ffmpeg: every child dies with fastloop, and a pipe of frames is read whole.

Each child gets the parent-death signal (Linux ``PR_SET_PDEATHSIG``): if fastloop is
killed, even by SIGKILL, the kernel kills its ffmpeg too. The ``prctl`` function is
looked up once, in the parent: the code that runs in the child between fork and exec
calls it and nothing else (no import, no lookup, which could wait forever on a lock
another thread of the parent held at the fork).
"""

from __future__ import annotations

import functools
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import numpy as np

from ..errors import DecodeError
from .logs import PrintedTimes, count_timestamps, log_lines, read_tail

#: Frames per batch handed on, and the most bytes a batch may hold (full frames for
#: ``buckets --exact``).
BATCH_FRAMES = 4096
BATCH_BYTES = 16 << 20
#: A batch is handed on once this many whole frames are in, the buffer is full, or
#: :data:`BATCH_SECONDS` have passed since the last one: ffmpeg writes 32 KB at a
#: time, and a batch of ~57 frames costs more in Python's per-call overhead than in
#: hashing (a day: 45,000 batches a range; at 1,024 frames a batch the calls still
#: took 0.14 CPU-s of each reader thread more than at 4,096), while a slow decode (4K,
#: a network file) must still move the progress bar and the checkpoints along. As
#: many as :data:`BATCH_FRAMES` (lowered by tests): a batch is the whole buffer, or 0.25 s.
MIN_BATCH = BATCH_FRAMES
BATCH_SECONDS = 0.25


@functools.cache
def _die_with_parent() -> Callable[[], None] | None:
    """The function a child runs before exec, resolved here in the parent."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        return None
    pr_set_pdeathsig, sigkill = 1, int(signal.SIGKILL)

    def child() -> None:  # pragma: no cover - runs in the child
        prctl(pr_set_pdeathsig, sigkill)

    return child


def spawn(args: list[str], **kwargs) -> subprocess.Popen:
    """``subprocess.Popen(args)`` with stdin closed and the parent-death signal."""
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(args, preexec_fn=_die_with_parent(), **kwargs)


def run(args: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run(args)``, output captured, with the parent-death signal."""
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(
        args, capture_output=True, timeout=timeout, preexec_fn=_die_with_parent(), **kwargs
    )


def _grow_pipe(pipe, size: int = 1 << 20) -> None:
    """Give the pipe a 1 MB buffer (Linux; 64 KB otherwise): ffmpeg keeps decoding
    while Python is busy for a moment (loading numba's cache at the first batch)."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (OSError, ImportError, AttributeError, ValueError):
        pass


class FramePipe:
    """One ffmpeg writing raw frames of ``frame_bytes`` to its stdout, its log to
    ``errlog`` and its frames' timestamps to ``stats``; ``pump`` hands them on.
    ``tile`` > 1: the frames come that many to a picture, the last one padded (see
    ``decode_args``), and ``pump`` hands on only those the timestamp file lists."""

    def __init__(self, args: list[str], stats: str, errlog: str, frame_bytes: int, tile: int = 1):
        self.args = args
        self.stats = stats
        self.errlog = errlog
        self.frame_bytes = frame_bytes
        self.tile = tile
        #: ``(pts, time base)`` of a tiled decode, read by ``pump`` once ffmpeg is
        #: done (each range's in its own thread, beside the others); else None
        self.timestamps = None
        self.proc: subprocess.Popen | None = None
        self.frames = 0
        self.error: BaseException | None = None
        self.truncated_bytes = 0
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        with open(self.errlog, "wb") as err:
            self.proc = spawn(self.args, stdout=subprocess.PIPE, stderr=err, bufsize=0)
        _grow_pipe(self.proc.stdout)

    def pump(self, on_frames: Callable[[np.ndarray], None], stop: threading.Event) -> None:
        """Read whole frames in large batches until EOF; never pass on a partial frame.
        Each batch is a view of the read buffer, valid until ``on_frames`` returns
        (a copy of every batch was 1.5 GB of copying on a day). An exception
        (``on_frames``' own included) is kept in ``error``."""
        assert self.proc is not None and self.proc.stdout is not None
        # a tiled decode's last tile-1 frames may be padding: held until the end
        hold = self.tile - 1
        # its timestamp lines, parsed between batches as ffmpeg writes them
        times = PrintedTimes(self.stats) if hold else None
        per_batch = max(1, min(BATCH_FRAMES, BATCH_BYTES // self.frame_bytes), 2 * hold)
        buf = bytearray(self.frame_bytes * per_batch)
        view = memoryview(buf)
        have = 0
        last = time.monotonic()
        try:
            while not stop.is_set():
                got = self.proc.stdout.readinto(view[have:])
                if not got:
                    break
                have += got
                whole = have // self.frame_bytes - hold
                if whole > 0 and (
                    have == len(buf)
                    or whole >= min(MIN_BATCH, per_batch)
                    or time.monotonic() - last >= BATCH_SECONDS
                ):
                    last = time.monotonic()
                    n = whole * self.frame_bytes
                    # lent, not copied: valid until on_frames returns (see decode)
                    on_frames(np.frombuffer(buf, np.uint8, n).reshape(whole, self.frame_bytes))
                    self.frames += whole
                    buf[: have - n] = buf[n:have]
                    have -= n
                    if times is not None:
                        times.poll()
            whole = have // self.frame_bytes
            if hold and not stop.is_set():
                # the frames the timestamp file lists, once ffmpeg has closed it
                while self.proc.poll() is None and not stop.is_set():
                    time.sleep(0.005)
                try:
                    assert times is not None
                    self.timestamps = times.result()
                    listed = len(self.timestamps[0])
                except (OSError, DecodeError):  # said again where they are read
                    listed = count_timestamps(self.stats)
                whole = max(0, min(whole, listed - self.frames))
                have = whole * self.frame_bytes + have % self.frame_bytes  # padding: not kept
            if whole and not stop.is_set():
                n = whole * self.frame_bytes
                on_frames(np.frombuffer(buf, np.uint8, n).reshape(whole, -1))
                self.frames += whole
                have -= n
            self.truncated_bytes = have
        except BaseException as exc:
            self.error = exc
        finally:
            if times is not None:
                times.close()

    def stderr_tail(self, lines: int = 8) -> str:
        return "\n".join(read_tail(self.errlog).strip().splitlines()[-lines:])

    def errors(self, limit: int = 1 << 20, warnings: bool = False) -> list[str]:
        """The error lines ffmpeg logged, prefixes off (``warnings``: the other lines)."""
        try:
            with open(self.errlog, "rb") as fh:
                text = fh.read(limit).decode("utf-8", "replace")
        except OSError:
            return []
        return log_lines(text, errors=not warnings)

    def kill(self) -> None:
        """Kill (if still running) and reap the child, and close its pipe."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.kill()
            except ProcessLookupError:  # pragma: no cover - raced with its exit
                pass
        if proc.stdout is not None:
            proc.stdout.close()
        proc.wait()
