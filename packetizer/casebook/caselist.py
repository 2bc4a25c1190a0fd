"""The case list: found by words (case id, claim number, member name or id) and filtered, in SQL.

Open cases come first, those still to be submitted by their deadline (nearest
first), then those sent and awaiting the payer; decided cases are closed and
listed last, and only when asked for. The words searched for are patient data:
nothing here logs them.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass

from sqlalchemy import Select, and_, case, nulls_last, or_, select

from ..registry import LIKE_ESCAPE, CaseRecord, contains_pattern
from ..registry.models import DETERMINATIONS
from .tracking import UNSUBMITTED

#: A case is closed once the payer decided it (a determination is its status).
CLOSED = DETERMINATIONS
#: Deadline windows a clerk filters by: key -> words shown.
DEADLINE_WINDOWS = {
    "overdue": "Past the deadline",
    "7": "Due within 7 days",
    "30": "Due within 30 days",
    "none": "No deadline",
}
#: At most this many words of a search are used (each must match).
MAX_SEARCH_WORDS = 6


@dataclass(frozen=True)
class CaseFilter:
    """What the case list is narrowed to; empty fields narrow nothing."""

    words: str = ""
    payer_id: str = ""
    status: str = ""
    deadline: str = ""
    show_closed: bool = False

    @property
    def narrowed(self) -> bool:
        """Whether anything narrows the list (beyond hiding closed cases)."""
        return bool(self.words.strip() or self.payer_id or self.status or self.deadline)

    def used(self) -> dict:
        """Which filters were used, for the audit log: never the words searched for (patient data)."""
        used = {"payer_id": self.payer_id or None, "status": self.status or None,
                "deadline": self.deadline or None, "show_closed": self.show_closed}
        if self.words.strip():
            used["searched_words"] = True
        return {key: value for key, value in used.items() if value}


def search_fold(text: str) -> str:
    """Text as the case list searches it: case folded, accents and other marks dropped ("Álvarez" -> "alvarez")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _word_matches(word: str):
    # The case id is an ASCII identifier; the rest is searched in its folded copy.
    return or_(CaseRecord.case_id.ilike(contains_pattern(word), escape=LIKE_ESCAPE),
               CaseRecord.search_text.like(contains_pattern(search_fold(word)), escape=LIKE_ESCAPE))


def case_list_query(wanted: CaseFilter, today: dt.date) -> Select:
    """The cases ``wanted`` asks for, in the order the list shows them.

    Each word of ``wanted.words`` must be part of the case id, claim number, member id,
    or the member's first or last name (any case): "ana ortiz" and "ortiz" both find Ana Ortiz.
    """
    query = select(CaseRecord)
    for word in wanted.words.split()[:MAX_SEARCH_WORDS]:
        query = query.where(_word_matches(word))
    if wanted.payer_id:
        query = query.where(CaseRecord.payer_id == wanted.payer_id)
    if wanted.status:
        query = query.where(CaseRecord.status == wanted.status)
    elif not wanted.show_closed:
        query = query.where(CaseRecord.status.not_in(CLOSED))
    if wanted.deadline == "none":
        query = query.where(CaseRecord.deadline.is_(None))
    elif wanted.deadline == "overdue":
        query = query.where(CaseRecord.status.in_(UNSUBMITTED), CaseRecord.deadline < today)
    elif wanted.deadline in ("7", "30"):
        horizon = today + dt.timedelta(days=int(wanted.deadline))
        query = query.where(CaseRecord.status.in_(UNSUBMITTED),
                            and_(CaseRecord.deadline >= today, CaseRecord.deadline <= horizon))
    # Still to submit, by deadline; then sent and awaiting the payer; then closed (its deadline no longer matters).
    rank = case((CaseRecord.status.in_(UNSUBMITTED), 0), (CaseRecord.status.in_(CLOSED), 2), else_=1)
    return query.order_by(rank, nulls_last(CaseRecord.deadline.asc()), CaseRecord.case_id)
