"""A case written by someone outside the team, with its own payer folder, builds unchanged.

Also: the installed wheel carries templates, schemas and the payer registry, and
builds a packet from outside the source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from PIL import Image, ImageDraw

from tests.packet_checks import assert_packet_consistent

REPO = Path(__file__).resolve().parents[1]

CASE = """\
# Written against SPEC section 1 only.
case_id: OUT_77-b
payer_id: acme-health
member: {member_id: "00042", first_name: Kim, last_name: Nguyen, dob: 1988-12-01, email: kim@example.net}
claim: {claim_number: "C-99", denial_codes: ["CO-15"], denial_date: 2026-11-02}
services:
  - {start_date: 2026-10-26, end_date: 2026-10-30, code: G0151, units: 5, diagnosis_codes: [I63.9],
     modifiers: [GN], place_of_service: "12"}
rendering_provider: {name: Acme Home Health, npi: "1234567893"}
late_reason: {category: emergency, explanation: Discharged from hospital on a Friday evening; care began Monday.}
medical_necessity: Post-stroke dysphagia needing skilled speech therapy at home.
contact: {name: Intake, phone: 555-201-3344}
attachments:
  - {file: docs/discharge.md, kind: clinical_note, date: 2026-10-25}
  - {file: docs/swallow-chart.png, kind: evaluation, date: 2026-10-27, title: Swallow study chart}
"""

POLICY = """\
id: acme-health
name: Acme Health (outside test payer)
retro_authorization:
  allowed: true
  window: {days: 10, count: business, from: denial_date}
  channel: portal
  address: https://portal.acme.example/retro
  required_documents: [clinical_note]
  follow_up_days: 14
source: {title: "Acme provider guide 7.1", effective: 2026-01-01}
"""

NOTE = """\
# Discharge summary

Patient discharged home after **ischemic stroke**. Swallow evaluation advised.

| Day | Diet |
| --- | --- |
| 1 | puree |
| 5 | minced |
"""


def write_outside_case(root: Path) -> Path:
    (root / "payers").mkdir(parents=True)
    (root / "payers" / "acme-health.yaml").write_text(POLICY)
    docs = root / "case" / "docs"
    docs.mkdir(parents=True)
    (docs / "discharge.md").write_text(NOTE)
    image = Image.new("RGB", (1200, 800), "white")
    ImageDraw.Draw(image).rectangle((100, 100, 1100, 700), outline="black", width=8)
    image.save(docs / "swallow-chart.png", dpi=(150, 150))
    (root / "case" / "case.yaml").write_text(CASE)
    return root / "case" / "case.yaml"


def test_outside_case_with_its_own_payer_folder_builds(tmp_path):
    """This test ensures a SPEC-only case and payer folder build through the console script, unchanged."""
    case = write_outside_case(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "packetizer", "build", str(case), "--payers", str(tmp_path / "payers"),
         "--out", str(out), "--today", "2026-11-05", "--json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    packet = Path(result["packet"])
    assert packet.name == "RETRO-AUTH_acme-health_OUT_77-b_2026-10-26.pdf"
    # 10 business days counted from the day after the denial (Monday 2026-11-02), Veterans
    # Day (Wednesday 11 November) skipped; the last day is inside the window.
    assert result["deadline"] == "2026-11-17"
    assert_packet_consistent(packet, "OUT_77-b", result["sections"], {
        "Exhibit A": "Discharge summary",
        "Request narrative": "1. Services delivered",
    })


# What a wheel is built from: the sources tracked beside the package (a build/ folder left in the checkout by an
# earlier build would otherwise ride along, and the build would write one there again).
WHEEL_SOURCES = ("pyproject.toml", "setup.py", "README.md", "packetizer", "templates", "schemas", "payers")


def test_wheel_carries_its_data_and_builds_outside_the_repo(tmp_path):
    """This test ensures the built wheel, installed into a fresh venv, builds a packet from another folder."""
    dist, source = tmp_path / "dist", tmp_path / "source"
    source.mkdir()
    for name in WHEEL_SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, source / name)
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(source)],
                   check=True, capture_output=True, timeout=300)
    wheel = next(dist.glob("packetizer-*.whl"))
    venv = tmp_path / "venv"
    # A venv without a pip of its own (ensurepip takes about 7 s): this environment's pip installs into it.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps", str(wheel)],
                   check=True, timeout=300)
    # The dependencies come from the test environment's site-packages (appended after the
    # fresh venv's own, so the wheel's packetizer wins over the editable checkout).
    site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    (site / "zz-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    case = write_outside_case(tmp_path / "outside")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PACKETIZER_PAYERS")}
    where = subprocess.run([str(py), "-c", "import packetizer.resources as r; print(r.templates_dir(), r.payers_dir())"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, check=True)
    assert str(REPO) not in where.stdout and str(site) in where.stdout
    # The ICD-10-CM table rides along, and answers without the library that made it.
    icd = subprocess.run([str(py), "-c", "import packetizer.icd10cm as i; print(i.TABLE, i.lookup('M54.16').description)"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, check=True)
    assert icd.stdout.startswith(str(site)) and "Radiculopathy, lumbar region" in icd.stdout
    # The web app's pages, styles and migrations ride along too.
    web = subprocess.run([str(py), "-c", (
        "import pathlib, packetizer.web as w, packetizer.registry.migrations as m;"
        "root = pathlib.Path(w.__file__).parent;"
        "print(len(list((root / 'templates').rglob('*.html'))), (root / 'static' / 'style.css').is_file(),"
        " len(list((pathlib.Path(m.__file__).parent / 'versions').glob('*.py'))))")],
        capture_output=True, text=True, cwd=tmp_path, env=env, check=True)
    pages, css, migrations = web.stdout.split()
    assert int(pages) >= 10 and css == "True" and int(migrations) >= 1
    out = tmp_path / "out"
    for args in (["--payers", str(tmp_path / "outside" / "payers")], []):
        if not args:  # the shipped registry: the example case's payer
            case = tmp_path / "example" / "case.yaml"
            shutil.copytree(REPO / "examples" / "lake-street", case.parent)
        proc = subprocess.run([str(venv / "bin" / "packetizer"), "build", str(case), *args, "--out", str(out),
                               "--today", "2026-11-05" if args else "2026-10-06"],
                              capture_output=True, text=True, cwd=tmp_path, env=env, timeout=180)
        assert proc.returncode == 0, proc.stderr
        assert Path(proc.stdout.strip().splitlines()[-1]).is_file()
