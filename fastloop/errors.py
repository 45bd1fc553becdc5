"""Exceptions raised by fastloop; each knows the CLI exit status it maps to."""

from __future__ import annotations

import re

#: ffmpeg's "[vist#0:0/h264 @ 0x55...] [dec:h264 @ 0x55...] " line prefixes.
_PREFIX = re.compile(r"^(?:\[[^\]]*\]\s*)+")
#: ffmpeg lines that say that it stops, not why.
_BOILERPLATE = re.compile(
    r"^(Terminating thread with return code|Task finished with error code|"
    r"Last message repeated|Conversion failed|Error while filtering|"
    r"Nothing was written into output file|Error binding)"
)


def _reason(tail: str) -> str:
    """The last line of ffmpeg's output that says why, without its ``[x @ 0x..]``."""
    lines = [_PREFIX.sub("", ln).strip() for ln in tail.splitlines()]
    lines = [ln for ln in lines if ln]
    useful = [ln for ln in lines if not _BOILERPLATE.match(ln)]
    return (useful or lines or [""])[-1]


class FastloopError(Exception):
    """Base class of every error fastloop raises on purpose."""

    exit_code = 1


class InputError(FastloopError, ValueError):
    """The input cannot be used: missing, not a video, or a bad option value."""

    exit_code = 2


class DecodeError(FastloopError):
    """ffmpeg failed; ``stderr_tail`` holds its last lines of output."""

    exit_code = 2

    def __init__(self, message: str, stderr_tail: str = "", returncode: int | None = None):
        tail = stderr_tail.strip()
        last = _reason(tail)
        super().__init__(f"{message}: {last}" if last else message)
        self.stderr_tail = tail
        self.returncode = returncode
