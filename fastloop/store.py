"""A store of fingerprints for a fleet: which earlier videos share footage with this one?

``fastloop index add STORE VIDEO...`` fingerprints each video into ``STORE/`` (one
``.npz`` per video, keyed by its content: the same file added twice, from any path
or machine, is one entry) and rebuilds the index; ``index ls`` / ``index rm`` list
and remove entries; ``fastloop scan VIDEO --against STORE`` answers which stored
videos share footage with VIDEO, and where.

The index is multi-index hashing on disk: for each 64-bit word of the average hash,
every stored frame's word, sorted, with the frame it belongs to (numpy arrays, read
through a memory map). A lookup finds, for every frame of the query, the stored
frames that equal it in at least one word (near-duplicates differ in a few bits, so
one of nine words is almost always intact), skipping words shared by more than
:data:`BUCKET_CAP` stored frames (black, bars, a channel logo: frames every video
has, which would turn a lookup into a scan). The stored videos whose frames vote for
one time offset at least :data:`MIN_VOTES` times are verified as ``compare`` does,
on the gray descriptors: the index proposes, the judge decides.

One writer at a time: the manifest (``manifest.json``) is replaced atomically.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .fingerprint import Fingerprint
from .loops import end_time
from .settings import FLAT_CONTRAST
from .util import atomic_write, content_key, display_path

#: A word shared by more stored frames than this proposes nothing.
BUCKET_CAP = 2000
#: Frames of the query that must agree on one offset to a stored video to verify it.
MIN_VOTES = 8
_MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Entry:
    key: str
    name: str
    frames: int
    fps: float
    duration_s: float


class Store:
    """A folder of fingerprints and their index (see the module docstring)."""

    def __init__(self, folder: str | os.PathLike, create: bool = False):
        self.dir = os.fspath(folder)
        if create:
            os.makedirs(self.dir, exist_ok=True)
        elif not os.path.isfile(os.path.join(self.dir, _MANIFEST)):
            raise InputError(f"{display_path(self.dir)}: not a fastloop store (no {_MANIFEST})")
        self.entries: dict[str, Entry] = {}
        path = os.path.join(self.dir, _MANIFEST)
        if os.path.exists(path):
            with open(path) as fh:
                self.entries = {e["key"]: Entry(**e) for e in json.load(fh)["entries"]}

    def _save_manifest(self) -> None:
        doc = {"version": 1, "entries": [vars(e) for e in self.entries.values()]}
        with atomic_write(os.path.join(self.dir, _MANIFEST), "w", durable=True) as fh:
            json.dump(doc, fh, indent=1)

    def fingerprint_path(self, key: str) -> str:
        return os.path.join(self.dir, f"{key}.npz")

    def add(
        self, path: str | os.PathLike, fp: Fingerprint | None = None, progress=None
    ) -> tuple[Entry, bool]:
        """Fingerprint ``path`` into the store (``progress`` as for
        :func:`fastloop.fingerprint`); returns (entry, added), ``added`` False when
        the same content is already there (then nothing is decoded)."""
        key = content_key(path)
        if key in self.entries:
            return self.entries[key], False
        if fp is None:
            from .api import fingerprint

            fp = fingerprint(path, progress=progress)
        fp.save(self.fingerprint_path(key))
        n = len(fp)
        dur = end_time(fp, n)
        entry = Entry(key, os.path.basename(os.fspath(path)), n, float(fp.fps), dur)
        self.entries[key] = entry
        self._save_manifest()
        return entry, True

    def remove(self, name_or_key: str) -> list[Entry]:
        gone = [e for e in self.entries.values() if name_or_key in (e.key, e.name)]
        for e in gone:
            del self.entries[e.key]
            try:
                os.remove(self.fingerprint_path(e.key))
            except FileNotFoundError:
                pass
        if gone:
            self._save_manifest()
            self.reindex()
        return gone

    # ------------------------------------------------------------------ the index

    def reindex(self) -> None:
        """Rebuild the word index of every stored frame (after adds or removes)."""
        keys = sorted(self.entries)
        words, owner, frame = [], [], []
        for i, key in enumerate(keys):
            # only the arrays the index needs (np.load reads a member when asked)
            with np.load(self.fingerprint_path(key), allow_pickle=False) as z:
                idx = np.flatnonzero(z["contrast"] > FLAT_CONTRAST)  # flat: no evidence
                words.append(z["hashes"][idx])
            owner.append(np.full(len(idx), i, np.int32))
            frame.append(idx.astype(np.int32))
        nw = words[0].shape[1] if words else 0
        allw = np.concatenate(words) if words else np.empty((0, nw), np.uint64)
        own = np.concatenate(owner) if owner else np.empty(0, np.int32)
        frm = np.concatenate(frame) if frame else np.empty(0, np.int32)
        arrays = {"keys": np.array(keys)}
        for w in range(nw):
            order = np.argsort(allw[:, w], kind="stable")
            arrays[f"w{w}"] = allw[order, w]
            arrays[f"o{w}"] = own[order]
            arrays[f"f{w}"] = frm[order]
        with atomic_write(os.path.join(self.dir, "index.npz"), durable=True) as fh:
            np.savez(fh, **arrays)

    def candidates(self, fp: Fingerprint) -> list[tuple[str, int]]:
        """Stored videos that share many frames with ``fp`` at one time offset:
        (key, votes), most votes first."""
        path = os.path.join(self.dir, "index.npz")
        if not os.path.exists(path) or not self.entries:
            return []
        z = np.load(path, mmap_mode="r")
        if "w0" not in z.files:  # an empty store
            return []
        keys = list(z["keys"])
        ok = np.flatnonzero(fp.contrast > FLAT_CONTRAST)
        hits_q, hits_o, hits_f = [], [], []
        for w in range(fp.hashes.shape[1]):
            col = z[f"w{w}"]
            q = fp.hashes[ok, w]
            lo = np.searchsorted(col, q, "left")
            hi = np.searchsorted(col, q, "right")
            size = hi - lo
            use = (size > 0) & (size <= BUCKET_CAP)  # a crowded bucket (black, a logo): no vote
            if not use.any():
                continue
            lo, size, qi = lo[use], size[use], ok[use]
            # every (query frame, stored position) of the used buckets, without a loop
            at = np.repeat(lo - np.cumsum(size) + size, size) + np.arange(int(size.sum()))
            hits_q.append(np.repeat(qi, size))
            hits_o.append(np.asarray(z[f"o{w}"])[at])
            hits_f.append(np.asarray(z[f"f{w}"])[at])
        if not hits_q:
            return []
        qi = np.concatenate(hits_q).astype(np.int64)
        own = np.concatenate(hits_o).astype(np.int64)
        frm = np.concatenate(hits_f).astype(np.int64)
        # a pair of frames found through several words votes once
        pair = np.unique(np.stack([qi, own, frm], axis=1), axis=0)
        off = (pair[:, 2] - pair[:, 0]) // 4  # offsets a few frames apart vote together
        cells, counts = np.unique(np.stack([pair[:, 1], off], axis=1), axis=0, return_counts=True)
        best: dict[int, int] = {}
        for o, v in zip(cells[:, 0].tolist(), counts.tolist(), strict=True):
            best[o] = max(best.get(o, 0), v)
        found = [(str(keys[o]), v) for o, v in best.items() if v >= MIN_VOTES]
        return sorted(found, key=lambda kv: -kv[1])

    def lookup(self, fp: Fingerprint, params=None) -> list[tuple[Entry, list]]:
        """The stored videos that share footage with ``fp``, each with its verified
        :class:`~fastloop.compare.Match` list (stored video as A, ``fp`` as B)."""
        from .compare import shared

        out = []
        for key, _votes in self.candidates(fp):
            stored = Fingerprint.load(self.fingerprint_path(key))
            found = shared(stored, fp, params)
            if found:
                out.append((self.entries[key], found))
        return out
