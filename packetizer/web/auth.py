"""Everyone: sign in and sign out, and the unauthenticated health check."""

from __future__ import annotations

import logging
import os
from urllib.parse import urlsplit

from flask import Blueprint, flash, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from ..archive import LocalStorage
from ..errors import PacketizerError
from ..registry import sign_in
from .forms import LoginForm
from .security import SignedIn, client_address, end_session, mark_active, record
from .services import db, services

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)
health = Blueprint("health", __name__)

HOME_BY_ROLE = {"staff": "cases.index", "admin": "cases.index", "auditor": "audit.archive"}


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (no scheme, no host, no '//' trick) may be a redirect target."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


@bp.get("/")
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(url_for(HOME_BY_ROLE.get(current_user.role, "auth.login")))


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in; failed attempts slow the next ones down for that username from that address (see registry.users)."""
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        username = form.username.data.strip()
        result = sign_in(db(), username, form.password.data, client_address(), now=services().now(),
                         hasher=services().hasher)
        if result.ok:
            user = result.user
            record("auth.sign_in", "user", user.username, actor=user.username, role=user.role)
            db().commit()
            session.clear()  # nothing from before the sign-in survives it
            login_user(SignedIn.from_user(user))
            mark_active()
            log.info("user %s signed in", user.username)
            target = _safe_next(request.args.get("next")) or url_for(HOME_BY_ROLE[user.role])
            return redirect(target)
        if result.wait_seconds:
            record("auth.sign_in_paused", "user", username, actor=username, role="none", wait=result.wait_seconds)
            db().commit()
            flash(f"Too many failed sign-ins. Try again in {result.wait_seconds} seconds.", "error")
            status = 429
        else:
            record("auth.sign_in_failed", "user", username, actor=username, role="none")
            if result.locked_seconds:
                # This failure starts a wait: for this username from this address, or for the whole address.
                record("auth.sign_in_locked", "user", username, actor=username, role="none",
                       wait=result.locked_seconds, scope=result.locked)
            db().commit()
            flash("Unknown username or wrong password.", "error")
            status = 401
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
def logout():
    """Sign out: this session and every other session of the user end (a copied cookie stops working)."""
    if current_user.is_authenticated:
        record("auth.sign_out", "user", current_user.username)
        end_session()
        db().commit()
    else:
        logout_user()
        session.clear()
    flash("Signed out.", "info")
    return redirect(url_for("auth.login"))


@health.get("/healthz")
def healthz():
    """200 when the database and the archive answer, 503 otherwise; JSON says which."""
    svc = services()
    database = svc.registry.reachable()
    try:
        storage = svc.storage()
        if isinstance(storage, LocalStorage):
            archive = _local_archive_usable(storage)
        else:
            storage.exists("healthz-probe")
            archive = True
    except PacketizerError:
        archive = False
    except Exception:  # a backend's own network error must not turn the health check into a 500
        log.warning("archive health check failed", exc_info=False)
        archive = False
    body = {"status": "ok" if database and archive else "unavailable", "database": database, "archive": archive}
    return jsonify(body), 200 if database and archive else 503


def _local_archive_usable(storage: LocalStorage) -> bool:
    """The archive folder exists and is writable, or can be created (it is made on the first write)."""
    folder = storage.root
    while not folder.exists():
        if folder.parent == folder:
            return False
        folder = folder.parent
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)
