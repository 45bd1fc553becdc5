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
    """

    hashes: np.ndarray
    pts: np.ndarray
    contrast: np.ndarray
    hash_size: int
    info: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

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
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                hashes=self.hashes,
                pts=self.pts,
                contrast=self.contrast,
                meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
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
                )
        except InputError:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"{path}: not a fastloop fingerprint ({exc})") from exc
