"""JSON Schema validation with messages that name the field and never echo PHI."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Iterable

import jsonschema
from jsonschema import Draft202012Validator

from . import limits
from .resources import schemas_dir

# Values under these top-level keys are patient data: messages describe the
# problem without repeating the value.
_PHI_ROOTS = {"member"}
# Lists whose length is a named limit of packetizer.limits (the case schema's maxItems holds the same
# number; tests/test_checks_validation.py keeps the two equal): too long a list is reported by its name.
_LIST_LIMITS = {("services",): "MAX_SERVICE_LINES", ("attachments",): "MAX_ATTACHMENTS"}


@lru_cache(maxsize=None)
def validator(name: str) -> Draft202012Validator:
    """The compiled validator for ``schemas/<name>.schema.json``.

    The shipped schemas are checked against the metaschema by the test suite
    (tests/test_schemas.py), not in every process: that check alone took a
    sixth of a second of each ``packetizer build``.
    """
    with open(schemas_dir() / f"{name}.schema.json", encoding="utf-8") as fh:
        schema = json.load(fh)
    return Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def field_path(parts: Iterable[Any]) -> str:
    """``["services", 0, "code"]`` -> ``services[0].code``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _shown(value: Any, path: list) -> str:
    if path and path[0] in _PHI_ROOTS:
        return "the value"
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(err: jsonschema.ValidationError) -> tuple[str, str]:
    path = list(err.absolute_path)
    v = err.validator
    if v == "required":
        # jsonschema raises one error per missing key; its message names that key.
        named = re.match(r"^'([^']+)' is a required property", err.message)
        missing = named.group(1) if named else next(
            (m for m in err.validator_value if isinstance(err.instance, dict) and m not in err.instance), None)
        return field_path(path + [missing]), "is required but missing"
    if v == "type":
        want = err.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        article = "an" if str(want)[0] in "aeiou" else "a"
        return field_path(path), f"must be {article} {want}, not {type(err.instance).__name__.replace('str', 'string').replace('dict', 'object').replace('list', 'list')}"
    if v == "pattern":
        return field_path(path), f"{_shown(err.instance, path)} is not in the expected format"
    if v == "enum":
        allowed = ", ".join(str(x) for x in err.validator_value)
        return field_path(path), f"{_shown(err.instance, path)} is not one of: {allowed}"
    if v == "const":
        return field_path(path), f"must be {err.validator_value!r}"
    if v in ("minLength",):
        return field_path(path), "must not be empty" if err.validator_value == 1 else f"must be at least {err.validator_value} characters"
    if v == "maxLength":
        return field_path(path), f"is longer than {err.validator_value} characters"
    if v == "minItems":
        return field_path(path), f"needs at least {err.validator_value} item(s)"
    if v == "maxItems":
        limit = _LIST_LIMITS.get(tuple(path))
        if limit is not None and getattr(limits, limit) == err.validator_value and isinstance(err.instance, list):
            return field_path(path), f"{len(err.instance)} items > {limit} ({err.validator_value})"
        return field_path(path), f"has more than {err.validator_value} items"
    if v in ("minimum", "exclusiveMinimum"):
        op = ">=" if v == "minimum" else ">"
        return field_path(path), f"{_shown(err.instance, path)} must be {op} {err.validator_value}"
    if v in ("maximum", "exclusiveMaximum"):
        op = "<=" if v == "maximum" else "<"
        return field_path(path), f"{_shown(err.instance, path)} must be {op} {err.validator_value}"
    if v == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        return field_path(path), f"unknown key(s): {', '.join(map(str, extra))}"
    if v == "anyOf" and path and path[-1] == "contact":
        return field_path(path), "needs a phone or an email"
    if v == "oneOf" and len(path) >= 2 and path[0] == "services":
        return field_path(path), "needs either date_of_service or start_date and end_date (not both)"
    return field_path(path), "is not valid here"


def schema_errors(name: str, document: Any) -> list[tuple[str, str]]:
    """All problems of ``document`` against schema ``name`` as (field, message), in document order."""
    errors = sorted(validator(name).iter_errors(document), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    seen: set[tuple[str, str]] = set()
    out = []
    for err in errors:
        item = _describe(err)
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
