"""Shared helpers of the bench: the machine, timed runs, medians, process-tree memory.

Machines are noisy (this one is shared): every figure the bench reports is a median
over alternated rounds, with its min-max, and compared as a ratio, never as one time.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
#: Where clips and day-long videos are cached: outside the repository.
DEFAULT_WORKDIR = os.path.join(os.path.expanduser("~"), ".cache", "fastloop-bench")


def workdir(path: str | None) -> str:
    path = os.path.abspath(path or os.environ.get("FASTLOOP_BENCH_DIR") or DEFAULT_WORKDIR)
    if os.path.commonpath([path, REPO]) == REPO:
        raise SystemExit(f"bench: the work folder {path} is inside the repository")
    os.makedirs(path, exist_ok=True)
    return path


def ffmpeg_exe() -> str:
    from fastloop.ffmpeg import find_ffmpeg

    return find_ffmpeg()


def ffmpeg_version(exe: str | None = None) -> str:
    out = subprocess.run(
        [exe or ffmpeg_exe(), "-hide_banner", "-version"], capture_output=True, text=True
    ).stdout
    return out.splitlines()[0] if out else "?"


def machine() -> dict:
    """CPU model, cores, memory, load and the versions that matter."""
    model = platform.processor() or "?"
    mhz = None
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("cpu MHz") and mhz is None:
                    mhz = float(line.split(":", 1)[1])
    except OSError:
        pass
    mem_gb = None
    try:
        with open("/proc/meminfo") as fh:
            mem_gb = round(int(fh.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    import numba
    import numpy

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        affinity = os.cpu_count()
    return {
        "cpu": model,
        "cpu_mhz": mhz,
        "cores": os.cpu_count(),
        "usable_cores": affinity,
        "memory_gb": mem_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "ffmpeg": ffmpeg_version(),
        "load_avg": list(os.getloadavg()),
    }


@dataclass
class Series:
    """The timed runs of one contender on one input."""

    name: str
    label: str
    frames: int
    times: list[float] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    #: what each run returned besides its time (e.g. fastloop's JSON timing)
    runs: list[dict] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")

    @property
    def fps(self) -> float:
        m = self.median
        return self.frames / m if self.times and m > 0 else float("nan")

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "frames": self.frames,
            "runs": len(self.times),
            "median_s": self.median,
            "min_s": min(self.times) if self.times else None,
            "max_s": max(self.times) if self.times else None,
            "times_s": self.times,
            "fps": self.fps,
            **self.extra,
        }


def alternate(
    contenders: Sequence[tuple[str, Callable[[], dict | None]]],
    rounds: int,
    series: dict[str, Series],
    log: Callable[[str], None] = print,
    only_first: dict[str, int] | None = None,
) -> None:
    """Run every contender once per round, A B C A B C ..., the starting contender
    rotating by one each round, so that no contender always runs first or after the
    same neighbour; what a contender returns (a dict) is kept in ``Series.runs``.
    ``only_first[name] = k`` keeps a slow contender to the first k rounds."""
    n = len(contenders)
    only_first = only_first or {}
    for r in range(rounds):
        for k in range(n):
            name, fn = contenders[(k + r) % n]
            if r >= only_first.get(name, rounds):
                continue
            t = time.perf_counter()
            got = fn()
            dt = time.perf_counter() - t
            s = series[name]
            s.times.append(dt)
            if got:
                s.runs.append(got)
            log(f"    round {r + 1}/{rounds}  {name:<24} {dt:8.2f} s  {s.frames / dt:9.1f} fps")


def run(args: Sequence[str], **kw) -> subprocess.CompletedProcess:
    """Run a child with its stdin closed; raise with its stderr when it fails."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    proc = subprocess.run(list(args), capture_output=True, **kw)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace")[-2000:] if proc.stderr else ""
        raise RuntimeError(f"{' '.join(map(str, args[:6]))} ... failed ({proc.returncode}):\n{err}")
    return proc


