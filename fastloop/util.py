"""Small helpers shared by the library and the CLI."""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import stat
import threading
import unicodedata

#: Set by the command line: :mod:`fastloop.kernels` imports numba without SciPy's BLAS.
LEAN_NUMBA = False


def hms(seconds: float) -> str:
    """Seconds as HH:MM:SS.mmm.

    Examples
    --------
    >>> hms(3723.5)
    '01:02:03.500'
    """
    ms = round(max(0.0, seconds) * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def display_path(path: str | os.PathLike) -> str:
    """The path for a one-line message: control characters, line separators and bytes
    that are not UTF-8 are escaped, so a hostile file name cannot forge output lines.

    >>> display_path("a\\nb.mp4")
    'a\\\\nb.mp4'
    """
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    out = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


def _inherited_fd(path: str) -> int | None:
    """The open descriptor ``path`` names (/dev/stdout, /dev/stderr, /dev/fd/N,
    /proc/self/fd/N), else None."""
    p = os.path.abspath(path)
    named = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
    if p in named:
        return named[p]
    for prefix in ("/dev/fd/", "/proc/self/fd/", f"/proc/{os.getpid()}/fd/"):
        if p.startswith(prefix) and p[len(prefix) :].isdigit():
            return int(p[len(prefix) :])
    return None


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", durable: bool = False):
    """Open a temporary file beside ``path`` for writing; on success it replaces
    ``path`` in one rename, on error it is removed: a reader sees the old file or the
    new one, never half of one. A path that exists and is not a regular file (a
    device such as /dev/null, a named pipe) is written to directly; a symbolic link's
    target is replaced, not the link. ``durable`` also syncs the data and the folder (a
    checkpoint must survive a power cut, an output file need not).

    Examples
    --------
    >>> with atomic_write("out.json", "w") as fh:  # doctest: +SKIP
    ...     fh.write("{}")
    """
    path = os.fspath(path)
    encoding = None if "b" in mode else "utf-8"
    try:
        special = not stat.S_ISREG(os.stat(path).st_mode)  # through links
    except OSError:
        special = False
    fd = _inherited_fd(path)
    if fd is not None:
        # /dev/stdout and the like: the descriptor the shell opened (a pipe, a
        # terminal, or a file, maybe to append), not a new opening that truncates
        with os.fdopen(os.dup(fd), mode, encoding=encoding) as fh:
            yield fh
        return
    if special or os.path.abspath(path).startswith(("/dev/", "/proc/")):
        # /dev/null, a named pipe: a rename would put a file in their place (as
        # root, /dev/null itself); written to as they are
        with open(path, mode, encoding=encoding) as fh:
            yield fh
        return
    path = os.path.realpath(path)  # through a link: its target is replaced
    tmp = f"{path}.tmp{os.getpid()}-{threading.get_ident()}"
    try:
        with open(tmp, mode, encoding=encoding) as fh:
            yield fh
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    if durable:
        try:
            dfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:  # pragma: no cover - directories cannot be fsynced everywhere
            pass


#: Samples of a file's middle in its content key (besides its first and last megabyte).
_SAMPLES, _SAMPLE, _MB = 16, 64 << 10, 1 << 20


def content_key(path: str | os.PathLike) -> str:
    """The identity of a file's content: its size and a digest of its first and last
    megabyte and of 16 samples between them; not its path or modification time, which
    differ between the machines of a cluster and after a copy. (A store's entries and
    the checkpoint folders are named by it.)"""
    p = os.fspath(path)
    size = os.path.getsize(p)
    h = hashlib.blake2b(digest_size=12)
    h.update(str(size).encode())
    with open(p, "rb") as fh:
        h.update(fh.read(_MB))
        for k in range(1, _SAMPLES + 1):
            fh.seek(size * k // (_SAMPLES + 1))
            h.update(fh.read(_SAMPLE))
        fh.seek(max(0, size - _MB))
        h.update(fh.read(_MB))
    return h.hexdigest()


#: numpy asks for huge pages for arrays of this many bytes and more
_HUGE_FROM = 4 << 20


def empty_small_pages(shape, dtype):
    """``np.empty(shape, dtype)`` in memory of ordinary pages, for arrays a decode
    fills as it goes (a day's rows, its timestamps). numpy asks for huge pages for any
    array of 4 MB or more, and on a VM whose host takes back the guest's free memory
    (a balloon), a huge page is one of the large free blocks the host took: the first
    touch of a day's 560 MB of rows cost 1.0-1.2 s of CPU in huge pages against 0.3 s
    in small ones, beside ffmpeg. Reading them back is no slower (the search took the
    same time on either)."""
    import numpy as np

    shape = tuple(shape) if isinstance(shape, tuple | list) else (shape,)
    size = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    flags = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)
    if size < _HUGE_FROM or not flags:
        return np.empty(shape, dtype)
    try:
        mm = mmap.mmap(-1, size, flags=flags)
    except (OSError, ValueError):  # refused (a memory limit): numpy's MemoryError says so
        return np.empty(shape, dtype)
    if hasattr(mm, "madvise") and hasattr(mmap, "MADV_NOHUGEPAGE"):
        try:
            mm.madvise(mmap.MADV_NOHUGEPAGE)  # where the system would use them unasked
        except OSError:  # a kernel without huge pages refuses the advice: none needed
            pass
    return np.frombuffer(mm, dtype).reshape(shape)
