"""This test ensures the casebook weighs a case's documents and newest build against the payer channel's limits,
and tells which builds were made from the case, its documents and its payer policy as they are now."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil

import pytest

from packetizer.casebook.channel import build_currency, channel_limits, current_fingerprint, megabytes
from packetizer.casebook.folders import CaseFolder, new_folder_name
from packetizer.caseio import read_case_document
from packetizer.pipeline import input_fingerprint
from packetizer.policy import load_registry
from packetizer.registry import Build, CaseRecord

from browser.webapp_support import EXAMPLE, REPO

BUILT = dt.datetime(2026, 10, 6, 12, 0, tzinfo=dt.timezone.utc)
MB = 1024 * 1024


@pytest.fixture
def payers(tmp_path):
    folder = tmp_path / "payers"
    shutil.copytree(REPO / "payers", folder)
    return folder


@pytest.fixture
def folder(tmp_path) -> CaseFolder:
    """The Lake Street example as the web app stores it: its three notes uploaded, the phone log dated outside the
    payer's 30-day relevance window (so withheld from the packet)."""
    case_folder = CaseFolder.at(tmp_path / "cases", new_folder_name())
    doc = read_case_document(EXAMPLE / "case.yaml")
    case_folder.uploads.mkdir(parents=True)
    for i, att in enumerate(doc["attachments"]):
        source = EXAMPLE / att["file"]
        att["file"] = f"uploads/{i:024x}{source.suffix}"
        shutil.copyfile(source, case_folder.root / att["file"])
    doc["attachments"][2]["date"] = "2026-12-01"
    case_folder.write(_json_ready(doc))
    return case_folder


def _json_ready(value):
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


def _record(*builds: Build) -> CaseRecord:
    record = CaseRecord(case_id="RA-2026-0001", payer_id="demo-commercial", folder="0" * 16)
    record.builds.extend(builds)
    return record


def _build(build_id: int, *, pages=6, size=300_000, fingerprint=None, minutes=0) -> Build:
    return Build(id=build_id, created_at=BUILT + dt.timedelta(minutes=minutes), built_by="web:sam", folder="f/b",
                 file_name="packet.pdf", report_name="r.json", report_html_name="r.html", sha256="0" * 64,
                 size=size, pages=pages, input_fingerprint=fingerprint)


def test_documents_going_into_the_packet_are_counted_against_the_page_limit(folder, payers):
    policy = load_registry(payers).get("demo-commercial")
    case = folder.load()
    evaluation, note, phone_log = (a.file for a in case.attachments)
    folder.record_pages(note, 2)
    folder.record_pages(phone_log, 40)      # withheld: never counted
    limits = channel_limits(folder, case, policy, [])
    assert (limits.max_pages, limits.max_mb, limits.channel) == (100, 25, "fax (+1-800-555-0199)")
    assert (limits.document_pages, limits.uncounted, limits.withheld) == (2, 1, 1)
    assert not limits.documents_over and not limits.problems and limits.build is None

    folder.record_pages(evaluation, 99)
    limits = channel_limits(folder, case, policy, [])
    assert (limits.document_pages, limits.uncounted) == (101, 0)
    assert limits.documents_over and limits.problems

    folder.remove_upload(evaluation)
    assert evaluation not in folder.page_counts() and folder.page_counts()[note] == 2


def test_the_newest_build_is_weighed_against_pages_and_megabytes(folder, payers):
    policy = load_registry(payers).get("demo-commercial")
    case = folder.load()
    old = _build(1, pages=485, size=229 * MB)
    new = _build(2, pages=90, size=24 * MB, minutes=5)
    assert channel_limits(folder, case, policy, [old, new]).build_findings == []
    limits = channel_limits(folder, case, policy, [new, _build(3, pages=485, size=229 * MB, minutes=9), old])
    assert limits.build.id == 3 and limits.build_mb == "229.0 MB" and limits.problems
    assert [f.code for f in limits.build_findings] == ["packet_too_many_pages", "packet_too_large"]
    no_limits = dataclasses.replace(policy, max_pages=None, max_file_mb=None)
    assert not channel_limits(folder, case, no_limits, [old]).any
    assert channel_limits(folder, case, no_limits, [old]).build_findings == []
    assert megabytes(5_000) == "0.005 MB" and megabytes(3 * MB) == "3.0 MB"


def test_a_build_is_out_of_date_once_the_case_its_documents_or_its_policy_change(folder, payers):
    policy = load_registry(payers).get("demo-commercial")
    case = folder.load()
    now = input_fingerprint(case, policy)
    unknown, older, newest = _build(1), _build(2, fingerprint=now), _build(3, fingerprint=now, minutes=5)
    currency = build_currency(_record(unknown, older, newest), case, policy)
    assert currency.out_of_date == {1} and currency.preselected == 3
    assert build_currency(_record(), case, policy).preselected is None

    # Units of a service line.
    doc = folder.read()
    doc["services"][2]["units"] = 4
    folder.write(doc)
    edited = folder.load()
    currency = build_currency(_record(unknown, older, newest), edited, policy)
    assert currency.out_of_date == {1, 2, 3} and currency.preselected is None
    rebuilt = _build(4, fingerprint=input_fingerprint(edited, policy), minutes=9)
    assert build_currency(_record(older, rebuilt), edited, policy).preselected == 4

    # A document's bytes.
    note = folder.root / edited.attachments[1].file
    note.write_bytes(note.read_bytes() + b"\n")
    assert build_currency(_record(rebuilt), folder.load(), policy).out_of_date == {4}

    # The payer's policy file.
    current = _build(5, fingerprint=input_fingerprint(folder.load(), policy))
    assert build_currency(_record(current), folder.load(), policy).preselected == 5
    policy_file = payers / "demo-commercial.yaml"
    policy_file.write_text(policy_file.read_text(encoding="utf-8").replace("follow_up_days: 10", "follow_up_days: 12"),
                           encoding="utf-8")
    changed = load_registry(payers).get("demo-commercial")
    assert build_currency(_record(current), folder.load(), changed).out_of_date == {5}


def test_the_remembered_fingerprint_is_the_pipelines_and_follows_each_change(folder, payers):
    policy = load_registry(payers).get("demo-commercial")
    first = current_fingerprint(folder.load(), policy)
    assert first == input_fingerprint(folder.load(), policy) == current_fingerprint(folder.load(), policy)

    # A document replaced by one of the same size, as the app writes files (a new file renamed over the old).
    note = folder.root / folder.load().attachments[1].file
    data = bytearray(note.read_bytes())
    data[-3] ^= 0x20
    replacement = note.with_name("replacement.tmp")
    replacement.write_bytes(bytes(data))
    os.replace(replacement, note)
    second = current_fingerprint(folder.load(), policy)
    assert second != first and second == input_fingerprint(folder.load(), policy)

    doc = folder.read()
    doc["services"][0]["units"] = 2
    folder.write(doc)
    third = current_fingerprint(folder.load(), policy)
    assert third not in (first, second) and third == input_fingerprint(folder.load(), policy)
