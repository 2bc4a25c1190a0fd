"""Archive service: layout, idempotence, listing, retrieval and verification over a real local archive."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest

from packetizer.archive import (
    LocalStorage,
    Problem,
    archive_packet,
    find_versions,
    get_version,
    list_versions,
    manifest_bytes,
    retrieve_version,
    verify_version,
)
from packetizer.errors import IntegrityError, NotFound, StorageError

CASE = "RA-2026-0001"
PAYER = "demo-commercial"
REPORT_JSON = b'{"withheld": ["member.ssn"]}\n'
REPORT_HTML = b"<!doctype html><title>Disclosure report</title>\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def packet_bytes(text: str = "one") -> bytes:
    return b"%PDF-1.7\n% packet " + text.encode() + b"\n%%EOF\n"


def manifest_for(pdf: bytes, *, case_id: str = CASE, payer_id: str = PAYER,
                 created: str = "2026-11-23T10:00:00Z", pages: int = 7) -> dict:
    return {
        "case_id": case_id,
        "payer_id": payer_id,
        "created": created,
        "generator": {"name": "packetizer", "version": "0.1.0"},
        "packet": {"file_name": f"RETRO-AUTH_{payer_id}_{case_id}_2026-09-14.pdf", "sha256": sha(pdf),
                   "size": len(pdf), "pages": pages},
        "inputs": [{"name": "2026-09-14-eval.docx", "role": "clinical_note", "sha256": "a" * 64, "size": 1234}],
        "disclosure": {"withheld": ["member.ssn"]},
        "built_by": "billing1",
        "override": None,
    }


@pytest.fixture
def storage(tmp_path) -> LocalStorage:
    return LocalStorage(tmp_path / "archive")


def archive_one(storage, text="one", **manifest_args):
    pdf = packet_bytes(text)
    extras = {"disclosure-report.json": REPORT_JSON, "disclosure-report.html": REPORT_HTML}
    return archive_packet(storage, pdf, manifest_for(pdf, **manifest_args), extras), pdf


def tamper(storage: LocalStorage, key: str, data: bytes) -> None:
    path = storage.root / key
    path.chmod(0o644)  # archived files are read-only; an attacker would do the same
    path.write_bytes(data)


def test_archiving_writes_the_documented_layout(storage):
    version, pdf = archive_one(storage)
    prefix = f"{PAYER}/2026/11/{CASE}/{sha(pdf)}/"
    assert version.prefix == prefix
    assert (version.case_id, version.payer_id, version.created, version.sha256, version.pages) == (
        CASE, PAYER, "2026-11-23T10:00:00Z", sha(pdf), 7)
    assert not version.already_archived and version.damaged is None
    assert list(storage.list("")) == [prefix + n for n in
                                      ("disclosure-report.html", "disclosure-report.json", "manifest.json", "packet.pdf")]
    assert storage.get(prefix + "packet.pdf") == pdf


def test_the_stored_manifest_is_deterministic_and_lists_the_extra_objects(storage):
    pdf = packet_bytes()
    manifest = manifest_for(pdf)
    original = copy.deepcopy(manifest)
    version = archive_packet(storage, pdf, manifest, {"disclosure-report.json": REPORT_JSON})
    assert manifest == original  # the caller's dict is left alone
    stored = storage.get(version.manifest_key)
    expected = dict(original, objects={"disclosure-report.json": sha(REPORT_JSON)})
    assert stored == manifest_bytes(expected)
    assert stored == (json.dumps(expected, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def test_the_month_folder_comes_from_created_in_utc(storage):
    version, _ = archive_one(storage, created="2026-12-31T23:59:59+00:00")
    assert version.prefix.startswith(f"{PAYER}/2026/12/{CASE}/")


def test_archiving_identical_content_twice_is_a_no_op(storage):
    first, _ = archive_one(storage)
    again, _ = archive_one(storage)
    assert again.already_archived and again.prefix == first.prefix and again.sha256 == first.sha256
    assert len(list_versions(storage)) == 1


def test_the_same_packet_with_a_new_manifest_keeps_the_first_manifest(storage):
    first, pdf = archive_one(storage)
    later = manifest_for(pdf)
    later["built_by"] = "someone-else"
    again = archive_packet(storage, pdf, later)
    assert again.already_archived and again.prefix == first.prefix
    assert json.loads(storage.get(first.manifest_key))["built_by"] == "billing1"


def test_different_content_is_a_new_version_listed_separately(storage):
    old, _ = archive_one(storage, "one", created="2026-11-23T10:00:00Z")
    new, _ = archive_one(storage, "two", created="2026-12-01T09:00:00Z")
    other, _ = archive_one(storage, "three", case_id="RA-2026-0002", payer_id="other-payer",
                           created="2026-12-05T00:00:00Z")
    assert [v.sha256 for v in list_versions(storage)] == [old.sha256, new.sha256, other.sha256]
    assert [v.sha256 for v in list_versions(storage, case_id=CASE)] == [old.sha256, new.sha256]
    assert [v.sha256 for v in list_versions(storage, payer_id="other-payer")] == [other.sha256]
    assert list_versions(storage, case_id=CASE, payer_id="other-payer") == []
    assert get_version(storage, CASE).sha256 == new.sha256  # newest by default
    assert get_version(storage, CASE, old.sha256[:10].upper()).sha256 == old.sha256


def test_versions_sort_by_created_then_sha(storage):
    late, _ = archive_one(storage, "a", created="2026-11-23T10:00:00.5Z")
    early, _ = archive_one(storage, "b", created="2026-11-23T10:00:00Z")
    assert [v.sha256 for v in find_versions(storage, CASE)] == [early.sha256, late.sha256]


def test_get_version_not_found_and_ambiguous_prefixes_are_named(storage):
    with pytest.raises(NotFound, match="^no archived packet for case RA-404$"):
        get_version(storage, "RA-404")
    # 17 packets: by pigeonhole at least two share their first hex digit.
    shas = [archive_one(storage, str(i))[0].sha256 for i in range(17)]
    shared = next(c for c in "0123456789abcdef" if sum(s.startswith(c) for s in shas) > 1)
    with pytest.raises(StorageError) as info:
        get_version(storage, CASE, shared)
    assert info.value.code == "ambiguous"
    assert info.value.message.startswith(f"sha256 prefix {shared} matches ")
    missing = "0" * 64 if "0" * 64 not in shas else "1" * 64
    with pytest.raises(NotFound, match=f"^no archived packet for case {CASE} with sha256 starting {missing}$"):
        get_version(storage, CASE, missing)


def test_ids_and_sha_prefixes_are_checked(storage):
    for call in (lambda: list_versions(storage, case_id="../x"), lambda: list_versions(storage, payer_id="a/b"),
                 lambda: find_versions(storage, CASE, "xyz")):
        with pytest.raises(StorageError) as info:
            call()
        assert info.value.code == "bad_id"


def test_an_untouched_version_verifies_intact(storage):
    version, _ = archive_one(storage)
    assert verify_version(storage, version) == []


def test_a_changed_packet_byte_is_reported_on_the_packet_key(storage):
    version, pdf = archive_one(storage)
    altered = bytearray(pdf)
    altered[3] ^= 0x01
    tamper(storage, version.packet_key, bytes(altered))
    problems = verify_version(storage, version)
    assert problems == [Problem(version.packet_key,
                                f"sha256 is {sha(bytes(altered))}, the key and the manifest say {sha(pdf)}")]
    assert str(problems[0]).startswith(f"{PAYER}/2026/11/{CASE}/{sha(pdf)}/packet.pdf: sha256 is ")


def test_a_changed_report_is_reported_on_its_key(storage):
    version, _ = archive_one(storage)
    tamper(storage, version.key("disclosure-report.json"), b"{}\n")
    [problem] = verify_version(storage, version)
    assert problem.key == version.key("disclosure-report.json")
    assert problem.message == f"sha256 is {sha(b'{}' + bytes([10]))}, the manifest says {sha(REPORT_JSON)}"


def test_missing_and_unlisted_objects_are_reported(storage):
    version, _ = archive_one(storage)
    (storage.root / version.key("disclosure-report.html")).unlink()
    storage.put(version.key("extra.txt"), b"slipped in", content_type="text/plain")
    assert verify_version(storage, version) == [
        Problem(version.key("disclosure-report.html"), "object is missing"),
        Problem(version.key("extra.txt"), "is not listed in the manifest"),
    ]


def test_a_missing_packet_is_reported(storage):
    version, _ = archive_one(storage)
    (storage.root / version.packet_key).unlink()
    assert verify_version(storage, version) == [Problem(version.packet_key, "object is missing")]


def test_an_unreadable_manifest_is_reported_and_the_version_still_listed(storage):
    version, _ = archive_one(storage)
    tamper(storage, version.manifest_key, b"{not json")
    assert verify_version(storage, version) == [Problem(version.manifest_key, "is not valid JSON")]
    [listed] = list_versions(storage)
    assert listed.damaged == "manifest.json is not valid JSON" and listed.created is None and listed.pages is None
    with pytest.raises(IntegrityError, match="manifest.json: is not valid JSON"):
        retrieve_version(storage, listed)


def test_a_manifest_edited_to_another_packet_is_reported(storage):
    version, _ = archive_one(storage)
    doc = json.loads(storage.get(version.manifest_key))
    doc["packet"]["sha256"] = "0" * 64
    doc["packet"]["size"] += 1
    tamper(storage, version.manifest_key, manifest_bytes(doc))
    messages = [str(p) for p in verify_version(storage, version)]
    assert messages == [
        f"{version.manifest_key}: packet.sha256 is {'0' * 64}, key says {version.sha256}",
        f"{version.packet_key}: sha256 is {version.sha256}, the manifest says {'0' * 64}",
        f"{version.packet_key}: size is {doc['packet']['size'] - 1} bytes, the manifest says {doc['packet']['size']}",
    ]
    assert "packet.sha256" in list_versions(storage)[0].damaged


@pytest.mark.parametrize("change", [
    lambda m: m.pop("built_by"),
    lambda m: m.pop("inputs"),
    lambda m: m.update(created="2026-11-23T10:00:00-05:00"),
    lambda m: m.update(created="2026-13-01T00:00:00Z"),
    lambda m: m.update(case_id="../../etc"),
    lambda m: m["packet"].update(file_name="../packet.pdf"),
    lambda m: m["packet"].update(file_name="manifest.json"),
    lambda m: m.update(override={"reason": ""}),
    lambda m: m.update(disclosure=None),
    lambda m: m["inputs"][0].pop("sha256"),
])
def test_a_manifest_that_violates_the_schema_is_rejected_and_nothing_is_written(storage, change):
    pdf = packet_bytes()
    manifest = manifest_for(pdf)
    change(manifest)
    with pytest.raises(StorageError) as info:
        archive_packet(storage, pdf, manifest)
    assert info.value.code == "bad_manifest"
    assert info.value.message.startswith("the manifest ")
    assert list(storage.list("")) == []


def test_an_override_with_reason_and_author_is_accepted(storage):
    pdf = packet_bytes()
    manifest = manifest_for(pdf)
    manifest["override"] = {"reason": "payer confirmed by phone", "by": "supervisor1"}
    manifest["anything_else"] = {"kept": True}
    version = archive_packet(storage, pdf, manifest)
    assert json.loads(storage.get(version.manifest_key))["anything_else"] == {"kept": True}


@pytest.mark.parametrize("name", ["packet.pdf", "manifest.json", "../x.json", "sub/x.json", ".hidden", ""])
def test_extra_files_must_have_plain_unreserved_names(storage, name):
    pdf = packet_bytes()
    with pytest.raises(StorageError) as info:
        archive_packet(storage, pdf, manifest_for(pdf), {name: b"x"})
    assert info.value.code == "bad_manifest"
    assert list(storage.list("")) == []


def test_packet_bytes_must_match_the_manifest(storage):
    pdf = packet_bytes()
    with pytest.raises(IntegrityError, match="sha256"):
        archive_packet(storage, pdf + b" ", manifest_for(pdf))
    manifest = manifest_for(pdf)
    manifest["packet"]["size"] += 1
    with pytest.raises(IntegrityError, match="bytes, the manifest says"):
        archive_packet(storage, pdf, manifest)
    assert list(storage.list("")) == []


def test_a_version_that_could_not_be_completed_stays_invisible(storage):
    pdf = packet_bytes()
    manifest = manifest_for(pdf)
    prefix = f"{PAYER}/2026/11/{CASE}/{sha(pdf)}/"
    storage.put(prefix + "disclosure-report.json", b"left over from an earlier attempt", content_type="application/json")
    with pytest.raises(StorageError) as info:
        archive_packet(storage, pdf, manifest, {"disclosure-report.json": REPORT_JSON})
    assert info.value.code == "exists"
    assert not storage.exists(prefix + "manifest.json")
    assert list_versions(storage) == []


def test_retrieve_returns_reports_then_manifest_then_the_named_packet(storage):
    version, pdf = archive_one(storage)
    files = retrieve_version(storage, version)
    assert [name for name, _ in files] == [
        "disclosure-report.html", "disclosure-report.json", "manifest.json",
        f"RETRO-AUTH_{PAYER}_{CASE}_2026-09-14.pdf",
    ]
    assert files[-1][1] == pdf and files[2][1] == storage.get(version.manifest_key)


def test_retrieve_refuses_an_altered_packet(storage):
    version, pdf = archive_one(storage)
    tamper(storage, version.packet_key, pdf + b"x")
    with pytest.raises(IntegrityError) as info:
        retrieve_version(storage, version)
    assert info.value.message.startswith(version.packet_key + ": sha256 is ")


def test_messages_never_carry_manifest_inputs_or_disclosure_content(storage):
    version, pdf = archive_one(storage)
    tamper(storage, version.packet_key, b"")
    text = "\n".join(str(p) for p in verify_version(storage, version))
    assert "member.ssn" not in text and "eval.docx" not in text and "billing1" not in text
