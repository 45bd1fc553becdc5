"""The Fingerprint: hashes + timestamps + video info, the seam between decoding and
analysis. Everything before it reads video; everything after it is array work."""

from __future__ import annotations

import errno
import itertools
import json
import os
from dataclasses import dataclass, field

import numpy as np

from .errors import FastloopError, InputError
from .hashing import descriptor_cells, words_for
from .util import atomic_write, display_path, empty_small_pages

FORMAT_VERSION = 2


@dataclass
class Fingerprint:
    """Per-frame average hashes of one video.

    Attributes
    ----------
    hashes : uint64[n, W]
        Packed average hash of every frame, in output order.
    pts : float64[n]
        Presentation time of every frame in seconds from the start of the video.
    contrast : uint8[n]
        max - min of each NxN gray frame; 0 means flat (black, white, one colour).
    hash_size : int
        N: frames were scaled to N x N before hashing.
    desc : uint8[n, C]
        The gray levels the hash throws away: block means of each N x N frame
        (12x12 = 144 bytes at N = 24, see :func:`~fastloop.hashing.hash_frames`),
        on which copies are confirmed and placed in time. May be a read-only memory
        map for long videos.
    info : dict
        What the probe said of the video (path, width, height, fps, duration_s, codec).
    decoded : bool[n] or None
        ``--fast`` only: which frames were decoded; the others hold the hash of the
        nearest decoded frame. None: every frame was decoded.
    """

    hashes: np.ndarray
    pts: np.ndarray
    contrast: np.ndarray
    hash_size: int
    desc: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    decoded: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.hashes)
        if self.hashes.dtype != np.uint64 or self.hashes.ndim != 2:
            raise ValueError("hashes must be uint64[n, W]")
        if self.hashes.shape[1] != words_for(self.hash_size):
            raise ValueError(
                f"hashes have {self.hashes.shape[1]} words, not {self.hash_size}^2 bits"
            )
        if len(self.pts) != n or len(self.contrast) != n:
            raise ValueError("hashes, pts and contrast must have one entry per frame")
        if self.desc is None:
            self.desc = np.zeros((n, descriptor_cells(self.hash_size)), np.uint8)
            self.has_desc = False
        else:
            self.has_desc = True
        if self.desc.ndim != 2 or len(self.desc) != n:
            raise ValueError("desc must be uint8[n, cells], one row per frame")
        if self.decoded is not None and len(self.decoded) != n:
            raise ValueError("decoded must have one entry per frame")

    @property
    def filled(self) -> np.ndarray:
        """Mask of the frames not decoded (``--fast``), all False otherwise."""
        if self.decoded is None:
            return np.zeros(len(self), bool)
        return ~self.decoded

    def __len__(self) -> int:
        return len(self.hashes)

    @property
    def fps(self) -> float:
        """Nominal frame rate from the probe, else from the timestamps."""
        fps = float(self.info.get("fps") or 0.0)
        if fps > 0:
            return fps
        if len(self.pts) > 1 and self.pts[-1] > self.pts[0]:
            return (len(self.pts) - 1) / float(self.pts[-1] - self.pts[0])
        return 0.0

    def save(self, path: str | os.PathLike) -> None:
        """Write to one ``.npz`` file, atomically (temp file, then rename).

        Examples
        --------
        >>> fp.save("clip.npz")  # doctest: +SKIP
        >>> Fingerprint.load("clip.npz").hash_size  # doctest: +SKIP
        24
        """
        meta = {"version": FORMAT_VERSION, "hash_size": self.hash_size, "info": self.info}
        extra = {} if self.decoded is None else {"decoded": self.decoded}
        with atomic_write(path, durable=True) as fh:
            np.savez(
                fh,
                hashes=self.hashes,
                pts=self.pts,
                contrast=self.contrast,
                desc=self.desc,
                meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
                **extra,
            )

    @classmethod
    def load(cls, path: str | os.PathLike) -> Fingerprint:
        """Read a file written by :meth:`save`."""
        try:
            with np.load(os.fspath(path), allow_pickle=False) as z:
                meta = json.loads(z["meta"].tobytes().decode())
                if meta.get("version") != FORMAT_VERSION:
                    raise InputError(
                        f"{display_path(path)}: fingerprint format {meta.get('version')} is not "
                        f"{FORMAT_VERSION}: make it again with this version of fastloop"
                    )
                return cls(
                    hashes=z["hashes"],
                    pts=z["pts"],
                    contrast=z["contrast"],
                    desc=_load_desc(z),
                    hash_size=int(meta["hash_size"]),
                    info=meta.get("info", {}),
                    decoded=z["decoded"] if "decoded" in z.files else None,
                )
        except InputError:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"{display_path(path)}: not a fastloop fingerprint ({exc})") from exc


