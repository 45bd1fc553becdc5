"""Which ffmpeg to run, and how to name a file to it."""

from __future__ import annotations

import os
import shutil

from ..errors import InputError


def find_ffmpeg() -> str:
    """Return the ffmpeg binary to use.

    ``$FASTLOOP_FFMPEG`` wins, then ``ffmpeg`` on ``PATH``, then the binary shipped in
    the ``imageio-ffmpeg`` wheel, so a plain ``pip install`` is enough.

    Examples
    --------
    >>> find_ffmpeg()  # doctest: +SKIP
    '/usr/bin/ffmpeg'
    """
    env = os.environ.get("FASTLOOP_FFMPEG")
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise InputError(f"FASTLOOP_FFMPEG={env!r} is not an executable file")
        return env
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - imageio-ffmpeg is a dependency
        imageio_ffmpeg = None
    if imageio_ffmpeg is not None:
        try:
            return imageio_ffmpeg.get_ffmpeg_exe()
        except RuntimeError:  # pragma: no cover - wheel without a binary
            pass
    raise InputError(
        "no ffmpeg found: install one (e.g. apt install ffmpeg), "
        "pip install imageio-ffmpeg, or set FASTLOOP_FFMPEG"
    )


def input_url(path: str | os.PathLike) -> str:
    """The path as an ffmpeg input that can be neither an option nor a protocol."""
    return "file:" + os.path.abspath(os.fspath(path))
