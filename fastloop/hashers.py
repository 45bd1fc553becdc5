"""What a frame becomes: the hash behind a small protocol, so another hash is one class.

A :class:`Hasher` receives batches of gray frames exactly as ffmpeg scaled them
(``size`` x ``size``, uint8) and returns three arrays per frame: the packed hash bits
(uint64 words; near-duplicates are found on them), the frame's contrast (max - min;
0 = flat: no evidence) and the gray descriptor the judge compares (uint8 cells).

Examples
--------
>>> h = AverageHash(24)
>>> hashes, contrast, desc = h.hash(np.zeros((2, 24 * 24), np.uint8))
>>> hashes.shape, desc.shape
((2, 9), (2, 144))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .hashing import check_hash_size, descriptor_cells, hash_frames, words_for


class Hasher(Protocol):
    """The interface the pipeline uses; :class:`AverageHash` is the one fastloop has."""

    #: Short name, stored with the fingerprint (and in the checkpoint's key).
    name: str
    #: Frames arrive as ``size`` x ``size`` gray (ffmpeg scales them).
    size: int

    @property
    def bits(self) -> int: ...

    @property
    def words(self) -> int: ...

    @property
    def cells(self) -> int: ...

    def hash(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """uint8[n, size*size] -> (uint64[n, words], uint8[n] contrast, uint8[n, cells]).

        A hasher may also have ``hash_into(frames, out)``: the same three written
        into ``out`` (arrays of those shapes); a scan then writes each batch where
        its rows stay, with no copy."""
        ...

    def warm(self) -> None:
        """Load (or compile) what :meth:`hash` runs, ahead of the first batch."""
        ...


@dataclass(frozen=True)
class AverageHash:
    """The average hash: bit p is 1 when pixel p is brighter than the frame's mean
    (see :func:`fastloop.hashing.ahash`); the descriptor is 2x2 block means of the
    same gray (12x12 at the default 24x24)."""

    size: int = 24
    name: str = "ahash"

    def __post_init__(self) -> None:
        check_hash_size(self.size)

    @property
    def bits(self) -> int:
        return self.size * self.size

    @property
    def words(self) -> int:
        return words_for(self.size)

    @property
    def cells(self) -> int:
        return descriptor_cells(self.size)

    def hash(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return hash_frames(frames.reshape(len(frames), self.size, self.size))

    def hash_into(self, frames: np.ndarray, out: tuple) -> None:
        hash_frames(frames.reshape(len(frames), self.size, self.size), out)

    def warm(self) -> None:
        hash_frames(np.zeros((1, self.size, self.size), np.uint8))
