"""The disclosure plan: what of a case may go to its payer, decided before anything is rendered."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping

from ..checks.rules import channel_words
from ..model import ATTACHMENT_KIND_WORDS, LATE_REASON_WORDS, Attachment, Case, PayerPolicy
from ..resources import templates_dir
from ..sections import PLACE_OF_SERVICE, SECTION_TITLES
from .attachments import WithheldAttachment, sort_attachments
from .casetext import redact_case_text
from .fields import APPEAL_FIELDS, DEFAULT_ALLOWLIST, decide_fields
from .identifiers import Needle, build_needle, classify, keep_key, keep_keys
from .redactor import Redactor
from .textfold import fold

# Withheld values under these roots belong to the practice, not the patient:
# a clinic's own phone in a letterhead is not hunted through the notes.
_PRACTICE_ROOTS = ("rendering_provider", "referring_provider", "facility", "contact")


@dataclass(frozen=True)
class DisclosurePlan:
    """What reaches the packet and what is withheld, with reasons; and the redactor for documents.

    ``printed_case``, ``extra_fields`` and ``redactor`` hold patient data and are left out of ``repr``.
    """

    case_id: str
    payer_id: str
    included_attachments: tuple[Attachment, ...]      # as printed (titles without withheld values)
    included_indexes: tuple[int, ...]                 # their positions in case.attachments
    withheld_attachments: tuple[WithheldAttachment, ...]
    included_fields: tuple[str, ...]
    withheld_fields: tuple[tuple[str, str], ...]      # (field path, reason), never the value
    # The case whose free text the packet prints: withheld values staff typed
    # into it replaced by markers (see :mod:`.casetext`).
    printed_case: Case = field(repr=False)
    extra_fields: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    extra_field_paths: tuple[str, ...] = ()
    searched_fields: tuple[tuple[str, str], ...] = ()  # (field path, identifier type) hunted in documents
    notes: tuple[dict, ...] = ()                      # findings about the plan itself ({code, message, field})
    redactor: Redactor = field(default_factory=Redactor, repr=False)


def plan_disclosure(case: Case, policy: PayerPolicy, *, kind: str = "request") -> DisclosurePlan:
    """Decide fields, attachments and the identifiers to remove from documents for ``case``.

    ``kind="appeal"`` (SPEC section 10): the decision contested and the argument are printed too, and
    the payer's denial letters come first among the exhibits.
    """
    raw = case.raw
    allowed = DEFAULT_ALLOWLIST + APPEAL_FIELDS if kind == "appeal" else DEFAULT_ALLOWLIST
    decision = decide_fields(raw, policy.include_fields, allowed=allowed)
    included, withheld = sort_attachments(case, policy)
    if kind == "appeal":   # stable: the denial letters first, then the rest in the case file's order
        included = tuple(sorted(included, key=lambda item: item[1].kind != "denial_letter"))
    notes = [
        {"code": "requested_field_missing", "field": path,
         "message": f"the payer asks for {path}, but the case does not have it"}
        for path in decision.missing_requested
    ]

    keep = keep_keys(_needed_values(case, policy, decision.included, raw))
    printed = _printed_text(case, policy, decision.extra)
    needles: list[Needle] = []
    searched: list[tuple[str, str]] = []
    for path, _reason in decision.withheld:
        if path.split(".")[0].split("[")[0] in _PRACTICE_ROOTS:
            continue
        value = _value_at(raw, path)
        type_ = classify(path, value)
        if type_ is None:
            continue
        if keep_key(type_, str(value)) in keep:
            notes.append({
                "code": "withheld_value_needed", "field": path,
                "message": f"{path} has the same value as a field the payer needs; it stays where documents show it",
            })
            continue
        needle = build_needle(type_, path, str(value))
        if needle is None:
            continue
        # A value that every packet prints anyway (a relative's name equal to
        # the provider's, a surname "Page" in every page footer) cannot be
        # withheld from documents: hunting it would make the proof refuse every build.
        if Redactor(needles=(needle,), keep=keep, detectors=()).first_hit(printed) is not None:
            notes.append({
                "code": "withheld_value_printed", "field": path,
                "message": f"{path} has the same words as text every packet prints (a name the payer gets, "
                           "a heading); it is not removed from documents",
            })
            continue
        needles.append(needle)
        searched.append((path, type_))

    redactor = Redactor(needles=tuple(needles), keep=keep)
    printed_case, text_warnings = redact_case_text(case, redactor)
    notes += text_warnings
    return DisclosurePlan(
        case_id=case.case_id,
        payer_id=policy.id,
        included_attachments=tuple(printed_case.attachments[i] for i, _ in included),
        included_indexes=tuple(i for i, _ in included),
        withheld_attachments=withheld,
        included_fields=decision.included,
        withheld_fields=decision.withheld,
        printed_case=printed_case,
        extra_fields=decision.extra,
        extra_field_paths=decision.extra_paths,
        searched_fields=tuple(searched),
        notes=tuple(notes),
        redactor=redactor,
    )


def _printed_text(case: Case, policy: PayerPolicy, extra: tuple[tuple[str, str], ...]) -> str:
    """Text a packet for ``case`` prints whatever it withholds: what the payer gets, headings, footers."""
    member, claim = case.member, case.claim
    pieces = [case.case_id, member.full_name, member.member_id, policy.name, policy.source_title,
              channel_words(policy), "prior authorization department", "Retroactive authorization request",
              "Exhibit Page of Cover note", *LATE_REASON_WORDS.values(), *ATTACHMENT_KIND_WORDS.values(),
              *SECTION_TITLES.values(), *PLACE_OF_SERVICE.values(), _template_words()]
    if claim is not None:
        pieces += [claim.claim_number or "", *claim.denial_codes]
    for provider in (case.rendering_provider, case.referring_provider, case.facility):
        if provider is not None:
            pieces += [provider.name, provider.npi or ""]
    contact = case.contact
    pieces += [contact.name, contact.phone or "", contact.fax or "", contact.email or ""]
    for s in case.services:
        pieces += [s.code, *s.modifiers]
    for label, value in extra:
        pieces += [label, value]
    return fold("\n".join(p for p in pieces if p)).text


@lru_cache(maxsize=None)
def _template_words() -> str:
    """The words the packet's templates print on their own (headings, sentences)."""
    words: set[str] = set()
    for path in templates_dir().rglob("*.html"):
        if path.name.startswith("disclosure-report"):
            continue      # staff read the report; it is not part of the packet
        text = path.read_text(encoding="utf-8", errors="replace")
        text = re.sub(r"{#.*?#}|{%.*?%}|{{.*?}}|<[^>]*>", " ", text, flags=re.DOTALL)
        words.update(re.findall(r"[A-Za-z]+", html.unescape(text)))
    return " ".join(sorted(words))


