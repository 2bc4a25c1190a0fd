"""``packetizer era import FILE.835``: the denial worklist from a payer's remittance (SPEC section 9).

Exit status: 0 read (even when single claims went to ``errors``), 1 unreadable file (``error: ...`` on
stderr; nothing written), 2 usage error. ``--drafts DIR`` writes one pre-filled case file per claim on the
retro path, only after the whole file was read, each file written under a temporary name and renamed.
Draft file names carry a hash of the claim, never a name or member id.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import click

from .common import CommandFailure, payers_option, reports_errors, today_option

log = logging.getLogger(__name__)


@click.group("era")
def era() -> None:
    """Denials from X12 835 remittance files: the worklist and pre-filled cases."""


@era.command("import")
@click.argument("remittance_file", metavar="FILE.835", type=click.Path(dir_okay=False))
@payers_option
@today_option
@click.option("--json", "as_json", is_flag=True, help="Print the worklist as one JSON object (SPEC section 9).")
@click.option("--drafts", "drafts_dir", type=click.Path(file_okay=False), default=None,
              help="Write one pre-filled case file per retro-path claim into this folder.")
@reports_errors
def import_(remittance_file: str, payers_dir: str | None, today: dt.date | None, as_json: bool,
            drafts_dir: str | None) -> None:
    """Read FILE.835 and print every denial with its triage, deadline and next action, soonest first.

    Exits 0 when the file was read (claims that could not be read are listed under errors) and 1 when
    it is not a well-formed 835.
    """
    from .. import limits
    from ..era import draft_case, draft_name, is_retro_path, listed_claims, read_remittance
    from ..errors import EraError
    from ..policy import load_registry

    today = today or dt.date.today()
    path = Path(remittance_file)
    name = path.name
    registry = load_registry(payers_dir)
    with path.open("rb") as handle:
        data = handle.read(limits.MAX_REMITTANCE_BYTES + 1)
    if len(data) > limits.MAX_REMITTANCE_BYTES:
        raise EraError(f"the file is larger than {limits.MAX_REMITTANCE_BYTES / (1024 * 1024):g} MB, the largest "
                       "remittance file read: ask the payer for smaller files", subject=name, noun="remittance")
    remittance = read_remittance(data, name=name)
    pairs = listed_claims(remittance, registry, today=today)
    result = {"claims": [entry for entry, _ in pairs], "errors": [e.to_dict() for e in remittance.errors]}
    # Counts only: a remittance's file name may carry a patient's name.
    log.info("remittance read: %d claim(s), %d listed, %d unreadable", len(remittance.claims),
             len(result["claims"]), len(result["errors"]))
    written = []
    if drafts_dir:
        retro = [(entry, claim) for entry, claim in pairs if is_retro_path(entry)]
        written = write_drafts(Path(drafts_dir), [(draft_name(e), draft_case(e, c)) for e, c in retro])
    if as_json:
        click.echo(worklist_json(result))
    else:
        click.echo(render_table(result, name=name, today=today))
        for path in written:
            click.echo(f"draft: {path}")


def worklist_json(result: dict) -> str:
    """The worklist object as JSON, one claim (and one error) a line.

    Readable in a terminal and quick to write: each line comes from the json module's C encoder, while
    ``indent=`` would take the pure-Python one (half a second for 10,000 claims).
    """
    def items(values: list) -> str:
        return "[]" if not values else "[\n" + ",\n".join("  " + json.dumps(v) for v in values) + "\n]"

    from ..era.worklist import INTERNAL_KEYS

    # SPEC section 9's keys exactly: the keys the worklist keeps for itself stay out of the contract.
    claims = [{key: value for key, value in entry.items() if key not in INTERNAL_KEYS} for entry in result["claims"]]
    return f'{{"claims": {items(claims)},\n"errors": {items(result["errors"])}}}'


def write_drafts(folder: Path, drafts: list[tuple[str, dict]]) -> list[Path]:
    """Write each (file name, case mapping) as YAML in ``folder``, atomically; returns the paths."""
    import yaml

    from ..batch.report import replace_file

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandFailure(f"cannot create the drafts folder ({exc.strerror})") from None
    paths = []
    for file_name, case in drafts:
        target = folder / file_name
        text = ("# Drafted from a remittance: fill in what it could not know, then run `packetizer check` on it.\n"
                + yaml.safe_dump(case, sort_keys=False, allow_unicode=True))
        replace_file(target, text.encode("utf-8"))   # atomic, and private (0600): a draft names the patient
        paths.append(target)
    return paths


def render_table(result: dict, *, name: str, today: dt.date) -> str:
    """The worklist for staff: one row per claim, soonest deadline first, then the claims not read."""
    from ..era import action_words

    claims, errors = result["claims"], result["errors"]
    lines = [f"{name}: {len(claims)} claim(s) with adjustments, {len(errors)} not readable (today {today})"]
    if claims:
        rows = [("DEADLINE", "DAYS", "STATUS", "TRIAGE", "CLAIM", "CODES", "NEXT ACTION")]
        for entry in claims:
            rows.append((entry["deadline"] or "-", "-" if entry["days_left"] is None else str(entry["days_left"]),
                         entry["status"], entry["triage"], entry["claim_number"], " ".join(entry["denial_codes"]),
                         action_words(entry)))
        widths = [max(len(row[i]) for row in rows) for i in range(6)]
        lines.append("")
        lines.extend("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:6])) + "  " + row[6]
                     for row in rows)
    if errors:
        lines.append("")
        lines.append("Not readable (fix or ask the payer for these claims):")
        lines.extend(f"  claim {e['claim']} (segment {e['segment']}): {e['problem']}" for e in errors)
    return "\n".join(lines)
