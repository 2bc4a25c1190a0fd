"""The small fixed forms (Flask-WTF); the case form itself is in :mod:`.caseform`."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

from .. import limits
from ..registry import CHANNELS, DETERMINATIONS, ROLES
from .caseform import ATTACHMENT_KIND_CHOICES

try:  # WTForms 3.3 deprecates (value, label) tuples in favour of SelectChoice
    from wtforms.fields.choices import SelectChoice
except ImportError:  # older WTForms
    SelectChoice = None


def choices(pairs) -> list:
    """Select options from (value, label) pairs, in the form this WTForms wants."""
    pairs = [(value, label) for value, label in pairs]
    return [SelectChoice(value, label) for value, label in pairs] if SelectChoice else pairs


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=limits.MAX_PASSWORD_CHARS)])


class UploadForm(FlaskForm):
    file = FileField("Document", validators=[FileRequired("choose a file to upload")])
    kind = SelectField("Kind", choices=choices(ATTACHMENT_KIND_CHOICES), default="clinical_note")
    date = DateField("Document date", validators=[DataRequired("the document date is required")])
    title = StringField("Title (optional)", validators=[Optional(), Length(max=200)])


class ImportForm(FlaskForm):
    file = FileField("Case file (.yaml, .yml or .json)", validators=[FileRequired("choose a case file")])


class BuildForm(FlaskForm):
    override_reason = TextAreaField("Override justification (only when the checks block the case)",
                                    validators=[Optional(), Length(max=2000)])


class SubmissionForm(FlaskForm):
    submitted_on = DateField("Submitted on", validators=[DataRequired()])
    channel = SelectField("Channel", choices=choices((c, c) for c in CHANNELS))
    reference = StringField("Payer reference number", validators=[Optional(), Length(max=100)])
    build_id = SelectField("Packet sent", coerce=int, choices=[])


class InfoRequestForm(FlaskForm):
    requested_on = DateField("Requested on", validators=[DataRequired()])
    due_on = DateField("Answer due by", validators=[Optional()])
    note = TextAreaField("What the payer asked for", validators=[Optional(), Length(max=2000)])


class InfoAnsweredForm(FlaskForm):
    responded_on = DateField("Answered on", validators=[DataRequired()])


DETERMINATION_WORDS = {"approved": "Approved", "partially_approved": "Partially approved", "denied": "Denied"}


class DeterminationForm(FlaskForm):
    determination = SelectField("Determination", choices=choices((d, DETERMINATION_WORDS[d]) for d in DETERMINATIONS))
    determination_on = DateField("Decided on", validators=[DataRequired()])
    reason = TextAreaField("Reason given by the payer", validators=[Optional(), Length(max=2000)])


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


class ArchiveSearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    case_id = StringField("Case id", validators=[Optional(), Length(max=40)])
    payer_id = StringField("Payer", validators=[Optional(), Length(max=64)])
    date_from = DateField("Created from", validators=[Optional()])
    date_to = DateField("to", validators=[Optional()])


class ActionForm(FlaskForm):
    """A button that changes or runs something: only the CSRF token."""
