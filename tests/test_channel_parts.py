"""Issue 19: a packet over the payer channel's limits is built in parts, each within them (SPEC section 11).

One 480-page case (the example case plus five typed logs of 60-126 pages) for the demo payer, whose fax
channel takes 100 pages and 25 MB a file, is built once for the module through ``packetizer build --json``.
"""

from __future__ import annotations

import json
import re

import pypdf
import pypdfium2 as pdfium
import pytest

from packetizer.cli import main
from packetizer.parts import Source, plan_ranges
from tests.support.channel_cases import WITHHELD, case_with, typed_pdf

LOGS = (60, 80, 90, 120, 126)       # Log 120 and Log 126 are each longer than a part may be
MAX_PAGES, MAX_BYTES = 100, 25 * 1024 * 1024
STAMP = re.compile(r"RA-2026-0001 · Page (\d+) of (\d+)")
INDEX_ROW = re.compile(r"(?:p\. (\d+)|pp\. (\d+)–(\d+)) (\d+(?:–\d+)?)\s*$")


def _texts(path) -> list[str]:
    document = pdfium.PdfDocument(str(path))
    try:
        texts = [document[i].get_textpage().get_text_range() for i in range(len(document))]
    finally:
        document.close()
    # The index prints "pp." with a no-break space and word joiners round the dash.
    return [t.replace("\u00a0", " ").replace("\u2060", "").replace("\r\n", "\n") for t in texts]



