"""This test ensures the pipeline's first steps serve the doors on their own: checks and a preview that writes nothing."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from packetizer.caseio import load_case
from packetizer.checks import run_checks
from packetizer.errors import PacketizerError
from packetizer.pipeline import build_packet, check_case, preview_packet
from packetizer.policy import load_payer

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "lake-street"
TODAY = dt.date(2026, 10, 6)
BROKEN = "notes/2026-09-14-evaluation.docx"


@pytest.fixture
def broken_case(tmp_path):
    """The example case with its Word evaluation replaced by bytes that are not a Word document."""
    folder = tmp_path / "case"
    shutil.copytree(EXAMPLE, folder)
    (folder / BROKEN).write_bytes(b"%PDF-1.7\nnot a Word document\n")
    case = load_case(folder / "case.yaml")
    return case, load_payer(case.payer_id)


def test_check_case_is_the_checks_a_build_starts_with():
    case = load_case(EXAMPLE / "case.yaml")
    policy = load_payer(case.payer_id)
    assert check_case(case, policy, today=TODAY) == run_checks(case, policy, today=TODAY)


def test_preview_keeps_each_attachments_error_and_converts_the_others(broken_case, tmp_path):
    case, policy = broken_case
    preview = preview_packet(case, policy)
    assert [e.attachment.file for e in preview.exhibits] == [a.file for a in preview.plan.included_attachments]
    assert [e.letter for e in preview.exhibits] == ["A", "B", "C"][:len(preview.exhibits)]
    by_file = {e.attachment.file: e for e in preview.exhibits}
    broken = by_file.pop(BROKEN)
    assert broken.document is None and isinstance(broken.error, PacketizerError)
    assert by_file and all(e.document is not None and e.document.pages >= 1 and e.error is None
                           for e in by_file.values())
    assert not [p for p in tmp_path.rglob("*") if p.suffix == ".pdf" and "notes" not in p.parts]

    with pytest.raises(PacketizerError) as caught:  # a build stops at the same attachment
        build_packet(case, policy, out_dir=tmp_path / "out", today=TODAY)
    assert caught.value.message == broken.error.message
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_progress_tells_each_stage_in_order_and_the_pages_converted(tmp_path):
    """This test ensures a door running a build as a job hears every stage, and pages that only ever grow."""
    case = load_case(EXAMPLE / "case.yaml")
    policy = load_payer(case.payer_id)
    heard: list[tuple[str, int, int | None]] = []
    packet = build_packet(case, policy, out_dir=tmp_path / "out", today=TODAY,
                          progress=lambda stage, done, total: heard.append((stage, done, total)))
    stages = list(dict.fromkeys(stage for stage, _, _ in heard))
    assert stages == ["checks", "documents", "sections", "assembly", "verify", "writing"]
    pages = [done for _, done, _ in heard]
    assert pages == sorted(pages) and heard[-1] == ("writing", packet.pages, packet.pages)
    converted = [done for stage, done, _ in heard if stage == "documents"]
    exhibits = [i for i in packet.manifest["inputs"] if i["role"] == "exhibit"]
    # None yet, then one report per exhibit converted; the cover and narrative pages come after.
    assert len(converted) == 1 + len(exhibits) and converted[0] == 0
    assert all(a < b for a, b in zip(converted, converted[1:])) and converted[-1] < packet.pages

    previewed: list[str] = []
    preview_packet(case, policy, progress=lambda stage, done, total: previewed.append(stage))
    assert list(dict.fromkeys(previewed)) == ["checks", "documents"]
