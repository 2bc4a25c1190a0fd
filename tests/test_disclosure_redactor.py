"""Redaction of text: the case's own values in their spellings, shape-based detection, and what must stay."""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

import docx
import pypdfium2 as pdfium
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from packetizer.caseio import case_from_mapping
from packetizer.disclosure import MARKERS, Redactor, plan_disclosure
from packetizer.disclosure.identifiers import build_needle
from packetizer.ingest import ingest_attachment
from packetizer.model import Attachment
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


# --------------------------------------------------------------------------
# Unicode: what a reader sees as the number is the number
# --------------------------------------------------------------------------

DASHES = ["\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212", "\ufe58", "\ufe63", "\uff0d", "\u2043"]
SPACES = ["\u00a0", "\u2002", "\u2007", "\u2009", "\u200a", "\u202f", "\u205f", "\u3000"]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]


@pytest.mark.parametrize("dash", DASHES)
def test_an_ssn_with_any_dash_is_found_as_the_case_value_and_as_an_ssn_shape(redactor, dash):
    """This test ensures an SSN written with en dashes, minus signs, figure or full-width dashes is removed, the case's own and anyone's."""
    for ssn, searcher in (("478-26-1935", redactor), ("301-22-7788", Redactor())):
        spelled = ssn.replace("-", dash)
        text = f"Intake — SSN {spelled}; café visit."
        out, hits = searcher.redact_text(text)
        assert [(text[h.start:h.end], h.type) for h in hits] == [(spelled, "ssn")]
        assert out == "Intake — SSN [SSN removed]; café visit."


@pytest.mark.parametrize("space", SPACES)
def test_numbers_with_any_space_variant_are_found(redactor, space):
    """This test ensures no-break, thin, figure and ideographic spaces between the groups of a phone or SSN do not hide it."""
    text = f"home 651{space}555{space}0182, ssn 478{space}26{space}1935."
    out, hits = redactor.redact_text(text)
    assert [h.type for h in hits] == ["phone", "ssn"]
    assert out == "home [phone removed], ssn [SSN removed]."


@pytest.mark.parametrize("invisible", INVISIBLE)
def test_invisible_characters_inside_a_number_do_not_hide_it(redactor, invisible):
    """This test ensures zero-width characters and soft hyphens typed inside an SSN or MRN are ignored, and removed with the value."""
    text = f"SSN 478-2{invisible}6-1935 and chart 0073{invisible}1942 noted"
    out, hits = redactor.redact_text(text)
    assert [h.type for h in hits] == ["ssn", "mrn"]
    assert out == "SSN [SSN removed] and chart [MRN removed] noted"


def test_full_width_digits_and_at_sign_are_found(redactor):
    """This test ensures full-width digits, dashes and ＠ (as some Asian-locale systems type them) are read as what they show."""
    text = "ＳＳＮ ４７８－２６－１９３５, mail maya.lindqvist＠example.net, other ３０１－２２－７７８８."
    out, hits = redactor.redact_text(text)
    assert [h.type for h in hits] == ["ssn", "email", "ssn"]
    assert out == "ＳＳＮ [SSN removed], mail [email removed], other [SSN removed]."


def test_digits_of_any_script_are_read_as_the_number_they_show(redactor):
    """This test ensures an SSN written in Arabic-Indic or Devanagari digits is found, in the note and in the case:
    a value the case holds in such digits is searched for in ASCII digits too, and the other way round."""
    text = "SSN \u0664\u0667\u0668-\u0662\u0666-\u0661\u0669\u0663\u0665; other \u0969\u0966\u0967-\u0968\u0968-\u096d\u096d\u096e\u096e."
    out, hits = redactor.redact_text(text)
    assert [h.type for h in hits] == ["ssn", "ssn"]
    assert out == "SSN [SSN removed]; other [SSN removed]."

    case = make_case(ssn="\u0664\u0667\u0668-\u0662\u0666-\u0661\u0669\u0663\u0665")
    typed = plan_disclosure(case, load_registry(PAYERS).get("dx-plain")).redactor
    assert typed.redact_text("Patient SSN on file 478261935.")[0] == "Patient SSN on file [SSN removed]."
    assert typed.redact_text("Member number 478261935 written out.")[0] == "Member number [SSN removed] written out."


