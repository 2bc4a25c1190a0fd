"""The web app's forms (Flask-WTF): the case form, and the small fixed forms of the other pages.

How the case form maps to and from the case document is in :mod:`.caseform`.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
import re

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (BooleanField, DateField, Field, FieldList, Form, FormField, HiddenField, PasswordField,
                     SelectField, StringField, TextAreaField)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import TextInput

from .. import limits
from ..model import ATTACHMENT_KIND_WORDS, LATE_REASON_WORDS
from ..registry import CHANNELS, DETERMINATIONS, ROLES
from ..schemas import validator


def choices(pairs) -> list:
    """Select options from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


ATTACHMENT_KINDS = choices(ATTACHMENT_KIND_WORDS.items())


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=limits.MAX_PASSWORD_CHARS)])


class UploadForm(FlaskForm):
    """One row of the upload form; the case page shows :data:`rows` of them (read by ``cases.upload``)."""

    rows = limits.DOCUMENTS_PER_UPLOAD
    file = FileField("Document", validators=[FileRequired("choose a file to upload")])
    kind = SelectField("Kind", choices=ATTACHMENT_KINDS, default="clinical_note")
    date = DateField("Document date", validators=[DataRequired("the document date is required")])
    title = StringField("Title (optional)", validators=[Optional(), Length(max=200)])


class ImportForm(FlaskForm):
    file = FileField("Case file (.yaml, .yml or .json)", validators=[FileRequired("choose a case file")])


class BuildForm(FlaskForm):
    kind = HiddenField(default="request")     # request | appeal (SPEC section 10)
    override_reason = TextAreaField("Override justification (only when the checks block the case)",
                                    validators=[Optional(), Length(max=2000)])


def _build_id(value) -> int | None:
    """A "Packet sent" choice: a build's id, or ``None`` for the empty first choice."""
    return None if value in ("", None) else int(value)


class SubmissionForm(FlaskForm):
    submitted_on = DateField("Submitted on", validators=[DataRequired()])
    channel = SelectField("Channel", choices=choices((c, c) for c in CHANNELS))
    reference = StringField("Payer reference number", validators=[Optional(), Length(max=100)])
    build_id = SelectField("Packet sent", coerce=_build_id, choices=[],
                           validators=[InputRequired("choose the packet that was sent")])


class InfoRequestForm(FlaskForm):
    requested_on = DateField("Requested on", validators=[DataRequired()])
    due_on = DateField("Answer due by", validators=[Optional()])
    note = TextAreaField("What the payer asked for", validators=[Optional(), Length(max=2000)])


class InfoAnsweredForm(FlaskForm):
    responded_on = DateField("Answered on", validators=[DataRequired()])


DETERMINATION_WORDS = {"approved": "Approved", "partially_approved": "Partially approved", "denied": "Denied"}


#: The determination select: one decision for every service line, or the line-by-line units below it.
DETERMINATION_CHOICES = {"approved": "Approved (every service line)",
                         "partially_approved": "Partially approved (the payer decided line by line: units below)",
                         "denied": "Denied (every service line)"}


class DeterminationForm(FlaskForm):
    determination = SelectField("Determination",
                                choices=choices((d, DETERMINATION_CHOICES[d]) for d in DETERMINATIONS))
    determination_on = DateField("Decided on", validators=[DataRequired()])
    reason = TextAreaField("Reason given by the payer", validators=[Optional(), Length(max=2000)])


class CorrectionReason:
    """The reason every correction carries (the casebook refuses a correction without one)."""

    correction_reason = TextAreaField("Why is it corrected?", validators=[Optional(), Length(max=2000)])


class SubmissionCorrectionForm(SubmissionForm, CorrectionReason):
    """A submission recorded wrongly, as it should have been."""


class InfoRequestCorrectionForm(InfoRequestForm, CorrectionReason):
    """A request for more information (and its answer) recorded wrongly, as it should have been."""

    responded_on = DateField("Answered on (empty if not yet)", validators=[Optional()])


class DeterminationCorrectionForm(DeterminationForm, CorrectionReason):
    """A determination recorded wrongly, as the payer decided it."""


def _password_rules(form, field):
    if field.data and len(field.data) < limits.MIN_PASSWORD_CHARS:
        raise ValidationError(f"use at least {limits.MIN_PASSWORD_CHARS} characters")


class UserAddForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(min=2, max=64)])
    role = SelectField("Role", choices=choices((r, r) for r in ROLES))
    password = PasswordField("Password", validators=[DataRequired(), _password_rules,
                                                     Length(max=limits.MAX_PASSWORD_CHARS)])
    confirm = PasswordField("Repeat password", validators=[EqualTo("password", "the passwords differ")])


