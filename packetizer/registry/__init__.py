"""The registry: users, cases, builds, submissions, the denial worklist and the audit log (SQLAlchemy 2 + Alembic).

SQLite by default, PostgreSQL through ``PACKETIZER_DATABASE_URL``; one code
path for both. :func:`open_registry` migrates the schema when it opens it.
"""

from .audit import GENESIS_HASH, ChainProblem, append_audit, entry_hash, verify_audit_chain
from .database import LIKE_ESCAPE, Registry, contains_pattern, current_revision, describe_url, head_revision, open_registry, upgrade
from .models import (
    CHANNELS,
    DETERMINATIONS,
    ROLES,
    AuditEntry,
    Build,
    CaseRecord,
    Determination,
    DeterminationLine,
    EraUpload,
    InfoRequest,
    Job,
    SignInFailure,
    Submission,
    User,
    WorklistItem,
    WORKLIST_STATES,
)
from .users import SignInResult, add_user, find_user, set_password, sign_in, sign_in_wait

__all__ = [
    "AuditEntry", "Build", "CHANNELS", "CaseRecord", "ChainProblem", "DETERMINATIONS", "Determination", "DeterminationLine", "EraUpload",
    "WORKLIST_STATES", "WorklistItem",
    "GENESIS_HASH", "InfoRequest", "LIKE_ESCAPE", "Job", "ROLES", "Registry", "SignInFailure", "SignInResult",
    "Submission", "User", "add_user", "append_audit", "contains_pattern", "current_revision", "describe_url", "entry_hash",
    "find_user", "head_revision", "open_registry", "set_password", "sign_in", "sign_in_wait",
    "upgrade", "verify_audit_chain",
]
