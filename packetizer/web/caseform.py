"""The case form and the case document: one mapping each way, and the problems found told beside their inputs.

The form (:class:`.forms.CaseForm`) names its inputs exactly like the paths the case
schema reports errors for (``member.dob``, ``services[1].code``), so a problem found
by :func:`packetizer.schemas.schema_errors` or ``case_from_mapping`` lands next to
the input it concerns. Keys the form does not manage (unknown keys of an imported
case) are carried over unchanged, and so is an input the page did not send.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import re
from typing import Any, Iterator, Mapping

from flask import request
from werkzeug.datastructures import MultiDict
from wtforms import Field, FieldList, FormField

from .forms import REQUIRED, CaseFields, CaseForm, ListField, MemberForm, ServiceLineForm, TimelineField, left_empty
from .wording import label, problem_words

#: A new service line: one unit.
NEW_LINE = {"units": 1}
_REMOVE_LINE = re.compile(r"^remove_line:(\d+)$")
_LINE_PATH = re.compile(r"^services\[(\d+)\](.*)$")
_LIST_ITEM = re.compile(r"^(.*\.(?:modifiers|diagnosis_codes|denial_codes))\[\d+\]$")


def case_form(payers, stored: Mapping[str, Any] | None = None, *, restored: MultiDict | None = None) -> CaseForm:
    """The case form of this request, offering ``payers``.

    Shown: the stored case (``case_to_form_data``), or a blank case with one
    service line. Posted: what the page sent, on top of the stored case, so an
    input the page did not send keeps the stored value; the service lines are
    only those posted. ``restored`` (inputs kept when a session ended, see
    :mod:`.drafts`) is shown as if it had just been posted.
    """
    data = case_to_form_data(stored) if stored is not None else {"services": [dict(NEW_LINE)]}
    if request.method == "POST" or restored is not None:
        data.pop("services", None)
    if restored is not None:
        return CaseForm(payers, formdata=restored, data=data)
    return CaseForm(payers, data=data)


def case_to_form_data(doc: Mapping[str, Any]) -> dict:
    """The form's data for a case document: the document itself, as every input is named by its path.

    A sub-form reads its mapping (``member``), a list its rows (``services``,
    ``attachments``: an attachment row keeps its ``file``, by which
    ``form_to_case`` finds it again), a date input the ISO date text.
    """
    return dict(doc)


def form_to_case(form: CaseForm, stored: Mapping[str, Any] | None = None) -> dict:
    """The case document the form describes, on top of ``stored`` (the stored case, if any).

    An input left empty leaves its key out (and a part left empty, such as a
    facility without name or NPI, is left out whole); an empty service line is
    dropped; a document is removed when its "remove" box is ticked. Text that
    is not a date or a number goes in as typed, for the case checks to report.
    """
    doc = copy.deepcopy(dict(stored or {}))
    for field in form:
        if field is form.services:
            doc["services"] = [row for line in field if (row := _row(line.form))]
        elif field is form.attachments:
            _put(doc, "attachments", _attachments(doc.get("attachments") or [], field) or None)
        elif isinstance(field, FormField):
            current = doc.get(field.name)
            part = dict(current) if isinstance(current, Mapping) else {}
            for sub in field:
                _put(part, sub.short_name, case_value(sub))
            if part:
                doc[field.name] = part
            elif isinstance(current, Mapping):
                del doc[field.name]
        elif field.type != "CSRFTokenField":
            _put(doc, field.name, case_value(field))
    return doc


def case_value(field: Field) -> Any:
    """One input as the case document holds it; None when left empty."""
    if field.process_errors and field.raw_data:
        return field.raw_data[0].strip()
    if left_empty(field):
        return None
    data = field.data
    return data.isoformat() if isinstance(data, dt.date) else data


def _put(doc: dict, key: str, value: Any) -> None:
    if value is None:
        doc.pop(key, None)
    else:
        doc[key] = value


def _row(line: ServiceLineForm) -> dict:
    return {field.short_name: value for field in line if (value := case_value(field)) is not None}


def _attachments(stored: list, entries: FieldList) -> list:
    """The stored documents with the corrections posted for them; one not posted is kept as it was."""
    posted = {entry.object_data["file"]: entry.form for entry in entries
              if isinstance(entry.object_data, Mapping) and "file" in entry.object_data}
    kept = []
    for att in stored:
        edit = posted.get(att.get("file")) if isinstance(att, Mapping) else None
        if edit is not None:
            if edit.remove.data:
                continue
            att = dict(att)
            for field in (edit.kind, edit.date, edit.title):
                _put(att, field.short_name, case_value(field))
        kept.append(att)
    return kept


def lines_edited(form: CaseForm, action: str) -> bool:
    """Apply an "add service line" or "remove line N" button to the form; True if one was pressed."""
    lines = form.services
    if action == "add_line":
        if len(lines) < lines.max_entries:   # one past MAX_SERVICE_LINES: saving then names the limit
            lines.append_entry(dict(NEW_LINE))
        return True
    match = _REMOVE_LINE.match(action)
    if match:
        if int(match[1]) < len(lines):
            lines.pop_entry(int(match[1]))
            if len(lines) < lines.min_entries:
                lines.append_entry()
        return True
    return False


def inputs(form) -> Iterator[Field]:
    """Every input of a form, sub-forms and list entries included, in the order of the page."""
    for field in form:
        if isinstance(field, FormField):
            yield from inputs(field.form)
        elif isinstance(field, FieldList):
            for entry in field:
                yield from inputs(entry.form)
        elif field.type != "CSRFTokenField":
            yield field


def input_problems(form: CaseForm, problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """What the (validated) form refused, then what the case checks found, as (input, message), each once.

    A problem of the case document is moved to the input it concerns
    (``error_input``), and a service line's to the line of the page it came
    from (the document has no empty lines). Each message is told in staff words
    (:func:`.wording.problem_words`): what to do, dates as the form shows them.
    """
    found = [(field.name, problem_words(field.name, field.errors[0])) for field in inputs(form) if field.errors]
    found += [("services", problem_words("services", message))
              for message in form.services.errors if isinstance(message, str)]
    lines = [index for index, line in enumerate(form.services) if line.form.filled()]
    for path, message in problems:
        match = _LINE_PATH.match(path)
        if match and int(match[1]) < len(lines):
            path = f"services[{lines[int(match[1])]}]{match[2]}"
        item = (error_input(path), problem_words(path, message))
        if item not in found:
            found.append(item)
    return found


def beside_inputs(problems: list[tuple[str, str]]) -> dict[str, str]:
    """The message told beside each input: its problems, in the order found, each once."""
    told: dict[str, list[str]] = {}
    for name, message in problems:
        if message not in told.setdefault(name, []):
            told[name].append(message)
    return {name: "; ".join(messages) for name, messages in told.items()}


def kept_as_imported(form: CaseForm) -> set[str]:
    """Inputs whose stored value is a mapping or list (an imported address, say): shown, not edited."""
    return {field.name for field in inputs(form)
            if not isinstance(field, (ListField, TimelineField)) and isinstance(field.data, (Mapping, list))}


def member_extras(form: CaseForm) -> list[Field]:
    """The member's other identifiers from a source system (withheld from the packet)."""
    return [form.member[name] for name in MemberForm.SOURCE_EXTRAS]


