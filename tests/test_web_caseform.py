"""This test ensures that the case form (WTForms) carries a case document to the page and back without loss, keeps a
document the page did not send, checks each input against the limits of the case schema, and tells every problem
it finds in the same words as the case checks every door runs."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from packetizer import limits
from packetizer.caseio import read_case_document
from packetizer.schemas import validator
from packetizer.web import caseform
from packetizer.web.casework import validate
from packetizer.web.forms import Bounds, CaseFields, MaxItems

from browser.webapp_support import EXAMPLE, case_form, page_token


def _payers(app):
    return app.extensions["packetizer"].payers()


def _page_values(form) -> dict:
    """What the page sends back unchanged: every input's shown text (a ticked box as "on")."""
    values = {}
    for field in caseform.inputs(form):
        if field.type == "BooleanField":
            if field.data:
                values[field.name] = "on"
        elif field.type == "SelectField":
            values[field.name] = field.data
        elif field.name not in caseform.kept_as_imported(form):
            values[field.name] = field._value()
    return values


def _example() -> dict:
    doc = read_case_document(EXAMPLE / "case.yaml")
    doc["medical_necessity"] = doc["medical_necessity"].strip()  # the form keeps no spaces around a text
    doc["member"]["address"] = {"street": "2218 Elm Court", "city": "Minneapolis"}  # structured: shown, not edited
    doc["practice_account"] = "ACCT-99"  # a key the form does not know
    return doc


def test_a_case_goes_to_the_page_and_back_unchanged(app):
    doc = _example()
    with app.test_request_context("/cases/1/edit"):
        shown = caseform.case_form(_payers(app), doc)
        values = _page_values(shown)
    assert {"member.dob", "services[3].code", "attachments[2].title", "contact.email"} <= set(values)
    assert "member.address" not in values
    assert values["claim.denial_codes"] == "CO-197, N54" and values["services[1].units"] == "2"
    with app.test_request_context("/cases/1/edit", method="POST", data=values):
        form = caseform.case_form(_payers(app), doc)
        form.validate()
        assert caseform.input_problems(form, []) == []
        assert caseform.form_to_case(form, doc) == doc
    with app.test_request_context("/cases/new", method="POST", data=values):  # the page alone, nothing stored
        fresh = caseform.form_to_case(caseform.case_form(_payers(app), {}), {})
    expected = {key: value for key, value in doc.items() if key not in ("attachments", "practice_account")}
    expected["member"] = {key: value for key, value in doc["member"].items() if key != "address"}
    assert fresh == expected


def test_a_document_not_sent_is_kept_and_a_ticked_one_removed(app):
    doc = _example()
    with app.test_request_context("/cases/1/edit"):
        values = _page_values(caseform.case_form(_payers(app), doc))
    values = {k: v for k, v in values.items() if not k.startswith("attachments[1].")}
    values.update({"attachments[0].remove": "on", "attachments[2].title": "", "attachments[2].date": "2026-10-06"})
    with app.test_request_context("/cases/1/edit", method="POST", data=values):
        saved = caseform.form_to_case(caseform.case_form(_payers(app), doc), doc)
    assert saved["attachments"] == [
        doc["attachments"][1],
        {"file": "notes/2026-10-05-phone-log.txt", "kind": "correspondence", "date": "2026-10-06"},
    ]


def test_service_line_buttons_renumber_the_lines_and_keep_what_was_typed(app):
    data = {**case_form(), "services[1].units": "abc"}
    with app.test_request_context("/cases/new", method="POST", data=data):
        form = caseform.case_form(_payers(app))
        assert caseform.lines_edited(form, "remove_line:0")
        assert [(f.name, f._value()) for f in form.services[0] if f.short_name in ("code", "units")] == \
            [("services[0].code", "97110"), ("services[0].units", "abc")]
        assert caseform.lines_edited(form, "add_line")
        assert [line.code.name for line in form.services] == ["services[0].code", "services[1].code"]
        assert form.services[1].units._value() == "1"
        assert not caseform.lines_edited(form, "save")


def _door_told(app, doc: dict, tmp_path) -> dict:
    """The case checks' message for each input (the first one for it); the checks read only the folder's root."""
    _case, problems = validate(doc, SimpleNamespace(root=tmp_path), _payers(app), case_pk=None)
    told: dict = {}
    for path, message in problems:
        told.setdefault(caseform.error_input(path), message)
    return told


