"""Write who did what to the audit log from inside a request."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_login import current_user

from ..registry import append_audit
from .services import db, services


def client_address() -> str:
    """The client address (ProxyFix has already applied trusted ``X-Forwarded-For``)."""
    return (request.remote_addr or "-")[:64]


def record(action: str, object_type: str, object_id: str | int, *, actor: str | None = None,
           role: str | None = None, **detail: Any) -> None:
    """Append an audit row to the request's session; the view commits it with its change.

    ``detail`` must hold ids, counts and codes only, never PHI.
    """
    signed_in = current_user.is_authenticated
    append_audit(
        db(),
        actor=actor or (current_user.username if signed_in else "anonymous"),
        role=role or (current_user.role if signed_in else "none"),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        client=client_address(),
        detail=detail,
        now=services().now(),
    )
