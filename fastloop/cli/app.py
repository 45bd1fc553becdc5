"""The command group, its run state (progress bar, messages, interruption) and main().

The commands are in :mod:`.scanning` (scan, fingerprint, demo), :mod:`.blog`
(buckets, sweep) and :mod:`.evidence` (show, report); each registers itself on
:data:`cli` when :mod:`fastloop.cli` imports it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

import click

from .. import util
from ..errors import FastloopError
from ..util import display_path

HASH_SIZE = click.IntRange(4, 64)
DEFAULT_SIZES = "8,12,16,20,24,32,48,64"


class Progress:
    """A tqdm bar on stderr fed by the library's ``progress(done, total)`` callback,
    which worker threads call; ``run`` remembers the count for the message shown if
    the command is interrupted."""

    def __init__(self, label: str, enabled: bool, run: Run):
        from tqdm import tqdm

        self.run = run
        self.lock = threading.Lock()
        self.bar = tqdm(
            desc=label,
            unit=" frames",
            disable=not enabled,
            file=sys.stderr,
            mininterval=0.2,
            dynamic_ncols=True,
            bar_format="{desc} {percentage:3.0f}%|{bar:24}| {n}/{total} frames "
            "{rate_fmt} ETA {remaining}",
        )

    def __call__(self, done: int, total: int) -> None:
        self.run.done, self.run.total = done, total
        with self.lock:
            if total and self.bar.total != total:
                self.bar.total = total
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (ffmpeg stopped, work kept) but exit status 143."""


class Run:
    """One invocation: its options, and what it is working on (for the message when
    it is interrupted: which video, which checkpoint folder, how far)."""

    def __init__(self) -> None:
        self.progress = True
        self.quiet = False
        self.item: str | None = None
        self.cache: str | None = None
        self.done = 0
        self.total = 0
        self.terminated = False

    def configure(self, progress: bool, verbose: int, quiet: bool) -> None:
        self.progress = progress and not quiet and sys.stderr.isatty()
        self.quiet = quiet
        _log_to_stderr(0 if quiet else verbose)

    def working_on(self, item: str, cache: str | None) -> None:
        self.item, self.cache = item, cache

    def bar(self, label: str) -> Progress:
        return Progress(label, self.progress, self)

    def warn(self, msg: str) -> None:
        if not self.quiet:
            click.echo(f"fastloop: warning: {msg}", err=True)

    def interrupted_message(self, signal_name: str) -> str:
        where = f" after {self.done} of ~{self.total} frames" if self.done else ""
        msg = f"fastloop: {signal_name}{where}"
        if self.item and self.cache:
            msg += f"; what was decoded is saved in {display_path(self.cache)}: "
            msg += "run the same command to resume"
        elif self.item:
            msg += "; add --cache DIR to make a long scan resumable"
        return msg


class _Stderr(logging.Handler):
    """The ``fastloop`` logger's messages on the current stderr (click's, in tests)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


def _log_to_stderr(verbose: int) -> None:
    """``-v``: the library's INFO messages (ffmpeg command lines and warnings, the
    checkpoint), ``-vv``: DEBUG too; otherwise warnings are the CLI's own lines."""
    logger = logging.getLogger("fastloop")
    for h in [h for h in logger.handlers if isinstance(h, _Stderr)]:
        logger.removeHandler(h)
    if verbose:
        logger.addHandler(_Stderr())
        logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
        logger.propagate = False
    else:
        logger.setLevel(logging.NOTSET)
        logger.propagate = True


pass_ctx = click.make_pass_decorator(Run)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--no-progress",
    is_flag=True,
    help="No progress bar (it is off anyway when stderr is not a terminal).",
)
@click.option("-v", "--verbose", count=True, help="Show the ffmpeg command lines and warnings.")
@click.option("-q", "--quiet", is_flag=True, help="Print only results.")
@click.version_option(package_name="fastloop")
@click.pass_context
def cli(ctx: click.Context, no_progress: bool, verbose: int, quiet: bool) -> None:
    """Prove or disprove that a video is looped: find footage copied and spliced in again.

    \b
    Start here:
      fastloop demo                 make a looped clip and scan it
      fastloop scan VIDEO           verdict and a table of loops
      fastloop scan VIDEO --format json
    Results go to stdout, progress and errors to stderr. Exit status: 0 done (looped
    or not), 2 bad usage or unreadable input, 1 unexpected failure, 130 interrupted.
    FASTLOOP_DEBUG=1 shows tracebacks; FASTLOOP_FFMPEG picks the ffmpeg binary.
    """
    if not isinstance(ctx.obj, Run):
        ctx.obj = Run()
    ctx.obj.configure(not no_progress, verbose, quiet)


#: ``--cache DIR`` of the commands that decode (scan, fingerprint).
cache_option = click.option(
    "--cache",
    type=click.Path(file_okay=False),
    default=None,
    help="Checkpoint folder: the fingerprint is saved as it goes, an interrupted scan "
    "resumes where it stopped when run again, and a finished one is reused at once "
    "(re-scanning with other thresholds costs no decode).",
)


def _params(max_distance, min_length):
    from ..loops import LoopParams

    return LoopParams(max_distance=max_distance, min_length_s=min_length)


def _stopped(run: Run) -> None:
    if run.terminated:
        click.echo("\n" + run.interrupted_message("terminated"), err=True)
        sys.exit(143)
    click.echo("\n" + run.interrupted_message("interrupted"), err=True)
    sys.exit(130)


def _return_freed_memory() -> None:
    """Ask glibc to give every large array back to the system when it is freed.

    By default glibc raises its mmap threshold after each large free (up to 32 MB),
    so the per-frame arrays of a long video's search, tens of MB each, come from the
    heap and stay in the process once freed: some 90 MB more peak RSS on a 24-hour
    video. The command line owns its process; the library leaves the allocator alone.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD: fixed, as glibc's default start
    except (OSError, AttributeError):  # not glibc
        pass


def main(argv=None) -> None:
    """Entry point: map known errors to one line and an exit status."""
    import gc
    import signal

    _return_freed_memory()
    util.LEAN_NUMBA = True
    debug = os.environ.get("FASTLOOP_DEBUG", "") not in ("", "0")
    run = Run()

    def on_sigterm(signum, frame) -> None:
        run.terminated = True  # click turns the exception into Abort: remember why
        raise _Terminated()

    try:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, on_sigterm)
        cli.main(args=argv, prog_name="fastloop", standalone_mode=False, obj=run)
    except click.exceptions.Abort:  # click's wrapper of KeyboardInterrupt
        _stopped(run)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except FastloopError as exc:
        if debug:
            raise
        click.echo(f"fastloop: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        if debug:
            raise
        _stopped(run)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(1)
    except MemoryError as exc:
        if debug:
            raise
        click.echo(
            f"fastloop: error: out of memory ({exc or 'an allocation failed'}): a scan "
            "keeps about 220 bytes a frame; free memory, scan with a smaller --hash-size, "
            "or split the video",
            err=True,
        )
        sys.exit(1)
    except Exception as exc:
        if debug:
            raise
        click.echo(
            f"fastloop: unexpected error: {type(exc).__name__}: {exc} "
            "(FASTLOOP_DEBUG=1 shows the traceback)",
            err=True,
        )
        sys.exit(1)
    finally:
        # The interpreter's last garbage collection walks every object numba made
        # (0.3 s, a sixth of a 1-minute 360p scan); the process ends now, and the
        # files and children it must clean up have their own handlers, not cycles.
        gc.freeze()
