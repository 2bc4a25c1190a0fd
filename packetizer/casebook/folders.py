"""Case folders and build folders in the instance, under server-chosen names.

``<instance>/cases/<folder>/case.json`` holds the case mapping exactly as
``packetizer.caseio.case_from_mapping`` reads it; uploads sit in
``uploads/<random>.<ext>`` next to it, so attachment paths are relative to the
case folder as in any case file. The name a file had on the user's computer
(it often holds the patient's name) is kept only in ``uploads/names.json`` for
display, never in a path, a log or the registry. The page count of each upload,
learnt when it was converted on upload, is kept in ``uploads/pages.json`` (the
case file the command line reads has no place for it).

Each build of a case gets a folder ``<instance>/builds/<case folder>/<random>/``
for its packet and disclosure reports.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from .. import limits
from ..caseio import case_from_mapping
from ..batch.report import replace_file
from ..errors import CaseError, ErrorCode, PacketizerError, UploadError
from ..ingest.signatures import UTF16_BOMS, sniff
from ..model import Case
from ..private import make_dirs

CASE_FILE = "case.json"
UPLOADS = "uploads"
NAMES_FILE = "names.json"
PAGES_FILE = "pages.json"
SUFFIX_WORDS = {
    ".pdf": "a PDF", ".docx": "a Word (.docx) document", ".txt": "a text file", ".md": "a Markdown file",
    ".markdown": "a Markdown file", ".png": "a PNG image", ".jpg": "a JPEG image", ".jpeg": "a JPEG image",
    ".tif": "a TIFF image", ".tiff": "a TIFF image",
}
_SAME_KIND = {".jpeg": ".jpg", ".tiff": ".tif", ".markdown": ".md"}
_TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
_FOLDER_RE = re.compile(r"^[0-9a-f]{16}$")


def new_folder_name() -> str:
    return secrets.token_hex(8)


def new_build_folder(builds_dir: Path, case_folder: str) -> tuple[str, Path]:
    """A fresh folder for one build of the case in ``case_folder``: its name under ``builds_dir``
    (what the registry records) and its path (not created yet)."""
    token = secrets.token_hex(8)
    return f"{case_folder}/{token}", builds_dir / case_folder / token


@dataclass(frozen=True)
class CaseFolder:
    """One case's folder under ``<instance>/cases``."""

    root: Path

    @classmethod
    def at(cls, cases_dir: Path, name: str) -> "CaseFolder":
        if not _FOLDER_RE.match(name):
            raise PacketizerError("case folder name is not valid", code=ErrorCode.BAD_FOLDER)
        return cls(cases_dir / name)

    @property
    def case_file(self) -> Path:
        return self.root / CASE_FILE

    @property
    def uploads(self) -> Path:
        return self.root / UPLOADS

    def read(self) -> dict:
        """The stored case mapping; :class:`CaseError` when the file is gone or damaged (it is written whole)."""
        try:
            with open(self.case_file, encoding="utf-8") as handle:
                doc = json.load(handle)
        except (OSError, ValueError) as exc:
            raise CaseError(f"the stored case file cannot be read ({type(exc).__name__})") from None
        if not isinstance(doc, dict):
            raise CaseError("the stored case file does not hold a case")
        return doc

    def write(self, doc: dict) -> None:
        """Replace the case file atomically (a reader sees the old or the new file, never half)."""
        make_dirs(self.uploads)
        replace_file(self.case_file, (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))

    def load(self) -> Case:
        return case_from_mapping(self.read(), self.root, source_name=CASE_FILE)

    def display_names(self) -> dict[str, str]:
        try:
            with open(self.uploads / NAMES_FILE, encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return {}

    def _set_display_name(self, rel: str, name: str | None) -> None:
        names = self.display_names()
        if name is None:
            names.pop(rel, None)
        else:
            names[rel] = name
        replace_file(self.uploads / NAMES_FILE, json.dumps(names, indent=2, ensure_ascii=False).encode("utf-8"))

    def page_counts(self) -> dict[str, int]:
        """The page count of each upload, by its path relative to the case folder, as recorded on upload."""
        try:
            with open(self.uploads / PAGES_FILE, encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return {}

    def record_pages(self, rel: str, pages: int | None) -> None:
        """Keep (or, with ``None``, forget) the page count of the upload ``rel``."""
        counts = self.page_counts()
        if pages is None:
            if counts.pop(rel, None) is None:
                return
        else:
            counts[rel] = pages
        replace_file(self.uploads / PAGES_FILE, json.dumps(counts, indent=2).encode("utf-8"))

    def save_upload(self, data: bytes, original_name: str) -> str:
        """Check ``data`` and store it under a random name; return its path relative to the case folder.

        Raises:
            UploadError: empty, too large, unsupported type, or content that is not what the name says.
        """
        suffix = check_upload(data, original_name)
        make_dirs(self.uploads)
        rel = f"{UPLOADS}/{secrets.token_hex(12)}{suffix}"
        replace_file(self.root / rel, data)
        self._set_display_name(rel, display_name(original_name))
        return rel

    def remove_upload(self, rel: str) -> None:
        path = (self.root / rel).resolve()
        if path.parent == self.uploads.resolve() and path.name not in (NAMES_FILE, PAGES_FILE):
            path.unlink(missing_ok=True)
            self._set_display_name(rel, None)
            self.record_pages(rel, None)


def display_name(original: str) -> str:
    """The user's file name reduced to its last part and printable characters (for display only)."""
    name = re.split(r"[\\/]", original or "")[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:120] or "upload"


def _megabytes(size: int) -> str:
    """A size as staff read it (``51.2 MB``, ``50 MB``), never raw bytes."""
    mb = size / (1024 * 1024)
    return f"{mb:,.0f} MB" if mb == int(mb) else f"{mb:,.1f} MB"


def check_upload(data: bytes, original_name: str) -> str:
    """The normalised suffix of an acceptable upload, judged by content (magic bytes), not by name.

    Raises:
        UploadError: its subject is the file's name, its detail the problem.
    """
    name = display_name(original_name)
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIX_WORDS:
        allowed = " ".join(sorted(SUFFIX_WORDS))
        raise UploadError(f"unsupported file type {suffix or '(no extension)'}; use one of {allowed}", subject=name)
    if not data:
        raise UploadError("the file is empty", subject=name)
    if len(data) > limits.MAX_ATTACHMENT_BYTES:
        largest = _megabytes(limits.MAX_ATTACHMENT_BYTES)
        if len(data) == limits.MAX_ATTACHMENT_BYTES + 1:   # the door read one byte past the limit, no more
            raise UploadError(f"the file is larger than {largest}, the largest file accepted", subject=name)
        raise UploadError(f"the file is {_megabytes(len(data))}; the largest file accepted is {largest}", subject=name)
    actual = sniff(data)
    expected = SUFFIX_WORDS[suffix]
    if suffix in _TEXT_SUFFIXES:
        if actual != "text":
            raise UploadError(f"the name says {expected}, but the content is {actual}", subject=name)
        try:
            data.decode("utf-16" if data.startswith(UTF16_BOMS) else "utf-8")
        except UnicodeDecodeError:
            raise UploadError("not UTF-8 text; save it as UTF-8 and upload it again", subject=name) from None
    elif actual != expected:
        raise UploadError(f"the name says {expected}, but the content is {actual}", subject=name)
    return _SAME_KIND.get(suffix, suffix)


def ingest_message(exc: PacketizerError, stored: str, shown: str) -> str:
    """An error about the stored file, told with the name the user knows."""
    if exc.subject is not None:
        return exc.told(subject=shown)
    # Ingest and redaction errors still write the file name into their text.
    return exc.message.replace(stored, shown)
