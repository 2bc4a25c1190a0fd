"""``packetizer archive list|get|verify|hold|pending|retry`` (SPEC section 7, issue 6).

``list``, ``get`` and ``verify`` find, fetch and verify archived packets;
``hold`` places or lifts a legal hold (S3 with Object Lock); ``pending`` and
``retry`` show and archive the packets a build could not archive at the time.

"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..archive import (
    ArchivedVersion,
    PendingEntry,
    check_id,
    check_month,
    check_sha_prefix,
    find_versions,
    get_version,
    hold_version,
    list_pending,
    list_versions,
    open_storage,
    retrieve_version,
    retry_pending,
    verify_version,
    write_new_file,
)
from ..errors import NotFound, PacketizerError
from .common import CommandFailure, reports_errors


def _id_option_value(field: str):
    def callback(ctx, param, value):
        if value is None:
            return None
        try:
            return check_id(value, field)
        except PacketizerError as exc:
            raise click.BadParameter(exc.message) from None

    return callback


def _month_value(ctx, param, value):
    if value is None:
        return None
    try:
        check_month(value)
    except PacketizerError as exc:
        raise click.BadParameter(exc.message) from None
    return value


def _sha_option_value(ctx, param, value):
    if value is None:
        return None
    try:
        return check_sha_prefix(value)
    except PacketizerError as exc:
        raise click.BadParameter(exc.message) from None


archive_location_option = click.option(
    "--archive",
    "location",
    metavar="LOCATION",
    default=None,
    help="Archive folder or s3://bucket/prefix [default: $PACKETIZER_ARCHIVE, else ~/.local/share/packetizer/archive].",
)
spool_option = click.option(
    "--spool", "spool_dir", metavar="DIR", default=None, type=click.Path(file_okay=False, path_type=Path),
    help="Folder of packets waiting to be archived [default: $PACKETIZER_SPOOL, else ~/.local/share/packetizer/pending].",
)
sha_option = click.option(
    "--sha", "sha_prefix", metavar="PREFIX", callback=_sha_option_value,
    help="Only the version whose packet sha256 starts with PREFIX.",
)


@click.group("archive")
def archive() -> None:
    """Find, fetch, verify and hold archived packets; retry pending archives."""


def _summary(version: ArchivedVersion) -> dict:
    return {
        "case_id": version.case_id,
        "payer_id": version.payer_id,
        "created": version.created,
        "sha256": version.sha256,
        "pages": version.pages,
        "key": version.prefix,
        "damaged": version.damaged,
    }


@archive.command("list", short_help="List archived versions.")
@click.option("--case", "case_id", metavar="ID", callback=_id_option_value("case_id"), help="Only this case.")
@click.option("--payer", "payer_id", metavar="ID", callback=_id_option_value("payer_id"), help="Only this payer.")
@click.option("--month", metavar="YYYY-MM", callback=_month_value, help="Only versions built in this month (UTC).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of lines.")
@archive_location_option
@reports_errors
def list_command(case_id: str | None, payer_id: str | None, month: str | None, as_json: bool,
                 location: str | None) -> None:
    """One line per archived version: case id, payer id, created, sha256, pages."""
    versions = list_versions(open_storage(location), case_id=case_id, payer_id=payer_id, month=month)
    if as_json:
        click.echo(json.dumps([_summary(v) for v in versions], indent=2))
        return
    if not versions:
        click.echo("no archived packets", err=True)
    for v in versions:
        line = f"{v.case_id}  {v.payer_id}  {v.created or '?'}  {v.sha256}  {v.pages if v.pages is not None else '?'}"
        click.echo(line + (f"  damaged: {v.damaged}" if v.damaged else ""))


def _write_out(out_dir: Path, files: list[tuple[str, bytes]]) -> list[Path]:
    """Write every file into ``out_dir`` or none: existing identical files are kept, different ones refused."""
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = [(out_dir / name, data) for name, data in files]
    for path, data in targets:
        if path.exists() and (not path.is_file() or path.read_bytes() != data):
            raise CommandFailure(f"refusing to overwrite {path}: it exists with different content")
    for path, data in targets:
        if not write_new_file(path, data) and path.read_bytes() != data:
            # Another process created it between the check and the write.
            raise CommandFailure(f"refusing to overwrite {path}: it exists with different content")
    return [path for path, _ in targets]


@archive.command("get", short_help="Fetch an archived packet with its manifest and reports.")
@click.argument("case_id", callback=_id_option_value("case_id"))
@sha_option
@click.option(
    "--out", "out_dir", metavar="DIR", default=".", show_default=True,
    type=click.Path(file_okay=False, path_type=Path), help="Folder to write the files into.",
)
@archive_location_option
@reports_errors
def get_command(case_id: str, sha_prefix: str | None, out_dir: Path, location: str | None) -> None:
    """Fetch the packet, manifest and disclosure report of the newest (or the named) version.

    Prints the written paths, the packet last.
    """
    storage = open_storage(location)
    files = retrieve_version(storage, get_version(storage, case_id, sha_prefix))
    for path in _write_out(out_dir, files):
        click.echo(str(path))


def _versions_of(storage, case_id: str, sha_prefix: str | None) -> list[ArchivedVersion]:
    versions = find_versions(storage, case_id, sha_prefix)
    if not versions:
        detail = f" with sha256 starting {sha_prefix}" if sha_prefix else ""
        raise NotFound(f"no archived packet for case {case_id}{detail}")
    return versions


@archive.command("verify", short_help="Check archived versions against their manifests.")
@click.argument("case_id", callback=_id_option_value("case_id"))
@sha_option
@archive_location_option
@reports_errors
def verify_command(case_id: str, sha_prefix: str | None, location: str | None) -> None:
    """Recompute every hash of every version (or the named one) against its manifest."""
    storage = open_storage(location)
    versions = _versions_of(storage, case_id, sha_prefix)
    altered = 0
    for version in versions:
        problems = verify_version(storage, version)
        if not problems:
            click.echo(f"intact: {version.prefix}")
            continue
        altered += 1
        click.echo(f"altered: {version.prefix}")
        for problem in problems:
            click.echo(f"  {problem}")
    if altered:
        raise CommandFailure(
            f"{altered} of {len(versions)} archived version(s) of case {case_id} differ from their manifest")


@archive.command("hold", short_help="Place or lift a legal hold on a case's archived packets.")
@click.argument("case_id", callback=_id_option_value("case_id"))
@click.option("--on/--off", "on", default=None, help="Place (--on) or lift (--off) the hold.  [required]")
@sha_option
@archive_location_option
@reports_errors
def hold_command(case_id: str, on: bool | None, sha_prefix: str | None, location: str | None) -> None:
    """Place or lift a legal hold on every object of every version (or the named one) of a case.

    Needs an S3 archive in a bucket with Object Lock. While held, no version can
    be deleted, whatever its retention date.
    """
    if on is None:
        raise click.UsageError("give --on to place the hold or --off to lift it")
    storage = open_storage(location)
    for version in _versions_of(storage, case_id, sha_prefix):
        keys = hold_version(storage, version, on)
        click.echo(f"legal hold {'on' if on else 'off'}: {version.prefix} ({len(keys)} objects)")


def _pending_summary(entry: PendingEntry) -> dict:
    return {
        "entry": entry.entry_id, "case_id": entry.case_id, "payer_id": entry.payer_id, "sha256": entry.sha256,
        "created": entry.created, "queued_at": entry.queued_at, "attempts": entry.attempts,
        "last_error": entry.last_error,
    }


@archive.command("pending", short_help="List packets waiting to be archived.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of lines.")
@spool_option
@reports_errors
def pending_command(as_json: bool, spool_dir: Path | None) -> None:
    """One line per packet a build could not archive yet: case id, payer id, sha256, attempts, last error."""
    entries = list_pending(spool_dir)
    if as_json:
        click.echo(json.dumps([_pending_summary(e) for e in entries], indent=2))
        return
    if not entries:
        click.echo("nothing pending", err=True)
    for e in entries:
        click.echo(f"{e.case_id}  {e.payer_id}  {e.sha256}  queued {e.queued_at}  attempts {e.attempts}"
                   f"  {e.last_error or ''}".rstrip())


@archive.command("retry", short_help="Archive the packets that are waiting, and verify them.")
@spool_option
@archive_location_option
@reports_errors
def retry_command(spool_dir: Path | None, location: str | None) -> None:
    """Archive every pending packet; each leaves the spool once its archived copy verifies.

    Exits 1 if any packet is still pending.
    """
    results = retry_pending(open_storage(location), spool_dir=spool_dir)
    if not results:
        click.echo("nothing pending", err=True)
        return
    failed = 0
    for result in results:
        if result.archived is not None:
            click.echo(f"archived: {result.archived.prefix}")
        else:
            failed += 1
            click.echo(f"pending: {result.entry.case_id} {result.entry.sha256[:12]}: {result.error}")
    if failed:
        raise CommandFailure(f"{failed} of {len(results)} pending packet(s) are still not archived")
