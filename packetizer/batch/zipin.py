"""Unpack an uploaded ZIP of notes safely, for the web batch upload.

Every member is checked before anything is written: no absolute paths or
``..``, no symlinks or device files, no encrypted members, and the count, the
sizes and the compression ratio stay under the limits in
:mod:`packetizer.limits`. Files are written into a fresh temporary folder that
is renamed into place only when every member was extracted, so a bad upload
leaves nothing behind. Messages name members by their position, not their
name: note file names often carry a patient's name.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from .. import limits
from ..errors import IngestError, LimitExceeded, PacketizerError
from ..private import create_file, make_dir, make_dirs

#: Manifest file types an upload may carry.
MANIFEST_SUFFIXES = (".csv", ".json", ".jsonl", ".ndjson")
#: The upload form's fields, named on the errors of :func:`stage_upload`.
MANIFEST_FIELD = "manifest"
NOTES_FIELD = "notes"

# Left by macOS Finder when it zips a folder; never a note, so dropped silently.
_JUNK_DIRS = ("__MACOSX",)
_JUNK_NAMES = (".DS_Store", "Thumbs.db", "desktop.ini")
_CHUNK = 1024 * 1024
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class ExtractedZip:
    """What :func:`extract_zip` wrote.

    Attributes:
        root: The folder holding the extracted files.
        files: Their paths relative to ``root`` (POSIX style), in ZIP order.
        size: Total bytes written.
    """

    root: Path
    files: tuple[str, ...]
    size: int


@dataclass(frozen=True)
class _Member:
    info: zipfile.ZipInfo
    parts: tuple[str, ...]      # safe path segments
    is_dir: bool


def extract_zip(source: str | Path | BinaryIO, dest: str | Path) -> ExtractedZip:
    """Extract the ZIP ``source`` into the new folder ``dest``.

    Args:
        source: The ZIP file (a path or a seekable binary file object).
        dest: A folder that must not exist yet; its parent must exist.

    Raises:
        IngestError: not a ZIP, or a member that is unsafe (path, link, encryption).
        LimitExceeded: a count, size or ratio limit is exceeded.
    """
    dest = Path(dest)
    if dest.exists():
        raise IngestError(f"upload folder {dest.name} already exists")
    _check_size(source)
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise IngestError("upload: not a readable ZIP file") from None
    with archive:
        members = check_members(archive.infolist())
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent))
        try:
            files, total = _write_members(archive, members, staging)
            os.rename(staging, dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return ExtractedZip(dest, tuple(files), total)


def _check_size(source: str | Path | BinaryIO) -> None:
    if isinstance(source, (str, Path)):
        size = Path(source).stat().st_size
    else:
        position = source.tell()
        size = source.seek(0, os.SEEK_END)
        source.seek(position)
    if size > limits.MAX_ZIP_BYTES:
        raise LimitExceeded(f"upload: {size} bytes > MAX_ZIP_BYTES ({limits.MAX_ZIP_BYTES})")


def check_members(infos: list[zipfile.ZipInfo]) -> list[_Member]:
    """Validate every member before anything is written; junk members are dropped."""
    if len(infos) > limits.MAX_ZIP_ENTRIES:
        raise LimitExceeded(f"upload: {len(infos)} entries > MAX_ZIP_ENTRIES ({limits.MAX_ZIP_ENTRIES})")
    members: list[_Member] = []
    total = 0
    files: set[tuple[str, ...]] = set()
    folders: set[tuple[str, ...]] = set()
    for number, info in enumerate(infos, 1):
        where = f"upload: entry {number} of {len(infos)}"
        parts = _safe_parts(info.filename, where)
        if parts[0] in _JUNK_DIRS or parts[-1] in _JUNK_NAMES:
            continue
        _check_kind(info, where)
        is_dir = info.is_dir()
        if not is_dir:
            _check_member_size(info, where)
            total += info.file_size
            if total > limits.MAX_ZIP_UNCOMPRESSED_BYTES:
                raise LimitExceeded(f"upload: more than MAX_ZIP_UNCOMPRESSED_BYTES "
                                    f"({limits.MAX_ZIP_UNCOMPRESSED_BYTES}) when unpacked")
            if parts in files or parts in folders:
                raise IngestError(f"{where}: the same path appears twice")
            files.add(parts)
        parents = [parts[:i] for i in range(1, len(parts) + (1 if is_dir else 0))]
        if any(parent in files for parent in parents):
            raise IngestError(f"{where}: a folder has the same path as a file")
        folders.update(parents)
        members.append(_Member(info, parts, is_dir))
    return members


def _safe_parts(name: str, where: str) -> tuple[str, ...]:
    if len(name) > limits.MAX_ZIP_NAME_CHARS:
        raise LimitExceeded(f"{where}: name of {len(name)} characters > MAX_ZIP_NAME_CHARS ({limits.MAX_ZIP_NAME_CHARS})")
    if any(ord(ch) < 32 for ch in name):
        raise IngestError(f"{where}: control characters in the name")
    # Some Windows tools write backslashes; either way no segment may climb out.
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        raise IngestError(f"{where}: absolute path")
    parts = tuple(p for p in PurePosixPath(posix).parts if p not in ("", "."))
    if not parts:
        raise IngestError(f"{where}: empty name")
    if ".." in parts:
        raise IngestError(f"{where}: path leaves the upload folder ('..')")
    if len(parts) > limits.MAX_ZIP_PATH_DEPTH:
        raise LimitExceeded(f"{where}: {len(parts)} levels deep > MAX_ZIP_PATH_DEPTH ({limits.MAX_ZIP_PATH_DEPTH})")
    return parts


def _check_kind(info: zipfile.ZipInfo, where: str) -> None:
    if info.flag_bits & 0x1:
        raise IngestError(f"{where}: encrypted members are not accepted")
    # On Unix-made ZIPs the high 16 bits are st_mode; some tools store only permission bits (type 0).
    kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
    if kind == stat.S_IFLNK:
        raise IngestError(f"{where}: symbolic links are not accepted")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise IngestError(f"{where}: only files and folders are accepted")


def _check_member_size(info: zipfile.ZipInfo, where: str) -> None:
    if info.file_size > limits.MAX_ZIP_ENTRY_BYTES:
        raise LimitExceeded(f"{where}: {info.file_size} bytes > MAX_ZIP_ENTRY_BYTES ({limits.MAX_ZIP_ENTRY_BYTES})")
    if info.file_size > limits.ZIP_RATIO_MIN_BYTES:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.MAX_ZIP_COMPRESSION_RATIO:
            raise LimitExceeded(f"{where}: compression ratio {ratio:.0f} > MAX_ZIP_COMPRESSION_RATIO "
                                f"({limits.MAX_ZIP_COMPRESSION_RATIO})")


def _write_members(archive: zipfile.ZipFile, members: list[_Member], root: Path) -> tuple[list[str], int]:
    files, total = [], 0
    for number, member in enumerate(members, 1):
        target = root.joinpath(*member.parts)
        if member.is_dir:
            make_dirs(target)
            continue
        make_dirs(target.parent)
        total += _copy_member(archive, member.info, target, f"upload: entry {number}")
        files.append("/".join(member.parts))
    return files, total


def _copy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, where: str) -> int:
    """Stream one member to ``target``, counting bytes rather than trusting the declared size."""
    written = 0
    fd = create_file(target, _OPEN_FLAGS)  # notes hold PHI: 0600 (packetizer.private)
    with os.fdopen(fd, "wb") as out:
        try:
            with archive.open(info) as member:
                while chunk := member.read(_CHUNK):
                    written += len(chunk)
                    if written > info.file_size or written > limits.MAX_ZIP_ENTRY_BYTES:
                        raise LimitExceeded(f"{where}: unpacks to more than it declares")
                    out.write(chunk)
        except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, NotImplementedError, RuntimeError):
            raise IngestError(f"{where}: damaged or uses an unsupported compression method") from None
    return written


def stage_upload(manifest_name: str, manifest_data: bytes, notes_zip: str | Path | BinaryIO | None,
                 dest: str | Path) -> Path:
    """Lay out a web upload for :func:`~packetizer.batch.runner.run_batch`: notes unpacked, manifest beside them.

    Paths in the manifest are relative to the manifest, so the manifest is
    saved at the top of the unpacked notes folder.

    Args:
        manifest_name: The uploaded manifest's file name (only its suffix is kept).
        manifest_data: Its bytes.
        notes_zip: The uploaded ZIP of notes, or None.
        dest: A folder that must not exist yet.

    Returns:
        The path of the saved manifest, inside ``dest``.

    Raises:
        IngestError / LimitExceeded: bad manifest type or unsafe ZIP; ``dest`` is then not created.
            The error's field is the upload at fault: MANIFEST_FIELD or NOTES_FIELD.
    """
    suffix = PurePosixPath(manifest_name.replace("\\", "/")).suffix.lower()
    if suffix not in MANIFEST_SUFFIXES:
        raise IngestError(f"use a {', '.join(MANIFEST_SUFFIXES)} file", field=MANIFEST_FIELD)
    if len(manifest_data) > limits.MAX_MANIFEST_BYTES:
        raise LimitExceeded(f"{len(manifest_data)} bytes > MAX_MANIFEST_BYTES ({limits.MAX_MANIFEST_BYTES})",
                            field=MANIFEST_FIELD)
    dest = Path(dest)
    if notes_zip is not None:
        try:
            extract_zip(notes_zip, dest)
        except PacketizerError as exc:
            exc.field = NOTES_FIELD  # where the form shows it; the message already says "upload"
            raise
    else:
        make_dir(dest)
    # A fixed, dot-prefixed name cannot clash with an unpacked note or be named by one.
    manifest = dest / f".manifest{suffix}"
    try:
        fd = create_file(manifest, _OPEN_FLAGS)
        with os.fdopen(fd, "wb") as out:
            out.write(manifest_data)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return manifest
