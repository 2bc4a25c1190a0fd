"""``packetizer export CASE --format pas|fax-tiff``: the packet, built as ``build`` builds it, in a channel's format.

SPEC section 7 (the ``export`` row) and section 11.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import click

from ..errors import PolicyBlock
from .common import CommandFailure, built_by, payers_option, reports_errors, today_option


@click.command("export")
@click.argument("case_file", metavar="CASE", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["pas", "fax-tiff"]), required=True,
              help="pas: a Da Vinci PAS request Bundle (FHIR R4); fax-tiff: a Group 4 fax TIFF.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Folder for the packet, its disclosure report and the export.")
@payers_option
@today_option
@reports_errors
def export(case_file: str, fmt: str, out_dir: str, payers_dir: str | None, today: dt.date | None) -> None:
    """Build CASE's packet exactly as `build` does, then write it in a channel's format beside it.

    fax-tiff writes <packet name>.tif (one TIFF per part when the packet is sent in parts);
    pas writes <packet name>.pas.json. The last line printed is the export's path (the last
    part's TIFF for a packet in parts). Exits 1 when the case is blocked or the input is bad.
    """
    from ..caseio import load_case
    from ..exports import export_packet
    from ..pipeline import _write_outputs, build_packet, clock_from_environment
    from ..policy import load_payer

    case = load_case(case_file)
    policy = load_payer(case.payer_id, payers_dir)
    clock = clock_from_environment(os.environ)
    try:
        packet = build_packet(case, policy, out_dir=Path(out_dir), today=today or dt.date.today(), clock=clock,
                              built_by=built_by("cli"))
    except PolicyBlock as exc:
        raise CommandFailure(exc.message) from None
    for warning in packet.warnings:
        click.echo(f"warning: [{warning.code}] {warning.message}", err=True)
    files = export_packet(packet, case, policy, fmt, created=clock())
    paths = _write_outputs(Path(out_dir), files)
    for path in packet.paths:
        click.echo(f"packet: {path}")
    for name in files:
        click.echo(str(paths[name]))
