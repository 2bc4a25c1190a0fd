"""``packetizer build``: from a case file to a finished packet, end to end (SPEC sections 5 and 7)."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import yaml
from click.testing import CliRunner
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject

from packetizer.cli import main
from packetizer.render import html_to_pdf
from tests.packet_checks import assert_no_active_content, assert_packet_consistent, page_texts

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "lake-street"
TODAY = "2026-10-06"
PATIENT = ("Ortiz", "XJH123456789", "1971-04-09", "04/09/1971")


def run(*args: str, env: dict | None = None):
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result


def build_json(case: Path, out: Path, *extra: str, env: dict | None = None) -> dict:
    result = run("build", str(case), "--out", str(out), "--today", TODAY, "--json", *extra, env=env)
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout)


@pytest.fixture()
def example(tmp_path) -> Path:
    """A private copy of the example case, free to be changed by a test."""
    folder = tmp_path / "case"
    shutil.copytree(EXAMPLE, folder)
    return folder / "case.yaml"


def edit_case(path: Path, change) -> Path:
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_example_packet_index_bookmarks_footers_and_name(tmp_path):
    """This test ensures the example's packet is what a reviewer relies on: index, bookmarks and footers agree with the pages."""
    out = tmp_path / "out"
    result = build_json(EXAMPLE / "case.yaml", out)
    packet = Path(result["packet"])
    assert packet.parent == out
    assert packet.name == "RETRO-AUTH_demo-commercial_RA-2026-0001_2026-09-14.pdf"
    assert [s["title"][:9] for s in result["sections"]] == [
        "Cover not", "Request n", "Service s", "Exhibit A", "Exhibit B", "Exhibit C"]
    reader, texts = assert_packet_consistent(packet, "RA-2026-0001", result["sections"], {
        "Request narrative": "1. Services delivered",
        "Service summary": "Diagnoses (ICD-10-CM)",
        "Exhibit A": "Physical Therapy Initial Evaluation",
        "Exhibit B": "Progress Note",
        "Exhibit C": "AUTHORIZATION LOG",
    })
    assert result["pages"] == len(texts)
    assert result["sha256"] and result["deadline"] == "2026-10-14"
    # The narrative cites exhibits by letter and page range, matching the index.
    narrative = " ".join(texts[s - 1] for s in range(result["sections"][1]["first_page"], result["sections"][1]["last_page"] + 1))
    ex_b = result["sections"][4]
    cite = f"Exhibit B, pp. {ex_b['first_page']}\u2013{ex_b['last_page']}"
    assert "".join(cite.split()) in "".join(narrative.replace("\u2060", "").replace("\xa0", " ").split())
    # The PDF carries no active content and no PHI in its metadata.
    assert_no_active_content(reader)
    meta = str(reader.metadata)
    assert reader.metadata.title == "Retroactive authorization request RA-2026-0001"
    for value in PATIENT:
        assert value not in meta and value not in packet.name
    # Minimum necessary: the SSN, home phone, address and MRN sent by the PM system are withheld
    # and the home phone written inside the notes is removed from the exhibits.
    withheld = {f["field"] for f in result["withheld"]["fields"]}
    assert {"member.ssn", "member.phone", "member.address", "member.mrn"} <= withheld
    assert {(r["exhibit"], r["type"]) for r in result["redactions"]} >= {("A", "phone"), ("C", "phone"), ("A", "mrn")}
    flat = " ".join(texts)
    for value in ("555-0147", "512-44-9021", "LS-0048812", "2218 Elm"):
        assert value not in flat
    assert "612-555-0100" in flat  # the practice's own billing phone stays
    # The disclosure report is written next to the packet.
    assert Path(result["report"]).is_file() and Path(result["report"]).parent == out


def test_last_stdout_line_is_the_packet_path(tmp_path):
    """This test ensures scripts can take the packet path from the last line of plain output."""
    result = run("build", str(EXAMPLE / "case.yaml"), "--out", str(tmp_path), "--today", TODAY)
    assert result.exit_code == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert Path(last).is_file() and Path(last).name.startswith("RETRO-AUTH_demo-commercial_RA-2026-0001_")


def test_same_inputs_and_source_date_epoch_give_identical_bytes(tmp_path):
    """This test ensures two builds at the same SOURCE_DATE_EPOCH are byte-for-byte identical."""
    env = {"SOURCE_DATE_EPOCH": "1790000000"}
    first = build_json(EXAMPLE / "case.yaml", tmp_path / "a", env=env)
    second = build_json(EXAMPLE / "case.yaml", tmp_path / "b", env=env)
    assert first["sha256"] == second["sha256"]
    assert Path(first["packet"]).read_bytes() == Path(second["packet"]).read_bytes()
    later = build_json(EXAMPLE / "case.yaml", tmp_path / "c", env={"SOURCE_DATE_EPOCH": "1790086400"})
    assert later["sha256"] != first["sha256"]  # the date is printed on the cover


