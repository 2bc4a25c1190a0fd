"""This test ensures the case page weighs the packet against the payer channel's page and size limits, before a
build (the pages counted at upload) and after it, and marks builds of an older version of the case out of date."""

from __future__ import annotations

import html
import re
import shutil
import time

import pytest
from sqlalchemy import select

from packetizer.casebook.folders import CaseFolder
from packetizer.registry import Build, CaseRecord, Submission

from browser.webapp_support import (
    REPO, add_account, case_form, example_pdf, make_app, page_token, remove_document, sign_in, ssn_docx,
)


def _create(client, token, **changes) -> int:
    response = client.post("/cases/new", data={**case_form(**changes), "csrf_token": token, "action": "save"})
    assert response.status_code == 302, response.data.decode()[-2000:]
    return int(response.headers["Location"].rsplit("/", 1)[-1])


def _upload(client, token, pk, path, kind, date):
    with open(path, "rb") as handle:
        response = client.post(f"/cases/{pk}/documents", content_type="multipart/form-data",
                               data={"csrf_token": token, "file": (handle, path.name), "kind": kind, "date": date,
                                     "title": ""})
    assert response.status_code == 302
    return response


def _build(app, client, token, pk) -> Build:
    """Build the packet from the case page and wait until it is recorded (a build may run as a job)."""
    before = len(_builds(app, pk))
    response = client.post(f"/cases/{pk}/build", data={"csrf_token": token})
    assert response.status_code == 302
    give_up = time.monotonic() + 120
    while len(_builds(app, pk)) == before:
        assert time.monotonic() < give_up, "the build was never recorded"
        client.get(response.headers["Location"])  # as the page the build answered with would refresh
        time.sleep(0.1)
    return _builds(app, pk)[-1]


def _section(page: str, section_id: str) -> str:
    return re.search(rf'<section[^>]*id="{section_id}">(.*?)</section>', page, re.S)[1]


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _submission_select(page: str) -> str:
    return re.search(r'<select id="build_id" name="build_id"[^>]*>(.*?)</select>', page, re.S)[1]


def _options(select_html: str) -> list[tuple[str, bool, str]]:
    """(value, selected, label) of each option."""
    found = re.findall(r'<option (selected )?value="([^"]*)">(.*?)</option>', select_html)
    return [(value, bool(selected), html.unescape(label)) for selected, value, label in found]


def _builds(app, pk) -> list[Build]:
    with app.extensions["packetizer"].registry.session() as session:
        return session.scalars(select(Build).where(Build.case_pk == pk).order_by(Build.id)).all()


def _folder(app, pk) -> CaseFolder:
    services = app.extensions["packetizer"]
    with services.registry.session() as session:
        return CaseFolder.at(services.cases_dir, session.get(CaseRecord, pk).folder)


@pytest.fixture
def token(staff):
    return page_token(staff, "/cases/new")


@pytest.fixture
def tight_app(request, tmp_path, clock):
    """The app with the shipped payers, but demo-commercial's fax takes at most 2 pages of 0.01 MB
    (or the limits given as the test's ``tight_limits`` parameter)."""
    limits = getattr(request, "param", "{max_pages: 2, max_file_mb: 0.01}")
    payers = tmp_path / "payers"
    shutil.copytree(REPO / "payers", payers)
    policy = payers / "demo-commercial.yaml"
    text = policy.read_text(encoding="utf-8")
    assert "limits: {max_pages: 100, max_file_mb: 25}" in text
    policy.write_text(text.replace("limits: {max_pages: 100, max_file_mb: 25}", f"limits: {limits}"),
                      encoding="utf-8")
    application = make_app(tmp_path / "app", clock, PAYERS=str(payers))
    add_account(application, "sam", "staff")
    yield application
    application.extensions["packetizer"].registry.close()


@pytest.fixture
def tight_staff(tight_app):
    client = tight_app.test_client()
    assert sign_in(client, "sam").status_code == 302
    return client