class UserEditForm(FlaskForm):
    role = SelectField("Role", choices=choices((r, r) for r in ROLES))
    active = BooleanField("Can sign in")
    password = PasswordField("New password (leave empty to keep)", validators=[Optional(), _password_rules,
                                                                                Length(max=limits.MAX_PASSWORD_CHARS)])


_ID_PART = re.compile(r"^[A-Za-z0-9_-]*$")


def _id_characters(form, field):
    if field.data and not _ID_PART.match(field.data.strip()):
        raise ValidationError("use only letters, digits, - and _ (as in a case id)")


def _dates_in_order(form, field):
    if field.data and form.date_from.data and field.data < form.date_from.data:
        raise ValidationError("the end date is before the start date")


class ArchiveSearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    case_id = StringField("Case id (or part of it)", validators=[Optional(), Length(max=40), _id_characters])
    payer_id = StringField("Payer", validators=[Optional(), Length(max=64), _id_characters])
    date_from = DateField("Created from", validators=[Optional()])
    date_to = DateField("to", validators=[Optional(), _dates_in_order])


class CaseSearchForm(FlaskForm):
    """The case list's search and filters (posted: the words are patient data, kept out of URLs).

    The select choices are set by the view.
    """

    q = StringField("Find", validators=[Optional(), Length(max=200)])
    payer = SelectField("Payer", default="")
    status = SelectField("Status", default="")
    deadline = SelectField("Deadline", default="")
    closed = BooleanField("Show closed (decided) cases")


class AuditLogFilterForm(FlaskForm):
    """The audit log's filters (a GET form); the action choices are set by the view."""

    class Meta:
        csrf = False  # a GET search changes nothing

    actor = StringField("User", validators=[Optional(), Length(max=64)])
    action = SelectField("Action", default="")
    case_id = StringField("Case id (or part of it)", validators=[Optional(), Length(max=40), _id_characters])
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("to", validators=[Optional(), _dates_in_order])


class ActionForm(FlaskForm):
    """A button that changes or runs something: only the CSRF token."""


# -- The case form ---------------------------------------------------------------------------------------------------
#
# Each input is named by the path the case schema reports its problems under ("member.dob", "services[1].code"),
# so a problem the case checks find lands beside its input. A sub-form joins its fields with "."; a list names
# its entries with "[" before the index and "]." after it. The messages are the case checks' own words: a
# problem the form finds and the case checks find again is told once.

