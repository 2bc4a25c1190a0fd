"""Warm a process up before it forks build workers: ICD-10-CM tables loaded, fonts initialised.

The first build in a fresh process pays about 3 s for loading the ICD-10-CM
code set and initialising WeasyPrint's fonts. The local pool's fork server
imports this module (see ``runner.pool_context``) and ``packetizer worker``
calls :func:`warm_up` before Celery forks its children, so every worker
starts warm and shares those pages with its siblings.
"""

from __future__ import annotations

from ..checks.validation import icd10cm_problem
from ..render import html_to_pdf


def warm_up() -> None:
    """Do once what every first build would otherwise do in each worker."""
    try:
        icd10cm_problem("M54.16")
        html_to_pdf("<p>warm</p>")
    except Exception:  # noqa: BLE001 - only an optimisation: a failure here must not stop the pool
        pass


warm_up()  # on import: this module exists to be preloaded by the fork server
