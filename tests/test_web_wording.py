"""This test ensures that staff read every message of the web app in their own words (issue 16): fields by the
labels of their inputs, dates as mm/dd/yyyy like the form's date pickers, sizes in MB, and every problem of a
case form in one round; the CLI's words (paths, codes) stay as SPEC has them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html as html_lib
import io
import json
import re
from pathlib import Path

import pytest

from packetizer import limits
from packetizer.caseio import case_from_mapping, read_case_document
from packetizer.checks import Findings, channel_limit_findings, run_checks
from packetizer.checks import validation
from packetizer.model import Window
from packetizer.policy import load_registry
from packetizer.web import wording

from browser.webapp_support import EXAMPLE, case_form, follow_job, page_token

#: Every finding code the checks can emit (README, "Checks before building").
FINDING_CODES = {
    "attachment_in_future", "attachment_too_large", "attachment_unreadable", "category_not_accepted", "cpt_shape",
    "deadline_near", "deadline_passed", "deadline_unknown", "denial_before_service", "denial_in_future",
    "diagnosis_missing", "discharge_before_service", "icd10_not_billable", "icd10_unknown", "modifier_shape",
    "npi_check_digit", "npi_missing", "npi_shape", "packet_too_large", "packet_too_many_pages",
    "required_document_missing", "retro_not_allowed", "service_dates_reversed", "service_end_in_future",
    "service_in_future", "service_not_covered_by_note", "triage_coding", "triage_eligibility", "triage_no_carc",
    "triage_unknown_code",
}
#: What a clerk should never read: a JSON path, a key with underscores, an ISO date, a type name, a constant.
DEVELOPER_WORDS = re.compile(r"\w\[\d+\]|\b[a-z0-9]+_[a-z0-9_]+\b|\b\d{4}-\d{2}-\d{2}\b|not string|MAX_[A-Z_]+"
                             r"|\d+ bytes|expected format")


def _visible(page: str) -> str:
    """The text the page itself says: no tags, no attributes, nor what was typed in a text box."""
    body = re.sub(r"<textarea[^>]*>.*?</textarea>", "", page.split("<main", 1)[-1], flags=re.S)
    body = re.sub(r"<(?:/li|/p|/div|/h\d|/dt|/dd|br|/option|/label)\b[^>]*>", " | ", body)
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", body)))


def _save(client, token, path="/cases/new", **changes):
    return client.post(path, data={**case_form(**changes), "csrf_token": token, "action": "save"})


def _create(client, token, **changes) -> int:
    response = _save(client, token, **changes)
    assert response.status_code == 302, _visible(response.data.decode())[:2000]
    return int(response.headers["Location"].rsplit("/", 1)[-1])


def _beside(page: str, name: str) -> str:
    """The message shown beside the input ``name`` (inside its label)."""
    match = re.search(rf'id="field-{re.escape(name)}">(.*?)</label>', page, re.S)
    assert match, f"no input {name}"
    told = re.search(r'class="field-error">(.*?)</span>', match[1], re.S)
    return html_lib.unescape(told[1]) if told else ""


def test_one_save_tells_every_problem_in_staff_words(staff):
    """A bad date, a number typed as words, a duplicate case id, an NPI with a wrong check digit, a non-billable
    ICD-10-CM code and a service in the future: all told on the first save, each beside its input."""
    token = page_token(staff, "/cases/new")
    _create(staff, token)   # RA-WEB-0001 exists now
    response = _save(staff, token, **{
        "services[0].date_of_service": "20266-09-14",      # what a date picker sends for a five-digit year
        "services[0].units": "two",
        "services[1].date_of_service": "2026-10-05",       # the clock's today is 09/25/2026
        "services[1].diagnosis_codes": "M54",
        "rendering_provider.npi": "1234567890",
    })
    assert response.status_code == 422
    page = response.data.decode()
    listed = _visible(re.search(r'id="form-errors".*?</div>', page, re.S)[0])
    for told in ("Case id: RA-WEB-0001 is already used by another case; give this case its own id",
                 "Service line 1, date of service: enter the date as mm/dd/yyyy",
                 "Service line 1, units: enter a number",
                 "Service line 2, date of service: 10/05/2026 is after today (09/25/2026)",
                 "Service line 2, ICD-10-CM codes: M54 (Dorsalgia) is not billable",
                 "Rendering provider, NPI: 1234567890 fails the NPI check digit"):
        assert told in listed, listed
    assert _beside(page, "services[0].date_of_service") == "enter the date as mm/dd/yyyy"
    assert _beside(page, "services[0].units") == "enter a number"
    assert _beside(page, "case_id").startswith("RA-WEB-0001 is already used by another case")
    assert _beside(page, "rendering_provider.npi").startswith("1234567890 fails the NPI check digit")
    assert _beside(page, "services[1].diagnosis_codes").startswith("M54 (Dorsalgia) is not billable")
    assert _beside(page, "services[1].date_of_service").startswith("10/05/2026 is after today (09/25/2026)")
    assert _beside(page, "member.dob") == ""
    assert not DEVELOPER_WORDS.search(_visible(page)), DEVELOPER_WORDS.search(_visible(page))
    assert staff.get("/cases/").data.count(b"RA-WEB-0001") == 1   # nothing saved


def test_a_case_form_with_only_check_problems_still_saves_and_the_case_page_tells_them(staff):
    """Check findings do not stop a draft from being saved; its page tells them with labels and mm/dd/yyyy."""
    token = page_token(staff, "/cases/new")
    pk = _create(staff, token, **{"rendering_provider.npi": "1234567890", "claim.denial_date": "2026-09-30"})
    page = staff.get(f"/cases/{pk}").data.decode()
    findings = _visible(re.search(r'<section id="findings">.*?</section>', page, re.S)[0])
    assert "Rendering provider, NPI — 1234567890 fails the NPI check digit" in findings
    assert "Claim, denial date — 09/30/2026 is after today (09/25/2026)" in findings
    assert "Upload at least one clinical note (Documents, kind: Clinical note)" in findings
    assert "Service line 1 — Service line 1 (97162 on 09/14/2026) has no clinical attachment" in findings
    assert not DEVELOPER_WORDS.search(findings), DEVELOPER_WORDS.search(findings)
    assert 'data-code="npi_check_digit"' in page and 'data-code="required_document_missing"' in page


@pytest.mark.parametrize("name, value, told", [
    ("member.dob", "04/09/1971", "Member, date of birth: enter the date as mm/dd/yyyy"),
    ("member.dob", "1971-02-30", "Member, date of birth: there is no such date; enter the date as mm/dd/yyyy"),
    ("claim.denial_date", "", None),
    ("services[1].units", "0", "Service line 2, units: must be more than 0"),
    ("services[0].place_of_service", "1", "Service line 1, place of service (POS): enter the 2-digit place of"),
    ("services[0].modifiers", "GP 59 KX 76 77", "Service line 1, modifiers: enter at most 4 modifiers"),
    ("case_id", "RA 2026/1", "Case id: use 3 to 40 letters, digits, hyphens or underscores"),
    ("contact.phone", "", "Contact, phone: enter a phone number or an email address"),
    ("late_reason.explanation", "", "Late reason, explanation: this is required"),
    ("timeline", "yesterday the portal was down", "Timeline: start each line with its date as YYYY-MM-DD"),
])
def test_each_form_problem_reads_as_a_clerk_would_say_it(staff, name, value, told):
    token = page_token(staff, "/cases/new")
    response = _save(staff, token, **{name: value})
    if told is None:                      # an optional input left empty is no problem
        assert response.status_code == 302
        return
    assert response.status_code == 422
    listed = _visible(re.search(r'id="form-errors".*?</div>', response.data.decode(), re.S)[0])
    assert told in listed, listed
    assert not DEVELOPER_WORDS.search(listed), DEVELOPER_WORDS.search(listed)


def test_an_imported_case_file_is_told_in_the_same_words(staff):
    token = page_token(staff, "/cases/new")
    text = (EXAMPLE / "case.yaml").read_text().replace("dob: 1971-04-09", "dob: 04/09/1971")
    text = text.replace("units: 3", "units: three", 1)
    response = staff.post("/cases/import", content_type="multipart/form-data",
                          data={"csrf_token": token, "file": (io.BytesIO(text.encode()), "case.yaml")})
    assert response.status_code == 422
    listed = _visible(re.search(r'id="import-errors".*?</div>', response.data.decode(), re.S)[0])
    assert "Member, date of birth: enter the date as mm/dd/yyyy" in listed
    assert re.search(r"Service line \d, units: enter a number", listed), listed
    assert not DEVELOPER_WORDS.search(listed), DEVELOPER_WORDS.search(listed)
    too_big = b"case_id: RA-BIG\n" + b"#" * (limits.MAX_CASE_FILE_BYTES + 10)
    response = staff.post("/cases/import", content_type="multipart/form-data",
                          data={"csrf_token": token, "file": (io.BytesIO(too_big), "big.yaml")})
    listed = _visible(re.search(r'id="import-errors".*?</div>', response.data.decode(), re.S)[0])
    assert "Case file: case file big.yaml: it is larger than 1 MB, the largest accepted" in listed, listed
    assert "bytes" not in listed


def test_an_upload_over_the_size_limit_is_told_in_mb(app, staff, monkeypatch):
    """The upload's own limit (a file inside a request that fits) and the request limit (413) both say MB."""
    token = page_token(staff, "/cases/new")
    pk = _create(staff, token)
    monkeypatch.setattr(limits, "MAX_ATTACHMENT_BYTES", 2 * 1024 * 1024)
    big = b"%PDF-1.7\n" + b"0" * (3 * 1024 * 1024)
    response = staff.post(f"/cases/{pk}/documents", content_type="multipart/form-data",
                          data={"csrf_token": token, "file": (io.BytesIO(big), "scan.pdf"), "kind": "clinical_note",
                                "date": "2026-09-14", "title": ""})
    page = staff.get(response.headers["Location"]).data.decode()
    # The door reads no more than one byte past the limit: the size is told as "larger than".
    assert "scan.pdf: the file is larger than 2 MB, the largest file accepted" in _visible(page)
    # The case page's upload rows send several files in one request, under their own request limit.
    monkeypatch.setattr(limits, "MAX_UPLOAD_REQUEST_BYTES", 1024 * 1024 + 4096)
    monkeypatch.setattr(limits, "MAX_DOCUMENTS_REQUEST_BYTES", 2 * 1024 * 1024 + 4096)
    app.config["MAX_CONTENT_LENGTH"] = limits.MAX_UPLOAD_REQUEST_BYTES
    response = staff.post(f"/cases/{pk}/documents", content_type="multipart/form-data",
                          data={"csrf_token": token, "file": (io.BytesIO(big), "scan.pdf"), "kind": "clinical_note",
                                "date": "2026-09-14", "title": ""})
    assert response.status_code == 413
    told = _visible(response.data.decode())
    assert "The upload is 3.0 MB; the largest upload accepted is 2.0 MB." in told
    assert "MAX_" not in told and "bytes" not in told


