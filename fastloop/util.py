"""Small helpers shared by the library and the CLI."""

from __future__ import annotations

import os
import unicodedata


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


def display_path(path: str | os.PathLike) -> str:
    """The path for a one-line message: control characters, line separators and bytes
    that are not UTF-8 are escaped, so a hostile file name cannot forge output lines.

    >>> display_path("a\\nb.mp4")
    'a\\\\nb.mp4'
    """
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    out = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)
