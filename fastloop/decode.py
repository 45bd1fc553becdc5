"""The ffmpeg pipe: raw NxN gray frames and their timestamps, in batches.

Only this module (and :mod:`fastloop.media`) knows ffmpeg. ffmpeg scales every frame
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

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import ffmpeg as ffmpeg_python
import numpy as np

from .errors import DecodeError, FastloopError, InputError
from .media import VideoInfo, display_path, find_ffmpeg, input_url, probe
from .util import hms

#: Containers whose index makes a seek land exactly on a keyframe; others
#: (MPEG-TS, raw streams) are decoded by one process from start to end.
SEEKABLE_FORMATS = ("mov", "mp4", "m4a", "3gp", "matroska", "webm", "avi")
#: Seconds decoded before a range's start, to make sure the seek lands before it.
SEEK_MARGIN_S = 2.0
#: The same for fetching single frames (``grab``): decoding from the keyframe is the
#: cost, so no more than a rounding margin.
GRAB_MARGIN_S = 0.1
#: Ranges shorter than this are not worth a process of their own.
MIN_RANGE_S = 20.0
BATCH_FRAMES = 4096
#: Upper bound of one batch in bytes (full frames for ``buckets --exact``).
BATCH_BYTES = 16 << 20
#: Largest frame ``buckets --exact`` accepts (16K x 16K); hashes never see big frames.
MAX_FRAME_PIXELS = 1 << 28

#: Decoder options of ``--fast``: frames no other frame refers to (most B-frames)
#: are not decoded at all, and the deblocking filter is skipped in the others. The
#: missing frames are filled in from their neighbours (:func:`packet_times` gives the
#: full frame grid) and loop boundaries are put back on full-rate frames by
#: verification.
FAST_INPUT = {"skip_frame": "noref"}

ProgressFn = Callable[[int, int], None]
#: Stands for the input URL while ffmpeg-python builds the command line: it hashes
#: every argument as UTF-8, which a file name that is not UTF-8 cannot be.
_URL_SLOT = "\x00fastloop-input\x00"


@dataclass(frozen=True)
class Range:
    """A half-open time range ``[start_s, end_s)`` of presentation timestamps."""

    start_s: float | None = None
    end_s: float | None = None


def build_args(
    ffmpeg: str,
    url: str,
    size: int,
    stats_path: str,
    *,
    rng: Range = Range(),
    threads: int | None = None,
    loglevel: str = "level+error",
    full_frame: tuple[int, int] | None = None,
    fast: bool = False,
) -> list[str]:
    """The ffmpeg command line for one decode, as a list (pure: easy to test).

    ``-fps_mode passthrough`` keeps ffmpeg from inventing duplicate frames (they
    would look exactly like loops); only the first video stream is mapped, so audio,
    subtitles and data are not decoded; ``scale=N:N:flags=area,format=gray`` was the
    fastest chain that does not alias. ``full_frame=(w, h)`` outputs gray frames at that
    size instead (for ``buckets --exact``). ``fast`` decodes less (see :data:`FAST_INPUT`).
    """
    in_kwargs: dict = {"copyts": None}
    if fast:
        in_kwargs.update(FAST_INPUT)
    readrate = os.environ.get("FASTLOOP_READRATE")  # test hook: decode no faster than this
    if readrate:
        in_kwargs["readrate"] = readrate
    if threads is not None:
        in_kwargs["threads"] = threads
    if rng.start_s is not None:
        in_kwargs["ss"] = f"{max(0.0, rng.start_s - SEEK_MARGIN_S):.6f}"
    if rng.end_s is not None:
        in_kwargs["to"] = f"{rng.end_s + SEEK_MARGIN_S:.6f}"
    stream = ffmpeg_python.input(_URL_SLOT, **in_kwargs)["v:0"]
    if rng.end_s is not None:
        stream = stream.filter("select", f"lt(t,{rng.end_s!r})")
    if full_frame is None:
        stream = stream.filter("scale", size, size, flags="area")
    else:
        stream = stream.filter("scale", full_frame[0], full_frame[1])
    stream = stream.filter("format", "gray")
    out = stream.output(
        "pipe:",
        format="rawvideo",
        pix_fmt="gray",
        fps_mode="passthrough",
        enc_time_base="demux",
        stats_enc_pre=stats_path,
        stats_enc_pre_fmt="{pts} {tb}",
        # without it every 576-byte frame is its own write: 85k pipe reads an hour
        flush_packets=0,
    )
    args = [url if a == _URL_SLOT else a for a in out.compile(cmd=ffmpeg)]
    # ffmpeg-python appends global options last; ffmpeg wants them first.
    # -max_error_rate 1: ffmpeg 7+ aborts when over 2/3 of the packets fail to decode;
    # a damaged file should yield the frames that decode (the gaps become warnings).
    return [
        args[0],
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        loglevel,
        "-max_error_rate",
        "1",
        *args[1:],
    ]


def plan_ranges(info: VideoInfo, container: str, workers: int) -> list[Range]:
    """Split a file into ``workers`` time ranges, or one range when splitting is unsafe."""
    if (
        workers <= 1
        or info.duration_s < 2 * MIN_RANGE_S
        or abs(info.start_s) > 1e-3
        or not any(c in SEEKABLE_FORMATS for c in container.split(","))
    ):
        return [Range()]
    k = int(min(workers, info.duration_s // MIN_RANGE_S))
    bounds = [round(info.duration_s * i / k, 3) for i in range(1, k)]
    starts = [None, *bounds]
    ends = [*bounds, None]
    return [Range(s, e) for s, e in zip(starts, ends, strict=True)]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Make the kernel kill ffmpeg if fastloop dies, even by SIGKILL (Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _grow_pipe(pipe, size: int = 1 << 20) -> None:
    """Give the pipe a 1 MB buffer (Linux; 64 KB otherwise): ffmpeg keeps decoding
    while Python is busy for a moment (loading numba's cache at the first batch)."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (OSError, ImportError, AttributeError, ValueError):
        pass


def _read_pts(stats_path: str, complete_only: bool = False) -> tuple[np.ndarray, Fraction]:
    """Parse a ``-stats_enc_pre`` file of ``pts tb`` lines (with ``complete_only``,
    ignore a last line ffmpeg is still writing)."""
    try:
        with open(stats_path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        if complete_only:
            return np.empty(0, np.int64), Fraction(1, 1)
        raise
    if complete_only:
        data = data[: data.rfind(b"\n") + 1]
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


def _last_time(stats_path: str) -> float | None:
    """The timestamp (seconds) of the last complete line of a ``pts tb`` stats file."""
    try:
        with open(stats_path, "rb") as fh:
            fh.seek(max(0, os.path.getsize(stats_path) - 256))
            lines = fh.read().split(b"\n")[:-1]  # the last piece may be incomplete
        pts, tb = lines[-1].split()
        num, den = tb.split(b"/")
        return int(pts) * int(num) / int(den)
    except (OSError, ValueError, IndexError):
        return None


class _Worker:
    """One ffmpeg process decoding one range; its frames go to ``on_frames``."""

    def __init__(self, args: list[str], stats: str, errlog: str, frame_bytes: int):
        self.args = args
        self.stats = stats
        self.errlog = errlog
        self.frame_bytes = frame_bytes
        self.proc: subprocess.Popen | None = None
        self.frames = 0
        self.error: BaseException | None = None
        self.truncated_bytes = 0
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        with open(self.errlog, "wb") as err:
            self.proc = subprocess.Popen(
                self.args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                bufsize=0,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        _grow_pipe(self.proc.stdout)

    def pump(self, on_frames: Callable[[np.ndarray], None], stop: threading.Event) -> None:
        """Read whole frames in large batches until EOF; never pass on a partial frame."""
        assert self.proc is not None and self.proc.stdout is not None
        per_batch = max(1, min(BATCH_FRAMES, BATCH_BYTES // self.frame_bytes))
        buf = bytearray(self.frame_bytes * per_batch)
        view = memoryview(buf)
        have = 0
        try:
            while not stop.is_set():
                got = self.proc.stdout.readinto(view[have:])
                if not got:
                    break
                have += got
                whole = have // self.frame_bytes
                if whole and (have == len(buf) or whole >= min(64, per_batch)):
                    n = whole * self.frame_bytes
                    frames = np.frombuffer(buf, np.uint8, n).copy()
                    on_frames(frames.reshape(whole, self.frame_bytes))
                    self.frames += whole
                    buf[: have - n] = buf[n:have]
                    have -= n
            whole = have // self.frame_bytes
            if whole and not stop.is_set():
                n = whole * self.frame_bytes
                on_frames(np.frombuffer(buf, np.uint8, n).copy().reshape(whole, -1))
                self.frames += whole
                have -= n
            self.truncated_bytes = have
        except BaseException as exc:
            self.error = exc

    def stderr_tail(self, lines: int = 8) -> str:
        try:
            with open(self.errlog, "rb") as fh:
                fh.seek(max(0, os.path.getsize(self.errlog) - 8192))
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def errors(self, limit: int = 1 << 20, warnings: bool = False) -> list[str]:
        """The error lines ffmpeg logged, prefixes off (``warnings``: the other lines).

        ffmpeg runs with ``-loglevel level+...``, so each line carries its level."""
        try:
            with open(self.errlog, "rb") as fh:
                text = fh.read(limit).decode("utf-8", "replace")
        except OSError:
            return []
        out = []
        for ln in text.splitlines():
            m = _LOG_PREFIX.match(ln)
            prefix = m.group(0) if m else ""
            is_error = any(t in prefix for t in ("[error]", "[fatal]", "[panic]"))
            if is_error != warnings:
                ln = ln[len(prefix) :].strip()
                if ln:
                    out.append(ln)
        return out

    def kill(self) -> None:
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


_LOG_PREFIX = re.compile(r"^(?:\[[^\]]*\]\s*)+")


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


#: ``--fast`` skips up to this many frames in a row (x264 allows 16 B-frames).
FAST_MAX_GAP = 17.5


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
    """What a decode returns besides the frames it handed out: per range, the frame
    count and timestamps (seconds from the start of the file), and what was kept."""

    pts: np.ndarray
    keep: list[np.ndarray]
    frames: list[int]
    warnings: list[str]


def decode(
    path: str | os.PathLike,
    size: int,
    on_frames: Callable[[int, np.ndarray], None],
    *,
    info: VideoInfo | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    full_frame: bool = False,
    loglevel: str = "level+error",
    log: Callable[[str], None] | None = None,
    ranges: list[Range] | None = None,
    on_start: Callable[[list[str]], None] | None = None,
    on_stop: Callable[[], None] | None = None,
    fast: bool = False,
) -> tuple[VideoInfo, Decoded]:
    """Decode ``path`` to gray ``size`` x ``size`` frames, calling
    ``on_frames(range_index, frames)`` with uint8[n, size*size] batches from one
    reader thread per range (frames of one range arrive in order).

    ``ranges`` overrides the split (a resumed scan decodes what is missing);
    ``on_start(stats_paths)`` receives each range's timestamp file as ffmpeg writes it
    (complete lines are final), and ``on_stop()`` runs once the children are gone but
    before those files are, on every exit path: a checkpoint can save what was done.

    After the call, ``Decoded.keep[r]`` says which of range r's frames belong to it
    (a worker starts a little before its range) and ``Decoded.pts`` holds the kept
    frames' timestamps in seconds, ranges in order. The ffmpeg children are killed and
    reaped on every exit path: error, KeyboardInterrupt, or an exception raised by
    ``on_frames``.

    ``fast`` decodes only the frames other frames refer to (:data:`FAST_INPUT`);
    progress is then counted in frame intervals of video time, not frames received.
    """
    exe = find_ffmpeg()
    if info is None:
        info = probe(path, exe)
    if log is not None and loglevel == "level+error":
        loglevel = "level+warning"  # verbose: ffmpeg's warnings are shown too
    if full_frame:
        if info.width <= 0 or info.height <= 0:
            raise InputError(f"{path}: unknown frame size")
        if info.width * info.height > MAX_FRAME_PIXELS:
            raise InputError(
                f"{display_path(path)}: {info.width}x{info.height} frames are too large "
                f"for --exact (over {MAX_FRAME_PIXELS:,} pixels)"
            )
        frame_bytes = info.width * info.height
    else:
        frame_bytes = size * size
    if workers is None:
        workers = os.cpu_count() or 1
    if ranges is None:
        ranges = plan_ranges(info, info.container, workers) if not full_frame else [Range()]
    threads = 1 if len(ranges) > 1 else None
    tmp = tempfile.mkdtemp(prefix="fastloop-")
    url = input_url(path)
    work = []
    for r, rng in enumerate(ranges):
        stats = os.path.join(tmp, f"pts{r}.txt")
        args = build_args(
            exe,
            url,
            size,
            stats,
            rng=rng,
            threads=threads,
            loglevel=loglevel,
            full_frame=(info.width, info.height) if full_frame else None,
            fast=fast,
        )
        if log:
            log(" ".join(args))
        work.append(_Worker(args, stats, os.path.join(tmp, f"err{r}.txt"), frame_bytes))
    stop = threading.Event()
    total = info.frames_estimate
    done = [0]
    lock = threading.Lock()

    reached = [0.0] * len(ranges)  # fast: seconds of each range decoded so far

    def sink(r: int) -> Callable[[np.ndarray], None]:
        def call(frames: np.ndarray) -> None:
            on_frames(r, frames)
            if progress is None:
                return
            if fast and info.fps > 0:
                # frames are skipped: count video time, in nominal frames
                t = _last_time(work[r].stats)
                if t is not None:
                    lo = ranges[r].start_s if ranges[r].start_s is not None else info.start_s
                    reached[r] = max(reached[r], t - lo)
                with lock:
                    progress(min(total, round(sum(reached) * info.fps)), total)
                return
            with lock:
                done[0] += len(frames)
                progress(done[0], total)

        return call

    try:
        for w in work:
            w.start()
        if on_start is not None:
            on_start([w.stats for w in work])
        for r, w in enumerate(work):
            w.thread = threading.Thread(target=w.pump, args=(sink(r), stop), daemon=True)
            w.thread.start()
        for w in work:
            assert w.thread is not None
            while w.thread.is_alive():
                w.thread.join(0.2)
            if w.error is not None:
                raise w.error
        for w in work:
            assert w.proc is not None
            w.proc.wait()
        warnings: list[str] = []
        if log is not None:
            for w in work:
                for line in w.errors(warnings=True):
                    log(f"ffmpeg: {line}")
        name = display_path(path)
        if sum(w.frames for w in work) == 0 and all(
            w.proc is not None
            and (w.proc.returncode == 0 or "received no packets" in w.stderr_tail())
            for w in work
        ):
            raise InputError(f"{name}: no video frames could be decoded (the stream is empty)")
        for w in work:
            assert w.proc is not None
            if w.proc.returncode != 0:
                raise DecodeError(
                    f"{name}: ffmpeg failed (exit {w.proc.returncode})",
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
        errors = [w.errors() for w in work]
        gap = FAST_MAX_GAP if fast else 1.5
        dec.warnings.extend(damage_warnings(info, dec.pts, errors, gap))
        return info, dec
    except BaseException:
        stop.set()
        raise
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


def _assemble(info: VideoInfo, ranges: list[Range], work: list[_Worker], warnings) -> Decoded:
    pts_all = []
    keep = []
    for rng, w in zip(ranges, work, strict=True):
        pts, tb = _read_pts(w.stats)
        if len(pts) != w.frames:
            # A frame without its timestamp line (or the reverse): should not happen,
            # but never pair a frame with another frame's time.
            if len(pts) > w.frames:
                pts = pts[: w.frames]
            else:
                raise DecodeError(f"ffmpeg reported {len(pts)} timestamps for {w.frames} frames")
        # The same double arithmetic as ffmpeg's ``t`` in the select filter, so the
        # seam between two ranges is decided identically on both sides.
        secs = pts.astype(np.float64) * float(tb)
        k = np.ones(len(secs), bool)
        if rng.start_s is not None:
            k = secs >= rng.start_s
            if not len(secs) or secs[0] >= rng.start_s:
                raise _SeekMissed(rng.start_s, float(secs[0]) if len(secs) else -1.0)
        pts_all.append(secs[k] - info.start_s)
        keep.append(k)
    pts = np.concatenate(pts_all) if pts_all else np.empty(0)
    if len(pts) > 1 and np.any(np.diff(pts) < 0):
        warnings.append("timestamps go backwards: frames are numbered in output order")
    return Decoded(pts=pts, keep=keep, frames=[w.frames for w in work], warnings=warnings)


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


def packet_times(
    path: str | os.PathLike, info: VideoInfo | None = None, stop: threading.Event | None = None
) -> Packets:
    """The time of every frame of the first video stream, without decoding any.

    The stream is copied to ffmpeg's ``framecrc`` muxer, which prints one line per
    packet (time stamps, size, flags, a checksum of the bytes): about as fast as
    reading the file. ``--fast`` needs it to know which frames it did not decode,
    and keyframe times tell what a seek costs. Read as it comes, so memory holds the
    result only (16 bytes a frame). Packets without a timestamp are left out.
    Setting ``stop`` kills ffmpeg and raises :class:`DecodeError`.
    """
    exe = find_ffmpeg()
    if info is None:
        info = probe(path, exe)
    args = [exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-copyts", "-i"]
    args += [input_url(path), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "pipe:"]
    proc = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
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
            pts, key = [], []
            for line in block[:cut].splitlines():
                if line.startswith(b"#"):
                    if line.startswith(b"#tb 0:"):
                        tb = Fraction(line.split(b":")[1].strip().decode())
                    continue
                m = _CRC_LINE.match(line)
                if m:
                    pts.append(int(m.group(1)))
                    key.append(m.group(2) is None or int(m.group(2), 16) & 1)
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
        raise DecodeError(f"{display_path(path)}: ffmpeg could not list the video packets")
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


class _SeekMissed(FastloopError):
    """A worker's seek landed after its range start; the caller decodes serially."""

    def __init__(self, want: float, got: float):
        super().__init__(f"seek to {want:.3f}s landed at {got:.3f}s")


def grab(
    path: str | os.PathLike,
    times_s: np.ndarray,
    size: tuple[int, int],
    *,
    info: VideoInfo | None = None,
    timeout: float = 120.0,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fetch the frames shown at ``times_s`` (seconds from the start of the video, as
    in :attr:`Fingerprint.pts`) by seeking, as gray ``size`` (w, h) pictures.

    One ffmpeg seeks to just before the earliest time and decodes up to the latest,
    keeping only the frames whose timestamps are the requested ones, so keep the
    times of one call close together. Returns ``(frames uint8[k, h, w], pts)`` with
    one row per requested time (the frame nearest to it).
    """
    exe = find_ffmpeg()
    if info is None:
        info = probe(path, exe)
    times = np.asarray(times_s, np.float64)
    if times.size == 0:
        return np.empty((0, size[1], size[0]), np.uint8), times
    absolute = times + info.start_s
    eps = 0.25 / info.fps if info.fps > 0 else 0.005
    picks = "+".join(f"lt(abs(t-{float(t)!r})\\,{eps!r})" for t in np.unique(absolute))
    w, h = size
    tmp = tempfile.mkdtemp(prefix="fastloop-grab-")
    stats = os.path.join(tmp, "pts.txt")
    # MPEG-TS and raw streams have no index: -ss lands after the target, so they are
    # decoded from the start (as decode() does for them).
    seekable = any(c in SEEKABLE_FORMATS for c in info.container.split(","))
    # -ss and -to count from the start of the file; select sees absolute timestamps.
    # ffmpeg seeks to the keyframe before -ss by itself; the small margin only keeps
    # the accurate seek from dropping the wanted frame on a rounding tie
    seek = ["-ss", f"{max(0.0, times.min() - GRAB_MARGIN_S):.6f}"] if seekable else []
    args = [
        exe,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-copyts",
        *(["-threads", str(threads)] if threads else []),
        *seek,
        "-to",
        f"{times.max() + GRAB_MARGIN_S:.6f}",
        "-i",
        input_url(path),
        "-map",
        "0:v:0",
        "-vf",
        f"select={picks},scale={w}:{h}:flags=area,format=gray",
        "-fps_mode",
        "passthrough",
        "-enc_time_base",
        "demux",
        "-stats_enc_pre",
        stats,
        "-stats_enc_pre_fmt",
        "{pts} {tb}",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "gray",
        "pipe:",
    ]
    try:
        proc = subprocess.run(
            args,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            preexec_fn=_die_with_parent,
        )
        if proc.returncode != 0:
            raise DecodeError(
                f"{path}: ffmpeg failed to fetch frames",
                proc.stderr.decode("utf-8", "replace"),
                proc.returncode,
            )
        k = len(proc.stdout) // (w * h)
        frames = np.frombuffer(proc.stdout, np.uint8, k * w * h).reshape(k, h, w)
        pts, tb = _read_pts(stats)
        got = pts[:k].astype(np.float64) * float(tb)
    except subprocess.TimeoutExpired as exc:
        raise DecodeError(f"{path}: fetching frames took over {timeout:.0f} s") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if k == 0:
        raise DecodeError(f"{path}: no frame found at {times.min():.3f}-{times.max():.3f} s")
    nearest = np.abs(got[None, :] - absolute[:, None]).argmin(axis=1)
    return frames[nearest].copy(), got[nearest] - info.start_s


# --------------------------------------------------------------------------- one full frame

#: Seconds to seek before a wanted full-resolution frame in files with an index (MP4,
#: Matroska): the seek lands on the keyframe before it anyway...
FRAME_SEEK_MARGIN_S = 1.0
#: ...and in files without one (MPEG-TS, raw streams), where a seek lands on any
#: packet: the decoder needs a keyframe before the wanted frame to show it intact.
FRAME_SEEK_MARGIN_UNINDEXED_S = 12.0


def seek_args(
    ffmpeg: str,
    url: str,
    t_abs: float,
    seek_s: float | None,
    tol: float,
    stats_path: str,
    *,
    max_width: int | None = None,
) -> list[str]:
    """The ffmpeg command line that outputs the first frame at or after ``t_abs - tol``.

    ``seek_s`` (seconds from the start of the file, as ``-ss`` counts them) is where
    ffmpeg jumps to before decoding; ``None`` decodes from the start. ``-copyts``
    keeps the stream's own timestamps, so ``t`` in the ``select`` filter is the
    same absolute time that ``-stats_enc_pre`` writes for the frame. The frame comes
    out as one PPM image (size in its header), scaled down to ``max_width`` if given.
    Pure: tested as a list.
    """
    args = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-copyts"]
    if seek_s is not None and seek_s > 0:
        args += ["-ss", f"{seek_s:.6f}"]
    vf = f"select='gte(t,{t_abs - tol:.9f})'"
    if max_width:
        vf += f",scale='min(iw,{int(max_width)})':-2"
    args += ["-i", url, "-map", "0:v:0", "-vf", vf, "-frames:v", "1"]
    args += ["-fps_mode", "passthrough", "-enc_time_base", "demux"]
    args += ["-stats_enc_pre", stats_path, "-stats_enc_pre_fmt", "{pts} {tb}"]
    args += ["-f", "image2pipe", "-c:v", "ppm", "-pix_fmt", "rgb24", "pipe:"]
    return args


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


def _run_seek(args: list[str], stats: str, path: str) -> tuple[np.ndarray, float] | None:
    try:
        proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
    except subprocess.TimeoutExpired as exc:
        raise DecodeError(f"{path}: ffmpeg took over 10 minutes to seek") from exc
    if proc.returncode != 0:
        raise DecodeError(
            f"{path}: ffmpeg failed to seek (exit {proc.returncode})",
            proc.stderr.decode("utf-8", "replace"),
            proc.returncode,
        )
    if not proc.stdout:
        return None
    with open(stats, "rb") as fh:
        tokens = fh.read().split()
    if len(tokens) < 2:
        raise DecodeError(f"{path}: ffmpeg gave a frame without its timestamp")
    num, den = tokens[1].split(b"/")
    return _parse_ppm(proc.stdout), int(tokens[0]) * int(num) / int(den)


def read_frame(
    path: str | os.PathLike,
    t: float,
    *,
    start_s: float = 0.0,
    fps: float = 0.0,
    indexed: bool = True,
    max_width: int | None = None,
    ffmpeg: str | None = None,
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
    exe = ffmpeg or find_ffmpeg()
    tol = min(0.45 / fps, 0.02) if fps > 0 else 0.01
    tol = max(tol, 1e-4)
    t_abs = float(t) + float(start_s)
    margin = FRAME_SEEK_MARGIN_S if indexed else FRAME_SEEK_MARGIN_UNINDEXED_S
    with tempfile.TemporaryDirectory(prefix="fastloop-seek-") as tmp:
        stats = os.path.join(tmp, "pts.txt")
        # seek first; if the seek landed past the frame (an imprecise container),
        # decode from the start instead
        for seek_s in (float(t) - margin, None):
            args = seek_args(exe, input_url(path), t_abs, seek_s, tol, stats, max_width=max_width)
            got = _run_seek(args, stats, os.fspath(path))
            if got is not None and abs(got[1] - t_abs) <= tol:
                return got[0]
            if seek_s is None or seek_s <= 0:
                break
    raise DecodeError(f"{path}: no frame at {hms(t)} ({t_abs:.6f} s in the file)")
