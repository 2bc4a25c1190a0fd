"""Redaction of text: the case's own values in their spellings, shape-based detection, and what must stay."""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from packetizer.caseio import case_from_mapping
from packetizer.disclosure import MARKERS, Redactor, plan_disclosure
from packetizer.policy import load_registry

PAYERS = Path(__file__).parent / "fixtures" / "disclosure" / "payers"


def make_case(**member_extra):
    """A case without attachments whose member carries ``member_extra`` (all withheld)."""
    doc = {
        "case_id": "DX-TEXT-1", "payer_id": "dx-plain",
        "member": {"member_id": "QHP770012345", "first_name": "Maya", "last_name": "Lindqvist",
                   "dob": "1983-02-17", **member_extra},
        "claim": {"claim_number": "2026101100457"},
        "services": [{"date_of_service": "2026-10-11", "code": "97110", "units": 3, "diagnosis_codes": ["M54.16"]}],
        "rendering_provider": {"name": "Juniper Physical Therapy", "npi": "1234567893"},
        "referring_provider": {"name": "Dr. Ada Roe", "npi": "1003000126"},
        "late_reason": {"category": "payer_portal_outage", "explanation": "Portal down."},
        "medical_necessity": "Needed.",
        "contact": {"name": "Billing desk", "phone": "651-555-0100", "fax": "651-555-0109",
                    "email": "billing@juniperpt.example"},
    }
    return case_from_mapping(doc, Path("."))


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    case = make_case(ssn="478-26-1935", phone="(651) 555-0182", email="maya.lindqvist@example.net",
                     address="3187 Juniper Lane, Apt 4C, Saint Paul, MN 55104", mrn="00731942")
    return plan_disclosure(case, load_registry(PAYERS).get("dx-plain")).redactor


def redacted(redactor: Redactor, text: str) -> str:
    return redactor.redact_text(text)[0]


@pytest.mark.parametrize("spelling, type_", [
    ("478-26-1935", "ssn"), ("478261935", "ssn"), ("478 26 1935", "ssn"), ("478.26.1935", "ssn"),
    ("478 - 26 - 1935", "ssn"),
    ("(651) 555-0182", "phone"), ("651-555-0182", "phone"), ("651.555.0182", "phone"), ("6515550182", "phone"),
    ("651 555 0182", "phone"), ("+1 651 555 0182", "phone"), ("1-651-555-0182", "phone"), ("(651)555-0182", "phone"),
    ("555-0182", "phone"),
    ("maya.lindqvist@example.net", "email"), ("Maya.Lindqvist@Example.NET", "email"),
    ("maya.lindqvist [at] example [dot] net", "email"),
    ("3187 Juniper Lane", "street_address"), ("3187 Juniper Ln.", "street_address"),
    ("3187 JUNIPER LANE APT 4C", "street_address"), ("3187 Juniper Ln, Apartment 4C", "street_address"),
    ("00731942", "mrn"), ("731942", "mrn"), ("0073-1942", "mrn"),
])
def test_case_values_are_removed_in_their_common_spellings(redactor, spelling, type_):
    """This test ensures each withheld value is found however it is written, and replaced by its visible marker."""
    out, hits = redactor.redact_text(f"Noted on intake: {spelling}; see chart.")
    assert [h.type for h in hits] == [type_]
    assert out == f"Noted on intake: {MARKERS[type_]}; see chart."


def test_values_broken_across_lines_are_still_found(redactor):
    """This test ensures a value the layout wrapped over two lines (as PDF text extraction returns it) is found."""
    out, hits = redactor.redact_text("write to maya.lindqvist@exam\r\nple.net or call 651-555-\r\n0182 today")
    assert [h.type for h in hits] == ["email", "phone"]
    assert "lindqvist" not in out and "0182" not in out
    assert out.endswith("today")


KEPT_TEXT = (
    "Patient Maya Lindqvist, DOB 1983-02-17 (02/17/1983, February 17, 1983), member ID QHP770012345. "
    "Claim 2026101100457. Rendering NPI 1234567893; referring NPI 1003000126. CPT 97110 x3, ICD-10 M54.16. "
    "Visit 10/11/2026 at 16:40; BP 128/82; ST depression 1 mm; 2 mm ST elevation; SQ injection. "
    "Ticket INC-7731. Our callback 651-555-0100, fax (651) 555-0109, billing@juniperpt.example. "
    "Payer fax +1-800-555-0199. Seen by Dr. Ada Roe at St. Mary's. Lumbar flexion 3 Sets Dr. Roe reviewed. "
    "Lot 2026-10-11, ratio 1:3, range 100-200, dose 5 mg/kg, HbA1c 6.5%."
)


