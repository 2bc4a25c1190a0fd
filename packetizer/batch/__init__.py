"""Batch generation from a manifest (SPEC section 7): many packets, one report, reruns that skip.

Doors call :func:`run_batch`; the web upload unpacks its ZIP with
:func:`packetizer.batch.zipin.extract_zip` first. Scale-out on Celery lives in
:mod:`packetizer.batch.celery_app` (imported only when used).
"""

from .manifest import Locator, Manifest, ManifestEntry, read_manifest
from .report import REPORT_CSV, REPORT_JSON, BatchReport, RowResult, escape_cell
from .state import STATE_FILE

# The runner imports the whole pipeline (WeasyPrint and all); importing this
# package for the manifest reader or the ZIP extractor should not.
_RUNNER_NAMES = {"ENGINES", "Progress", "default_workers", "run_batch"}


def __getattr__(name: str):
    if name in _RUNNER_NAMES:
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ENGINES",
    "REPORT_CSV",
    "REPORT_JSON",
    "STATE_FILE",
    "BatchReport",
    "Locator",
    "Manifest",
    "ManifestEntry",
    "Progress",
    "RowResult",
    "default_workers",
    "escape_cell",
    "read_manifest",
    "run_batch",
]
