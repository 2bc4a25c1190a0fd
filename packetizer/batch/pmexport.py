"""The practice-management export: a CSV with one row per service line (SPEC section 7, Manifests).

Each row is validated against ``schemas/batch-row.schema.json``; rows with the
same ``case_id`` form one case, whose case-level columns must agree. Problems
name the line and the column and never repeat patient data: values are echoed
only for columns the schema marks ``x-echo`` (codes, ids), and attachments are
named by their position and kind, not their file name.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import jsonschema

from .. import limits
from ..caseio import SUPPORTED_ATTACHMENT_SUFFIXES, case_from_mapping, resolve_inside
from ..errors import CaseError, PacketizerError
from ..schemas import validator
from .entries import Locator, ManifestEntry, located_message, manifest_error

ROW_SCHEMA = "batch-row"

#: Columns that describe the case; non-empty cells must agree across the case's rows.
CASE_COLUMNS = (
    "case_id", "payer_id", "member_id", "first_name", "last_name", "dob",
    "claim_number", "denial_date", "denial_codes",
    "rendering_name", "rendering_npi", "referring_name", "referring_npi",
    "late_reason_category", "late_reason_explanation", "medical_necessity",
    "contact_name", "contact_phone", "contact_email",
)
#: Columns that describe one service line (one row).
SERVICE_COLUMNS = ("date_of_service", "start_date", "end_date", "place_of_service", "code", "units",
                   "modifiers", "diagnosis_codes")
#: Columns whose items are collected from every row of the case.
ATTACHMENT_COLUMNS = ("attachments", "attachments_dir")
LIST_COLUMNS = ("denial_codes", "modifiers", "diagnosis_codes", "attachments")
KNOWN_COLUMNS = frozenset(CASE_COLUMNS + SERVICE_COLUMNS + ATTACHMENT_COLUMNS)

_LEADING_DATE = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})")


@dataclass(frozen=True)
class _Row:
    line: int
    cells: dict[str, str]
    parsed: dict[str, Any]
    problems: list[str]


def read_csv_manifest(text: str, base_dir: Path, name: str = "manifest") -> list[ManifestEntry]:
    """Read a PM-export CSV: validate each row, group rows by ``case_id``, build one case per group."""
    header, rows = _csv_rows(text, name)
    groups: dict[str, list[_Row]] = {}
    order: list[ManifestEntry | str] = []   # an entry for a row without case id, else the case id
    for row in rows:
        key = row.cells.get("case_id", "")
        if not key:
            problems = row.problems or [f"line {row.line}, column case_id: is required but empty"]
            order.append(ManifestEntry(Locator((row.line,), csv=True), None, error="; ".join(problems)))
            continue
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(row)
    return [item if isinstance(item, ManifestEntry) else _csv_case(item, groups[item], base_dir) for item in order]


def _csv_rows(text: str, name: str) -> tuple[list[str], list[_Row]]:
    # The csv module's own cell limit (131072 characters, process-wide) stays as it is;
    # MAX_MANIFEST_CELL_CHARS is checked per cell, so rows fail one by one.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    previous_end = 0
    header: list[str] | None = None
    rows: list[_Row] = []
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise manifest_error(name, f"line {reader.line_num}: not valid CSV ({exc})") from None
        line, previous_end = previous_end + 1, reader.line_num
        if not any(cell.strip() for cell in record):
            continue  # blank lines are common at the end of exports
        if header is None:
            header = _check_header(record, name)
            continue
        if len(rows) >= limits.MAX_MANIFEST_ROWS:
            raise manifest_error(name, f"more than MAX_MANIFEST_ROWS ({limits.MAX_MANIFEST_ROWS}) rows")
        rows.append(_parse_row(line, header, record))
    if header is None:
        raise manifest_error(name, "empty (no header row)")
    return header, rows


def _check_header(record: list[str], name: str) -> list[str]:
    header = [cell.strip() for cell in record]
    seen: set[str] = set()
    for index, column in enumerate(header, 1):
        if not column:
            raise manifest_error(name, f"line 1: column {index} has no name")
        if column in seen:
            raise manifest_error(name, f"line 1: column {column} appears twice")
        seen.add(column)
    case_keys = set(validator("case").schema["properties"])
    for column in header:
        if column not in KNOWN_COLUMNS and column in case_keys:
            raise manifest_error(name, f"line 1: column {column} is not a manifest column "
                                       "(it would clash with the case field of that name)")
    required = validator(ROW_SCHEMA).schema["required"]
    missing = [c for c in required if c not in seen]
    if missing:
        raise manifest_error(name, f"line 1: missing column(s) {', '.join(missing)}")
    if "date_of_service" not in seen and not {"start_date", "end_date"} <= seen:
        raise manifest_error(name, "line 1: needs a date_of_service column or start_date and end_date columns")
    return header


def _parse_row(line: int, header: list[str], record: list[str]) -> _Row:
    problems = []
    if len(record) > len(header) and any(cell.strip() for cell in record[len(header):]):
        problems.append(f"line {line}: {len(record)} cells but the header names {len(header)} columns")
    oversized = [(col, len(cell)) for col, cell in zip(header, record) if len(cell) > limits.MAX_MANIFEST_CELL_CHARS]
    problems += [f"line {line}, column {col}: {size} characters > MAX_MANIFEST_CELL_CHARS "
                 f"({limits.MAX_MANIFEST_CELL_CHARS})" for col, size in oversized]
    skip = {col for col, _ in oversized}
    cells = {col: cell.strip() for col, cell in zip(header, record) if cell.strip() and col not in skip}
    parsed: dict[str, Any] = {}
    for column, value in cells.items():
        if column in LIST_COLUMNS:
            parsed[column] = [item.strip() for item in value.split(";") if item.strip()]
        else:
            parsed[column] = value
    problems += [f"line {line}, {where}: {msg}" for where, msg in _row_schema_problems(parsed)
                 if where.removeprefix("column ").split(",")[0] not in skip]  # already reported as too long
    return _Row(line, cells, parsed, problems)


def _row_schema_problems(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Problems of one parsed row as (``column X`` / ``column X, item N``, message); never echoes patient data."""
    out: list[tuple[str, str]] = []
    seen = set()
    errors = sorted(validator(ROW_SCHEMA).iter_errors(row), key=lambda e: [str(p) for p in e.absolute_path])
    for err in errors:
        item = _describe_row_error(err, row)
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _describe_row_error(err: jsonschema.ValidationError, row: Mapping[str, Any]) -> tuple[str, str]:
    path = list(err.absolute_path)
    column = str(path[0]) if path else ""
    where = f"column {column}" + (f", item {path[1] + 1}" if len(path) > 1 else "")
    schema = err.schema if isinstance(err.schema, dict) else {}
    hint = schema.get("x-hint")
    shown = f"{err.instance} " if schema.get("x-echo") and isinstance(err.instance, str) else ""
    rule = schema.get("x-rule")
    v = err.validator
    if v == "required":
        missing = next((m for m in err.validator_value if m not in row), err.validator_value[0])
        return f"column {missing}", "is required but empty"
    if v == "dependentRequired":
        need = next(iter(err.validator_value[k] for k in err.validator_value if k in row), [""])
        missing = next((m for m in need if m not in row), need[0])
        return f"column {missing}", "is required with " + ", ".join(k for k in err.validator_value if k in row)
    if rule == "service_dates" or (v == "oneOf" and not path):
        return "column date_of_service", "give either date_of_service or start_date and end_date (not both)"
    if rule == "contact" or (v == "anyOf" and not path):
        return "column contact_phone", "give a contact_phone or a contact_email"
    if v in ("pattern", "format"):
        return where, f"{shown}is not valid" + (f"; expected {hint}" if hint else "")
    if v == "enum":
        return where, f"{shown}is not one of: {', '.join(map(str, err.validator_value))}"
    if v == "maxLength":
        return where, f"is longer than {err.validator_value} characters"
    if v == "minLength":
        return where, f"is shorter than {err.validator_value} characters"
    if v == "maxItems":
        return where, f"has more than {err.validator_value} items"
    return where, "is not valid here"


