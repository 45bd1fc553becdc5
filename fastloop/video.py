"""A video file as ffmpeg sees it: probed once, split into ranges, read by seeking.

:class:`Video` is a path probed once (``ffmpeg -i``, no ffprobe needed); it knows
whether a seek can be trusted (:attr:`Video.seekable`), how to split the file into
time ranges decoded in parallel (:meth:`Video.plan`), every packet's time without
decoding (:meth:`Video.packets`) and one full frame by seeking (:meth:`Video.frame`).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from pathlib import Path

import numpy as np

from . import ffmpeg
from .errors import DecodeError, InputError
from .ffmpeg.banner import VideoInfo, parse_probe
from .util import display_path, hms

#: Ranges shorter than this are not worth a process of their own.
MIN_RANGE_S = 20.0
#: A range bound moves to the nearest keyframe seen this many seconds past it...
KEYFRAME_SPAN_S = 12.0
#: ...where frames have at least this many pixels: there a GOP decoded twice costs
#: more than the look (60 ms; 0.3 s for a day-long MP4, whose index ffmpeg reads).
KEYFRAME_MIN_PIXELS = 320 * 240
#: Seconds to seek before a wanted full-resolution frame in files with an index (MP4,
#: Matroska): the seek lands on the keyframe before it anyway...
FRAME_SEEK_MARGIN_S = 1.0
#: ...and in files without one (MPEG-TS, raw streams), where a seek lands on any
#: packet: the decoder needs a keyframe before the wanted frame to show it intact.
FRAME_SEEK_MARGIN_UNINDEXED_S = 12.0


@dataclass(frozen=True)
class Range:
    """A half-open time range ``[start_s, end_s)`` of presentation timestamps.

    ``exact``: ``start_s`` is a keyframe's own time, so a seek there lands on it and
    decodes nothing before it (see :meth:`Video.plan`); otherwise the seek starts
    a margin early."""

    start_s: float | None = None
    end_s: float | None = None
    exact: bool = False

    def missed(self, first_s: float) -> bool:
        """Did the seek to this range land too late, its first frame at ``first_s``?
        A range started by a margin must see a frame before its start; one started
        on its keyframe must see that frame."""
        assert self.start_s is not None
        return first_s > self.start_s if self.exact else first_s >= self.start_s


def check_input(path: str | os.PathLike) -> Path:
    """Refuse paths that cannot be a video before any process is spawned.

    Only regular files pass: a FIFO or a device would block ffmpeg or feed it
    endless data.
    """
    p = Path(os.fspath(path))
    name = display_path(p)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except NotADirectoryError:
        raise InputError(f"{name}: no such file (a parent is not a directory)") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{name}: is a directory, not a video file")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{name}: not a regular file (a pipe, socket or device)")
    if not os.access(p, os.R_OK):
        raise InputError(f"{name}: permission denied")
    if st.st_size == 0:
        raise InputError(f"{name}: empty file")
    return p


def probe(path: str | os.PathLike, exe: str | None = None) -> VideoInfo:
    """Probe a video file with ``ffmpeg -i`` (ffprobe is not needed).

    Raises :class:`InputError` for a missing file, a directory, an empty file, a file
    ffmpeg cannot open, or a file without a video stream.

    Examples
    --------
    >>> info = probe("clip.mp4")  # doctest: +SKIP
    >>> info.width, info.height, info.fps
    (640, 360, 30.0)
    """
    p = check_input(path)
    url = ffmpeg.input_url(p)
    try:
        proc = ffmpeg.run(ffmpeg.probe_args(exe or ffmpeg.find_ffmpeg(), url), timeout=120)
    except subprocess.TimeoutExpired as exc:
        raise DecodeError(
            f"{display_path(p)}: ffmpeg took over 2 minutes to open the file"
        ) from exc
    # ffmpeg echoes the file name raw: a name holding a newline and "Stream #0:0:
    # Video: ..." would forge banner lines, so it is blanked before parsing.
    raw = proc.stderr.replace(os.fsencode(url), b"file:<input>")
    err = raw.decode("utf-8", "replace")
    if "Input #0" not in err:
        raise InputError(f"{display_path(p)}: not a readable video ({ffmpeg.open_failure(err)})")
    return parse_probe(str(p), err)


@dataclass(frozen=True)
class Packets:
    """Every video packet's presentation time (seconds from the start of the video,
    sorted, one per frame for frame-based codecs) and which of them are keyframes."""

    pts: np.ndarray
    key: np.ndarray


#: stream, dts, pts, duration, size, checksum[, F=flags when not just "key"]
_CRC_LINE = re.compile(
    rb"^\d+,\s*-?\d+,\s*(-?\d+),\s*\d+,\s*\d+,\s*0x[0-9a-f]+(?:, F=0x([0-9a-f]+))?"
)


def _crc_lines(lines) -> tuple[list[int], list[bool], Fraction | None]:
    """Each packet's pts and keyframe flag from ``framecrc`` lines, and the time base
    if a ``#tb`` line is among them."""
    pts, key, tb = [], [], None
    for line in lines:
        if line.startswith(b"#"):
            if line.startswith(b"#tb 0:"):
                tb = Fraction(line.split(b":")[1].strip().decode())
            continue
        m = _CRC_LINE.match(line)
        if m:
            pts.append(int(m.group(1)))
            key.append(m.group(2) is None or bool(int(m.group(2), 16) & 1))
    return pts, key, tb


