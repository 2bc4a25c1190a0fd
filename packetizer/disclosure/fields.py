"""Which case fields reach the packet (SPEC section 4, "Fields").

The default allowlist is the member's name, date of birth and member id, the
claim's reference numbers, the service lines, the providers and the
practice's billing contact, plus the request itself (ids, late reason,
timeline, medical necessity). A payer's ``disclosure.include_fields`` adds
what its form needs. Everything else in the case is withheld and listed by
path with a reason, never with its value: keys under ``member`` beyond the
four, unknown top-level keys, and unknown keys inside allowlisted objects
(the case schema says which keys are known).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from ..schemas import validator

DEFAULT_ALLOWLIST = (
    "case_id",
    "payer_id",
    "member.member_id",
    "member.first_name",
    "member.last_name",
    "member.dob",
    "claim.claim_number",
    "claim.denial_codes",
    "claim.denial_date",
    "services",
    "rendering_provider",
    "referring_provider",
    "facility",
    "late_reason",
    "timeline",
    "medical_necessity",
    "contact",
)
# What an appeal packet adds (SPEC section 10): the decision it contests and the argument.
APPEAL_FIELDS = ("prior_request", "appeal")
# Instructions to Packetizer rather than content: they are acted on (the
# attachment rules, the consent checks) and never printed, so they are
# neither "included" nor "withheld" fields.
CONTROL_FIELDS = ("attachments", "consents")

REASON_NOT_NEEDED = "not on the payer's list of needed fields (minimum necessary)"
REASON_UNKNOWN = "not a field of the case format; kept out of the packet"
REASON_UNKNOWN_IN = "not a known field of {parent}; kept out of the packet"


@dataclass(frozen=True)
class FieldDecision:
    """Paths of the case's fields, sorted into included and withheld."""

    included: tuple[str, ...]
    withheld: tuple[tuple[str, str], ...]          # (path, reason)
    extra: tuple[tuple[str, str], ...]             # (label, value text) for the cover note
    extra_paths: tuple[str, ...]                   # the include_fields that matched
    missing_requested: tuple[str, ...]             # include_fields the case does not have


def decide_fields(raw: Mapping[str, Any], include_fields: tuple[str, ...] = (), *,
                  allowed: tuple[str, ...] = DEFAULT_ALLOWLIST) -> FieldDecision:
    """Sort every field of ``raw`` (the case as given) into included and withheld.

    ``allowed`` is the default allowlist of the packet kind (an appeal adds :data:`APPEAL_FIELDS`).
    """
    schema = validator("case").schema
    included: list[str] = []
    withheld: list[tuple[str, str]] = []
    for path, known in _fields(raw, schema, schema):
        dotted = _dotted(path)
        if dotted.split(".")[0] in CONTROL_FIELDS or (known and _allowed(dotted, allowed)):
            continue
        withheld.append((path, _reason(path, schema)))
    for path in allowed:
        if _get(raw, path) is not None:
            included.append(path)

    extra, extra_paths, missing = [], [], []
    for wanted in include_fields:
        matched = [(p, r) for p, r in withheld if _dotted(p) == wanted or _dotted(p).startswith(wanted + ".")]
        if not matched:
            # Either already in the packet (allowlisted) or not in this case at all.
            if next(_values_at(raw, wanted), None) is None:
                missing.append(wanted)
            continue
        withheld = [(p, r) for p, r in withheld if (p, r) not in matched]
        extra_paths.append(wanted)
        included.append(wanted)
        for path, value in _values_at(raw, wanted):
            extra.append((_label(path), value_text(value)))
    return FieldDecision(tuple(included), tuple(withheld), tuple(extra), tuple(extra_paths), tuple(missing))


def _allowed(dotted: str, allowed: tuple[str, ...] = DEFAULT_ALLOWLIST) -> bool:
    return any(dotted == a or dotted.startswith(a + ".") for a in allowed)


def _fields(node: Any, schema: dict, root: dict, path: str = "") -> Iterator[tuple[str, bool]]:
    """Yield (path, known) for every leaf of the case, known or not to the schema."""
    schema = _resolve(schema, root)
    if isinstance(node, Mapping):
        known = schema.get("properties", {}) if schema else {}
        for key, value in node.items():
            child = f"{path}.{key}" if path else str(key)
            if key in known:
                yield from _fields(value, known[key], root, child)
            else:
                yield from _unknown(value, child)
    elif isinstance(node, list):
        items = schema.get("items", {}) if schema else {}
        for i, value in enumerate(node):
            yield from _fields(value, items, root, f"{path}[{i}]")
    else:
        yield path, True


def _unknown(node: Any, path: str) -> Iterator[tuple[str, bool]]:
    """Every leaf of a subtree the schema does not describe (so a payer may ask for part of it)."""
    if isinstance(node, Mapping) and node:
        for key, value in node.items():
            yield from _unknown(value, f"{path}.{key}")
    elif isinstance(node, list) and node:
        for i, value in enumerate(node):
            yield from _unknown(value, f"{path}[{i}]")
    else:
        yield path, False


def _resolve(schema: dict, root: dict) -> dict:
    while isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        node: Any = root
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema if isinstance(schema, dict) else {}


def _reason(path: str, schema: dict) -> str:
    top = _dotted(path).split(".")[0]
    if top not in schema.get("properties", {}):
        return REASON_UNKNOWN
    if top == "member":
        return REASON_NOT_NEEDED
    return REASON_UNKNOWN_IN.format(parent=top)


def _dotted(path: str) -> str:
    """``services[0].charge`` -> ``services.charge`` (include_fields name no positions)."""
    out, depth = [], 0
    for char in path:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out)


def _get(raw: Any, dotted: str) -> Any:
    node = raw
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _values_at(raw: Any, dotted: str, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(path, value) for ``dotted`` in ``raw``, descending into lists (one per item)."""
    head, _, rest = dotted.partition(".")
    if isinstance(raw, list):
        for i, item in enumerate(raw):
            yield from _values_at(item, dotted, f"{prefix}[{i}]")
        return
    if not isinstance(raw, Mapping) or head not in raw:
        return
    path = f"{prefix}.{head}" if prefix else head
    if rest:
        yield from _values_at(raw[head], rest, path)
    else:
        yield path, raw[head]


def _label(path: str) -> str:
    """``member.home_phone`` -> ``Member home phone``; ``services[1].charge`` -> ``Service line 2 charge``."""
    words = []
    for part in path.replace("]", "").split("."):
        name, _, index = part.partition("[")
        name = name.replace("_", " ")
        if index:
            name = ("service line" if name == "services" else name.rstrip("s")) + f" {int(index) + 1}"
        words.append(name)
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def value_text(value: Any) -> str:
    """A field value as one line for the cover note."""
    if isinstance(value, Mapping):
        return ", ".join(value_text(v) for v in value.values() if v not in (None, "", [], {}))
    if isinstance(value, list):
        return "; ".join(value_text(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.date):
        return value.isoformat()
    return " ".join(str(value).split())
