"""The upload ZIP extractor: safe members land in a fresh folder, anything unsafe leaves nothing behind."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from packetizer import limits
from packetizer.batch import read_manifest
from packetizer.batch.zipin import extract_zip, stage_upload
from packetizer.errors import IngestError, LimitExceeded

FIXTURES = Path(__file__).parent / "fixtures" / "batch"


def _zip(members: list[tuple[str | zipfile.ZipInfo, bytes]], method=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buffer.getvalue()


def _only_dest_missing(tmp_path: Path) -> bool:
    """Nothing was left in tmp_path but the ZIP itself (no folder, no temporary)."""
    return sorted(p.name for p in tmp_path.iterdir()) == ["up.zip"]


def _upload(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "up.zip"
    path.write_bytes(data)
    return path


def test_files_and_folders_are_extracted_into_a_new_folder(tmp_path):
    data = _zip([("notes/2026-09-14-progress.txt", b"note one"), ("notes/sub/", b""), ("top.txt", b"x" * 10)])
    result = extract_zip(_upload(tmp_path, data), tmp_path / "out")
    assert result.files == ("notes/2026-09-14-progress.txt", "top.txt")
    assert result.size == len(b"note one") + 10
    assert (tmp_path / "out" / "notes" / "2026-09-14-progress.txt").read_bytes() == b"note one"
    assert (tmp_path / "out" / "notes" / "sub").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "up.zip"]


def test_macos_finder_junk_is_dropped(tmp_path):
    data = _zip([("__MACOSX/notes/._a.txt", b"\0\5"), ("notes/.DS_Store", b"\0"), ("notes/a.txt", b"a")])
    assert extract_zip(_upload(tmp_path, data), tmp_path / "out").files == ("notes/a.txt",)


@pytest.mark.parametrize("name, message", [
    ("../evil.txt", "path leaves the upload folder"),
    ("notes/../../evil.txt", "path leaves the upload folder"),
    ("/etc/evil.txt", "absolute path"),
    ("C:/evil.txt", "absolute path"),
    ("..\\evil.txt", "path leaves the upload folder"),
])
def test_paths_that_escape_are_refused_and_nothing_is_written(tmp_path, name, message):
    data = _zip([("ok.txt", b"fine"), (name, b"evil")])
    with pytest.raises(IngestError, match=message):
        extract_zip(_upload(tmp_path, data), tmp_path / "out")
    assert _only_dest_missing(tmp_path)
    assert not (tmp_path.parent / "evil.txt").exists()


def test_symlinks_are_refused(tmp_path):
    link = zipfile.ZipInfo("notes/passwd.txt")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    data = _zip([("a.txt", b"a"), (link, b"/etc/passwd")])
    with pytest.raises(IngestError, match="entry 2 of 2: symbolic links are not accepted"):
        extract_zip(_upload(tmp_path, data), tmp_path / "out")
    assert _only_dest_missing(tmp_path)


def test_encrypted_members_are_refused(tmp_path):
    data = bytearray(_zip([("secret.txt", b"not really encrypted")], method=zipfile.ZIP_STORED))
    # zipfile cannot write encrypted members: set the "encrypted" flag bit in both headers.
    data[6] |= 0x1
    data[data.rfind(b"PK\x01\x02") + 8] |= 0x1
    data = bytes(data)
    with pytest.raises(IngestError, match="encrypted"):
        extract_zip(_upload(tmp_path, data), tmp_path / "out")


def test_entry_count_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_ZIP_ENTRIES", 3)
    data = _zip([(f"n{i}.txt", b"x") for i in range(4)])
    with pytest.raises(LimitExceeded, match=r"4 entries > MAX_ZIP_ENTRIES \(3\)"):
        extract_zip(_upload(tmp_path, data), tmp_path / "out")
    assert _only_dest_missing(tmp_path)


def test_total_unpacked_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_ZIP_UNCOMPRESSED_BYTES", 1000)
    data = _zip([("a.txt", b"a" * 600), ("b.txt", b"b" * 600)])
    with pytest.raises(LimitExceeded, match="MAX_ZIP_UNCOMPRESSED_BYTES"):
        extract_zip(_upload(tmp_path, data), tmp_path / "out")


def test_a_zip_bomb_is_refused_by_its_compression_ratio_before_unpacking(tmp_path):
    bomb = b"\0" * (limits.ZIP_RATIO_MIN_BYTES * 4)
    data = _zip([("bomb.txt", bomb)])
    assert len(data) * limits.MAX_ZIP_COMPRESSION_RATIO < len(bomb)
    with pytest.raises(LimitExceeded, match="compression ratio"):
        extract_zip(_upload(tmp_path, data), tmp_path / "out")
    assert _only_dest_missing(tmp_path)


def test_a_member_that_lies_about_its_size_is_caught_while_unpacking(tmp_path):
    data = bytearray(_zip([("a.txt", b"A" * 5000)], method=zipfile.ZIP_STORED))
    # Shrink the declared size in the central directory: the extractor must count real bytes.
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.infolist()[0]
    central = data.rfind(b"PK\x01\x02")
    data[central + 24:central + 28] = (100).to_bytes(4, "little")
    with pytest.raises(IngestError):
        extract_zip(_upload(tmp_path, bytes(data)), tmp_path / "out")
    assert info.file_size == 5000
    assert _only_dest_missing(tmp_path)


def test_duplicate_paths_and_file_folder_clashes_are_refused(tmp_path):
    with pytest.raises(IngestError, match="the same path appears twice"):
        extract_zip(_upload(tmp_path, _zip([("a.txt", b"1"), ("./a.txt", b"2")])), tmp_path / "out")
    with pytest.raises(IngestError, match="a folder has the same path as a file"):
        extract_zip(_upload(tmp_path, _zip([("notes", b"1"), ("notes/a.txt", b"2")])), tmp_path / "out2")


def test_not_a_zip(tmp_path):
    with pytest.raises(IngestError, match="not a readable ZIP"):
        extract_zip(_upload(tmp_path, b"%PDF-1.7 not a zip"), tmp_path / "out")


def test_stage_upload_puts_the_manifest_beside_the_notes_so_its_paths_resolve(tmp_path):
    notes = [(f"notes/{p.name}", p.read_bytes()) for p in sorted((FIXTURES / "notes").iterdir())]
    notes += [(f"visits/{p.name}", p.read_bytes()) for p in sorted((FIXTURES / "visits").iterdir())]
    manifest = stage_upload("PM export.csv", (FIXTURES / "cases.csv").read_bytes(), io.BytesIO(_zip(notes)),
                            tmp_path / "upload")
    assert manifest.parent == tmp_path / "upload" and manifest.suffix == ".csv"
    entries = read_manifest(manifest).entries
    assert [(e.case_id, e.error) for e in entries] == [("BT-0001", None), ("BT-0002", None)]
    assert entries[1].case.attachments[0].path == (tmp_path / "upload" / "visits" / "2026-09-14-visit.txt").resolve()


def test_stage_upload_refuses_other_manifest_types(tmp_path):
    with pytest.raises(IngestError, match="manifest: use a .csv"):
        stage_upload("cases.xlsx", b"PK", None, tmp_path / "upload")
    assert not (tmp_path / "upload").exists()
