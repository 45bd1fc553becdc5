"""``python -m bench.validate_compare``: ``fastloop compare`` on real footage, families of copies.

A family is one real clip and the copies derived from it: Meta's TMK sample (the
chair clip: its original, a grey version, one with a large logo), and, from every
other clip of ``../shared/videos``, a stretch cut at a random time (off keyframes)
and re-encoded: at the clip's rate, at 24 fps, mirrored, letterboxed (black bars
above and below, the picture scaled into 16:9 of a 4:3 frame), and under a channel
logo (an opaque box over a twentieth of the picture). Every pair inside a family must
be found with its time offset (within a frame, two where the rate changed) and the
right direction; no pair across families may match (every copy of every other family
is tried against each source). Written to ``bench/validate_compare.json``.

    python -m bench.validate_compare [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile

import numpy as np

from .common import HERE

SHARED = os.path.join(os.path.dirname(HERE), "..", "shared", "videos")


def derive(src: str, folder: str, rng: np.random.Generator) -> list[dict]:
    """Copies of a stretch of ``src``: (path, start of the stretch in src, rate)."""
    from fastloop.ffmpeg import find_ffmpeg
    from fastloop.video import probe

    info = probe(src)
    length = min(6.0, info.duration_s / 2)
    start = round(float(rng.uniform(0.5, info.duration_s - length - 0.5)), 3)
    stem = os.path.splitext(os.path.basename(src))[0]
    out = []
    for kind, vf in VARIANTS.items():
        path = os.path.join(folder, f"{stem}-{kind}.mp4")
        args = ["-ss", f"{start}", "-t", f"{length}", "-i", src, "-an"]
        if vf:
            args += ["-vf", vf]
        args += ["-c:v", "libx264", "-crf", "26", "-preset", "veryfast", path]
        subprocess.run([find_ffmpeg(), "-v", "error", "-y", *args], check=True)
        rate = 24 if "fps=" in vf else None
        out.append(
            {
                "path": path,
                "at": start,
                "length": length,
                "rate": rate,
                "mirrored": kind == "mirror",
            }
        )
    return out


#: The copies made of each clip: the ffmpeg filters that make them.
VARIANTS = {
    "cut": "",
    "cut-24fps": "fps=24",
    "mirror": "hflip",
    "letterbox": "scale=iw:ih*3/4,pad=iw:ih*4/3:0:(oh-ih)/2:black,setsar=1",
    "logo": "drawbox=x=iw*3/4:y=ih/20:w=iw/5:h=ih/4:color=white:t=fill",
}


def main(argv=None) -> None:
    from fastloop.compare import compare

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", help="folder for the derived copies")
    ap.add_argument("--seed", type=int, default=4)
    args = ap.parse_args(argv)
    folder = args.keep or tempfile.mkdtemp(prefix="fastloop-cmp-")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    shared = os.path.abspath(SHARED)
    families: dict[str, dict] = {}
    chair = os.path.join(shared, "variants", "chair-orig-22-sd-bar.mp4")
    families["chair"] = {
        "source": chair,
        "copies": [
            {"path": os.path.join(shared, "variants", v), "at": 0.0, "length": None, "rate": None}
            for v in ("chair-22-sd-grey-bar.mp4", "chair-22-with-large-logo-bar.mp4")
        ],
    }
    for name in sorted(os.listdir(shared)):
        if name.endswith(".mp4"):
            src = os.path.join(shared, name)
            families[name] = {"source": src, "copies": derive(src, folder, rng)}
    rows, cross = [], []
    for fam, f in families.items():
        for c in f["copies"]:
            got = compare(f["source"], c["path"])
            m = max(got.matches, key=lambda m: m.length, default=None)
            step = 1 / got.a.fps if got.a.fps > 0 else 1 / 30
            tol = (2 if c["rate"] else 1) * step + 1e-6
            ok = (
                m is not None
                and abs(m.a_start_s - m.b_start_s - c["at"]) <= tol
                and m.mirrored == c.get("mirrored", False)
            )
            rows.append(
                {
                    "family": fam,
                    "copy": os.path.basename(c["path"]),
                    "found": m is not None,
                    "offset_ok": bool(ok),
                    "a_start_s": m.a_start_s if m else None,
                    "b_start_s": m.b_start_s if m else None,
                    "shared_s": (m.a_end_s - m.a_start_s) if m else 0.0,
                    "copy_s": c["length"],
                    "crop": [str(x) for x in got.crops],
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    names = list(families)
    for fa in names:
        for fb in names:
            if fa == fb:
                continue
            for c in families[fb]["copies"]:
                got = compare(families[fa]["source"], c["path"])
                b = os.path.basename(c["path"])
                cross.append({"a": fa, "b": b, "matches": len(got.matches)})
                print(json.dumps(cross[-1]), flush=True)
    doc = {
        "within": rows,
        "across": cross,
        "found": sum(r["offset_ok"] for r in rows),
        "pairs": len(rows),
        "false_pairs": sum(1 for c in cross if c["matches"]),
    }
    with open(os.path.join(HERE, "validate_compare.json"), "w") as fh:
        json.dump(doc, fh, indent=1)
    print(f"within families: {doc['found']}/{doc['pairs']} found with their offset; "
          f"across families: {doc['false_pairs']}/{len(cross)} pairs matched")  # fmt: skip


if __name__ == "__main__":
    main()
