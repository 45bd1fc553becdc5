"""The bench's test clips: a minute of moving footage with copies spliced in, made by
ffmpeg alone (lavfi) and encoded ONCE with libx264, cached outside the repository.

Footage: Perlin noise (3 octaves, drifting) rendered at 480x270, scaled to the clip's
size, coloured with a false-colour map and given temporal film grain: colour, soft
detail and fresh noise in every frame, about 5 Mbit/s at 1080p with crf 23 (a normal
bit rate for 1080p30 H.264, which is what decoding speed depends on). Perlin noise in
ffmpeg repeats after 256 lattice units of time (512 s at ``tscale=0.5``), far beyond
the 52 s of footage used.

Every segment of the plan is one lavfi input that renders the footage from its start
and keeps frames ``[a, b)`` (``trim``); the concat filter joins them, so a copy shows
exactly the footage frames of its original, with its own grain and its own
compression noise. Cuts do not fall on keyframes (GOP 250).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass

import numpy as np

from .common import ffmpeg_exe, ffmpeg_version, run

FPS = 30
#: Footage frame ranges, in output order: 150 frames (5 s) from 5 s are copied in at
#: 20 s, 120 frames (4 s) from 24 s are copied in at 50 s. 1830 frames, 61 s.
PLAN = ((0, 600), (150, 300), (600, 1050), (720, 840), (1050, 1560))
FOOTAGE = (
    "perlin=s=480x270:r={fps}:octaves=3:persistence=0.7:xscale=3:yscale=3:tscale=0.5"
    ":random_mode=seed:random_seed=7"
)
LOOK = (
    "scale={w}:{h}:flags=bicubic,eq=contrast=1.6,format=yuv444p,pseudocolor=preset=turbo,"
    "format=yuv420p,noise=c0s=7:c0f=t:c1s=2:c1f=t:c2s=2:c2f=t:all_seed={seed}"
)
#: The same without film grain: fresh noise in every frame makes x264 give up on
#: B-frames, clean footage gets them (what ``--fast`` skips).
LOOK_CLEAN = LOOK.split(",noise=")[0]


@dataclass(frozen=True)
class ClipSpec:
    name: str
    width: int
    height: int
    preset: str
    crf: int = 23
    grain: bool = True

    @property
    def label(self) -> str:
        grain = "" if self.grain else ", no grain"
        return f"{self.height}p H.264 {self.preset} crf {self.crf}{grain}"


CLIPS = {
    "360p": ClipSpec("360p", 640, 360, "medium"),
    "1080p": ClipSpec("1080p", 1920, 1080, "medium"),
    "1080p-veryfast": ClipSpec("1080p-veryfast", 1920, 1080, "veryfast"),
}


def truth(plan=PLAN) -> np.ndarray:
    """For every output frame, the footage frame it shows."""
    return np.concatenate([np.arange(a, b) for a, b in plan])


def planted(plan=PLAN) -> list[dict]:
    """The copies of the plan: footage shown twice, with both output positions."""
    t = truth(plan)
    out, start = [], 0
    for a, b in plan:
        first = int(np.flatnonzero(t == a)[0])
        if first != start:
            out.append({"original_frame": first, "copy_frame": start, "frames": b - a})
        start += b - a
    return out


def command(spec: ClipSpec, out: str, plan=PLAN) -> list[str]:
    exe = ffmpeg_exe()
    cmd = [exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    for i, (a, b) in enumerate(plan):
        chain = (
            FOOTAGE.format(fps=FPS)
            + f",trim=start_frame={a}:end_frame={b},setpts=PTS-STARTPTS,"
            + (LOOK if spec.grain else LOOK_CLEAN).format(
                w=spec.width, h=spec.height, seed=1000 + i
            )
        )
        cmd += ["-f", "lavfi", "-i", chain]
    graph = "".join(f"[{i}:v]" for i in range(len(plan))) + f"concat=n={len(plan)}:v=1:a=0[v]"
    cmd += ["-filter_complex", graph, "-map", "[v]", "-fps_mode", "passthrough"]
    cmd += ["-c:v", "libx264", "-preset", spec.preset, "-crf", str(spec.crf), "-g", "250"]
    cmd += ["-pix_fmt", "yuv420p", "-an", "-f", "mp4", out]
    return cmd


def _key(spec: ClipSpec, plan) -> str:
    fields = {k: v for k, v in spec.__dict__.items() if k != "grain" or not v}
    text = json.dumps([fields, list(plan), FOOTAGE, LOOK, ffmpeg_version()])
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def ensure(spec: ClipSpec, folder: str, log=print, plan=PLAN) -> dict:
    """The clip for ``spec`` in ``folder`` (made once, then reused) and its manifest:
    path, frames, size, bit rate, how long making it took, the planted copies."""
    key = _key(spec, plan)
    path = os.path.join(folder, f"clip-{spec.name}-{key}.mp4")
    meta_path = path + ".json"
    if os.path.exists(path) and os.path.exists(meta_path):
        with open(meta_path) as fh:
            meta = json.load(fh)
        meta["cached"] = True
        return meta
    log(f"  making {os.path.basename(path)} ({spec.label}, {len(truth(plan))} frames) ...")
    tmp = path + ".part"
    t = time.perf_counter()
    run(command(spec, tmp, plan))
    dt = time.perf_counter() - t
    os.replace(tmp, path)
    frames = len(truth(plan))
    size = os.path.getsize(path)
    meta = {
        "name": spec.name,
        "label": spec.label,
        "path": path,
        "width": spec.width,
        "height": spec.height,
        "preset": spec.preset,
        "crf": spec.crf,
        "fps": FPS,
        "frames": frames,
        "duration_s": frames / FPS,
        "bytes": size,
        "mbit_s": round(size * 8 / (frames / FPS) / 1e6, 2),
        "make_s": round(dt, 1),
        "planted": planted(plan),
        "plan": [list(p) for p in plan],
    }
    with open(meta_path, "w") as fh:
        json.dump(meta, fh, indent=1)
    meta["cached"] = False
    log(f"  made in {dt:.1f} s ({meta['mbit_s']} Mbit/s)")
    return meta
