"""Checkpoints: a long scan writes its fingerprint as it goes, and resumes after a crash.

A cache folder holds one sub-folder per (video, hash settings), named by a key over
the file's content: its size and a hash of its first and last megabyte and of 16
samples between them; not its path or modification time, which differ between the
machines of a cluster and after a copy. Inside it:

- ``plan.json``: the time ranges the decode was split into (kept for the resume);
- ``r{range}-{first timestamp}-{frames}.npz``: chunks of hashes, contrast and
  timestamps, each written atomically (temp file, fsync, rename): a chunk is whole or
  absent. Named by what they hold, not by a counter: a range decoded twice (a task
  retried on another worker, two scans of one file at once) writes the same chunk
  under the same name, and frames that two chunks both hold are read once;
- ``fingerprint.npz``: the finished fingerprint, reused at once by the next scan (other
  thresholds cost no decode); the chunks are removed when it is written.

A scan that stops, by Ctrl-C, SIGTERM, a crash or SIGKILL, loses at most the frames
since its last chunk; the next run seeks each range to the frame after its last
chunk. Frames are never hashed twice into the result and none is skipped: a range
resumes strictly after the last timestamp it committed.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import time
from dataclasses import dataclass, field

import numpy as np

from .ffmpeg import read_timestamps
from .fingerprint import FORMAT_VERSION, Descriptors, Fingerprint
from .util import atomic_write, content_key
from .video import Range

#: Frames per chunk (5 min at 30 fps), or fewer when this many seconds have passed.
CHUNK_FRAMES = 9000
CHUNK_SECONDS = 30.0


def file_key(path: str, hash_size: int, variant: str = "") -> str:
    """Identity of a video file's content (:func:`~fastloop.util.content_key`) and
    the hash settings, as a folder name."""
    ident = [content_key(path), hash_size, FORMAT_VERSION]
    if variant:  # e.g. "fast": other frames, other hashes
        ident.append(variant)
    return "v-" + hashlib.blake2b(json.dumps(ident).encode(), digest_size=12).hexdigest()


#: Chunk names hold their first frame's time in microseconds plus this (times before
#: the file's start exist: B-frames of an edit list), at a fixed width: names sort in time.
_T_OFFSET_US = 1 << 40


def _chunk_name(r: int, first_s: float, frames: int) -> str:
    """Range, first frame's time and frame count: the same frames, the same name."""
    return f"r{r:03d}-{round(first_s * 1e6) + _T_OFFSET_US:015d}-{frames:09d}.npz"


def _atomic_savez(path: str, **arrays) -> None:
    with atomic_write(path, durable=True) as fh:
        np.savez(fh, **arrays)


@dataclass
class _Live:
    """What one decode range of the current run has received and committed."""

    orig: int  # index of the planned range
    start_s: float | None  # frames before this absolute time are not ours
    hashes: list = field(default_factory=list)
    contrast: list = field(default_factory=list)
    desc: list = field(default_factory=list)
    received: int = 0
    committed: int = 0  # frames of this run written (or dropped as before start_s)
    stats: str | None = None
    last_flush: float = field(default_factory=time.monotonic)


