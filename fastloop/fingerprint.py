"""The Fingerprint: hashes + timestamps + video info, the seam between decoding and
analysis. Everything before it reads video; everything after it is array work."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .hashing import words_for

FORMAT_VERSION = 1


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
        path = os.fspath(path)
        tmp = f"{path}.tmp{os.getpid()}"
        meta = {"version": FORMAT_VERSION, "hash_size": self.hash_size, "info": self.info}
        extra = {} if self.decoded is None else {"decoded": self.decoded}
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                hashes=self.hashes,
                pts=self.pts,
                contrast=self.contrast,
                meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
                **extra,
            )
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Fingerprint:
        """Read a file written by :meth:`save`."""
        try:
            with np.load(os.fspath(path), allow_pickle=False) as z:
                meta = json.loads(z["meta"].tobytes().decode())
                if meta.get("version") != FORMAT_VERSION:
                    raise InputError(
                        f"{path}: fingerprint format {meta.get('version')} unsupported"
                    )
                return cls(
                    hashes=z["hashes"],
                    pts=z["pts"],
                    contrast=z["contrast"],
                    hash_size=int(meta["hash_size"]),
                    info=meta.get("info", {}),
                    decoded=z["decoded"] if "decoded" in z.files else None,
                )
        except InputError:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"{path}: not a fastloop fingerprint ({exc})") from exc


def fill_grid(
    pts: np.ndarray, grid: np.ndarray, tolerance_share: float = 0.25
) -> tuple[np.ndarray, np.ndarray, int]:
    """Place decoded frames on the full frame grid of a video (``--fast``).

    ``pts`` are the times of the frames that were decoded, ``grid`` (sorted) the times
    of all the video's frames. Returns ``(source, decoded, unmatched)``: for every
    grid frame the index of the decoded frame that stands for it (itself when it was
    decoded, else the nearest in time, the earlier on a tie), a mask of the grid
    frames that were decoded, and how many decoded frames matched no grid time
    (within ``tolerance_share`` of the grid's median frame interval).

    Examples
    --------
    >>> fill_grid(np.array([0.0, 0.2]), np.array([0.0, 0.1, 0.2, 0.3]))[0].tolist()
    [0, 0, 1, 1]
    """
    pts = np.asarray(pts, np.float64)
    grid = np.asarray(grid, np.float64)
    n = len(grid)
    if n == 0 or len(pts) == 0:
        return np.zeros(n, np.int64), np.zeros(n, bool), len(pts)
    step = float(np.median(np.diff(grid))) if n > 1 else 1.0
    tol = tolerance_share * step if step > 0 else 1e-6
    j = np.clip(np.searchsorted(grid, pts), 1, max(1, n - 1)) if n > 1 else np.zeros(len(pts), int)
    if n > 1:
        j = np.where(np.abs(grid[j - 1] - pts) <= np.abs(grid[j] - pts), j - 1, j)
    ok = np.abs(grid[j] - pts) <= tol
    owner = np.full(n, -1, np.int64)
    src = np.flatnonzero(ok)[::-1]  # the first decoded frame wins a grid time
    owner[j[src]] = src
    decoded = owner >= 0
    where = np.flatnonzero(decoded)
    if len(where) == 0:
        return np.zeros(n, np.int64), decoded, len(pts)
    i = np.arange(n)
    after = np.searchsorted(where, i)  # first decoded grid frame at or after i
    nxt = where[np.minimum(after, len(where) - 1)]
    prv = where[np.maximum(after - 1, 0)]
    prv = np.where(decoded, i, prv)
    take_next = (prv > i) | ((nxt >= i) & (grid[nxt] - grid[i] < grid[i] - grid[prv]))
    pick = np.where(take_next, nxt, prv)
    return owner[pick], decoded, int((~ok).sum())
