"""Sign-in state, roles, sessions that end, cookies, security headers, and who a request is in the audit log.

A session ends when the user signs out, when their password changes or their
account is disabled (each raises the user's session version, which every
session names), after ``IDLE_MINUTES`` without a request, and
``SESSION_MAX_HOURS`` after sign-in however active it is. A case form posted
after an idle or absolute end is kept for the user (see :mod:`.drafts`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass
from typing import Any

from flask import abort, current_app, flash, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import AnonymousUserMixin, LoginManager, current_user, logout_user

from ..casebook.audit import Actor, write_audit
from ..registry import User
from ..registry.users import end_sessions
from . import drafts
from .services import EXTENSION_KEY, db, services

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # same-origin, not no-referrer: over HTTPS Flask-WTF checks that a form post's Referer is this site.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
_IDLE_KEY = "seen"
_STARTED_KEY = "started"
# Endpoints that neither need a sign-in nor count as activity.
PUBLIC_ENDPOINTS = frozenset({"auth.login", "health.healthz", "static"})


@dataclass(frozen=True)
class SignedIn:
    """The signed-in person as Flask-Login sees them.

    The id carries the user's session version and a stamp of the password hash:
    signing out, a password change or disabling the account raises the version,
    so every session started before no longer loads (a copied cookie included).
    """

    user_id: int
    username: str
    role: str
    version: int
    stamp: str

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return f"{self.user_id}.{self.version}.{self.stamp}"

    @classmethod
    def from_user(cls, user: User) -> "SignedIn":
        return cls(user.id, user.username, user.role, user.session_version or 0, password_stamp(user))


def password_stamp(user: User) -> str:
    """Changes whenever the password hash does (a new password, or a rehash with new parameters)."""
    return hashlib.sha256(user.password_hash.encode("ascii")).hexdigest()[:16]


class Anonymous(AnonymousUserMixin):
    username = "anonymous"
    role = "none"


class SessionInterface(SecureCookieSessionInterface):
    """Marks the session cookie Secure whenever the request came over HTTPS (or the config insists)."""

    def get_cookie_secure(self, app) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def init_app(app) -> None:
    """Install the login manager, cookie handling, session ends and headers on ``app``; drop stale drafts."""
    manager = LoginManager()
    manager.login_view = "auth.login"
    manager.login_message = "Please sign in."
    manager.login_message_category = "info"
    manager.anonymous_user = Anonymous
    manager.init_app(app)
    manager.user_loader(_load_user)
    app.session_interface = SessionInterface()
    app.before_request(_require_sign_in_and_idle)
    svc = app.extensions[EXTENSION_KEY]
    drafts.remove_expired_drafts(svc.instance, now=svc.now(), max_age=dt.timedelta(hours=app.config["SESSION_MAX_HOURS"]))
    app.after_request(_headers)


def _load_user(user_id: str) -> SignedIn | None:
    try:
        pk, version, stamp = user_id.split(".")
        user = db().get(User, int(pk))
    except ValueError:
        return None
    if user is None or not user.active:
        return None
    signed_in = SignedIn.from_user(user)
    return signed_in if signed_in.get_id() == f"{user.id}.{version}.{stamp}" else None


def _require_sign_in_and_idle():
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=_next_target()))
    now = services().now()
    config = current_app.config
    started, seen = session.get(_STARTED_KEY), session.get(_IDLE_KEY)
    if started is None or now - _at(started) > session_lifetime():
        action = "auth.session_expired"
        message = f"Your session ended {config['SESSION_MAX_HOURS']} hours after you signed in."
    elif seen is not None and now - _at(seen) > dt.timedelta(minutes=config["IDLE_MINUTES"]):
        action = "auth.idle_sign_out"
        message = f"You were signed out after {config['IDLE_MINUTES']} minutes without activity."
    else:
        session.permanent = True
        session[_IDLE_KEY] = now.timestamp()
        return None
    kept = _keep_typed_work(now)
    record(action, "user", current_user.username, draft_kept=kept)
    db().commit()
    logout_user()
    session.clear()
    if kept:
        message += " What you typed is kept: sign in again to carry on."
    flash(message, "info")
    return redirect(url_for("auth.login", next=request.path if kept else _next_target()))


def _at(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)


def session_lifetime() -> dt.timedelta:
    """How long after sign-in a session ends, however active (``SESSION_MAX_HOURS``)."""
    return dt.timedelta(hours=current_app.config["SESSION_MAX_HOURS"])


def _keep_typed_work(now: dt.datetime) -> bool:
    """Keep a case form posted after its session ended, for the same user after they sign in again."""
    if request.method != "POST" or request.endpoint not in drafts.DRAFT_ENDPOINTS:
        return False
    return drafts.keep_draft(services().instance, current_user.user_id, request.path, request.form, now=now)


def restore_typed_work():
    """The case form inputs kept for the signed-in user from this page when their session ended, if any."""
    return drafts.take_draft(services().instance, current_user.user_id, request.path, now=services().now(),
                             max_age=session_lifetime())


def end_session() -> None:
    """Sign this browser out and end every other session of the signed-in user (their session version rises)."""
    if current_user.is_authenticated:
        user = db().get(User, current_user.user_id)
        if user is not None:
            end_sessions(user)
    logout_user()
    session.clear()


def _next_target() -> str | None:
    """Where to go back to after signing in: the page asked for (GET only), as a local path."""
    if request.method != "GET":
        return None
    return request.full_path.rstrip("?")


def mark_active() -> None:
    """Start the idle clock and the session's lifetime (called at sign-in)."""
    session.permanent = True
    now = services().now().timestamp()
    session[_STARTED_KEY] = now
    session[_IDLE_KEY] = now


def _headers(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.endpoint != "static":
        # Pages show patient data: never keep them in a shared or browser cache.
        response.headers["Cache-Control"] = "no-store"
    return response


def client_address() -> str:
    """The client address (ProxyFix has already applied trusted ``X-Forwarded-For``)."""
    return (request.remote_addr or "-")[:64]


def current_actor(*, name: str | None = None, role: str | None = None) -> Actor:
    """Who this request is in the audit log: the signed-in user (or the ``name`` and ``role`` given) from its address."""
    signed_in = current_user.is_authenticated
    return Actor(name or (current_user.username if signed_in else "anonymous"),
                 role or (current_user.role if signed_in else "none"), client_address())


def record(action: str, object_type: str, object_id: str | int, *, actor: str | None = None,
           role: str | None = None, **detail: Any) -> None:
    """Append an audit row for this request to its session; the view commits it with its change.

    ``detail`` must hold ids, counts and codes only, never PHI.
    """
    write_audit(db(), current_actor(name=actor, role=role), action, object_type, object_id,
                now=services().now(), detail=detail)


def roles_required(*roles: str):
    """View decorator: signed in and one of ``roles``, else 403."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return redirect(url_for("auth.login"))
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorate


def blueprint_roles(blueprint, *roles: str) -> None:
    """Every view of ``blueprint`` needs one of ``roles`` (403 otherwise)."""

    @blueprint.before_request
    def _check_role():
        if current_user.is_authenticated and current_user.role not in roles:
            abort(403)