def _findings_of_every_kind(tmp_path: Path) -> dict:
    """One finding of each code, from the checks themselves run on the example case made wrong in every way."""
    registry = load_registry(Path(__file__).resolve().parents[1] / "payers")
    doc = read_case_document(EXAMPLE / "case.yaml")
    found: dict = {}

    def run(changed: dict, policy, today=dt.date(2026, 10, 1), base=EXAMPLE):
        case = case_from_mapping(changed, base.resolve())
        result = run_checks(case, policy, today=today)
        for finding in [*result.blocking, *result.warnings, *channel_limit_findings(policy, 9999, 10 ** 9)]:
            found.setdefault(finding.code, []).append(finding)

    bad = dict(doc, services=[dict(line) for line in doc["services"]], claim=dict(doc["claim"]),
               rendering_provider=dict(doc["rendering_provider"]), attachments=[dict(a) for a in doc["attachments"]])
    bad["services"][0].update(code="9711X", diagnosis_codes=["M54", "Q99.999X"])
    bad["services"][1].pop("diagnosis_codes", None)
    bad["services"][1]["date_of_service"] = "2027-01-05"
    bad["rendering_provider"]["npi"] = "1234567890"
    bad["claim"].update(denial_date="2027-02-01", denial_codes=["CO-197", "CO-27", "CO-16", "CO-299"])
    bad["attachments"][1]["date"] = "2027-03-01"
    for policy in registry:
        for today in (dt.date(2026, 10, 1), dt.date(2027, 6, 1), dt.date(2026, 9, 20)):
            run(doc, policy, today)
            run(bad, policy, today)
    span = dict(bad, services=[{"start_date": "2026-09-10", "end_date": "2026-10-20", "code": "97110",
                                "discharge_date": "2026-09-01", "diagnosis_codes": ["M54.16"]}],
                claim={"denial_codes": ["N54"], "denial_date": "2026-09-01"}, consents={},
                rendering_provider={"name": "Lake Street Physical Therapy"})
    span.pop("attachments")
    demo = registry.get("demo-commercial")
    run(span, dataclasses.replace(demo, window=Window(30, "calendar", "denial_date")))
    run(dict(span, claim={"denial_codes": ["CO-197"]}), dataclasses.replace(demo, window=Window(30, "calendar",
                                                                                            "denial_date")))
    folder = tmp_path / "case"
    folder.mkdir()
    (folder / "note.txt").write_text("Visit note")
    with open(folder / "scan.pdf", "wb") as handle:
        handle.truncate(30 * 1024 * 1024)   # sparse: 30 MB on paper, nothing on disk
    files = dict(doc, attachments=[{"file": "note.txt", "kind": "clinical_note", "date": "2026-09-14"},
                                   {"file": "scan.pdf", "kind": "psychotherapy_note", "date": "2026-09-14"},
                                   {"file": "scan.pdf", "kind": "clinical_note", "date": "2026-09-18"}])
    case = case_from_mapping(files, folder)
    (folder / "note.txt").unlink()
    for finding in run_checks(case, demo, today=dt.date(2026, 9, 25)).warnings:
        found.setdefault(finding.code, []).append(finding)
    out = Findings()   # shapes the case schema keeps out of a case file, but the checks still word
    validation._check_npi("facility", "12345", out)
    validation._check_modifiers("services[1]", ("G-",), out)
    validation._check_line_dates("services[0]", dt.date(2026, 9, 10), dt.date(2026, 9, 1), None,
                                 dt.date(2026, 10, 1), out)
    consent = dict(doc, consents={}, attachments=[dict(a, kind="psychotherapy_note") for a in doc["attachments"]])
    policy = dataclasses.replace(demo, required_documents=("psychotherapy_note",))
    for finding in run_checks(case_from_mapping(consent, EXAMPLE.resolve()), policy,
                              today=dt.date(2026, 10, 1)).blocking:
        found.setdefault(finding.code, []).append(finding)
    for finding in out.blocking:
        found.setdefault(finding.code, []).append(finding)
    return found


