"""Payer policies: the registry of YAML files (SPEC section 3)."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import limits
from .errors import ErrorCode, PolicyError
from .model import AppealPolicy, PayerPolicy, Window
from .resources import payers_dir
from .schemas import schema_errors
from .yamlio import load_yaml, yaml_error_location


def registry_dir(override: str | Path | None = None) -> Path:
    """The payer folder a door configured (``--payers DIR`` or ``$PACKETIZER_PAYERS``, read by the door),
    else the shipped registry."""
    chosen = override
    if chosen:
        path = Path(chosen)
        if not path.is_dir():
            raise PolicyError("not a folder", subject=str(chosen), noun="payer folder")
        return path
    return payers_dir()


def _policy_error(name: str, detail: str, *, field: str | None = None) -> PolicyError:
    """``payer policy <name>: <detail>``; a field of the policy file stays in the detail, after the file's name."""
    return PolicyError(detail, subject=name, noun="payer policy", field=field, field_first=False)


def load_policy_file(path: Path) -> PayerPolicy:
    """Load and validate one policy file; errors name the file and the field."""
    name = path.name
    try:
        if path.stat().st_size > limits.MAX_POLICY_FILE_BYTES:
            raise _policy_error(name, f"larger than MAX_POLICY_FILE_BYTES ({limits.MAX_POLICY_FILE_BYTES})")
        doc = load_yaml(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise _policy_error(name, f"cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise _policy_error(name, "not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise _policy_error(name, f"invalid YAML at {yaml_error_location(exc)}") from None
    if not isinstance(doc, dict):
        raise _policy_error(name, "must be a mapping at the top level")
    problems = schema_errors("payer-policy", doc)
    if problems:
        where, msg = problems[0]
        raise _policy_error(name, f"{where}: {msg}", field=where)
    return _policy_from_doc(doc, path)


def _date(value: str | None, where: str, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _policy_error(name, f"{where}: {value} is not a date", field=where) from None


def _policy_from_doc(doc: dict, path: Path) -> PayerPolicy:
    retro = doc["retro_authorization"]
    win = retro.get("window")
    lim = retro.get("limits", {})
    disc = doc.get("disclosure", {})
    appeal = None
    if "appeal" in doc:
        ap = doc["appeal"]
        awin = ap.get("window")
        appeal = AppealPolicy(allowed=ap["allowed"],
                              window=Window(awin["days"], awin["count"], awin["from"]) if awin else None,
                              channel=ap.get("channel"), address=ap.get("address"), levels=ap.get("levels", 1))
    return PayerPolicy(
        id=doc["id"],
        name=doc["name"],
        retro_allowed=retro["allowed"],
        source_title=doc["source"]["title"],
        source_effective=_date(doc["source"].get("effective"), "source.effective", path.name),
        categories=tuple(retro["categories"]) if "categories" in retro else None,
        window=Window(win["days"], win["count"], win["from"]) if win else None,
        channel=retro.get("channel"),
        address=retro.get("address"),
        required_documents=tuple(retro.get("required_documents", [])),
        follow_up_days=retro.get("follow_up_days"),
        max_pages=lim.get("max_pages"),
        max_file_mb=lim.get("max_file_mb"),
        include_fields=tuple(disc.get("include_fields", [])),
        relevance_window_days=disc.get("relevance_window_days", 30),
        notes=doc.get("notes"),
        appeal=appeal,
        era_payer_ids=tuple(doc.get("era_payer_ids", [])),
        path=path,
        raw=doc,
    )


@dataclass(frozen=True)
class PayerRegistry:
    """All policies in one folder, keyed by id."""

    folder: Path
    policies: dict

    def get(self, payer_id: str) -> PayerPolicy:
        try:
            return self.policies[payer_id]
        except KeyError:
            raise PolicyError(f"no payer policy named {payer_id!r} in {self.folder}", code=ErrorCode.UNKNOWN_PAYER,
                              field="payer_id") from None

    def __iter__(self):
        return iter(sorted(self.policies.values(), key=lambda p: p.id))


def load_registry(override: str | Path | None = None) -> PayerRegistry:
    """Load every ``*.yaml``/``*.yml`` policy in the registry folder; a bad file fails the whole load.

    A folder whose policy files did not change (the same names, sizes and modification times) is not
    read again: a web page asks for the registry on every view, and an admin's edit is still seen at once.
    """
    folder = registry_dir(override)
    paths = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    signature = []
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            info = None
        signature.append((path.name, info.st_mtime_ns, info.st_size, info.st_ino) if info else (path.name,))
    return _load_registry(folder, tuple(signature))


@functools.lru_cache(maxsize=8)
def _load_registry(folder: Path, signature: tuple) -> PayerRegistry:
    policies: dict[str, PayerPolicy] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        policy = load_policy_file(path)
        if policy.id in policies:
            raise _policy_error(path.name, f"id {policy.id!r} already defined by {policies[policy.id].path.name}")
        if path.stem != policy.id:
            raise _policy_error(path.name, f"id {policy.id!r} must match the file name ({path.stem})")
        policies[policy.id] = policy
    return PayerRegistry(folder, policies)


def load_payer(payer_id: str, override: str | Path | None = None) -> PayerPolicy:
    """The policy for ``payer_id`` from the registry folder."""
    return load_registry(override).get(payer_id)
