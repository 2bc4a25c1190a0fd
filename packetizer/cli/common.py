"""What every command shares: the error convention and the date option type.

Project errors become ``error: <message>`` on stderr with exit status 1; click
reports usage errors itself with exit status 2. No command shows a traceback.
"""

from __future__ import annotations

import datetime as dt
import functools
import getpass

import click

from ..errors import PacketizerError


class CommandFailure(click.ClickException):
    """A failure reported as ``error: <message>`` on stderr with exit status 1."""

    exit_code = 1

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def reports_errors(command):
    """Turn project and file-system errors into ``error: ...`` and exit 1, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except PacketizerError as exc:
            raise CommandFailure(exc.message) from None
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise CommandFailure(f"{exc.strerror or exc}{where}") from None

    return wrapper


class DateParam(click.ParamType):
    """An ISO date (YYYY-MM-DD) option value."""

    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx):
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a date in the form YYYY-MM-DD", param, ctx)


def built_by(door: str) -> str:
    """Who is building, for the manifest: ``<door>:<login name>`` (a login, never a patient)."""
    try:
        return f"{door}:{getpass.getuser()}"
    except (KeyError, OSError):
        return door


# The options check, build and batch share, spelled once.
payers_option = click.option(
    "--payers", "payers_dir", type=click.Path(file_okay=False), default=None, envvar="PACKETIZER_PAYERS",
    help="Payer policy folder [default: $PACKETIZER_PAYERS, else the shipped registry].")
today_option = click.option(
    "--today", type=DateParam(), default=None, help="Judge deadlines against this date [default: today].")
