"""Targets (PASS/MISS), the 24-hour extrapolation, and bench/RESULTS.md from results."""

from __future__ import annotations

from .common import fmt_fps, fmt_s
from .contenders import LABELS

DAY_FRAMES = 24 * 3600 * 30


def _c(res: dict, clip: str, name: str) -> dict | None:
    return res.get("e2e", {}).get(clip, {}).get("contenders", {}).get(name)


def _target(name, measured, needed, op, unit="x", info=False, ceiling=None) -> dict:
    ok = None
    if measured is not None:
        ok = measured >= needed if op == ">=" else measured < needed
    status = "-" if measured is None else ("PASS" if ok else "MISS")
    if info and status != "-":
        status = "info"
    fmt = (lambda v: f"{v:.2f}{unit}") if unit == "x" else (lambda v: f"{v:.1f} {unit}")
    return {
        "name": name,
        "measured": measured,
        "needed": needed,
        "op": op,
        "status": status,
        "measured_text": "-" if measured is None else fmt(measured),
        "needed_text": f"{op} {fmt(needed)}" if op == ">=" else f"< {fmt(needed)}",
        "shortfall": None if measured is None or ok else (measured / needed),
        "ceiling": ceiling,
        "ceiling_text": "-" if ceiling is None else fmt(ceiling),
    }


def targets(res: dict) -> list[dict]:
    out = []
    for clip in ("1080p", "360p", "1080p-veryfast"):
        scan = _c(res, clip, "fastloop-scan")
        if scan is None:
            continue
        out.append(
            _target(
                f"fastloop scan fps / limit fps, {clip}",
                scan.get("vs_limit"),
                0.95,
                ">=",
                info=clip == "1080p-veryfast",
                ceiling=1.0,
            )
        )
    scan = _c(res, "1080p", "fastloop-scan")
    e = res.get("e2e", {}).get("1080p", {})
    lim = e.get("contenders", {}).get(e.get("limit") or "")
    for name, other, need in (
        ("scan vs plain `ffmpeg -i X -f null -`, 1080p medium", "ffmpeg-null", 1.3),
        ("scan vs the blog's method (imageio + hash of frame bytes), 1080p", "blog-bytes", 3.5),
        ("scan vs the blog's aHash (imageio + PIL + imagehash), 1080p", "blog-ahash", 5.0),
    ):
        o = _c(res, "1080p", other)
        ratio = o["median_s"] / scan["median_s"] if o and scan else None
        ceiling = o["median_s"] / lim["median_s"] if o and lim else None
        out.append(_target(name, ratio, need, ">=", ceiling=ceiling))
    k = res.get("kernel", {}).get("results", {})
    if k:
        out.append(
            _target(
                "kernel: numba fps / numpy per-frame fps",
                k["numpy-per-frame"]["numba_speedup"],
                50.0,
                ">=",
            )
        )
    for row in res.get("analysis", {}).get("rows", []):
        out.append(
            _target(
                f"analysis of {row['frames']:,} hashes: {row['case']}",
                row["seconds"],
                60.0,
                "<",
                unit="s",
            )
        )
    return out


def extrapolate(res: dict) -> dict:
    """How long a 24-hour (2,592,000 frames) scan takes at the measured rates."""
    out = {}
    walk = next(
        (r["seconds"] for r in res.get("analysis", {}).get("rows", []) if "walk" in r["case"]),
        0.0,
    )
    for clip in ("1080p", "360p", "1080p-veryfast"):
        e = res.get("e2e", {}).get(clip, {})
        scan = _c(res, clip, "fastloop-scan")
        fp = _c(res, clip, "fastloop-fingerprint")
        if not scan or not e.get("limit"):
            continue
        lim = e["contenders"][e["limit"]]
        row = {
            "at_limit_s": DAY_FRAMES / lim["fps"],
            "at_scan_rate_s": DAY_FRAMES / scan["fps"],
        }
        if fp:
            fixed = max(0.0, scan["median_s"] - fp["median_s"])
            row["model_s"] = fixed + DAY_FRAMES / fp["fps"] + walk
            row["model"] = (
                f"{fixed:.1f} s fixed (start-up, verify) + 2,592,000 frames at the "
                f"fingerprint rate {fp['fps']:.0f} fps + {walk:.1f} s loop search"
            )
        out[clip] = row
    return out


