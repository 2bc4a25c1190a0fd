"""Archive storage: a conformance suite every backend must pass, then local-folder specifics.

``TestStorageConformance`` runs unchanged against the local folder, against
``rclone serve s3`` (a real S3 server over a folder, signatures checked) and
against moto's S3 server (a versioned bucket with Object Lock), both started
on loopback by the fixtures in ``tests/conftest.py``. A new backend
joins by adding a case to the ``storage`` fixture.
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

BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Storage]] = {
    "local": lambda request, tmp: LocalStorage(tmp / "archive"),
    "rclone-s3": lambda request, tmp: open_storage(request.getfixturevalue("rclone_target").location),
    "moto-s3": lambda request, tmp: open_storage(request.getfixturevalue("moto_target").location),
}

# Whether the store makes "create unless it exists" atomic (link(2) locally,
# If-None-Match: * on S3). rclone serve s3 ignores If-None-Match, so there the
# check before each write narrows the race between concurrent writers but cannot close it.
ATOMIC_CREATE = {"local": True, "rclone-s3": False, "moto-s3": True}

BAD_KEYS = [
    "", "/abs/key", "a//b", "a/", "../escape", "a/../b", "a/./b", "./a", ".hidden", "a/.tmp",
    "with space", "back\\slash", "caf\u00e9", "a\x00b", "x" * 1025,
]


@pytest.fixture(params=sorted(BACKENDS))
def storage(request, tmp_path) -> Storage:
    return BACKENDS[request.param](request, tmp_path)


@pytest.fixture
def atomic_create(request, storage) -> bool:
    return ATOMIC_CREATE[request.node.callspec.params["storage"]]


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

    def test_concurrent_puts_of_different_content_have_exactly_one_winner(self, storage, atomic_create):
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
        contents = {i: f"content {i}".encode() * 5000 for i in range(writers)}
        stored = storage.get("race/packet.pdf")
        assert list(storage.list("race/")) == ["race/packet.pdf"]
        assert stored in contents.values()  # whole, never a mix of two writers
        if atomic_create:
            assert len(winners) == 1
            assert stored == contents[winners[0]]
            assert all(r.code == "exists" for r in results.values() if isinstance(r, StorageError))
        else:
            # Without an atomic create several writers can pass the check before the write,
            # and a loser can find the bytes and the checksum mid-change; each is told so.
            assert all(r.code in ("exists", "write_failed") for r in results.values() if isinstance(r, StorageError)), \
                [(r.code, r.message) for r in results.values() if isinstance(r, StorageError)]
        # Once the race is over, the rule holds on every backend.
        assert storage.put("race/packet.pdf", stored, content_type="application/pdf").already_present
        with pytest.raises(StorageError) as info:
            storage.put("race/packet.pdf", b"late", content_type="application/pdf")
        assert info.value.code == "exists"

    def test_concurrent_identical_puts_write_once(self, storage, atomic_create):
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
        assert all(r.sha256 == sha(b'{"a": 1}\n') for r in results)
        assert storage.get("same/manifest.json") == b'{"a": 1}\n'
        written = sum(not r.already_present for r in results)
        assert written == 1 if atomic_create else written >= 1

    def test_describe_is_a_short_human_description(self, storage):
        text = storage.describe()
        assert isinstance(text, str) and text and "\n" not in text


class TestLocalStorage:
    """What the local-folder backend adds: read-only files, atomic writes, configuration."""

    def test_archived_files_are_read_only_and_no_temp_files_remain(self, tmp_path):
        storage = LocalStorage(tmp_path / "archive")
        storage.put("p/1/packet.pdf", b"pdf", content_type="application/pdf")
        path = tmp_path / "archive" / "p" / "1" / "packet.pdf"
        assert stat.S_IMODE(path.stat().st_mode) == 0o400
        assert sorted(p.name for p in (tmp_path / "archive").rglob("*")) == ["1", "p", "packet.pdf"]
        assert storage.describe() == f"local folder {tmp_path / 'archive'}"

    @pytest.mark.parametrize("umask", [0o022, 0o000])
    def test_archived_packets_are_the_owners_only_whatever_the_umask(self, tmp_path, umask):
        old = os.umask(umask)
        try:
            storage = LocalStorage(tmp_path / "archive")
            storage.put("demo/2026/09/RA-1/v1/packet.pdf", b"%PDF-", content_type="application/pdf")
            storage.put("demo/2026/09/RA-1/v1/manifest.json", b"{}", content_type="application/json")
        finally:
            os.umask(old)
        root = tmp_path / "archive"
        modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}
        assert len(modes) == 8
        for name, mode in modes.items():
            # Folders 0700; files read-only for the owner (write-once, and stricter than 0600).
            assert mode == (0o700 if (tmp_path / name).is_dir() else 0o400), (name, oct(mode))

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

    def test_s3_locations_open_the_s3_backend(self):
        from packetizer.archive.s3 import S3Storage

        storage = open_storage(None, environ={"PACKETIZER_ARCHIVE": "s3://bucket/prefix",
                                              "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
        assert isinstance(storage, S3Storage)
        assert storage.describe() == "S3 bucket bucket prefix prefix/ at http://127.0.0.1:9"

    def test_local_storage_has_no_legal_holds(self, tmp_path):
        storage = LocalStorage(tmp_path / "archive")
        storage.put("a/b", b"x", content_type="text/plain")
        assert storage.lock_status("a/b") is None
        with pytest.raises(NotFound):
            storage.lock_status("a/c")
        with pytest.raises(StorageError) as info:
            storage.set_legal_hold("a/b", True)
        assert info.value.code == "unsupported"
        assert "Object Lock" in info.value.message

    def test_unknown_schemes_are_refused(self):
        with pytest.raises(StorageError) as info:
            open_storage(None, environ={"PACKETIZER_ARCHIVE": "ftp://host/x"})
        assert info.value.code == "unsupported"
