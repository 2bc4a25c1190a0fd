"""The JSON Schemas shipped in schemas/ are valid Draft 2020-12 schemas (checked here, not at run time)."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from packetizer.resources import schemas_dir
from packetizer.schemas import validator

SCHEMAS = sorted(path.name.removesuffix(".schema.json") for path in schemas_dir().glob("*.schema.json"))


def test_every_schema_the_code_names_is_shipped():
    """This test ensures the schemas the code validates against are all there (six today)."""
    assert {"case", "payer-policy", "batch-row", "check-result", "disclosure-report", "manifest"} <= set(SCHEMAS)


@pytest.mark.parametrize("name", SCHEMAS)
def test_each_shipped_schema_is_valid_against_the_metaschema(name):
    """This test ensures each schema is itself valid Draft 2020-12 (the run-time loader no longer checks it)."""
    schema = json.loads((schemas_dir() / f"{name}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert validator(name).schema == schema


def test_the_metaschema_check_catches_a_broken_schema():
    """This test ensures the check above can fail: a schema with a wrong keyword type is refused."""
    with pytest.raises(SchemaError):
        Draft202012Validator.check_schema({"type": "object", "properties": {"a": {"type": 12}}})