def _h(seconds: float) -> str:
    h, rest = divmod(round(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"


def _e2e_table(res: dict, clip: str) -> list[str]:
    e = res["e2e"][clip]
    if "skipped" in e:
        return [f"Skipped: {e['skipped']}.", ""]
    meta = e["clip"]
    lines = [
        f"{meta['frames']} frames ({meta['duration_s']:.0f} s at {meta['fps']} fps), "
        f"{meta['width']}x{meta['height']}, {meta['mbit_s']} Mbit/s, keyframes at "
        + ", ".join(f"{k:g}" for k in e.get("keyframes_s", []))
        + " s. The limit is **"
        + str(e["limit"])
        + "**.",
        "",
        "| contender | what | runs | median s | min-max s | fps | x limit |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    rows = sorted(e["contenders"].values(), key=lambda r: r["median_s"])
    for r in rows:
        bold = "**" if r["name"] in ("fastloop-scan", e["limit"]) else ""
        lines.append(
            f"| {bold}{r['name']}{bold} | {LABELS.get(r['name'], '')} | {r['runs']} | "
            f"{fmt_s(r['median_s'])} | {fmt_s(r['min_s'])}-{fmt_s(r['max_s'])} | "
            f"{fmt_fps(r['fps'])} | {r.get('vs_limit', float('nan')):.2f} |"
        )
    lines.append("")
    return lines


def _where(res: dict) -> list[str]:
    lines = [
        "| clip | scan wall | limit | fastloop's ffmpeg alone | fingerprint (API) | "
        "in-process total_s | decode_s | hash_s | match_s (search, judged on the descriptors) "
        "| outside total_s (start-up, imports, exit) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for clip in ("1080p", "360p", "1080p-veryfast"):
        scan = _c(res, clip, "fastloop-scan")
        if not scan:
            continue
        e = res["e2e"][clip]
        lim = e["contenders"][e["limit"]]
        ff = _c(res, clip, "fastloop-ffmpeg")
        fp = _c(res, clip, "fastloop-fingerprint")
        t = scan.get("timing_median", {})
        lines.append(
            f"| {clip} | {fmt_s(scan['median_s'])} | {fmt_s(lim['median_s'])} | "
            f"{fmt_s(ff['median_s']) if ff else '-'} | {fmt_s(fp['median_s']) if fp else '-'} | "
            f"{fmt_s(t.get('total_s'))} | "
            f"{fmt_s(t.get('decode_s'))} | {fmt_s(t.get('hash_s'))} | "
            f"{fmt_s(t.get('match_s'))} | {fmt_s(scan.get('outside_total_s'))} |"
        )
    lines.append("")
    return lines


def markdown(res: dict) -> str:
    m = res["machine"]
    L = [
        "# fastloop benchmarks",
        "",
        "Generated by `python -m bench` (see `bench/run.py`); raw numbers in "
        "`bench/results.json`. Every figure is a median over alternated rounds (contenders "
        "run A B C ... A B C ... on the same file, the first one rotating, after a "
        "warm-up), with min-max; compare ratios, not absolute times: the machine is "
        "shared and noisy.",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), "
        f"{m['memory_gb']} GB, {m['os']}",
        f"- Software: Python {m['python']}, numpy {m['numpy']}, numba {m['numba']}, {m['ffmpeg']}",
        f"- Run: {res['started']}, load average {m['load_avg'][0]:.2f} at start, "
        f"{m.get('load_avg_end', [0])[0]:.2f} at end; bench {res['bench_s']:.0f} s "
        f"(+ {res['generation_s_this_run']:.0f} s making clips in this run)"
        + (" - QUICK mode" if res.get("quick") else ""),
        "",
        "## Targets",
        "",
        "| target | measured | needed | | at best |",
        "|---|--:|--:|---|--:|",
    ]
    for t in res["targets"]:
        L.append(
            f"| {t['name']} | {t['measured_text']} | {t['needed_text']} | {t['status']} | "
            f"{t.get('ceiling_text', '-')} |"
        )
    L += [
        "",
        "Ratios are speed ratios (fps ratio = inverse ratio of median wall times); "
        "'x limit' below is the same against the limit of that clip. 'at best' is what "
        "a scan decoding exactly as fast as the limit, with no other cost at all, would "
        "reach on that comparison: a target above it cannot be met by any program that "
        "decodes every frame with this ffmpeg on this machine.",
        "",
        "## The clips",
        "",
        "Made once by `bench/clips.py` (ffmpeg lavfi Perlin footage, false colour, film "
        "grain; segments joined by the concat filter, encoded once by libx264 crf 23, "
        "GOP 250) and cached outside the repository:",
        "",
        "| clip | size | preset | frames | Mbit/s | making it took | planted copies |",
        "|---|---|---|--:|--:|--:|---|",
    ]
    for meta in res["clips"].values():
        plants = "; ".join(
            f"{p['frames']} frames from {p['original_frame']} at {p['copy_frame']}"
            for p in meta["planted"]
        )
        L.append(
            f"| {meta['name']} | {meta['width']}x{meta['height']} | {meta['preset']} | "
            f"{meta['frames']} | {meta['mbit_s']} | {meta['make_s']:.0f} s | {plants} |"
        )
    L += ["", "## End to end", ""]
    for clip in res["e2e"]:
        L += [f"### {clip}", "", *_e2e_table(res, clip)]
        scan = _c(res, clip, "fastloop-scan")
        if scan and "score" in scan:
            found = "; ".join(
                f"{lp['length_frames']} frames at "
                f"{', '.join(str(o['start_frame']) for o in lp['occurrences'])}"
                for lp in scan["loops_found"]
            )
            s = scan["score"]
            L += [
                f"fastloop found: {found or 'nothing'} (frame recall {s['recall']:.3f}, "
                f"precision {s['precision']:.3f} against the planted copies).",
                "",
            ]
    L += [
        "## Where fastloop's time goes",
        "",
        "Medians in seconds. `fastloop's ffmpeg alone` runs fastloop's own command lines "
        "(its `Video.plan` split with `SEEK_MARGIN_S` before and after each range, "
        "`-stats_enc_pre`, output to a pipe that is discarded): the difference to the "
        "limit is the cost of the range plan; the difference between the scan and that "
        "is Python (start-up, imports, reading the pipe, hashing, search, verify).",
        "",
    ]
    L += _where(res)
    for clip in ("1080p", "360p"):
        e = res["e2e"].get(clip, {})
        if "fastloop_ranges" in e:
            rr = "; ".join(
                f"[{r['range'][0]}, {r['range'][1]}) decodes [{r['decoded'][0]}, {r['decoded'][1]})"
                for r in e["fastloop_ranges"]
            )
            L.append(f"- {clip}: fastloop's ranges: {rr} (None = file start/end).")
    cold = res.get("cold_scan")
    if cold:
        L += [
            f"- First scan after install (empty numba cache, {cold['clip']}): "
            f"{cold['wall_s']:.1f} s wall (in-process timing {cold['timing']}).",
        ]
    L.append("")
    k = res.get("kernel")
    if k:
        r = k["results"]
        L += [
            "## Kernel level",
            "",
            f"Average hash + hash table on {k['frames']:,} random 24x24 uint8 frames in "
            "memory (the slower contenders on a prefix, compared by frames per second). "
            f"All compute the same hash (checked: {k['same_hash_checked']}).",
            "",
            "| contender | frames | median s | min-max s | frames/s | numba is |",
            "|---|--:|--:|--:|--:|--:|",
        ]
        for name, row in r.items():
            sp = row.get("numba_speedup")
            L.append(
                f"| {name}: {row['label']} | {row['frames']:,} | {fmt_s(row['median_s'])} | "
                f"{fmt_s(row['min_s'])}-{fmt_s(row['max_s'])} | {fmt_fps(row['fps'])} | "
                f"{'-' if sp is None else f'{sp:,.0f}x faster'} |"
            )
        nb = r["numba"]
        L += [
            "",
            f"numba split: hash {fmt_s(nb['hash_s_median'])} s, table "
            f"{fmt_s(nb['table_s_median'])} s.",
            "",
        ]
    blog = res.get("blog_frame_ms")
    if blog:
        L += [
            "What the blog's methods cost in Python per full 1080p RGB frame, decoding "
            "aside (median of 5): "
            + ", ".join(f"{k} {v:.1f} ms" for k, v in blog.items())
            + ". The bench's blog-bytes uses the cheapest, `hash(frame.tobytes())`.",
            "",
        ]
    st = res.get("startup")
    if st:
        c, w, b = st["compile"], st["cached"], st["bare"]
        L += [
            "## Start-up (fresh processes, medians)",
            "",
            "| | wall s | import numpy | import numba | import fastloop | first ahash | "
            "first group_ids |",
            "|---|--:|--:|--:|--:|--:|--:|",
        ]
        for label, row in (("empty numba cache (compile)", c), ("cached", w)):
            L.append(
                f"| {label} | {fmt_s(row['wall_s'])} | {fmt_s(row['import_numpy_s'])} | "
                f"{fmt_s(row['import_numba_s'])} | {fmt_s(row['import_fastloop_s'])} | "
                f"{fmt_s(row['first_ahash_s'])} | {fmt_s(row['first_group_ids_s'])} |"
            )
        L += [
            "",
            f"Bare: `python -c pass` {fmt_s(b['python'])} s, `python -c 'import numba'` "
            f"{fmt_s(b['import_numba'])} s, `python -m fastloop --version` "
            f"{fmt_s(b['fastloop_version'])} s.",
            "",
        ]
    an = res.get("analysis")
    if an:
        L += [
            "## Analysis level (bench/analysis.py)",
            "",
            "Near-pair search + loop grouping on synthetic hashes, no video.",
            "",
            "| case | hashes | seconds | loops | runs | peak RSS MB (process, cumulative) |",
            "|---|--:|--:|--:|--:|--:|",
        ]
        for row in an["rows"]:
            L.append(
                f"| {row['case']} | {row['frames']:,} | {row['seconds']:.1f} | {row['loops']} | "
                f"{row['runs']:,} | {row['peak_rss_mb']:.0f} |"
            )
        L += ["", f"Whole process (making the hashes too): {an['process_wall_s']:.0f} s.", ""]
    ex = res.get("extrapolation_24h")
    if ex:
        L += [
            "## 24 hours of video (2,592,000 frames at 30 fps), extrapolated",
            "",
            "| clip kind | at the limit's rate | at the measured scan rate (1-minute clip, "
            "fixed costs included) | model |",
            "|---|--:|--:|---|",
        ]
        for clip, row in ex.items():
            model = f"{_h(row['model_s'])}: {row['model']}" if "model_s" in row else "-"
            L.append(
                f"| {clip} | {_h(row['at_limit_s'])} | {_h(row['at_scan_rate_s'])} | {model} |"
            )
        L.append("")
    day = res.get("day24")
    if day:
        runs = day.get("runs", {"": day})
        L += [
            "## A real day-long video (`python -m bench.day24`)",
            "",
            "Footage rendered by numpy (`bench/footage.py`: travelling waves that never "
            "repeat), copies of 10 s planted at known places, encoded once by libx264; "
            "scanned by `python -m fastloop scan` in a subprocess, polled for the peak RSS "
            "of fastloop and of its ffmpeg children apart; `x limit` compares with ffmpeg "
            "alone (two single-threaded halves) on the same file.",
            "",
        ]
        for key in sorted(runs, key=lambda k: runs[k]["hours"]):
            L += day24_markdown(runs[key])
    return "\n".join(L) + "\n"


def day24_markdown(day: dict) -> list[str]:
    L = [
        f"### {day['hours']:g} h",
        "",
        f"Run {day.get('started', '?')}: {day['hours']} h at {day['width']}x{day['height']}, "
        f"{day['frames']:,} frames, {day['copies']} planted copies of "
        f"{day['copy_frames']} frames; made in {_h(day['make_s'])} "
        f"({day['make_fps']:,.0f} fps, {day['encoder']}), {day['mbytes']:.0f} MB.",
        "",
        "| video | frames | scan wall | fps | x limit | fastloop peak RSS | ffmpeg peak RSS "
        "(largest child / all at once) | loops found | planted found | recall | precision |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in day["scans"]:
        mem = s["memory"]
        vs = f"{s['vs_limit']:.2f}" if "vs_limit" in s else "-"
        L.append(
            f"| {s['hours']} h | {s['frames']:,} | {_h(s['wall_s'])} | {s['fps']:,.0f} | {vs} | "
            f"{mem['fastloop_peak_rss_mb']:.0f} MB | {mem['ffmpeg_peak_rss_mb_max_child']:.0f} / "
            f"{mem['ffmpeg_peak_rss_mb_sum']:.0f} MB | {s['loops']} | "
            f"{s['planted_found']}/{s['planted']} | {s['score']['recall']:.3f} | "
            f"{s['score']['precision']:.3f} |"
        )
    L.append("")
    for s in day["scans"]:
        t = s["timing"]
        lim = s.get("limit")
        L.append(
            f"- {s['hours']:g} h scan, in-process timing: decode {t.get('decode_s', 0):.1f} s "
            f"(hash {t.get('hash_s', 0):.1f} s), search + verify {t.get('match_s', 0):.1f} s, "
            f"total {t.get('total_s', 0):.1f} s; {s['memory']['ffmpeg_children_seen']} ffmpeg "
            "children" + (f"; ffmpeg alone (2 halves) {lim['wall_s']:.1f} s." if lim else ".")
        )
    L.append("")
    if day.get("flatness"):
        f = day["flatness"]
        L += [
            f"Memory flatness: fastloop's peak RSS {f['small_mb']:.0f} MB at {f['small_h']} h, "
            f"{f['big_mb']:.0f} MB at {f['big_h']} h ({f['ratio']:.2f}x for "
            f"{f['big_h'] / f['small_h']:.0f}x the frames).",
            "",
        ]
    return L
