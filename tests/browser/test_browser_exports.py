"""Issue 19: staff download every channel-ready output of a build in a real browser: a part of a packet built
in parts (the demo payer's fax here takes 6 pages a file), its fax TIFF and the FHIR PAS Bundle; each download
is audited as ``packet.download`` with which output, and no patient value reaches the audit log."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import threading

import pypdfium2 as pdfium
import pytest
from fhir.resources.R4B.bundle import Bundle
from playwright.sync_api import expect
from PIL import Image
from sqlalchemy import select
from werkzeug.serving import make_server

from packetizer.casebook.outputs import build_outputs
from packetizer.registry import AuditEntry, Build

from .webapp_support import (
    MEMBER_ID, MEMBER_NAME, MEMBER_SSN, REPO, Clock, add_account, case_form, example_pdf, keep_screenshot,
    follow_job, make_app, page_token, sign_in, ssn_docx, sign_in_page,
)

MAX_PAGES = 6


@pytest.fixture(scope="module")
def live(tmp_path_factory, app_log):
    """A server whose demo payer takes at most 6 pages a file by fax, so the example case is built in parts."""
    root = tmp_path_factory.mktemp("exports")
    payers = root / "payers"
    shutil.copytree(REPO / "payers", payers)
    policy = payers / "demo-commercial.yaml"
    policy.write_text(policy.read_text().replace("limits: {max_pages: 100, max_file_mb: 25}",
                                                 f"limits: {{max_pages: {MAX_PAGES}, max_file_mb: 25}}"))
    clock = Clock()
    app = make_app(root / "app", clock, PAYERS=str(payers))
    add_account(app, "sam", "staff")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="exports-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app, clock, root
    server.shutdown()
    thread.join(timeout=10)
    app.extensions["packetizer"].registry.close()


def _case(app, root) -> int:
    """A case with two documents (one carrying the SSN), entered as staff do, through the app."""
    client = app.test_client()
    assert sign_in(client, "sam").status_code == 302
    token = page_token(client, "/cases/new")
    response = client.post("/cases/new", data={**case_form(), "csrf_token": token, "action": "save"})
    assert response.status_code == 302
    pk = int(response.headers["Location"].rsplit("/", 1)[-1])
    for path, kind, date in ((example_pdf(root), "clinical_note", "2026-09-18"),
                             (ssn_docx(root), "evaluation", "2026-09-14")):
        with open(path, "rb") as handle:
            answer = client.post(f"/cases/{pk}/documents", content_type="multipart/form-data",
                                 data={"csrf_token": token, "file": (handle, path.name), "kind": kind,
                                       "date": date, "title": ""})
        assert answer.status_code == 302
    return pk


def _download(page, selector: str, tmp_path) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.click(selector)
    download = info.value
    target = tmp_path / download.suggested_filename
    download.save_as(str(target))
    return download.suggested_filename, target.read_bytes()


def _no_patient_values(data: bytes) -> None:
    for value in (MEMBER_SSN, MEMBER_SSN.replace("-", "")):
        assert value.encode() not in data


def test_staff_download_a_part_its_fax_tiff_and_the_fhir_bundle_and_each_is_audited(live, page, tmp_path):
    base, app, _, root = live
    pk = _case(app, root)
    sign_in_page(page, base)
    page.goto(f"{base}/cases/{pk}")
    page.click("#build-button")
    expect(page.locator("#job-done")).to_be_visible(timeout=90_000)
    expect(page.locator("#job-done")).to_contain_text("parts within the payer's limits; send every part")

    # The finished build's page offers every part; it says they must all be sent.
    outputs = page.locator(".build-outputs")
    expect(outputs.locator(".parts-note")).to_contain_text("send every part")
    parts = outputs.locator(".build-parts a.download-output")
    count = parts.count()
    assert count >= 2
    keys = [parts.nth(i).get_attribute("data-output") for i in range(count)]
    assert keys == [f"part{n}of{count}" for n in range(1, count + 1)]

    name, part = _download(page, f'.build-outputs a[data-output="part2of{count}"]', tmp_path)
    assert name.endswith(f"_part2of{count}.pdf")
    document = pdfium.PdfDocument(part)
    assert 1 <= len(document) <= MAX_PAGES
    cover = document[0].get_textpage().get_text_range()
    assert f"Part 2 of {count}" in cover and MEMBER_ID in cover
    _no_patient_values(part)

    # The case page lists the same outputs in the build's row; the TIFF of part 2 and the Bundle from there.
    page.goto(f"{base}/cases/{pk}")
    row = page.locator("#build-list .build-row").first
    expect(row.locator('a[data-output="pas"]')).to_have_text("FHIR PAS Bundle")
    keep_screenshot(page, "case-outputs.png")
    name, tiff = _download(page, f'#build-list a[data-output="fax-tiff-part2of{count}"]', tmp_path)
    assert name == f"{name.removesuffix('.tif')}.tif" and name.endswith(f"_part2of{count}.tif")
    with Image.open(io.BytesIO(tiff)) as image:
        assert image.n_frames == len(document)
        assert image.size[0] == 1728 and image.info["compression"] == "group4"
        assert tuple(round(v) for v in image.info["dpi"]) == (204, 196)

    name, body = _download(page, '#build-list a[data-output="pas"]', tmp_path)
    assert name.endswith(".pas.json") and "_part" not in name
    bundle = json.loads(body)
    Bundle.model_validate(bundle)
    docs = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference"]
    assert len(docs) == count
    carried = base64.b64decode(docs[1]["content"][0]["attachment"]["data"])
    assert carried == part
    assert base64.b64decode(docs[1]["content"][0]["attachment"]["hash"]) == hashlib.sha1(part).digest()
    _no_patient_values(body)

    # A second download of the TIFF sends the same bytes (it was kept, not made again).
    assert _download(page, f'#build-list a[data-output="fax-tiff-part2of{count}"]', tmp_path)[1] == tiff

    with app.extensions["packetizer"].registry.session() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action == "packet.download")
                               .order_by(AuditEntry.seq)).all()
    details = [json.loads(r.detail) for r in rows]
    assert [d["file"] for d in details] == [f"part2of{count}", f"fax-tiff-part2of{count}", "pas",
                                             f"fax-tiff-part2of{count}"]
    assert all(r.actor == "sam" and r.object_type == "build" for r in rows)
    logged = json.dumps(details)
    for value in (MEMBER_SSN, MEMBER_ID, *MEMBER_NAME, "1971-04-09"):
        assert value not in logged


def test_only_a_builds_own_outputs_are_served(live, tmp_path):
    _, app, _, root = live
    with app.extensions["packetizer"].registry.session() as session:
        build = session.scalars(select(Build).order_by(Build.id)).first()
        assert build is not None, "the first test built the case"
        pk, build_id = build.case_pk, build.id
    client = app.test_client()
    assert sign_in(client, "sam").status_code == 302
    url = f"/cases/{pk}/builds/{build_id}/outputs"
    assert client.get(f"{url}/part1of1").status_code == 404
    assert client.get(f"{url}/..%2F..%2Fcase.yaml").status_code == 404
    assert client.get(f"{url}/fax-tiff").status_code == 404        # a build in parts has a TIFF per part
    assert client.get(f"/cases/{pk}/builds/{build_id + 1}/outputs/pas").status_code == 404


def test_a_bundle_is_not_made_for_a_build_the_case_has_moved_on_from(live, tmp_path):
    """The Bundle is made from the case as it is now: for an out-of-date build it is refused, in plain words."""
    _, app, _, root = live
    client = app.test_client()
    assert sign_in(client, "sam").status_code == 302
    token = page_token(client, "/cases/new")
    response = client.post("/cases/new", data={**case_form("RA-WEB-0002"), "csrf_token": token, "action": "save"})
    pk = int(response.headers["Location"].rsplit("/", 1)[-1])
    with open(example_pdf(tmp_path), "rb") as handle:
        client.post(f"/cases/{pk}/documents", content_type="multipart/form-data",
                    data={"csrf_token": token, "file": (handle, "note.pdf"), "kind": "clinical_note",
                          "date": "2026-09-18", "title": ""})
    follow_job(client, client.post(f"/cases/{pk}/build", data={"csrf_token": token}))
    services = app.extensions["packetizer"]
    with services.registry.session() as session:
        build = session.scalars(select(Build).where(Build.case_pk == pk)).one()
        build_id = build.id
        (tiff_key,) = [o.key for o in build_outputs(services.builds_dir, build) if o.kind == "fax-tiff"][:1]
    edited = client.post(f"/cases/{pk}/edit", data={**case_form("RA-WEB-0002", **{"services[1].units": "4"}),
                                                    "csrf_token": token, "action": "save"})
    assert edited.status_code == 302

    refused = client.get(f"/cases/{pk}/builds/{build_id}/outputs/pas")
    assert refused.status_code == 302 and refused.headers["Location"].endswith(f"/cases/{pk}#builds")
    page = client.get(f"/cases/{pk}").get_data(as_text=True)
    assert "FHIR PAS Bundle: the case has changed since this packet was built" in page
    # The TIFF is made from the packet alone, so it is still offered.
    tiff = client.get(f"/cases/{pk}/builds/{build_id}/outputs/{tiff_key}")
    assert tiff.status_code == 200 and tiff.mimetype == "image/tiff"
    with app.extensions["packetizer"].registry.session() as session:
        files = [json.loads(r.detail)["file"] for r in session.scalars(
            select(AuditEntry).where(AuditEntry.action == "packet.download", AuditEntry.object_id == str(build_id)))]
    assert files == [tiff_key]
