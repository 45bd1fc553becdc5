"""End-to-end contenders: each decodes (and hashes) one whole clip; all get the same file.

1. the limit: ffmpeg alone, same filter as fastloop, null muxer, no Python:
   ``limit-halves``  two single-threaded ffmpeg at once, one per half of the file
                    (the second seeks with ``-ss``: it decodes from the keyframe before);
   ``limit-keyframes`` the same two, split at the keyframe nearest the middle (as
                    fastloop splits a file whose frames are large): nothing decoded twice;
   ``limit-threads`` one ffmpeg with its default threads;
   the limit is the fastest of the three (by median).
   ``ffmpeg-null``  plain ``ffmpeg -i X -f null -``: what a user would try first.
2. ``blog-bytes``   the blog's method: imageio's ffmpeg reader (v2 ``get_reader``), every
                    full RGB frame hashed in Python (``hash(frame.tobytes())``, the fastest
                    of hash/md5/sha1/blake2b measured here) into a dict.
3. ``blog-ahash``   the blog's aHash: a PIL image per full frame, ``imagehash.average_hash``
                    (PIL resize to 8x8), into a dict.
4. ``numpy-pipe``   fastloop's own pipe (``fastloop.decode.decode``: the same ffmpeg ranges
                    and 24x24 gray frames) but every frame hashed in numpy, one frame at a
                    time, into a dict: what numba replaces.
5. ``fastloop-scan`` the CLI, whole process: ``python -m fastloop scan --format json``;
   ``fastloop-ffmpeg`` fastloop's exact ffmpeg command lines (``Video.plan`` +
                    ``decode_args``) run alone, output discarded (diagnostic: the cost of
                    its range plan, without Python);
   ``fastloop-fingerprint`` the API in-process: ``fastloop.fingerprint(path)``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable

import numpy as np

from .common import ffmpeg_exe, run, run_parallel, scan_cli

SIZE = 24
FILTER = f"scale={SIZE}:{SIZE}:flags=area,format=gray"

LABELS = {
    "limit-halves": "ffmpeg alone: 2 single-threaded processes, one per half",
    "limit-keyframes": "ffmpeg alone: 2 single-threaded processes, split on a keyframe",
    "limit-threads": "ffmpeg alone: 1 process, default threads",
    "ffmpeg-null": "plain `ffmpeg -i X -f null -`",
    "blog-bytes": "blog: imageio reader + hash(full frame bytes) in a dict",
    "blog-ahash": "blog: imageio + PIL + imagehash.average_hash in a dict",
    "numpy-pipe": "fastloop's pipe + numpy per-frame aHash in a dict",
    "fastloop-scan": "`python -m fastloop scan --format json` (whole process)",
    "fastloop-ffmpeg": "fastloop's own ffmpeg commands alone, output discarded (diagnostic)",
    "fastloop-fingerprint": "`fastloop.fingerprint()` in-process (API)",
}


def _null_args(exe: str, path: str, pre: list[str]) -> list[str]:
    return [
        exe,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        *pre,
        "-i",
        path,
        "-map",
        "0:v:0",
        "-vf",
        FILTER,
        "-fps_mode",
        "passthrough",
        "-f",
        "null",
        "-",
    ]


def limit_halves_args(path: str, duration_s: float) -> list[list[str]]:
    exe = ffmpeg_exe()
    mid = f"{duration_s / 2:.6f}"
    return [
        _null_args(exe, path, ["-filter_threads", "1", "-threads", "1", "-to", mid]),
        _null_args(exe, path, ["-filter_threads", "1", "-threads", "1", "-ss", mid]),
    ]


def limit_keyframes_args(path: str, duration_s: float) -> list[list[str]]:
    """:func:`limit_halves_args` split where fastloop splits: on the keyframe nearest
    the middle (the halves' when there is no such keyframe)."""
    from fastloop.ffmpeg.commands import seek_arg
    from fastloop.video import Video

    video = Video(path)
    plan = video.plan(2, keyframes=True)
    if len(plan) != 2 or not plan[1].exact:
        return limit_halves_args(path, duration_s)
    exe = ffmpeg_exe()
    at = seek_arg(plan[1].start_s - video.info.start_s)
    one = ["-filter_threads", "1", "-threads", "1"]
    return [_null_args(exe, path, [*one, "-to", at]), _null_args(exe, path, [*one, "-ss", at])]


def make(clip: dict) -> dict[str, Callable[[], dict | None]]:
    """The contenders for one clip, as zero-argument callables."""
    path = clip["path"]
    exe = ffmpeg_exe()
    halves = limit_halves_args(path, clip["duration_s"])
    on_keys = limit_keyframes_args(path, clip["duration_s"])
    threads = _null_args(exe, path, [])
    plain = [exe, "-nostdin", "-i", path, "-f", "null", "-"]

    def limit_halves():
        run_parallel(halves)

    def limit_keyframes():
        run_parallel(on_keys)

    def limit_threads():
        run(threads)

    def ffmpeg_null():
        run(plain)

    def blog_bytes():
        import imageio.v2 as iio

        table: dict[int, list[int]] = {}
        with iio.get_reader(path, "ffmpeg") as reader:
            for i, frame in enumerate(reader):
                table.setdefault(hash(frame.tobytes()), []).append(i)
        return {"frames_seen": sum(map(len, table.values())), "groups": len(table)}

    def blog_ahash():
        import imagehash
        import imageio.v2 as iio
        from PIL import Image

        table: dict[str, list[int]] = {}
        with iio.get_reader(path, "ffmpeg") as reader:
            for i, frame in enumerate(reader):
                h = str(imagehash.average_hash(Image.fromarray(frame)))
                table.setdefault(h, []).append(i)
        return {"frames_seen": sum(map(len, table.values())), "groups": len(table)}

    def numpy_pipe():
        from fastloop.decode import decode

        tables: dict[int, dict[bytes, list[int]]] = {}
        counts: dict[int, int] = {}

        def on_frames(r: int, frames: np.ndarray) -> None:
            table = tables.setdefault(r, {})
            n = counts.get(r, 0)
            area = SIZE * SIZE
            for f in frames:
                key = np.packbits(f.astype(np.int32) * area > int(f.sum())).tobytes()
                table.setdefault(key, []).append(n)
                n += 1
            counts[r] = n

        dec = decode(path, SIZE, on_frames)
        kept = int(sum(int(k.sum()) for k in dec.keep))
        return {"frames_seen": kept}

    def fastloop_scan():
        res = scan_cli(path)
        return _scan_summary(res, clip)

    def fastloop_ffmpeg():
        with tempfile.TemporaryDirectory(prefix="fastloop-bench-") as tmp:
            run_parallel(fastloop_commands(path, tmp))

    def fastloop_fingerprint():
        import fastloop

        fp = fastloop.fingerprint(path)
        return {"frames_seen": len(fp), "timing": fp.info.get("timing", {})}

    return {
        "limit-halves": limit_halves,
        "limit-keyframes": limit_keyframes,
        "limit-threads": limit_threads,
        "ffmpeg-null": ffmpeg_null,
        "blog-bytes": blog_bytes,
        "blog-ahash": blog_ahash,
        "numpy-pipe": numpy_pipe,
        "fastloop-scan": fastloop_scan,
        "fastloop-ffmpeg": fastloop_ffmpeg,
        "fastloop-fingerprint": fastloop_fingerprint,
    }


def fastloop_commands(path: str, folder: str) -> list[list[str]]:
    """fastloop's ffmpeg command lines for ``path`` (its range plan: one range per
    core, two for a long video of tiny frames, bounds on keyframes where it moves them
    there), writing frames to stdout, which the caller discards, and timestamps to
    ``folder``."""
    from fastloop.decode import _pipes, default_workers
    from fastloop.video import Video

    video = Video(path)
    ranges = video.plan(default_workers(video.info), keyframes=None)
    threads = 1 if len(ranges) > 1 else None
    return [w.args for w in _pipes(video, SIZE, ranges, folder, False, False, None, threads)]


def fastloop_ranges(path: str) -> list[dict]:
    from fastloop.decode import default_workers, read_margins
    from fastloop.video import Video

    video = Video(path)
    plan = video.plan(default_workers(video.info), keyframes=None)
    out = []
    for r, before, after in zip(plan, *read_margins(video.info, plan), strict=True):
        start = None if r.start_s is None else max(0.0, r.start_s - before)
        end = None if r.end_s is None else r.end_s + after
        out.append({"range": [r.start_s, r.end_s], "decoded": [start, end], "exact": r.exact})
    return out


def _scan_summary(res: dict, clip: dict) -> dict:
    doc = res["json"]
    return {
        "wall_s": res["wall_s"],
        "frames_seen": doc.get("frames"),
        "timing": doc.get("timing", {}),
        "loops": doc.get("loops", []),
    }


def keyframes(path: str) -> list[float]:
    """Keyframe times (s) of the first video stream (decodes keyframes only)."""
    exe = ffmpeg_exe()
    with tempfile.TemporaryDirectory() as tmp:
        stats = os.path.join(tmp, "k.txt")
        subprocess.run(
            [
                exe,
                "-nostdin",
                "-v",
                "error",
                "-skip_frame",
                "nokey",
                "-i",
                path,
                "-map",
                "0:v:0",
                "-fps_mode",
                "passthrough",
                "-enc_time_base",
                "demux",
                "-stats_enc_pre",
                stats,
                "-stats_enc_pre_fmt",
                "{pts} {tb}",
                "-f",
                "null",
                "-",
            ],
            check=True,
            capture_output=True,
        )
        out = []
        with open(stats) as fh:
            for line in fh:
                pts, tb = line.split()
                num, den = tb.split("/")
                out.append(round(int(pts) * int(num) / int(den), 3))
    return out
