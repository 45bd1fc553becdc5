"""``fastloop index add|ls|rm STORE``: a store of fingerprints to scan uploads against."""

from __future__ import annotations

import os

import click

from ..util import display_path, hms
from .app import Run, cli, pass_ctx


@cli.group()
def index() -> None:
    """A store of fingerprints: which earlier videos share footage with a new one.

    \b
    Examples:
      fastloop index add store/ archive/*.mp4
      fastloop index ls store/
      fastloop scan upload.mp4 --against store/
    """


@index.command("add")
@click.argument("store", type=click.Path(file_okay=False))
@click.argument("videos", nargs=-1, required=True, type=click.Path())
@pass_ctx
def index_add(ctx: Run, store, videos) -> None:
    """Fingerprint VIDEOS into STORE (made if missing); the same content twice is one entry."""
    from ..errors import FastloopError
    from ..store import Store

    st = Store(store, create=True)
    added = 0
    for v in videos:
        name = display_path(os.path.basename(v))
        bar = ctx.bar(name)
        try:
            entry, new = st.add(v, progress=bar)
        except (FastloopError, OSError) as exc:
            click.echo(f"fastloop: error: {name}: {exc}", err=True)
            continue
        finally:
            bar.close()
        added += new
        if not ctx.quiet:
            what = "added" if new else "already there"
            click.echo(f"{name}: {what} ({entry.frames} frames, key {entry.key})")
    if added:
        st.reindex()


@index.command("ls")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
def index_ls(store) -> None:
    """List the videos in STORE."""
    from ..store import Store

    st = Store(store)
    for e in sorted(st.entries.values(), key=lambda e: e.name):
        click.echo(f"{e.key}  {hms(e.duration_s)}  {e.frames:>9} frames  {display_path(e.name)}")
    click.echo(f"{len(st.entries)} videos")


@index.command("rm")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.argument("names", nargs=-1, required=True)
def index_rm(store, names) -> None:
    """Remove videos (by file name or key) from STORE."""
    from ..store import Store

    st = Store(store)
    for n in names:
        gone = st.remove(n)
        click.echo(f"{display_path(n)}: {'removed' if gone else 'not in the store'}")