def test_values_the_payer_needs_and_clinical_content_stay(redactor):
    """This test ensures the member id, name, DOB, NPIs, claim number, codes, dates, practice contact and payer fax are not touched."""
    out, hits = redactor.redact_text(KEPT_TEXT)
    assert hits == [], [KEPT_TEXT[h.start:h.end] for h in hits]
    assert out == KEPT_TEXT


@pytest.mark.parametrize("text, type_, removed", [
    ("Other patient SSN 301-22-7788 misfiled", "ssn", "301-22-7788"),
    ("SSN: 301227788", "ssn", "301227788"),
    ("Social Security No. 301 22 7788", "ssn", "301 22 7788"),
    ("SSN XXX-XX-7788", "ssn", "XXX-XX-7788"),
    ("call (612) 555-0147 now", "phone", "(612) 555-0147"),
    ("call 612.555.0147 now", "phone", "612.555.0147"),
    ("call +1 612 555 0147 now", "phone", "+1 612 555 0147"),
    ("call 612-555-0147 ext. 204 now", "phone", "612-555-0147 ext. 204"),
    ("Fax: 6125550147 now", "phone", "6125550147"),
    ("mail j.doe+pt@mail.example.org now", "email", "j.doe+pt@mail.example.org"),
    ("MRN: K55-20931 now", "mrn", "K55-20931"),
    ("Medical record # 00451234 now", "mrn", "00451234"),
    ("Chart no. 731942 now", "mrn", "731942"),
    ("Acct # A-99812 now", "mrn", "A-99812"),
    ("lives at 77 Oak Avenue, Apt 2 now", "street_address", "77 Oak Avenue, Apt 2"),
    ("lives at 1200 N Cedar St now", "street_address", "1200 N Cedar St"),
])
def test_patterns_find_identifiers_the_case_does_not_list(text, type_, removed):
    """This test ensures shape-based detection removes SSNs, phones, emails, labelled MRNs and street addresses of anyone."""
    out, hits = Redactor().redact_text(text)
    assert [h.type for h in hits] == [type_]
    assert removed not in out
    assert out == text.replace(removed, MARKERS[type_])


@pytest.mark.parametrize("text", [
    "NPI 1234567893", "claim 2026101100457", "DOB 1983-02-17", "seen 10/11/2026", "ICD M54.16 and M62.81",
    "MRN pending", "Medical record reviewed 2026-10-11", "Patient ID: see above", "phone number unknown",
    "1 2 3 4 5 6 7 8 9", "000-12-3456", "666-12-3456", "912-34-5678",
    "Straight-leg raise 40 degrees, 3 sets of 10", "Dr. Roe, St. Luke's", "2 mm ST elevation", "3 weeks Lateral",
])
def test_patterns_leave_ordinary_clinical_text_alone(text):
    """This test ensures codes, dates, measurements, labels without values and impossible SSNs are not mistaken for identifiers."""
    assert Redactor().find(text) == []


def test_html_fragment_redaction_spans_inline_tags_and_keeps_escaping():
    """This test ensures a value split over runs (<strong>) becomes one marker, and the rest of the HTML stays escaped and intact."""
    redactor = Redactor()
    fragment = ('<p>SSN <strong>301-2</strong>2-7788 &amp; notes &lt;script&gt;</p>'
                '<table><tr><td>Fax</td><td>612-555-0147</td></tr></table><p>clean</p>')
    result = redactor.redact_html(fragment)
    assert [t for _, t in result.marks] == ["ssn", "phone"]
    assert result.html == (
        '<p>SSN <strong><span class="redaction" id="redaction-1">[SSN removed]</span></strong> &amp; notes '
        '&lt;script&gt;</p><table><tr><td>Fax</td><td><span class="redaction" id="redaction-2">[phone removed]'
        '</span></td></tr></table><p>clean</p>'
    )
    text = html.unescape(re.sub(r"<[^>]+>", "", result.html))
    assert "301" not in text and "7788" not in text and "0147" not in text
    # No finding: the fragment comes back unchanged.
    assert redactor.redact_html("<p>Nothing &amp; nobody</p>").html == "<p>Nothing &amp; nobody</p>"


