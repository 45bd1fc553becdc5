"""Every ffmpeg command line fastloop runs, built here (pure functions: tested as lists).

The ones that output something are built with ffmpeg-python, which escapes filter
arguments; :func:`probe_args` has no output, which ffmpeg-python cannot express, so
it is the one list written out. Common to all: ``-nostdin`` (ffmpeg must never read
the terminal), ``-copyts`` (frame times as the file states them, so that a seek and a
timestamp file agree), the first video stream only, and the input given as a
``file:`` URL (see :func:`~fastloop.ffmpeg.binary.input_url`).
"""

from __future__ import annotations

import math

import ffmpeg as ffmpeg_python

from .logs import TIMESTAMP_FORMAT, TIMESTAMP_KEY, time_base_path

#: Seconds decoded before a range's start, to make sure the seek lands before it
#: (the default of ``margin``; see ``VideoInfo.split_margin_s``).
SEEK_MARGIN_S = 2.0
#: Seconds decoded past a range's end, at least (see ``decode_args``'s ``tail``).
END_MARGIN_S = 0.5
#: Decoder options of ``--fast``: frames no other frame refers to (most B-frames)
#: are not decoded at all. The missing frames are filled in from their neighbours.
FAST_INPUT = {"skip_frame": "noref"}
#: Stands for the input URL while ffmpeg-python builds the command line: it hashes
#: every argument as UTF-8, which a file name that is not UTF-8 cannot be.
_URL_SLOT = "\x00fastloop-input\x00"
#: Bytes of frames ffmpeg packs into one picture of a tiled decode (see
#: :func:`tile_frames`).
TILE_BYTES = 1 << 16


def _timestamps(stats_path: str) -> dict:
    """Output options that write each frame's timestamp, as the file has it, to a file
    (``-stats_enc_pre``: no measurable cost) and keep every frame as it comes."""
    return {
        "fps_mode": "passthrough",
        "enc_time_base": "demux",
        "stats_enc_pre": stats_path,
        "stats_enc_pre_fmt": TIMESTAMP_FORMAT,
    }


