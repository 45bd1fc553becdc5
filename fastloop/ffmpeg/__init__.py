"""Everything fastloop says to ffmpeg and hears from it.

:mod:`.binary` finds the program; :mod:`.commands` builds every command line (pure
functions); :mod:`.banner` parses what ``ffmpeg -i`` says of a file; :mod:`.process`
runs the commands, each child bound to die with fastloop, and pumps a pipe of raw
frames; :mod:`.logs` reads what ffmpeg writes besides frames (timestamp files, its
log, the reason it failed). Nothing else in fastloop builds an ffmpeg argument or
parses its output.
"""

from .binary import find_ffmpeg, input_url
from .commands import cropdetect_args, decode_args, frame_args, packets_args, probe_args
from .logs import first_timestamp, last_timestamp, open_failure, read_timestamps, reason
from .process import FramePipe, run, spawn

__all__ = [
    "FramePipe",
    "cropdetect_args",
    "decode_args",
    "find_ffmpeg",
    "first_timestamp",
    "frame_args",
    "input_url",
    "last_timestamp",
    "open_failure",
    "packets_args",
    "probe_args",
    "read_timestamps",
    "reason",
    "run",
    "spawn",
]