class Checkpoint:
    """The cache folder of one video and hash size (see the module docstring)."""

    def __init__(self, cache_dir: str | os.PathLike, path: str, hash_size: int, variant: str = ""):
        self.dir = os.path.join(os.fspath(cache_dir), file_key(path, hash_size, variant))
        os.makedirs(self.dir, exist_ok=True)
        self.path = path
        self.hash_size = hash_size
        self.live: list[_Live] = []
        self.tb = 1.0

    # ----------------------------------------------------------------- reading
    @property
    def final_path(self) -> str:
        return os.path.join(self.dir, "fingerprint.npz")

    def finished(self) -> Fingerprint | None:
        if os.path.exists(self.final_path):
            return Fingerprint.load(self.final_path)
        return None

    def plan(self, default: list[Range]) -> list[Range]:
        """The ranges of the first run (a resume must split the file the same way)."""
        p = os.path.join(self.dir, "plan.json")
        if os.path.exists(p):
            with open(p) as fh:
                return [Range(*row) for row in json.load(fh)]
        with atomic_write(p, "w", durable=True) as fh:
            json.dump([[r.start_s, r.end_s, r.exact] for r in default], fh)
        return default

    def chunks(self, r: int) -> list[str]:
        return sorted(glob.glob(os.path.join(self.dir, f"r{r:03d}-*.npz")))

    def committed(self, r: int, desc: bool = False):
        """Hashes, contrast and absolute timestamps committed for planned range r, and
        with ``desc`` the list of its chunks' gray descriptors."""
        hs, cs, ps, ds = [], [], [], []
        last = -np.inf
        for c in self.chunks(r):
            with np.load(c) as z:
                pts = z["pts"]
                # a chunk written twice, or two runs' chunks that overlap: every
                # frame once, in time order
                new = pts > last
                if not new.any():
                    continue
                pick = slice(None) if new.all() else new
                hs.append(z["hashes"][pick])
                cs.append(z["contrast"][pick])
                ps.append(pts[pick])
                if desc:
                    ds.append(z["desc"][pick])
                last = float(ps[-1][-1])
        words = (self.hash_size * self.hash_size + 63) // 64
        if not hs:
            out = (np.empty((0, words), np.uint64), np.empty(0, np.uint8), np.empty(0))
        else:
            out = (np.concatenate(hs), np.concatenate(cs), np.concatenate(ps))
        return (*out, ds) if desc else out

    def frames_done(self, plan: list[Range]) -> int:
        return sum(len(self.committed(r)[2]) for r in range(len(plan)))

    def todo(self, plan: list[Range]) -> list[tuple[int, Range]]:
        """(planned index, range to decode now) for every range, resumed after its
        last committed frame."""
        out = []
        for r, rng in enumerate(plan):
            pts = self.committed(r)[2]
            if len(pts):  # strictly after the last committed frame, seeking early
                rng = Range(float(pts[-1]) + 1e-7, rng.end_s)
            out.append((r, rng))
        return out

    # ----------------------------------------------------------------- writing
    def begin(self, todo: list[tuple[int, Range]]) -> None:
        self.live = [_Live(r, rng.start_s) for r, rng in todo]

    def on_start(self, stats_paths: list[str]) -> None:
        for live, s in zip(self.live, stats_paths, strict=True):
            live.stats = s

    def add(self, i: int, hashes: np.ndarray, contrast: np.ndarray, desc: np.ndarray) -> None:
        """Frames of decode range i, in order (called from that range's reader thread)."""
        live = self.live[i]
        live.hashes.append(hashes)
        live.contrast.append(contrast)
        live.desc.append(desc)
        live.received += len(hashes)
        pending = live.received - live.committed
        if pending >= CHUNK_FRAMES or time.monotonic() - live.last_flush > CHUNK_SECONDS:
            self.flush(i)

    def flush(self, i: int) -> None:
        """Write every frame of range i whose timestamp ffmpeg has written."""
        live = self.live[i]
        live.last_flush = time.monotonic()
        if live.stats is None or live.received == live.committed:
            return
        pts, tb = read_timestamps(live.stats, complete_only=True)
        avail = min(len(pts), live.received)
        if avail <= live.committed:
            return
        h = np.concatenate(live.hashes)
        c = np.concatenate(live.contrast)
        d = np.concatenate(live.desc)
        base = live.received - len(h)  # frames already dropped from the buffers
        lo, hi = live.committed - base, avail - base
        secs = pts[live.committed : avail].astype(np.float64) * float(tb)
        keep = np.ones(len(secs), bool) if live.start_s is None else secs >= live.start_s
        if keep.any():
            first = float(secs[keep][0])
            name = os.path.join(self.dir, _chunk_name(live.orig, first, int(keep.sum())))
            _atomic_savez(
                name,
                hashes=h[lo:hi][keep],
                contrast=c[lo:hi][keep],
                desc=d[lo:hi][keep],
                pts=secs[keep],
            )
        live.committed = avail
        live.hashes = [h[hi:]] if hi < len(h) else []
        live.contrast = [c[hi:]] if hi < len(c) else []
        live.desc = [d[hi:]] if hi < len(d) else []

    def flush_all(self) -> None:
        for i in range(len(self.live)):
            self.flush(i)

    def finish(self, plan: list[Range], info: dict, start_s: float) -> Fingerprint:
        """Assemble the fingerprint from the chunks, save it, remove the chunks."""
        parts = [self.committed(r, desc=True) for r in range(len(plan))]
        pts_abs = np.concatenate([p[2] for p in parts])
        desc = Descriptors(self.hash_size, len(pts_abs))
        for r, p in enumerate(parts):
            for d in p[3]:
                desc.add(r, d)
            p[3].clear()
        fp = Fingerprint(
            hashes=np.concatenate([p[0] for p in parts]),
            pts=pts_abs - start_s,
            contrast=np.concatenate([p[1] for p in parts]),
            desc=desc.finish([np.ones(len(p[2]), bool) for p in parts]),
            hash_size=self.hash_size,
            info=info,
        )
        fp.save(self.final_path)
        for r in range(len(plan)):
            for c in self.chunks(r):
                os.remove(c)
        return fp

    def clear(self) -> None:
        for f in glob.glob(os.path.join(self.dir, "*")):
            os.remove(f)
