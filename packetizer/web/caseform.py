"""The case form: flat form fields named by case-file paths, to and from the case mapping.

Inputs are named exactly like the paths the case schema reports errors for
(``member.dob``, ``services[1].code``), so a problem found by
:func:`packetizer.schemas.schema_errors` or ``case_from_mapping`` lands next to
the input it concerns. Keys the form does not manage (unknown keys of an
imported case, attachments) are carried over unchanged.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any, Mapping

from ..model import ATTACHMENT_KIND_WORDS, LATE_REASON_WORDS

LIST_SPLIT = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class Field:
    """One input: its case path, label, input type, and whether the schema requires it."""

    path: str
    label: str
    kind: str = "text"        # text | date | textarea | list | number | checkbox | select
    required: bool = False
    hint: str = ""


CASE_FIELDS: tuple[Field, ...] = (
    Field("case_id", "Case id", required=True, hint="3-40 letters, digits, '-' or '_'"),
    Field("payer_id", "Payer", "select", required=True),
    Field("member.member_id", "Member id", required=True),
    Field("member.first_name", "First name", required=True),
    Field("member.last_name", "Last name", required=True),
    Field("member.dob", "Date of birth", "date", required=True),
    Field("claim.claim_number", "Claim number"),
    Field("claim.denial_codes", "Denial codes", "list", hint="CARC/RARC codes, e.g. CO-197, N54"),
    Field("claim.denial_date", "Denial date", "date"),
    Field("rendering_provider.name", "Rendering provider", required=True),
    Field("rendering_provider.npi", "Rendering provider NPI", hint="10 digits"),
    Field("referring_provider.name", "Referring provider"),
    Field("referring_provider.npi", "Referring provider NPI"),
    Field("facility.name", "Facility"),
    Field("facility.npi", "Facility NPI"),
    Field("late_reason.category", "Why was prior authorization not obtained?", "select", required=True),
    Field("late_reason.explanation", "Explanation (facts, dates, ticket numbers)", "textarea", required=True),
    Field("late_reason.evidence", "Evidence"),
    Field("timeline", "Timeline", "textarea", hint="one event per line: YYYY-MM-DD what happened"),
    Field("medical_necessity", "Medical necessity summary", "textarea", required=True),
    Field("contact.name", "Contact name", required=True),
    Field("contact.phone", "Contact phone"),
    Field("contact.fax", "Contact fax"),
    Field("contact.email", "Contact email"),
    Field("consents.psychotherapy_notes", "Patient authorised release of psychotherapy notes", "checkbox"),
    Field("consents.part2_records", "Patient consented to release of substance-use (Part 2) records", "checkbox"),
)

#: Other identifiers a source system may send; accepted, shown, and withheld from the packet.
MEMBER_EXTRA_FIELDS: tuple[Field, ...] = (
    Field("member.ssn", "SSN"),
    Field("member.mrn", "MRN"),
    Field("member.phone", "Phone"),
    Field("member.email", "Email"),
    Field("member.address", "Home address"),
)

SERVICE_FIELDS: tuple[Field, ...] = (
    Field("date_of_service", "Date of service", "date"),
    Field("start_date", "or span from", "date"),
    Field("end_date", "to", "date"),
    Field("discharge_date", "Discharge", "date"),
    Field("place_of_service", "POS", hint="2 digits"),
    Field("code", "CPT/HCPCS", required=True),
    Field("modifiers", "Modifiers", "list"),
    Field("units", "Units", "number"),
    Field("diagnosis_codes", "ICD-10-CM", "list"),
    Field("description", "Description"),
)

ATTACHMENT_FIELDS: tuple[Field, ...] = (
    Field("kind", "Kind", "select", required=True),
    Field("date", "Document date", "date", required=True),
    Field("title", "Title"),
)

LATE_REASON_CHOICES = tuple(LATE_REASON_WORDS.items())
ATTACHMENT_KIND_CHOICES = tuple(ATTACHMENT_KIND_WORDS.items())
_TIMELINE_LINE = re.compile(r"^\s*(\S+)\s+(.*\S)\s*$")


def _get(doc: Mapping[str, Any], path: str) -> Any:
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _set(doc: dict, path: str, value: Any) -> None:
    """Set ``path`` to ``value``; ``None`` removes it (and empty parents)."""
    parts = path.split(".")
    node = doc
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            if value is None:
                return
            child = node[part] = {}
        node = child
    if value is None:
        node.pop(parts[-1], None)
        if len(parts) > 1 and not node:
            _set(doc, ".".join(parts[:-1]), None)
    else:
        node[parts[-1]] = value


def _text(formdata: Mapping[str, str], name: str) -> str:
    return (formdata.get(name) or "").strip()


def _value(field: Field, formdata: Mapping[str, str], name: str) -> Any:
    """The form value of ``field`` as the case file would hold it (None when empty)."""
    if field.kind == "checkbox":
        return True if formdata.get(name) else None
    raw = _text(formdata, name)
    if not raw:
        return None
    if field.kind == "list":
        return [item for item in LIST_SPLIT.split(raw) if item]
    if field.kind == "number":
        for convert in (int, float):
            try:
                return convert(raw)
            except ValueError:
                continue
        return raw  # the schema reports "must be a number"
    if field.kind == "textarea":
        return raw.replace("\r\n", "\n")
    return raw


def parse_timeline(text: str) -> list[dict] | str:
    """Lines ``YYYY-MM-DD event`` -> timeline items; unparseable lines are kept for the schema to report."""
    items = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        match = _TIMELINE_LINE.match(line)
        if match:
            items.append({"date": match[1], "event": match[2]})
        else:
            items.append({"date": line.strip(), "event": ""})
    return items


def service_count(formdata: Mapping[str, str]) -> int:
    """How many service rows the submitted form had."""
    indexes = {int(m[1]) for key in formdata for m in [re.match(r"^services\[(\d+)\]\.", key)] if m}
    return max(indexes) + 1 if indexes else 0


def structured_paths(doc: Mapping[str, Any]) -> set[str]:
    """Form fields whose stored value is a mapping or list (an imported address, say): shown, not edited."""
    return {f.path for f in CASE_FIELDS + MEMBER_EXTRA_FIELDS
            if f.kind not in ("list",) and f.path != "timeline" and isinstance(_get(doc, f.path), (Mapping, list))}


def form_to_mapping(formdata: Mapping[str, str], base: Mapping[str, Any] | None = None) -> dict:
    """Build the case mapping from a submitted form, on top of ``base`` (the stored case, if any).

    A field the form did not send (other than a checkbox, which is absent when
    unticked) keeps the stored value: structured values are never flattened.
    """
    doc = copy.deepcopy(dict(base or {}))
    for field in CASE_FIELDS + MEMBER_EXTRA_FIELDS:
        if field.kind != "checkbox" and field.path not in formdata:
            continue
        if field.path == "timeline":
            text = _text(formdata, "timeline")
            _set(doc, "timeline", parse_timeline(text) if text else None)
            continue
        if field.path.startswith("consents."):
            _set(doc, field.path, True if formdata.get(field.path) else None)
            continue
        _set(doc, field.path, _value(field, formdata, field.path))
    rows = []
    for index in range(service_count(formdata)):
        row = {}
        for field in SERVICE_FIELDS:
            value = _value(field, formdata, f"services[{index}].{field.path}")
            if value is not None:
                row[field.path] = value
        if row:
            rows.append(row)
    doc["services"] = rows
    attachments = []
    for index, att in enumerate(doc.get("attachments") or []):
        if formdata.get(f"attachments[{index}].remove"):
            continue
        att = dict(att)
        for field in ATTACHMENT_FIELDS:
            name = f"attachments[{index}].{field.path}"
            if name in formdata:
                value = _value(field, formdata, name)
                if value is None:
                    att.pop(field.path, None)
                else:
                    att[field.path] = value
        attachments.append(att)
    if attachments:
        doc["attachments"] = attachments
    else:
        doc.pop("attachments", None)
    return doc


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def mapping_to_values(doc: Mapping[str, Any]) -> dict[str, str]:
    """Flat input values for rendering the form from a case mapping."""
    values = {}
    for field in CASE_FIELDS + MEMBER_EXTRA_FIELDS:
        if field.path == "timeline":
            items = doc.get("timeline") or []
            values["timeline"] = "\n".join(f"{i.get('date', '')} {i.get('event', '')}".strip()
                                           for i in items if isinstance(i, Mapping))
        else:
            value = _get(doc, field.path)
            if not isinstance(value, (Mapping, list)) or field.kind == "list":
                values[field.path] = _shown(value)
    for index, row in enumerate(doc.get("services") or []):
        for field in SERVICE_FIELDS:
            values[f"services[{index}].{field.path}"] = _shown(row.get(field.path)) if isinstance(row, Mapping) else ""
    for index, att in enumerate(doc.get("attachments") or []):
        for field in ATTACHMENT_FIELDS:
            values[f"attachments[{index}].{field.path}"] = _shown(att.get(field.path))
    return values


def values_from_form(formdata: Mapping[str, str]) -> dict[str, str]:
    """The submitted values as they were typed, to show the form again."""
    return {key: value for key, value in formdata.items() if key != "csrf_token"}


def blank_values() -> dict[str, str]:
    """A new case form: one empty service line, nothing else filled in."""
    return {"services[0].units": "1"}


def missing_required(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every required form field left empty, as (path, message).

    The schema's own report names one missing key per object; a person filling
    in a form wants to see all of them at once.
    """
    problems = [(f.path, "is required but missing") for f in CASE_FIELDS
                if f.required and _get(doc, f.path) in (None, "", [])]
    for index, row in enumerate(doc.get("services") or []):
        if isinstance(row, Mapping) and not row.get("code"):
            problems.append((f"services[{index}].code", "is required but missing"))
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
    return path


def field_label(path: str) -> str:
    """A readable label for an error path (``services[1].code`` -> ``Service line 2: CPT/HCPCS``)."""
    match = re.match(r"^services\[(\d+)\](?:\.(\w+))?", path)
    if match:
        label = next((f.label for f in SERVICE_FIELDS if f.path == match[2]), match[2] or "dates")
        return f"Service line {int(match[1]) + 1}: {label}"
    match = re.match(r"^attachments\[(\d+)\](?:\.(\w+))?", path)
    if match:
        return f"Document {int(match[1]) + 1}: {match[2] or 'file'}"
    if path.startswith("timeline"):
        return "Timeline"
    for field in CASE_FIELDS + MEMBER_EXTRA_FIELDS:
        if field.path == path:
            return field.label
    return path
