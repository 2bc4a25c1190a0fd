"""Load and validate case files (SPEC section 1)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any, Mapping

import yaml

from . import limits
from .errors import CaseError
from .model import (
    Appeal,
    Attachment,
    Case,
    Claim,
    Consents,
    Contact,
    LateReason,
    Member,
    PriorRequest,
    Provider,
    ServiceLine,
    TimelineEvent,
)
from .schemas import schema_errors
from .yamlio import load_yaml, yaml_error_location

log = logging.getLogger(__name__)

SUPPORTED_ATTACHMENT_SUFFIXES = {".pdf", ".docx", ".txt", ".md", ".markdown", ".png", ".jpg", ".jpeg", ".tif", ".tiff"}

# Scalars that are identifiers even when an author leaves them unquoted in YAML
# (``code: 97110``, ``npi: 1234567893``): turned into strings before validation.
_STRING_FIELDS = {
    ("case_id",), ("payer_id",), ("member", "member_id"), ("claim", "claim_number"),
    ("services", "*", "code"), ("services", "*", "place_of_service"),
    ("services", "*", "modifiers", "*"), ("services", "*", "diagnosis_codes", "*"),
    ("rendering_provider", "npi"), ("referring_provider", "npi"), ("facility", "npi"),
    ("claim", "denial_codes", "*"), ("prior_request", "denial_codes", "*"), ("prior_request", "reference"),
    ("contact", "phone"), ("contact", "fax"),
}


def _stringify(node: Any, path: tuple) -> Any:
    if isinstance(node, dict):
        return {k: _stringify(v, path + (k,)) for k, v in node.items()}
    if isinstance(node, list):
        return [_stringify(v, path + ("*",)) for v in node]
    if isinstance(node, int) and not isinstance(node, bool) and path in _STRING_FIELDS:
        text = str(node)
        if path[-1] == "place_of_service" and len(text) == 1:
            text = "0" + text
        return text
    return node


def parse_date(value: str, where: str, *, phi: bool = False) -> dt.date:
    """Parse an ISO date or raise a CaseError naming ``where``."""
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        shown = "the value" if phi else str(value)
        raise CaseError(f"{shown} is not a date", field=where) from None


def read_case_document(path: Path) -> dict:
    """Read a case file (YAML or JSON) into a mapping, with limits and clear errors."""
    name = path.name
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CaseError("not found", subject=name, noun="case file") from None
    except OSError as exc:
        raise CaseError(f"cannot be read ({exc.strerror})", subject=name, noun="case file") from None
    if not path.is_file():
        raise CaseError("not a file", subject=name, noun="case file")
    if size > limits.MAX_CASE_FILE_BYTES:  # said before reading: a huge file is not read at all
        raise CaseError(f"{size} bytes > MAX_CASE_FILE_BYTES ({limits.MAX_CASE_FILE_BYTES})",
                        subject=name, noun="case file")
    return parse_case_bytes(path.read_bytes(), name)


def parse_case_bytes(data: bytes, name: str) -> dict:
    """A case file's bytes (YAML or JSON; ``name`` is the name its owner gave it) as a mapping.

    A door that receives the file itself (an upload) reads at most
    ``MAX_CASE_FILE_BYTES + 1`` bytes and hands them here.
    """
    if len(data) > limits.MAX_CASE_FILE_BYTES:
        raise CaseError(f"{len(data)} bytes > MAX_CASE_FILE_BYTES ({limits.MAX_CASE_FILE_BYTES})",
                        subject=name, noun="case file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CaseError("not UTF-8 text", subject=name, noun="case file") from None
    return parse_case_text(text, name, json_hint=name.lower().endswith(".json"))


def parse_case_text(text: str, name: str, *, json_hint: bool = False) -> dict:
    """Parse case text; JSON when it looks like JSON, else YAML."""
    try:
        if json_hint or text.lstrip().startswith("{"):
            doc = json.loads(text)
        else:
            doc = load_yaml(text)
    except json.JSONDecodeError as exc:
        raise CaseError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                        subject=name, noun="case file") from None
    except yaml.YAMLError as exc:
        raise CaseError(f"invalid YAML at {yaml_error_location(exc)}", subject=name, noun="case file") from None
    except RecursionError:
        raise CaseError("nested too deeply", subject=name, noun="case file") from None
    if not isinstance(doc, dict):
        raise CaseError("must be a mapping of fields at the top level", subject=name, noun="case file")
    return doc


def load_case(path: str | Path) -> Case:
    """Load, validate and resolve the case file at ``path``."""
    path = Path(path)
    doc = read_case_document(path)
    return case_from_mapping(doc, path.resolve().parent, source_name=path.name)


def case_from_mapping(doc: Mapping[str, Any], base_dir: Path, *, source_name: str = "case") -> Case:
    """Validate a case mapping and build a :class:`Case` whose attachments resolve under ``base_dir``.

    Raises:
        CaseError: the first problem found; when the schema check failed, its
            ``problems`` lists them all as (field, detail).
    """
    doc = _stringify(dict(doc), ())
    problems = schema_errors("case", doc)
    if problems:
        where, msg = problems[0]
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise CaseError(f"{msg}{more}", field=where, problems=problems)
    return _build_case(doc, base_dir.resolve())


def _build_case(doc: dict, base_dir: Path) -> Case:
    m = doc["member"]
    member = Member(
        member_id=m["member_id"], first_name=m["first_name"], last_name=m["last_name"],
        dob=parse_date(m["dob"], "member.dob", phi=True),
    )
    claim = None
    if "claim" in doc:
        c = doc["claim"]
        claim = Claim(
            claim_number=c.get("claim_number"),
            denial_codes=tuple(code.upper() for code in c.get("denial_codes", [])),
            denial_date=parse_date(c["denial_date"], "claim.denial_date") if "denial_date" in c else None,
        )
    services = tuple(_service(s, f"services[{i}]") for i, s in enumerate(doc["services"]))
    prior = None
    if "prior_request" in doc:
        p = doc["prior_request"]
        prior = PriorRequest(
            submitted=parse_date(p["submitted"], "prior_request.submitted") if "submitted" in p else None,
            reference=(p.get("reference") or "").strip() or None,
            decision=p.get("decision"),
            decision_date=(parse_date(p["decision_date"], "prior_request.decision_date")
                           if "decision_date" in p else None),
            reason=" ".join((p.get("reason") or "").split()) or None,
            denial_codes=tuple(code.upper() for code in p.get("denial_codes", [])),
        )
    appeal = None
    if "appeal" in doc:
        a = doc["appeal"]
        appeal = Appeal(argument=(a.get("argument") or "").strip(), level=a.get("level", 1),
                        requested=" ".join((a.get("requested") or "").split()) or None)
    timeline = tuple(
        TimelineEvent(parse_date(t["date"], f"timeline[{i}].date"), t["event"])
        for i, t in enumerate(doc.get("timeline", []))
    )
    attachments = tuple(_attachment(a, f"attachments[{i}]", base_dir) for i, a in enumerate(doc.get("attachments", [])))
    lr = doc["late_reason"]
    contact = doc["contact"]
    consents = doc.get("consents", {})
    return Case(
        case_id=doc["case_id"],
        payer_id=doc["payer_id"],
        member=member,
        claim=claim,
        services=services,
        rendering_provider=_provider(doc["rendering_provider"]),
        referring_provider=_provider(doc["referring_provider"]) if "referring_provider" in doc else None,
        facility=_provider(doc["facility"]) if "facility" in doc else None,
        late_reason=LateReason(lr["category"], lr["explanation"].strip(), (lr.get("evidence") or "").strip() or None),
        timeline=tuple(sorted(timeline, key=lambda t: t.date)),
        medical_necessity=doc["medical_necessity"].strip(),
        contact=Contact(contact["name"], contact.get("phone"), contact.get("fax"), contact.get("email")),
        attachments=attachments,
        consents=Consents(bool(consents.get("psychotherapy_notes", False)), bool(consents.get("part2_records", False))),
        prior_request=prior,
        appeal=appeal,
        base_dir=base_dir,
        raw=doc,
    )


def _provider(p: dict) -> Provider:
    return Provider(p["name"], p.get("npi"))


def _service(s: dict, where: str) -> ServiceLine:
    if "date_of_service" in s:
        start = end = parse_date(s["date_of_service"], f"{where}.date_of_service")
    else:
        start = parse_date(s["start_date"], f"{where}.start_date")
        end = parse_date(s["end_date"], f"{where}.end_date")
        if end < start:
            raise CaseError(f"{end} is before start_date {start}", field=f"{where}.end_date")
    discharge = parse_date(s["discharge_date"], f"{where}.discharge_date") if "discharge_date" in s else None
    return ServiceLine(
        code=s["code"].upper(),
        start=start,
        end=end,
        place_of_service=s.get("place_of_service"),
        modifiers=tuple(x.upper() for x in s.get("modifiers", [])),
        units=s.get("units", 1),
        diagnosis_codes=tuple(x.upper() for x in s.get("diagnosis_codes", [])),
        description=s.get("description"),
        discharge_date=discharge,
    )


def _attachment(a: dict, where: str, base_dir: Path) -> Attachment:
    rel = a["file"]
    resolved = resolve_inside(base_dir, rel, f"{where}.file")
    if resolved.suffix.lower() not in SUPPORTED_ATTACHMENT_SUFFIXES:
        kinds = " ".join(sorted(SUPPORTED_ATTACHMENT_SUFFIXES))
        raise CaseError(f"unsupported file type (use one of {kinds})", field=f"{where}.file", subject=rel)
    if not resolved.is_file():
        raise CaseError("file not found", field=f"{where}.file", subject=rel)
    return Attachment(
        file=rel, path=resolved, kind=a["kind"],
        date=parse_date(a["date"], f"{where}.date"),
        title=(a.get("title") or "").strip() or None,
    )


def resolve_inside(base_dir: Path, rel: str, where: str) -> Path:
    """Resolve ``rel`` under ``base_dir``; refuse absolute paths and escapes (also through symlinks)."""
    candidate = Path(rel)
    if candidate.is_absolute() or rel.startswith("~"):
        raise CaseError("must be a path relative to the case folder", field=where, subject=rel)
    resolved = (base_dir / candidate).resolve()
    if not resolved.is_relative_to(base_dir):
        raise CaseError("escapes the case folder", field=where, subject=rel)
    return resolved
