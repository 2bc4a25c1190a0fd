"""Staff words for what the checks and the case schema say: field labels, dates as the form shows them, MB.

The checks, the case schema and the errors speak to every door alike (the CLI's
text and JSON are a contract, see SPEC): they name fields by their paths in the
case file (``services[1].date_of_service``), dates as ISO text and limits by
their names in :mod:`packetizer.limits`. A billing clerk on the web reads the
same problems here, at the web door, told as the form shows them:

* a field by the label of its input: ``Service line 2, date of service``,
  ``Member, date of birth``, ``Document 3, date``;
* a date as ``mm/dd/yyyy``, what a date input shows in a US browser;
* a size in MB, never raw bytes or a limit's name;
* what to do in the form's own words (``enter the date as mm/dd/yyyy``,
  ``Upload at least one clinical note (Documents, kind: Clinical note)``).

A finding keeps its stable code on the page (a ``data-code`` attribute), so
what the CLI and the README call it can still be looked up.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ..model import ATTACHMENT_KIND_WORDS, LATE_REASON_WORDS

#: How a date is written on the web: what ``<input type=date>`` shows in a US browser.
DATE_FORMAT = "mm/dd/yyyy"
ENTER_DATE = f"enter the date as {DATE_FORMAT}"
_MB = 1024 * 1024

_LABELS = {
    "(top level)": "The case",
    "(file)": "Case file",
    "case_id": "Case id",
    "payer_id": "Payer",
    "member": "Member",
    "member.member_id": "Member, member id",
    "member.first_name": "Member, first name",
    "member.last_name": "Member, last name",
    "member.dob": "Member, date of birth",
    "member.ssn": "Member, SSN",
    "member.mrn": "Member, MRN",
    "member.phone": "Member, phone",
    "member.email": "Member, email",
    "member.address": "Member, home address",
    "claim": "Claim",
    "claim.claim_number": "Claim, claim number",
    "claim.denial_codes": "Claim, denial codes",
    "claim.denial_date": "Claim, denial date",
    "services": "Service lines",
    "rendering_provider": "Rendering provider",
    "rendering_provider.name": "Rendering provider, name",
    "rendering_provider.npi": "Rendering provider, NPI",
    "referring_provider": "Referring provider",
    "referring_provider.name": "Referring provider, name",
    "referring_provider.npi": "Referring provider, NPI",
    "facility": "Facility",
    "facility.name": "Facility, name",
    "facility.npi": "Facility, NPI",
    "late_reason": "Why authorization was not obtained in advance",
    "late_reason.category": "Why was prior authorization not obtained",
    "late_reason.explanation": "Late reason, explanation",
    "late_reason.evidence": "Late reason, evidence",
    "timeline": "Timeline",
    "medical_necessity": "Medical necessity summary",
    "contact": "Contact for the payer",
    "contact.name": "Contact, name",
    "contact.phone": "Contact, phone",
    "contact.fax": "Contact, fax",
    "contact.email": "Contact, email",
    "consents": "Consents",
    "consents.psychotherapy_notes": "Consent to release psychotherapy notes",
    "consents.part2_records": "Consent to release substance-use (Part 2) records",
    "attachments": "Documents",
    "prior_request": "Decision appealed",
    "prior_request.submitted": "Decision appealed, request sent on",
    "prior_request.reference": "Decision appealed, payer reference",
    "prior_request.decision": "Decision appealed, decision",
    "prior_request.decision_date": "Decision appealed, decided on",
    "prior_request.reason": "Decision appealed, payer's reason",
    "prior_request.denial_codes": "Decision appealed, denial codes",
    "appeal": "Appeal",
    "appeal.argument": "Appeal, why the decision is wrong",
    "appeal.level": "Appeal, level",
    "appeal.requested": "Appeal, what is asked",
}
_LINE_LABELS = {
    "date_of_service": "date of service",
    "start_date": "span start date",
    "end_date": "span end date",
    "discharge_date": "discharge date",
    "place_of_service": "place of service (POS)",
    "code": "CPT/HCPCS code",
    "modifiers": "modifiers",
    "units": "units",
    "diagnosis_codes": "ICD-10-CM codes",
    "description": "description",
}
_ITEM_LABELS = {"modifiers": "modifier", "diagnosis_codes": "ICD-10-CM code", "denial_codes": "denial code"}
_DOCUMENT_LABELS = {"file": "file", "kind": "kind", "date": "date", "title": "title"}
_DATE_KEYS = {"dob", "date", "date_of_service", "start_date", "end_date", "discharge_date", "denial_date"}
_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def _parts(path: str) -> list:
    return [name if name else int(index) for name, index in _PART.findall(path)]


def _words(name: str) -> str:
    return name.replace("_", " ")


def label(path: str | None) -> str:
    """The label a clerk knows for a field path: ``services[1].date_of_service`` -> ``Service line 2, date of service``."""
    if not path:
        return ""
    if path in _LABELS:
        return _LABELS[path]
    parts = _parts(path)
    if not parts:
        return path
    head = parts[0]
    if head == "services" and len(parts) > 1 and isinstance(parts[1], int):
        words = f"Service line {parts[1] + 1}"
        if len(parts) > 2:
            key = parts[2]
            if len(parts) > 3 and isinstance(parts[3], int) and key in _ITEM_LABELS:
                return f"{words}, {_ITEM_LABELS[key]} {parts[3] + 1}"
            return f"{words}, {_LINE_LABELS.get(key, _words(str(key)))}"
        return words
    if head == "attachments" and len(parts) > 1 and isinstance(parts[1], int):
        words = f"Document {parts[1] + 1}"
        if len(parts) > 2:
            return f"{words}, {_DOCUMENT_LABELS.get(parts[2], _words(str(parts[2])))}"
        return words
    if head == "timeline" and len(parts) > 1 and isinstance(parts[1], int):
        return f"Timeline, line {parts[1] + 1}"
    if len(parts) >= 3 and isinstance(parts[2], int) and parts[1] in _ITEM_LABELS:
        return f"{label(str(head))}, {_ITEM_LABELS[parts[1]]} {parts[2] + 1}"
    known = ".".join(str(p) for p in parts[:2] if isinstance(p, str))
    if known in _LABELS:
        return _LABELS[known]
    return ", ".join(_words(str(p)) if isinstance(p, str) else str(p + 1) for p in parts).capitalize()


def us_date(day: dt.date | None) -> str:
    """``2026-09-14`` -> ``09/14/2026``: a date as the form's date inputs show it."""
    return day.strftime("%m/%d/%Y") if isinstance(day, dt.date) else ""