@functools.cache
def _required() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The required inputs: of the case (paths), and of each service line (keys)."""
    return (tuple(f.name for f in inputs(CaseFields()) if f.flags.required and not f.name.startswith("services[")),
            tuple(f.short_name for f in ServiceLineForm() if f.flags.required))


def _get(doc: Mapping[str, Any], path: str) -> Any:
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def missing_required(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every required input left empty in a case document, as (path, message).

    The schema's own report names one missing key per object; a person filling
    in a form wants to see all of them at once.
    """
    case_paths, line_keys = _required()
    problems = [(path, REQUIRED) for path in case_paths if _get(doc, path) in (None, "", [])]
    for index, row in enumerate(doc.get("services") or []):
        if isinstance(row, Mapping):
            problems += [(f"services[{index}].{key}", REQUIRED) for key in line_keys if not row.get(key)]
    return problems


def error_input(path: str) -> str:
    """The input an error about ``path`` belongs to."""
    if path.startswith("timeline"):
        return "timeline"
    if path == "contact":
        return "contact.phone"
    match = re.match(r"^(services\[\d+\])$", path)
    if match:
        return f"{match[1]}.date_of_service"
    match = _LIST_ITEM.match(path)   # one code of a list typed in one input: that input
    if match:
        return match[1]
    return path


def field_label(path: str) -> str:
    """A readable label for an error path (``services[1].code`` -> ``Service line 2, CPT/HCPCS code``)."""
    return label(path)
