"""The packet as an HL7 Da Vinci PAS request Bundle (FHIR R4), shaped like the PAS IG's examples.

One ``collection`` Bundle: the Claim (``use = preauthorization``, one item per service line), the
Patient, the Coverage, the payer Organization, the rendering and referring providers, and one
DocumentReference per packet file (the packet, or each of its parts) carrying the PDF as base64
``data`` with its SHA-1 ``hash`` (base64 of the raw digest, as FHIR's Attachment requires),
linked from ``Claim.supportingInfo``; the late reason is a ``supportingInfo`` free-text entry.

Minimum necessary: a field reaches the Bundle only when the disclosure plan includes it
(``plan.included_fields``), and free text comes from ``plan.printed_case`` (withheld values staff
typed into it already replaced). The case's withheld fields (SSN, address, phone, MRN…) are never read.

The Bundle is checked against the FHIR R4B models of ``fhir.resources`` (structure, cardinality,
data types). No PAS profile validator runs here: profile constraints, terminology bindings and
must-support rules are not checked.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from typing import Sequence

from ..errors import ErrorCode, PacketizerError

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
BASE = "urn:uuid:"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
PAS_SUPPORTING_INFO = "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes"
#: PAS carries CPT codes under the HCPCS system URI too (see its MedicalServicesAuthorization example).
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
NPI = "http://hl7.org/fhir/sid/us-npi"
US_CORE_DOC_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
POS = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
MEMBER_ID_TYPE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MB"}]}


def _uid(case_id: str, kind: str, number: int = 0) -> str:
    """A stable urn:uuid for one resource of this case's Bundle (no PHI goes into it)."""
    digest = hashlib.sha256(f"packetizer|{case_id}|{kind}|{number}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"


def _has(included: set[str], path: str) -> bool:
    return path in included or path.split(".")[0] in included


def pas_bundle(plan, policy, *, files: Sequence[tuple[str, bytes]], created: dt.datetime) -> dict:
    """The PAS request Bundle for a built packet.

    Args:
        plan: the build's :class:`~packetizer.disclosure.plan.DisclosurePlan` (what the packet discloses).
        policy: the payer policy (the insurer).
        files: (file name, PDF bytes) of every packet file, in order (one, or each part).
        created: the Bundle's timestamp (UTC).
    """
    case = plan.printed_case
    inc = set(plan.included_fields)
    ids = {k: _uid(case.case_id, k) for k in ("claim", "patient", "coverage", "insurer", "rendering", "referring")}
    when = created.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    patient: dict = {"resourceType": "Patient", "id": ids["patient"],
                     "meta": {"profile": [PAS + "profile-subscriber"]}}
    if _has(inc, "member.member_id"):
        patient["identifier"] = [{"type": MEMBER_ID_TYPE, "value": case.member.member_id}]
    name = {}
    if _has(inc, "member.last_name"):
        name["family"] = case.member.last_name
    if _has(inc, "member.first_name"):
        name["given"] = [case.member.first_name]
    if name:
        patient["name"] = [name]
    if _has(inc, "member.dob"):
        patient["birthDate"] = case.member.dob.isoformat()

    insurer = {"resourceType": "Organization", "id": ids["insurer"], "meta": {"profile": [PAS + "profile-insurer"]},
               "active": True, "name": policy.name,
               "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type",
                                     "code": "ins"}]}]}
    coverage: dict = {"resourceType": "Coverage", "id": ids["coverage"],
                      "meta": {"profile": [PAS + "profile-coverage"]},
                      "status": "active", "beneficiary": {"reference": BASE + ids["patient"]},
                      "payor": [{"reference": BASE + ids["insurer"]}]}
    if _has(inc, "member.member_id"):
        coverage["subscriberId"] = case.member.member_id
        coverage["identifier"] = [{"type": MEMBER_ID_TYPE, "value": case.member.member_id}]

    def practitioner(key: str, provider) -> dict:
        resource: dict = {"resourceType": "Practitioner", "id": ids[key],
                          "meta": {"profile": [PAS + "profile-practitioner"]}, "name": [{"text": provider.name}]}
        if provider.npi:
            resource["identifier"] = [{"system": NPI, "value": provider.npi}]
        return resource

    resources: list[dict] = [patient, coverage, insurer]
    claim: dict = {
        "resourceType": "Claim", "id": ids["claim"], "meta": {"profile": [PAS + "profile-claim"]},
        "identifier": [{"system": "urn:packetizer:case", "value": case.case_id}],
        "status": "active",
        "type": {"coding": [{"system": CLAIM_TYPE, "code": "professional"}]},
        "use": "preauthorization",
        "patient": {"reference": BASE + ids["patient"]},
        "created": when,
        "insurer": {"reference": BASE + ids["insurer"]},
        "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority",
                                 "code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": BASE + ids["coverage"]}}],
    }
    if _has(inc, "rendering_provider"):
        resources.append(practitioner("rendering", case.rendering_provider))
        claim["provider"] = {"reference": BASE + ids["rendering"]}
        claim["careTeam"] = [{"sequence": 1, "provider": {"reference": BASE + ids["rendering"]},
                              "role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claimcareteamrole",
                                                   "code": "primary"}]}}]
    else:   # Claim.provider is required: the practice as it names itself on the cover
        claim["provider"] = {"display": case.contact.name}
    if case.referring_provider is not None and _has(inc, "referring_provider"):
        resources.append(practitioner("referring", case.referring_provider))
        claim["referral"] = {"reference": BASE + ids["referring"]}
    diagnoses: list[str] = []
    if _has(inc, "services"):
        for s in case.services:
            for code in s.diagnosis_codes:
                if code not in diagnoses:
                    diagnoses.append(code)
        if diagnoses:
            claim["diagnosis"] = [{"sequence": n, "diagnosisCodeableConcept": {"coding": [{"system": ICD10CM,
                                                                                           "code": code}]}}
                                  for n, code in enumerate(diagnoses, start=1)]
        claim["item"] = []
        for number, s in enumerate(case.services, start=1):
            item: dict = {"sequence": number,
                          # X12 service type 1 (medical care), as the PAS examples give it.
                          "category": {"coding": [{"system": "https://codesystem.x12.org/005010/1365", "code": "1"}]},
                          "productOrService": {"coding": [{"system": HCPCS, "code": s.code}]},
                          "quantity": {"value": s.units}}
            if s.description:
                item["productOrService"]["text"] = s.description
            if s.modifiers:
                item["modifier"] = [{"coding": [{"system": HCPCS, "code": m}]} for m in s.modifiers]
            if s.is_span:
                item["servicedPeriod"] = {"start": s.start.isoformat(), "end": s.end.isoformat()}
            else:
                item["servicedDate"] = s.start.isoformat()
            if s.place_of_service:
                item["locationCodeableConcept"] = {"coding": [{"system": POS, "code": s.place_of_service}]}
            pointers = [diagnoses.index(c) + 1 for c in s.diagnosis_codes]
            if pointers:
                item["diagnosisSequence"] = pointers
            if "careTeam" in claim:
                item["careTeamSequence"] = [1]
            claim["item"].append(item)
    if not claim.get("item"):
        raise PacketizerError("the packet discloses no service lines, so there is nothing to ask the payer for",
                              code=ErrorCode.DISCLOSURE)

    supporting: list[dict] = []
    if _has(inc, "late_reason"):
        late = case.late_reason
        text = f"Prior authorization was not obtained in advance because {late.in_words}. " \
               + " ".join(late.explanation.split())
        supporting.append({"sequence": 1, "category": {"coding": [{"system": PAS_SUPPORTING_INFO,
                                                                   "code": "freeFormMessage"}]},
                           "valueString": text})
    for number, (file_name, pdf) in enumerate(files, start=1):
        doc_id = _uid(case.case_id, "document", number)
        resources.append({
            "resourceType": "DocumentReference", "id": doc_id,
            "meta": {"profile": [PAS + "profile-documentreference"]}, "status": "current",
            "type": {"coding": [{"system": "http://loinc.org", "code": "34109-9", "display": "Note"}],
                     "text": "Retroactive authorization request packet"},
            "category": [{"coding": [{"system": US_CORE_DOC_CATEGORY, "code": "clinical-note"}]}],
            "subject": {"reference": BASE + ids["patient"]},
            "date": when,
            "description": f"Packet file {number} of {len(files)}: {file_name}",
            "content": [{"attachment": {
                "contentType": "application/pdf",
                "data": base64.b64encode(pdf).decode("ascii"),
                "hash": base64.b64encode(hashlib.sha1(pdf).digest()).decode("ascii"),
                "size": len(pdf),
                "title": file_name,
                "creation": when,
            }}],
        })
        supporting.append({"sequence": len(supporting) + 1,
                           "category": {"coding": [{"system": PAS_SUPPORTING_INFO,
                                                    "code": "additionalInformation"}]},
                           "valueReference": {"reference": BASE + doc_id}})
    claim["supportingInfo"] = supporting

    entries = [claim] + resources
    bundle = {
        "resourceType": "Bundle", "id": _uid(case.case_id, "bundle"),
        "meta": {"profile": [PAS + "profile-pas-request-bundle"]},
        "identifier": {"system": "urn:packetizer:case", "value": case.case_id},
        "type": "collection", "timestamp": when,
        "entry": [{"fullUrl": BASE + r["id"], "resource": r} for r in entries],
    }
    validate_bundle(bundle)
    return bundle


def validate_bundle(bundle: dict) -> None:
    """Check ``bundle`` against the FHIR R4B models of ``fhir.resources``; a failure is a bug here, said plainly.

    Raises:
        PacketizerError: the Bundle does not validate.
    """
    from fhir.resources.R4B.bundle import Bundle

    try:
        Bundle.model_validate(bundle)
    except Exception as exc:   # pydantic's ValidationError; its text may quote values, so it is not shown
        raise PacketizerError(f"the FHIR Bundle did not validate ({type(exc).__name__}); it was not written",
                              code=ErrorCode.ASSEMBLY) from None


def bundle_bytes(bundle: dict) -> bytes:
    return (json.dumps(bundle, indent=2, ensure_ascii=False) + "\n").encode()


__all__ = ["bundle_bytes", "pas_bundle", "validate_bundle"]