def test_positions_are_those_of_the_original_text_around_expanding_characters(redactor):
    """This test ensures hits map back to the text as given when folding changes its length (ligatures, accents, invisible characters)."""
    text = "\ufb01le of Jose\u0301 \u2026 \u200b\u200b SSN 478\u200b\u201326\u20131935 \u2014 \ufb01n"
    hits = redactor.find(text)
    assert [text[h.start:h.end] for h in hits] == ["478\u200b\u201326\u20131935"]
    assert redactor.redact_text(text)[0] == "\ufb01le of Jose\u0301 \u2026 \u200b\u200b SSN [SSN removed] \u2014 \ufb01n"


def test_values_the_payer_needs_stay_when_written_with_unicode(redactor):
    """This test ensures the keep set works on folded text: the member id in full-width letters and the clinic's phone with en dashes stay."""
    text = "Member ＱＨＰ７７００１２３４５; clinic 651\u2013555\u20130100; fax (651)\u00a0555\u20110109; patient 651\u2013555\u20130182."
    out, hits = redactor.redact_text(text)
    assert [h.type for h in hits] == ["phone"]
    assert out == "Member ＱＨＰ７７００１２３４５; clinic 651\u2013555\u20130100; fax (651)\u00a0555\u20110109; patient [phone removed]."


def test_a_needed_value_stored_in_full_width_letters_still_stays():
    """This test ensures a member id typed into the case in full-width letters is kept in its ASCII spelling, even when it holds the SSN's digits."""
    case = make_case(ssn="478-26-1935")
    case = case_from_mapping({**case.raw, "member": {**case.raw["member"], "member_id": "ＱＨＰ４７８２６１９３５"}},
                             Path("."))
    plan = plan_disclosure(case, load_registry(PAYERS).get("dx-plain"))
    assert "member.ssn" in dict(plan.searched_fields)
    text = "Member QHP478261935, on file 478 26 1935."
    assert plan.redactor.redact_text(text)[0] == "Member QHP478261935, on file [SSN removed]."


def test_text_with_a_lone_surrogate_is_searched_not_refused():
    """This test ensures a text layer whose Unicode map gives a lone surrogate (PDFium hands such a character over
    when its text is read one character at a time) is searched like any other: the SSN beside it is found and
    replaced, where folding the text used to raise."""
    surrogate = chr(0xD800)
    searcher = Redactor()
    out, hits = searcher.redact_text(f"Seen {surrogate} today. SSN 301-22-7788{surrogate}")
    assert [h.type for h in hits] == ["ssn"]
    assert out == f"Seen {surrogate} today. SSN [SSN removed]{surrogate}"
    assert searcher.first_hit(f"{surrogate} 301\u201322\u20137788").type == "ssn"


def test_html_entities_for_unicode_separators_are_redacted():
    """This test ensures an HTML fragment whose SSN uses &nbsp; and en-dash entities gets a marker like any other."""
    result = Redactor().redact_html("<p>SSN&nbsp;301&#8211;22&ndash;7788 &amp; more</p>")
    assert result.html == '<p>SSN\u00a0<span class="redaction" id="redaction-1">[SSN removed]</span> &amp; more</p>'


@settings(max_examples=150, deadline=None)
@given(ssn=valid_ssn, seps=st.tuples(*[st.tuples(st.sampled_from(["", *INVISIBLE]),
                                                   st.sampled_from(["-", " ", "", *DASHES, *SPACES]),
                                                   st.sampled_from(["", *INVISIBLE]))] * 2),
       before=st.sampled_from(["", "é ", "— ", "\u00a0", "ＳＳＮ "]), after=st.sampled_from(["", " é", "\u2026", "."]))
def test_any_unicode_spelling_of_an_ssn_is_removed_and_nothing_else_changes(ssn, seps, before, after):
    """This test ensures that for any SSN spelled with any mix of dashes, spaces and invisible characters, exactly that spelling is replaced."""
    spelled = ssn[:3] + "".join(seps[0]) + ssn[3:5] + "".join(seps[1]) + ssn[5:]
    searcher = Redactor(needles=(build_needle("ssn", "member.ssn", f"{ssn[:3]}-{ssn[3:5]}-{ssn[5:]}"),))
    out, hits = searcher.redact_text(f"{before}{spelled}{after}")
    assert out == f"{before}[SSN removed]{after}"


