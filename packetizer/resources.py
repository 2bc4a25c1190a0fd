"""Where the shipped data lives: templates, schemas and the payer registry.

In an installed wheel they sit inside the package (``packetizer/templates``…);
in a source checkout they are the top-level folders next to ``packetizer/``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def data_dir(name: str) -> Path:
    """Return the folder ``name`` (templates, schemas or payers)."""
    for candidate in (_PACKAGE_DIR / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"packetizer installation is missing its {name}/ folder")


def templates_dir() -> Path:
    return data_dir("templates")


def schemas_dir() -> Path:
    return data_dir("schemas")


def payers_dir() -> Path:
    return data_dir("payers")