def _us_date_text(match: re.Match) -> str:
    try:
        return us_date(dt.date.fromisoformat(match[0]))
    except ValueError:
        return match[0]


_ISO_IN_TEXT = re.compile(r"\b[0-9]{4}-[0-9]{2}-[0-9]{2}\b")


def us_dates(text: str) -> str:
    """Every ISO date in ``text`` written as ``mm/dd/yyyy``."""
    return _ISO_IN_TEXT.sub(_us_date_text, text)


def megabytes(size: int | float) -> str:
    """A size as a clerk reads it: ``31.2 MB``; a whole number of MB without decimals (``25 MB``)."""
    mb = size / _MB
    if mb == int(mb):
        return f"{int(mb):,} MB"
    return f"{mb:,.1f} MB" if mb >= 0.1 else f"{mb:.2f} MB"


def too_large(size: int | None, limit: int, *, what: str = "file") -> str:
    """``The file is 31.2 MB; the largest file accepted is 25 MB.``"""
    told = f"The {what} is {megabytes(size)}; " if size else f"The {what} is too large; "
    return f"{told}the largest {what} accepted is {megabytes(limit)}."


_BYTES_OVER = re.compile(r"(\d+) bytes > MAX_\w+ \((\d+)\)")
_BYTES_MORE = re.compile(r"more than MAX_\w+ \((\d+)\) bytes")


_COUNT_OVER = re.compile(r"(\d[\d,]*\+?) ([a-z][a-z ]*?) > MAX_\w+ \(([\d,.]+)\)")
_MORE_THAN = re.compile(r"more than MAX_\w+ \(([^)]+)\)")
_LIMIT_IN = re.compile(r"\bin MAX_\w+ \(([^)]+)\)")
_NAMED_LIMIT = re.compile(r"\bMAX_[A-Z_]+ \(([^)]+)\)")


def _bytes_over(match: re.Match) -> str:
    size, limit = int(match[1]), int(match[2])
    if size == limit + 1:   # a door reads one byte past the limit and no more: the size itself is unknown
        return f"it is larger than {megabytes(limit)}, the largest accepted"
    return f"it is {megabytes(size)}; the largest accepted is {megabytes(limit)}"


