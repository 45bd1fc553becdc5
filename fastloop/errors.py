"""Exceptions raised by fastloop; each knows the CLI exit status it maps to."""

from __future__ import annotations


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
        from .ffmpeg.logs import reason

        tail = stderr_tail.strip()
        last = reason(tail)
        super().__init__(f"{message}: {last}" if last else message)
        self.stderr_tail = tail
        self.returncode = returncode
