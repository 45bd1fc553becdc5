"""The text output: a verdict line, then per loop a summary and its occurrences."""

from __future__ import annotations

import io
import os

from ..util import display_path, hms


def format_text(result, max_rows: int = 20, cuts: bool = False) -> str:
    """Verdict line, then per loop a summary (footage length, plays, typical period,
    first and last play, share of the video) and its occurrences: every one with
    ``cuts``, else the first ``max_rows``."""
    out = io.StringIO()
    info = result.fingerprint.info
    name = display_path(os.path.basename(str(info.get("path", ""))))
    if not result.looped:
        frames = len(result.fingerprint)
        out.write(f"{name}: no loops found ({frames} frames, {_duration_s(result):.1f} s)\n")
        _shared(out, name, result)
        return out.getvalue()
    n = len(result.loops)
    total = max(1, len(result.fingerprint))
    fps = result.fingerprint.fps or 30.0
    out.write(
        f"{name}: looped: {n} loop{'s' if n != 1 else ''}, "
        f"{result.repeated_s:.1f} s of repeated footage\n"
    )
    for i, lp in enumerate(result.loops, 1):
        occ = lp.occurrences
        share = 100.0 * lp.frames / total
        first, last = occ[0], occ[-1]
        out.write(
            f"loop {i}: {hms(lp.length_s)} of footage ({lp.length_frames} frames) plays "
            f"{len(occ)} times, {share:.1f}% of the video, mean distance "
            f"{lp.mean_distance:.1f} bits\n"
        )
        if len(occ) > 2:
            out.write(
                f"  typical period {hms(lp.period_frames / fps)}; first play at "
                f"{hms(first.start_s)}, last at {hms(last.start_s)}\n"
            )
        out.write(
            f"  {'#':>5}  {'start':<12}  {'frame':>8}  {'frames':>7}  {'footage frames':<15}\n"
        )
        rows = occ if cuts else occ[:max_rows]
        for k, o in enumerate(rows, 1):
            span = f"{o.offset_frames}-{o.offset_frames + o.length_frames - 1}"
            out.write(
                f"  {k:>5}  {hms(o.start_s):<12}  {o.start_frame:>8}  {o.length_frames:>7}  "
                f"{span:<15}\n"
            )
        if len(rows) < len(occ):
            more = len(occ) - len(rows)
            out.write(f"  ... {more} more (--cuts lists every one; so do csv and json)\n")
    _shared(out, name, result)
    return out.getvalue()


def _shared(out, name: str, result) -> None:
    """With ``--against STORE``: the stored videos that share footage, and where."""
    if result.shared is None:
        return
    if not result.shared:
        out.write(f"{name}: shares no footage with the store\n")
    for entry, found in result.shared:
        other = display_path(entry.name)
        out.write(f"{name}: shares footage with {other}\n")
        for m in found:
            out.write(
                f"  {other} {hms(m.a_start_s)}-{hms(m.a_end_s)} plays here at "
                f"{hms(m.b_start_s)}-{hms(m.b_end_s)} ({m.length} frames)\n"
            )


def _duration_s(result) -> float:
    return float(result.to_dict()["duration_s"])