def test_every_finding_code_reads_in_staff_words(tmp_path):
    found = _findings_of_every_kind(tmp_path)
    assert set(found) == FINDING_CODES
    for code, findings in found.items():
        for finding in findings:
            told = wording.finding_words(finding)
            where = wording.label(finding.field)
            assert not DEVELOPER_WORDS.search(told), (code, told)
            assert not DEVELOPER_WORDS.search(where), (code, where)
            assert finding.message.split(" ", 1)[0] not in ("services", "attachments")
    required = {wording.finding_words(f) for f in found["required_document_missing"]}
    assert any("Upload at least one clinical note (Documents, kind: Clinical note)" in t for t in required)
    assert any("“Consent to release psychotherapy notes” is not ticked on the case form" in t for t in required)
    assert any("will be withheld" in t and "Document 2 (clinical note dated 03/01/2027)" in t for t in required)


def test_the_cli_keeps_its_paths_and_codes(tmp_path):
    """The words above are the web's: a finding itself still names its field path and ISO dates (SPEC)."""
    found = _findings_of_every_kind(tmp_path)
    finding = found["service_in_future"][0]
    assert finding.field == "services[1].date_of_service"
    assert finding.message.startswith("services[1].date_of_service 2027-01-05 is after today")
    assert "Add one to attachments with kind: clinical_note" in \
        " ".join(f.message for f in found["required_document_missing"])


