"""Generate the compact ICD-10-CM table shipped in the package (packetizer/icd10cm.sqlite).

Source: the ICD-10-CM code set that `simple-icd-10-cm` ships (the CDC/CMS tabular list, public
domain), read through that library, which parses it. Each code, category, block and chapter
becomes one row, keyed by the code without its dot, with what the checks and the service summary
need: its description, whether it is billable (a leaf), and for a category how many codes sit
under it, the first of them, and whether they are all 7th-character extensions. The library's
version, the code set's file and the number of rows are recorded in the table's `source` rows.

Run it after upgrading `simple-icd-10-cm` (pinned in pyproject's `codes` extra), then commit the
table; `tests/test_icd10cm_table.py` checks that the shipped table is what this script makes
from the installed library.

Usage: python scripts/build_icd10cm_table.py [--out PATH]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import warnings
from importlib import metadata
from importlib import resources
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from packetizer.icd10cm import CATEGORY, GROUP, LEAF, SCHEMA, TABLE  # noqa: E402


def rows() -> list[tuple]:
    """(key, code, kind, description, children, first_child, extended) for every item of the code set."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as icd

    out, seen = [], {}
    for code in icd.get_all_codes(True):
        key = code.replace(".", "")
        if key in seen:
            # A block holding one category has that category's name (B10): the library answers
            # for the name, the same either way, so the item is written once.
            if seen[key] != code:
                raise SystemExit(f"{seen[key]} and {code} would share the key {key}")
            continue
        seen[key] = code
        children, first, extended = 0, "", 0
        if icd.is_chapter_or_block(code):
            kind = GROUP
        elif icd.is_leaf(code):
            kind = LEAF
        else:
            kind = CATEGORY
            under = icd.get_children(code)
            children, first = len(under), under[0] if under else ""
            extended = int(bool(under) and all(icd.is_extended_subcategory(child) for child in under))
        out.append((key, code, kind, icd.get_description(code), children, first, extended))
    return out


def source() -> list[tuple[str, str]]:
    data = resources.files("simple_icd_10_cm") / "data"
    files = sorted(entry.name for entry in data.iterdir() if entry.name.endswith((".xml", ".txt")))
    return [
        ("library", f"simple-icd-10-cm {metadata.version('simple-icd-10-cm')}"),
        ("code_set_files", " ".join(files)),
        ("generated_by", "scripts/build_icd10cm_table.py"),
    ]


def write(path: Path) -> int:
    items = rows()
    temporary = path.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)
    with sqlite3.connect(temporary) as db:
        db.executescript(SCHEMA)
        db.executemany("INSERT INTO item VALUES (?, ?, ?, ?, ?, ?, ?)", items)
        db.executemany("INSERT INTO source VALUES (?, ?)", [*source(), ("rows", str(len(items)))])
    db.close()
    with sqlite3.connect(temporary) as db:
        db.execute("VACUUM")
    db.close()
    temporary.replace(path)
    return len(items)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=TABLE, help=f"where to write it (default {TABLE})")
    args = parser.parse_args(argv)
    count = write(args.out)
    print(f"{args.out}: {count} items, {args.out.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
