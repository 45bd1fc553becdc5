"""Looped videos with known ground truth, made by ffmpeg: for the demo, tests and bench.

A video is described by a list of segments over one continuous "camera" footage
(rendered once by a lavfi source, losslessly, as raw frames on disk): play footage
frames ``[a, b)``, freeze one frame, show black, or film a still scene with sensor
noise. The frames are composed in that order and encoded ONCE with lossy H.264
(GOP 250 by default), so every cut lands at an arbitrary, non-keyframe position and
every copy carries its own compression noise, as in a real spliced upload.

The ground truth is, for every output frame, which footage frame it shows (>= 0),
or a unique negative id for frames that are no footage (freezes, black, stills):
those are never copies, whatever they look like.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .ffmpeg import find_ffmpeg

#: Moving, textured footage: Perlin noise in three octaves drifting over time.
FOOTAGE = (
    "perlin=s={w}x{h}:r={fps}:octaves=3:persistence=0.7:xscale=1.5:yscale=1.5"
    ":tscale={speed}:random_mode=seed:random_seed={seed}"
)


@dataclass(frozen=True)
class Play:
    """Footage frames ``[start, stop)``."""

    start: int
    stop: int


@dataclass(frozen=True)
class Freeze:
    """Footage frame ``frame`` held for ``count`` frames (a frozen picture)."""

    frame: int
    count: int


@dataclass(frozen=True)
class Black:
    count: int
    level: int = 16


@dataclass(frozen=True)
class Still:
    """A static camera: footage frame ``frame`` with fresh sensor noise each frame."""

    frame: int
    count: int
    noise: float = 2.0


Segment = Play | Freeze | Black | Still

#: The demo clip (30 fps, 40 s): 4 s from 6.0 s spliced in again at 20.0 s and 29.0 s,
#: with a freeze and a black stretch as decoys. No cut falls on a keyframe (GOP 250).
DEMO_SEGMENTS = (
    Play(0, 600),
    Play(180, 300),
    Play(600, 735),
    Freeze(700, 15),
    Play(180, 300),
    Black(30),
    Play(735, 915),
)


def render_footage(
    path: str,
    frames: int,
    size=(320, 180),
    fps: float = 30,
    seed: int = 1,
    speed: float = 0.5,
    source: str = FOOTAGE,
) -> np.ndarray:
    """Render ``frames`` frames of lavfi footage as raw yuv420p to ``path``; return a
    read-only memmap of shape (frames, w*h*3/2). ``source`` is a lavfi graph with
    ``{w} {h} {fps} {seed} {speed}`` placeholders."""
    w, h = size
    src = source.format(w=w, h=h, fps=fps, seed=seed, speed=speed)
    cmd = [
        find_ffmpeg(),
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        src,
        "-frames:v",
        str(frames),
        "-pix_fmt",
        "yuv420p",
        "-f",
        "rawvideo",
        path,
    ]
    subprocess.run(cmd, check=True)
    fb = w * h * 3 // 2
    return np.memmap(path, np.uint8, "r", shape=(frames, fb))


def compose(
    segments: Sequence[Segment], footage: np.ndarray, size, rng: np.random.Generator
) -> Iterable[tuple[np.ndarray, int]]:
    """Yield (yuv420p frame, truth id) for every output frame of ``segments``."""
    w, h = size
    ysize = w * h
    other = -1
    for seg in segments:
        if isinstance(seg, Play):
            for k in range(seg.start, seg.stop):
                yield np.asarray(footage[k]), k
        elif isinstance(seg, Freeze):
            frame = np.asarray(footage[seg.frame])
            for _ in range(seg.count):
                yield frame, other
                other -= 1
        elif isinstance(seg, Black):
            frame = np.full(ysize * 3 // 2, 128, np.uint8)
            frame[:ysize] = seg.level
            for _ in range(seg.count):
                yield frame, other
                other -= 1
        elif isinstance(seg, Still):
            base = np.asarray(footage[seg.frame]).astype(np.float32)
            for _ in range(seg.count):
                noisy = base.copy()
                noisy[:ysize] += rng.normal(0, seg.noise, ysize).astype(np.float32)
                yield np.clip(noisy, 0, 255).astype(np.uint8), other
                other -= 1
        else:  # pragma: no cover - guarded by the type
            raise TypeError(f"unknown segment {seg!r}")


def make_video(
    path: str | os.PathLike,
    segments: Sequence[Segment],
    *,
    footage_frames: int | None = None,
    size=(320, 180),
    fps: float = 30,
    seed: int = 1,
    speed: float = 0.5,
    crf: int = 23,
    gop: int = 250,
    preset: str = "veryfast",
    setpts: str | None = None,
    audio: bool = False,
    extra_args: Sequence[str] = (),
    source: str = FOOTAGE,
) -> np.ndarray:
    """Compose ``segments`` and encode them once with lossy H.264; return the truth.

    (Longer than most: the ffmpeg command line of the encode and the feeding of its
    stdin, frame by frame, are one piece.)

    ``setpts`` (an ffmpeg expression, in units of a 1/600 s time base) gives the
    frames other timestamps, e.g. a variable frame rate; ``audio`` adds a sine tone.

    Examples
    --------
    >>> segments = [Play(0, 300), Play(100, 160), Play(300, 600)]
    >>> truth = make_video("loop.mp4", segments)  # doctest: +SKIP
    """
    need = footage_frames or 1 + max(
        (s.stop if isinstance(s, Play) else s.frame + 1 if hasattr(s, "frame") else 0)
        for s in segments
    )
    w, h = size
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="fastloop-synth-") as tmp:
        footage = render_footage(
            os.path.join(tmp, "footage.yuv"), need, size, fps, seed, speed, source
        )
        cmd = [
            find_ffmpeg(),
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-s",
            f"{w}x{h}",
            "-r",
            str(fps),
            "-i",
            "pipe:",
        ]
        if audio:
            cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
        # settb first: setpts output is rounded to the time base (1/fps otherwise)
        vf = ["settb=1/600", "setpts=" + setpts.replace(",", "\\,")] if setpts else []
        if vf:
            # a fine time base, so that the new timestamps are not rounded to 1/fps
            cmd += [
                "-vf",
                ",".join(vf),
                "-fps_mode",
                "passthrough",
                "-enc_time_base",
                "1:600",
                "-video_track_timescale",
                "600",
            ]
        cmd += [
            "-c:v",
            "libx264",
            "-preset",
            preset,
            "-crf",
            str(crf),
            "-g",
            str(gop),
            "-pix_fmt",
            "yuv420p",
        ]
        if audio:
            cmd += ["-c:a", "aac", "-shortest", "-map", "0:v", "-map", "1:a"]
        cmd += [*extra_args, os.fspath(path)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        truth = []
        try:
            assert proc.stdin is not None
            for frame, tid in compose(segments, footage, size, rng):
                proc.stdin.write(frame.tobytes())
                truth.append(tid)
            proc.stdin.close()
            if proc.wait() != 0:
                raise RuntimeError(f"ffmpeg failed to encode {path}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        del footage
    return np.asarray(truth, np.int64)


def copied_frames(truth: np.ndarray) -> np.ndarray:
    """Boolean mask of frames that show footage shown somewhere else too."""
    ok = truth >= 0
    ids, counts = np.unique(truth[ok], return_counts=True)
    mask = np.zeros(len(truth), bool)
    mask[ok] = np.isin(truth[ok], ids[counts > 1])
    return mask


def claimed_frames(loops, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For every frame, the loop (-1: none) and the footage frame of that loop it is
    said to show, from the occurrences' starts, lengths and offsets."""
    loop_id = np.full(n, -1, np.int64)
    pos = np.full(n, -1, np.int64)
    for i, lp in enumerate(loops):
        for o in lp.occurrences:
            a, b = o.start_frame, min(n, o.start_frame + o.length_frames)
            loop_id[a:b] = i
            pos[a:b] = o.offset_frames + np.arange(b - a)
    return loop_id, pos