def _csv_case(case_id: str, rows: list[_Row], base_dir: Path) -> ManifestEntry:
    first = rows[0]
    lines = tuple(r.line for r in rows)
    problems = [p for r in rows for p in r.problems]
    problems += _disagreements(case_id, rows)
    attachments: list[dict] = []
    sources: list[tuple[int, str]] = []
    problems += _collect_attachments(rows, base_dir, attachments, sources)
    locator = Locator(lines, csv=True, service_lines=lines, attachment_sources=tuple(sources))
    if problems:
        return ManifestEntry(locator, case_id, error="; ".join(problems))
    doc = _case_mapping(rows, attachments)
    try:
        case = case_from_mapping(doc, base_dir, source_name=f"line {first.line}")
    except PacketizerError as exc:
        return ManifestEntry(locator, case_id, error=located_message(locator, exc.field, exc.told(beside_field=True)))
    return ManifestEntry(locator, case_id, case=case)


def _disagreements(case_id: str, rows: list[_Row]) -> list[str]:
    out = []
    known: dict[str, tuple[int, str]] = {}
    for row in rows:
        for column in CASE_COLUMNS:
            value = row.cells.get(column)
            if value is None:
                continue
            if column in known and known[column][1] != value:
                out.append(f"line {row.line}, column {column}: differs from line {known[column][0]} "
                           f"(the rows of case {case_id} must agree on it)")
            known.setdefault(column, (row.line, value))
    return out


