"""What ffmpeg writes besides frames: timestamp files and its log, read in one place."""

from __future__ import annotations

import os
import re
import warnings
from fractions import Fraction

import numpy as np

from ..errors import DecodeError
from ..util import empty_small_pages

#: ffmpeg's "[vist#0:0/h264 @ 0x55...] [dec:h264 @ 0x55...] " line prefixes, and with
#: ``-loglevel level+...`` the "[error] " level tag.
PREFIX = re.compile(r"^(?:\[[^\]]*\]\s*)+")
#: ffmpeg lines that say that it stops, not why.
_BOILERPLATE = re.compile(
    r"^(Terminating thread with return code|Task finished with error code|"
    r"Last message repeated|Conversion failed|Error while filtering|"
    r"Nothing was written into output file|Error binding)"
)
#: The format of the ``-stats_enc_pre`` lines every decode asks for.
TIMESTAMP_FORMAT = "{pts} {tb}"
#: The metadata key a tiled decode tags each frame with, to have it printed with its
#: time (``frame:N pts:P pts_time:T`` and ``fastloop=1``; see ``decode_args``).
TIMESTAMP_KEY = "fastloop"
#: Where the encoder's timestamps go when the frames' own are printed (tiled).
_TIME_BASE_SUFFIX = ".tb"
#: Bytes of a printed timestamp file parsed at a time (whole lines).
_SLICE_BYTES = 1 << 23
#: Timestamps a running decode's parse has room for at first (it grows as needed).
_FIRST_ROOM = 1 << 14


def time_base_path(stats_path: str) -> str:
    """The file whose first ``pts tb`` line gives the time base of a tiled decode's
    printed timestamps: the encoder's, of the tiled pictures."""
    return stats_path + _TIME_BASE_SUFFIX


def reason(tail: str) -> str:
    """The last line of ffmpeg's output that says why, without its ``[x @ 0x..]``."""
    lines = [PREFIX.sub("", ln).strip() for ln in tail.splitlines()]
    lines = [ln for ln in lines if ln]
    useful = [ln for ln in lines if not _BOILERPLATE.match(ln)]
    return (useful or lines or [""])[-1]


def log_lines(text: str, errors: bool = True) -> list[str]:
    """The error lines (``errors=False``: the other lines) of a ``-loglevel level+...``
    log, prefixes off."""
    out = []
    for ln in text.splitlines():
        m = PREFIX.match(ln)
        prefix = m.group(0) if m else ""
        is_error = any(t in prefix for t in ("[error]", "[fatal]", "[panic]"))
        if is_error == errors:
            ln = ln[len(prefix) :].strip()
            if ln:
                out.append(ln)
    return out