def run_parallel(commands: Sequence[Sequence[str]], piped: bool = False) -> None:
    """Start all commands at once and wait for all of them. Their output is thrown
    away: into /dev/null, or with ``piped`` into a pipe that a thread here reads and
    discards (as fastloop reads its frames, without the hashing)."""
    import tempfile
    import threading

    logs = [tempfile.TemporaryFile() for _ in commands]  # a full stderr pipe would hang
    out = subprocess.PIPE if piped else subprocess.DEVNULL
    procs = [
        subprocess.Popen(list(c), stdin=subprocess.DEVNULL, stdout=out, stderr=log)
        for c, log in zip(commands, logs, strict=True)
    ]

    def drain(p: subprocess.Popen) -> None:
        while p.stdout.read(1 << 20):
            pass

    readers = [threading.Thread(target=drain, args=(p,), daemon=True) for p in procs if piped]
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    errors = []
    for c, p, log in zip(commands, procs, logs, strict=True):
        p.wait()
        log.seek(0)
        err = log.read()
        log.close()
        if p.returncode != 0:
            errors.append(f"{' '.join(c[:6])} ...: {err.decode('utf-8', 'replace')[-500:]}")
    if errors:
        raise RuntimeError("\n".join(errors))


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class TreeMemory:
    """Polls a process and its descendants: peak RSS of the process itself (its
    ``VmHWM``, exact) and of its children (each child's ``VmHWM``; their sum at any
    poll, and the largest single child), plus the number of children seen."""

    def __init__(self, pid: int, interval: float = 0.1):
        self.pid = pid
        self.interval = interval
        self.main_kb = 0
        self.child_peak_kb: dict[int, int] = {}
        self.children_sum_kb = 0
        self.names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while True:
            self.main_kb = max(self.main_kb, _status_kb(self.pid, "VmHWM:"))
            try:
                kids = root.children(recursive=True)
            except psutil.Error:
                kids = []
            total = 0
            for k in kids:
                hwm = _status_kb(k.pid, "VmHWM:")
                rss = _status_kb(k.pid, "VmRSS:")
                self.child_peak_kb[k.pid] = max(self.child_peak_kb.get(k.pid, 0), hwm)
                if k.pid not in self.names:
                    try:
                        self.names[k.pid] = k.name()
                    except psutil.Error:
                        self.names[k.pid] = "?"
                total += rss
            self.children_sum_kb = max(self.children_sum_kb, total)
            if self._stop.wait(self.interval):
                break

    def result(self) -> dict:
        return {
            "fastloop_peak_rss_mb": round(self.main_kb / 1024, 1),
            "ffmpeg_children_seen": len(self.child_peak_kb),
            "ffmpeg_peak_rss_mb_max_child": round(
                max(self.child_peak_kb.values(), default=0) / 1024, 1
            ),
            "ffmpeg_peak_rss_mb_sum": round(self.children_sum_kb / 1024, 1),
        }


def scan_cli(
    path: str, extra: Sequence[str] = (), env: dict | None = None, memory: bool = False
) -> dict:
    """``python -m fastloop scan --format json PATH``: wall time, its JSON, and (with
    ``memory``) the peak RSS of fastloop and of its ffmpeg children, apart."""
    cmd = [sys.executable, "-m", "fastloop", "--no-progress", "scan", "--format", "json"]
    cmd += [*extra, path]
    t = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=env,
    )
    mem = TreeMemory(proc.pid) if memory else None
    if mem:
        mem.__enter__()
    try:
        out, err = proc.communicate()
    finally:
        if mem:
            mem.__exit__(None, None, None)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"fastloop scan failed ({proc.returncode}): {err.decode()[-2000:]}")
    doc = json.loads(out)
    res = {"wall_s": wall, "json": doc}
    if mem:
        res["memory"] = mem.result()
    return res


def fmt_s(x: float | None) -> str:
    if x is None or x != x:
        return "-"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def fmt_fps(x: float | None) -> str:
    if x is None or x != x:
        return "-"
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"
