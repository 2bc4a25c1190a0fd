"""Archive packets and find, fetch and verify archived versions, over any :class:`Storage`.

One version lives under ``<payer_id>/<YYYY>/<MM>/<case_id>/<packet sha256>/``
(year and month of the manifest's ``created`` time, UTC) and holds
``packet.pdf``, optional report files listed in the manifest's ``objects``, and
``manifest.json``. The manifest is written last, so a version is visible only
once complete.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import logging
import re
from dataclasses import dataclass, replace
from typing import Any, Mapping

from ..errors import ErrorCode, IntegrityError, NotFound, StorageError
from ..schemas import schema_errors, validator
from .storage import Storage

log = logging.getLogger(__name__)

PACKET_OBJECT = "packet.pdf"
MANIFEST_OBJECT = "manifest.json"
_RESERVED = {PACKET_OBJECT, MANIFEST_OBJECT}

_CONTENT_TYPES = {
    ".pdf": "application/pdf",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}

_VERSION_KEY_RE = re.compile(
    r"^(?P<payer>[^/]+)/(?P<year>[0-9]{4})/(?P<month>[0-9]{2})/(?P<case>[^/]+)/(?P<sha>[0-9a-f]{64})/manifest\.json$"
)
_SHA_PREFIX_RE = re.compile(r"^[0-9a-f]{1,64}$")
_MONTH_RE = re.compile(r"^(?P<year>[0-9]{4})-(?P<month>[0-9]{2})$")


def _schema_pattern(*path: str) -> re.Pattern:
    """A pattern from the manifest schema, so ids are checked by one definition."""
    node = validator("manifest").schema
    for part in path:
        node = node[part]
    return re.compile(node["pattern"])


@dataclass(frozen=True)
class ArchivedVersion:
    """One archived packet version.

    Attributes:
        case_id, payer_id, sha256: From the version's key.
        created: The manifest's ``created`` time (None if the manifest is unreadable).
        pages, size, file_name: The manifest's ``packet`` entries (None if unreadable).
        prefix: Key prefix of the version, ending in ``/``.
        already_archived: Set by :func:`archive_packet` when nothing new was written.
        damaged: Why the manifest cannot be trusted, or None.
    """

    case_id: str
    payer_id: str
    created: str | None
    sha256: str
    pages: int | None
    size: int | None
    file_name: str | None
    prefix: str
    already_archived: bool = False
    damaged: str | None = None

    def key(self, name: str) -> str:
        """The key of object ``name`` in this version."""
        return self.prefix + name

    @property
    def packet_key(self) -> str:
        return self.key(PACKET_OBJECT)

    @property
    def manifest_key(self) -> str:
        return self.key(MANIFEST_OBJECT)


@dataclass(frozen=True)
class Problem:
    """One way an archived version differs from its manifest; ``key`` names the object."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _parse_created(created: str) -> dt.datetime:
    return dt.datetime.fromisoformat(created.replace("Z", "+00:00")).astimezone(dt.timezone.utc)


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """Serialise a manifest deterministically: sorted keys, indent 2, UTF-8, trailing newline."""
    try:
        text = json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StorageError("manifest holds a value that is not plain JSON", code=ErrorCode.BAD_MANIFEST) from exc
    return (text + "\n").encode("utf-8")


def version_prefix(payer_id: str, created: str, case_id: str, sha256: str) -> str:
    """``<payer_id>/<YYYY>/<MM>/<case_id>/<sha256>/`` for a version created at ``created`` (UTC)."""
    when = _parse_created(created)
    return f"{payer_id}/{when:%Y}/{when:%m}/{case_id}/{sha256}/"


def _content_type(name: str) -> str:
    suffix = name[name.rfind("."):].lower() if "." in name else ""
    return _CONTENT_TYPES.get(suffix, "application/octet-stream")


