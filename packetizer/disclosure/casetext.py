"""Withheld values typed into the case's own free text, replaced before anything is printed.

The cover note, narrative and summary print what staff wrote: the late
reason's explanation and evidence, the timeline, the medical-necessity
statement, attachment titles and service descriptions. A withheld value typed
there (the SSN "for reference", a relative's name in a timeline event) would
make the no-leak proof refuse the build. Instead it is replaced by its visible
marker, and the build warns which field held it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from ..model import Case
from .patterns import VERIFY_DETECTORS
from .redactor import MARKERS, TYPE_WORDS, Hit, Redactor


def redact_case_text(case: Case, redactor: Redactor) -> tuple[Case, list[dict]]:
    """``case`` with withheld values in its free text replaced by markers, and one warning per field changed.

    Only what the no-leak proof looks for is searched: the case's own withheld
    values and the SSN shapes. A payer's fax number or the clinic's address
    typed on purpose stays.

    Returns:
        The case to print (``case`` itself when nothing was found) and
        ``{code, field, message}`` warnings that name the field, never the value.
    """
    searcher = Redactor(needles=redactor.needles, keep=redactor.keep, detectors=VERIFY_DETECTORS)
    warnings: list[dict] = []

    def clean(path: str, text: str | None) -> str | None:
        if not text:
            return text
        out, hits = searcher.redact_text(text)
        if hits:
            warnings.append(_warning(path, hits))
        return out

    late = case.late_reason
    late_reason = replace(late, explanation=clean("late_reason.explanation", late.explanation),
                          evidence=clean("late_reason.evidence", late.evidence))
    medical_necessity = clean("medical_necessity", case.medical_necessity)
    # The case keeps its timeline sorted by date; warnings name the position in the case file.
    positions = _timeline_positions(case)
    timeline = tuple(replace(e, event=clean(f"timeline[{positions[i]}].event", e.event))
                     for i, e in enumerate(case.timeline))
    services = tuple(replace(s, description=clean(f"services[{i}].description", s.description))
                     for i, s in enumerate(case.services))
    attachments = tuple(replace(a, title=clean(f"attachments[{i}].title", a.title))
                        for i, a in enumerate(case.attachments))
    prior, appeal = case.prior_request, case.appeal
    if prior is not None:
        prior = replace(prior, reason=clean("prior_request.reason", prior.reason))
    if appeal is not None:
        appeal = replace(appeal, argument=clean("appeal.argument", appeal.argument),
                         requested=clean("appeal.requested", appeal.requested))
    if not warnings:
        return case, []
    printed = replace(case, late_reason=late_reason, medical_necessity=medical_necessity, timeline=timeline,
                      services=services, attachments=attachments, prior_request=prior, appeal=appeal)
    return printed, warnings


def _warning(path: str, hits: list[Hit]) -> dict:
    types = list(dict.fromkeys(h.type for h in hits))
    what = " and ".join(f"a withheld {TYPE_WORDS[t].removeprefix('withheld ')}" for t in types)
    markers = " and ".join(MARKERS[t] for t in types)
    replaced = "it was replaced by" if len(hits) == 1 else "they were replaced by"
    return {"code": "withheld_value_removed", "field": path,
            "message": f"{path} contained {what}; {replaced} {markers} in the packet"}


def _timeline_positions(case: Case) -> list[int]:
    """For each event of ``case.timeline`` (sorted by date), its position in the case file's list."""
    raw = case.raw.get("timeline") if isinstance(case.raw, Mapping) else None
    if not isinstance(raw, list) or len(raw) != len(case.timeline):
        return list(range(len(case.timeline)))
    unused = list(range(len(raw)))
    positions = []
    for event in case.timeline:
        match = next((j for j in unused if _event_text(raw[j]) == event.event), unused[0])
        unused.remove(match)
        positions.append(match)
    return positions


def _event_text(item: Any) -> Any:
    return item.get("event") if isinstance(item, Mapping) else None