def _sizes(text: str) -> str:
    """Limits told by their names in :mod:`packetizer.limits` told by their numbers: sizes in MB, counts in words."""
    text = _BYTES_OVER.sub(_bytes_over, text)
    text = _BYTES_MORE.sub(lambda m: f"larger than the {megabytes(int(m[1]))} accepted", text)
    text = _COUNT_OVER.sub(lambda m: f"{m[1]} {m[2]}, more than the {m[3]} accepted", text)
    text = _MORE_THAN.sub(lambda m: f"more than {m[1]}", text)
    text = _LIMIT_IN.sub(lambda m: f"in {m[1]}", text)
    return _NAMED_LIMIT.sub(lambda m: m[1], text)


# -- problems of the case form and the case schema (path, message) ---------------------------------------------------

_FORMAT_HINTS = {
    "case_id": "use 3 to 40 letters, digits, hyphens or underscores (no spaces)",
    "payer_id": "choose a payer from the list",
    "npi": "an NPI is exactly 10 digits",
    "place_of_service": "enter the 2-digit place of service code (e.g. 11)",
    "code": "enter a 5-character CPT or HCPCS code (e.g. 97110)",
    "modifiers": "a modifier is exactly 2 letters or digits (e.g. GP, 59)",
    "diagnosis_codes": "enter ICD-10-CM codes such as M54.16",
    "denial_codes": "enter CARC/RARC codes such as CO-197 or N54",
    "email": "enter an email address such as name@example.com",
}
_COUNTED = {"modifiers": "modifiers", "diagnosis_codes": "ICD-10-CM codes", "denial_codes": "denial codes",
            "timeline": "timeline lines", "services": "service lines", "attachments": "documents"}
_BOUND_WORDS = {">=": "at least", ">": "more than", "<=": "at most", "<": "less than"}


def _key(path: str) -> str:
    """The last name in a path (``services[0].diagnosis_codes[1]`` -> ``diagnosis_codes``)."""
    names = [p for p in _parts(path) if isinstance(p, str)]
    return names[-1] if names else ""


def is_date_path(path: str) -> bool:
    """A date typed in a date input (the timeline's dates are typed in its text box)."""
    return _key(path) in _DATE_KEYS and not path.startswith("timeline")


def problem_words(path: str, message: str) -> str:
    """What a clerk is told about one problem of the case form, beside the input at ``path``."""
    key = _key(path)
    if path.startswith("timeline") and ("format" in message or "not a date" in message or "is required" in message):
        return "start each line with its date as YYYY-MM-DD, then what happened"
    if message in ("is required but missing", "must not be empty"):
        if path == "services":
            return "enter at least one service line"
        return "this is required"
    if is_date_path(path):
        if message.endswith("is not a date"):
            return f"there is no such date; {ENTER_DATE}"
        if message.endswith("is not in the expected format") or message.startswith("must be a string"):
            return ENTER_DATE
    if message.endswith("is not in the expected format"):
        return _FORMAT_HINTS.get(key, "check what was typed here")
    if message.startswith(("must be a number", "must be an integer")):
        return "enter a number" if "number" in message else "enter a whole number"
    if re.match(r"^must be an? \w+, not \w+$", message):
        return "this is not the kind of value expected here; correct it in the case file"
    if message == "is not a payer in the policy registry":
        return "choose a payer from the list"
    if message.endswith("is already used by another case"):
        return f"{message}; give this case its own id"
    if message == "needs a phone or an email":
        return "enter a phone number or an email address"
    if message.startswith("needs either date_of_service"):
        return "enter a date of service, or a span (from and to), not both"
    if re.match(r"^needs at least \d+ item", message):
        return f"enter at least one of the {_COUNTED.get(key, 'entries')}"
    match = re.match(r"^(\d+) items > MAX_\w+ \((\d+)\)$", message)
    if match:
        return f"a case holds at most {match[2]} {_COUNTED.get(key, 'entries')}; this one has {match[1]}"
    match = re.match(r"^has more than (\d+) items$", message)
    if match:
        return f"enter at most {match[1]} {_COUNTED.get(key, 'entries')}"
    match = re.match(r"^(.*) must be (>=|>|<=|<) (\S+)$", message)
    if match:
        return f"must be {_BOUND_WORDS[match[2]]} {match[3]}"
    match = re.match(r"^is longer than (\d+) characters$", message)
    if match:
        return f"is too long: at most {match[1]} characters"
    match = re.match(r"^.* is not one of: .*$", message)
    if match:
        which = {"category": "reasons", "kind": "document kinds"}.get(key, "choices")
        return f"choose one of the {which} offered"
    match = re.match(r"^unknown key\(s\): (.*)$", message)
    if match:
        return f"the case file has parts this application does not know ({match[1]}); remove them from the file"
    match = re.match(r"^(\S+) is before start_date (\S+)$", message)
    if match:
        return f"the span ends ({us_dates(match[1])}) before it starts ({us_dates(match[2])})"
    return text_words(message, field=path)


