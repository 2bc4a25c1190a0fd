"""Sign-in state, roles, idle sign-out, cookies, security headers, and who a request is in the audit log."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass
from typing import Any

from flask import abort, flash, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import AnonymousUserMixin, LoginManager, current_user, logout_user

from ..casebook.audit import Actor, write_audit
from ..registry import User
from .services import db, services

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
# Endpoints that neither need a sign-in nor count as activity.
PUBLIC_ENDPOINTS = frozenset({"auth.login", "health.healthz", "static"})


@dataclass(frozen=True)
class SignedIn:
    """The signed-in person as Flask-Login sees them.

    The id carries a stamp of the password hash, so changing a password ends
    every other session of that user (disabling the account does too).
    """

    user_id: int
    username: str
    role: str
    stamp: str

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return f"{self.user_id}.{self.stamp}"

    @classmethod
    def from_user(cls, user: User) -> "SignedIn":
        return cls(user.id, user.username, user.role, password_stamp(user))


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
    """Install the login manager, cookie handling, idle sign-out and headers on ``app``."""
    manager = LoginManager()
    manager.login_view = "auth.login"
    manager.login_message = "Please sign in."
    manager.login_message_category = "info"
    manager.anonymous_user = Anonymous
    manager.init_app(app)
    manager.user_loader(_load_user)
    app.session_interface = SessionInterface()
    app.before_request(_require_sign_in_and_idle)
    app.after_request(_headers)


def _load_user(user_id: str) -> SignedIn | None:
    pk, _, stamp = user_id.partition(".")
    try:
        user = db().get(User, int(pk))
    except ValueError:
        return None
    if user is None or not user.active:
        return None
    signed_in = SignedIn.from_user(user)
    return signed_in if signed_in.stamp == stamp else None


def _require_sign_in_and_idle():
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=_next_target()))
    now = services().now()
    idle = dt.timedelta(minutes=request_idle_minutes())
    seen = session.get(_IDLE_KEY)
    if seen is not None and now - dt.datetime.fromtimestamp(seen, dt.timezone.utc) > idle:
        record("auth.idle_sign_out", "user", current_user.username)
        db().commit()
        logout_user()
        session.clear()
        flash(f"You were signed out after {request_idle_minutes()} minutes without activity.", "info")
        return redirect(url_for("auth.login"))
    session.permanent = True
    session[_IDLE_KEY] = now.timestamp()
    return None


def _next_target() -> str | None:
    """Where to go back to after signing in: the page asked for (GET only), as a local path."""
    if request.method != "GET":
        return None
    return request.full_path.rstrip("?")


def request_idle_minutes() -> int:
    from flask import current_app

    return current_app.config["IDLE_MINUTES"]


def mark_active() -> None:
    """Start the idle clock (called at sign-in)."""
    session.permanent = True
    session[_IDLE_KEY] = services().now().timestamp()


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
