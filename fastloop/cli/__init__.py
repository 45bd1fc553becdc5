"""The ``fastloop`` command line: parse, call the API with a progress bar, format.

Command bodies hold no algorithm, and import the API inside each command so that
``fastloop --help`` loads neither numba nor ffmpeg.
"""

from . import blog, compare, evidence, index, scanning  # noqa: F401 - registers commands
from .app import Run, cli, main

__all__ = ["Run", "cli", "main"]
