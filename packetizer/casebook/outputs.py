"""The channel-ready outputs of a recorded build (SPEC section 11): its parts, fax TIFFs and FHIR Bundle.

A build over the payer channel's limits was written in parts; its disclosure report
lists them (``parts``). Every build also offers a fax TIFF of each packet file and a
Da Vinci PAS Bundle. Those two are made on first request and kept in the build's
folder beside the packet (a TIFF of a 100-page part takes a few seconds), so a
second download sends the same bytes.

The Bundle carries only what the packet discloses, decided from the case: it is
made only while the build is current (built from the case as it is now), else the
Bundle could disagree with the packet it carries.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import ErrorCode, PacketizerError
from ..exports import export_file_name
from ..model import Case, PayerPolicy
from ..registry import Build


@dataclass(frozen=True)
class Output:
    """One downloadable output of a build."""

    key: str          # in the URL and the audit log: part1of3, fax-tiff, fax-tiff-part1of3, pas
    label: str        # for the clerk
    file_name: str
    kind: str         # part | fax-tiff | pas
    source: str       # the packet file it is made from (its own name for a part)


def _folder(builds_dir: Path, build: Build) -> Path:
    return builds_dir.joinpath(*build.folder.split("/"))


def packet_files(builds_dir: Path, build: Build) -> list[tuple[str, str]]:
    """(key, file name) of every packet file of ``build``: its parts, or the one packet ("packet")."""
    try:
        report = json.loads((_folder(builds_dir, build) / build.report_name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        report = {}
    parts = report.get("parts") if isinstance(report, dict) else None
    if not parts:
        return [("packet", build.file_name)]
    return [(f"part{p['part']}of{p['of']}", str(p["file_name"])) for p in parts]


def build_outputs(builds_dir: Path, build: Build) -> list[Output]:
    """Every output a clerk may download for ``build``, in order: parts, fax TIFFs, the Bundle."""
    files = packet_files(builds_dir, build)
    out: list[Output] = []
    if len(files) > 1:
        out += [Output(key, f"Part {n} of {len(files)}", name, "part", name)
                for n, (key, name) in enumerate(files, start=1)]
    for n, (key, name) in enumerate(files, start=1):
        suffix = "" if len(files) == 1 else f"-{key}"
        label = "Fax TIFF" if len(files) == 1 else f"Fax TIFF, part {n} of {len(files)}"
        out.append(Output(f"fax-tiff{suffix}", label, export_file_name(name, "fax-tiff"), "fax-tiff", name))
    base = files[0][1] if len(files) == 1 else build.report_name.removesuffix(".disclosure.json") + ".pdf"
    out.append(Output("pas", "FHIR PAS Bundle", export_file_name(base, "pas"), "pas", base))
    return out


def output_path(builds_dir: Path, build: Build, output: Output, *, case: Case | None = None,
                policy: PayerPolicy | None = None, current: bool = True, created=None) -> Path:
    """The file of ``output``, made now if it is not there yet.

    Args:
        case, policy: the case as it is now and its payer (needed for the Bundle).
        current: the build was made from the case as it is now (the Bundle is refused otherwise).
        created: the Bundle's timestamp.

    Raises:
        PacketizerError: a packet file is missing (NOT_FOUND), or the build is out of date for a Bundle.
    """
    from ..pipeline import _write_outputs

    folder = _folder(builds_dir, build)
    path = folder / output.file_name
    if path.is_file():
        return path
    if output.kind == "part":
        raise PacketizerError("this part of the packet is no longer on the server", code=ErrorCode.NOT_FOUND)
    sources = [name for _, name in packet_files(builds_dir, build)]
    if output.kind == "fax-tiff":
        from ..exports.fax import fax_tiff

        try:
            pdf = (folder / output.source).read_bytes()
        except OSError:
            raise PacketizerError("the packet is no longer on the server", code=ErrorCode.NOT_FOUND) from None
        _write_outputs(folder, {output.file_name: fax_tiff(pdf)})
        return path
    if not current or case is None or policy is None:
        raise PacketizerError("the case has changed since this packet was built, so a FHIR Bundle made now "
                              "would not match it; build the packet again", code=ErrorCode.BLOCKED)
    from ..disclosure import plan_disclosure
    from ..exports.pas import bundle_bytes, pas_bundle

    try:
        files = [(name, (folder / name).read_bytes()) for name in sources]
    except OSError:
        raise PacketizerError("the packet is no longer on the server", code=ErrorCode.NOT_FOUND) from None
    created = created or build.created_at
    if created.tzinfo is None:   # the registry keeps UTC times without a zone
        created = created.replace(tzinfo=dt.timezone.utc)
    bundle = pas_bundle(plan_disclosure(case, policy), policy, files=files, created=created)
    _write_outputs(folder, {output.file_name: bundle_bytes(bundle)})
    return path


__all__ = ["Output", "build_outputs", "output_path", "packet_files"]
