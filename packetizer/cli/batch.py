"""``packetizer batch MANIFEST`` and ``packetizer worker``: many packets from one manifest (SPEC section 7).

Exit status of ``batch``: 0 every row built or skipped, 1 some row failed (or
the batch could not start), 2 usage error, 130 stopped with Ctrl-C.
"""

from __future__ import annotations

import datetime as dt
import logging
import os

import click

from .. import limits
from .common import built_by, payers_option, reports_errors, today_option

ENGINE_CHOICES = ("local", "celery")  # mirrors batch.runner.ENGINES without importing the pipeline
EXIT_INTERRUPTED = 130               # the shell's convention for "stopped by SIGINT"


@click.command("batch")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Folder for the packets, their disclosure reports and batch-report.csv/.json.")
@click.option("--workers", type=click.IntRange(1, limits.MAX_BATCH_WORKERS), default=None,
              help="Packets built in parallel on this machine [default: one per CPU].")
@click.option("--archive", "do_archive", is_flag=True,
              help="Also archive every packet ($PACKETIZER_ARCHIVE, else the local archive folder).")
@payers_option
@today_option
@click.option("--engine", type=click.Choice(ENGINE_CHOICES), default="local", show_default=True,
              help="local: a process pool here; celery: tasks for `packetizer worker` processes "
                   "($PACKETIZER_BROKER_URL; packets travel through the archive).")
@reports_errors
def batch(manifest: str, out_dir: str, workers: int | None, do_archive: bool, payers_dir: str | None,
          today: dt.date | None, engine: str) -> None:
    """Build a packet for every case in MANIFEST (.csv, .json or .jsonl).

    Every row is validated first; a bad row is reported with its line and column
    and never stops the others. Cases whose inputs did not change since their
    last successful build into --out are skipped. The last line printed is the
    path of batch-report.csv.
    """
    from ..archive import archive_location_from_environment, default_spool_dir
    from ..batch.runner import run_batch
    from ..pipeline import source_date_epoch

    # The celery engine always archives: that is how its packets travel back.
    archive = archive_location_from_environment(os.environ) if do_archive or engine == "celery" else None
    with _ProgressBar() as bar:
        report = run_batch(
            manifest, out_dir=out_dir, workers=workers, archive=archive, spool=default_spool_dir(os.environ),
            built_at=source_date_epoch(os.environ),
            payers_dir=payers_dir,
            today=today, engine=engine, built_by=built_by("batch"), on_progress=bar.update,
        )
    for row in report.rows:
        if row.status == "failed":
            click.echo(f"failed: {row.case_id or '(no case id)'}: {row.error}", err=True)
    rate = report.built / report.elapsed if report.elapsed > 0 else 0.0
    click.echo(f"{report.built} built, {report.skipped} skipped, {report.failed} failed "
               f"in {report.elapsed:.1f} s ({rate:.1f} packets/s)")
    if report.interrupted:
        click.echo("stopped: finished packets were kept; run the same command again to build the rest", err=True)
    click.echo(str(report.json_path))
    click.echo(str(report.csv_path))
    if report.interrupted:
        raise SystemExit(EXIT_INTERRUPTED)
    if report.failed:
        raise SystemExit(1)


class _ProgressBar:
    """A live rich progress bar on stderr: done/total, built/skipped/failed counts, elapsed and ETA."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.progress = Progress(
            TextColumn("packets"), BarColumn(), MofNCompleteColumn(),
            TextColumn("built {task.fields[built]} · skipped {task.fields[skipped]} · failed {task.fields[failed]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False,
        )
        self.task = None

    def __enter__(self) -> "_ProgressBar":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def update(self, event) -> None:
        counts = {"built": event.built, "skipped": event.skipped, "failed": event.failed}
        if self.task is None:
            # Rows decided before building (skips, invalid rows) must not count towards the speed
            # the ETA is computed from, so they are the starting point, not an advance.
            self.task = self.progress.add_task("batch", total=event.total, completed=event.done, **counts)
            return
        self.progress.update(self.task, completed=event.done, **counts)


@click.command("worker")
@click.option("--concurrency", type=click.IntRange(1, limits.MAX_BATCH_WORKERS), default=None,
              help="Packets built in parallel by this worker [default: one per CPU].")
@click.option("--queue", default=None, help="Queue to consume [default: $PACKETIZER_QUEUE, else packetizer].")
@click.option("--loglevel", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
@reports_errors
def worker(concurrency: int | None, queue: str | None, loglevel: str) -> None:
    """Run a Celery worker that builds packets for `packetizer batch --engine celery`.

    Needs $PACKETIZER_BROKER_URL and the same $PACKETIZER_ARCHIVE storage as the
    dispatcher (S3 when workers run on several machines). Stop it with Ctrl-C
    (it finishes the packets in hand).
    """
    from ..batch.celery_app import create_app, queue_name

    app = create_app()
    from ..batch import warm  # noqa: F401 - importing it warms this process up before Celery forks children

    # Celery logs at --loglevel from the root down; WeasyPrint's per-page layout steps are noise.
    for noisy in ("weasyprint", "fontTools"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, getattr(logging, loglevel.upper())))
    argv = ["worker", f"--loglevel={loglevel}", f"--queues={queue or queue_name()}",
            f"--hostname=packetizer-{os.getpid()}@%h", "--without-gossip", "--without-mingle"]
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    app.worker_main(argv)


__all__ = ["batch", "worker"]
