"""Denials from remittance files (SPEC section 9): read an X12 835, triage each denial, draft its case.

``read_remittance`` (:mod:`.reader`) turns an 835's bytes into claims; ``worklist`` (:mod:`.worklist`)
answers the SPEC's JSON object for them; ``draft_case`` (:mod:`.drafts`) pre-fills a case file for a
claim on the retro path; ``claim_key`` identifies one adjudicated claim across files. No web or CLI code.
"""

from __future__ import annotations

from .drafts import draft_case, draft_name, is_retro_path
from .reader import Adjustment, ClaimProblem, RemitClaim, RemitLine, Remittance, read_remittance
from .worklist import action_words, claim_identity, claim_key, listed_claims, worklist

__all__ = [
    "Adjustment",
    "ClaimProblem",
    "RemitClaim",
    "RemitLine",
    "Remittance",
    "action_words",
    "claim_identity",
    "claim_key",
    "draft_case",
    "draft_name",
    "is_retro_path",
    "listed_claims",
    "read_remittance",
    "worklist",
]