# --------------------------------------------------------------------------
# OCR: digits read as letters
# --------------------------------------------------------------------------

@pytest.mark.parametrize("misread, type_", [
    ("l23-45-6789", "ssn"), ("123-4S-6789", "ssn"), ("I23-45-67B9", "ssn"), ("SSN 3O1 22 7788", "ssn"),
])
def test_ocr_misreads_of_an_unknown_ssn_are_found_only_when_asked(misread, type_):
    """This test ensures an SSN whose digits OCR read as letters (l, I, S, O, B) is found on OCR text, at the same positions."""
    text = f"Scanned intake: {misread} (illegible)."
    assert Redactor().find(text) == []
    hits = Redactor().find(text, ocr=True)
    assert [(text[h.start:h.end], h.type) for h in hits] == [(misread.removeprefix("SSN "), type_)]


def test_ocr_misreads_of_the_case_values_are_found():
    """This test ensures a scanner's OCR layer that read 4486 as 44B6, or 0 as O, still loses the case's phone, SSN and MRN."""
    case = make_case(phone="(651) 555-4486", ssn="478-26-1935", mrn="00731942")
    searcher = plan_disclosure(case, load_registry(PAYERS).get("dx-plain")).redactor
    text = "call 651-555-44B6; ssn 47B-2G-l935; chart OO73I942."
    assert searcher.find(text) == []
    out, hits = searcher.redact_text(text, ocr=True)
    assert [h.type for h in hits] == ["phone", "ssn", "mrn"]
    assert out == "call [phone removed]; ssn [SSN removed]; chart [MRN removed]."


def test_ocr_reading_leaves_words_and_needed_values_alone(redactor):
    """This test ensures OCR mode does not turn words, clinical shorthand or kept values into identifiers."""
    text = KEPT_TEXT + " Blood 10mg BID, Room B12, lot 2O26-1O-11, SOB on exertion, Q4h, G-tube, 3x10 reps, I&O."
    assert redactor.find(text, ocr=True) == []


# --------------------------------------------------------------------------
# Page breaks
# --------------------------------------------------------------------------

def test_a_value_split_across_a_page_break_is_found_on_both_pages(redactor):
    """This test ensures an SSN, an email and a phone that a page break cuts in two are found, each page getting its own part, across a running footer and a fax header."""
    pages = [
        "Progress note\nIntake: SSN 478-26-\n\n   Page 1 of 3\n",
        "FAX 651-555-0109  10/12/2026 10:41  P.002\n1935 on file. Write to maya.lindqvist@exa",
        "mple.net or call 651-555-\n",
        "0182 today.",
    ]
    assert [redactor.find(p) for p in pages[:1]] == [[]]
    found = redactor.find_in_pages(pages)
    parts = [[(pages[i][h.start:h.end], h.type) for h in hits] for i, hits in enumerate(found)]
    assert parts == [
        [("478-26-", "ssn")],
        [("1935", "ssn"), ("maya.lindqvist@exa", "email")],
        [("mple.net", "email"), ("651-555-", "phone")],
        [("0182", "phone")],
    ]
    page, hit = redactor.first_hit_in_pages(pages)
    assert (page, pages[page][hit.start:hit.end]) == (0, "478-26-")


def test_page_joins_add_nothing_to_pages_without_split_values(redactor):
    """This test ensures joining the foot and head of clean pages never invents an identifier (numbers at the edges stay apart)."""
    pages = ["Visit notes. BP 128/82, pulse 651\n555 steps", "0182 units dispensed.\nLot 2026",
             "10-11 expiry. NPI 1234567893", "Claim 2026101100457 ends here."]
    assert redactor.find_in_pages(pages) == [[], [], [], []]
    assert redactor.first_hit_in_pages(pages) is None