# -- check findings and other messages that name fields inside their text --------------------------------------------

_CATEGORY_TOLD = re.compile("|".join(rf"{re.escape(key)} \({re.escape(words)}\)"
                                     for key, words in LATE_REASON_WORDS.items()))
_PATH_IN_TEXT = re.compile(
    r"\b(?:(?:services|attachments|timeline)\[\d+\]"
    r"|(?:member|claim|contact|consents|facility)(?=\.[a-z])"
    r"|rendering_provider|referring_provider|late_reason|case_id|payer_id|medical_necessity)"
    r"(?:\.[a-z][a-z0-9_]*(?:\[\d+\])?)*")
_BARE_KEYS = {
    "diagnosis_codes": "ICD-10-CM codes", "date_of_service": "date of service", "start_date": "start date",
    "end_date": "end date", "discharge_date": "discharge date", "denial_codes": "denial codes",
    "denial_date": "denial date", "place_of_service": "place of service",
}
_BARE = re.compile(r"\b(" + "|".join(_BARE_KEYS) + r")\b")


def _kind_wanted(match: re.Match) -> str:
    kind = match[1]
    words = ATTACHMENT_KIND_WORDS.get(kind, _words(kind))
    return f"Upload at least one {words.lower()} (Documents, kind: {words})"


def text_words(text: str, *, field: str | None = None) -> str:
    """A message that names fields inside it, told in staff words (paths as labels, dates as mm/dd/yyyy, MB).

    When the message starts with ``field`` (the checks' ``<field>: <detail>`` or
    ``<field> <value> ...``), that start is left out: the door shows the label apart.
    """
    text = _FINDING_LINE.sub(lambda m: _finding_line(m[1], m[2]), text)
    if field and text.startswith(field) and field != "attachments":
        rest = text[len(field):]
        if rest.startswith(": "):
            text = rest[2:]
        elif rest.startswith(" ") and not rest.startswith((" (", " has ", " is ")):
            text = rest[1:]
    text = re.sub(r"Add one to attachments with kind: (\w+)", _kind_wanted, text)
    text = re.sub(r"consents\.(\w+) is not true",
                  lambda m: f"“{_LABELS.get('consents.' + m[1], _words(m[1]))}” is not ticked on the case form", text)
    text = text.replace("This case's late_reason.category is", "This case's reason is")
    text = _CATEGORY_TOLD.sub(lambda m: m[0][m[0].index("(") + 1:-1], text)
    text = _PATH_IN_TEXT.sub(lambda m: label(m[0]), text)
    text = _BARE.sub(lambda m: _BARE_KEYS[m[1]], text)
    text = re.sub(r"\bnpi\b", "NPI", text)
    text = _sizes(text)
    text = us_dates(text)
    return text


_FINDING_LINE = re.compile(r"^\[[a-z0-9_]+\] (?:([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*): )?(.*)$", re.M)


def _finding_line(field: str | None, detail: str) -> str:
    """One ``[code] field: message`` line of a blocked build's summary, as the case page tells the finding."""
    return f"{label(field)}: {text_words(detail, field=field)}" if field else text_words(detail)


_LEADING_PATH = re.compile(r"^((?:Not built|No preview): )?([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*): (.*)$", re.S)


def message_words(text: str) -> str:
    """An error's message (``<field>: <detail>``, perhaps after "Not built: ") with its field told by its label."""
    match = _LEADING_PATH.match(text)
    if match and (match[2] in _LABELS or _PATH_IN_TEXT.fullmatch(match[2])):
        detail, more = match[3], ""
        counted = re.search(r" \(and (\d+) more problem\(s\)\)$", detail)
        if counted:
            detail, more = detail[:counted.start()], f" (and {counted[1]} more: edit the case to see them)"
        return f"{match[1] or ''}{label(match[2])}: {problem_words(match[2], detail)}{more}"
    return text_words(text)


def finding_words(finding: Any) -> str:
    """A check finding's message for the web, without the field it starts with (shown apart as its label)."""
    return text_words(finding.message, field=finding.field)


def init_app(app) -> None:
    """The template filters: ``staff_label`` (a field path), ``finding_words`` (a check finding) and
    ``staff_words`` (an error's message)."""
    app.jinja_env.filters.update(staff_label=label, finding_words=finding_words, staff_words=message_words)