def tile_frames(frame_bytes: int) -> int:
    """Frames per picture when ``frame_bytes``-byte frames are sent tiled (1: not
    tiled). ffmpeg hands every picture from thread to thread, from its decoder through
    its filters to its encoder and muxer (some 23 futex calls a picture): for a
    576-byte frame that costs more than the decode itself. Stacked 64 to a picture
    after the scaler, the frames cross the encoder and the muxer 64 times less often
    (a 128x72 hour: 0.67x the time; 360p: 0.93x), and their bytes arrive in the same
    order as one by one."""
    return max(1, min(64, TILE_BYTES // max(1, frame_bytes)))


def _printed_timestamps(stream, stats_path: str, live: bool):
    """The frame-by-frame timestamps of a tiled decode: printed by the ``metadata``
    filter before the frames are stacked (``pts`` in the filter's time base, which is
    the stream's; the encoder's ``-stats_enc_pre`` of the tiled pictures names it, see
    :func:`~fastloop.ffmpeg.logs.read_timestamps`). ``live``: every line written at
    once (``direct``), for a caller that reads the file during the decode (a
    checkpoint); else buffered (0.95x the time)."""
    stream = stream.filter("metadata", mode="add", key=TIMESTAMP_KEY, value="1")
    opts = {"mode": "print", "key": TIMESTAMP_KEY, "file": "file:" + stats_path}
    if live:
        opts["direct"] = "1"
    return stream.filter("metadata", **opts)


def _compile(out, ffmpeg: str, url: str, loglevel: str, *extra: str) -> list[str]:
    """The list of an ffmpeg-python output, the URL put back and the global options
    first (ffmpeg-python appends them last; ffmpeg wants them before the input)."""
    args = [url if a == _URL_SLOT else a for a in out.compile(cmd=ffmpeg)]
    return [args[0], "-nostdin", "-hide_banner", "-loglevel", loglevel, *extra, *args[1:]]


def end_margin(fps: float, margin: float = SEEK_MARGIN_S) -> float:
    """Seconds read past a range's end: as many frames as H.264 may reorder (16),
    and :data:`END_MARGIN_S` at least (``margin`` when the frame rate is unknown)."""
    return max(END_MARGIN_S, 16 / fps) if fps > 0 else margin


def seek_arg(seconds: float) -> str:
    """``-ss`` for a seek to ``seconds`` (from the file's first timestamp), rounded
    down to the microsecond: a seek to a keyframe's own time must not ask for a time
    past it, or the frames before the wanted time that ffmpeg drops would include it."""
    return f"{math.floor(max(0.0, seconds) * 1e6) / 1e6:.6f}"


def probe_args(ffmpeg: str, url: str) -> list[str]:
    """``ffmpeg -i URL`` with no output: ffmpeg prints what the file holds and stops."""
    return [ffmpeg, "-hide_banner", "-nostdin", "-i", url]


def decode_args(
    ffmpeg: str,
    url: str,
    size: int,
    stats_path: str,
    *,
    start_s: float | None = None,
    end_s: float | None = None,
    threads: int | None = None,
    loglevel: str = "level+error",
    full_frame: tuple[int, int] | None = None,
    fast: bool = False,
    crop: tuple[int, int, int, int] | None = None,
    origin: float = 0.0,
    margin: float = SEEK_MARGIN_S,
    tail: float | None = None,
    filter_threads: int | None = None,
    tile: int = 1,
    live: bool = False,
) -> list[str]:
    """The command line that decodes ``[start_s, end_s)`` (None: the file's start or
    end) to raw ``size`` x ``size`` gray frames on stdout.

    ``-fps_mode passthrough`` keeps ffmpeg from inventing duplicate frames (they
    would look exactly like loops); ``scale=N:N:flags=area,format=gray`` was the
    fastest chain that does not alias. The seek starts ``margin`` seconds early and
    the ``select`` filter drops what is past the end; which early frames belong to the
    range is decided from their timestamps, by the caller. ``full_frame=(w, h)``
    outputs gray frames at that size instead (``buckets --exact``); ``fast`` decodes
    less (:data:`FAST_INPUT`). ``-max_error_rate 1``: ffmpeg 7+ aborts when over 2/3
    of the packets fail to decode, and a damaged file should yield the frames that
    decode. ``-flush_packets 0``: otherwise every 576-byte frame is a write of its own.
    ``crop`` (``w, h, x, y``) keeps only that part of the picture (a copy's black bars off).
    ``filter_threads`` (default ``threads``) sizes the filter graph's pool, which
    hands every frame to a thread of its own: for small frames the hand-offs cost
    more than the work (a 128x72 stream decodes 1.1-1.5x faster with one).

    ``tile`` > 1 (scaled frames only) stacks that many frames into each picture sent
    (:func:`tile_frames`): the pipe carries the same bytes, the last picture padded
    with black frames that the timestamp file, which then lists every frame as the
    ``metadata`` filter prints it (``live``: unbuffered), does not count; the
    encoder's own file (:func:`~fastloop.ffmpeg.logs.time_base_path`) gives the time
    base.

    ``start_s`` and ``end_s`` are the frames' own times (``-copyts``: what the
    ``select`` filter and the timestamp file see); ``-ss`` and ``-to`` count from the
    file's first timestamp, ``origin`` (an MPEG-TS file starts at 1.4 s, a broadcast
    recording at the time of day).

    ``margin`` is 0 for a range that starts on a keyframe (``Range.exact``): the seek
    lands on it. ``tail`` (default ``margin``) is how much more is read past the end.
    ``-to`` cuts the decoded frames, which come out in presentation order, so with
    ``tail=0`` a well-formed stream loses nothing (checked on MP4, MKV, MPEG-TS and
    WebM, B-frames and open GOPs): ``decode`` passes 0 where the next range starts on
    a keyframe. Elsewhere a tail keeps a damaged stream's frames whose timestamps
    step back a little past the end; ``select`` drops what is past it.
    """
    in_kwargs: dict = {"copyts": None}
    tiled = tile > 1 and full_frame is None
    if tiled:
        # a frame size or format that changes mid-stream must not rebuild the filter
        # graph: the new metadata filter would empty the timestamp file and the old
        # tile filter drop its unfinished picture (the scaler adapts by itself)
        in_kwargs["reinit_filter"] = 0
    if fast:
        in_kwargs.update(FAST_INPUT)
    if threads is not None:
        in_kwargs["threads"] = threads
    if start_s is not None:
        in_kwargs["ss"] = seek_arg(start_s - origin - margin)
    if end_s is not None:
        in_kwargs["to"] = f"{max(0.0, end_s - origin) + (margin if tail is None else tail):.6f}"
    stream = ffmpeg_python.input(_URL_SLOT, **in_kwargs)["v:0"]
    if end_s is not None:
        stream = stream.filter("select", f"lt(t,{end_s!r})")
    if crop is not None:
        w, h, x, y = (int(v) for v in crop)
        stream = stream.filter("crop", w, h, x, y)
    if full_frame is None:
        stream = stream.filter("scale", size, size, flags="area")
    else:
        stream = stream.filter("scale", full_frame[0], full_frame[1])
    stream = stream.filter("format", "gray")
    if tiled:
        stream = _printed_timestamps(stream, stats_path, live).filter("tile", f"1x{tile}")
        stats_path = time_base_path(stats_path)
    out = stream.output(
        "pipe:", format="rawvideo", pix_fmt="gray", flush_packets=0, **_timestamps(stats_path)
    )
    extra = ["-max_error_rate", "1"]
    if filter_threads is None:
        filter_threads = threads
    if filter_threads is not None:
        extra += ["-filter_complex_threads", str(filter_threads)]
    return _compile(out, ffmpeg, url, loglevel, *extra)


def cropdetect_args(ffmpeg: str, url: str) -> list[str]:
    """The command line that prints where a video's black bars end: ``cropdetect``
    on the keyframes alone (``-skip_frame nokey``: a fast decode), accumulated over
    all of them (``reset=0``); its last line ``crop=w:h:x:y`` holds everything that
    was not black in any keyframe (``skip=0``: a short clip may have one)."""
    stream = ffmpeg_python.input(_URL_SLOT, skip_frame="nokey")["v:0"]
    stream = stream.filter("cropdetect", limit=24, round=2, reset=0, skip=0)
    out = stream.output("-", format="null", fps_mode="passthrough")
    return _compile(out, ffmpeg, url, "info")


def packets_args(
    ffmpeg: str, url: str, *, start_s: float | None = None, span_s: float | None = None
) -> list[str]:
    """The command line that lists every packet of the first video stream without
    decoding it: the ``framecrc`` muxer prints one line per packet (timestamps, size,
    flags, a checksum), about as fast as reading the file.

    With ``start_s`` (from the file's first timestamp) it seeks there first and
    lists ``span_s`` seconds: a stream copy keeps the packets from the keyframe the
    seek lands on, so the first line is that keyframe."""
    in_kwargs: dict = {"copyts": None}
    if start_s is not None:
        in_kwargs["ss"] = seek_arg(start_s)
    if span_s is not None:
        in_kwargs["t"] = f"{span_s:.6f}"
    out = ffmpeg_python.input(_URL_SLOT, **in_kwargs)["v:0"].output("pipe:", c="copy", f="framecrc")
    return _compile(out, ffmpeg, url, "error")


def frame_args(
    ffmpeg: str,
    url: str,
    t_abs: float,
    seek_s: float | None,
    tol: float,
    stats_path: str,
    *,
    max_width: int | None = None,
) -> list[str]:
    """The command line that outputs the first frame at or after ``t_abs - tol``, in
    colour, as one PPM image (its size in the header).

    ``seek_s`` (seconds from the start of the file, as ``-ss`` counts them) is where
    ffmpeg jumps to before decoding; ``None`` decodes from the start. The ``select``
    filter sees the same absolute time that ``-stats_enc_pre`` writes for the frame.
    ``max_width`` scales the frame down to at most that width.
    """
    in_kwargs: dict = {"copyts": None}
    if seek_s is not None and seek_s > 0:
        in_kwargs["ss"] = f"{seek_s:.6f}"
    stream = ffmpeg_python.input(_URL_SLOT, **in_kwargs)["v:0"]
    stream = stream.filter("select", f"gte(t,{t_abs - tol:.9f})")
    if max_width:
        stream = stream.filter("scale", f"min(iw,{int(max_width)})", -2)
    out = stream.output(
        "pipe:",
        f="image2pipe",
        pix_fmt="rgb24",
        **{"c:v": "ppm", "frames:v": 1},
        **_timestamps(stats_path),
    )
    return _compile(out, ffmpeg, url, "error")