def _bad_cases():
    def drop_necessity(doc):
        del doc["medical_necessity"]

    def impossible_date(doc):
        doc["services"][0]["date_of_service"] = "2026-02-30"

    def missing_file(doc):
        doc["attachments"][0]["file"] = "notes/not-there.pdf"

    def escaping(doc):
        doc["attachments"][0]["file"] = "../../../../etc/passwd"

    return {
        "missing required field": (drop_necessity, "medical_necessity"),
        "impossible date": (impossible_date, "services[0].date_of_service: 2026-02-30 is not a date"),
        "missing attachment": (missing_file, "attachments[0]"),
        "escaping attachment": (escaping, "attachments[0]"),
    }


@pytest.mark.parametrize("name", list(_bad_cases()))
def test_bad_case_input_one_line_error_exit_1_nothing_written(example, tmp_path, name):
    """This test ensures bad case input gets one clear line naming the field, exit 1, and no output."""
    change, expected = _bad_cases()[name]
    edit_case(example, change)
    out = tmp_path / "out"
    result = run("build", str(example), "--out", str(out), "--today", TODAY)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert not out.exists() or list(out.iterdir()) == []


def _encrypted_pdf(path: Path) -> None:
    writer = PdfWriter()
    writer.append(PdfReader(EXAMPLE / "notes" / "2026-09-18-progress-note.pdf"))
    writer.encrypt("secret")
    with open(path, "wb") as handle:
        writer.write(handle)


@pytest.mark.parametrize("damage", ["encrypted", "corrupt"])
def test_broken_pdf_attachment_is_named_and_nothing_written(example, tmp_path, damage):
    """This test ensures an encrypted or corrupt PDF note stops the build with a message naming the file."""
    note = example.parent / "notes" / "2026-09-18-progress-note.pdf"
    if damage == "encrypted":
        _encrypted_pdf(note)
    else:
        note.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nendobj\n" + b"\x00garbage" * 50)
    out = tmp_path / "out"
    result = run("build", str(example), "--out", str(out), "--today", TODAY)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: notes/2026-09-18-progress-note.pdf")
    assert damage.rstrip("t") in result.stderr or "damaged" in result.stderr or "read" in result.stderr
    assert not out.exists() or list(out.iterdir()) == []


def test_existing_output_is_kept_when_a_rebuild_fails(example, tmp_path):
    """This test ensures a failed rebuild leaves the earlier packet in --out untouched."""
    out = tmp_path / "out"
    first = build_json(example, out)
    before = Path(first["packet"]).read_bytes()
    (example.parent / "notes" / "2026-10-05-phone-log.txt").write_bytes(b"")
    result = run("build", str(example), "--out", str(out), "--today", TODAY)
    assert result.exit_code == 1 and "is empty" in result.stderr
    assert Path(first["packet"]).read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_usage_errors_exit_2(tmp_path):
    """This test ensures usage errors (unknown option, bad date) exit 2 as the SPEC says."""
    assert run("build", str(EXAMPLE / "case.yaml"), "--bogus").exit_code == 2
    assert run("build", str(EXAMPLE / "case.yaml"), "--today", "2026-13-01").exit_code == 2
    assert run("build").exit_code == 2


def test_blocked_case_refused_then_built_with_recorded_override(example, tmp_path):
    """This test ensures a late request is refused with the rule's finding, and an override is recorded, not printed."""
    out = tmp_path / "out"
    late = run("build", str(example), "--out", str(out), "--today", "2026-11-20")
    assert late.exit_code == 1
    assert "deadline_passed" in late.stderr and "--override-reason" in late.stderr
    assert not out.exists() or list(out.iterdir()) == []

    reason = "Payer rep K. Lee agreed on call 88-2240 to accept the late request"
    result = run("build", str(example), "--out", str(out), "--today", "2026-11-20", "--json",
                 "--override-reason", reason)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    report = json.loads(Path(doc["report"]).read_text())
    assert report["override"]["reason"] == reason
    assert "deadline_passed" in report["override"]["findings"]
    text = " ".join(page_texts(Path(doc["packet"])))
    assert "K. Lee" not in text and "88-2240" not in text
    # An on-time claim is not made for an overridden late request.
    assert "within the period" not in text


def test_override_cannot_clear_a_case_file_error(example, tmp_path):
    """This test ensures validation findings (a non-billable code) cannot be overridden."""
    edit_case(example, lambda d: d["services"][0].update(diagnosis_codes=["M54"]))
    result = run("build", str(example), "--out", str(tmp_path), "--today", TODAY, "--override-reason", "try")
    assert result.exit_code == 1
    assert "cannot clear" in result.stderr and "M54" in result.stderr
    # The finding's field is named once, not once by the block and again by the finding's message.
    assert "fix the case file: [icd10_not_billable] services[0].diagnosis_codes[0]: M54 (" in result.stderr