class Video:
    """A local video file, probed once (lazily, at the first use of :attr:`info`).

    Examples
    --------
    >>> v = Video("clip.mp4")  # doctest: +SKIP
    >>> v.info.fps, v.seekable, len(v.plan(workers=2))
    (30.0, True, 2)
    """

    def __init__(self, path: str | os.PathLike, info: VideoInfo | None = None):
        self.path = os.fspath(path)
        if info is not None:
            self.__dict__["info"] = info

    def __repr__(self) -> str:
        return f"Video({display_path(self.path)!r})"

    def __getstate__(self) -> dict:
        # sent to another machine (a range task): its own ffmpeg, not this one's path
        return {k: v for k, v in self.__dict__.items() if k != "exe"}

    @cached_property
    def exe(self) -> str:
        return ffmpeg.find_ffmpeg()

    @cached_property
    def info(self) -> VideoInfo:
        return probe(self.path, self.exe)

    @property
    def url(self) -> str:
        return ffmpeg.input_url(self.path)

    @property
    def name(self) -> str:
        """The path, safe to print (see :func:`~fastloop.util.display_path`)."""
        return display_path(self.path)

    @property
    def seekable(self) -> bool:
        return self.info.seekable

    def plan(self, workers: int, keyframes: bool | None = False) -> list[Range]:
        """Split the file into ``workers`` time ranges, or one range when splitting is
        unsafe (a short file, a stream ffmpeg cannot seek in: see
        ``VideoInfo.split_margin_s``). Bounds are the frames' own times:
        a file that starts later (MPEG-TS at 1.4 s, a broadcast recording at its time
        of day) is split from its first timestamp.

        ``keyframes`` moves each bound of a file with an index to the keyframe nearest
        it (:meth:`keyframes_near`; ``None``: where frames are large enough for it to
        pay, :data:`KEYFRAME_MIN_PIXELS`). A range that starts on a keyframe decodes
        from there, where one that starts between keyframes decodes from the keyframe
        before its margin: at GOP 250, 6 s of 1080p more on average."""
        info = self.info
        if workers <= 1 or info.duration_s < 2 * MIN_RANGE_S or info.split_margin_s is None:
            return [Range()]
        k = int(min(workers, info.duration_s // MIN_RANGE_S))
        bounds = [round(info.start_s + info.duration_s * i / k, 3) for i in range(1, k)]
        if keyframes is None:
            keyframes = info.width * info.height >= KEYFRAME_MIN_PIXELS
        exact = [False] * len(bounds)
        if keyframes and info.seekable:
            step = info.duration_s / k
            with ThreadPoolExecutor(len(bounds)) as pool:
                found = list(pool.map(self.keyframes_near, bounds))
            for i, (t, keys) in enumerate(zip(bounds, found, strict=True)):
                keys = keys[np.abs(keys - t) < step / 2]  # ranges stay about equal
                if len(keys):
                    bounds[i] = float(keys[np.argmin(np.abs(keys - t))])
                    exact[i] = True
        starts = [None, *bounds]
        return [
            Range(s, e, i > 0 and exact[i - 1])
            for i, (s, e) in enumerate(zip(starts, [*bounds, None], strict=True))
        ]

    def keyframes_near(self, t: float) -> np.ndarray:
        """The times of the keyframes a seek to ``t`` (the frames' own time) lands
        on and meets in the :data:`KEYFRAME_SPAN_S` seconds after: the one at or
        before ``t`` and those after it, as ``pts * float(time base)`` (the arithmetic
        of the ``select`` filter and of the timestamp files, so a bound equals its
        frame's time exactly). Empty when ffmpeg cannot tell (it is then not used)."""
        args = ffmpeg.packets_args(
            self.exe, self.url, start_s=t - self.info.start_s, span_s=KEYFRAME_SPAN_S
        )
        try:
            proc = ffmpeg.run(args, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return np.empty(0)
        pts, key, tb = _crc_lines(proc.stdout.splitlines())
        if proc.returncode != 0 or tb is None:
            return np.empty(0)
        return np.array(pts, np.int64)[np.array(key, bool)].astype(np.float64) * float(tb)

    def packets(self, stop: threading.Event | None = None) -> Packets:
        """The time of every frame of the first video stream, without decoding any.

        Read as ffmpeg's ``framecrc`` lines come, so memory holds the result only (16
        bytes a frame). ``--fast`` needs it to know which frames it did not decode.
        Packets without a timestamp are left out. Setting ``stop`` kills ffmpeg and
        raises :class:`DecodeError`.
        """
        info = self.info
        proc = ffmpeg.spawn(
            ffmpeg.packets_args(self.exe, self.url),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        pts_parts, key_parts = [], []
        tb = None
        try:
            assert proc.stdout is not None
            rest = b""
            while True:
                block = proc.stdout.read1(1 << 22)
                if not block:
                    break
                if stop is not None and stop.is_set():
                    raise DecodeError("listing the video packets was stopped")
                block = rest + block
                cut = block.rfind(b"\n") + 1
                rest = block[cut:]
                pts, key, seen = _crc_lines(block[:cut].splitlines())
                tb = seen or tb
                pts_parts.append(np.array(pts, np.int64))
                key_parts.append(np.array(key, bool))
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if proc.returncode != 0 or tb is None:
            raise DecodeError(f"{self.name}: ffmpeg could not list the video packets")
        pts = np.concatenate(pts_parts) if pts_parts else np.empty(0, np.int64)
        key = np.concatenate(key_parts) if key_parts else np.empty(0, bool)
        valid = pts > -(1 << 62)  # AV_NOPTS_VALUE
        pts, key = pts[valid], key[valid]
        order = np.argsort(pts, kind="stable")
        pts, key = pts[order], key[order]
        first = np.ones(len(pts), bool)
        first[1:] = pts[1:] != pts[:-1]
        secs = pts[first].astype(np.float64) * float(tb) - info.start_s
        return Packets(pts=secs, key=key[first])

    def frame(self, t: float, max_width: int | None = None) -> np.ndarray:
        """The frame shown at ``t`` (seconds from the start of the video, as in
        :attr:`Fingerprint.pts`), found by seeking, as RGB uint8[h, w, 3]; see
        :func:`read_frame`."""
        info = self.info
        return read_frame(
            self.path,
            t,
            start_s=info.start_s,
            fps=info.fps,
            indexed=info.seekable,
            max_width=max_width,
            exe=self.exe,
        )


_PPM = re.compile(rb"P6\s+(\d+)\s+(\d+)\s+(\d+)\s")


def _parse_ppm(data: bytes) -> np.ndarray:
    m = _PPM.match(data)
    if not m:
        raise DecodeError("ffmpeg returned no picture")
    w, h, maxval = (int(g) for g in m.groups())
    need = w * h * 3
    body = data[m.end() : m.end() + need]
    if maxval != 255 or len(body) != need:
        raise DecodeError(f"ffmpeg returned a truncated picture ({len(body)} of {need} bytes)")
    return np.frombuffer(body, np.uint8).reshape(h, w, 3).copy()


def _run_seek(args: list[str], stats: str, name: str) -> tuple[np.ndarray, float] | None:
    try:
        proc = ffmpeg.run(args, timeout=600)
    except subprocess.TimeoutExpired as exc:
        raise DecodeError(f"{name}: ffmpeg took over 10 minutes to seek") from exc
    if proc.returncode != 0:
        raise DecodeError(
            f"{name}: ffmpeg failed to seek (exit {proc.returncode})",
            proc.stderr.decode("utf-8", "replace"),
            proc.returncode,
        )
    if not proc.stdout:
        return None
    pts, tb = ffmpeg.read_timestamps(stats)
    if not len(pts):
        raise DecodeError(f"{name}: ffmpeg gave a frame without its timestamp")
    return _parse_ppm(proc.stdout), int(pts[0]) * tb.numerator / tb.denominator


def read_frame(
    path: str | os.PathLike,
    t: float,
    *,
    start_s: float = 0.0,
    fps: float = 0.0,
    indexed: bool = True,
    max_width: int | None = None,
    exe: str | None = None,
) -> np.ndarray:
    """The frame shown at time ``t``, found by seeking, as RGB uint8[h, w, 3].

    Parameters
    ----------
    path : str or PathLike
        A local video file.
    t : float
        The frame's presentation time in seconds from the start of the video, as in
        :attr:`Fingerprint.pts <fastloop.fingerprint.Fingerprint.pts>`.
    start_s : float
        The video's start time (``Fingerprint.info["start_s"]``): ``t + start_s`` is
        the frame's timestamp in the file.
    fps : float
        Nominal frame rate: a frame is accepted when its timestamp is within 0.45
        frame intervals of the wanted one (10 ms when the rate is unknown).
    indexed : bool
        The container has an index (MP4, Matroska): a short seek margin is enough.
    max_width : int, optional
        Scale the frame down to at most this width (thumbnails).

    Raises
    ------
    DecodeError
        ffmpeg failed, or the video has no frame at that time.

    Examples
    --------
    >>> fp = fastloop.fingerprint("clip.mp4")  # doctest: +SKIP
    >>> read_frame("clip.mp4", fp.pts[400], start_s=fp.info["start_s"]).shape  # doctest: +SKIP
    (1080, 1920, 3)
    """
    exe = exe or ffmpeg.find_ffmpeg()
    name = display_path(path)
    tol = min(0.45 / fps, 0.02) if fps > 0 else 0.01
    tol = max(tol, 1e-4)
    t_abs = float(t) + float(start_s)
    margin = FRAME_SEEK_MARGIN_S if indexed else FRAME_SEEK_MARGIN_UNINDEXED_S
    url = ffmpeg.input_url(path)
    with tempfile.TemporaryDirectory(prefix="fastloop-seek-") as tmp:
        stats = os.path.join(tmp, "pts.txt")
        # seek first; if the seek landed past the frame (an imprecise container),
        # decode from the start instead
        for seek_s in (float(t) - margin, None):
            args = ffmpeg.frame_args(exe, url, t_abs, seek_s, tol, stats, max_width=max_width)
            got = _run_seek(args, stats, name)
            if got is not None and abs(got[1] - t_abs) <= tol:
                return got[0]
            if seek_s is None or seek_s <= 0:
                break
    raise DecodeError(f"{name}: no frame at {hms(t)} ({t_abs:.6f} s in the file)")