def _load_desc(z) -> np.ndarray:
    """The ``desc`` member of an open npz: in memory, or streamed into an unlinked
    temporary file and memory-mapped where it would not fit comfortably (see
    :func:`spills`)."""
    with z.zip.open("desc.npy") as fh:
        version = np.lib.format.read_magic(fh)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(fh)
        if dtype != np.uint8 or fortran or len(shape) != 2:
            raise ValueError("desc must be a C-ordered uint8[n, cells] array")
        n, cells = shape
        if not spills(n * cells):
            return np.frombuffer(fh.read(n * cells), np.uint8).reshape(n, cells).copy()
        mm = _rows_array(n, (cells,), np.uint8, spill=True)
        flat = memoryview(mm.reshape(-1))
        at = 0
        while at < len(flat):
            got = fh.readinto(flat[at : at + (1 << 24)])
            if not got:
                raise ValueError(f"desc holds {at // cells} of its {n} rows")
            at += got
        while fh.read(1 << 24):  # to the member's end, where its checksum is checked
            pass
        return mm


#: Gray descriptors of no more than this many bytes always stay in memory.
SPILL_BYTES = 64 << 20
#: Above SPILL_BYTES, descriptors taking more than this share of the memory available
#: go to an unlinked temporary file and are read through a memory map.
SPILL_SHARE = 0.25


def spills(nbytes: int) -> bool:
    """Do ``nbytes`` of gray descriptors go to disk? Only when they would not fit
    comfortably in memory (more than :data:`SPILL_SHARE` of what is available): a
    day at 30 fps is 373 MB, which a machine with 1.5 GB free holds. In memory they
    cost nothing more (the search reads every page of them either way, and a mapped
    page counts in the resident set as much as any other), while pages mapped from a
    file are written back to disk during the decode and fault again on the next
    write (0.3 s to place a day's second range, against 10 ms in memory)."""
    if nbytes <= SPILL_BYTES:
        return False
    return nbytes > SPILL_SHARE * _available_memory()


def _available_memory() -> int:
    """Bytes of memory available to new allocations now (Linux's MemAvailable), else
    the machine's memory."""
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 0


