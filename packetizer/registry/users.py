"""Accounts: argon2id password hashes, roles, and the sign-in backoff.

Failed sign-ins are recorded with their username and client address, and the
backoff is keyed on the pair: after a few free failures for one username from
one address, each further one doubles the wait before that pair's next attempt
is even checked. The same person signing in from another address is not slowed,
so nobody who merely knows a username can lock its owner out, and a colleague
behind the same office address (another username) is not slowed either. An
address where many distinct usernames fail (password spraying) waits as a whole.
Waits are answered at once (no sleeping worker).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .. import limits
from ..errors import AccountError
from .models import ROLES, SignInFailure, User

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")

#: argon2-cffi's defaults follow RFC 9106's second recommendation (argon2id, 64 MiB, 3 passes).
#: Callers may pass another hasher (tests use a cheap one); hashes record their own parameters.
DEFAULT_HASHER = PasswordHasher()


@functools.lru_cache(maxsize=8)
def _dummy_hash(hasher: PasswordHasher) -> str:
    """Verified against when the username is unknown, so timing does not tell which usernames exist."""
    return hasher.hash("not a password anyone has")


@dataclass(frozen=True)
class SignInResult:
    """The outcome of :func:`sign_in`: the user, or why not and how long to wait."""

    user: User | None
    wait_seconds: int = 0
    #: After a failure that starts a wait: its length and what waits ("user_client" or "client"); else 0, None.
    locked_seconds: int = 0
    locked: str | None = None

    @property
    def ok(self) -> bool:
        return self.user is not None


def check_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME_RE.match(username):
        raise AccountError("use 2-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit",
                           field="username")
    return username


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"{str(role)[:20]!r} is not one of {', '.join(ROLES)}", field="role")
    return role


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < limits.MIN_PASSWORD_CHARS:
        raise AccountError(f"use at least MIN_PASSWORD_CHARS ({limits.MIN_PASSWORD_CHARS}) characters",
                           field="password")
    if len(password) > limits.MAX_PASSWORD_CHARS:
        raise AccountError(f"{len(password)} characters > MAX_PASSWORD_CHARS ({limits.MAX_PASSWORD_CHARS})",
                           field="password")
    return password


def hash_password(password: str, hasher: PasswordHasher = DEFAULT_HASHER) -> str:
    return hasher.hash(check_password(password))


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def add_user(session: Session, username: str, role: str, password: str, *, created_by: str, now: dt.datetime,
             hasher: PasswordHasher = DEFAULT_HASHER) -> User:
    """Create an account.

    Raises:
        AccountError: bad username, role or password, or the username is taken.
    """
    check_username(username)
    check_role(role)
    if find_user(session, username) is not None:
        raise AccountError(f"{username} already exists", field="username")
    user = User(username=username, role=role, password_hash=hash_password(password, hasher), active=True,
                created_at=now, created_by=created_by, password_changed_at=now)
    session.add(user)
    session.flush()
    return user


def end_sessions(user: User) -> None:
    """End every signed-in session of ``user``: a session names the version it started under."""
    user.session_version = (user.session_version or 0) + 1


def set_password(user: User, password: str, *, now: dt.datetime, hasher: PasswordHasher = DEFAULT_HASHER) -> None:
    """Change the password; every session signed in with the old one ends."""
    user.password_hash = hash_password(password, hasher)
    user.password_changed_at = now
    end_sessions(user)


def _wait(failures: int, free: int, last: dt.datetime | None, now: dt.datetime) -> int:
    """Seconds still to wait after ``failures`` recent failures, the newest at ``last``."""
    if failures < free or last is None:
        return 0
    delay = min(limits.SIGN_IN_BACKOFF_MAX_SECONDS, limits.SIGN_IN_BACKOFF_BASE_SECONDS * 2 ** (failures - free))
    remaining = (last + dt.timedelta(seconds=delay) - now).total_seconds()
    return max(0, int(remaining + 0.999))


def sign_in_waits(session: Session, username: str, client: str, *, now: dt.datetime) -> dict[str, int]:
    """Seconds before another attempt for ``username`` from ``client`` will be checked, per scope.

    ``user_client``: failures of this username from this address; ``client``:
    distinct usernames that failed from this address (each counted once, at its
    newest failure).
    """
    since = now - dt.timedelta(seconds=limits.SIGN_IN_FAILURE_WINDOW_SECONDS)
    recent = (SignInFailure.client == client, SignInFailure.at >= since)
    count, last = session.execute(
        select(func.count(), func.max(SignInFailure.at)).where(SignInFailure.username == username, *recent)
    ).one()
    per_username = (select(func.max(SignInFailure.at).label("at")).where(*recent)
                    .group_by(SignInFailure.username).subquery())
    names, names_last = session.execute(select(func.count(), func.max(per_username.c.at))).one()
    return {"user_client": _wait(count, limits.SIGN_IN_FREE_FAILURES_PER_USER_CLIENT, last, now),
            "client": _wait(names, limits.SIGN_IN_FREE_USERNAMES_PER_CLIENT, names_last, now)}


def sign_in_wait(session: Session, username: str, client: str, *, now: dt.datetime) -> int:
    """Seconds before another attempt for ``username`` from ``client`` will be checked (0: go ahead)."""
    return max(sign_in_waits(session, username, client, now=now).values())


def sign_in(session: Session, username: str, password: str, client: str, *, now: dt.datetime,
            hasher: PasswordHasher = DEFAULT_HASHER) -> SignInResult:
    """Check a username and password, honouring and recording the backoff.

    Returns:
        ``SignInResult(user)`` on success; ``SignInResult(None, wait)`` when the
        password is wrong, the account unknown or disabled (``wait`` 0), or when
        attempts are paused (``wait`` > 0, the password was not even checked).
        A failure that starts a wait says so in ``locked_seconds`` and ``locked``.
    """
    username = (username or "")[:64]
    client = (client or "-")[:64]
    wait = sign_in_wait(session, username, client, now=now)
    if wait:
        return SignInResult(None, wait)
    user = find_user(session, username)
    password = (password or "")[: limits.MAX_PASSWORD_CHARS]
    try:
        hasher.verify(user.password_hash if user else _dummy_hash(hasher), password)
        verified = user is not None and user.active
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        verified = False
    if not verified:
        session.add(SignInFailure(at=now, username=username, client=client))
        session.flush()
        waits = sign_in_waits(session, username, client, now=now)
        scope = max(waits, key=waits.get)
        return SignInResult(None, 0, waits[scope], scope if waits[scope] else None)
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    # A successful sign-in forgives this username's failures from this address only.
    session.execute(delete(SignInFailure).where(SignInFailure.username == username, SignInFailure.client == client))
    return SignInResult(user)


__all__ = [
    "DEFAULT_HASHER", "ROLES", "SignInResult", "add_user", "check_password", "check_role", "check_username", "end_sessions",
    "find_user", "hash_password", "set_password", "sign_in", "sign_in_wait", "sign_in_waits",
]