def test_the_values_a_break_cuts_in_two_are_told_apart_from_values_on_one_page(redactor):
    """This test ensures split_across_break names each identifier the break cuts in two (after a running
    footer and header too), by its type and its letters and digits, and not one that lies whole on either
    page; the proof's searches name only what the proof looks for."""
    foot, head = "Intake form lists SSN 478-26-\nPage 1 of 2", "Lake Street PT\n1935 and no allergies."
    assert redactor.split_across_break(foot, head) == {("ssn", "478261935")}
    whole = "Call (651) 555-0182 today.\nSSN 478-26-1935"
    assert redactor.split_across_break(whole, "Tolerated treatment well.") == frozenset()
    assert redactor.split_across_break("Tolerated treatment well.", whole) == frozenset()
    email = ("Email maya.lindqvist@exa", "mple.net as given.")
    assert redactor.split_across_break(*email) == {("email", "MAYALINDQVISTEXAMPLENET")}
    phone = ("Call the front desk at (612) 555", "0147 after 5pm.")
    assert {kind for kind, _ in redactor.split_across_break(*phone)} == {"phone"}
    assert redactor.proof_searches().split_across_break(*phone) == frozenset()   # a phone shape: not the proof's


# --------------------------------------------------------------------------
# Detection gaps
# --------------------------------------------------------------------------

@pytest.mark.parametrize("cells", [
    "S S N 3 0 1 2 2 7 7 8 8",
    "SSN\n3\n0\n1\n2\n2\n7\n7\n8\n8\nDOB\n02/17/1983",
    "S\n\nS\n\nN\n\n3\n\n0\n\n1\n\n2\n\n2\n\n7\n\n7\n\n8\n\n8",
    "SSN | 3 | 0 | 1 | 2 | 2 | 7 | 7 | 8 | 8 |",
    "SSN   301   22   7788",
    "SSN301227788",
])
def test_a_labelled_ssn_typed_one_digit_per_table_cell_is_found(cells):
    """This test ensures an SSN laid out one digit per cell (as PDF text or a DOCX table reads) is removed from its first to its last digit."""
    out, hits = Redactor().redact_text(f"Intake table\n{cells}\nend")
    assert [h.type for h in hits] == ["ssn"]
    assert "[SSN removed]" in out
    assert "301227788" not in re.sub(r"\D", "", out) and "7788" not in re.sub(r"\s|\|", "", out)


