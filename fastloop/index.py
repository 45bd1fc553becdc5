"""Hash tables over fingerprints: exact buckets (the blog's method) and their metrics."""

from __future__ import annotations

import numpy as np


def group_ids(keys: np.ndarray) -> tuple[np.ndarray, int]:
    """Number equal rows of ``keys`` (uint64[n, K]) by order of first appearance:
    int64 ids and their count."""
    ids, count = _ids(keys)
    return ids.astype(np.int64), count


def _ids(keys: np.ndarray) -> tuple[np.ndarray, int]:
    """:func:`group_ids` as the kernel gives them: int32 ids (half the memory)."""
    from .kernels import _group_ids

    keys = np.ascontiguousarray(keys, dtype=np.uint64)
    if keys.ndim != 2:
        raise ValueError(f"keys must be 2-D (n, K), got shape {keys.shape}")
    if len(keys) == 0:
        return np.empty(0, np.int32), 0
    ids, count = _group_ids(keys, 2 * len(keys))
    return ids, int(count)


def exact_buckets(hashes: np.ndarray, min_size: int = 2) -> list[np.ndarray]:
    """Groups of frames whose hashes are exactly equal, largest first.

    Each group is an int64 array of frame numbers in increasing order; groups
    smaller than ``min_size`` are left out. A numba open-addressing table keyed on
    all words of the hash does the grouping: no Python object per frame.

    Examples
    --------
    >>> import numpy as np
    >>> h = np.array([[1], [2], [1], [1]], np.uint64)
    >>> [b.tolist() for b in exact_buckets(h)]
    [[0, 2, 3]]
    """
    from .kernels import _buckets_csr

    ids, count = _ids(hashes)
    if count == 0:
        return []
    start, order = _buckets_csr(ids, count)
    del ids
    sizes = np.diff(start)
    keep = np.flatnonzero(sizes >= min_size)
    keep = keep[np.argsort(-sizes[keep], kind="stable")]
    return [order[start[g] : start[g + 1]].astype(np.int64) for g in keep]


def bucket_stats(hashes: np.ndarray) -> dict:
    """The blog's three metrics: number of buckets, mean and largest bucket size."""
    ids, count = _ids(hashes)
    if count == 0:
        return {"buckets": 0, "mean_size": 0.0, "largest": 0}
    sizes = np.bincount(ids, minlength=count)
    return {
        "buckets": int(count),
        "mean_size": float(len(ids) / count),
        "largest": int(sizes.max()),
    }