def test_a_blocked_build_and_a_case_that_no_longer_loads_are_told_in_staff_words(app, staff):
    """The job page lists a block's findings by label; a case file broken outside the app is told by label."""
    token = page_token(staff, "/cases/new")
    pk = _create(staff, token, **{"rendering_provider.npi": "1234567890"})
    token = page_token(staff, f"/cases/{pk}")
    ended = follow_job(staff, staff.post(f"/cases/{pk}/build", data={"csrf_token": token})).data.decode()
    told = _visible(re.search(r'id="job-error">.*?</div>', ended, re.S)[0])
    assert told.startswith('id="job-error">Not built: the case is blocked'), told
    assert "Rendering provider, NPI: 1234567890 fails the NPI check digit" in told
    assert "Upload at least one clinical note (Documents, kind: Clinical note)" in told
    assert not DEVELOPER_WORDS.search(told), DEVELOPER_WORDS.search(told)

    folder = app.extensions["packetizer"].cases_dir / _folder(app, pk)
    doc = json.loads((folder / "case.json").read_text())
    doc["services"][0]["date_of_service"] = "09/14/2026"
    (folder / "case.json").write_text(json.dumps(doc))
    page = staff.get(f"/cases/{pk}")
    assert page.status_code == 409
    text = _visible(page.data.decode())
    assert "This case can no longer be loaded: Service line 1, date of service: enter the date as mm/dd/yyyy" in text
    assert not DEVELOPER_WORDS.search(text), DEVELOPER_WORDS.search(text)


def _folder(app, pk: int) -> str:
    from packetizer.registry import CaseRecord

    with app.extensions["packetizer"].registry.session() as session:
        return session.get(CaseRecord, pk).folder


def test_a_batch_manifest_too_large_is_told_in_mb(staff, monkeypatch):
    monkeypatch.setattr(limits, "MAX_MANIFEST_BYTES", 1024 * 1024)
    manifest = b"case_id,payer_id\n" + b"RA-1,demo-commercial\n" * 60_000
    response = staff.post("/batches/new", content_type="multipart/form-data",
                          data={"manifest": (io.BytesIO(manifest), "cases.csv"),
                                "csrf_token": page_token(staff, "/batches/new")})
    assert response.status_code == 400
    told = _visible(re.search(r'id="upload-errors".*?</div>', response.data.decode(), re.S)[0])
    assert "it is larger than 1 MB, the largest manifest accepted" in told, told
    assert "MAX_" not in told and "bytes" not in told
