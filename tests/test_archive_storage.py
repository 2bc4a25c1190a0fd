"""Archive storage: a conformance suite every backend must pass, then local-folder specifics.

A new backend (S3) joins by adding a factory to ``BACKENDS``; every test in
``TestStorageConformance`` then runs against it unchanged.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from pathlib import Path
from typing import Callable

import pytest

from packetizer.archive import LocalStorage, PutResult, Storage, default_archive_dir, open_storage, write_new_file
from packetizer.archive.local import create_in_place
from packetizer.errors import NotFound, StorageError

BACKENDS: dict[str, Callable[[Path], Storage]] = {
    "local": lambda tmp: LocalStorage(tmp / "archive"),
}

BAD_KEYS = [
    "", "/abs/key", "a//b", "a/", "../escape", "a/../b", "a/./b", "./a", ".hidden", "a/.tmp",
    "with space", "back\\slash", "caf\u00e9", "a\x00b", "x" * 1025,
]


@pytest.fixture(params=sorted(BACKENDS))
def storage(request, tmp_path) -> Storage:
    return BACKENDS[request.param](tmp_path)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class TestStorageConformance:
    """Behaviour the archive service relies on, identical for every backend."""

    def test_put_then_get_returns_the_same_bytes(self, storage):
        data = b"%PDF-1.7 packet bytes\x00\xff"
        result = storage.put("p/2026/11/RA-1/abc/packet.pdf", data, content_type="application/pdf")
        assert result == PutResult(key="p/2026/11/RA-1/abc/packet.pdf", sha256=sha(data), size=len(data), already_present=False)
        assert storage.get("p/2026/11/RA-1/abc/packet.pdf") == data

    def test_empty_and_larger_objects_round_trip(self, storage):
        big = os.urandom(3 * 1024 * 1024 + 17)
        storage.put("k/empty", b"", content_type="application/octet-stream")
        storage.put("k/big", big, content_type="application/octet-stream")
        assert storage.get("k/empty") == b""
        assert storage.get("k/big") == big

    def test_exists_reports_only_stored_objects(self, storage):
        assert not storage.exists("a/b.json")
        storage.put("a/b.json", b"{}", content_type="application/json")
        assert storage.exists("a/b.json")
        assert not storage.exists("a")  # a prefix is not an object
        assert not storage.exists("a/b.jso")

    def test_identical_put_is_a_no_op_reported_as_already_present(self, storage):
        first = storage.put("a/x", b"same", content_type="text/plain")
        again = storage.put("a/x", b"same", content_type="text/plain")
        assert not first.already_present
        assert again.already_present and again.sha256 == first.sha256 and again.size == 4
        assert storage.get("a/x") == b"same"

    def test_different_bytes_never_overwrite(self, storage):
        storage.put("a/x", b"original", content_type="text/plain")
        with pytest.raises(StorageError) as info:
            storage.put("a/x", b"replacement", content_type="text/plain")
        assert info.value.code == "exists"
        assert "a/x" in info.value.message
        assert storage.get("a/x") == b"original"

    def test_get_of_a_missing_key_raises_not_found_naming_the_key(self, storage):
        with pytest.raises(NotFound) as info:
            storage.get("demo/2026/11/RA-404/packet.pdf")
        assert "demo/2026/11/RA-404/packet.pdf" in info.value.message
        assert info.value.code == "not_found"

    def test_list_yields_sorted_keys_under_a_string_prefix(self, storage):
        keys = ["b/2/z", "a/1/x", "a/1/y", "a/10/x", "a/2/x", "c"]
        for key in keys:
            storage.put(key, key.encode(), content_type="text/plain")
        assert list(storage.list("")) == sorted(keys)
        assert list(storage.list("a/1/")) == ["a/1/x", "a/1/y"]
        # A prefix is a plain string prefix, as in S3, not a folder.
        assert list(storage.list("a/1")) == ["a/1/x", "a/1/y", "a/10/x"]
        assert list(storage.list("a/1/x")) == ["a/1/x"]
        assert list(storage.list("nothing/")) == []
        assert list(storage.list("b")) == ["b/2/z"]

    def test_list_of_an_empty_archive_is_empty(self, storage):
        assert list(storage.list("")) == []
        assert list(storage.list("demo/")) == []

    @pytest.mark.parametrize("key", BAD_KEYS)
    def test_invalid_keys_are_rejected_everywhere(self, storage, key):
        for call in (
            lambda: storage.put(key, b"x", content_type="text/plain"),
            lambda: storage.get(key),
            lambda: storage.exists(key),
        ):
            with pytest.raises(StorageError) as info:
                call()
            assert info.value.code == "bad_key"

    @pytest.mark.parametrize("prefix", ["/", "../", "a/../", "a//", ".x", "a b"])
    def test_invalid_list_prefixes_are_rejected(self, storage, prefix):
        with pytest.raises(StorageError) as info:
            list(storage.list(prefix))
        assert info.value.code == "bad_key"

    def test_concurrent_puts_of_different_content_have_exactly_one_winner(self, storage):
        writers = 8
        barrier = threading.Barrier(writers)
        results: dict[int, object] = {}

        def write(i: int) -> None:
            barrier.wait()
            try:
                results[i] = storage.put("race/packet.pdf", f"content {i}".encode() * 5000, content_type="application/pdf")
            except StorageError as exc:
                results[i] = exc

        threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [i for i, r in results.items() if isinstance(r, PutResult)]
        assert len(winners) == 1
        assert all(r.code == "exists" for r in results.values() if isinstance(r, StorageError))
        assert storage.get("race/packet.pdf") == f"content {winners[0]}".encode() * 5000
        assert list(storage.list("race/")) == ["race/packet.pdf"]

    def test_concurrent_identical_puts_write_once(self, storage):
        writers = 6
        barrier = threading.Barrier(writers)
        results: list[PutResult] = []

        def write() -> None:
            barrier.wait()
            results.append(storage.put("same/manifest.json", b'{"a": 1}\n', content_type="application/json"))

        threads = [threading.Thread(target=write) for _ in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == writers
        assert sum(not r.already_present for r in results) == 1

    def test_describe_is_a_short_human_description(self, storage):
        text = storage.describe()
        assert isinstance(text, str) and text and "\n" not in text


class TestLocalStorage:
    """What the local-folder backend adds: read-only files, atomic writes, configuration."""

    def test_archived_files_are_read_only_and_no_temp_files_remain(self, tmp_path):
        storage = LocalStorage(tmp_path / "archive")
        storage.put("p/1/packet.pdf", b"pdf", content_type="application/pdf")
        path = tmp_path / "archive" / "p" / "1" / "packet.pdf"
        assert stat.S_IMODE(path.stat().st_mode) == 0o444
        assert sorted(p.name for p in (tmp_path / "archive").rglob("*")) == ["1", "p", "packet.pdf"]
        assert storage.describe() == f"local folder {tmp_path / 'archive'}"

    def test_listing_skips_temp_and_foreign_files(self, tmp_path):
        root = tmp_path / "archive"
        storage = LocalStorage(root)
        storage.put("p/a", b"a", content_type="text/plain")
        (root / "p" / ".a.0123.tmp").write_bytes(b"half-written")
        (root / "p" / "not a key").write_bytes(b"foreign")
        (root / ".trash").mkdir()
        (root / ".trash" / "b").write_bytes(b"b")
        assert list(storage.list("")) == ["p/a"]

    def test_a_key_that_names_a_folder_is_not_an_object(self, tmp_path):
        storage = LocalStorage(tmp_path / "archive")
        storage.put("a/b", b"x", content_type="text/plain")
        with pytest.raises(NotFound):
            storage.get("a")
        with pytest.raises(StorageError) as info:
            storage.put("a", b"x", content_type="text/plain")
        assert info.value.code == "exists"

    @pytest.mark.parametrize("write", [write_new_file, create_in_place])
    def test_new_file_writers_never_replace(self, tmp_path, write):
        target = tmp_path / "out.pdf"
        assert write(target, b"first") is True
        assert write(target, b"second") is False
        assert target.read_bytes() == b"first"
        assert [p.name for p in tmp_path.iterdir()] == ["out.pdf"]

    def test_open_storage_takes_a_folder_path(self, tmp_path):
        storage = open_storage(str(tmp_path / "a"), environ={})
        assert isinstance(storage, LocalStorage) and storage.root == tmp_path / "a"

    def test_open_storage_defaults_to_the_environment_variable(self, tmp_path, monkeypatch):
        monkeypatch.setenv("PACKETIZER_ARCHIVE", str(tmp_path / "from-env"))
        assert open_storage(None).root == tmp_path / "from-env"
        assert open_storage("").root == tmp_path / "from-env"

    def test_open_storage_falls_back_to_xdg_data_home(self, tmp_path):
        storage = open_storage(None, environ={"XDG_DATA_HOME": str(tmp_path / "data")})
        assert storage.root == tmp_path / "data" / "packetizer" / "archive"

    def test_relative_xdg_data_home_is_ignored(self, tmp_path):
        assert default_archive_dir({"XDG_DATA_HOME": "rel"}) == Path.home() / ".local/share/packetizer/archive"
        assert default_archive_dir({}) == Path.home() / ".local/share/packetizer/archive"

    def test_s3_locations_are_refused_with_a_clear_message(self):
        with pytest.raises(StorageError) as info:
            open_storage("s3://bucket/prefix", environ={})
        assert info.value.message == "S3 archives are not available in this version"
        assert info.value.code == "unsupported"

    def test_unknown_schemes_are_refused(self):
        with pytest.raises(StorageError) as info:
            open_storage(None, environ={"PACKETIZER_ARCHIVE": "ftp://host/x"})
        assert info.value.code == "unsupported"