def read_tail(path: str, limit: int = 8192) -> str:
    """The last ``limit`` bytes of a log file as text ("" when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.path.getsize(path) - limit))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


#: Demuxer messages worth a plain-words hint.
_HINTS = (
    ("misdetection possible", "ffmpeg does not recognise the format"),
    ("moov atom not found", "the MP4/MOV index (moov atom) is missing: truncated or unfinished"),
    ("File ended prematurely", "the file ends before its header: truncated"),
    ("Error opening input: End of file", "the file ends before its header: truncated or damaged"),
)
_GENERIC = re.compile(r"^Error opening input(?: files?)?(?::|\b)")


def open_failure(stderr: str) -> str:
    """Why ``ffmpeg -i`` could not open a file, in one line.

    The demuxer's own complaint (e.g. ``moov atom not found``) comes first, with a
    hint, then ffmpeg's generic reason (e.g. ``Invalid data found when processing
    input``); ``[in#0 @ 0x...]`` prefixes are dropped.
    """
    lines = [PREFIX.sub("", ln).strip() for ln in stderr.splitlines()]
    lines = [ln for ln in lines if ln]
    generic = ""
    for ln in lines:
        if ln.startswith("Error opening input files:"):
            generic = ln.split(":", 1)[1].strip()
    if not generic:
        for ln in reversed(lines):
            if ln.startswith("Error opening input:"):
                generic = ln.split(":", 1)[1].strip()
                break
    for needle, hint in _HINTS:
        if any(needle in ln for ln in lines):
            return f"{hint}; {generic}" if generic else hint
    if generic:
        return generic
    specific = [ln for ln in lines if not _GENERIC.match(ln)]
    return (specific or lines or ["unknown error"])[-1]


def read_timestamps(stats_path: str, complete_only: bool = False) -> tuple[np.ndarray, Fraction]:
    """Parse a timestamp file into (pts int64, time base): ``pts tb`` lines of
    ``-stats_enc_pre``, or the lines a tiled decode's ``metadata`` filter prints (its
    time base from :func:`time_base_path`). With ``complete_only``, ignore a last line
    ffmpeg is still writing (and a file it has not created yet)."""
    try:
        with open(stats_path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        if complete_only:
            return np.empty(0, np.int64), Fraction(1, 1)
        raise
    if data.startswith(b"frame:"):  # a line cut short is never a frame's (ffmpeg killed)
        return _parse_printed(data[: data.rfind(b"\n") + 1], stats_path, complete_only)
    if complete_only:
        data = data[: data.rfind(b"\n") + 1]
    fast = _parse_regular(data)
    return fast if fast is not None else _parse_lines(data)


class PrintedTimes:
    """The timestamp file of a running tiled decode (the lines its ``metadata`` filter
    prints), parsed as ffmpeg writes it: :meth:`poll` reads and parses the whole lines
    written since the last call (the reader thread calls it between batches, beside
    ffmpeg), and :meth:`result` the rest, once ffmpeg is done, then returns what
    :func:`read_timestamps` would. A day's range is 1.3 million lines (68 MB): parsed
    after the decode, 0.3 s that nothing else ran beside; now the last batches' lines.

    The lines are read into one buffer, used again for every read, and parsed by
    ``kernels._printed_pts`` once the scan's warm-up has loaded it (a third of a
    reader thread's CPU went to numpy's column-by-column parse and to the fresh
    memory of a new ``bytes`` a read); before that, by :func:`_printed_values`.

    Anything but printed lines (or a file that cannot be read) is left to
    :func:`read_timestamps` at the end."""

    def __init__(self, stats_path: str):
        self.path = stats_path
        self._fh = None
        self._buf = bytearray(1 << 20)
        self._have = 0  # bytes of _buf read and not yet parsed (a line cut short)
        self._values = np.empty(_FIRST_ROOM, np.int64)
        self._ok = np.empty(_FIRST_ROOM, np.bool_)  # printed (not NOPTS)
        self._count = 0
        self._parsed = False
        self._last = b""  # the last frame's line read
        self._off = False  # not printed lines: read whole at the end

    def poll(self) -> None:
        if self._off:
            return
        try:
            if self._fh is None:
                self._fh = open(self.path, "rb", buffering=0)
            if os.fstat(self._fh.fileno()).st_size < self._fh.tell():
                self._off = True  # written anew from the start: read whole at the end
                return
            while True:
                if self._have == len(self._buf):
                    self._buf.extend(bytes(len(self._buf)))
                got = self._fh.readinto(memoryview(self._buf)[self._have :])
                if not got:
                    break
                self._have += got
        except FileNotFoundError:
            return
        except OSError:
            self._off = True
            return
        buf = self._buf
        cut = buf.rfind(b"\n", 0, self._have) + 1
        if not cut:
            return
        if not self._parsed and not buf.startswith(b"frame:"):
            self._off = True
            return
        self._parsed = True
        last = buf.rfind(b"frame:", 0, cut)
        if last >= 0:
            self._last = bytes(buf[last : buf.index(b"\n", last)])
        self._parse(cut)
        buf[: self._have - cut] = buf[cut : self._have]
        self._have -= cut

    def _parse(self, cut: int) -> None:
        """Append the pts of the whole lines ``_buf[:cut]``."""
        kernel = _loaded_parser()
        if kernel is None:
            values, ok = _printed_values(bytes(self._buf[:cut]))
            self._room(len(values))
            n = self._count
            self._values[n : n + len(values)] = values
            self._ok[n : n + len(values)] = ok
            self._count += len(values)
            return
        data = np.frombuffer(self._buf, np.uint8)
        while True:
            count = kernel(data, cut, self._values, self._ok, self._count)
            if count >= 0:
                self._count = count
                return
            self._room(2 * len(self._values) - self._count)  # full: twice the room

    def _room(self, more: int) -> None:
        """Room for ``more`` values past those parsed (doubling: a day's range grows
        its arrays some 7 times)."""
        need = self._count + more
        if need > len(self._values):
            size = max(need, 2 * len(self._values))
            for name in ("_values", "_ok"):
                old = getattr(self, name)
                grown = empty_small_pages(size, old.dtype)  # filled as the decode goes
                grown[: self._count] = old[: self._count]
                setattr(self, name, grown)

    def result(self) -> tuple[np.ndarray, Fraction]:
        """(pts, time base) of the finished decode, as :func:`read_timestamps` gives."""
        self.poll()
        self.close()
        if self._off or not self._count:
            return read_timestamps(self.path)
        tb = _first_time_base(time_base_path(self.path))
        pts = _fill_missing(self._values[: self._count], self._ok[: self._count])
        if tb is None or not _agrees(pts[-1], tb, self._last):
            return read_timestamps(self.path)  # says what is wrong, or reads the times
        return pts, tb

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


#: ``kernels._printed_pts`` once :func:`warm_parser` has loaded it (None before).
_PARSER = None


def _loaded_parser():
    """``kernels._printed_pts`` once :func:`warm_parser` has loaded its machine code,
    else None: loaded (or compiled, the first time) in a reader thread, it would hold
    up ffmpeg's pipe, and the module may be half imported by another thread."""
    return _PARSER