def _schema_problem(doc: Any) -> str | None:
    """Why ``doc`` is not a usable manifest, or None."""
    if not isinstance(doc, dict):
        return "is not a JSON object"
    errors = schema_errors("manifest", doc)
    if errors:
        shown = "; ".join(f"{field} {message}" for field, message in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        return f"does not match the manifest schema: {shown}{more}"
    try:
        _parse_created(doc["created"])
    except ValueError:
        return "does not match the manifest schema: created is not a valid time"
    names = set(doc["objects"]) | {MANIFEST_OBJECT}
    if doc["packet"]["file_name"] in names:
        return "names the packet file like another object"
    return None


def _load_manifest(storage: Storage, key: str) -> tuple[dict | None, bytes | None, str | None]:
    """(manifest, raw bytes, None) or (None, raw-or-None, why it is unusable)."""
    try:
        raw = storage.get(key)
    except NotFound:
        return None, None, "object is missing"
    except StorageError:
        return None, None, "could not be read"
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, raw, "is not valid JSON"
    problem = _schema_problem(doc)
    return (None, raw, problem) if problem else (doc, raw, None)


def _key_mismatches(doc: dict, case_id: str, payer_id: str, sha256: str) -> list[str]:
    pairs = (("case_id", doc["case_id"], case_id), ("payer_id", doc["payer_id"], payer_id),
             ("packet.sha256", doc["packet"]["sha256"], sha256))
    return [f"{field} is {have}, key says {want}" for field, have, want in pairs if have != want]


def _read_version(storage: Storage, manifest_key: str) -> ArchivedVersion:
    match = _VERSION_KEY_RE.match(manifest_key)
    version = ArchivedVersion(
        case_id=match["case"], payer_id=match["payer"], created=None, sha256=match["sha"],
        pages=None, size=None, file_name=None, prefix=manifest_key[: -len(MANIFEST_OBJECT)],
    )
    doc, _raw, problem = _load_manifest(storage, manifest_key)
    if doc is None:
        return replace(version, damaged=f"{MANIFEST_OBJECT} {problem}")
    mismatches = _key_mismatches(doc, version.case_id, version.payer_id, version.sha256)
    packet = doc["packet"]
    return replace(
        version, created=doc["created"], pages=packet["pages"], size=packet["size"], file_name=packet["file_name"],
        damaged=f"{MANIFEST_OBJECT}: {'; '.join(mismatches)}" if mismatches else None,
    )


def _sort_key(version: ArchivedVersion) -> tuple[dt.datetime, str]:
    if version.created is not None:
        return _parse_created(version.created), version.sha256
    # Unreadable manifest: the key still says the month, which keeps the order sensible.
    year, month = version.prefix.split("/")[1:3]
    return dt.datetime(int(year), int(month), 1, tzinfo=dt.timezone.utc), version.sha256


@dataclass(frozen=True)
class PreparedVersion:
    """A packet version checked and laid out, ready to write (see :func:`prepare_version`).

    Attributes:
        prefix: Key prefix of the version, ending in ``/``.
        manifest: The manifest as it will be stored (with ``objects``).
        manifest_body: Its serialised bytes.
        packet: The packet bytes.
        files: Extra files as (plain name, bytes), sorted by name.
    """

    prefix: str
    manifest: dict
    manifest_body: bytes
    packet: bytes
    files: tuple[tuple[str, bytes], ...]

    @property
    def case_id(self) -> str:
        return self.manifest["case_id"]

    @property
    def sha256(self) -> str:
        return self.manifest["packet"]["sha256"]


def prepare_version(
    packet_pdf: bytes,
    manifest: Mapping[str, Any],
    extra_files: Mapping[str, bytes] | None = None,
) -> PreparedVersion:
    """Check a packet, its manifest and report files, and lay them out as one version; no I/O.

    The manifest gains ``objects`` (name -> sha256 of each extra file) and is
    validated against ``schemas/manifest.schema.json``.

    Raises:
        StorageError: ``bad_manifest`` for an invalid manifest or file name.
        IntegrityError: the packet bytes do not match ``packet.sha256`` / ``packet.size``.
    """
    extra_files = dict(extra_files or {})
    name_re = _schema_pattern("$defs", "file_name")
    for name in extra_files:
        if not isinstance(name, str) or name in _RESERVED or not name_re.match(name) or len(name) > 200:
            raise StorageError(f"{str(name)[:80]!r} cannot be an archive file name", code=ErrorCode.BAD_MANIFEST)
    doc = copy.deepcopy(dict(manifest))
    doc["objects"] = {name: _sha256(data) for name, data in sorted(extra_files.items())}
    problem = _schema_problem(doc)
    if problem:
        raise StorageError(f"the manifest {problem}", code=ErrorCode.BAD_MANIFEST)
    packet = doc["packet"]
    packet_pdf = bytes(packet_pdf)
    actual = _sha256(packet_pdf)
    if actual != packet["sha256"]:
        raise IntegrityError(f"the packet bytes have sha256 {actual}, the manifest says {packet['sha256']}")
    if len(packet_pdf) != packet["size"]:
        raise IntegrityError(f"the packet is {len(packet_pdf)} bytes, the manifest says {packet['size']}")
    return PreparedVersion(
        prefix=version_prefix(doc["payer_id"], doc["created"], doc["case_id"], actual),
        manifest=doc,
        manifest_body=manifest_bytes(doc),
        packet=packet_pdf,
        files=tuple(sorted((name, bytes(data)) for name, data in extra_files.items())),
    )


def write_version(storage: Storage, prepared: PreparedVersion) -> ArchivedVersion:
    """Write a prepared version: extra files and the packet first, ``manifest.json`` last.

    If the version is already complete (its manifest exists), nothing is written
    and it is returned with ``already_archived=True``: the first manifest stands.

    Raises:
        StorageError: ``exists`` if a partly written version holds different
            bytes; any backend error.
    """
    prefix = prepared.prefix
    manifest_key = prefix + MANIFEST_OBJECT
    if storage.exists(manifest_key):
        return replace(_read_version(storage, manifest_key), already_archived=True)
    for name, data in prepared.files:
        storage.put(prefix + name, data, content_type=_content_type(name))
    storage.put(prefix + PACKET_OBJECT, prepared.packet, content_type="application/pdf")
    try:
        result = storage.put(manifest_key, prepared.manifest_body, content_type="application/json")
    except StorageError as exc:
        if exc.code != ErrorCode.EXISTS:
            raise
        # A concurrent archiver completed this version first; its manifest stands.
        return replace(_read_version(storage, manifest_key), already_archived=True)
    log.info("archived case %s packet %s at %s", prepared.case_id, prepared.sha256[:12], prefix)
    return replace(_read_version(storage, manifest_key), already_archived=result.already_present)


def archive_packet(
    storage: Storage,
    packet_pdf: bytes,
    manifest: Mapping[str, Any],
    extra_files: Mapping[str, bytes] | None = None,
) -> ArchivedVersion:
    """Archive one built packet with its manifest and report files.

    The manifest gains ``objects`` (name -> sha256 of each extra file) and is
    validated against ``schemas/manifest.schema.json``. Extra files and the
    packet are written first, ``manifest.json`` last.

    If this case already has a complete version for these packet bytes (same
    key), nothing is written and that version is returned with
    ``already_archived=True``: the first manifest stands.

    Args:
        storage: Where to archive.
        packet_pdf: The packet bytes.
        manifest: The pipeline's manifest (not modified).
        extra_files: Report files to keep beside the packet, by plain file name.

    Raises:
        StorageError: ``bad_manifest`` for an invalid manifest or file name;
            ``exists`` if a partly written version holds different bytes.
        IntegrityError: the packet bytes do not match ``packet.sha256`` / ``packet.size``.
    """
    return write_version(storage, prepare_version(packet_pdf, manifest, extra_files))


def hold_version(storage: Storage, version: ArchivedVersion, on: bool) -> list[str]:
    """Place (``on=True``) or lift a legal hold on every object of ``version``.

    Returns:
        The keys held or released, sorted.

    Raises:
        StorageError: code ``unsupported`` where the backend or bucket has no legal holds.
    """
    keys = list(storage.list(version.prefix))
    for key in keys:
        storage.set_legal_hold(key, on)
    log.info("legal hold %s on case %s version %s (%d objects)", "placed" if on else "lifted",
             version.case_id, version.sha256[:12], len(keys))
    return keys


def check_id(value: str, field: str) -> str:
    """Return ``value`` if it is a valid ``case_id`` or ``payer_id`` (per the manifest schema).

    Raises:
        StorageError: code ``bad_id``.
    """
    if not isinstance(value, str) or not _schema_pattern("properties", field).match(value):
        label = field.replace("_", " ")
        raise StorageError(f"{label} {str(value)[:60]!r} is not valid", code=ErrorCode.BAD_ID)
    return value


def check_sha_prefix(sha_prefix: str) -> str:
    """``sha_prefix`` lower-cased if it is 1-64 hex digits, else StorageError ``bad_id``."""
    normal = sha_prefix.strip().lower() if isinstance(sha_prefix, str) else ""
    if not _SHA_PREFIX_RE.match(normal):
        raise StorageError(f"sha256 prefix {str(sha_prefix)[:70]!r} is not 1-64 hex digits", code=ErrorCode.BAD_ID)
    return normal


def check_month(value: str) -> tuple[str, str]:
    """``"2026-11"`` -> ``("2026", "11")``; StorageError ``bad_id`` unless it is a real ``YYYY-MM``."""
    match = _MONTH_RE.match(value) if isinstance(value, str) else None
    if not match or not 1 <= int(match["month"]) <= 12:
        raise StorageError(f"month {str(value)[:20]!r} is not YYYY-MM", code=ErrorCode.BAD_ID)
    return match["year"], match["month"]


def list_versions(
    storage: Storage, case_id: str | None = None, payer_id: str | None = None, *, month: str | None = None,
    case_id_part: str | None = None,
) -> list[ArchivedVersion]:
    """Every complete version (optionally of one case, payer and/or ``YYYY-MM`` month), oldest first.

    ``case_id_part`` keeps the versions whose case id holds it, in any case ("ra-2026" finds RA-2026-0001);
    it is matched against the keys, so only the manifests of matching versions are read.

    The month is the one in the key (the manifest's ``created`` time, UTC); with
    a payer it narrows the listing itself, so auditors can page through a large archive.
    Versions whose manifest is unreadable are included with ``damaged`` set,
    so an auditor sees them.
    """
    if case_id is not None:
        check_id(case_id, "case_id")
    year_month = check_month(month) if month is not None else None
    prefix = f"{check_id(payer_id, 'payer_id')}/" if payer_id is not None else ""
    if prefix and year_month:
        prefix += "/".join(year_month) + "/"
    versions = []
    for key in storage.list(prefix):
        match = _VERSION_KEY_RE.match(key)
        if not match or (case_id is not None and match["case"] != case_id):
            continue
        if case_id_part and case_id_part.casefold() not in match["case"].casefold():
            continue
        if year_month and (match["year"], match["month"]) != year_month:
            continue
        versions.append(_read_version(storage, key))
    return sorted(versions, key=_sort_key)


def find_versions(
    storage: Storage, case_id: str, sha_prefix: str | None = None, *, payer_id: str | None = None
) -> list[ArchivedVersion]:
    """The versions of ``case_id`` whose sha256 starts with ``sha_prefix`` (all if None), oldest first."""
    check_id(case_id, "case_id")
    versions = list_versions(storage, case_id=case_id, payer_id=payer_id)
    if sha_prefix is None:
        return versions
    wanted = check_sha_prefix(sha_prefix)
    return [v for v in versions if v.sha256.startswith(wanted)]


def get_version(
    storage: Storage, case_id: str, sha_prefix: str | None = None, *, payer_id: str | None = None
) -> ArchivedVersion:
    """The newest version of ``case_id``, or the one whose sha256 starts with ``sha_prefix``.

    Raises:
        NotFound: no such version.
        StorageError: code ``ambiguous`` if the prefix matches different packets.
    """
    matches = find_versions(storage, case_id, sha_prefix, payer_id=payer_id)
    if not matches:
        detail = f" with sha256 starting {check_sha_prefix(sha_prefix)}" if sha_prefix is not None else ""
        raise NotFound(f"no archived packet for case {case_id}{detail}")
    shas = {v.sha256 for v in matches}
    if len(shas) > 1 and sha_prefix is not None:
        raise StorageError(
            f"sha256 prefix {check_sha_prefix(sha_prefix)} matches {len(shas)} archived packets of case {case_id}; "
            "give more characters",
            code=ErrorCode.AMBIGUOUS,
        )
    return matches[-1]


def _hash_problems(key: str, actual: str, expected: Mapping[str, str]) -> list[Problem]:
    """One problem per distinct expected hash that ``actual`` misses, naming who expects it."""
    by_value: dict[str, list[str]] = {}
    for source, want in expected.items():
        if want != actual:
            by_value.setdefault(want, []).append(source)
    return [
        Problem(key, f"sha256 is {actual}, {' and '.join(sources)} say{'s' if len(sources) == 1 else ''} {want}")
        for want, sources in by_value.items()
    ]


def _read_object(storage: Storage, key: str) -> tuple[bytes | None, Problem | None]:
    try:
        return storage.get(key), None
    except NotFound:
        return None, Problem(key, "object is missing")
    except StorageError:
        return None, Problem(key, "could not be read")


def verify_version(storage: Storage, version: ArchivedVersion) -> list[Problem]:
    """Recompute every hash of ``version`` against its manifest and its key.

    Returns:
        The problems found, each naming the object key; empty when intact.
    """
    problems: list[Problem] = []
    doc, _raw, why = _load_manifest(storage, version.manifest_key)
    if doc is None:
        problems.append(Problem(version.manifest_key, why))
    else:
        problems += [Problem(version.manifest_key, m)
                     for m in _key_mismatches(doc, version.case_id, version.payer_id, version.sha256)]

    packet, problem = _read_object(storage, version.packet_key)
    if problem:
        problems.append(problem)
    else:
        expected = {"the key": version.sha256}
        if doc is not None:
            expected["the manifest"] = doc["packet"]["sha256"]
        problems += _hash_problems(version.packet_key, _sha256(packet), expected)
        if doc is not None and len(packet) != doc["packet"]["size"]:
            problems.append(Problem(version.packet_key, f"size is {len(packet)} bytes, the manifest says {doc['packet']['size']}"))

    if doc is None:
        return problems  # without a manifest the other objects cannot be checked
    for name, want in sorted(doc["objects"].items()):
        data, problem = _read_object(storage, version.key(name))
        if problem:
            problems.append(problem)
        else:
            problems += _hash_problems(version.key(name), _sha256(data), {"the manifest": want})
    known = {version.key(name) for name in (*_RESERVED, *doc["objects"])}
    problems += [Problem(key, "is not listed in the manifest") for key in storage.list(version.prefix) if key not in known]
    return problems


def retrieve_version(storage: Storage, version: ArchivedVersion) -> list[tuple[str, bytes]]:
    """Fetch a version's files, each checked against its manifest, as (file name, bytes).

    The order is: report files, ``manifest.json`` (the stored bytes), then the
    packet under the manifest's ``packet.file_name``.

    Raises:
        NotFound: an object is missing.
        IntegrityError: an object differs from the manifest or the key; nothing is returned.
    """
    doc, raw, why = _load_manifest(storage, version.manifest_key)
    if doc is None:
        if raw is None and why == "object is missing":
            raise NotFound(f"no archived object {version.manifest_key}")
        raise IntegrityError(f"{version.manifest_key}: {why}")
    mismatches = _key_mismatches(doc, version.case_id, version.payer_id, version.sha256)
    if mismatches:
        raise IntegrityError(f"{version.manifest_key}: {mismatches[0]}")
    files = []
    expected = [(name, version.key(name), {"the manifest": sha}) for name, sha in sorted(doc["objects"].items())]
    expected.append((doc["packet"]["file_name"], version.packet_key, {"the manifest": version.sha256}))
    for name, key, want in expected:
        data = storage.get(key)
        problems = _hash_problems(key, _sha256(data), want)
        if problems:
            raise IntegrityError(str(problems[0]))
        files.append((name, data))
    files.insert(len(files) - 1, (MANIFEST_OBJECT, raw))
    return files
