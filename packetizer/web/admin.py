"""Admins: user accounts and a read-only view of the payer policies in force."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_user
from sqlalchemy import select

from ..casebook.accounts import add_account
from ..errors import AccountError, PolicyError
from ..policy import registry_dir
from ..registry import User, set_password
from ..registry.users import end_sessions
from .forms import UserAddForm, UserEditForm
from .security import SignedIn, blueprint_roles, current_actor, record
from .services import db, services

bp = Blueprint("admin", __name__, url_prefix="/admin")
blueprint_roles(bp, "admin")


@bp.route("/users", methods=["GET", "POST"])
def users():
    form = UserAddForm()
    if form.validate_on_submit():
        try:
            user = add_account(db(), form.username.data.strip(), form.role.data, form.password.data,
                               actor=current_actor(), now=services().now(), hasher=services().hasher)
        except AccountError as exc:
            target = form.username if exc.field == "username" else form.password
            target.errors.append(exc.told(beside_field=True))
        else:
            db().commit()
            flash(f"User {user.username} added as {user.role}.", "success")
            return redirect(url_for("admin.users"))
    rows = db().scalars(select(User).order_by(User.username)).all()
    return render_template("admin/users.html", users=rows, form=form), 422 if form.errors else 200


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user(user_id: int):
    row = db().get(User, user_id)
    if row is None:
        abort(404)
    form = UserEditForm(obj=row)
    if form.validate_on_submit():
        if row.username == current_user.username and (form.role.data != "admin" or not form.active.data):
            flash("You cannot remove your own admin role or disable yourself.", "error")
            return redirect(url_for("admin.user", user_id=row.id))
        changes = {}
        if form.role.data != row.role:
            changes["role"] = [row.role, form.role.data]
            row.role = form.role.data
        if bool(form.active.data) != row.active:
            changes["active"] = bool(form.active.data)
            row.active = bool(form.active.data)
            if not row.active:
                end_sessions(row)
                changes["sessions_ended"] = True
        if form.password.data:
            set_password(row, form.password.data, now=services().now(), hasher=services().hasher)  # ends sessions
            changes["password"] = "reset"
            changes["sessions_ended"] = True
        if changes:
            record("user.change", "user", row.username, **changes)
            db().commit()
            if row.id == current_user.user_id and changes.get("sessions_ended"):
                # An admin who changes their own password stays signed in here; their other sessions end.
                login_user(SignedIn.from_user(row))
            flash(f"User {row.username} updated.", "success")
        return redirect(url_for("admin.users"))
    return render_template("admin/user.html", user=row, form=form), 422 if form.errors else 200


@bp.get("/payers")
def payers():
    """The payer policies the application uses, as loaded (errors shown by file and field)."""
    error, policies, folder = None, [], None
    try:
        folder = registry_dir(services().payers_dir)
        policies = list(services().payers())
    except PolicyError as exc:
        error = exc.message
    return render_template("admin/payers.html", policies=policies, folder=folder, error=error)
