"""``packetizer serve``, ``packetizer users`` and ``packetizer audit``: the web application's commands.

They read the same configuration as the web app (``PACKETIZER_*``, the
instance folder), so ``users add`` writes to the database ``serve`` uses.
"""

from __future__ import annotations

import sys

import click

from .common import CommandFailure, reports_errors


def _app():
    from ..web import create_app

    return create_app()


def _registry_and_now(app):
    from ..web.services import EXTENSION_KEY

    services = app.extensions[EXTENSION_KEY]
    return services.registry, services.now


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--first-admin", metavar="NAME", default=None,
              help="If no account exists yet, create admin NAME with a random password and print it once.")
@reports_errors
def serve(host: str, port: int, first_admin: str | None) -> None:
    """Run the web application with Werkzeug's server (for one machine or development).

    In production run it under gunicorn behind a TLS proxy:
    gunicorn --workers 3 --bind 127.0.0.1:8000 'packetizer.web:create_app()'
    """
    from werkzeug.serving import run_simple

    from ..casebook.accounts import create_first_admin, has_accounts
    from ..casebook.audit import Actor
    from ..registry import describe_url

    app = _app()
    registry, now = _registry_and_now(app)
    with registry.session() as session:
        created_password = None
        if first_admin:
            created_password = create_first_admin(session, first_admin, actor=Actor.command("serve"), now=now())
        accounts = has_accounts(session)
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(f"Packetizer web on http://{shown_host}:{port}/")
    click.echo(f"  database: {describe_url(app.config['DATABASE_URL'])}")
    click.echo(f"  archive:  {app.extensions['packetizer'].storage().describe()}")
    click.echo(f"  instance: {app.instance_path}")
    if created_password:
        click.echo(f"First start: created the admin account {first_admin!r} with the password {created_password}")
        click.echo("  (shown once; sign in and add staff and auditors under Users, or change it with")
        click.echo(f"  `packetizer users set-password {first_admin}`)")
    elif not accounts:
        click.echo("No accounts yet. Create one (the password is read from standard input):")
        click.echo("  packetizer users add NAME --role admin")
    else:
        click.echo("Sign in with an account made by `packetizer users add NAME --role staff|auditor|admin`.")
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


@click.group("users")
def users() -> None:
    """Manage web accounts (passwords are read from standard input)."""


def _read_password(confirm: bool) -> str:
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["staff", "auditor", "admin"]), required=True, help="What the user may do.")
@reports_errors
def users_add(name: str, role: str) -> None:
    """Create the account NAME; the password is read from standard input (never an argument)."""
    from ..casebook.accounts import add_account
    from ..casebook.audit import Actor

    password = _read_password(confirm=True)
    app = _app()
    registry, now = _registry_and_now(app)
    with registry.session() as session:
        add_account(session, name, role, password, actor=Actor.command(), now=now())
    click.echo(f"added {name} ({role})")


@users.command("set-password")
@click.argument("name")
@reports_errors
def users_set_password(name: str) -> None:
    """Set a new password for NAME (read from standard input); signs the user out everywhere."""
    from ..casebook.audit import Actor, write_audit
    from ..registry import find_user, set_password

    password = _read_password(confirm=True)
    app = _app()
    registry, now = _registry_and_now(app)
    with registry.session() as session:
        user = find_user(session, name)
        if user is None:
            raise CommandFailure(f"no user named {name}")
        set_password(user, password, now=now())
        write_audit(session, Actor.command(), "user.change", "user", user.username, now=now(),
                    detail={"password": "reset"})
    click.echo(f"password of {name} changed")


@users.command("list")
@reports_errors
def users_list() -> None:
    """One line per account: name, role, whether it can sign in."""
    from sqlalchemy import select

    from ..registry import User

    registry, _ = _registry_and_now(_app())
    with registry.session() as session:
        for user in session.scalars(select(User).order_by(User.username)):
            click.echo(f"{user.username}  {user.role}  {'active' if user.active else 'disabled'}")


@click.group("audit")
def audit() -> None:
    """The web application's audit log."""


@audit.command("verify")
@reports_errors
def audit_verify() -> None:
    """Check the audit log's hash chain; exit 1 if any row was altered, removed or reordered."""
    from ..registry import verify_audit_chain

    registry, _ = _registry_and_now(_app())
    with registry.session() as session:
        count, problems = verify_audit_chain(session)
    if problems:
        for problem in problems:
            click.echo(f"  {problem}")
        raise CommandFailure(f"the audit log is not intact: {len(problems)} problem(s) in {count} rows")
    click.echo(f"intact: {count} rows")
