"""A refactor guard: the JSON of every scan on a corpus, written before and diffed after.

A change that must not change behaviour (issue 13's restructure) is checked by the
loops it reports, not by a test's pass mark: a heuristic moved to another module can
shift a cut by one frame and still pass a recall threshold. This writes, for every
video of the corpus, the JSON that ``fastloop scan --format json`` prints, timings
aside, and the fingerprint's hash of every frame; ``--check`` compares a new run with
a saved one and lists every difference.

The corpus: the test suite's own positive and negative cases (made by ffmpeg here,
the same compositions and seeds as ``tests/test_loops.py``), and every video in the
folders given with ``--videos`` (say the cases ``bench.validate_real --keep`` wrote).

    python -m bench.golden --out /tmp/before.json --videos /tmp/vcase
    ... refactor ...
    python -m bench.golden --out /tmp/after.json --videos /tmp/vcase --check /tmp/before.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

from .common import workdir


def corpus(folder: str) -> dict[str, str]:
    """Make the test suite's compositions once (cached by name) and return their paths."""
    from fastloop.synth import make_video
    from tests.test_loops import NEGATIVE, POSITIVE

    out = {}
    for kind, cases in (("positive", POSITIVE), ("negative", NEGATIVE)):
        for name, case in cases.items():
            slug = "".join(c if c.isalnum() else "-" for c in name)
            path = os.path.join(folder, f"golden-{kind}-{slug}.mp4")
            if not os.path.exists(path):
                kw = dict(case)
                make_video(path + ".part.mp4", kw.pop("segments"), **kw)
                os.replace(path + ".part.mp4", path)
            out[f"{kind}: {name}"] = path
    return out


def outputs(paths: dict[str, str]) -> dict[str, dict]:
    """The scan of each video as JSON, timings removed, plus a digest of its hashes."""
    import fastloop

    got = {}
    for name, path in paths.items():
        res = fastloop.scan(path)
        d = res.to_dict()
        d.pop("timing", None)
        d["hashes_sha1"] = hashlib.sha1(res.fingerprint.hashes.tobytes()).hexdigest()
        got[name] = d
        print(f"{name}: {len(d['loops'])} loops", flush=True)
    return got


def diff(old: dict, new: dict) -> list[str]:
    out = []
    for name in sorted(set(old) | set(new)):
        if name not in new or name not in old:
            out.append(f"{name}: only in {'before' if name in old else 'after'}")
        elif old[name] != new[name]:
            keys = sorted(
                k for k in set(old[name]) | set(new[name]) if old[name].get(k) != new[name].get(k)
            )
            out.append(f"{name}: differs in {', '.join(keys)}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--videos", nargs="*", default=[], help="folders of more videos (*.mp4, *.mkv)")
    ap.add_argument("--check", help="a saved run to compare with")
    ap.add_argument("--workdir", help="cache folder for the made videos")
    args = ap.parse_args(argv)
    paths = corpus(workdir(args.workdir))
    for folder in args.videos:
        for f in sorted(os.listdir(folder)):
            if f.endswith((".mp4", ".mkv")):
                paths[f"video: {f}"] = os.path.join(folder, f)
    got = outputs(paths)
    with open(args.out, "w") as fh:
        json.dump(got, fh, indent=1, sort_keys=True)
    if args.check:
        with open(args.check) as fh:
            old = json.load(fh)
        problems = diff(old, got)
        for p in problems:
            print("DIFF", p)
        print(f"{len(got)} scans, {len(problems)} differ")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
