"""Issue 19: ``packetizer export CASE --format fax-tiff`` (SPEC sections 7 and 11).

The example case's packet is exported once for the module. OCR is slow, so the legibility check reads
the TIFF's first three pages and compares them with the text of the packet's first three pages.
"""

from __future__ import annotations

import io
import re
import shutil
from collections import Counter

import pypdfium2 as pdfium
import pytest
from click.testing import CliRunner
from PIL import Image

from packetizer.cli import main
from packetizer.ocr import read_pictures
from tests.support.channel_cases import EXAMPLE, NAME, REPO, WITHHELD, export

OCR_PAGES = 3


def _export(case, out, *extra):
    return export("fax-tiff", case, out, *extra)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiff")
    result = _export(EXAMPLE / "case.yaml", out)
    assert result.exit_code == 0, result.output
    return result, out


def test_the_export_builds_the_packet_as_build_does_and_prints_the_tiffs_path_last(exported):
    result, out = exported
    tif = out / f"{NAME}.tif"
    assert result.output.strip().splitlines()[-1] == str(tif)
    assert (out / f"{NAME}.pdf").exists() and (out / f"{NAME}.disclosure.json").exists()


def test_the_tiff_is_group_4_fine_mode_1728_pixels_wide_one_frame_per_page(exported):
    _, out = exported
    pages = len(pdfium.PdfDocument(str(out / f"{NAME}.pdf")))
    with Image.open(out / f"{NAME}.tif") as tif:
        assert tif.n_frames == pages
        for frame in range(tif.n_frames):
            tif.seek(frame)
            assert tif.mode == "1"
            assert tif.info["compression"] == "group4"
            assert tuple(round(v) for v in tif.info["dpi"]) == (204, 196)
            width, height = tif.size
            assert width == 1728
            assert abs(height - round(11 * 196)) <= 2        # a Letter page at 196 lines per inch


def _words(text: str) -> Counter:
    return Counter(w.lower() for w in re.findall(r"[A-Za-z0-9]+", text))


def test_ocr_of_the_tiff_finds_at_least_97_percent_of_the_packets_words(exported, tmp_path):
    _, out = exported
    document = pdfium.PdfDocument(str(out / f"{NAME}.pdf"))
    expected = _words(" ".join(document[i].get_textpage().get_text_range() for i in range(OCR_PAGES)))
    pictures = []
    with Image.open(out / f"{NAME}.tif") as tif:
        for frame in range(OCR_PAGES):
            tif.seek(frame)
            path = tmp_path / f"page-{frame}.png"
            tif.copy().save(path)
            pictures.append(path)
    read = Counter()
    for page in read_pictures(pictures, dpi=204, turns=[0] * OCR_PAGES):
        read += _words(page.text()[0])
    found = sum((expected & read).values())
    assert sum(expected.values()) > 300
    assert found / sum(expected.values()) >= 0.97, (found, sum(expected.values()))


def test_no_withheld_value_is_in_the_tiff(exported):
    _, out = exported
    data = (out / f"{NAME}.tif").read_bytes()
    for value in WITHHELD:
        assert value.encode() not in data


def test_a_packet_in_parts_gives_one_tiff_per_part(tmp_path):
    payers = tmp_path / "payers"
    shutil.copytree(REPO / "payers", payers)
    policy = payers / "demo-commercial.yaml"
    policy.write_text(policy.read_text().replace("limits: {max_pages: 100, max_file_mb: 25}",
                                                 "limits: {max_pages: 6, max_file_mb: 25}"))
    # An earlier export into the same folder wrote the packet and its TIFF whole; neither may be left beside
    # the parts, where a clerk could send the stale one.
    earlier = _export(EXAMPLE / "case.yaml", tmp_path / "out")
    assert earlier.exit_code == 0 and (tmp_path / "out" / f"{NAME}.pdf").exists()
    assert (tmp_path / "out" / f"{NAME}.tif").exists()
    result = _export(EXAMPLE / "case.yaml", tmp_path / "out", "--payers", str(payers))
    assert result.exit_code == 0, result.output
    parts = sorted((tmp_path / "out").glob(f"{NAME}_part*of*.pdf"))
    assert len(parts) >= 2
    assert sorted((tmp_path / "out").glob("*.pdf")) == parts
    tiffs = sorted((tmp_path / "out").glob("*.tif"))
    assert [t.name for t in tiffs] == [p.name.replace(".pdf", ".tif") for p in parts]
    assert result.output.strip().splitlines()[-1] == str(tiffs[-1])
    for part, tif in zip(parts, tiffs):
        with Image.open(io.BytesIO(tif.read_bytes())) as image:
            assert image.n_frames == len(pdfium.PdfDocument(str(part))) <= 6


def test_a_blocked_case_writes_nothing_and_exits_1_and_a_bad_format_is_a_usage_error(tmp_path):
    case = tmp_path / "case"
    shutil.copytree(EXAMPLE, case)
    text = (case / "case.yaml").read_text().replace("payer_id: demo-commercial", "payer_id: demo-medicaid-noretro")
    (case / "case.yaml").write_text(text)
    result = _export(case / "case.yaml", tmp_path / "out")
    assert result.exit_code == 1
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    assert _export(tmp_path / "missing.yaml", tmp_path / "out").exit_code == 1
    bad = CliRunner().invoke(main, ["export", str(EXAMPLE / "case.yaml"), "--format", "x12-275"])
    assert bad.exit_code == 2