class Descriptors:
    """Collects the gray descriptors of a decode, range by range, as they arrive.

    They stay in memory unless they would not fit comfortably (see :func:`spills`);
    then each range writes to its own temporary file, and :meth:`finish` writes the
    kept frames, in order, to one file read back as a memory map. Every file is
    unlinked as soon as it is open, so nothing is left behind, whatever ends the
    process.
    """

    def __init__(self, hash_size: int, frames_estimate: int, spill: bool | None = None):
        self.cells = descriptor_cells(hash_size)
        if spill is None:
            spill = spills(frames_estimate * self.cells)
        self.spill = spill
        self._parts: dict[int, list[np.ndarray]] = {}
        self._files: dict[int, object] = {}

    def add(self, r: int, desc: np.ndarray) -> None:
        """Frames of range r, in order (one thread per range)."""
        if not self.spill:
            self._parts.setdefault(r, []).append(desc)
            return
        fh = self._files.get(r)
        if fh is None:
            fh = self._files[r] = _unlinked_file()
        fh.write(np.ascontiguousarray(desc, np.uint8).tobytes())

    def finish(self, keep: list[np.ndarray]) -> np.ndarray:
        """The descriptors of the kept frames of every range, ranges in order."""
        total = sum(int(k.sum()) for k in keep)
        if not self.spill:
            # batch by batch into one array made beforehand, each batch freed once
            # copied: one copy, not a concatenation per range and another of all
            out = np.empty((total, self.cells), np.uint8)
            put = 0
            for r, k in enumerate(keep):
                put = copy_kept([(d,) for d in self._parts.pop(r, [])], k, (out,), put)
            return out[:put]
        out = None
        for r, k in enumerate(keep):
            fh = self._files.pop(r, None)
            if fh is None:
                continue
            fh.flush()
            size = fh.seek(0, os.SEEK_END) // self.cells
            span = _slice_of(k[:size])
            if out is None and span is not None and span[0] == 0:
                # the first range's own file, cut after its last kept frame: a day's
                # first half is not copied at all
                fh.truncate(span[1] * self.cells)
                fh.seek(0, os.SEEK_END)
                out = fh
                continue
            if out is None:
                out = _unlinked_file()
            if span is not None:
                _copy_range(fh, out, span[0] * self.cells, (span[1] - span[0]) * self.cells)
            else:
                self._copy_kept(fh, out, k)
            fh.close()
        if out is None:
            out = _unlinked_file()
        out.flush()
        if total == 0:
            out.close()
            return np.empty((0, self.cells), np.uint8)
        # writable ("r+", the file is ours and unlinked): numba compiles a read-only
        # array as another type, and a first scan of a long video would compile every
        # search kernel a second time (some 20 s)
        mm = np.memmap(out, np.uint8, "r+", shape=(total, self.cells))
        out.close()  # the map keeps the (unlinked) file alive
        return mm

    def _copy_kept(self, fh, out, keep: np.ndarray) -> None:
        """Append the frames of ``fh`` that ``keep`` marks to ``out``, in blocks."""
        block = 1 << 16  # frames per read
        fh.seek(0)
        at = 0
        while True:
            buf = fh.read(block * self.cells)
            if not buf:
                break
            d = np.frombuffer(buf, np.uint8).reshape(-1, self.cells)
            out.write(d[keep[at : at + len(d)]].tobytes())
            at += len(d)

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()
        self._parts.clear()


