"""Accounts as the casebook keeps them: each one added with its audit row, and a new installation's first admin.

The rules for names, roles and passwords, and their hashes, are
:mod:`packetizer.registry.users`'s.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..registry import User, add_user
from ..registry.users import DEFAULT_HASHER
from .audit import Actor, write_audit

#: Bytes of randomness in a first admin's password (URL-safe base64: 20 characters).
FIRST_ADMIN_PASSWORD_BYTES = 15


def has_accounts(session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(User)))


def add_account(session: Session, username: str, role: str, password: str, *, actor: Actor, now: dt.datetime,
                hasher: PasswordHasher = DEFAULT_HASHER, **detail: Any) -> User:
    """Create an account and audit ``user.add``; the caller commits.

    Raises:
        AccountError: bad username, role or password, or the username is taken.
    """
    user = add_user(session, username, role, password, created_by=actor.name, now=now, hasher=hasher)
    write_audit(session, actor, "user.add", "user", user.username, now=now, detail={"new_role": user.role, **detail})
    return user


def create_first_admin(session: Session, username: str, *, actor: Actor, now: dt.datetime,
                       hasher: PasswordHasher = DEFAULT_HASHER) -> str | None:
    """When no account exists yet, create the admin ``username`` with a random password; that password.

    Returns:
        The password, to be shown once to whoever installs the server; None when accounts exist.
    """
    if has_accounts(session):
        return None
    password = secrets.token_urlsafe(FIRST_ADMIN_PASSWORD_BYTES)
    add_account(session, username, "admin", password, actor=actor, now=now, hasher=hasher, first_admin=True)
    return password
