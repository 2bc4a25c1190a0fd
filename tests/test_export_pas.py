"""Issue 19: ``packetizer export CASE --format pas``, a Da Vinci PAS request Bundle (SPEC sections 7 and 11).

The example case is exported once for the module; the Bundle is validated with the FHIR R4B models of
``fhir.resources``, its packet bytes decoded and hashed, and its shape compared with the PAS IG's
MedicalServicesAuthorization example (tests/fixtures/fhir-pas, CC0-1.0; see SOURCE.md there).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from packetizer.caseio import load_case
from packetizer.disclosure import plan_disclosure
from packetizer.exports.pas import pas_bundle
from packetizer.policy import load_payer
from tests.support.channel_cases import EXAMPLE, NAME, REPO, WITHHELD, export

PAS_EXAMPLE = Path(__file__).parent / "fixtures" / "fhir-pas" / "Bundle-MedicalServicesAuthorizationBundleExample.json"


def _export(case, out, *extra):
    return export("pas", case, out, *extra)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("pas")
    result = _export(EXAMPLE / "case.yaml", out)
    assert result.exit_code == 0, result.output
    path = out / f"{NAME}.pas.json"
    assert result.output.strip().splitlines()[-1] == str(path)
    return json.loads(path.read_text()), path.read_text(), out


def _resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_the_bundle_validates_as_fhir_r4b_and_is_a_preauthorization_claim(exported):
    bundle, _, _ = exported
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "collection"
    (claim,) = _resources(bundle, "Claim")
    assert claim["use"] == "preauthorization"
    assert bundle["entry"][0]["resource"] == claim
    assert [i["productOrService"]["coding"][0]["code"] for i in claim["item"]] == ["97162", "97110", "97110", "97140"]
    assert [i["quantity"]["value"] for i in claim["item"]] == [1, 2, 3, 1]
    assert claim["item"][0]["servicedDate"] == "2026-09-14"
    # Every reference resolves to an entry of the Bundle.
    urls = {e["fullUrl"] for e in bundle["entry"]}
    text = json.dumps(claim)
    for ref in [claim["patient"], claim["insurer"], claim["provider"], claim["referral"],
                claim["insurance"][0]["coverage"]]:
        assert ref["reference"] in urls
    assert "Lake Street Physical Therapy" in json.dumps(_resources(bundle, "Practitioner"))
    assert "1003000126" in json.dumps(_resources(bundle, "Practitioner"))     # the referring provider's NPI
    assert "M54.16" in text


def test_the_document_reference_holds_the_packet_bytes_with_their_sha1(exported):
    bundle, _, out = exported
    (claim,) = _resources(bundle, "Claim")
    (doc,) = _resources(bundle, "DocumentReference")
    attachment = doc["content"][0]["attachment"]
    assert attachment["contentType"] == "application/pdf"
    data = base64.b64decode(attachment["data"], validate=True)
    assert data == (out / f"{NAME}.pdf").read_bytes()
    assert base64.b64decode(attachment["hash"]) == hashlib.sha1(data).digest()
    linked = [s["valueReference"]["reference"] for s in claim["supportingInfo"] if "valueReference" in s]
    assert linked == [f"urn:uuid:{doc['id']}"]


def test_the_late_reason_is_a_free_text_supporting_info_entry(exported):
    bundle, _, _ = exported
    (claim,) = _resources(bundle, "Claim")
    texts = [s for s in claim["supportingInfo"] if "valueString" in s]
    assert len(texts) == 1
    assert texts[0]["category"]["coding"][0]["code"] == "freeFormMessage"
    assert "portal" in texts[0]["valueString"].lower()


def test_no_withheld_value_is_anywhere_in_the_bundle(exported):
    bundle, text, _ = exported
    for value in WITHHELD:
        assert value not in text
    (doc,) = _resources(bundle, "DocumentReference")
    packet = base64.b64decode(doc["content"][0]["attachment"]["data"])
    for value in WITHHELD:
        assert value.encode() not in packet
    assert "address" not in _resources(bundle, "Patient")[0] and "telecom" not in _resources(bundle, "Patient")[0]


def test_only_fields_the_packet_discloses_reach_the_bundle():
    case = load_case(EXAMPLE / "case.yaml")
    policy = load_payer(case.payer_id)
    plan = plan_disclosure(case, policy)
    narrower = dataclasses.replace(plan, included_fields=tuple(
        f for f in plan.included_fields if f not in ("member.dob", "referring_provider")))
    bundle = pas_bundle(narrower, policy, files=[("p.pdf", b"%PDF-1.7\n")],
                        created=dt.datetime(2026, 10, 6, tzinfo=dt.timezone.utc))
    text = json.dumps(bundle)
    assert "birthDate" not in text and "1971-04-09" not in text
    assert "1003000126" not in text and "referral" not in _resources(bundle, "Claim")[0]
    full = json.dumps(pas_bundle(plan, policy, files=[("p.pdf", b"%PDF-1.7\n")],
                                 created=dt.datetime(2026, 10, 6, tzinfo=dt.timezone.utc)))
    assert "1971-04-09" in full and "1003000126" in full


def test_the_bundle_has_the_shape_of_the_pas_example(exported):
    bundle, _, _ = exported
    example = json.loads(PAS_EXAMPLE.read_text())
    Bundle.model_validate(example)
    assert bundle["type"] == example["type"] and bundle["meta"]["profile"] == example["meta"]["profile"]
    assert bundle["entry"][0]["resource"]["resourceType"] == example["entry"][0]["resource"]["resourceType"] == "Claim"
    ours = {e["resource"]["resourceType"] for e in bundle["entry"]}
    theirs = {e["resource"]["resourceType"] for e in example["entry"]}
    assert theirs <= ours
    our_claim, their_claim = bundle["entry"][0]["resource"], example["entry"][0]["resource"]
    for key in ("status", "type", "use", "priority"):
        assert our_claim[key] == their_claim[key], key
    their_item, our_item = their_claim["item"][0], our_claim["item"][0]
    assert our_item["category"]["coding"][0]["system"] == their_item["category"]["coding"][0]["system"]
    assert our_item["productOrService"]["coding"][0]["system"] == their_item["productOrService"]["coding"][0]["system"]
    # Every element the example's Claim has, ours has too, but its generated narrative.
    assert set(their_claim) - set(our_claim) <= {"text"}


def test_a_packet_in_parts_carries_every_part(tmp_path):
    payers = tmp_path / "payers"
    shutil.copytree(REPO / "payers", payers)
    policy = payers / "demo-commercial.yaml"
    policy.write_text(policy.read_text().replace("limits: {max_pages: 100, max_file_mb: 25}",
                                                 "limits: {max_pages: 6, max_file_mb: 25}"))
    result = _export(EXAMPLE / "case.yaml", tmp_path / "out", "--payers", str(payers))
    assert result.exit_code == 0, result.output
    bundle = json.loads((tmp_path / "out" / f"{NAME}.pas.json").read_text())
    parts = sorted((tmp_path / "out").glob(f"{NAME}_part*of*.pdf"))
    docs = _resources(bundle, "DocumentReference")
    assert len(parts) >= 2 and len(docs) == len(parts)
    for part, doc in zip(parts, docs):
        assert base64.b64decode(doc["content"][0]["attachment"]["data"]) == part.read_bytes()
        assert doc["content"][0]["attachment"]["title"] == part.name