class RangeRows:
    """Per-frame rows of a decode's ranges (hash words, contrast, gray descriptors),
    written where they stay.

    Each range has its own stretch of one array per kind of row, as long as
    ``rows[r]`` (the frames the range should hold, with room to spare) and writes
    its batches there as they come, from its reader thread. :meth:`finish` slides
    each range's kept frames down against the kept frames of the range before, in
    place. On a VM the first touch of fresh memory is the cost, not the copy: a
    day's 186 MB of hashes and 373 MB of descriptors took 0.8 s to copy into new
    arrays once ffmpeg was done, where the slide moves resident pages in 20 ms, and
    the touch happens during the decode, beside ffmpeg, on either core.

    ``kinds``: ``(row shape, dtype, spill)`` per kind; a spilled kind lives in an
    unlinked temporary file mapped into memory (see :func:`_rows_array`). A range
    that outgrows its stretch keeps the batches past it aside, and :meth:`finish`
    moves the ranges after it up to make room for them; only rows beyond all the
    room together are copied into new arrays.
    """

    def __init__(self, rows: list[int], kinds: list[tuple[tuple, type, bool]]):
        self.rows = [max(0, int(n)) for n in rows]
        self.starts = [0, *itertools.accumulate(self.rows)]
        self.kinds = kinds
        self.arrays = tuple(
            _rows_array(self.starts[-1], shape, dtype, spill) for shape, dtype, spill in kinds
        )
        self.fill = [0] * len(self.rows)
        self._extra: dict[int, list[tuple]] = {}

    def room(self, r: int, n: int) -> tuple[np.ndarray, ...] | None:
        """Where range r's next ``n`` rows go, one view per kind, to be written there
        and then counted with :meth:`wrote`; None when its room cannot take them
        (then :meth:`add` keeps them aside)."""
        at = self.fill[r]
        if r in self._extra or at + n > self.rows[r]:
            return None
        lo = self.starts[r] + at
        return tuple(out[lo : lo + n] for out in self.arrays)

    def wrote(self, r: int, n: int) -> None:
        """Range r's next ``n`` rows are written where :meth:`room` said."""
        self.fill[r] += n

    def add(self, r: int, parts: tuple) -> None:
        """The next rows of range r (one array per kind, as many rows each; one
        thread per range)."""
        n = len(parts[0])
        where = self.room(r, n)
        if where is None:
            self._extra.setdefault(r, []).append(parts)
            return
        for out, part in zip(where, parts, strict=True):
            out[...] = part
        self.wrote(r, n)

    def finish(self, keep: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        """The kept rows of every range, ranges in order: one array per kind.
        ``keep[r]`` marks range r's rows, as many as it was given."""
        if len(keep) > len(self.rows):
            raise ValueError(f"{len(keep)} ranges kept, {len(self.rows)} decoded")
        written = [
            self.fill[r] + sum(len(b[0]) for b in self._extra.get(r, [])) for r in range(len(keep))
        ]
        for r, k in enumerate(keep):
            if len(k) != written[r]:
                raise ValueError(f"range {r}: {len(k)} rows marked, {written[r]} written")
        # each range's kept rows: those of its room gathered at the room's start
        # (one stretch, as a range keeps, or gathered in place), then those past it
        here = [self._gather(r, k[: self.fill[r]]) for r, k in enumerate(keep)]
        past = [int(k[self.fill[r] :].sum()) for r, k in enumerate(keep)]
        dest = [0, *itertools.accumulate(h + e for h, e in zip(here, past, strict=True))]
        if dest[-1] > self.starts[-1]:
            return self._copied(keep)  # more frames than all the room: new arrays
        # a range moves up only when a range before it outgrew its room; those move
        # last first, over room the later ones have left, and the rest first first,
        # down over room the earlier ones have left: no range is written over
        # before it has moved
        ups = [r for r in range(len(keep)) if dest[r] > self.starts[r]]
        downs = [r for r in range(len(keep)) if dest[r] < self.starts[r]]
        for r in [*reversed(ups), *downs]:
            for out in self.arrays:
                _move_rows(out, self.starts[r], dest[r], here[r])
        for r, k in enumerate(keep):
            put = dest[r] + here[r]
            copy_kept(self._extra.pop(r, []), k[self.fill[r] :], self.arrays, put)
        return tuple(out[: dest[-1]] for out in self.arrays)

    def _gather(self, r: int, keep: np.ndarray) -> int:
        """Gather the rows ``keep`` marks of range r's room at the room's start, in
        order and in place; returns how many."""
        lo = self.starts[r]
        span = _slice_of(keep)
        if span is not None:
            i, j = span
            for out in self.arrays:
                _move_rows(out, lo + i, lo, j - i)
            return j - i
        put = lo
        block = 1 << 16  # rows gathered at a time: a block's kept rows are copied once
        for at in range(0, len(keep), block):
            idx = np.flatnonzero(keep[at : at + block]) + lo + at
            for out in self.arrays:
                out[put : put + len(idx)] = out[idx]
            put += len(idx)
        return put - lo

    def _copied(self, keep: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        """Every kept row into new arrays (the rows exceed all the room: a frame
        rate far above the stated one); the rows of each room were gathered at
        its start already."""
        total = sum(int(k.sum()) for k in keep)
        outs = tuple(_rows_array(total, shape, dtype, spill) for shape, dtype, spill in self.kinds)
        put = 0
        for r, k in enumerate(keep):
            lo = self.starts[r]
            n = int(k[: self.fill[r]].sum())
            for out, a in zip(outs, self.arrays, strict=True):
                out[put : put + n] = a[lo : lo + n]
            put = copy_kept(self._extra.pop(r, []), k[self.fill[r] :], outs, put + n)
        self.close()
        return tuple(out[:put] for out in outs)

    def close(self) -> None:
        """Let go of the rows (and any file they are mapped from)."""
        self.arrays = ()
        self._extra.clear()


def _rows_array(n: int, shape: tuple, dtype, spill: bool) -> np.ndarray:
    """An array of ``n`` rows, uninitialised: in memory, or (``spill``) mapped from an
    unlinked temporary file whose blocks are reserved beforehand, so that a full
    disk is an error here and not a crash at a write through the map (writable:
    see :meth:`Descriptors.finish`)."""
    if not spill or n == 0:
        return empty_small_pages((n, *shape), dtype)
    fh = _unlinked_file()
    size = n * int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    try:
        os.posix_fallocate(fh.fileno(), 0, size)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            fh.truncate(size)  # a file system that cannot reserve: grown as written
        else:
            import tempfile

            fh.close()
            raise FastloopError(
                f"no room for {size / 1e6:,.0f} MB of frame descriptors in the temporary "
                f"directory {tempfile.gettempdir()} "
                f"({exc.strerror}): free some, or set TMPDIR to a larger disk"
            ) from exc
    mm = np.memmap(fh, dtype, "r+", shape=(n, *shape))
    fh.close()  # the map keeps the (unlinked) file alive
    return mm


def _move_rows(a: np.ndarray, src: int, dst: int, n: int) -> None:
    """Rows ``src..src+n`` of C-ordered ``a`` to ``dst..`` (the stretches may overlap)."""
    if n <= 0 or src == dst:
        return
    import ctypes

    row = a.strides[0]
    base = a.ctypes.data
    ctypes.memmove(base + dst * row, base + src * row, n * row)


def copy_kept(batches: list[tuple], keep: np.ndarray, outs: tuple, put: int) -> int:
    """Copy the rows ``keep`` marks of one range's ``batches`` (tuples of arrays, a row a
    frame, in order) into ``outs`` (one array per tuple member) from row ``put``,
    each batch dropped from the list once copied, so that the data exists once plus
    one batch. Returns the next free row."""
    batches.reverse()
    at = 0
    while batches:
        parts = batches.pop()
        kept = keep[at : at + len(parts[0])]
        at += len(kept)
        rows = len(kept) if kept.all() else int(kept.sum())
        for out, part in zip(outs, parts, strict=True):
            part = part[: len(kept)]
            out[put : put + rows] = part if rows == len(kept) else part[kept]
        put += rows
        del parts
    return put


def _slice_of(keep: np.ndarray) -> tuple[int, int] | None:
    """``(i, j)`` when ``keep`` is True exactly on ``[i, j)`` (a range keeps the frames
    between its pre-roll and its end), else None."""
    idx = np.flatnonzero(keep)
    if not len(idx):
        return (0, 0)
    i, j = int(idx[0]), int(idx[-1]) + 1
    return (i, j) if j - i == len(idx) else None


def _copy_range(src, dst, offset: int, count: int) -> None:
    """Append ``count`` bytes of ``src`` from ``offset`` to ``dst``: in the kernel where
    it can (``copy_file_range``), else through a buffer."""
    src.flush()
    dst.flush()
    dst.seek(0, os.SEEK_END)
    try:
        while count > 0:
            done = os.copy_file_range(src.fileno(), dst.fileno(), count, offset)
            if done <= 0:
                break
            offset += done
            count -= done
        dst.seek(0, os.SEEK_END)
    except (AttributeError, OSError):
        dst.seek(0, os.SEEK_END)
    src.seek(offset)
    while count > 0:
        buf = src.read(min(count, 1 << 24))
        if not buf:
            break
        dst.write(buf)
        count -= len(buf)


def _unlinked_file():
    """A temporary file that exists only while it is open or mapped."""
    import tempfile

    return tempfile.TemporaryFile(prefix="fastloop-desc-")
