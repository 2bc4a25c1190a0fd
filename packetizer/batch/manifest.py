"""Batch manifests (SPEC section 7): CSV exports, JSON arrays and JSONL, read into cases.

:func:`read_manifest` turns a manifest file into :class:`ManifestEntry` items,
one per case. Every entry is validated on its own: a bad row becomes an entry
with ``error`` set (the message names the line and the column or field) and
never stops the others. Only a manifest that cannot be read at all (missing,
too big, not UTF-8, no usable header) raises :class:`~packetizer.errors.CaseError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .. import limits
from ..caseio import case_from_mapping, load_case, resolve_inside
from ..errors import CaseError, PacketizerError
from ..model import Case
from .entries import Locator, ManifestEntry, located_message, manifest_error
from .pmexport import read_csv_manifest

__all__ = ["Locator", "Manifest", "ManifestEntry", "located_message", "manifest_error", "read_manifest"]


@dataclass(frozen=True)
class Manifest:
    """A read manifest: its entries in manifest order."""

    path: Path
    kind: str                       # csv | json | jsonl
    entries: tuple[ManifestEntry, ...] = field(default_factory=tuple)


def read_manifest(path: str | Path) -> Manifest:
    """Read and validate the manifest at ``path`` (``.csv``, ``.json``, ``.jsonl`` or ``.ndjson``).

    Raises:
        CaseError: the manifest as a whole cannot be used.
    """
    path = Path(path)
    text = _read_text(path)
    base_dir = path.resolve().parent
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return Manifest(path, "csv", tuple(_check_duplicates(read_csv_manifest(text, base_dir, path.name))))
    if suffix in (".jsonl", ".ndjson"):
        items = _jsonl_items(text, path.name)
        kind = "jsonl"
    elif suffix == ".json":
        items, kind = _json_items(text, path.name)
    else:
        raise manifest_error(path.name,
                             f"unknown manifest type {suffix or '(no extension)'}; use .csv, .json or .jsonl")
    entries = [_json_entry(line, item, base_dir) for line, item in items]
    return Manifest(path, kind, tuple(_check_duplicates(entries)))


def _read_text(path: Path) -> str:
    name = path.name
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise manifest_error(name, "not a file")
        if size > limits.MAX_MANIFEST_BYTES:
            raise manifest_error(name, f"{size} bytes > MAX_MANIFEST_BYTES ({limits.MAX_MANIFEST_BYTES})")
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise manifest_error(name, "not found") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise manifest_error(name, f"line {line} is not UTF-8 text (save the export as CSV UTF-8)") from None
    except OSError as exc:
        raise manifest_error(name, f"cannot be read ({exc.strerror})") from None


def _check_duplicates(entries: list[ManifestEntry]) -> Iterator[ManifestEntry]:
    """Fail every later entry that repeats an earlier case id (they would build the same packet)."""
    first_seen: dict[str, ManifestEntry] = {}
    for entry in entries:
        if entry.case_id and entry.error is None and entry.case_id in first_seen:
            earlier = first_seen[entry.case_id].locator.label
            yield ManifestEntry(entry.locator, entry.case_id,
                                error=f"{entry.locator.label}: case_id {entry.case_id} already appears on {earlier}")
            continue
        if entry.case_id:
            first_seen.setdefault(entry.case_id, entry)
        yield entry


def _jsonl_items(text: str, name: str) -> list[tuple[int, Any]]:
    items = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        if len(items) >= limits.MAX_MANIFEST_ROWS:
            raise manifest_error(name, f"more than MAX_MANIFEST_ROWS ({limits.MAX_MANIFEST_ROWS}) items")
        try:
            items.append((number, json.loads(raw)))
        except json.JSONDecodeError as exc:
            items.append((number, _Invalid(f"line {number}: invalid JSON at column {exc.colno}: {exc.msg}")))
        except RecursionError:
            items.append((number, _Invalid(f"line {number}: nested too deeply")))
    return items


def _json_items(text: str, name: str) -> tuple[list[tuple[int, Any]], str]:
    """A JSON array (items with the line each starts on), one JSON object, or JSONL in a .json file."""
    stripped = text.lstrip()
    if not stripped.startswith("["):
        try:
            doc = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return _jsonl_items(text, name), "jsonl"
        if isinstance(doc, dict):
            return [(text[: len(text) - len(stripped)].count("\n") + 1, doc)], "json"
        raise manifest_error(name, "must be a JSON array of cases, one case object, or one case per line")
    decoder = json.JSONDecoder()
    pos = len(text) - len(stripped) + 1
    items: list[tuple[int, Any]] = []
    try:
        while True:
            pos = _skip_space(text, pos)
            if text.startswith("]", pos):
                pos += 1
                break
            if items:
                if not text.startswith(",", pos):
                    raise json.JSONDecodeError("expected ',' or ']'", text, pos)
                pos = _skip_space(text, pos + 1)
            if len(items) >= limits.MAX_MANIFEST_ROWS:
                raise manifest_error(name, f"more than MAX_MANIFEST_ROWS ({limits.MAX_MANIFEST_ROWS}) items")
            item, end = decoder.raw_decode(text, pos)
            items.append((text.count("\n", 0, pos) + 1, item))
            pos = end
    except json.JSONDecodeError as exc:
        raise manifest_error(name, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise manifest_error(name, "nested too deeply") from None
    if text[pos:].strip():
        line = text.count("\n", 0, pos) + 1
        raise manifest_error(name, f"unexpected text after the JSON array at line {line}")
    return items, "json"


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


@dataclass(frozen=True)
class _Invalid:
    message: str


def _json_entry(line: int, item: Any, base_dir: Path) -> ManifestEntry:
    locator = Locator((line,))
    if isinstance(item, _Invalid):
        return ManifestEntry(locator, None, error=item.message)
    if not isinstance(item, dict):
        return ManifestEntry(locator, None, error=f"line {line}: each item must be a case object or {{\"case_file\": ...}}")
    case_id = item.get("case_id") if isinstance(item.get("case_id"), str) else None
    try:
        if "case_file" in item:
            case = _load_case_file(item, base_dir)
        else:
            case = case_from_mapping(item, base_dir, source_name=f"line {line}")
    except PacketizerError as exc:
        return ManifestEntry(locator, case_id, error=located_message(locator, exc.field, exc.told(beside_field=True)))
    return ManifestEntry(locator, case.case_id, case=case)


def _load_case_file(item: dict, base_dir: Path) -> Case:
    rel = item["case_file"]
    if set(item) != {"case_file"}:
        raise CaseError("an item with case_file may have no other keys", field="case_file")
    if not isinstance(rel, str) or not rel.strip():
        raise CaseError("must be a path to a case file", field="case_file")
    return load_case(resolve_inside(base_dir, rel, "case_file"))