def test_limits_are_shown_before_a_build_with_the_pages_counted_on_upload(app, staff, token, tmp_path):
    pk = _create(staff, token)
    limits = _text(_section(staff.get(f"/cases/{pk}").data.decode(), "channel-limits"))
    assert "accepts by fax (+1-800-555-0199) at most 100 pages and 25 MB per packet" in limits
    assert "Documents so far: 0 pages of 100" in limits

    _upload(staff, token, pk, example_pdf(tmp_path), "clinical_note", "2026-09-18")   # 2 pages
    _upload(staff, token, pk, ssn_docx(tmp_path), "evaluation", "2026-09-14")
    counts = _folder(app, pk).page_counts()
    assert len(counts) == 2 and sorted(counts.values())[-1] == 2
    total = sum(counts.values())
    page = staff.get(f"/cases/{pk}").data.decode()
    limits = _text(_section(page, "channel-limits"))
    assert f"Documents so far: {total} pages of 100 (counted on upload)" in limits
    assert 'id="documents-over-limit"' not in page and "Over the limit" not in limits
    assert re.findall(r'<td class="document-pages">(\d+)</td>', page) == [str(v) for v in counts.values()]
    assert "No problems found." in page
    # The case file the command line reads is unchanged: the counts sit beside the uploads.
    assert "pages" not in _folder(app, pk).read()["attachments"][0]

    # A document with no count recorded (a batch's, say) is told apart, not taken for 0 pages.
    folder = _folder(app, pk)
    docx = [rel for rel, n in counts.items() if n != 2][0]
    folder.record_pages(docx, None)
    limits = _text(_section(staff.get(f"/cases/{pk}").data.decode(), "channel-limits"))
    assert "Documents so far: 2 pages of 100 (counted on upload; 1 document not counted (added by a batch, or " \
           "before pages were counted))" in limits
    folder.record_pages(docx, counts[docx])

    # A removed document leaves the count.
    remove_document(staff, token, pk, 0)
    assert len(_folder(app, pk).page_counts()) == 1
    limits = _text(_section(staff.get(f"/cases/{pk}").data.decode(), "channel-limits"))
    assert f"Documents so far: {total - 2} page" in limits


def test_documents_over_the_page_limit_are_warned_before_the_build(tight_staff, tmp_path):
    token = page_token(tight_staff, "/cases/new")
    pk = _create(tight_staff, token)
    _upload(tight_staff, token, pk, example_pdf(tmp_path), "clinical_note", "2026-09-18")   # 2 pages: at the limit
    page = tight_staff.get(f"/cases/{pk}").data.decode()
    assert 'id="documents-over-limit"' not in page
    _upload(tight_staff, token, pk, ssn_docx(tmp_path), "evaluation", "2026-09-14")
    page = tight_staff.get(f"/cases/{pk}").data.decode()
    assert 'class="limit-box over"' in page
    warning = _text(re.search(r'<p class="limit-warning" id="documents-over-limit">(.*?)</p>', page, re.S)[1])
    assert re.fullmatch(r"Over the limit: the documents alone have \d+ pages, more than the 2 pages Demo Commercial "
                        r"Health Plan accepts by fax \(\+1-800-555-0199\)\. Ask the payer how to send a larger "
                        r"submission, or split it\.", warning)
    assert "No problems found." not in page


def test_a_packet_over_the_limits_is_shown_prominently_after_the_build(tight_app, tight_staff, tmp_path):
    token = page_token(tight_staff, "/cases/new")
    pk = _create(tight_staff, token)
    _upload(tight_staff, token, pk, example_pdf(tmp_path), "clinical_note", "2026-09-18")
    _build(tight_app, tight_staff, token, pk)
    build = _builds(tight_app, pk)[0]
    assert build.pages > 2 and build.size > 0.01 * 1024 * 1024
    page = tight_staff.get(f"/cases/{pk}").data.decode()
    shown = _text(_section(page, "channel-limits"))
    assert f"Latest packet ({build.created_at:%Y-%m-%d %H:%M} UTC): {build.pages} pages of 2, " \
           f"{build.size / 1048576:.3f} MB of 0.01 MB." in shown
    alert = re.search(r'<div class="limit-warning" id="build-over-limit" role="alert">(.*?)</div>', page, re.S)[1]
    assert "packet_too_many_pages" in alert and "packet_too_large" in alert
    assert f"The packet has {build.pages} pages, more than the 2 pages" in _text(alert)
    assert "No problems found." not in page


@pytest.mark.parametrize("tight_app", ["{max_pages: 2, max_file_mb: 25}"], indirect=True)
def test_a_packet_over_the_page_limit_with_no_check_findings_never_says_no_problems(tight_app, tight_staff, tmp_path):
    token = page_token(tight_staff, "/cases/new")
    pk = _create(tight_staff, token)
    _upload(tight_staff, token, pk, example_pdf(tmp_path), "clinical_note", "2026-09-18")   # 2 pages: at the limit
    page = tight_staff.get(f"/cases/{pk}").data.decode()
    assert "No problems found." in page and 'class="limit-box"' in page
    _build(tight_app, tight_staff, token, pk)
    page = tight_staff.get(f"/cases/{pk}").data.decode()
    findings = _text(_section(page, "findings"))
    assert "No problems found." not in page
    assert findings == "Check findings No check findings, but the packet is over the channel's limits (see above)."
    alert = re.search(r'id="build-over-limit" role="alert">(.*?)</div>', page, re.S)[1]
    assert 'data-code="packet_too_many_pages"' in alert and "packet_too_large" not in alert


