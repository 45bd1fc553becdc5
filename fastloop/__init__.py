"""fastloop: prove or disprove that a long video is looped.

ffmpeg scales every frame to a tiny gray square, numba turns it into an average
hash, and copied stretches of footage show up as runs of near-identical hashes.

>>> import fastloop
>>> result = fastloop.scan("video.mp4")  # doctest: +SKIP
>>> result.looped
"""

from .api import ScanResult, buckets, find_loops, fingerprint, scan, sweep
from .errors import DecodeError, FastloopError, InputError
from .fingerprint import Fingerprint
from .hashing import ahash, hamming
from .loops import Loop, LoopParams, Occurrence

__version__ = "0.1.0"

__all__ = [
    "DecodeError",
    "FastloopError",
    "Fingerprint",
    "InputError",
    "Loop",
    "LoopParams",
    "Occurrence",
    "ScanResult",
    "__version__",
    "ahash",
    "buckets",
    "find_loops",
    "fingerprint",
    "hamming",
    "scan",
    "sweep",
]
