"""Small helpers shared by the library and the CLI."""

from __future__ import annotations


def hms(seconds: float) -> str:
    """Seconds as HH:MM:SS.mmm.

    Examples
    --------
    >>> hms(3723.5)
    '01:02:03.500'
    """
    ms = round(max(0.0, seconds) * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"
