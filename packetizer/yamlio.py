"""YAML loading that keeps what the author wrote.

PyYAML's default resolvers turn ``2026-02-30`` into a crash, ``2026-09-14`` into
a date object and ``011`` into the octal number 9. Case and policy files want
none of that: dates stay strings (validated later with a clear message) and
numbers with a leading zero stay strings (codes such as place of service ``02``).
"""

from __future__ import annotations

import re

import yaml


class _Loader(yaml.SafeLoader):
    pass


# Drop the timestamp resolver: dates remain plain strings.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_DECIMAL_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode):
    text = loader.construct_scalar(node)
    if _DECIMAL_INT.match(text):
        return int(text.replace("_", ""))
    return text  # 011, 0x1F, 1:30 (sexagesimal) … keep as written


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def load_yaml(text: str):
    """Parse one YAML document with the rules above."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader


def yaml_error_location(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "invalid YAML"
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return problem