REQUIRED = "is required but missing"
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_LIST_SPLIT = re.compile(r"[\s,;]+")
_TIMELINE_LINE = re.compile(r"^\s*(\S+)\s+(.*\S)\s*$")
_COMPARE = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
_BOUNDS = (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"))


def _shown(field, text: str) -> str:
    """A typed value as a message may repeat it: never a member's (patient data), long ones cut short."""
    if field.name.startswith("member."):
        return "the value"
    return text if len(text) <= 60 else text[:57] + "..."


def left_empty(field) -> bool:
    """Nothing the case would hold was entered (text that is not a date or a number counts as entered)."""
    if field.process_errors:
        return False
    data = field.data
    return data is None or data is False or (isinstance(data, (str, list)) and not data)


class LineField(StringField):
    """One line of text, without the spaces around it."""

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = valuelist[0].strip()


class NoteField(TextAreaField):
    """Paragraphs of text, without the spaces around them, with plain line breaks."""

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = valuelist[0].strip().replace("\r\n", "\n")


class ListField(StringField):
    """Codes typed in one line, apart by spaces, commas or semicolons: a list."""

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = [item for item in _LIST_SPLIT.split(valuelist[0].strip()) if item]

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return ", ".join(str(item) for item in self.data) if isinstance(self.data, list) else ""


class TimelineField(TextAreaField):
    """One event a line, ``YYYY-MM-DD what happened``: a list of {date, event} (a line that does not read so
    is kept whole as the date, for the case checks to report)."""

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = []
            for line in valuelist[0].replace("\r\n", "\n").split("\n"):
                if line.strip():
                    match = _TIMELINE_LINE.match(line)
                    self.data.append({"date": match[1], "event": match[2]} if match
                                     else {"date": line.strip(), "event": ""})

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        items = self.data if isinstance(self.data, list) else []
        return "\n".join(f"{i.get('date', '')} {i.get('event', '')}".strip() for i in items if isinstance(i, dict))


class IsoDateField(DateField):
    """A date as YYYY-MM-DD (what a browser's date input sends, and what a case file holds)."""

    def process_data(self, value):
        if isinstance(value, str) and _ISO_DATE.fullmatch(value):
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                pass
        self.data = value

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        text = valuelist[0].strip()
        self.data = None
        if not text:
            return
        if not _ISO_DATE.fullmatch(text):
            raise ValueError(f"{_shown(self, text)} is not in the expected format")
        try:
            self.data = dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{_shown(self, text)} is not a date") from None

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        if isinstance(self.data, dt.date):
            return self.data.isoformat()
        return "" if self.data is None else str(self.data)


class NumberField(Field):
    """A number: whole numbers stay whole (2, not 2.0)."""

    widget = TextInput()

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        text = valuelist[0].strip()
        self.data = None
        if not text:
            return
        for convert in (int, float):
            try:
                self.data = convert(text)
                return
            except ValueError:
                continue
        raise ValueError("must be a number, not string")

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else str(self.data)


class Required(DataRequired):
    """An input that must not be left empty; text that is not a date or a number keeps its own message."""

    def __init__(self):
        super().__init__(REQUIRED)

    def __call__(self, form, field):
        if not field.process_errors:
            super().__call__(form, field)


class MaxItems:
    """At most ``most`` items in a list."""

    def __init__(self, most: int):
        self.most = most

    def __call__(self, form, field):
        if isinstance(field.data, list) and len(field.data) > self.most:
            raise ValidationError(f"has more than {self.most} items")


class Bounds:
    """A number within the case schema's minimum and maximum."""

    def __init__(self, rule: dict):
        self.bounds = [(sign, rule[key]) for key, sign in _BOUNDS if key in rule]

    def __call__(self, form, field):
        value = field.data
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            for sign, bound in self.bounds:
                if not _COMPARE[sign](value, bound):
                    raise ValidationError(f"{json.dumps(value)} must be {sign} {bound}")


def _rule(path: str) -> dict:
    """The case schema's rule for the value at ``path`` ("member.first_name"; "services.units" for every line)."""
    schema = validator("case").schema

    def resolved(node: dict) -> dict:
        while "$ref" in node:
            target = schema
            for key in node["$ref"].removeprefix("#/").split("/"):
                target = target[key]
            node = target
        return node

    node = schema
    for part in path.split("."):
        node = resolved(node)
        if "items" in node:
            node = resolved(node["items"])
        node = node["properties"][part]
    return resolved(node)


def _limits(path: str) -> list:
    """Validators for the limits the case schema sets on ``path``: lengths, numbers of items, bounds."""
    rule = _rule(path)
    checks: list = []
    if rule.get("minLength", 0) > 1:
        checks += [Optional(), Length(min=rule["minLength"], message="must be at least %(min)d characters")]
    if "maxLength" in rule:
        checks.append(Length(max=rule["maxLength"], message="is longer than %(max)d characters"))
    if "maxItems" in rule:
        checks.append(MaxItems(rule["maxItems"]))
    if any(key in rule for key, _ in _BOUNDS):
        checks.append(Bounds(rule))
    return checks


class MemberForm(Form):
    member_id = LineField("Member id", validators=[Required(), *_limits("member.member_id")])
    first_name = LineField("First name", validators=[Required(), *_limits("member.first_name")])
    last_name = LineField("Last name", validators=[Required(), *_limits("member.last_name")])
    dob = IsoDateField("Date of birth", validators=[Required()])
    # Other identifiers a source system may send: accepted, shown, and withheld from the packet.
    ssn = LineField("SSN")
    mrn = LineField("MRN")
    phone = LineField("Phone")
    email = LineField("Email")
    address = LineField("Home address")

    SOURCE_EXTRAS = ("ssn", "mrn", "phone", "email", "address")


class ClaimForm(Form):
    claim_number = LineField("Claim number", validators=_limits("claim.claim_number"))
    denial_codes = ListField("Denial codes", validators=_limits("claim.denial_codes"),
                             description="CARC/RARC codes, e.g. CO-197, N54")
    denial_date = IsoDateField("Denial date")


class ServiceLineForm(Form):
    date_of_service = IsoDateField("Date of service")
    start_date = IsoDateField("or span from")
    end_date = IsoDateField("to")
    discharge_date = IsoDateField("Discharge")
    place_of_service = LineField("POS", description="2 digits")
    code = LineField("CPT/HCPCS", validators=[Required()])
    modifiers = ListField("Modifiers", validators=_limits("services.modifiers"))
    units = NumberField("Units", validators=_limits("services.units"))
    diagnosis_codes = ListField("ICD-10-CM", validators=_limits("services.diagnosis_codes"))
    description = LineField("Description", validators=_limits("services.description"))

    def filled(self) -> bool:
        """Anything entered on this line: an empty line is left out of the case, not refused."""
        return not all(left_empty(field) for field in self)

    def validate(self, extra_validators=None):
        return not self.filled() or super().validate(extra_validators)


class RenderingProviderForm(Form):
    name = LineField("Rendering provider", validators=[Required(), *_limits("rendering_provider.name")])
    npi = LineField("Rendering provider NPI", description="10 digits")


class ReferringProviderForm(Form):
    name = LineField("Referring provider", validators=_limits("referring_provider.name"))
    npi = LineField("Referring provider NPI")


class FacilityForm(Form):
    name = LineField("Facility", validators=_limits("facility.name"))
    npi = LineField("Facility NPI")


class LateReasonForm(Form):
    category = SelectField("Why was prior authorization not obtained?", validators=[Required()],
                           choices=choices([("", "Choose…"), *((key, f"{key.replace('_', ' ')} — {words}")
                                                                for key, words in LATE_REASON_WORDS.items())]),
                           validate_choice=False)  # the case schema names the categories it knows
    explanation = NoteField("Explanation (facts, dates, ticket numbers)",
                            validators=[Required(), *_limits("late_reason.explanation")])
    evidence = LineField("Evidence", validators=_limits("late_reason.evidence"))


class ContactForm(Form):
    name = LineField("Contact name", validators=[Required(), *_limits("contact.name")])
    phone = LineField("Contact phone", validators=_limits("contact.phone"))
    fax = LineField("Contact fax", validators=_limits("contact.fax"))
    email = LineField("Contact email", validators=_limits("contact.email"))


class ConsentsForm(Form):
    psychotherapy_notes = BooleanField("Patient authorised release of psychotherapy notes")
    part2_records = BooleanField("Patient consented to release of substance-use (Part 2) records")


class AttachmentForm(Form):
    """A document already on the case: its kind, date and title corrected, or removed."""

    kind = SelectField("Kind", validators=[Required()], choices=ATTACHMENT_KINDS, validate_choice=False)
    date = IsoDateField("Document date", validators=[Required()])
    title = LineField("Title", validators=_limits("attachments.title"))
    remove = BooleanField("Remove")

    def validate(self, extra_validators=None):
        return bool(self.remove.data) or super().validate(extra_validators)


class CaseFields(Form):
    """The case form's inputs, without the request: what the case checks of every door read (labels, required)."""

    case_id = LineField("Case id", validators=[Required()], description="3-40 letters, digits, '-' or '_'")
    payer_id = SelectField("Payer", validators=[Required()], choices=[],
                           validate_choice=False)  # told "is not a payer in the policy registry" by the case checks
    member = FormField(MemberForm, separator=".")
    claim = FormField(ClaimForm, separator=".")
    # At most one line past the limit is made into a sub-form (a post with thousands of lines builds no
    # more); that one is enough for validate_services to refuse the case by the limit's name.
    services = FieldList(FormField(ServiceLineForm, separator="]."), separator="[", min_entries=1,
                         max_entries=limits.MAX_SERVICE_LINES + 1)
    rendering_provider = FormField(RenderingProviderForm, separator=".")
    referring_provider = FormField(ReferringProviderForm, separator=".")
    facility = FormField(FacilityForm, separator=".")
    late_reason = FormField(LateReasonForm, separator=".")
    timeline = TimelineField("Timeline", validators=_limits("timeline"),
                             description="one event per line: YYYY-MM-DD what happened")
    medical_necessity = NoteField("Medical necessity summary", validators=[Required(), *_limits("medical_necessity")])
    contact = FormField(ContactForm, separator=".")
    consents = FormField(ConsentsForm, separator=".")
    attachments = FieldList(FormField(AttachmentForm, separator="]."), separator="[",
                            max_entries=limits.MAX_ATTACHMENTS + 1)

    def validate_services(self, field):
        lines = sum(1 for line in field if line.form.filled())
        if lines > limits.MAX_SERVICE_LINES:
            raise ValidationError(f"{lines} items > MAX_SERVICE_LINES ({limits.MAX_SERVICE_LINES})")


class CaseForm(CaseFields, FlaskForm):
    """The case form of a request (with its CSRF token), offering the payers of the policy registry."""

    def __init__(self, payers=(), **kwargs):
        super().__init__(**kwargs)
        self.payer_id.choices = choices([("", "Choose the payer…"), *((p.id, f"{p.name} ({p.id})") for p in payers)])


class CaseIdForm(FlaskForm):
    """A case id typed wrong, corrected before anything is built (the case's checks judge the new id)."""

    case_id = StringField("Case id", validators=[DataRequired("type the case id"), Length(max=40)],
                          description="3-40 letters, digits, '-' or '_'")