def _needed_values(case: Case, policy: PayerPolicy, included: tuple[str, ...], raw: Mapping) -> list[str]:
    """Identifiers the payer needs, which documents keep even when they look like a phone or an MRN."""
    values = [case.case_id, case.member.member_id]
    if case.claim and case.claim.claim_number:
        values.append(case.claim.claim_number)
    for provider in (case.rendering_provider, case.referring_provider, case.facility):
        if provider is not None and provider.npi:
            values.append(provider.npi)
    contact = case.contact
    values += [v for v in (contact.phone, contact.fax, contact.email) if v]
    if policy.address:
        values.append(policy.address)   # the payer's own fax number
    # Practice data under unknown keys (a provider's phone) and what the payer asked for.
    for root in _PRACTICE_ROOTS:
        values += _scalars(raw.get(root))
    for path in policy.include_fields:
        if path in included:
            values += _scalars(_value_at(raw, path))
    return [str(v) for v in values if v not in (None, "")]


def _scalars(node: Any) -> list[str]:
    if isinstance(node, Mapping):
        return [s for v in node.values() for s in _scalars(v)]
    if isinstance(node, list):
        return [s for v in node for s in _scalars(v)]
    if node is None or isinstance(node, bool):
        return []
    return [str(node)]


_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _value_at(raw: Any, path: str) -> Any:
    """The value at ``member.address.street`` or ``emergency_contacts[0].phone``, or None."""
    node = raw
    for name, index in _PART.findall(path):
        if name:
            if not isinstance(node, Mapping) or name not in node:
                return None
            node = node[name]
        else:
            if not isinstance(node, list) or int(index) >= len(node):
                return None
            node = node[int(index)]
    return node