@pytest.mark.parametrize("name, value", [
    ("member.first_name", "   "),
    ("member.dob", "14/09/1971"),
    ("member.dob", "1971-02-30"),
    ("claim.denial_date", "2026-9-22"),
    ("services[0].date_of_service", "2026-13-01"),
    ("services[1].code", ""),
    ("services[0].units", "abc"),
    ("services[0].units", "0"),
    ("services[0].units", "10000"),
    ("services[0].modifiers", "GP 59 KX 76 77"),
    ("services[1].diagnosis_codes", " ".join(f"M54.{i}" for i in range(13))),
    ("services[0].description", "d" * 301),
    ("member.last_name", "O" * 101),
    ("claim.denial_codes", " ".join(f"CO-{i}" for i in range(51))),
    ("late_reason.explanation", "e" * 5001),
    ("contact.phone", "123"),
    ("contact.fax", "9" * 41),
    ("timeline", "\n".join("2026-09-11 Portal down" for _ in range(101))),
])
def test_the_form_tells_a_problem_in_the_words_of_the_case_checks(app, tmp_path, name, value):
    with app.test_request_context("/cases/new", method="POST", data={**case_form(), name: value}):
        form = caseform.case_form(_payers(app))
        form.validate()
        doc = caseform.form_to_case(form)
        door = _door_told(app, doc, tmp_path)
    told = {field.name: field.errors[0] for field in caseform.inputs(form) if field.errors}
    assert list(told) == [name]
    assert told[name] == door[name]


def test_too_many_service_lines_are_refused_by_the_named_limit(app, tmp_path):
    data = case_form()
    for index in range(2, limits.MAX_SERVICE_LINES + 1):
        data.update({f"services[{index}].date_of_service": "2026-09-18", f"services[{index}].code": "97110"})
    with app.test_request_context("/cases/new", method="POST", data=data):
        form = caseform.case_form(_payers(app))
        form.validate()
        door = _door_told(app, caseform.form_to_case(form), tmp_path)
        told = caseform.input_problems(form, [])
    message = f"{limits.MAX_SERVICE_LINES + 1} items > MAX_SERVICE_LINES ({limits.MAX_SERVICE_LINES})"
    assert door["services"] == message  # the case checks' own words, as the CLI tells them
    assert told == [("services", f"a case holds at most {limits.MAX_SERVICE_LINES} service lines; "
                                 f"this one has {limits.MAX_SERVICE_LINES + 1}")]  # the clerk's


_BOUNDS = (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"))


def _schema_rule(path: str) -> dict:
    schema = validator("case").schema

    def resolved(node):
        return resolved(schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]) if "$ref" in node else node

    node = schema
    for part in path.split("."):
        node = resolved(node)
        node = resolved(node.get("items", node))["properties"].get(part, {})  # a key the schema does not know: {}
    return resolved(node)


def test_every_input_checks_the_limits_the_case_schema_sets_on_it():
    form = CaseFields(data={"attachments": [{"file": "uploads/a.pdf"}]})
    checked = 0
    for field in caseform.inputs(form):
        path = re.sub(r"\[\d+\]", "", field.name)
        if path == "attachments.remove":
            continue
        rule = _schema_rule(path)
        lengths = [(v.min, v.max) for v in field.validators if type(v).__name__ == "Length"]
        assert max((m for _, m in lengths), default=None) == rule.get("maxLength"), field.name
        assert max((m for m, _ in lengths), default=-1) == (rule["minLength"] if rule.get("minLength", 0) > 1 else -1)
        items = [v.most for v in field.validators if isinstance(v, MaxItems)]
        assert items == ([rule["maxItems"]] if "maxItems" in rule else []), field.name
        bounds = [v.bounds for v in field.validators if isinstance(v, Bounds)]
        expected = [(sign, rule[key]) for key, sign in _BOUNDS if key in rule]
        assert bounds == ([expected] if expected else []), field.name
        checked += bool(lengths or items or bounds)
    assert checked >= 20 and any(isinstance(v, Bounds) for v in form.services[0].units.validators)


def test_a_post_with_thousands_of_lines_builds_one_past_the_limit_and_is_refused_by_name(app, staff):
    """This test ensures a case form posted with far more service lines than MAX_SERVICE_LINES makes at most
    one line past the limit into a sub-form, and saving is refused telling the limit (no error page), also
    when "add service line" is pressed at the limit."""
    from packetizer import limits

    token = page_token(staff, "/cases/new")
    data = {**case_form(), "csrf_token": token, "action": "save"}
    line = {k.split(".", 1)[1]: v for k, v in data.items() if k.startswith("services[0].")}
    for number in range(1, 3000):
        for key, value in line.items():
            data[f"services[{number}].{key}"] = value
    response = staff.post("/cases/new", data=data)
    assert response.status_code == 422     # the form again, with its problems
    page = response.data.decode()
    assert f"a case holds at most {limits.MAX_SERVICE_LINES} service lines; this one has " \
           f"{limits.MAX_SERVICE_LINES + 1}" in page and "MAX_SERVICE_LINES" not in page
    shown = {int(n) for n in re.findall(r'name="services\[(\d+)\]', page)}
    assert max(shown) == limits.MAX_SERVICE_LINES      # lines 0..200: one past the limit, not 3000
    response = staff.post("/cases/new", data={**data, "action": "add_line"})
    assert response.status_code in (200, 422) and "Traceback" not in response.data.decode()
