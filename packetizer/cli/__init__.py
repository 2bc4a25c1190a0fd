"""The ``packetizer`` console script: thin doors onto the pipeline (SPEC section 7).

Each command lives in its own module and is imported only when it runs, so
``packetizer --help`` and a mistyped command answer without loading the
pipeline, the web app or Celery (click's "Lazily Loading Subcommands"). The
one-line help shown in the command list is written in :data:`COMMANDS` for the
same reason; ``packetizer COMMAND --help`` shows the command's own docstring.
"""

from __future__ import annotations

import importlib

import click

from .. import __version__

# name -> (module in this package, attribute, one-line help for the command list)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "archive": ("archive", "archive", "Find, fetch, verify and hold archived packets; retry pending."),
    "audit": ("web", "audit", "The web application's audit log."),
    "batch": ("batch", "batch", "Build a packet for every case in a manifest."),
    "build": ("build", "build", "Check a case, then build its packet and disclosure report."),
    "check": ("check", "check", "Check a case before building: triage, payer rules, deadline."),
    "era": ("era", "era", "Denials from X12 835 remittances: the worklist, pre-filled cases."),
    "export": ("export", "export", "Build a packet and write it as a fax TIFF or a FHIR PAS Bundle."),
    "followups": ("followups", "followups", "Follow-ups and answers due today or overdue (case ids only)."),
    "serve": ("web", "serve", "Run the web application with Werkzeug's server."),
    "users": ("web", "users", "Manage web accounts (passwords are read from standard input)."),
    "worker": ("batch", "worker", "Run a Celery worker for `batch --engine celery`."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported from :data:`COMMANDS` on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
        if not isinstance(command, click.Command) or command.name != cmd_name:
            raise RuntimeError(f"{__name__}.{module}.{attribute} is not the {cmd_name!r} command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table, without importing any command."""
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="packetizer")
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr (case ids only, never PHI).")
def main(verbose: bool) -> None:
    """Build retroactive prior-authorization request packets, check cases, and read the archive."""
    import logging

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _quick_exit()


_exit_registered = False


def _quick_exit() -> None:
    """Spare the process the collector's last walk over everything it made (about 0.1 s after a build).

    Python's shutdown runs a full collection before it frees the modules; a
    command has closed its files and written its output by then, so the objects
    are frozen instead (``gc.freeze``) and the memory goes back with the process.
    """
    global _exit_registered
    if not _exit_registered:
        import atexit
        import gc

        atexit.register(gc.freeze)
        _exit_registered = True


__all__ = ["COMMANDS", "LazyGroup", "main"]