def test_tally_counts_markers_per_type_and_page():
    """This test ensures the anchors' pages turn into (type, page, count) redactions."""
    result = Redactor().redact_html("<p>612-555-0147</p><p>612-555-0148</p><p>SSN 301-22-7788</p>")
    redactions = result.tally({"redaction-1": 1, "redaction-2": 2, "redaction-3": 2})
    assert [(r.type, r.page, r.count) for r in redactions] == [("phone", 1, 1), ("phone", 2, 1), ("ssn", 2, 1)]


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------

valid_ssn = st.tuples(
    st.integers(1, 899).filter(lambda a: a != 666), st.integers(1, 99), st.integers(1, 9999),
).map(lambda t: f"{t[0]:03d}{t[1]:02d}{t[2]:04d}")
separator = st.sampled_from(["-", " ", "", ".", " - ", "  "])
context = st.sampled_from(["", "SSN ", "ssn: ", "Social Security number ", "on file ", "(", "\n"])


def npi_from(base: str) -> str:
    """A valid NPI: nine digits plus the Luhn check digit over the 80840 prefix."""
    digits = [int(c) for c in "80840" + base]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return base + str((10 - total % 10) % 10)


needed = st.tuples(
    st.text("0123456789", min_size=9, max_size=9).map(lambda s: npi_from("1" + s[1:])),
    st.text("0123456789", min_size=13, max_size=13),
    st.dates(dt.date(1900, 1, 1), dt.date(2099, 12, 31)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ssn=valid_ssn, seps=st.tuples(separator, separator), before=context, kept=needed)
def test_any_spelling_of_the_case_ssn_is_removed_while_npi_claim_and_dates_survive(ssn, seps, before, kept):
    """This test ensures that for any SSN and any usual spelling of it, redaction removes it and leaves NPIs, claim numbers and dates alone."""
    npi, claim, date = kept
    spelled = f"{ssn[:3]}{seps[0]}{ssn[3:5]}{seps[1]}{ssn[5:]}"
    case = make_case(ssn=f"{ssn[:3]}-{ssn[3:5]}-{ssn[5:]}")
    redactor = plan_disclosure(case, load_registry(PAYERS).get("dx-plain")).redactor
    us_date = f"{date.month:02d}/{date.day:02d}/{date.year}"
    text = (f"NPI {npi}. Claim {claim}. Seen {date.isoformat()} ({us_date}). {before}{spelled} noted. "
            f"Member ID QHP770012345.")
    out, hits = redactor.redact_text(text)
    assert spelled.strip() not in out
    assert re.sub(r"\D", "", out).count(ssn) <= re.sub(r"\D", "", f"{npi}{claim}{date}{us_date}").count(ssn)
    assert MARKERS["ssn"] in out
    for value in (npi, claim, date.isoformat(), us_date, "QHP770012345"):
        assert value in out, (value, out)


phone_spelling = st.sampled_from([
    "({a}) {e}-{l}", "{a}-{e}-{l}", "{a}.{e}.{l}", "{a} {e} {l}", "{a}{e}{l}", "+1 {a} {e} {l}", "1-{a}-{e}-{l}",
    "({a}){e}-{l}", "+1 ({a}) {e}-{l}",
])


@settings(max_examples=100, deadline=None)
@given(area=st.integers(201, 989), exchange=st.integers(200, 999), line=st.integers(0, 9999),
       spelling=phone_spelling, kept=needed)
def test_any_spelling_of_the_case_phone_is_removed(area, exchange, line, spelling, kept):
    """This test ensures that the patient's phone number in any usual format is removed, and NPIs, claim numbers and dates are kept."""
    npi, claim, date = kept
    a, e, l = f"{area:03d}", f"{exchange:03d}", f"{line:04d}"
    case = make_case(phone=f"{a}-{e}-{l}")
    redactor = plan_disclosure(case, load_registry(PAYERS).get("dx-plain")).redactor
    spelled = spelling.format(a=a, e=e, l=l)
    out, _ = redactor.redact_text(f"Home: {spelled}. NPI {npi}, claim {claim}, seen {date.isoformat()}.")
    assert f"{e}{l}" not in re.sub(r"\D", "", out.split("NPI")[0])
    for value in (npi, claim, date.isoformat()):
        assert value in out
