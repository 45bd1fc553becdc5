"""Every threshold of the loop search in one place, and the helpers that turn them into
frames (from the frame rate) and into sums over descriptor cells.

The search compares frames twice: their average hashes propose candidate copies
(:mod:`fastloop.loops`), and their gray descriptors, 12x12 block means of the 24x24
gray the pipe carries, judge them (:mod:`fastloop.verify`). Thresholds on the
descriptor are in gray levels per cell; the kernels compare sums over a frame pair's
worst cells in integers (:func:`worst_cells`, :func:`levels`). Durations are in
seconds; :func:`frames_for` and friends turn them into frames. The values were
measured on real clips spliced and looped (crf 23-28) and on look-alikes: see each
comment.
"""

from __future__ import annotations

import math

# --------------------------------------------------------------------------- the hash

#: Frames whose NxN gray picture spans at most this many levels are "flat" (black,
#: white, one colour): their hash is all zeros or noise, never evidence.
FLAT_CONTRAST = 4
#: A seed's hashes may differ by at most this share of the bits (46 at 24x24): copies
#: differ by 1-19 bits, unrelated footage by 80 and more. The descriptor decides.
MAX_DISTANCE_SHARE = 0.08
#: Later members of a key's bucket each frame is paired with (hash words and motion keys).
LINKS = 4

# --------------------------------------------------------------------------- the runs

#: A run is evidence when at least this share of its frames (and MIN_SPECIFIC frames)
#: are specific in time on the descriptor.
SPECIFIC_SHARE = 0.25
MIN_SPECIFIC = 3
#: The shortest run kept, in seconds: pieces of a copy whose original another copy
#: split are this short, and they still join their frames to the right class.
PIECE_S = 0.2
#: The shortest loop reported, in seconds (``LoopParams.min_length_s``).
MIN_LENGTH_S = 1.0

# --------------------------------------------------------------------------- the judge

#: Share of the descriptor's cells whose differences make a gap (6 of 144).
WORST_SHARE = 0.04
#: Gray levels (mean over the worst cells) under which two frames agree.
AGREE = 6.0
#: Specific in time: the partner's neighbours are this many times farther...
RATIO = 1.6
#: ...and at least this far (levels); a gap below FLOOR counts as FLOOR.
MIN_MOTION = 5.0
FLOOR = 1.0
#: A run is a copy only if its median gap is at most RUN_EXCESS times the video's copy
#: noise (the median gap over all candidate runs: one encode, one noise)...
RUN_EXCESS = 2.5
#: ...and, on a quarter of its frames, the frames move RUN_RATIO times more in 0.2 s
#: than the pair differs. Measured on real clips spliced and looped (crf 23-28): true
#: copies 1.0 level median gap (2.0 at most) and a quartile ratio of 10 (4.6 at
#: least); look-alikes (a person leaving by one door at two moments) 2-6 levels, 2-4.
#: A seed, too, must be RUN_RATIO times closer to its partner than to the partner's
#: neighbours (its run's later frames: ``RATIO``).
RUN_RATIO = 4.0
#: Neighbours are this far in time (seconds).
SHIFT_S = 0.2
#: A motion key takes cells that changed by at least this many levels in SHIFT_S.
KEY_LEVELS = 12
#: A run's walk stops at the first frame that differs (a cut: a frame that differs
#: inside a copy is rare, and two plays cut at nearly the same place are two copies)
MAX_MISS = 0
#: ...or this long agreeing without being specific (a still view), or flat.
MAX_STATIC_S = 2.0
MAX_NEUTRAL_S = 2.0

# --------------------------------------------------------------------------- --fast

#: ``--fast`` skips up to this many frames in a row (x264 allows 16 B-frames): a
#: longer gap in the decoded frames is damage.
FAST_MAX_GAP = 17.5
#: ``--fast``: a frame farther than this many frames from a decoded one (a damaged
#: stretch, not a skipped B-frame) is filled in as flat, so that it matches nothing.
FAST_MAX_FILL = 8


# --------------------------------------------------------------------------- helpers


def default_max_distance(hash_size: int) -> int:
    """Default Hamming threshold for a seed at a hash size (scaled with the bits)."""
    return max(2, round(MAX_DISTANCE_SHARE * hash_size * hash_size))


def frames_for(seconds: float, fps: float) -> int:
    """``seconds`` in frames at ``fps``, at least 2."""
    return max(2, math.ceil(seconds * fps - 1e-9)) if fps > 0 else 2


def whole_frames(seconds: float, fps: float) -> int:
    """The whole frames ``seconds`` spans at ``fps``, at least 2: the shortest loop (a
    copy cut at 1 s by time holds 29 or 30 frames at 29.97 fps)."""
    return max(2, math.floor(seconds * fps + 1e-9)) if fps > 0 else 2


def piece_frames(fps: float) -> int:
    """``PIECE_S`` in frames, at least 3: the shortest run that counts, and the
    shortest stretch that counts as a play beside another."""
    return max(3, round(PIECE_S * fps)) if fps > 0 else 3


def shift_frames(fps: float) -> int:
    """``SHIFT_S`` in frames, at least 1 (3 when the rate is unknown)."""
    return max(1, round(SHIFT_S * fps)) if fps > 0 else 3


def seconds_frames(seconds: float, fps: float, at_least: int) -> int:
    """``seconds`` in frames (30 fps when the rate is unknown), at least ``at_least``."""
    return max(at_least, round(seconds * (fps if fps > 0 else 30.0)))


def worst_cells(cells: int) -> int:
    """How many of a descriptor's ``cells`` make a gap (``WORST_SHARE``), at least 1."""
    return max(1, round(WORST_SHARE * cells))


def levels(x: float, k: int) -> int:
    """``x`` gray levels per cell as a sum over ``k`` worst cells."""
    return round(x * k)
