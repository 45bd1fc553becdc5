"""The CSV output: one row per occurrence (every cut), for spreadsheets and scripts."""

from __future__ import annotations

import csv
import io
import os

from ..util import display_path


def format_csv(results) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(
        [
            "video",
            "loop",
            "occurrence",
            "start_frame",
            "start_s",
            "length_frames",
            "offset_frames",
            "loop_length_frames",
            "loop_length_s",
            "mean_distance",
        ]
    )
    for r in results:
        name = display_path(os.path.basename(str(r.fingerprint.info.get("path", ""))))
        for i, lp in enumerate(r.loops, 1):
            for k, occ in enumerate(lp.occurrences, 1):
                w.writerow(
                    [
                        name,
                        i,
                        k,
                        occ.start_frame,
                        f"{occ.start_s:.6f}",
                        occ.length_frames,
                        occ.offset_frames,
                        lp.length_frames,
                        f"{lp.length_s:.6f}",
                        f"{lp.mean_distance:.3f}",
                    ]
                )
    return out.getvalue()