def score(loops, truth: np.ndarray) -> dict:
    """Frame-level recall and precision of ``loops`` against ``truth``.

    Frames said to show the same footage frame of one loop form a group. A claimed
    frame is correct when it shows (within one frame) the footage most of its group
    shows; recall is the share of copied frames that are claimed and correct,
    precision the share of claimed frames that are correct. Work in O(frames),
    whatever the number of occurrences.
    """
    truth = np.asarray(truth)
    n = len(truth)
    copied = copied_frames(truth)
    loop_id, pos = claimed_frames(loops, n)
    claimed = np.flatnonzero(loop_id >= 0)
    correct = np.zeros(n, bool)
    if len(claimed):
        key = loop_id[claimed] * (n + 1) + pos[claimed]
        order = np.lexsort((truth[claimed], key))
        c, k, t = claimed[order], key[order], truth[claimed][order]
        # the most common truth of each group
        starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
        group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(k)]))
        run = np.flatnonzero(np.r_[True, (k[1:] != k[:-1]) | (t[1:] != t[:-1])])
        run_len = np.diff(np.r_[run, len(k)])
        best = np.full(len(starts), -(10**18), np.int64)
        best_len = np.zeros(len(starts), np.int64)
        for r, ln in zip(run.tolist(), run_len.tolist(), strict=True):
            g = group[r]
            if ln > best_len[g]:
                best_len[g], best[g] = ln, t[r]
        want = best[group]
        ok = np.zeros(len(c), bool)
        for s in (-1, 0, 1):
            ok |= truth[np.clip(c + s, 0, n - 1)] == want
        ok &= want >= 0
        # a group of one frame pairs it with nothing
        single = np.diff(np.r_[starts, len(k)]) == 1
        ok &= ~single[group]
        correct[c[ok]] = True
    n_copied = int(copied.sum())
    return {
        "copied_frames": n_copied,
        "claimed_frames": len(claimed),
        "recall": float((correct & copied).sum() / n_copied) if n_copied else 1.0,
        "precision": float(correct[claimed].sum() / len(claimed)) if len(claimed) else 1.0,
    }
