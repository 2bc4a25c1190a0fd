"""One case built inside a batch worker: the job that travels to it and the outcome that comes back.

The worker builds into a private staging folder inside the output folder and
then renames the finished files into place (reports first, the packet last), so
the output folder never holds a partial file, even when a worker is killed.
Errors become an :class:`Outcome` carrying user-safe messages; a worker never
raises for bad input, so one bad case cannot stop a batch.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import signal
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

from ..archive import PacketArchive, open_storage
from ..errors import ErrorCode, PacketizerError, PolicyBlock
from ..model import Case, PayerPolicy
from ..pipeline import Packet, build_packet

log = logging.getLogger(__name__)

#: Name prefix of the staging folders workers build in (inside the output folder).
STAGING_PREFIX = ".pktz-batch-"


@dataclass(frozen=True)
class Job:
    """One case to build, picklable for a process pool.

    Attributes:
        index: Position of the case's entry in the manifest.
        case, policy: What to build.
        out_dir: The batch's output folder.
        today: The date deadlines are judged against.
        archive: Archive location to archive into, or None.
        spool: Where a packet that could not be archived waits for ``packetizer archive retry``.
        built_at: A fixed build time (``SOURCE_DATE_EPOCH``), or None for now.
        built_by: Recorded in the archive manifest.
    """

    index: int
    case: Case
    policy: PayerPolicy
    out_dir: Path
    today: dt.date
    archive: str | None = None
    built_by: str = "batch"
    spool: Path | None = None
    built_at: dt.datetime | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of one job.

    Attributes:
        index: The job's index.
        packet: File name of the packet in the output folder (None when it failed).
        sha256, pages: Of the packet.
        archived: Archive key prefix when archived.
        problems: (case field or None, message told beside that field) for each reason
            the build failed or is incomplete; empty on full success.
    """

    index: int
    packet: str | None = None
    sha256: str | None = None
    pages: int | None = None
    archived: str | None = None
    problems: tuple[tuple[str | None, str], ...] = ()

    @property
    def ok(self) -> bool:
        return self.packet is not None and not self.problems


def ignore_sigint() -> None:
    """Pool initializer: Ctrl-C reaches the whole process group, but only the parent decides to stop.

    Workers finish the case in hand, so no half-built packet is left behind. When the parent terminates
    them (Ctrl-C pressed twice), SIGTERM unwinds the build in hand like an exception: its sandboxed
    children, which lead process groups of their own and hear no signal meant for the batch, are stopped,
    and their folders (pictures of pages) removed, before the worker goes.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def build_job(job: Job) -> Outcome:
    """Build one case into ``job.out_dir``; never raises for bad input."""
    try:
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=job.out_dir))
    except OSError as exc:
        return Outcome(job.index, problems=((None, f"cannot write into the output folder ({exc.strerror})"),))
    try:
        archive = PacketArchive(open_storage(job.archive), job.spool) if job.archive is not None else None
        packet = build_packet(job.case, job.policy, out_dir=staging, today=job.today, archive=archive,
                              clock=(lambda: job.built_at) if job.built_at else None, built_by=job.built_by)
        publish(packet, job.out_dir)
        return packet_outcome(job.index, packet)
    except PolicyBlock as exc:
        return Outcome(job.index, problems=block_problems(exc))
    except PacketizerError as exc:
        if exc.code == ErrorCode.OUT_DIR:  # it names the private staging folder, not the one the user gave
            return Outcome(job.index, problems=((None, f"cannot write into the output folder: {exc.detail}"),))
        return Outcome(job.index, problems=((exc.field, exc.told(beside_field=True)),))
    except OSError as exc:
        return Outcome(job.index, problems=((None, f"cannot write the packet ({exc.strerror or type(exc).__name__})"),))
    except Exception as exc:  # noqa: BLE001 - a bug must fail its row, not the batch
        return Outcome(job.index, problems=((None, unexpected(job.case.case_id, exc)),))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def publish(packet: Packet, out_dir: Path) -> None:
    """Move the finished files from the staging folder into ``out_dir``: reports first, then the further
    parts of a packet in parts, the packet (part 1) last."""
    for path in (packet.report_path, packet.report_html_path, *packet.part_paths[1:], packet.path):
        os.replace(path, out_dir / path.name)


def packet_outcome(index: int, packet: Packet) -> Outcome:
    problems = ()
    if packet.archive_error:
        problems = ((None, f"the packet was built but not archived: {packet.archive_error}"),)
    return Outcome(index, packet=packet.path.name, sha256=packet.sha256, pages=packet.pages,
                   archived=packet.archived.prefix if packet.archived else None, problems=problems)


def block_problems(exc: PolicyBlock) -> tuple[tuple[str | None, str], ...]:
    """One problem per blocking finding, so each can be traced to its manifest column."""
    if not exc.findings:
        return ((None, exc.message),)
    # The manifest location names the field, so a message that starts with it is told without.
    return tuple((f.field, f"blocked [{f.code}]: {f.told(beside_field=True)}") for f in exc.findings)


def unexpected(case_id: str, exc: Exception) -> str:
    """Describe (and log) an unexpected error by its type and code location only: its text may quote patient data.

    The description goes into the batch report, since a pool worker's log may go nowhere.
    """
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
    log.error("case %s: unexpected %s%s", case_id, type(exc).__name__, where)
    return f"internal error ({type(exc).__name__}{where}); please report it"
