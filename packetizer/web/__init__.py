"""The web application: staff build packets and track them, auditors retrieve and verify, admins manage users.

``create_app(test_config=None)`` builds a configured app (see :mod:`.config`
for the order settings are read in). Production::

    gunicorn --workers 3 --bind 127.0.0.1:8000 'packetizer.web:create_app()'
"""

from __future__ import annotations

import logging
import os
import traceback
from pathlib import Path
from typing import Any, Mapping

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from .. import limits
from ..archive import archive_location_from_environment
from ..private import DIR_MODE, make_dirs
from ..registry import open_registry
from ..registry.users import DEFAULT_HASHER
from .config import load_config
from .services import EXTENSION_KEY, WebServices, close_db

log = logging.getLogger(__name__)

ENV_INSTANCE = "PACKETIZER_INSTANCE_PATH"


def create_app(test_config: Mapping[str, Any] | None = None, *, instance_path: str | Path | None = None) -> Flask:
    """Create the application.

    Args:
        test_config: Settings applied last (tests use it for a database, archive, clock...).
        instance_path: The instance folder (database, secret key, case folders, builds);
            default ``$PACKETIZER_INSTANCE_PATH``, else Flask's ``instance/`` folder.

    Raises:
        ConfigError: a setting is malformed.
        RegistryError: the database cannot be opened or migrated.
    """
    chosen = instance_path or (test_config or {}).get("INSTANCE_PATH") or os.environ.get(ENV_INSTANCE)
    app = Flask(__name__, instance_path=str(Path(chosen).resolve()) if chosen else None,
                instance_relative_config=True)
    load_config(app, test_config)
    _private_instance(Path(app.instance_path))

    if app.config["TRUSTED_PROXIES"]:
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops)

    registry = open_registry(app.config["DATABASE_URL"])
    app.extensions[EXTENSION_KEY] = WebServices(
        registry=registry,
        archive_location=app.config["ARCHIVE"] or archive_location_from_environment(os.environ),
        spool=Path(app.config["SPOOL"] or Path(app.instance_path) / "pending").expanduser(),
        payers_dir=app.config["PAYERS"],
        clock=app.config["CLOCK"],
        instance=Path(app.instance_path),
        hasher=app.config["PASSWORD_HASHER"] or DEFAULT_HASHER,
    )
    app.teardown_appcontext(close_db)
    _mark_lost_jobs(app.extensions[EXTENSION_KEY])
    _fill_case_search_fields(app.extensions[EXTENSION_KEY])
    _expire_unarchived_builds(app.extensions[EXTENSION_KEY])

    from . import batches, cases, security, worklist

    batches.init_app(app)  # first: it raises the batch upload's limit before CSRFProtect reads the form
    cases.init_app(app)    # so does the case page's upload of several documents
    worklist.init_app(app) # and the worklist's upload of several 835 files
    CSRFProtect(app)
    security.init_app(app)
    _register_blueprints(app)
    _register_error_pages(app)
    _register_template_helpers(app)
    return app


def _private_instance(instance: Path) -> None:
    """Case folders, builds, the spool, drafts and the SQLite database live here: the server's user only."""
    make_dirs(instance)
    try:
        os.chmod(instance, DIR_MODE)  # also an instance folder made before, or by hand
    except PermissionError:
        log.warning("the instance folder belongs to another user; its mode was left as it is")


def _expire_unarchived_builds(svc: WebServices) -> None:
    """At start: remove the files of builds the archive never took, UNARCHIVED_BUILD_KEEP_DAYS after them."""
    from ..casebook.builds import expire_unarchived_builds

    with svc.registry.session() as session:
        expired = expire_unarchived_builds(session, svc.builds_dir, now=svc.now())
    if expired:
        log.info("removed the files of %d unarchived build(s) past UNARCHIVED_BUILD_KEEP_DAYS", len(expired))