def test_a_packet_within_the_limits_says_so_after_the_build(app, staff, token, tmp_path):
    pk = _create(staff, token)
    _upload(staff, token, pk, example_pdf(tmp_path), "clinical_note", "2026-09-18")
    _build(app, staff, token, pk)
    build = _builds(app, pk)[0]
    page = staff.get(f"/cases/{pk}").data.decode()
    assert f"{build.pages} pages of 100" in _text(_section(page, "channel-limits"))
    assert 'id="build-over-limit"' not in page and "No problems found." in page


def test_an_edit_puts_the_build_out_of_date_and_it_is_no_longer_preselected(app, staff, token, tmp_path):
    pk = _create(staff, token)
    _upload(staff, token, pk, example_pdf(tmp_path), "clinical_note", "2026-09-18")
    _build(app, staff, token, pk)
    (build,) = _builds(app, pk)
    page = staff.get(f"/cases/{pk}").data.decode()
    assert "out of date" not in _section(page, "builds")
    options = _options(_submission_select(page))
    assert options[0] == ("", False, "— choose the packet sent —")
    assert options[1][:2] == (str(build.id), True) and "OUT OF DATE" not in options[1][2]

    # Units of the second service line: 3 -> 4.
    response = staff.post(f"/cases/{pk}/edit", data={**case_form(**{"services[1].units": "4"}), "csrf_token": token,
                                                      "action": "save"})
    assert response.status_code == 302
    page = staff.get(f"/cases/{pk}").data.decode()
    row = re.search(rf'<tr class="build-row stale" data-build-id="{build.id}">(.*?)</tr>', page, re.S)[1]
    assert "out of date" in row
    assert "The case, its documents or the payer's policy changed since this packet was built" in _text(row)
    options = _options(_submission_select(page))
    assert [selected for _, selected, _ in options] == [True, False]  # no packet preselected: the empty choice is
    assert options[1][0] == str(build.id) and options[1][2].endswith("— OUT OF DATE")

    # Chosen deliberately, the out-of-date packet can still be recorded as sent.
    response = staff.post(f"/tracking/cases/{pk}/submissions", data={
        "csrf_token": token, "submitted_on": "2026-09-25", "channel": "fax", "reference": "", "build_id": ""})
    assert response.status_code == 302
    assert "Packet sent: choose the packet that was sent" in staff.get(f"/cases/{pk}").data.decode()
    response = staff.post(f"/tracking/cases/{pk}/submissions", data={
        "csrf_token": token, "submitted_on": "2026-09-25", "channel": "fax", "reference": "",
        "build_id": str(build.id)})
    assert response.status_code == 302
    with app.extensions["packetizer"].registry.session() as session:
        assert session.scalars(select(Submission.build_id).where(Submission.case_pk == pk)).all() == [build.id]


def test_a_new_document_puts_every_build_out_of_date_and_the_newest_current_one_is_preselected(app, staff, token,
                                                                                            tmp_path):
    pk = _create(staff, token)
    _upload(staff, token, pk, example_pdf(tmp_path), "clinical_note", "2026-09-18")
    _build(app, staff, token, pk)
    staff.post(f"/cases/{pk}/edit", data={**case_form(**{"services[1].units": "4"}), "csrf_token": token,
                                          "action": "save"})
    _build(app, staff, token, pk)
    old, new = _builds(app, pk)
    page = staff.get(f"/cases/{pk}").data.decode()
    assert f'<tr class="build-row stale" data-build-id="{old.id}">' in page
    assert f'<tr class="build-row" data-build-id="{new.id}">' in page
    options = _options(_submission_select(page))
    assert [(value, selected) for value, selected, _ in options] == [("", False), (str(new.id), True),
                                                                     (str(old.id), False)]
    assert options[2][2].endswith("— OUT OF DATE") and "OUT OF DATE" not in options[1][2]

    _upload(staff, token, pk, ssn_docx(tmp_path), "evaluation", "2026-09-14")
    page = staff.get(f"/cases/{pk}").data.decode()
    for build in (old, new):
        assert f'<tr class="build-row stale" data-build-id="{build.id}">' in page
    options = _options(_submission_select(page))
    assert [selected for _, selected, _ in options] == [True, False, False]
    assert all(label.endswith("— OUT OF DATE") for _, _, label in options[1:])