@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from click.testing import CliRunner

    root = tmp_path_factory.mktemp("parts")
    # One typed log page names the member's SSN and medical record number: the redactor must take them out.
    logs = [(f"log-{n}.pdf", typed_pdf(n, f"Log{n}", extra_first_page=(
        "<p>Chart LS-0048812, SSN 512-44-9021.</p>" if n == 90 else ""))) for n in LOGS]
    case = case_with(root, logs)
    out = root / "out"
    env = {"PACKETIZER_ARCHIVE": str(root / "archive")}
    result = CliRunner().invoke(main, ["build", str(case), "--out", str(out), "--today", "2026-10-06", "--json",
                                       "--archive"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["archived"] and not data["archive_error"]
    texts = {part["part"]: _texts(part["packet"]) for part in data["parts"]}
    return data, out, texts, root / "archive", env


def test_a_480_page_case_for_a_100_page_25_mb_fax_payer_builds_into_parts_each_within_the_limits(built):
    data, out, *_ = built
    parts = data["parts"]
    assert data["total_pages"] >= 480 and len(parts) >= 5
    assert [p["part"] for p in parts] == list(range(1, len(parts) + 1))
    for part in parts:
        assert part["of"] == len(parts)
        assert part["file_name"].endswith(f"_part{part['part']}of{len(parts)}.pdf")
        path = out / part["file_name"]
        assert path.stat().st_size == part["size"] <= MAX_BYTES
        assert len(pdfium.PdfDocument(str(path))) == part["pages"] <= MAX_PAGES
        # The PDF title names the kind, the case id and the part: never an exhibit (its title may name the patient).
        assert pypdf.PdfReader(str(path)).metadata.title == (
            f"Retroactive authorization request RA-2026-0001, part {part['part']} of {len(parts)}")
    # Only the parts are written: no file over the limits is left to be sent by mistake.
    assert sorted(p.name for p in out.glob("*.pdf")) == sorted(p["file_name"] for p in parts)
    assert data["packet"] == parts[0]["packet"] and data["sha256"] == parts[0]["sha256"]
    assert not [w for w in data["warnings"] if w["code"] in ("packet_too_many_pages", "packet_too_large")]


def test_page_stamps_count_the_whole_submission_and_each_cover_says_so(built):
    data, _, texts, *_ = built
    total = data["total_pages"]
    numbers = []
    for number, pages in texts.items():
        cover = [t for t in pages if f"Part {number} of {len(texts)} · cover sheet" in t]
        assert cover and pages[0] in cover, "each part starts with its own cover sheet"
        assert f"Part {number} of {len(texts)}" in pages[0]
        assert "count the whole submission" in " ".join(pages[0].split())
        for text in pages[len(cover):]:
            found = STAMP.findall(text)
            assert len(found) == 1 and int(found[0][1]) == total
            numbers.append(int(found[0][0]))
    assert numbers == list(range(1, total + 1))


def test_each_cover_index_says_which_part_holds_which_exhibit_and_matches_the_real_pages(built):
    data, _, texts, *_ = built
    where: dict[int, tuple[int, str]] = {}      # submission page -> (part, its text)
    for number, pages in texts.items():
        for text in pages:
            found = STAMP.search(text)
            if found:
                where[int(found.group(1))] = (number, text)
    expected = [(s["first_page"], s["last_page"]) for s in data["sections"]]
    for number, pages in texts.items():
        cover_lines = "\n".join(t for t in pages if "cover sheet" in t).splitlines()
        assert "Member ID XJH123456789" in cover_lines and "Claim number 2026091400123" in cover_lines
        rows = []
        for line in cover_lines:
            found = INDEX_ROW.search(line)
            if found and "Index" not in line:
                first = int(found.group(1) or found.group(2))
                last = int(found.group(1) or found.group(3))
                held = [int(x) for x in found.group(4).split("–")]
                rows.append(((first, last), set(range(held[0], held[-1] + 1))))
        assert [r for r, _ in rows] == expected
        for (first, last), held in rows:
            assert {where[page][0] for page in range(first, last + 1)} == held
    for section in data["sections"]:
        label = re.match(r"Exhibit (\w+) — Log(?:\s)?(\d+)?", section["title"])
        if label and label.group(2):
            first_text = where[section["first_page"]][1]
            assert f"Log{label.group(2)} visit log page 1" in first_text
            assert f"Exhibit {label.group(1)}" in first_text
            last_text = where[section["last_page"]][1]
            assert f"Log{label.group(2)} visit log page {label.group(2)}" in last_text


def test_no_exhibit_is_split_unless_it_alone_exceeds_a_part(built):
    data, *_ = built
    parts = data["parts"]
    for section in data["sections"]:
        holders = [p for p in parts
                   if p["first_page"] <= section["last_page"] and section["first_page"] <= p["last_page"]]
        if len(holders) > 1:
            room = min(MAX_PAGES - (p["pages"] - (p["last_page"] - p["first_page"] + 1)) for p in holders)
            assert section["last_page"] - section["first_page"] + 1 > room, section["title"]


def test_withheld_values_are_in_no_part_nor_in_the_report_and_every_part_is_listed(built):
    data, out, texts, *_ = built
    for number, pages in texts.items():
        flat = " ".join(" ".join(pages).split())
        raw = (out / data["parts"][number - 1]["file_name"]).read_bytes()
        for value in WITHHELD:
            assert value not in flat and value.encode() not in raw
    report = json.loads(open(data["report"]).read())
    assert [p["sha256"] for p in report["parts"]] == [p["sha256"] for p in data["parts"]]
    html = open(data["report"].replace(".json", ".html")).read()
    for part in data["parts"]:
        assert part["file_name"] in html
    assert report["redactions"], "the SSN and chart number in Log 90 were redacted"


def test_the_plan_cuts_only_an_exhibit_larger_than_a_part():
    # Front sections pp. 1-5, A pp. 6-45, B pp. 46-95 (50 pages: more than a part's 49), C pp. 96-125.
    units = [Source(b"x" * 10, 1, 5, fit=False), Source(b"x" * 10, 6, 40, fit=True),
             Source(b"x" * 10, 46, 50, fit=True), Source(b"x" * 10, 96, 30, fit=True)]
    assert plan_ranges(units, max_pages=50, max_bytes=None, cover_pages=1, cover_bytes=0) == [
        (1, 49), (50, 95), (96, 125)]
    # Sizes alone: each unit is 1,000 bytes a page here; a part has room for 20,000 beside its cover.
    heavy = [Source(b"x" * 5000, 1, 5, fit=False), Source(b"x" * 15000, 6, 15, fit=True),
             Source(b"x" * 30000, 21, 30, fit=True)]
    assert plan_ranges(heavy, max_pages=None, max_bytes=21000, cover_pages=1, cover_bytes=1000) == [
        (1, 20), (21, 40), (41, 50)]


def test_the_archive_keeps_every_part_and_its_manifest_lists_them(built):
    from click.testing import CliRunner

    data, out, _, archive, env = built
    (manifest_path,) = archive.rglob("manifest.json")
    manifest = json.loads(manifest_path.read_text())
    assert [p["sha256"] for p in manifest["parts"]] == [p["sha256"] for p in data["parts"]]
    assert manifest["packet"]["sha256"] == data["parts"][0]["sha256"]
    version = manifest_path.parent
    assert (version / "packet.pdf").read_bytes() == (out / data["parts"][0]["file_name"]).read_bytes()
    for part in data["parts"][1:]:
        assert manifest["objects"][part["file_name"]] == part["sha256"]
        assert (version / part["file_name"]).read_bytes() == (out / part["file_name"]).read_bytes()
    verified = CliRunner().invoke(main, ["archive", "verify", "RA-2026-0001"], env=env)
    assert verified.exit_code == 0, verified.output
    # An altered part is noticed.
    altered = version / data["parts"][-1]["file_name"]
    altered.chmod(0o600)
    altered.write_bytes(altered.read_bytes() + b"%")
    assert CliRunner().invoke(main, ["archive", "verify", "RA-2026-0001"], env=env).exit_code == 1
