"""Regenerate the README's example pictures from a generated clip.

    pip install -e '.[plot]' && python docs/make_images.py

Makes the demo clip (40 s at 320x180: 4 s from 6.0 s spliced in again at 20.0 s and
29.0 s, with a freeze and a black stretch as decoys), scans it, and writes
docs/show.png (loop 1, occurrences 1 and 2, half-way into the loop), docs/loopmap.png
and docs/sweep.png (with the clip's ground truth) next to this script.
"""

from __future__ import annotations

import os
import sys
import tempfile

import fastloop
from fastloop import visual
from fastloop.synth import DEMO_SEGMENTS, make_video

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="fastloop-docs-") as tmp:
        clip = os.path.join(tmp, "demo-looped.mp4")
        truth = make_video(clip, DEMO_SEGMENTS)
        result = fastloop.scan(clip)
        lp = result.loops[0]
        pair = visual.loop_pair(clip, result, 1, (1, 2), offset=lp.length_frames // 2)
        written = [
            pair.save(os.path.join(HERE, "show.png")),
            visual.save_loop_map(result, os.path.join(HERE, "loopmap.png")),
        ]
        rows = fastloop.sweep(clip, [8, 12, 16, 24, 32, 48], truth=truth)
        written.append(
            visual.save_sweep_plot(
                rows, os.path.join(HERE, "sweep.png"), title="demo-looped.mp4: hash size sweep"
            )
        )
    for path in written:
        print(f"{os.path.relpath(path)}: {os.path.getsize(path) / 1000:.0f} kB", file=sys.stderr)


if __name__ == "__main__":
    main()