def _mark_lost_jobs(svc: WebServices) -> None:
    """At start: a build or preview whose process is gone (the server restarted) is marked failed, not forgotten."""
    from ..casebook.jobs import mark_lost_jobs, this_host

    with svc.registry.session() as session:
        lost = mark_lost_jobs(session, host=this_host(), now=svc.now())
        session.commit()
    if lost:
        log.warning("%d job(s) lost when the server restarted were marked failed", len(lost))


def _fill_case_search_fields(svc: WebServices) -> None:
    """At start: case rows made before migration 0005 get their member name, member id and claim number.

    The migration cannot read the case files (it does not know the instance folder), so the app fills the
    rows still without them from their case folders; a row whose case file cannot be read is tried again
    at the next start. Nothing of what is copied is logged.
    """
    from ..casebook.cases import fill_search_fields

    # A batch at a time, each committed: every worker of a server runs this at start, and a long table
    # must not hold one transaction open past a worker's start-up time limit.
    filled, last = 0, 0
    while last is not None:
        with svc.registry.session() as session:
            done, last = fill_search_fields(session, svc.cases_dir, after_id=last)
            session.commit()
        filled += done
    if filled:
        log.info("the case list can now search %d older case(s) by member and claim", filled)


def _register_blueprints(app: Flask) -> None:
    from . import admin, appeals, audit, auth, batches, cases, tracking, worklist

    for blueprint in (auth.bp, auth.health, cases.bp, appeals.bp, batches.bp, tracking.bp, worklist.bp, audit.bp,
                      admin.bp):
        app.register_blueprint(blueprint)


def _register_error_pages(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return render_template("error.html", title="Form expired",
                               message="The form was missing its security token or it expired. "
                                       "Go back, reload the page and try again."), 400

    @app.errorhandler(413)
    def too_large(exc):
        from .wording import too_large as too_large_words

        # The request is the file and a little form around it; the file's own limit is what a clerk can act on.
        limit, what = request.max_content_length or limits.MAX_UPLOAD_REQUEST_BYTES, "file"
        if limit == limits.MAX_UPLOAD_REQUEST_BYTES:
            limit = limits.MAX_ATTACHMENT_BYTES
        elif limit == limits.MAX_BATCH_UPLOAD_REQUEST_BYTES:  # raised for the batch upload's form (batches.py)
            what = "upload"
        elif limit == limits.MAX_DOCUMENTS_REQUEST_BYTES:  # raised for the case page's upload rows (cases.py)
            what = "upload"
        elif limit == limits.MAX_ERA_UPLOAD_REQUEST_BYTES:  # raised for the worklist's 835 files (worklist.py)
            what = "upload"
        return render_template("error.html", title="Upload too large",
                               message=too_large_words(request.content_length, limit, what=what)), 413

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return render_template("error.html", title=f"{exc.code} {exc.name}", message=exc.description), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        # The message of an unexpected error may quote data (PHI): log the type and the frames only.
        frames = "".join(traceback.format_tb(exc.__traceback__))
        log.error("unexpected %s in %s %s\n%s", type(exc).__name__, request.method, request.endpoint, frames)
        return render_template("error.html", title="Something went wrong",
                               message="The request failed. Nothing was changed; please try again."), 500


def _register_template_helpers(app: Flask) -> None:
    from ..checks import days_left_words
    from ..model import ATTACHMENT_KIND_WORDS, LATE_REASON_WORDS
    from . import wording

    wording.init_app(app)

    @app.template_filter("longdate")
    def long_date(value) -> str:
        return f"{value:%B} {value.day}, {value.year}" if value else ""

    @app.template_filter("days_left")
    def days_left(days: int | None) -> str:
        return "" if days is None else days_left_words(days)

    @app.template_test("flat")
    def is_flat(value) -> bool:
        """A mapping whose values are all plain (no mapping or list inside)."""
        return all(not isinstance(v, (dict, list, tuple)) for v in value.values())

    @app.context_processor
    def words():
        return {"kind_words": ATTACHMENT_KIND_WORDS, "reason_words": LATE_REASON_WORDS}


__all__ = ["create_app"]
