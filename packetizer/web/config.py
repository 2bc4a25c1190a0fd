"""Configuration of the web application, loaded in a fixed order at app creation.

1. :data:`DEFAULTS` below;
2. the instance file ``<instance>/config.py`` (Python assignments, optional);
3. ``PACKETIZER_*`` environment variables (:data:`ENVIRONMENT`);
4. the ``test_config`` mapping given to ``create_app``.

Nothing is read at import time.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path
from typing import Any, Callable, Mapping

from .. import limits
from ..errors import ConfigError
from ..private import create_file, make_dirs

SECRET_KEY_FILE = "secret_key"
DATABASE_FILE = "packetizer.db"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


DEFAULTS: dict[str, Any] = {
    "SECRET_KEY": None,                  # None: generated once into <instance>/secret_key
    "DATABASE_URL": None,                # None: SQLite file <instance>/packetizer.db
    "ARCHIVE": None,                     # None: $PACKETIZER_ARCHIVE, else the local archive folder (as the CLI)
    "SPOOL": None,                       # None: <instance>/pending, where packets the archive could not take wait
    "PAYERS": None,                      # None: $PACKETIZER_PAYERS, else the shipped payer registry
    "BROKER_URL": None,                  # None: build and preview jobs run on this machine; set: on Celery workers
    "IDLE_MINUTES": 15,
    "SESSION_MAX_HOURS": limits.MAX_SESSION_HOURS,  # a session ends this long after sign-in, however active
    "BATCH_KEEP_DAYS": 30,               # an ended web batch's folder (packets, reports) is removed after this
    "TRUSTED_PROXIES": 0,                # reverse proxies in front whose X-Forwarded-* headers are trusted
    "MAX_CONTENT_LENGTH": limits.MAX_UPLOAD_REQUEST_BYTES,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": False,      # False still marks cookies Secure on HTTPS requests (see security.py)
    "SESSION_COOKIE_NAME": "packetizer_session",
    "WTF_CSRF_TIME_LIMIT": None,         # tokens live as long as the session, which idles out anyway
    "CLOCK": utc_now,                    # tests fix the time; everything dated in the app asks this
    "PASSWORD_HASHER": None,             # None: argon2id with argon2-cffi's defaults (tests pass a cheap one)
}


def _positive_int(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}: {value[:20]!r} is not a whole number") from None
    if number <= 0:
        raise ConfigError(f"{name}: must be greater than 0")
    return number


def _non_negative_int(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}: {value[:20]!r} is not a whole number") from None
    if number < 0:
        raise ConfigError(f"{name}: must not be negative")
    return number


def _boolean(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name}: {value[:20]!r} is not true or false")


def _text(name: str, value: str) -> str:
    if not value.strip():
        raise ConfigError(f"{name}: is set but empty")
    return value


#: Environment variable -> (config key, converter).
ENVIRONMENT: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "PACKETIZER_SECRET_KEY": ("SECRET_KEY", _text),
    "PACKETIZER_DATABASE_URL": ("DATABASE_URL", _text),
    "PACKETIZER_ARCHIVE": ("ARCHIVE", _text),
    "PACKETIZER_SPOOL": ("SPOOL", _text),
    "PACKETIZER_PAYERS": ("PAYERS", _text),
    "PACKETIZER_BROKER_URL": ("BROKER_URL", _text),
    "PACKETIZER_IDLE_MINUTES": ("IDLE_MINUTES", _positive_int),
    "PACKETIZER_SESSION_MAX_HOURS": ("SESSION_MAX_HOURS", _positive_int),
    "PACKETIZER_BATCH_KEEP_DAYS": ("BATCH_KEEP_DAYS", _positive_int),
    "PACKETIZER_TRUSTED_PROXIES": ("TRUSTED_PROXIES", _non_negative_int),
    "PACKETIZER_SESSION_COOKIE_SECURE": ("SESSION_COOKIE_SECURE", _boolean),
}


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings given as ``PACKETIZER_*`` variables, converted and checked."""
    out = {}
    for variable, (key, convert) in ENVIRONMENT.items():
        if variable in environ:
            out[key] = convert(variable, environ[variable])
    return out


def load_config(app, test_config: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> None:
    """Fill ``app.config`` in the documented order, then derive the defaults that need the instance folder."""
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(from_environment(os.environ if environ is None else environ))
    if test_config:
        app.config.update(test_config)
    instance = Path(app.instance_path)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{instance / DATABASE_FILE}"
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = instance_secret_key(instance)
    idle = app.config["IDLE_MINUTES"]
    if not isinstance(idle, (int, float)) or idle <= 0:
        raise ConfigError("IDLE_MINUTES: must be a number of minutes greater than 0")
    hours = app.config["SESSION_MAX_HOURS"]
    if not isinstance(hours, (int, float)) or isinstance(hours, bool) or not 0 < hours <= limits.MAX_SESSION_HOURS:
        raise ConfigError(f"SESSION_MAX_HOURS: must be a number of hours greater than 0, at most "
                          f"MAX_SESSION_HOURS ({limits.MAX_SESSION_HOURS})")
    # The server ends sessions (idle, absolute lifetime, sign-out); the browser keeps the cookie longer, so a
    # form posted after the session ended still names its user and what was typed is kept for them (drafts.py).
    app.config["PERMANENT_SESSION_LIFETIME"] = dt.timedelta(hours=2 * hours)
    keep = app.config["BATCH_KEEP_DAYS"]
    if not isinstance(keep, int) or isinstance(keep, bool) or keep <= 0:
        raise ConfigError("BATCH_KEEP_DAYS: must be a whole number of days greater than 0")


def instance_secret_key(instance: Path) -> str:
    """The key stored in the instance folder, created (mode 0600) on first use so sessions survive restarts."""
    path = instance / SECRET_KEY_FILE
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    make_dirs(instance)
    key = secrets.token_hex(32)
    try:
        fd = create_file(path)
    except FileExistsError:  # another worker created it first: use theirs
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key
