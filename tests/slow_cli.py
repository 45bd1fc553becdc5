"""``fastloop`` as the resume tests run it: ffmpeg reads at 6x real time and a
checkpoint chunk holds 60 frames, so a test can stop a scan in the middle of its
decode. The knobs are turned here, in the test's own process: fastloop reads none."""

import subprocess
import sys

from fastloop import checkpoint as cache
from fastloop.cli import main

cache.CHUNK_FRAMES = 60
_Popen = subprocess.Popen


class _SlowPopen(_Popen):
    def __init__(self, args, *rest, **kwargs):
        if isinstance(args, list) and "-i" in args and "-stats_enc_pre" in args:
            at = args.index("-i")
            args = [*args[:at], "-readrate", "6", *args[at:]]
        super().__init__(args, *rest, **kwargs)


subprocess.Popen = _SlowPopen

if __name__ == "__main__":
    sys.argv[0] = "fastloop"
    main()
