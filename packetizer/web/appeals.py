"""Staff: prepare the appeal of a denied or partially approved request (SPEC section 10).

The form is pre-filled from the determination recorded in tracking (decision, date, reason, the
payer's reference) and the case's denial codes; staff add why the decision is wrong, one point a
paragraph. What they confirm goes into the case file (``prior_request`` and ``appeal``, with the level),
and the case page then offers the appeal build. The audit log records the case and the field names only.
"""

from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from ..casebook.appeals import ADVERSE, allowed_levels, appeal_defaults, recorded_decision, with_appeal
from ..casebook.cases import changed_fields, update_case
from ..errors import PacketizerError
from ..model import DECISION_WORDS
from .casework import folder_of, get_record, load_case, validate
from .forms import choices
from .security import blueprint_roles, current_actor
from .services import db, services

bp = Blueprint("appeals", __name__, url_prefix="/cases")
blueprint_roles(bp, "staff", "admin")

_CODE = re.compile(r"^[A-Za-z0-9-]{1,12}$")


def _codes(text: str | None) -> list[str]:
    return [c.upper() for c in re.split(r"[\s,;]+", text or "") if c]


class AppealForm(FlaskForm):
    decision = SelectField("Payer's decision", choices=choices((d, DECISION_WORDS[d].capitalize()) for d in ADVERSE))
    decision_date = DateField("Decided on", validators=[DataRequired("the date of the decision is required")])
    submitted = DateField("Request sent on", validators=[Optional()])
    reference = StringField("Payer reference number", validators=[Optional(), Length(max=100)])
    reason = TextAreaField("The payer's reason, in the payer's words",
                           validators=[DataRequired("copy the payer's reason from the decision letter"),
                                       Length(max=4000)])
    denial_codes = StringField("Denial codes (separated by spaces)", validators=[Optional(), Length(max=600)])
    argument = TextAreaField("Why the decision is wrong: one point a paragraph, facts only",
                             validators=[DataRequired("say why the decision is wrong"), Length(max=20000)])
    requested = TextAreaField("What you ask for (optional; by default, authorization of every service line)",
                              validators=[Optional(), Length(max=2000)])
    level = SelectField("Appeal level", coerce=int, choices=[])

    def validate_denial_codes(self, field) -> None:
        bad = [c for c in _codes(field.data) if not _CODE.match(c)]
        if bad:
            raise ValidationError("a denial code is letters, digits and '-', up to 12 characters (such as CO-197)")


@bp.route("/<int:pk>/appeal", methods=["GET", "POST"])
def prepare(pk: int):
    """Prepare appeal: the form pre-filled from the recorded determination; saved into the case file."""
    rec = get_record(pk)
    case, policy = load_case(rec)
    decision = recorded_decision(rec)
    if decision is None:
        flash("An appeal is prepared once a denial or a partial approval is recorded for the case.", "error")
        return redirect(url_for("cases.show", pk=pk) + "#tracking")
    levels = allowed_levels(policy)
    if levels == 0:
        said = "does not accept appeals" if policy.appeal is not None else "has no appeal rules on file"
        flash(f"{policy.name} {said}: call the payer before sending an appeal.", "error")
        return redirect(url_for("cases.show", pk=pk) + "#appeal")
    defaults = appeal_defaults(case, decision, policy)
    form = AppealForm(data=defaults)
    form.level.choices = [(n, f"Level {n}") for n in range(1, levels + 1)]
    if not form.validate_on_submit():
        status = 422 if form.errors else 200
        return render_template("cases/appeal.html", record=rec, case=case, policy=policy, form=form,
                               decision=decision, levels=levels), status
    folder = folder_of(rec)
    stored = folder.read()
    doc = with_appeal(stored, decision=form.decision.data, decision_date=form.decision_date.data,
                      submitted=form.submitted.data, reference=(form.reference.data or "").strip() or None,
                      reason=" ".join(form.reason.data.split()), denial_codes=_codes(form.denial_codes.data),
                      argument=form.argument.data.strip(), level=form.level.data,
                      requested=" ".join((form.requested.data or "").split()) or None)
    new_case, problems = validate(doc, folder, services().payers(), case_pk=rec.id)
    if problems:
        for _field, detail in problems[:3]:
            flash(f"Not saved: {detail}", "error")
        return render_template("cases/appeal.html", record=rec, case=case, policy=policy, form=form,
                               decision=decision, levels=levels), 422
    changed = changed_fields(stored, doc)   # names only, never values
    folder.write(doc)
    svc = services()
    try:
        update_case(db(), rec, new_case, svc.payers().get(new_case.payer_id), actor=current_actor(), now=svc.now(),
                    today=svc.today(), action="case.appeal_prepared", level=form.level.data,
                    fields_changed=len(changed), changed=changed[:20])
    except PacketizerError as exc:
        db().rollback()
        flash(exc.message, "error")
        return redirect(url_for("cases.show", pk=pk))
    db().commit()
    flash(f"Level {form.level.data} appeal saved in the case: build the appeal packet below.", "success")
    return redirect(url_for("cases.show", pk=pk) + "#appeal")
