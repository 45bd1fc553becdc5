"""Validating wrappers over the hashing kernels (the public half of the stumpy pair)."""

from __future__ import annotations

import numpy as np


def words_for(hash_size: int) -> int:
    """Number of uint64 words in a packed ``hash_size`` x ``hash_size`` hash."""
    return (hash_size * hash_size + 63) // 64


def check_hash_size(hash_size: int) -> int:
    if not isinstance(hash_size, (int, np.integer)) or isinstance(hash_size, bool):
        raise TypeError(f"hash_size must be an int, not {type(hash_size).__name__}")
    if not 4 <= hash_size <= 64:
        raise ValueError(f"hash_size must be between 4 and 64, got {hash_size}")
    return int(hash_size)


def descriptor_pool(hash_size: int) -> int:
    """Side of the blocks averaged into the gray descriptor: 2 for an even hash size
    of 8 or more (24x24 gray -> 12x12 block means), else 1 (the gray itself)."""
    return 2 if hash_size >= 8 and hash_size % 2 == 0 else 1


def descriptor_cells(hash_size: int) -> int:
    """Bytes of gray descriptor per frame (144 at the default 24x24)."""
    return (hash_size // descriptor_pool(hash_size)) ** 2


def hash_frames(
    frames: np.ndarray, out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average hash, contrast and gray descriptor of a batch of square gray frames.

    Returns ``(hashes, contrast, descriptor)``: the packed hashes of :func:`ahash`,
    max - min of each frame (uint8; 0 = flat) and the block means the hash throws
    away (uint8[n, :func:`descriptor_cells`]), which tell a copy from a look-alike
    and place it in time (see :mod:`fastloop.verify`). With ``out`` (three arrays of
    those shapes and types, rows in order), they are written there and returned: a
    scan writes each batch where its rows stay.

    Examples
    --------
    >>> import numpy as np
    >>> h, c, d = hash_frames(np.full((2, 24, 24), 7, np.uint8))
    >>> h.shape, c.tolist(), d.shape
    ((2, 9), [0, 0], (2, 144))
    """
    from .kernels import _ahash_batch

    arr = np.asarray(frames)
    if arr.dtype != np.uint8:
        raise TypeError(f"frames must be uint8, not {arr.dtype}: convert with .astype(np.uint8)")
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
        raise ValueError(f"frames must have shape (n, N, N), got {arr.shape}")
    check_hash_size(arr.shape[1])
    n, size = arr.shape[0], arr.shape[1]
    flat = np.ascontiguousarray(arr.reshape(n, size * size))
    shapes = ((n, words_for(size)), (n,), (n, descriptor_cells(size)))
    types = (np.uint64, np.uint8, np.uint8)
    if out is None:
        out = tuple(np.empty(shape, t) for shape, t in zip(shapes, types, strict=True))
    for name, a, shape, t in zip(("hashes", "contrast", "desc"), out, shapes, types, strict=True):
        if a.shape != shape or a.dtype != t or not a.flags.c_contiguous:
            raise ValueError(
                f"out {name}: {a.dtype}{list(a.shape)}, not {np.dtype(t)}{list(shape)}"
            )
    hashes, contrast, desc = out
    if n:
        _ahash_batch(flat, hashes, contrast, desc, descriptor_pool(size))
    return hashes, contrast, desc


def ahash(frames: np.ndarray) -> np.ndarray:
    """Average hash of a batch of square gray frames.

    Bit ``p`` is 1 when pixel ``p`` is strictly brighter than the frame's mean
    (computed in integers: ``N*N*pixel > sum``), bits packed row-major, most
    significant first, into ``ceil(N*N/64)`` uint64 words per frame. A flat frame
    (black, white, one colour) hashes to all zeros.

    Parameters
    ----------
    frames : ndarray of uint8, shape (n, N, N)

    Returns
    -------
    ndarray of uint64, shape (n, ceil(N*N/64))

    Examples
    --------
    >>> import numpy as np
    >>> frames = np.zeros((1, 8, 8), np.uint8); frames[0, :4] = 255
    >>> f"{ahash(frames)[0, 0]:016x}"
    'ffffffff00000000'
    """
    return hash_frames(frames)[0]


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distance between packed hashes, broadcasting over leading axes.

    Parameters
    ----------
    a, b : ndarray of uint64, shape (..., W)

    Returns
    -------
    ndarray of int64 with the broadcast leading shape.

    Examples
    --------
    >>> import numpy as np
    >>> hamming(np.array([0b1011], np.uint64), np.array([0b0001], np.uint64))
    array(2)
    """
    from .kernels import _hamming_rows

    a = np.asarray(a)
    b = np.asarray(b)
    for name, x in (("a", a), ("b", b)):
        if x.dtype != np.uint64:
            raise TypeError(f"{name} must be uint64 packed hashes, not {x.dtype}")
        if x.ndim < 1:
            raise ValueError(f"{name} must have at least one axis (the words)")
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"hashes have {a.shape[-1]} and {b.shape[-1]} words: sizes differ")
    a, b = np.broadcast_arrays(a, b)
    lead = a.shape[:-1]
    a2 = np.ascontiguousarray(a.reshape(-1, a.shape[-1]))
    b2 = np.ascontiguousarray(b.reshape(-1, b.shape[-1]))
    out = np.empty(a2.shape[0], np.int64)
    if len(out):
        _hamming_rows(a2, b2, out)
    return out.reshape(lead)