def test_a_docx_table_with_one_ssn_digit_per_cell_is_redacted(tmp_path):
    """This test ensures a Word table row "SSN | 3 | 0 | 1 ..." reaches the exhibit as a marker, for an SSN the case does not list."""
    document = docx.Document()
    document.add_paragraph("Intake form")
    table = document.add_table(rows=1, cols=10)
    for cell, text in zip(table.rows[0].cells, ["SSN", *"301227788"]):
        cell.text = text
    path = tmp_path / "intake.docx"
    document.save(path)
    exhibit = ingest_attachment(Attachment("intake.docx", path, "clinical_note", dt.date(2026, 10, 11)),
                                redactor=Redactor())
    pdf = pdfium.PdfDocument(exhibit.pdf)
    text = re.sub(r"\s", "", "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf))))
    assert "[SSNremoved]" in text and "Intakeform" in text     # the narrow cell wraps the marker
    assert "7788" not in re.sub(r"\D", "", text)
    assert [(r.type, r.count) for r in exhibit.redactions] == [("ssn", 1)]


def test_the_cases_own_five_digit_mrn_is_searched_but_other_short_numbers_are_not():
    """This test ensures a 5-digit value the case calls a record number is hunted unlabelled, while a 5-digit unknown number is not."""
    case = make_case(mrn="48213", locker="52207", chart_no="66120")
    plan = plan_disclosure(case, load_registry(PAYERS).get("dx-plain"))
    searched = dict(plan.searched_fields)
    assert searched["member.mrn"] == "mrn" and searched["member.chart_no"] == "mrn"
    assert "member.locker" not in searched
    out, _ = plan.redactor.redact_text("Record 48213 pulled; see 66120. Locker 52207. BP 148/82, 4821 steps.")
    assert out == "Record [MRN removed] pulled; see [MRN removed]. Locker 52207. BP 148/82, 4821 steps."


@pytest.mark.parametrize("residence", ["1420 elm street", {"line": "1420 elm street", "town": "Springfield"}])
def test_an_address_under_an_unknown_key_is_found_in_any_case(residence):
    """This test ensures a street line stored under member.residence (plain or as a mapping) is hunted by its shape, whatever its case in a note."""
    plan = plan_disclosure(make_case(residence=residence), load_registry(PAYERS).get("dx-plain"))
    assert "street_address" in dict(plan.searched_fields).values()
    for spelling in ("1420 elm street", "1420 ELM STREET", "1420 Elm St.", "1420 elm st, apt 2"):
        out, hits = plan.redactor.redact_text(f"Lives at {spelling} with family.")
        assert [h.type for h in hits] == ["street_address"], spelling
        assert "1420" not in out and "[address removed]" in out


WITHHELD_WORDS = {
    "middle_name": "Anneliese", "mothers_maiden_name": "Fairbanks O'Connell",
    "employer": "Acme Widget Corp", "emergency": {"name": "Jon Lindqvist"},
}
NOT_HUNTED = {
    "sex": "Female", "gender": "female", "race": "White", "ethnicity": "Not Hispanic",
    "preferred_language": "English", "marital_status": "Married", "religion": "Catholic",
    "relationship": "Husband", "nickname": "Max", "start": "2019-03-01", "smoker": True, "pin": "4821",
    "allergies": "Penicillin", "notes": "Prefers morning visits and calls ahead when running late for therapy",
    "placeholder": "unknown", "birth_month": "June",
}


def test_every_specific_withheld_string_is_searched_as_words_and_categories_are_not():
    """This test ensures names, a maiden name, an employer and a relative's name are hunted as words, while categories, dates and clinical values are not."""
    plan = plan_disclosure(make_case(**WITHHELD_WORDS, **NOT_HUNTED), load_registry(PAYERS).get("dx-plain"))
    assert dict(plan.searched_fields) == {
        "member.middle_name": "identifier", "member.mothers_maiden_name": "identifier",
        "member.employer": "identifier", "member.emergency.name": "identifier",
    }
    text = ("Maya Anneliese Lindqvist seen; mother's family FAIRBANKS\nO\u2019CONNELL; works at acme widget corp; "
            "husband Jon\n   Lindqvist called. Female, married, English, Catholic, White, not Hispanic; "
            "penicillin allergy; seen in June; PIN 4821; Max effort; unknown.")
    out, hits = plan.redactor.redact_text(text)
    assert out == ("Maya [identifier removed] Lindqvist seen; mother's family [identifier removed]; works at "
                   "[identifier removed]; husband [identifier removed] called. Female, married, English, Catholic, "
                   "White, not Hispanic; penicillin allergy; seen in June; PIN 4821; Max effort; unknown.")


def test_a_withheld_value_that_every_packet_prints_is_not_hunted_and_is_noted():
    """This test ensures a withheld surname "Page" (every footer says Page) or an employer named like the payer is not hunted, and the plan says so by path."""
    plan = plan_disclosure(make_case(mothers_maiden_name="Page", employer="Disclosure Fixture Plan"),
                           load_registry(PAYERS).get("dx-plain"))
    assert dict(plan.searched_fields) == {}
    assert [(n["code"], n["field"]) for n in plan.notes] == [
        ("withheld_value_printed", "member.mothers_maiden_name"), ("withheld_value_printed", "member.employer")]
    assert "Page" not in repr(plan.notes) and "Fixture" not in repr(plan.notes)
    assert plan.redactor.find("Page 1 of 3. Disclosure Fixture Plan, fax +1-800-555-0199") == []


def test_a_name_split_across_pages_and_per_page_ocr_flags():
    """This test ensures a withheld name split by a page break is found, and OCR reading applies only to the pages flagged as OCR'd."""
    searcher = plan_disclosure(make_case(emergency={"name": "Jon Lindqvist"}, account="44862291"),
                               load_registry(PAYERS).get("dx-plain")).redactor
    pages = ["Husband Jon", "Lindqvist called about 44B62291."]
    assert [len(h) for h in searcher.find_in_pages(pages)] == [1, 1]
    assert [len(h) for h in searcher.find_in_pages(pages, ocr=[False, True])] == [1, 2]
    with pytest.raises(ValueError):
        searcher.find_in_pages(pages, ocr=[True])
