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


# libyaml's parser (PyYAML's C extension, when it was built with it) with the same resolvers and constructors:
# the same values in a fifth of the time (a build reads every payer policy and its case: 25 -> 4 ms). Its error
# messages are worded otherwise and sometimes placed elsewhere, so a document it refuses is parsed again by
# the Python parser, whose value or error stands (tests/test_yamlio.py compares the two).
_FastLoader = type("_FastLoader", (yaml.CSafeLoader,), {}) if getattr(yaml, "__with_libyaml__", False) else None

# Drop the timestamp resolver: dates remain plain strings.
_RESOLVERS = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_DECIMAL_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode):
    text = loader.construct_scalar(node)
    if _DECIMAL_INT.match(text):
        return int(text.replace("_", ""))
    return text  # 011, 0x1F, 1:30 (sexagesimal) … keep as written


for _loader in (_Loader, _FastLoader):
    if _loader is not None:
        _loader.yaml_implicit_resolvers = _RESOLVERS
        _loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def load_yaml(text: str):
    """Parse one YAML document with the rules above."""
    if _FastLoader is not None:
        try:
            return yaml.load(text, Loader=_FastLoader)  # noqa: S506 - derives from CSafeLoader
        except Exception:  # noqa: BLE001 - a YAML error, or text libyaml cannot take (a lone surrogate)
            pass   # the Python parser says what is wrong, as it always has
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader


def yaml_error_location(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "invalid YAML"
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return problem