def warm_parser() -> None:
    """Load ``kernels._printed_pts`` with the types :class:`PrintedTimes` calls it
    with; from then on the running decodes parse with it."""
    global _PARSER
    from ..kernels import _printed_pts

    line = bytearray(b"frame:0    pts:0       pts_time:0\nfastloop=1\n")
    data = np.frombuffer(line, np.uint8)
    _printed_pts(data, len(line), np.empty(1, np.int64), np.empty(1, np.bool_), 0)
    _PARSER = _printed_pts


def _joined(parts: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The pts of the pieces of a printed file, parsed apart, in order: a frame
    without one takes its predecessor's (the first frames, the first printed)."""
    if not parts:
        return np.empty(0, np.int64)
    if len(parts) == 1:
        return _fill_missing(*parts[0])
    return _fill_missing(
        np.concatenate([v for v, _ in parts]), np.concatenate([k for _, k in parts])
    )


def _agrees(pts: int, tb: Fraction, line: bytes) -> bool:
    """Does ``pts`` in ``tb`` give the ``pts_time`` a printed line shows? (True when
    the line shows none: nothing to check against.)"""
    try:
        shown = float(line.rsplit(b"pts_time:", 1)[1])
    except (IndexError, ValueError):
        return True
    return abs(float(pts * tb) - shown) <= 1e-5 * abs(shown) + 2e-6


def count_timestamps(stats_path: str) -> int:
    """How many frames a finished decode's timestamp file lists (0 if there is none)."""
    try:
        with open(stats_path, "rb") as fh:
            data = fh.read()
    except OSError:
        return 0
    if data.startswith(b"frame:"):
        return data.count(b"pts_time:", 0, data.rfind(b"\n") + 1)
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _parse_printed(
    data: bytes, stats_path: str, complete_only: bool
) -> tuple[np.ndarray, Fraction]:
    """The frames' ``pts`` of ``metadata`` lines, with the time base of the encoder's
    file beside them. That the two agree is checked on the last frame (its printed
    ``pts_time``); should they not, the printed times are used, in microseconds."""
    empty = np.empty(0, np.int64), Fraction(1, 1)
    tb = _first_time_base(time_base_path(stats_path))
    if tb is None:
        if complete_only:  # the encoder has not written its first line yet
            return empty
        raise DecodeError("ffmpeg wrote frame times but no time base")
    parts, at = [], 0
    while at < len(data):
        end = data.rfind(b"\n", at, at + _SLICE_BYTES) + 1
        if end <= at:
            end = len(data)
        parts.append(_printed_values(data[at:end]))
        at = end
    pts = _joined(parts)
    if not len(pts):
        return empty
    last = data.rfind(b"frame:")  # data holds whole lines
    if _agrees(pts[-1], tb, data[last : data.index(b"\n", last)]):
        return pts, tb
    times = re.findall(rb"pts_time:(\S+)", data)  # pragma: no cover - not seen
    secs = np.array([float(t) if t != b"NOPTS" else np.nan for t in times])
    us = np.round(np.nan_to_num(secs) * 1e6).astype(np.int64)
    return _fill_missing(us, ~np.isnan(secs)), Fraction(1, 1_000_000)


def printed_pts(data: bytes) -> np.ndarray:
    """The integers after each ``pts:`` of ``metadata`` lines (whole lines), read
    digit column by digit column with numpy (a day's lines in a fraction of a second,
    and no Python object a frame). A frame printed without one (``NOPTS``) takes its
    predecessor's."""
    return _fill_missing(*_printed_values(data))


def _printed_values(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The ``pts:`` integers of whole ``metadata`` lines, and which were printed (not
    ``NOPTS``), see :func:`printed_pts`."""
    buf = np.frombuffer(data, np.uint8)
    colon = np.flatnonzero(buf == ord(":"))
    colon = colon[colon >= 3]
    tag = (buf[colon - 3] == ord("p")) & (buf[colon - 2] == ord("t")) & (buf[colon - 1] == ord("s"))
    at = colon[tag] + 1
    del colon, tag
    value = np.zeros(len(at), np.int64)
    alive = np.ones(len(at), bool)
    digits = np.zeros(len(at), np.int64)
    neg = buf[np.minimum(at, len(buf) - 1)] == ord("-")
    at = at + neg
    for j in range(20):  # int64 has 19 digits
        c = buf[np.minimum(at + j, len(buf) - 1)].astype(np.int64) - ord("0")
        alive &= (c >= 0) & (c <= 9)
        if not alive.any():
            break
        value[alive] = value[alive] * 10 + c[alive]
        digits += alive
    value[neg] = -value[neg]
    return value, digits > 0


def _fill_missing(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """``values`` where ``ok``, elsewhere the last good value before (the first good
    one, at the start; 0 when there is none)."""
    if ok.all():
        return values
    good = np.flatnonzero(ok)
    if not len(good):
        return np.zeros(len(values), values.dtype)
    idx = np.maximum.accumulate(np.where(ok, np.arange(len(values)), 0))
    idx[: good[0]] = good[0]
    return values[idx]


def _first_time_base(path: str) -> Fraction | None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
    except OSError:
        return None
    if b"\n" not in head:
        return None
    try:
        num, den = head.split(b"\n", 1)[0].split()[1].split(b"/")
        return Fraction(int(num), int(den))
    except (IndexError, ValueError, ZeroDivisionError):
        return None


def _parse_regular(data: bytes) -> tuple[np.ndarray, Fraction] | None:
    """The common case in one pass of numpy's text reader (3x faster than splitting
    into tokens: a day's 2.6 million lines in 0.6 s): every line ``pts tb`` with one
    time base. None for anything else (the general parser decides)."""
    end = data.find(b"\n")
    head = (data if end < 0 else data[:end]).split()
    if len(head) != 2 or b"/" not in head[1]:
        return None
    tb = head[1]
    if not data.endswith(b"\n"):  # a last line ffmpeg was writing: whole, or left out
        cut = data.rfind(b"\n") + 1
        data = data[:cut] + (data[cut:] + b"\n" if len(data[cut:].split()) == 2 else b"")
    lines = data.replace(b" " + tb + b"\n", b"\n")
    if b" " in lines:  # another time base on some line, or stray spaces
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a line that is not a number: caught below
        pts = np.fromstring(lines, dtype=np.int64, sep="\n")
    if len(pts) != lines.count(b"\n"):
        return None
    num, den = tb.split(b"/")
    try:
        return pts, Fraction(int(num), int(den))
    except (ValueError, ZeroDivisionError):
        return None


def _parse_lines(data: bytes) -> tuple[np.ndarray, Fraction]:
    """Any ``pts tb`` file, token by token, in slices of whole lines."""
    # in slices of whole lines: split() makes a Python object of every token, and a
    # range of 1.3 million frames would hold 2.6 million of them (some 120 MB)
    parts, tb, at = [], None, 0
    while at < len(data):
        end = data.rfind(b"\n", at, at + (1 << 22)) + 1
        if end <= at:
            end = len(data)
        tokens = data[at:end].split()
        at = end
        if len(tokens) % 2:
            tokens = tokens[:-1]
        if not tokens:
            continue
        tbs = set(tokens[1::2])
        if len(tbs) != 1 or (tb is not None and tbs != {tb}):
            raise DecodeError("ffmpeg changed time base mid-stream")
        tb = tokens[1]
        parts.append(np.array(tokens[0::2]).astype(np.int64))
    if tb is None:
        return np.empty(0, np.int64), Fraction(1, 1)
    num, den = tb.split(b"/")
    return np.concatenate(parts), Fraction(int(num), int(den))


def last_timestamp(stats_path: str) -> float | None:
    """The time (seconds) of the last complete line of a timestamp file."""
    try:
        with open(stats_path, "rb") as fh:
            fh.seek(max(0, os.path.getsize(stats_path) - 256))
            lines = fh.read().split(b"\n")[:-1]  # the last piece may be incomplete
        lines = [ln for ln in lines if ln and not ln.startswith(TIMESTAMP_KEY.encode())]
        return _line_seconds(lines[-1], stats_path, rounded=True)
    except (OSError, ValueError, IndexError, ZeroDivisionError):
        return None


def first_timestamp(stats_path: str) -> float | None:
    """The time (seconds) of the first complete line of a ``pts tb`` stats file; None
    before ffmpeg has written one."""
    try:
        with open(stats_path, "rb") as fh:
            head = fh.read(256)
        if b"\n" not in head:
            return None
        return _line_seconds(head.split(b"\n", 1)[0], stats_path)
    except (OSError, ValueError, IndexError, ZeroDivisionError):
        return None


def _line_seconds(line: bytes, stats_path: str, rounded: bool = False) -> float | None:
    """Seconds of one ``pts tb`` line, with the same double arithmetic as
    ``pts.astype(float64) * float(tb)`` on a whole file (and ffmpeg's ``t``: a range
    that starts on a keyframe compares it with its start). A printed line: the same,
    with the time base of :func:`time_base_path`; None until that is written, or with
    ``rounded`` (progress) its ``pts_time``, rounded to the microsecond or coarser."""
    if line.startswith(b"frame:"):
        tb = _first_time_base(time_base_path(stats_path))
        if tb is None:
            return float(line.rsplit(b"pts_time:", 1)[1]) if rounded else None
        (pts,) = printed_pts(line + b"\n")
        return float(np.float64(int(pts)) * float(tb))
    pts, tb = line.split()
    num, den = tb.split(b"/")
    return float(np.float64(int(pts)) * float(Fraction(int(num), int(den))))
