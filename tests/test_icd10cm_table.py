"""The ICD-10-CM table shipped in the package (issue 13): the code set it was made from, item for item.

``scripts/build_icd10cm_table.py`` makes the table from the code set the pinned
``simple-icd-10-cm`` ships. These tests regenerate the rows from the installed
library and compare them with the shipped table, so a table that drifts from its
source (or a library upgrade without a new table) fails here, and they check the
answers the checks give against the library's own for real codes.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path

import pytest

from packetizer import icd10cm
from packetizer.checks.validation import icd10cm_description, icd10cm_problem

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import build_icd10cm_table  # noqa: E402


@pytest.fixture(scope="module")
def library():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm
    return simple_icd_10_cm


def test_the_shipped_table_is_what_the_script_makes_from_its_source():
    """This test ensures every item of the code set, and nothing else, is in the shipped table with the
    description, kind and children the library gives, and that the table names the library version."""
    with sqlite3.connect(f"{icd10cm.TABLE.as_uri()}?mode=ro", uri=True) as db:
        shipped = db.execute("SELECT * FROM item ORDER BY key").fetchall()
        source = dict(db.execute("SELECT name, value FROM source").fetchall())
    assert shipped == sorted(build_icd10cm_table.rows())
    assert source["library"] == f"simple-icd-10-cm {metadata.version('simple-icd-10-cm')}"
    assert source["rows"] == str(len(shipped))
    assert icd10cm.source() == source


@pytest.mark.parametrize("code", ["M54.16", "M5416", "m54.16", "S72.001", "S72.001A", "M54", "M54.1", "T36.0X1",
                                  "B10", "A00-A09", "13", "Z00.00", "M54.166", "Q99.99", "ZZZ"])
def test_the_checks_answer_as_the_code_set_does(library, code):
    """This test ensures billable, not billable (7th character or more specific) and unknown come out for
    each code as the library's own tree says, with its description."""
    text = code.strip().upper()
    valid = library.is_valid_item(text)
    problem = icd10cm_problem(code)
    if not valid or library.is_chapter_or_block(text):
        assert problem is not None and problem[0] == "icd10_unknown"
    elif library.is_leaf(text):
        assert problem is None
    else:
        children = library.get_children(text)
        assert problem is not None and problem[0] == "icd10_not_billable"
        assert library.get_description(text) in problem[1]
        assert (children[0] in problem[1]) == all(library.is_extended_subcategory(c) for c in children)
        assert (f"{len(children)} more detailed" in problem[1]) != all(library.is_extended_subcategory(c)
                                                                      for c in children)
    assert icd10cm_description(code) == (library.get_description(text) if valid else "")


def test_a_lookup_in_a_forked_child_opens_its_own_connection():
    """This test ensures a child forked after a lookup (a batch worker after the fork server warmed up)
    still answers."""
    assert icd10cm.lookup("M54.16") is not None
    script = ("import os, sys\nfrom packetizer import icd10cm\nicd10cm.lookup('M54.16')\npid = os.fork()\n"
              "if pid == 0:\n    os._exit(0 if icd10cm.lookup('S72.001A').kind == icd10cm.LEAF else 1)\n"
              "sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n")
    assert subprocess.run([sys.executable, "-c", script], cwd=REPO).returncode == 0