def _landscape_a4_pdf(path: Path) -> None:
    """A rotated A4 page whose text runs to the very bottom edge."""
    html = ("<style>@page { size: A4 landscape; margin: 0 } body { margin: 0 }"
            " p { position: absolute; bottom: 0; left: 20pt; margin: 0; font-size: 14pt }</style>"
            "<h1>Imaging report landscape</h1><p>BOTTOM-EDGE-LINE of the report</p>")
    reader = PdfReader(io.BytesIO(html_to_pdf(html).pdf))
    writer = PdfWriter()
    page = writer.add_page(reader.pages[0])
    page.rotate(90)
    with open(path, "wb") as handle:
        writer.write(handle)


def test_odd_sized_and_rotated_pages_fit_above_the_footer(example, tmp_path):
    """This test ensures an A4 rotated exhibit lands on a Letter page with its text clear of the footer band."""
    _landscape_a4_pdf(example.parent / "notes" / "scan.pdf")
    edit_case(example, lambda d: d["attachments"].append(
        {"file": "notes/scan.pdf", "kind": "imaging", "date": "2026-09-15", "title": "Lumbar imaging"}))
    result = build_json(example, tmp_path / "out")
    exhibit = result["sections"][-1]
    assert exhibit["title"].startswith("Exhibit D")
    doc = pdfium.PdfDocument(result["packet"])
    page = doc[exhibit["first_page"] - 1]
    width, height = page.get_size()
    assert (round(width), round(height)) in ((612, 792), (792, 612))
    text = page.get_textpage()
    full = text.get_text_range()
    start = full.index("BOTTOM-EDGE-LINE")
    lowest = min(text.get_charbox(start + i)[1] for i in range(len("BOTTOM-EDGE-LINE")))
    assert lowest > 40 - 1, "exhibit text runs into the footer band"
    assert "RA-2026-0001 \u00b7 Page" in full


def test_a_placed_and_stamped_page_gets_one_stream_before_its_own_and_one_after(example, tmp_path):
    """Placing an outside page on Letter and stamping its footer adds two small streams to it, not four: a
    200-page chart's packet is 8 % smaller for it, and the proof parses half as many objects."""
    _landscape_a4_pdf(example.parent / "notes" / "scan.pdf")
    own = PdfReader(example.parent / "notes" / "scan.pdf").pages[0]["/Contents"].get_object()
    own_streams = len(own) if isinstance(own, ArrayObject) else 1
    edit_case(example, lambda d: d["attachments"].append(
        {"file": "notes/scan.pdf", "kind": "imaging", "date": "2026-09-15", "title": "Lumbar imaging"}))
    result = build_json(example, tmp_path / "out")
    packet = PdfReader(result["packet"])
    page = packet.pages[result["sections"][-1]["first_page"] - 1]
    streams = [ref.get_object().get_data() for ref in page["/Contents"]]
    assert len(streams) == own_streams + 2
    before, after = streams[0], streams[-1]
    assert before.startswith(b"q\nq ") and b" cm\n" in before and b" re W n" in before   # placed and clipped
    assert after.startswith(b"\nQ\n\nQ\n") and b"(RA-2026-0001 \xb7 Page " in after   # both closed, then stamped
    # A page laid out here needs no placing: the same two streams, the first a bare 'q'.
    cover = [ref.get_object().get_data() for ref in packet.pages[0]["/Contents"]]
    assert cover[0] == b"q\n" and cover[-1].startswith(b"\nQ\nq 1 g")


def test_long_index_pushes_cover_to_a_second_page_and_stays_right(example, tmp_path):
    """This test ensures the index is right when it makes the cover itself longer."""
    notes = example.parent / "notes"
    extra = []
    for i in range(40):
        name = f"visit-{i:02d}.txt"
        (notes / name).write_text(f"Visit note number {i:02d}\nTherapist: Lena Voss\n" + ("Treatment continued. " * 40 * (1 + i % 3)))
        extra.append({"file": f"notes/{name}", "kind": "clinical_note", "date": "2026-09-16", "title": f"Visit note {i:02d}"})
    edit_case(example, lambda d: d["attachments"].extend(extra))
    result = build_json(example, tmp_path / "out")
    cover = result["sections"][0]
    assert cover["last_page"] > cover["first_page"]
    first_lines = {f"Exhibit {s['title'].split()[1]}": f"Visit note number {i:02d}"
                   for i, s in enumerate(result["sections"][6:])}
    assert_packet_consistent(Path(result["packet"]), "RA-2026-0001", result["sections"], first_lines)