def _collect_attachments(rows: list[_Row], base_dir: Path, out: list[dict], sources: list) -> list[str]:
    """Gather the case's attachments from every row (duplicates once), checking each file exists."""
    problems = []
    seen: set[Path] = set()

    def add(line: int, column: str, item: dict, resolved: Path) -> None:
        if resolved not in seen:
            seen.add(resolved)
            out.append(item)
            sources.append((line, column))

    for row in rows:
        for n, spec in enumerate(row.parsed.get("attachments", []), 1):
            if spec.count("|") != 2:
                continue  # the row schema has already reported it
            kind, date, rel = (part.strip() for part in spec.split("|"))
            where = f"line {row.line}, column attachments, item {n} ({kind})"
            problem, resolved = _check_file(base_dir, rel)
            if problem:
                problems.append(f"{where}: {problem}")
            else:
                add(row.line, "attachments", {"file": rel, "kind": kind, "date": date}, resolved)
        folder = row.parsed.get("attachments_dir")
        if folder:
            where = f"line {row.line}, column attachments_dir"
            items, problem = _folder_attachments(base_dir, folder)
            if problem:
                problems.append(f"{where}: {problem}")
            for rel, date, resolved in items:
                add(row.line, "attachments_dir", {"file": rel, "kind": "clinical_note", "date": date}, resolved)
    return problems


def _check_file(base_dir: Path, rel: str) -> tuple[str | None, Path | None]:
    try:
        resolved = resolve_inside(base_dir, rel, "file")
    except CaseError:
        return "the path must stay inside the manifest's folder", None
    if resolved.suffix.lower() not in SUPPORTED_ATTACHMENT_SUFFIXES:
        return f"unsupported file type (use one of {' '.join(sorted(SUPPORTED_ATTACHMENT_SUFFIXES))})", None
    if not resolved.is_file():
        return "file not found", None
    return None, resolved


def _folder_attachments(base_dir: Path, folder: str) -> tuple[list[tuple[str, str, Path]], str | None]:
    """Every file in ``folder`` as (relative path, date from its name, resolved path)."""
    try:
        resolved = resolve_inside(base_dir, folder, "attachments_dir")
    except CaseError:
        return [], "the folder must stay inside the manifest's folder"
    if not resolved.is_dir():
        return [], "folder not found"
    names = sorted(p.name for p in resolved.iterdir() if not p.name.startswith("."))
    if len(names) > limits.MAX_ATTACHMENTS:
        return [], f"{len(names)} files > MAX_ATTACHMENTS ({limits.MAX_ATTACHMENTS})"
    items = []
    for n, file_name in enumerate(names, 1):
        rel = f"{folder.rstrip('/')}/{file_name}"
        match = _LEADING_DATE.match(file_name)
        if not match:
            return [], f"file {n} of {len(names)} (by name) does not start with a date YYYY-MM-DD"
        problem, path = _check_file(base_dir, rel)
        if problem:
            return [], f"file {n} of {len(names)} (by name): {problem}"
        items.append((rel, match[1], path))
    return items, None


def _case_mapping(rows: list[_Row], attachments: list[dict]) -> dict:
    """The SPEC section 1 case mapping for the rows of one case."""
    merged: dict[str, Any] = {}
    for row in rows:
        for column, value in row.parsed.items():
            merged.setdefault(column, value)
    doc: dict[str, Any] = {
        "case_id": merged["case_id"],
        "payer_id": merged["payer_id"],
        "member": {k: merged[k] for k in ("member_id", "first_name", "last_name", "dob")},
        "services": [_service(row.parsed) for row in rows],
        "rendering_provider": _provider(merged, "rendering"),
        "late_reason": {"category": merged["late_reason_category"], "explanation": merged["late_reason_explanation"]},
        "medical_necessity": merged["medical_necessity"],
        "contact": {"name": merged["contact_name"]},
        "attachments": attachments,
    }
    claim = {key: merged[key] for key in ("claim_number", "denial_codes", "denial_date") if key in merged}
    if claim:
        doc["claim"] = claim
    if "referring_name" in merged:
        doc["referring_provider"] = _provider(merged, "referring")
    for key in ("phone", "email"):
        if f"contact_{key}" in merged:
            doc["contact"][key] = merged[f"contact_{key}"]
    # Unknown columns become unknown case keys: accepted, and withheld from the packet.
    for column in sorted(set().union(*(row.cells for row in rows)) - KNOWN_COLUMNS):
        values = list(dict.fromkeys(row.cells[column] for row in rows if column in row.cells))
        doc[column] = values[0] if len(values) == 1 else values
    return doc


def _service(parsed: Mapping[str, Any]) -> dict:
    line: dict[str, Any] = {"code": parsed["code"], "units": _number(parsed["units"])}
    for key in ("date_of_service", "start_date", "end_date", "modifiers", "diagnosis_codes"):
        if key in parsed:
            line[key] = parsed[key]
    if "place_of_service" in parsed:
        line["place_of_service"] = parsed["place_of_service"].zfill(2)
    return line


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def _provider(merged: Mapping[str, Any], prefix: str) -> dict:
    out = {"name": merged[f"{prefix}_name"]}
    if f"{prefix}_npi" in merged:
        out["npi"] = merged[f"{prefix}_npi"]
    return out


