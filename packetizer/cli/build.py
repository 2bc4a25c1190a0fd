"""``packetizer build CASE``: one packet and its disclosure report (SPEC section 7)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import click

from ..errors import PolicyBlock
from .common import CommandFailure, built_by, payers_option, reports_errors, today_option


@click.command("build")
@click.argument("case_file", metavar="CASE", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Folder for the packet and its disclosure report.")
@click.option("--archive", "do_archive", is_flag=True,
              help="Also archive the packet ($PACKETIZER_ARCHIVE, else the local archive folder).")
@payers_option
@today_option
@click.option("--override-reason", default=None, metavar="TEXT",
              help="Build despite payer-rule or triage blocks; the reason is recorded in the manifest and report.")
@click.option("--kind", type=click.Choice(["request", "appeal"]), default="request", show_default=True,
              help="request: the retro request; appeal: the appeal of the payer's decision on it.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of readable lines.")
@reports_errors
def build(case_file: str, out_dir: str, do_archive: bool, payers_dir: str | None, today: dt.date | None,
          override_reason: str | None, kind: str, as_json: bool) -> None:
    """Check CASE, then build its packet and disclosure report into --out.

    The last line printed is the packet's path. Exits 1 when the case is
    blocked or the input is bad; nothing is left in --out then.
    """
    from ..renderproc import Renderer, start_renderer

    # Before the case is loaded: the render process imports WeasyPrint meanwhile (packetizer.renderproc). A case
    # file that is not there is reported at once, without one (0.28 s instead of 0.43 s, and 0.24 s of CPU, not 0.66).
    renderer = start_renderer() if Path(case_file).is_file() else Renderer()
    try:
        packet = _build(case_file, out_dir, do_archive, payers_dir, today, override_reason, kind, renderer)
    finally:
        renderer.close()
    if as_json:
        click.echo(json.dumps(_json_result(packet), indent=2, ensure_ascii=False))
        return
    for warning in packet.warnings:
        click.echo(f"warning: [{warning.code}] {warning.message}", err=True)
    if packet.archive_error:
        click.echo(f"warning: archive pending: {packet.archive_error} (kept for 'packetizer archive retry')", err=True)
    click.echo(f"case {packet.case_id}: {packet.pages} pages, sha256 {packet.sha256}")
    for section in packet.sections:
        click.echo(f"  {section.title}: {_range(section.first_page, section.last_page)}")
    click.echo(f"disclosure report: {packet.report_path}")
    for part, path in zip(packet.parts, packet.part_paths):
        click.echo(f"part {part.number} of {part.count}: pages {part.first_page}\u2013{part.last_page} "
                   f"of {packet.total_pages}, {part.pages} pages with its cover sheet: {path}")
    if packet.archived is not None:
        click.echo(f"archived: {packet.archived.prefix}")
    click.echo(str(packet.path))


def _build(case_file: str, out_dir: str, do_archive: bool, payers_dir: str | None, today: dt.date | None,
           override_reason: str | None, kind: str, renderer):
    """Load the case and its payer's policy, and build (the options as :func:`build` takes them)."""
    from ..caseio import load_case

    case = load_case(case_file)   # a bad case file is reported before the checks and the pipeline are imported
    from ..checks import OVERRIDABLE_CODES
    from ..pipeline import build_packet, clock_from_environment
    from ..policy import load_payer

    policy = load_payer(case.payer_id, payers_dir)
    archive = None
    if do_archive:
        from ..archive import PacketArchive

        archive = PacketArchive.from_environment(os.environ)
    try:
        packet = build_packet(
            case, policy, out_dir=Path(out_dir), today=today or dt.date.today(), archive=archive,
            clock=clock_from_environment(os.environ), built_by=built_by("cli"), override_reason=override_reason,
            kind=kind, renderer=renderer,
        )
    except PolicyBlock as exc:
        hint = ""
        if any(f.code in OVERRIDABLE_CODES for f in exc.findings) and not override_reason:
            hint = "\n(to build anyway, give --override-reason TEXT; the reason is recorded)"
        raise CommandFailure(exc.message + hint) from None
    return packet


def _range(first: int, last: int) -> str:
    return f"p. {first}" if first == last else f"pp. {first}\u2013{last}"


def _json_result(packet) -> dict:
    report = packet.report
    return {
        "packet": str(packet.path),
        "sha256": packet.sha256,
        "pages": packet.pages,
        "sections": [s.to_dict() for s in packet.sections],
        "withheld": report["withheld"],
        "redactions": report["redactions"],
        "deadline": packet.check.deadline.isoformat() if packet.check.deadline else None,
        "days_left": packet.check.days_left,
        "kind": packet.kind,
        **({"appeal_deadline": packet.check.deadline.isoformat() if packet.check.deadline else None,
            "appeal_days_left": packet.check.days_left} if packet.kind == "appeal" else {}),
        "warnings": [w.to_dict() for w in packet.warnings],
        "report": str(packet.report_path),
        "archived": None if packet.archived is None else packet.archived.prefix,
        "archive_error": packet.archive_error,
        # A packet over the payer channel's limits is written in parts (SPEC section 11); ``packet``,
        # ``sha256`` and ``pages`` then describe part 1.
        "total_pages": packet.total_pages,
        "parts": [dict(part.to_dict(), packet=str(path)) for part, path in zip(packet.parts, packet.part_paths)],
    }