def test_archive_flag_archives_and_verifies(tmp_path):
    """This test ensures build --archive stores the packet where archive list/verify/get find it intact."""
    env = {"PACKETIZER_ARCHIVE": str(tmp_path / "archive"), "PACKETIZER_SPOOL": str(tmp_path / "spool")}
    result = build_json(EXAMPLE / "case.yaml", tmp_path / "out", "--archive", env=env)
    assert result["archived"] and result["archive_error"] is None
    listed = run("archive", "list", "--json", env=env)
    assert listed.exit_code == 0 and result["sha256"] in listed.stdout
    verify = run("archive", "verify", "RA-2026-0001", env=env)
    assert verify.exit_code == 0, verify.output
    got = run("archive", "get", "RA-2026-0001", "--out", str(tmp_path / "got"), env=env)
    assert got.exit_code == 0, got.stderr
    fetched = {p.name: p for p in (tmp_path / "got").rglob("*") if p.is_file()}
    packet = next(p for n, p in fetched.items() if n.endswith(".pdf"))
    assert packet.read_bytes() == Path(result["packet"]).read_bytes()
    manifest = json.loads(next(p for n, p in fetched.items() if n.endswith("manifest.json")).read_text())
    assert manifest["packet"]["sha256"] == result["sha256"]
    roles = [i["role"] for i in manifest["inputs"]]
    assert roles.count("exhibit") == 3 and "case_fields" in roles and "payer_policy" in roles
    assert not re.search(r"Ortiz|XJH123456789|1971-04-09", json.dumps(manifest["inputs"]))


def _scan(path: Path, lines: list[str], *, size: int = 44) -> None:
    """A 300 dpi greyscale picture of typed lines."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", size)
    image = Image.new("L", (2550, 3300), 255)
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        draw.text((220, 300 + number * size * 2), line, font=font, fill=0)
    image.save(path, dpi=(300, 300))


def test_a_scanned_note_is_read_by_ocr_redacted_and_searchable(example, tmp_path):
    """This test ensures a picture-only note is read by OCR in the build: its SSN is burnt out of the pixels,
    the page is searchable, and nothing calls it unchecked."""
    _scan(example.parent / "notes" / "scan.png",
          ["Scanned referral from the clinic", "Patient SSN 478-26-1935", "Follow up in two weeks"])
    edit_case(example, lambda d: d["attachments"].append(
        {"file": "notes/scan.png", "kind": "clinical_note", "date": "2026-09-18", "title": "Scanned note"}))
    checked = run("check", str(example), "--today", TODAY, "--json")
    assert checked.exit_code == 0, checked.stderr
    assert not [w for w in json.loads(checked.stdout)["warnings"] if w["code"] == "page_not_checked"]
    built = run("build", str(example), "--out", str(tmp_path), "--today", TODAY, "--json")
    assert built.exit_code == 0, built.stderr
    result = json.loads(built.stdout)
    assert "page_not_checked" not in {w["code"] for w in result["warnings"]}
    texts = page_texts(Path(result["packet"]).read_bytes())
    assert "478261935" not in re.sub(r"\D", "", " ".join(texts))
    assert "Follow up in two weeks" in " ".join(texts[-1].split())
    report = json.loads(next(tmp_path.glob("*.disclosure.json")).read_text())
    scan = next(a for a in report["included"]["attachments"] if a["field"] == "attachments[3]")
    assert [c["method"] for c in scan["page_checks"]] == ["ocr"]
    assert scan["page_checks"][0]["confidence"] >= 60
    assert any(r["type"] == "ssn" and r["attachment_index"] == 3 for r in report["redactions"])


def test_a_page_ocr_cannot_read_well_is_named_unchecked_in_the_build(example, tmp_path):
    """This test ensures a page read with a confidence below MIN_OCR_CONFIDENCE (here a note in Cyrillic, which
    the English model cannot read) is reported with its page and confidence, and the build still goes ahead."""
    _scan(example.parent / "notes" / "fax.png", ["Следующий визит через неделю, терапия"] * 8)
    edit_case(example, lambda d: d["attachments"].append(
        {"file": "notes/fax.png", "kind": "clinical_note", "date": "2026-09-18", "title": "Poor fax"}))
    built = run("build", str(example), "--out", str(tmp_path), "--today", TODAY, "--json")
    assert built.exit_code == 0, built.stderr
    warning = next(w for w in json.loads(built.stdout)["warnings"] if w["code"] == "page_not_checked")
    assert warning["field"] == "attachments[3]" and "page 1" in warning["message"]
    report = json.loads(next(tmp_path.glob("*.disclosure.json")).read_text())
    fax = next(a for a in report["included"]["attachments"] if a["field"] == "attachments[3]")
    assert fax["unchecked_pages"] == [1]
    assert fax["page_checks"][0]["method"] == "unchecked" and fax["page_checks"][0]["confidence"] < 60
