"""``packetizer archive list|get|verify``: find, fetch and verify archived packets (SPEC section 7).

The lead registers the group on the main CLI with ``main.add_command(archive)``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import click

from .archive import (
    ArchivedVersion,
    check_id,
    check_sha_prefix,
    find_versions,
    get_version,
    list_versions,
    open_storage,
    retrieve_version,
    verify_version,
    write_new_file,
)
from .errors import NotFound, PacketizerError


class CommandError(click.ClickException):
    """A failure reported as ``error: <message>`` on stderr with exit status 1."""

    exit_code = 1

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def _reports_errors(command):
    """Turn project and file-system errors into ``error: ...`` and exit 1, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except PacketizerError as exc:
            raise CommandError(exc.message) from None
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise CommandError(f"{exc.strerror or exc}{where}") from None

    return wrapper


def _id_option_value(field: str):
    def callback(ctx, param, value):
        if value is None:
            return None
        try:
            return check_id(value, field)
        except PacketizerError as exc:
            raise click.BadParameter(exc.message) from None

    return callback


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
sha_option = click.option(
    "--sha", "sha_prefix", metavar="PREFIX", callback=_sha_option_value,
    help="Only the version whose packet sha256 starts with PREFIX.",
)


@click.group("archive")
def archive() -> None:
    """Find, fetch and verify archived packets."""


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
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of lines.")
@archive_location_option
@_reports_errors
def list_command(case_id: str | None, payer_id: str | None, as_json: bool, location: str | None) -> None:
    """One line per archived version: case id, payer id, created, sha256, pages."""
    versions = list_versions(open_storage(location), case_id=case_id, payer_id=payer_id)
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
            raise CommandError(f"refusing to overwrite {path}: it exists with different content")
    for path, data in targets:
        if not write_new_file(path, data) and path.read_bytes() != data:
            # Another process created it between the check and the write.
            raise CommandError(f"refusing to overwrite {path}: it exists with different content")
    return [path for path, _ in targets]


@archive.command("get", short_help="Fetch an archived packet with its manifest and reports.")
@click.argument("case_id", callback=_id_option_value("case_id"))
@sha_option
@click.option(
    "--out", "out_dir", metavar="DIR", default=".", show_default=True,
    type=click.Path(file_okay=False, path_type=Path), help="Folder to write the files into.",
)
@archive_location_option
@_reports_errors
def get_command(case_id: str, sha_prefix: str | None, out_dir: Path, location: str | None) -> None:
    """Fetch the packet, manifest and disclosure report of the newest (or the named) version.

    Prints the written paths, the packet last.
    """
    storage = open_storage(location)
    files = retrieve_version(storage, get_version(storage, case_id, sha_prefix))
    for path in _write_out(out_dir, files):
        click.echo(str(path))


@archive.command("verify", short_help="Check archived versions against their manifests.")
@click.argument("case_id", callback=_id_option_value("case_id"))
@sha_option
@archive_location_option
@_reports_errors
def verify_command(case_id: str, sha_prefix: str | None, location: str | None) -> None:
    """Recompute every hash of every version (or the named one) against its manifest."""
    storage = open_storage(location)
    versions = find_versions(storage, case_id, sha_prefix)
    if not versions:
        detail = f" with sha256 starting {sha_prefix}" if sha_prefix else ""
        raise NotFound(f"no archived packet for case {case_id}{detail}")
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
        raise CommandError(f"{altered} of {len(versions)} archived version(s) of case {case_id} differ from their manifest")
